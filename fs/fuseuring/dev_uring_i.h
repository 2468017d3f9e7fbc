/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuseuring: private declarations of the io_uring transport (dev_uring.c).
 * See Documentation/filesystems/fuseuring-ring-notes.txt for the design.
 */
#ifndef _FS_FUSEURING_DEV_URING_I_H
#define _FS_FUSEURING_DEV_URING_I_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/workqueue.h>

#include "fuseuring_i.h"

struct io_uring_cmd;

/*
 * Where a ring entry is.  Each state but FUR_ENT_FREE has its own list in
 * the queue and an entry is on exactly the list of its state.
 */
enum fur_ent_state {
	FUR_ENT_AVAIL,		/* parked: holds a command, no request */
	FUR_ENT_DISPATCH,	/* holds a command and a request to copy */
	FUR_ENT_USERSPACE,	/* command done: the server has the request */
	FUR_ENT_COMMIT,		/* holds a new command, copying the reply */
	FUR_ENT_FREE,		/* off every list, about to be freed */
};

struct fur_ring_queue;

/* One registered pair of server buffers and the command parked on it. */
struct fur_ring_ent {
	struct list_head list;
	struct fur_ring_queue *queue;
	enum fur_ent_state state;
	struct io_uring_cmd *cmd;
	/* The task that submitted cmd: its task work does the copies. */
	struct task_struct *task;
	struct fur_req *req;
	struct fuse_uring_req_header __user *headers;
	/* Per-entry payload buffer (NULL on a queue with a buffer pool). */
	void __user *payload;
	size_t payload_sz;
	/* The pool slot the request holds, or FUR_NO_SLOT. */
	int slot;
	/* A kernel-allocated pool's slot, as the copy's iterator needs it. */
	struct kvec kvec;
	/* Zero-copy window (zerocopy.c): the entry's slot, set at REGISTER. */
	u16 zc_index;
	/*
	 * While the request's pages are mapped in the window: the server's
	 * mm (grabbed) and the mapped range.  Owned by whoever owns the
	 * entry's state (dispatcher, committer, abort).
	 */
	struct mm_struct *zc_mm;
	unsigned long zc_addr;
	unsigned long zc_len;
	/*
	 * Upstream's zero-copy (zerocopy_bvec.c): the request's pages while
	 * they are registered in slot zc_index of the buffer table of the
	 * ring (io_uring context, compared only) zc_ctx.  Owned as zc_mm.
	 */
	struct fur_zc_buf *zcb;
	unsigned long zc_ctx;
};

#define FUR_NO_SLOT	(-1)

/*
 * Where a queue's payloads go: decided by its first REGISTER (one buffer
 * per entry) or by ADD_BUFPOOL (slots of a pool), never changed after.
 */
enum fur_payload_mode {
	FUR_PAYLOAD_UNSET,
	FUR_PAYLOAD_PER_ENT,
	FUR_PAYLOAD_POOL,
};

/* Who provides a pool's memory and how the kernel reaches it. */
enum fur_bufpool_kind {
	FUR_BUFPOOL_USER,	/* server memory, copied to with uaccess */
	FUR_BUFPOOL_FIXED,	/* server memory registered with io_uring */
	FUR_BUFPOOL_KERNEL,	/* module pages the server maps (mmap) */
};

/*
 * A queue's payload pool, carved into nr_slots slots of slot_size bytes
 * (the ring's max payload).  A request with payload takes a slot while
 * the server holds it; requests wait for a slot, never fail for lack of
 * one.  The free map is changed under the queue's lock.
 */
struct fur_bufpool {
	enum fur_bufpool_kind kind;
	unsigned long uaddr;		/* USER, FIXED: the server's address */
	u16 buf_index;			/* FIXED: the io_uring buffer */
	size_t slot_size;
	unsigned int nr_slots;
	/* KERNEL: the pages, in order, and their kernel mapping. */
	struct page **pages;
	unsigned int nr_pages;
	void *vaddr;
	unsigned long free_map[];
};

/* Counters a user reads in debugfs; updated under the queue's lock. */
struct fur_ring_stats {
	u64 dispatched;		/* requests handed to the server */
	u64 inflight;		/* requests the server holds now */
	u64 committed;		/* replies accepted */
	u64 errors;		/* bad replies, unknown commit ids, copy faults */
};

struct fur_ring_queue {
	/* Protects everything below. */
	spinlock_t lock;
	unsigned int qid;
	struct fur_ring *ring;
	bool stopped;
	unsigned int nr_ents;
	struct list_head ent_avail;
	struct list_head ent_dispatch;
	struct list_head ent_user;
	struct list_head ent_commit;
	/* Requests waiting for an entry (or a pool slot) of this queue. */
	struct list_head reqs;
	struct fur_ring_stats stats;
	/* ADD_QUEUE or a REGISTER made the queue known to the server. */
	bool added;
	enum fur_payload_mode payload_mode;
	struct fur_bufpool *pool;
	/* Pool counters for debugfs: slots, free slots, waits for one. */
	u32 pool_slots;
	u32 pool_free;
	u64 pool_waits;
	/*
	 * Zero-copy window (zerocopy.c): set by ADD_QUEUE; the mapping of the
	 * window (owner mm, compared only, and start) while it exists.
	 */
	bool zc_window;
	/* Upstream's zero-copy: set by ADD_QUEUE, needs a buffer pool. */
	bool zc_bvec;
	struct mm_struct *zc_owner;
	unsigned long zc_start;
	unsigned long zc_size;
	u64 zc_requests;	/* requests whose pages went through it */
};

