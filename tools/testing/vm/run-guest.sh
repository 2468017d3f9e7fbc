#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a cached Debian kernel under QEMU (TCG) with a busybox initramfs,
# run one command in the guest and return its exit status.
#
#   run-guest.sh [options] -- COMMAND [ARGS...]
#
#   --kver KVER       kernel to boot (default: the project's primary one)
#   --files DIR       copy DIR into the initramfs as /fuseuring (repeatable:
#                     later folders add to earlier ones)
#   --host-root       share the host's / read-only over 9p and run the
#                     command chrooted in it (host tools: bash, fio, ...)
#   --timeout SECS    hard limit for the whole boot (default 300)
#   --log FILE        keep the guest's kernel log here
#   --cpus N          vCPUs (default 2)
#   --append ARGS     more on the guest kernel's command line
#   --mem SIZE        guest memory (default 2G)
#   --tmp-disk SIZE   the guest's /tmp is a fresh ext4 of SIZE on a virtio
#                     disk (a sparse file here, gone after the run) instead
#                     of a tmpfs: what the servers of the tests keep there
#                     then has user xattrs and O_DIRECT on every kernel
#                     (6.1's tmpfs has neither).  /dev/shm stays a tmpfs.
#
# The command's output comes on stdout.  The run fails (exit 125..127 or
# the command's status) when the guest's kernel log reports an Oops, BUG,
# WARNING, KASAN, lockdep, or hung-task splat, whatever the command said.

set -euo pipefail

TOP=$(cd "$(dirname "$0")/../../.." && pwd)
. "$TOP/tools/testing/vm/kernels.sh"

KVER=$DEFAULT_KVER
FILES=()
HOST_ROOT=0
TIMEOUT=300
LOG=
CPUS=2
MEM=2G
TMP_DISK=
APPEND=
CACHE=${CACHE:-$TOP/.cache}

while [ $# -gt 0 ]; do
	case "$1" in
	--kver) KVER=$2; shift 2 ;;
	--files) FILES+=("$2"); shift 2 ;;
	--host-root) HOST_ROOT=1; shift ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	--cpus) CPUS=$2; shift 2 ;;
	--append) APPEND=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--tmp-disk) TMP_DISK=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "run-guest: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "run-guest: no command" >&2; exit 2; }

KROOT=$CACHE/kernels/$KVER/root
# Debian keeps the image in /boot up to 6.12 and beside the modules in
# /usr/lib/modules from 7.x on.
KIMAGE=
for f in "$KROOT/boot/vmlinuz-$KVER" \
	 "$KROOT/usr/lib/modules/$KVER/vmlinuz.unsigned" \
	 "$KROOT/usr/lib/modules/$KVER/vmlinuz"; do
	[ -f "$f" ] && { KIMAGE=$f; break; }
done
[ -n "$KIMAGE" ] || {
	echo "run-guest: kernel $KVER is not cached; run bootstrap.sh $KVER" >&2
	exit 2
}
KMODS=$KROOT/lib/modules/$KVER
[ -d "$KMODS" ] || KMODS=$KROOT/usr/lib/modules/$KVER

# add_module PATH: put kernel/PATH.ko[.xz|.zst] into the initramfs and on
# the list init loads in order; 1 if the kernel has no such module.
add_module() {
	local base=$KMODS/kernel/$1 name

	name=$(basename "$1")
	if [ -f "$base.ko" ]; then
		cp "$base.ko" "$ROOT/lib/modules/$name.ko"
	elif [ -f "$base.ko.xz" ]; then
		xz -dc "$base.ko.xz" >"$ROOT/lib/modules/$name.ko"
	elif [ -f "$base.ko.zst" ]; then
		zstd -qdc "$base.ko.zst" >"$ROOT/lib/modules/$name.ko"
	else
		return 1
	fi
	echo "$name" >>"$ROOT/modules"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fuseuring-vm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
[ -n "$LOG" ] || LOG=$WORK/kernel.log

# The initramfs: busybox, an init that runs the command, and the files.
ROOT=$WORK/initramfs
mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,mnt/host,fuseuring,lib/modules}
cp /bin/busybox "$ROOT/bin/busybox"
for d in "${FILES[@]}"; do
	cp -a "$d/." "$ROOT/fuseuring/"
done
: >"$ROOT/modules"
if [ "$HOST_ROOT" = 1 ] || [ -n "$TMP_DISK" ]; then
	# virtio is built in from 6.12 on and a set of modules on 6.1.
	for m in virtio_ring virtio virtio_pci_legacy_dev \
		 virtio_pci_modern_dev virtio_pci; do
		add_module "drivers/virtio/$m" || true
	done
