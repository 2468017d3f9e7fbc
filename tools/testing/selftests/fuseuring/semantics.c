// SPDX-License-Identifier: GPL-2.0
/*
 * The FUSE-semantics suite: what a user of a FUSE filesystem may expect,
 * checked through a mounted filesystem.  It is transport-agnostic: the
 * same binary runs against the kernel's own FUSE (the reference) and
 * against fuseuring over each transport, so a check that passes on the
 * reference and fails on fuseuring is a fuseuring bug.
 *
 * Environment:
 *   FUSEURING_MNT    the mountpoint (required); each test works in a fresh
 *                    directory below it
 *   FUSEURING_REF    a directory on tmpfs for the random exerciser's
 *                    reference (default /tmp; semantics.sh: /dev/shm)
 *   FUSEURING_MNT2   a second mount of another server, for EXDEV
 *   FUSEURING_HOOKS  set when the server runs with --test-hooks
 *   FUSEURING_MNT3   a third mount (server with --test-hooks) that the
 *                    server-death check kills
 *   FUSEURING_SERVER3_PID  the pid of MNT3's server when it has no test
 *                    hooks: the check stops it, then kills it, itself
 *   FUSEURING_DEFAULT_PERMISSIONS  set when mounted with
 *                    default_permissions,allow_other
 *   FUSEURING_SERVER_NO_RENAME_FLAGS  set when the server refuses rename
 *                    flags with EINVAL (libfuse's passthrough_hp): the
 *                    checks that need them skip on that answer
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "semantics_util.h"

FIXTURE(fs) {
	char dir[PATH_MAX];
};

FIXTURE_SETUP(fs)
{
	const char *mnt = getenv("FUSEURING_MNT");

	umask(0);
	ASSERT_NE(NULL, mnt) TH_LOG("FUSEURING_MNT is not set");
	snprintf(self->dir, sizeof(self->dir), "%s/t.XXXXXX", mnt);
	ASSERT_NE(NULL, mkdtemp(self->dir))
		TH_LOG("mkdtemp in %s: %s", mnt, strerror(errno));
	ASSERT_EQ(0, chmod(self->dir, 0777));
}

FIXTURE_TEARDOWN(fs)
{
	rm_rf(self->dir);
}

/* A path below the test's directory (a few may be live at once). */
#define P(name) sem_path(self->dir, (name))

/* ---- create, open, stat ------------------------------------------- */

TEST_F(fs, create_and_stat)
{
	struct stat st;
	int fd = open(P("f"), O_CREAT | O_WRONLY, 0640);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0640, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_size);
	close(fd);
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(0640, st.st_mode & 07777);
}

TEST_F(fs, create_respects_umask)
{
	struct stat st;
	int fd;

	umask(022);
	fd = open(P("f"), O_CREAT | O_WRONLY, 0666);
	umask(0);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(0644, st.st_mode & 07777);
}

TEST_F(fs, create_excl_eexist)
{
	ASSERT_EQ(0, touch(P("f"), "x"));
	EXPECT_EQ(-1, open(P("f"), O_CREAT | O_EXCL | O_WRONLY, 0644));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, create_excl_on_symlink_eexist)
{
	ASSERT_EQ(0, symlink("nowhere", P("l")));
	EXPECT_EQ(-1, open(P("l"), O_CREAT | O_EXCL | O_WRONLY, 0644));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, open_enoent)
{
	EXPECT_EQ(-1, open(P("missing"), O_RDONLY));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, open_dir_for_write_eisdir)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, open(P("d"), O_WRONLY));
	EXPECT_EQ(EISDIR, errno);
}

TEST_F(fs, open_below_file_enotdir)
{
	ASSERT_EQ(0, touch(P("f"), "x"));
	EXPECT_EQ(-1, open(P("f/x"), O_RDONLY));
	EXPECT_EQ(ENOTDIR, errno);
}

TEST_F(fs, open_directory_flag_on_file_enotdir)
{
	ASSERT_EQ(0, touch(P("f"), "x"));
	EXPECT_EQ(-1, open(P("f"), O_RDONLY | O_DIRECTORY));
	EXPECT_EQ(ENOTDIR, errno);
}

TEST_F(fs, create_in_missing_dir_enoent)
{
	EXPECT_EQ(-1, open(P("nodir/f"), O_CREAT | O_WRONLY, 0644));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, open_trunc_empties)
{
	struct stat st;
	int fd;

	ASSERT_EQ(0, touch(P("f"), "some content"));
	fd = open(P("f"), O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(0, st.st_size);
	close(fd);
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(0, st.st_size);
}

TEST_F(fs, write_on_rdonly_fd_ebadf)
{
	int fd;

	ASSERT_EQ(0, touch(P("f"), "x"));
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, write(fd, "y", 1));
	EXPECT_EQ(EBADF, errno);
	close(fd);
}

TEST_F(fs, read_on_wronly_fd_ebadf)
{
	char c;
	int fd;

	ASSERT_EQ(0, touch(P("f"), "x"));
	fd = open(P("f"), O_WRONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, read(fd, &c, 1));
	EXPECT_EQ(EBADF, errno);
	close(fd);
}

TEST_F(fs, name_too_long_for_server)
{
	char name[301];

	memset(name, 'n', 300);
	name[300] = '\0';
	EXPECT_EQ(-1, open(P(name), O_CREAT | O_WRONLY, 0644));
	EXPECT_EQ(ENAMETOOLONG, errno);
}

TEST_F(fs, name_too_long_for_protocol)
{
	char name[1101];

	memset(name, 'n', 1100);
	name[1100] = '\0';
	EXPECT_EQ(-1, mkdir(P(name), 0755));
	EXPECT_EQ(ENAMETOOLONG, errno);
}

TEST_F(fs, stat_size_after_write)
{
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(10, st.st_size);
	EXPECT_LT(0, st.st_blocks);
}

TEST_F(fs, mtime_moves_on_write)
{
	struct stat a, b;

	ASSERT_EQ(0, touch(P("f"), "x"));
	ASSERT_EQ(0, stat(P("f"), &a));
	usleep(20 * 1000);
	ASSERT_EQ(0, append(P("f"), "y"));
	ASSERT_EQ(0, stat(P("f"), &b));
	EXPECT_TRUE(b.st_mtim.tv_sec > a.st_mtim.tv_sec ||
		    (b.st_mtim.tv_sec == a.st_mtim.tv_sec &&
		     b.st_mtim.tv_nsec > a.st_mtim.tv_nsec));
}

