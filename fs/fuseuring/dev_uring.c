// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the io_uring transport.  The server parks IORING_OP_URING_CMD
 * commands on the device (REGISTER, then COMMIT_AND_FETCH); each carries
 * a pair of buffers (header, payload) and waits in the kernel until a
 * request is copied into them.  The wire layout is upstream's FUSE over
 * io_uring.  Design notes: Documentation/filesystems/fuseuring-ring-notes.txt
 */

#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "dev_uring_i.h"

#if FUR_HAVE_RING

static unsigned int ring_queues;
module_param(ring_queues, uint, 0644);
MODULE_PARM_DESC(ring_queues,
		 "io_uring queues per connection (0: one per CPU id); a request issued on CPU c goes to queue c % queues");

static struct dentry *fur_uring_debugfs_root;
static atomic_t fur_ring_ids = ATOMIC_INIT(0);

/* What a parked command remembers: its entry, for the cancel callback. */
struct fur_ring_pdu {
	struct fur_ring_ent *ent;
};

static struct fur_ring_pdu *fur_cmd_pdu(struct io_uring_cmd *cmd)
{
	return fur_cmd_to_pdu(cmd, struct fur_ring_pdu);
}

static struct fur_conn *fur_cmd_conn(struct io_uring_cmd *cmd)
{
	/* Pairs with smp_store_release() at mount time. */
	struct fur_dev *fud = smp_load_acquire(&cmd->file->private_data);

	return fud ? fud->fc : NULL;
}

static unsigned int fur_ring_nr_queues(void)
{
	unsigned int n = READ_ONCE(ring_queues);

	/* As upstream: one queue per CPU id, so that qid == cpu. */
	if (!n || n > nr_cpu_ids)
		n = nr_cpu_ids;
	return n;
}

/* ---- Entries and their lists ---- */

static struct list_head *fur_ent_list(struct fur_ring_queue *q,
				      enum fur_ent_state state)
{
	switch (state) {
	case FUR_ENT_AVAIL:
		return &q->ent_avail;
	case FUR_ENT_DISPATCH:
		return &q->ent_dispatch;
	case FUR_ENT_USERSPACE:
		return &q->ent_user;
	case FUR_ENT_COMMIT:
		return &q->ent_commit;
	default:
		return NULL;
	}
}

/* Move an entry to a state and its list; q->lock held. */
static void fur_ent_set(struct fur_ring_ent *ent, enum fur_ent_state state)
{
	struct list_head *head = fur_ent_list(ent->queue, state);

	lockdep_assert_held(&ent->queue->lock);
	ent->state = state;
	if (head)
		list_move_tail(&ent->list, head);
	else
		list_del_init(&ent->list);
}

static void fur_ring_sync_ready(struct fur_ring *ring);
static void fur_ring_kick(struct fur_ring_queue *q);

/*
 * Take an entry out of its queue for good; q->lock held.  Returns true
 * when the queue has no entry left, and the caller must then call
 * fur_ring_sync_ready() without the lock.
 */
static bool fur_ent_unlink(struct fur_ring_ent *ent)
{
	struct fur_ring_queue *q = ent->queue;

	if (q->pool)
		fur_bufpool_put_slot(ent);
	fur_ent_set(ent, FUR_ENT_FREE);
	q->nr_ents--;
	if (q->nr_ents)
		return false;
	atomic_dec(&q->ring->nr_ready);
	return true;
}

/* ---- Copying between requests and the server's buffers ---- */

/*
 * Opcodes whose first input argument is not an argument struct (a name,
 * a symlink target): upstream puts all of their input in the payload and
 * leaves op_in empty.
 */
static bool fur_ring_op_has_header(u32 opcode)
{
	switch (opcode) {
	case FUSE_LOOKUP:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_SYMLINK:
	case FUSE_REMOVEXATTR:
		return false;
	default:
		return true;
	}
}

/* Whether the request's first argument travels in op_in. */
static bool fur_ring_req_has_header(struct fur_req *req)
{
	return req->args->in_numargs &&
	       fur_ring_op_has_header(req->args->opcode);
}

/* The bytes of a request that go to the payload buffer. */
static unsigned int fur_ring_payload_in(struct fur_req *req)
{
	unsigned int size = req->in.h.len - sizeof(req->in.h);

	if (fur_ring_req_has_header(req))
		size -= req->args->in_args[0].size;
	return size;
}

/*
 * On a pool queue, a request takes a slot if anything crosses the payload
 * buffer either way; the others (RELEASE, FLUSH, ...) never wait for one.
 */
static bool fur_ring_needs_slot(struct fur_ring_queue *q, struct fur_req *req)
{
	if (!q->pool)
		return false;
	/*
	 * As upstream: a zero-copied READ has nothing to copy either way, a
	 * WRITE still gets fuse_write_out back.
	 */
	if (fur_zcb_wanted(q, req))
		return req->args->opcode == FUSE_WRITE;
	return fur_ring_payload_in(req) || req->args->out_numargs;
}

/*
 * Hand the first waiting request to an entry that holds a command, with
 * a slot if it needs one; q->lock held.  NULL when no request waits or
 * the first one waits for a slot.
 */
static struct fur_req *fur_ring_take_req(struct fur_ring_ent *ent)
{
	struct fur_ring_queue *q = ent->queue;
	struct fur_req *req;

