// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: FUSE_IOCTL on open files and directories.
 *
 * Only restricted ioctls, as the kernel's FUSE allows a filesystem
 * server: the data an ioctl moves is what its command number encodes
 * (_IOC_DIR and _IOC_SIZE, at most 16 KiB less one byte), read from the
 * caller before the request for _IOC_WRITE and written back after it for
 * _IOC_READ.  The server cannot ask for more (FUSE_IOCTL_RETRY, which
 * only CUSE's unrestricted ioctls may use): such a reply is -EIO.
 */

#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "fuseuring_i.h"

/*
 * The server's result is returned to the caller as it is, except that
 * "no such operation" is "no such ioctl" to a caller, and the kernel's
 * internal codes above the errno range never reach one.
 */
static long fur_ioctl_result(s32 result)
{
	if (result == -FUR_ENOSYS)
		return -ENOTTY;
	if (result < -511)
		return -EIO;
	return result;
}

static long fur_do_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg, unsigned int flags)
{
	struct fur_file *ff = file->private_data;
	struct fur_mount *fm = ff->fm;
	void __user *uarg = (void __user *)arg;
	unsigned int size = _IOC_SIZE(cmd);
	struct fuse_ioctl_in inarg = {
		.fh = ff->fh,
		.cmd = cmd,
		.arg = arg,
		.flags = flags,
	};
	struct fuse_ioctl_out outarg = {};
	struct fur_args args = {};
	void *buf = NULL;
	ssize_t got;
	long ret;

	/* A 32-bit caller on this 64-bit kernel: its pointers are 32-bit. */
	if (flags & FUSE_IOCTL_COMPAT) {
		inarg.flags |= FUSE_IOCTL_32BIT;
#ifdef CONFIG_X86_X32_ABI
		/* x32: 32-bit pointers, but 64-bit longs and time_t. */
		if (in_x32_syscall())
			inarg.flags |= FUSE_IOCTL_COMPAT_X32;
#endif
	}
	if (_IOC_DIR(cmd) & _IOC_WRITE)
		inarg.in_size = size;
	if (_IOC_DIR(cmd) & _IOC_READ)
		inarg.out_size = size;
	/* As upstream: the data travels in at most max_pages pages. */
	if (size > (fm->fc->max_pages << PAGE_SHIFT))
		return -ENOMEM;
	if (inarg.in_size || inarg.out_size) {
		buf = kmalloc(size, GFP_KERNEL_ACCOUNT);
		if (!buf)
			return -ENOMEM;
	}
	if (inarg.in_size && copy_from_user(buf, uarg, inarg.in_size)) {
		ret = -EFAULT;
		goto out;
	}

	args.opcode = FUSE_IOCTL;
	args.nodeid = ff->nodeid;
	args.in_numargs = inarg.in_size ? 2 : 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.in_args[1].size = inarg.in_size;
	args.in_args[1].value = buf;
	/* The data is optional: a server may send less than out_size. */
	args.out_numargs = 2;
	args.out_args[0].size = sizeof(outarg);
	args.out_args[0].value = &outarg;
	args.out_args[1].size = inarg.out_size;
	args.out_args[1].value = buf;
	args.out_argvar = true;
	got = fur_simple_request(fm, &args);
	if (got < 0) {
		ret = got == -FUR_ENOSYS ? -ENOTTY : got;
		goto out;
	}
	/* A server that wants other buffers than cmd says is not allowed. */
	if (outarg.flags & FUSE_IOCTL_RETRY) {
		ret = -EIO;
		goto out;
	}
	if (got && copy_to_user(uarg, buf, got)) {
		ret = -EFAULT;
		goto out;
	}
	ret = fur_ioctl_result(outarg.result);
out:
	kfree(buf);
	return ret;
}

static long fur_ioctl_common(struct file *file, unsigned int cmd,
			     unsigned long arg, unsigned int flags)
{
	struct inode *inode = file_inode(file);

	if (!fur_allow_current_process(get_fur_conn(inode)))
		return -EACCES;
	if (fur_is_bad(inode))
		return -EIO;
	return fur_do_ioctl(file, cmd, arg, flags);
}

long fur_file_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return fur_ioctl_common(file, cmd, arg, 0);
}

long fur_file_compat_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	return fur_ioctl_common(file, cmd, arg, FUSE_IOCTL_COMPAT);
}

/* FUSE_IOCTL_DIR exists from FUSE 7.18; older servers have no such op. */
long fur_dir_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (get_fur_conn(file_inode(file))->minor < 18)
		return -ENOTTY;
	return fur_ioctl_common(file, cmd, arg, FUSE_IOCTL_DIR);
}

long fur_dir_compat_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	if (get_fur_conn(file_inode(file))->minor < 18)
		return -ENOTTY;
	return fur_ioctl_common(file, cmd, arg,
				FUSE_IOCTL_DIR | FUSE_IOCTL_COMPAT);
}
