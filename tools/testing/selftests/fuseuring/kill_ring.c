// SPDX-License-Identifier: GPL-2.0
/*
 * A server that dies, closes its ring, or loses its mount while callers
 * wait on the io_uring transport: every caller returns promptly (ENOTCONN
 * or EIO), umount works, nothing leaks, the module can be unloaded.  The
 * servers are ring_server.h's, run in child processes so that they can
 * be killed; their struct rs lives in shared memory, so the test sees
 * how many requests a server holds.
 *
 * FUSEURING_KO names the module to load when it is not loaded;
 * KILL_RING_CYCLES overrides the number of mount cycles.
 */
#include "ring_server.h"
#include "kselftest_harness.h"
#include "kill_util.h"

FIXTURE(ring) {
	char mnt[64];
	pid_t server;
};

FIXTURE_SETUP(ring)
{
	RS_NEED_RING();
	rs_set_param_queues(0);
	strcpy(self->mnt, "/tmp/kill_ring.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	self->server = 0;
}

FIXTURE_TEARDOWN(ring)
{
	umount2(self->mnt, MNT_DETACH);
	if (self->server > 0) {
		kill(self->server, SIGKILL);
		waitpid(self->server, NULL, 0);
	}
	rmdir(self->mnt);
	rs_set_param_queues(0);
}

static struct rs *shared_rs(void)
{
	return raw_shared_mem(sizeof(struct rs));
}

/*
 * A ring server in a child: mount, INIT with the ring, per_queue entries
 * on every queue, then serve until the mount goes (it exits 0 once its
 * loops end).  Returns its pid once it serves, or -1.
 */
static pid_t spawn_server(struct rs *s, const char *mnt, unsigned int per_queue)
{
	int p[2];
	char ok = 0;
	pid_t pid;

	if (!s || pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		ok = rs_setup(s, mnt, per_queue) == 0;
		if (write(p[1], &ok, 1) != 1 || !ok)
			_exit(1);
		pthread_join(s->ringthr, NULL);
		pthread_join(s->classic, NULL);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &ok, 1) != 1 || !ok) {
		if (pid > 0)
			raw_wait(pid, 5);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

/* Wait until the server holds n requests; 0, or -1 after limit seconds. */
static int wait_held(struct rs *s, int n, double limit)
{
	double t0 = raw_now();

	while (s->held < n) {
		if (raw_now() - t0 > limit)
			return -1;
		usleep(10 * 1000);
	}
	return 0;
}

/*
 * A ring server at mnt (its pid in *server) holding the requests of n
 * callers spread over the CPUs, n / queues entries a queue so that every
 * queue fills up: 0 once it holds them, -1 if it does not.
 */
static int serve_and_hold(struct rs *s, const char *mnt, pid_t *server,
			  pid_t *callers, unsigned int n)
{
	unsigned int nq = rs_param_queues(), i;

	*server = spawn_server(s, mnt, n / nq);
	if (*server <= 0)
		return -1;
	for (i = 0; i < n; i++)
		callers[i] = start_caller_on(mnt, "hold", i, i % get_nprocs());
	return wait_held(s, n / nq * nq, 30);
}

static int stat_errno(const char *mnt, const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", mnt, name);
	return stat(path, &st) ? errno : 0;
}

/*
 * 64 callers, spread over the CPUs so that every queue has its share,
 * each holding an entry of the server's ring; kill -9.
 */
TEST_F(ring, kill_64_in_flight)
{
	int cpus = get_nprocs(), i, nq, per_queue, held;
	struct rs *s = shared_rs();
	pid_t callers[64];

	nq = rs_param_queues();
	per_queue = 64 / nq;
	ASSERT_LT(0, per_queue);
	self->server = spawn_server(s, self->mnt, per_queue);
	ASSERT_LT(0, self->server);
	for (i = 0; i < 64; i++)
		callers[i] = start_caller_on(self->mnt, "hold", i, i % cpus);
	/* Queue c % nq serves CPU c: the queues of online CPUs fill up. */
	held = per_queue * (nq < cpus ? nq : cpus);
	ASSERT_EQ(0, wait_held(s, held, 30))
		TH_LOG("the server holds %d of %d requests", s->held, held);
	EXPECT_EQ(64, callers_running(callers, 64));
	ASSERT_EQ(0, kill(self->server, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 64, 0));
	EXPECT_EQ(137, raw_wait(self->server, CALLER_LIMIT));
	self->server = 0;
	EXPECT_EQ(ENOTCONN, stat_errno(self->mnt, "after"));
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
	EXPECT_EQ(0, module_refs(5));
}

/* Take one request off the ring: its entry, or -1. */
static int next_request(struct rs *s, int ms)
{
	uint64_t n;
	int ret = rs_submit_wait(s, ms, &n);

	if (ret || n >= s->nents)
		return -1;
	memcpy(&s->ents[n].unique,
	       s->ents[n].hdr->in_out + offsetof(struct fuse_in_header, unique),
	       sizeof(s->ents[n].unique));
	return n;
}

/*
 * The server holds a request and closes its ring, keeping the device.  As
 * documented (fuseuring-ring-notes.txt, Teardown): the queues that lose
 * their last entry take the ring out of service, so new requests go to
 * the classic device and are served there (raw_default answers ENOENT
 * where the ring server would find a directory); the held request stays
 * the server's, which can still commit it from a new ring.
 */
TEST_F(ring, kill_ring_closed_device_kept)
{
	struct rs_client held, later;
	struct rs s;
	int n;

	if (rs_param_queues() < 2)
		SKIP(return, "one queue: no queue is left without entries");
	ASSERT_EQ(0, rs_setup_hand(&s, self->mnt, 1));
	rs_client_start(&held, self->mnt, "d1");
	n = next_request(&s, 5000);
	ASSERT_LE(0, n);
	EXPECT_EQ(FUSE_LOOKUP, ((struct fuse_in_header *)s.ents[n].hdr->in_out)->opcode);
	/*
	 * Closing the ring cancels the parked commands from io_uring's exit
	 * work: let it run (a request dispatched before it would go to the
	 * closing ring, and stay the server's like the held one).
	 */
	io_uring_queue_exit(&s.ring);
	usleep(300 * 1000);
	rs_client_start(&later, self->mnt, "d2");
	EXPECT_EQ(ENOENT, rs_client_wait(&later, CALLER_LIMIT))
		TH_LOG("a request after the ring closed was not served on the device");
	EXPECT_FALSE(held.done);
	/* A new ring: the commit of the held request still lands. */
	ASSERT_EQ(0, rs_ring_init(&s, 8, IORING_SETUP_SQE128));
	rs_put_reply(&s, n, -EROFS, NULL, 0);
	ASSERT_EQ(0, rs_prep_commit(&s, n, s.ents[n].unique));
	io_uring_submit(&s.ring);
	EXPECT_EQ(EROFS, rs_client_wait(&held, CALLER_LIMIT));
	/* One queue has an entry again, the others none: still the device. */
	rs_client_start(&later, self->mnt, "d3");
	EXPECT_EQ(ENOENT, rs_client_wait(&later, CALLER_LIMIT));
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
	pthread_join(s.classic, NULL);
	io_uring_queue_exit(&s.ring);
	close(s.fd);
	EXPECT_EQ(0, module_refs(5));
}

/*
 * One queue whose only entries the server holds when it closes its ring:
 * the queue still has entries, so the ring stays in service and a new
 * request waits for one of them.  The server then dies: the held request
 * and the waiting one end with ENOTCONN.
 */
TEST_F(ring, kill_after_ring_closed_with_requests_held)
{
	int p[2], i;
	pid_t callers[3];
	struct rs *s = shared_rs();
	char c = 0;

	ASSERT_EQ(0, rs_set_param_queues(1));
	ASSERT_EQ(0, pipe(p));
	self->server = fork();
	ASSERT_LE(0, self->server);
	if (self->server == 0) {
		c = rs_setup_hand(s, self->mnt, 2) == 0;
		if (write(p[1], &c, 1) != 1 || !c)
			_exit(1);
		c = next_request(s, 5000) >= 0 && next_request(s, 5000) >= 0;
		if (c)
			io_uring_queue_exit(&s->ring);
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(p[0], &c, 1));
	ASSERT_EQ(1, c) TH_LOG("the server did not start");
	for (i = 0; i < 2; i++)
		callers[i] = start_caller(self->mnt, "hold", i);
	ASSERT_EQ(1, read(p[0], &c, 1));
	ASSERT_EQ(1, c) TH_LOG("the server did not get its two requests");
	callers[2] = start_caller(self->mnt, "later", 0);
	usleep(300 * 1000);
	EXPECT_EQ(3, callers_running(callers, 3));
	ASSERT_EQ(0, kill(self->server, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 3, 0));
	EXPECT_EQ(137, raw_wait(self->server, CALLER_LIMIT));
	self->server = 0;
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
	EXPECT_EQ(0, module_refs(5));
}

/*
 * The server registers entries on some queues and dies before the others:
 * the ring never carries a request (queue 0's counters stay at zero), the
 * callers wait on the classic device, nobody reads it, and the death ends
 * them.  Half of the rounds exit, half are killed.
 */
TEST_F(ring, kill_between_registers)
{
	int round, p[2], go[2], i;
	pid_t callers[8];
	struct rs *s = shared_rs(), view;
	char c = 0;

	if (rs_param_queues() < 2)
		SKIP(return, "one queue: nothing to leave unregistered");
	for (round = 0; round < 2; round++) {
		ASSERT_EQ(0, pipe(p));
		ASSERT_EQ(0, pipe(go));
		self->server = fork();
		ASSERT_LE(0, self->server);
		if (self->server == 0) {
			struct iovec iov[2];
			struct rs_ent *e = &s->ents[0];

			c = !rs_mount(s, self->mnt) && !rs_do_init(s, true) &&
			    !rs_ring_init(s, 8, IORING_SETUP_SQE128) &&
			    !rs_alloc_ent(e, 0);
			if (c) {
				iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
				iov[1] = (struct iovec){ e->payload, RS_PAYLOAD };
				c = !rs_prep_register(s, iov, 2, 0, 0) &&
				    rs_submit_wait(s, 200, NULL) == 1;
			}
			if (write(p[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
				_exit(1);
			_exit(0);
		}
		ASSERT_EQ(1, read(p[0], &c, 1));
		ASSERT_EQ(1, c);
		for (i = 0; i < 8; i++)
			callers[i] = start_caller_on(self->mnt, "d", i,
						     i % get_nprocs());
		usleep(300 * 1000);
		EXPECT_EQ(8, callers_running(callers, 8));
		memset(&view, 0, sizeof(view));
		strcpy(view.mnt, self->mnt);
		ASSERT_EQ(0, rs_find_debugfs(&view));
		EXPECT_EQ(0, rs_counter(&view, 0, "dispatched"));
		if (round)
			kill(self->server, SIGKILL);
		else
			EXPECT_EQ(1, write(go[1], &c, 1));
		EXPECT_EQ(0, wait_callers(callers, 8, 0));
		EXPECT_EQ(round ? 137 : 0, raw_wait(self->server, CALLER_LIMIT));
		self->server = 0;
		EXPECT_EQ(0, umount(self->mnt));
		close(p[0]);
		close(p[1]);
		close(go[0]);
		close(go[1]);
	}
	EXPECT_EQ(0, module_refs(5));
}

/* umount -f with 16 requests held over the ring. */
TEST_F(ring, kill_umount_force_in_flight)
{
	struct rs *s = shared_rs();
	pid_t callers[16];

	ASSERT_EQ(0, serve_and_hold(s, self->mnt, &self->server, callers, 16));
	/* Forced: the connection is aborted whatever the server does. */
	umount2(self->mnt, MNT_FORCE);
	EXPECT_EQ(0, wait_callers(callers, 16, 0));
	umount2(self->mnt, MNT_DETACH);
	kill(self->server, SIGKILL);
	EXPECT_EQ(137, raw_wait(self->server, CALLER_LIMIT));
	self->server = 0;
	EXPECT_EQ(0, module_refs(5));
}

/* Lazy umount with 16 requests held: they wait for the server, then die with it. */
TEST_F(ring, kill_umount_lazy_in_flight)
{
	struct rs *s = shared_rs();
	pid_t callers[16];

	ASSERT_EQ(0, serve_and_hold(s, self->mnt, &self->server, callers, 16));
	/* Detached, the mount lives on for its callers until they return. */
	ASSERT_EQ(0, umount2(self->mnt, MNT_DETACH));
	usleep(200 * 1000);
	EXPECT_EQ(16, callers_running(callers, 16));
	ASSERT_EQ(0, kill(self->server, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 16, 0));
	EXPECT_EQ(137, raw_wait(self->server, CALLER_LIMIT));
	self->server = 0;
	EXPECT_EQ(0, module_refs(5));
}

/* The other mount's workload: lookups and pattern-checked reads. */
struct workload {
	pthread_t thr;
	const char *mnt;
	volatile int stop;
	long ops, errors;
	char first[300];
};

static void *workload_fn(void *arg)
{
	struct workload *w = arg;
	char path[128], buf[8192];
	struct stat st;
	long i;
	int fd;

	snprintf(path, sizeof(path), "%s/file", w->mnt);
	while (!w->stop) {
		char dir[128];
		off_t off = (w->ops * 8192) % RS_FILE_SIZE;

		snprintf(dir, sizeof(dir), "%s/d%ld", w->mnt, w->ops % 10);
		/* No FOPEN_KEEP_CACHE: each open reads from the server. */
		fd = open(path, O_RDONLY);
		if (stat(dir, &st) || !S_ISDIR(st.st_mode) || fd < 0 ||
		    pread(fd, buf, sizeof(buf), off) != sizeof(buf)) {
			if (!w->errors++)
				snprintf(w->first, sizeof(w->first), "%s: %s",
					 fd < 0 ? path : dir, strerror(errno));
		} else {
			for (i = 0; i < (long)sizeof(buf); i++)
				if ((unsigned char)buf[i] != rs_pattern(off + i))
					break;
			if (i < (long)sizeof(buf) && !w->errors++)
				snprintf(w->first, sizeof(w->first),
					 "byte %ld of the file is wrong",
					 (long)off + i);
		}
		if (fd >= 0)
			close(fd);
		w->ops++;
	}
	return NULL;
}

/* Two mounts on the ring: one server dies, the other's workload goes on. */
TEST_F(ring, kill_one_of_two_mounts)
{
	char mnt2[64] = "/tmp/kill_ring2.XXXXXX";
	struct rs *a = shared_rs(), *b = shared_rs(), view;
	struct workload w[2];
	long before, after, d0, d1;
	pid_t pb, callers[8];
	unsigned int i, q;

	ASSERT_NE(NULL, mkdtemp(mnt2));
	pb = spawn_server(b, mnt2, 2);
	ASSERT_LT(0, pb);
	memset(&view, 0, sizeof(view));
	strcpy(view.mnt, mnt2);
	ASSERT_EQ(0, rs_find_debugfs(&view));
	ASSERT_EQ(0, serve_and_hold(a, self->mnt, &self->server, callers, 8));
	memset(w, 0, sizeof(w));
	for (i = 0; i < 2; i++) {
		w[i].mnt = mnt2;
		pthread_create(&w[i].thr, NULL, workload_fn, &w[i]);
	}
	usleep(300 * 1000);
	before = w[0].ops + w[1].ops;
	ASSERT_EQ(0, kill(self->server, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 8, 0));
	EXPECT_EQ(137, raw_wait(self->server, CALLER_LIMIT));
	self->server = 0;
	d0 = 0;
	for (q = 0; q < rs_param_queues(); q++)
		d0 += rs_counter(&view, q, "dispatched");
	usleep(500 * 1000);
	for (i = 0; i < 2; i++) {
		w[i].stop = 1;
		pthread_join(w[i].thr, NULL);
	}
	after = w[0].ops + w[1].ops;
	d1 = 0;
	for (q = 0; q < rs_param_queues(); q++)
		d1 += rs_counter(&view, q, "dispatched");
	TH_LOG("other mount: %ld operations before the kill, %ld after; %ld requests over its ring after it",
	       before, after - before, d1 - d0);
	EXPECT_LT(0, before);
	EXPECT_LT(before, after);
	EXPECT_LT(0, d1 - d0);
	EXPECT_EQ(0, w[0].errors) TH_LOG("first: %s", w[0].first);
	EXPECT_EQ(0, w[1].errors) TH_LOG("first: %s", w[1].first);
	EXPECT_EQ(0, umount(self->mnt));
	EXPECT_EQ(0, umount(mnt2));
	EXPECT_EQ(0, raw_wait(pb, CALLER_LIMIT));
	rmdir(mnt2);
	EXPECT_EQ(0, module_refs(5));
}

/* One mount over the ring, a few requests, an unmount or a kill -9. */
static int cycle(const char *mnt, struct rs *s, int kill_it)
{
	pid_t server = spawn_server(s, mnt, 1);

	if (server < 0)
		return -1;
	if (stat_errno(mnt, "") || stat_errno(mnt, "d1") ||
	    stat_errno(mnt, "none") != ENOENT || s->answered < 2) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		return -2;
	}
	if (kill_it) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		if (stat_errno(mnt, "") != ENOTCONN)
			return -3;
		return umount(mnt) ? -4 : 0;
	}
	if (umount(mnt))
		return -5;
	return raw_wait(server, CALLER_LIMIT) ? -6 : 0;
}

/*
 * Ring cycles are slower than classic ones (a process with a ring,
 * entries and two threads a server: 160 to 280 ms a cycle in the TCG
 * guest), so 300, half of them killed, after 50 of warm-up: 60 to 100 s.
 * Tolerances: kill_util.h's (2 MiB slab, 4 MiB free); a leak of 7 KiB
 * of slab or 14 KiB of pages a cycle fails.  Then the module must unload.
 */
#define RING_CYCLES	300

TEST_F_TIMEOUT(ring, kill_mount_cycles_leak_nothing, 300)
{
	int cycles = atoi(getenv("KILL_RING_CYCLES") ?: "0") ?: RING_CYCLES;
	long slab0, slab1, free0, free1;
	struct rs *s = shared_rs();
	double t0, t[2] = { 0, 0 };
	int i, err;

	ASSERT_NE(NULL, s);
	for (i = 0; i < 50; i++)	/* warm the caches up */
		ASSERT_EQ(0, cycle(self->mnt, s, i & 1)) TH_LOG("warm-up %d", i);
	slab0 = settle_slab();
	free0 = free_kib();
	for (i = 0; i < cycles; i++) {
		t0 = raw_now();
		ASSERT_EQ(0, cycle(self->mnt, s, i & 1)) TH_LOG("cycle %d", i);
		t[i & 1] += raw_now() - t0;
	}
	TH_LOG("%d ring cycles in %.1f s (%.0f ms unmounted, %.0f ms killed)",
	       cycles, t[0] + t[1], t[0] * 2000 / cycles,
	       t[1] * 2000 / cycles);
	slab1 = settle_slab();
	free1 = free_kib();
	TH_LOG("slab %ld -> %ld KiB, free %ld -> %ld KiB",
	       slab0, slab1, free0, free1);
	EXPECT_GT(slab0 + SLAB_SLACK_KIB, slab1);
	EXPECT_GT(free1 + FREE_SLACK_KIB, free0);
	EXPECT_EQ(0, module_refs(5));
	if (getenv("FUSEURING_DEV"))
		return;
	/* Nothing pins the module: it unloads, and loads again. */
	err = module_unload(0);
	EXPECT_EQ(0, err) TH_LOG("rmmod: %s", strerror(-err));
	ASSERT_EQ(0, raw_load_module());
}

TEST_HARNESS_MAIN
