#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# in-chroot.sh [--bind DIR]... CHROOT COMMAND [ARGS...]: run COMMAND in
# the build chroot CHROOT with the project (and each DIR) visible at its
# own path and /proc mounted (objtool reads it).  The mounts live in a
# private mount namespace, so nothing stays mounted when the command ends,
# however it ends.

set -eu
BIND=
while [ "${1:-}" = --bind ]; do
	BIND="$BIND $(cd "$2" && pwd)"
	shift 2
done
[ $# -ge 2 ] || {
	echo "usage: in-chroot.sh [--bind DIR]... CHROOT COMMAND [ARGS...]" >&2
	exit 2
}
ROOT=$(cd "$1" && pwd)
shift
TOP=$(cd "$(dirname "$0")/../../.." && pwd)

# The cache (kernel headers) may live outside the project (CACHE=, or a
# symlink): then it is shown at its own path too.
CACHE_DIR=$(readlink -f "${CACHE:-$TOP/.cache}")
case "$CACHE_DIR/" in
"$TOP"/*) CACHE_DIR= ;;
esac

exec unshare --mount --propagation private /bin/bash -euc '
	root=$1 top=$2 cwd=$3 cache=$4 bind=$5
	shift 5
	for d in "$top" $cache $bind; do
		mkdir -p "$root$d"
		mount --bind "$d" "$root$d"
	done
	mount -t proc proc "$root/proc"
	exec chroot "$root" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
' in-chroot "$ROOT" "$TOP" "$PWD" "$CACHE_DIR" "$BIND" "$@"
