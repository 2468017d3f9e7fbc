#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stands in for one of libfuse's programs (the folder and name this link
# is called by, example/NAME or test/NAME, or FUR_LIBFUSE_PROG when
# suite_elf_launcher runs it) in libfuse_suite.sh's shadow
# build tree: the daemon, unmodified, serves a fuseuring mount that
# fuseuring-mount makes and hands over as /dev/fd/N.  Anything that is not
# a mount (a client, --help) runs as is.
#
#   FUR_LIBFUSE_BUILD     the real libfuse build tree
#   FUR_MOUNT_HELPER      tools/mount/fuseuring-mount
#   FUR_LIBFUSE_URING     1: the daemon asks for io-uring (libfuse reads
#                         FUSE_URING_ENABLE in fuse_session_new(); the
#                         suite's runner exports 0 unless the kernel's own
#                         FUSE offers the ring, so it is set here)

prog=${FUR_LIBFUSE_PROG:-$0}
unset FUR_LIBFUSE_PROG
dir=${prog%/*}
real=$FUR_LIBFUSE_BUILD/${dir##*/}/${prog##*/}
export FUSE_URING_ENABLE=${FUR_LIBFUSE_URING:-0}

# The mountpoint is the suite's own, $TEST_MNT, wherever it stands
# (fuse_mount puts it last, mount.fuse3 first).  A program given no
# $TEST_MNT is not mounting one: a client, a check helper.
mnt=
for a in "$@"; do
	[ -n "${TEST_MNT:-}" ] && [ "$a" = "$TEST_MNT" ] && mnt=$a
done
[ -n "$mnt" ] || exec "$real" "$@"

# Kernel mount options that libfuse would have given the kernel; the rest
# are the daemon's own and it still parses them.
opts=
for o in allow_other default_permissions; do
	case " $* " in
	*"$o"*) opts=${opts:+$opts,}$o ;;
	esac
done
args=()
for a in "$@"; do
	if [ "$a" = "$mnt" ]; then
		args+=(%m)
	else
		args+=("$a")
	fi
done
exec "$FUR_MOUNT_HELPER" ${opts:+-o "$opts"} "$mnt" "$real" "${args[@]}"