TEST_F(fs, ctime_moves_on_chmod)
{
	struct stat a, b;

	ASSERT_EQ(0, touch(P("f"), "x"));
	ASSERT_EQ(0, stat(P("f"), &a));
	usleep(20 * 1000);
	ASSERT_EQ(0, chmod(P("f"), 0600));
	ASSERT_EQ(0, stat(P("f"), &b));
	EXPECT_TRUE(b.st_ctim.tv_sec > a.st_ctim.tv_sec ||
		    (b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
		     b.st_ctim.tv_nsec > a.st_ctim.tv_nsec));
}

/* ---- directories ---------------------------------------------------- */

TEST_F(fs, mkdir_and_stat)
{
	struct stat st;

	ASSERT_EQ(0, mkdir(P("d"), 0750));
	ASSERT_EQ(0, stat(P("d"), &st));
	EXPECT_TRUE(S_ISDIR(st.st_mode));
	EXPECT_EQ(0750, st.st_mode & 07777);
}

TEST_F(fs, mkdir_eexist)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, mkdir(P("d"), 0755));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, mkdir_over_file_eexist)
{
	ASSERT_EQ(0, touch(P("f"), "x"));
	EXPECT_EQ(-1, mkdir(P("f"), 0755));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, mkdir_in_missing_parent_enoent)
{
	EXPECT_EQ(-1, mkdir(P("a/b"), 0755));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, rmdir_empty)
{
	struct stat st;

	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, rmdir(P("d")));
	EXPECT_EQ(-1, stat(P("d"), &st));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, rmdir_enotempty)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, touch(P("d/f"), "x"));
	EXPECT_EQ(-1, rmdir(P("d")));
	EXPECT_EQ(ENOTEMPTY, errno);
}

TEST_F(fs, rmdir_enoent)
{
	EXPECT_EQ(-1, rmdir(P("d")));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, rmdir_file_enotdir)
{
	ASSERT_EQ(0, touch(P("f"), "x"));
	EXPECT_EQ(-1, rmdir(P("f")));
	EXPECT_EQ(ENOTDIR, errno);
}

TEST_F(fs, rmdir_dot_einval)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, rmdir(P("d/.")));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(fs, unlink_removes)
{
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), "x"));
	ASSERT_EQ(0, unlink(P("f")));
	EXPECT_EQ(-1, stat(P("f"), &st));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, unlink_enoent)
{
	EXPECT_EQ(-1, unlink(P("f")));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, unlink_dir_eisdir)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, unlink(P("d")));
	EXPECT_EQ(EISDIR, errno);
}

TEST_F(fs, chdir_and_relative_create)
{
	char cwd[PATH_MAX];
	struct stat st;

	ASSERT_NE(NULL, getcwd(cwd, sizeof(cwd)));
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, chdir(P("d")));
	EXPECT_EQ(0, touch("rel", "x"));
	ASSERT_EQ(0, chdir(cwd));
	EXPECT_EQ(0, stat(P("d/rel"), &st));
}

TEST_F(fs, stat_removed_dir_enoent)
{
	struct stat st;

	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, rmdir(P("d")));
	EXPECT_EQ(-1, stat(P("d"), &st));
	EXPECT_EQ(ENOENT, errno);
}

/* ---- readdir ------------------------------------------------------- */

TEST_F(fs, readdir_empty_has_dots)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(1, dir_has(P("d"), "."));
	EXPECT_EQ(1, dir_has(P("d"), ".."));
	EXPECT_EQ(2, dir_count(P("d")));
}

TEST_F(fs, readdir_lists_entries)
{
	char name[32];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ASSERT_EQ(0, touch(P(name), "x"));
	}
	EXPECT_EQ(12, dir_count(self->dir));
	EXPECT_EQ(1, dir_has(self->dir, "f7"));
}

TEST_F_TIMEOUT(fs, readdir_thousand_entries, 120)
{
	char name[64];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "entry-with-a-longish-name-%04d", i);
		ASSERT_EQ(0, touch(P(name), ""));
	}
	EXPECT_EQ(1002, dir_count(self->dir));
	EXPECT_EQ(1, dir_has(self->dir, "entry-with-a-longish-name-0999"));
}

TEST_F(fs, readdir_telldir_seekdir)
{
	struct dirent *de;
	char name[32], again[256];
	long pos;
	DIR *d;
	int i;

	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "e%03d", i);
		ASSERT_EQ(0, touch(P(name), ""));
	}
	d = opendir(self->dir);
	ASSERT_NE(NULL, d);
	for (i = 0; i < 150; i++)
		ASSERT_NE(NULL, readdir(d));
	pos = telldir(d);
	de = readdir(d);
	ASSERT_NE(NULL, de);
	snprintf(again, sizeof(again), "%s", de->d_name);
	for (i = 0; i < 20; i++)
		readdir(d);
	seekdir(d, pos);
	de = readdir(d);
	ASSERT_NE(NULL, de);
	EXPECT_STREQ(again, de->d_name);
	closedir(d);
}

TEST_F(fs, readdir_after_unlink)
{
	ASSERT_EQ(0, touch(P("a"), ""));
	ASSERT_EQ(0, touch(P("b"), ""));
	ASSERT_EQ(0, unlink(P("a")));
	EXPECT_EQ(0, dir_has(self->dir, "a"));
	EXPECT_EQ(1, dir_has(self->dir, "b"));
}

TEST_F(fs, readdir_d_type)
{
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, symlink("f", P("l")));
	EXPECT_EQ(DT_REG, dir_type(self->dir, "f"));
	EXPECT_EQ(DT_DIR, dir_type(self->dir, "d"));
	EXPECT_EQ(DT_LNK, dir_type(self->dir, "l"));
}

/* ---- symlinks ------------------------------------------------------ */

