// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: regular files.  Open and release, flush and fsync, reads
 * and writes (write-through by default; direct I/O with bounce pages),
 * file creation, and the operations that only pass through to the
 * server (fallocate, lseek, copy_file_range).  The page cache side
 * (read_folio, readahead, writeback) is in aops.c, locks in locks.c.
 */

#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include <linux/writeback.h>

#include "fuseuring_i.h"

/*
 * inode: held from close until the server has answered RELEASE, as the
 * kernel's FUSE holds it, so that the FORGET of an evicted inode never
 * overtakes its RELEASE (FORGETs go first on the device).  libfuse's
 * high-level API drops a node at its last FORGET and aborts on a RELEASE
 * for a node it no longer knows.
 */
struct fur_release_args {
	struct fur_args args;
	struct fuse_release_in inarg;
	struct inode *inode;
};

/*
 * With the writeback cache the kernel reads pages to fill partial writes
 * and owns the file size, so a write-only open is widened to read-write
 * and O_APPEND is ours.
 */
static u32 fur_writeback_open_flags(struct fur_conn *fc, u32 flags)
{
	if (fc->writeback_cache) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

/* The O_ flags the server sees at OPEN: the name exists already. */
static u32 fur_open_flags(struct fur_conn *fc, unsigned int f_flags)
{
	u32 flags = f_flags & ~(O_CREAT | O_EXCL | O_NOCTTY);

	if (!fc->atomic_o_trunc)
		flags &= ~O_TRUNC;
	return fur_writeback_open_flags(fc, flags);
}

/*
 * The O_ flags the server sees at CREATE: all of the caller's but
 * O_NOCTTY, O_CREAT, O_EXCL and O_TRUNC included, as the kernel's FUSE
 * sends them.  Servers hand them to open(2) as they are (libfuse's
 * high-level passthrough_fh does open(path, fi->flags, mode)): without
 * O_CREAT that open fails with ENOENT.
 */
static u32 fur_create_flags(struct fur_conn *fc, unsigned int f_flags)
{
	return fur_writeback_open_flags(fc, f_flags & ~O_NOCTTY);
}

/*
 * A truncating open by a caller who may not keep set-user-ID and
 * set-group-ID bits: with HANDLE_KILLPRIV_V2 the server clears them.
 */
static bool fur_open_kills_suidgid(struct fur_conn *fc, u32 flags)
{
	return fc->handle_killpriv_v2 && (flags & O_TRUNC) &&
	       !capable(CAP_FSETID);
}

struct fur_file *fur_file_alloc(struct fur_mount *fm, u64 nodeid)
{
	struct fur_release_args *ra;
	struct fur_file *ff;

	ff = kzalloc(sizeof(*ff), GFP_KERNEL_ACCOUNT);
	if (!ff)
		return NULL;
	ra = kzalloc(sizeof(*ra), GFP_KERNEL_ACCOUNT);
	if (!ra) {
		kfree(ff);
		return NULL;
	}
	ff->release_args = &ra->args;
	ff->fm = fm;
	ff->nodeid = nodeid;
	ff->kh = atomic64_inc_return(&fm->fc->khctr);
	refcount_set(&ff->count, 1);
	mutex_init(&ff->readdir.lock);
	INIT_LIST_HEAD(&ff->write_entry);
	return ff;
}

static void fur_release_args_free(struct fur_release_args *ra)
{
	iput(ra->inode);
	kfree(ra);
}

static void fur_release_end(struct fur_mount *fm, struct fur_args *args,
			    int error)
{
	fur_release_args_free(container_of(args, struct fur_release_args,
					   args));
}

/*
 * The last reference: RELEASE goes out now, after every request that
 * used the handle (writeback holds a reference while it writes).
 */
static void fur_file_put_release(struct fur_file *ff, bool sync)
{
	struct fur_release_args *ra;

	if (!refcount_dec_and_test(&ff->count))
		return;
	ra = container_of(ff->release_args, struct fur_release_args, args);
	if (!ra->args.opcode) {
		fur_release_args_free(ra);
	} else if (sync) {
		fur_simple_request(ff->fm, &ra->args);
		fur_release_args_free(ra);
	} else if (fur_simple_background(ff->fm, &ra->args, GFP_KERNEL)) {
		fur_release_args_free(ra);
	}
	kfree(ff);
}

void fur_file_put(struct fur_file *ff)
{
	fur_file_put_release(ff, false);
}

struct fur_file *fur_file_get(struct fur_file *ff)
{
	refcount_inc(&ff->count);
	return ff;
}

/* Send OPEN or OPENDIR (opcode) with inarg; the reply lands in outarg. */
int fur_send_open(struct fur_mount *fm, u32 opcode, u64 nodeid,
		  struct fuse_open_in *inarg, struct fuse_open_out *outarg)
{
	struct fur_args args = {};

	args.opcode = opcode;
	args.nodeid = nodeid;
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(*inarg);
	args.in_args[0].value = inarg;
	args.out_numargs = 1;
	args.out_args[0].size = sizeof(*outarg);
	args.out_args[0].value = outarg;
	return fur_simple_request(fm, &args);
}

/*
 * Prepare the RELEASE this handle will need, so release never fails;
 * flags: the O_ flags its OPEN or OPENDIR sent.  fur_release_common()
 * makes it a RELEASEDIR for a directory.
 */
void fur_prepare_release(struct fur_file *ff, u32 flags)
{
	struct fur_release_args *ra;

	ra = container_of(ff->release_args, struct fur_release_args, args);
	ra->inarg.fh = ff->fh;
	ra->inarg.flags = flags;
	ra->args.opcode = FUSE_RELEASE;
	ra->args.nodeid = ff->nodeid;
	ra->args.in_numargs = 1;
	ra->args.in_args[0].size = sizeof(ra->inarg);
	ra->args.in_args[0].value = &ra->inarg;
	ra->args.force = true;
	ra->args.nocreds = true;
	ra->args.end = fur_release_end;
}

/* What the server's open reply means for the open file and the cache. */
void fur_finish_open(struct inode *inode, struct file *file)
{
	struct fur_file *ff = file->private_data;
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_inode *fi = get_fur_inode(inode);

	if (ff->open_flags & FOPEN_STREAM)
		stream_open(inode, file);
	else if (ff->open_flags & FOPEN_NONSEEKABLE)
		nonseekable_open(inode, file);

	if ((file->f_flags & O_TRUNC) && fc->atomic_o_trunc &&
	    (file->f_mode & FMODE_WRITE)) {
		/* The server truncated: so do we. */
		spin_lock(&fi->lock);
		fi->attr_version = atomic64_inc_return(&fc->attr_version);
		i_size_write(inode, 0);
		spin_unlock(&fi->lock);
		truncate_pagecache(inode, 0);
		fur_invalidate_attr(inode);
	} else if (!(ff->open_flags & FOPEN_KEEP_CACHE) && !fc->no_open) {
		/* Another client may have changed the file meanwhile. */
		invalidate_inode_pages2(inode->i_mapping);
	}

	if ((file->f_mode & FMODE_WRITE) && S_ISREG(inode->i_mode)) {
		spin_lock(&fi->lock);
		list_add(&ff->write_entry, &fi->write_files);
		spin_unlock(&fi->lock);
	}
}

int fur_open_common(struct inode *inode, struct file *file, bool isdir)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_conn *fc = fm->fc;
	struct fuse_open_in inarg = {};
	struct fuse_open_out outarg = {};
	struct fur_file *ff;
	bool truncating;
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	err = generic_file_open(inode, file);
	if (err)
		return err;
	ff = fur_file_alloc(fm, get_node_id(inode));
	if (!ff)
		return -ENOMEM;

	truncating = (file->f_flags & O_TRUNC) && fc->atomic_o_trunc &&
		     (file->f_mode & FMODE_WRITE);
	if (truncating) {
		inode_lock(inode);
		/* Dirty pages must not land after the server's truncate. */
		filemap_write_and_wait(inode->i_mapping);
		set_bit(FUR_I_SIZE_UNSTABLE, &get_fur_inode(inode)->state);
	}
	if (!fc->no_open) {
		inarg.flags = fur_open_flags(fc, file->f_flags);
		if (fur_open_kills_suidgid(fc, inarg.flags))
			inarg.open_flags |= FUSE_OPEN_KILL_SUIDGID;
		err = fur_send_open(fm, FUSE_OPEN, ff->nodeid, &inarg, &outarg);
		if (err == -FUR_ENOSYS) {
			fc->no_open = true;
			err = 0;
		} else if (!err) {
			ff->fh = outarg.fh;
			ff->open_flags = outarg.open_flags;
			fur_prepare_release(ff, inarg.flags);
		}
	}
	if (fc->no_open)
		ff->open_flags = FOPEN_KEEP_CACHE;
	if (truncating)
		clear_bit(FUR_I_SIZE_UNSTABLE, &get_fur_inode(inode)->state);
	if (err) {
		if (truncating)
			inode_unlock(inode);
		fur_file_put(ff);
		return err;
	}
	file->private_data = ff;
	fur_finish_open(inode, file);
	if (truncating)
		inode_unlock(inode);
	return 0;
}

