// SPDX-License-Identifier: GPL-2.0
/*
 * passthrough: mirror a directory through FUSE, on libfuseuring.
 *
 *   passthrough [options] SOURCE MOUNTPOINT
 *
 * Each node is an O_PATH file descriptor of the source tree, found again
 * by (st_dev, st_ino) so that hard links are one node; its address is the
 * node id.  The kernel's lookups are counted and FORGET closes the node.
 * Locks are left to the kernel (POSIX_LOCKS and FLOCK_LOCKS are not
 * asked for): they are then exact within the mount.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "libfuseuring.h"

struct node {
	int fd;				/* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	char name[64];			/* the last name it was found by */
	struct node *next;
};

struct dirh {
	DIR *dp;
	long offset;			/* telldir() of the next entry */
	struct dirent *entry;		/* read but not yet sent */
};

static struct {
	struct node root;
	struct node *nodes;
	pthread_mutex_t lock;
	double timeout;
	bool hooks, direct_io, keep_cache, writeback, stats, zero_copy;
	/* READs and WRITEs whose data came zero-copy (for --stats). */
	_Atomic uint64_t zero_copied;
	const char *mountpoint;
	FILE *trace;
	pthread_mutex_t trace_lock;
} pt = { .trace_lock = PTHREAD_MUTEX_INITIALIZER, .timeout = 1.0, .lock = PTHREAD_MUTEX_INITIALIZER };

static struct node *node_of(uint64_t nodeid)
{
	return nodeid == FUSE_ROOT_ID ? &pt.root : (struct node *)(uintptr_t)nodeid;
}

static uint64_t id_of(struct node *n)
{
	return n == &pt.root ? FUSE_ROOT_ID : (uint64_t)(uintptr_t)n;
}

static void set_timeout(uint64_t *sec, uint32_t *nsec)
{
	*sec = (uint64_t)pt.timeout;
	*nsec = (uint32_t)((pt.timeout - (double)*sec) * 1e9);
}

static const char *proc_path(int fd, char *buf)
{
	sprintf(buf, "/proc/self/fd/%d", fd);
	return buf;
}

/* Find name in parent: a node with one more lookup, in e. */
static int do_lookup(struct node *parent, const char *name,
		     struct fuse_entry_out *e)
{
	struct node *n;
	struct stat st;
	int fd;

	memset(e, 0, sizeof(*e));
	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		int err = -errno;

		close(fd);
		return err;
	}
	pthread_mutex_lock(&pt.lock);
	for (n = pt.nodes; n; n = n->next)
		if (n->dev == st.st_dev && n->ino == st.st_ino)
			break;
	if (n) {
		close(fd);
	} else {
		n = calloc(1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&pt.lock);
			close(fd);
			return -ENOMEM;
		}
		n->fd = fd;
		n->dev = st.st_dev;
		n->ino = st.st_ino;
		n->next = pt.nodes;
		pt.nodes = n;
	}
	n->nlookup++;
	snprintf(n->name, sizeof(n->name), "%s", name);
	pthread_mutex_unlock(&pt.lock);
	e->nodeid = id_of(n);
	fur_stat_to_attr(&st, &e->attr);
	set_timeout(&e->entry_valid, &e->entry_valid_nsec);
	set_timeout(&e->attr_valid, &e->attr_valid_nsec);
	return 0;
}

static void forget_node(uint64_t nodeid, uint64_t nlookup, void *priv)
{
	struct node *n = node_of(nodeid), **pp;

	(void)priv;
	if (n == &pt.root)
		return;
	pthread_mutex_lock(&pt.lock);
	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	if (!n->nlookup) {
		for (pp = &pt.nodes; *pp; pp = &(*pp)->next)
			if (*pp == n) {
				*pp = n->next;
				break;
			}
		close(n->fd);
		free(n);
	}
	pthread_mutex_unlock(&pt.lock);
}

