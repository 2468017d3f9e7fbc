// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: requests.  A request is allocated by an operation, queued
 * through the connection's iqueue operations (the only thing that knows
 * the transport), answered by the server and ended exactly once, either
 * by its reply or by the connection's abort.
 */

#include <linux/highmem.h>
#include <linux/pid_namespace.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "fuseuring_i.h"
#include "trace.h"

static struct kmem_cache *fur_req_cachep;

int __init fur_req_init(void)
{
	fur_req_cachep = KMEM_CACHE(fur_req, 0);
	return fur_req_cachep ? 0 : -ENOMEM;
}

void fur_req_exit(void)
{
	kmem_cache_destroy(fur_req_cachep);
}

u64 fur_get_unique(struct fur_iqueue *fiq)
{
	/* The low bit is reserved for FUSE_INT_REQ_BIT. */
	fiq->reqctr += FUSE_REQ_ID_STEP;
	return fiq->reqctr;
}
EXPORT_SYMBOL_GPL(fur_get_unique);

static struct fur_req *fur_request_alloc(struct fur_mount *fm, gfp_t flags)
{
	struct fur_req *req = kmem_cache_zalloc(fur_req_cachep, flags);

	if (!req)
		return NULL;
	INIT_LIST_HEAD(&req->list);
	INIT_LIST_HEAD(&req->intr_entry);
	init_waitqueue_head(&req->waitq);
	refcount_set(&req->count, 1);
	req->fm = fm;
	return req;
}

void fur_put_request(struct fur_req *req)
{
	struct fur_conn *fc = req->fm->fc;

	if (!refcount_dec_and_test(&req->count))
		return;
	if (test_bit(FR_WAITING, &req->flags)) {
		/* kill_sb waits for the last one. */
		if (atomic_dec_and_test(&fc->num_waiting))
			wake_up_all(&fc->blocked_waitq);
	}
	kmem_cache_free(fur_req_cachep, req);
}
EXPORT_SYMBOL_GPL(fur_put_request);

static void fur_fill_header(struct fur_req *req, struct fur_args *args)
{
	struct fur_conn *fc = req->fm->fc;
	struct fuse_in_header *h = &req->in.h;
	unsigned int i;

	h->opcode = args->opcode;
	h->nodeid = args->nodeid;
	h->len = sizeof(*h);
	for (i = 0; i < args->in_numargs; i++)
		h->len += args->in_args[i].size;
	if (args->nocreds) {
		h->uid = 0;
		h->gid = 0;
		h->pid = 0;
		return;
	}
	h->uid = from_kuid_munged(fc->user_ns, current_fsuid());
	h->gid = from_kgid_munged(fc->user_ns, current_fsgid());
	h->pid = pid_nr_ns(task_pid(current), fc->pid_ns);
}

static struct fur_req *fur_args_to_req(struct fur_mount *fm,
				       struct fur_args *args, gfp_t gfp)
{
	struct fur_req *req = fur_request_alloc(fm, gfp);

	if (!req)
		return NULL;
	req->args = args;
	atomic_inc(&fm->fc->num_waiting);
	__set_bit(FR_WAITING, &req->flags);
	if (!args->noreply)
		__set_bit(FR_ISREPLY, &req->flags);
	if (args->force)
		__set_bit(FR_FORCE, &req->flags);
	fur_fill_header(req, args);
	return req;
}

/* Hand a request to the transport; fails once the connection is gone. */
static bool fur_queue_request(struct fur_iqueue *fiq, struct fur_req *req)
{
	spin_lock(&fiq->lock);
	if (!fiq->connected) {
		spin_unlock(&fiq->lock);
		return false;
	}
	if (!req->in.h.unique)
		req->in.h.unique = fur_get_unique(fiq);
	/* The caller hands its reference to the transport. */
	fiq->ops->send_req(fiq, req);
	return true;
}

