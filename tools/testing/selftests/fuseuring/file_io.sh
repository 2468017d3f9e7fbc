#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Regular-file I/O on fuseuring: libfuse 3.18's passthrough_ll (the build
# in the cache that semantics.sh libfuse-ring uses too, LIBFUSE_BUILD)
# served through the mount helper on the classic device, once in the
# default write-through mode and once with the writeback cache.  It opens
# its backing files with the client's O_DIRECT; libfuse page-aligns a
# WRITE's payload from 3.17 on, which O_DIRECT on a disk filesystem (make
# check's ext4 /tmp) needs: bookworm's 3.14 hands it an unaligned buffer,
# and the write fails with EINVAL whatever the FUSE client.  Checks
# data against the backing directory: buffered, direct and mmap I/O,
# appends from two writers, truncate, holes, locks, copy_file_range, and
# that a change behind the kernel's back shows after a new open.
# Prints TAP.  FUSEURING_DEV/FUSEURING_FSTYPE select another device and
# type (/dev/fuse and fuse: the kernel's own FUSE, as a reference).

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../../.." && pwd)
TAP_PREFIX=file_io
. "$HERE/tap.sh"
HELPER=$TOP/tools/mount/fuseuring-mount
DEV=${FUSEURING_DEV:-/dev/fuseuring}
FSTYPE=${FUSEURING_FSTYPE:-fuseuring}
WORK=$(mktemp -d /tmp/file-io.XXXXXX)
MNT=$WORK/mnt
SRC=$WORK/src
PTLL=${LIBFUSE_BUILD:-$TOP/.cache/libfuse-3.18/build}/example/passthrough_ll

load_module "$FSTYPE"
if [ ! -x "$PTLL" ]; then
	# Not a skip: the bootstrap builds it; its absence is a fault.
	echo "not ok 1 file_io.server libfuse 3.18 is not built: no $PTLL (tools/testing/vm/bootstrap.sh)"
	echo "1..1"
	exit 1
fi

serve() {
	rm -rf "$SRC" && mkdir -p "$SRC" "$MNT"
	"$HELPER" --dev "$DEV" --fstype "$FSTYPE" "$MNT" \
		"$PTLL" -f -o "source=$SRC" "$@" %m \
		>"$WORK/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q " $MNT " /proc/mounts && stat "$MNT/." >/dev/null &&
			return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# passthrough_ll did not start:"
	sed 's/^/#   /' "$WORK/server.log"
	return 1
}

finish() {
	if mountpoint -q "$MNT"; then
		umount "$MNT" || umount -l "$MNT"
	else
		kill "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	pid=
}

