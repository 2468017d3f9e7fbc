// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: directories, names and symlinks.  A dentry is valid until
 * the entry timeout of the reply that made it (kept in d_fsdata).
 */

#include <linux/fs.h>
#include <linux/iversion.h>
#include <linux/jiffies.h>
#include <linux/namei.h>
#include <linux/slab.h>

#include "fuseuring_i.h"

/* d_fsdata holds the entry's deadline in jiffies64 (64-bit only). */
static_assert(sizeof(void *) == sizeof(u64));

void fur_dentry_settime(struct dentry *entry, u64 time)
{
	entry->d_fsdata = (void *)(unsigned long)time;
}

static u64 fur_dentry_time(const struct dentry *entry)
{
	return (u64)(unsigned long)entry->d_fsdata;
}

void fur_change_entry_timeout(struct dentry *entry, struct fuse_entry_out *o)
{
	fur_dentry_settime(entry, fur_time_to_jiffies(o->entry_valid,
						      o->entry_valid_nsec));
}

static void fur_invalidate_entry_cache(struct dentry *entry)
{
	fur_dentry_settime(entry, 0);
}

/* Something in the directory changed: its attributes are stale. */
static void fur_dir_changed(struct inode *dir)
{
	fur_invalidate_attr(dir);
	inode_maybe_inc_iversion(dir, false);
}

unsigned int fur_entry_out_size(struct fur_conn *fc)
{
	return fc->minor < 9 ? FUSE_COMPAT_ENTRY_OUT_SIZE :
			       sizeof(struct fuse_entry_out);
}

static void fur_lookup_init(struct fur_conn *fc, struct fur_args *args,
			    u64 nodeid, const struct qstr *name,
			    struct fuse_entry_out *outarg)
{
	memset(outarg, 0, sizeof(*outarg));
	args->opcode = FUSE_LOOKUP;
	args->nodeid = nodeid;
	args->in_numargs = 1;
	args->in_args[0].size = name->len + 1;
	args->in_args[0].value = name->name;
	args->out_numargs = 1;
	args->out_args[0].size = fur_entry_out_size(fc);
	args->out_args[0].value = outarg;
}

/*
 * The root has no name in any directory: a server that answers a child
 * with the root's id would give the root a second parent.
 */
static bool fur_bad_entry(struct fuse_entry_out *o)
{
	return fur_invalid_attr(&o->attr) || o->nodeid == FUSE_ROOT_ID;
}

/*
 * LOOKUP name in the directory nodeid.  *inode is NULL for a negative
 * entry; the result is 0, an error, or -ENOENT is folded into a negative
 * entry without a timeout.
 */
static int fur_lookup_name(struct super_block *sb, u64 nodeid,
			   const struct qstr *name,
			   struct fuse_entry_out *outarg, bool *valid,
			   struct inode **inode)
{
	struct fur_mount *fm = get_fur_mount_sb(sb);
	struct fur_args args = {};
	u64 attr_version;
	int err;

	*inode = NULL;
	*valid = false;
	if (name->len > FUR_NAME_MAX)
		return -ENAMETOOLONG;
	attr_version = fur_get_attr_version(fm->fc);
	fur_lookup_init(fm->fc, &args, nodeid, name, outarg);
	err = fur_simple_request(fm, &args);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	*valid = true;
	if (!outarg->nodeid)
		return 0;
	if (fur_bad_entry(outarg))
		return -EIO;
	*inode = fur_iget(sb, outarg->nodeid, outarg->generation,
			  &outarg->attr,
			  fur_time_to_jiffies(outarg->attr_valid,
					      outarg->attr_valid_nsec),
			  attr_version);
	if (!*inode) {
		struct fur_forget_link *forget = fur_alloc_forget();

		/* We owe the server this lookup. */
		if (forget)
			fur_queue_forget(fm->fc, forget, outarg->nodeid, 1);
		return -ENOMEM;
	}
	return 0;
}

