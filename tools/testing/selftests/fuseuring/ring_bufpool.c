// SPDX-License-Identifier: GPL-2.0
/*
 * Buffer pools of the io_uring transport: the errnos of ADD_QUEUE,
 * ADD_BUFPOOL, REGISTER, COMMIT_AND_FETCH and mmap; pool exhaustion (64
 * requests in flight on 64 entries and 4 slots, data verified both ways,
 * no slot ever given twice); kill -9 of a server holding every slot
 * (clients end, umount and rmmod work).  Each for the three kinds of
 * pool: server memory, server memory registered as an io_uring fixed
 * buffer, and the module's kernel-allocated pool mapped with mmap.
 * Raw ring server: ring_server.h.
 */

#include "ring_server.h"
#include "kselftest_harness.h"
#include "kill_util.h"

#define MNT	"/tmp/ring_bufpool_mnt"
/* The ring's max payload: rs_reply_init()'s max_pages 32. */
#define SLOT	(32 * 4096)
#define NSLOTS	4
#define NENTS	64
#define NCLIENTS 64

enum pool_kind { POOL_USER, POOL_FIXED, POOL_KERNEL };

/* Queue a pool command; fixed < 0: not a fixed-buffer command. */
static int pool_cmd(struct rs *s, int op, unsigned int qid, uint64_t flags,
		    uint64_t uaddr, uint32_t len, int fixed)
{
	struct io_uring_sqe *sqe = rs_sqe(s, op, 999);
	struct fuse_uring_cmd_req *cr;

	if (!sqe)
		return -EBUSY;
	cr = rs_cmd(sqe);
	cr->qid = qid;
	cr->flags = flags;
	cr->bufpool.uaddr = uaddr;
	cr->bufpool.len = len;
	if (fixed >= 0) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = fixed;
	}
	return rs_submit_wait(s, 2000, NULL);
}

/* A REGISTER of one header buffer and the given payload iovec. */
static int pool_register(struct rs *s, struct iovec *iov, unsigned int qid,
			 int fixed, uint64_t data, bool wait)
{
	struct io_uring_sqe *sqe = rs_sqe(s, FUSE_IO_URING_CMD_REGISTER, data);

	if (!sqe)
		return -EBUSY;
	sqe->addr = (uintptr_t)iov;
	sqe->len = 2;
	rs_cmd(sqe)->qid = qid;
	if (fixed >= 0) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = fixed;
	}
	return wait ? rs_submit_wait(s, 500, NULL) : 0;
}

static void *anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static bool has_module_params(void)
{
	return !getenv("FUSEURING_DEV");
}

#define NEED_FUSEURING() do {						\
	RS_NEED_RING();							\
	if (!has_module_params())					\
		SKIP(return, "needs fuseuring's ring_queues parameter");	\
} while (0)

TEST(before_init)
{
	struct rs s;

	NEED_FUSEURING();
	ASSERT_EQ(0, rs_mount(&s, MNT));
	ASSERT_EQ(0, rs_ring_init(&s, 8, IORING_SETUP_SQE128));
	/* The ring's size comes from the INIT reply. */
	EXPECT_EQ(-EAGAIN, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0,
				    0, -1));
	EXPECT_EQ(-EAGAIN, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    0, 0, -1));
	ASSERT_EQ(0, rs_do_init(&s, true));
	ASSERT_EQ(0, rs_start(&s));
	EXPECT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0, 0,
			      -1));
	rs_teardown_closed(&s);
}