static int fur_open(struct inode *inode, struct file *file)
{
	return fur_open_common(inode, file, false);
}

void fur_release_common(struct file *file, bool isdir)
{
	struct fur_file *ff = file->private_data;
	struct fur_inode *fi = get_fur_inode(file_inode(file));
	struct fur_release_args *ra;

	ra = container_of(ff->release_args, struct fur_release_args, args);
	if (!list_empty(&ff->write_entry)) {
		spin_lock(&fi->lock);
		list_del_init(&ff->write_entry);
		spin_unlock(&fi->lock);
	}
	if (ra->args.opcode) {
		if (ff->flock) {
			/* The server drops the flock held through this file. */
			ra->inarg.release_flags |= FUSE_RELEASE_FLOCK_UNLOCK;
			ra->inarg.lock_owner =
				fur_lock_owner_id(ff->fm->fc, file);
		}
		if (isdir)
			ra->args.opcode = FUSE_RELEASEDIR;
		ra->inode = igrab(file_inode(file));
	}
	/*
	 * A flock dies with the file: the server must have dropped it
	 * before close() returns, so that the next flock() succeeds.
	 */
	fur_file_put_release(ff, ff->flock);
}

static int fur_release(struct inode *inode, struct file *file)
{
	/*
	 * Write dirty pages (writeback cache, or a shared mapping that is
	 * going away) while this handle can still carry them: without an
	 * open file for writing, writeback has no handle to send them with.
	 */
	if (file->f_mode & FMODE_WRITE)
		write_inode_now(inode, 1);
	fur_release_common(file, false);
	return 0;
}

