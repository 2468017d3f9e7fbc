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
# DAEMON is one of ours (built here from libfuse3-dev's examples) or a
# path (libfuse 3.18's build).
serve() {
	local name=$1 prog=$1

	shift
	case "$prog" in
	*/*)	name=${prog##*/} ;;
	*)	prog=$HERE/$prog ;;
	esac
	mkdir -p "$MNT"
	"$HELPER" --dev "$DEV" --fstype "$FSTYPE" "$MNT" "$prog" -f "$@" %m \
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

# time_changes DAEMON [ARGS]: the daemon's current_time (updated every
# second) reads another time 2.5 s later; 1 if not, or the daemon failed.
time_changes() {
	local a b

	serve "$1" --update-interval=1 "${@:2}" || return 1
	a=$(cat "$MNT/current_time")
	sleep 2.5
	b=$(cat "$MNT/current_time")
	echo "# $a / $b"
	finish || return 1
	[ -n "$a" ] && [ "$a" != "$b" ]
}

# notify_inval_inode: the file keeps its page cache (keep_cache, no attr
# timeout); only FUSE_NOTIFY_INVAL_INODE makes a new time visible.
inval_inode() {
	time_changes libfuse_notify_inval_inode "$@"
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
	time_changes libfuse_notify_store_retrieve
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

# libfuse 3.18's own examples, from its build in the cache (the bootstrap
# builds it), over the classic device and over the ring (-o io_uring).
LF=${LIBFUSE_BUILD:-$TOP/.cache/libfuse-3.18/build}

# skip CHECK REASON: one TAP result that was not run.
skip() {
	n=$((n + 1))
	echo "ok $n $TAP_PREFIX.$1 # SKIP $2"
}

# ring_dispatched: the requests the ring of the mount at $MNT has carried
# (its queues' counters in debugfs; 0 without a ring).
ring_dispatched() {
	local dev

	[ -d /sys/kernel/debug/fuseuring ] ||
		mount -t debugfs none /sys/kernel/debug 2>/dev/null
	dev=$(awk -v m="$MNT" '$5 == m { print $3 }' /proc/self/mountinfo)
	cat /sys/kernel/debug/fuseuring/"$dev"/queue*/dispatched 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}

# serve_lf TRANSPORT PROGRAM [ARGS]: a libfuse 3.18 program (example/NAME,
# test/NAME).  Over the ring, wait until the ring carries requests:
# libfuse registers its queues after the INIT reply, and until every
# CPU's queue has entries the requests take the device.
serve_lf() {
	local t=$1 prog=$2 c

	shift 2
	if [ "$t" = classic ]; then
		FUSE_URING_ENABLE=0 serve "$LF/$prog" "$@"
		return
	fi
	FUSE_URING_ENABLE=1 serve "$LF/$prog" -o io_uring "$@" || return 1
	for _ in $(seq 50); do
		for c in $(seq 0 $(($(nproc) - 1))); do
			taskset -c "$c" ls "$MNT/" >/dev/null
		done
		[ "$(ring_dispatched)" -gt 0 ] && return 0
		sleep 0.2
	done
	echo "# $prog: the ring carried no request"
	return 0
}

# lf_can_run CHECK TRANSPORT: whether the checks can run here.
lf_can_run() {
	if [ ! -x "$LF/example/passthrough_fh" ]; then
		# Not a skip: the bootstrap builds it; its absence is a fault.
		echo "# libfuse 3.18 is not built in $LF (tools/testing/vm/bootstrap.sh)"
		ok 1 "$1[$2]"
		return 1
	fi
	if [ "$2" = ring ] && { [ "$FSTYPE" != fuseuring ] ||
	   [ ! -e /sys/module/fuseuring/parameters/ring_queues ]; }; then
		skip "$1[$2]" "no FUSE over io-uring on $FSTYPE here"
		return 1
	fi
	return 0
}

# ring_used CHECK TRANSPORT BEFORE: over the ring, the checks' requests
# went over it (its counters moved past BEFORE).
ring_used() {
	local after

	[ "$2" = ring ] || return 0
	after=$(ring_dispatched)
	echo "# $1[ring]: $((after - $3)) requests over the ring"
	[ "$after" -gt "$3" ]
	ok $? "$1[ring] the requests went over the ring"
}

# ioctl_fails_with ERRNO PATH [O_FLAG]: an _IOR ioctl of 8 bytes (0x80084500)
# on PATH, opened read-only (and with O_FLAG), fails with ERRNO (a name).
ioctl_fails_with() {
	python3 -c '
import errno, fcntl, os, sys
flags = os.O_RDONLY
for name in sys.argv[3:]:
    flags |= getattr(os, name)
fd = os.open(sys.argv[2], flags)
try:
    fcntl.ioctl(fd, 0x80084500, bytearray(8))
except OSError as e:
    print("# ioctl: %s" % os.strerror(e.errno))
    sys.exit(e.errno != getattr(errno, sys.argv[1]))
sys.exit(1)
' "$@"
}

# passthrough_fh: libfuse's high-level API, path-based.  Its create is
# open(path, fi->flags, mode) with the flags of FUSE_CREATE as they came:
# O_CREAT must be among them (fuseuring once dropped it, and every new
# file was ENOENT).  It mirrors the whole tree: SRC/x is MNT/SRC/x.
fh_checks() {
	local t=$1 src=$WORK/fh-$1 m before

	lf_can_run passthrough_fh "$t" || return
	mkdir -p "$src"
	m=$MNT$src
	if ! serve_lf "$t" example/passthrough_fh; then
		ok 1 "passthrough_fh[$t] starts"
		return
	fi
	before=$(ring_dispatched)
	# The shell's > is O_WRONLY|O_CREAT|O_TRUNC.
	printf 'hello\n' >"$m/new" && [ "$(cat "$m/new")" = hello ] &&
		[ "$(cat "$src/new")" = hello ]
	ok $? "passthrough_fh[$t] creates, writes and reads back a new file"
	printf 'more\n' >>"$m/new" &&
		[ "$(cat "$src/new")" = "$(printf 'hello\nmore')" ]
	ok $? "passthrough_fh[$t] appends to it"
	# cp makes its file with O_CREAT|O_EXCL.
	cp /usr/include/linux/fuse.h "$m/copy" &&
		cmp /usr/include/linux/fuse.h "$m/copy" &&
		cmp /usr/include/linux/fuse.h "$src/copy"
	ok $? "passthrough_fh[$t] copies a file in and reads it back"
	# A read-write create: the handle reads what it wrote, and the file
	# has the mode asked for.
	python3 -c '
import os, sys
os.umask(0o022)
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
os.write(fd, b"abc")
assert os.pread(fd, 3, 0) == b"abc"
os.close(fd)
assert os.stat(sys.argv[2]).st_mode & 0o7777 == 0o640
' "$m/rw" "$src/rw"
	ok $? "passthrough_fh[$t] O_RDWR|O_CREAT|O_EXCL with mode 0640"
	mkdir "$m/dir" && printf x >"$m/dir/f" && mv "$m/dir/f" "$m/g" &&
		[ "$(cat "$src/g")" = x ] && rmdir "$m/dir"
	ok $? "passthrough_fh[$t] creates in a new folder, renames out of it"
	# passthrough_fh has no ioctl: libfuse answers ENOSYS, the caller
	# gets ENOTTY.
	ioctl_fails_with ENOTTY "$m/rw"
	ok $? "passthrough_fh[$t] an ioctl the server lacks is ENOTTY"
	rm "$m/new" "$m/copy" "$m/rw" "$m/g" && [ -z "$(ls -A "$m")" ] &&
		[ -z "$(ls -A "$src")" ]
	ok $? "passthrough_fh[$t] unlinks the files"
	ring_used passthrough_fh "$t" "$before"
	finish
	ok $? "passthrough_fh[$t] exits cleanly on umount"
}
fh_checks classic
fh_checks ring

# ioctl: libfuse's example keeps one file, fioc, whose size its ioctls
# read (FIOC_GET_SIZE, _IOR) and set (FIOC_SET_SIZE, _IOW); its answer to
# an ioctl on anything but that file is EINVAL.
ioctl_checks() {
	local t=$1 f c=$LF/example/ioctl_client before

	lf_can_run ioctl "$t" || return
	f=$MNT/fioc
	if ! serve_lf "$t" example/ioctl; then
		ok 1 "ioctl[$t] starts"
		return
	fi
	before=$(ring_dispatched)
	[ "$("$c" "$f")" = 0 ] && printf foobar >"$f" && [ "$("$c" "$f")" = 6 ]
	ok $? "ioctl[$t] FIOC_GET_SIZE copies the size out"
	"$c" "$f" 3 && [ "$(cat "$f")" = foo ] && [ "$("$c" "$f")" = 3 ]
	ok $? "ioctl[$t] FIOC_SET_SIZE copies the size in"
	# A directory's ioctl reaches the server too (FUSE_IOCTL_DIR).
	ioctl_fails_with EINVAL "$MNT" O_DIRECTORY
	ok $? "ioctl[$t] a directory's ioctl gets the server's answer"
	ring_used ioctl "$t" "$before"
	finish
	ok $? "ioctl[$t] exits cleanly on umount"
}
ioctl_checks classic
ioctl_checks ring

tap_end
