#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The module builds, without a warning, for every supported kernel other
# than the one `make check` boots (`make check-all` boots them all).  Each
# kernel is fetched into the cache on first use.  TAP.

set -u
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"
KVER=${KVER:-$DEFAULT_KVER}
n=0 status=0

for k in $ALL_KVERS; do
	[ "$k" = "$KVER" ] && continue
	n=$((n + 1))
	ko=$TOP/build/$k/fuseuring.ko
	[ "$k" = "$DEFAULT_KVER" ] && ko=$TOP/fuseuring.ko	# built in place
	log=$(make -C "$TOP" module KVER="$k" 2>&1)
	if [ $? = 0 ] && ! grep -qE 'warning:|error:' <<<"$log" && [ -f "$ko" ]; then
		echo "ok $n module_builds_for_$k"
	else
		grep -E 'warning:|error:|\*\*\*' <<<"$log" | head -n 40 | sed 's/^/# /'
		echo "not ok $n module_builds_for_$k"
		status=1
	fi
done
echo "1..$n"
exit $status
