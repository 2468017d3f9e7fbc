// SPDX-License-Identifier: GPL-2.0
/*
 * The module loads, registers /dev/fuseuring and the fuseuring filesystem
 * type, refuses bad mounts with EINVAL and a kernel log line saying why,
 * and unloads.  The tests run in order: load first, unload last.
 *
 * FUSEURING_KO names the module file (default: fuseuring.ko).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fuseuring.h>

#include "kselftest_harness.h"

#define MNT "/tmp/fuseuring-module-basic"

static bool module_loaded(void)
{
	return access("/sys/module/fuseuring", F_OK) == 0;
}

/* Open /dev/kmsg positioned after the last record. */
static int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Whether a kernel log record written since kmsg_open_at_end() has @text. */
static bool kmsg_has(int fd, const char *text)
{
	char rec[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: keep reading */
		if (n <= 0)
			return false;
		rec[n] = '\0';
		if (strstr(rec, text))
			return true;
	}
}

/*
 * mount(2) with @opts; returns the errno (0 on success) and whether the
 * kernel logged @why meanwhile.
 */
static int try_mount(const char *opts, const char *why, bool *logged)
{
	int kmsg = kmsg_open_at_end();
	int err = 0;

	mkdir(MNT, 0755);
	if (mount("fuseuring", MNT, FUSEURING_FS_TYPE, 0, opts) < 0)
		err = errno;
	else
		umount2(MNT, MNT_DETACH);
	*logged = kmsg >= 0 && kmsg_has(kmsg, why);
	if (kmsg >= 0)
		close(kmsg);
	return err;
}

TEST(load)
{
	const char *ko = getenv("FUSEURING_KO") ?: "fuseuring.ko";
	int fd;

	if (module_loaded())
		SKIP(return, "fuseuring is already loaded");
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", ko, strerror(errno));
	ASSERT_EQ(0, syscall(SYS_finit_module, fd, "", 0))
		TH_LOG("finit_module: %s", strerror(errno));
	close(fd);
	ASSERT_TRUE(module_loaded());
}

TEST(device_node)
{
	struct stat st;

	ASSERT_EQ(0, stat("/dev/" FUSEURING_DEV_NAME, &st))
		TH_LOG("stat /dev/fuseuring: %s", strerror(errno));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(FUSEURING_DEV_MODE, st.st_mode & 07777);
	EXPECT_EQ(10, major(st.st_rdev));	/* a misc device */
}

TEST(device_opens)
{
	int fd = open("/dev/" FUSEURING_DEV_NAME, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
	close(fd);
}

TEST(filesystem_registered)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "r");

	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "nodev\t" FUSEURING_FS_TYPE "\n"))
			found = true;
	fclose(f);
	EXPECT_TRUE(found);
}

TEST(mount_without_fd)
{
	bool logged;

	EXPECT_EQ(EINVAL, try_mount("rootmode=40000,user_id=0,group_id=0",
				    "fuseuring: missing fd= option", &logged));
	EXPECT_TRUE(logged);
}

TEST(mount_fd_not_device)
{
	char opts[128];
	bool logged;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
	EXPECT_EQ(EINVAL, try_mount(opts, "is not /dev/fuseuring", &logged));
	EXPECT_TRUE(logged);
	close(fd);
}

TEST(mount_bad_fd)
{
	bool logged;

	EXPECT_EQ(EINVAL, try_mount("fd=1000,rootmode=40000,user_id=0,group_id=0",
				    "fd=1000 is not an open file", &logged));
	EXPECT_TRUE(logged);
}

TEST(mount_bad_rootmode)
{
	char opts[128];
	bool logged;
	int fd = open("/dev/" FUSEURING_DEV_NAME, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=7,user_id=0,group_id=0",
		 fd);
	EXPECT_EQ(EINVAL, try_mount(opts, "rootmode=7", &logged));
	EXPECT_TRUE(logged);
	close(fd);
}

TEST(mount_missing_rootmode)
{
	char opts[128];
	bool logged;
	int fd = open("/dev/" FUSEURING_DEV_NAME, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	snprintf(opts, sizeof(opts), "fd=%d,user_id=0,group_id=0", fd);
	EXPECT_EQ(EINVAL, try_mount(opts, "missing rootmode= option",
				    &logged));
	EXPECT_TRUE(logged);
	close(fd);
}

TEST(mount_unknown_option)
{
	bool logged;

	EXPECT_EQ(EINVAL, try_mount("bogus=1", "Unknown parameter 'bogus'",
				    &logged));
	EXPECT_TRUE(logged);
}

TEST(unload)
{
	ASSERT_TRUE(module_loaded());
	ASSERT_EQ(0, syscall(SYS_delete_module, "fuseuring", O_NONBLOCK))
		TH_LOG("delete_module: %s", strerror(errno));
	EXPECT_FALSE(module_loaded());
	EXPECT_NE(0, access("/dev/" FUSEURING_DEV_NAME, F_OK));
}

TEST_HARNESS_MAIN
