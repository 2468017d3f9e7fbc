// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile server on the io_uring transport.  For every request that
 * reaches one of its entries, it first submits zero to three broken uring
 * commands, each of which must fail in its issue with its errno and leave
 * the request alone: an unknown cmd_op; COMMIT_AND_FETCH with a commit id
 * nobody holds, with the request's id on another queue, with a qid beyond
 * the queues, with flags or padding set, with unknown uring_cmd_flags or
 * a non-zero __pad1 (io_uring's own checks); REGISTER with the wrong
 * number of iovecs, an unmapped iovec array, short or inaccessible
 * buffers, flags or padding set, a bad qid; a command on an SQE64 ring.
 * Then it answers through the entry: with fuzz_util.h's broken contents,
 * out args of the wrong size, a payload_sz beyond the buffer, a header
 * naming another request or an error out of range; and sometimes commits
 * the same id twice.  Now and then it registers an entry whose buffers it
 * then makes inaccessible (header PROT_NONE or read-only, payload
 * read-only): the module must fail that entry with EFAULT when it copies
 * a request, and touch nothing else.
 *
 * Every refused reply, unknown commit and buffer fault moves the queue's
 * errors counter: at the end the counters must add up to exactly what the
 * server expects, so a reply the kernel wrongly took or wrongly refused
 * shows.  Two clients run random operations meanwhile and must all come
 * back; the runner checks the kernel log.  Seed and count: fuzz_util.h.
 */
#include "ring_server.h"
#include "kselftest_harness.h"
#include "fuzz_util.h"

#define PER_QUEUE	2		/* good entries a queue */
#define TAG		(1ULL << 40)	/* user_data of a broken command */
#define NTAGS		4096
#define SAC_EVERY	50		/* requests between sacrificed entries */
#define MAX_PAYLOAD	(128 * 1024)	/* the ring's payload minimum */

enum sac_kind { SAC_NONE, SAC_HDR_NONE, SAC_HDR_RO, SAC_PAYLOAD_RO };

static struct rs srv;
static struct io_uring ring64;
static unsigned int nq, ngood, ended;
static int expect_res[NTAGS];
static unsigned int ntag;
static enum sac_kind sac[RS_MAX_ENTS];
static char *none_area;		/* PROT_NONE, RS_PAYLOAD bytes */
static struct rs_ent spare;	/* good buffers for REGISTERs that must fail */
static char *argbuf, *out;

static struct io_uring_sqe *sqe_get(int op, uint64_t data)
{
	struct io_uring_sqe *sqe = rs_sqe(&srv, op, data);

	if (!sqe) {
		io_uring_submit(&srv.ring);
		sqe = rs_sqe(&srv, op, data);
	}
	return sqe;
}

/* A command that must fail in its issue with want. */
static struct io_uring_sqe *broken_sqe(int op, int want)
{
	unsigned int tag = ntag++ % NTAGS;

	expect_res[tag] = want;
	st->broken++;
	return sqe_get(op, TAG | tag);
}

static void register_iov(struct io_uring_sqe *sqe, struct iovec *iov,
			 unsigned int niov, unsigned int qid)
{
	sqe->addr = (uintptr_t)iov;
	sqe->len = niov;
	rs_cmd(sqe)->qid = qid;
}

/*
 * Broken commands while entry n holds its request: none may end it (the
 * real commit that follows would then fail with ENOENT).
 */
static void send_broken_cmd(unsigned int n)
{
	static struct iovec iov[NTAGS][2];
	struct rs_ent *e = &srv.ents[n];
	unsigned int tag = ntag % NTAGS, qid = e->qid;
	struct io_uring_sqe *sqe;
	struct iovec *v = iov[tag];
	int kind = rnd(14);

	v[0] = (struct iovec){ spare.hdr, sizeof(*spare.hdr) };
	v[1] = (struct iovec){ spare.payload, RS_PAYLOAD };
	if (kind == 2 && nq < 2)
		kind = 1;
	switch (kind) {
	case 0:		/* no such command */
		sqe = broken_sqe(rnd(2) ? 0 : 5 + rnd(1 << 20), -EINVAL);
		break;
	case 1:		/* a commit id nobody holds: uniques are even */
		sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH, -ENOENT);
		rs_cmd(sqe)->qid = qid;
		rs_cmd(sqe)->commit_id = rnd(2) ? (e->unique | 1) :
					 ((uint64_t)rnd(~0U) << 20 | 1);
		st->expect_errors++;
		break;
	case 2:		/* the right id on the wrong queue */
		sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH, -ENOENT);
		rs_cmd(sqe)->qid = (qid + 1 + rnd(nq - 1)) % nq;
		rs_cmd(sqe)->commit_id = e->unique;
		st->expect_errors++;
		break;
	case 3:		/* a queue that does not exist */
		if (rnd(2)) {
			sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
					 -EINVAL);
			rs_cmd(sqe)->commit_id = e->unique;
			rs_cmd(sqe)->qid = nq + rnd(65536 - nq);
		} else {
			sqe = broken_sqe(FUSE_IO_URING_CMD_REGISTER, -EINVAL);
			register_iov(sqe, v, 2, nq + rnd(65536 - nq));
		}
		break;
	case 4:		/* flags or padding in a commit */
		sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH, -EINVAL);
		rs_cmd(sqe)->qid = qid;
		rs_cmd(sqe)->commit_id = e->unique;
		if (rnd(2))
			rs_cmd(sqe)->flags = 1ULL << rnd(64);
		else
			rs_cmd(sqe)->padding[rnd(6)] = 1 + rnd(255);
		break;
	case 5:		/* flags or padding in a REGISTER */
		sqe = broken_sqe(FUSE_IO_URING_CMD_REGISTER, -EINVAL);
		register_iov(sqe, v, 2, qid);
		if (rnd(2))
			rs_cmd(sqe)->flags = 1ULL << rnd(64);
		else
			rs_cmd(sqe)->padding[rnd(6)] = 1 + rnd(255);
		break;
	case 6:		/* not two iovecs */
		sqe = broken_sqe(FUSE_IO_URING_CMD_REGISTER, -EINVAL);
		register_iov(sqe, v, rnd(2) ? rnd(2) : 3 + rnd(1000), qid);
		break;
	case 7:		/* the iovec array is not there */
		sqe = broken_sqe(FUSE_IO_URING_CMD_REGISTER, -EFAULT);
		register_iov(sqe, rnd(2) ? (void *)none_area :
			     (void *)(uintptr_t)(8 + rnd(4000)), 2, qid);
		break;
	case 8:		/* a buffer too short */
		sqe = broken_sqe(FUSE_IO_URING_CMD_REGISTER, -EINVAL);
		if (rnd(2))
			v[0].iov_len = rnd(sizeof(*spare.hdr));
		else
			v[1].iov_len = rnd(MAX_PAYLOAD);
		register_iov(sqe, v, 2, qid);
		break;
	case 9:		/* a buffer nobody may touch */
		sqe = broken_sqe(FUSE_IO_URING_CMD_REGISTER, -EFAULT);
		switch (rnd(4)) {
		case 0: v[0].iov_base = none_area; break;
		case 1: v[1].iov_base = none_area; break;
		case 2: v[1].iov_base = NULL; break;
		case 3: v[0].iov_base = (void *)(uintptr_t)4096; break;
		}
		register_iov(sqe, v, 2, qid);
		break;
	case 10:	/* io_uring's own fields: unknown command flags */
		sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH, -EINVAL);
		sqe->uring_cmd_flags = 1U << (8 + rnd(24));
		rs_cmd(sqe)->qid = qid;
		rs_cmd(sqe)->commit_id = e->unique;
		break;
	case 11:	/* ... and the reserved word beside cmd_op */
		sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH, -EINVAL);
		sqe->__pad1 = 1 + rnd(~0U - 1);
		rs_cmd(sqe)->qid = qid;
		rs_cmd(sqe)->commit_id = e->unique;
		break;
	default: {	/* an SQE64 ring: the command area is too small */
		struct io_uring_sqe *s64 = io_uring_get_sqe(&ring64);
		struct io_uring_cqe *cqe;
		int got;

		if (!s64)
			return;
		memset(s64, 0, sizeof(*s64));
		s64->opcode = IORING_OP_URING_CMD;
		s64->fd = srv.fd;
		s64->cmd_op = rnd(2) ? FUSE_IO_URING_CMD_REGISTER :
				       FUSE_IO_URING_CMD_COMMIT_AND_FETCH;
		if (s64->cmd_op == FUSE_IO_URING_CMD_REGISTER) {
			s64->addr = (uintptr_t)v;
			s64->len = 2;
		}
		st->broken++;
		got = io_uring_submit_and_wait(&ring64, 1);
		if (got >= 0)
			got = io_uring_peek_cqe(&ring64, &cqe);
		if (!got) {
			got = cqe->res;
			io_uring_cqe_seen(&ring64, cqe);
		}
		if (got == -EINVAL)
			st->refused++;
		else
			wrong("a command on an SQE64 ring: %ld (want %ld)",
			      got, -EINVAL);
		return;
	}
	}
}

