// SPDX-License-Identifier: GPL-2.0
/*
 * A READ that ends in an error never leaves data behind: its folios stay
 * not uptodate, so the reader gets the error, not zeros.  The server is
 * raw, on the classic device, and accepts ASYNC_READ, so readahead goes
 * out in the background and ends in an end() callback: that path once
 * turned the error into a huge unsigned byte count and marked the folios
 * uptodate (make soak found the zeros after killed servers).
 * - read_error_reaches_the_reader: every READ is answered with EIO.
 * - kill_during_readahead_reads_no_zeros: the first READ is answered,
 *   the next is never: the server dies holding it.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "raw_server.h"

#define FILE_NODEID	2
#define FILE_SIZE	(4 << 20)
#define CHUNK		(64 * 1024)

enum read_answer { ANSWER_EIO, ANSWER_FIRST_THEN_DIE };

/* Shared with the server: how to answer (set before any READ), what it saw. */
struct plan {
	enum read_answer answer;
	int reads;
};

static struct plan *plan;

/* The file's bytes: never zero, so zeros are always wrong. */
static unsigned char file_byte(uint64_t off)
{
	return off % 251 + 1;
}

static void serve_read(int fd, const struct raw_req *req, char *data)
{
	const struct fuse_read_in *in = (const void *)req->arg;
	uint32_t i;

	plan->reads++;
	if (plan->answer == ANSWER_EIO) {
		raw_reply(fd, req->h.unique, -EIO, NULL, 0);
		return;
	}
	if (plan->reads > 1)
		_exit(0);	/* dies holding this READ */
	for (i = 0; i < in->size; i++)
		data[i] = file_byte(in->offset + i);
	raw_reply(fd, req->h.unique, 0, data, in->size);
}

static void serve(int fd)
{
	char *buf = malloc(RAW_BUFSIZE), *data = malloc(RAW_BUFSIZE);
	struct fuse_init_out init;
	struct fuse_open_out oo;
	struct raw_req req = {};

	while (buf && data && !raw_read(fd, buf, &req)) {
		switch (req.h.opcode) {
		case FUSE_INIT:
			init = raw_init_out(&req);
			init.flags = FUSE_ASYNC_READ;
			raw_reply(fd, req.h.unique, 0, &init, sizeof(init));
			continue;
		case FUSE_LOOKUP:
			if (strcmp(req.arg, "f"))
				break;
			raw_reply_entry(fd, req.h.unique, FILE_NODEID,
					S_IFREG | 0644, FILE_SIZE, 60);
			continue;
		case FUSE_GETATTR:
			if (req.h.nodeid != FILE_NODEID)
				break;
			raw_reply_attr(fd, req.h.unique, FILE_NODEID,
				       S_IFREG | 0644, FILE_SIZE, 60);
			continue;
		case FUSE_OPEN:
			memset(&oo, 0, sizeof(oo));
			oo.fh = 7;
			raw_reply(fd, req.h.unique, 0, &oo, sizeof(oo));
			continue;
		case FUSE_READ:
			serve_read(fd, &req, data);
			continue;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			raw_reply(fd, req.h.unique, 0, NULL, 0);
			continue;
		}
		raw_default(fd, &req);
	}
	_exit(0);
}

FIXTURE(ra) {
	char mnt[64];
	char path[96];
	pid_t server;
};

FIXTURE_SETUP(ra)
{
	ASSERT_EQ(0, raw_load_module());
	plan = raw_shared_mem(sizeof(*plan));
	ASSERT_NE(NULL, plan);
	strcpy(self->mnt, "/tmp/killra.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	snprintf(self->path, sizeof(self->path), "%s/f", self->mnt);
	self->server = raw_spawn_server(self->mnt, NULL, serve);
	ASSERT_LT(0, self->server) TH_LOG("mount: %s", strerror(-self->server));
}

FIXTURE_TEARDOWN(ra)
{
	umount2(self->mnt, MNT_DETACH);
	if (self->server > 0)
		EXPECT_EQ(0, raw_wait(self->server, 5));
	rmdir(self->mnt);
	munmap(plan, sizeof(*plan));
}

/*
 * With the server set to answer as told, read the file in chunks until
 * an error or its end: every byte read must be the file's.  Returns the
 * offset reached (-1 at a wrong byte); *err is the errno that stopped
 * it, or 0 at the end of the file.
 */
static long read_all(struct __test_metadata *_metadata, const char *path,
		     enum read_answer answer, int *err)
{
	static char buf[CHUNK];
	long off = 0, i;
	ssize_t n;
	int fd;

	plan->answer = answer;
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	*err = 0;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0)
			*err = errno;
		if (n <= 0)
			break;
		for (i = 0; i < n && (unsigned char)buf[i] == file_byte(off + i);
		     i++)
			;
		if (i < n) {
			TH_LOG("byte %ld is %#x, the file has %#x there",
			       off + i, (unsigned char)buf[i],
			       file_byte(off + i));
			off = -1;
			break;
		}
		off += n;
	}
	close(fd);
	return off;
}

TEST_F(ra, read_error_reaches_the_reader)
{
	int err;
	long off = read_all(_metadata, self->path, ANSWER_EIO, &err);

	EXPECT_EQ(0, off);
	EXPECT_EQ(EIO, err);
	EXPECT_LT(0, plan->reads);
}

TEST_F(ra, kill_during_readahead_reads_no_zeros)
{
	int err;
	long off = read_all(_metadata, self->path, ANSWER_FIRST_THEN_DIE, &err);

	/* What came is the file's; the rest is an error, not the end. */
	ASSERT_LE(0, off);
	EXPECT_GT(FILE_SIZE, off);
	EXPECT_TRUE(err == ENOTCONN || err == EIO)
		TH_LOG("read ended at %ld with %s", off, strerror(err));
	EXPECT_EQ(2, plan->reads);
}

TEST_HARNESS_MAIN