/* Called with fc->bg_lock held. */
static void fur_flush_bg_queue(struct fur_conn *fc)
{
	struct fur_req *req;

	while (fc->active_background < fc->max_background &&
	       !list_empty(&fc->bg_queue)) {
		req = list_first_entry(&fc->bg_queue, struct fur_req, list);
		list_del_init(&req->list);
		fc->active_background++;
		if (!fur_queue_request(&fc->iq, req)) {
			/* Aborted meanwhile: abort ends what it finds. */
			req->out.h.error = -ENOTCONN;
			spin_unlock(&fc->bg_lock);
			fur_request_end(req);
			spin_lock(&fc->bg_lock);
		}
	}
}

/*
 * End a request: exactly once, whoever comes first (reply, abort, read
 * error).  Drops the transport's reference.
 */
void fur_request_end(struct fur_req *req)
{
	struct fur_mount *fm = req->fm;
	struct fur_conn *fc = fm->fc;
	struct fur_iqueue *fiq = &fc->iq;

	if (test_and_set_bit(FR_FINISHED, &req->flags))
		goto put;
	trace_fur_request_end(req);

	/* Pairs with the barrier in fur_queue_interrupt(). */
	smp_mb__after_atomic();
	if (test_bit(FR_INTERRUPTED, &req->flags)) {
		spin_lock(&fiq->lock);
		list_del_init(&req->intr_entry);
		spin_unlock(&fiq->lock);
	}
	if (test_bit(FR_BACKGROUND, &req->flags)) {
		spin_lock(&fc->bg_lock);
		clear_bit(FR_BACKGROUND, &req->flags);
		if (fc->num_background == fc->max_background) {
			fc->blocked = false;
			wake_up_all(&fc->blocked_waitq);
		}
		fc->num_background--;
		fc->active_background--;
		fur_flush_bg_queue(fc);
		spin_unlock(&fc->bg_lock);
	}
	if (test_bit(FR_ASYNC, &req->flags)) {
		if (req->args->end)
			req->args->end(fm, req->args, req->out.h.error);
	} else {
		wake_up(&req->waitq);
	}
put:
	fur_put_request(req);
}
EXPORT_SYMBOL_GPL(fur_request_end);

/* Ask the server to interrupt a request it holds. */
int fur_queue_interrupt(struct fur_req *req)
{
	struct fur_iqueue *fiq = &req->fm->fc->iq;

	spin_lock(&fiq->lock);
	if (list_empty(&req->intr_entry)) {
		list_add_tail(&req->intr_entry, &fiq->interrupts);
		/* Pairs with the barrier in fur_request_end(). */
		smp_mb();
		if (test_bit(FR_FINISHED, &req->flags)) {
			list_del_init(&req->intr_entry);
			spin_unlock(&fiq->lock);
			return 0;
		}
		fiq->ops->send_interrupt(fiq, req);
		return 0;
	}
	spin_unlock(&fiq->lock);
	return 0;
}
EXPORT_SYMBOL_GPL(fur_queue_interrupt);

/* Take a request back that no server has seen yet. */
static bool fur_unqueue_pending(struct fur_req *req)
{
	struct fur_iqueue *fiq = &req->fm->fc->iq;
	bool removed = false;

	spin_lock(&fiq->lock);
	if (test_bit(FR_PENDING, &req->flags)) {
		list_del_init(&req->list);
		clear_bit(FR_PENDING, &req->flags);
		removed = true;
	}
	spin_unlock(&fiq->lock);
	if (removed) {
		/* The transport's reference. */
		set_bit(FR_FINISHED, &req->flags);
		fur_put_request(req);
	}
	return removed;
}