TEST_F(fs, symlink_readlink)
{
	char buf[64];
	ssize_t n;

	ASSERT_EQ(0, symlink("target/path", P("l")));
	n = readlink(P("l"), buf, sizeof(buf));
	ASSERT_EQ(11, n);
	EXPECT_EQ(0, memcmp(buf, "target/path", 11));
}

TEST_F(fs, symlink_long_target)
{
	char target[1001], buf[1100];

	memset(target, 't', 1000);
	target[1000] = '\0';
	ASSERT_EQ(0, symlink(target, P("l")));
	ASSERT_EQ(1000, readlink(P("l"), buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, target, 1000));
}

TEST_F(fs, symlink_eexist)
{
	ASSERT_EQ(0, touch(P("f"), ""));
	EXPECT_EQ(-1, symlink("x", P("f")));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, readlink_on_file_einval)
{
	char buf[8];

	ASSERT_EQ(0, touch(P("f"), ""));
	EXPECT_EQ(-1, readlink(P("f"), buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(fs, symlink_dangling)
{
	struct stat st;

	ASSERT_EQ(0, symlink("nowhere", P("l")));
	EXPECT_EQ(0, lstat(P("l"), &st));
	EXPECT_TRUE(S_ISLNK(st.st_mode));
	EXPECT_EQ(-1, stat(P("l"), &st));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, symlink_followed)
{
	char buf[16] = "";

	ASSERT_EQ(0, touch(P("f"), "through"));
	ASSERT_EQ(0, symlink("f", P("l")));
	EXPECT_EQ(7, slurp(P("l"), buf, sizeof(buf)));
	EXPECT_STREQ("through", buf);
}

/* ---- hard links ---------------------------------------------------- */

TEST_F(fs, link_counts)
{
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), "x"));
	ASSERT_EQ(0, link(P("f"), P("g")));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(2, st.st_nlink);
	ASSERT_EQ(0, unlink(P("f")));
	ASSERT_EQ(0, stat(P("g"), &st));
	EXPECT_EQ(1, st.st_nlink);
}

TEST_F(fs, link_shares_data)
{
	char buf[16] = "";

	ASSERT_EQ(0, touch(P("f"), "one"));
	ASSERT_EQ(0, link(P("f"), P("g")));
	ASSERT_EQ(0, touch(P("f"), "two"));
	EXPECT_EQ(3, slurp(P("g"), buf, sizeof(buf)));
	EXPECT_STREQ("two", buf);
}

TEST_F(fs, link_eexist)
{
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, touch(P("g"), ""));
	EXPECT_EQ(-1, link(P("f"), P("g")));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, link_enoent)
{
	EXPECT_EQ(-1, link(P("f"), P("g")));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, link_dir_eperm)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, link(P("d"), P("e")));
	EXPECT_EQ(EPERM, errno);
}

/* ---- rename -------------------------------------------------------- */

TEST_F(fs, rename_simple)
{
	char buf[8] = "";
	struct stat st;

	ASSERT_EQ(0, touch(P("a"), "abc"));
	ASSERT_EQ(0, rename(P("a"), P("b")));
	EXPECT_EQ(-1, stat(P("a"), &st));
	EXPECT_EQ(3, slurp(P("b"), buf, sizeof(buf)));
	EXPECT_STREQ("abc", buf);
}

TEST_F(fs, rename_over_existing_file)
{
	char buf[8] = "";
	struct stat st;

	ASSERT_EQ(0, touch(P("a"), "new"));
	ASSERT_EQ(0, touch(P("b"), "old!"));
	ASSERT_EQ(0, rename(P("a"), P("b")));
	EXPECT_EQ(3, slurp(P("b"), buf, sizeof(buf)));
	EXPECT_STREQ("new", buf);
	EXPECT_EQ(-1, stat(P("a"), &st));
	EXPECT_EQ(3, dir_count(self->dir));
}

TEST_F(fs, rename_across_dirs)
{
	struct stat st;

	ASSERT_EQ(0, mkdir(P("d1"), 0755));
	ASSERT_EQ(0, mkdir(P("d2"), 0755));
	ASSERT_EQ(0, touch(P("d1/f"), "x"));
	ASSERT_EQ(0, rename(P("d1/f"), P("d2/g")));
	EXPECT_EQ(0, stat(P("d2/g"), &st));
	EXPECT_EQ(0, dir_has(P("d1"), "f"));
}

TEST_F(fs, rename_dir_keeps_children)
{
	struct stat st;

	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, touch(P("d/child"), "x"));
	ASSERT_EQ(0, rename(P("d"), P("e")));
	EXPECT_EQ(0, stat(P("e/child"), &st));
}

TEST_F(fs, rename_dir_over_nonempty_dir)
{
	ASSERT_EQ(0, mkdir(P("a"), 0755));
	ASSERT_EQ(0, mkdir(P("b"), 0755));
	ASSERT_EQ(0, touch(P("b/f"), ""));
	EXPECT_EQ(-1, rename(P("a"), P("b")));
	EXPECT_TRUE(errno == ENOTEMPTY || errno == EEXIST);
}

TEST_F(fs, rename_dir_over_empty_dir)
{
	ASSERT_EQ(0, mkdir(P("a"), 0755));
	ASSERT_EQ(0, touch(P("a/f"), ""));
	ASSERT_EQ(0, mkdir(P("b"), 0755));
	ASSERT_EQ(0, rename(P("a"), P("b")));
	EXPECT_EQ(1, dir_has(P("b"), "f"));
}

TEST_F(fs, rename_file_over_dir_eisdir)
{
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, rename(P("f"), P("d")));
	EXPECT_EQ(EISDIR, errno);
}

TEST_F(fs, rename_dir_over_file_enotdir)
{
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, rename(P("d"), P("f")));
	EXPECT_EQ(ENOTDIR, errno);
}

TEST_F(fs, rename_enoent)
{
	EXPECT_EQ(-1, rename(P("a"), P("b")));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, rename_into_own_subdir_einval)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, mkdir(P("d/sub"), 0755));
	EXPECT_EQ(-1, rename(P("d"), P("d/sub/x")));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(fs, rename_noreplace_eexist)
{
	ASSERT_EQ(0, touch(P("a"), "a"));
	ASSERT_EQ(0, touch(P("b"), "b"));
	EXPECT_EQ(-1, renameat2(AT_FDCWD, P("a"), AT_FDCWD, P("b"),
				RENAME_NOREPLACE));
	EXPECT_EQ(EEXIST, errno);
}