TEST(add_queue_errors)
{
	struct rs s;

	NEED_FUSEURING();
	ASSERT_EQ(0, rs_mount_one_queue(&s, MNT, 128));
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 1, 0, 0,
				    0, -1));
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 1 << 5,
				    0, 0, -1));
	/*
	 * Zero-copy, root here: upstream's kind where the kernel exports
	 * io_buffer_register_bvec (the queue is then added), else
	 * EOPNOTSUPP (ring_zerocopy tests both kinds).
	 */
	if (rs_kernel_has_bvec()) {
		EXPECT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0,
				      FUSE_URING_ZERO_COPY, 0, 0, -1));
	} else {
		EXPECT_EQ(-EOPNOTSUPP, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE,
						0, FUSE_URING_ZERO_COPY, 0, 0,
						-1));
		EXPECT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0,
				      0, 0, -1));
	}
	EXPECT_EQ(-EEXIST, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0,
				    0, -1));
	rs_teardown_closed(&s);
}

TEST(add_bufpool_errors)
{
	char *mem = anon(8 * SLOT, PROT_READ | PROT_WRITE);
	char *none = anon(4 * SLOT, PROT_NONE);
	struct rs s;

	NEED_FUSEURING();
	ASSERT_NE(NULL, mem);
	ASSERT_NE(NULL, none);
	ASSERT_EQ(0, rs_mount_one_queue(&s, MNT, 128));
	/* Before ADD_QUEUE. */
	EXPECT_EQ(-ENOENT, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem, 4 * SLOT, -1));
	ASSERT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0, 0,
			      -1));
	/* Bad qid, unknown flags. */
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 1, 0,
				    (uintptr_t)mem, 4 * SLOT, -1));
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 2,
				    (uintptr_t)mem, 4 * SLOT, -1));
	/* Smaller than one max payload. */
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem, SLOT - 4096, -1));
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem, 0, -1));
	/* Not page-aligned. */
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem + 64, 4 * SLOT, -1));
	/* Unmapped or inaccessible memory. */
	EXPECT_EQ(-EFAULT, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)none, 4 * SLOT, -1));
	EXPECT_EQ(-EFAULT, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    4096, 4 * SLOT, -1));
	EXPECT_EQ(0, munmap(mem + 4 * SLOT, 4096));
	EXPECT_EQ(-EFAULT, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem, 5 * SLOT, -1));
	/* A kernel pool has no address of the server's. */
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0,
				    FUSEURING_BUFPOOL_KERNEL, (uintptr_t)mem,
				    4 * SLOT, -1));
	/* None of the failures took the queue's pool: this one does. */
	EXPECT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
			      (uintptr_t)mem, 4 * SLOT, -1));
	/* A second pool. */
	EXPECT_EQ(-EEXIST, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem, 4 * SLOT, -1));
	EXPECT_EQ(-EEXIST, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0,
				    FUSEURING_BUFPOOL_KERNEL, 0, 4 * SLOT, -1));
	rs_teardown_closed(&s);
}

/* A queue with per-entry buffers cannot take a pool afterwards. */
TEST(bufpool_after_per_entry_register)
{
	char *mem = anon(4 * SLOT, PROT_READ | PROT_WRITE);
	struct iovec iov[2];
	struct rs_ent e;
	struct rs s;

	NEED_FUSEURING();
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, rs_mount_one_queue(&s, MNT, 128));
	ASSERT_EQ(0, rs_alloc_ent(&e, 0));
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	iov[1] = (struct iovec){ e.payload, RS_PAYLOAD };
	ASSERT_EQ(1, pool_register(&s, iov, 0, -1, 5, true));
	EXPECT_EQ(-EBUSY, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				   (uintptr_t)mem, 4 * SLOT, -1));
	/* REGISTER announced the queue, as upstream. */
	EXPECT_EQ(-EEXIST, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0,
				    0, -1));
	rs_teardown_closed(&s);
}

