// SPDX-License-Identifier: GPL-2.0
/*
 * Who may do what with fuseuring, on the classic transport:
 * - anyone may open /dev/fuseuring (mode 0666, like /dev/fuse): a server
 *   needs no privilege until it mounts;
 * - mounting needs CAP_SYS_ADMIN in the initial user namespace (the
 *   filesystem type has no FS_USERNS_MOUNT);
 * - without allow_other only the mounting user may use the mount; with
 *   default_permissions the kernel checks modes before the server sees a
 *   request;
 * - what the module writes to the server carries no stale kernel bytes
 *   (padding and unused fields are zero);
 * - a server's bad buffer pointers get EFAULT, never a kernel access
 *   outside them.
 */
#include <grp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "kselftest_harness.h"
#include "raw_server.h"
#include "priv_util.h"

FIXTURE(classic) {
	char mnt[64];
	pid_t server;
};

FIXTURE_SETUP(classic)
{
	ASSERT_EQ(0, raw_load_module());
	ps = raw_shared_mem(sizeof(*ps));
	ASSERT_NE(NULL, ps);
	strcpy(self->mnt, "/tmp/priv.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	ASSERT_EQ(0, chmod(self->mnt, 0755));
	self->server = 0;
}

FIXTURE_TEARDOWN(classic)
{
	umount2(self->mnt, MNT_DETACH);
	if (self->server > 0)
		raw_wait(self->server, 5);
	rmdir(self->mnt);
}

/* Run fn in a child as nobody; returns the child's exit status. */
static int as_nobody(int (*fn)(const char *), const char *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(100);
		_exit(fn(arg));
	}
	return raw_wait(pid, 10);
}

/*
 * A small tree: "open" (dir 0755) and "secret" (dir 0700, root's), and
 * any other name makes a new directory owned by the caller.
 */
static void serve(int fd)
{
	char *buf = malloc(RAW_BUFSIZE);
	struct fuse_entry_out e;
	struct fuse_attr_out ao;
	struct raw_req req = {};

	while (buf && !raw_read(fd, buf, &req)) {
		check_padding(&req);
		switch (req.h.opcode) {
		case FUSE_LOOKUP:
			memset(&e, 0, sizeof(e));
			if (!strcmp(req.arg, "open") || !strcmp(req.arg, "secret")) {
				e.nodeid = req.arg[0] == 'o' ? 2 : 3;
				raw_fill_attr(&e.attr, e.nodeid, S_IFDIR |
					      (e.nodeid == 2 ? 0755 : 0700));
				raw_reply(fd, req.h.unique, 0, &e, sizeof(e));
			} else {
				raw_reply(fd, req.h.unique, -ENOENT, NULL, 0);
			}
			continue;
		case FUSE_GETATTR:
		case FUSE_SETATTR:
			memset(&ao, 0, sizeof(ao));
			raw_fill_attr(&ao.attr, req.h.nodeid, S_IFDIR |
				      (req.h.nodeid == 3 ? 0700 : 0755));
			raw_reply(fd, req.h.unique, 0, &ao, sizeof(ao));
			continue;
		case FUSE_MKDIR:
		case FUSE_MKNOD:
			memset(&e, 0, sizeof(e));
			e.nodeid = 10;
			raw_fill_attr(&e.attr, 10, req.h.opcode == FUSE_MKDIR ?
				      S_IFDIR | 0755 : S_IFIFO | 0644);
			raw_reply(fd, req.h.unique, 0, &e, sizeof(e));
			continue;
		case FUSE_RENAME2:
		case FUSE_GETXATTR:
			raw_reply(fd, req.h.unique, -ENODATA, NULL, 0);
			continue;
		case FUSE_OPENDIR:
			if (req.h.uid == NOBODY)
				ps->opendir_by_nobody++;
			break;
		}
		raw_default(fd, &req);
	}
	_exit(0);
}

static int start(struct __test_metadata *_metadata, FIXTURE_DATA(classic) *self,
		 const char *opts)
{
	self->server = raw_spawn_server(self->mnt, opts, serve);
	if (self->server < 0) {
		TH_LOG("mount: %s", strerror(-self->server));
		return -1;
	}
	return 0;
}

static int open_device(const char *unused)
{
	int fd = open(raw_dev(), O_RDWR);

	(void)unused;
	return fd < 0 ? errno : 0;
}

static int mount_it(const char *mnt)
{
	int fd = open(raw_dev(), O_RDWR);
	char opts[128];

	if (fd < 0)
		return 101;
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%d,group_id=%d",
		 fd, NOBODY, NOBODY);
	return mount("x", mnt, raw_fstype(), 0, opts) ? errno : 0;
}

/* Write @text to /proc/self/@file; 0 or errno. */
static int write_proc_self(const char *file, const char *text)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		ret = errno;
	close(fd);
	return ret;
}

/*
 * In a user namespace of its own, where nobody maps to itself (so that
 * the mount options' user_id and group_id are valid there) and holds
 * every capability, the mount must still be refused: EPERM.
 */
static int mount_in_userns(const char *mnt)
{
	char map[32];

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
		return errno == EPERM ? 102 : 103;
	/* setresuid() left us undumpable: /proc/self would be root's. */
	prctl(PR_SET_DUMPABLE, 1);
	snprintf(map, sizeof(map), "%d %d 1", NOBODY, NOBODY);
	if (write_proc_self("setgroups", "deny") ||
	    write_proc_self("uid_map", map) ||
	    write_proc_self("gid_map", map))
		return 104;
	return mount_it(mnt);
}

static int stat_it(const char *path)
{
	struct stat st;

	return stat(path, &st) ? errno : 0;
}