/* Only a server announced as refusing rename flags may answer EINVAL. */
#define SKIP_IF_SERVER_REFUSES_RENAME_FLAGS(ret)			\
	do {								\
		if ((ret) && errno == EINVAL &&				\
		    getenv("FUSEURING_SERVER_NO_RENAME_FLAGS"))		\
			SKIP(return, "the server refuses rename flags (EINVAL)"); \
	} while (0)

TEST_F(fs, rename_noreplace_moves)
{
	struct stat st;
	int ret;

	ASSERT_EQ(0, touch(P("a"), "a"));
	ret = renameat2(AT_FDCWD, P("a"), AT_FDCWD, P("b"), RENAME_NOREPLACE);
	SKIP_IF_SERVER_REFUSES_RENAME_FLAGS(ret);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(0, stat(P("b"), &st));
	EXPECT_EQ(-1, stat(P("a"), &st));
}

TEST_F(fs, rename_exchange_swaps)
{
	char buf[8] = "";
	int ret;

	ASSERT_EQ(0, touch(P("a"), "AAA"));
	ASSERT_EQ(0, mkdir(P("b"), 0755));
	ret = renameat2(AT_FDCWD, P("a"), AT_FDCWD, P("b"), RENAME_EXCHANGE);
	SKIP_IF_SERVER_REFUSES_RENAME_FLAGS(ret);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(3, slurp(P("b"), buf, sizeof(buf)));
	EXPECT_STREQ("AAA", buf);
	EXPECT_EQ(1, is_dir(P("a")));
}

TEST_F(fs, rename_exchange_missing_enoent)
{
	ASSERT_EQ(0, touch(P("a"), "A"));
	EXPECT_EQ(-1, renameat2(AT_FDCWD, P("a"), AT_FDCWD, P("b"),
				RENAME_EXCHANGE));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, rename_open_file_stays_readable)
{
	char buf[8] = "";
	int fd;

	ASSERT_EQ(0, touch(P("a"), "keep"));
	fd = open(P("a"), O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, rename(P("a"), P("b")));
	EXPECT_EQ(4, pread(fd, buf, 4, 0));
	EXPECT_STREQ("keep", buf);
	close(fd);
}

TEST_F(fs, unlinked_open_file_stays_usable)
{
	char buf[8] = "";
	int fd;

	ASSERT_EQ(0, touch(P("a"), "gone"));
	fd = open(P("a"), O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unlink(P("a")));
	EXPECT_EQ(4, pread(fd, buf, 4, 0));
	EXPECT_STREQ("gone", buf);
	EXPECT_EQ(2, pwrite(fd, "GO", 2, 0));
	EXPECT_EQ(4, pread(fd, buf, 4, 0));
	EXPECT_STREQ("GOne", buf);
	close(fd);
}

/* ---- attributes ---------------------------------------------------- */

TEST_F(fs, chmod_changes_mode)
{
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, chmod(P("f"), 0751));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(0751, st.st_mode & 07777);
}

TEST_F(fs, fchmod_changes_mode)
{
	struct stat st;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0600);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fchmod(fd, 0604));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(0604, st.st_mode & 07777);
	close(fd);
}

TEST_F(fs, chown_changes_owner)
{
	struct stat st;

	if (geteuid() != 0)
		SKIP(return, "chown needs root");
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, chown(P("f"), 1234, 5678));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(1234, st.st_uid);
	EXPECT_EQ(5678, st.st_gid);
}

TEST_F(fs, utimensat_sets_times)
{
	struct timespec ts[2] = {
		{ .tv_sec = 1000000000, .tv_nsec = 0 },
		{ .tv_sec = 1200000000, .tv_nsec = 0 },
	};
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, utimensat(AT_FDCWD, P("f"), ts, 0));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(1000000000, st.st_atim.tv_sec);
	EXPECT_EQ(1200000000, st.st_mtim.tv_sec);
}

TEST_F(fs, utimensat_now)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_NOW },
	};
	struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, utimensat(AT_FDCWD, P("f"), old, 0));
	ASSERT_EQ(0, utimensat(AT_FDCWD, P("f"), ts, 0));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_LT(time(NULL) - 60, st.st_mtim.tv_sec);
}

TEST_F(fs, utimensat_omit_keeps)
{
	struct timespec set[2] = { { .tv_sec = 5000 }, { .tv_sec = 6000 } };
	struct timespec omit[2] = {
		{ .tv_sec = 7000 }, { .tv_nsec = UTIME_OMIT },
	};
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, utimensat(AT_FDCWD, P("f"), set, 0));
	ASSERT_EQ(0, utimensat(AT_FDCWD, P("f"), omit, 0));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(7000, st.st_atim.tv_sec);
	EXPECT_EQ(6000, st.st_mtim.tv_sec);
}