TEST(register_on_pool_queue_errors)
{
	char *mem = anon(4 * SLOT, PROT_READ | PROT_WRITE);
	char *other = anon(SLOT, PROT_READ | PROT_WRITE);
	struct iovec iov[2], bufs[2];
	struct rs_ent e;
	struct rs s;

	NEED_FUSEURING();
	ASSERT_NE(NULL, mem);
	ASSERT_NE(NULL, other);
	ASSERT_EQ(0, rs_mount_one_queue(&s, MNT, 128));
	bufs[0] = (struct iovec){ mem, 4 * SLOT };
	bufs[1] = (struct iovec){ other, SLOT };
	ASSERT_EQ(0, io_uring_register_buffers(&s.ring, bufs, 2));
	ASSERT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0, 0,
			      -1));
	/* Beyond the registered buffer the command names. */
	EXPECT_EQ(-EFAULT, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
				    (uintptr_t)mem, 4 * SLOT, 1));
	ASSERT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, 0,
			      (uintptr_t)mem, 4 * SLOT, 0));

	ASSERT_EQ(0, rs_alloc_ent(&e, 0));
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	/* A payload buffer of its own on a pool queue. */
	iov[1] = (struct iovec){ e.payload, RS_PAYLOAD };
	EXPECT_EQ(-EINVAL, pool_register(&s, iov, 0, 0, 5, true));
	iov[1] = (struct iovec){ NULL, 0 };
	/* Not a fixed-buffer command, or another buffer than the pool's. */
	EXPECT_EQ(-EINVAL, pool_register(&s, iov, 0, -1, 5, true));
	EXPECT_EQ(-EINVAL, pool_register(&s, iov, 0, 1, 5, true));
	/* The same for a commit, before its id is even looked at. */
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, 0,
				    0, 0, 0, 1));
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, 0,
				    0, 0, 0, -1));
	EXPECT_EQ(-ENOENT, pool_cmd(&s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, 0,
				    0, 0, 0, 0));
	/* The right one parks. */
	EXPECT_EQ(1, pool_register(&s, iov, 0, 0, 5, true));
	rs_teardown_closed(&s);
}

TEST(mmap_errors)
{
	uint64_t off = FUSEURING_BUFPOOL_MMAP_OFFSET(0);
	char *mem = anon(4 * SLOT, PROT_READ | PROT_WRITE);
	struct rs s;
	void *p;

	NEED_FUSEURING();
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, rs_mount_one_queue(&s, MNT, 128));
	ASSERT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0, 0,
			      -1));
	/* No kernel pool yet. */
	p = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-EINVAL, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0,
				    FUSEURING_BUFPOOL_KERNEL, 0, SLOT - 1, -1));
	ASSERT_EQ(0, pool_cmd(&s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0,
			      FUSEURING_BUFPOOL_KERNEL, 0, 4 * SLOT, -1));
	/* Private, past the pool, another queue. */
	p = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE, s.fd, off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 5 * SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, off);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd,
		 off + 4 * SLOT);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd,
		 FUSEURING_BUFPOOL_MMAP_OFFSET(1));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* The whole pool, and one slot of it, zeroed. */
	p = mmap(NULL, 4 * SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, off);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, ((char *)p)[4 * SLOT - 1]);
	((char *)p)[SLOT] = 42;
	EXPECT_EQ(0, munmap(p, 4 * SLOT));
	p = mmap(NULL, SLOT, PROT_READ, MAP_SHARED, s.fd, off + SLOT);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(42, ((char *)p)[0]);
	EXPECT_EQ(0, munmap(p, SLOT));
	rs_teardown_closed(&s);
}

/* ---- A pool server: one queue, NENTS entries, NSLOTS slots ---- */

struct ps {
	struct rs s;
	enum pool_kind kind;
	char *pool;
	pthread_t thr;
	volatile int setup;		/* 1 running, 0 ready, <0 error */
	volatile bool hold_all;
	/* What the server saw: at most NSLOTS payload requests at once, */
	volatile int max_held;
	/* never two on one slot, never a slot outside the pool. */
	volatile int slot_clash, slot_bad;
	volatile int served;
};

static bool op_has_payload(uint32_t opcode)
{
	return opcode != FUSE_FLUSH && opcode != FUSE_RELEASE &&
	       opcode != FUSE_RELEASEDIR;
}

