// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: a FUSE client with an io_uring transport, loadable on
 * kernels that do not have FUSE over io_uring.
 */

#include <linux/module.h>

#include "fuseuring_i.h"

static int __init fuseuring_init(void)
{
	int err;

	err = fur_req_init();
	if (err)
		return err;
	err = fur_inode_cache_init();
	if (err)
		goto out_req;
	err = register_filesystem(&fur_fs_type);
	if (err)
		goto out_inode;

	err = fur_dev_init();
	if (err)
		goto out_fs;
	fur_uring_init();

	pr_info("fuseuring: FUSE %d.%d, /dev/%s\n", FUSEURING_KERNEL_VERSION,
		FUSEURING_KERNEL_MINOR_VERSION, FUSEURING_DEV_NAME);
	return 0;

out_fs:
	unregister_filesystem(&fur_fs_type);
out_inode:
	fur_inode_cache_exit();
out_req:
	fur_req_exit();
	return err;
}

static void __exit fuseuring_exit(void)
{
	fur_dev_exit();
	fur_uring_exit();
	unregister_filesystem(&fur_fs_type);
	fur_inode_cache_exit();
	fur_req_exit();
}

module_init(fuseuring_init);
module_exit(fuseuring_exit);

MODULE_DESCRIPTION("FUSE client with an io_uring transport");
MODULE_LICENSE("GPL");
MODULE_ALIAS_FS(FUSEURING_FS_TYPE);
MODULE_ALIAS("devname:" FUSEURING_DEV_NAME);
