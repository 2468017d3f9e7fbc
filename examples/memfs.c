// SPDX-License-Identifier: GPL-2.0
/*
 * memfs: a filesystem in the server's memory, on libfuseuring.
 *
 *   memfs [--transport ring|classic] [--dev PATH] [--fstype NAME] [-o OPTS] MOUNTPOINT
 *
 * Files, directories, symlinks, hard links and extended attributes; one
 * lock for everything.  Node ids index a table; a node lives while it
 * has links or the kernel knows it (lookup count).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "libfuseuring.h"

#define MAX_NODES	65536

struct xattr {
	char *name;
	char *value;
	size_t size;
	struct xattr *next;
};

struct dentry {
	char *name;
	uint64_t ino;
	struct dentry *next;
};

struct node {
	struct stat st;
	char *data;			/* file data or symlink target */
	size_t cap;
	struct dentry *children;	/* directories */
	struct xattr *xattrs;
	uint64_t nlookup;
};

static struct node *nodes[MAX_NODES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *mountpoint;

static struct node *get(uint64_t ino)
{
	return ino && ino < MAX_NODES ? nodes[ino] : NULL;
}

static void touch(struct node *n, bool m, bool c)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (m)
		n->st.st_mtim = now;
	if (c)
		n->st.st_ctim = now;
}

static uint64_t new_node(mode_t mode, uid_t uid, gid_t gid)
{
	uint64_t i;

	for (i = FUSE_ROOT_ID; i < MAX_NODES; i++) {
		if (nodes[i])
			continue;
		nodes[i] = calloc(1, sizeof(struct node));
		if (!nodes[i])
			return 0;
		nodes[i]->st.st_ino = i;
		nodes[i]->st.st_mode = mode;
		nodes[i]->st.st_uid = uid;
		nodes[i]->st.st_gid = gid;
		nodes[i]->st.st_blksize = 4096;
		touch(nodes[i], true, true);
		nodes[i]->st.st_atim = nodes[i]->st.st_mtim;
		return i;
	}
	return 0;
}

static void maybe_free(uint64_t ino)
{
	struct node *n = get(ino);
	struct xattr *x;

	if (!n || ino == FUSE_ROOT_ID || n->st.st_nlink || n->nlookup)
		return;
	while ((x = n->xattrs)) {
		n->xattrs = x->next;
		free(x->name);
		free(x->value);
		free(x);
	}
	free(n->data);
	free(n);
	nodes[ino] = NULL;
}

static struct dentry **find(struct node *dir, const char *name)
{
	struct dentry **pp;