/*
 * The largest reply the request can take: argvar replies may be shorter
 * than their buffer, never longer (fixed sizes are answer()'s business).
 */
static uint32_t reply_limit(const struct raw_req *r)
{
	switch (r->h.opcode) {
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		return ((const struct fuse_read_in *)r->arg)->size;
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		uint32_t size = ((const struct fuse_getxattr_in *)r->arg)->size;

		return size ? size : sizeof(struct fuse_getxattr_out);
	}
	}
	return ~0U;
}

static void commit(unsigned int n)
{
	struct io_uring_sqe *sqe = sqe_get(FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
					   n);

	rs_cmd(sqe)->qid = srv.ents[n].qid;
	rs_cmd(sqe)->commit_id = srv.ents[n].unique;
}

static void sac_protect(unsigned int n, bool usable)
{
	struct rs_ent *e = &srv.ents[n];
	int hdr = PROT_READ | PROT_WRITE, payload = hdr;

	if (!usable && sac[n] == SAC_HDR_NONE)
		hdr = PROT_NONE;
	else if (!usable && sac[n] == SAC_HDR_RO)
		hdr = PROT_READ;
	else if (!usable && sac[n] == SAC_PAYLOAD_RO)
		payload = PROT_READ;
	if (mprotect(e->hdr, 4096, hdr) ||
	    mprotect(e->payload, RS_PAYLOAD, payload))
		wrong("mprotect: %ld %ld", errno, 0);
}