static int fur_flush(struct file *file, fl_owner_t id)
{
	struct inode *inode = file_inode(file);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_file *ff = file->private_data;
	struct fuse_flush_in inarg = {};
	struct fur_args args = {};
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	if ((ff->open_flags & FOPEN_NOFLUSH) && !fm->fc->writeback_cache)
		return 0;
	err = write_inode_now(inode, 1);
	if (err)
		return err;
	inode_lock(inode);
	err = filemap_check_errors(file->f_mapping);
	inode_unlock(inode);
	if (err)
		return err;
	if (fm->fc->no_flush)
		return 0;

	inarg.fh = ff->fh;
	inarg.lock_owner = fur_lock_owner_id(fm->fc, id);
	args.opcode = FUSE_FLUSH;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.force = true;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_flush = true;
		err = 0;
	}
	return err;
}

/* Send FSYNC or FSYNCDIR (opcode) for file's handle: the answer. */
int fur_send_fsync(struct file *file, u32 opcode, int datasync)
{
	struct inode *inode = file_inode(file);
	struct fur_file *ff = file->private_data;
	struct fuse_fsync_in inarg = {};
	struct fur_args args = {};

	inarg.fh = ff->fh;
	inarg.fsync_flags = datasync ? FUSE_FSYNC_FDATASYNC : 0;
	args.opcode = opcode;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	return fur_simple_request(get_fur_mount(inode), &args);
}

static int fur_fsync(struct file *file, loff_t start, loff_t end,
		     int datasync)
{
	struct inode *inode = file_inode(file);
	struct fur_mount *fm = get_fur_mount(inode);
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	inode_lock(inode);
	err = file_write_and_wait_range(file, start, end);
	if (err)
		goto out;
	/* Times the writeback cache keeps in the kernel go out too. */
	err = sync_inode_metadata(inode, 1);
	if (err)
		goto out;
	if (fm->fc->no_fsync)
		goto out;
	err = fur_send_fsync(file, FUSE_FSYNC, datasync);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_fsync = true;
		err = 0;
	}
out:
	inode_unlock(inode);
	return err;
}

/* The most bytes one READ or WRITE request may carry. */
static size_t fur_max_io(struct fur_conn *fc, bool write)
{
	size_t max = write ? fc->max_write : fc->max_read;

	max = min_t(size_t, max, (size_t)fc->max_pages << PAGE_SHIFT);
	return max_t(size_t, max, PAGE_SIZE);
}

/* Fill in a READ of count bytes at pos into the pages of ap. */
void fur_read_args(struct fur_args_pages *ap, struct fuse_read_in *inarg,
		   struct fur_file *ff, struct file *file, loff_t pos,
		   size_t count)
{
	struct fur_args *args = &ap->args;

	inarg->fh = ff->fh;
	inarg->offset = pos;
	inarg->size = count;
	inarg->flags = file ? file->f_flags : 0;
	args->opcode = FUSE_READ;
	args->nodeid = ff->nodeid;
	args->in_numargs = 1;
	args->in_args[0].size = sizeof(*inarg);
	args->in_args[0].value = inarg;
	args->out_numargs = 1;
	args->out_args[0].size = count;
	args->out_argvar = true;
	args->out_pages = true;
	args->zero_copy = !!(ff->open_flags & FOPEN_IO_URING_ZERO_COPY);
}