fi
if [ -n "$TMP_DISK" ]; then
	# ext4 and the disk are modules on every Debian kernel; crc16 moved
	# to lib/crc in 7.x, and crc32c is a crypto module only up to 6.x
	# (ext4 asks for it with metadata_csum).
	add_module lib/crc16 || add_module lib/crc/crc16 || {
		echo "run-guest: $KVER has no module crc16" >&2
		exit 2
	}
	add_module crypto/crc32c_generic || true
	for m in fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4 drivers/block/virtio_blk; do
		add_module "$m" || {
			echo "run-guest: $KVER has no module $m" >&2
			exit 2
		}
	done
fi
if [ "$HOST_ROOT" = 1 ]; then
	add_module fs/netfs/netfs || true
	add_module fs/fscache/fscache || true	# 6.1: 9p caches through it
	for m in net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p; do
		add_module "$m" || {
			echo "run-guest: $KVER has no module $m" >&2
			exit 2
		}
	done
fi
# The kernel's own FUSE, where it is a module (6.1), for the reference runs.
add_module fs/fuse/fuse || true
printf '%q ' "$@" >"$ROOT/command"
echo "$HOST_ROOT" >"$ROOT/host-root"
[ -n "$TMP_DISK" ] && : >"$ROOT/tmp-disk"
echo "$TOP" >"$ROOT/top"
cp "$TOP/tools/testing/vm/guest-init.sh" "$ROOT/init"
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet) >"$WORK/initramfs.cpio"

# The guest kernel's clock: tsc=unstable, on every kernel.  6.1 finds the
# TCG vCPUs' TSCs unsynchronized and stays on hpet by itself; 6.12 and 7.3
# trust the TSC, switch to it seconds into boot and then mark sched_clock
# stable: a static key flipped by live text patching (an int3 on each
# site, then the new bytes) while the other vCPU runs those sites.  Under
# TCG that most likely lets a vCPU execute a stale int3: 7.3 guests died
# with "Oops: int3" in sched_clock_cpu or ktime_get_update_offsets_now in
# 2 of about 15 boots on a loaded host.  With the TSC unstable all three
# kernels stay on hpet with an unstable sched_clock: no late clocksource
# switch, no sched_clock flip.  It costs the guest's clock_gettime() its
# vDSO fast path (about 0.9 us instead of 0.07 us under TCG).
QEMU=(qemu-system-x86_64 -accel tcg -m "$MEM" -smp "$CPUS"
      -kernel "$KIMAGE" -initrd "$WORK/initramfs.cpio"
      -display none -monitor none -no-reboot
      -serial "file:$LOG" -serial stdio
      -append "console=ttyS0 panic=-1 rdinit=/init sysctl.kernel.hung_task_timeout_secs=20 sysctl.kernel.hung_task_warnings=-1 tsc=unstable${APPEND:+ $APPEND}")
if [ -n "$TMP_DISK" ]; then
	# No journal: the disk lives for one run, and TCG pays for every
	# block written twice.  cache=unsafe: nothing here outlives the run.
	truncate -s "$TMP_DISK" "$WORK/tmp.img"
	mkfs.ext4 -q -F -O ^has_journal -L guest-tmp "$WORK/tmp.img"
	QEMU+=(-drive "file=$WORK/tmp.img,if=virtio,format=raw,cache=unsafe")
fi
if [ "$HOST_ROOT" = 1 ]; then
	QEMU+=(-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap)
	# The project again on its own, so that it stays visible when it
	# lives under a folder the guest replaces (/tmp).
	QEMU+=(-virtfs "local,path=$TOP,mount_tag=project,security_model=none,readonly=on,multidevs=remap")
fi

OUT=$WORK/out
set +e
timeout --kill-after=10 "$TIMEOUT" "${QEMU[@]}" </dev/null | tee "$OUT"
qemu_status=${PIPESTATUS[0]}
set -e

# The marker may follow output that did not end its last line.
status=$(sed -n 's/.*fuseuring-guest-exit: \([0-9]*\).*/\1/p' "$OUT" | tail -n 1)
if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
	echo "run-guest: guest timed out after ${TIMEOUT}s" >&2
	status=126
elif [ -z "$status" ]; then
	echo "run-guest: guest ended without an exit status (qemu $qemu_status)" >&2
	status=127
fi

if "$TOP/tools/testing/vm/check-klog.sh" "$LOG"; then
	:
else
	echo "run-guest: the guest kernel log has a splat (see $LOG)" >&2
	[ "$status" = 0 ] && status=125
fi
if [ "$status" != 0 ] && [ "$LOG" = "$WORK/kernel.log" ]; then
	echo "run-guest: last lines of the guest kernel log:" >&2
	tail -n 40 "$LOG" >&2
fi
exit "$status"