struct dentry *fur_lookup(struct inode *dir, struct dentry *entry,
			  unsigned int flags)
{
	struct fuse_entry_out outarg;
	struct inode *inode;
	struct dentry *newent;
	bool valid;
	int err;

	if (fur_is_bad(dir))
		return ERR_PTR(-EIO);
	err = fur_lookup_name(dir->i_sb, get_node_id(dir), &entry->d_name,
			      &outarg, &valid, &inode);
	if (err)
		return ERR_PTR(err);
	newent = d_splice_alias(inode, entry);
	if (IS_ERR(newent))
		return newent;
	entry = newent ? newent : entry;
	if (valid)
		fur_change_entry_timeout(entry, &outarg);
	else
		fur_invalidate_entry_cache(entry);
	if (inode)
		fur_advise_use_readdirplus(dir);
	return newent;
}

static int fur_dentry_revalidate(struct dentry *entry, unsigned int flags)
{
	struct fuse_entry_out outarg;
	struct fur_forget_link *forget;
	struct fur_args args = {};
	struct inode *inode, *dir;
	struct dentry *parent;
	struct fur_mount *fm;
	u64 attr_version;
	int ret;

	inode = d_inode_rcu(entry);
	if (inode && fur_is_bad(inode))
		return 0;
	if (time_before64(get_jiffies_64(), fur_dentry_time(entry)) &&
	    !(flags & (LOOKUP_EXCL | LOOKUP_REVAL | LOOKUP_RENAME_TARGET)))
		return 1;
	if (!inode)
		return 0;
	if (flags & LOOKUP_RCU)
		return -ECHILD;

	fm = get_fur_mount(inode);
	forget = fur_alloc_forget();
	if (!forget)
		return -ENOMEM;
	attr_version = fur_get_attr_version(fm->fc);
	parent = dget_parent(entry);
	dir = d_inode(parent);
	fur_lookup_init(fm->fc, &args, get_node_id(dir), &entry->d_name,
			&outarg);
	ret = fur_simple_request(fm, &args);
	dput(parent);
	if (ret == -ENOMEM || ret == -EINTR)
		goto out;
	if (!ret && outarg.nodeid &&
	    outarg.nodeid != get_node_id(inode)) {
		/* A different node now: the server counted a lookup. */
		fur_queue_forget(fm->fc, forget, outarg.nodeid, 1);
		forget = NULL;
		ret = 0;
		goto out;
	}
	if (ret || !outarg.nodeid || fur_bad_entry(&outarg) ||
	    inode_wrong_type(inode, outarg.attr.mode)) {
		if (!ret && outarg.nodeid &&
		    inode_wrong_type(inode, outarg.attr.mode))
			fur_make_bad(inode);
		ret = 0;
		goto out;
	}
	spin_lock(&get_fur_inode(inode)->lock);
	get_fur_inode(inode)->nlookup++;
	spin_unlock(&get_fur_inode(inode)->lock);
	fur_change_attributes(inode, &outarg.attr,
			      fur_time_to_jiffies(outarg.attr_valid,
						  outarg.attr_valid_nsec),
			      attr_version);
	fur_change_entry_timeout(entry, &outarg);
	ret = 1;
out:
	kfree(forget);
	return ret;
}

#if FUR_HAVE_REVALIDATE_DIR_NAME
static int fur_d_revalidate(struct inode *dir, const struct qstr *name,
			    struct dentry *entry, unsigned int flags)
{
	return fur_dentry_revalidate(entry, flags);
}
#else
#define fur_d_revalidate fur_dentry_revalidate
#endif

const struct dentry_operations fur_dentry_operations = {
	.d_revalidate	= fur_d_revalidate,
};

