#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 of the test guest: set up /proc, /sys, /dev and /tmp (a tmpfs, or
# the ext4 disk of run-guest.sh --tmp-disk), optionally switch to the
# host's root over 9p, run the command on the second serial port, print
# its exit status and power off.

/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

exec </dev/null >/dev/ttyS1 2>&1

run_command() {
	for m in $(cat /modules); do
		insmod /lib/modules/$m.ko || return 1
	done
	if [ -e /tmp-disk ]; then
		mount -t ext4 /dev/vda /tmp || return 1
		rmdir /tmp/lost+found
		chmod 1777 /tmp
	else
		mount -t tmpfs tmpfs /tmp
	fi
	if [ "$(cat /host-root)" = 1 ]; then
		mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose \
			hostroot /mnt/host || return 1
		for d in proc sys dev tmp; do
			mount --rbind /$d /mnt/host/$d 2>/dev/null ||
				mount -t tmpfs tmpfs /mnt/host/$d
		done
		mount --rbind /fuseuring /mnt/host/mnt 2>/dev/null
		mkdir -p "/mnt/host$(cat /top)" 2>/dev/null
		mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose \
			project "/mnt/host$(cat /top)" || return 1
		# The host's root becomes the root of the mount namespace, as
		# switch_root makes it: the kernel refuses a user namespace
		# to a process whose root is not that (a plain chroot).  This
		# shell keeps the initramfs as its own root.
		top=$(cat /top) command=$(cat /command)
		cd /mnt/host && mount --move . / || return 1
		chroot . /bin/sh -c "cd $top && $command"
	else
		cd /fuseuring && eval "$(cat /command)"
	fi
}

run_command
status=$?
sync
echo "fuseuring-guest-exit: $status"
poweroff -f
