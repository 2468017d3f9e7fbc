/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A raw FUSE server for the fault and fuzz tests: it speaks the wire
 * protocol by hand over the classic device, so a test can answer, hold,
 * corrupt or drop any message and does not depend on libfuseuring.
 *
 * The root is a directory (nodeid 1); LOOKUP of a name the test does not
 * handle is ENOENT.  Run it in a child process: the test is the client.
 */
#ifndef RAW_SERVER_H
#define RAW_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fuseuring.h>

#define RAW_BUFSIZE	(1 << 20)

struct raw_req {
	struct fuse_in_header h;
	char *arg;		/* the op's arguments */
	size_t arglen;
};

static inline const char *raw_dev(void)
{
	return getenv("FUSEURING_DEV") ?: "/dev/" FUSEURING_DEV_NAME;
}

static inline const char *raw_fstype(void)
{
	return getenv("FUSEURING_FSTYPE") ?: FUSEURING_FS_TYPE;
}

/*
 * Load FUSEURING_KO (default fuseuring.ko) unless the module is in, or
 * the tests run on another device (FUSEURING_DEV); 0 or -errno.
 */
static inline int raw_load_module(void)
{
	const char *ko = getenv("FUSEURING_KO") ?: "fuseuring.ko";
	int fd, ret;

	if (getenv("FUSEURING_DEV") || !access("/sys/module/fuseuring", F_OK))
		return 0;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(__NR_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

/* Open the device and mount it at mnt; returns the device fd or -errno. */
static inline int raw_mount(const char *mnt, const char *extra)
{
	char opts[256];
	int fd = open(raw_dev(), O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0%s%s", fd,
		 extra ? "," : "", extra ? extra : "");
	if (mount("raw", mnt, raw_fstype(), 0, opts)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Mount mnt (raw_mount()) and serve it from a child process running
 * serve(fd), which must not return; the child's pid or -errno.  Only
 * the child keeps the device open: its death ends the connection.
 */
static inline pid_t raw_spawn_server(const char *mnt, const char *extra,
				     void (*serve)(int fd))
{
	int fd = raw_mount(mnt, extra), err;
	pid_t pid;

	if (fd < 0)
		return fd;
	pid = fork();
	if (pid == 0)
		serve(fd);
	err = pid < 0 ? -errno : 0;
	close(fd);
	return err ? err : pid;
}

/* Memory shared with the child processes forked after; NULL if none. */
static inline void *raw_shared_mem(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Read one request into buf; 0 or -errno (ENODEV once unmounted). */
static inline int raw_read(int fd, char *buf, struct raw_req *req)
{
	ssize_t n;

	do {
		n = read(fd, buf, RAW_BUFSIZE);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(req->h))
		return -EPROTO;
	memcpy(&req->h, buf, sizeof(req->h));
	req->arg = buf + sizeof(req->h);
	req->arglen = n - sizeof(req->h);
	return 0;
}

/* Write a reply: header then payload; returns write()'s errno or 0. */
static inline int raw_reply(int fd, uint64_t unique, int error,
			    const void *payload, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = error, .unique = unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { (void *)payload, len },
	};

	return writev(fd, iov, len ? 2 : 1) < 0 ? -errno : 0;
}

static inline void raw_fill_attr(struct fuse_attr *a, uint64_t ino,
				 uint32_t mode)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = mode;
	a->nlink = S_ISDIR(mode) ? 2 : 1;
	a->blksize = 4096;
}

/*
 * The entry of one node (LOOKUP, and the first half of a CREATE reply):
 * mode and size, name and attributes cached for valid seconds.
 */
static inline void raw_fill_entry(struct fuse_entry_out *e, uint64_t nodeid,
				  uint32_t mode, uint64_t size, uint64_t valid)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = nodeid;
	e->entry_valid = valid;
	e->attr_valid = valid;
	raw_fill_attr(&e->attr, nodeid, mode);
	e->attr.size = size;
}

/* Answer a LOOKUP with raw_fill_entry()'s entry; as raw_reply(). */
static inline int raw_reply_entry(int fd, uint64_t unique, uint64_t nodeid,
				  uint32_t mode, uint64_t size, uint64_t valid)
{
	struct fuse_entry_out e;

	raw_fill_entry(&e, nodeid, mode, size, valid);
	return raw_reply(fd, unique, 0, &e, sizeof(e));
}

/* Answer a GETATTR: mode and size, cached for valid seconds. */
static inline int raw_reply_attr(int fd, uint64_t unique, uint64_t nodeid,
				 uint32_t mode, uint64_t size, uint64_t valid)
{
	struct fuse_attr_out ao;

	memset(&ao, 0, sizeof(ao));
	ao.attr_valid = valid;
	raw_fill_attr(&ao.attr, nodeid, mode);
	ao.attr.size = size;
	return raw_reply(fd, unique, 0, &ao, sizeof(ao));
}

/* An INIT reply with the protocol the kernel offered and no flags. */
static inline struct fuse_init_out raw_init_out(const struct raw_req *req)
{
	const struct fuse_init_in *in = (const void *)req->arg;
	struct fuse_init_out out = {
		.major = FUSE_KERNEL_VERSION,
		.minor = in->minor,
		.max_readahead = in->max_readahead,
		.max_write = 128 * 1024,
		.max_background = 64,
		.congestion_threshold = 48,
		.time_gran = 1,
	};

	return out;
}

static inline int raw_reply_init(int fd, const struct raw_req *req)
{
	struct fuse_init_out out = raw_init_out(req);

	return raw_reply(fd, req->h.unique, 0, &out, sizeof(out));
}

/*
 * The default answers: INIT, the root's GETATTR, OPENDIR/RELEASEDIR,
 * ENOENT for LOOKUP, ENOSYS for the rest; FORGET has no reply.
 * Returns 1 when it answered, 0 for a request it leaves to the caller.
 */
static inline int raw_default(int fd, const struct raw_req *req)
{
	struct fuse_open_out oo;

	switch (req->h.opcode) {
	case FUSE_INIT:
		raw_reply_init(fd, req);
		return 1;
	case FUSE_GETATTR:
		if (req->h.nodeid != FUSE_ROOT_ID)
			return 0;
		raw_reply_attr(fd, req->h.unique, FUSE_ROOT_ID, S_IFDIR | 0755,
			       0, 0);
		return 1;
	case FUSE_OPENDIR:
		memset(&oo, 0, sizeof(oo));
		raw_reply(fd, req->h.unique, 0, &oo, sizeof(oo));
		return 1;
	case FUSE_RELEASEDIR:
	case FUSE_INTERRUPT:
	case FUSE_DESTROY:
		if (req->h.opcode != FUSE_INTERRUPT)
			raw_reply(fd, req->h.unique, 0, NULL, 0);
		return 1;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		return 1;
	case FUSE_LOOKUP:
		raw_reply(fd, req->h.unique, -ENOENT, NULL, 0);
		return 1;
	}
	raw_reply(fd, req->h.unique, -ENOSYS, NULL, 0);
	return 1;
}

static inline double raw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait for pid up to limit seconds; its exit status, or -1 on timeout. */
static inline int raw_wait(pid_t pid, double limit)
{
	double t0 = raw_now();
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (raw_now() - t0 > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10 * 1000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif /* RAW_SERVER_H */