/* Send a request that makes a new name and bind the reply to entry. */
static int fur_create_new_entry(struct fur_mount *fm, struct fur_args *args,
				struct inode *dir, struct dentry *entry,
				umode_t mode)
{
	struct fuse_entry_out outarg = {};
	struct dentry *d;
	struct inode *inode;
	int err;

	if (fur_is_bad(dir))
		return -EIO;
	if (entry->d_name.len > FUR_NAME_MAX)
		return -ENAMETOOLONG;
	args->nodeid = get_node_id(dir);
	args->out_numargs = 1;
	args->out_args[0].size = fur_entry_out_size(fm->fc);
	args->out_args[0].value = &outarg;
	err = fur_simple_request(fm, args);
	if (err)
		return err;
	if (!outarg.nodeid || fur_bad_entry(&outarg))
		return -EIO;
	if ((outarg.attr.mode ^ mode) & S_IFMT)
		return -EIO;
	inode = fur_iget(dir->i_sb, outarg.nodeid, outarg.generation,
			 &outarg.attr,
			 fur_time_to_jiffies(outarg.attr_valid,
					     outarg.attr_valid_nsec), 0);
	if (!inode) {
		struct fur_forget_link *forget = fur_alloc_forget();

		if (forget)
			fur_queue_forget(fm->fc, forget, outarg.nodeid, 1);
		return -ENOMEM;
	}
	d_drop(entry);
	d = d_splice_alias(inode, entry);
	if (IS_ERR(d))
		return PTR_ERR(d);
	if (d) {
		fur_change_entry_timeout(d, &outarg);
		dput(d);
	} else {
		fur_change_entry_timeout(entry, &outarg);
	}
	fur_dir_changed(dir);
	return 0;
}

static int fur_mknod(struct mnt_idmap *idmap, struct inode *dir,
		     struct dentry *entry, umode_t mode, dev_t rdev)
{
	struct fur_mount *fm = get_fur_mount(dir);
	struct fuse_mknod_in inarg = {};
	struct fur_args args = {};

	inarg.mode = mode;
	inarg.rdev = new_encode_dev(rdev);
	inarg.umask = current_umask();
	args.opcode = FUSE_MKNOD;
	args.in_numargs = 2;
	args.in_args[0].size = fm->fc->minor < 12 ?
			       FUSE_COMPAT_MKNOD_IN_SIZE : sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.in_args[1].size = entry->d_name.len + 1;
	args.in_args[1].value = entry->d_name.name;
	return fur_create_new_entry(fm, &args, dir, entry, mode);
}

/* O_EXCL needs no flag on the wire: MKNOD fails on an existing name. */
#if FUR_HAVE_CREATE_WITHOUT_EXCL
static int fur_create(struct mnt_idmap *idmap, struct inode *dir,
		      struct dentry *entry, umode_t mode)
#else
static int fur_create(struct mnt_idmap *idmap, struct inode *dir,
		      struct dentry *entry, umode_t mode, bool excl)
#endif
{
	return fur_mknod(idmap, dir, entry, mode, 0);
}

static int fur_do_mkdir(struct inode *dir, struct dentry *entry,
			umode_t mode)
{
	struct fur_mount *fm = get_fur_mount(dir);
	struct fuse_mkdir_in inarg = {};
	struct fur_args args = {};

	inarg.mode = mode;
	inarg.umask = current_umask();
	args.opcode = FUSE_MKDIR;
	args.in_numargs = 2;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.in_args[1].size = entry->d_name.len + 1;
	args.in_args[1].value = entry->d_name.name;
	return fur_create_new_entry(fm, &args, dir, entry, S_IFDIR);
}

#if FUR_HAVE_MKDIR_RETURNS_DENTRY
/* NULL: entry itself was bound to the new directory. */
static struct dentry *fur_mkdir(struct mnt_idmap *idmap, struct inode *dir,
				struct dentry *entry, umode_t mode)
{
	return ERR_PTR(fur_do_mkdir(dir, entry, mode));
}
#else
static int fur_mkdir(struct mnt_idmap *idmap, struct inode *dir,
		     struct dentry *entry, umode_t mode)
{
	return fur_do_mkdir(dir, entry, mode);
}
#endif

