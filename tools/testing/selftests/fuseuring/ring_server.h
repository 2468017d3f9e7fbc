/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A raw FUSE-over-io_uring server for the ring tests: INIT over the
 * classic device (accepting FUSE_OVER_IO_URING), then REGISTER of entries
 * and COMMIT_AND_FETCH by hand with liburing, so a test controls every
 * command and does not depend on libfuseuring.
 *
 * The tree: the root (nodeid 1); LOOKUP of "dN" is a directory (nodeid
 * 100 + N); "file" is a regular file of RS_FILE_SIZE bytes of
 * rs_pattern() (nodeid 50) whose WRITEs are checked against the pattern;
 * "hold*" is never answered; "bad*" gets a reply of the wrong size;
 * "wrongid*" a reply whose header names another unique; anything else is
 * ENOENT.
 */
#ifndef RING_SERVER_H
#define RING_SERVER_H

#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>

#include "raw_server.h"

#define RS_MAX_ENTS	64
#define RS_PAYLOAD	(256 * 4096)	/* >= max_pages * PAGE_SIZE */

#define RS_FILE_ID	50
#define RS_FILE_SIZE	(256 * 1024)

static inline unsigned char rs_pattern(uint64_t off)
{
	return (off * 7 + 3) & 0xff;
}

struct rs_ent {
	struct fuse_uring_req_header *hdr;
	char *payload;
	unsigned int qid;
	int state;		/* 0 parked, 1 request, <0 its end */
	uint64_t unique;	/* request the server holds */
};

struct rs {
	int fd;
	struct io_uring ring;
	unsigned int nq, per_queue, nents;
	struct rs_ent ents[RS_MAX_ENTS];
	pthread_t classic, ringthr;
	bool classic_running, ring_running;
	volatile bool hold_all;	/* leave every request unanswered */
	volatile int answered;
	volatile int held;		/* requests left unanswered */
	volatile int interrupts;	/* FUSE_INTERRUPTs read on the device */
	volatile long written;		/* WRITE bytes that matched the pattern */
	volatile long write_bad;	/* WRITE bytes that did not */
	volatile int reg_state;	/* 1 registering, 0 done, <0 error */
	unsigned int thread_ring_flags;	/* the ring thread makes the ring */
	unsigned int reg_per_queue;
	char mnt[64];
	char debugfs[128];
};

/*
 * The module has the ring only on kernels whose uring commands it can
 * take back (6.1, 6.12, 7.3; compat.h FUR_HAVE_RING): its ring_queues
 * parameter exists exactly then.  Another device (FUSEURING_DEV=/dev/fuse,
 * upstream) is assumed to have it.
 */
static inline bool rs_kernel_has_ring(void)
{
	return getenv("FUSEURING_DEV") ||
	       !access("/sys/module/fuseuring/parameters/ring_queues", F_OK);
}

/*
 * Whether the kernel exports the bvec-array io_buffer_register_bvec()
 * (7.x; 6.15 to 7.2 had one that takes a block request under that name,
 * which 7.x calls io_buffer_register_request), read from kallsyms so the
 * test does not take the module's word for it.
 */
static inline bool rs_kernel_has_bvec(void)
{
	char line[256];
	bool bvec = false, request = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, ' ');

		if (!name)
			continue;
		name++;
		name[strcspn(name, "\t\n")] = 0;
		bvec |= !strcmp(name, "io_buffer_register_bvec");
		request |= !strcmp(name, "io_buffer_register_request");
	}
	if (f)
		fclose(f);
	return bvec && request;
}

#define RS_NEED_RING() do {						\
	ASSERT_EQ(0, raw_load_module());					\
	if (!rs_kernel_has_ring())					\
		SKIP(return, "this kernel's fuseuring has no io_uring transport"); \
} while (0)

static inline unsigned int rs_param_queues(void)
{
	unsigned int n = 0;
	FILE *f = fopen("/sys/module/fuseuring/parameters/ring_queues", "r");

	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (!n || n > (unsigned int)get_nprocs_conf())
		n = get_nprocs_conf();
	return n;
}

static inline int rs_set_param_queues(unsigned int n)
{
	FILE *f = fopen("/sys/module/fuseuring/parameters/ring_queues", "w");

	if (!f)
		return -errno;
	fprintf(f, "%u\n", n);
	return fclose(f) ? -errno : 0;
}

