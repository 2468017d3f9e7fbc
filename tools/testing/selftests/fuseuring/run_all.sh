#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs every fuseuring selftest inside the guest, in order, each under a
# time limit, passes their TAP output through, and ends with the line
# `N passed, N failed[, N skipped]` counted from the TAP results.
#
# A test is a kselftest-harness binary or a shell script printing TAP.
# Run from the top of the source tree.

cd "$(dirname "$0")/../../../.." || exit 1
DIR=tools/testing/selftests/fuseuring
export FUSEURING_KO=${FUSEURING_KO:-$PWD/fuseuring.ko}

# "name [args]:timeout-seconds", in the order they must run.
TESTS=(
	module_basic:60
	kill_classic:300
	kill_readahead_classic:60
	fuzz_classic:900
	priv_classic:120
	open_flags_classic:60
	splice_classic:60
	ioctl_classic:120
	ring_setup:120
	ring_errors:180
	ring_bufpool:300
	ring_zerocopy:900
	kill_ring:300
	fuzz_ring:900
	priv_ring:120
	file_io.sh:300
	libfuse_daemons.sh:300
	lib_servers.sh:300
	"soak.sh 60:400"
	"semantics.sh kernel-fuse:900"
	"semantics.sh fuseuring-classic:900"
	"semantics.sh fuseuring-ring:900"
	"semantics.sh fuseuring-bufpool:900"
	"semantics.sh fuseuring-zerocopy:900"
	"semantics.sh libfuse-ring:900"
)

pass=0 fail=0 skip=0

count() {
	local line

	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"ok "*"# SKIP"*|"ok "*"# skip"*) skip=$((skip + 1)) ;;
		"ok "*) pass=$((pass + 1)) ;;
		"not ok "*) fail=$((fail + 1)) ;;
		esac
	done
}

for entry in "${TESTS[@]}"; do
	name=${entry%:*}
	limit=${entry##*:}
	read -r -a cmd <<<"$name"
	echo "# === $name"
	out=$(mktemp)
	timeout -k 5 "$limit" "$DIR/${cmd[0]}" "${cmd[@]:1}" >"$out" 2>&1
	status=$?
	count <"$out"
	rm -f "$out"
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		echo "not ok - $name timed out after ${limit}s"
		fail=$((fail + 1))
	elif [ "$status" != 0 ] && [ "$status" != 4 ]; then
		# 4 is KSFT_SKIP for a whole binary; a failing test was counted.
		echo "# $name exited with status $status"
	fi
	# Nothing a test left behind may keep the module in use.
	grep -q '^fuseuring ' /proc/modules && rmmod fuseuring 2>/dev/null
done

summary="$pass passed, $fail failed"
[ "$skip" -gt 0 ] && summary="$summary, $skip skipped"
echo "$summary"
[ "$fail" = 0 ]
