// SPDX-License-Identifier: GPL-2.0
/*
 * splice(2) from /dev/fuseuring, the way libfuse takes its requests: each
 * message goes into a pipe, the server reads the header and the op's
 * argument struct out of it and splices what is left (a WRITE's payload)
 * straight into its backing file.  The device gives the payload pipe
 * buffers of their own, starting on a page, as the kernel's FUSE does:
 * - a WRITE's payload spliced on to a backing file opened O_DIRECT on a
 *   filesystem that refuses unaligned direct I/O (ext4, make check's
 *   /tmp) is stored; with the payload right after the header, as a plain
 *   copy into the pipe lays it out, the backing file refuses it (EINVAL);
 * - a request that needs more pipe buffers than the pipe has free fails
 *   alone (EIO for its caller), never reaching the server cut short, and
 *   the next request is served;
 * - every message read through the pipe is whole (its length as the
 *   header says).
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "raw_server.h"

#define FILE_NODEID	2
#define FILE_SIZE	(1 << 20)	/* the file's, and its backing file's */
#define WRITE_HEAD	(sizeof(struct fuse_in_header) + \
			 sizeof(struct fuse_write_in))

/* Set by the test before it mounts, seen by the server (shared memory). */
struct shared {
	int pipe_size;		/* F_SETPIPE_SZ of the server's pipe */
	char backing[64];	/* the file WRITEs are spliced into */
	/* What the server saw. */
	int write_msgs;		/* WRITE requests read */
	int writes, write_errno;	/* splices into the backing file */
	int cut;		/* messages shorter than their header says */
	int payload_not_whole;	/* pipe held other than the WRITE's data */
};

static struct shared *sh;

FIXTURE(splice) {
	char dir[64], mnt[96];
	pid_t server;
	int dev;
};

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Splice a WRITE's payload (len bytes in the pipe) to the backing file. */
static int splice_payload(int pipe_rd, int bfd, const struct fuse_write_in *in,
			  size_t len)
{
	loff_t off = in->offset;
	int queued = -1;

	if (ioctl(pipe_rd, FIONREAD, &queued) || (size_t)queued != len)
		sh->payload_not_whole++;
	while (len) {
		ssize_t n = splice(pipe_rd, NULL, bfd, &off, len, 0);

		if (n <= 0) {
			sh->write_errno = n < 0 ? errno : EIO;
			return -1;
		}
		len -= n;
	}
	sh->writes++;
	return 0;
}

static void serve(int dev)
{
	char *buf = malloc(RAW_BUFSIZE), *junk = malloc(RAW_BUFSIZE);
	struct fuse_open_out oo;
	struct raw_req req = {};
	int p[2], bfd;

	/* 6.1's tmpfs has no O_DIRECT: the tests that need it skip there. */
	bfd = open(sh->backing, O_RDWR | O_DIRECT);
	if (bfd < 0)
		bfd = open(sh->backing, O_RDWR);
	if (!buf || !junk || bfd < 0 || pipe(p) ||
	    fcntl(p[0], F_SETPIPE_SZ, sh->pipe_size) < 0)
		_exit(2);
	for (;;) {
		ssize_t n = splice(dev, NULL, p[1], NULL, RAW_BUFSIZE, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < (ssize_t)sizeof(req.h) ||
		    read_full(p[0], &req.h, sizeof(req.h)))
			break;
		if (req.h.len != n)
			sh->cut++;
		if (req.h.opcode == FUSE_WRITE) {
			struct fuse_write_in in;
			struct fuse_write_out wo = {};

			if (read_full(p[0], &in, sizeof(in)))
				break;
			sh->write_msgs++;
			if (splice_payload(p[0], bfd, &in, n - WRITE_HEAD)) {
				read_full(p[0], junk, n - WRITE_HEAD);
				raw_reply(dev, req.h.unique, -EIO, NULL, 0);
				continue;
			}
			wo.size = n - WRITE_HEAD;
			raw_reply(dev, req.h.unique, 0, &wo, sizeof(wo));
			continue;
		}
		if (read_full(p[0], buf, n - sizeof(req.h)))
			break;
		req.arg = buf;
		req.arglen = n - sizeof(req.h);
		switch (req.h.opcode) {
		case FUSE_LOOKUP:
			if (strcmp(req.arg, "f"))
				break;
			raw_reply_entry(dev, req.h.unique, FILE_NODEID,
					S_IFREG | 0644, FILE_SIZE, 60);
			continue;
		case FUSE_GETATTR:
			if (req.h.nodeid != FILE_NODEID)
				break;
			raw_reply_attr(dev, req.h.unique, FILE_NODEID,
				       S_IFREG | 0644, FILE_SIZE, 60);
			continue;
		case FUSE_OPEN:
			memset(&oo, 0, sizeof(oo));
			raw_reply(dev, req.h.unique, 0, &oo, sizeof(oo));
			continue;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			raw_reply(dev, req.h.unique, 0, NULL, 0);
			continue;
		}
		raw_default(dev, &req);
	}
	_exit(0);
}

static void load_module(struct __test_metadata *_metadata)
{
	const char *ko = getenv("FUSEURING_KO") ?: "fuseuring.ko";
	int fd;

	if (!access("/sys/module/fuseuring", F_OK))
		return;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, syscall(__NR_finit_module, fd, "", 0));
	close(fd);
}

