// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: reading directories (READDIR and READDIRPLUS).  Every
 * record the server sends is checked before it reaches the dcache or
 * the caller's buffer.
 */

#include <linux/fs.h>
#include <linux/slab.h>

#include "fuseuring_i.h"

void fur_advise_use_readdirplus(struct inode *dir)
{
	set_bit(FUR_I_ADVISE_RDPLUS, &get_fur_inode(dir)->state);
}

static bool fur_use_readdirplus(struct inode *dir, struct dir_context *ctx)
{
	struct fur_conn *fc = get_fur_conn(dir);

	if (!fc->readdirplus || fc->no_readdirplus)
		return false;
	if (!fc->readdirplus_auto)
		return true;
	if (test_and_clear_bit(FUR_I_ADVISE_RDPLUS,
			       &get_fur_inode(dir)->state))
		return true;
	return ctx->pos == 0;
}

/* A record of namelen bytes of name at the end of a reclen record. */
static bool fur_dirent_valid(struct fuse_dirent *d, size_t left,
			     size_t reclen)
{
	if (!d->namelen || d->namelen > FUR_NAME_MAX || reclen > left)
		return false;
	return !memchr(d->name, '/', d->namelen) &&
	       !memchr(d->name, '\0', d->namelen);
}

static bool fur_is_dot(const char *name, unsigned int len)
{
	return (len == 1 && name[0] == '.') ||
	       (len == 2 && name[0] == '.' && name[1] == '.');
}

/* Put the entry of a READDIRPLUS record in the dcache. */
static int fur_direntplus_link(struct file *file,
			       struct fuse_direntplus *direntplus,
			       u64 attr_version)
{
	struct fuse_entry_out *o = &direntplus->entry_out;
	struct fuse_dirent *dirent = &direntplus->dirent;
	struct dentry *parent = file->f_path.dentry;
	struct inode *dir = d_inode(parent);
	DECLARE_WAIT_QUEUE_HEAD_ONSTACK(wq);
	struct qstr name = QSTR_INIT(dirent->name, dirent->namelen);
	struct dentry *dentry, *alias;
	struct inode *inode;
	u64 attr_valid;

	if (!o->nodeid || fur_is_dot(dirent->name, dirent->namelen))
		return 0;
	if (fur_invalid_attr(&o->attr) || o->nodeid == FUSE_ROOT_ID)
		return -EIO;
	attr_valid = fur_time_to_jiffies(o->attr_valid, o->attr_valid_nsec);

	name.hash = full_name_hash(parent, name.name, name.len);
	dentry = d_lookup(parent, &name);
	if (!dentry) {
retry:
		dentry = fur_d_alloc_parallel(parent, &name, &wq);
		if (IS_ERR(dentry))
			goto forget;
	}
	if (!d_in_lookup(dentry)) {
		inode = d_inode(dentry);
		if (inode && get_node_id(inode) == o->nodeid &&
		    !inode_wrong_type(inode, o->attr.mode) &&
		    !fur_is_bad(inode)) {
			struct fur_inode *fi = get_fur_inode(inode);

			spin_lock(&fi->lock);
			fi->nlookup++;
			spin_unlock(&fi->lock);
			fur_change_attributes(inode, &o->attr, attr_valid,
					      attr_version);
			fur_change_entry_timeout(dentry, o);
			dput(dentry);
			return 0;
		}
		d_invalidate(dentry);
		dput(dentry);
		goto retry;
	}
	inode = fur_iget(dir->i_sb, o->nodeid, o->generation, &o->attr,
			 attr_valid, attr_version);
	if (!inode)
		inode = ERR_PTR(-ENOMEM);
	alias = d_splice_alias(inode, dentry);
	d_lookup_done(dentry);
	if (alias) {
		dput(dentry);
		dentry = alias;
	}
	if (IS_ERR(dentry)) {
		if (!IS_ERR(inode))
			return PTR_ERR(dentry);
		goto forget;
	}
	fur_change_entry_timeout(dentry, o);
	dput(dentry);
	return 0;

forget:
	{
		struct fur_forget_link *forget = fur_alloc_forget();

		/* The server counted this as a lookup. */
		if (forget)
			fur_queue_forget(get_fur_conn(dir), forget, o->nodeid,
					 1);
	}
	return 0;
}

static int fur_parse_dirfile(char *buf, size_t nbytes, struct file *file,
			     struct dir_context *ctx, bool plus,
			     u64 attr_version)
{
	bool over = false;
	int err;

	while (nbytes) {
		struct fuse_direntplus *dp = NULL;
		struct fuse_dirent *dirent;
		size_t reclen;

		if (plus) {
			if (nbytes < FUSE_NAME_OFFSET_DIRENTPLUS)
				return -EIO;
			dp = (struct fuse_direntplus *)buf;
			dirent = &dp->dirent;
			reclen = FUSE_DIRENTPLUS_SIZE(dp);
		} else {
			if (nbytes < FUSE_NAME_OFFSET)
				return -EIO;
			dirent = (struct fuse_dirent *)buf;
			reclen = FUSE_DIRENT_SIZE(dirent);
		}
		if (!fur_dirent_valid(dirent, nbytes, reclen))
			return -EIO;
		if (!over) {
			/* A full user buffer: the rest comes next time. */
			over = !dir_emit(ctx, dirent->name, dirent->namelen,
					 dirent->ino, dirent->type);
			if (!over)
				ctx->pos = dirent->off;
		}
		if (plus) {
			err = fur_direntplus_link(file, dp, attr_version);
			if (err)
				return err;
		}
		buf += reclen;
		nbytes -= reclen;
	}
	return over ? 1 : 0;
}

int fur_readdir(struct file *file, struct dir_context *ctx)
{
	struct inode *inode = file_inode(file);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_file *ff = file->private_data;
	struct fuse_read_in inarg = {};
	u64 attr_version = 0;
	struct fur_args args;
	ssize_t res;
	bool plus;
	char *buf;
	int err = 0;

	if (fur_is_bad(inode))
		return -EIO;
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&ff->readdir.lock);
	for (;;) {
		plus = fur_use_readdirplus(inode, ctx);
		memset(&args, 0, sizeof(args));
		inarg.fh = ff->fh;
		inarg.offset = ctx->pos;
		inarg.size = PAGE_SIZE;
		inarg.flags = file->f_flags;
		args.opcode = plus ? FUSE_READDIRPLUS : FUSE_READDIR;
		args.nodeid = get_node_id(inode);
		args.in_numargs = 1;
		args.in_args[0].size = sizeof(inarg);
		args.in_args[0].value = &inarg;
		args.out_numargs = 1;
		args.out_argvar = true;
		args.out_args[0].size = PAGE_SIZE;
		args.out_args[0].value = buf;
		if (plus)
			attr_version = fur_get_attr_version(fm->fc);
		res = fur_simple_request(fm, &args);
		if (res == -FUR_ENOSYS && plus) {
			fm->fc->no_readdirplus = true;
			continue;
		}
		if (res <= 0) {
			err = res;
			break;
		}
		err = fur_parse_dirfile(buf, res, file, ctx, plus,
					attr_version);
		if (err) {
			if (err > 0)
				err = 0;
			break;
		}
	}
	mutex_unlock(&ff->readdir.lock);
	kfree(buf);
	return err;
}