	lockdep_assert_held(&q->lock);
	req = list_first_entry_or_null(&q->reqs, struct fur_req, list);
	if (!req)
		return NULL;
	if (fur_ring_needs_slot(q, req) && !fur_bufpool_take_slot(ent))
		return NULL;
	list_del_init(&req->list);
	ent->req = req;
	req->ring_entry = ent;
	return req;
}

/* The payload buffer of ent for size bytes: its own, or its pool slot. */
static int fur_ring_payload_iter(struct fur_ring_ent *ent, int dir,
				 size_t size, struct iov_iter *iter,
				 unsigned int flags)
{
	if (ent->queue->pool)
		return fur_bufpool_payload_iter(ent, dir, size, iter, flags);
	return import_ubuf(dir, ent->payload, size, iter);
}

/*
 * The header buffer's in_out and op_in as the module writes them: one
 * copy, and every byte the request does not define is zero, whatever the
 * server left there (no stale bytes, and no field a newer server might
 * read as set).
 */
struct fur_ring_in {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];
	char op_in[FUSE_URING_OP_IN_OUT_SZ];
};

static_assert(offsetof(struct fuse_uring_req_header, op_in) ==
	      offsetof(struct fur_ring_in, op_in));

/*
 * Copy a request into an entry's buffers: fuse_in_header to in_out, the
 * opcode's argument struct to op_in, everything else to the payload.
 * Runs in the server's task (the command's task work or its own issue).
 * A failure of this request alone sets *req_err to the error the request
 * ends with (the entry goes on); any other failure is the entry's.
 */
static int fur_ring_copy_in(struct fur_ring_ent *ent, struct fur_req *req,
			    unsigned int flags, int *req_err)
{
	struct fuse_uring_req_header __user *h = ent->headers;
	struct fur_args *args = req->args;
	struct fuse_uring_ent_in_out io = {
		.commit_id = req->in.h.unique,
	};
	unsigned int first = 0, size = fur_ring_payload_in(req);
	struct fur_ring_in in = {};
	struct iov_iter iter;
	u32 zc_off;
	int err;

	memcpy(in.in_out, &req->in.h, sizeof(req->in.h));
	if (fur_ring_req_has_header(req)) {
		const struct fur_in_arg *arg = &args->in_args[0];

		if (WARN_ON_ONCE(arg->size > FUSE_URING_OP_IN_OUT_SZ))
			return -EIO;
		memcpy(in.op_in, arg->value, arg->size);
		first = 1;
	}
	if (copy_to_user(&h->in_out, &in, sizeof(in)))
		return -EFAULT;
	if (size > ent->payload_sz) {
		*req_err = args->opcode == FUSE_SETXATTR ? -E2BIG : -EIO;
		return -E2BIG;
	}
	/*
	 * Zero-copy: the data (a WRITE's last argument, a READ's reply) is
	 * in the registered pages, or in the window.
	 */
	if (fur_zcb_wanted(ent->queue, req)) {
		err = fur_zcb_register(ent, req, flags);
		if (err) {
			*req_err = err;
			return err;
		}
		io.flags = FUSE_URING_ENT_ZERO_COPY;
	} else if (fur_zc_map(ent, req, &zc_off)) {
		io.flags = FUSE_URING_ENT_ZERO_COPY;
		io.reserved = zc_off;
	} else {
		err = fur_ring_payload_iter(ent, ITER_DEST, size, &iter, flags);
		if (!err)
			err = fur_copy_in_args(&iter, args, first);
		if (err)
			return err;
	}
	io.payload_sz = size;
	if (ent->queue->pool)
		io.offset = fur_bufpool_slot_offset(ent);
	if (copy_to_user(&h->ring_ent_in_out, &io, sizeof(io))) {
		fur_zc_unmap(ent);
		fur_zcb_unregister(ent, ent->cmd, flags);
		return -EFAULT;
	}
	return 0;
}

/*
 * Copy the server's reply into the request: fuse_out_header from in_out,
 * payload_sz bytes of out arguments from the payload, with the classic
 * path's size rules.  Returns 0 or an error for the server.
 */
static int fur_ring_copy_out(struct fur_ring_ent *ent, struct fur_req *req,
			     unsigned int flags)
{
	struct fuse_uring_req_header __user *h = ent->headers;
	struct fuse_uring_ent_in_out io;
	struct fuse_out_header oh;
	struct iov_iter iter;
	int err;

	if (copy_from_user(&oh, &h->in_out, sizeof(oh)) ||
	    copy_from_user(&io, &h->ring_ent_in_out, sizeof(io)))
		return -EFAULT;
	/* As upstream: the header names the request it answers. */
	if (fur_reply_header_valid(&oh) || oh.unique != req->in.h.unique)
		return -EINVAL;
	req->out.h.error = oh.error;
	if (oh.error)
		return 0;
	/* A zero-copy READ's data is in the pages already. */
	if ((ent->zc_mm || ent->zcb) && req->args->out_pages)
		return fur_zc_copy_out(req, io.payload_sz);
	if (io.payload_sz > ent->payload_sz)
		return -EINVAL;
	err = fur_ring_payload_iter(ent, ITER_SOURCE, io.payload_sz, &iter,
				    flags);
	if (err)
		return err;
	return fur_copy_out_args(&iter, req->args, io.payload_sz);
}

/* ---- Sending requests to the server ---- */

/* End a request the ring cannot deliver; no lock held. */
static void fur_ring_fail_req(struct fur_req *req, int error)
{
	req->ring_entry = NULL;
	req->out.h.error = error;
	fur_request_end(req);
}

