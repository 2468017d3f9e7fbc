#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# semantics.sh TRANSPORT: serve two fresh directories with the passthrough
# example over TRANSPORT, run the FUSE-semantics suite on the first (the
# second is for EXDEV, the third is killed by the server-death check), and
# print the line
#   semantics[TRANSPORT]: N passed, N failed[, N skipped]
#
# Transports: kernel-fuse (the kernel's own FUSE on /dev/fuse: the
# reference), fuseuring-classic, fuseuring-ring, fuseuring-bufpool (the
# ring with a buffer pool per queue: SEMANTICS_BUFPOOL=fixed (default),
# user or kernel, of two slots, so that requests also wait for slots),
# fuseuring-zerocopy (the ring with zero-copy READ and WRITE: the server
# must get it, and the run must have used it), and
# libfuse-ring: libfuse 3.18's own passthrough_hp example, unmodified, with
# -o io_uring, on a fuseuring mount made by fuseuring-mount (the build in
# the cache, LIBFUSE_BUILD); after the suite, the check
# semantics[libfuse-ring].queue_counters proves that the requests went
# over fuseuring's ring.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../../.." && pwd)
PT=${PASSTHROUGH:-$TOP/examples/passthrough}
T=${1:?usage: semantics.sh TRANSPORT}
OPTS=${SEMANTICS_MOUNT_OPTS:-allow_other,default_permissions}

case "$T" in
kernel-fuse)       args=(--dev /dev/fuse --fstype fuse --transport classic) ;;
fuseuring-classic) args=(--dev /dev/fuseuring --fstype fuseuring --transport classic) ;;
fuseuring-ring)    args=(--dev /dev/fuseuring --fstype fuseuring --transport ring) ;;
fuseuring-bufpool) args=(--dev /dev/fuseuring --fstype fuseuring --transport ring
			--bufpool="${SEMANTICS_BUFPOOL:-fixed}"
			--bufpool-budget $((2 << 20))) ;;
fuseuring-zerocopy) args=(--dev /dev/fuseuring --fstype fuseuring --transport ring
			--zero-copy) ;;
libfuse-ring)      HP=${LIBFUSE_BUILD:-$TOP/.cache/libfuse-3.18/build}/example/passthrough_hp
		   HELPER=$TOP/tools/mount/fuseuring-mount ;;
*) echo "semantics.sh: unknown transport $T" >&2; exit 2 ;;
esac

if [ "$T" != kernel-fuse ] && ! grep -q '^fuseuring ' /proc/modules; then
	insmod "${FUSEURING_KO:-$TOP/fuseuring.ko}" || exit 1
fi

if [ "$T" = libfuse-ring ]; then
	if [ ! -x "$HP" ]; then
		# Not a skip: the bootstrap builds it; its absence is a fault.
		echo "not ok 1 semantics[$T] libfuse 3.18 is not built: no $HP (tools/testing/vm/bootstrap.sh)"
		echo "semantics[$T]: 0 passed, 1 failed"
		exit 1
	fi
	# The module offers FUSE_OVER_IO_URING only where it has the ring
	# (and then has this parameter); libfuse would fall back to the
	# classic path in silence.
	if [ ! -e /sys/module/fuseuring/parameters/ring_queues ]; then
		echo "ok 1 semantics[$T] # SKIP this kernel has no FUSE over io-uring"
		echo "semantics[$T]: 0 passed, 0 failed, 1 skipped"
		exit 0
	fi
fi

WORK=$(mktemp -d /tmp/semantics-$T.XXXXXX)
chmod 755 "$WORK"	# other users' checks must reach the mounts
pids=()

