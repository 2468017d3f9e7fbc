/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuseuring: private declarations shared by the module's files.
 */
#ifndef _FS_FUSEURING_I_H
#define _FS_FUSEURING_I_H

#include <linux/fs.h>
#include <linux/fuseuring.h>

extern const struct file_operations fuseuring_dev_fops;
extern struct file_system_type fuseuring_fs_type;

int fuseuring_dev_init(void);
void fuseuring_dev_exit(void);

#endif /* _FS_FUSEURING_I_H */
