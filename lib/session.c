// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libfuseuring: mount, INIT, request dispatch, replies, interrupts and the
 * classic transport (threads reading the device).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fur_internal.h"

#define FUR_DEFAULT_MAX_WRITE	(1U << 20)

static const char *const opnames[FUR_MAX_OPCODE] = {
	[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET",
	[FUSE_GETATTR] = "GETATTR", [FUSE_SETATTR] = "SETATTR",
	[FUSE_READLINK] = "READLINK", [FUSE_SYMLINK] = "SYMLINK",
	[FUSE_MKNOD] = "MKNOD", [FUSE_MKDIR] = "MKDIR",
	[FUSE_UNLINK] = "UNLINK", [FUSE_RMDIR] = "RMDIR",
	[FUSE_RENAME] = "RENAME", [FUSE_LINK] = "LINK", [FUSE_OPEN] = "OPEN",
	[FUSE_READ] = "READ", [FUSE_WRITE] = "WRITE", [FUSE_STATFS] = "STATFS",
	[FUSE_RELEASE] = "RELEASE", [FUSE_FSYNC] = "FSYNC",
	[FUSE_SETXATTR] = "SETXATTR", [FUSE_GETXATTR] = "GETXATTR",
	[FUSE_LISTXATTR] = "LISTXATTR", [FUSE_REMOVEXATTR] = "REMOVEXATTR",
	[FUSE_FLUSH] = "FLUSH", [FUSE_INIT] = "INIT",
	[FUSE_OPENDIR] = "OPENDIR", [FUSE_READDIR] = "READDIR",
	[FUSE_RELEASEDIR] = "RELEASEDIR", [FUSE_FSYNCDIR] = "FSYNCDIR",
	[FUSE_GETLK] = "GETLK", [FUSE_SETLK] = "SETLK", [FUSE_SETLKW] = "SETLKW",
	[FUSE_ACCESS] = "ACCESS", [FUSE_CREATE] = "CREATE",
	[FUSE_INTERRUPT] = "INTERRUPT", [FUSE_BMAP] = "BMAP",
	[FUSE_DESTROY] = "DESTROY", [FUSE_IOCTL] = "IOCTL", [FUSE_POLL] = "POLL",
	[FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
	[FUSE_BATCH_FORGET] = "BATCH_FORGET", [FUSE_FALLOCATE] = "FALLOCATE",
	[FUSE_READDIRPLUS] = "READDIRPLUS", [FUSE_RENAME2] = "RENAME2",
	[FUSE_LSEEK] = "LSEEK", [FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
};

const char *fur_opname(unsigned int opcode)
{
	return opcode < FUR_MAX_OPCODE && opnames[opcode] ? opnames[opcode] : NULL;
}

const char *fur_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case EOPNOTSUPP:
	case ENOTTY:
		return "the kernel side is missing or refused io-uring";
	case ENODEV:
		return "no such filesystem type or device (is fuseuring.ko loaded?)";
	case ENOENT:
		return "no such device or mountpoint (is fuseuring.ko loaded?)";
	case EPERM:
		return "mounting needs CAP_SYS_ADMIN";
	case ENOTCONN:
		return "the filesystem was unmounted or aborted";
	}
	return strerror(err < 0 ? -err : err);
}

int fur_mount(const struct fur_config *cfg, const char *mountpoint,
	      struct fur_session **sep)
{
	struct fur_session *se;
	char opts[1024];
	struct stat st;
	int n, err;

	if (stat(mountpoint, &st))
		return -errno;
	se = calloc(1, sizeof(*se));
	if (!se)
		return -ENOMEM;
	se->cfg = *cfg;
	if (!se->cfg.dev)
		se->cfg.dev = "/dev/" FUSEURING_DEV_NAME;
	if (!se->cfg.fstype)
		se->cfg.fstype = FUSEURING_FS_TYPE;
	if (!se->cfg.threads)
		se->cfg.threads = 2;
	if (!se->cfg.depth)
		se->cfg.depth = 8;
	if (!se->cfg.max_write)
		se->cfg.max_write = FUR_DEFAULT_MAX_WRITE;
	se->mountpoint = strdup(mountpoint);
	pthread_mutex_init(&se->lock, NULL);
	pthread_cond_init(&se->cond, NULL);
	se->fd = open(se->cfg.dev, O_RDWR | O_CLOEXEC);
	if (se->fd < 0) {
		err = -errno;
		goto fail;
	}
	n = snprintf(opts, sizeof(opts),
		     "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s", se->fd,
		     st.st_mode & S_IFMT, getuid(), getgid(),
		     cfg->mount_opts ? "," : "",
		     cfg->mount_opts ? cfg->mount_opts : "");
	if (n < 0 || (size_t)n >= sizeof(opts)) {
		err = -E2BIG;
		goto fail;
	}
	if (mount(se->cfg.fstype, mountpoint, se->cfg.fstype,
		  MS_NOSUID | MS_NODEV, opts)) {
		err = -errno;
		goto fail;
	}
	*sep = se;
	return 0;
fail:
	if (se->fd >= 0)
		close(se->fd);
	free(se->mountpoint);
	free(se);
	return err;
}

int fur_unmount(const char *mountpoint)
{
	if (!umount2(mountpoint, 0))
		return 0;
	if (errno == EBUSY && !umount2(mountpoint, MNT_DETACH))
		return 0;
	return -errno;
}

enum fur_transport fur_session_transport(const struct fur_session *se)
{
	return se->transport;
}

unsigned int fur_session_queues(const struct fur_session *se)
{
	return se->nqueues;
}

uint64_t fur_session_count(const struct fur_session *se, unsigned int opcode)
{
	return opcode < FUR_MAX_OPCODE ? se->counts[opcode] : 0;
}

/* ---- replies ---------------------------------------------------------- */

static int fur_send(struct fur_req *req, int error, const struct iovec *iov,
		    int n)
{
	struct fur_req_priv *rp = req->priv;

	if (rp->replied)
		return -EALREADY;
	rp->replied = true;
	return rp->rops->send(req, error, iov, n);
}

int fur_reply_err(struct fur_req *req, int err)
{
	return fur_send(req, -err, NULL, 0);
}

int fur_reply_iov(struct fur_req *req, const struct iovec *iov, int n)
{
	return fur_send(req, 0, iov, n);
}

int fur_reply_buf(struct fur_req *req, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return fur_send(req, 0, &iov, len ? 1 : 0);
}

int fur_reply_none(struct fur_req *req)
{
	((struct fur_req_priv *)req->priv)->replied = true;
	return 0;
}

/* Entry and attr replies were shorter before minor 9. */
static size_t fur_compat_size(const struct fur_req *req, size_t full,
			      size_t compat)
{
	return req->se->minor < 9 ? compat : full;
}

int fur_reply_entry(struct fur_req *req, const struct fuse_entry_out *e)
{
	return fur_reply_buf(req, e, fur_compat_size(req, sizeof(*e),
				     FUSE_COMPAT_ENTRY_OUT_SIZE));
}

int fur_reply_attr(struct fur_req *req, const struct fuse_attr_out *a)
{
	return fur_reply_buf(req, a, fur_compat_size(req, sizeof(*a),
				     FUSE_COMPAT_ATTR_OUT_SIZE));
}

int fur_reply_open(struct fur_req *req, const struct fuse_open_out *o)
{
	return fur_reply_buf(req, o, sizeof(*o));
}

int fur_reply_create(struct fur_req *req, const struct fuse_entry_out *e,
		     const struct fuse_open_out *o)
{
	struct iovec iov[2] = {
		{ (void *)e, fur_compat_size(req, sizeof(*e),
					     FUSE_COMPAT_ENTRY_OUT_SIZE) },
		{ (void *)o, sizeof(*o) },
	};

	return fur_reply_iov(req, iov, 2);
}

int fur_reply_write(struct fur_req *req, uint32_t count)
{
	struct fuse_write_out o = { .size = count };

	return fur_reply_buf(req, &o, sizeof(o));
}

int fur_reply_statfs(struct fur_req *req, const struct fuse_kstatfs *st)
{
	struct fuse_statfs_out o = { .st = *st };

	return fur_reply_buf(req, &o, req->se->minor < 4 ?
			     FUSE_COMPAT_STATFS_SIZE : sizeof(o));
}

int fur_reply_xattr_size(struct fur_req *req, uint32_t size)
{
	struct fuse_getxattr_out o = { .size = size };

	return fur_reply_buf(req, &o, sizeof(o));
}

int fur_reply_lock(struct fur_req *req, const struct fuse_file_lock *lk)
{
	struct fuse_lk_out o = { .lk = *lk };

	return fur_reply_buf(req, &o, sizeof(o));
}

int fur_reply_lseek(struct fur_req *req, uint64_t offset)
{
	struct fuse_lseek_out o = { .offset = offset };

	return fur_reply_buf(req, &o, sizeof(o));
}

void fur_stat_to_attr(const struct stat *st, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = st->st_size;
	a->blocks = st->st_blocks;
	a->atime = st->st_atim.tv_sec;
	a->mtime = st->st_mtim.tv_sec;
	a->ctime = st->st_ctim.tv_sec;
	a->atimensec = st->st_atim.tv_nsec;
	a->mtimensec = st->st_mtim.tv_nsec;
	a->ctimensec = st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = st->st_rdev;
	a->blksize = st->st_blksize;
}

const char *fur_req_str(const struct fur_req *req, size_t off)
{
	const char *s = (const char *)req->arg + off;

	if (off >= req->arglen || !memchr(s, '\0', req->arglen - off))
		return NULL;
	return s;
}

int fur_dirbuf_add(char *buf, size_t size, size_t *len, const char *name,
		   uint64_t ino, uint32_t type, uint64_t off)
{
	size_t namelen = strlen(name);
	size_t rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
	struct fuse_dirent *d = (struct fuse_dirent *)(buf + *len);

	if (*len + rec > size)
		return -ENOSPC;
	memset(d, 0, rec);
	d->ino = ino;
	d->off = off;
	d->namelen = namelen;
	d->type = type;
	memcpy(d->name, name, namelen);
	*len += rec;
	return 0;
}

int fur_dirbuf_add_plus(char *buf, size_t size, size_t *len, const char *name,
			const struct fuse_entry_out *e, uint64_t off)
{
	size_t namelen = strlen(name);
	size_t rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + namelen);
	struct fuse_direntplus *d = (struct fuse_direntplus *)(buf + *len);

	if (*len + rec > size)
		return -ENOSPC;
	memset(d, 0, rec);
	d->entry_out = *e;
	d->dirent.ino = e->attr.ino;
	d->dirent.off = off;
	d->dirent.namelen = namelen;
	d->dirent.type = (e->attr.mode & S_IFMT) >> 12;
	memcpy(d->dirent.name, name, namelen);
	*len += rec;
	return 0;
}

