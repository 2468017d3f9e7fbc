// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libfuseuring: the io_uring transport.  One thread per queue, pinned to
 * the CPUs the queue serves, with its own ring (SQE128) on which it parks
 * `depth` entries: REGISTER first, then COMMIT_AND_FETCH, which answers the
 * request an entry holds and parks it again.  A completion means a
 * request has been copied into the entry's buffers; the thread decodes it,
 * calls the handler and queues the commit; commits go out in one submit
 * per batch of completions.  The kernel copies in the thread that submits,
 * so each queue's thread alone submits and reaps its ring.
 *
 * With a buffer pool (FUSE 7.46), a queue's entries have header buffers
 * only; the queue has one pool of max-payload slots, and each request
 * names its slot in ring_ent_in_out.offset.  The handler wants the op's
 * header and the payload in one block: each slot is also mapped alone,
 * after a private page that takes the header (see fur_pool_views()), so
 * the pool's memory is not copied nor doubled, only its address space.
 *
 * With cfg.zero_copy, where the kernel has upstream's zero-copy (it
 * registers a request's pages in the ring's buffer table), every queue
 * is a zero-copy queue with a buffer pool (a server-memory one if
 * cfg.bufpool names none) and a sparse buffer table: slot 0 for a
 * registered pool, slot i + 1 for entry i.  Its data then moves with
 * READ_FIXED/WRITE_FIXED on the queue's ring, waited for in the handler
 * (fur_fixed_io(): completions of other entries wait in the stash).
 * Elsewhere each queue asks for fuseuring's zero-copy window (ADD_QUEUE)
 * and maps it; entry i is slot i of the window.  A request that comes
 * with FUSE_URING_ENT_ZERO_COPY has its data there (zerocopy.c's helpers
 * use either); a refused window means copies, as without the option.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include <liburing.h>

#include "fur_internal.h"

/* Room before the payload for the op's header (op_in), so that the
 * handler sees one contiguous argument block without copying the data. */
#define FUR_OP_ROOM	FUSE_URING_OP_IN_OUT_SZ

struct fur_ent {
	struct fur_queue *q;
	struct fuse_uring_req_header *hdr;
	char *region;		/* FUR_OP_ROOM bytes, then the payload */
	char *payload;
	struct iovec iov[2];
	uint64_t commit_id;
};

/* A queue's pool: the memory, and a view of each slot (see above). */
struct fur_pool {
	char *base;		/* USER, FIXED: the pool as one mapping */
	int fd;			/* what the views map: a memfd, or the device */
	off_t fd_off;		/* where the pool starts in fd */
	char **views;		/* slot i's payload at views[i] */
	unsigned int nslots;
};

/* A completion read while a handler waited for its fixed I/O. */
struct fur_stashed {
	struct fur_ent *ent;
	int res;
};

struct fur_queue {
	struct fur_session *se;
	unsigned int qid;
	struct io_uring ring;
	struct fur_pool pool;
	struct fur_ent *ents;
	bool added;		/* ADD_QUEUE done (zero-copy) */
	char *zc_win;		/* the zero-copy window, or NULL */
	size_t zc_len;
	/* Upstream's zero-copy: completions to handle, the bounce file. */
	struct fur_stashed *stash;
	unsigned int nstash;
	int bounce_fd;
	char *bounce;
	unsigned int active;	/* entries the kernel still holds */
	int err;
	pthread_t thread;
	bool started;
	bool registered;
};

struct fur_ring {
	unsigned int nqueues;
	unsigned int depth;
	bool zc_bvec;		/* upstream's zero-copy on every queue */
	size_t payload;		/* per entry, or a pool's slot */
	enum fur_bufpool bufpool;
	unsigned int nslots;	/* per queue, with a pool */
	struct fur_queue *queues;
};

