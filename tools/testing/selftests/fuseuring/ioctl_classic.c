// SPDX-License-Identifier: GPL-2.0
/*
 * FUSE_IOCTL as fuseuring sends it, checked against a raw server on the
 * classic device: restricted ioctls only, the data the command number
 * encodes (_IOC_DIR, _IOC_SIZE) copied in and out, the server's result
 * returned, and every answer a filesystem server may not give refused
 * with a clear errno (ENOSYS is ENOTTY, FUSE_IOCTL_RETRY and oversized
 * data EIO, kernel-internal results EIO).  Each command number below
 * asks the server for one kind of answer.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "raw_server.h"

#define FILE_NODEID	2
#define FILE_FH		0x1234
#define DIR_FH		0x5678

struct rw16 {
	uint64_t a, b;
};

#define CMD_GET		_IOR('Z', 1, uint64_t)	/* 8 bytes out */
#define CMD_SET		_IOW('Z', 2, uint64_t)	/* 8 bytes in, result 5 */
#define CMD_RW		_IOWR('Z', 3, struct rw16) /* swapped back */
#define CMD_NOSYS_ERR	_IO('Z', 4)		/* error ENOSYS */
#define CMD_NOSYS_RES	_IO('Z', 5)		/* result -ENOSYS */
#define CMD_RETRY	_IOR('Z', 6, uint64_t)	/* FUSE_IOCTL_RETRY */
#define CMD_TOO_MUCH	_IOR('Z', 7, uint32_t)	/* 8 bytes for 4 */
#define CMD_SHORT	_IOR('Z', 8, uint64_t)	/* 4 bytes for 8 */
#define CMD_INTERNAL	_IO('Z', 9)		/* result -ERESTARTSYS */
#define CMD_ERR		_IOW('Z', 10, uint64_t)	/* error EPERM */
#define CMD_NO_DATA	_IO('Z', 11)		/* result 0, nothing moves */

#define GET_VALUE	0x1122334455667788ULL

/* What the server saw, for the client to check. */
struct seen {
	int ioctls;
	uint32_t last_flags;
	uint64_t last_fh;
	uint32_t last_in_size, last_out_size;
	int reply_status;	/* the write() of the last ioctl reply */
	int bad;		/* an ioctl_in the server did not expect */
};

static struct seen *seen;

FIXTURE(ioctl) {
	char mnt[64];
	pid_t server;
	int fd, dirfd;
};

static int ioctl_reply(int fd, uint64_t unique, int32_t result,
		       uint32_t flags, const void *data, size_t len)
{
	struct {
		struct fuse_ioctl_out o;
		char data[64];
	} r = { .o = { .result = result, .flags = flags } };

	memcpy(r.data, data, len);
	return raw_reply(fd, unique, 0, &r, sizeof(r.o) + len);
}