/* ---- interrupts --------------------------------------------------------- */

int fur_req_wait_interrupt(struct fur_req *req, int timeout_ms)
{
	struct fur_session *se = req->se;
	struct fur_waiter w = { .unique = req->in->unique }, **pp;
	struct timespec until;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	if (timeout_ms >= 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&se->lock);
	w.next = se->waiters;
	se->waiters = &w;
	while (!w.interrupted && ret == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&se->cond, &se->lock);
		else
			ret = pthread_cond_timedwait(&se->cond, &se->lock, &until);
	}
	for (pp = &se->waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_mutex_unlock(&se->lock);
	return w.interrupted;
}

/*
 * An INTERRUPT for a request nobody waits on (yet, or any more): -EAGAIN
 * makes the kernel send it again later while the request is alive.
 */
static void fur_interrupt(struct fur_session *se, struct fur_req *req)
{
	const struct fuse_interrupt_in *in = req->arg;
	struct fur_waiter *w;
	bool found = false;

	if (req->arglen < sizeof(*in))
		return;
	pthread_mutex_lock(&se->lock);
	for (w = se->waiters; w; w = w->next)
		if (w->unique == in->unique) {
			w->interrupted = true;
			found = true;
		}
	if (found)
		pthread_cond_broadcast(&se->cond);
	pthread_mutex_unlock(&se->lock);
	if (found) {
		fur_reply_none(req);
	} else {
		usleep(1000);	/* no storm while the request is on its way */
		fur_reply_err(req, EAGAIN);
	}
}

