#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS builds fuseuring.ko from the module's source alone, for the cached
# kernel, in a private DKMS tree (nothing on the system is touched).  TAP.
#
# A kernel built by a newer gcc than the host's (KCHROOT in kernels.sh)
# is built for as `make module` does it: the host's DKMS runs, and every
# make it starts runs in that kernel's build chroot (in-chroot.sh), where
# the compiler and the kernel's build tools are.

set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"
KVER=${KVER:-$DEFAULT_KVER}
CACHE=${CACHE:-$TOP/.cache}
KDIR=$CACHE/kernels/$KVER/root/usr/src/linux-headers-$KVER
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
T=$(mktemp -d)
CHROOT=
cleanup() {
	rm -rf "$T"
	# in-chroot.sh made the mount point of $T in the chroot.
	[ -z "$CHROOT" ] || rmdir "$CHROOT$T" 2>/dev/null
}
trap cleanup EXIT

echo "1..2"
kernel_vars "$KVER"
mkdir -p "$T/src" "$T/tree" "$T/bin"
make -s -C "$TOP" dkms-source DEST="$T/src/fuseuring-$VER" >"$T/log" 2>&1
src_status=$?
if [ -n "$KCHROOT" ]; then
	CHROOT=$(cd "$CACHE/chroot-$KCHROOT" && pwd)
	# DKMS finds make on PATH; the chroot's own make must not find this.
	cat >"$T/bin/make" <<-EOF
	#!/bin/sh
	PATH=/usr/sbin:/usr/bin:/sbin:/bin exec \\
		"$TOP/tools/testing/vm/in-chroot.sh" --bind "$T" "$CHROOT" make "\$@"
	EOF
	chmod +x "$T/bin/make"
	export PATH="$T/bin:$PATH"
fi
if [ "$src_status" = 0 ] &&
   dkms add -m fuseuring -v "$VER" --dkmstree "$T/tree" --sourcetree "$T/src" \
	>>"$T/log" 2>&1 &&
   dkms build -m fuseuring -v "$VER" -k "$KVER" --kernelsourcedir "$KDIR" \
	--dkmstree "$T/tree" --sourcetree "$T/src" >>"$T/log" 2>&1; then
	echo "ok 1 dkms_build_$KVER"
else
	sed 's/^/# /' "$T/log"
	echo "not ok 1 dkms_build_$KVER"
fi
ko=$(find "$T/tree" -name fuseuring.ko | head -n 1)
if [ -n "$ko" ] && modinfo -F vermagic "$ko" | grep -q "^$KVER "; then
	echo "ok 2 dkms_module_vermagic_$KVER"
else
	echo "not ok 2 dkms_module_vermagic_$KVER"
fi