static int fur_symlink(struct mnt_idmap *idmap, struct inode *dir,
		       struct dentry *entry, const char *link)
{
	struct fur_mount *fm = get_fur_mount(dir);
	unsigned int len = strlen(link) + 1;
	struct fur_args args = {};

	if (len > FUR_SYMLINK_MAX)
		return -ENAMETOOLONG;
	args.opcode = FUSE_SYMLINK;
	args.in_numargs = 2;
	args.in_args[0].size = entry->d_name.len + 1;
	args.in_args[0].value = entry->d_name.name;
	args.in_args[1].size = len;
	args.in_args[1].value = link;
	return fur_create_new_entry(fm, &args, dir, entry, S_IFLNK);
}

/* The server removed a name of inode: one link fewer. */
static void fur_entry_unlinked(struct dentry *entry)
{
	struct inode *inode = d_inode(entry);
	struct fur_inode *fi = get_fur_inode(inode);

	spin_lock(&fi->lock);
	if (inode->i_nlink > 0)
		drop_nlink(inode);
	spin_unlock(&fi->lock);
	fur_invalidate_attr(inode);
	fur_invalidate_entry_cache(entry);
}

static int fur_remove(struct inode *dir, struct dentry *entry, u32 opcode)
{
	struct fur_mount *fm = get_fur_mount(dir);
	struct fur_args args = {};
	int err;

	if (fur_is_bad(dir))
		return -EIO;
	args.opcode = opcode;
	args.nodeid = get_node_id(dir);
	args.in_numargs = 1;
	args.in_args[0].size = entry->d_name.len + 1;
	args.in_args[0].value = entry->d_name.name;
	err = fur_simple_request(fm, &args);
	if (!err) {
		if (opcode == FUSE_RMDIR)
			clear_nlink(d_inode(entry));
		else
			fur_entry_unlinked(entry);
		fur_dir_changed(dir);
		fur_invalidate_entry_cache(entry);
	} else if (err == -EINTR || err == -ENOENT) {
		fur_invalidate_entry_cache(entry);
	}
	return err;
}

static int fur_unlink(struct inode *dir, struct dentry *entry)
{
	return fur_remove(dir, entry, FUSE_UNLINK);
}

static int fur_rmdir(struct inode *dir, struct dentry *entry)
{
	return fur_remove(dir, entry, FUSE_RMDIR);
}

static int fur_rename_common(struct inode *olddir, struct dentry *oldent,
			     struct inode *newdir, struct dentry *newent,
			     unsigned int flags, u32 opcode, size_t argsize)
{
	struct fur_mount *fm = get_fur_mount(olddir);
	struct fuse_rename2_in inarg = {};
	struct fur_args args = {};
	int err;

	inarg.newdir = get_node_id(newdir);
	inarg.flags = flags;
	args.opcode = opcode;
	args.nodeid = get_node_id(olddir);
	args.in_numargs = 3;
	args.in_args[0].size = argsize;
	args.in_args[0].value = &inarg;
	args.in_args[1].size = oldent->d_name.len + 1;
	args.in_args[1].value = oldent->d_name.name;
	args.in_args[2].size = newent->d_name.len + 1;
	args.in_args[2].value = newent->d_name.name;
	err = fur_simple_request(fm, &args);
	if (!err) {
		fur_invalidate_attr(d_inode(oldent));
		if (flags & RENAME_EXCHANGE)
			fur_invalidate_attr(d_inode(newent));
		fur_dir_changed(olddir);
		if (olddir != newdir)
			fur_dir_changed(newdir);
		if (!(flags & RENAME_EXCHANGE) && d_really_is_positive(newent)) {
			if (d_is_dir(newent))
				clear_nlink(d_inode(newent));
			else
				fur_entry_unlinked(newent);
		}
	} else if (err == -EIO) {
		fur_invalidate_entry_cache(oldent);
		if (d_really_is_positive(newent))
			fur_invalidate_entry_cache(newent);
	}
	return err;
}

