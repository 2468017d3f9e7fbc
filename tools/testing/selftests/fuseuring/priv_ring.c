// SPDX-License-Identifier: GPL-2.0
/*
 * Who may do what over the io_uring transport:
 * - uring commands work only on a device file that was mounted: anyone
 *   may open /dev/fuseuring, but a ring on an unmounted one gets EPERM;
 * - what the module writes into a server's header buffer carries no stale
 *   bytes: the parts of in_out and op_in it does not define, and the
 *   unused fields of ring_ent_in_out, are zero, whatever the server left
 *   there (the buffers are filled with 0xAA before REGISTER and after
 *   every reply);
 * - a server cannot make the module touch memory beyond the buffers it
 *   registered: buffers revoked after REGISTER (unmapped, read-only) fail
 *   their entry with EFAULT and the caller with EIO, a payload_sz beyond
 *   the buffer is refused, and the guard pages around the buffers stay
 *   as they were.
 * Raw ring server: ring_server.h.
 */
#include <grp.h>
#include <sys/xattr.h>

#include "ring_server.h"
#include "kselftest_harness.h"
#include "priv_util.h"

#define FILL	0xAA
#define GUARD	0x5A

FIXTURE(ring) {
	char mnt[64];
	struct rs s;
};

FIXTURE_SETUP(ring)
{
	RS_NEED_RING();
	ps = raw_shared_mem(sizeof(*ps));
	ASSERT_NE(NULL, ps);
	strcpy(self->mnt, "/tmp/priv_ring.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	rs_set_param_queues(0);
}

FIXTURE_TEARDOWN(ring)
{
	umount2(self->mnt, MNT_DETACH);
	rmdir(self->mnt);
}

/* A REGISTER on a fresh SQE128 ring over fd: its result. */
static int register_on(int fd)
{
	struct rs s = { .fd = fd };
	struct rs_ent e;
	struct iovec iov[2];
	int ret;

	if (rs_ring_init(&s, 4, IORING_SETUP_SQE128) || rs_alloc_ent(&e, 0))
		return -ENOMEM;
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	iov[1] = (struct iovec){ e.payload, RS_PAYLOAD };
	ret = rs_prep_register(&s, iov, 2, 0, 1);
	if (!ret)
		ret = rs_submit_wait(&s, 2000, NULL);
	io_uring_queue_exit(&s.ring);
	return ret;
}

static int register_unmounted(const char *unused)
{
	int fd = open(raw_dev(), O_RDWR), ret;

	(void)unused;
	if (fd < 0)
		return 100;
	ret = register_on(fd);
	close(fd);
	return ret == -EPERM ? 0 : 101;
}

static int as_nobody(int (*fn)(const char *), const char *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(102);
		_exit(fn(arg));
	}
	return raw_wait(pid, 10);
}

TEST_F(ring, priv_ring_needs_a_mounted_device)
{
	EXPECT_EQ(-EPERM, register_on(open(raw_dev(), O_RDWR)));
	EXPECT_EQ(0, as_nobody(register_unmounted, NULL));
}

