#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`: boot the Debian 6.12 guest, load fuseuring, serve a
# directory over the ring, run a real workload, and show what happened
# beside the same workload over the classic path.

set -uo pipefail
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$TOP/.cache/logs"
exec "$TOP/tools/testing/vm/run-guest.sh" --host-root --timeout 900 \
	--log "$TOP/.cache/logs/demo.kernel.log" -- \
	tools/testing/vm/demo-guest.sh
