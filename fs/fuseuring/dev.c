// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the /dev/fuseuring character device.
 */

#include <linux/miscdevice.h>
#include <linux/module.h>

#include "fuseuring_i.h"

static int fuseuring_dev_open(struct inode *inode, struct file *file)
{
	/* A connection is attached by the mount that names this fd. */
	file->private_data = NULL;
	return 0;
}

const struct file_operations fur_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= fuseuring_dev_open,
};

static struct miscdevice fuseuring_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FUSEURING_DEV_NAME,
	.fops	= &fur_dev_fops,
	.mode	= FUSEURING_DEV_MODE,
};

int fur_dev_init(void)
{
	return misc_register(&fuseuring_miscdev);
}

void fur_dev_exit(void)
{
	misc_deregister(&fuseuring_miscdev);
}