struct fur_ring {
	struct fur_conn *fc;
	unsigned int nr_queues;
	size_t max_payload;
	/* Queues that have at least one entry. */
	atomic_t nr_ready;
	/* The ring carries requests; changed under fc->iq.lock. */
	bool ready;
	/* Set once by the abort; read under a queue's lock too. */
	bool stopped;
	/* Classic forgets and interrupts, ring requests. */
	struct fur_iqueue_ops ops;
	struct dentry *debugfs;
#if !FUR_HAVE_URING_CMD_CANCEL
	/* 6.1: completes parked commands io_uring gave up on. */
	struct delayed_work watch;
#endif
	struct fur_ring_queue *queues[];
};

/*
 * bufpool.c: ADD_QUEUE, ADD_BUFPOOL, slots, the payload iterators and the
 * mmap of kernel-allocated pools.  Slot calls need q->lock.
 */
int fur_ring_add_queue(struct fur_ring *ring,
		       const struct fuse_uring_cmd_req *cr);
int fur_ring_add_bufpool(struct fur_ring *ring, struct io_uring_cmd *cmd,
			 const struct fuse_uring_cmd_req *cr,
			 unsigned int issue_flags);
bool fur_bufpool_cmd_ok(struct fur_ring_queue *q, struct io_uring_cmd *cmd);
bool fur_bufpool_take_slot(struct fur_ring_ent *ent);
void fur_bufpool_put_slot(struct fur_ring_ent *ent);
int fur_bufpool_payload_iter(struct fur_ring_ent *ent, int dir, size_t size,
			     struct iov_iter *iter, unsigned int issue_flags);
u32 fur_bufpool_slot_offset(struct fur_ring_ent *ent);
void fur_bufpool_free(struct fur_bufpool *pool);

/* What ADD_QUEUE's flags ask for (fur_zc_queue_flags()). */
enum fur_zc_kind {
	FUR_ZC_NONE,
	FUR_ZC_WINDOW,		/* fuseuring's window (zerocopy.c) */
	FUR_ZC_BVEC,		/* upstream's registered pages (zerocopy_bvec.c) */
};

/*
 * zerocopy.c: the zero-copy window of 6.x kernels without
 * io_buffer_register_bvec (see Documentation/filesystems/fuseuring-zerocopy.rst).
 * fur_zc_queue_flags() checks ADD_QUEUE's flags: an enum fur_zc_kind or
 * -errno.  fur_zc_register() checks REGISTER's ent_zero_copy_buf_index.
 * fur_zc_map() maps a READ/WRITE's pages into
 * its entry's window (in the server's task), fur_zc_unmap() takes them
 * out; every path that ends a mapped request calls it first.
 */
int fur_zc_queue_flags(u64 flags);
int fur_zc_register(struct fur_ring_queue *q, struct fur_ring_ent *ent,
		    const struct fuse_uring_cmd_req *cr);
bool fur_zc_map(struct fur_ring_ent *ent, struct fur_req *req, u32 *data_off);
void fur_zc_unmap(struct fur_ring_ent *ent);
int fur_zc_copy_out(struct fur_req *req, unsigned int nbytes);
int fur_zc_mmap(struct file *file, struct vm_area_struct *vma);

/*
 * zerocopy_bvec.c: upstream's zero-copy, where the kernel exports
 * io_buffer_register_bvec.  fur_zcb_wanted(): whether a request of q is
 * zero-copied (q->lock or not: it reads constants).  fur_zcb_register()
 * registers its pages in ent's slot with ent's command (server's task);
 * fur_zcb_unregister() empties the slot with cmd, a command of the same
 * ring (NULL: none left, the server's ring drops it); every path that
 * ends a registered request calls it first.  fur_zcb_commit_ok(): a
 * commit of ent comes from the ring its pages are registered in.
 * fur_zcb_abort() empties held entries' slots with parked commands.
 */
struct fur_zc_buf;
#if FUR_HAVE_IO_BUFFER_REGISTER_BVEC
bool fur_zcb_wanted(struct fur_ring_queue *q, struct fur_req *req);
int fur_zcb_register(struct fur_ring_ent *ent, struct fur_req *req,
		     unsigned int issue_flags);
void fur_zcb_unregister(struct fur_ring_ent *ent, struct io_uring_cmd *cmd,
			unsigned int issue_flags);
bool fur_zcb_commit_ok(struct fur_ring_ent *ent, struct io_uring_cmd *cmd);
void fur_zcb_abort(struct list_head *held, struct list_head *parked);
#else
static inline bool fur_zcb_wanted(struct fur_ring_queue *q,
				  struct fur_req *req)
{
	return false;
}

static inline int fur_zcb_register(struct fur_ring_ent *ent,
				   struct fur_req *req,
				   unsigned int issue_flags)
{
	return -EOPNOTSUPP;
}

static inline void fur_zcb_unregister(struct fur_ring_ent *ent,
				      struct io_uring_cmd *cmd,
				      unsigned int issue_flags)
{
}

static inline bool fur_zcb_commit_ok(struct fur_ring_ent *ent,
				     struct io_uring_cmd *cmd)
{
	return true;
}

static inline void fur_zcb_abort(struct list_head *held,
				 struct list_head *parked)
{
}
#endif

#endif /* _FS_FUSEURING_DEV_URING_I_H */