static int ps_fixed(struct ps *p)
{
	return p->kind == POOL_FIXED ? 0 : -1;
}

static void ps_commit(struct ps *p, unsigned int n)
{
	struct io_uring_sqe *sqe = rs_sqe(&p->s,
					  FUSE_IO_URING_CMD_COMMIT_AND_FETCH, n);

	rs_cmd(sqe)->qid = 0;
	rs_cmd(sqe)->commit_id = p->s.ents[n].unique;
	if (p->kind == POOL_FIXED) {
		sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
		sqe->buf_index = 0;
	}
}

static int ps_setup_pool(struct ps *p)
{
	struct rs *s = &p->s;
	uint64_t flags = 0;
	struct iovec iov;
	int err;

	err = pool_cmd(s, FUSE_IO_URING_CMD_ADD_QUEUE, 0, 0, 0, 0, -1);
	if (err)
		return err;
	if (p->kind == POOL_KERNEL) {
		flags = FUSEURING_BUFPOOL_KERNEL;
	} else {
		p->pool = anon(NSLOTS * SLOT, PROT_READ | PROT_WRITE);
		if (!p->pool)
			return -ENOMEM;
	}
	if (p->kind == POOL_FIXED) {
		iov = (struct iovec){ p->pool, NSLOTS * SLOT };
		err = io_uring_register_buffers(&s->ring, &iov, 1);
		if (err)
			return err;
	}
	err = pool_cmd(s, FUSE_IO_URING_CMD_ADD_BUFPOOL, 0, flags,
		       (uintptr_t)p->pool, NSLOTS * SLOT, ps_fixed(p));
	if (err)
		return err;
	if (p->kind == POOL_KERNEL) {
		p->pool = mmap(NULL, NSLOTS * SLOT, PROT_READ | PROT_WRITE,
			       MAP_SHARED, s->fd,
			       FUSEURING_BUFPOOL_MMAP_OFFSET(0));
		if (p->pool == MAP_FAILED)
			return -errno;
	}
	return 0;
}

/* Answer the held requests, checking their slots. */
static void ps_answer(struct ps *p, unsigned int *held, int nheld)
{
	uint32_t offs[NENTS];
	int i, j, nslot = 0;

	for (i = 0; i < nheld; i++) {
		struct rs_ent *e = &p->s.ents[held[i]];
		struct fuse_in_header ih;
		uint32_t off = e->hdr->ring_ent_in_out.offset;

		memcpy(&ih, e->hdr->in_out, sizeof(ih));
		if (op_has_payload(ih.opcode)) {
			if (off % SLOT || off >= NSLOTS * SLOT)
				p->slot_bad++;
			for (j = 0; j < nslot; j++)
				p->slot_clash += offs[j] == off;
			offs[nslot++] = off;
		}
		e->payload = p->pool + off;
		if (rs_handle(&p->s, held[i])) {
			ps_commit(p, held[i]);
			p->served++;
		}
	}
	if (nslot > p->max_held)
		p->max_held = nslot;
}

/*
 * Set up, then serve: requests are held until NSLOTS have come or none
 * comes for 50 ms, so a kernel that handed out more than its slots would
 * be seen holding more, or two on one slot.
 */