static void fur_ent_free(struct fur_ring_ent *ent, bool last)
{
	struct fur_ring_queue *q = ent->queue;
	struct fur_ring *ring = q->ring;

	kfree(ent);
	if (last)
		fur_ring_sync_ready(ring);
	else if (q->pool)
		/* Its slot may be what a waiting request needs. */
		fur_ring_kick(q);
}

/*
 * An entry that holds a command and a request (FUR_ENT_DISPATCH) copies
 * the request and completes the command, which gives the request to the
 * server.  If the copy fails for this request alone (too big) the entry
 * takes the next request; if the server's buffer is bad the entry is
 * dropped and its command fails.  Runs in the server's task.
 */
static void fur_ring_dispatch(struct fur_ring_ent *ent, unsigned int flags,
			      bool task_dead)
{
	struct fur_ring_queue *q = ent->queue;
	struct io_uring_cmd *cmd = ent->cmd;
	struct fur_req *req = ent->req, *next;
	int err, cmd_err, req_err;
	bool last, stopped;

	for (;;) {
		req_err = 0;
		err = task_dead ? -ENOTCONN :
		      fur_ring_copy_in(ent, req, flags, &req_err);

		spin_lock(&q->lock);
		if (!q->stopped && task_dead) {
			/* The request is not lost with the server's thread. */
			ent->req = NULL;
			req->ring_entry = NULL;
			list_add(&req->list, &q->reqs);
			last = fur_ent_unlink(ent);
			spin_unlock(&q->lock);
			fur_cmd_done(cmd, -ENOTCONN, flags);
			fur_ent_free(ent, last);
			fur_ring_kick(q);
			return;
		}
		stopped = q->stopped;
		if (stopped || (err && !req_err)) {
			cmd_err = stopped ? -ENOTCONN : err;
			if (!stopped)
				q->stats.errors++;
			ent->req = NULL;
			last = fur_ent_unlink(ent);
			spin_unlock(&q->lock);
			fur_zc_unmap(ent);
			fur_zcb_unregister(ent, cmd, flags);
			fur_ring_fail_req(req, stopped ? -ENOTCONN : -EIO);
			fur_cmd_done(cmd, cmd_err, flags);
			fur_ent_free(ent, last);
			return;
		}
		if (!err) {
			/* The request is the server's once the CQE is out. */
			refcount_inc(&req->count);
			fur_ent_set(ent, FUR_ENT_USERSPACE);
			q->stats.dispatched++;
			q->stats.inflight++;
			set_bit(FR_SENT, &req->flags);
			spin_unlock(&q->lock);
			/* Pairs with the barrier in fur_wait_answer(). */
			smp_mb__after_atomic();
			if (test_bit(FR_INTERRUPTED, &req->flags))
				fur_queue_interrupt(req);
			fur_put_request(req);
			fur_cmd_done(cmd, 0, flags);
			return;
		}
		/*
		 * Too big for the payload buffer, or its pages could not be
		 * registered: fail it, take the next.  Once AVAIL, the entry
		 * is send_req's: only the local next counts.
		 */
		q->stats.errors++;
		ent->req = NULL;
		if (q->pool)
			fur_bufpool_put_slot(ent);
		next = fur_ring_take_req(ent);
		if (!next)
			fur_ent_set(ent, FUR_ENT_AVAIL);
		spin_unlock(&q->lock);
		fur_ring_fail_req(req, req_err);
		if (!next)
			return;
		req = next;
	}
}

#if FUR_HAVE_URING_CMD_TW_REQ
static void fur_ring_dispatch_tw(struct io_tw_req tw_req, io_tw_token_t tw)
{
	struct io_uring_cmd *cmd = io_uring_cmd_from_tw(tw_req);

	fur_ring_dispatch(fur_cmd_pdu(cmd)->ent,
			  IO_URING_CMD_TASK_WORK_ISSUE_FLAGS, tw.cancel);
}
#elif FUR_HAVE_URING_CMD_CANCEL
static void fur_ring_dispatch_tw(struct io_uring_cmd *cmd, unsigned int flags)
{
	fur_ring_dispatch(fur_cmd_pdu(cmd)->ent, flags,
			  flags & IO_URING_F_TASK_DEAD);
}
#else
/*
 * 6.1 runs the task work of an exited task from a kworker, and tells
 * neither case: no copy then, nor for a command io_uring gives up on.
 */
static void fur_ring_dispatch_tw(struct io_uring_cmd *cmd, unsigned int flags)
{
	fur_ring_dispatch(fur_cmd_pdu(cmd)->ent, flags,
			  (current->flags & (PF_EXITING | PF_KTHREAD)) ||
			  fur_cmd_orphaned(cmd));
}
#endif

/*
 * Give waiting requests to available entries: after a request came back
 * from an entry whose task died.
 */
static void fur_ring_kick(struct fur_ring_queue *q)
{
	struct fur_ring_ent *ent;
	struct fur_req *req;

	for (;;) {
		spin_lock(&q->lock);
		ent = list_first_entry_or_null(&q->ent_avail,
					       struct fur_ring_ent, list);
		req = q->stopped || !ent ? NULL : fur_ring_take_req(ent);
		if (!req) {
			spin_unlock(&q->lock);
			return;
		}
		fur_ent_set(ent, FUR_ENT_DISPATCH);
		spin_unlock(&q->lock);
		io_uring_cmd_complete_in_task(ent->cmd, fur_ring_dispatch_tw);
	}
}

