// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring transport: bad arguments and their errnos, bad and
 * repeated commits, commands after the abort, kill -9 of the server with
 * requests in flight and with entries parked, the ring closed while
 * the device stays open, and an exec with entries parked.  Raw ring
 * server: ring_server.h.
 */
#include <poll.h>

#include "ring_server.h"
#include "kselftest_harness.h"

#define MNT	"/tmp/ring_errors_mnt"

/* Register from this thread and serve one request by hand. */
static int serve_one(struct rs *s, int ms)
{
	uint64_t n;
	int ret = rs_submit_wait(s, ms, &n);

	if (ret)
		return ret < 0 ? ret : -ETIME;
	if (n >= s->nents)
		return -EPROTO;
	if (rs_handle(s, n)) {
		rs_prep_commit(s, n, s->ents[n].unique);
		io_uring_submit(&s->ring);
	}
	return n;
}

/* Serve requests until the client is done; its errno, or -1 if stuck. */
static int serve_client(struct rs *s, struct rs_client *c, double limit)
{
	double t0 = raw_now();

	while (!c->done && raw_now() - t0 < limit)
		serve_one(s, 50);
	return rs_client_wait(c, 0);
}

/*
 * umount in a child while this thread serves the ring (the umount waits
 * for DESTROY), then close the server: the child's errno, -1 if no child.
 */
static int umount_serving(struct rs *s)
{
	pid_t pid = fork();
	int status = -1;

	if (!pid)
		_exit(umount(MNT) ? errno : 0);
	while (pid > 0 && waitpid(pid, &status, WNOHANG) == 0)
		serve_one(s, 100);
	pthread_join(s->classic, NULL);
	io_uring_queue_exit(&s->ring);
	close(s->fd);
	return pid > 0 ? WEXITSTATUS(status) : -1;
}

static int reg_one(struct rs *s, struct iovec *iov, unsigned int niov,
		   unsigned int qid)
{
	int ret = rs_prep_register(s, iov, niov, qid, 999);

	return ret ? ret : rs_submit_wait(s, 2000, NULL);
}

static int cmd_op(struct rs *s, int op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = rs_sqe(s, op, 999);

	rs_cmd(sqe)->commit_id = commit_id;
	return rs_submit_wait(s, 2000, NULL);
}

TEST(sqe64_ring)
{
	struct iovec iov[2];
	struct rs_ent e;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_mount(&s, MNT));
	ASSERT_EQ(0, rs_do_init(&s, true));
	ASSERT_EQ(0, rs_start(&s));
	ASSERT_EQ(0, rs_ring_init(&s, 8, 0));
	ASSERT_EQ(0, rs_alloc_ent(&e, 0));
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	iov[1] = (struct iovec){ e.payload, RS_PAYLOAD };
	EXPECT_EQ(-EINVAL, reg_one(&s, iov, 2, 0));
	rs_teardown(&s);
}

TEST(bad_register_args)
{
	struct iovec iov[2], good[2];
	struct rs_ent e;
	void *none, *gone;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_mount_ring(&s, MNT, 8));
	ASSERT_EQ(0, rs_alloc_ent(&e, 0));
	good[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	good[1] = (struct iovec){ e.payload, RS_PAYLOAD };
	none = mmap(NULL, RS_PAYLOAD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	/* Below mmap_min_addr: never mapped. */
	gone = (void *)4096;
	ASSERT_NE(MAP_FAILED, none);

	/* A qid beyond the queues. */
	EXPECT_EQ(-EINVAL, reg_one(&s, good, 2, rs_param_queues()));
	EXPECT_EQ(-EINVAL, reg_one(&s, good, 2, 0xffff));
	/* Not two iovecs. */
	EXPECT_EQ(-EINVAL, reg_one(&s, good, 1, 0));
	EXPECT_EQ(-EINVAL, reg_one(&s, good, 3, 0));
	/* Short header, short payload. */
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) - 1 };
	iov[1] = good[1];
	EXPECT_EQ(-EINVAL, reg_one(&s, iov, 2, 0));
	iov[0] = good[0];
	iov[1] = (struct iovec){ e.payload, 4096 };
	EXPECT_EQ(-EINVAL, reg_one(&s, iov, 2, 0));
	/* The iovec array itself unmapped. */
	EXPECT_EQ(-EFAULT, reg_one(&s, (struct iovec *)8, 2, 0));
	EXPECT_EQ(-EFAULT, reg_one(&s, gone, 2, 0));
	EXPECT_EQ(-EFAULT, reg_one(&s, none, 2, 0));
	/* Unmapped or inaccessible buffers. */
	iov[0] = (struct iovec){ none, sizeof(*e.hdr) };
	iov[1] = good[1];
	EXPECT_EQ(-EFAULT, reg_one(&s, iov, 2, 0));
	iov[0] = good[0];
	iov[1] = (struct iovec){ gone, RS_PAYLOAD };
	EXPECT_EQ(-EFAULT, reg_one(&s, iov, 2, 0));
	iov[1] = (struct iovec){ none, RS_PAYLOAD };
	EXPECT_EQ(-EFAULT, reg_one(&s, iov, 2, 0));
	iov[1] = (struct iovec){ NULL, RS_PAYLOAD };
	EXPECT_EQ(-EFAULT, reg_one(&s, iov, 2, 0));
	/* Unknown commands (ring_bufpool checks the buffer-pool ones). */
	EXPECT_EQ(-EINVAL, cmd_op(&s, 99, 0));
	EXPECT_EQ(-EINVAL, cmd_op(&s, FUSE_IO_URING_CMD_INVALID, 0));
	/* A commit id nobody holds. */
	EXPECT_EQ(-ENOENT, cmd_op(&s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
				  12345678));
	rs_teardown(&s);
}