/* Fill in a WRITE of count bytes at pos from the pages of ap. */
void fur_write_args(struct fur_args_pages *ap, struct fuse_write_in *inarg,
		    struct fuse_write_out *outarg, struct fur_file *ff,
		    loff_t pos, size_t count)
{
	struct fur_args *args = &ap->args;
	struct fur_conn *fc = ff->fm->fc;

	inarg->fh = ff->fh;
	inarg->offset = pos;
	inarg->size = count;
	args->opcode = FUSE_WRITE;
	args->nodeid = ff->nodeid;
	args->in_numargs = 2;
	args->in_args[0].size = fc->minor < 9 ? FUSE_COMPAT_WRITE_IN_SIZE :
						sizeof(*inarg);
	args->in_args[0].value = inarg;
	args->in_args[1].size = count;
	args->in_pages = true;
	args->out_numargs = 1;
	args->out_args[0].size = sizeof(*outarg);
	args->out_args[0].value = outarg;
	args->zero_copy = !!(ff->open_flags & FOPEN_IO_URING_ZERO_COPY);
}

/* The file grew to pos (or its data changed): refresh what we cache. */
void fur_write_update_size(struct inode *inode, loff_t pos)
{
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_inode *fi = get_fur_inode(inode);

	spin_lock(&fi->lock);
	/* Older attribute replies must not undo the new size. */
	fi->attr_version = atomic64_inc_return(&fc->attr_version);
	if (pos > i_size_read(inode))
		i_size_write(inode, pos);
	spin_unlock(&fi->lock);
	fur_invalidate_attr(inode);
}

/* Kernel pages that carry a user buffer's data to and from the server. */
struct fur_bounce {
	struct fur_args_pages ap;
	unsigned int nr;
};

static void fur_bounce_free(struct fur_bounce *b)
{
	unsigned int i;

	for (i = 0; i < b->nr; i++)
		if (b->ap.pages[i])
			__free_page(b->ap.pages[i]);
	kfree(b->ap.pages);
	kfree(b->ap.descs);
}

static int fur_bounce_alloc(struct fur_bounce *b, size_t bytes)
{
	unsigned int i;

	memset(b, 0, sizeof(*b));
	b->nr = DIV_ROUND_UP(bytes, PAGE_SIZE);
	b->ap.pages = kcalloc(b->nr, sizeof(*b->ap.pages), GFP_KERNEL);
	b->ap.descs = kcalloc(b->nr, sizeof(*b->ap.descs), GFP_KERNEL);
	if (!b->ap.pages || !b->ap.descs)
		goto nomem;
	for (i = 0; i < b->nr; i++) {
		b->ap.pages[i] = alloc_page(GFP_KERNEL);
		if (!b->ap.pages[i])
			goto nomem;
	}
	return 0;
nomem:
	fur_bounce_free(b);
	return -ENOMEM;
}

/* Describe the first count bytes of the bounce pages. */
static void fur_bounce_set(struct fur_bounce *b, size_t count)
{
	unsigned int i;

	memset(&b->ap.args, 0, sizeof(b->ap.args));
	b->ap.num_pages = DIV_ROUND_UP(count, PAGE_SIZE);
	for (i = 0; i < b->ap.num_pages; i++) {
		b->ap.descs[i].offset = 0;
		b->ap.descs[i].length = min_t(size_t, PAGE_SIZE,
					      count - i * PAGE_SIZE);
	}
}

/* Whether this write must ask the server to drop set-user/group-ID. */
static bool fur_write_kills_suidgid(struct inode *inode)
{
	return get_fur_conn(inode)->handle_killpriv_v2 &&
	       (inode->i_mode & (S_ISUID | S_ISGID)) &&
	       !capable(CAP_FSETID);
}

/*
 * Direct I/O: the user buffer goes to the server through bounce pages,
 * in requests of at most max_read / max_write bytes.  A short answer
 * ends the transfer.  Returns the bytes done, or an error if none were.
 */
