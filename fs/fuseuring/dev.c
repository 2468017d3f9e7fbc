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

const struct file_operations fuseuring_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= fuseuring_dev_open,
};

static struct miscdevice fuseuring_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FUSEURING_DEV_NAME,
	.fops	= &fuseuring_dev_fops,
	.mode	= FUSEURING_DEV_MODE,
};

int fuseuring_dev_init(void)
{
	return misc_register(&fuseuring_miscdev);
}

void fuseuring_dev_exit(void)
{
	misc_deregister(&fuseuring_miscdev);
}
