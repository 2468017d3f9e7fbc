// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring transport: setup with a raw ring server (ring_server.h).
 * EAGAIN before INIT, EOPNOTSUPP when the server declines the ring,
 * requests over the ring, the queue of the issuing CPU, fewer queues than
 * CPUs.  Runs as root in the guest with the module loaded.
 */
#include "ring_server.h"
#include "kselftest_harness.h"

#define MNT	"/tmp/ring_setup_mnt"

static int lookup_many(const char *prefix, int n)
{
	char path[128];
	struct stat st;
	int i, ok = 0;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), MNT "/%s%d", prefix, i);
		if (stat(path, &st) && errno == ENOENT)
			ok++;
	}
	return ok;
}

static long long sum_counter(struct rs *s, const char *name)
{
	long long sum = 0;
	unsigned int q;

	for (q = 0; q < s->nq; q++)
		sum += rs_counter(s, q, name);
	return sum;
}

TEST(eagain_before_init)
{
	struct iovec iov[2];
	struct rs_ent e;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_mount(&s, MNT));
	ASSERT_EQ(0, rs_ring_init(&s, 8, IORING_SETUP_SQE128));
	ASSERT_EQ(0, rs_alloc_ent(&e, 0));
	iov[0] = (struct iovec){ e.hdr, sizeof(*e.hdr) };
	iov[1] = (struct iovec){ e.payload, RS_PAYLOAD };

	/* No INIT reply yet. */
	ASSERT_EQ(0, rs_prep_register(&s, iov, 2, 0, 1));
	EXPECT_EQ(-EAGAIN, rs_submit_wait(&s, 2000, NULL));

	/* The server declines the ring. */
	ASSERT_EQ(0, rs_do_init(&s, false));
	ASSERT_EQ(0, rs_prep_register(&s, iov, 2, 0, 1));
	EXPECT_EQ(-EOPNOTSUPP, rs_submit_wait(&s, 2000, NULL));

	ASSERT_EQ(0, rs_start(&s));
	rs_teardown(&s);
}

TEST(requests_over_ring)
{
	struct stat st;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_setup(&s, MNT, 2));
	ASSERT_EQ(0, rs_find_debugfs(&s));
	ASSERT_EQ(0, stat(MNT "/d1", &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(101, st.st_ino);
	EXPECT_EQ(10, lookup_many("nope", 10));
	EXPECT_GE(s.answered, 11);
	EXPECT_GE(sum_counter(&s, "dispatched"), 11);
	EXPECT_GE(sum_counter(&s, "committed"), 11);
	EXPECT_EQ(0, sum_counter(&s, "inflight"));
	EXPECT_EQ(0, sum_counter(&s, "errors"));
	rs_teardown(&s);
	/* umount ended the parked entries with ENOTCONN. */
	for (unsigned int i = 0; i < s.nents; i++)
		EXPECT_EQ(-ENOTCONN, s.ents[i].state);
}

TEST(spread_by_cpu)
{
	long long a0, a1, b0, b1;
	struct rs s;

	RS_NEED_RING();

	if (get_nprocs() < 2)
		SKIP(return, "needs 2 CPUs");
	ASSERT_EQ(0, rs_set_param_queues(0));
	ASSERT_EQ(0, rs_setup(&s, MNT, 2));
	ASSERT_EQ(0, rs_find_debugfs(&s));
	ASSERT_GE(s.nq, 2);

	ASSERT_EQ(0, rs_pin(0));
	a0 = rs_counter(&s, 0, "dispatched");
	a1 = rs_counter(&s, 1, "dispatched");
	EXPECT_EQ(20, lookup_many("cpu0_", 20));
	b0 = rs_counter(&s, 0, "dispatched");
	b1 = rs_counter(&s, 1, "dispatched");
	EXPECT_GE(b0 - a0, 20);
	EXPECT_EQ(b1, a1);

	ASSERT_EQ(0, rs_pin(1));
	EXPECT_EQ(20, lookup_many("cpu1_", 20));
	a0 = rs_counter(&s, 0, "dispatched");
	a1 = rs_counter(&s, 1, "dispatched");
	EXPECT_EQ(a0, b0);
	EXPECT_GE(a1 - b1, 20);
	rs_teardown(&s);
}

TEST(fewer_queues)
{
	long long a0, b0;
	struct rs s;

	RS_NEED_RING();

	if (get_nprocs() < 2)
		SKIP(return, "needs 2 CPUs");
	ASSERT_EQ(0, rs_set_param_queues(1));
	ASSERT_EQ(0, rs_mount(&s, MNT));
	ASSERT_EQ(0, rs_do_init(&s, true));
	ASSERT_EQ(0, rs_ring_init(&s, 64, IORING_SETUP_SQE128));

	/* qid 1 does not exist with one queue. */
	ASSERT_EQ(0, rs_alloc_ent(&s.ents[0], 1));
	{
		struct iovec iov[2] = {
			{ s.ents[0].hdr, sizeof(*s.ents[0].hdr) },
			{ s.ents[0].payload, RS_PAYLOAD },
		};

		ASSERT_EQ(0, rs_prep_register(&s, iov, 2, 1, 0));
		EXPECT_EQ(-EINVAL, rs_submit_wait(&s, 2000, NULL));
	}
	ASSERT_EQ(0, rs_start(&s));
	ASSERT_EQ(0, rs_start_ring(&s, 2));
	EXPECT_EQ(1, s.nq);
	ASSERT_EQ(0, rs_find_debugfs(&s));

	/* Every CPU maps to queue 0 (cpu % 1). */
	ASSERT_EQ(0, rs_pin(1));
	a0 = rs_counter(&s, 0, "dispatched");
	EXPECT_EQ(20, lookup_many("few_", 20));
	b0 = rs_counter(&s, 0, "dispatched");
	EXPECT_GE(b0 - a0, 20);
	EXPECT_EQ(-1, rs_counter(&s, 1, "dispatched"));
	rs_teardown(&s);
	EXPECT_EQ(0, rs_set_param_queues(0));
}

/* READ and WRITE: page arguments through the payload buffer. */
TEST(file_io_over_ring)
{
	static unsigned char buf[RS_FILE_SIZE];
	ssize_t n, got = 0;
	long bad = 0, i;
	struct rs s;
	int fd;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_setup(&s, MNT, 2));
	fd = open(MNT "/file", O_RDWR);
	if (fd < 0 && errno == EIO) {
		rs_teardown(&s);
		SKIP(return, "regular files are not built in (no file.c)");
	}
	ASSERT_LE(0, fd);
	while ((n = read(fd, buf + got, 64 * 1024)) > 0)
		got += n;
	EXPECT_EQ(RS_FILE_SIZE, got);
	for (i = 0; i < got; i++)
		bad += buf[i] != rs_pattern(i);
	EXPECT_EQ(0, bad);

	for (i = 0; i < 128 * 1024; i++)
		buf[i] = rs_pattern(4096 + i);
	EXPECT_EQ(128 * 1024, pwrite(fd, buf, 128 * 1024, 4096));
	EXPECT_EQ(0, fsync(fd));
	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(128 * 1024, s.written);
	EXPECT_EQ(0, s.write_bad);
	rs_teardown(&s);
}