static ssize_t fur_direct_io(struct kiocb *iocb, struct iov_iter *iter,
			     bool write)
{
	struct file *file = iocb->ki_filp;
	struct inode *inode = file_inode(file);
	struct fur_file *ff = file->private_data;
	struct fur_mount *fm = ff->fm;
	size_t max = fur_max_io(fm->fc, write);
	bool kill = write && fur_write_kills_suidgid(inode);
	loff_t pos = iocb->ki_pos;
	struct fur_bounce b;
	ssize_t done = 0;
	int err;

	err = fur_bounce_alloc(&b, min(max, iov_iter_count(iter)));
	if (err)
		return err;
	while (iov_iter_count(iter)) {
		size_t count = min(max, iov_iter_count(iter));
		size_t moved = 0;
		ssize_t res;
		unsigned int i;

		fur_bounce_set(&b, count);
		if (write) {
			struct fuse_write_in inarg = {};
			struct fuse_write_out outarg = {};

			for (i = 0; i < b.ap.num_pages; i++) {
				size_t len = b.ap.descs[i].length;
				size_t n = copy_page_from_iter(b.ap.pages[i], 0,
							       len, iter);

				moved += n;
				if (n < len)
					break;
			}
			if (!moved) {
				err = -EFAULT;
				break;
			}
			if (moved < count) {
				count = moved;
				fur_bounce_set(&b, count);
			}
			fur_write_args(&b.ap, &inarg, &outarg, ff, pos, count);
			inarg.flags = file->f_flags;
			if (kill)
				inarg.write_flags |= FUSE_WRITE_KILL_SUIDGID;
			res = fur_simple_request(fm, &b.ap.args);
			if (!res && outarg.size > count)
				res = -EIO;
			if (!res)
				res = outarg.size;
			if (res < 0) {
				iov_iter_revert(iter, count);
				err = res;
				break;
			}
			if (res < count)
				iov_iter_revert(iter, count - res);
		} else {
			struct fuse_read_in inarg = {};

			fur_read_args(&b.ap, &inarg, ff, file, pos, count);
			res = fur_simple_request(fm, &b.ap.args);
			if (res < 0) {
				err = res;
				break;
			}
			for (i = 0; i < b.ap.num_pages && moved < res; i++) {
				size_t len = min_t(size_t, PAGE_SIZE, res - moved);
				/*
				 * Copied, not copy_page_to_iter(): 6.1 would
				 * link the page into a splice pipe, whose
				 * reader refuses pages without a mapping.
				 */
				void *addr = kmap_local_page(b.ap.pages[i]);
				size_t n = copy_to_iter(addr, len, iter);

				kunmap_local(addr);
				moved += n;
				if (n < len)
					break;
			}
			if (moved < res) {
				/* The user buffer faulted: report what landed. */
				done += moved;
				pos += moved;
				if (!done)
					err = -EFAULT;
				break;
			}
		}
		done += res;
		pos += res;
		if (res < count)
			break;
	}
	fur_bounce_free(&b);
	if (done) {
		iocb->ki_pos = pos;
		return done;
	}
	return err;
}

static bool fur_want_direct(struct kiocb *iocb)
{
	struct fur_file *ff = iocb->ki_filp->private_data;

	return (ff->open_flags & FOPEN_DIRECT_IO) ||
	       (iocb->ki_flags & IOCB_DIRECT);
}

static ssize_t fur_file_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *file = iocb->ki_filp;
	struct inode *inode = file_inode(file);
	struct fur_conn *fc = get_fur_conn(inode);
	size_t count = iov_iter_count(to);
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	if (!count)
		return 0;
	if (fur_want_direct(iocb)) {
		if (iocb->ki_flags & IOCB_NOWAIT)
			return -EAGAIN;
		/* The server must see what the page cache holds dirty. */
		err = filemap_write_and_wait_range(file->f_mapping,
						   iocb->ki_pos,
						   iocb->ki_pos + count - 1);
		if (err)
			return err;
		return fur_direct_io(iocb, to, false);
	}
	/* Reading towards the end: the file may have grown elsewhere. */
	if (fc->auto_inval_data ||
	    iocb->ki_pos + count > i_size_read(inode)) {
		if (iocb->ki_flags & IOCB_NOWAIT)
			return -EAGAIN;
		err = fur_update_attributes(inode, file, STATX_SIZE);
		if (err)
			return err;
	}
	return generic_file_read_iter(iocb, to);
}

/*
 * Write-through (and direct I/O): the data goes to the server now; the
 * page cache over the range is written back first and dropped after,
 * so that later reads see what the server stored.
 */