/* Now and then: an entry whose buffers go bad once registered. */
static void sacrifice(void)
{
	static struct iovec iov[2];
	struct io_uring_sqe *sqe;
	unsigned int n;

	for (n = ngood; n < RS_MAX_ENTS && sac[n]; n++)
		;
	if (n == RS_MAX_ENTS || rs_alloc_ent(&srv.ents[n], rnd(nq)))
		return;
	sac[n] = SAC_HDR_NONE + rnd(3);
	iov[0] = (struct iovec){ srv.ents[n].hdr, sizeof(*srv.ents[n].hdr) };
	iov[1] = (struct iovec){ srv.ents[n].payload, RS_PAYLOAD };
	sqe = sqe_get(FUSE_IO_URING_CMD_REGISTER, n);
	register_iov(sqe, iov, 2, srv.ents[n].qid);
	/*
	 * Issued now (SUBMIT_ALL: a broken SQE before it does not stop the
	 * submission), so its buffers are probed while still good; a request
	 * waiting now may already have gone into it (handle() copes).
	 */
	io_uring_submit(&srv.ring);
	sac_protect(n, false);
	st->broken++;
}

static void sac_end(unsigned int n, int res)
{
	if (res == -EFAULT) {
		st->refused++;
		st->expect_errors++;
	} else if (res != -ENOTCONN) {
		wrong("an entry with bad buffers ended with %ld (kind %ld)",
		      res, sac[n]);
	}
	munmap(srv.ents[n].hdr, 4096);
	munmap(srv.ents[n].payload, RS_PAYLOAD);
	sac[n] = SAC_NONE;
}