TEST(commit_errors)
{
	struct rs_client c;
	uint64_t id;
	struct rs s;
	int n;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_set_param_queues(1));
	/* This thread submits, so the command's task work runs here. */
	ASSERT_EQ(0, rs_setup_hand(&s, MNT, 2));
	EXPECT_EQ(0, rs_set_param_queues(0));

	/* A good request, then its commit id again: -ENOENT, once. */
	rs_client_start(&c, MNT, "d1");
	n = serve_one(&s, 5000);
	ASSERT_GE(n, 0);
	id = s.ents[n].unique;
	EXPECT_EQ(0, serve_client(&s, &c, 5));
	EXPECT_EQ(-ENOENT, cmd_op(&s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
				  id));
	EXPECT_EQ(-ENOENT, cmd_op(&s, FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
				  id + 1000));

	/* A reply of the wrong size: EIO for the caller, entry reused. */
	rs_client_start(&c, MNT, "bad1");
	EXPECT_EQ(EIO, serve_client(&s, &c, 5));
	/* A reply naming another request: EIO, as upstream. */
	rs_client_start(&c, MNT, "wrongid1");
	EXPECT_EQ(EIO, serve_client(&s, &c, 5));
	rs_client_start(&c, MNT, "d2");
	EXPECT_EQ(0, serve_client(&s, &c, 5));
	ASSERT_EQ(0, rs_find_debugfs(&s));
	EXPECT_EQ(4, rs_counter(&s, 0, "errors"));
	EXPECT_GE(rs_counter(&s, 0, "committed"), 2);
	EXPECT_EQ(rs_counter(&s, 0, "dispatched"),
		  rs_counter(&s, 0, "committed") + 2);
	EXPECT_EQ(0, rs_counter(&s, 0, "inflight"));

	/* DESTROY over the ring, then the entries end. */
	EXPECT_EQ(0, umount_serving(&s));
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A signal to a caller whose request the server holds over the ring. */
TEST(interrupt_on_classic_path)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct rs_client c;
	double t0;
	struct rs s;
	int n;

	RS_NEED_RING();

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, rs_set_param_queues(1));
	ASSERT_EQ(0, rs_setup_hand(&s, MNT, 2));
	EXPECT_EQ(0, rs_set_param_queues(0));

	rs_client_start(&c, MNT, "hold1");
	n = serve_one(&s, 5000);
	ASSERT_GE(n, 0);
	pthread_kill(c.thr, SIGUSR1);
	/* FUSE_INTERRUPT comes on the device, not the ring. */
	t0 = raw_now();
	while (!s.interrupts && raw_now() - t0 < 5)
		usleep(10000);
	EXPECT_EQ(1, s.interrupts);
	EXPECT_FALSE(c.done);
	rs_put_reply(&s, n, -EINTR, NULL, 0);
	rs_prep_commit(&s, n, s.ents[n].unique);
	io_uring_submit(&s.ring);
	EXPECT_EQ(EINTR, serve_client(&s, &c, 5));

	EXPECT_EQ(0, umount_serving(&s));
}