static void *ps_loop(void *arg)
{
	struct __kernel_timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
	struct ps *p = arg;
	struct rs *s = &p->s;
	struct iovec iov[NENTS][2];
	unsigned int held[NENTS], ended = 0, i;
	struct io_uring_cqe *cqe;
	int err, nheld = 0;

	err = ps_setup_pool(p);
	for (i = 0; !err && i < NENTS; i++) {
		err = rs_alloc_ent(&s->ents[i], 0);
		iov[i][0] = (struct iovec){ s->ents[i].hdr,
					    sizeof(*s->ents[i].hdr) };
		iov[i][1] = (struct iovec){ NULL, 0 };
		if (!err)
			err = pool_register(s, iov[i], 0, ps_fixed(p), i,
					    false);
	}
	s->nents = NENTS;
	if (!err) {
		err = rs_submit_wait(s, 200, NULL);
		err = err == 1 ? 0 : (err < 0 ? err : -EPROTO);
	}
	p->setup = err;
	if (err)
		return NULL;

	while (ended < NENTS) {
		io_uring_submit(&s->ring);
		err = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
		if (err && err != -ETIME)
			break;
		if (!err) {
			i = cqe->user_data;
			if (i < NENTS) {
				if (cqe->res < 0)
					ended++;
				else
					held[nheld++] = i;
			}
			io_uring_cqe_seen(&s->ring, cqe);
		}
		if (!p->hold_all && nheld &&
		    (err == -ETIME || nheld >= NSLOTS)) {
			ps_answer(p, held, nheld);
			nheld = 0;
		}
	}
	return NULL;
}

static int ps_start(struct ps *p, enum pool_kind kind, bool hold_all)
{
	int err, i;

	memset(p, 0, sizeof(*p));
	err = rs_mount_one_queue(&p->s, MNT, 128);
	if (err)
		return err;
	p->kind = kind;
	p->hold_all = hold_all;
	p->setup = 1;
	if (pthread_create(&p->thr, NULL, ps_loop, p))
		return -EAGAIN;
	p->s.ring_running = false;
	for (i = 0; i < 500 && p->setup == 1; i++)
		usleep(10000);
	return p->setup;
}

static void ps_stop(struct ps *p)
{
	umount2(p->s.mnt, MNT_DETACH);
	pthread_join(p->thr, NULL);
	rs_teardown(&p->s);
}

/* NCLIENTS threads, one request each, all released at once. */
struct crowd {
	pthread_barrier_t go;
	int op;			/* 0 stat dN, 1 pwrite, 2 pread */
	int fd;
	volatile int bad;
};

struct crowd_arg {
	struct crowd *c;
	int i;
};

static void *crowd_fn(void *arg)
{
	struct crowd_arg *a = arg;
	struct crowd *c = a->c;
	char path[64], buf[4096];
	off_t off = (off_t)a->i * 4096;
	struct stat st;
	int j;

	pthread_barrier_wait(&c->go);
	switch (c->op) {
	case 0:
		snprintf(path, sizeof(path), MNT "/d%d", a->i);
		if (stat(path, &st) || st.st_ino != (ino_t)(100 + a->i))
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
		break;
	case 1:
		for (j = 0; j < 4096; j++)
			buf[j] = rs_pattern(off + j);
		if (pwrite(c->fd, buf, 4096, off) != 4096)
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
		break;
	default:
		if (pread(c->fd, buf, 4096, off) != 4096) {
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
			break;
		}
		for (j = 0; j < 4096; j++)
			if ((unsigned char)buf[j] != rs_pattern(off + j)) {
				__atomic_add_fetch(&c->bad, 1,
						   __ATOMIC_SEQ_CST);
				break;
			}
	}
	return NULL;
}

static int crowd_run(struct crowd *c, int op)
{
	struct crowd_arg args[NCLIENTS];
	pthread_t thr[NCLIENTS];
	int i;

	c->op = op;
	c->bad = 0;
	pthread_barrier_init(&c->go, NULL, NCLIENTS);
	for (i = 0; i < NCLIENTS; i++) {
		args[i] = (struct crowd_arg){ c, i };
		pthread_create(&thr[i], NULL, crowd_fn, &args[i]);
	}
	for (i = 0; i < NCLIENTS; i++)
		pthread_join(thr[i], NULL);
	pthread_barrier_destroy(&c->go);
	return c->bad;
}

FIXTURE(pool) {
	struct ps p;
};

FIXTURE_VARIANT(pool) {
	enum pool_kind kind;
};