/* Not a check: one caller's LOOKUP round trip, ring beside classic. */
TEST(latency_ring_vs_classic)
{
	double t0, ring_us, dt_us, classic_us;
	struct rs s;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_pin(0));
	ASSERT_EQ(0, rs_setup(&s, MNT, 2));
	EXPECT_EQ(50, lookup_many("warm", 50));
	t0 = raw_now();
	EXPECT_EQ(1000, lookup_many("r", 1000));
	ring_us = (raw_now() - t0) * 1e6 / 1000;
	rs_teardown(&s);

	/* The server's ring with deferred task work. */
	ASSERT_EQ(0, rs_setup_flags(&s, MNT, 2, IORING_SETUP_SQE128 |
				    IORING_SETUP_SINGLE_ISSUER |
				    IORING_SETUP_DEFER_TASKRUN));
	EXPECT_EQ(50, lookup_many("warm", 50));
	t0 = raw_now();
	EXPECT_EQ(1000, lookup_many("t", 1000));
	dt_us = (raw_now() - t0) * 1e6 / 1000;
	rs_teardown(&s);

	ASSERT_EQ(0, rs_mount(&s, MNT));
	ASSERT_EQ(0, rs_do_init(&s, false));
	ASSERT_EQ(0, rs_start(&s));
	EXPECT_EQ(50, lookup_many("warm", 50));
	t0 = raw_now();
	EXPECT_EQ(1000, lookup_many("c", 1000));
	classic_us = (raw_now() - t0) * 1e6 / 1000;
	rs_teardown(&s);
	printf("# LOOKUP round trip, one caller: ring %.1f us, ring with DEFER_TASKRUN %.1f us, classic %.1f us\n",
	       ring_us, dt_us, classic_us);
	fflush(stdout);
}

static void *lookup_thread(void *arg)
{
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "t%ld_", (long)arg);
	return (void *)(long)lookup_many(prefix, 100);
}

/* More callers than entries: requests wait in their queue for an entry. */
TEST(more_callers_than_entries)
{
	pthread_t thr[8];
	void *ret;
	struct rs s;
	long i;

	RS_NEED_RING();

	ASSERT_EQ(0, rs_setup(&s, MNT, 1));
	ASSERT_EQ(0, rs_find_debugfs(&s));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pthread_create(&thr[i], NULL, lookup_thread,
					    (void *)i));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, pthread_join(thr[i], &ret));
		EXPECT_EQ(100, (long)ret);
	}
	EXPECT_GE(sum_counter(&s, "committed"), 800);
	EXPECT_EQ(sum_counter(&s, "dispatched"), sum_counter(&s, "committed"));
	EXPECT_EQ(0, sum_counter(&s, "inflight"));
	EXPECT_EQ(0, sum_counter(&s, "errors"));
	rs_teardown(&s);
}

TEST_HARNESS_MAIN