static ssize_t fur_write_through(struct kiocb *iocb, struct iov_iter *from)
{
	struct file *file = iocb->ki_filp;
	struct inode *inode = file_inode(file);
	struct fur_conn *fc = get_fur_conn(inode);
	struct address_space *mapping = file->f_mapping;
	loff_t pos;
	ssize_t ret;

	if (iocb->ki_flags & IOCB_NOWAIT)
		return -EAGAIN;
	inode_lock(inode);
	if ((iocb->ki_flags & IOCB_APPEND) && !fc->writeback_cache) {
		/* Another writer may have grown the file on the server. */
		fur_invalidate_attr(inode);
		ret = fur_update_attributes(inode, file, STATX_SIZE);
		if (ret)
			goto out;
	}
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		goto out;
	if (!fc->handle_killpriv_v2) {
		ret = file_remove_privs(file);
		if (ret)
			goto out;
	}
	pos = iocb->ki_pos;
	ret = filemap_write_and_wait_range(mapping, pos,
					   pos + iov_iter_count(from) - 1);
	if (ret)
		goto out;
	ret = fur_direct_io(iocb, from, true);
	if (ret > 0) {
		invalidate_inode_pages2_range(mapping, pos >> PAGE_SHIFT,
					      (pos + ret - 1) >> PAGE_SHIFT);
		fur_write_update_size(inode, iocb->ki_pos);
	}
out:
	inode_unlock(inode);
	if (ret > 0)
		ret = generic_write_sync(iocb, ret);
	return ret;
}

static ssize_t fur_file_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);

	if (fur_is_bad(inode))
		return -EIO;
	if (get_fur_conn(inode)->writeback_cache && !fur_want_direct(iocb))
		return generic_file_write_iter(iocb, from);
	return fur_write_through(iocb, from);
}

static long fur_file_fallocate(struct file *file, int mode, loff_t offset,
			       loff_t length)
{
	struct inode *inode = file_inode(file);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_file *ff = file->private_data;
	struct fuse_fallocate_in inarg = {};
	struct fur_args args = {};
	bool drops = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
	loff_t end = offset + length;
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
		     FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if (fm->fc->no_fallocate)
		return -EOPNOTSUPP;

	inode_lock(inode);
	if (drops) {
		err = filemap_write_and_wait_range(inode->i_mapping, offset,
						   end - 1);
		if (err)
			goto out;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > i_size_read(inode)) {
		err = inode_newsize_ok(inode, end);
		if (err)
			goto out;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE)) {
		err = file_modified(file);
		if (err)
			goto out;
	}
	inarg.fh = ff->fh;
	inarg.offset = offset;
	inarg.length = length;
	inarg.mode = mode;
	args.opcode = FUSE_FALLOCATE;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_fallocate = true;
		err = -EOPNOTSUPP;
	}
	if (err)
		goto out;
	if (drops)
		truncate_pagecache_range(inode, offset, end - 1);
	if (!(mode & FALLOC_FL_KEEP_SIZE))
		fur_write_update_size(inode, end);
	else
		fur_invalidate_attr(inode);
out:
	inode_unlock(inode);
	return err;
}

static loff_t fur_lseek_data(struct file *file, loff_t offset, int whence)
{
	struct inode *inode = file_inode(file);
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_file *ff = file->private_data;
	struct fuse_lseek_in inarg = {};
	struct fuse_lseek_out outarg = {};
	struct fur_args args = {};
	int err;

	if (fm->fc->no_lseek)
		goto fallback;
	/* The server must know what the page cache holds dirty. */
	err = filemap_write_and_wait(inode->i_mapping);
	if (err)
		return err;
	inarg.fh = ff->fh;
	inarg.offset = offset;
	inarg.whence = whence;
	args.opcode = FUSE_LSEEK;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.out_numargs = 1;
	args.out_args[0].size = sizeof(outarg);
	args.out_args[0].value = &outarg;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_lseek = true;
		goto fallback;
	}
	if (err)
		return err;
	return vfs_setpos(file, outarg.offset, inode->i_sb->s_maxbytes);

fallback:
	err = fur_update_attributes(inode, file, STATX_SIZE);
	if (err)
		return err;
	return generic_file_llseek(file, offset, whence);
}

static loff_t fur_file_llseek(struct file *file, loff_t offset, int whence)
{
	struct inode *inode = file_inode(file);
	loff_t ret;
	int err;

	if (fur_is_bad(inode))
		return -EIO;
	switch (whence) {
	case SEEK_SET:
	case SEEK_CUR:
		return generic_file_llseek(file, offset, whence);
	case SEEK_END:
		inode_lock(inode);
		err = fur_update_attributes(inode, file, STATX_SIZE);
		ret = err ? err : generic_file_llseek(file, offset, whence);
		inode_unlock(inode);
		return ret;
	case SEEK_DATA:
	case SEEK_HOLE:
		inode_lock(inode);
		ret = fur_lseek_data(file, offset, whence);
		inode_unlock(inode);
		return ret;
	}
	return -EINVAL;
}