TEST(after_abort)
{
	struct iovec iov[2];
	struct rs_ent e;
	struct rs s, s2;
	unsigned int i;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_setup(&s, MNT, 1));
	ASSERT_EQ(0, umount(MNT));
	pthread_join(s.ringthr, NULL);
	s.ring_running = false;
	for (i = 0; i < s.nents; i++)
		EXPECT_EQ(-ENOTCONN, s.ents[i].state);

	memset(&s2, 0, sizeof(s2));
	s2.fd = s.fd;
	ASSERT_EQ(0, rs_ring_init(&s2, 8, IORING_SETUP_SQE128));
	ASSERT_EQ(0, rs_alloc_ent(&e, 0));
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	iov[1] = (struct iovec){ e.payload, RS_PAYLOAD };
	EXPECT_EQ(-ENOTCONN, reg_one(&s2, iov, 2, 0));
	EXPECT_EQ(-ENOTCONN, cmd_op(&s2, FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
				    2));
	io_uring_queue_exit(&s2.ring);
	rs_teardown(&s);
}

/* A server in a child, killed with SIGKILL; hold: requests unanswered. */
static void kill_server(struct __test_metadata *_metadata, bool hold)
{
	struct rs_client c[3];
	int pfd[2], i;
	char ok = 0;
	pid_t pid;

	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		static struct rs s;

		s.hold_all = hold;
		ok = rs_setup(&s, MNT, 2) == 0;
		s.hold_all = hold;
		if (write(pfd[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(pfd[0], &ok, 1));
	ASSERT_EQ(1, ok);
	if (hold) {
		rs_client_start(&c[0], MNT, "hold1");
		rs_client_start(&c[1], MNT, "hold2");
		rs_client_start(&c[2], MNT, "d3");
		usleep(500 * 1000);
		for (i = 0; i < 3; i++)
			EXPECT_FALSE(c[i].done);
	}
	kill(pid, SIGKILL);
	EXPECT_EQ(137, raw_wait(pid, 5));
	if (hold) {
		for (i = 0; i < 3; i++)
			EXPECT_EQ(ENOTCONN, rs_client_wait(&c[i], 5));
	}
	rs_client_start(&c[0], MNT, "after");
	EXPECT_EQ(ENOTCONN, rs_client_wait(&c[0], 5));
	EXPECT_EQ(0, umount(MNT));
}

TEST(kill_with_requests_in_flight)
{
	RS_NEED_RING();
	kill_server(_metadata, true);
}

TEST(kill_with_entries_parked)
{
	RS_NEED_RING();
	kill_server(_metadata, false);
}

/* Callers that loop on lookups until the mount dies. */
struct looper {
	pthread_t thr;
	volatile int stop, done, n;
};

static void *looper_fn(void *arg)
{
	struct looper *l = arg;
	char path[64];
	struct stat st;

	while (!l->stop) {
		snprintf(path, sizeof(path), MNT "/d%d", l->n++ % 10);
		if (stat(path, &st) && errno == ENOTCONN)
			break;
	}
	l->done = 1;
	return NULL;
}

static bool loopers_wait(struct looper *l, int nr, double limit)
{
	double t0 = raw_now();
	int i, done;

	do {
		for (i = 0, done = 0; i < nr; i++)
			done += l[i].done;
		if (done == nr)
			break;
		usleep(10000);
	} while (raw_now() - t0 < limit);
	for (i = 0; i < nr; i++)
		if (l[i].done)
			pthread_join(l[i].thr, NULL);
	return done == nr;
}

/* kill -9 of a busy server, at a different moment each round. */
TEST(kill_under_load)
{
	struct looper l[6];
	int round, i, pfd[2];
	char ok;
	pid_t pid;

	RS_NEED_RING();

	for (round = 0; round < 5; round++) {
		ASSERT_EQ(0, pipe(pfd));
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			static struct rs s;

			ok = rs_setup(&s, MNT, 1) == 0;
			if (write(pfd[1], &ok, 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		ASSERT_EQ(1, read(pfd[0], &ok, 1));
		ASSERT_EQ(1, ok);
		close(pfd[0]);
		close(pfd[1]);
		memset(l, 0, sizeof(l));
		for (i = 0; i < 6; i++)
			pthread_create(&l[i].thr, NULL, looper_fn, &l[i]);
		usleep(20000 + round * 37000);
		kill(pid, SIGKILL);
		EXPECT_EQ(137, raw_wait(pid, 5));
		EXPECT_TRUE(loopers_wait(l, 6, 5));
		for (i = 0; i < 6; i++)
			EXPECT_GT(l[i].n, 0);
		EXPECT_EQ(0, umount(MNT));
	}
}

/* umount -f with requests going: callers end with ENOTCONN, no hang. */
TEST(force_umount_under_load)
{
	struct looper l[6];
	unsigned int i;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_setup(&s, MNT, 1));
	memset(l, 0, sizeof(l));
	for (i = 0; i < 6; i++)
		pthread_create(&l[i].thr, NULL, looper_fn, &l[i]);
	usleep(200000);
	/* umount_begin aborts even when the mount is still busy. */
	if (umount2(MNT, MNT_FORCE))
		EXPECT_EQ(EBUSY, errno);
	EXPECT_TRUE(loopers_wait(l, 6, 5));
	umount2(MNT, MNT_DETACH);
	pthread_join(s.ringthr, NULL);
	s.ring_running = false;
	for (i = 0; i < s.nents; i++)
		EXPECT_EQ(-ENOTCONN, s.ents[i].state);
	rs_teardown(&s);
}

static void *register_and_exit(void *arg)
{
	struct rs *s = arg;

	s->reg_state = rs_register_all(s, 2);
	return NULL;
}

/*
 * The thread that submitted the entries exits, the ring stays open: its
 * parked commands are cancelled and the classic device takes over.
 */
TEST(ring_thread_exits)
{
	struct rs_client c;
	pthread_t thr;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_mount_ring(&s, MNT, 64));
	ASSERT_EQ(0, pthread_create(&thr, NULL, register_and_exit, &s));
	ASSERT_EQ(0, pthread_join(thr, NULL));
	ASSERT_EQ(0, s.reg_state);
	usleep(300 * 1000);
	rs_client_start(&c, MNT, "d8");
	EXPECT_EQ(ENOENT, rs_client_wait(&c, 5));
	EXPECT_EQ(0, umount(MNT));
	pthread_join(s.classic, NULL);
	io_uring_queue_exit(&s.ring);
	close(s.fd);
}

TEST(ring_closed_device_open)
{
	struct rs_client c;
	double t0;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_setup_hand(&s, MNT, 2));
	/* Closing the ring cancels the parked commands: no hang. */
	t0 = raw_now();
	io_uring_queue_exit(&s.ring);
	EXPECT_LT(raw_now() - t0, 5);
	usleep(300 * 1000);
	/* The connection goes back to the classic device. */
	rs_client_start(&c, MNT, "d7");
	EXPECT_EQ(ENOENT, rs_client_wait(&c, 5));
	EXPECT_EQ(0, umount(MNT));
	pthread_join(s.classic, NULL);
	close(s.fd);
}

/*
 * The server execs with entries parked on the exec'ing thread: exec
 * cancels everything its task has in io_uring and waits for it (the
 * cancel callback; on 6.1 the ring's watch), then closes the device and
 * the ring (O_CLOEXEC), which aborts the connection.  Nothing hangs.
 */
TEST(exec_with_entries_parked)
{
	struct pollfd pfd_exec;
	struct rs_client c;
	int pfd[2];
	char ok = 0;
	pid_t pid;

	RS_NEED_RING();

	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		static struct rs s;

		ok = rs_mount(&s, MNT) == 0 && rs_do_init(&s, true) == 0 &&
		     rs_ring_init(&s, 64, IORING_SETUP_SQE128) == 0 &&
		     rs_register_all(&s, 2) == 0;
		if (write(pfd[1], &ok, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "2", (char *)NULL);
		_exit(1);
	}
	close(pfd[1]);
	ASSERT_EQ(1, read(pfd[0], &ok, 1));
	ASSERT_EQ(1, ok);
	/* The write end closes when the exec has gone through. */
	pfd_exec = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	EXPECT_EQ(1, poll(&pfd_exec, 1, 5000));
	EXPECT_EQ(0, read(pfd[0], &ok, 1));
	close(pfd[0]);
	rs_client_start(&c, MNT, "d9");
	EXPECT_EQ(ENOTCONN, rs_client_wait(&c, 5));
	EXPECT_EQ(0, umount(MNT));
	/* sleep's own status: the exec went through. */
	EXPECT_EQ(0, raw_wait(pid, 5));
}

TEST_HARNESS_MAIN
