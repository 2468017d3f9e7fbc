#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-klog.sh LOG: fail (and print the lines) when a guest kernel log
# has an Oops, BUG, WARNING, KASAN, UBSAN, lockdep or hung-task report.

set -u
PATTERN='Oops|BUG:|kernel BUG|WARNING:|KASAN|UBSAN|lockdep|possible (recursive|circular) locking|INFO: task .* blocked for more than|blocked for more than [0-9]+ seconds|general protection fault|Kernel panic|cut here|soft lockup|hard LOCKUP|RCU stall|rcu_sched detected stall|Call Trace:'

if grep -a -n -E "$PATTERN" "$1" >&2; then
	exit 1
fi
exit 0