/* ---- INIT and dispatch --------------------------------------------------- */

static void fur_init(struct fur_session *se, struct fur_req *req)
{
	const struct fuse_init_in *in = req->arg;
	struct fuse_init_out out = {};
	uint64_t kflags, want;

	if (req->arglen < 8 || in->major != FUSE_KERNEL_VERSION) {
		out.major = FUSE_KERNEL_VERSION;	/* the kernel retries */
		se->init_err = -EPROTO;
		fur_reply_buf(req, &out, sizeof(out));
		return;
	}
	kflags = in->flags;
	if (req->arglen >= sizeof(*in) && (kflags & FUSE_INIT_EXT))
		kflags |= (uint64_t)in->flags2 << 32;
	se->kernel_flags = kflags;
	se->minor = in->minor < FUSE_KERNEL_MINOR_VERSION ?
		    in->minor : FUSE_KERNEL_MINOR_VERSION;
	want = se->cfg.want | FUSE_INIT_EXT | FUSE_BIG_WRITES | FUSE_MAX_PAGES;
	if (se->cfg.transport == FUR_TRANSPORT_RING)
		want |= FUSE_OVER_IO_URING;
	want &= kflags;
	se->max_write = se->cfg.max_write;
	out.major = FUSE_KERNEL_VERSION;
	out.minor = se->minor;
	out.flags = (uint32_t)want;
	out.flags2 = (uint32_t)(want >> 32);
	out.max_readahead = se->cfg.max_readahead && se->cfg.max_readahead <
			    in->max_readahead ? se->cfg.max_readahead :
			    in->max_readahead;
	out.max_write = se->max_write;
	out.max_background = 64;
	out.congestion_threshold = 48;
	out.time_gran = 1;
	out.max_pages = (se->max_write + 4095) / 4096;
	if (se->ops->init)
		se->ops->init(in, &out, se->priv);
	se->max_write = out.max_write;
	se->max_pages = out.max_pages;
	if (se->cfg.transport == FUR_TRANSPORT_RING &&
	    !(((uint64_t)out.flags2 << 32) & FUSE_OVER_IO_URING)) {
		/* Serve over the device rather than not at all? No: say so. */
		se->init_err = -EOPNOTSUPP;
		fur_reply_err(req, EPROTO);
		return;
	}
	fur_reply_buf(req, &out, req->se->minor < 23 ?
		      FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(out));
	pthread_mutex_lock(&se->lock);
	se->inited = true;
	pthread_cond_broadcast(&se->cond);
	pthread_mutex_unlock(&se->lock);
}