TEST_F(fs, mknod_fifo)
{
	struct stat st;

	ASSERT_EQ(0, mknod(P("p"), S_IFIFO | 0644, 0));
	ASSERT_EQ(0, stat(P("p"), &st));
	EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(fs, mknod_regular)
{
	struct stat st;

	ASSERT_EQ(0, mknod(P("r"), S_IFREG | 0600, 0));
	ASSERT_EQ(0, stat(P("r"), &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0, st.st_size);
}

TEST_F(fs, access_modes)
{
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, chmod(P("f"), 0644));
	EXPECT_EQ(0, access(P("f"), F_OK));
	EXPECT_EQ(0, access(P("f"), R_OK | W_OK));
	/* Even root needs one x bit to execute. */
	EXPECT_EQ(-1, access(P("f"), X_OK));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, access(P("nothere"), F_OK));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(fs, statfs_sane)
{
	struct statfs sf;

	ASSERT_EQ(0, statfs(self->dir, &sf));
	EXPECT_LT(0, sf.f_bsize);
	EXPECT_LT(0, sf.f_blocks);
	EXPECT_GE(sf.f_blocks, sf.f_bfree);
	EXPECT_LT(0, sf.f_namelen);
}

/* ---- data ---------------------------------------------------------- */

TEST_F(fs, write_read_small)
{
	char buf[32] = "";

	ASSERT_EQ(0, touch(P("f"), "hello, world"));
	EXPECT_EQ(12, slurp(P("f"), buf, sizeof(buf)));
	EXPECT_STREQ("hello, world", buf);
}

TEST_F(fs, write_read_unaligned_patterns)
{
	static const struct { off_t off; size_t len; } cases[] = {
		{ 1, 7 }, { 4095, 2 }, { 4097, 4093 }, { 12345, 7777 },
		{ 65535, 65537 }, { 3, 200000 }, { 150000, 5 },
	};
	const size_t size = 200003;
	unsigned char *shadow = calloc(1, size);
	size_t i;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_NE(NULL, shadow);
	ASSERT_LE(0, fd);
	/* Overlapping writes: the file must equal their replay in memory. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(0, pattern_write(fd, cases[i].off, cases[i].len, i));
		pattern_fill(shadow + cases[i].off, cases[i].off,
			     cases[i].len, i);
	}
	close(fd);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, file_equals(fd, shadow, size));
	close(fd);
	free(shadow);
}

TEST_F(fs, write_read_distinct_ranges)
{
	static const struct { off_t off; size_t len; } cases[] = {
		{ 1, 7 }, { 4095, 2 }, { 4099, 4093 }, { 12345, 7777 },
		{ 65535, 65537 }, { 300001, 99999 },
	};
	size_t i;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_EQ(0, pattern_write(fd, cases[i].off, cases[i].len, i));
	close(fd);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		EXPECT_EQ(0, pattern_check(fd, cases[i].off, cases[i].len, i))
			TH_LOG("case %zu", i);
	EXPECT_EQ(0, zero_check(fd, 8, 4095 - 8));
	close(fd);
}

TEST_F(fs, write_read_one_mib)
{
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pattern_write(fd, 0, 1 << 20, 42));
	close(fd);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, pattern_check(fd, 0, 1 << 20, 42));
	close(fd);
}

TEST_F(fs, write_past_eof_leaves_zeros)
{
	struct stat st;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(1, pwrite(fd, "x", 1, 100000));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(100001, st.st_size);
	EXPECT_EQ(0, zero_check(fd, 0, 100000));
	close(fd);
}

TEST_F(fs, read_at_eof_returns_zero)
{
	char buf[16];
	int fd;

	ASSERT_EQ(0, touch(P("f"), "abc"));
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, pread(fd, buf, sizeof(buf), 3));
	EXPECT_EQ(0, pread(fd, buf, sizeof(buf), 1000));
	close(fd);
}

TEST_F(fs, short_read_at_eof)
{
	char buf[16] = "";
	int fd;

	ASSERT_EQ(0, touch(P("f"), "abcdef"));
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(2, pread(fd, buf, sizeof(buf), 4));
	EXPECT_STREQ("ef", buf);
	close(fd);
}

TEST_F(fs, large_offset_beyond_4g)
{
	const off_t off = 5LL << 30;
	char buf[4] = "";
	struct stat st;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(3, pwrite(fd, "big", 3, off));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(off + 3, st.st_size);
	close(fd);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(3, pread(fd, buf, 3, off));
	EXPECT_STREQ("big", buf);
	close(fd);
}

TEST_F(fs, truncate_down)
{
	char buf[16] = "";
	struct stat st;

	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	ASSERT_EQ(0, truncate(P("f"), 4));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(4, st.st_size);
	EXPECT_EQ(4, slurp(P("f"), buf, sizeof(buf)));
	EXPECT_STREQ("0123", buf);
}

TEST_F(fs, truncate_up_zero_fills)
{
	struct stat st;
	int fd;

	ASSERT_EQ(0, touch(P("f"), "abc"));
	ASSERT_EQ(0, truncate(P("f"), 10000));
	ASSERT_EQ(0, stat(P("f"), &st));
	EXPECT_EQ(10000, st.st_size);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, zero_check(fd, 3, 10000 - 3));
	close(fd);
}

TEST_F(fs, truncate_down_then_up_zeroes_tail)
{
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pattern_write(fd, 0, 20000, 7));
	ASSERT_EQ(0, ftruncate(fd, 5000));
	ASSERT_EQ(0, ftruncate(fd, 20000));
	EXPECT_EQ(0, pattern_check(fd, 0, 5000, 7));
	EXPECT_EQ(0, zero_check(fd, 5000, 15000));
	close(fd);
}

TEST_F(fs, truncate_dir_eisdir)
{
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(-1, truncate(P("d"), 0));
	EXPECT_EQ(EISDIR, errno);
}

TEST_F(fs, append_single_writer)
{
	char buf[16] = "";
	int fd;

	ASSERT_EQ(0, touch(P("f"), "abc"));
	fd = open(P("f"), O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(3, write(fd, "def", 3));
	close(fd);
	EXPECT_EQ(6, slurp(P("f"), buf, sizeof(buf)));
	EXPECT_STREQ("abcdef", buf);
}

TEST_F(fs, append_two_writers)
{
	EXPECT_EQ(0, two_appenders(P("f"), 500));
}

TEST_F(fs, mmap_write_then_read)
{
	const size_t len = 3 * 4096 + 100;
	char *map;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	pattern_fill(map, 0, len, 9);
	ASSERT_EQ(0, msync(map, len, MS_SYNC));
	munmap(map, len);
	close(fd);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, pattern_check(fd, 0, len, 9));
	close(fd);
}

TEST_F(fs, mmap_write_visible_to_read_without_msync)
{
	char *map, buf[8] = "";
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 4096));
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	memcpy(map + 10, "mapped", 6);
	EXPECT_EQ(6, pread(fd, buf, 6, 10));
	EXPECT_STREQ("mapped", buf);
	munmap(map, 4096);
	close(fd);
}

TEST_F(fs, mmap_reads_written_data)
{
	char *map;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pattern_write(fd, 0, 10000, 3));
	map = mmap(NULL, 10000, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0, pattern_cmp(map, 0, 10000, 3));
	munmap(map, 10000);
	close(fd);
}

TEST_F(fs, mmap_private_not_written_back)
{
	char *map, buf[4] = "";
	int fd;

	ASSERT_EQ(0, touch(P("f"), "orig"));
	fd = open(P("f"), O_RDWR);
	ASSERT_LE(0, fd);
	map = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	memcpy(map, "COPY", 4);
	munmap(map, 4);
	close(fd);
	EXPECT_EQ(4, slurp(P("f"), buf, 5));
	EXPECT_EQ(0, memcmp(buf, "orig", 4));
}

TEST_F(fs, direct_io_write_read)
{
	const size_t len = 64 * 1024;
	void *buf;
	int fd = open(P("f"), O_CREAT | O_RDWR | O_DIRECT, 0644);

	ASSERT_LE(0, fd) TH_LOG("O_DIRECT open: %s", strerror(errno));
	ASSERT_EQ(0, posix_memalign(&buf, 4096, len));
	pattern_fill(buf, 8192, len, 11);
	EXPECT_EQ((ssize_t)len, pwrite(fd, buf, len, 8192));
	memset(buf, 0, len);
	EXPECT_EQ((ssize_t)len, pread(fd, buf, len, 8192));
	EXPECT_EQ(0, pattern_cmp(buf, 8192, len, 11));
	close(fd);
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, pattern_check(fd, 8192, len, 11));
	close(fd);
	free(buf);
}

TEST_F(fs, direct_then_buffered_coherent)
{
	void *buf;
	int dfd, fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pattern_write(fd, 0, 16384, 1));
	ASSERT_EQ(0, pattern_check(fd, 0, 16384, 1));	/* now cached */
	dfd = open(P("f"), O_RDWR | O_DIRECT);
	ASSERT_LE(0, dfd);
	ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
	pattern_fill(buf, 4096, 4096, 2);
	ASSERT_EQ(4096, pwrite(dfd, buf, 4096, 4096));
	EXPECT_EQ(0, pattern_check(fd, 4096, 4096, 2));
	EXPECT_EQ(0, pattern_check(fd, 0, 4096, 1));
	close(dfd);
	close(fd);
	free(buf);
}

TEST_F(fs, fsync_and_fdatasync)
{
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "fsync", 5));
	EXPECT_EQ(0, fsync(fd));
	EXPECT_EQ(0, fdatasync(fd));
	close(fd);
}