	for (pp = &dir->children; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

static int reply_entry(struct fur_req *req, uint64_t ino)
{
	struct fuse_entry_out e = { .nodeid = ino, .entry_valid = 1,
				    .attr_valid = 1 };

	nodes[ino]->nlookup++;
	fur_stat_to_attr(&nodes[ino]->st, &e.attr);
	return fur_reply_entry(req, &e);
}

static int reply_attr(struct fur_req *req, struct node *n)
{
	struct fuse_attr_out a = { .attr_valid = 1 };

	fur_stat_to_attr(&n->st, &a.attr);
	return fur_reply_attr(req, &a);
}

static int resize(struct node *n, size_t size)
{
	if (size > n->cap) {
		size_t cap = size < 4096 ? 4096 : size * 2;
		char *p = realloc(n->data, cap);

		if (!p)
			return -ENOMEM;
		memset(p + n->cap, 0, cap - n->cap);
		n->data = p;
		n->cap = cap;
	}
	if (size < (size_t)n->st.st_size)
		memset(n->data + size, 0, n->st.st_size - size);
	n->st.st_size = size;
	n->st.st_blocks = (size + 511) / 512;
	return 0;
}

/* Make name in dir: the caller holds the lock. */
static int make(struct fur_req *req, struct node *dir, const char *name,
		mode_t mode, dev_t rdev, const char *target)
{
	struct dentry *d;
	uint64_t ino;

	if (find(dir, name))
		return fur_reply_err(req, EEXIST);
	ino = new_node(mode, req->in->uid, req->in->gid);
	d = calloc(1, sizeof(*d));
	if (!ino || !d)
		return fur_reply_err(req, ENOMEM);
	nodes[ino]->st.st_rdev = rdev;
	nodes[ino]->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	if (target) {
		nodes[ino]->data = strdup(target);
		nodes[ino]->st.st_size = strlen(target);
	}
	if (S_ISDIR(mode))
		dir->st.st_nlink++;
	d->name = strdup(name);
	d->ino = ino;
	d->next = dir->children;
	dir->children = d;
	touch(dir, true, true);
	return reply_entry(req, ino);
}

static int do_unlink(struct fur_req *req, struct node *dir, const char *name,
		     bool isdir)
{
	struct dentry **pp = find(dir, name), *d;
	struct node *n;

	if (!pp)
		return fur_reply_err(req, ENOENT);
	d = *pp;
	n = nodes[d->ino];
	if (isdir && !S_ISDIR(n->st.st_mode))
		return fur_reply_err(req, ENOTDIR);
	if (!isdir && S_ISDIR(n->st.st_mode))
		return fur_reply_err(req, EISDIR);
	if (isdir && n->children)
		return fur_reply_err(req, ENOTEMPTY);
	*pp = d->next;
	n->st.st_nlink -= isdir ? 2 : 1;
	if (isdir)
		dir->st.st_nlink--;
	touch(n, false, true);
	touch(dir, true, true);
	maybe_free(d->ino);
	free(d->name);
	free(d);
	return fur_reply_err(req, 0);
}

static int do_rename(struct fur_req *req, struct node *from, const char *name,
		     struct node *to, const char *newname, uint32_t flags)
{
	struct dentry **src = find(from, name), **dst, *d;
	struct node *n;

	if (!src)
		return fur_reply_err(req, ENOENT);
	if (flags & ~RENAME_NOREPLACE)
		return fur_reply_err(req, EINVAL);
	n = nodes[(*src)->ino];
	dst = find(to, newname);
	if (dst) {
		struct node *old = nodes[(*dst)->ino];

		if (flags & RENAME_NOREPLACE)
			return fur_reply_err(req, EEXIST);
		if (old == n)
			return fur_reply_err(req, 0);
		if (S_ISDIR(old->st.st_mode) != S_ISDIR(n->st.st_mode))
			return fur_reply_err(req, S_ISDIR(old->st.st_mode) ?
					     EISDIR : ENOTDIR);
		if (S_ISDIR(old->st.st_mode) && old->children)
			return fur_reply_err(req, ENOTEMPTY);
		d = *dst;
		*dst = d->next;
		old->st.st_nlink -= S_ISDIR(old->st.st_mode) ? 2 : 1;
		if (S_ISDIR(old->st.st_mode))
			to->st.st_nlink--;
		maybe_free(d->ino);
		free(d->name);
		free(d);
		src = find(from, name);
	}
	d = *src;
	*src = d->next;
	free(d->name);
	d->name = strdup(newname);
	d->next = to->children;
	to->children = d;
	if (S_ISDIR(n->st.st_mode) && from != to) {
		from->st.st_nlink--;
		to->st.st_nlink++;
	}
	touch(from, true, true);
	touch(to, true, true);
	touch(n, false, true);
	return fur_reply_err(req, 0);
}

static int do_readdir(struct fur_req *req, struct node *dir, uint64_t ino)
{
	const struct fuse_read_in *in = req->arg;
	char *buf = malloc(in->size);
	size_t len = 0;
	uint64_t i = 0;
	struct dentry *d;
	int err;

	if (!buf)
		return fur_reply_err(req, ENOMEM);
	/* Offsets: 1 after ".", 2 after "..", then one per child. */
	if (in->offset < 1 && fur_dirbuf_add(buf, in->size, &len, ".", ino,
					      DT_DIR, 1))
		goto out;
	if (in->offset < 2 && fur_dirbuf_add(buf, in->size, &len, "..", ino,
					      DT_DIR, 2))
		goto out;
	for (d = dir->children; d; d = d->next, i++) {
		if (i + 2 < in->offset)
			continue;
		if (fur_dirbuf_add(buf, in->size, &len, d->name, d->ino,
				   (nodes[d->ino]->st.st_mode & S_IFMT) >> 12,
				   i + 3))
			break;
	}
out:
	err = fur_reply_buf(req, buf, len);
	free(buf);
	return err;
}

static int do_xattr(struct fur_req *req, struct node *n)
{
	uint32_t op = req->in->opcode;
	struct xattr **pp, *x;
	const char *name;

	if (op == FUSE_LISTXATTR) {
		const struct fuse_getxattr_in *in = req->arg;
		size_t len = 0;
		char *buf;
		int err;

		for (x = n->xattrs; x; x = x->next)
			len += strlen(x->name) + 1;
		if (!in->size)
			return fur_reply_xattr_size(req, len);
		if (len > in->size)
			return fur_reply_err(req, ERANGE);
		buf = malloc(len + 1);
		if (!buf)
			return fur_reply_err(req, ENOMEM);
		len = 0;
		for (x = n->xattrs; x; x = x->next) {
			strcpy(buf + len, x->name);
			len += strlen(x->name) + 1;
		}
		err = fur_reply_buf(req, buf, len);
		free(buf);
		return err;
	}
	name = fur_req_str(req, op == FUSE_SETXATTR ? FUSE_COMPAT_SETXATTR_IN_SIZE :
			   op == FUSE_GETXATTR ? sizeof(struct fuse_getxattr_in) : 0);
	if (!name)
		return fur_reply_err(req, EINVAL);
	for (pp = &n->xattrs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	x = *pp;
	if (op == FUSE_GETXATTR) {
		const struct fuse_getxattr_in *in = req->arg;

		if (!x)
			return fur_reply_err(req, ENODATA);
		if (!in->size)
			return fur_reply_xattr_size(req, x->size);
		if (x->size > in->size)
			return fur_reply_err(req, ERANGE);
		return fur_reply_buf(req, x->value, x->size);
	}
	if (op == FUSE_REMOVEXATTR) {
		if (!x)
			return fur_reply_err(req, ENODATA);
		*pp = x->next;
		free(x->name);
		free(x->value);
		free(x);
		return fur_reply_err(req, 0);
	}
	{
		const struct fuse_setxattr_in *in = req->arg;
		const char *value = name + strlen(name) + 1;

		if (x && (in->flags & XATTR_CREATE))
			return fur_reply_err(req, EEXIST);
		if (!x && (in->flags & XATTR_REPLACE))
			return fur_reply_err(req, ENODATA);
		if (!x) {
			x = calloc(1, sizeof(*x));
			if (!x)
				return fur_reply_err(req, ENOMEM);
			x->name = strdup(name);
			x->next = n->xattrs;
			n->xattrs = x;
		}
		free(x->value);
		x->value = malloc(in->size ? in->size : 1);
		memcpy(x->value, value, in->size);
		x->size = in->size;
		return fur_reply_err(req, 0);
	}
}

static void handle_locked(struct fur_req *req)
{
	const struct fuse_in_header *h = req->in;
	struct node *n = get(h->nodeid);
	const char *name, *name2;

	if (!n) {
		fur_reply_err(req, ENOENT);
		return;
	}
	switch (h->opcode) {
	case FUSE_LOOKUP: {
		struct dentry **pp;

		name = fur_req_str(req, 0);
		pp = name ? find(n, name) : NULL;
		if (pp)
			reply_entry(req, (*pp)->ino);
		else
			fur_reply_err(req, ENOENT);
		return;
	}
	case FUSE_GETATTR:
		reply_attr(req, n);
		return;
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *in = req->arg;

		if (in->valid & FATTR_MODE)
			n->st.st_mode = (n->st.st_mode & S_IFMT) | (in->mode & 07777);
		if (in->valid & FATTR_UID)
			n->st.st_uid = in->uid;
		if (in->valid & FATTR_GID)
			n->st.st_gid = in->gid;
		if ((in->valid & FATTR_SIZE) && resize(n, in->size)) {
			fur_reply_err(req, ENOMEM);
			return;
		}
		if (in->valid & FATTR_ATIME)
			n->st.st_atim = (struct timespec){ in->atime, in->atimensec };
		if (in->valid & FATTR_MTIME)
			n->st.st_mtim = (struct timespec){ in->mtime, in->mtimensec };
		if (in->valid & FATTR_ATIME_NOW)
			clock_gettime(CLOCK_REALTIME, &n->st.st_atim);
		if (in->valid & FATTR_MTIME_NOW)
			touch(n, true, false);
		touch(n, in->valid & FATTR_SIZE, true);
		reply_attr(req, n);
		return;
	}
	case FUSE_READLINK:
		if (!S_ISLNK(n->st.st_mode))
			fur_reply_err(req, EINVAL);
		else
			fur_reply_buf(req, n->data, n->st.st_size);
		return;
	case FUSE_MKNOD: {
		const struct fuse_mknod_in *in = req->arg;

		name = fur_req_str(req, sizeof(*in));
		if (name)
			make(req, n, name, in->mode, in->rdev, NULL);
		break;
	}
	case FUSE_MKDIR: {
		const struct fuse_mkdir_in *in = req->arg;

		name = fur_req_str(req, sizeof(*in));
		if (name)
			make(req, n, name, S_IFDIR | (in->mode & 07777), 0, NULL);
		break;
	}
	case FUSE_SYMLINK:
		name = fur_req_str(req, 0);
		name2 = name ? fur_req_str(req, strlen(name) + 1) : NULL;
		if (name2)
			make(req, n, name, S_IFLNK | 0777, 0, name2);
		break;
	case FUSE_CREATE: {
		const struct fuse_create_in *in = req->arg;
		struct fuse_entry_out e = { .entry_valid = 1, .attr_valid = 1 };
		struct fuse_open_out o = {};
		struct dentry **pp;

		name = fur_req_str(req, sizeof(*in));
		if (!name)
			break;
		pp = find(n, name);
		if (pp && (in->flags & O_EXCL)) {
			fur_reply_err(req, EEXIST);
			return;
		}
		if (!pp) {
			struct dentry *d = calloc(1, sizeof(*d));
			uint64_t ino = new_node(S_IFREG | (in->mode & 07777),
						h->uid, h->gid);

			if (!d || !ino) {
				free(d);
				fur_reply_err(req, ENOMEM);
				return;
			}
			nodes[ino]->st.st_nlink = 1;
			d->name = strdup(name);
			d->ino = ino;
			d->next = n->children;
			n->children = d;
			touch(n, true, true);
			pp = &n->children;
		}
		e.nodeid = (*pp)->ino;
		nodes[e.nodeid]->nlookup++;
		if (in->flags & O_TRUNC)
			resize(nodes[e.nodeid], 0);
		fur_stat_to_attr(&nodes[e.nodeid]->st, &e.attr);
		fur_reply_create(req, &e, &o);
		return;
	}
	case FUSE_UNLINK:
	case FUSE_RMDIR:
		name = fur_req_str(req, 0);
		if (name)
			do_unlink(req, n, name, h->opcode == FUSE_RMDIR);
		break;
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		const struct fuse_rename2_in *in = req->arg;
		size_t head = h->opcode == FUSE_RENAME ?
			      sizeof(struct fuse_rename_in) : sizeof(*in);
		struct node *to = get(in->newdir);

		name = fur_req_str(req, head);
		name2 = name ? fur_req_str(req, head + strlen(name) + 1) : NULL;
		if (name2 && to)
			do_rename(req, n, name, to, name2,
				  h->opcode == FUSE_RENAME ? 0 : in->flags);
		break;
	}
	case FUSE_LINK: {
		const struct fuse_link_in *in = req->arg;
		struct node *old = get(in->oldnodeid);
		struct dentry *d;

		name = fur_req_str(req, sizeof(*in));
		if (!name || !old)
			break;
		if (find(n, name)) {
			fur_reply_err(req, EEXIST);
			return;
		}
		d = calloc(1, sizeof(*d));
		if (!d) {
			fur_reply_err(req, ENOMEM);
			return;
		}
		d->name = strdup(name);
		d->ino = in->oldnodeid;
		d->next = n->children;
		n->children = d;
		old->st.st_nlink++;
		touch(old, false, true);
		reply_entry(req, in->oldnodeid);
		return;
	}
	case FUSE_OPEN: {
		const struct fuse_open_in *in = req->arg;
		struct fuse_open_out o = {};

		if (in->flags & O_TRUNC)
			resize(n, 0);
		fur_reply_open(req, &o);
		return;
	}
	case FUSE_READ: {
		const struct fuse_read_in *in = req->arg;
		size_t len = 0;

		if ((off_t)in->offset < n->st.st_size)
			len = n->st.st_size - in->offset < in->size ?
			      n->st.st_size - in->offset : in->size;
		fur_reply_buf(req, n->data + in->offset, len);
		return;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *in = req->arg;
		size_t head = req->arglen - in->size;

		if (in->offset + in->size > (uint64_t)n->st.st_size &&
		    resize(n, in->offset + in->size)) {
			fur_reply_err(req, ENOMEM);
			return;
		}
		memcpy(n->data + in->offset, (const char *)req->arg + head,
		       in->size);
		touch(n, true, true);
		fur_reply_write(req, in->size);
		return;
	}
	case FUSE_OPENDIR: {
		struct fuse_open_out o = {};

		fur_reply_open(req, &o);
		return;
	}
	case FUSE_READDIR:
		do_readdir(req, n, h->nodeid);
		return;
	case FUSE_STATFS: {
		struct fuse_kstatfs st = {
			.blocks = 1 << 20, .bfree = 1 << 19, .bavail = 1 << 19,
			.files = MAX_NODES, .ffree = MAX_NODES / 2,
			.bsize = 4096, .namelen = 255, .frsize = 4096,
		};

		fur_reply_statfs(req, &st);
		return;
	}
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		fur_reply_err(req, 0);
		return;
	case FUSE_SETXATTR:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_REMOVEXATTR:
		do_xattr(req, n);
		return;
	default:
		fur_reply_err(req, ENOSYS);
		return;
	}
}

static void handle(struct fur_req *req, void *priv)
{
	(void)priv;
	pthread_mutex_lock(&lock);
	handle_locked(req);
	pthread_mutex_unlock(&lock);
	/* Arguments the kernel never sends: the library answers EIO. */
}

static void forget(uint64_t ino, uint64_t nlookup, void *priv)
{
	struct node *n;

	(void)priv;
	pthread_mutex_lock(&lock);
	n = get(ino);
	if (n) {
		n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
		maybe_free(ino);
	}
	pthread_mutex_unlock(&lock);
}

static void ready(void *priv)
{
	(void)priv;
	printf("memfs: ready\n");
	fflush(stdout);
}

static void on_signal(int sig)
{
	(void)sig;
	fur_unmount(mountpoint);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "fstype", required_argument, NULL, 't' },
		{ "transport", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	struct fur_config cfg = { .transport = FUR_TRANSPORT_RING };
	struct fur_ops ops = { .request = handle, .forget = forget,
			       .ready = ready };
	struct sigaction sa = { .sa_handler = on_signal };
	struct fur_session *se;
	int c, err;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.dev = optarg; break;
		case 't': cfg.fstype = optarg; break;
		case 'T':
			cfg.transport = strcmp(optarg, "classic") ?
					FUR_TRANSPORT_RING : FUR_TRANSPORT_CLASSIC;
			break;
		case 'o': cfg.mount_opts = optarg; break;
		default:
			fprintf(stderr, "usage: memfs [--transport ring|classic] [--dev PATH] [--fstype NAME] [-o OPTS] MOUNTPOINT\n");
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: memfs [options] MOUNTPOINT\n");
		return 2;
	}
	mountpoint = argv[optind];
	if (new_node(S_IFDIR | 0755, getuid(), getgid()) != FUSE_ROOT_ID)
		return 1;
	nodes[FUSE_ROOT_ID]->st.st_nlink = 2;
	cfg.want = FUSE_ATOMIC_O_TRUNC | FUSE_PARALLEL_DIROPS;
	umask(0);
	err = fur_mount(&cfg, mountpoint, &se);
	if (err) {
		fprintf(stderr, "memfs: mount %s: %s\n", mountpoint, fur_strerror(err));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = fur_loop(se, &ops, NULL);
	fur_session_free(se);
	if (err) {
		fprintf(stderr, "memfs: %s\n", fur_strerror(err));
		return 1;
	}
	return 0;
}
