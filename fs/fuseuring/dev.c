// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the /dev/fuseuring character device, the classic transport.
 * The server reads requests (interrupts first, then forgets now and then,
 * then requests in order) and writes replies and notifications.
 */

#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "fuseuring_i.h"

/* How many forgets to send before giving a request its turn. */
#define FUR_MAX_FORGET_BATCH	16

static struct fur_dev *fur_get_dev(struct file *file)
{
	/* Pairs with smp_store_release() at mount time. */
	return smp_load_acquire(&file->private_data);
}

static void fur_dev_wake(struct fur_iqueue *fiq)
	__releases(fiq->lock)
{
	wake_up(&fiq->waitq);
	kill_fasync(&fiq->fasync, SIGIO, POLL_IN);
	spin_unlock(&fiq->lock);
}

static void fur_dev_send_forget(struct fur_iqueue *fiq,
				struct fur_forget_link *link)
	__releases(fiq->lock)
{
	fiq->forget_list_tail->next = link;
	fiq->forget_list_tail = link;
	fur_dev_wake(fiq);
}

static void fur_dev_send_interrupt(struct fur_iqueue *fiq, struct fur_req *req)
	__releases(fiq->lock)
{
	/* fur_queue_interrupt() already put it on fiq->interrupts. */
	fur_dev_wake(fiq);
}

static void fur_dev_send_req(struct fur_iqueue *fiq, struct fur_req *req)
	__releases(fiq->lock)
{
	set_bit(FR_PENDING, &req->flags);
	list_add_tail(&req->list, &fiq->pending);
	fur_dev_wake(fiq);
}

const struct fur_iqueue_ops fur_dev_iqueue_ops = {
	.send_forget	= fur_dev_send_forget,
	.send_interrupt	= fur_dev_send_interrupt,
	.send_req	= fur_dev_send_req,
};
EXPORT_SYMBOL_GPL(fur_dev_iqueue_ops);

static bool fur_forget_pending(struct fur_iqueue *fiq)
{
	return fiq->forget_list_head.next;
}

static bool fur_request_ready(struct fur_iqueue *fiq)
{
	return !list_empty(&fiq->pending) || !list_empty(&fiq->interrupts) ||
	       fur_forget_pending(fiq);
}

static bool fur_dev_wake_cond(struct fur_iqueue *fiq)
{
	return !READ_ONCE(fiq->connected) || fur_request_ready(fiq);
}

/*
 * Where a read of the device puts one message.  read(2) copies it into
 * the reader's buffer as it goes.  splice(2) copies it into pages laid
 * out once the message's size is known (dev_splice.c), so that a
 * request's page data starts on a pipe buffer of its own.
 */
struct fur_dev_out {
	struct iov_iter *to;
	size_t space;			/* the largest message it takes */
	struct fur_dev_splice *sp;	/* splice(2) only */
};

/*
 * A message of size bytes, the last data of them page data, is about to
 * be copied to out->to.  -ENOSPC if the reader could not take it.
 */
static int fur_dev_out_begin(struct fur_dev_out *out, size_t size,
			     size_t data)
{
	int err;

	if (size > out->space)
		return -ENOSPC;
	if (!out->sp)
		return 0;
	err = fur_dev_splice_layout(out->sp, size, data);
	if (!err)
		out->to = &out->sp->iter;
	return err;
}

static ssize_t fur_read_interrupt(struct fur_iqueue *fiq,
				  struct fur_dev_out *out, struct fur_req *req)
	__releases(fiq->lock)
{
	struct fuse_in_header ih = {};
	struct fuse_interrupt_in arg = {};
	size_t size = sizeof(ih) + sizeof(arg);
	int err;

	list_del_init(&req->intr_entry);
	ih.len = size;
	ih.opcode = FUSE_INTERRUPT;
	ih.unique = req->in.h.unique | FUSE_INT_REQ_BIT;
	arg.unique = req->in.h.unique;
	spin_unlock(&fiq->lock);

	err = fur_dev_out_begin(out, size, 0);
	if (err)
		return err == -ENOSPC ? -EINVAL : err;
	if (copy_to_iter(&ih, sizeof(ih), out->to) != sizeof(ih) ||
	    copy_to_iter(&arg, sizeof(arg), out->to) != sizeof(arg))
		return -EFAULT;
	return size;
}

/* Take up to max forgets off the queue. */
static struct fur_forget_link *fur_dequeue_forgets(struct fur_iqueue *fiq,
						   unsigned int max,
						   unsigned int *countp)
{
	struct fur_forget_link *head = fiq->forget_list_head.next;
	struct fur_forget_link **newhead = &head;
	unsigned int count;

	for (count = 0; *newhead && count < max; count++)
		newhead = &(*newhead)->next;
	fiq->forget_list_head.next = *newhead;
	*newhead = NULL;
	if (!fiq->forget_list_head.next)
		fiq->forget_list_tail = &fiq->forget_list_head;
	*countp = count;
	return head;
}