cleanup() {
	local m p

	# Not mountpoint(1): it cannot stat a dead server's mount.
	for m in "$WORK"/mnt1 "$WORK"/mnt2 "$WORK"/mnt3; do
		grep -q " $m " /proc/mounts || continue
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# start N: serve $WORK/srcN at $WORK/mntN; waits for the ready line.
start() {
	local n=$1 log=$WORK/server$1.log

	mkdir -p "$WORK/src$n" "$WORK/mnt$n"
	[ "$T" = libfuse-ring ] && { start_libfuse "$n"; return; }
	"$PT" "${args[@]}" --test-hooks -o "$OPTS" \
		"$WORK/src$n" "$WORK/mnt$n" >"$log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		grep -q 'passthrough: ready' "$log" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "# server $n for $T did not start:"
	sed 's/^/#   /' "$log"
	return 1
}

# start_libfuse N: passthrough_hp on a fuseuring mount at $WORK/mntN, the
# device handed over by the helper; ready once the mount answers (the
# helper mounts first, and a stat waits for the INIT reply).
start_libfuse() {
	local n=$1 log=$WORK/server$1.log mnt=$WORK/mnt$1

	"$HELPER" -o "$OPTS" "$mnt" "$HP" --foreground -o io_uring \
		"$WORK/src$n" %m >"$log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		grep -q " $mnt " /proc/mounts && stat "$mnt/." >/dev/null 2>&1 &&
			return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "# passthrough_hp $n did not start:"
	sed 's/^/#   /' "$log"
	return 1
}

# The debugfs folder of fuseuring's ring for the mount at $1, named
# MAJOR:MINOR of its superblock (from mountinfo: no request is sent).
ring_debugfs() {
	local dev

	[ -d /sys/kernel/debug/fuseuring ] ||
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	dev=$(awk -v m="$1" '$5 == m { print $3 }' /proc/self/mountinfo)
	echo "/sys/kernel/debug/fuseuring/$dev"
}

# queue_sum DIR COUNTER: the counter summed over the ring's queues.
queue_sum() {
	cat "$1"/queue*/"$2" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

# The suite's environment.  The third mount is for the server-death check:
# the example's test hooks kill its server from a request; passthrough_hp
# has no hooks (and no interrupts), so the check stops and kills it by its
# pid; it refuses rename flags with EINVAL.  The random
# exerciser's reference is a tmpfs (/dev/shm) even where /tmp, and so the
# servers' backing folders, are not (make check's guest: ext4).
REF=/tmp
[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && REF=/dev/shm
suite_env=(FUSEURING_MNT="$WORK/mnt1" FUSEURING_MNT2="$WORK/mnt2"
	   FUSEURING_SRC="$WORK/src1" FUSEURING_REF="$REF"
	   FUSEURING_DEFAULT_PERMISSIONS=1 FUSEURING_TRANSPORT="$T")
suite_env+=(FUSEURING_MNT3="$WORK/mnt3")
if [ "$T" = libfuse-ring ]; then
	suite_env+=(FUSEURING_SERVER_NO_RENAME_FLAGS=1)
else
	suite_env+=(FUSEURING_HOOKS=1)
fi

started=1
for s in 1 2 3; do
	start "$s" || { started=0; break; }
done
# The helper execs passthrough_hp: the third pid is the server's.
[ "$T" = libfuse-ring ] && [ "$started" = 1 ] &&
	suite_env+=(FUSEURING_SERVER3_PID="${pids[2]}")
if [ "$started" = 0 ]; then
	if grep -qs 'missing or refused io-uring' "$WORK"/server*.log; then
		# A kernel whose module has no ring (none of 6.1, 6.12, 7.3).
		echo "ok 1 semantics[$T] # SKIP this kernel has no FUSE over io-uring"
		echo "semantics[$T]: 0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	echo "not ok 1 semantics[$T] server start"
	echo "semantics[$T]: 0 passed, 1 failed"
	exit 1
fi

# libfuse registers its queues after the INIT reply: wait until the ring
# carries a request from every CPU (a request goes to its CPU's queue), so
# that the suite runs over the ring from its first check.
if [ "$T" = libfuse-ring ]; then
	dbg=$(ring_debugfs "$WORK/mnt1")
	for _ in $(seq 50); do
		busy=0
		for c in $(seq 0 $(($(nproc) - 1))); do
			taskset -c "$c" touch "$WORK/mnt1/.ring-probe"
			rm -f "$WORK/mnt1/.ring-probe"
			[ "$(cat "$dbg/queue$c/dispatched" 2>/dev/null || echo 0)" -gt 0 ] &&
				busy=$((busy + 1))
		done
		[ "$busy" = "$(nproc)" ] && break
		sleep 0.2
	done
	echo "# ring of mnt1: $busy of $(nproc) queues took requests before the suite"
fi

out=$WORK/tap
env "${suite_env[@]}" "$HERE/semantics" >"$out" 2>&1
# Zero-copy: the server had it, and READs and WRITEs went through it
# (the queues' zc_requests in debugfs).
if [ "$T" = fuseuring-zerocopy ]; then
	n=$(grep -c '^ok \|^not ok ' "$out")
	dev=$(awk -v m="$WORK/mnt1" '$5 == m { print $3 }' /proc/self/mountinfo)
	[ -d /sys/kernel/debug/fuseuring ] ||
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	zc=$(cat /sys/kernel/debug/fuseuring/"$dev"/queue*/zc_requests 2>/dev/null |
	     awk '{ s += $1 } END { print s + 0 }')
	# Upstream's kind where the kernel exports the bvec-array
	# io_buffer_register_bvec (with io_buffer_register_request: 7.x),
	# the window elsewhere.
	kind=window
	if grep -q ' io_buffer_register_request$' /proc/kallsyms &&
	   grep -q ' io_buffer_register_bvec$' /proc/kallsyms; then
		kind="registered buffers"
	fi
	if grep -q "zero-copy on ($kind)" "$WORK/server1.log" &&
	   [ "$zc" -gt 0 ]; then
		echo "ok $((n + 1)) fs.zero_copy_used # $zc requests zero-copied" >>"$out"
	else
		echo "not ok $((n + 1)) fs.zero_copy_used # $zc requests zero-copied: $(grep zero-copy "$WORK/server1.log")" >>"$out"
	fi
fi
# Name each result after the transport, so that the TAP lines of the
# runs stay apart in one report.
sed -E "s/^(not ok|ok) ([0-9]+) fs\./\1 \2 semantics[$T]./" "$out"

# libfuse's ring: every queue it registered carried requests, and none
# was an error (a reply fuseuring could not take).  libfuse makes one
# queue per CPU; a request goes to the queue of the CPU it is issued on.
if [ "$T" = libfuse-ring ]; then
	dbg=$(ring_debugfs "$WORK/mnt1")
	nq=$(cat "$dbg/queues" 2>/dev/null || echo 0)
	busy=0
	for q in "$dbg"/queue*; do
		[ -d "$q" ] || continue
		echo "# ${q##*/}: dispatched $(cat "$q/dispatched"), committed $(cat "$q/committed"), errors $(cat "$q/errors"), inflight $(cat "$q/inflight")"
		[ "$(cat "$q/dispatched")" -gt 0 ] && busy=$((busy + 1))
	done
	d=$(queue_sum "$dbg" dispatched)
	e=$(queue_sum "$dbg" errors)
	echo "# ring of mnt1 ($dbg): $nq queues, $busy carried requests, $d dispatched, $e errors"
	k=$(($(grep -cE '^(not )?ok ' "$out") + 1))
	# The suite sends tens of thousands of requests (its random exerciser
	# alone makes 10000 calls): a ring that stopped early shows far fewer.
	if [ "$nq" -gt 0 ] && [ "$busy" = "$nq" ] && [ "$d" -gt 10000 ] &&
	   [ "$e" = 0 ]; then
		echo "ok $k semantics[$T].queue_counters" | tee -a "$out"
	else
		echo "not ok $k semantics[$T].queue_counters" | tee -a "$out"
	fi
fi

pass=$(grep -E '^ok ' "$out" | grep -vc '# SKIP')
skip=$(grep -E '^ok .*# SKIP' "$out" | wc -l)
fail=$(grep -c '^not ok ' "$out")
[ "$pass$fail" = 00 ] && fail=1	# the suite did not run at all
line="semantics[$T]: $pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$fail" = 0 ]