/* Mount, INIT with the ring, one entry a queue filled with FILL. */
static int setup(struct rs *s, const char *mnt)
{
	struct iovec iov[RS_MAX_ENTS][2];
	unsigned int q;
	int err = rs_mount_ring(s, mnt, 64);

	if (err)
		return err;
	s->nq = rs_param_queues();
	for (q = 0; q < s->nq && q < RS_MAX_ENTS; q++) {
		struct rs_ent *e = &s->ents[q];

		if (rs_alloc_ent(e, q))
			return -ENOMEM;
		memset(e->hdr, FILL, 4096);
		iov[q][0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		iov[q][1] = (struct iovec){ e->payload, RS_PAYLOAD };
		err = rs_prep_register(s, iov[q], 2, q, q);
		if (err)
			return err;
	}
	s->nents = q;
	err = rs_submit_wait(s, 20, NULL);
	return err == 1 ? 0 : -EPROTO;
}

static int all_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* What entry n holds: every byte the module does not define is zero. */
static void check_request(struct rs_ent *e)
{
	const struct fuse_uring_req_header *h = e->hdr;
	const struct fuse_uring_ent_in_out *io = &h->ring_ent_in_out;
	struct raw_req req;
	uint32_t oplen;

	memcpy(&req.h, h->in_out, sizeof(req.h));
	oplen = req.h.len - sizeof(req.h) - io->payload_sz;
	if (oplen > FUSE_URING_OP_IN_OUT_SZ) {
		mark(0, "op_in length", oplen);
		return;
	}
	req.arg = (char *)h->op_in;
	req.arglen = oplen;
	check_padding(&req);
	mark(all_zero((const void *)h->in_out + sizeof(req.h),
		      FUSE_URING_IN_OUT_HEADER_SZ - sizeof(req.h)),
	     "in_out after fuse_in_header, opcode", req.h.opcode);
	mark(all_zero((const void *)h->op_in + oplen,
		      FUSE_URING_OP_IN_OUT_SZ - oplen),
	     "op_in after the argument, opcode", req.h.opcode);
	mark(!io->flags, "ring_ent_in_out.flags", io->flags);
	mark(!io->offset, "ring_ent_in_out.offset", io->offset);
	mark(!io->reserved, "ring_ent_in_out.reserved", io->reserved);
	mark(io->commit_id == req.h.unique, "ring_ent_in_out.commit_id",
	     io->commit_id);
}

/* Answer entry n, then leave FILL wherever the reply does not need it. */
static void answer(struct rs *s, unsigned int n)
{
	struct fuse_uring_req_header *h = s->ents[n].hdr;
	uint32_t psz;

	if (!rs_handle(s, n))
		rs_put_reply(s, n, -EIO, NULL, 0);
	psz = h->ring_ent_in_out.payload_sz;
	memset(h->in_out + sizeof(struct fuse_out_header), FILL,
	       FUSE_URING_IN_OUT_HEADER_SZ - sizeof(struct fuse_out_header));
	memset(h->op_in, FILL, FUSE_URING_OP_IN_OUT_SZ);
	memset(&h->ring_ent_in_out, FILL, sizeof(h->ring_ent_in_out));
	h->ring_ent_in_out.payload_sz = psz;
	rs_prep_commit(s, n, s->ents[n].unique);
}

/* Everything a client does here: many opcodes, some with padding. */
static int client_ops(const char *mnt)
{
	char path[160], path2[160], buf[4096];
	struct statx stx;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/d1", mnt);
	stat(path, &st);
	statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &stx);
	chmod(path, 0700);
	getxattr(path, "user.x", buf, sizeof(buf));
	listxattr(path, buf, sizeof(buf));
	fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/file", mnt);
	fd = open(path, O_RDWR);
	if (fd >= 0) {
		if (pread(fd, buf, sizeof(buf), 4096) < 0 ||
		    pwrite(fd, buf, 100, 8192) < 0)
			perror("file");
		fsync(fd);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/newdir", mnt);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fifo", mnt);
	mknod(path, S_IFIFO | 0644, 0);
	snprintf(path2, sizeof(path2), "%s/d2", mnt);
	syscall(SYS_renameat2, AT_FDCWD, path, AT_FDCWD, path2, 1);
	symlink("t", path);
	unlink(path);
	return 0;
}

TEST_F(ring, priv_ring_padding_zero)
{
	struct rs *s = &self->s;
	uint64_t n;
	pid_t client;
	int status, served = 0;

	ASSERT_EQ(0, setup(s, self->mnt));
	client = fork();
	ASSERT_LE(0, client);
	if (client == 0)
		_exit(client_ops(self->mnt));
	while (waitpid(client, &status, WNOHANG) == 0) {
		if (rs_submit_wait(s, 50, &n) || n >= s->nents)
			continue;
		memcpy(&s->ents[n].unique, s->ents[n].hdr->in_out +
		       offsetof(struct fuse_in_header, unique), 8);
		check_request(&s->ents[n]);
		answer(s, n);
		served++;
	}
	io_uring_submit(&s->ring);
	TH_LOG("%d requests over the ring, %ld fields and ranges checked",
	       served, ps->checked);
	EXPECT_LT(10, served);
	EXPECT_EQ(0, ps->nonzero_padding) TH_LOG("first: %s", ps->why);
	/* umount in a child: DESTROY comes over the ring. */
	client = fork();
	ASSERT_LE(0, client);
	if (client == 0)
		_exit(umount(self->mnt) ? errno : 0);
	while (waitpid(client, &status, WNOHANG) == 0)
		if (!rs_submit_wait(s, 50, &n) && n < s->nents) {
			memcpy(&s->ents[n].unique, s->ents[n].hdr->in_out +
			       offsetof(struct fuse_in_header, unique), 8);
			answer(s, n);
		}
	EXPECT_EQ(0, WEXITSTATUS(status));
	pthread_join(s->classic, NULL);
	io_uring_queue_exit(&s->ring);
	close(s->fd);
}

/* Fill [p, p + len) and check it later. */
static bool guard_intact(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != GUARD)
			return false;
	return true;
}

