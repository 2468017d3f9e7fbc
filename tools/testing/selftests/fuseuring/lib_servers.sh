#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libfuseuring's servers end to end: memfs over the ring and over the
# classic device serves a copied tree; passthrough over the ring really
# uses the ring (its own counts and the kernel's per-queue counters); a
# kernel that has no FUSE over io-uring gets a readable refusal.  TAP.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../../.." && pwd)
TAP_PREFIX=lib
. "$HERE/tap.sh"
EX=$TOP/examples
WORK=$(mktemp -d /tmp/lib-servers.XXXXXX)
W=$WORK MNT=$WORK/mnt

load_module

# serve NAME PROGRAM ARGS...: start a server; wait for its ready line.
serve() {
	local name=$1

	shift
	mkdir -p "$W/mnt" "$W/src"
	"$@" >"$W/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q ': ready' "$W/$name.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   /' "$W/$name.log"
	return 1
}

stop() {
	umount "$W/mnt" || return 1
	wait "$pid"
	local st=$?
	pid=
	return $st
}

tree_roundtrip() {
	cp -a /usr/include/linux "$W/mnt/tree" &&
		diff -r /usr/include/linux "$W/mnt/tree" >/dev/null &&
		rm -rf "$W/mnt/tree" && [ -z "$(ls -A "$W/mnt")" ]
}

# ring_missing LOG: the server was refused the ring by a kernel without it.
ring_missing() { grep -qs 'missing or refused io-uring' "$1"; }

skip() {
	n=$((n + 1))
	echo "ok $n lib.$1 # SKIP $2"
}

for t in ring classic; do
	if serve memfs-$t "$EX/memfs" --transport $t "$W/mnt"; then
		tree_roundtrip
		ok $? "memfs_${t}_serves_a_tree"
		stop
		ok $? "memfs_${t}_exits_cleanly"
	elif ring_missing "$W/memfs-$t.log"; then
		skip "memfs_${t}_serves_a_tree" "this kernel has no FUSE over io-uring"
	else
		ok 1 "memfs_${t}_serves_a_tree"
	fi
done

# passthrough over the ring: the ring carried the requests.
queues_sum() {
	cat /sys/kernel/debug/fuseuring/*/queue*/dispatched 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}
if serve pt-ring "$EX/passthrough" --transport ring --stats "$W/src" "$W/mnt"; then
	tree_roundtrip
	ok $? "passthrough_ring_serves_a_tree"
	d=$(queues_sum)
	echo "# per-queue dispatched, summed: $d"
	[ "$d" -gt 100 ]
	ok $? "passthrough_ring_moves_the_queue_counters"
	stop
	grep -q 'stats: transport ring' "$W/pt-ring.log" &&
		grep -q 'stats:.* LOOKUP [1-9]' "$W/pt-ring.log"
	ok $? "passthrough_ring_reports_ring_and_counts"
	sed -n 's/^passthrough: stats: /# /p' "$W/pt-ring.log"
elif ring_missing "$W/pt-ring.log"; then
	skip passthrough_ring_serves_a_tree "this kernel has no FUSE over io-uring"
else
	ok 1 "passthrough_ring_serves_a_tree"
fi

# The kernel's own FUSE without io-uring refuses the ring: say so.  A
# kernel whose FUSE has io-uring (7.x) has it off for this check: its
# enable_uring parameter (off by default) is restored after.
uring_param=/sys/module/fuse/parameters/enable_uring
uring_was=
if [ -e "$uring_param" ]; then
	uring_was=$(cat "$uring_param")
	echo N >"$uring_param"
fi
mkdir -p "$W/mnt" "$W/src"
timeout 20 "$EX/passthrough" --dev /dev/fuse --fstype fuse --transport ring \
	"$W/src" "$W/mnt" >"$W/refuse.log" 2>&1
st=$?
[ -n "$uring_was" ] && echo "$uring_was" >"$uring_param"
sed 's/^/# /' "$W/refuse.log"
[ "$st" = 1 ] && grep -q 'the kernel side is missing or refused io-uring' "$W/refuse.log" &&
	! mountpoint -q "$W/mnt"
ok $? "ring_refusal_is_readable"

tap_end