checks() {
	local m=$1 a b

	echo hello >"$SRC/f1"
	[ "$(cat "$MNT/f1")" = hello ]
	ok $? "$m.read_existing"

	echo world >"$MNT/f2" && echo more >>"$MNT/f2"
	[ "$(cat "$MNT/f2")" = "$(printf 'world\nmore')" ] &&
		cmp -s "$MNT/f2" "$SRC/f2"
	ok $? "$m.write_append_close"

	head -c 3000000 /dev/urandom >"$WORK/big"
	dd if="$WORK/big" of="$MNT/big" bs=100k status=none && sync &&
		cmp -s "$WORK/big" "$SRC/big" && cmp -s "$WORK/big" "$MNT/big"
	ok $? "$m.large_buffered"

	# passthrough_ll opens its backing file with O_DIRECT too, and a disk
	# filesystem takes only whole blocks then: a file of whole 64k blocks.
	# It takes a WRITE's data through a pipe (splice) whenever it can grow
	# one, and splices it on to that file: the device must give the data
	# pipe buffers of their own, on page boundaries (splice_classic checks
	# that alone).
	head -c $((48 * 65536)) /dev/urandom >"$WORK/dbig"
	cp "$WORK/dbig" "$SRC/dbig"
	if dd if="$SRC/dbig" of=/dev/null iflag=direct bs=64k count=1 \
		status=none 2>/dev/null; then
		dd if="$MNT/dbig" of="$WORK/dio" iflag=direct bs=64k \
			status=none && cmp -s "$WORK/dio" "$WORK/dbig" &&
			dd if="$WORK/dbig" of="$MNT/dbig2" oflag=direct bs=64k \
				status=none && cmp -s "$SRC/dbig2" "$WORK/dbig"
		ok $? "$m.o_direct"
	else
		n=$((n + 1))
		echo "ok $n file_io.$m.o_direct # SKIP backing fs has no O_DIRECT"
	fi

	printf XY | dd of="$MNT/f1" bs=1 seek=2 conv=notrunc status=none &&
		sync && [ "$(cat "$SRC/f1")" = heXYo ]
	ok $? "$m.partial_overwrite"

	(for i in $(seq 40); do echo "a$i" >>"$MNT/ap"; done) & a=$!
	(for i in $(seq 40); do echo "b$i" >>"$MNT/ap"; done) & b=$!
	wait $a $b
	[ "$(wc -l <"$SRC/ap")" = 80 ] && [ "$(wc -l <"$MNT/ap")" = 80 ]
	ok $? "$m.two_appenders"

	truncate -s 70000 "$MNT/big" && sync &&
		[ "$(stat -c %s "$SRC/big")" = 70000 ] &&
		[ "$(stat -c %s "$MNT/big")" = 70000 ] &&
		cmp -s -n 70000 "$WORK/big" "$MNT/big"
	ok $? "$m.truncate"

	echo z | dd of="$MNT/big" bs=1 seek=200000 status=none && sync &&
		[ "$(stat -c %s "$SRC/big")" = 200002 ] &&
		cmp -s "$SRC/big" "$MNT/big"
	ok $? "$m.extend_with_hole"

	python3 - "$MNT/mm" "$SRC/mm" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192)
m[0:5] = b'abcde'
m[5000:5003] = b'xyz'
m.flush()
m.close()
os.close(fd)
d = open(sys.argv[2], 'rb').read()
sys.exit(0 if d[0:5] == b'abcde' and d[5000:5003] == b'xyz' and
         len(d) == 8192 else 1)
PY
	ok $? "$m.mmap_shared_write"

	# No msync: the last close of the mapped file writes the pages.
	python3 - "$MNT/mm2" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
os.close(fd)
m[100:105] = b'hello'
m.close()
PY
	[ "$(dd if="$SRC/mm2" bs=1 skip=100 count=5 status=none)" = hello ]
	ok $? "$m.mmap_write_without_msync"

	python3 - "$MNT/lk" <<'PY'
import fcntl, os, sys
for _ in range(5):
    a = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.lockf(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(a)
    b = os.open(sys.argv[1], os.O_RDWR)
    fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(b)
PY
	ok $? "$m.locks_released_on_close"

	python3 - "$MNT/big" "$MNT/cfr" <<'PY'
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT, 0o644)
sys.exit(0 if os.copy_file_range(a, b, 100000) == 100000 else 1)
PY
	[ $? = 0 ] && cmp -s -n 100000 "$SRC/big" "$SRC/cfr" &&
		[ "$(stat -c %s "$MNT/cfr")" = 100000 ]
	ok $? "$m.copy_file_range"

	# Same size: with the writeback cache the kernel owns the size.
	printf 'WORLD\nMORE\n' >"$SRC/f2"
	[ "$(cat "$MNT/f2")" = "$(printf 'WORLD\nMORE')" ]
	ok $? "$m.server_change_seen_on_open"
}

if serve; then
	checks write_through
	finish
else
	ok 1 "write_through.mount"
fi
if serve -o writeback; then
	checks writeback
	# The data stays in the page cache until fsync (a close flushes).
	python3 - "$MNT/wb" "$SRC/wb" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'cached')
before = open(sys.argv[2], 'rb').read()
os.fsync(fd)
after = open(sys.argv[2], 'rb').read()
os.close(fd)
sys.exit(0 if before == b'' and after == b'cached' else 1)
PY
	ok $? "writeback.data_stays_until_fsync"
	finish
