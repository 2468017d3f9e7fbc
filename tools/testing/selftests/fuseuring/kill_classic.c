// SPDX-License-Identifier: GPL-2.0
/*
 * A server that dies, or a mount that is torn down, while callers wait on
 * the classic transport: every caller returns promptly with ENOTCONN (or
 * EIO), umount works, nothing leaks, and the module can be unloaded.
 * The server is raw_server.h's, so the test controls what it holds.
 *
 * FUSEURING_KO names the module to load when it is not loaded.
 */

#include "kselftest_harness.h"
#include "raw_server.h"
#include "kill_util.h"

FIXTURE(classic) {
	char mnt[64];
};

FIXTURE_SETUP(classic)
{
	int err = raw_load_module();

	ASSERT_EQ(0, err) TH_LOG("load %s: %s",
				 getenv("FUSEURING_KO") ?: "fuseuring.ko",
				 strerror(-err));
	strcpy(self->mnt, "/tmp/kill.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
}

FIXTURE_TEARDOWN(classic)
{
	umount2(self->mnt, MNT_DETACH);
	rmdir(self->mnt);
}

/*
 * Serve fd: answer the defaults, hold every LOOKUP of a name that starts
 * with "hold" (no reply), and write a byte to ready once `hold` of them
 * are held.  With exit_before_init, read INIT and exit.
 */
static void serve(int fd, int ready, int hold, int exit_before_init)
{
	char *buf = malloc(RAW_BUFSIZE);
	struct raw_req req = {};
	int held = 0;

	while (buf && !raw_read(fd, buf, &req)) {
		if (req.h.opcode == FUSE_INIT && exit_before_init)
			_exit(0);
		if (req.h.opcode == FUSE_LOOKUP &&
		    !strncmp(req.arg, "hold", 4)) {
			if (++held == hold && write(ready, "h", 1) != 1)
				_exit(1);
			continue;
		}
		raw_default(fd, &req);
	}
	_exit(0);
}

static pid_t start_server(const char *mnt, int *ready_rd, int hold,
			  int exit_before_init)
{
	int fd = raw_mount(mnt, NULL), p[2];
	pid_t pid;

	if (fd < 0 || pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		serve(fd, p[1], hold, exit_before_init);
	}
	/* Only the server may keep the device open: its death is the test. */
	close(fd);
	close(p[1]);
	*ready_rd = p[0];
	return pid;
}

static int wait_ready(int rd, double limit)
{
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	double t0 = raw_now();
	char c;

	fcntl(rd, F_SETFL, O_NONBLOCK);
	while (read(rd, &c, 1) != 1) {
		if (raw_now() - t0 > limit)
			return -1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * A server at mnt holding the requests of n callers (their pids in
 * callers): its pid once it holds them all, -1 if it does not.
 */
static pid_t serve_and_hold(const char *mnt, pid_t *callers, int n)
{
	pid_t server;
	int ready, i;

	server = start_server(mnt, &ready, n, 0);
	if (server <= 0)
		return -1;
	for (i = 0; i < n; i++)
		callers[i] = start_caller(mnt, "hold", i);
	return wait_ready(ready, 30) ? -1 : server;
}

TEST_F(classic, kill_64_in_flight)
{
	pid_t server, callers[64];

	server = serve_and_hold(self->mnt, callers, 64);
	ASSERT_LT(0, server) TH_LOG("the server never held 64 requests");
	ASSERT_EQ(0, kill(server, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 64, 0));
	waitpid(server, NULL, 0);
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
}

TEST_F(classic, kill_before_init)
{
	pid_t server, caller;
	int ready;

	server = start_server(self->mnt, &ready, 1, 1);
	ASSERT_LT(0, server);
	caller = start_caller(self->mnt, "any", 0);
	EXPECT_EQ(0, wait_callers(&caller, 1, 0));
	waitpid(server, NULL, 0);
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
}

TEST_F(classic, kill_idle_then_use)
{
	struct stat st;
	pid_t server;
	int ready;

	server = start_server(self->mnt, &ready, 1, 0);
	ASSERT_LT(0, server);
	ASSERT_EQ(0, stat(self->mnt, &st)) TH_LOG("stat: %s", strerror(errno));
	ASSERT_EQ(0, kill(server, SIGKILL));
	waitpid(server, NULL, 0);
	EXPECT_EQ(-1, stat(self->mnt, &st));
	EXPECT_EQ(ENOTCONN, errno);
	EXPECT_EQ(0, umount(self->mnt)) TH_LOG("umount: %s", strerror(errno));
}

TEST_F(classic, kill_umount_force_in_flight)
{
	pid_t server, callers[16];
	int st;

	server = serve_and_hold(self->mnt, callers, 16);
	ASSERT_LT(0, server);
	/* Forced: the connection is aborted whatever the server does. */
	umount2(self->mnt, MNT_FORCE);
	EXPECT_EQ(0, wait_callers(callers, 16, 0));
	/* The server learns from its device that the mount is gone. */
	st = raw_wait(server, CALLER_LIMIT);
	EXPECT_EQ(0, st) TH_LOG("server status %d (-1: still running)", st);
	if (!access(self->mnt, F_OK))
		umount(self->mnt);
}

TEST_F(classic, kill_umount_lazy_in_flight)
{
	pid_t server, callers[16];

	server = serve_and_hold(self->mnt, callers, 16);
	ASSERT_LT(0, server);
	/* Detached, the mount lives on for its callers until they return. */
	ASSERT_EQ(0, umount2(self->mnt, MNT_DETACH));
	ASSERT_EQ(0, kill(server, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 16, 0));
	waitpid(server, NULL, 0);
}

TEST_F(classic, kill_one_of_two_mounts)
{
	char mnt2[64] = "/tmp/kill2.XXXXXX";
	pid_t a, b, callers[8], other;
	int ready_b, i;
	struct stat st;

	ASSERT_NE(NULL, mkdtemp(mnt2));
	b = start_server(mnt2, &ready_b, 1000, 0);
	ASSERT_LT(0, b);
	a = serve_and_hold(self->mnt, callers, 8);
	ASSERT_LT(0, a);
	ASSERT_EQ(0, kill(a, SIGKILL));
	EXPECT_EQ(0, wait_callers(callers, 8, 0));
	waitpid(a, NULL, 0);
	/* The other mount's server answers as before: ENOENT from it. */
	for (i = 0; i < 100; i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/none%d", mnt2, i);
		ASSERT_EQ(-1, stat(path, &st));
		ASSERT_EQ(ENOENT, errno);
	}
	ASSERT_EQ(0, stat(mnt2, &st));
	other = fork();
	if (other == 0)
		_exit(stat(mnt2, &st) ? 1 : 0);
	EXPECT_EQ(0, raw_wait(other, CALLER_LIMIT));
	EXPECT_EQ(0, umount(self->mnt));
	EXPECT_EQ(0, umount(mnt2));
	EXPECT_EQ(0, raw_wait(b, CALLER_LIMIT));
	rmdir(mnt2);
}

static int lookup_fails_enoent(const char *mnt)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/none", mnt);
	return stat(path, &st) && errno == ENOENT;
}

/* One mount, INIT, a few requests, and an unmount or a killed server. */
static int cycle(const char *mnt, int kill_it)
{
	struct stat st;
	pid_t server;
	int ready;

	server = start_server(mnt, &ready, 1000, 0);
	if (server < 0)
		return -1;
	close(ready);
	if (stat(mnt, &st) || !lookup_fails_enoent(mnt))
		return -1;
	if (kill_it) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		if (!stat(mnt, &st) || errno != ENOTCONN)
			return -1;
		return umount(mnt);
	}
	if (umount(mnt))
		return -1;
	return raw_wait(server, CALLER_LIMIT);
}

/*
 * 1000 cycles after 200 of warm-up, with kill_util.h's tolerances: a leak
 * of a page or 2 KiB of slab a cycle fails.
 */
#define CYCLES		1000

TEST_F_TIMEOUT(classic, kill_mount_cycles_leak_nothing, 300)
{
	long slab0, slab1, free0, free1;
	int i;

	for (i = 0; i < 200; i++)	/* warm the caches up */
		ASSERT_EQ(0, cycle(self->mnt, i & 1));
	slab0 = settle_slab();
	free0 = free_kib();
	for (i = 0; i < CYCLES; i++)
		ASSERT_EQ(0, cycle(self->mnt, i & 1)) TH_LOG("cycle %d", i);
	slab1 = settle_slab();
	free1 = free_kib();
	TH_LOG("%d cycles: slab %ld -> %ld KiB, free %ld -> %ld KiB",
	       CYCLES, slab0, slab1, free0, free1);
	EXPECT_GT(slab0 + SLAB_SLACK_KIB, slab1);
	EXPECT_GT(free1 + FREE_SLACK_KIB, free0);
	/* Every mount and device reference is gone: nothing pins the module. */
	EXPECT_EQ(0, module_refs(5));
}

TEST_HARNESS_MAIN
