// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the filesystem type and its mount options.
 */

#include <linux/file.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/module.h>
#include <linux/slab.h>

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

static int fuseuring_get_tree(struct fs_context *fc)
{
	struct fuseuring_fs_context *ctx = fc->fs_private;

	if (!ctx->fd_present)
		return invalfc(fc, "missing fd= option");
	if (!ctx->rootmode_present)
		return invalfc(fc, "missing rootmode= option");
	if (!ctx->user_id_present)
		return invalfc(fc, "missing user_id= option");
	if (!ctx->group_id_present)
		return invalfc(fc, "missing group_id= option");

	return invalfc(fc, "the filesystem client is not built yet");
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
	.kill_sb		= kill_anon_super,
};