static void serve_ioctl(int fd, const struct raw_req *req)
{
	const struct fuse_ioctl_in *in = (const void *)req->arg;
	const char *data = req->arg + sizeof(*in);
	uint64_t u = GET_VALUE;
	struct rw16 rw;
	int st = 0;

	seen->ioctls++;
	seen->last_flags = in->flags;
	seen->last_fh = in->fh;
	seen->last_in_size = in->in_size;
	seen->last_out_size = in->out_size;
	if (req->arglen != sizeof(*in) + in->in_size)
		seen->bad++;
	switch (in->cmd) {
	case CMD_GET:
		st = ioctl_reply(fd, req->h.unique, 0, 0, &u, sizeof(u));
		break;
	case CMD_SET:
		memcpy(&u, data, sizeof(u));
		st = ioctl_reply(fd, req->h.unique, u == GET_VALUE ? 5 : 6, 0,
				 NULL, 0);
		break;
	case CMD_RW:
		memcpy(&rw, data, sizeof(rw));
		u = rw.a;
		rw.a = rw.b;
		rw.b = u;
		st = ioctl_reply(fd, req->h.unique, 0, 0, &rw, sizeof(rw));
		break;
	case CMD_NOSYS_ERR:
		st = raw_reply(fd, req->h.unique, -ENOSYS, NULL, 0);
		break;
	case CMD_NOSYS_RES:
		st = ioctl_reply(fd, req->h.unique, -ENOSYS, 0, NULL, 0);
		break;
	case CMD_RETRY:
		st = ioctl_reply(fd, req->h.unique, 0, FUSE_IOCTL_RETRY,
				 NULL, 0);
		break;
	case CMD_TOO_MUCH:
		st = ioctl_reply(fd, req->h.unique, 0, 0, &u, sizeof(u));
		break;
	case CMD_SHORT:
		st = ioctl_reply(fd, req->h.unique, 0, 0, &u, 4);
		break;
	case CMD_INTERNAL:
		st = ioctl_reply(fd, req->h.unique, -512, 0, NULL, 0);
		break;
	case CMD_ERR:
		st = raw_reply(fd, req->h.unique, -EPERM, NULL, 0);
		break;
	default:
		st = ioctl_reply(fd, req->h.unique, 0, 0, NULL, 0);
		break;
	}
	seen->reply_status = st;
}

/* The root holds one regular file, "f". */
static void serve(int fd)
{
	char *buf = malloc(RAW_BUFSIZE);
	struct fuse_open_out oo;
	struct raw_req req = {};

	while (buf && !raw_read(fd, buf, &req)) {
		switch (req.h.opcode) {
		case FUSE_LOOKUP:
			if (strcmp(req.arg, "f"))
				break;
			raw_reply_entry(fd, req.h.unique, FILE_NODEID,
					S_IFREG | 0644, 0, 0);
			continue;
		case FUSE_GETATTR:
			if (req.h.nodeid != FILE_NODEID)
				break;
			raw_reply_attr(fd, req.h.unique, FILE_NODEID,
				       S_IFREG | 0644, 0, 0);
			continue;
		case FUSE_OPEN:
		case FUSE_OPENDIR:
			memset(&oo, 0, sizeof(oo));
			oo.fh = req.h.opcode == FUSE_OPEN ? FILE_FH : DIR_FH;
			raw_reply(fd, req.h.unique, 0, &oo, sizeof(oo));
			continue;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			raw_reply(fd, req.h.unique, 0, NULL, 0);
			continue;
		case FUSE_IOCTL:
			serve_ioctl(fd, &req);
			continue;
		}
		raw_default(fd, &req);
	}
	_exit(0);
}