TEST_F(fs, fsync_directory)
{
	int fd = open(self->dir, O_RDONLY | O_DIRECTORY);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fsync(fd));
	close(fd);
}

TEST_F(fs, fallocate_keep_size)
{
	struct stat st;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(0, st.st_size);
	EXPECT_LE(65536 / 512, st.st_blocks);
	close(fd);
}

TEST_F(fs, fallocate_extends)
{
	struct stat st;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, 20000));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(20000, st.st_size);
	EXPECT_EQ(0, zero_check(fd, 0, 20000));
	close(fd);
}

TEST_F(fs, fallocate_punch_hole)
{
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pattern_write(fd, 0, 3 * 4096, 4));
	ASSERT_EQ(0, pattern_check(fd, 0, 3 * 4096, 4));
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       4096, 4096));
	EXPECT_EQ(0, pattern_check(fd, 0, 4096, 4));
	EXPECT_EQ(0, zero_check(fd, 4096, 4096));
	EXPECT_EQ(0, pattern_check(fd, 8192, 4096, 4));
	close(fd);
}

TEST_F(fs, lseek_data_and_hole)
{
	off_t data, hole;
	int fd = open(P("f"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	ASSERT_EQ(0, pattern_write(fd, 512 * 1024, 4096, 5));
	ASSERT_EQ(0, fsync(fd));
	data = lseek(fd, 0, SEEK_DATA);
	hole = lseek(fd, 512 * 1024, SEEK_HOLE);
	EXPECT_LE(0, data);
	EXPECT_GE(512 * 1024, data);
	EXPECT_LT(512 * 1024, hole);
	EXPECT_GE(1 << 20, hole);
	EXPECT_EQ(-1, lseek(fd, 2 << 20, SEEK_DATA));
	EXPECT_EQ(ENXIO, errno);
	close(fd);
}

TEST_F(fs, lseek_end)
{
	int fd;

	ASSERT_EQ(0, touch(P("f"), "12345"));
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(5, lseek(fd, 0, SEEK_END));
	EXPECT_EQ(3, lseek(fd, -2, SEEK_END));
	close(fd);
}

TEST_F(fs, copy_file_range_copies)
{
	loff_t in_off = 1000, out_off = 3;
	int in = open(P("a"), O_CREAT | O_RDWR, 0644);
	int out = open(P("b"), O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, in);
	ASSERT_LE(0, out);
	ASSERT_EQ(0, pattern_write(in, 0, 100000, 8));
	EXPECT_EQ(50000, copy_file_range(in, &in_off, out, &out_off, 50000, 0));
	EXPECT_EQ(51000, in_off);
	EXPECT_EQ(50003, out_off);
	close(out);
	out = open(P("b"), O_RDONLY);
	ASSERT_LE(0, out);
	EXPECT_EQ(0, zero_check(out, 0, 3));
	EXPECT_EQ(0, pattern_check_from(out, 3, 1000, 50000, 8));
	close(in);
	close(out);
}

TEST_F(fs, copy_file_range_across_mounts)
{
	const char *mnt2 = getenv("FUSEURING_MNT2");
	char other[PATH_MAX];
	int in, out;

	if (!mnt2)
		SKIP(return, "FUSEURING_MNT2 is not set: no second mount");
	snprintf(other, sizeof(other), "%s/cfr.%d", mnt2, getpid());
	in = open(P("a"), O_CREAT | O_RDWR, 0644);
	out = open(other, O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, in);
	ASSERT_LE(0, out);
	ASSERT_EQ(0, pattern_write(in, 0, 9000, 6));
	/* Either a copy by the VFS fallback or EXDEV; never wrong data. */
	if (copy_file_range(in, NULL, out, NULL, 9000, 0) == 9000) {
		EXPECT_EQ(0, pattern_check(out, 0, 9000, 6));
	} else {
		EXPECT_EQ(EXDEV, errno);
	}
	close(in);
	close(out);
	unlink(other);
}

/* ---- cross-mount ---------------------------------------------------- */

TEST_F(fs, rename_across_mounts_exdev)
{
	const char *mnt2 = getenv("FUSEURING_MNT2");
	char other[PATH_MAX];

	if (!mnt2)
		SKIP(return, "FUSEURING_MNT2 is not set: no second mount");
	snprintf(other, sizeof(other), "%s/x.%d", mnt2, getpid());
	ASSERT_EQ(0, touch(P("f"), ""));
	EXPECT_EQ(-1, rename(P("f"), other));
	EXPECT_EQ(EXDEV, errno);
}

TEST_F(fs, link_across_mounts_exdev)
{
	const char *mnt2 = getenv("FUSEURING_MNT2");
	char other[PATH_MAX];

	if (!mnt2)
		SKIP(return, "FUSEURING_MNT2 is not set: no second mount");
	snprintf(other, sizeof(other), "%s/y.%d", mnt2, getpid());
	ASSERT_EQ(0, touch(P("f"), ""));
	EXPECT_EQ(-1, link(P("f"), other));
	EXPECT_EQ(EXDEV, errno);
}

/* ---- xattrs -------------------------------------------------------- */

/*
 * User xattrs reach the server's backing filesystem, which may have none
 * (tmpfs before 6.6): then the checks are skipped, on every transport.
 */
static int user_xattrs(const char *dir)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/.xattr-probe", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd < 0)
		return 1;
	r = fsetxattr(fd, "user.probe", "1", 1, 0);
	close(fd);
	unlink(path);
	return r == 0 || (errno != ENOTSUP && errno != EOPNOTSUPP);
}

#define NEED_USER_XATTRS() do {						\
	if (!user_xattrs(self->dir))					\
		SKIP(return, "the server's backing filesystem has no user xattrs"); \
} while (0)

