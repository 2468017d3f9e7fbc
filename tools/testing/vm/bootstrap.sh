#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what fuseuring needs to build and test, idempotently: Debian
# packages, an unpacked Debian kernel (image, headers, kbuild) in the
# project's cache, and the few files taken from Debian's kernel source
# (kselftest harness, checkpatch).  Cheap when everything is there.
#
# Usage: bootstrap.sh [KVER]     (default: the project's primary kernel)

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"

KVER=${1:-$DEFAULT_KVER}
CACHE=${FUSEURING_CACHE:-$TOP/.cache}
PKGS="gcc make bc qemu-system-x86 busybox-static cpio kmod xz-utils zstd
      liburing-dev libfuse3-dev fuse3 pahole fio python3 pkg-config dkms
      python3-matplotlib groff-base man-db e2fsprogs"
# libfuse 3.18 from its Debian source package, with io-uring (passthrough_hp
# is C++; libfuse's own test runner needs python3 alone).
LIBFUSE_PKGS="dpkg-dev meson ninja-build pkg-config g++ liburing-dev
      libnuma-dev"
LIBFUSE_DIR=$CACHE/libfuse-3.18

log() { echo "bootstrap: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Write the apt sources file $3 for Debian's suite $2 of type $1 (deb or
# deb-src); the lists are updated before the next use.
add_sources() {
	local type=$1 suite=$2 file=$3

	log "adding apt suite $suite ($type)"
	as_root tee "$file" >/dev/null <<SRC
Types: $type
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	APT_UPDATED=
}

# Extra suites pin nothing by themselves; every install below says
# -t bookworm so that a listed trixie or sid never upgrades libc6.
ensure_suite() {
	local suite=$1

	grep -rqs "^Suites:.*\b$suite\b" /etc/apt/sources.list.d/ && return 0
	grep -qs "^deb .* $suite " /etc/apt/sources.list && return 0
	add_sources deb "$suite" "/etc/apt/sources.list.d/fuseuring-$suite.sources"
}

APT_UPDATED=
apt_update() {
	[ -n "$APT_UPDATED" ] && return 0
	as_root apt-get update -qq
	APT_UPDATED=1
}

ensure_packages() {
	local missing=() p

	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq -t bookworm --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# Run apt-get with the arguments after $1 in folder $1, updating the
# lists and trying again once if apt does not know a name yet.
apt_get_in() {
	local dir=$1; shift

	mkdir -p "$dir"
	(cd "$dir" && apt-get "$@" 2>/dev/null) && return 0
	apt_update
	(cd "$dir" && apt-get "$@")
}

# Download packages into $1 (a folder).
download() {
	local dir=$1; shift

	apt_get_in "$dir" download -qq "$@"
}

# Unpack a Debian kernel: the image, its headers and kbuild, fixed up so
# that `make -C $kdir M=...` works from the cache.
ensure_kernel() {
	local kdir=$CACHE/kernels/$KVER stamp debs
	stamp=$kdir/.complete

	[ -f "$stamp" ] && return 0
	kernel_vars "$KVER"
	ensure_suite "$KSUITE"
	log "fetching kernel $KVER ($KSUITE)"
	rm -rf "$kdir"
	debs=$kdir/debs
	download "$debs" $KPKGS
	for deb in "$debs"/*.deb; do
		dpkg-deb -x "$deb" "$kdir/root"
	done
	# The -amd64 headers include the -common tree by absolute path.
	sed -i "s|/usr/src/|$kdir/root/usr/src/|g" \
		"$kdir/root/usr/src/linux-headers-$KVER/Makefile"
	rm -rf "$debs"
	touch "$stamp"
}

# A kernel built by a newer gcc than the host's (7.3: gcc-14) gets its
# modules built in a chroot of its own Debian release: gcc-14 cannot be
# installed on bookworm without replacing libc6.
ensure_chroot() {
	local dir=$CACHE/chroot-$KCHROOT

	[ -n "$KCHROOT" ] || return 0
	[ -f "$dir/.complete" ] && return 0
	PKGS=debootstrap ensure_packages
	log "creating the $KCHROOT build chroot (gcc-14) in $dir"
	rm -rf "$dir"
	as_root debootstrap --variant=minbase \
		--include=gcc-14,make,libc6-dev,pahole,bc,kmod,xz-utils \
		"$KCHROOT" "$dir" http://deb.debian.org/debian >/dev/null
	# The kernel Makefiles call plain gcc.
	ln -sf gcc-14 "$dir/usr/bin/gcc"
	touch "$dir/.complete"
}

# From Debian's kernel source: the kselftest harness and checkpatch.
ensure_kernel_tools() {
	local dst=$CACHE/linux-tools stamp tmp src

	stamp=$dst/.complete
	[ -f "$stamp" ] && return 0
	ensure_suite bookworm-backports
	log "extracting kselftest harness and checkpatch from linux-source-$SRC_SERIES"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	download "$tmp" "linux-source-$SRC_SERIES"
	src=linux-source-$SRC_SERIES
	rm -rf "$dst"
	mkdir -p "$dst"
	dpkg-deb --fsys-tarfile "$tmp"/linux-source-*.deb |
		tar -xO "./usr/src/$src.tar.xz" |
		xz -dc | tar -x -C "$dst" --strip-components=1 \
			"$src/tools/testing/selftests/kselftest_harness.h" \
			"$src/tools/testing/selftests/kselftest.h" \
			"$src/scripts/checkpatch.pl" \
			"$src/scripts/spelling.txt" \
			"$src/scripts/const_structs.checkpatch"
	touch "$stamp"
}

# A suite for source packages only: no binary of it can be installed.
ensure_src_suite() {
	local suite=$1 file=/etc/apt/sources.list.d/fuseuring-$1-src.sources

	[ -f "$file" ] && return 0
	add_sources deb-src "$suite" "$file"
}

# libfuse 3.18 (the first release with FUSE-over-io-uring) built from sid's
# source package into the cache, io-uring on, examples and tests built,
# nothing installed: the guest runs it from the cache over 9p (meson's
# build tree finds its libfuse3.so through an $ORIGIN rpath).  Debian's
# own binary package is built without io-uring.  Under a lock: worktrees
# share the cache.
ensure_libfuse() {
	local dir=$LIBFUSE_DIR stamp=$LIBFUSE_DIR/.complete ver

	[ -f "$stamp" ] && return 0
	PKGS=$LIBFUSE_PKGS ensure_packages
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.libfuse.lock"
	flock 9
	[ -f "$stamp" ] && { exec 9>&-; return 0; }
	ensure_src_suite sid
	log "building libfuse from fuse3/sid (io-uring) in $dir"
	rm -rf "$dir"
	mkdir -p "$dir/dl"
	# apt's sandbox user must be able to write the download folder.
	chmod 777 "$dir/dl"
	apt_get_in "$dir/dl" source -qq --download-only fuse3/sid >/dev/null
	# apt checked the files against the signed index; dpkg-source's own
	# signature check has no Debian keyring here and only warns.
	if ! dpkg-source -x "$dir"/dl/fuse3_*.dsc "$dir/src" \
		>"$dir/unpack.log" 2>&1; then
		cat "$dir/unpack.log" >&2
		return 1
	fi
	rm -rf "$dir/dl" "$dir"/fuse3_*
	ver=$(sed -n "s/^ *version: '\([0-9.]*\)'.*/\1/p" "$dir/src/meson.build")
	case "$ver" in
	3.1[89].*|3.[2-9][0-9].*) ;;
	*) log "fuse3/sid is libfuse '$ver': io-uring needs 3.18 or later"
	   return 1 ;;
	esac
	if ! meson setup -Denable-io-uring=true -Dexamples=true -Dtests=true \
		-Duseroot=false -Dinitscriptdir= -Dudevrulesdir="$dir/udev" \
		"$dir/build" "$dir/src" >"$dir/meson.log" 2>&1 ||
	   ! ninja -C "$dir/build" >"$dir/ninja.log" 2>&1; then
		tail -n 30 "$dir/meson.log" "$dir/ninja.log" >&2
		return 1
	fi
	# meson turns io-uring off quietly when liburing or libnuma lack.
	if ! grep -q '^#define HAVE_URING' "$dir/build/fuse_config.h"; then
		log "libfuse $ver was configured without io-uring"
		return 1
	fi
	echo "$ver" >"$dir/VERSION"
	touch "$stamp"
	exec 9>&-
}

ensure_packages
ensure_kernel
kernel_vars "$KVER"
ensure_chroot
ensure_kernel_tools
ensure_libfuse
