// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the filesystem type and its mount options.
 */

#include <linux/file.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/backing-dev.h>

#include "fuseuring_i.h"

struct fuseuring_fs_context {
	struct file *dev;
	umode_t rootmode;
	kuid_t user_id;
	kgid_t group_id;
	unsigned int max_read;
	unsigned int blksize;
	bool fd_present:1;
	bool rootmode_present:1;
	bool user_id_present:1;
	bool group_id_present:1;
	bool default_permissions:1;
	bool allow_other:1;
	char *subtype;
};

enum {
	OPT_FD,
	OPT_ROOTMODE,
	OPT_USER_ID,
	OPT_GROUP_ID,
	OPT_DEFAULT_PERMISSIONS,
	OPT_ALLOW_OTHER,
	OPT_MAX_READ,
	OPT_BLKSIZE,
	OPT_SUBTYPE,
};

static const struct fs_parameter_spec fuseuring_fs_parameters[] = {
	fsparam_u32("fd",			OPT_FD),
	fsparam_u32oct("rootmode",		OPT_ROOTMODE),
	fsparam_u32("user_id",		OPT_USER_ID),
	fsparam_u32("group_id",		OPT_GROUP_ID),
	fsparam_flag("default_permissions",	OPT_DEFAULT_PERMISSIONS),
	fsparam_flag("allow_other",		OPT_ALLOW_OTHER),
	fsparam_u32("max_read",		OPT_MAX_READ),
	fsparam_u32("blksize",		OPT_BLKSIZE),
	fsparam_string("subtype",		OPT_SUBTYPE),
	{}
};

static bool fuseuring_valid_type(unsigned int mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode) ||
	       S_ISCHR(mode) || S_ISBLK(mode) || S_ISFIFO(mode) ||
	       S_ISSOCK(mode);
}

static int fuseuring_parse_param(struct fs_context *fc,
				 struct fs_parameter *param)
{
	struct fuseuring_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	struct file *file;
	int opt;

	opt = fs_parse(fc, fuseuring_fs_parameters, param, &result);
	if (opt < 0)
		return opt;

