#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS builds fuseuring.ko from the module's source alone, for the cached
# kernel, in a private DKMS tree (nothing on the system is touched).  TAP.

set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"
KVER=${KVER:-$DEFAULT_KVER}
KDIR=${CACHE:-$TOP/.cache}/kernels/$KVER/root/usr/src/linux-headers-$KVER
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "1..2"
kernel_vars "$KVER"
if [ -n "$KCHROOT" ]; then
	# DKMS would build with the host's compiler, which cannot build for it.
	echo "ok 1 dkms_build_$KVER # SKIP $KVER needs the $KCHROOT chroot's gcc; module_builds_for covers it"
	echo "ok 2 dkms_module_vermagic_$KVER # SKIP as above"
	exit 0
fi
mkdir -p "$T/src" "$T/tree"
if make -s -C "$TOP" dkms-source DEST="$T/src/fuseuring-$VER" >"$T/log" 2>&1 &&
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
