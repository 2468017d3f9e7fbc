# SPDX-License-Identifier: GPL-2.0
# The Debian kernels fuseuring is built and tested against.  Sourced.

DEFAULT_KVER=6.12.95+deb12-amd64
SRC_SERIES=6.12

# kernel_vars KVER: sets KSUITE (apt suite) and KPKGS (packages to unpack).
kernel_vars() {
	case "$1" in
	6.12.95+deb12-amd64)
		local v=6.12.95-1~bpo12+1
		KSUITE=bookworm-backports
		KPKGS="linux-image-6.12.95+deb12-amd64-unsigned=$v
		       linux-headers-6.12.95+deb12-amd64=$v
		       linux-headers-6.12.95+deb12-common=$v
		       linux-kbuild-6.12.95+deb12=$v"
		;;
	*)
		echo "unknown kernel $1" >&2
		return 1
		;;
	esac
}
