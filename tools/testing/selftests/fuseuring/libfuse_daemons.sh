#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stock libfuse3 daemons (libfuse's own examples, built from the
# libfuse3-dev package, logic untouched) serving fuseuring through the
# mount helper: fuseuring-mount opens /dev/fuseuring, mounts, and hands
# the daemon /dev/fd/N as its mountpoint.  Prints TAP.
#
# FUSEURING_DEV and FUSEURING_FSTYPE select another device and type
# (/dev/fuse and fuse: the kernel's own FUSE, as a reference).

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../../.." && pwd)
TAP_PREFIX=libfuse
. "$HERE/tap.sh"
HELPER=$TOP/tools/mount/fuseuring-mount
DEV=${FUSEURING_DEV:-/dev/fuseuring}
FSTYPE=${FUSEURING_FSTYPE:-fuseuring}
WORK=$(mktemp -d /tmp/libfuse-daemons.XXXXXX)
MNT=$WORK/mnt

load_module "$FSTYPE"

# serve DAEMON [ARGS]: mount through the helper, wait until it answers.
serve() {
	local name=$1

	shift
	mkdir -p "$MNT"
	"$HELPER" --dev "$DEV" --fstype "$FSTYPE" "$MNT" "$HERE/$name" -f "$@" %m \
		>"$WORK/$name.log" 2>&1 &
	pid=$!
	# The helper mounts before it execs the daemon; a stat then waits
	# for the daemon's INIT reply.
	for _ in $(seq 100); do
		grep -q " $MNT " /proc/mounts && stat "$MNT/." >/dev/null &&
			return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# $name did not start:"
	sed 's/^/#   /' "$WORK/$name.log"
	return 1
}

# finish: unmount; the daemon must then exit with status 0.
finish() {
	local status

	umount "$MNT" || return 1
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid"
	status=$?
	pid=
	[ "$status" = 0 ] || { echo "# daemon exited with $status:";
		sed 's/^/#   /' "$WORK"/*.log; }
	return "$status"
}

# passthrough_ll: a copied tree reads back identical, then goes away.
mkdir -p "$WORK/src"
if serve libfuse_passthrough_ll -o "source=$WORK/src"; then
	cp -a /usr/include/linux "$MNT/tree" &&
		diff -r /usr/include/linux "$MNT/tree" >/dev/null &&
		[ "$(find "$MNT/tree" | wc -l)" = "$(find /usr/include/linux | wc -l)" ] &&
		diff -r /usr/include/linux "$WORK/src/tree" >/dev/null
	ok $? "passthrough_ll serves a copied tree"
	rm -rf "$MNT/tree" && [ -z "$(ls -A "$WORK/src")" ]
	ok $? "passthrough_ll removes the tree"
	finish
	ok $? "passthrough_ll exits cleanly on umount"
else
	ok 1 "passthrough_ll serves a copied tree"
fi

# notify_inval_inode: the file keeps its page cache (keep_cache, no attr
# timeout); only FUSE_NOTIFY_INVAL_INODE makes a new time visible.
inval_inode() {
	local a b

	serve libfuse_notify_inval_inode --update-interval=1 "$@" || return 1
	a=$(cat "$MNT/current_time")
	sleep 2.5
	b=$(cat "$MNT/current_time")
	echo "# $a / $b"
	finish || return 1
	[ -n "$a" ] && [ "$a" != "$b" ]
}
inval_inode
ok $? "notify_inval_inode: INVAL_INODE shows new data"
inval_inode --no-notify
[ $? = 1 ]
ok $? "notify_inval_inode --no-notify: keep_cache keeps old data"

# notify_inval_entry: the file's name changes; its dentry is cached for
# 30 s, so only FUSE_NOTIFY_INVAL_ENTRY makes the old name go away.
inval_entry() {
	local old st

	serve libfuse_notify_inval_entry --update-interval=1 --timeout=30 "$@" ||
		return 2
	# The daemon renames the file every second, so the name ls shows
	# can be gone by the time stat looks it up (on a busy guest; the
	# kernel's own FUSE races the same way): list and look up again.
	for _ in 1 2 3 4 5; do
		old=$(ls "$MNT")
		stat "$MNT/$old" >/dev/null 2>&1 && break
		old=
	done
	[ -n "$old" ] || return 2
	sleep 2.5
	stat "$MNT/$old" >/dev/null 2>&1
	st=$?
	echo "# old name $old: stat status $st"
	finish || return 2
	return $st
}
inval_entry
[ $? = 1 ]
ok $? "notify_inval_entry: INVAL_ENTRY drops the old name"
inval_entry --no-notify
ok $? "notify_inval_entry --no-notify: the old name stays cached"

# notify_store_retrieve: new contents arrive by FUSE_NOTIFY_STORE, and
# the daemon checks them with FUSE_NOTIFY_RETRIEVE (it aborts on a
# mismatch, so its exit status is part of the check).
store_retrieve() {
	local a b

	serve libfuse_notify_store_retrieve --update-interval=1 || return 1
	a=$(cat "$MNT/current_time")
	sleep 2.5
	b=$(cat "$MNT/current_time")
	echo "# $a / $b"
	finish || return 1
	[ -n "$a" ] && [ "$a" != "$b" ]
}
# The example counts a lookup before the kernel has made the inode (the
# looking-up caller makes it once it wakes up, in the kernel's own FUSE
# too) and aborts when a STORE in that window gets ENOENT (see its
# comment on libfuse issue 105).  Only that abort is tried again.
for try in 1 2 3; do
	store_retrieve
	st=$?
	[ "$st" = 0 ] && break
	grep -q 'notify_store() failed with No such file or directory' \
		"$WORK/libfuse_notify_store_retrieve.log" || break
	echo "# try $try: the example's STORE raced its own LOOKUP reply"
done
ok $st "notify_store_retrieve: STORE and RETRIEVE round-trip"

tap_end