/* Answer the request in entry n, with what the dice say. */
static void handle(unsigned int n)
{
	struct rs_ent *e = &srv.ents[n];
	struct fuse_uring_req_header *h = e->hdr;
	struct fuse_out_header oh;
	struct raw_req r;
	uint32_t in_payload, oplen;
	int i, fixed, bad = 0, err = 0;
	bool sacrificed = sac[n] != SAC_NONE, refuse = false;
	long len;

	if (sacrificed)
		sac_protect(n, true);
	memcpy(&r.h, h->in_out, sizeof(r.h));
	e->unique = r.h.unique;
	in_payload = h->ring_ent_in_out.payload_sz;
	oplen = r.h.len - sizeof(r.h) - in_payload;
	if (oplen > FUSE_URING_OP_IN_OUT_SZ || in_payload > RS_PAYLOAD) {
		wrong("a request with op_in %ld and payload %ld bytes",
		      oplen, in_payload);
		oplen = 0;
		in_payload = 0;
	}
	/* answer() wants the classic layout: the arg struct, then the rest. */
	memcpy(argbuf, h->op_in, oplen);
	memcpy(argbuf + oplen, e->payload, in_payload);
	argbuf[oplen + in_payload] = '\0';
	r.arg = argbuf;
	r.arglen = oplen + in_payload;

	switch (r.h.opcode) {
	case FUSE_DESTROY:
	case FUSE_RELEASEDIR:
		len = 0;
		goto reply;
	}
	st->requests++;
	st->last_opcode = r.h.opcode;
	if (!sacrificed)
		for (i = rnd(4); i > 0; i--)
			send_broken_cmd(n);

	bad = !sacrificed && rnd(3) == 0;
	len = answer(&r, out, RS_PAYLOAD, &fixed, bad);
	if (len < 0) {
		err = len;
		len = 0;
	} else if (!sacrificed && rnd(8) == 0) {
		err = -(int)(1 + rnd(511));	/* any valid error */
		len = 0;
		bad = 1;
	}
	if (!sacrificed && !err && fixed && rnd(4) == 0) {
		long delta = 1 + rnd(64);	/* too long or too short */

		len = rnd(2) ? len + delta : (len > delta ? len - delta : 0);
		bad = 2;
	}
	if (!err && (bad == 2 || (uint32_t)len > reply_limit(&r)))
		refuse = true;
reply:
	oh = (struct fuse_out_header){
		.len = sizeof(oh) + len, .error = err, .unique = e->unique,
	};
	memcpy(e->payload, out, len);
	h->ring_ent_in_out.payload_sz = len;
	if (!sacrificed && r.h.opcode != FUSE_DESTROY &&
	    r.h.opcode != FUSE_RELEASEDIR) {
		switch (rnd(12)) {
		case 0:		/* another request's id */
			oh.unique += rnd(2) ? 1 : 2 * (1 + rnd(1000));
			refuse = true;
			bad = 3;
			break;
		case 1:		/* an error no syscall can return */
			oh.error = rnd(2) ? (int)(1 + rnd(1000)) :
					    -(int)(512 + rnd(5000));
			refuse = true;
			bad = 3;
			break;
		case 2:		/* more than the buffer holds */
			if (oh.error)
				break;
			h->ring_ent_in_out.payload_sz = RS_PAYLOAD + 1 +
							rnd(1 << 30);
			refuse = true;
			bad = 3;
			break;
		case 3:		/* the ring reads payload_sz, not len */
			oh.len = rnd(~0U);
			break;
		}
	}
	memcpy(h->in_out, &oh, sizeof(oh));
	if (bad)
		st->broken++;
	if (sacrificed) {
		sac_protect(n, false);
		/* The header cannot be read back: EIO, one error. */
		if (sac[n] == SAC_HDR_NONE)
			refuse = true;
	}
	if (refuse)
		st->expect_errors++;
	commit(n);
	if (!sacrificed && rnd(5) == 0) {	/* the same id again */
		struct io_uring_sqe *sqe;

		sqe = broken_sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH, -ENOENT);
		rs_cmd(sqe)->qid = e->qid;
		rs_cmd(sqe)->commit_id = e->unique;
		st->expect_errors++;
	}
}

