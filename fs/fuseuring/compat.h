/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VFS, folio and io_uring interfaces fuseuring uses moved between
 * 6.1, 6.12 and 7.3.  This header is the only place that knows: the
 * build tests the kernel for each change (conftest.sh writes the
 * FUR_HAVE_* bits into features.h) and this header gives the rest of
 * the module one spelling for each interface.  Tested by building
 * against, and running on, Debian's 6.1, 6.12 and 7.3.
 */
#ifndef _FS_FUSEURING_COMPAT_H
#define _FS_FUSEURING_COMPAT_H

#include <linux/fs.h>
#include <linux/dcache.h>
#include <linux/magic.h>
#include <linux/pagemap.h>
#include <linux/splice.h>
#include <linux/uio.h>

/* FUR_HAVE_*: what fs/fuseuring/conftest.sh found in this kernel. */
#include "features.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC	0x65735546
#endif

/*
 * Before 6.3 the inode operations took the mount's user namespace where
 * they now take its idmap; both are "no mapping" for fuseuring, which
 * does not allow idmapped mounts.
 */
#if !FUR_HAVE_MNT_IDMAP
#define mnt_idmap	user_namespace
#define nop_mnt_idmap	init_user_ns
#endif

#if FUR_HAVE_CONST_S_XATTR
#define FUR_S_XATTR_CONST const
#else
#define FUR_S_XATTR_CONST
#endif

static inline void fur_generic_fillattr(struct mnt_idmap *idmap,
					u32 request_mask, struct inode *inode,
					struct kstat *stat)
{
#if FUR_HAVE_FILLATTR_REQUEST_MASK
	generic_fillattr(idmap, request_mask, inode, stat);
#else
	generic_fillattr(idmap, inode, stat);
#endif
}

#if !FUR_HAVE_INODE_TIME_ACCESSORS
static inline struct timespec64 inode_set_atime(struct inode *inode,
						time64_t sec, long nsec)
{
	inode->i_atime = (struct timespec64){ .tv_sec = sec, .tv_nsec = nsec };
	return inode->i_atime;
}

static inline struct timespec64 inode_set_mtime(struct inode *inode,
						time64_t sec, long nsec)
{
	inode->i_mtime = (struct timespec64){ .tv_sec = sec, .tv_nsec = nsec };
	return inode->i_mtime;
}

static inline struct timespec64 inode_get_mtime(const struct inode *inode)
{
	return inode->i_mtime;
}

static inline struct timespec64 inode_get_atime(const struct inode *inode)
{
	return inode->i_atime;
}

static inline struct timespec64 inode_set_mtime_to_ts(struct inode *inode,
						      struct timespec64 ts)
{
	inode->i_mtime = ts;
	return ts;
}

static inline struct timespec64 inode_set_atime_to_ts(struct inode *inode,
						      struct timespec64 ts)
{
	inode->i_atime = ts;
	return ts;
}
#endif

/* True for an inode iget5_locked() has just made. */
static inline bool fur_inode_is_new(struct inode *inode)
{
#if FUR_HAVE_INODE_STATE_ACCESSORS
	return inode_state_read_once(inode) & I_NEW;
#else
	return inode->i_state & I_NEW;
#endif
}

/* fuseuring never keeps an unused inode: the server holds the truth. */
#if FUR_HAVE_INODE_JUST_DROP
#define fur_drop_inode	inode_just_drop
#else
#define fur_drop_inode	generic_delete_inode
#endif

static inline void fur_set_default_d_op(struct super_block *sb,
					const struct dentry_operations *ops)
{
#if FUR_HAVE_SET_DEFAULT_D_OP
	set_default_d_op(sb, ops);
#else
	sb->s_d_op = ops;
#endif
}

/* File locks moved to their own header (6.3) and core struct (6.9). */
#if FUR_HAVE_FILELOCK_H
#include <linux/filelock.h>
#endif
#if FUR_HAVE_FILE_LOCK_CORE
#define fur_fl(fl, field)	((fl)->c.flc_##field)
#else
#define fur_fl(fl, field)	((fl)->fl_##field)
#endif