static int reply_lookup(struct fur_req *req, struct node *parent,
			const char *name)
{
	struct fuse_entry_out e;
	int err = do_lookup(parent, name, &e);

	if (err == -ENOENT) {
		/* A negative entry the kernel may cache. */
		memset(&e, 0, sizeof(e));
		set_timeout(&e.entry_valid, &e.entry_valid_nsec);
		return fur_reply_entry(req, &e);
	}
	return err ? fur_reply_err(req, -err) : fur_reply_entry(req, &e);
}

static int reply_new(struct fur_req *req, struct node *parent,
		     const char *name, int err)
{
	struct fuse_entry_out e;

	if (err)
		return fur_reply_err(req, err);
	err = do_lookup(parent, name, &e);
	return err ? fur_reply_err(req, -err) : fur_reply_entry(req, &e);
}

static int do_getattr(struct fur_req *req, struct node *n, int fh)
{
	struct fuse_attr_out out = {};
	struct stat st;
	int r = fh >= 0 ? fstat(fh, &st) :
		fstatat(n->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);

	if (r)
		return fur_reply_err(req, errno);
	fur_stat_to_attr(&st, &out.attr);
	set_timeout(&out.attr_valid, &out.attr_valid_nsec);
	return fur_reply_attr(req, &out);
}