/*
 * fiq->ops->send_req of a connection whose ring is ready: the queue of the
 * CPU the request is issued on, an available entry or the queue's list.
 */
static void fur_ring_send_req(struct fur_iqueue *fiq, struct fur_req *req)
	__releases(fiq->lock)
{
	struct fur_conn *fc = container_of(fiq, struct fur_conn, iq);
	struct fur_ring *ring = fc->ring;
	struct fur_ring_queue *q;
	struct fur_ring_ent *ent;

	/*
	 * A request without a reply (NOTIFY_REPLY) would leave its entry
	 * in the server's hands until some commit: the device ends it once
	 * read.
	 */
	if (!test_bit(FR_ISREPLY, &req->flags)) {
		fur_dev_iqueue_ops.send_req(fiq, req);
		return;
	}
	q = ring->queues[raw_smp_processor_id() % ring->nr_queues];
	spin_lock(&q->lock);
	if (q->stopped) {
		spin_unlock(&q->lock);
		spin_unlock(&fiq->lock);
		fur_ring_fail_req(req, -ENOTCONN);
		return;
	}
	ent = list_first_entry_or_null(&q->ent_avail, struct fur_ring_ent,
				       list);
	/*
	 * The entry's copy would run as task work of the very task that is
	 * about to wait for this request (a server unmounting its own mount
	 * sends DESTROY from there): it would never run.  The device's
	 * readers take it instead.  Background requests have no waiter (the
	 * server's own commits send them on), so they stay on the ring.
	 */
	if (ent && ent->task == current && !test_bit(FR_ASYNC, &req->flags)) {
		spin_unlock(&q->lock);
		fur_dev_iqueue_ops.send_req(fiq, req);
		return;
	}
	/*
	 * On a pool queue, entries may be parked while requests wait for a
	 * slot: the new request queues behind them, and takes a slot.
	 */
	if (ent && q->pool) {
		if (!list_empty(&q->reqs) ||
		    (fur_ring_needs_slot(q, req) &&
		     !fur_bufpool_take_slot(ent))) {
			q->pool_waits++;
			ent = NULL;
		}
	}
	if (ent) {
		ent->req = req;
		req->ring_entry = ent;
		fur_ent_set(ent, FUR_ENT_DISPATCH);
	} else {
		list_add_tail(&req->list, &q->reqs);
	}
	spin_unlock(&q->lock);
	spin_unlock(&fiq->lock);
	/* The copy needs the server's mm: do it in its task. */
	if (ent)
		io_uring_cmd_complete_in_task(ent->cmd, fur_ring_dispatch_tw);
}

/*
 * Park an entry that holds a command (after REGISTER or a commit): give
 * it the next waiting request at once, or leave it available.  Called in
 * the command's issue; returns what the issue returns.
 */
static int fur_ring_park(struct fur_ring_ent *ent, unsigned int flags)
{
	struct fur_ring_queue *q = ent->queue;
	struct fur_req *req;
	bool last;

	/* Before the entry is visible, so the cancel can always find it. */
	fur_cmd_mark_cancelable(ent->cmd, flags);
	spin_lock(&q->lock);
	if (q->stopped) {
		last = fur_ent_unlink(ent);
		spin_unlock(&q->lock);
		/* Completing it here also drops the cancelable mark. */
		fur_cmd_done(ent->cmd, -ENOTCONN, flags);
		fur_ent_free(ent, last);
		return -EIOCBQUEUED;
	}
	req = fur_ring_take_req(ent);
	fur_ent_set(ent, req ? FUR_ENT_DISPATCH : FUR_ENT_AVAIL);
	spin_unlock(&q->lock);
	if (req)
		fur_ring_dispatch(ent, flags, false);
	return -EIOCBQUEUED;
}

/* ---- Ready: the ring carries requests once every queue has an entry ---- */

/*
 * Make fiq->ops agree with the number of queues that have entries.  Every
 * change of that number is followed by a call, which reads it under
 * fiq->lock, so the last call leaves the right transport.  Requests that
 * wait in a queue when the ring stops being ready go to the classic path.
 */
static void fur_ring_sync_ready(struct fur_ring *ring)
{
	struct fur_iqueue *fiq = &ring->fc->iq;
	struct fur_ring_queue *q;
	struct fur_req *req, *next;
	bool ready, drain = false;
	LIST_HEAD(reqs);
	unsigned int i;

	spin_lock(&fiq->lock);
	ready = fiq->connected && !READ_ONCE(ring->stopped) &&
		atomic_read(&ring->nr_ready) == ring->nr_queues;
	if (ready != ring->ready) {
		ring->ready = ready;
		fiq->ops = ready ? &ring->ops : &fur_dev_iqueue_ops;
		drain = !ready;
	}
	spin_unlock(&fiq->lock);
	if (!drain)
		return;

	/* No ring send runs any more: they all held fiq->lock. */
	for (i = 0; i < ring->nr_queues; i++) {
		q = ring->queues[i];
		spin_lock(&q->lock);
		list_splice_tail_init(&q->reqs, &reqs);
		spin_unlock(&q->lock);
	}
	list_for_each_entry_safe(req, next, &reqs, list) {
		list_del_init(&req->list);
		spin_lock(&fiq->lock);
		if (!fiq->connected) {
			spin_unlock(&fiq->lock);
			fur_ring_fail_req(req, -ENOTCONN);
			continue;
		}
		fur_dev_iqueue_ops.send_req(fiq, req);
	}
}

