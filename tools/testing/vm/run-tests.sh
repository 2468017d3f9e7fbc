#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: boot the guest, run every selftest in it and print the
# TAP output, then the final line `N passed, N failed[, N skipped]`.
# A kernel splat, a guest that times out or dies counts as one more
# failure, whatever the tests said.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"
KVER=${KVER:-$DEFAULT_KVER}
LOGDIR=${LOGDIR:-$TOP/.cache/logs}
mkdir -p "$LOGDIR"
KLOG=$LOGDIR/check-$KVER.kernel.log
OUT=$LOGDIR/check-$KVER.out

# Host-side tests: the test machinery itself, and packaging.
host_pass=0 host_fail=0 host_skip=0
for t in test-check-klog test-dkms test-build-kernels test-install; do
	echo "# === $t (host)"
	host=$("$TOP/tools/testing/vm/$t.sh" 2>&1)
	echo "$host"
	host_pass=$((host_pass + $(echo "$host" | grep '^ok ' | grep -vc '# SKIP')))
	host_skip=$((host_skip + $(echo "$host" | grep '^ok ' | grep -c '# SKIP')))
	host_fail=$((host_fail + $(echo "$host" | grep -c '^not ok ')))
done
echo "# === checkpatch (host)"
if cp_out=$("$TOP/tools/testing/vm/checkpatch.sh" 2>&1); then
	echo "ok checkpatch_strict_fs_include"
	host_pass=$((host_pass + 1))
else
	echo "$cp_out" | sed 's/^/# /'
	echo "not ok checkpatch_strict_fs_include"
	host_fail=$((host_fail + 1))
fi

# The guest's hard limit: about 15 min of tests on an idle machine, and
# room for a host shared with other guests (CHECK_TIMEOUT overrides).
# The servers keep their backing folders in the guest's /tmp: an ext4
# disk, so that user xattrs and O_DIRECT reach them on every kernel.
echo "# guest: Debian $KVER (TCG); /tmp: ext4; kernel log: $KLOG"
"$TOP/tools/testing/vm/run-guest.sh" --kver "$KVER" --host-root \
	--tmp-disk 4G \
	--timeout "${CHECK_TIMEOUT:-2700}" --log "$KLOG" -- \
	env FUSEURING_KO="${FUSEURING_KO:-$TOP/fuseuring.ko}" \
	tools/testing/selftests/fuseuring/run_all.sh | tee "$OUT"
status=${PIPESTATUS[0]}

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT" | tail -n 1)
if [ -z "$summary" ]; then
	echo "not ok - the guest printed no test summary"
	pass=0 fail=1 rest=
else
	pass=$(echo "$summary" | sed 's/ passed.*//')
	fail=$(echo "$summary" | sed 's/.* passed, \([0-9]*\) failed.*/\1/')
	rest=$(echo "$summary" | sed -n 's/.* failed\(, .*\)/\1/p')
fi
# The guest's own verdict is in its status: a splat (125), a timeout
# (126) or a lost guest (127) is a failure the TAP output cannot show.
pass=$((pass + host_pass))
fail=$((fail + host_fail))
skip=$(echo "$rest" | sed -n 's/.*, \([0-9]*\) skipped.*/\1/p')
skip=$((${skip:-0} + host_skip))
rest=
[ "$skip" -gt 0 ] && rest=", $skip skipped"
if [ "$status" -ge 125 ]; then
	echo "not ok - guest run failed (status $status): see $KLOG"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed$rest"
[ "$fail" = 0 ] && [ "$status" = 0 ]
