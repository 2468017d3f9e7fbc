#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# in-chroot.sh CHROOT COMMAND [ARGS...]: run COMMAND in the build chroot
# CHROOT with the project visible at its own path and /proc mounted
# (objtool reads it).  The mounts live in a private mount namespace, so
# nothing stays mounted when the command ends, however it ends.

set -eu
[ $# -ge 2 ] || { echo "usage: in-chroot.sh CHROOT COMMAND [ARGS...]" >&2; exit 2; }
ROOT=$(cd "$1" && pwd)
shift
TOP=$(cd "$(dirname "$0")/../../.." && pwd)

exec unshare --mount --propagation private /bin/bash -euc '
	root=$1 top=$2 cwd=$3
	shift 3
	mkdir -p "$root$top"
	mount --bind "$top" "$root$top"
	mount -t proc proc "$root/proc"
	exec chroot "$root" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
' in-chroot "$ROOT" "$TOP" "$PWD" "$@"