static ssize_t fur_read_forgets(struct fur_iqueue *fiq,
				struct fur_dev_out *out)
	__releases(fiq->lock)
{
	size_t nbytes = out->space;
	struct fuse_in_header ih = {};
	struct fuse_batch_forget_in arg = {};
	struct fur_forget_link *head, *next;
	unsigned int max, count;
	ssize_t ret;
	int err = 0;

	if (nbytes < sizeof(ih) + sizeof(arg) + sizeof(head->forget_one)) {
		spin_unlock(&fiq->lock);
		return -EINVAL;
	}
	max = (nbytes - sizeof(ih) - sizeof(arg)) / sizeof(head->forget_one);
	if (!fiq->forget_list_head.next->next)
		max = 1;
	head = fur_dequeue_forgets(fiq, max, &count);
	ih.unique = fur_get_unique(fiq);
	spin_unlock(&fiq->lock);

	if (count == 1) {
		struct fuse_forget_in one = {
			.nlookup = head->forget_one.nlookup,
		};

		ih.opcode = FUSE_FORGET;
		ih.nodeid = head->forget_one.nodeid;
		ih.len = sizeof(ih) + sizeof(one);
		err = fur_dev_out_begin(out, ih.len, 0);
		if (!err &&
		    (copy_to_iter(&ih, sizeof(ih), out->to) != sizeof(ih) ||
		     copy_to_iter(&one, sizeof(one), out->to) != sizeof(one)))
			err = -EFAULT;
	} else {
		ih.opcode = FUSE_BATCH_FORGET;
		ih.len = sizeof(ih) + sizeof(arg) +
			 count * sizeof(head->forget_one);
		arg.count = count;
		err = fur_dev_out_begin(out, ih.len, 0);
		if (!err &&
		    (copy_to_iter(&ih, sizeof(ih), out->to) != sizeof(ih) ||
		     copy_to_iter(&arg, sizeof(arg), out->to) != sizeof(arg)))
			err = -EFAULT;
	}
	ret = ih.len;
	for (; head; head = next) {
		next = head->next;
		if (!err && count > 1 &&
		    copy_to_iter(&head->forget_one, sizeof(head->forget_one),
				 out->to) != sizeof(head->forget_one))
			err = -EFAULT;
		kfree(head);
	}
	return err ? err : ret;
}

static ssize_t fur_dev_do_read(struct fur_dev *fud, struct file *file,
			       struct fur_dev_out *out)
{
	struct fur_conn *fc = fud->fc;
	struct fur_iqueue *fiq = &fc->iq;
	struct fur_pqueue *fpq = fud->pq;
	size_t nbytes = out->space;
	struct fur_args *args;
	struct fur_req *req;
	unsigned int reqsize;
	ssize_t err;

	/*
	 * The server must be able to take the largest request at once;
	 * only its buffer size is checked, before the connection knows
	 * max_write: FUSE_MIN_READ_BUFFER is what every server provides.
	 */
	if (nbytes < FUSE_MIN_READ_BUFFER)
		return -EINVAL;

restart:
	spin_lock(&fiq->lock);
	for (;;) {
		if (!fiq->connected || fur_request_ready(fiq))
			break;
		spin_unlock(&fiq->lock);
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		err = wait_event_interruptible_exclusive(fiq->waitq,
							 fur_dev_wake_cond(fiq));
		if (err)
			return err;
		spin_lock(&fiq->lock);
	}
	if (!fiq->connected) {
		spin_unlock(&fiq->lock);
		return -ENODEV;
	}
	if (!list_empty(&fiq->interrupts)) {
		req = list_first_entry(&fiq->interrupts, struct fur_req,
				       intr_entry);
		return fur_read_interrupt(fiq, out, req);
	}
	if (fur_forget_pending(fiq)) {
		if (list_empty(&fiq->pending) ||
		    fiq->forget_batch-- > 0)
			return fur_read_forgets(fiq, out);
		if (fiq->forget_batch <= -8)
			fiq->forget_batch = FUR_MAX_FORGET_BATCH;
	}

	req = list_first_entry(&fiq->pending, struct fur_req, list);
	clear_bit(FR_PENDING, &req->flags);
	list_del_init(&req->list);
	spin_unlock(&fiq->lock);

	args = req->args;
	reqsize = req->in.h.len;
	err = fur_dev_out_begin(out, reqsize, fur_in_args_page_bytes(args));
	if (err == -ENOSPC) {
		/* The reader can never take it: fail it, serve the next. */
		req->out.h.error = -EIO;
		if (args->opcode == FUSE_SETXATTR)
			req->out.h.error = -E2BIG;
		fur_request_end(req);
		goto restart;
	}
	if (err) {
		req->out.h.error = err;
		fur_request_end(req);
		return err;
	}

