// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: inodes.  An inode is found by the server's nodeid; its
 * attributes are cached until the timeout the server gave.
 */

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

#include "fuseuring_i.h"

struct kmem_cache *fur_inode_cachep;

static void fur_inode_init_once(void *foo)
{
	struct fur_inode *fi = foo;

	inode_init_once(&fi->inode);
}

int __init fur_inode_cache_init(void)
{
	fur_inode_cachep = kmem_cache_create("fuseuring_inode",
					     sizeof(struct fur_inode), 0,
					     SLAB_HWCACHE_ALIGN |
					     SLAB_ACCOUNT | SLAB_RECLAIM_ACCOUNT,
					     fur_inode_init_once);
	return fur_inode_cachep ? 0 : -ENOMEM;
}

void fur_inode_cache_exit(void)
{
	/* Inodes are freed after an RCU grace period. */
	rcu_barrier();
	kmem_cache_destroy(fur_inode_cachep);
}

struct inode *fur_alloc_inode(struct super_block *sb)
{
	struct fur_inode *fi;

	fi = alloc_inode_sb(sb, fur_inode_cachep, GFP_KERNEL);
	if (!fi)
		return NULL;
	fi->nodeid = 0;
	fi->nlookup = 0;
	fi->i_time = 0;
	fi->inval_mask = 0;
	fi->orig_ino = 0;
	fi->attr_version = 0;
	fi->state = 0;
	fi->writectr = 0;
	spin_lock_init(&fi->lock);
	mutex_init(&fi->mutex);
	INIT_LIST_HEAD(&fi->write_files);
	INIT_LIST_HEAD(&fi->queued_writes);
	init_waitqueue_head(&fi->page_waitq);
	fi->forget = fur_alloc_forget();
	if (!fi->forget) {
		kmem_cache_free(fur_inode_cachep, fi);
		return NULL;
	}
	return &fi->inode;
}

/* A server timeout (seconds and nanoseconds) as a jiffies64 deadline. */
u64 fur_time_to_jiffies(u64 sec, u32 nsec)
{
	struct timespec64 ts;

	if (!sec && !nsec)
		return 0;
	ts.tv_sec = min_t(u64, sec, (u64)(MAX_JIFFY_OFFSET / HZ) - 1);
	ts.tv_nsec = min_t(u32, nsec, NSEC_PER_SEC - 1);
	return get_jiffies_64() + timespec64_to_jiffies(&ts);
}

u64 fur_get_attr_version(struct fur_conn *fc)
{
	return atomic64_read(&fc->attr_version);
}

void fur_invalidate_attr(struct inode *inode)
{
	struct fur_inode *fi = get_fur_inode(inode);

	spin_lock(&fi->lock);
	fi->inval_mask = ~0U;
	spin_unlock(&fi->lock);
}

void fur_make_bad(struct inode *inode)
{
	remove_inode_hash(inode);
	set_bit(FUR_I_BAD, &get_fur_inode(inode)->state);
}

bool fur_allow_current_process(struct fur_conn *fc)
{
	const struct cred *cred = current_cred();

	if (fc->allow_other)
		return current_in_userns(fc->user_ns);
	return uid_eq(cred->euid, fc->user_id) &&
	       uid_eq(cred->suid, fc->user_id) &&
	       uid_eq(cred->uid, fc->user_id) &&
	       gid_eq(cred->egid, fc->group_id) &&
	       gid_eq(cred->sgid, fc->group_id) &&
	       gid_eq(cred->gid, fc->group_id);
}

/* Called with fi->lock held. */
static void fur_fill_attr(struct inode *inode, struct fuse_attr *attr,
			  u64 attr_valid)
{
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_inode *fi = get_fur_inode(inode);

	fi->attr_version = atomic64_inc_return(&fc->attr_version);
	fi->i_time = attr_valid;
	fi->inval_mask = 0;
	inode->i_ino = attr->ino;
	fi->orig_ino = attr->ino;
	inode->i_mode = (inode->i_mode & S_IFMT) | (attr->mode & 07777);
	fi->orig_i_mode = inode->i_mode;
	set_nlink(inode, attr->nlink);
	inode->i_uid = make_kuid(fc->user_ns, attr->uid);
	inode->i_gid = make_kgid(fc->user_ns, attr->gid);
	inode->i_blocks = attr->blocks;
	inode_set_atime(inode, attr->atime, min_t(u32, attr->atimensec,
						  NSEC_PER_SEC - 1));
	inode_set_mtime(inode, attr->mtime, min_t(u32, attr->mtimensec,
						  NSEC_PER_SEC - 1));
	inode_set_ctime(inode, attr->ctime, min_t(u32, attr->ctimensec,
						  NSEC_PER_SEC - 1));
	if (attr->blksize)
		inode->i_blkbits = ilog2(clamp_t(u32, attr->blksize, 512,
						 PAGE_SIZE));
	else
		inode->i_blkbits = inode->i_sb->s_blocksize_bits;
}