FIXTURE_VARIANT_ADD(pool, user) { .kind = POOL_USER };
FIXTURE_VARIANT_ADD(pool, fixed) { .kind = POOL_FIXED };
FIXTURE_VARIANT_ADD(pool, kernel) { .kind = POOL_KERNEL };

FIXTURE_SETUP(pool)
{
}

FIXTURE_TEARDOWN(pool)
{
}

/* 64 requests in flight, 4 slots: all complete with the right data. */
TEST_F_TIMEOUT(pool, exhaustion, 120)
{
	struct crowd c = { 0 };
	long long waits;
	FILE *f;

	NEED_FUSEURING();
	ASSERT_EQ(0, ps_start(&self->p, variant->kind, false));
	ASSERT_EQ(0, rs_find_debugfs(&self->p.s));
	EXPECT_EQ(NSLOTS, rs_counter(&self->p.s, 0, "pool_slots"));

	EXPECT_EQ(0, crowd_run(&c, 0));
	c.fd = open(MNT "/file", O_RDWR);
	ASSERT_GE(c.fd, 0);
	EXPECT_EQ(0, crowd_run(&c, 1));
	EXPECT_EQ(RS_FILE_SIZE, self->p.s.written);
	EXPECT_EQ(0, self->p.s.write_bad);
	/* Reads from the server, not from the pages the writes left. */
	f = fopen("/proc/sys/vm/drop_caches", "w");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
	EXPECT_EQ(0, crowd_run(&c, 2));
	close(c.fd);

	waits = rs_counter(&self->p.s, 0, "pool_waits");
	EXPECT_GT(waits, 0);
	EXPECT_LE(self->p.max_held, NSLOTS);
	EXPECT_EQ(NSLOTS, self->p.max_held);
	EXPECT_EQ(0, self->p.slot_clash);
	EXPECT_EQ(0, self->p.slot_bad);
	EXPECT_EQ(NSLOTS, rs_counter(&self->p.s, 0, "pool_free"));
	TH_LOG("%d requests served, %lld waited for a slot", self->p.served,
	       waits);
	ps_stop(&self->p);
}

/* kill -9 of a server whose slots are all taken: nothing hangs or leaks. */
TEST_F_TIMEOUT(pool, kill_with_slots_taken, 60)
{
	struct rs_client c[NSLOTS + 4];
	char name[16];
	int pfd[2], i, nc = NSLOTS + 4;
	long long free_slots = -1;
	char ok = 0;
	struct rs probe;
	pid_t pid;

	NEED_FUSEURING();
	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		static struct ps p;

		ok = ps_start(&p, variant->kind, true) == 0;
		if (write(pfd[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(pfd[0], &ok, 1));
	ASSERT_EQ(1, ok);
	for (i = 0; i < nc; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		rs_client_start(&c[i], MNT, name);
	}
	memset(&probe, 0, sizeof(probe));
	snprintf(probe.mnt, sizeof(probe.mnt), "%s", MNT);
	ASSERT_EQ(0, rs_find_debugfs(&probe));
	for (i = 0; i < 100 && free_slots != 0; i++) {
		usleep(20000);
		free_slots = rs_counter(&probe, 0, "pool_free");
	}
	EXPECT_EQ(0, free_slots);
	for (i = 0; i < nc; i++)
		EXPECT_FALSE(c[i].done);

	kill(pid, SIGKILL);
	EXPECT_EQ(137, raw_wait(pid, 5));
	for (i = 0; i < nc; i++) {
		pthread_join(c[i].thr, NULL);
		EXPECT_EQ(ENOTCONN, c[i].err);
	}
	EXPECT_EQ(0, umount(MNT));
	/* Nothing of the connection, its pool or its pages holds the module. */
	EXPECT_EQ(0, module_unload(5));
	ASSERT_EQ(0, raw_load_module());
}

TEST_HARNESS_MAIN