/* Answer INIT, accepting the ring if uring is set. */
static inline int rs_reply_init(int fd, const struct raw_req *req, bool uring)
{
	struct fuse_init_out out = raw_init_out(req);

	out.max_pages = 32;
	out.flags = FUSE_INIT_EXT | FUSE_MAX_PAGES;
	if (uring)
		out.flags2 = (uint32_t)(FUSE_OVER_IO_URING >> 32);
	return raw_reply(fd, req->h.unique, 0, &out, sizeof(out));
}

/* Read and answer INIT on the classic device. */
static inline int rs_do_init(struct rs *s, bool uring)
{
	static char buf[RAW_BUFSIZE];
	struct raw_req req = { 0 };
	int err = raw_read(s->fd, buf, &req);

	if (err)
		return err;
	if (req.h.opcode != FUSE_INIT)
		return -EPROTO;
	return rs_reply_init(s->fd, &req, uring);
}

/* The classic device: interrupts, forgets, and requests after fallback. */
static inline void *rs_classic_loop(void *arg)
{
	struct rs *s = arg;
	char *buf = malloc(RAW_BUFSIZE);
	struct raw_req req = { 0 };

	while (buf && raw_read(s->fd, buf, &req) == 0) {
		if (req.h.opcode == FUSE_INIT)
			rs_reply_init(s->fd, &req, true);
		else if (req.h.opcode == FUSE_INTERRUPT)
			__atomic_add_fetch(&s->interrupts, 1, __ATOMIC_SEQ_CST);
		else
			raw_default(s->fd, &req);
	}
	free(buf);
	return NULL;
}

static inline int rs_mount(struct rs *s, const char *mnt)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->mnt, sizeof(s->mnt), "%s", mnt);
	mkdir(mnt, 0755);
	s->fd = raw_mount(mnt, NULL);
	return s->fd < 0 ? s->fd : 0;
}

static inline int rs_ring_init(struct rs *s, unsigned int depth,
			       unsigned int flags)
{
	return io_uring_queue_init(depth, &s->ring, flags);
}

static inline struct io_uring_sqe *rs_sqe(struct rs *s, int op, uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe)
		return NULL;
	memset(sqe, 0, sizeof(*sqe));
	if (s->ring.flags & IORING_SETUP_SQE128)
		memset(sqe + 1, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = s->fd;
	sqe->cmd_op = op;
	sqe->user_data = data;
	return sqe;
}

static inline struct fuse_uring_cmd_req *rs_cmd(struct io_uring_sqe *sqe)
{
	return (struct fuse_uring_cmd_req *)sqe->cmd;
}

/* Queue a REGISTER of a buffer pair (iov must live until submitted). */
static inline int rs_prep_register(struct rs *s, struct iovec *iov,
				   unsigned int niov, unsigned int qid,
				   uint64_t data)
{
	struct io_uring_sqe *sqe = rs_sqe(s, FUSE_IO_URING_CMD_REGISTER, data);

	if (!sqe)
		return -EBUSY;
	sqe->addr = (uintptr_t)iov;
	sqe->len = niov;
	rs_cmd(sqe)->qid = qid;
	return 0;
}

/* Submit and wait up to ms for one completion; its res, or 1 if none. */
static inline int rs_submit_wait(struct rs *s, int ms, uint64_t *data)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L,
	};
	struct io_uring_cqe *cqe;
	int ret;

	io_uring_submit(&s->ring);
	ret = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
	if (ret == -ETIME)
		return 1;
	if (ret)
		return ret;
	ret = cqe->res;
	if (data)
		*data = cqe->user_data;
	io_uring_cqe_seen(&s->ring, cqe);
	return ret;
}

static inline int rs_alloc_ent(struct rs_ent *e, unsigned int qid)
{
	e->hdr = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	e->payload = mmap(NULL, RS_PAYLOAD, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->hdr == MAP_FAILED || e->payload == MAP_FAILED)
		return -ENOMEM;
	e->qid = qid;
	return 0;
}

/*
 * Register per_queue entries on every queue; returns 0 when none of the
 * commands failed at once.
 */