/* ---- Kernels without cancelable commands (6.1) ---- */

#if FUR_HAVE_URING_CMD_CANCEL
static void fur_ring_watch_start(struct fur_ring *ring) {}
static void fur_ring_watch_stop(struct fur_ring *ring) {}
#else
/*
 * 6.1's io_uring cannot hand a command back to its driver: a task that
 * exits leaves its commands to the driver, and a closed ring waits in
 * its exit work for them.  A parked command holds the device file, whose
 * release is what aborts the connection, so nothing would ever complete
 * it.  Instead the ring looks every FUR_RING_WATCH_PERIOD for parked
 * commands io_uring has given up on (fur_cmd_orphaned()) and completes
 * them as the cancel callback of later kernels does.  Entries in other
 * states complete their commands on their own; their task work sees the
 * same test (fur_ring_dispatch_tw()).
 */
#define FUR_RING_WATCH_PERIOD	(HZ / 10)

static void fur_ring_watch(struct work_struct *work)
{
	struct fur_ring *ring = container_of(to_delayed_work(work),
					     struct fur_ring, watch);
	struct fur_ring_ent *ent, *next;
	struct fur_ring_queue *q;
	bool last = false;
	unsigned int i;

	for (i = 0; i < ring->nr_queues; i++) {
		LIST_HEAD(orphans);

		q = ring->queues[i];
		spin_lock(&q->lock);
		list_for_each_entry_safe(ent, next, &q->ent_avail, list) {
			if (!fur_cmd_orphaned(ent->cmd))
				continue;
			last |= fur_ent_unlink(ent);
			list_add_tail(&ent->list, &orphans);
		}
		spin_unlock(&q->lock);
		list_for_each_entry_safe(ent, next, &orphans, list) {
			list_del(&ent->list);
			fur_cmd_done(ent->cmd, -ENOTCONN, IO_URING_F_UNLOCKED);
			kfree(ent);
		}
	}
	if (last)
		fur_ring_sync_ready(ring);
	/* After the abort no command parks any more. */
	if (!READ_ONCE(ring->stopped))
		schedule_delayed_work(&ring->watch, FUR_RING_WATCH_PERIOD);
}

static void fur_ring_watch_start(struct fur_ring *ring)
{
	INIT_DELAYED_WORK(&ring->watch, fur_ring_watch);
	schedule_delayed_work(&ring->watch, FUR_RING_WATCH_PERIOD);
}

static void fur_ring_watch_stop(struct fur_ring *ring)
{
	cancel_delayed_work_sync(&ring->watch);
}
#endif

/* ---- Commands ---- */

static int fur_ring_commit(struct fur_conn *fc, struct io_uring_cmd *cmd,
			   const struct fuse_uring_cmd_req *cr,
			   unsigned int flags)
{
	struct fur_ring *ring = READ_ONCE(fc->ring);
	u64 commit_id = READ_ONCE(cr->commit_id);
	u16 qid = READ_ONCE(cr->qid);
	struct fur_ring_ent *ent, *found = NULL;
	struct fur_ring_queue *q;
	struct fur_req *req;
	bool last;
	int err;

	if (!ring)
		return -EINVAL;
	if (qid >= ring->nr_queues)
		return -EINVAL;
	q = ring->queues[qid];

	spin_lock(&q->lock);
	if (q->stopped) {
		spin_unlock(&q->lock);
		return -ENOTCONN;
	}
	if (!fur_bufpool_cmd_ok(q, cmd)) {
		spin_unlock(&q->lock);
		return -EINVAL;
	}
	list_for_each_entry(ent, &q->ent_user, list) {
		if (ent->req->in.h.unique == commit_id) {
			found = ent;
			break;
		}
	}
	if (!found) {
		/* Unknown or already committed: never ends anything. */
		q->stats.errors++;
		spin_unlock(&q->lock);
		return -ENOENT;
	}
	ent = found;
	if (!fur_zcb_commit_ok(ent, cmd)) {
		q->stats.errors++;
		spin_unlock(&q->lock);
		return -EINVAL;
	}
	req = ent->req;
	ent->cmd = cmd;
	ent->task = current;
	fur_cmd_pdu(cmd)->ent = ent;
	fur_ent_set(ent, FUR_ENT_COMMIT);
	q->stats.inflight--;
	spin_unlock(&q->lock);

	err = fur_ring_copy_out(ent, req, flags);
	/*
	 * The pages go back to the client: out of the server's window, or
	 * its buffer table, first.
	 */
	fur_zc_unmap(ent);
	fur_zcb_unregister(ent, cmd, flags);

	spin_lock(&q->lock);
	ent->req = NULL;
	/* The slot is free again; the park may take it for the next. */
	if (q->pool)
		fur_bufpool_put_slot(ent);
	if (q->stopped) {
		last = fur_ent_unlink(ent);
		spin_unlock(&q->lock);
		fur_ring_fail_req(req, -ENOTCONN);
		fur_ent_free(ent, last);
		return -ENOTCONN;
	}
	if (err)
		q->stats.errors++;
	else
		q->stats.committed++;
	spin_unlock(&q->lock);

	/* A bad reply fails its request, as on the classic path. */
	if (err)
		req->out.h.error = -EIO;
	req->ring_entry = NULL;
	fur_request_end(req);
	return fur_ring_park(ent, flags);
}

