#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make install puts the module, the library, its headers and pkg-config
# file, the helper, the examples and the man pages under DESTDIR; a server then builds with
# `pkg-config --cflags --libs fuseuring` alone and runs against the
# installed shared library; make uninstall takes it all away.  TAP.

set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=$T/root
n=0 status=0

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; status=1; fi
}

make -s -C "$TOP" install DESTDIR="$D" PREFIX=/usr >"$T/log" 2>&1
st=$?
for f in usr/lib/libfuseuring.so.0 usr/lib/libfuseuring.a usr/lib/pkgconfig/fuseuring.pc \
	 usr/include/libfuseuring.h usr/include/linux/fuseuring.h \
	 usr/sbin/fuseuring-mount usr/bin/fuseuring-passthrough usr/bin/fuseuring-memfs \
	 usr/share/man/man8/fuseuring-mount.8 usr/share/man/man3/libfuseuring.3 \
	 usr/share/man/man3/fur_mount.3 usr/share/man/man3/fur_loop.3; do
	[ -e "$D/$f" ] || { echo "# missing $f"; st=1; }
done
# The module, compressed as the kernel's config says.
ls "$D"/lib/modules/*/extra/fuseuring.ko* >/dev/null 2>&1 ||
	{ echo "# missing lib/modules/*/extra/fuseuring.ko"; st=1; }
[ "$st" = 0 ] || sed 's/^/# /' "$T/log"
ok $st install_puts_everything_in_place

export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
flags=$(pkg-config --cflags --libs fuseuring 2>&1)
echo "# pkg-config: $flags"
cc -Wall -Wextra -Werror -D_GNU_SOURCE -o "$T/pt" "$TOP/examples/passthrough.c" \
	$flags >"$T/cc.log" 2>&1 &&
	LD_LIBRARY_PATH=$D/usr/lib "$T/pt" --help | grep -q 'usage: passthrough' &&
	LD_LIBRARY_PATH=$D/usr/lib ldd "$T/pt" | grep -q "$D/usr/lib/libfuseuring.so.0"
st=$?
[ "$st" = 0 ] || sed 's/^/# /' "$T/cc.log"
ok $st example_builds_with_pkg_config_and_runs_on_the_shared_library

# The man pages format without a warning; a .so link finds its page.
st=0
for m in man8/fuseuring-mount.8 man3/libfuseuring.3 man3/fur_loop.3; do
	w=$(cd "$D/usr/share/man" && groff -man -Tutf8 -ww -z -I. "$m" 2>&1)
	[ -z "$w" ] || { echo "# $m: $w"; st=1; }
done
man -l "$D/usr/share/man/man3/libfuseuring.3" 2>/dev/null | grep -q 'fur_mount'
st=$((st | $?))
ok $st man_pages_format_cleanly

make -s -C "$TOP" uninstall DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
left=$(find "$D" -type f -o -type l | wc -l)
[ "$left" = 0 ]
ok $? uninstall_removes_everything

echo "1..$n"
exit $status