static inline int rs_register_all(struct rs *s, unsigned int per_queue)
{
	struct iovec iov[RS_MAX_ENTS][2];
	unsigned int q, i, n = 0;
	int ret;

	s->nq = rs_param_queues();
	s->per_queue = per_queue;
	for (q = 0; q < s->nq; q++) {
		for (i = 0; i < per_queue; i++, n++) {
			struct rs_ent *e = &s->ents[n];

			if (n >= RS_MAX_ENTS || rs_alloc_ent(e, q))
				return -ENOMEM;
			iov[n][0].iov_base = e->hdr;
			iov[n][0].iov_len = sizeof(*e->hdr);
			iov[n][1].iov_base = e->payload;
			iov[n][1].iov_len = RS_PAYLOAD;
			ret = rs_prep_register(s, iov[n], 2, q, n);
			if (ret)
				return ret;
		}
	}
	s->nents = n;
	/* A bad REGISTER fails in its issue: its CQE is there at once. */
	ret = rs_submit_wait(s, 20, NULL);
	return ret == 1 ? 0 : (ret < 0 ? ret : -EPROTO);
}

/* Queue a COMMIT_AND_FETCH of entry n with a reply already in place. */
static inline int rs_prep_commit(struct rs *s, unsigned int n,
				 uint64_t commit_id)
{
	struct io_uring_sqe *sqe = rs_sqe(s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
					  n);

	if (!sqe)
		return -EBUSY;
	rs_cmd(sqe)->qid = s->ents[n].qid;
	rs_cmd(sqe)->commit_id = commit_id;
	return 0;
}

/* Write a reply into entry n's buffers. */
static inline void rs_put_reply(struct rs *s, unsigned int n, int error,
				const void *payload, uint32_t len)
{
	struct rs_ent *e = &s->ents[n];
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = error, .unique = e->unique,
	};

	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	if (len)
		memcpy(e->payload, payload, len);
	e->hdr->ring_ent_in_out.payload_sz = len;
}