	switch (opt) {
	case OPT_FD:
		file = fget(result.uint_32);
		if (!file)
			return invalfc(fc, "fd=%u is not an open file",
				       result.uint_32);
		if (file->f_op != &fur_dev_fops) {
			fput(file);
			return invalfc(fc, "fd=%u is not /dev/%s",
				       result.uint_32, FUSEURING_DEV_NAME);
		}
		if (ctx->dev)
			fput(ctx->dev);
		ctx->dev = file;
		ctx->fd_present = true;
		break;
	case OPT_ROOTMODE:
		if (!fuseuring_valid_type(result.uint_32))
			return invalfc(fc, "rootmode=%o is not a valid file type",
				       result.uint_32);
		ctx->rootmode = result.uint_32;
		ctx->rootmode_present = true;
		break;
	case OPT_USER_ID:
		ctx->user_id = make_kuid(fc->user_ns, result.uint_32);
		if (!uid_valid(ctx->user_id))
			return invalfc(fc, "user_id=%u is not mapped",
				       result.uint_32);
		ctx->user_id_present = true;
		break;
	case OPT_GROUP_ID:
		ctx->group_id = make_kgid(fc->user_ns, result.uint_32);
		if (!gid_valid(ctx->group_id))
			return invalfc(fc, "group_id=%u is not mapped",
				       result.uint_32);
		ctx->group_id_present = true;
		break;
	case OPT_DEFAULT_PERMISSIONS:
		ctx->default_permissions = true;
		break;
	case OPT_ALLOW_OTHER:
		ctx->allow_other = true;
		break;
	case OPT_MAX_READ:
		ctx->max_read = result.uint_32;
		break;
	case OPT_BLKSIZE:
		if (result.uint_32 < 512 || result.uint_32 > PAGE_SIZE ||
		    !is_power_of_2(result.uint_32))
			return invalfc(fc, "blksize=%u is not a power of two in [512, %lu]",
				       result.uint_32, PAGE_SIZE);
		ctx->blksize = result.uint_32;
		break;
	case OPT_SUBTYPE:
		if (ctx->subtype)
			return invalfc(fc, "subtype given twice");
		ctx->subtype = param->string;
		param->string = NULL;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static DEFINE_MUTEX(fur_dev_mutex);

static void fur_free_inode(struct inode *inode)
{
	struct fur_inode *fi = get_fur_inode(inode);

	kfree(fi->forget);
	kmem_cache_free(fur_inode_cachep, fi);
}

static void fur_evict_inode(struct inode *inode)
{
	struct fur_inode *fi = get_fur_inode(inode);

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (fi->nlookup && fi->forget) {
		/* The server may drop its node now. */
		fur_queue_forget(get_fur_conn(inode), fi->forget, fi->nodeid,
				 fi->nlookup);
		fi->forget = NULL;
	}
}

static void fur_umount_begin(struct super_block *sb)
{
	fur_abort_conn(get_fur_mount_sb(sb)->fc);
}

static void fur_convert_statfs(struct kstatfs *stbuf, struct fuse_kstatfs *attr)
{
	stbuf->f_type = FUSE_SUPER_MAGIC;
	stbuf->f_bsize = attr->bsize;
	stbuf->f_frsize = attr->frsize;
	stbuf->f_blocks = attr->blocks;
	stbuf->f_bfree = attr->bfree;
	stbuf->f_bavail = attr->bavail;
	stbuf->f_files = attr->files;
	stbuf->f_ffree = attr->ffree;
	stbuf->f_namelen = attr->namelen;
}

static int fur_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct fur_mount *fm = get_fur_mount_sb(sb);
	struct fuse_statfs_out outarg = {};
	struct fur_args args = {};
	int err;

	if (!fur_allow_current_process(fm->fc)) {
		buf->f_type = FUSE_SUPER_MAGIC;
		return 0;
	}
	args.opcode = FUSE_STATFS;
	args.nodeid = get_node_id(d_inode(dentry));
	args.out_numargs = 1;
	args.out_args[0].size = fm->fc->minor < 4 ? FUSE_COMPAT_STATFS_SIZE :
			       sizeof(outarg);
	args.out_args[0].value = &outarg;
	err = fur_simple_request(fm, &args);
	if (!err)
		fur_convert_statfs(buf, &outarg.st);
	return err;
}

static int fur_show_options(struct seq_file *m, struct dentry *root)
{
	struct fur_conn *fc = get_fur_mount_sb(root->d_sb)->fc;

	seq_printf(m, ",user_id=%u", from_kuid_munged(fc->user_ns,
						      fc->user_id));
	seq_printf(m, ",group_id=%u", from_kgid_munged(fc->user_ns,
						       fc->group_id));
	if (fc->default_permissions)
		seq_puts(m, ",default_permissions");
	if (fc->allow_other)
		seq_puts(m, ",allow_other");
	return 0;
}

static const struct super_operations fur_super_operations = {
	.alloc_inode	= fur_alloc_inode,
	.free_inode	= fur_free_inode,
	.evict_inode	= fur_evict_inode,
	.write_inode	= fur_write_inode,
	.drop_inode	= fur_drop_inode,
	.umount_begin	= fur_umount_begin,
	.statfs		= fur_statfs,
	.show_options	= fur_show_options,
};

/* Attach the server's open device file to the connection, once. */
static int fur_install_dev(struct file *file, struct fur_conn *fc)
{
	struct fur_dev *fud;
	int err = 0;

	mutex_lock(&fur_dev_mutex);
	if (file->private_data) {
		err = -EBUSY;
		goto out;
	}
	fud = fur_dev_alloc_install(fc);
	if (!fud) {
		err = -ENOMEM;
		goto out;
	}
	/* Pairs with smp_load_acquire() in the device operations. */
	smp_store_release(&file->private_data, fud);
out:
	mutex_unlock(&fur_dev_mutex);
	return err;
}

static int fur_fill_super(struct super_block *sb, struct fs_context *fsc)
{
	struct fuseuring_fs_context *ctx = fsc->fs_private;
	struct fur_mount *fm = get_fur_mount_sb(sb);
	struct fur_conn *fc = fm->fc;
	struct fuse_attr attr = {};
	struct inode *root;
	int err;

	fm->sb = sb;
	sb->s_magic = FUSE_SUPER_MAGIC;
	sb->s_op = &fur_super_operations;
	sb->s_xattr = fur_xattr_handlers;
	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_time_gran = 1;
	sb->s_blocksize = ctx->blksize;
	sb->s_blocksize_bits = ilog2(ctx->blksize);
	sb->s_iflags |= SB_I_IMA_UNVERIFIABLE_SIGNATURE;
	if (ctx->subtype) {
		sb->s_subtype = ctx->subtype;
		ctx->subtype = NULL;
	}
	err = super_setup_bdi(sb);
	if (err)
		return err;
	/* Dirty pages are written by the server: stay within limits. */
	sb->s_bdi->capabilities |= BDI_CAP_STRICTLIMIT;

	fc->user_id = ctx->user_id;
	fc->group_id = ctx->group_id;
	fc->default_permissions = ctx->default_permissions;
	fc->allow_other = ctx->allow_other;
	fc->max_read = max_t(unsigned int, 4096, ctx->max_read);

	attr.mode = ctx->rootmode;
	attr.ino = FUSE_ROOT_ID;
	attr.nlink = 1;
	root = fur_iget(sb, FUSE_ROOT_ID, 0, &attr, 0, 0);
	if (!root)
		return -ENOMEM;
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return -ENOMEM;
	/* Set after the root: the root dentry is never revalidated. */
	fur_set_default_d_op(sb, &fur_dentry_operations);

	err = fur_install_dev(ctx->dev, fc);
	if (err)
		return err;
	spin_lock(&fc->lock);
	list_add_tail(&fm->fc_entry, &fc->mounts);
	spin_unlock(&fc->lock);
	return fur_send_init(fm);
}

static int fuseuring_get_tree(struct fs_context *fsc)
{
	struct fuseuring_fs_context *ctx = fsc->fs_private;
	struct fur_mount *fm;
	struct fur_conn *fc;
	struct super_block *sb;
	int err;

	if (!ctx->fd_present)
		return invalfc(fsc, "missing fd= option");
	if (!ctx->rootmode_present)
		return invalfc(fsc, "missing rootmode= option");
	if (!ctx->user_id_present)
		return invalfc(fsc, "missing user_id= option");
	if (!ctx->group_id_present)
		return invalfc(fsc, "missing group_id= option");
	if (READ_ONCE(ctx->dev->private_data))
		return invalfc(fsc, "the device is already mounted");

	fc = fur_conn_alloc(fsc->user_ns);
	if (!fc)
		return -ENOMEM;
	fm = kzalloc(sizeof(*fm), GFP_KERNEL);
	if (!fm) {
		fur_conn_put(fc);
		return -ENOMEM;
	}
	INIT_LIST_HEAD(&fm->fc_entry);
	fm->fc = fc;
	fsc->s_fs_info = fm;
	sb = sget_fc(fsc, NULL, set_anon_super_fc);
	if (fsc->s_fs_info) {
		/* sget_fc() did not take it. */
		fur_conn_put(fc);
		kfree(fm);
	}
	if (IS_ERR(sb))
		return PTR_ERR(sb);

	err = fur_fill_super(sb, fsc);
	if (err) {
		deactivate_locked_super(sb);
		return err;
	}
	sb->s_flags |= SB_ACTIVE;
	fsc->root = dget(sb->s_root);
	return 0;
}

static void fur_send_destroy(struct fur_mount *fm)
{
	struct fur_args args = {};

	args.opcode = FUSE_DESTROY;
	args.force = true;
	args.nocreds = true;
	fur_simple_request(fm, &args);
}

static void fur_kill_sb(struct super_block *sb)
{
	struct fur_mount *fm = get_fur_mount_sb(sb);
	struct fur_conn *fc;

	if (!fm) {
		kill_anon_super(sb);
		return;
	}
	fc = fm->fc;
	if (sb->s_root) {
		/* Dirty data first, while the server can take it. */
		sync_filesystem(sb);
		if (READ_ONCE(fc->connected) && fc->initialized &&
		    !fc->conn_error)
			fur_send_destroy(fm);
	}
	down_write(&fc->killsb);
	spin_lock(&fc->lock);
	list_del_init(&fm->fc_entry);
	spin_unlock(&fc->lock);
	up_write(&fc->killsb);
	fur_abort_conn(fc);
	fur_wait_aborted(fc);
	kill_anon_super(sb);
	fur_conn_put(fc);
	kfree(fm);
}

static void fuseuring_free_fc(struct fs_context *fc)
{
	struct fuseuring_fs_context *ctx = fc->fs_private;

	if (!ctx)
		return;
	if (ctx->dev)
		fput(ctx->dev);
	kfree(ctx->subtype);
	kfree(ctx);
}

static const struct fs_context_operations fuseuring_context_ops = {
	.free		= fuseuring_free_fc,
	.parse_param	= fuseuring_parse_param,
	.get_tree	= fuseuring_get_tree,
};

static int fuseuring_init_fs_context(struct fs_context *fc)
{
	struct fuseuring_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->max_read = ~0U;
	ctx->blksize = PAGE_SIZE;
	fc->fs_private = ctx;
	fc->ops = &fuseuring_context_ops;
	return 0;
}

struct file_system_type fur_fs_type = {
	.owner			= THIS_MODULE,
	.name			= FUSEURING_FS_TYPE,
	.fs_flags		= FS_HAS_SUBTYPE,
	.init_fs_context	= fuseuring_init_fs_context,
	.parameters		= fuseuring_fs_parameters,
	.kill_sb		= fur_kill_sb,
};