static int fur_rename2(struct mnt_idmap *idmap, struct inode *olddir,
		       struct dentry *oldent, struct inode *newdir,
		       struct dentry *newent, unsigned int flags)
{
	struct fur_conn *fc = get_fur_conn(olddir);
	int err;

	if (fur_is_bad(olddir) || fur_is_bad(newdir))
		return -EIO;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (!flags)
		return fur_rename_common(olddir, oldent, newdir, newent, 0,
					 FUSE_RENAME,
					 sizeof(struct fuse_rename_in));
	if (fc->no_rename2 || fc->minor < 23)
		return -EINVAL;
	err = fur_rename_common(olddir, oldent, newdir, newent, flags,
				FUSE_RENAME2, sizeof(struct fuse_rename2_in));
	if (err == -FUR_ENOSYS) {
		fc->no_rename2 = true;
		err = -EINVAL;
	}
	return err;
}

static int fur_link(struct dentry *oldent, struct inode *newdir,
		    struct dentry *newent)
{
	struct inode *inode = d_inode(oldent);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_link_in inarg = {};
	struct fur_args args = {};
	int err;

	inarg.oldnodeid = get_node_id(inode);
	args.opcode = FUSE_LINK;
	args.in_numargs = 2;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.in_args[1].size = newent->d_name.len + 1;
	args.in_args[1].value = newent->d_name.name;
	err = fur_create_new_entry(fm, &args, newdir, newent, inode->i_mode);
	if (!err)
		fur_invalidate_attr(inode);
	return err;
}

static const char *fur_get_link(struct dentry *dentry, struct inode *inode,
				struct delayed_call *callback)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_args args = {};
	char *link;
	ssize_t ret;

	if (!dentry)
		return ERR_PTR(-ECHILD);
	if (fur_is_bad(inode))
		return ERR_PTR(-EIO);
	link = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!link)
		return ERR_PTR(-ENOMEM);
	args.opcode = FUSE_READLINK;
	args.nodeid = get_node_id(inode);
	args.out_argvar = true;
	args.out_numargs = 1;
	args.out_args[0].size = PAGE_SIZE - 1;
	args.out_args[0].value = link;
	ret = fur_simple_request(fm, &args);
	if (ret < 0) {
		kfree(link);
		return ERR_PTR(ret);
	}
	link[ret] = '\0';
	/* A NUL inside the target would silently cut it. */
	if (strlen(link) != ret) {
		kfree(link);
		return ERR_PTR(-EIO);
	}
	set_delayed_call(callback, kfree_link, link);
	return link;
}

/* The directory's open file: FUSE_OPENDIR, unless the server has none. */
static int fur_dir_open(struct inode *inode, struct file *file)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_open_in inarg = {};
	struct fuse_open_out outarg = {};
	struct fur_file *ff;
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	err = generic_file_open(inode, file);
	if (err)
		return err;
	ff = fur_file_alloc(fm, get_node_id(inode));
	if (!ff)
		return -ENOMEM;

	if (!fm->fc->no_opendir) {
		inarg.flags = file->f_flags & ~(O_CREAT | O_EXCL | O_NOCTTY);
		err = fur_send_open(fm, FUSE_OPENDIR, ff->nodeid, &inarg,
				    &outarg);
		if (!err) {
			ff->fh = outarg.fh;
			ff->open_flags = outarg.open_flags;
			fur_prepare_release(ff, inarg.flags);
		} else if (err == -FUR_ENOSYS) {
			fm->fc->no_opendir = true;
		} else {
			fur_file_put(ff);
			return err;
		}
	}
	file->private_data = ff;
	return 0;
}

/* RELEASEDIR if OPENDIR was answered; the inode is held until its end. */
static int fur_dir_release(struct inode *inode, struct file *file)
{
	fur_release_common(file, true);
	return 0;
}

