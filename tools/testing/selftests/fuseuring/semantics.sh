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
# must get it, and the run must have used it).

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
*) echo "semantics.sh: unknown transport $T" >&2; exit 2 ;;
esac

if [ "$T" != kernel-fuse ] && ! grep -q '^fuseuring ' /proc/modules; then
	insmod "${FUSEURING_KO:-$TOP/fuseuring.ko}" || exit 1
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

if ! start 1 || ! start 2 || ! start 3; then
	if grep -qs 'missing or refused io-uring' "$WORK"/server*.log; then
		# 6.1 cannot cancel uring commands: the module has no ring there.
		echo "ok 1 semantics[$T] # SKIP this kernel has no FUSE over io-uring"
		echo "semantics[$T]: 0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	echo "not ok 1 semantics[$T] server start"
	echo "semantics[$T]: 0 passed, 1 failed"
	exit 1
fi

out=$WORK/tap
FUSEURING_MNT=$WORK/mnt1 FUSEURING_MNT2=$WORK/mnt2 FUSEURING_MNT3=$WORK/mnt3 \
FUSEURING_SRC=$WORK/src1 \
FUSEURING_REF=/tmp FUSEURING_HOOKS=1 FUSEURING_DEFAULT_PERMISSIONS=1 \
FUSEURING_TRANSPORT=$T "$HERE/semantics" >"$out" 2>&1
# Zero-copy: the server had it, and READs and WRITEs went through it
# (the queues' zc_requests in debugfs).
if [ "$T" = fuseuring-zerocopy ]; then
	n=$(grep -c '^ok \|^not ok ' "$out")
	dev=$(awk -v m="$WORK/mnt1" '$5 == m { print $3 }' /proc/self/mountinfo)
	[ -d /sys/kernel/debug/fuseuring ] ||
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	zc=$(cat /sys/kernel/debug/fuseuring/"$dev"/queue*/zc_requests 2>/dev/null |
	     awk '{ s += $1 } END { print s + 0 }')
	if grep -q 'zero-copy on' "$WORK/server1.log" && [ "$zc" -gt 0 ]; then
		echo "ok $((n + 1)) fs.zero_copy_used # $zc requests zero-copied" >>"$out"
	else
		echo "not ok $((n + 1)) fs.zero_copy_used # $zc requests zero-copied: $(grep zero-copy "$WORK/server1.log")" >>"$out"
	fi
fi
# Name each result after the transport, so that the TAP lines of the
# runs stay apart in one report.
sed -E "s/^(not ok|ok) ([0-9]+) fs\./\1 \2 semantics[$T]./" "$out"

pass=$(grep -E '^ok ' "$out" | grep -vc '# SKIP')
skip=$(grep -E '^ok .*# SKIP' "$out" | wc -l)
fail=$(grep -c '^not ok ' "$out")
[ "$pass$fail" = 00 ] && fail=1	# the suite did not run at all
line="semantics[$T]: $pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$fail" = 0 ]