static void fur_ring_debugfs_add(struct fur_ring *ring)
{
	unsigned int i, id = atomic_inc_return(&fur_ring_ids);
	struct dentry *dir;
	char name[32];
	dev_t dev = 0;

	if (IS_ERR_OR_NULL(fur_uring_debugfs_root))
		return;
	/* Named MAJOR:MINOR of the mount's superblock, as mountinfo shows. */
	spin_lock(&ring->fc->lock);
	if (!list_empty(&ring->fc->mounts))
		dev = list_first_entry(&ring->fc->mounts, struct fur_mount,
				       fc_entry)->sb->s_dev;
	spin_unlock(&ring->fc->lock);
	if (dev)
		snprintf(name, sizeof(name), "%u:%u", MAJOR(dev), MINOR(dev));
	else
		snprintf(name, sizeof(name), "ring%u", id);
	ring->debugfs = debugfs_create_dir(name, fur_uring_debugfs_root);
	for (i = 0; i < ring->nr_queues; i++) {
		struct fur_ring_stats *st = &ring->queues[i]->stats;

		snprintf(name, sizeof(name), "queue%u", i);
		dir = debugfs_create_dir(name, ring->debugfs);
		debugfs_create_u64("dispatched", 0444, dir, &st->dispatched);
		debugfs_create_u64("inflight", 0444, dir, &st->inflight);
		debugfs_create_u64("committed", 0444, dir, &st->committed);
		debugfs_create_u64("errors", 0444, dir, &st->errors);
		debugfs_create_u32("pool_slots", 0444, dir,
				   &ring->queues[i]->pool_slots);
		debugfs_create_u32("pool_free", 0444, dir,
				   &ring->queues[i]->pool_free);
		debugfs_create_u64("pool_waits", 0444, dir,
				   &ring->queues[i]->pool_waits);
		debugfs_create_u64("zc_requests", 0444, dir,
				   &ring->queues[i]->zc_requests);
	}
	debugfs_create_u32("queues", 0444, ring->debugfs, &ring->nr_queues);
}

static void fur_ring_abort(struct fur_conn *fc);

/* The connection's ring, made by the first REGISTER. */
static struct fur_ring *fur_ring_get(struct fur_conn *fc)
{
	static DEFINE_MUTEX(create_mutex);
	unsigned int i, nr = fur_ring_nr_queues();
	struct fur_ring *ring = READ_ONCE(fc->ring);

	if (ring)
		return ring;
	mutex_lock(&create_mutex);
	ring = fc->ring;
	if (ring)
		goto out;
	ring = kzalloc(struct_size(ring, queues, nr), GFP_KERNEL);
	if (!ring)
		goto out;
	ring->fc = fc;
	ring->nr_queues = nr;
	ring->max_payload = max3(8192U, fc->max_write,
				 fc->max_pages << PAGE_SHIFT);
	ring->ops = fur_dev_iqueue_ops;
	ring->ops.send_req = fur_ring_send_req;
	for (i = 0; i < nr; i++) {
		struct fur_ring_queue *q = kzalloc(sizeof(*q), GFP_KERNEL);

		if (!q)
			goto fail;
		spin_lock_init(&q->lock);
		q->qid = i;
		q->ring = ring;
		INIT_LIST_HEAD(&q->ent_avail);
		INIT_LIST_HEAD(&q->ent_dispatch);
		INIT_LIST_HEAD(&q->ent_user);
		INIT_LIST_HEAD(&q->ent_commit);
		INIT_LIST_HEAD(&q->reqs);
		ring->queues[i] = q;
	}
	fur_ring_debugfs_add(ring);
	fur_ring_watch_start(ring);
	fc->abort_transport = fur_ring_abort;
	/* Readers without the mutex see a fully built ring. */
	smp_store_release(&fc->ring, ring);
	goto out;
fail:
	while (i--)
		kfree(ring->queues[i]);
	kfree(ring);
	ring = NULL;
out:
	mutex_unlock(&create_mutex);
	return ring;
}

/*
 * The ring of a connection whose server may send ring commands now, or an
 * error: -EAGAIN before the INIT reply (it tells whether the server takes
 * the ring, and max_write), -EOPNOTSUPP if it did not take it.
 */
static struct fur_ring *fur_ring_for_cmd(struct fur_conn *fc)
{
	struct fur_ring *ring;

	if (!READ_ONCE(fc->initialized))
		return ERR_PTR(-EAGAIN);
	/* Pairs with smp_wmb() in the INIT reply. */
	smp_rmb();
	if (fc->conn_error || !fc->over_io_uring)
		return ERR_PTR(-EOPNOTSUPP);
	ring = fur_ring_get(fc);
	return ring ?: ERR_PTR(-ENOMEM);
}

/*
 * Check a REGISTER's payload buffer against the queue's mode: on a pool
 * queue, none ({NULL, 0}, as upstream) and the pool's buffer index; else
 * a buffer of max_payload bytes, which fixes the queue to per-entry
 * buffers.  Announces the queue, as ADD_QUEUE would.
 */
