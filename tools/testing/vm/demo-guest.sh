#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo's guest half: load fuseuring, serve a directory with the
# passthrough example over the ring and over the classic path, unpack
# and checksum a source tree through each, and show what happened.

set -u
cd "$(dirname "$0")/../../.." || exit 1
PT=$PWD/examples/passthrough
TREE=/tmp/tree.tar

step() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

insmod fuseuring.ko || die "insmod failed"
step "fuseuring loaded: $(dmesg | grep -o 'fuseuring: FUSE.*' | tail -n 1)"

# The workload: C headers of the host, about 1000 files and 9 MB.
tar -C /usr/include -cf "$TREE" linux x86_64-linux-gnu
mkdir -p /tmp/ref && tar -xf "$TREE" -C /tmp/ref
(cd /tmp/ref && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
	>/tmp/ref.sums
nfiles=$(wc -l </tmp/ref.sums)
nbytes=$(du -sb /tmp/ref | cut -f1)
step "workload: unpack, checksum and delete $nfiles files ($nbytes bytes)"

show_counters() {
	local d

	for d in /sys/kernel/debug/fuseuring/*/queue*; do
		[ -d "$d" ] || continue
		printf '  %s:' "${d#/sys/kernel/debug/fuseuring/}"
		for c in "$d"/*; do
			printf ' %s=%s' "$(basename "$c")" "$(cat "$c")"
		done
		echo
	done
}

# run_one TRANSPORT: prints the seconds the workload took.
run_one() {
	local t=$1 mnt=/tmp/mnt-$1 src=/tmp/backing-$1 pid start end

	mkdir -p "$mnt" "$src"
	"$PT" --transport "$t" --stats "$src" "$mnt" >/tmp/pt-$t.log 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'passthrough: ready' /tmp/pt-$t.log && break
		sleep 0.1
	done
	grep -q 'passthrough: ready' /tmp/pt-$t.log ||
		{ cat /tmp/pt-$t.log >&2; die "$t: server did not start"; }

	start=$(date +%s%N)
	tar -xf "$TREE" -C "$mnt" || die "$t: unpack failed"
	(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
		>/tmp/$t.sums || die "$t: checksum failed"
	rm -rf "${mnt:?}"/* || die "$t: delete failed"
	end=$(date +%s%N)
	cmp -s /tmp/ref.sums /tmp/$t.sums ||
		die "$t: checksums differ from the reference"
	echo $(((end - start) / 1000000)) >/tmp/$t.ms

	step "$t: $nfiles files unpacked, checksummed (all match) and deleted in $(cat /tmp/$t.ms) ms"
	[ "$t" = ring ] && { echo "per-queue counters:"; show_counters; }
	umount "$mnt"
	wait "$pid"
	echo "server's operation counts:"
	sed -n 's/^passthrough: stats: /  /p' /tmp/pt-$t.log
}

run_one ring
run_one classic

ring=$(cat /tmp/ring.ms) classic=$(cat /tmp/classic.ms)
step "summary (TCG guest: compare the ratio, not the absolute times)"
printf '  %-10s %8s ms\n' ring "$ring" classic "$classic"
awk -v r="$ring" -v c="$classic" \
	'BEGIN { printf "  ring is %.2fx the classic path'"'"'s speed\n", c / r }'
rmmod fuseuring || die "rmmod failed"
step "fuseuring unloaded"
