#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check-all`: `make check` for every supported kernel in turn (each
# prints its TAP and its own summary), then one line per kernel and the
# final `N passed, N failed[, N skipped]`, the sum of all of them.  Fails
# when any kernel's check failed.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"
LOGDIR=${LOGDIR:-$TOP/.cache/logs}
mkdir -p "$LOGDIR"

pass=0 fail=0 skip=0 status=0 lines=()
for k in $ALL_KVERS; do
	echo "# ===== make check KVER=$k"
	t0=$(date +%s)
	make -C "$TOP" --no-print-directory check KVER="$k" |
		tee "$LOGDIR/check-all-$k.out"
	[ "${PIPESTATUS[0]}" = 0 ] || status=1
	secs=$(($(date +%s) - t0))
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' \
		"$LOGDIR/check-all-$k.out" | tail -n 1)
	if [ -z "$summary" ]; then
		summary="0 passed, 1 failed"
		status=1
	fi
	p=${summary%% passed*}
	f=$(echo "$summary" | sed 's/.* passed, \([0-9]*\) failed.*/\1/')
	s=$(echo "$summary" | sed -n 's/.*, \([0-9]*\) skipped.*/\1/p')
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + ${s:-0}))
	lines+=("# $k: $summary (${secs} s)")
done
echo "# ===== make check-all"
printf '%s\n' "${lines[@]}"
rest=
[ "$skip" -gt 0 ] && rest=", $skip skipped"
echo "$pass passed, $fail failed$rest"
[ "$fail" = 0 ] && exit $status
exit 1
