#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-guest.sh [TRANSPORT...]: runs in the benchmark guest (from bench.sh).
# Every transport is mounted at once, each over its own copy of the same
# tree.  The workloads then run in rounds: a warm-up round (discarded),
# then BENCH_RUNS rounds, each of which runs every workload once on every
# transport in turn.  A burst of load from elsewhere on the host therefore
# hits one round of all transports rather than every run of one, which is
# what keeps the ratios steady on a shared machine.  One line per workload
# and transport at the end:
#   bench-result: {"workload": ..., "transport": ..., "kernel": ...,
#                  "value": MEDIAN, "unit": ..., "runs": [...]}
# or, for a transport this kernel or build cannot offer:
#   bench-skip: TRANSPORT: REASON
# Progress goes to stderr.

set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$TOP/tools/bench
PT=$TOP/examples/passthrough
RUNS=${BENCH_RUNS:-3}
RUNTIME=${BENCH_RUNTIME:-1}
SIZE=${BENCH_SIZE:-64M}
FILES=${BENCH_FILES:-1000}
RTT_COUNT=${BENCH_RTT_COUNT:-3000}
# Entry and attribute timeout of the servers: longer than a run, so that
# no workload's figure depends on how many entries expired meanwhile (with
# 1 s, a slow create phase left the stat phase more lookups to send).
TIMEOUT=${BENCH_TIMEOUT_SECS:-3600}
KERNEL=$(uname -r)
KO=${FUSEURING_KO:-$TOP/fuseuring.ko}
W=/tmp/bench
declare -A pid=()
up=()

progress() { echo "bench: $*" >&2; }

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

mnt() { echo "$W/$1/mnt"; }

stop_all() {
	local t

	for t in "${!pid[@]}"; do
		mountpoint -q "$(mnt "$t")" &&
			{ umount "$(mnt "$t")" || umount -l "$(mnt "$t")"; }
		kill "${pid[$t]}" 2>/dev/null
		wait "${pid[$t]}" 2>/dev/null
	done
	mountpoint -q "$(mnt tmpfs)" && umount "$(mnt tmpfs)"
	rm -rf "$W"
}

# passthrough TRANSPORT ARGS...: serve $W/T/src at $W/T/mnt; 1 when it
# does not start.
passthrough() {
	local t=$1 d=$W/$1

	shift
	mkdir -p "$d/src" "$d/mnt"
	"$PT" "$@" --timeout "$TIMEOUT" -o allow_other "$d/src" "$d/mnt" \
		>"$d.log" 2>&1 &
	pid[$t]=$!
	for _ in $(seq 200); do
		grep -q 'passthrough: ready' "$d.log" && return 0
		kill -0 "${pid[$t]}" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$d.log" >&2
	unset "pid[$t]"
	return 1
}

pt_has() { "$PT" --help 2>&1 | grep -q -- "$1"; }

# start TRANSPORT: mount it at $(mnt TRANSPORT), or print why not and
# return 1.
start() {
	mkdir -p "$(mnt "$1")"
	case "$1" in
	tmpfs)
		mount -t tmpfs -o size=1G tmpfs "$(mnt "$1")" ;;
	kernel-fuse)
		passthrough "$1" --dev /dev/fuse --fstype fuse --transport classic ;;
	kernel-fuse-uring)
		[ -e /sys/module/fuse/parameters/enable_uring ] || {
			echo "bench-skip: $1: kernel $KERNEL has no FUSE over io-uring"
			return 1
		}
		echo 1 >/sys/module/fuse/parameters/enable_uring
		passthrough "$1" --dev /dev/fuse --fstype fuse --transport ring ;;
	fuseuring-classic)
		passthrough "$1" --transport classic ;;
	fuseuring-ring)
		passthrough "$1" --transport ring ;;
	fuseuring-bufpool)
		pt_has --bufpool || {
			echo "bench-skip: $1: the passthrough example has no --bufpool"
			return 1
		}
		passthrough "$1" --transport ring --bufpool ;;
	fuseuring-zerocopy)
		pt_has --zero-copy || {
			echo "bench-skip: $1: the passthrough example has no --zero-copy"
			return 1
		}
		passthrough "$1" --transport ring --zero-copy ;;
	*)
		echo "bench-skip: $1: unknown transport"
		return 1 ;;
	esac || { echo "bench-skip: $1: the server did not start"; return 1; }
}

# The fio workloads of one I/O mode (0: page cache, 1: O_DIRECT), run one
# after the other (stonewall) by a single fio process, so that a run pays
# fio's start-up once, not once per workload.
FIO_WORKLOADS="randread-4k-1j:randread:4k:1 randread-4k-2j:randread:4k:2
	randwrite-4k-1j:randwrite:4k:1 randwrite-4k-2j:randwrite:4k:2
	seqread-1m:read:1m:1 seqwrite-1m:write:1m:1"