TEST_F(fs, xattr_set_get)
{
	char buf[32] = "";

	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, setxattr(P("f"), "user.k", "value", 5, 0));
	EXPECT_EQ(5, getxattr(P("f"), "user.k", buf, sizeof(buf)));
	EXPECT_STREQ("value", buf);
}

TEST_F(fs, xattr_size_probe)
{
	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, setxattr(P("f"), "user.k", "12345678", 8, 0));
	EXPECT_EQ(8, getxattr(P("f"), "user.k", NULL, 0));
}

TEST_F(fs, xattr_small_buffer_erange)
{
	char buf[2];

	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, setxattr(P("f"), "user.k", "12345678", 8, 0));
	EXPECT_EQ(-1, getxattr(P("f"), "user.k", buf, sizeof(buf)));
	EXPECT_EQ(ERANGE, errno);
}

TEST_F(fs, xattr_missing_enodata)
{
	char buf[8];

	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	EXPECT_EQ(-1, getxattr(P("f"), "user.none", buf, sizeof(buf)));
	EXPECT_EQ(ENODATA, errno);
}

TEST_F(fs, xattr_list)
{
	char buf[256];
	ssize_t n;

	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, setxattr(P("f"), "user.one", "1", 1, 0));
	ASSERT_EQ(0, setxattr(P("f"), "user.two", "2", 1, 0));
	n = listxattr(P("f"), buf, sizeof(buf));
	ASSERT_LT(0, n);
	EXPECT_TRUE(list_has(buf, n, "user.one"));
	EXPECT_TRUE(list_has(buf, n, "user.two"));
	EXPECT_EQ(n, listxattr(P("f"), NULL, 0));
}

TEST_F(fs, xattr_remove)
{
	char buf[8];

	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, setxattr(P("f"), "user.k", "v", 1, 0));
	ASSERT_EQ(0, removexattr(P("f"), "user.k"));
	EXPECT_EQ(-1, getxattr(P("f"), "user.k", buf, sizeof(buf)));
	EXPECT_EQ(ENODATA, errno);
	EXPECT_EQ(-1, removexattr(P("f"), "user.k"));
	EXPECT_EQ(ENODATA, errno);
}

TEST_F(fs, xattr_create_flag_eexist)
{
	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	ASSERT_EQ(0, setxattr(P("f"), "user.k", "v", 1, XATTR_CREATE));
	EXPECT_EQ(-1, setxattr(P("f"), "user.k", "w", 1, XATTR_CREATE));
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(fs, xattr_replace_flag_enodata)
{
	NEED_USER_XATTRS();
	ASSERT_EQ(0, touch(P("f"), ""));
	EXPECT_EQ(-1, setxattr(P("f"), "user.k", "v", 1, XATTR_REPLACE));
	EXPECT_EQ(ENODATA, errno);
}

TEST_F(fs, xattr_on_directory)
{
	char buf[8] = "";

	NEED_USER_XATTRS();
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	ASSERT_EQ(0, setxattr(P("d"), "user.d", "dir", 3, 0));
	EXPECT_EQ(3, getxattr(P("d"), "user.d", buf, sizeof(buf)));
	EXPECT_STREQ("dir", buf);
}

/* ---- locks --------------------------------------------------------- */

TEST_F(fs, posix_lock_conflict_seen_by_other_process)
{
	int fd;

	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	fd = open(P("f"), O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lock_range(fd, F_SETLK, F_WRLCK, 0, 5));
	/* The child sees our lock with GETLK and cannot take it. */
	EXPECT_EQ(0, child_lock_probe(P("f"), 0, 5, getpid()));
	/* A disjoint range is free. */
	EXPECT_EQ(0, child_lock_probe(P("f"), 5, 5, 0));
	close(fd);
}

TEST_F(fs, posix_lock_released_on_unlock)
{
	int fd;

	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	fd = open(P("f"), O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lock_range(fd, F_SETLK, F_WRLCK, 0, 10));
	ASSERT_EQ(0, lock_range(fd, F_SETLK, F_UNLCK, 0, 10));
	EXPECT_EQ(0, child_lock_probe(P("f"), 0, 10, 0));
	close(fd);
}

TEST_F(fs, posix_lock_released_on_close)
{
	int fd;

	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	fd = open(P("f"), O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lock_range(fd, F_SETLK, F_WRLCK, 0, 10));
	close(fd);
	EXPECT_EQ(0, child_lock_probe(P("f"), 0, 10, 0));
}

TEST_F(fs, posix_setlkw_waits_for_release)
{
	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	EXPECT_EQ(0, setlkw_handoff(P("f")));
}

TEST_F(fs, posix_read_locks_share)
{
	int fd;

	ASSERT_EQ(0, touch(P("f"), "0123456789"));
	fd = open(P("f"), O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lock_range(fd, F_SETLK, F_RDLCK, 0, 10));
	EXPECT_EQ(0, child_read_lock(P("f")));
	close(fd);
}

TEST_F(fs, flock_exclusive_conflicts)
{
	int a, b;

	ASSERT_EQ(0, touch(P("f"), ""));
	a = open(P("f"), O_RDONLY);
	b = open(P("f"), O_RDONLY);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, flock(a, LOCK_EX | LOCK_NB));
	EXPECT_EQ(-1, flock(b, LOCK_EX | LOCK_NB));
	EXPECT_EQ(EWOULDBLOCK, errno);
	ASSERT_EQ(0, flock(a, LOCK_UN));
	EXPECT_EQ(0, flock(b, LOCK_EX | LOCK_NB));
	close(a);
	close(b);
}