static void fur_wait_answer(struct fur_req *req)
{
	struct fur_conn *fc = req->fm->fc;
	int err;

	if (!fc->no_interrupt && !test_bit(FR_FORCE, &req->flags) &&
	    !req->args->killable) {
		err = wait_event_interruptible(req->waitq,
					       test_bit(FR_FINISHED,
							&req->flags));
		if (!err)
			return;
		set_bit(FR_INTERRUPTED, &req->flags);
		/* Pairs with the barrier after FR_SENT in the transport. */
		smp_mb__after_atomic();
		if (test_bit(FR_SENT, &req->flags))
			fur_queue_interrupt(req);
	}

	if (!test_bit(FR_FORCE, &req->flags)) {
		err = wait_event_killable(req->waitq,
					  test_bit(FR_FINISHED, &req->flags));
		if (!err)
			return;
		if (fur_unqueue_pending(req)) {
			req->out.h.error = -EINTR;
			return;
		}
	}
	/* The server has it: only its reply or an abort ends it. */
	wait_event(req->waitq, test_bit(FR_FINISHED, &req->flags));
}

static bool fur_may_send(struct fur_conn *fc, bool background)
{
	if (!READ_ONCE(fc->connected))
		return true;
	return READ_ONCE(fc->initialized) &&
	       (!background || !READ_ONCE(fc->blocked));
}

/* Requests other than INIT wait until INIT is answered. */
static int fur_wait_initialized(struct fur_conn *fc, bool background)
{
	int err;

	err = wait_event_killable_exclusive(fc->blocked_waitq,
					    fur_may_send(fc, background));
	if (err)
		return -EINTR;
	/* Let the next waiter check too. */
	wake_up(&fc->blocked_waitq);
	if (!READ_ONCE(fc->connected))
		return -ENOTCONN;
	if (fc->conn_error)
		return -ECONNREFUSED;
	return 0;
}

static unsigned int fur_out_argvar_size(struct fur_args *args)
{
	return args->out_args[args->out_numargs - 1].size;
}

ssize_t fur_simple_request(struct fur_mount *fm, struct fur_args *args)
{
	struct fur_conn *fc = fm->fc;
	struct fur_req *req;
	ssize_t ret;

	if (args->opcode != FUSE_INIT) {
		ret = fur_wait_initialized(fc, false);
		if (ret)
			return ret;
	}
	req = fur_args_to_req(fm, args, GFP_KERNEL | __GFP_NOFAIL);
	/* One reference for us, one for the transport. */
	refcount_inc(&req->count);
	if (!fur_queue_request(&fc->iq, req)) {
		fur_put_request(req);
		fur_put_request(req);
		return -ENOTCONN;
	}
	fur_wait_answer(req);
	ret = req->out.h.error;
	if (!ret && args->out_argvar)
		ret = fur_out_argvar_size(args);
	fur_put_request(req);
	return ret;
}
EXPORT_SYMBOL_GPL(fur_simple_request);