static ssize_t fur_copy_range(struct file *file_in, loff_t pos_in,
			      struct file *file_out, loff_t pos_out,
			      size_t len, unsigned int flags)
{
	struct inode *inode_in = file_inode(file_in);
	struct inode *inode_out = file_inode(file_out);
	struct fur_file *ff_in = file_in->private_data;
	struct fur_file *ff_out = file_out->private_data;
	struct fur_mount *fm = ff_in->fm;
	struct fuse_copy_file_range_in inarg = {};
	struct fuse_write_out outarg = {};
	struct fur_args args = {};
	ssize_t err;

	if (flags)
		return -EINVAL;
	if (file_in->f_op != file_out->f_op ||
	    get_fur_conn(inode_in) != get_fur_conn(inode_out))
		return -EXDEV;
	if (fm->fc->no_copy_file_range)
		return -EOPNOTSUPP;
	if (fur_is_bad(inode_in) || fur_is_bad(inode_out))
		return -EIO;

	/* Both sides as the server will see them. */
	err = filemap_write_and_wait_range(inode_in->i_mapping, pos_in,
					   pos_in + len - 1);
	if (err)
		return err;
	inode_lock(inode_out);
	err = file_modified(file_out);
	if (err)
		goto out;
	err = filemap_write_and_wait_range(inode_out->i_mapping, pos_out,
					   pos_out + len - 1);
	if (err)
		goto out;
	inarg.fh_in = ff_in->fh;
	inarg.off_in = pos_in;
	inarg.nodeid_out = ff_out->nodeid;
	inarg.fh_out = ff_out->fh;
	inarg.off_out = pos_out;
	inarg.len = len;
	inarg.flags = flags;
	args.opcode = FUSE_COPY_FILE_RANGE;
	args.nodeid = ff_in->nodeid;
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.out_numargs = 1;
	args.out_args[0].size = sizeof(outarg);
	args.out_args[0].value = &outarg;
	err = fur_simple_request(fm, &args);
	if (err == -FUR_ENOSYS) {
		fm->fc->no_copy_file_range = true;
		err = -EOPNOTSUPP;
	}
	if (err)
		goto out;
	if (outarg.size > len) {
		err = -EIO;
		goto out;
	}
	truncate_inode_pages_range(inode_out->i_mapping, pos_out,
				   pos_out + outarg.size - 1);
	fur_write_update_size(inode_out, pos_out + outarg.size);
	err = outarg.size;
out:
	inode_unlock(inode_out);
	return err;
}

static ssize_t fur_copy_file_range(struct file *file_in, loff_t pos_in,
				   struct file *file_out, loff_t pos_out,
				   size_t len, unsigned int flags)
{
	ssize_t ret = fur_copy_range(file_in, pos_in, file_out, pos_out, len,
				     flags);

	/* The server cannot: copy through the page cache instead. */
	if (ret == -EOPNOTSUPP || ret == -EXDEV)
		ret = fur_splice_copy_file_range(file_in, pos_in, file_out,
						 pos_out, len);
	return ret;
}

/* Direct I/O files splice through read_iter: their data is not cached. */
static ssize_t fur_file_splice_read(struct file *in, loff_t *ppos,
				    struct pipe_inode_info *pipe, size_t len,
				    unsigned int flags)
{
#if FUR_HAVE_COPY_SPLICE_READ
	struct fur_file *ff = in->private_data;

	if (ff->open_flags & FOPEN_DIRECT_IO)
		return copy_splice_read(in, ppos, pipe, len, flags);
#endif
	return fur_filemap_splice_read(in, ppos, pipe, len, flags);
}

static const struct file_operations fur_file_operations = {
	.llseek		= fur_file_llseek,
	.read_iter	= fur_file_read_iter,
	.write_iter	= fur_file_write_iter,
	.mmap		= fur_file_mmap,
	.open		= fur_open,
	.flush		= fur_flush,
	.release	= fur_release,
	.fsync		= fur_fsync,
	.lock		= fur_file_lock,
	.flock		= fur_file_flock,
	.splice_read	= fur_file_splice_read,
	.splice_write	= iter_file_splice_write,
	.fallocate	= fur_file_fallocate,
	.copy_file_range = fur_copy_file_range,
	.unlocked_ioctl	= fur_file_ioctl,
	.compat_ioctl	= fur_file_compat_ioctl,
};

void fur_init_file_inode(struct inode *inode, unsigned int attr_flags)
{
	/* A regular file has the inode operations of every other inode. */
	fur_init_common(inode);
	inode->i_fop = &fur_file_operations;
	inode->i_data.a_ops = &fur_file_aops;
}