else
	ok 1 "writeback.mount"
fi

# The same checks over the ring with zero-copy READ and WRITE: the
# project's passthrough example (files opened with FOPEN_IO_URING_ZERO_COPY),
# which must have got it (upstream's kind where the kernel exports
# io_buffer_register_bvec, fuseuring's window elsewhere).  fuseuring only.
serve_zero_copy() {
	local log=$WORK/zerocopy.log

	rm -rf "$SRC" && mkdir -p "$SRC" "$MNT"
	"$TOP/examples/passthrough" --dev "$DEV" --fstype "$FSTYPE" \
		--transport ring --zero-copy --stats "$SRC" "$MNT" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'passthrough: ready' "$log" && break
		sleep 0.1
	done
	grep -q 'zero-copy on' "$log" && return 0
	sed 's/^/#   /' "$log"
	return 1
}
if [ "$FSTYPE" = fuseuring ] && [ -x "$TOP/examples/passthrough" ]; then
	if serve_zero_copy; then
		checks zero_copy
		finish
		# READs and WRITEs did go without a copy.
		zc=$(sed -n 's/^passthrough: stats: zero-copied READ\/WRITE //p' \
			"$WORK/zerocopy.log")
		[ "${zc:-0}" -gt 0 ]
		ok $? "zero_copy.requests_zero_copied # ${zc:-0}"
	else
		ok 1 "zero_copy.mount"
		finish
	fi
fi

# FOPEN_DIRECT_IO from the project's passthrough example, over both
# transports: no page cache, MAP_SHARED refused, MAP_PRIVATE readable.
direct_io() {
	local t=$1 log=$WORK/direct-$1.log

	[ -x "$TOP/examples/passthrough" ] || return 1
	rm -rf "$SRC" && mkdir -p "$SRC" "$MNT"
	"$TOP/examples/passthrough" --dev "$DEV" --fstype "$FSTYPE" \
		--transport "$t" --direct-io "$SRC" "$MNT" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'passthrough: ready' "$log" && break
		sleep 0.1
	done
	if ! grep -q 'passthrough: ready' "$log"; then
		if grep -q 'missing or refused io-uring' "$log"; then
			# A kernel whose module has no ring (none of 6.1,
			# 6.12 and 7.3 now).
			n=$((n + 1))
			echo "ok $n file_io.direct_io.$t # SKIP this kernel has no FUSE over io-uring"
		else
			sed 's/^/#   /' "$log"
			ok 1 "direct_io.$t.server_start"
		fi
		finish
		return 0
	fi
	head -c 1000001 /dev/urandom >"$WORK/d"
	dd if="$WORK/d" of="$MNT/d" bs=33333 status=none &&
		cmp -s "$WORK/d" "$SRC/d" && cmp -s "$WORK/d" "$MNT/d"
	ok $? "direct_io.$t.read_write"
	python3 - "$MNT/d" "$WORK/d" <<'PY'
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    mmap.mmap(fd, 4096, mmap.MAP_SHARED)
    sys.exit(1)
except OSError as e:
    if e.errno != errno.ENODEV:
        sys.exit(2)
m = mmap.mmap(fd, 8192, mmap.MAP_PRIVATE)
want = open(sys.argv[2], 'rb').read(8192)
sys.exit(0 if m[:] == want else 3)
PY
	ok $? "direct_io.$t.mmap"
	python3 - "$MNT/d" "$WORK/sf" <<'PY'
import os, sys
i = os.open(sys.argv[1], os.O_RDONLY)
o = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
done = 0
while True:
    n = os.sendfile(o, i, done, 1 << 20)
    if n == 0:
        break
    done += n
PY
	cmp -s "$WORK/d" "$WORK/sf"
	ok $? "direct_io.$t.sendfile"
	finish
}
if [ -x "$TOP/examples/passthrough" ]; then
	direct_io classic
	direct_io ring
fi

tap_end
