# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the shell selftests: TAP results, the module, and the
# clean-up of a test's mount, server and work folder.
#
#   TAP_PREFIX=name   results are "ok N name.check"
#   MNT, WORK, pid    unmounted, killed and removed on exit

n=0 failed=0 pid=

# ok STATUS CHECK: one TAP result (STATUS 0 passes).
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $TAP_PREFIX.$2"
	else
		echo "not ok $n $TAP_PREFIX.$2"
		failed=$((failed + 1))
	fi
}

# The plan, and the script's status.
tap_end() {
	echo "1..$n"
	[ "$failed" = 0 ]
}

# load_module [FSTYPE]: insmod fuseuring unless it is loaded or FSTYPE
# names another filesystem.
load_module() {
	[ "${1:-fuseuring}" = fuseuring ] || return 0
	grep -q '^fuseuring ' /proc/modules && return 0
	insmod "${FUSEURING_KO:-$TOP/fuseuring.ko}" || exit 1
}

tap_cleanup() {
	[ -n "${MNT:-}" ] && mountpoint -q "$MNT" && umount -l "$MNT"
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
}
trap tap_cleanup EXIT