static void on_cqe(uint64_t data, int res)
{
	unsigned int n = data;

	if (data & TAG) {
		int want = expect_res[data % NTAGS];

		if (res == want)
			st->refused++;
		else
			wrong("a broken command returned %ld (want %ld)", res,
			      want);
		return;
	}
	if (n >= RS_MAX_ENTS) {
		wrong("a completion for no entry (%ld, res %ld)", n, res);
		return;
	}
	if (res < 0) {
		if (sac[n]) {
			sac_end(n, res);
			return;
		}
		/* A broken command that ended the request shows here. */
		if (res != -ENOTCONN)
			wrong("good entry %ld ended with %ld", n, res);
		ended++;
		return;
	}
	handle(n);
}

static void serve(const char *mnt, long messages)
{
	struct io_uring_cqe *cqe;
	long requests = 0;
	int ret;

	argbuf = malloc(RS_PAYLOAD + FUSE_URING_OP_IN_OUT_SZ + 1);
	out = malloc(RS_PAYLOAD);
	none_area = mmap(NULL, RS_PAYLOAD, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!argbuf || !out || none_area == MAP_FAILED ||
	    rs_alloc_ent(&spare, 0) || rs_mount(&srv, mnt) ||
	    rs_do_init(&srv, true) || rs_start(&srv) ||
	    rs_ring_init(&srv, 128, IORING_SETUP_SQE128 |
			 IORING_SETUP_SUBMIT_ALL) ||
	    io_uring_queue_init(4, &ring64, 0) ||
	    rs_register_all(&srv, PER_QUEUE)) {
		fprintf(stderr, "# the ring server did not start\n");
		_exit(1);
	}
	nq = srv.nq;
	ngood = srv.nents;
	st->ready = 1;
	while (ended < ngood) {
		ret = io_uring_submit_and_wait(&srv.ring, 1);
		if (ret < 0 && ret != -EINTR)
			break;
		while (!io_uring_peek_cqe(&srv.ring, &cqe)) {
			uint64_t data = cqe->user_data;
			int res = cqe->res;

			io_uring_cqe_seen(&srv.ring, cqe);
			on_cqe(data, res);
			if (!(data & TAG) && res >= 0 &&
			    ++requests % SAC_EVERY == 0)
				sacrifice();
		}
		if (st->broken >= messages)
			st->done = 1;
	}
	pthread_join(srv.classic, NULL);
	_exit(ended == ngood ? 0 : 2);
}

/* The queues' errors counters add up to what the server expects. */
static void check_counters(struct __test_metadata *_metadata, const char *mnt)
{
	long long sum = -1, prev;
	struct rs view;
	unsigned int q;
	int tries;

	memset(&view, 0, sizeof(view));
	snprintf(view.mnt, sizeof(view.mnt), "%s", mnt);
	ASSERT_EQ(0, rs_find_debugfs(&view));
	/* The last commits may still be in the server's submit. */
	for (tries = 0; tries < 20; tries++) {
		usleep(100 * 1000);
		prev = sum;
		for (sum = 0, q = 0; q < rs_param_queues(); q++)
			sum += rs_counter(&view, q, "errors");
		if (sum == prev && sum == st->expect_errors)
			break;
	}
	TH_LOG("errors counters: %lld, expected %ld", sum, st->expect_errors);
	EXPECT_EQ(st->expect_errors, sum);
}

FIXTURE(ring) {
};

FIXTURE_SETUP(ring)
{
	RS_NEED_RING();
	rs_set_param_queues(0);
}

FIXTURE_TEARDOWN(ring)
{
}

TEST_F_TIMEOUT(ring, fuzz_hostile_ring_server, 900)
{
	fuzz_run(_metadata, serve, check_counters);
}

TEST_HARNESS_MAIN