FIXTURE_SETUP(ioctl)
{
	char path[80];

	ASSERT_EQ(0, raw_load_module());
	seen = raw_shared_mem(sizeof(*seen));
	ASSERT_NE(NULL, seen);
	strcpy(self->mnt, "/tmp/ioctl.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	self->server = raw_spawn_server(self->mnt, NULL, serve);
	ASSERT_LT(0, self->server) TH_LOG("mount: %s", strerror(-self->server));
	snprintf(path, sizeof(path), "%s/f", self->mnt);
	self->fd = open(path, O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", path, strerror(errno));
	self->dirfd = open(self->mnt, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, self->dirfd);
}

FIXTURE_TEARDOWN(ioctl)
{
	close(self->fd);
	close(self->dirfd);
	umount2(self->mnt, MNT_DETACH);
	if (self->server > 0)
		EXPECT_EQ(0, raw_wait(self->server, 5));
	rmdir(self->mnt);
	munmap(seen, sizeof(*seen));
}

/* _IOR: out_size is the encoded size, the reply's data reaches the caller. */
TEST_F(ioctl, read_copies_out)
{
	uint64_t v = 0;

	ASSERT_EQ(0, ioctl(self->fd, CMD_GET, &v));
	EXPECT_EQ(GET_VALUE, v);
	EXPECT_EQ(1, seen->ioctls);
	EXPECT_EQ(0, seen->last_flags);
	EXPECT_EQ(FILE_FH, seen->last_fh);
	EXPECT_EQ(0, seen->last_in_size);
	EXPECT_EQ(sizeof(v), seen->last_out_size);
	EXPECT_EQ(0, seen->bad);
}

/* _IOW: the caller's data reaches the server, its result comes back. */
TEST_F(ioctl, write_copies_in_and_returns_result)
{
	uint64_t v = GET_VALUE;

	EXPECT_EQ(5, ioctl(self->fd, CMD_SET, &v));
	EXPECT_EQ(sizeof(v), seen->last_in_size);
	EXPECT_EQ(0, seen->last_out_size);
	EXPECT_EQ(0, seen->bad);
}

/* _IOWR: in and out through the same argument. */
TEST_F(ioctl, read_write_round_trip)
{
	struct rw16 rw = { .a = 1, .b = 2 };

	ASSERT_EQ(0, ioctl(self->fd, CMD_RW, &rw));
	EXPECT_EQ(2, rw.a);
	EXPECT_EQ(1, rw.b);
	EXPECT_EQ(sizeof(rw), seen->last_in_size);
	EXPECT_EQ(sizeof(rw), seen->last_out_size);
}

/* _IO: no data either way, the argument is passed as a number only. */
TEST_F(ioctl, no_data)
{
	EXPECT_EQ(0, ioctl(self->fd, CMD_NO_DATA, 42UL));
	EXPECT_EQ(0, seen->last_in_size);
	EXPECT_EQ(0, seen->last_out_size);
	EXPECT_EQ(0, seen->bad);
}

/* A directory's ioctl carries FUSE_IOCTL_DIR and the directory's fh. */
TEST_F(ioctl, directory_sends_ioctl_dir)
{
	uint64_t v = 0;

	ASSERT_EQ(0, ioctl(self->dirfd, CMD_GET, &v));
	EXPECT_EQ(GET_VALUE, v);
	EXPECT_EQ(FUSE_IOCTL_DIR, seen->last_flags);
	EXPECT_EQ(DIR_FH, seen->last_fh);
}

/* A server without the ioctl: ENOTTY, as reply error or as result. */
TEST_F(ioctl, enosys_is_enotty)
{
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_NOSYS_ERR));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_NOSYS_RES));
	EXPECT_EQ(ENOTTY, errno);
}

/* The server's own error reaches the caller. */
TEST_F(ioctl, server_error_returned)
{
	uint64_t v = 0;

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_ERR, &v));
	EXPECT_EQ(EPERM, errno);
}

/* RETRY is for CUSE's unrestricted ioctls only: EIO. */
TEST_F(ioctl, retry_refused)
{
	uint64_t v = 7;

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_RETRY, &v));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(7, v);
}

/* More data than the command encodes: the reply is refused, EIO. */
TEST_F(ioctl, oversized_data_refused)
{
	uint32_t v[2] = { 7, 7 };

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_TOO_MUCH, v));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-EINVAL, seen->reply_status);
	/* Nothing was written past the encoded size. */
	EXPECT_EQ(7, v[1]);
}

/* Less data than the command encodes: only that much is copied out. */
TEST_F(ioctl, short_data_copied)
{
	uint64_t v = 0;

	ASSERT_EQ(0, ioctl(self->fd, CMD_SHORT, &v));
	EXPECT_EQ(GET_VALUE & 0xffffffffULL, v);
}

/* A kernel-internal code as result never reaches the caller. */
TEST_F(ioctl, internal_result_is_eio)
{
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_INTERNAL));
	EXPECT_EQ(EIO, errno);
}

/* A bad argument pointer: EFAULT before anything reaches the server. */
TEST_F(ioctl, bad_pointer_efault)
{
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_SET, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, seen->ioctls);
	/* Out only: the server answers, the copy to the caller faults. */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, CMD_GET, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

TEST_HARNESS_MAIN