static void fur_forgets(struct fur_session *se, struct fur_req *req)
{
	const struct fuse_batch_forget_in *b = req->arg;
	const struct fuse_forget_one *one;
	uint32_t i;

	if (req->in->opcode == FUSE_FORGET) {
		const struct fuse_forget_in *f = req->arg;

		if (se->ops->forget && req->arglen >= sizeof(*f))
			se->ops->forget(req->in->nodeid, f->nlookup, se->priv);
		return;
	}
	if (req->arglen < sizeof(*b))
		return;
	one = (const void *)(b + 1);
	for (i = 0; i < b->count &&
	     sizeof(*b) + (i + 1) * sizeof(*one) <= req->arglen; i++)
		if (se->ops->forget)
			se->ops->forget(one[i].nodeid, one[i].nlookup, se->priv);
}

void fur_dispatch(struct fur_session *se, struct fur_req_priv *rp,
		  const void *arg, size_t arglen)
{
	struct fur_req req = {
		.in = &rp->in, .arg = arg, .arglen = arglen, .se = se,
		.priv = rp,
	};
	uint32_t op = rp->in.opcode;

	if (op < FUR_MAX_OPCODE)
		atomic_fetch_add_explicit(&se->counts[op], 1,
					  memory_order_relaxed);
	switch (op) {
	case FUSE_INIT:
		fur_init(se, &req);
		return;
	case FUSE_DESTROY:
		if (se->ops->destroy)
			se->ops->destroy(se->priv);
		fur_reply_err(&req, 0);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		fur_forgets(se, &req);
		return;
	case FUSE_INTERRUPT:
		fur_interrupt(se, &req);
		return;
	}
	se->ops->request(&req, se->priv);
	if (!rp->replied)	/* a handler that forgot: never leave a caller */
		fur_reply_err(&req, EIO);
}