static int fur_dir_fsync(struct file *file, loff_t start, loff_t end,
			 int datasync)
{
	struct inode *inode = file_inode(file);
	struct fur_mount *fm = get_fur_mount(inode);
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	if (fm->fc->no_fsyncdir)
		return 0;
	inode_lock(inode);
	err = fur_send_fsync(file, FUSE_FSYNCDIR, datasync);
	inode_unlock(inode);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_fsyncdir = true;
		err = 0;
	}
	return err;
}

static const struct file_operations fur_dir_operations = {
	.llseek		= generic_file_llseek,
	.read		= generic_read_dir,
	.iterate_shared	= fur_readdir,
	.open		= fur_dir_open,
	.release	= fur_dir_release,
	.fsync		= fur_dir_fsync,
	.unlocked_ioctl	= fur_dir_ioctl,
	.compat_ioctl	= fur_dir_compat_ioctl,
};

static const struct inode_operations fur_dir_inode_operations = {
	.lookup		= fur_lookup,
	.mkdir		= fur_mkdir,
	.symlink	= fur_symlink,
	.unlink		= fur_unlink,
	.rmdir		= fur_rmdir,
	.rename		= fur_rename2,
	.link		= fur_link,
	.setattr	= fur_setattr,
	.create		= fur_create,
	.atomic_open	= fur_atomic_open,
	.mknod		= fur_mknod,
	.permission	= fur_permission,
	.getattr	= fur_getattr,
	.listxattr	= fur_listxattr,
};

static const struct inode_operations fur_common_inode_operations = {
	.setattr	= fur_setattr,
	.permission	= fur_permission,
	.getattr	= fur_getattr,
	.listxattr	= fur_listxattr,
};

static const struct inode_operations fur_symlink_inode_operations = {
	.setattr	= fur_setattr,
	.get_link	= fur_get_link,
	.getattr	= fur_getattr,
	.listxattr	= fur_listxattr,
};

void fur_init_common(struct inode *inode)
{
	inode->i_op = &fur_common_inode_operations;
}

void fur_init_dir(struct inode *inode)
{
	inode->i_op = &fur_dir_inode_operations;
	inode->i_fop = &fur_dir_operations;
}

void fur_init_symlink(struct inode *inode)
{
	inode->i_op = &fur_symlink_inode_operations;
	inode_nohighmem(inode);
}

void fur_init_special(struct inode *inode, u32 rdev)
{
	inode->i_op = &fur_common_inode_operations;
	init_special_inode(inode, inode->i_mode, new_decode_dev(rdev));
}

int fur_reverse_inval_entry(struct fur_conn *fc, u64 parent_nodeid,
			    u64 child_nodeid, struct qstr *name, u32 flags)
{
	struct inode *parent;
	struct dentry *dir, *entry;
	int err = -ENOENT;

	parent = fur_ilookup(fc, parent_nodeid);
	if (!parent)
		return -ENOENT;
	inode_lock_nested(parent, I_MUTEX_PARENT);
	if (!S_ISDIR(parent->i_mode))
		goto unlock;
	dir = d_find_alias(parent);
	if (!dir)
		goto unlock;
	name->hash = full_name_hash(dir, name->name, name->len);
	entry = d_lookup(dir, name);
	dput(dir);
	if (!entry)
		goto unlock;
	fur_dir_changed(parent);
	if (!(flags & FUSE_EXPIRE_ONLY))
		d_invalidate(entry);
	fur_invalidate_entry_cache(entry);
	err = 0;
	if (child_nodeid && d_really_is_positive(entry)) {
		struct inode *child = d_inode(entry);

		if (get_node_id(child) != child_nodeid) {
			err = -ENOENT;
		} else if (d_mountpoint(entry)) {
			err = -EBUSY;
		} else {
			inode_lock(child);
			if (S_ISDIR(child->i_mode))
				clear_nlink(child);
			else if (child->i_nlink > 0)
				drop_nlink(child);
			inode_unlock(child);
			d_delete(entry);
		}
	}
	dput(entry);
unlock:
	inode_unlock(parent);
	iput(parent);
	return err;
}
