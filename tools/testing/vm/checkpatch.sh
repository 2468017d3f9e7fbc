#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make checkpatch`: the kernel's checkpatch.pl --strict over the kernel
# code (fs/, include/).  Prints what it finds; fails if it finds anything.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../../.." && pwd)
CACHE=${CACHE:-$TOP/.cache}
CHECKPATCH=$CACHE/linux-tools/scripts/checkpatch.pl

cd "$TOP" || exit 1
status=0
while IFS= read -r -d '' f; do
	out=$(perl "$CHECKPATCH" --strict --no-tree --quiet --show-types -f "$f" 2>&1) || status=1
	[ -n "$out" ] && { printf '%s\n' "$out"; status=1; }
done < <(find fs include -name '*.[ch]' -print0 | sort -z)
[ "$status" = 0 ] && echo "checkpatch: fs/ and include/ are clean"
exit "$status"
