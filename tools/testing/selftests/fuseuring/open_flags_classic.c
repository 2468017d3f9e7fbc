// SPDX-License-Identifier: GPL-2.0
/*
 * The open flags a server sees, checked against a raw server on the
 * classic device, as the kernel's FUSE sends them:
 * - FUSE_CREATE carries the caller's flags whole but O_NOCTTY: O_CREAT,
 *   O_EXCL and O_TRUNC included.  Servers pass them to open(2) as they
 *   are (libfuse's high-level passthrough_fh): without O_CREAT every new
 *   file was ENOENT there.
 * - FUSE_OPEN never carries O_CREAT, O_EXCL or O_NOCTTY.
 * - A directory's RELEASEDIR names the handle its OPENDIR got and the
 *   O_ flags OPENDIR carried.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "raw_server.h"

#define FIRST_NODEID	2
#define DIR_FH		0x5eed

/* What the server saw, for the client to check. */
struct seen {
	int creates, opens;
	uint32_t create_flags, create_mode, create_umask;
	uint32_t open_flags;
	char name[32];
	int opendirs, releasedirs;
	uint32_t opendir_flags, releasedir_flags;
	uint64_t releasedir_fh;
};

static struct seen *seen;

FIXTURE(flags) {
	char mnt[64];
	pid_t server;
};

/* Every CREATE makes a new regular file, valid for a minute. */
static void serve(int fd)
{
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} cr;
	char *buf = malloc(RAW_BUFSIZE);
	uint64_t next = FIRST_NODEID;
	struct fuse_open_out oo;
	struct raw_req req = {};

	while (buf && !raw_read(fd, buf, &req)) {
		switch (req.h.opcode) {
		case FUSE_CREATE: {
			const struct fuse_create_in *in = (const void *)req.arg;

			seen->creates++;
			seen->create_flags = in->flags;
			seen->create_mode = in->mode;
			seen->create_umask = in->umask;
			snprintf(seen->name, sizeof(seen->name), "%s",
				 req.arg + sizeof(*in));
			memset(&cr, 0, sizeof(cr));
			raw_fill_entry(&cr.e, next++, in->mode, 0, 60);
			cr.o.fh = cr.e.nodeid;
			raw_reply(fd, req.h.unique, 0, &cr, sizeof(cr));
			continue;
		}
		case FUSE_OPEN:
			seen->opens++;
			seen->open_flags =
				((const struct fuse_open_in *)req.arg)->flags;
			memset(&oo, 0, sizeof(oo));
			raw_reply(fd, req.h.unique, 0, &oo, sizeof(oo));
			continue;
		case FUSE_GETATTR:
			if (req.h.nodeid == FUSE_ROOT_ID)
				break;
			raw_reply_attr(fd, req.h.unique, req.h.nodeid,
				       S_IFREG | 0640, 0, 60);
			continue;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			raw_reply(fd, req.h.unique, 0, NULL, 0);
			continue;
		case FUSE_OPENDIR:
			seen->opendirs++;
			seen->opendir_flags =
				((const struct fuse_open_in *)req.arg)->flags;
			memset(&oo, 0, sizeof(oo));
			oo.fh = DIR_FH;
			raw_reply(fd, req.h.unique, 0, &oo, sizeof(oo));
			continue;
		case FUSE_RELEASEDIR: {
			const struct fuse_release_in *in = (const void *)req.arg;

			seen->releasedir_fh = in->fh;
			seen->releasedir_flags = in->flags;
			/* Last: the client reads the others once it counts. */
			__atomic_add_fetch(&seen->releasedirs, 1,
					   __ATOMIC_SEQ_CST);
			raw_reply(fd, req.h.unique, 0, NULL, 0);
			continue;
		}
		}
		raw_default(fd, &req);
	}
	_exit(0);
}