	spin_lock(&fpq->lock);
	if (!fpq->connected) {
		spin_unlock(&fpq->lock);
		req->out.h.error = -ENOTCONN;
		fur_request_end(req);
		return -ENODEV;
	}
	list_add(&req->list, &fpq->io);
	set_bit(FR_LOCKED, &req->flags);
	spin_unlock(&fpq->lock);

	err = 0;
	if (copy_to_iter(&req->in.h, sizeof(req->in.h), out->to) !=
	    sizeof(req->in.h))
		err = -EFAULT;
	if (!err)
		err = fur_copy_in_args(out->to, args, 0);

	spin_lock(&fpq->lock);
	clear_bit(FR_LOCKED, &req->flags);
	if (!fpq->connected) {
		list_del_init(&req->list);
		spin_unlock(&fpq->lock);
		req->out.h.error = -ENOTCONN;
		fur_request_end(req);
		return -ENODEV;
	}
	if (err) {
		list_del_init(&req->list);
		spin_unlock(&fpq->lock);
		req->out.h.error = -EIO;
		fur_request_end(req);
		return err;
	}
	if (!test_bit(FR_ISREPLY, &req->flags)) {
		list_del_init(&req->list);
		spin_unlock(&fpq->lock);
		fur_request_end(req);
		return reqsize;
	}
	list_move_tail(&req->list,
		       &fpq->processing[hash_64(req->in.h.unique,
						FUR_PQ_HASH_BITS)]);
	/* Keep it alive for the interrupt check below. */
	refcount_inc(&req->count);
	set_bit(FR_SENT, &req->flags);
	spin_unlock(&fpq->lock);
	/* Pairs with the barrier in fur_wait_answer(). */
	smp_mb__after_atomic();
	if (test_bit(FR_INTERRUPTED, &req->flags))
		fur_queue_interrupt(req);
	fur_put_request(req);
	return reqsize;
}

static ssize_t fur_dev_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct fur_dev *fud = fur_get_dev(iocb->ki_filp);
	struct fur_dev_out out = { .to = to, .space = iov_iter_count(to) };

	if (!fud)
		return -EPERM;
	return fur_dev_do_read(fud, iocb->ki_filp, &out);
}

/*
 * splice(2) from the device into a pipe (libfuse's way to take a WRITE's
 * payload without copying it through user memory); the caller holds the
 * pipe's lock.
 */
static ssize_t fur_dev_splice_read(struct file *in, loff_t *ppos,
				   struct pipe_inode_info *pipe, size_t len,
				   unsigned int flags)
{
	struct fur_dev *fud = fur_get_dev(in);
	struct fur_dev_splice sp;
	struct fur_dev_out out = { .sp = &sp };
	ssize_t ret;

	if (!fud)
		return -EPERM;
	/* A request once taken must reach the pipe: no reader, no taking. */
	if (!pipe->readers) {
		send_sig(SIGPIPE, current, 0);
		return -EPIPE;
	}
	out.space = fur_dev_splice_init(&sp, pipe, len);
	ret = fur_dev_do_read(fud, in, &out);
	if (ret > 0)
		ret = fur_dev_splice_push(&sp);
	fur_dev_splice_release(&sp);
	return ret;
}

/* Look a request the server holds up by its unique; fpq->lock held. */
struct fur_req *fur_request_find(struct fur_pqueue *fpq, u64 unique)
{
	unsigned int h = hash_64(unique, FUR_PQ_HASH_BITS);
	struct fur_req *req;

	list_for_each_entry(req, &fpq->processing[h], list) {
		if (req->in.h.unique == unique)
			return req;
	}
	return NULL;
}
EXPORT_SYMBOL_GPL(fur_request_find);