int fur_simple_background(struct fur_mount *fm, struct fur_args *args,
			  gfp_t gfp_flags)
{
	struct fur_conn *fc = fm->fc;
	struct fur_req *req;
	int err;

	if (args->opcode != FUSE_INIT && gfpflags_allow_blocking(gfp_flags) &&
	    !args->force) {
		err = fur_wait_initialized(fc, true);
		if (err)
			return err;
	}
	req = fur_args_to_req(fm, args, gfp_flags);
	if (!req)
		return -ENOMEM;
	__set_bit(FR_BACKGROUND, &req->flags);
	__set_bit(FR_ASYNC, &req->flags);

	spin_lock(&fc->bg_lock);
	if (!fc->connected) {
		spin_unlock(&fc->bg_lock);
		fur_put_request(req);
		return -ENOTCONN;
	}
	fc->num_background++;
	if (fc->num_background == fc->max_background)
		fc->blocked = true;
	list_add_tail(&req->list, &fc->bg_queue);
	fur_flush_bg_queue(fc);
	spin_unlock(&fc->bg_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(fur_simple_background);

struct fur_forget_link *fur_alloc_forget(void)
{
	return kzalloc(sizeof(struct fur_forget_link), GFP_KERNEL_ACCOUNT);
}

void fur_queue_forget(struct fur_conn *fc, struct fur_forget_link *forget,
		      u64 nodeid, u64 nlookup)
{
	struct fur_iqueue *fiq = &fc->iq;

	forget->forget_one.nodeid = nodeid;
	forget->forget_one.nlookup = nlookup;
	forget->next = NULL;
	spin_lock(&fiq->lock);
	if (!fiq->connected) {
		spin_unlock(&fiq->lock);
		kfree(forget);
		return;
	}
	fiq->ops->send_forget(fiq, forget);
}

/*
 * Abort: no request survives.  Pending and background requests and the
 * ones the server holds end with -ENOTCONN; those being copied right now
 * are ended by their copier, which sees the queue disconnected.
 */
void fur_abort_conn(struct fur_conn *fc)
{
	struct fur_iqueue *fiq = &fc->iq;
	struct fur_pqueue *fpq = &fc->pq;
	struct fur_forget_link *forget, *next;
	struct fur_req *req, *tmp;
	LIST_HEAD(to_end);
	unsigned int i;

	spin_lock(&fc->lock);
	if (!fc->connected) {
		spin_unlock(&fc->lock);
		return;
	}
	fc->aborted = true;
	/* Stop new background requests. */
	spin_lock(&fc->bg_lock);
	WRITE_ONCE(fc->connected, false);
	fc->blocked = false;
	list_for_each_entry(req, &fc->bg_queue, list)
		fc->active_background++;
	list_splice_tail_init(&fc->bg_queue, &to_end);
	spin_unlock(&fc->bg_lock);
	spin_unlock(&fc->lock);

	spin_lock(&fpq->lock);
	fpq->connected = false;
	list_for_each_entry(req, &fpq->io, list)
		set_bit(FR_ABORTED, &req->flags);
	for (i = 0; i < FUR_PQ_HASH_SIZE; i++)
		list_splice_tail_init(&fpq->processing[i], &to_end);
	spin_unlock(&fpq->lock);

	spin_lock(&fiq->lock);
	fiq->connected = false;
	list_for_each_entry(req, &fiq->pending, list)
		clear_bit(FR_PENDING, &req->flags);
	list_splice_tail_init(&fiq->pending, &to_end);
	list_for_each_entry_safe(req, tmp, &fiq->interrupts, intr_entry)
		list_del_init(&req->intr_entry);
	forget = fiq->forget_list_head.next;
	fiq->forget_list_head.next = NULL;
	fiq->forget_list_tail = &fiq->forget_list_head;
	wake_up_all(&fiq->waitq);
	spin_unlock(&fiq->lock);
	kill_fasync(&fiq->fasync, SIGIO, POLL_IN);

	for (; forget; forget = next) {
		next = forget->next;
		kfree(forget);
	}
	list_for_each_entry_safe(req, tmp, &to_end, list) {
		list_del_init(&req->list);
		req->out.h.error = -ENOTCONN;
		set_bit(FR_ABORTED, &req->flags);
		fur_request_end(req);
	}
	if (fc->abort_transport)
		fc->abort_transport(fc);
	wake_up_all(&fc->blocked_waitq);
}
EXPORT_SYMBOL_GPL(fur_abort_conn);

/* After an abort: wait for every request to be gone. */
void fur_wait_aborted(struct fur_conn *fc)
{
	wait_event(fc->blocked_waitq, atomic_read(&fc->num_waiting) == 0);
}

/*
 * Copy the data of one page argument, one base page at a time, always
 * by copy: the destination (a reader's buffer, the splice pages of
 * dev_splice.c, a ring payload) never holds the page itself.
 */
static int fur_copy_page_to_iter(struct page *page, struct fur_page_desc *d,
				 struct iov_iter *to)
{
	unsigned int off = d->offset, left = d->length;

	while (left) {
		/* Compound pages: their struct pages are contiguous here. */
		struct page *p = page + (off >> PAGE_SHIFT);
		unsigned int o = offset_in_page(off);
		unsigned int len = min_t(unsigned int, left, PAGE_SIZE - o);
		void *addr = kmap_local_page(p);
		size_t copied = copy_to_iter(addr + o, len, to);

		kunmap_local(addr);
		if (copied != len)
			return -EFAULT;
		off += len;
		left -= len;
	}
	return 0;
}

/*
 * Copy a request's header and input arguments to a destination.  Page
 * arguments are copied page by page.  Returns 0 or -EFAULT.
 */
int fur_copy_in_args(struct iov_iter *to, struct fur_args *args,
		     unsigned int first)
{
	struct fur_args_pages *ap;
	unsigned int i, n;

	for (i = first; i < args->in_numargs; i++) {
		struct fur_in_arg *arg = &args->in_args[i];

		if (i == args->in_numargs - 1 && args->in_pages) {
			ap = container_of(args, struct fur_args_pages, args);
			for (n = 0; n < ap->num_pages; n++)
				if (fur_copy_page_to_iter(ap->pages[n],
							  &ap->descs[n], to))
					return -EFAULT;
			continue;
		}
		if (copy_to_iter(arg->value, arg->size, to) != arg->size)
			return -EFAULT;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(fur_copy_in_args);

size_t fur_in_args_page_bytes(struct fur_args *args)
{
	struct fur_args_pages *ap;
	size_t bytes = 0;
	unsigned int n;

	if (!args->in_pages)
		return 0;
	ap = container_of(args, struct fur_args_pages, args);
	for (n = 0; n < ap->num_pages; n++)
		bytes += ap->descs[n].length;
	return bytes;
}

/* The size a reply's arguments must have; argvar allows a shorter last. */
static unsigned int fur_out_args_size(struct fur_args *args)
{
	unsigned int i, size = 0;

	for (i = 0; i < args->out_numargs; i++)
		size += args->out_args[i].size;
	return size;
}

/*
 * Copy a reply's arguments (nbytes of them, without the out header) from
 * a source into the request.  A reply of the wrong size is -EINVAL.
 */
int fur_copy_out_args(struct iov_iter *from, struct fur_args *args,
		      unsigned int nbytes)
{
	unsigned int expected = fur_out_args_size(args);
	struct fur_args_pages *ap;
	unsigned int i, n, left;

	if (nbytes > expected)
		return -EINVAL;
	if (nbytes < expected) {
		struct fur_arg *last;

		if (!args->out_argvar || !args->out_numargs)
			return -EINVAL;
		last = &args->out_args[args->out_numargs - 1];
		if (expected - nbytes > last->size)
			return -EINVAL;
		last->size -= expected - nbytes;
	}
	for (i = 0; i < args->out_numargs; i++) {
		struct fur_arg *arg = &args->out_args[i];

		if (i == args->out_numargs - 1 && args->out_pages) {
			ap = container_of(args, struct fur_args_pages, args);
			left = arg->size;
			for (n = 0; n < ap->num_pages && left; n++) {
				struct fur_page_desc *d = &ap->descs[n];
				unsigned int len = min(left, d->length);

				if (copy_page_from_iter(ap->pages[n], d->offset,
							len, from) != len)
					return -EFAULT;
				if (args->page_zeroing && len < d->length)
					zero_user_segment(ap->pages[n],
							  d->offset + len,
							  d->offset + d->length);
				left -= len;
			}
			for (; n < ap->num_pages && args->page_zeroing; n++)
				zero_user_segment(ap->pages[n],
						  ap->descs[n].offset,
						  ap->descs[n].offset +
						  ap->descs[n].length);
			continue;
		}
		if (copy_from_iter(arg->value, arg->size, from) != arg->size)
			return -EFAULT;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(fur_copy_out_args);

/* A reply to a RETRIEVE notification: carries the server's unique. */
int fur_simple_notify_reply(struct fur_mount *fm, struct fur_args *args,
			    u64 unique)
{
	struct fur_req *req = fur_args_to_req(fm, args, GFP_KERNEL);

	if (!req)
		return -ENOMEM;
	__set_bit(FR_ASYNC, &req->flags);
	req->in.h.unique = unique;
	if (!fur_queue_request(&fm->fc->iq, req)) {
		fur_put_request(req);
		return -ENOTCONN;
	}
	return 0;
}