fio_jobfile() {	# dir direct runtime
	local w name rw bs jobs sfx=

	[ "$2" = 1 ] && sfx=-direct
	printf '[global]\ndirectory=%s\nfilename=data\nsize=%s\nioengine=psync\n' \
		"$1" "$SIZE"
	printf 'direct=%s\ntime_based\nruntime=%s\ngroup_reporting\n' "$2" "$3"
	for w in $FIO_WORKLOADS; do
		IFS=: read -r name rw bs jobs <<<"$w"
		printf '[%s%s]\nstonewall\nrw=%s\nbs=%s\nnumjobs=%s\n' \
			"$name" "$sfx" "$rw" "$bs" "$jobs"
	done
}

# fio_run transport direct runtime: one line per workload, "NAME VALUE
# UNIT" (IOPS for 4 KiB, MiB/s for 1 MiB).
fio_run() {
	fio_jobfile "$(mnt "$1")" "$2" "$3" >"$W/$1.fio"
	fio --output-format=json "$W/$1.fio" 2>/dev/null | python3 -c '
import json, sys
for j in json.load(sys.stdin)["jobs"]:
    side = j["read"] if j["read"]["io_bytes"] else j["write"]
    if "-4k-" in j["jobname"]:
        print(j["jobname"], "%.1f" % side["iops"], "IOPS")
    else:
        print(j["jobname"], "%.1f" % (side["bw"] / 1024), "MiB/s")
'
}

# metabench transport op threads files: ops/s
metabench() {
	"$BENCH/metabench" "$(mnt "$1")/m" "$2" "$3" "$4" | awk '{ print $6 }'
}

# one_round TRANSPORT RUNTIME: every workload once on one transport, one
# "NAME VALUE UNIT" line each.
one_round() {
	local t=$1 files=$FILES half=$((FILES / 2))

	fio_run "$t" 0 "$2"
	fio_run "$t" 1 "$2"
	mkdir -p "$(mnt "$t")/m"
	echo "create-1t $(metabench "$t" create 1 "$files") ops/s"
	echo "stat-1t $(metabench "$t" stat 1 "$files") ops/s"
	echo "unlink-1t $(metabench "$t" unlink 1 "$files") ops/s"
	echo "create-2t $(metabench "$t" create 2 "$half") ops/s"
	metabench "$t" unlink 2 "$half" >/dev/null
	: >"$(mnt "$t")/rtt"
	"$BENCH/rttbench" "$(mnt "$t")/rtt" "$RTT_COUNT" |
		awk '{ print "rtt-p50", $3, "us"; print "rtt-p99", $4, "us" }'
}

# report TRANSPORT: the bench-result lines from the rounds' values.
report() {
	local t=$1 f=$W/$1.rounds name v unit

	for name in $(awk '!seen[$1]++ { print $1 }' "$f"); do
		v=($(awk -v n="$name" '$1 == n { print $2 }' "$f"))
		unit=$(awk -v n="$name" '$1 == n { print $3; exit }' "$f")
		if [ ${#v[@]} != "$RUNS" ] || printf '%s\n' "${v[@]}" | grep -qv '^[0-9.]*$'; then
			progress "$t $name: ${#v[@]} of $RUNS runs gave a figure: ${v[*]}"
			continue
		fi
		printf 'bench-result: {"workload": "%s", "transport": "%s", "kernel": "%s", "value": %s, "unit": "%s", "runs": [%s]}\n' \
			"$name" "$t" "$KERNEL" "$(median "${v[@]}")" "$unit" \
			"$(IFS=,; echo "${v[*]}")"
	done
}

grep -q '^fuseuring ' /proc/modules || insmod "$KO" || exit 1
TRANSPORTS=("$@")
[ ${#TRANSPORTS[@]} -gt 0 ] || TRANSPORTS=(tmpfs kernel-fuse kernel-fuse-uring
	fuseuring-classic fuseuring-ring fuseuring-bufpool fuseuring-zerocopy)
trap stop_all EXIT
rm -rf "$W"
mkdir -p "$W"
for t in "${TRANSPORTS[@]}"; do
	start "$t" && up+=("$t") && : >"$W/$t.rounds"
done
progress "mounted: ${up[*]}"
for t in "${up[@]}"; do
	progress "warm-up: $t"
	one_round "$t" 1 >/dev/null
done
for r in $(seq "$RUNS"); do
	for t in "${up[@]}"; do
		progress "round $r of $RUNS: $t"
		one_round "$t" "$RUNTIME" | tee -a "$W/$t.rounds" |
			tr '\n' ' ' | sed 's/^/bench:   /; s/ $/\n/' >&2
	done
done
for t in "${up[@]}"; do
	report "$t"
done