/*
 * A locked folio to write into: FGP_WRITEBEGIN arrived in 6.3, and
 * __filemap_get_folio() answered NULL instead of an ERR_PTR before 6.4.
 */
#ifndef FGP_WRITEBEGIN
#define FGP_WRITEBEGIN	(FGP_LOCK | FGP_WRITE | FGP_CREAT | FGP_STABLE)
#endif

static inline struct folio *
fur_filemap_get_folio_writebegin(struct address_space *mapping, pgoff_t index)
{
	struct folio *folio = __filemap_get_folio(mapping, index, FGP_WRITEBEGIN,
						  mapping_gfp_mask(mapping));

	return folio ?: ERR_PTR(-ENOMEM);
}

/* Splice reads from the page cache (6.5 renamed the helper). */
#if FUR_HAVE_FILEMAP_SPLICE_READ
#define fur_filemap_splice_read	filemap_splice_read
#else
#define fur_filemap_splice_read	generic_file_splice_read
#endif

/* copy_file_range() through the page cache, when the server cannot. */
static inline ssize_t fur_splice_copy_file_range(struct file *in, loff_t pos_in,
						 struct file *out,
						 loff_t pos_out, size_t len)
{
#if FUR_HAVE_SPLICE_COPY_FILE_RANGE
	return splice_copy_file_range(in, pos_in, out, pos_out, len);
#else
	return generic_copy_file_range(in, pos_in, out, pos_out, len, 0);
#endif
}

/* d_alloc_parallel() lost its wait queue: the dcache has its own now. */
static inline struct dentry *fur_d_alloc_parallel(struct dentry *parent,
						  const struct qstr *name,
						  wait_queue_head_t *wq)
{
#if FUR_HAVE_D_ALLOC_PARALLEL_NO_WQ
	return d_alloc_parallel(parent, name);
#else
	return d_alloc_parallel(parent, name, wq);
#endif
}

/* An iterator over one user buffer, checked (6.4 has it ready-made). */
#if !FUR_HAVE_IMPORT_UBUF
static inline int import_ubuf(int rw, void __user *buf, size_t len,
			      struct iov_iter *i)
{
	if (len > MAX_RW_COUNT || !access_ok(buf, len))
		return -EFAULT;
	iov_iter_ubuf(i, rw, buf, len);
	return 0;
}
#endif

/*
 * io_uring commands (dev_uring.c).  The ring needs to know when io_uring
 * gives up on a parked command: 6.7+ tells the driver (cancelable
 * commands, IO_URING_F_CANCEL); on 6.1 the module finds out itself from
 * the request behind the command (FUR_HAVE_URING_CMD_KIOCB, see
 * fur_cmd_orphaned()).  Without either, the device has no ring.
 */
#define FUR_HAVE_RING	(FUR_HAVE_URING_CMD_CANCEL || FUR_HAVE_URING_CMD_KIOCB)

#if FUR_HAVE_RING
#if FUR_HAVE_IO_URING_CMD_H
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif
#if !FUR_HAVE_URING_CMD_CANCEL
#include <linux/io_uring_types.h>
#include <linux/percpu-refcount.h>
#endif

/* 7.x: io_uring_cmd_done() lost res2. */
static inline void fur_cmd_done(struct io_uring_cmd *cmd, int ret,
				unsigned int issue_flags)
{
#if FUR_HAVE_URING_CMD_TW_REQ
	io_uring_cmd_done(cmd, ret, issue_flags);
#else
	io_uring_cmd_done(cmd, ret, 0, issue_flags);
#endif
}

/* The driver's room in a command: typed accessor since 6.10. */
#if FUR_HAVE_URING_CMD_TO_PDU
#define fur_cmd_to_pdu(cmd, type)	io_uring_cmd_to_pdu(cmd, type)
#else
#define fur_cmd_to_pdu(cmd, type) ({					\
	BUILD_BUG_ON(sizeof(type) > sizeof((cmd)->pdu));		\
	(type *)(cmd)->pdu; })