void fur_change_attributes(struct inode *inode, struct fuse_attr *attr,
			   u64 attr_valid, u64 attr_version)
{
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_inode *fi = get_fur_inode(inode);
	bool cache_size = fc->writeback_cache && S_ISREG(inode->i_mode);
	loff_t oldsize;

	spin_lock(&fi->lock);
	/* A reply that raced with a change we made is stale. */
	if ((attr_version && fi->attr_version > attr_version) ||
	    test_bit(FUR_I_SIZE_UNSTABLE, &fi->state)) {
		spin_unlock(&fi->lock);
		return;
	}
	fur_fill_attr(inode, attr, attr_valid);
	oldsize = i_size_read(inode);
	if (!cache_size)
		i_size_write(inode, attr->size);
	spin_unlock(&fi->lock);

	if (!cache_size && S_ISREG(inode->i_mode) && oldsize > attr->size)
		truncate_pagecache(inode, attr->size);
}

static void fur_init_inode(struct inode *inode, struct fuse_attr *attr)
{
	inode->i_mode = attr->mode & S_IFMT;
	inode->i_size = attr->size;
	if (S_ISREG(inode->i_mode))
		fur_init_file_inode(inode, attr->flags);
	else if (S_ISDIR(inode->i_mode))
		fur_init_dir(inode);
	else if (S_ISLNK(inode->i_mode))
		fur_init_symlink(inode);
	else
		fur_init_special(inode, attr->rdev);
}

static int fur_inode_eq(struct inode *inode, void *data)
{
	return get_node_id(inode) == *(u64 *)data;
}

static int fur_inode_set(struct inode *inode, void *data)
{
	get_fur_inode(inode)->nodeid = *(u64 *)data;
	return 0;
}

struct inode *fur_iget(struct super_block *sb, u64 nodeid, int generation,
		       struct fuse_attr *attr, u64 attr_valid,
		       u64 attr_version)
{
	struct inode *inode;
	struct fur_inode *fi;

retry:
	inode = iget5_locked(sb, nodeid, fur_inode_eq, fur_inode_set,
			     &nodeid);
	if (!inode)
		return NULL;
	if (fur_inode_is_new(inode)) {
		inode->i_flags |= S_NOATIME;
		if (!get_fur_conn(inode)->writeback_cache ||
		    !S_ISREG(attr->mode))
			inode->i_flags |= S_NOCMTIME;
		inode->i_generation = generation;
		fur_init_inode(inode, attr);
		unlock_new_inode(inode);
	} else if (inode_wrong_type(inode, attr->mode) ||
		   inode->i_generation != generation) {
		/* The server reused the nodeid for something else. */
		fur_make_bad(inode);
		if (inode != d_inode(sb->s_root)) {
			iput(inode);
			goto retry;
		}
	}
	fi = get_fur_inode(inode);
	spin_lock(&fi->lock);
	fi->nlookup++;
	spin_unlock(&fi->lock);
	fur_change_attributes(inode, attr, attr_valid, attr_version);
	return inode;
}

/* The inode of a nodeid, if cached (notifications); killsb held. */
struct inode *fur_ilookup(struct fur_conn *fc, u64 nodeid)
{
	struct fur_mount *fm;
	struct inode *inode;

	list_for_each_entry(fm, &fc->mounts, fc_entry) {
		inode = ilookup5(fm->sb, nodeid, fur_inode_eq, &nodeid);
		if (inode)
			return inode;
	}
	return NULL;
}

int fur_reverse_inval_inode(struct fur_conn *fc, u64 nodeid,
			    loff_t offset, loff_t len)
{
	struct inode *inode = fur_ilookup(fc, nodeid);
	pgoff_t first, last;

	if (!inode)
		return -ENOENT;
	fur_invalidate_attr(inode);
	if (offset >= 0 && S_ISREG(inode->i_mode)) {
		first = offset >> PAGE_SHIFT;
		last = len <= 0 ? -1 : (offset + len - 1) >> PAGE_SHIFT;
		invalidate_inode_pages2_range(inode->i_mapping, first, last);
	}
	iput(inode);
	return 0;
}