/* Check what every reply header must satisfy, whatever the transport. */
int fur_reply_header_valid(const struct fuse_out_header *oh)
{
	if (oh->error <= -ERESTARTSYS || oh->error > 0)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_GPL(fur_reply_header_valid);

static ssize_t fur_dev_interrupt_reply(struct fur_conn *fc,
				       struct fur_pqueue *fpq,
				       struct fuse_out_header *oh,
				       size_t nbytes)
{
	struct fur_req *req;

	if (nbytes != sizeof(*oh))
		return -EINVAL;
	spin_lock(&fpq->lock);
	req = fur_request_find(fpq, oh->unique & ~FUSE_INT_REQ_BIT);
	if (!req) {
		spin_unlock(&fpq->lock);
		return -ENOENT;
	}
	refcount_inc(&req->count);
	spin_unlock(&fpq->lock);

	if (oh->error == -FUR_ENOSYS)
		fc->no_interrupt = true;
	else if (oh->error == -EAGAIN)
		fur_queue_interrupt(req);
	fur_put_request(req);
	return nbytes;
}

static ssize_t fur_dev_do_write(struct fur_dev *fud, struct iov_iter *from)
{
	struct fur_conn *fc = fud->fc;
	struct fur_pqueue *fpq = fud->pq;
	size_t nbytes = iov_iter_count(from);
	struct fuse_out_header oh;
	struct fur_req *req;
	int err;

	if (nbytes < sizeof(oh))
		return -EINVAL;
	if (copy_from_iter(&oh, sizeof(oh), from) != sizeof(oh))
		return -EFAULT;
	if (oh.len != nbytes)
		return -EINVAL;

	if (!oh.unique) {
		err = fur_notify(fc, oh.error, nbytes - sizeof(oh), from);
		return err ? err : nbytes;
	}
	if (fur_reply_header_valid(&oh))
		return -EINVAL;
	if (oh.unique & FUSE_INT_REQ_BIT)
		return fur_dev_interrupt_reply(fc, fpq, &oh, nbytes);

	spin_lock(&fpq->lock);
	req = fpq->connected ? fur_request_find(fpq, oh.unique) : NULL;
	if (!req) {
		spin_unlock(&fpq->lock);
		return -ENOENT;
	}
	list_move(&req->list, &fpq->io);
	set_bit(FR_LOCKED, &req->flags);
	spin_unlock(&fpq->lock);

	req->out.h = oh;
	if (oh.error)
		err = nbytes == sizeof(oh) ? 0 : -EINVAL;
	else
		err = fur_copy_out_args(from, req->args, nbytes - sizeof(oh));

	spin_lock(&fpq->lock);
	clear_bit(FR_LOCKED, &req->flags);
	if (!fpq->connected)
		err = -ENOENT;
	else if (err)
		req->out.h.error = -EIO;
	list_del_init(&req->list);
	spin_unlock(&fpq->lock);
	if (err == -ENOENT)
		req->out.h.error = -ENOTCONN;
	fur_request_end(req);
	return err ? err : nbytes;
}

static ssize_t fur_dev_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct fur_dev *fud = fur_get_dev(iocb->ki_filp);

	if (!fud)
		return -EPERM;
	return fur_dev_do_write(fud, from);
}

static __poll_t fur_dev_poll(struct file *file, poll_table *wait)
{
	struct fur_dev *fud = fur_get_dev(file);
	struct fur_iqueue *fiq;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	if (!fud)
		return EPOLLERR;
	fiq = &fud->fc->iq;
	poll_wait(file, &fiq->waitq, wait);
	spin_lock(&fiq->lock);
	if (!fiq->connected)
		mask = EPOLLERR;
	else if (fur_request_ready(fiq))
		mask |= EPOLLIN | EPOLLRDNORM;
	spin_unlock(&fiq->lock);
	return mask;
}

static int fur_dev_open(struct inode *inode, struct file *file)
{
	/* A connection is attached by the mount that names this fd. */
	file->private_data = NULL;
	return 0;
}

static int fur_dev_release(struct inode *inode, struct file *file)
{
	struct fur_dev *fud = fur_get_dev(file);
	struct fur_conn *fc;

	if (!fud)
		return 0;
	fc = fud->fc;
	/* The last server file gone: nobody can answer any more. */
	if (atomic_dec_and_test(&fc->dev_count))
		fur_abort_conn(fc);
	fur_dev_free(fud);
	return 0;
}

static int fur_dev_fasync(int fd, struct file *file, int on)
{
	struct fur_dev *fud = fur_get_dev(file);

	if (!fud)
		return -EPERM;
	return fasync_helper(fd, file, on, &fud->fc->iq.fasync);
}

const struct file_operations fur_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= fur_dev_open,
	.read_iter	= fur_dev_read_iter,
	.write_iter	= fur_dev_write_iter,
	.splice_read	= fur_dev_splice_read,
	.splice_write	= iter_file_splice_write,
	.poll		= fur_dev_poll,
	.release	= fur_dev_release,
	.fasync		= fur_dev_fasync,
	.llseek		= noop_llseek,
#if FUR_HAVE_RING
	.uring_cmd	= fur_uring_cmd,
	.mmap		= fur_bufpool_mmap,
#endif
};
EXPORT_SYMBOL_GPL(fur_dev_fops);

static struct miscdevice fuseuring_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FUSEURING_DEV_NAME,
	.fops	= &fur_dev_fops,
	.mode	= FUSEURING_DEV_MODE,
};

int fur_dev_init(void)
{
	return misc_register(&fuseuring_miscdev);
}

void fur_dev_exit(void)
{
	misc_deregister(&fuseuring_miscdev);
}
