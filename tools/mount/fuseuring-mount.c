// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring-mount: mount a fuseuring filesystem and hand its device fd to
 * a FUSE daemon that accepts "/dev/fd/N" as its mountpoint (libfuse 3.3
 * and later do), so stock libfuse3 servers run on fuseuring unchanged.
 *
 *   fuseuring-mount [--dev PATH] [--fstype NAME] [-o OPTS] MOUNTPOINT DAEMON [ARG...]
 *
 * Every ARG equal to MOUNTPOINT or to "%m" becomes /dev/fd/N.  The
 * daemon serves until the filesystem is unmounted (umount MOUNTPOINT).
 * --dev and --fstype select another FUSE device and filesystem type
 * (/dev/fuse and "fuse" run the same daemon on the kernel's own FUSE).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fuseuring-mount [--dev PATH] [--fstype NAME] [-o OPTS] MOUNTPOINT DAEMON [ARG...]\n"
		"  Mounts NAME (default fuseuring) at MOUNTPOINT over PATH (default\n"
		"  /dev/fuseuring) and runs DAEMON with every ARG equal to MOUNTPOINT\n"
		"  or %%m replaced by /dev/fd/N, the open device.\n"
		"  -o OPTS  more mount options (allow_other, default_permissions,\n"
		"           max_read=N, blksize=N, subtype=NAME)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "fstype", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dev = "/dev/fuseuring", *fstype = "fuseuring";
	const char *extra = NULL, *mnt;
	char opts[4096], fdpath[32];
	struct stat st;
	int c, fd, i, n;

	while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 't':
			fstype = optarg;
			break;
		case 'o':
			extra = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return 2;
	}
	mnt = argv[optind];

	if (stat(mnt, &st)) {
		fprintf(stderr, "fuseuring-mount: %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	/* Not O_CLOEXEC: the daemon inherits it. */
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "fuseuring-mount: open %s: %s%s\n", dev,
			strerror(errno),
			errno == ENOENT ? " (is fuseuring.ko loaded?)" : "");
		return 1;
	}
	n = snprintf(opts, sizeof(opts), "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s",
		     fd, st.st_mode & S_IFMT, getuid(), getgid(),
		     extra ? "," : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(opts)) {
		fprintf(stderr, "fuseuring-mount: mount options too long\n");
		return 2;
	}
	if (mount(fstype, mnt, fstype, MS_NOSUID | MS_NODEV, opts)) {
		fprintf(stderr, "fuseuring-mount: mount -t %s -o %s %s: %s%s\n",
			fstype, opts, mnt, strerror(errno),
			errno == ENODEV ? " (is the filesystem type registered?)" :
			errno == EINVAL ? " (the kernel log says which option)" : "");
		return 1;
	}

	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	for (i = optind + 2; i < argc; i++)
		if (!strcmp(argv[i], mnt) || !strcmp(argv[i], "%m"))
			argv[i] = fdpath;
	execvp(argv[optind + 1], &argv[optind + 1]);
	fprintf(stderr, "fuseuring-mount: exec %s: %s\n", argv[optind + 1],
		strerror(errno));
	/* Nobody will serve it: do not leave a dead mount behind. */
	close(fd);
	umount2(mnt, MNT_DETACH);
	return 127;
}
