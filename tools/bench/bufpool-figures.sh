#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bufpool-figures.sh: per-entry payload buffers against buffer pools, side
# by side in one run.  Runs in a guest with the module loadable, e.g.
#
#   tools/testing/vm/run-guest.sh --host-root --timeout 900 -- \
#       bash $PWD/tools/bench/bufpool-figures.sh
#
# The passthrough example serves a tmpfs tree over the ring at depth 64
# with 1 MiB max payload, once per payload mode: per-entry buffers, and
# pools of each kind (user, fixed, kernel) sized by the library's default
# budget (a quarter of depth x max payload).  Files are opened with
# FOPEN_DIRECT_IO, so every read(2) and write(2) is one request whose
# data crosses the payload buffer.  For each mode and workload (4 KiB and
# 1 MiB sequential read and write, fio psync, one job) it prints
#   bufpool-figure: MODE WORKLOAD MiB/s PAYLOAD-BYTES-PER-QUEUE (runs: ...)
# and then the ratio of each pool to per-entry buffers.  All four servers
# run at once and the fio runs take turns, so host noise hits each alike.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
PT=$TOP/examples/passthrough
KO=${FUSEURING_KO:-$TOP/fuseuring.ko}
RUNTIME=${BUFPOOL_RUNTIME:-3}
SIZE=${BUFPOOL_SIZE:-64M}
RUNS=${BUFPOOL_RUNS:-3}
W=/tmp/bufpool-figures
modes=(per-entry user fixed kernel)
loads=("read 4k" "write 4k" "read 1m" "write 1m")
declare -A pid mem mibs runs

grep -q '^fuseuring ' /proc/modules || insmod "$KO" || exit 1

stop_all() {
	local m

	for m in "${modes[@]}"; do
		mountpoint -q "$W/$m/mnt" &&
			{ umount "$W/$m/mnt" || umount -l "$W/$m/mnt"; }
		[ -n "${pid[$m]:-}" ] && { kill "${pid[$m]}" 2>/dev/null; wait "${pid[$m]}" 2>/dev/null; }
	done
}
trap stop_all EXIT

# start MODE: serve $W/MODE/src at $W/MODE/mnt; prints the payload bytes per queue.
start() {
	local pool=() d=$W/$1

	[ "$1" != per-entry ] && pool=(--bufpool="$1")
	mkdir -p "$d/src" "$d/mnt"
	"$PT" --transport ring --depth 64 --max-write $((1 << 20)) --direct-io \
	      "${pool[@]}" -o allow_other "$d/src" "$d/mnt" >"$d.log" 2>&1 &
	pid[$1]=$!
	for _ in $(seq 300); do
		if grep -q 'passthrough: ready' "$d.log"; then
			sed -n 's/.*payload memory per queue: \([0-9]*\).*/\1/p' "$d.log"
			return 0
		fi
		kill -0 "${pid[$1]}" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$d.log" >&2
	return 1
}

fio_mibs() {	# dir rw bs -> MiB/s of one run
	fio --name=b --directory="$1" --filename=data --rw="$2" --bs="$3" \
	    --size="$SIZE" --ioengine=psync --time_based --runtime="$RUNTIME" \
	    --output-format=json 2>/dev/null |
	python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
side = j["read"] if j["read"]["io_bytes"] else j["write"]
print("%.1f" % (side["bw"] / 1024))'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

rm -rf "$W"
# Every mode is served at once and the runs take turns (the first mode
# of each round rotates), so that a noisy host slows all of them alike.
for m in "${modes[@]}"; do
	mem[$m]=$(start "$m") || { echo "bufpool-figure: $m did not start"; exit 1; }
	fio_mibs "$W/$m/mnt" write 1m >/dev/null	# the file the reads read
done
for r in $(seq "$RUNS"); do
	for l in "${loads[@]}"; do
		read -r rw bs <<<"$l"
		for i in 0 1 2 3; do
			m=${modes[$(((i + r) % 4))]}
			runs[$m,$rw-$bs]+=" $(fio_mibs "$W/$m/mnt" "$rw" "$bs")"
		done
	done
done
for m in "${modes[@]}"; do
	for l in "${loads[@]}"; do
		read -r rw bs <<<"$l"
		# shellcheck disable=SC2086 # the runs are a word list
		mibs[$m,$rw-$bs]=$(median ${runs[$m,$rw-$bs]})
		echo "bufpool-figure: $m $rw-$bs ${mibs[$m,$rw-$bs]} MiB/s ${mem[$m]} bytes/queue (runs:${runs[$m,$rw-$bs]})"
	done
done

echo "# throughput and payload memory per queue, relative to per-entry buffers"
for m in user fixed kernel; do
	line="bufpool-ratio: $m memory $(python3 -c "print('%.3f' % (${mem[$m]} / ${mem[per-entry]}))")"
	for l in "${loads[@]}"; do
		read -r rw bs <<<"$l"
		line="$line $rw-$bs $(python3 -c "print('%.2f' % (${mibs[$m,$rw-$bs]} / max(${mibs[per-entry,$rw-$bs]}, 0.001)))")"
	done
	echo "$line"
done
