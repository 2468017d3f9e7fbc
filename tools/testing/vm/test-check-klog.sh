#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The splat detector must catch every kind of report it promises and
# pass a clean boot log: TAP, run on the host before the guest tests.

DIR=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

splats=(
	"[   12.1] BUG: kernel NULL pointer dereference, address: 0000000000000008"
	"[   12.1] Oops: general protection fault, probably for non-canonical address"
	"[   12.1] WARNING: CPU: 1 PID: 99 at fs/fuseuring/dev.c:10 fur_dev_read+0x1/0x2 [fuseuring]"
	"[   12.1] BUG: KASAN: slab-use-after-free in fur_request_end+0x1/0x2"
	"[   12.1] WARNING: possible circular locking dependency detected"
	"[   42.0] INFO: task cat:123 blocked for more than 20 seconds."
	"[   12.1] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [cat:1]"
	"[   12.1] kernel BUG at fs/fuseuring/req.c:100!"
)
n=0
echo "1..$((${#splats[@]} + 1))"
for s in "${splats[@]}"; do
	n=$((n + 1))
	printf '[    0.0] Linux version 6.12\n%s\n' "$s" >"$tmp"
	if "$DIR/check-klog.sh" "$tmp" 2>/dev/null; then
		echo "not ok $n check_klog_catches: $s"
	else
		echo "ok $n check_klog_catches: ${s#*] }"
	fi
done
n=$((n + 1))
printf '%s\n' "[    0.0] Linux version 6.12.95+deb12-amd64" \
	"[    6.2] fuseuring: loading out-of-tree module taints kernel." \
	"[    6.2] fuseuring: module verification failed: signature and/or required key missing - tainting kernel" \
	"[    1.6] acpi PNP0A03:00: fail to add MMCONFIG information" >"$tmp"
if "$DIR/check-klog.sh" "$tmp" 2>/dev/null; then
	echo "ok $n check_klog_passes_clean_log"
else
	echo "not ok $n check_klog_passes_clean_log"
fi