/* Payload commands on a registered pool name its buffer (index 0). */
static void fur_cmd_fixed(struct fur_queue *q, struct io_uring_sqe *sqe)
{
	if (q->se->ring->bufpool == FUR_BUFPOOL_FIXED) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = 0;
	}
}

static void fur_cmd(struct fur_ent *ent, uint32_t cmd_op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ent->q->ring);
	struct fuse_uring_cmd_req *req;

	/* Each entry has one command at most, and the ring room for all. */
	while (!sqe) {
		io_uring_submit(&ent->q->ring);
		sqe = io_uring_get_sqe(&ent->q->ring);
	}
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	/*
	 * Not a fixed file: a registered file would keep the device open
	 * until the ring is torn down, and the kernel ends what a dead
	 * server held only when the device's last reference goes.
	 */
	sqe->fd = ent->q->se->fd;
	sqe->cmd_op = cmd_op;
	sqe->addr = (uintptr_t)ent->iov;
	sqe->len = 2;
	io_uring_sqe_set_data(sqe, ent);
	req = (struct fuse_uring_cmd_req *)sqe->cmd;
	req->qid = ent->q->qid;
	req->commit_id = ent->commit_id;
	/* Upstream: 0 on a queue without zero-copy, as the kernel wants. */
	if (cmd_op == FUSE_IO_URING_CMD_REGISTER && ent->q->se->ring->zc_bvec)
		req->ent_zero_copy_buf_index = ent - ent->q->ents + 1;
	else if (cmd_op == FUSE_IO_URING_CMD_REGISTER && ent->q->zc_win)
		req->ent_zero_copy_buf_index = ent - ent->q->ents;
	fur_cmd_fixed(ent->q, sqe);
}

/* The user_data of fixed I/O: no entry has this address. */
static char fur_fixed_tag;

static void fur_stash(struct fur_queue *q, struct fur_ent *ent, int res)
{
	q->stash[q->nstash++] = (struct fur_stashed){ ent, res };
}

/*
 * One READ_FIXED or WRITE_FIXED on registered buffer zc_index of the
 * queue's ring, waited for.  Only this thread submits and reaps the ring:
 * completions of entries that come meanwhile wait in the stash (each
 * entry has one command at most, so depth places are enough).
 */
static ssize_t ring_fixed_io(struct fur_req *req, bool read, int fd,
			     size_t at, size_t len, off_t off)
{
	struct fur_req_priv *rp = req->priv;
	struct fur_ent *ent = rp->transport;
	struct fur_queue *q = ent->q;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct io_uring_cqe *cqe;
	void *data;
	int res;

	while (!sqe) {
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	memset(sqe, 0, 128);
	/* A kernel buffer's addresses are offsets into its pages. */
	if (read)
		io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)at, len,
					 off, rp->zc_index);
	else
		io_uring_prep_write_fixed(sqe, fd, (const void *)(uintptr_t)at,
					  len, off, rp->zc_index);
	io_uring_sqe_set_data(sqe, &fur_fixed_tag);
	for (;;) {
		res = io_uring_submit_and_wait(&q->ring, 1);
		if (res < 0 && res != -EINTR)
			return res;
		while (!io_uring_peek_cqe(&q->ring, &cqe)) {
			data = io_uring_cqe_get_data(cqe);
			res = cqe->res;
			io_uring_cqe_seen(&q->ring, cqe);
			if (data == &fur_fixed_tag)
				return res;
			fur_stash(q, data, res);
		}
	}
}

/* Move len bytes between the pages and fd at 0: bytes moved or -errno. */
static ssize_t fur_fixed_all(struct fur_req *req, bool read, int fd,
			     size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = ring_fixed_io(req, read, fd, done, len - done, done);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			return n ? n : -EIO;
		done += n;
	}
	return done;
}