static int fur_ring_register_payload(struct fur_ring_queue *q,
				     struct io_uring_cmd *cmd,
				     const struct iovec *payload)
{
	int err = 0;

	spin_lock(&q->lock);
	if (q->payload_mode == FUR_PAYLOAD_POOL) {
		if (payload->iov_base || payload->iov_len ||
		    !fur_bufpool_cmd_ok(q, cmd))
			err = -EINVAL;
	} else if (q->zc_bvec) {
		/* As upstream: zero-copy queues take only pools. */
		err = -EINVAL;
	} else if (payload->iov_len < q->ring->max_payload) {
		err = -EINVAL;
	} else {
		q->payload_mode = FUR_PAYLOAD_PER_ENT;
	}
	if (!err)
		q->added = true;
	spin_unlock(&q->lock);
	return err;
}

/* Catch unmapped buffers now rather than at the first request. */
static bool fur_ring_buf_mapped(const struct iovec *iov, size_t len)
{
	char __user *p = iov->iov_base;
	char c;

	if (!len)
		return true;
	return access_ok(p, iov->iov_len) && !get_user(c, p) &&
	       !get_user(c, p + len - 1);
}

static int fur_ring_register(struct fur_conn *fc, struct io_uring_cmd *cmd,
			     const struct fuse_uring_cmd_req *cr,
			     unsigned int flags)
{
	const struct io_uring_sqe *sqe = fur_cmd_sqe(cmd);
	u16 qid = READ_ONCE(cr->qid);
	struct iovec iov[2];
	struct fur_ring_queue *q;
	struct fur_ring_ent *ent;
	struct fur_ring *ring;
	u64 addr;
	u32 len;
	int err;

	ring = fur_ring_for_cmd(fc);
	if (IS_ERR(ring))
		return PTR_ERR(ring);
	if (qid >= ring->nr_queues)
		return -EINVAL;
	q = ring->queues[qid];

	/* 6.1 only: a command issued asynchronously has lost its SQE. */
	if (IS_ERR(sqe))
		return PTR_ERR(sqe);
	addr = READ_ONCE(sqe->addr);
	len = READ_ONCE(sqe->len);
	if (len != ARRAY_SIZE(iov))
		return -EINVAL;
	if (copy_from_user(iov, u64_to_user_ptr(addr), sizeof(iov)))
		return -EFAULT;
	if (iov[0].iov_len < sizeof(struct fuse_uring_req_header))
		return -EINVAL;
	err = fur_ring_register_payload(q, cmd, &iov[1]);
	if (err)
		return err;
	if (!fur_ring_buf_mapped(&iov[0], sizeof(struct fuse_uring_req_header)) ||
	    !fur_ring_buf_mapped(&iov[1], q->pool ? 0 : ring->max_payload))
		return -EFAULT;

	ent = kzalloc(sizeof(*ent), GFP_KERNEL_ACCOUNT);
	if (!ent)
		return -ENOMEM;
	err = fur_zc_register(q, ent, cr);
	if (err) {
		kfree(ent);
		return err;
	}
	INIT_LIST_HEAD(&ent->list);
	ent->queue = q;
	ent->cmd = cmd;
	ent->task = current;
	ent->state = FUR_ENT_FREE;
	ent->slot = FUR_NO_SLOT;
	ent->headers = iov[0].iov_base;
	ent->payload = iov[1].iov_base;
	ent->payload_sz = ring->max_payload;
	fur_cmd_pdu(cmd)->ent = ent;

	spin_lock(&q->lock);
	/*
	 * An abort that ran while the ring was being created found no
	 * abort_transport: the connection's state says it all.
	 */
	if (q->stopped || !READ_ONCE(fc->connected)) {
		spin_unlock(&q->lock);
		kfree(ent);
		return -ENOTCONN;
	}
	q->nr_ents++;
	if (q->nr_ents == 1)
		atomic_inc(&ring->nr_ready);
	spin_unlock(&q->lock);
	fur_ring_sync_ready(ring);
	return fur_ring_park(ent, flags);
}

/*
 * IO_URING_F_CANCEL: the ring is closing or its task exits.  Only a parked
 * entry gives its command back; any other state completes the command on
 * its own soon.
 */
static void fur_ring_cancel(struct io_uring_cmd *cmd, unsigned int flags)
{
	struct fur_ring_ent *ent = fur_cmd_pdu(cmd)->ent;
	struct fur_ring_queue *q = ent->queue;
	bool last;

	spin_lock(&q->lock);
	if (ent->state != FUR_ENT_AVAIL || ent->cmd != cmd) {
		spin_unlock(&q->lock);
		return;
	}
	last = fur_ent_unlink(ent);
	spin_unlock(&q->lock);
	fur_cmd_done(cmd, -ENOTCONN, flags);
	fur_ent_free(ent, last);
}

/*
 * REGISTER and COMMIT_AND_FETCH define no flags and no padding: a server
 * that sets them expects something fuseuring does not do.
 */
static bool fur_cmd_req_clean(const struct fuse_uring_cmd_req *cr)
{
	u8 padding[sizeof(cr->padding)];

	memcpy(padding, cr->padding, sizeof(padding));
	return !READ_ONCE(cr->flags) &&
	       !memchr_inv(padding, 0, sizeof(padding));
}

/*
 * .uring_cmd of /dev/fuseuring.  Errors: -EINVAL for an SQE64 ring, a bad
 * qid or iovec, flags or padding set in REGISTER or COMMIT_AND_FETCH, a
 * short buffer, or an unknown command; -EFAULT for an
 * unmapped buffer; -EAGAIN before the INIT reply; -EOPNOTSUPP if the
 * server did not accept FUSE_OVER_IO_URING; -ENOTCONN after the abort;
 * -ENOENT for a commit id the queue does not have in the server's hands.
 * ADD_QUEUE and ADD_BUFPOOL complete at once (bufpool.c has their errnos).
 */