static int opendir_it(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

TEST_F(classic, priv_device_opens_for_anyone)
{
	EXPECT_EQ(0, as_nobody(open_device, NULL));
}

TEST_F(classic, priv_mount_needs_cap_sys_admin)
{
	EXPECT_EQ(EPERM, as_nobody(mount_it, self->mnt));
}

TEST_F(classic, priv_no_mount_in_user_namespace)
{
	int st = as_nobody(mount_in_userns, self->mnt);

	/* unshare() refuses CLONE_NEWUSER in a chroot. */
	if (st == 102)
		SKIP(return, "cannot make a user namespace here (EPERM: chrooted, or user namespaces are off)");
	ASSERT_NE(104, st) TH_LOG("cannot map nobody in its user namespace");
	EXPECT_EQ(EPERM, st);
}

TEST_F(classic, priv_other_user_denied_without_allow_other)
{
	char path[128];

	ASSERT_EQ(0, start(_metadata, self, NULL));
	snprintf(path, sizeof(path), "%s/open", self->mnt);
	EXPECT_EQ(0, stat_it(path));
	EXPECT_EQ(EACCES, as_nobody(stat_it, path));
	EXPECT_EQ(EACCES, as_nobody(stat_it, self->mnt));
}

TEST_F(classic, priv_allow_other_lets_other_users_in)
{
	char path[128];

	ASSERT_EQ(0, start(_metadata, self, "allow_other"));
	snprintf(path, sizeof(path), "%s/open", self->mnt);
	EXPECT_EQ(0, as_nobody(stat_it, path));
	EXPECT_EQ(0, as_nobody(opendir_it, path));
	EXPECT_EQ(1, ps->opendir_by_nobody);
}

TEST_F(classic, priv_default_permissions_checked_in_kernel)
{
	char path[128];

	ASSERT_EQ(0, start(_metadata, self, "allow_other,default_permissions"));
	snprintf(path, sizeof(path), "%s/secret", self->mnt);
	EXPECT_EQ(EACCES, as_nobody(opendir_it, path));
	EXPECT_EQ(0, ps->opendir_by_nobody)
		TH_LOG("the server saw an OPENDIR the kernel had to refuse");
	EXPECT_EQ(0, opendir_it(path));
}

TEST_F(classic, priv_request_padding_is_zero)
{
	char path[160], path2[160], buf[16];
	struct stat st;

	ASSERT_EQ(0, start(_metadata, self, NULL));
	snprintf(path, sizeof(path), "%s/open", self->mnt);
	ASSERT_EQ(0, stat(path, &st));
	ASSERT_EQ(0, opendir_it(path));
	snprintf(path, sizeof(path), "%s/newdir", self->mnt);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fifo", self->mnt);
	mknod(path, S_IFIFO | 0644, 0);
	snprintf(path2, sizeof(path2), "%s/open/b", self->mnt);
	snprintf(path, sizeof(path), "%s/open", self->mnt);
	syscall(SYS_renameat2, AT_FDCWD, path, AT_FDCWD, path2, 1);
	chmod(path, 0700);
	getxattr(path, "user.x", buf, sizeof(buf));
	statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS,
	      &(struct statx){});
	EXPECT_EQ(0, umount(self->mnt));
	EXPECT_EQ(0, raw_wait(self->server, 5));
	self->server = 0;
	TH_LOG("%ld fields checked", ps->checked);
	EXPECT_LT(20, ps->checked);
	EXPECT_EQ(0, ps->nonzero_padding) TH_LOG("first: %s", ps->why);
}

static pid_t start_statx(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct statx stx;

		_exit(statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC,
			    STATX_BASIC_STATS, &stx) ? errno : 0);
	}
	return pid;
}

/*
 * A server's read into, and reply from, memory it does not own: EFAULT,
 * the request ends with EIO for its caller, and the kernel carries on.
 */
TEST_F(classic, priv_server_bad_pointers_get_efault)
{
	int fd = raw_mount(self->mnt, NULL), st;
	char *buf = malloc(RAW_BUFSIZE);
	struct raw_req req = {};
	struct fuse_out_header oh;
	struct iovec iov[2];
	void *unmapped;
	pid_t caller;

	ASSERT_LE(0, fd);
	unmapped = mmap(NULL, 65536, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	ASSERT_NE(MAP_FAILED, unmapped);
	ASSERT_EQ(0, raw_read(fd, buf, &req));
	ASSERT_EQ(FUSE_INIT, req.h.opcode);
	raw_default(fd, &req);

	caller = start_statx(self->mnt);
	EXPECT_EQ(-1, read(fd, unmapped, 65536));
	EXPECT_EQ(EFAULT, errno);
	st = raw_wait(caller, 5);
	EXPECT_EQ(EIO, st) TH_LOG("caller status %d (-1: hung)", st);

	caller = start_statx(self->mnt);
	ASSERT_EQ(0, raw_read(fd, buf, &req));
	EXPECT_EQ(FUSE_GETATTR, req.h.opcode);
	oh = (struct fuse_out_header){
		.len = sizeof(oh) + sizeof(struct fuse_attr_out),
		.unique = req.h.unique,
	};
	iov[0] = (struct iovec){ &oh, sizeof(oh) };
	iov[1] = (struct iovec){ unmapped, sizeof(struct fuse_attr_out) };
	EXPECT_EQ(-1, writev(fd, iov, 2));
	EXPECT_EQ(EFAULT, errno);
	st = raw_wait(caller, 5);
	EXPECT_EQ(EIO, st) TH_LOG("caller status %d (-1: hung)", st);

	/* And the connection still works for a good reply. */
	caller = start_statx(self->mnt);
	ASSERT_EQ(0, raw_read(fd, buf, &req));
	raw_default(fd, &req);
	EXPECT_EQ(0, raw_wait(caller, 5));
	close(fd);
	free(buf);
}

TEST_HARNESS_MAIN