/* A zero-copied WRITE's data, copied into the bounce file's mapping. */
static const void *ring_fixed_data(struct fur_req *req, size_t *len)
{
	struct fur_req_priv *rp = req->priv;
	struct fur_ent *ent = rp->transport;

	if (!rp->zc_data) {
		if (fur_fixed_all(req, false, ent->q->bounce_fd, rp->zc_len) !=
		    (ssize_t)rp->zc_len)
			return NULL;
		rp->zc_data = ent->q->bounce;
	}
	*len = rp->zc_len;
	return rp->zc_data;
}

static int ring_send(struct fur_req *req, int error, const struct iovec *iov,
		     int n)
{
	struct fur_req_priv *rp = req->priv;
	struct fur_ent *ent = rp->transport;
	size_t max = ent->q->se->ring->payload, off = 0;
	struct fuse_out_header oh = { .error = error, .unique = rp->in.unique };
	char *dst = ent->payload;
	int i;

	/* A zero-copy READ's data goes to the client's pages, in the window. */
	if (rp->zc_data && rp->in.opcode == FUSE_READ) {
		dst = rp->zc_data;
		max = rp->zc_len;
	}
	/* Or to registered pages, by a READ_FIXED from the bounce file. */
	if (rp->zc_fixed && rp->in.opcode == FUSE_READ) {
		dst = ent->q->bounce;
		max = rp->zc_len < max ? rp->zc_len : max;
	}
	for (i = 0; i < n; i++) {
		if (off + iov[i].iov_len > max) {
			oh.error = -EIO;	/* a reply the entry cannot carry */
			off = 0;
			break;
		}
		memmove(dst + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	if (rp->zc_fixed && rp->in.opcode == FUSE_READ && off && !oh.error &&
	    fur_fixed_all(req, true, ent->q->bounce_fd, off) != (ssize_t)off) {
		oh.error = -EIO;
		off = 0;
	}
	oh.len = sizeof(oh) + off;
	memcpy(ent->hdr->in_out, &oh, sizeof(oh));
	ent->hdr->ring_ent_in_out.payload_sz = off;
	fur_cmd(ent, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
	return 0;
}

/* The payload (or window) already holds len bytes of reply. */
static int ring_send_inplace(struct fur_req *req, size_t len)
{
	struct fur_req_priv *rp = req->priv;
	struct fur_ent *ent = rp->transport;
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .unique = rp->in.unique,
	};

	memcpy(ent->hdr->in_out, &oh, sizeof(oh));
	ent->hdr->ring_ent_in_out.payload_sz = len;
	fur_cmd(ent, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
	return 0;
}

static char *ring_buf(struct fur_req *req, size_t *cap)
{
	struct fur_req_priv *rp = req->priv;
	struct fur_ent *ent = rp->transport;

	*cap = ent->q->se->ring->payload;
	return ent->payload;
}

static const struct fur_reply_ops ring_rops = {
	.send = ring_send, .buf = ring_buf, .send_inplace = ring_send_inplace,
	.fixed_io = ring_fixed_io, .fixed_data = ring_fixed_data,
};

static void fur_ent_request(struct fur_ent *ent)
{
	struct fuse_uring_req_header *h = ent->hdr;
	struct fur_req_priv rp = { .rops = &ring_rops, .transport = ent };
	size_t args, head;
	uint32_t psz;

	struct fur_ring *r = ent->q->se->ring;
	uint32_t slot = h->ring_ent_in_out.offset / r->payload;
	bool bad_slot = false;

	memcpy(&rp.in, h->in_out, sizeof(rp.in));
	psz = h->ring_ent_in_out.payload_sz;
	ent->commit_id = h->ring_ent_in_out.commit_id;
	if (r->bufpool != FUR_BUFPOOL_NONE) {
		/*
		 * A request without a slot says offset 0 too: it has no
		 * payload either way, and only the private page before
		 * slot 0 is written for it.
		 */
		bad_slot = h->ring_ent_in_out.offset % r->payload ||
			   slot >= r->nslots;
		if (!bad_slot)
			ent->payload = ent->q->pool.views[slot];
	}
	args = rp.in.len > sizeof(rp.in) ? rp.in.len - sizeof(rp.in) : 0;
	head = args > psz ? args - psz : 0;
	if (head > FUR_OP_ROOM || psz > r->payload || bad_slot) {
		struct fur_req r = { .in = &rp.in, .se = ent->q->se, .priv = &rp };

		fur_reply_err(&r, EIO);
		return;
	}
	memcpy(ent->payload - head, h->op_in, head);
	if ((h->ring_ent_in_out.flags & FUSE_URING_ENT_ZERO_COPY) &&
	    r->zc_bvec) {
		/*
		 * The pages are registered buffer i + 1: a READ's size, a
		 * WRITE's data (payload_sz, not in the pool); a WRITE's arg
		 * is its header.
		 */
		const struct fuse_read_in *ri = (const void *)h->op_in;

		rp.zc_fixed = true;
		rp.zc_index = ent - ent->q->ents + 1;
		rp.zc_len = rp.in.opcode == FUSE_READ ? ri->size : psz;
		if (rp.zc_len > r->payload) {
			struct fur_req rq = { .in = &rp.in, .se = ent->q->se,
					      .priv = &rp };

			fur_reply_err(&rq, EIO);
			return;
		}
		psz = 0;
	} else if ((h->ring_ent_in_out.flags & FUSE_URING_ENT_ZERO_COPY) &&
		   ent->q->zc_win) {
		/* The data is in the window; a WRITE's arg is its header. */
		uint64_t at = h->ring_ent_in_out.reserved;

		rp.zc_data = ent->q->zc_win +
			     (size_t)(ent - ent->q->ents) * FUSEURING_ZC_WINDOW_SIZE + at;
		rp.zc_len = FUSEURING_ZC_WINDOW_SIZE - at;
		psz = 0;
	}
	fur_dispatch(ent->q->se, &rp, ent->payload - head, head + psz);
}

static void fur_queue_pin(struct fur_queue *q, unsigned int nqueues)
{
	int c, ncpu = get_nprocs_conf();
	cpu_set_t set;

	if (!q->se->cfg.pin_queues)
		return;
	CPU_ZERO(&set);
	for (c = 0; c < ncpu; c++)
		if ((unsigned int)c % nqueues == q->qid)
			CPU_SET(c, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* One setup command, waited for (nothing else is in flight yet). */
static int fur_queue_cmd(struct fur_queue *q, uint32_t cmd_op,
			 uint64_t flags, uint64_t uaddr, uint32_t len)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct fuse_uring_cmd_req *req;
	int err, tries;

	for (tries = 0; tries < 5000; tries++) {
		sqe = io_uring_get_sqe(&q->ring);
		if (!sqe)
			return -EBUSY;
		memset(sqe, 0, 128);
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = q->se->fd;
		sqe->cmd_op = cmd_op;
		req = (struct fuse_uring_cmd_req *)sqe->cmd;
		req->qid = q->qid;
		req->flags = flags;
		req->bufpool.uaddr = uaddr;
		req->bufpool.len = len;
		if (cmd_op == FUSE_IO_URING_CMD_ADD_BUFPOOL)
			fur_cmd_fixed(q, sqe);
		err = io_uring_submit_and_wait(&q->ring, 1);
		if (err < 0)
			return err;
		err = io_uring_wait_cqe(&q->ring, &cqe);
		if (err)
			return err;
		err = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		if (err != -EAGAIN)	/* before INIT's reply */
			return err;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/*
 * Map each slot alone, right after a private page: the handler finds the
 * op's header at the end of that page and the payload after it, in one
 * block, as with per-entry buffers.
 */
static int fur_pool_views(struct fur_queue *q, size_t slot)
{
	struct fur_pool *p = &q->pool;
	unsigned int i;
	char *v;

	p->views = calloc(p->nslots, sizeof(*p->views));
	if (!p->views)
		return -ENOMEM;
	for (i = 0; i < p->nslots; i++) {
		v = mmap(NULL, 4096 + slot, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (v == MAP_FAILED)
			return -errno;
		p->views[i] = v + 4096;
		if (mmap(v + 4096, slot, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE, p->fd,
			 p->fd_off + (off_t)i * slot) == MAP_FAILED)
			return -errno;
	}
	return 0;
}

/*
 * ADD_QUEUE, then the pool: the server's memory (a memfd, so that slots
 * can be mapped again, registered as a fixed buffer or not) or the
 * module's (ADD_BUFPOOL asks for it, mmap of the device maps it).
 */
static int fur_pool_setup(struct fur_queue *q)
{
	struct fur_ring *r = q->se->ring;
	struct fur_pool *p = &q->pool;
	size_t len = (size_t)r->nslots * r->payload;
	uint64_t flags = 0;
	struct iovec iov;
	int err;

	p->fd = -1;
	p->nslots = r->nslots;
	err = q->added ? 0 :
	      fur_queue_cmd(q, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0);
	if (err)
		return err;
	if (r->bufpool == FUR_BUFPOOL_KERNEL) {
		flags = FUSEURING_BUFPOOL_KERNEL;
		p->fd = q->se->fd;
		p->fd_off = FUSEURING_BUFPOOL_MMAP_OFFSET(q->qid);
	} else {
		p->fd = memfd_create("fur-bufpool", MFD_CLOEXEC);
		if (p->fd < 0 || ftruncate(p->fd, len))
			return -errno;
		p->base = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_POPULATE, p->fd, 0);
		if (p->base == MAP_FAILED) {
			p->base = NULL;
			return -errno;
		}
	}
	if (r->bufpool == FUR_BUFPOOL_FIXED) {
		iov = (struct iovec){ p->base, len };
		/* With zero-copy the table is there already, sparse. */
		if (r->zc_bvec)
			err = io_uring_register_buffers_update_tag(&q->ring, 0,
								   &iov, NULL,
								   1);
		else
			err = io_uring_register_buffers(&q->ring, &iov, 1);
		if (err < 0)
			return err;
	}
	err = fur_queue_cmd(q, FUSE_IO_URING_CMD_ADD_BUFPOOL, flags,
			    (uintptr_t)p->base, len);
	if (err)
		return err;
	return fur_pool_views(q, r->payload);
}

static void fur_pool_free(struct fur_queue *q, size_t slot)
{
	struct fur_pool *p = &q->pool;
	unsigned int i;

	for (i = 0; p->views && i < p->nslots; i++)
		if (p->views[i])
			munmap(p->views[i] - 4096, 4096 + slot);
	free(p->views);
	if (p->base)
		munmap(p->base, p->nslots * slot);
	if (p->fd >= 0 && p->fd != q->se->fd)
		close(p->fd);
}

/*
 * Upstream's zero-copy (fur_ring_start() found the kernel has it): a
 * zero-copy queue, its buffer table (slot 0 a registered pool's, slot
 * i + 1 entry i's) and the bounce file for replies and data a handler
 * gives or wants as bytes.
 */
static int fur_zc_bvec_setup(struct fur_queue *q)
{
	struct fur_ring *r = q->se->ring;
	void *p;
	int err;

	q->stash = calloc(r->depth, sizeof(*q->stash));
	if (!q->stash)
		return -ENOMEM;
	err = q->added ? 0 :
	      fur_queue_cmd(q, FUSE_IO_URING_CMD_ADD_QUEUE,
			    FUSE_URING_ZERO_COPY, 0, 0);
	if (err)
		return err;
	q->added = true;
	err = io_uring_register_buffers_sparse(&q->ring, r->depth + 1);
	if (err)
		return err;
	q->bounce_fd = memfd_create("fur-zc-bounce", MFD_CLOEXEC);
	if (q->bounce_fd < 0 || ftruncate(q->bounce_fd, r->payload))
		return -errno;
	p = mmap(NULL, r->payload, PROT_READ | PROT_WRITE, MAP_SHARED,
		 q->bounce_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	q->bounce = p;
	return 0;
}

/*
 * Zero-copy: ADD_QUEUE asks for the window, which is then mapped.  A
 * kernel or a server that cannot have it (EPERM without CAP_SYS_ADMIN,
 * EINVAL where the window is unknown) gets a plain queue: copies.
 */
static int fur_zc_setup(struct fur_queue *q)
{
	struct fur_ring *r = q->se->ring;
	void *win;
	int err;

	if (r->zc_bvec)
		return fur_zc_bvec_setup(q);
	if (r->depth > FUSEURING_ZC_MAX_ENTS)
		return 0;
	err = fur_queue_cmd(q, FUSE_IO_URING_CMD_ADD_QUEUE,
			    FUSE_URING_ZERO_COPY | FUSEURING_ZERO_COPY_WINDOW,
			    0, 0);
	if (err == -EPERM || err == -EINVAL || err == -EOPNOTSUPP) {
		if (r->bufpool != FUR_BUFPOOL_NONE)
			return 0;	/* the pool's setup adds the queue */
		err = fur_queue_cmd(q, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0);
		q->added = !err;
		return err;
	}
	if (err)
		return err;
	q->added = true;
	q->zc_len = (size_t)r->depth * FUSEURING_ZC_WINDOW_SIZE;
	win = mmap(NULL, q->zc_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		   q->se->fd, FUSEURING_ZC_MMAP_OFFSET(q->qid));
	/* Without the window the kernel copies: no zero-copy flag comes. */
	q->zc_win = win == MAP_FAILED ? NULL : win;
	return 0;
}

/* Setup, REGISTER of every entry, then report: 0 or -errno in q->err. */
static int fur_queue_setup(struct fur_queue *q)
{
	struct fur_ring *r = q->se->ring;
	struct io_uring_params p = {
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE,
		.cq_entries = 2 * r->depth,
	};
	struct io_uring_cqe *cqe;
	unsigned int i, head;
	int err;

	err = io_uring_queue_init_params(r->depth, &q->ring, &p);
	if (err)
		return err;
	q->ents = calloc(r->depth, sizeof(*q->ents));
	if (!q->ents)
		return -ENOMEM;
	if (q->se->cfg.zero_copy) {
		err = fur_zc_setup(q);
		if (err)
			return err;
	}
	if (r->bufpool != FUR_BUFPOOL_NONE) {
		err = fur_pool_setup(q);
		if (err)
			return err;
	}
	for (i = 0; i < r->depth; i++) {
		struct fur_ent *e = &q->ents[i];

		e->q = q;
		if (posix_memalign((void **)&e->hdr, 4096, sizeof(*e->hdr)))
			return -ENOMEM;
		memset(e->hdr, 0, sizeof(*e->hdr));
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		/* On a pool queue the payload iovec is empty, as upstream. */
		e->iov[1] = (struct iovec){ NULL, 0 };
		if (r->bufpool == FUR_BUFPOOL_NONE) {
			if (posix_memalign((void **)&e->region, 4096,
					   FUR_OP_ROOM + r->payload))
				return -ENOMEM;
			e->payload = e->region + FUR_OP_ROOM;
			e->iov[1] = (struct iovec){ e->payload, r->payload };
		}
		fur_cmd(e, FUSE_IO_URING_CMD_REGISTER);
	}
	q->active = r->depth;
	err = io_uring_submit(&q->ring);
	if (err < 0)
		return err;
	/* A refused REGISTER completes at once: look without consuming. */
	io_uring_for_each_cqe(&q->ring, head, cqe)
		if (cqe->res < 0 && cqe->res != -EAGAIN)
			return cqe->res;
	return 0;
}

/* An entry's command completed with res. */
static void fur_ent_complete(struct fur_queue *q, struct fur_ent *ent, int res)
{
	if (res == -EAGAIN) {	/* REGISTER before INIT's reply */
		usleep(1000);
		fur_cmd(ent, FUSE_IO_URING_CMD_REGISTER);
		return;
	}
	if (res < 0) {
		/* ENOTCONN: unmounted or aborted. */
		if (res != -ENOTCONN && res != -ENODEV && !q->err)
			q->err = res;
		q->active--;
		return;
	}
	fur_ent_request(ent);
}

static void *fur_queue_thread(void *arg)
{
	struct fur_queue *q = arg;
	struct fur_session *se = q->se;
	struct io_uring_cqe *cqe;
	int err;

	fur_queue_pin(q, se->ring->nqueues);
	err = fur_queue_setup(q);
	pthread_mutex_lock(&se->lock);
	q->err = err;
	q->registered = true;
	pthread_cond_broadcast(&se->cond);
	pthread_mutex_unlock(&se->lock);
	if (err)
		return NULL;

	while (q->active) {
		/* What came while a handler waited for its fixed I/O. */
		if (q->nstash) {
			struct fur_stashed st = q->stash[--q->nstash];

			fur_ent_complete(q, st.ent, st.res);
			continue;
		}
		err = io_uring_submit_and_wait(&q->ring, 1);
		if (err < 0 && err != -EINTR) {
			q->err = err;
			break;
		}
		while (!io_uring_peek_cqe(&q->ring, &cqe)) {
			struct fur_ent *ent = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&q->ring, cqe);
			fur_ent_complete(q, ent, res);
		}
	}
	return NULL;
}

/* The kernel's number of queues: its ring_queues parameter, or one per CPU. */
static unsigned int fur_kernel_queues(struct fur_session *se)
{
	unsigned int n = 0;
	FILE *f;

	if (se->cfg.queues)
		return se->cfg.queues;
	if (!strcmp(se->cfg.fstype, FUSEURING_FS_TYPE)) {
		f = fopen("/sys/module/fuseuring/parameters/ring_queues", "r");
		if (f) {
			if (fscanf(f, "%u", &n) != 1)
				n = 0;
			fclose(f);
		}
	}
	return n ? n : (unsigned int)get_nprocs_conf();
}

/*
 * Whether the kernel gives this server upstream's zero-copy: ADD_QUEUE of
 * queue 0 with FUSE_URING_ZERO_COPY, from a ring of its own (the queue
 * stays added, as a zero-copy queue, when it says 0).  -EOPNOTSUPP (a
 * kernel without it: fuseuring's window then) or -EPERM otherwise.
 */
static int fur_zc_bvec_probe(struct fur_session *se)
{
	struct fur_queue q = { .se = se, .qid = 0 };
	int err;

	err = io_uring_queue_init(4, &q.ring, IORING_SETUP_SQE128);
	if (err)
		return err;
	err = fur_queue_cmd(&q, FUSE_IO_URING_CMD_ADD_QUEUE,
			    FUSE_URING_ZERO_COPY, 0, 0);
	io_uring_queue_exit(&q.ring);
	return err;
}

int fur_ring_start(struct fur_session *se)
{
	struct fur_ring *r = calloc(1, sizeof(*r));
	unsigned int i;
	int err = 0;

	if (!r)
		return -ENOMEM;
	r->nqueues = fur_kernel_queues(se);
	r->depth = se->cfg.depth;
	r->payload = se->cfg.payload;
	if (r->payload < se->max_write)
		r->payload = (se->max_write + 4095) & ~4095UL;
	if (r->payload < 8192)
		r->payload = 8192;
	r->bufpool = se->cfg.bufpool;
	if (se->cfg.zero_copy && !fur_zc_bvec_probe(se)) {
		/* Upstream's zero-copy queues take only pools. */
		r->zc_bvec = true;
		if (r->bufpool == FUR_BUFPOOL_NONE)
			r->bufpool = FUR_BUFPOOL_USER;
	}
	if (r->bufpool != FUR_BUFPOOL_NONE) {
		/*
		 * The kernel carves the pool at its max payload: max(8192,
		 * max_write, max_pages pages), max_pages at most 256.
		 */
		size_t pages = se->max_pages < 256 ? se->max_pages : 256;
		size_t budget = se->cfg.bufpool_budget;

		r->payload = (se->max_write + 4095) & ~4095UL;
		if (r->payload < pages * 4096)
			r->payload = pages * 4096;
		if (r->payload < 8192)
			r->payload = 8192;
		if (!budget)
			budget = r->depth * r->payload / 4;
		r->nslots = budget / r->payload;
		if (!r->nslots)
			r->nslots = 1;
		if (r->nslots > r->depth)	/* more could never be used */
			r->nslots = r->depth;
	}
	r->queues = calloc(r->nqueues, sizeof(*r->queues));
	if (!r->queues) {
		free(r);
		return -ENOMEM;
	}
	se->ring = r;
	se->nqueues = r->nqueues;
	for (i = 0; i < r->nqueues; i++) {
		struct fur_queue *q = &r->queues[i];

		q->se = se;
		q->qid = i;
		q->bounce_fd = -1;
		/* The probe added queue 0 already. */
		q->added = r->zc_bvec && !i;
		if (pthread_create(&q->thread, NULL, fur_queue_thread, q)) {
			err = -EAGAIN;
			break;
		}
		q->started = true;
	}
	pthread_mutex_lock(&se->lock);
	se->zero_copy = se->cfg.zero_copy;
	se->zero_copy_fixed = r->zc_bvec;
	for (i = 0; i < r->nqueues; i++) {
		struct fur_queue *q = &r->queues[i];

		while (q->started && !q->registered)
			pthread_cond_wait(&se->cond, &se->lock);
		if (!err && q->err)
			err = q->err;
		if (!q->zc_win && !r->zc_bvec)
			se->zero_copy = false;
	}
	pthread_mutex_unlock(&se->lock);
	return err;
}

size_t fur_session_payload_mem(const struct fur_session *se)
{
	const struct fur_ring *r = se->ring;

	if (!r)
		return 0;
	if (r->bufpool != FUR_BUFPOOL_NONE)
		return (size_t)r->nslots * r->payload;
	return (size_t)r->depth * r->payload;
}

int fur_bufpool_parse(const char *name)
{
	static const char *const names[] = {
		[FUR_BUFPOOL_NONE] = "none", [FUR_BUFPOOL_USER] = "user",
		[FUR_BUFPOOL_FIXED] = "fixed", [FUR_BUFPOOL_KERNEL] = "kernel",
	};
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

void fur_ring_wait(struct fur_session *se)
{
	struct fur_ring *r = se->ring;
	unsigned int i, j;

	if (!r)
		return;
	for (i = 0; i < r->nqueues; i++) {
		struct fur_queue *q = &r->queues[i];

		if (!q->started)
			continue;
		pthread_join(q->thread, NULL);
		if (q->ring.ring_fd > 0)
			io_uring_queue_exit(&q->ring);
		for (j = 0; q->ents && j < r->depth; j++) {
			free(q->ents[j].hdr);
			free(q->ents[j].region);
		}
		free(q->ents);
		if (r->bufpool != FUR_BUFPOOL_NONE)
			fur_pool_free(q, r->payload);
		if (q->zc_win)
			munmap(q->zc_win, q->zc_len);
		if (q->bounce)
			munmap(q->bounce, r->payload);
		if (q->bounce_fd >= 0)
			close(q->bounce_fd);
		free(q->stash);
	}
	free(r->queues);
	free(r);
	se->ring = NULL;
}