/*
 * Whether the backing file's filesystem refuses an unaligned direct
 * write: only then does a stored payload prove the layout.  NULL if it
 * does, else why not.
 */
static const char *backing_checks_alignment(const char *path)
{
	char *mem;
	const char *why = NULL;
	int fd = open(path, O_RDWR | O_DIRECT);

	if (fd < 0)
		return "the backing filesystem has no O_DIRECT";
	if (posix_memalign((void **)&mem, 4096, 8192)) {
		close(fd);
		return "no memory";
	}
	memset(mem, 0, 8192);
	if (pwrite(fd, mem + 80, 4096, 0) >= 0)
		why = "the backing filesystem takes unaligned direct writes";
	else if (errno != EINVAL)
		why = "an unaligned direct write failed otherwise than EINVAL";
	free(mem);
	close(fd);
	return why;
}

FIXTURE_SETUP(splice)
{
	int fd;

	load_module(_metadata);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	memset(sh, 0, sizeof(*sh));
	sh->pipe_size = 1 << 20;
	strcpy(self->dir, "/tmp/splice.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->mnt, sizeof(self->mnt), "%s/mnt", self->dir);
	ASSERT_EQ(0, mkdir(self->mnt, 0755));
	snprintf(sh->backing, sizeof(sh->backing), "%s/backing", self->dir);
	fd = open(sh->backing, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, FILE_SIZE));
	close(fd);
	self->server = 0;
	self->dev = -1;
}

/* Mount and start the server, with the pipe size the test set. */
static void start(struct __test_metadata *_metadata,
		  FIXTURE_DATA(splice) *self)
{
	self->dev = raw_mount(self->mnt, NULL);
	ASSERT_LE(0, self->dev) TH_LOG("mount: %s", strerror(-self->dev));
	self->server = fork();
	ASSERT_LE(0, self->server);
	if (self->server == 0)
		serve(self->dev);
	close(self->dev);
}

FIXTURE_TEARDOWN(splice)
{
	umount2(self->mnt, MNT_DETACH);
	if (self->server > 0)
		EXPECT_EQ(0, raw_wait(self->server, 5));
	EXPECT_EQ(0, sh->cut);
	unlink(sh->backing);
	rmdir(self->mnt);
	rmdir(self->dir);
	munmap(sh, sizeof(*sh));
}

/* A direct write through the mount; 0 or errno. */
static int write_file(FIXTURE_DATA(splice) *self, const void *data,
		      size_t len, off_t off)
{
	char path[128];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "%s/f", self->mnt);
	fd = open(path, O_WRONLY | O_DIRECT);
	if (fd < 0)
		return errno;
	n = pwrite(fd, data, len, off);
	err = n < 0 ? errno : (size_t)n == len ? 0 : EIO;
	close(fd);
	return err;
}

static void fill(char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(seed + i * 7 + i / 4096);
}

TEST_F(splice, splice_write_payload_to_o_direct_file)
{
	static const struct { size_t len; off_t off; } w[] = {
		{ 65536, 0 }, { 4096, 131072 }, { 12288 + 512, 196608 },
		{ 128 * 1024, 262144 },
	};
	const char *why = backing_checks_alignment(sh->backing);
	char *data, *back;
	unsigned int i;
	int bfd;

	if (why)
		SKIP(return, "%s: a stored payload would prove nothing", why);
	start(_metadata, self);
	ASSERT_EQ(0, posix_memalign((void **)&data, 4096, 128 * 1024));
	ASSERT_EQ(0, posix_memalign((void **)&back, 4096, 128 * 1024));
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		fill(data, w[i].len, i);
		ASSERT_EQ(0, write_file(self, data, w[i].len, w[i].off))
			TH_LOG("write %u: backing file's errno %d", i,
			       sh->write_errno);
	}
	EXPECT_EQ(0, sh->payload_not_whole);
	EXPECT_EQ(ARRAY_SIZE(w), sh->writes);
	bfd = open(sh->backing, O_RDONLY);
	ASSERT_LE(0, bfd);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		fill(data, w[i].len, i);
		ASSERT_EQ((ssize_t)w[i].len,
			  pread(bfd, back, w[i].len, w[i].off));
		EXPECT_EQ(0, memcmp(data, back, w[i].len)) TH_LOG("write %u", i);
	}
	close(bfd);
	free(data);
	free(back);
}

/*
 * A pipe of 8 buffers holds 32 KiB, but a WRITE of 7.5 pages needs nine
 * (its header, seven whole pages and half of one): it fails for its
 * caller, and a WRITE that fits is served after it.
 */
TEST_F(splice, splice_request_beyond_free_buffers_fails_alone)
{
	size_t big = 7 * 4096 + 2048;
	char *data;

	sh->pipe_size = 8 * 4096;
	start(_metadata, self);
	ASSERT_EQ(0, posix_memalign((void **)&data, 4096, big));
	fill(data, big, 1);
	EXPECT_EQ(EIO, write_file(self, data, big, 0));
	EXPECT_EQ(0, sh->write_msgs);
	EXPECT_EQ(0, write_file(self, data, 4 * 4096, 0));
	EXPECT_EQ(1, sh->write_msgs);
	EXPECT_EQ(1, sh->writes);
	EXPECT_EQ(0, sh->payload_not_whole);
	free(data);
}

TEST_HARNESS_MAIN