/* Send SETATTR of inode with inarg; the attributes come in outarg. */
int fur_send_setattr(struct inode *inode, struct fuse_setattr_in *inarg,
		     struct fuse_attr_out *outarg)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_args args = {};

	args.opcode = FUSE_SETATTR;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(*inarg);
	args.in_args[0].value = inarg;
	args.out_numargs = 1;
	args.out_args[0].size = fur_attr_out_size(fm->fc);
	args.out_args[0].value = outarg;
	return fur_simple_request(fm, &args);
}

unsigned int fur_attr_out_size(struct fur_conn *fc)
{
	return fc->minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE :
			       sizeof(struct fuse_attr_out);
}

static int fur_do_getattr(struct inode *inode, struct file *file)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_getattr_in inarg = {};
	struct fuse_attr_out outarg = {};
	struct fur_args args = {};
	u64 attr_version;
	int err;

	attr_version = fur_get_attr_version(fm->fc);
	if (file && S_ISREG(inode->i_mode) && file->private_data) {
		struct fur_file *ff = file->private_data;

		inarg.getattr_flags |= FUSE_GETATTR_FH;
		inarg.fh = ff->fh;
	}
	args.opcode = FUSE_GETATTR;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.out_numargs = 1;
	args.out_args[0].size = fur_attr_out_size(fm->fc);
	args.out_args[0].value = &outarg;
	err = fur_simple_request(fm, &args);
	if (err)
		return err;
	if (fur_invalid_attr(&outarg.attr) ||
	    inode_wrong_type(inode, outarg.attr.mode)) {
		fur_make_bad(inode);
		return -EIO;
	}
	fur_change_attributes(inode, &outarg.attr,
			      fur_time_to_jiffies(outarg.attr_valid,
						  outarg.attr_valid_nsec),
			      attr_version);
	return 0;
}

bool fur_invalid_attr(struct fuse_attr *attr)
{
	return !fur_valid_type(attr->mode) || attr->size > LLONG_MAX;
}

bool fur_valid_type(unsigned int mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode) ||
	       S_ISCHR(mode) || S_ISBLK(mode) || S_ISFIFO(mode) ||
	       S_ISSOCK(mode);
}

/* Refresh the attributes if they expired (or mask asks for them). */
int fur_update_attributes(struct inode *inode, struct file *file, u32 mask)
{
	struct fur_inode *fi = get_fur_inode(inode);

	if (fur_is_bad(inode))
		return -EIO;
	if (!(READ_ONCE(fi->inval_mask) & mask) &&
	    time_before64(get_jiffies_64(), READ_ONCE(fi->i_time)))
		return 0;
	return fur_do_getattr(inode, file);
}

int fur_getattr(struct mnt_idmap *idmap, const struct path *path,
		struct kstat *stat, u32 request_mask, unsigned int flags)
{
	struct inode *inode = d_inode(path->dentry);
	int err = 0;

	if (fur_is_bad(inode))
		return -EIO;
	if (!fur_allow_current_process(get_fur_conn(inode)))
		return -EACCES;
	/* A dead server's attributes are not to be trusted, cached or not. */
	if (!READ_ONCE(get_fur_conn(inode)->connected))
		return -ENOTCONN;
	if (!(flags & AT_STATX_DONT_SYNC)) {
		if (flags & AT_STATX_FORCE_SYNC)
			err = fur_do_getattr(inode, NULL);
		else
			err = fur_update_attributes(inode, NULL, ~0U);
	}
	if (err)
		return err;
	fur_generic_fillattr(idmap, request_mask, inode, stat);
	stat->ino = get_fur_inode(inode)->orig_ino;
	stat->blksize = 1 << inode->i_blkbits;
	return 0;
}

/*
 * Whether a change of mtime goes to the server, as the kernel's FUSE
 * decides: an explicit time always; otherwise the server sets mtime
 * itself when it truncates for open(O_TRUNC) or ftruncate() (servers
 * without utimens, such as libfuse's high-level examples, would fail
 * those), unless the kernel's times are the true ones (writeback cache).
 */