TEST_F(fs, flock_shared_compatible)
{
	int a, b;

	ASSERT_EQ(0, touch(P("f"), ""));
	a = open(P("f"), O_RDONLY);
	b = open(P("f"), O_RDONLY);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	EXPECT_EQ(0, flock(a, LOCK_SH | LOCK_NB));
	EXPECT_EQ(0, flock(b, LOCK_SH | LOCK_NB));
	close(a);
	close(b);
}

TEST_F(fs, flock_released_on_close)
{
	int a, b;

	ASSERT_EQ(0, touch(P("f"), ""));
	a = open(P("f"), O_RDONLY);
	ASSERT_LE(0, a);
	ASSERT_EQ(0, flock(a, LOCK_EX | LOCK_NB));
	close(a);
	b = open(P("f"), O_RDONLY);
	ASSERT_LE(0, b);
	EXPECT_EQ(0, flock(b, LOCK_EX | LOCK_NB));
	close(b);
}

/* ---- permissions (default_permissions, allow_other) ---------------- */

TEST_F(fs, perm_other_user_denied_private_file)
{
	if (!getenv("FUSEURING_DEFAULT_PERMISSIONS") || geteuid() != 0)
		SKIP(return, "needs root and a default_permissions,allow_other mount");
	ASSERT_EQ(0, touch(P("f"), "secret"));
	ASSERT_EQ(0, chmod(P("f"), 0600));
	EXPECT_EQ(EACCES, as_user_open(P("f"), O_RDONLY, 1000));
}

TEST_F(fs, perm_other_user_reads_public_file)
{
	if (!getenv("FUSEURING_DEFAULT_PERMISSIONS") || geteuid() != 0)
		SKIP(return, "needs root and a default_permissions,allow_other mount");
	ASSERT_EQ(0, touch(P("f"), "public"));
	ASSERT_EQ(0, chmod(P("f"), 0644));
	EXPECT_EQ(0, as_user_open(P("f"), O_RDONLY, 1000));
	EXPECT_EQ(EACCES, as_user_open(P("f"), O_WRONLY, 1000));
}

TEST_F(fs, perm_other_user_no_search_in_dir)
{
	if (!getenv("FUSEURING_DEFAULT_PERMISSIONS") || geteuid() != 0)
		SKIP(return, "needs root and a default_permissions,allow_other mount");
	ASSERT_EQ(0, mkdir(P("d"), 0700));
	ASSERT_EQ(0, touch(P("d/f"), ""));
	ASSERT_EQ(0, chmod(P("d/f"), 0644));
	EXPECT_EQ(EACCES, as_user_open(P("d/f"), O_RDONLY, 1000));
}

TEST_F(fs, perm_other_user_cannot_create_in_root_dir)
{
	if (!getenv("FUSEURING_DEFAULT_PERMISSIONS") || geteuid() != 0)
		SKIP(return, "needs root and a default_permissions,allow_other mount");
	ASSERT_EQ(0, mkdir(P("d"), 0755));
	EXPECT_EQ(EACCES, as_user_open(P("d/new"), O_CREAT | O_WRONLY, 1000));
}

/* ---- workloads ------------------------------------------------------ */

TEST_F_TIMEOUT(fs, random_ops_match_tmpfs, 300)
{
	const char *ref = getenv("FUSEURING_REF") ?: "/tmp";
	char refdir[PATH_MAX];

	snprintf(refdir, sizeof(refdir), "%s/semref.XXXXXX", ref);
	ASSERT_NE(NULL, mkdtemp(refdir));
	EXPECT_EQ(0, random_exerciser(self->dir, refdir, 10000, 20261122));
	rm_rf(refdir);
}

TEST_F_TIMEOUT(fs, parallel_create_write_read_unlink, 300)
{
	EXPECT_EQ(0, parallel_files(self->dir, 2, 100));
}

TEST_F_TIMEOUT(fs, parallel_writers_disjoint_ranges, 300)
{
	EXPECT_EQ(0, parallel_ranges(P("shared"), 2, 64));
}

/* ---- server behaviour (needs the passthrough's --test-hooks) ------ */

TEST_F(fs, interrupt_blocked_read)
{
	if (!getenv("FUSEURING_HOOKS"))
		SKIP(return, "FUSEURING_HOOKS is not set: server has no test hooks");
	ASSERT_EQ(0, touch(P("block-1"), "will block"));
	EXPECT_EQ(0, interrupted_read(P("block-1"), 5));
}

TEST_F(fs, server_death_mid_request)
{
	const char *mnt3 = getenv("FUSEURING_MNT3");
	const char *pid3 = getenv("FUSEURING_SERVER3_PID");

	if (mnt3 && pid3 && !getenv("FUSEURING_HOOKS")) {
		EXPECT_EQ(0, server_killed(mnt3, atoi(pid3), 5));
		return;
	}
	if (!getenv("FUSEURING_HOOKS") || !mnt3)
		SKIP(return, "FUSEURING_HOOKS or FUSEURING_MNT3 not set: no server to kill");
	EXPECT_EQ(0, server_death(mnt3, 5));
}

TEST_HARNESS_MAIN
