#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boot the guests and measure every transport on the same
# workloads in one run per kernel, so that the ratios hold on a noisy
# machine.  Writes tools/bench/results/latest.json (one record per
# workload x transport x kernel), latest.md (the tables, also printed)
# and latest.png (the ratios against the kernel's own FUSE).
#
# BENCH_KVERS: the kernels (default: the primary 6.12 with every
# transport, then 7.3, where the in-tree FUSE over io-uring is the peer).
# BENCH_RUNS, BENCH_RUNTIME, BENCH_SIZE, BENCH_FILES: see bench-guest.sh;
# BENCH_MEM: guest memory (every transport is mounted at once).
# BENCH_NICE (-15): the guest runs at this nice level, so that builds and
# other work on the host take its CPU time less often: a TCG guest starved
# for a few milliseconds turns a cached stat into a 7 ms one, and no
# interleaving of rounds evens that out.  Without root, nice is left as is.

set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"
OUT=$TOP/tools/bench/results
PEER_KVER=7.3.4+deb13-amd64
KVERS=${BENCH_KVERS:-$DEFAULT_KVER $PEER_KVER}
mkdir -p "$OUT"
raw=$OUT/latest.raw
: >"$raw"
start=$(date +%s)

for k in $KVERS; do
	if [ "$k" = "$DEFAULT_KVER" ]; then
		ko=$TOP/fuseuring.ko
		transports="tmpfs kernel-fuse fuseuring-classic fuseuring-ring fuseuring-bufpool fuseuring-zerocopy"
	else
		ko=$TOP/build/$k/fuseuring.ko
		transports="tmpfs kernel-fuse kernel-fuse-uring fuseuring-ring"
	fi
	make -s -C "$TOP" module KVER="$k" >/dev/null || {
		echo "bench: the module does not build for $k" >&2
		exit 1
	}
	echo "bench: kernel $k: $transports"
	nice -n "${BENCH_NICE:--15}" \
		"$TOP/tools/testing/vm/run-guest.sh" --kver "$k" --host-root --cpus 2 \
		--mem "${BENCH_MEM:-4G}" \
		--timeout "${BENCH_TIMEOUT:-1500}" \
		--log "$OUT/guest-$k.kernel.log" -- \
		env FUSEURING_KO="$ko" BENCH_RUNS="${BENCH_RUNS:-3}" \
		BENCH_RUNTIME="${BENCH_RUNTIME:-1}" BENCH_SIZE="${BENCH_SIZE:-64M}" \
		BENCH_FILES="${BENCH_FILES:-1000}" \
		tools/bench/bench-guest.sh $transports |
		tee -a "$raw" | grep --line-buffered -E '^(bench|#)'
	status=${PIPESTATUS[0]}
	[ "$status" = 0 ] || { echo "bench: the $k guest failed ($status)" >&2; exit 1; }
done

sed -n 's/^bench-result: //p' "$raw" |
	python3 -c 'import json, sys; json.dump([json.loads(l) for l in sys.stdin], sys.stdout, indent=1)' \
	>"$OUT/latest.json"
/usr/bin/python3 "$TOP/tools/bench/bench-report.py" "$OUT/latest.json" "$OUT/latest.png" |
	tee "$OUT/latest.md"
sed -n 's/^bench-skip: /skipped: /p' "$raw" | tee -a "$OUT/latest.md"
echo "bench: $(($(date +%s) - start)) s; results in $OUT/latest.{json,md,png}"