/* ---- the classic transport ---------------------------------------------- */

static int classic_send(struct fur_req *req, int error,
			const struct iovec *iov, int n)
{
	struct fur_req_priv *rp = req->priv;
	struct fuse_out_header oh = { .error = error, .unique = rp->in.unique };
	struct iovec v[8];
	int i;

	if (n > 7)
		return -EINVAL;
	v[0] = (struct iovec){ &oh, sizeof(oh) };
	oh.len = sizeof(oh);
	for (i = 0; i < n; i++) {
		v[i + 1] = iov[i];
		oh.len += iov[i].iov_len;
	}
	if (writev(req->se->fd, v, n + 1) < 0)
		return errno == ENOENT ? 0 : -errno;	/* ENOENT: interrupted */
	return 0;
}

static const struct fur_reply_ops classic_rops = { .send = classic_send };

static void *classic_thread(void *arg)
{
	struct fur_session *se = arg;
	char *buf = malloc(se->bufsize);
	struct fur_req_priv rp;
	ssize_t n;

	while (buf) {
		n = read(se->fd, buf, se->bufsize);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break;		/* ENODEV: unmounted */
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		memset(&rp, 0, sizeof(rp));
		rp.rops = &classic_rops;
		memcpy(&rp.in, buf, sizeof(rp.in));
		fur_dispatch(se, &rp, buf + sizeof(rp.in),
			     n - sizeof(rp.in));
		if (se->init_err)
			break;
	}
	free(buf);
	/* Wake whoever waits for INIT: nothing more will come. */
	pthread_mutex_lock(&se->lock);
	se->inited = true;
	pthread_cond_broadcast(&se->cond);
	pthread_mutex_unlock(&se->lock);
	return NULL;
}

int fur_loop(struct fur_session *se, const struct fur_ops *ops, void *priv)
{
	unsigned int i, nthreads;
	pthread_t *th;
	int err = 0;

	se->ops = ops;
	se->priv = priv;
	se->bufsize = se->cfg.max_write + 64 * 1024;
	se->transport = FUR_TRANSPORT_CLASSIC;
	/* With the ring, one thread on the device is enough: it carries
	 * INIT, interrupts, forgets and notifications. */
	nthreads = se->cfg.transport == FUR_TRANSPORT_RING ? 1 : se->cfg.threads;
	th = calloc(nthreads, sizeof(*th));
	if (!th)
		return -ENOMEM;
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, classic_thread, se))
			break;
	nthreads = i;
	if (se->cfg.transport == FUR_TRANSPORT_RING) {
		pthread_mutex_lock(&se->lock);
		while (!se->inited)
			pthread_cond_wait(&se->cond, &se->lock);
		pthread_mutex_unlock(&se->lock);
		err = se->init_err;
		if (!err) {
			err = fur_ring_start(se);
			if (!err)
				se->transport = FUR_TRANSPORT_RING;
		}
		if (err)
			fur_unmount(se->mountpoint);
	}
	if (!err && ops->ready)
		ops->ready(priv);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	if (se->ring)
		fur_ring_wait(se);
	if (!err)
		err = se->init_err;
	free(th);
	close(se->fd);
	return err;
}

void fur_session_free(struct fur_session *se)
{
	free(se->mountpoint);
	free(se);
}