static int do_setattr(struct fur_req *req, struct node *n)
{
	const struct fuse_setattr_in *in = req->arg;
	int fh = in->valid & FATTR_FH ? (int)in->fh : -1;
	char path[64];
	struct stat st;

	if (fstatat(n->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return fur_reply_err(req, errno);
	proc_path(n->fd, path);
	if (in->valid & FATTR_MODE) {
		if (fh >= 0 ? fchmod(fh, in->mode) : chmod(path, in->mode))
			return fur_reply_err(req, errno);
	}
	if (in->valid & (FATTR_UID | FATTR_GID)) {
		uid_t uid = in->valid & FATTR_UID ? in->uid : (uid_t)-1;
		gid_t gid = in->valid & FATTR_GID ? in->gid : (gid_t)-1;

		if (fchownat(n->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			return fur_reply_err(req, errno);
	}
	if (in->valid & FATTR_SIZE) {
		if (fh >= 0 ? ftruncate(fh, in->size) : truncate(path, in->size))
			return fur_reply_err(req, errno);
	}
	if (in->valid & (FATTR_ATIME | FATTR_MTIME)) {
		struct timespec ts[2] = {
			{ .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT },
		};

		if (in->valid & FATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (in->valid & FATTR_ATIME)
			ts[0] = (struct timespec){ in->atime, in->atimensec };
		if (in->valid & FATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (in->valid & FATTR_MTIME)
			ts[1] = (struct timespec){ in->mtime, in->mtimensec };
		if (S_ISLNK(st.st_mode) ? 0 :
		    fh >= 0 ? futimens(fh, ts) : utimensat(AT_FDCWD, path, ts, 0))
			return fur_reply_err(req, errno);
	}
	return do_getattr(req, n, fh);
}

static bool name_has(struct node *n, const char *prefix)
{
	return pt.hooks && !strncmp(n->name, prefix, strlen(prefix));
}

static int do_read(struct fur_req *req, struct node *n)
{
	const struct fuse_read_in *in = req->arg;

	if (name_has(n, "die-")) {
		fprintf(stderr, "passthrough: READ of %s: dying as asked\n", n->name);
		_exit(1);
	}
	if (name_has(n, "block-")) {
		/* Held until the kernel interrupts the caller. */
		if (fur_req_wait_interrupt(req, 30000))
			return fur_reply_err(req, EINTR);
	}
	/* Into the client's pages (zero-copy) or the ring's payload. */
	if (fur_req_zero_copy(req))
		pt.zero_copied++;
	return fur_reply_read_fd(req, in->fh, in->offset, in->size);
}

static int do_write(struct fur_req *req)
{
	const struct fuse_write_in *in = req->arg;

	if (req->arglen < FUSE_COMPAT_WRITE_IN_SIZE)
		return fur_reply_err(req, EINVAL);
	/* From the client's pages (zero-copy) or the ring's payload. */
	if (fur_req_zero_copy(req))
		pt.zero_copied++;
	return fur_reply_write_fd(req, in->fh, in->offset);
}

static int open_flags(uint32_t flags)
{
	/*
	 * O_DIRECT is the client's business: the data reaches us unaligned,
	 * and what the source's cache holds is ours to decide.
	 */
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT);
	if (pt.writeback) {
		/* The kernel reads to fill pages and owns O_APPEND. */
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags | O_CLOEXEC;
}

static void fill_open(struct fuse_open_out *o, int fd)
{
	memset(o, 0, sizeof(*o));
	o->fh = fd;
	if (pt.direct_io)
		o->open_flags |= FOPEN_DIRECT_IO;
	if (pt.keep_cache)
		o->open_flags |= FOPEN_KEEP_CACHE;
	if (pt.zero_copy)
		o->open_flags |= FOPEN_IO_URING_ZERO_COPY;
}

static int do_open(struct fur_req *req, struct node *n)
{
	const struct fuse_open_in *in = req->arg;
	struct fuse_open_out o;
	char path[64];
	int fd = open(proc_path(n->fd, path), open_flags(in->flags));

	if (fd < 0)
		return fur_reply_err(req, errno);
	fill_open(&o, fd);
	return fur_reply_open(req, &o);
}

static int do_create(struct fur_req *req, struct node *parent)
{
	const struct fuse_create_in *in = req->arg;
	const char *name = fur_req_str(req, sizeof(*in));
	struct fuse_entry_out e;
	struct fuse_open_out o;
	int fd, err;

	if (!name)
		return fur_reply_err(req, EINVAL);
	fd = openat(parent->fd, name, open_flags(in->flags) | O_CREAT,
		    in->mode);
	if (fd < 0)
		return fur_reply_err(req, errno);
	err = do_lookup(parent, name, &e);
	if (err) {
		close(fd);
		return fur_reply_err(req, -err);
	}
	fill_open(&o, fd);
	return fur_reply_create(req, &e, &o);
}

static int do_opendir(struct fur_req *req, struct node *n)
{
	struct dirh *d = calloc(1, sizeof(*d));
	struct fuse_open_out o = {};
	int fd;

	if (!d)
		return fur_reply_err(req, ENOMEM);
	fd = openat(n->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->dp = fd < 0 ? NULL : fdopendir(fd);
	if (!d->dp) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		free(d);
		return fur_reply_err(req, err);
	}
	o.fh = (uintptr_t)d;
	return fur_reply_open(req, &o);
}

static int do_readdir(struct fur_req *req, struct node *n, bool plus)
{
	const struct fuse_read_in *in = req->arg;
	struct dirh *d = (struct dirh *)(uintptr_t)in->fh;
	size_t len = 0, size = in->size;
	char *buf = malloc(size);
	int err = 0;

	if (!buf)
		return fur_reply_err(req, ENOMEM);
	if ((long)in->offset != d->offset) {
		seekdir(d->dp, in->offset);
		d->entry = NULL;
		d->offset = in->offset;
	}
	for (;;) {
		struct fuse_entry_out e;
		long next;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		next = telldir(d->dp);
		if (plus) {
			memset(&e, 0, sizeof(e));
			if (strcmp(d->entry->d_name, ".") &&
			    strcmp(d->entry->d_name, "..") &&
			    do_lookup(n, d->entry->d_name, &e)) {
				d->entry = NULL;	/* gone meanwhile */
				continue;
			}
			if (!e.nodeid)
				e.attr.ino = d->entry->d_ino,
				e.attr.mode = d->entry->d_type << 12;
			if (fur_dirbuf_add_plus(buf, size, &len,
						d->entry->d_name, &e, next)) {
				if (e.nodeid)
					forget_node(e.nodeid, 1, NULL);
				break;
			}
		} else if (fur_dirbuf_add(buf, size, &len, d->entry->d_name,
					  d->entry->d_ino, d->entry->d_type,
					  next)) {
			break;
		}
		d->entry = NULL;
		d->offset = next;
	}
	err = err && !len ? fur_reply_err(req, err) : fur_reply_buf(req, buf, len);
	free(buf);
	return err;
}

static int do_statfs(struct fur_req *req, struct node *n)
{
	struct fuse_kstatfs k = {};
	struct statvfs s;

	if (fstatvfs(n->fd, &s))
		return fur_reply_err(req, errno);
	k.blocks = s.f_blocks;
	k.bfree = s.f_bfree;
	k.bavail = s.f_bavail;
	k.files = s.f_files;
	k.ffree = s.f_ffree;
	k.bsize = s.f_bsize;
	k.namelen = s.f_namemax;
	k.frsize = s.f_frsize;
	return fur_reply_statfs(req, &k);
}

static int do_xattr(struct fur_req *req, struct node *n, uint32_t op)
{
	char path[64], *buf = NULL;
	const char *name;
	ssize_t r;
	int err;

	proc_path(n->fd, path);
	switch (op) {
	case FUSE_SETXATTR: {
		const struct fuse_setxattr_in *in = req->arg;
		size_t head = FUSE_COMPAT_SETXATTR_IN_SIZE;

		name = fur_req_str(req, head);
		if (!name)
			return fur_reply_err(req, EINVAL);
		r = setxattr(path, name, name + strlen(name) + 1, in->size,
			     in->flags);
		return fur_reply_err(req, r ? errno : 0);
	}
	case FUSE_REMOVEXATTR:
		name = fur_req_str(req, 0);
		if (!name)
			return fur_reply_err(req, EINVAL);
		return fur_reply_err(req, removexattr(path, name) ? errno : 0);
	}
	{
		const struct fuse_getxattr_in *in = req->arg;

		if (in->size) {
			buf = malloc(in->size);
			if (!buf)
				return fur_reply_err(req, ENOMEM);
		}
		if (op == FUSE_GETXATTR) {
			name = fur_req_str(req, sizeof(*in));
			r = name ? getxattr(path, name, buf, in->size) : -1;
		} else {
			r = listxattr(path, buf, in->size);
		}
		if (r < 0)
			err = fur_reply_err(req, errno);
		else if (!in->size)
			err = fur_reply_xattr_size(req, r);
		else
			err = fur_reply_buf(req, buf, r);
		free(buf);
		return err;
	}
}

/*
 * --trace: one line per request before it is handled, to find which
 * request did what to a file: the node's and the handle's inode number
 * tell a node or a handle that points at another file, and a WRITE's
 * leading zero bytes tell data that arrived as zeros; a READ's leading
 * zero bytes (of the first 64 KiB the file holds there, read here once
 * more, and how many it had: got) tell zeros the file had from zeros
 * the transport made.  Names (LOOKUP, CREATE, UNLINK, RMDIR, RENAME, whose
 * off is the new parent) tell which entry a request touched.
 */
static void trace_request(struct fur_req *req)
{
	const struct fuse_in_header *h = req->in;
	const struct fuse_read_in *rw = req->arg;	/* READ and WRITE */
	const uint64_t *fh_first = req->arg;	/* RELEASE, FLUSH, FSYNC */
	struct stat nst = {}, fst = {};
	unsigned long long off = 0, size = 0, zeros = 0;
	long long got = -1;
	long long fh = -1;
	const char *name = "", *name2 = "";
	struct timespec now;

	switch (h->opcode) {
	case FUSE_READ:
	case FUSE_WRITE:
		fh = rw->fh;
		off = rw->offset;
		size = rw->size;
		break;
	case FUSE_RELEASE:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
		fh = *fh_first;
		break;
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *in = req->arg;

		if (in->valid & FATTR_FH)
			fh = in->fh;
		if (in->valid & FATTR_SIZE)
			size = in->size;
		break;
	}
	case FUSE_LOOKUP:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
		name = fur_req_str(req, 0) ?: "";
		break;
	case FUSE_CREATE:
		name = fur_req_str(req, sizeof(struct fuse_create_in)) ?: "";
		break;
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		size_t head = h->opcode == FUSE_RENAME ?
			      sizeof(struct fuse_rename_in) :
			      sizeof(struct fuse_rename2_in);

		name = fur_req_str(req, head) ?: "";
		name2 = fur_req_str(req, head + strlen(name) + 1) ?: "";
		off = ((const struct fuse_rename_in *)req->arg)->newdir;
		break;
	}
	}
	if (h->opcode == FUSE_WRITE) {
		size_t len = 0;
		const unsigned char *d = fur_req_write_data(req, &len);

		while (d && zeros < len && !d[zeros])
			zeros++;
	}
	if (h->opcode == FUSE_READ && fh >= 0) {
		static __thread unsigned char peek[65536];
		got = pread(fh, peek, size < sizeof(peek) ? size : sizeof(peek),
			    off);
		while (got > 0 && zeros < (unsigned long long)got &&
		       !peek[zeros])
			zeros++;
	}
	/* RELEASE may come after the node's FORGET: its node is not used. */
	if (h->opcode != FUSE_RELEASE && h->opcode != FUSE_RELEASEDIR)
		fstatat(node_of(h->nodeid)->fd, "", &nst,
			AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (fh >= 0 && h->opcode != FUSE_RELEASEDIR)
		fstat(fh, &fst);
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&pt.trace_lock);
	fprintf(pt.trace, "%lld.%06ld %s unique %" PRIu64 " pid %u node %" PRIx64
		" ino %lu fh %lld fh_ino %lu off %llu size %llu zeros %llu got %lld%s%s%s%s\n",
		(long long)now.tv_sec, now.tv_nsec / 1000,
		fur_opname(h->opcode) ? fur_opname(h->opcode) : "?",
		h->unique, h->pid, h->nodeid, (unsigned long)nst.st_ino, fh,
		(unsigned long)fst.st_ino, off, size, zeros, got,
		*name ? " name " : "", name, *name2 ? " to " : "", name2);
	pthread_mutex_unlock(&pt.trace_lock);
}

static void handle(struct fur_req *req, void *priv)
{
	const struct fuse_in_header *h = req->in;
	struct node *n = node_of(h->nodeid);
	const char *name, *name2;
	char path[64];
	int r;

	(void)priv;
	if (pt.trace)
		trace_request(req);
	switch (h->opcode) {
	case FUSE_LOOKUP:
		name = fur_req_str(req, 0);
		if (!name)
			break;
		reply_lookup(req, n, name);
		return;
	case FUSE_GETATTR: {
		const struct fuse_getattr_in *in = req->arg;

		do_getattr(req, n, req->arglen >= sizeof(*in) &&
			   (in->getattr_flags & FUSE_GETATTR_FH) ?
			   (int)in->fh : -1);
		return;
	}
	case FUSE_SETATTR:
		do_setattr(req, n);
		return;
	case FUSE_READLINK: {
		char buf[PATH_MAX];
		ssize_t len = readlinkat(n->fd, "", buf, sizeof(buf));

		if (len < 0)
			fur_reply_err(req, errno);
		else
			fur_reply_buf(req, buf, len);
		return;
	}
	case FUSE_MKNOD: {
		const struct fuse_mknod_in *in = req->arg;

		name = fur_req_str(req, sizeof(*in));
		if (!name)
			break;
		r = mknodat(n->fd, name, in->mode, in->rdev);
		reply_new(req, n, name, r ? errno : 0);
		return;
	}
	case FUSE_MKDIR: {
		const struct fuse_mkdir_in *in = req->arg;

		name = fur_req_str(req, sizeof(*in));
		if (!name)
			break;
		r = mkdirat(n->fd, name, in->mode);
		reply_new(req, n, name, r ? errno : 0);
		return;
	}
	case FUSE_SYMLINK:
		name = fur_req_str(req, 0);
		name2 = name ? fur_req_str(req, strlen(name) + 1) : NULL;
		if (!name2)
			break;
		r = symlinkat(name2, n->fd, name);
		reply_new(req, n, name, r ? errno : 0);
		return;
	case FUSE_UNLINK:
	case FUSE_RMDIR:
		name = fur_req_str(req, 0);
		if (!name)
			break;
		r = unlinkat(n->fd, name, h->opcode == FUSE_RMDIR ? AT_REMOVEDIR : 0);
		fur_reply_err(req, r ? errno : 0);
		return;
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		const struct fuse_rename2_in *in = req->arg;
		size_t head = h->opcode == FUSE_RENAME ?
			      sizeof(struct fuse_rename_in) : sizeof(*in);

		name = fur_req_str(req, head);
		name2 = name ? fur_req_str(req, head + strlen(name) + 1) : NULL;
		if (!name2)
			break;
		r = renameat2(n->fd, name, node_of(in->newdir)->fd, name2,
			      h->opcode == FUSE_RENAME ? 0 : in->flags);
		fur_reply_err(req, r ? errno : 0);
		return;
	}
	case FUSE_LINK: {
		const struct fuse_link_in *in = req->arg;
		struct node *old = node_of(in->oldnodeid);

		name = fur_req_str(req, sizeof(*in));
		if (!name)
			break;
		r = linkat(old->fd, "", n->fd, name, AT_EMPTY_PATH);
		reply_new(req, n, name, r ? errno : 0);
		return;
	}
	case FUSE_OPEN:
		do_open(req, n);
		return;
	case FUSE_CREATE:
		do_create(req, n);
		return;
	case FUSE_READ:
		do_read(req, n);
		return;
	case FUSE_WRITE:
		do_write(req);
		return;
	case FUSE_FLUSH: {
		const struct fuse_flush_in *in = req->arg;

		fur_reply_err(req, close(dup(in->fh)) ? errno : 0);
		return;
	}
	case FUSE_RELEASE: {
		const struct fuse_release_in *in = req->arg;

		close(in->fh);
		fur_reply_err(req, 0);
		return;
	}
	case FUSE_FSYNC: {
		const struct fuse_fsync_in *in = req->arg;

		r = in->fsync_flags & 1 ? fdatasync(in->fh) : fsync(in->fh);
		fur_reply_err(req, r ? errno : 0);
		return;
	}
	case FUSE_OPENDIR:
		do_opendir(req, n);
		return;
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		do_readdir(req, n, h->opcode == FUSE_READDIRPLUS);
		return;
	case FUSE_RELEASEDIR: {
		const struct fuse_release_in *in = req->arg;
		struct dirh *d = (struct dirh *)(uintptr_t)in->fh;

		closedir(d->dp);
		free(d);
		fur_reply_err(req, 0);
		return;
	}
	case FUSE_FSYNCDIR: {
		const struct fuse_fsync_in *in = req->arg;
		struct dirh *d = (struct dirh *)(uintptr_t)in->fh;

		fur_reply_err(req, fsync(dirfd(d->dp)) ? errno : 0);
		return;
	}
	case FUSE_STATFS:
		do_statfs(req, n);
		return;
	case FUSE_ACCESS: {
		const struct fuse_access_in *in = req->arg;

		r = faccessat(AT_FDCWD, proc_path(n->fd, path), in->mask, 0);
		fur_reply_err(req, r ? errno : 0);
		return;
	}
	case FUSE_SETXATTR:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_REMOVEXATTR:
		do_xattr(req, n, h->opcode);
		return;
	case FUSE_FALLOCATE: {
		const struct fuse_fallocate_in *in = req->arg;

		r = fallocate(in->fh, in->mode, in->offset, in->length);
		fur_reply_err(req, r ? errno : 0);
		return;
	}
	case FUSE_LSEEK: {
		const struct fuse_lseek_in *in = req->arg;
		off_t off = lseek(in->fh, in->offset, in->whence);

		if (off < 0)
			fur_reply_err(req, errno);
		else
			fur_reply_lseek(req, off);
		return;
	}
	case FUSE_COPY_FILE_RANGE: {
		const struct fuse_copy_file_range_in *in = req->arg;
		loff_t off_in = in->off_in, off_out = in->off_out;
		ssize_t n2 = copy_file_range(in->fh_in, &off_in, in->fh_out,
					     &off_out, in->len, 0);

		if (n2 < 0)
			fur_reply_err(req, errno);
		else
			fur_reply_write(req, n2);
		return;
	}
	default:
		fur_reply_err(req, ENOSYS);
		return;
	}
	fur_reply_err(req, EINVAL);	/* arguments the kernel never sends */
}

static void on_init(const struct fuse_init_in *in, struct fuse_init_out *out,
		    void *priv)
{
	(void)in;
	(void)priv;
	/* Locks stay in the kernel: see the top of the file. */
	out->flags &= ~(FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS);
}

static void on_ready(void *priv)
{
	struct fur_session *se = priv;

	if (fur_session_transport(se) == FUR_TRANSPORT_RING)
		printf("passthrough: payload memory per queue: %zu bytes\n",
		       fur_session_payload_mem(se));
	if (pt.zero_copy)
		printf("passthrough: zero-copy %s\n",
		       !fur_session_zero_copy(se) ?
		       "refused by the kernel: copying" :
		       fur_session_zero_copy_fixed(se) ?
		       "on (registered buffers)" : "on (window)");
	printf("passthrough: ready\n");
	fflush(stdout);
}

static void on_signal(int sig)
{
	(void)sig;
	if (pt.mountpoint)
		fur_unmount(pt.mountpoint);
}

static void print_stats(struct fur_session *se)
{
	unsigned int op;

	printf("passthrough: stats: transport %s, queues %u\n",
	       fur_session_transport(se) == FUR_TRANSPORT_RING ? "ring" : "classic",
	       fur_session_queues(se));
	printf("passthrough: stats:");
	for (op = 0; op < FUR_MAX_OPCODE; op++)
		if (fur_session_count(se, op) && fur_opname(op))
			printf(" %s %" PRIu64, fur_opname(op),
			       fur_session_count(se, op));
	printf("\n");
	if (pt.zero_copy)
		printf("passthrough: stats: zero-copied READ/WRITE %" PRIu64 "\n",
		       (uint64_t)pt.zero_copied);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: passthrough [options] SOURCE MOUNTPOINT\n"
		"  --dev PATH           device (default /dev/fuseuring)\n"
		"  --fstype NAME        filesystem type (default fuseuring)\n"
		"  --transport T        ring (default) or classic\n"
		"  --queues N           ring queues (default: as the kernel has)\n"
		"  --depth N            ring entries per queue (default 8)\n"
		"  --pin-queues         ring: pin each queue's thread to its CPUs\n"
		"  --payload BYTES      ring payload buffer size\n"
		"  --bufpool[=KIND]     ring payloads in one pool per queue:\n"
		"                       fixed (default: a registered buffer),\n"
		"                       user, or kernel (the module's pages)\n"
		"  --bufpool-budget BYTES  pool size per queue (default: a\n"
		"                       quarter of depth x max payload)\n"
		"  --threads N          classic reader threads (default 2)\n"
		"  --max-write BYTES    largest WRITE (default 1 MiB)\n"
		"  --timeout SECS       entry and attribute timeout (default 1)\n"
		"  --writeback          ask for the writeback cache\n"
		"  --direct-io          open files with FOPEN_DIRECT_IO\n"
		"  --keep-cache         open files with FOPEN_KEEP_CACHE\n"
		"  --zero-copy          ring: READ/WRITE data straight between the\n"
		"                       client's pages and the source files\n"
		"                       (needs CAP_SYS_ADMIN; copies otherwise)\n"
		"  --test-hooks         READ of block-* waits for its interrupt,\n"
		"                       READ of die-* kills the server\n"
		"  --stats              print operation counts on exit\n"
		"  --trace FILE         a line per request to FILE (debugging)\n"
		"  -o OPTS              mount options (allow_other, ...)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "bufpool", optional_argument, NULL, 'B' },
		{ "bufpool-budget", required_argument, NULL, 'b' },
		{ "fstype", required_argument, NULL, 't' },
		{ "transport", required_argument, NULL, 'T' },
		{ "queues", required_argument, NULL, 'q' },
		{ "depth", required_argument, NULL, 'D' },
		{ "pin-queues", no_argument, NULL, 'P' },
		{ "payload", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 'n' },
		{ "max-write", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'O' },
		{ "writeback", no_argument, NULL, 'W' },
		{ "direct-io", no_argument, NULL, 'I' },
		{ "keep-cache", no_argument, NULL, 'K' },
		{ "zero-copy", no_argument, NULL, 'Z' },
		{ "test-hooks", no_argument, NULL, 'H' },
		{ "stats", no_argument, NULL, 'S' },
		{ "trace", required_argument, NULL, 'R' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct fur_config cfg = { .transport = FUR_TRANSPORT_RING };
	struct fur_ops ops = {
		.request = handle, .forget = forget_node, .init = on_init,
		.ready = on_ready,
	};
	struct fur_session *se;
	struct sigaction sa = { .sa_handler = on_signal };
	int c, err;

	while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.dev = optarg; break;
		case 't': cfg.fstype = optarg; break;
		case 'T':
			if (!strcmp(optarg, "classic")) {
				cfg.transport = FUR_TRANSPORT_CLASSIC;
			} else if (!strcmp(optarg, "ring")) {
				cfg.transport = FUR_TRANSPORT_RING;
			} else {
				fprintf(stderr, "passthrough: unknown transport %s\n", optarg);
				return 2;
			}
			break;
		case 'q': cfg.queues = atoi(optarg); break;
		case 'D': cfg.depth = atoi(optarg); break;
		case 'P': cfg.pin_queues = true; break;
		case 'p': cfg.payload = strtoul(optarg, NULL, 0); break;
		case 'B':
			c = optarg ? fur_bufpool_parse(optarg) : FUR_BUFPOOL_FIXED;
			if (c < 0) {
				fprintf(stderr, "passthrough: unknown bufpool %s\n", optarg);
				return 2;
			}
			cfg.bufpool = c;
			break;
		case 'b': cfg.bufpool_budget = strtoul(optarg, NULL, 0); break;
		case 'n': cfg.threads = atoi(optarg); break;
		case 'w': cfg.max_write = strtoul(optarg, NULL, 0); break;
		case 'O': pt.timeout = atof(optarg); break;
		case 'W': pt.writeback = true; break;
		case 'I': pt.direct_io = true; break;
		case 'K': pt.keep_cache = true; break;
		case 'Z': pt.zero_copy = cfg.zero_copy = true; break;
		case 'H': pt.hooks = true; break;
		case 'S': pt.stats = true; break;
		case 'R':
			pt.trace = fopen(optarg, "w");
			if (!pt.trace) {
				fprintf(stderr, "passthrough: %s: %s\n", optarg, strerror(errno));
				return 1;
			}
			setvbuf(pt.trace, NULL, _IOLBF, 0);
			break;
		case 'o': cfg.mount_opts = optarg; break;
		case 'f': break;	/* always in the foreground */
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	cfg.want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_DO_READDIRPLUS |
		   FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS;
	if (pt.writeback)
		cfg.want |= FUSE_WRITEBACK_CACHE;
	umask(0);	/* the kernel applied the caller's */
	{
		/* A node is an open file: as many as the kernel keeps inodes. */
		struct rlimit rl;

		if (!getrlimit(RLIMIT_NOFILE, &rl)) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	pt.root.fd = open(argv[optind], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pt.root.fd < 0) {
		fprintf(stderr, "passthrough: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	pt.root.nlookup = 1;
	pt.mountpoint = argv[optind + 1];
	err = fur_mount(&cfg, pt.mountpoint, &se);
	if (err) {
		fprintf(stderr, "passthrough: mount %s: %s\n", pt.mountpoint,
			fur_strerror(err));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = fur_loop(se, &ops, se);
	if (pt.stats)
		print_stats(se);
	fur_session_free(se);
	if (err) {
		fprintf(stderr, "passthrough: %s\n", fur_strerror(err));
		return 1;
	}
	return 0;
}