static bool fur_update_mtime(unsigned int valid_mask, bool trust_local_cmtime)
{
	if (valid_mask & ATTR_MTIME_SET)
		return true;
	if (trust_local_cmtime)
		return true;
	return !((valid_mask & ATTR_SIZE) &&
		 (valid_mask & (ATTR_OPEN | ATTR_FILE)));
}

/*
 * trust_local_cmtime: the writeback cache keeps a regular file's times
 * in the kernel, so the kernel's mtime and ctime are sent as they are;
 * otherwise the server stamps the time of the change itself.
 */
static void fur_iattr_to_fattr(struct fur_conn *fc, struct iattr *iattr,
			       struct fuse_setattr_in *arg,
			       bool trust_local_cmtime)
{
	unsigned int valid_mask = iattr->ia_valid;

	if (valid_mask & ATTR_MODE) {
		arg->valid |= FATTR_MODE;
		arg->mode = iattr->ia_mode;
	}
	if (valid_mask & ATTR_UID) {
		arg->valid |= FATTR_UID;
		arg->uid = from_kuid(fc->user_ns, iattr->ia_uid);
	}
	if (valid_mask & ATTR_GID) {
		arg->valid |= FATTR_GID;
		arg->gid = from_kgid(fc->user_ns, iattr->ia_gid);
	}
	if (valid_mask & ATTR_SIZE) {
		arg->valid |= FATTR_SIZE;
		arg->size = iattr->ia_size;
	}
	if (valid_mask & ATTR_ATIME) {
		arg->valid |= FATTR_ATIME;
		arg->atime = iattr->ia_atime.tv_sec;
		arg->atimensec = iattr->ia_atime.tv_nsec;
		if (!(valid_mask & ATTR_ATIME_SET))
			arg->valid |= FATTR_ATIME_NOW;
	}
	if ((valid_mask & ATTR_MTIME) &&
	    fur_update_mtime(valid_mask, trust_local_cmtime)) {
		arg->valid |= FATTR_MTIME;
		arg->mtime = iattr->ia_mtime.tv_sec;
		arg->mtimensec = iattr->ia_mtime.tv_nsec;
		if (!(valid_mask & ATTR_MTIME_SET) && !trust_local_cmtime)
			arg->valid |= FATTR_MTIME_NOW;
	}
	if ((valid_mask & ATTR_CTIME) && trust_local_cmtime &&
	    fc->minor >= 23) {
		arg->valid |= FATTR_CTIME;
		arg->ctime = iattr->ia_ctime.tv_sec;
		arg->ctimensec = iattr->ia_ctime.tv_nsec;
	}
}

int fur_do_setattr(struct dentry *dentry, struct iattr *attr,
		   struct file *file)
{
	struct inode *inode = d_inode(dentry);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_conn *fc = fm->fc;
	struct fur_inode *fi = get_fur_inode(inode);
	struct fuse_setattr_in inarg = {};
	struct fuse_attr_out outarg = {};
	bool is_truncate = false;
	u64 attr_version;
	loff_t oldsize;
	int err;

	if (!fc->default_permissions)
		attr->ia_valid |= ATTR_FORCE;
	err = setattr_prepare(&nop_mnt_idmap, dentry, attr);
	if (err)
		return err;

	/*
	 * open(O_TRUNC) after the OPEN: with ATOMIC_O_TRUNC the OPEN has
	 * truncated the file (and, with HANDLE_KILLPRIV_V2, cleared set-ID
	 * bits), so only a set-ID kill by mode may be left to send.  The
	 * handle is not the server's business here, as in the kernel's FUSE.
	 */
	if (attr->ia_valid & ATTR_OPEN) {
		file = NULL;
		if (fc->atomic_o_trunc) {
			attr->ia_valid &= ~(ATTR_SIZE | ATTR_MTIME | ATTR_CTIME |
					    ATTR_OPEN | ATTR_FILE);
			if (fc->handle_killpriv_v2 ||
			    !(attr->ia_valid & (ATTR_KILL_SUID | ATTR_KILL_SGID)))
				return 0;
		}
	}