FIXTURE_SETUP(flags)
{
	ASSERT_EQ(0, raw_load_module());
	seen = raw_shared_mem(sizeof(*seen));
	ASSERT_NE(NULL, seen);
	strcpy(self->mnt, "/tmp/oflags.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	self->server = raw_spawn_server(self->mnt, NULL, serve);
	ASSERT_LT(0, self->server) TH_LOG("mount: %s", strerror(-self->server));
	umask(022);
}

FIXTURE_TEARDOWN(flags)
{
	umount2(self->mnt, MNT_DETACH);
	if (self->server > 0)
		EXPECT_EQ(0, raw_wait(self->server, 5));
	rmdir(self->mnt);
	munmap(seen, sizeof(*seen));
}

static int open_in(FIXTURE_DATA(flags) *self, const char *name, int flags,
		   mode_t mode)
{
	char path[96];

	snprintf(path, sizeof(path), "%s/%s", self->mnt, name);
	return open(path, flags, mode);
}

/* The shell's >: O_WRONLY|O_CREAT|O_TRUNC, all three on the wire. */
TEST_F(flags, create_keeps_creat_and_trunc)
{
	int fd = open_in(self, "a", O_WRONLY | O_CREAT | O_TRUNC, 0666);

	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	close(fd);
	ASSERT_EQ(1, seen->creates);
	EXPECT_STREQ("a", seen->name);
	EXPECT_EQ(O_WRONLY | O_CREAT | O_TRUNC,
		  seen->create_flags & (O_ACCMODE | O_CREAT | O_TRUNC |
					O_EXCL));
	/* The caller's umask is applied, and sent too. */
	EXPECT_EQ(S_IFREG | 0644, seen->create_mode);
	EXPECT_EQ(022, seen->create_umask);
	EXPECT_EQ(0, seen->opens);
}

/* O_EXCL reaches the server (it may exist there); O_NOCTTY never does. */
TEST_F(flags, create_keeps_excl_drops_noctty)
{
	int fd = open_in(self, "b", O_RDWR | O_CREAT | O_EXCL | O_NOCTTY,
			 0640);

	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	close(fd);
	ASSERT_EQ(1, seen->creates);
	EXPECT_EQ(O_RDWR | O_CREAT | O_EXCL,
		  seen->create_flags & (O_ACCMODE | O_CREAT | O_TRUNC |
					O_EXCL | O_NOCTTY));
	EXPECT_EQ(S_IFREG | 0640, seen->create_mode);
}

/* An existing name is opened with OPEN, which never has O_CREAT. */
TEST_F(flags, open_of_existing_drops_creat)
{
	int fd = open_in(self, "c", O_WRONLY | O_CREAT, 0600);

	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	close(fd);
	ASSERT_EQ(1, seen->creates);
	fd = open_in(self, "c", O_RDWR | O_CREAT | O_NOCTTY, 0600);
	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	close(fd);
	EXPECT_EQ(1, seen->creates);
	ASSERT_EQ(1, seen->opens);
	EXPECT_EQ(O_RDWR, seen->open_flags & (O_ACCMODE | O_CREAT | O_EXCL |
					      O_NOCTTY));
}

/* RELEASEDIR (in the background, after close) answers OPENDIR's handle. */
TEST_F(flags, releasedir_names_the_opendir_handle)
{
	int fd = open(self->mnt, O_RDONLY | O_DIRECTORY), i;

	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	EXPECT_EQ(1, seen->opendirs);
	EXPECT_EQ(O_RDONLY, seen->opendir_flags & (O_ACCMODE | O_CREAT |
						   O_EXCL | O_NOCTTY));
	EXPECT_EQ(0, seen->releasedirs);
	close(fd);
	for (i = 0; i < 500 && !seen->releasedirs; i++)
		usleep(10 * 1000);
	ASSERT_EQ(1, seen->releasedirs);
	EXPECT_EQ(DIR_FH, seen->releasedir_fh);
	EXPECT_EQ(seen->opendir_flags, seen->releasedir_flags);
}

TEST_HARNESS_MAIN