#endif

/* The command area of the SQE: 80 bytes in a ring of 128-byte SQEs. */
static inline const void *fur_cmd_area(const struct io_uring_cmd *cmd)
{
#if FUR_HAVE_URING_CMD_SQE
	return cmd->sqe->cmd;
#else
	return cmd->cmd;
#endif
}

/*
 * The SQE of a command being issued, for its addr and len.  6.1 keeps
 * only the command area: it points into the SQE when the command is
 * issued inline, and into a copy of the area alone when io_uring issues
 * it later (IOSQE_ASYNC, a link, a drain, again after -EAGAIN).  Then:
 * -EINVAL if the server asked for that (IOSQE_ASYNC), else -EAGAIN
 * (a plain resubmission is issued inline).
 */
static inline const struct io_uring_sqe *
fur_cmd_sqe(const struct io_uring_cmd *cmd)
{
#if FUR_HAVE_URING_CMD_SQE
	return cmd->sqe;
#else
	struct io_kiocb *req = cmd_to_io_kiocb((struct io_uring_cmd *)cmd);

	if (cmd->cmd == req->async_data)
		return ERR_PTR(req->flags & REQ_F_FORCE_ASYNC ?
			       -EINVAL : -EAGAIN);
	return cmd->cmd - offsetof(struct io_uring_sqe, cmd);
#endif
}

/* The registered buffer a fixed command (IORING_URING_CMD_FIXED) names. */
static inline u16 fur_cmd_buf_index(const struct io_uring_cmd *cmd)
{
#if FUR_HAVE_URING_CMD_SQE
	return READ_ONCE(cmd->sqe->buf_index);
#else
	/* 6.1 keeps it in the request, read at prep. */
	return cmd_to_io_kiocb((struct io_uring_cmd *)cmd)->buf_index;
#endif
}

static inline void fur_cmd_mark_cancelable(struct io_uring_cmd *cmd,
					   unsigned int issue_flags)
{
#if FUR_HAVE_URING_CMD_CANCEL
	io_uring_cmd_mark_cancelable(cmd, issue_flags);
#endif
}

static inline bool fur_issue_is_cancel(unsigned int issue_flags)
{
#if FUR_HAVE_URING_CMD_CANCEL
	return issue_flags & IO_URING_F_CANCEL;
#else
	return false;
#endif
}

#if !FUR_HAVE_URING_CMD_CANCEL
/*
 * 6.1: io_uring would have cancelled this command by now, were it
 * cancelable: its task exits or cancels all it has (exec), or its ring
 * is closing.  The request (and so its task and ring) stays valid while
 * the command is not completed.
 */
static inline bool fur_cmd_orphaned(struct io_uring_cmd *cmd)
{
	struct io_kiocb *req = cmd_to_io_kiocb(cmd);
	struct io_uring_task *tctx = req->task->io_uring;

	return (req->task->flags & PF_EXITING) ||
	       percpu_ref_is_dying(&req->ctx->refs) ||
	       (tctx && atomic_read(&tctx->in_idle));
}
#endif

/*
 * A registered (fixed) io_uring buffer as an iterator: 7.x looks the
 * buffer up at import and takes the issue flags for its lock.
 */
static inline int fur_uring_cmd_import_fixed(u64 ubuf, unsigned long len,
					     int rw, struct iov_iter *iter,
					     struct io_uring_cmd *cmd,
					     unsigned int issue_flags)
{
#if FUR_HAVE_URING_CMD_IMPORT_FIXED_FLAGS
	return io_uring_cmd_import_fixed(ubuf, len, rw, iter, cmd, issue_flags);
#else
	return io_uring_cmd_import_fixed(ubuf, len, rw, iter, cmd);
#endif
}
#endif /* FUR_HAVE_RING */

/* 6.1 writes vm_flags directly (the helpers came in 6.3). */
#if !FUR_HAVE_VM_FLAGS_SET
#include <linux/mm.h>

static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* _FS_FUSEURING_COMPAT_H */