	if (attr->ia_valid & (ATTR_KILL_SUID | ATTR_KILL_SGID)) {
		bool kill = false;

		attr->ia_valid &= ~(ATTR_KILL_SUID | ATTR_KILL_SGID);
		if (fc->handle_killpriv_v2 && (attr->ia_valid & ATTR_SIZE)) {
			/* The server clears them with the truncate. */
			inarg.valid |= FATTR_KILL_SUIDGID;
		} else if (!(attr->ia_valid & ATTR_MODE)) {
			umode_t mode = inode->i_mode;

			if (mode & S_ISUID) {
				mode &= ~S_ISUID;
				kill = true;
			}
			/* Set-group-ID without group execute is a lock mark. */
			if ((mode & S_ISGID) && (mode & 0010)) {
				mode &= ~S_ISGID;
				kill = true;
			}
			if (kill) {
				attr->ia_mode = mode;
				attr->ia_valid |= ATTR_MODE;
			}
		}
	}
	if (!attr->ia_valid && !inarg.valid)
		return 0;

	if (attr->ia_valid & ATTR_SIZE) {
		if (WARN_ON(!S_ISREG(inode->i_mode)))
			return -EIO;
		is_truncate = true;
	}
	if (is_truncate) {
		filemap_write_and_wait(inode->i_mapping);
		set_bit(FUR_I_SIZE_UNSTABLE, &fi->state);
	}

	fur_iattr_to_fattr(fc, attr, &inarg,
			   fc->writeback_cache && S_ISREG(inode->i_mode));
	if (file && file->private_data) {
		struct fur_file *ff = file->private_data;

		inarg.valid |= FATTR_FH;
		inarg.fh = ff->fh;
	}
	attr_version = fur_get_attr_version(fc);
	err = fur_send_setattr(inode, &inarg, &outarg);
	if (err)
		goto out;
	if (fur_invalid_attr(&outarg.attr) ||
	    inode_wrong_type(inode, outarg.attr.mode)) {
		fur_make_bad(inode);
		err = -EIO;
		goto out;
	}
	oldsize = i_size_read(inode);
	if (is_truncate) {
		clear_bit(FUR_I_SIZE_UNSTABLE, &fi->state);
		spin_lock(&fi->lock);
		i_size_write(inode, outarg.attr.size);
		spin_unlock(&fi->lock);
	}
	fur_change_attributes(inode, &outarg.attr,
			      fur_time_to_jiffies(outarg.attr_valid,
						  outarg.attr_valid_nsec),
			      attr_version);
	if (is_truncate && outarg.attr.size < oldsize)
		truncate_pagecache(inode, outarg.attr.size);
	return 0;
out:
	if (is_truncate)
		clear_bit(FUR_I_SIZE_UNSTABLE, &fi->state);
	return err;
}

int fur_setattr(struct mnt_idmap *idmap, struct dentry *dentry,
		struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct file *file = (attr->ia_valid & ATTR_FILE) ? attr->ia_file :
							    NULL;

	if (fur_is_bad(inode))
		return -EIO;
	if (!fur_allow_current_process(get_fur_conn(inode)))
		return -EACCES;
	return fur_do_setattr(dentry, attr, file);
}

static int fur_access(struct inode *inode, int mask)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_access_in inarg = {};
	struct fur_args args = {};
	int err;

	if (fm->fc->no_access)
		return 0;
	inarg.mask = mask & (MAY_READ | MAY_WRITE | MAY_EXEC);
	args.opcode = FUSE_ACCESS;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_access = true;
		err = 0;
	}
	return err;
}

int fur_permission(struct mnt_idmap *idmap, struct inode *inode, int mask)
{
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_inode *fi = get_fur_inode(inode);
	bool expired;
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	if (!fur_allow_current_process(fc))
		return -EACCES;

	expired = READ_ONCE(fi->inval_mask) ||
		  !time_before64(get_jiffies_64(), READ_ONCE(fi->i_time));
	if (fc->default_permissions ||
	    ((mask & MAY_EXEC) && S_ISREG(inode->i_mode))) {
		if (expired) {
			if (mask & MAY_NOT_BLOCK)
				return -ECHILD;
			err = fur_do_getattr(inode, NULL);
			if (err)
				return err;
		}
	}
	if (fc->default_permissions)
		return generic_permission(&nop_mnt_idmap, inode, mask);

	if (mask & (MAY_ACCESS | MAY_CHDIR)) {
		if (mask & MAY_NOT_BLOCK)
			return -ECHILD;
		return fur_access(inode, mask);
	}
	if ((mask & MAY_EXEC) && S_ISREG(inode->i_mode) &&
	    !(inode->i_mode & 0111))
		return -EACCES;
	return 0;
}