/* FUSE_CREATE: make and open the file in one request. */
static int fur_create_open(struct inode *dir, struct dentry *entry,
			   struct file *file, unsigned int flags, umode_t mode)
{
	struct fur_mount *fm = get_fur_mount(dir);
	struct fur_conn *fc = fm->fc;
	struct fuse_create_in inarg = {};
	struct fuse_entry_out outentry = {};
	struct fuse_open_out outopen = {};
	struct fur_args args = {};
	struct fur_file *ff;
	struct inode *inode;
	int err;

	if (entry->d_name.len > FUR_NAME_MAX)
		return -ENAMETOOLONG;
	ff = fur_file_alloc(fm, 0);
	if (!ff)
		return -ENOMEM;
	inarg.flags = fur_create_flags(fc, flags);
	/* O_EXCL: the file is new, there is nothing to kill. */
	if (!(flags & O_EXCL) && fur_open_kills_suidgid(fc, inarg.flags))
		inarg.open_flags |= FUSE_OPEN_KILL_SUIDGID;
	inarg.mode = mode;
	inarg.umask = current_umask();
	args.opcode = FUSE_CREATE;
	args.nodeid = get_node_id(dir);
	args.in_numargs = 2;
	args.in_args[0].size = sizeof(inarg);
	args.in_args[0].value = &inarg;
	args.in_args[1].size = entry->d_name.len + 1;
	args.in_args[1].value = entry->d_name.name;
	args.out_numargs = 2;
	args.out_args[0].size = fur_entry_out_size(fc);
	args.out_args[0].value = &outentry;
	args.out_args[1].size = sizeof(outopen);
	args.out_args[1].value = &outopen;
	err = fur_simple_request(fm, &args);
	if (err)
		goto out_free;
	ff->nodeid = outentry.nodeid;
	ff->fh = outopen.fh;
	ff->open_flags = outopen.open_flags;
	fur_prepare_release(ff, fur_open_flags(fc, flags));
	if (!S_ISREG(outentry.attr.mode) || fur_invalid_attr(&outentry.attr) ||
	    !outentry.nodeid || outentry.nodeid == FUSE_ROOT_ID) {
		err = -EIO;
		goto out_put;
	}
	inode = fur_iget(dir->i_sb, outentry.nodeid, outentry.generation,
			 &outentry.attr,
			 fur_time_to_jiffies(outentry.attr_valid,
					     outentry.attr_valid_nsec), 0);
	if (!inode) {
		struct fur_forget_link *forget = fur_alloc_forget();

		/* We owe the server this lookup. */
		if (forget)
			fur_queue_forget(fc, forget, outentry.nodeid, 1);
		err = -ENOMEM;
		goto out_put;
	}
	d_instantiate(entry, inode);
	fur_change_entry_timeout(entry, &outentry);
	fur_invalidate_attr(dir);
	file->private_data = ff;
	err = finish_open(file, entry, generic_file_open);
	if (err) {
		file->private_data = NULL;
		goto out_put;
	}
	file->f_mode |= FMODE_CREATED;
	fur_finish_open(inode, file);
	return 0;

out_put:
	/* The server opened a handle: it gets its RELEASE. */
	fur_file_put(ff);
	return err;
out_free:
	fur_file_put(ff);
	return err;
}

int fur_atomic_open(struct inode *dir, struct dentry *entry,
		    struct file *file, unsigned int flags, umode_t mode)
{
	struct fur_conn *fc = get_fur_conn(dir);
	struct dentry *res = NULL;
	int err;

	if (fur_is_bad(dir))
		return -EIO;
	if (d_in_lookup(entry)) {
		res = fur_lookup(dir, entry, 0);
		if (IS_ERR(res))
			return PTR_ERR(res);
		if (res)
			entry = res;
	}
	if (!(flags & O_CREAT) || d_really_is_positive(entry))
		goto no_open;

	/* Only O_CREAT of a name that does not exist gets here. */
	if (!fc->no_create) {
		err = fur_create_open(dir, entry, file, flags, mode);
		if (err != -FUR_ENOSYS)
			goto out;
		fc->no_create = true;
	}
	/* No CREATE on the server: MKNOD, then the VFS opens with OPEN. */
	err = dir->i_op->mknod(&nop_mnt_idmap, dir, entry, mode, 0);
	if (err)
		goto out;
	file->f_mode |= FMODE_CREATED;
	if (d_really_is_negative(entry)) {
		/* mknod bound another dentry: let the VFS look it up. */
		dput(res);
		return finish_no_open(file, NULL);
	}
no_open:
	return finish_no_open(file, res);
out:
	dput(res);
	return err;
}
