#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-zerocopy-guest.sh (in the guest, from the top of the tree): 1 MiB
# sequential read and write, buffered and direct, through the passthrough
# example over the ring with a buffer pool (copies through the pool) and
# with zero-copy, side by side in one boot.  Rounds alternate the two
# servers so that drift of a busy host hits both alike.  Per workload and
# server it prints
#   bench-zc: {"workload": ..., "server": ..., "mib_s": median,
#              "cpu_us_per_mib": median, "runs": [...]}
# CPU is the whole guest's busy time (/proc/stat: fio, the server and the
# kernel's work on both sides) per MiB moved.
#
# ZC_RUNS (3), ZC_RUNTIME seconds per run (3), ZC_SIZE of the file (128M).

set -u
TOP=$(pwd)
PT=$TOP/examples/passthrough
RUNS=${ZC_RUNS:-3}
RUNTIME=${ZC_RUNTIME:-3}
SIZE=${ZC_SIZE:-128M}
W=/tmp/bench-zc
declare -A srv=(
	[pool-copy]="--transport ring --bufpool"
	[zero-copy]="--transport ring --zero-copy"
)

grep -q '^fuseuring ' /proc/modules || insmod "${FUSEURING_KO:-$TOP/fuseuring.ko}" || exit 1
mkdir -p "$W/src" "$W/mnt"

start() {	# server name
	# shellcheck disable=SC2086 # the options are a word list
	"$PT" ${srv[$1]} "$W/src" "$W/mnt" >"$W/$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'passthrough: ready' "$W/$1.log" && return 0
		sleep 0.1
	done
	cat "$W/$1.log" >&2
	return 1
}

stop() {
	umount "$W/mnt" 2>/dev/null || umount -l "$W/mnt"
	wait "$pid" 2>/dev/null
}

busy() {	# busy jiffies of all CPUs so far
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

one() {	# rw direct -> "MiB/s cpu-us-per-MiB"
	local b0 b1 out hz

	hz=$(getconf CLK_TCK)
	b0=$(busy)
	out=$(fio --name=z --directory="$W/mnt" --filename=data --rw="$1" \
		  --bs=1m --size="$SIZE" --direct="$2" --ioengine=psync \
		  --time_based --runtime="$RUNTIME" --output-format=json 2>/dev/null)
	b1=$(busy)
	echo "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
side = j["read"] if j["read"]["io_bytes"] else j["write"]
mib = side["io_bytes"] / 1048576
busy = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3])
print("%.1f %.1f" % (side["bw"] / 1024, busy * 1e6 / mib if mib else 0))
' "$b0" "$b1" "$hz"
}

declare -A bw cpu
for r in $(seq "$RUNS"); do
	for s in pool-copy zero-copy; do
		start "$s" || { echo "bench-zc: $s did not start"; exit 1; }
		grep -q 'zero-copy refused' "$W/$s.log" &&
			{ echo "bench-zc: $s: zero-copy refused"; exit 1; }
		for d in 0 1; do
			for rw in read write; do
				wl=seq$rw-1m
				[ "$d" = 1 ] && wl=$wl-direct
				# The file exists before reads; a warm-up run.
				[ "$r" = 1 ] && [ "$rw" = read ] && one write "$d" >/dev/null
				v=$(one "$rw" "$d")
				bw[$wl,$s]+="${v% *} "
				cpu[$wl,$s]+="${v#* } "
				echo "# round $r $s $wl: ${v% *} MiB/s, ${v#* } us CPU/MiB"
			done
		done
		stop
	done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for wl in seqread-1m seqwrite-1m seqread-1m-direct seqwrite-1m-direct; do
	for s in pool-copy zero-copy; do
		runs=$(echo "${bw[$wl,$s]}" | sed 's/ *$//; s/ /, /g')
		echo "bench-zc: {\"workload\": \"$wl\", \"server\": \"$s\", \"mib_s\": $(echo "${bw[$wl,$s]}" | median), \"cpu_us_per_mib\": $(echo "${cpu[$wl,$s]}" | median), \"runs\": [$runs]}"
	done
done
rm -rf "$W"
