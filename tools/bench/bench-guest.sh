#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-guest.sh [TRANSPORT...]: runs in the benchmark guest (from bench.sh).
# For each transport it mounts the same tree the same way, runs every
# workload BENCH_RUNS times after a warm-up, and prints one line per
# workload:
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
KERNEL=$(uname -r)
KO=${FUSEURING_KO:-$TOP/fuseuring.ko}
W=/tmp/bench
pid=

progress() { echo "bench: $*" >&2; }

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

result() {	# workload transport unit values...
	local wl=$1 t=$2 unit=$3 runs

	shift 3
	runs=$(printf '%s,' "$@")
	echo "bench-result: {\"workload\": \"$wl\", \"transport\": \"$t\", \"kernel\": \"$KERNEL\", \"value\": $(median "$@"), \"unit\": \"$unit\", \"runs\": [${runs%,}]}"
}

stop_server() {
	mountpoint -q "$W/mnt" && { umount "$W/mnt" || umount -l "$W/mnt"; }
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
	fi
	rm -rf "$W"
}

# passthrough ARGS...: serve $W/src at $W/mnt; 1 when it does not start.
passthrough() {
	mkdir -p "$W/src" "$W/mnt"
	"$PT" "$@" -o allow_other "$W/src" "$W/mnt" >"$W.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		grep -q 'passthrough: ready' "$W.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$W.log" >&2
	pid=
	return 1
}

pt_has() { "$PT" --help 2>&1 | grep -q -- "$1"; }

# start TRANSPORT: mount it at $W/mnt, or print why not and return 1.
start() {
	rm -rf "$W"
	mkdir -p "$W/mnt"
	case "$1" in
	tmpfs)
		mount -t tmpfs -o size=1G tmpfs "$W/mnt" ;;
	kernel-fuse)
		passthrough --dev /dev/fuse --fstype fuse --transport classic ;;
	kernel-fuse-uring)
		[ -e /sys/module/fuse/parameters/enable_uring ] || {
			echo "bench-skip: $1: kernel $KERNEL has no FUSE over io-uring"
			return 1
		}
		echo 1 >/sys/module/fuse/parameters/enable_uring
		passthrough --dev /dev/fuse --fstype fuse --transport ring ;;
	fuseuring-classic)
		passthrough --transport classic ;;
	fuseuring-ring)
		passthrough --transport ring ;;
	fuseuring-bufpool)
		pt_has --bufpool || {
			echo "bench-skip: $1: the passthrough example has no --bufpool"
			return 1
		}
		passthrough --transport ring --bufpool ;;
	fuseuring-zerocopy)
		pt_has --zero-copy || {
			echo "bench-skip: $1: the passthrough example has no --zero-copy"
			return 1
		}
		passthrough --transport ring --zero-copy ;;
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

fio_jobfile() {	# direct runtime
	local w name rw bs jobs sfx=

	[ "$1" = 1 ] && sfx=-direct
	printf '[global]\ndirectory=%s\nfilename=data\nsize=%s\nioengine=psync\n' \
		"$W/mnt" "$SIZE"
	printf 'direct=%s\ntime_based\nruntime=%s\ngroup_reporting\n' "$1" "$2"
	for w in $FIO_WORKLOADS; do
		IFS=: read -r name rw bs jobs <<<"$w"
		printf '[%s%s]\nstonewall\nrw=%s\nbs=%s\nnumjobs=%s\n' \
			"$name" "$sfx" "$rw" "$bs" "$jobs"
	done
}

# fio_run direct runtime: one line per workload, "NAME VALUE UNIT"
# (IOPS for 4 KiB, MiB/s for 1 MiB).
fio_run() {
	fio_jobfile "$1" "$2" >"$W.fio"
	fio --output-format=json "$W.fio" 2>/dev/null | python3 -c '
import json, sys
for j in json.load(sys.stdin)["jobs"]:
    side = j["read"] if j["read"]["io_bytes"] else j["write"]
    if "-4k-" in j["jobname"]:
        print(j["jobname"], "%.1f" % side["iops"], "IOPS")
    else:
        print(j["jobname"], "%.1f" % (side["bw"] / 1024), "MiB/s")
'
}

fio_workloads() {	# transport direct
	local t=$1 d=$2 i name v unit out=()

	fio_run "$d" 1 >/dev/null	# warm-up: lays the file out, fills caches
	for i in $(seq "$RUNS"); do
		out+=("$(fio_run "$d" "$RUNTIME")")
	done
	for name in $(printf '%s\n' "${out[0]}" | awk '{ print $1 }'); do
		v=($(printf '%s\n' "${out[@]}" | awk -v n="$name" '$1 == n { print $2 }'))
		unit=$(printf '%s\n' "${out[0]}" | awk -v n="$name" '$1 == n { print $3 }')
		if [ ${#v[@]} != "$RUNS" ]; then
			progress "$t $name: fio gave ${#v[@]} of $RUNS runs"
			continue
		fi
		result "$name" "$t" "$unit" "${v[@]}"
		progress "$t $name: ${v[*]} $unit"
	done
}

meta_workloads() {
	local t=$1 i c1=() c2=() s1=() u1=() out

	mkdir -p "$W/mnt/m"
	for i in $(seq "$RUNS"); do
		out=$("$BENCH/metabench" "$W/mnt/m" create 1 "$FILES")
		c1+=("$(echo "$out" | awk '{ print $6 }')")
		s1+=("$("$BENCH/metabench" "$W/mnt/m" stat 1 "$FILES" | awk '{ print $6 }')")
		u1+=("$("$BENCH/metabench" "$W/mnt/m" unlink 1 "$FILES" | awk '{ print $6 }')")
		c2+=("$("$BENCH/metabench" "$W/mnt/m" create 2 "$((FILES / 2))" | awk '{ print $6 }')")
		"$BENCH/metabench" "$W/mnt/m" unlink 2 "$((FILES / 2))" >/dev/null
	done
	result create-1t "$t" ops/s "${c1[@]}"
	result create-2t "$t" ops/s "${c2[@]}"
	result stat-1t "$t" ops/s "${s1[@]}"
	result unlink-1t "$t" ops/s "${u1[@]}"
	progress "$t create-1t ${c1[*]} create-2t ${c2[*]} stat-1t ${s1[*]} unlink-1t ${u1[*]}"
}

rtt_workloads() {
	local t=$1 i p50=() p99=() out

	: >"$W/mnt/rtt"
	for i in $(seq "$RUNS"); do
		out=$("$BENCH/rttbench" "$W/mnt/rtt" "$RTT_COUNT")
		p50+=("$(echo "$out" | awk '{ print $3 }')")
		p99+=("$(echo "$out" | awk '{ print $4 }')")
	done
	result rtt-p50 "$t" us "${p50[@]}"
	result rtt-p99 "$t" us "${p99[@]}"
	progress "$t rtt-p50 ${p50[*]} rtt-p99 ${p99[*]} us"
}

bench_transport() {
	local t=$1

	progress "== $t"
	start "$t" || return 0
	fio_workloads "$t" 0
	fio_workloads "$t" 1
	meta_workloads "$t"
	rtt_workloads "$t"
	stop_server
}

grep -q '^fuseuring ' /proc/modules || insmod "$KO" || exit 1
TRANSPORTS=("$@")
[ ${#TRANSPORTS[@]} -gt 0 ] || TRANSPORTS=(tmpfs kernel-fuse kernel-fuse-uring
	fuseuring-classic fuseuring-ring fuseuring-bufpool fuseuring-zerocopy)
for t in "${TRANSPORTS[@]}"; do
	bench_transport "$t"
done