int fur_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	const struct fuse_uring_cmd_req *cr;
	struct fur_ring *ring;
	struct fur_conn *fc;

	if (unlikely(fur_issue_is_cancel(issue_flags))) {
		fur_ring_cancel(cmd, issue_flags);
		return 0;
	}
	fc = fur_cmd_conn(cmd);
	if (!fc)
		return -EPERM;
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	if (!READ_ONCE(fc->connected))
		return -ENOTCONN;
	cr = fur_cmd_area(cmd);

	switch (cmd->cmd_op) {
	case FUSE_IO_URING_CMD_REGISTER:
		if (!fur_cmd_req_clean(cr))
			return -EINVAL;
		return fur_ring_register(fc, cmd, cr, issue_flags);
	case FUSE_IO_URING_CMD_COMMIT_AND_FETCH:
		if (!fur_cmd_req_clean(cr))
			return -EINVAL;
		return fur_ring_commit(fc, cmd, cr, issue_flags);
	case FUSE_IO_URING_CMD_ADD_QUEUE:
		ring = fur_ring_for_cmd(fc);
		return IS_ERR(ring) ? PTR_ERR(ring) :
		       fur_ring_add_queue(ring, cr);
	case FUSE_IO_URING_CMD_ADD_BUFPOOL:
		ring = fur_ring_for_cmd(fc);
		return IS_ERR(ring) ? PTR_ERR(ring) :
		       fur_ring_add_bufpool(ring, cmd, cr, issue_flags);
	default:
		return -EINVAL;
	}
}

/* ---- Teardown ---- */

/*
 * fc->abort_transport, from fur_abort_conn() in process context once the
 * input queue is disconnected (no new request reaches the ring).  Waiting
 * requests and those in the server's hands end with -ENOTCONN; parked
 * commands complete with -ENOTCONN.  Entries copying a request or a reply
 * right now (DISPATCH, COMMIT) are finished by their copier, which sees
 * the queue stopped.  A late COMMIT_AND_FETCH gets -ENOTCONN.
 */
static void fur_ring_abort(struct fur_conn *fc)
{
	struct fur_ring *ring = fc->ring;
	struct fur_ring_ent *ent, *next;
	struct fur_req *req, *rnext;
	struct fur_ring_queue *q;
	unsigned int i;
	LIST_HEAD(parked);
	LIST_HEAD(held);
	LIST_HEAD(reqs);

	WRITE_ONCE(ring->stopped, true);
	for (i = 0; i < ring->nr_queues; i++) {
		q = ring->queues[i];
		spin_lock(&q->lock);
		q->stopped = true;
		list_splice_tail_init(&q->reqs, &reqs);
		list_for_each_entry_safe(ent, next, &q->ent_user, list) {
			list_add_tail(&ent->req->list, &reqs);
			ent->req = NULL;
			fur_ent_unlink(ent);
			list_add_tail(&ent->list, &held);
		}
		list_for_each_entry_safe(ent, next, &q->ent_avail, list) {
			fur_ent_unlink(ent);
			list_add_tail(&ent->list, &parked);
		}
		q->stats.inflight = 0;
		spin_unlock(&q->lock);
	}

	/*
	 * Pages the server holds leave its window, or its buffer table (with
	 * a parked command of the same ring, of any queue), before they end.
	 */
	fur_zcb_abort(&held, &parked);
	list_for_each_entry_safe(ent, next, &held, list) {
		list_del(&ent->list);
		fur_zc_unmap(ent);
		kfree(ent);
	}
	list_for_each_entry_safe(req, rnext, &reqs, list) {
		list_del_init(&req->list);
		set_bit(FR_ABORTED, &req->flags);
		fur_ring_fail_req(req, -ENOTCONN);
	}
	list_for_each_entry_safe(ent, next, &parked, list) {
		list_del(&ent->list);
		fur_cmd_done(ent->cmd, -ENOTCONN, IO_URING_F_UNLOCKED);
		kfree(ent);
	}
	fur_ring_sync_ready(ring);
}

/* The connection is being freed: no command can be outstanding. */
void fur_uring_destroy(struct fur_conn *fc)
{
	struct fur_ring *ring = fc->ring;
	struct fur_ring_ent *ent, *next;
	struct fur_ring_queue *q;
	unsigned int i;

	if (!ring)
		return;
	fur_ring_watch_stop(ring);
	debugfs_remove_recursive(ring->debugfs);
	for (i = 0; i < ring->nr_queues; i++) {
		q = ring->queues[i];
		WARN_ON_ONCE(!list_empty(&q->ent_avail) ||
			     !list_empty(&q->ent_dispatch) ||
			     !list_empty(&q->ent_commit) ||
			     !list_empty(&q->reqs));
		list_for_each_entry_safe(ent, next, &q->ent_user, list) {
			fur_zcb_unregister(ent, NULL, 0);
			kfree(ent);
		}
		fur_bufpool_free(q->pool);
		kfree(q);
	}
	kfree(ring);
	fc->ring = NULL;
}

void __init fur_uring_init(void)
{
	fur_uring_debugfs_root = debugfs_create_dir("fuseuring", NULL);
}

void fur_uring_exit(void)
{
	debugfs_remove_recursive(fur_uring_debugfs_root);
}

#endif /* FUR_HAVE_RING */
