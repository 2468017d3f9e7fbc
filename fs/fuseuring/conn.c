// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the connection (one per mount, shared with the server's
 * device files) and the INIT handshake.
 */

#include <linux/backing-dev.h>
#include <linux/pid_namespace.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

#include "fuseuring_i.h"

void fur_conn_init(struct fur_conn *fc, struct user_namespace *user_ns)
{
	unsigned int i;

	spin_lock_init(&fc->lock);
	spin_lock_init(&fc->bg_lock);
	refcount_set(&fc->count, 1);
	atomic_set(&fc->dev_count, 1);
	init_waitqueue_head(&fc->blocked_waitq);
	INIT_LIST_HEAD(&fc->bg_queue);
	INIT_LIST_HEAD(&fc->mounts);
	INIT_LIST_HEAD(&fc->devices);
	mutex_init(&fc->lookup_mutex);
	init_rwsem(&fc->killsb);
	atomic_set(&fc->num_waiting, 0);
	atomic64_set(&fc->attr_version, 1);
	atomic64_set(&fc->khctr, 0);

	spin_lock_init(&fc->iq.lock);
	init_waitqueue_head(&fc->iq.waitq);
	INIT_LIST_HEAD(&fc->iq.pending);
	INIT_LIST_HEAD(&fc->iq.interrupts);
	fc->iq.forget_list_tail = &fc->iq.forget_list_head;
	fc->iq.forget_batch = 16;
	fc->iq.connected = true;
	fc->iq.ops = &fur_dev_iqueue_ops;

	spin_lock_init(&fc->pq.lock);
	INIT_LIST_HEAD(&fc->pq.io);
	for (i = 0; i < FUR_PQ_HASH_SIZE; i++)
		INIT_LIST_HEAD(&fc->pq.processing[i]);
	fc->pq.connected = true;

	fc->max_background = FUR_DEFAULT_MAX_BACKGROUND;
	fc->congestion_threshold = FUR_DEFAULT_CONGESTION;
	fc->max_pages = FUR_DEFAULT_MAX_PAGES;
	fc->max_pages_limit = FUR_MAX_MAX_PAGES;
	fc->max_write = PAGE_SIZE;
	/*
	 * Requests prepared before INIT is answered size their replies for
	 * our own minor; the compat sizes of minor < 9 apply after INIT.
	 */
	fc->minor = FUSEURING_KERNEL_MINOR_VERSION;
	fc->connected = true;
	fc->user_ns = get_user_ns(user_ns);
	fc->pid_ns = get_pid_ns(task_active_pid_ns(current));
}

struct fur_conn *fur_conn_alloc(struct user_namespace *user_ns)
{
	struct fur_conn *fc = kzalloc(sizeof(*fc), GFP_KERNEL);

	if (!fc)
		return NULL;
	fc->pq.processing = kcalloc(FUR_PQ_HASH_SIZE, sizeof(struct list_head),
				    GFP_KERNEL);
	if (!fc->pq.processing) {
		kfree(fc);
		return NULL;
	}
	fur_conn_init(fc, user_ns);
	return fc;
}

struct fur_conn *fur_conn_get(struct fur_conn *fc)
{
	refcount_inc(&fc->count);
	return fc;
}

void fur_conn_put(struct fur_conn *fc)
{
	if (!refcount_dec_and_test(&fc->count))
		return;
	fur_uring_destroy(fc);
	if (fc->release)
		fc->release(fc);
	put_pid_ns(fc->pid_ns);
	put_user_ns(fc->user_ns);
	kfree(fc->pq.processing);
	kfree(fc);
}

struct fur_dev *fur_dev_alloc_install(struct fur_conn *fc)
{
	struct fur_dev *fud = kzalloc(sizeof(*fud), GFP_KERNEL);

	if (!fud)
		return NULL;
	fud->fc = fur_conn_get(fc);
	fud->pq = &fc->pq;
	spin_lock(&fc->lock);
	list_add_tail(&fud->entry, &fc->devices);
	spin_unlock(&fc->lock);
	return fud;
}

void fur_dev_free(struct fur_dev *fud)
{
	struct fur_conn *fc = fud->fc;

	spin_lock(&fc->lock);
	list_del(&fud->entry);
	spin_unlock(&fc->lock);
	kfree(fud);
	fur_conn_put(fc);
}

struct fur_init_args {
	struct fur_args args;
	struct fuse_init_in in;
	struct fuse_init_out out;
};