/*
 * One queue, one entry between guard pages; the server revokes its
 * buffers or lies about sizes, a caller stats a name each time.
 */
TEST_F(ring, priv_ring_no_access_beyond_registered_buffers)
{
	struct rs *s = &self->s;
	size_t page = 4096, hlen = 3 * page, plen = RS_PAYLOAD + 2 * page;
	unsigned char *harea, *parea;
	struct iovec iov[2];
	struct rs_ent *e;
	struct stat st;
	char path[160];
	uint64_t n;
	pid_t caller;
	int round;

	ASSERT_EQ(0, rs_set_param_queues(1));
	harea = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	parea = mmap(NULL, plen, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, harea);
	ASSERT_NE(MAP_FAILED, parea);
	ASSERT_EQ(0, rs_mount_ring(s, self->mnt, 8));
	s->nq = 1;
	s->nents = 1;
	e = &s->ents[0];
	snprintf(path, sizeof(path), "%s/d1", self->mnt);

	for (round = 0; round < 4; round++) {
		memset(harea, GUARD, hlen);
		memset(parea, GUARD, plen);
		e->hdr = (void *)(harea + page);
		e->payload = (void *)(parea + page);
		e->qid = 0;
		iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		iov[1] = (struct iovec){ e->payload, RS_PAYLOAD };
		ASSERT_EQ(0, rs_prep_register(s, iov, 2, 0, 0));
		ASSERT_EQ(1, rs_submit_wait(s, 20, NULL));
		switch (round) {
		case 0:		/* the header goes away */
			ASSERT_EQ(0, munmap(e->hdr, page));
			break;
		case 1:		/* the header becomes read-only */
			ASSERT_EQ(0, mprotect(e->hdr, page, PROT_READ));
			break;
		case 2:		/* the payload (the name goes there) goes away */
			ASSERT_EQ(0, munmap(e->payload, RS_PAYLOAD));
			break;
		}
		caller = fork();
		ASSERT_LE(0, caller);
		if (caller == 0)
			_exit(stat(path, &st) ? errno : 0);
		if (round < 3) {
			/* The entry fails, the caller gets EIO. */
			EXPECT_EQ(-EFAULT, rs_submit_wait(s, 5000, &n));
			EXPECT_EQ(EIO, raw_wait(caller, 5));
		} else {
			/* A reply claiming more payload than registered. */
			ASSERT_EQ(0, rs_submit_wait(s, 5000, &n));
			memcpy(&e->unique, e->hdr->in_out +
			       offsetof(struct fuse_in_header, unique), 8);
			rs_put_reply(s, 0, 0, NULL, 0);
			e->hdr->ring_ent_in_out.payload_sz = RS_PAYLOAD + page;
			rs_prep_commit(s, 0, e->unique);
			io_uring_submit(&s->ring);
			EXPECT_EQ(EIO, raw_wait(caller, 5));
		}
		/* Restore what was revoked, then look at the guards. */
		if (round == 0 || round == 1)
			ASSERT_EQ(e->hdr, mmap(e->hdr, page, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
					       -1, 0));
		if (round == 2)
			ASSERT_EQ((void *)e->payload,
				  mmap(e->payload, RS_PAYLOAD, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				       -1, 0));
		EXPECT_TRUE(guard_intact(harea, page)) TH_LOG("round %d", round);
		EXPECT_TRUE(guard_intact(harea + 2 * page, page))
			TH_LOG("round %d", round);
		EXPECT_TRUE(guard_intact(parea, page)) TH_LOG("round %d", round);
		EXPECT_TRUE(guard_intact(parea + page + RS_PAYLOAD, page))
			TH_LOG("round %d", round);
	}
	/*
	 * The last entry is parked again: umount (in a child, this thread
	 * is the server) sends DESTROY through it, then ends it.
	 */
	caller = fork();
	ASSERT_LE(0, caller);
	if (caller == 0)
		_exit(umount(self->mnt) ? errno : 0);
	ASSERT_EQ(0, rs_submit_wait(s, 5000, &n));
	memcpy(&e->unique, e->hdr->in_out +
	       offsetof(struct fuse_in_header, unique), 8);
	rs_put_reply(s, 0, 0, NULL, 0);
	rs_prep_commit(s, 0, e->unique);
	EXPECT_EQ(-ENOTCONN, rs_submit_wait(s, 5000, &n));
	EXPECT_EQ(0, raw_wait(caller, 5));
	pthread_join(s->classic, NULL);
	io_uring_queue_exit(&s->ring);
	close(s->fd);
}

TEST_HARNESS_MAIN
