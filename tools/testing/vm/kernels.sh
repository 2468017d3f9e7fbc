# SPDX-License-Identifier: GPL-2.0
# The Debian kernels fuseuring is built and tested against.  Sourced.

DEFAULT_KVER=6.12.95+deb12-amd64
ALL_KVERS="6.1.0-56-amd64 6.12.95+deb12-amd64 7.3.4+deb13-amd64"
SRC_SERIES=6.12

# kernel_vars KVER: sets KSUITE (apt suite), KPKGS (packages to unpack)
# and KCHROOT (the Debian release whose toolchain builds modules for it,
# empty for the host's own).
kernel_vars() {
	KCHROOT=
	case "$1" in
	6.12.95+deb12-amd64)
		local v=6.12.95-1~bpo12+1
		KSUITE=bookworm-backports
		KPKGS="linux-image-6.12.95+deb12-amd64-unsigned=$v
		       linux-headers-6.12.95+deb12-amd64=$v
		       linux-headers-6.12.95+deb12-common=$v
		       linux-kbuild-6.12.95+deb12=$v"
		;;
	6.1.0-56-amd64)
		# kbuild (the host tools of the build, one package for every
		# 6.1 ABI) is rebuilt on its own: 6.1.192-3 replaced -2 in
		# bookworm-security while the -2 images stayed; take the
		# current one.
		local v=6.1.192-2
		KSUITE=bookworm-security
		KPKGS="linux-image-6.1.0-56-amd64-unsigned=$v
		       linux-headers-6.1.0-56-amd64=$v
		       linux-headers-6.1.0-56-common=$v
		       linux-kbuild-6.1"
		;;
	7.3.4+deb13-amd64)
		# Built with gcc-14: modules build in the trixie chroot.
		local v=7.3.4-1~bpo13+1
		KSUITE=trixie-backports
		KCHROOT=trixie
		KPKGS="linux-binary-unsigned-7.3.4+deb13-amd64=$v
		       linux-modules-7.3.4+deb13-amd64=$v
		       linux-base-7.3.4+deb13-amd64=$v
		       linux-headers-7.3.4+deb13-amd64=$v
		       linux-headers-7.3.4+deb13-common=$v
		       linux-kbuild-7.3.4+deb13=$v"
		;;
	*)
		echo "unknown kernel $1" >&2
		return 1
		;;
	esac
}