static void fur_process_init_reply(struct fur_mount *fm,
				   struct fur_args *args, int error)
{
	struct fur_init_args *ia = container_of(args, struct fur_init_args,
						args);
	struct fuse_init_out *arg = &ia->out;
	struct fur_conn *fc = fm->fc;
	bool ok = true;
	u64 flags;

	if (error || arg->major != FUSEURING_KERNEL_VERSION) {
		ok = false;
	} else {
		fc->minor = arg->minor;
		flags = arg->flags;
		if (fc->minor >= 36 && (flags & FUSE_INIT_EXT))
			flags |= (u64)arg->flags2 << 32;
		fc->init_flags = flags;
		fc->async_read = flags & FUSE_ASYNC_READ;
		fc->atomic_o_trunc = flags & FUSE_ATOMIC_O_TRUNC;
		fc->big_writes = flags & FUSE_BIG_WRITES;
		fc->writeback_cache = flags & FUSE_WRITEBACK_CACHE;
		fc->parallel_dirops = flags & FUSE_PARALLEL_DIROPS;
		fc->handle_killpriv_v2 = flags & FUSE_HANDLE_KILLPRIV_V2;
		fc->posix_locks = flags & FUSE_POSIX_LOCKS;
		fc->flock_locks = flags & FUSE_FLOCK_LOCKS;
		fc->readdirplus = flags & FUSE_DO_READDIRPLUS;
		fc->readdirplus_auto = flags & FUSE_READDIRPLUS_AUTO;
		fc->auto_inval_data = flags & FUSE_AUTO_INVAL_DATA;
		fc->explicit_inval_data = flags & FUSE_EXPLICIT_INVAL_DATA;
		fc->cache_symlinks = flags & FUSE_CACHE_SYMLINKS;
		fc->dont_mask = flags & FUSE_DONT_MASK;
		fc->over_io_uring = flags & FUSE_OVER_IO_URING;
		if (fc->minor >= 13 && arg->max_background) {
			fc->max_background = arg->max_background;
			if (arg->congestion_threshold)
				fc->congestion_threshold =
					arg->congestion_threshold;
		}
		if (fc->minor >= 28 && (flags & FUSE_MAX_PAGES))
			fc->max_pages = clamp_t(unsigned int, arg->max_pages,
						1, fc->max_pages_limit);
		fc->max_write = fc->minor < 5 ? 4096 : arg->max_write;
		fc->max_write = max_t(unsigned int, 4096, fc->max_write);
		fc->max_write = min_t(unsigned int, fc->max_write,
				      fc->max_pages << PAGE_SHIFT);
		if (fc->minor < 9)
			fc->max_write = min_t(unsigned int, fc->max_write,
					      4096);
	}
	if (!ok)
		fc->conn_error = true;
	kfree(ia);
	fc->conn_init = true;
	/* Pairs with READ_ONCE() in fur_wait_initialized(). */
	smp_wmb();
	WRITE_ONCE(fc->initialized, true);
	wake_up_all(&fc->blocked_waitq);
}

int fur_send_init(struct fur_mount *fm)
{
	struct fur_init_args *ia;
	u64 flags;
	int err;

	ia = kzalloc(sizeof(*ia), GFP_KERNEL | __GFP_NOFAIL);
	ia->in.major = FUSEURING_KERNEL_VERSION;
	ia->in.minor = FUSEURING_KERNEL_MINOR_VERSION;
	ia->in.max_readahead = fm->sb->s_bdi->ra_pages * PAGE_SIZE;
	flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |
		FUSE_MAX_PAGES | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
		FUSE_WRITEBACK_CACHE | FUSE_PARALLEL_DIROPS |
		FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS |
		FUSE_HANDLE_KILLPRIV_V2 | FUSE_IOCTL_DIR | FUSE_INIT_EXT |
		FUR_URING_INIT_FLAGS;
	ia->in.flags = flags;
	ia->in.flags2 = flags >> 32;

	ia->args.opcode = FUSE_INIT;
	ia->args.in_numargs = 1;
	ia->args.in_args[0].size = sizeof(ia->in);
	ia->args.in_args[0].value = &ia->in;
	ia->args.out_numargs = 1;
	/* Older servers send a shorter reply. */
	ia->args.out_argvar = true;
	ia->args.out_args[0].size = sizeof(ia->out);
	ia->args.out_args[0].value = &ia->out;
	ia->args.force = true;
	ia->args.nocreds = true;
	ia->args.end = fur_process_init_reply;

	err = fur_simple_background(fm, &ia->args, GFP_KERNEL);
	if (err)
		fur_process_init_reply(fm, &ia->args, err);
	return 0;
}
