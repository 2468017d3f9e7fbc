// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: extended attributes, passed to the server as they are.
 */

#include <linux/slab.h>
#include <linux/xattr.h>

#include "fuseuring_i.h"

static int fur_setxattr(struct inode *inode, const char *name,
			const void *value, size_t size, int flags)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_setxattr_in inarg = {};
	struct fur_args args = {};
	int err;

	if (fm->fc->no_setxattr)
		return -EOPNOTSUPP;
	inarg.size = size;
	inarg.flags = flags;
	args.opcode = FUSE_SETXATTR;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 3;
	/*
	 * The long form (setxattr_flags) only for a server that accepted
	 * FUSE_SETXATTR_EXT, which fuseuring does not offer: servers of any
	 * minor read the short one.
	 */
	args.in_args[0].size = FUSE_COMPAT_SETXATTR_IN_SIZE;
	args.in_args[0].value = &inarg;
	args.in_args[1].size = strlen(name) + 1;
	args.in_args[1].value = name;
	args.in_args[2].size = size;
	args.in_args[2].value = value;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_setxattr = true;
		err = -EOPNOTSUPP;
	}
	if (!err)
		fur_invalidate_attr(inode);
	return err;
}

static ssize_t fur_getxattr(struct inode *inode, const char *name,
			    void *value, size_t size)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_getxattr_in inarg = {};
	struct fuse_getxattr_out outarg = {};
	struct fur_args args = {};
	ssize_t ret;

	if (fm->fc->no_getxattr)
		return -EOPNOTSUPP;
	inarg.size = size;
	args.opcode = FUSE_GETXATTR;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 2;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.in_args[1].size = strlen(name) + 1;
	args.in_args[1].value = name;
	args.out_numargs = 1;
	if (size) {
		args.out_argvar = true;
		args.out_args[0].size = size;
		args.out_args[0].value = value;
	} else {
		args.out_args[0].size = sizeof(outarg);
		args.out_args[0].value = &outarg;
	}
	ret = fur_simple_request(fm, &args);
	if (!ret && !size)
		ret = min_t(ssize_t, outarg.size, XATTR_SIZE_MAX);
	if (ret == -FUR_ENOSYS) {
		fm->fc->no_getxattr = true;
		ret = -EOPNOTSUPP;
	}
	return ret;
}

static int fur_removexattr(struct inode *inode, const char *name)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_args args = {};
	int err;

	if (fm->fc->no_removexattr)
		return -EOPNOTSUPP;
	args.opcode = FUSE_REMOVEXATTR;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = strlen(name) + 1;
	args.in_args[0].value = name;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_removexattr = true;
		err = -EOPNOTSUPP;
	}
	if (!err)
		fur_invalidate_attr(inode);
	return err;
}

/* The list must be NUL-terminated names, each non-empty. */
static bool fur_xattr_list_valid(const char *list, size_t size)
{
	size_t len;

	while (size) {
		len = strnlen(list, size);
		if (!len || len == size)
			return false;
		list += len + 1;
		size -= len + 1;
	}
	return true;
}

ssize_t fur_listxattr(struct dentry *entry, char *list, size_t size)
{
	struct inode *inode = d_inode(entry);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_getxattr_in inarg = {};
	struct fuse_getxattr_out outarg = {};
	struct fur_args args = {};
	ssize_t ret;

	if (fur_is_bad(inode))
		return -EIO;
	if (!fur_allow_current_process(fm->fc))
		return -EACCES;
	if (fm->fc->no_listxattr)
		return -EOPNOTSUPP;
	inarg.size = size;
	args.opcode = FUSE_LISTXATTR;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.out_numargs = 1;
	if (size) {
		args.out_argvar = true;
		args.out_args[0].size = size;
		args.out_args[0].value = list;
	} else {
		args.out_args[0].size = sizeof(outarg);
		args.out_args[0].value = &outarg;
	}
	ret = fur_simple_request(fm, &args);
	if (!ret && !size)
		ret = min_t(ssize_t, outarg.size, XATTR_LIST_MAX);
	if (ret > 0 && size && !fur_xattr_list_valid(list, ret))
		ret = -EIO;
	if (ret == -FUR_ENOSYS) {
		fm->fc->no_listxattr = true;
		ret = -EOPNOTSUPP;
	}
	return ret;
}

static int fur_xattr_get(const struct xattr_handler *handler,
			 struct dentry *dentry, struct inode *inode,
			 const char *name, void *value, size_t size)
{
	if (fur_is_bad(inode))
		return -EIO;
	if (!fur_allow_current_process(get_fur_conn(inode)))
		return -EACCES;
	return fur_getxattr(inode, name, value, size);
}

static int fur_xattr_set(const struct xattr_handler *handler,
			 struct mnt_idmap *idmap, struct dentry *dentry,
			 struct inode *inode, const char *name,
			 const void *value, size_t size, int flags)
{
	if (fur_is_bad(inode))
		return -EIO;
	if (!fur_allow_current_process(get_fur_conn(inode)))
		return -EACCES;
	if (!value)
		return fur_removexattr(inode, name);
	return fur_setxattr(inode, name, value, size, flags);
}

/* Every name goes to the server: one handler with an empty prefix. */
static const struct xattr_handler fur_xattr_handler = {
	.prefix	= "",
	.get	= fur_xattr_get,
	.set	= fur_xattr_set,
};

const struct xattr_handler *FUR_S_XATTR_CONST fur_xattr_handlers[] = {
	&fur_xattr_handler,
	NULL,
};