/* Answer the request in entry n; returns false to leave it unanswered. */
static inline bool rs_handle(struct rs *s, unsigned int n)
{
	struct rs_ent *e = &s->ents[n];
	struct fuse_in_header ih;
	const char *name = e->payload;
	struct fuse_entry_out eo;
	struct fuse_attr_out ao;
	struct fuse_open_out oo;

	memcpy(&ih, e->hdr->in_out, sizeof(ih));
	e->unique = ih.unique;
	if (s->hold_all)
		return false;
	switch (ih.opcode) {
	case FUSE_LOOKUP:
		if (!strncmp(name, "hold", 4))
			return false;
		if (!strncmp(name, "wrongid", 7)) {
			rs_put_reply(s, n, -ENOENT, NULL, 0);
			((struct fuse_out_header *)e->hdr->in_out)->unique += 2;
			return true;
		}
		if (!strncmp(name, "bad", 3)) {
			memset(&eo, 0, sizeof(eo));
			rs_put_reply(s, n, 0, &eo, 7);
			return true;
		}
		if (!strcmp(name, "file")) {
			memset(&eo, 0, sizeof(eo));
			eo.nodeid = RS_FILE_ID;
			raw_fill_attr(&eo.attr, eo.nodeid, S_IFREG | 0644);
			eo.attr.size = RS_FILE_SIZE;
			rs_put_reply(s, n, 0, &eo, sizeof(eo));
			return true;
		}
		if (name[0] == 'd' && name[1] >= '0' && name[1] <= '9') {
			memset(&eo, 0, sizeof(eo));
			eo.nodeid = 100 + atoi(name + 1);
			raw_fill_attr(&eo.attr, eo.nodeid, S_IFDIR | 0755);
			rs_put_reply(s, n, 0, &eo, sizeof(eo));
			return true;
		}
		rs_put_reply(s, n, -ENOENT, NULL, 0);
		return true;
	case FUSE_GETATTR:
		memset(&ao, 0, sizeof(ao));
		raw_fill_attr(&ao.attr, ih.nodeid, S_IFDIR | 0755);
		if (ih.nodeid == RS_FILE_ID) {
			raw_fill_attr(&ao.attr, ih.nodeid, S_IFREG | 0644);
			ao.attr.size = RS_FILE_SIZE;
		}
		rs_put_reply(s, n, 0, &ao, sizeof(ao));
		return true;
	case FUSE_OPEN:
		memset(&oo, 0, sizeof(oo));
		oo.fh = 7;
		rs_put_reply(s, n, 0, &oo, sizeof(oo));
		return true;
	case FUSE_READ: {
		const struct fuse_read_in *ri = (const void *)e->hdr->op_in;
		uint64_t off = ri->offset, i;
		uint32_t len = ri->size;

		if (off >= RS_FILE_SIZE)
			len = 0;
		else if (off + len > RS_FILE_SIZE)
			len = RS_FILE_SIZE - off;
		for (i = 0; i < len; i++)
			e->payload[i] = rs_pattern(off + i);
		rs_put_reply(s, n, 0, e->payload, len);
		return true;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *wi = (const void *)e->hdr->op_in;
		struct fuse_write_out wo = { .size = wi->size };
		uint32_t i, bad = 0;

		if (e->hdr->ring_ent_in_out.payload_sz != wi->size)
			bad = wi->size;
		for (i = 0; !bad && i < wi->size; i++)
			bad += (unsigned char)e->payload[i] !=
			       rs_pattern(wi->offset + i);
		__atomic_add_fetch(&s->write_bad, bad, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&s->written, wi->size - bad,
				   __ATOMIC_SEQ_CST);
		rs_put_reply(s, n, 0, &wo, sizeof(wo));
		return true;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		rs_put_reply(s, n, 0, NULL, 0);
		return true;
	case FUSE_OPENDIR:
		memset(&oo, 0, sizeof(oo));
		rs_put_reply(s, n, 0, &oo, sizeof(oo));
		return true;
	case FUSE_RELEASEDIR:
	case FUSE_DESTROY:
		rs_put_reply(s, n, 0, NULL, 0);
		return true;
	}
	rs_put_reply(s, n, -ENOSYS, NULL, 0);
	return true;
}

/*
 * The ring loop: registers the entries (a command's task work runs in the
 * task that submitted it, so the thread that waits for completions must
 * submit), then serves until every entry has ended or the ring is closed.
 */
static inline void *rs_ring_loop(void *arg)
{
	struct rs *s = arg;
	struct io_uring_cqe *cqe;
	unsigned int ended = 0, n;
	int err;

	if (s->thread_ring_flags) {
		/* SINGLE_ISSUER rings belong to the thread that made them. */
		err = rs_ring_init(s, 128, s->thread_ring_flags);
		if (err) {
			s->reg_state = err;
			return NULL;
		}
	}
	if (s->reg_per_queue) {
		err = rs_register_all(s, s->reg_per_queue);
		s->reg_state = err;
		if (err)
			return NULL;
	}

	while (ended < s->nents) {
		/* Commits queued below go in with the wait: one syscall. */
		if (io_uring_submit_and_wait(&s->ring, 1) < 0 ||
		    io_uring_peek_cqe(&s->ring, &cqe))
			break;
		n = cqe->user_data;
		if (n < s->nents) {
			if (cqe->res < 0) {
				s->ents[n].state = cqe->res;
				ended++;
			} else {
				s->ents[n].state = 1;
				if (rs_handle(s, n)) {
					__atomic_add_fetch(&s->answered, 1,
							   __ATOMIC_SEQ_CST);
					rs_prep_commit(s, n, s->ents[n].unique);
				} else {
					__atomic_add_fetch(&s->held, 1,
							   __ATOMIC_SEQ_CST);
				}
			}
		}
		io_uring_cqe_seen(&s->ring, cqe);
	}
	return NULL;
}

static inline int rs_start(struct rs *s)
{
	if (pthread_create(&s->classic, NULL, rs_classic_loop, s))
		return -1;
	s->classic_running = true;
	return 0;
}

/* Start the ring thread; with per_queue, it registers the entries first. */
static inline int rs_start_ring(struct rs *s, unsigned int per_queue)
{
	int i;

	s->reg_per_queue = per_queue;
	s->reg_state = per_queue ? 1 : 0;
	if (pthread_create(&s->ringthr, NULL, rs_ring_loop, s))
		return -1;
	s->ring_running = true;
	for (i = 0; i < 500 && s->reg_state == 1; i++)
		usleep(10000);
	return s->reg_state;
}

/*
 * Mount, INIT with the ring, the classic loop running, and an SQE128 ring
 * of depth entries (none with depth 0: the ring thread makes its own).
 * No ring command yet: the first one makes the connection's ring.
 */
static inline int rs_mount_ring(struct rs *s, const char *mnt,
				unsigned int depth)
{
	int err = rs_mount(s, mnt);

	if (!err)
		err = rs_do_init(s, true);
	if (!err)
		err = rs_start(s);
	if (!err && depth)
		err = rs_ring_init(s, depth, IORING_SETUP_SQE128);
	return err;
}

/*
 * rs_mount_ring() with a ring of one queue: ring_queues is 1 until the
 * first ring command, an ADD_QUEUE of a queue that does not exist
 * (EINVAL), has made the ring.
 */
static inline int rs_mount_one_queue(struct rs *s, const char *mnt,
				     unsigned int depth)
{
	struct io_uring_sqe *sqe;
	int err = rs_set_param_queues(1);

	if (!err)
		err = rs_mount_ring(s, mnt, depth);
	if (!err) {
		sqe = rs_sqe(s, FUSE_IO_URING_CMD_ADD_QUEUE, 999);
		if (sqe)
			rs_cmd(sqe)->qid = 0xffff;
		if (!sqe || rs_submit_wait(s, 2000, NULL) != -EINVAL)
			err = -EPROTO;
	}
	rs_set_param_queues(0);
	return err;
}

/*
 * A server driven by hand from this thread (the task work of the
 * commands it submits runs here): rs_mount_ring(), then per_queue
 * entries registered on every queue.
 */
static inline int rs_setup_hand(struct rs *s, const char *mnt,
				unsigned int per_queue)
{
	int err = rs_mount_ring(s, mnt, 64);

	if (!err)
		err = rs_register_all(s, per_queue);
	return err;
}

/*
 * Full setup: mount, INIT with the ring, entries on every queue, loops.
 * ring_flags: 0 for a plain SQE128 ring made here; else the ring thread
 * makes its ring with these flags (SINGLE_ISSUER needs that).
 */
static inline int rs_setup_flags(struct rs *s, const char *mnt,
				 unsigned int per_queue, unsigned int ring_flags)
{
	int err = rs_mount_ring(s, mnt, ring_flags ? 0 : 128);

	/* After rs_mount(), which clears s. */
	s->thread_ring_flags = ring_flags;
	if (!err)
		err = rs_start_ring(s, per_queue);
	return err;
}

static inline int rs_setup(struct rs *s, const char *mnt,
			   unsigned int per_queue)
{
	return rs_setup_flags(s, mnt, per_queue, 0);
}

static inline void rs_teardown(struct rs *s)
{
	umount2(s->mnt, MNT_DETACH);
	if (s->ring_running)
		pthread_join(s->ringthr, NULL);
	if (s->classic_running)
		pthread_join(s->classic, NULL);
	io_uring_queue_exit(&s->ring);
	close(s->fd);
}

/*
 * Close the ring before the umount: entries this thread registered would
 * take DESTROY, whose task work runs in this very thread, blocked in the
 * umount.  Without them DESTROY goes to the classic loop.
 */
static inline void rs_teardown_closed(struct rs *s)
{
	io_uring_queue_exit(&s->ring);
	umount2(s->mnt, MNT_DETACH);
	if (s->classic_running)
		pthread_join(s->classic, NULL);
	close(s->fd);
}

/*
 * The debugfs directory of the mount at mnt, named MAJOR:MINOR of its
 * superblock; read from mountinfo, so that no request is sent.
 */
static inline int rs_find_debugfs(struct rs *s)
{
	unsigned int maj, min;
	char line[512], dir[256];
	int found = 0;
	FILE *f;

	if (access("/sys/kernel/debug/fuseuring", F_OK))
		mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*u %*u %u:%u %*s %255s", &maj, &min,
			       dir) == 3 && !strcmp(dir, s->mnt);
	fclose(f);
	if (!found)
		return -ENOENT;
	snprintf(s->debugfs, sizeof(s->debugfs),
		 "/sys/kernel/debug/fuseuring/%u:%u", maj, min);
	return access(s->debugfs, F_OK) ? -errno : 0;
}

/* A counter of queue qid, or -1. */
static inline long long rs_counter(struct rs *s, unsigned int qid,
				   const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/queue%u/%s", s->debugfs, qid, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* A client in a thread: stat of mnt/name; its errno once done. */
struct rs_client {
	pthread_t thr;
	char path[128];
	volatile int done, err;
};

static inline void *rs_client_fn(void *arg)
{
	struct rs_client *c = arg;
	struct stat st;

	c->err = stat(c->path, &st) ? errno : 0;
	c->done = 1;
	return NULL;
}

static inline void rs_client_start(struct rs_client *c, const char *mnt,
				   const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s/%s", mnt, name);
	pthread_create(&c->thr, NULL, rs_client_fn, c);
}

/* Wait up to limit seconds for the client: its errno, or -1 if stuck. */
static inline int rs_client_wait(struct rs_client *c, double limit)
{
	double t0 = raw_now();

	while (!c->done && raw_now() - t0 < limit)
		usleep(10 * 1000);
	if (!c->done)
		return -1;
	pthread_join(c->thr, NULL);
	return c->err;
}

static inline int rs_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

#endif /* RING_SERVER_H */
