/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the hostile-server fuzzers (fuzz_classic, fuzz_ring) share: the
 * seeded generator, the little tree the server pretends to have, the
 * answers with broken contents (out args too long or too short, readdir
 * records with bad lengths or names with '/' or NUL, nodeid 0 or the
 * root's id for a child, a node that changes type), the clients that run
 * random operations on the mount, and the run itself: server, two
 * clients, a watchdog, umount.  Each fuzzer brings its transport's
 * server and broken messages.  Include after kselftest_harness.h and
 * raw_server.h.
 *
 * The seed is fixed (FUZZ_SEED overrides it) and printed; FUZZ_MESSAGES
 * sets how many broken messages to send (default 20000).
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <dirent.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "xorshift.h"

#define NODES		48
#define FIRST_NODE	2

struct fuzz_stats {
	volatile int done;		/* the server sent enough */
	long broken;			/* broken messages sent */
	long refused;			/* ... refused as they must be */
	long wrong;			/* accepted or refused wrongly */
	long requests;
	long expect_errors;		/* ring: what the errors counters must say */
	volatile int ready;		/* the server serves */
	uint32_t last_opcode;
	char why[256];			/* the first wrong one */
};


static struct fuzz_stats *st;
static uint32_t node_mode[NODES + FIRST_NODE];

static void wrong(const char *fmt, long a, long b)
{
	if (!st->wrong)
		snprintf(st->why, sizeof(st->why), fmt, a, b);
	st->wrong++;
}

static void init_nodes(void)
{
	int i;

	for (i = FIRST_NODE; i < FIRST_NODE + NODES; i++)
		node_mode[i] = (i % 3 == 0 ? S_IFDIR | 0755 :
				i % 3 == 1 ? S_IFLNK | 0777 : S_IFREG | 0644);
}

static uint64_t node_of(const char *name)
{
	uint64_t h = 5381;

	while (*name)
		h = h * 33 + (unsigned char)*name++;
	return FIRST_NODE + h % NODES;
}

static void fill_entry(struct fuse_entry_out *e, uint64_t nodeid)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = nodeid;
	raw_fill_attr(&e->attr, nodeid, node_mode[nodeid]);
}

/* Readdir records; with bad, one of them is broken. */
static size_t fill_dirents(char *buf, size_t max, int plus, int bad)
{
	static const char *const names[] = { "a", "bb", "n7", "dir", "x/y", "z" };
	size_t off = 0, i, n = 3 + rnd(3);
	int broken = bad ? (int)rnd(n) : -1;

	for (i = 0; i < n; i++) {
		const char *name = names[i % 4];
		size_t namelen = strlen(name), rec;
		struct fuse_dirent *d;
		char *p = buf + off;

		if (plus) {
			struct fuse_direntplus *dp = (void *)p;

			rec = FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus)
				{ .dirent.namelen = namelen });
			if (off + rec > max)
				break;
			memset(dp, 0, rec);
			fill_entry(&dp->entry_out, node_of(name));
			d = &dp->dirent;
		} else {
			rec = FUSE_DIRENT_SIZE(&(struct fuse_dirent)
				{ .namelen = namelen });
			if (off + rec > max)
				break;
			memset(p, 0, rec);
			d = (void *)p;
		}
		d->ino = node_of(name);
		d->off = i + 1;
		d->namelen = namelen;
		d->type = DT_UNKNOWN;
		memcpy(d->name, name, namelen);
		if ((int)i == broken) {
			switch (rnd(4)) {
			case 0:
				d->namelen = 4096 + rnd(1 << 20);
				break;
			case 1:
				d->name[0] = '/';
				break;
			case 2:
				d->name[0] = '\0';
				break;
			case 3:
				d->namelen = 0;
				break;
			}
		}
		off += rec;
	}
	return off;
}

/*
 * The answer to req in out (returns its size, or -errno to reply with an
 * error); *fixed is set when the op's reply has a fixed size, so a longer
 * or shorter one must be refused.
 */
static long answer(const struct raw_req *req, char *out, size_t max,
		   int *fixed, int bad)
{
	const char *name = req->arg;
	uint32_t size = 0;

	*fixed = 0;
	switch (req->h.opcode) {
	case FUSE_LOOKUP:
	case FUSE_MKDIR:
	case FUSE_MKNOD:
	case FUSE_SYMLINK:
	case FUSE_LINK: {
		struct fuse_entry_out *e = (void *)out;
		uint64_t id;

		if (req->h.opcode == FUSE_MKDIR)
			name += sizeof(struct fuse_mkdir_in);
		else if (req->h.opcode == FUSE_MKNOD)
			name += sizeof(struct fuse_mknod_in);
		else if (req->h.opcode == FUSE_LINK)
			name += sizeof(struct fuse_link_in);
		id = node_of(name);
		if (req->h.opcode == FUSE_LOOKUP && rnd(4) == 0)
			return -ENOENT;
		fill_entry(e, id);
		if (bad) {
			switch (rnd(3)) {
			case 0:
				e->nodeid = rnd(2) ? 0 : FUSE_ROOT_ID;
				break;
			case 1:	/* the node changes type */
				e->attr.mode = rnd(2) ? S_IFDIR | 0755 :
					       S_IFLNK | 0777;
				break;
			case 2:
				e->attr.size = (uint64_t)-1 - rnd(10);
				break;
			}
		}
		*fixed = 1;
		return sizeof(*e);
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		struct fuse_attr_out *a = (void *)out;
		uint64_t id = req->h.nodeid;

		memset(a, 0, sizeof(*a));
		if (id >= FIRST_NODE + NODES)
			id = FUSE_ROOT_ID;
		raw_fill_attr(&a->attr, id, id == FUSE_ROOT_ID ?
			      S_IFDIR | 0755 : node_mode[id]);
		if (bad && id != FUSE_ROOT_ID)
			a->attr.mode ^= S_IFREG ^ S_IFDIR;
		*fixed = 1;
		return sizeof(*a);
	}
	case FUSE_OPENDIR: {
		memset(out, 0, sizeof(struct fuse_open_out));
		*fixed = 1;
		return sizeof(struct fuse_open_out);
	}
	case FUSE_READDIR:
	case FUSE_READDIRPLUS: {
		const struct fuse_read_in *in = (const void *)req->arg;

		if (in->offset)
			return 0;	/* the end of the directory */
		size = in->size < max ? in->size : max;
		return fill_dirents(out, size,
				    req->h.opcode == FUSE_READDIRPLUS, bad);
	}
	case FUSE_READLINK:
		if (bad) {
			memcpy(out, "a\0b/../c", 8);
			return 8;
		}
		memcpy(out, "target", 6);
		return 6;
	case FUSE_STATFS: {
		struct fuse_statfs_out *s = (void *)out;

		memset(s, 0, sizeof(*s));
		s->st.bsize = bad ? 0 : 4096;
		s->st.namelen = 255;
		*fixed = 1;
		return sizeof(*s);
	}
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		const struct fuse_getxattr_in *in = (const void *)req->arg;

		if (!in->size) {
			struct fuse_getxattr_out *g = (void *)out;

			memset(g, 0, sizeof(*g));
			g->size = bad ? 1u << 30 : 4;
			*fixed = 1;
			return sizeof(*g);
		}
		memcpy(out, "u.a", 4);
		return in->size < 4 ? 4 + rnd(8) : 4;
	}
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_SETXATTR:
	case FUSE_REMOVEXATTR:
	case FUSE_FSYNCDIR:
	case FUSE_ACCESS:
		return 0;
	}
	return -ENOSYS;
}

/* Random operations on the mount until the server has sent enough. */
static void client(const char *mnt, unsigned int seed)
{
	char a[128], b[128], buf[256];
	struct stat s;
	DIR *d;

	srandom(seed);
	while (!st->done) {
		snprintf(a, sizeof(a), "%s/n%ld", mnt, random() % 64);
		snprintf(b, sizeof(b), "%s/n%ld/m%ld", mnt, random() % 64,
			 random() % 4);
		switch (random() % 14) {
		case 0: stat(a, &s); break;
		case 1: lstat(b, &s); break;
		case 2:
			d = opendir(random() % 2 ? mnt : a);
			while (d && readdir(d))
				;
			if (d)
				closedir(d);
			break;
		case 3: if (readlink(a, buf, sizeof(buf))) {} break;
		case 4: mkdir(a, 0755); break;
		case 5: mknod(a, S_IFIFO | 0644, 0); break;
		case 6: symlink("t", a); break;
		case 7: unlink(a); break;
		case 8: rmdir(b); break;
		case 9: rename(a, b); break;
		case 10: getxattr(a, "user.a", buf, random() % 2 ? 0 : 8); break;
		case 11: listxattr(a, buf, random() % 2 ? 0 : 2); break;
		case 12: setxattr(a, "user.a", "v", 1, 0); break;
		case 13: link(a, b); break;
		}
	}
	_exit(0);
}

/* What a stuck process waits on: for the log of a failed run. */
static void dump_stack_of(pid_t pid)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	f = fopen(path, "r");
	fprintf(stderr, "# stack of %d:\n", pid);
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "#   %s", line);
	if (f)
		fclose(f);
}

/*
 * The run: the server (serve, in a child: it mounts mnt, sets st->ready
 * and serves until the mount goes, then exits 0), two clients, and a
 * watchdog that fails the run when no request comes for 20 s.  Once the
 * clients are back, check (optional) looks at the mount, then umount.
 */
static void fuzz_run(struct __test_metadata *_metadata,
		     void (*serve)(const char *mnt, long messages),
		     void (*check)(struct __test_metadata *_metadata,
				   const char *mnt))
{
	long messages = atol(getenv("FUZZ_MESSAGES") ?: "20000");
	char mnt[] = "/tmp/fuzz.XXXXXX";
	pid_t server, clients[2];
	double t0, t_last = 0;
	int i, status;
	long last;

	rng = strtoull(getenv("FUZZ_SEED") ?: "20261123", NULL, 0) | 1;
	TH_LOG("seed %llu, %ld broken messages",
	       (unsigned long long)rng, messages);
	ASSERT_EQ(0, raw_load_module());
	st = raw_shared_mem(sizeof(*st));
	ASSERT_NE(NULL, st);
	ASSERT_NE(NULL, mkdtemp(mnt));
	init_nodes();
	server = fork();
	if (server == 0)
		serve(mnt, messages);
	t0 = raw_now();
	while (!st->ready && raw_now() - t0 < 30 &&
	       waitpid(server, &status, WNOHANG) == 0)
		usleep(10 * 1000);
	ASSERT_EQ(1, st->ready) TH_LOG("the server did not start");
	for (i = 0; i < 2; i++) {
		clients[i] = fork();
		if (clients[i] == 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(i % sysconf(_SC_NPROCESSORS_ONLN), &set);
			sched_setaffinity(0, sizeof(set), &set);
			client(mnt, 1000 + i);
		}
	}
	t0 = raw_now();
	last = -1;
	while (!st->done && raw_now() - t0 < 600) {
		if (st->requests != last) {
			last = st->requests;
			t_last = raw_now();
		} else if (raw_now() - t_last > 20) {
			break;
		}
		usleep(100 * 1000);
	}
	if (!st->done) {
		TH_LOG("no progress for 20 s after %ld requests (last opcode %u)",
		       st->requests, st->last_opcode);
		dump_stack_of(server);
		dump_stack_of(clients[0]);
		dump_stack_of(clients[1]);
	}
	EXPECT_EQ(1, st->done) TH_LOG("the fuzzer did not finish");
	for (i = 0; i < 2; i++) {
		status = raw_wait(clients[i], 10);
		EXPECT_EQ(0, status) TH_LOG("client %d: status %d (-1: hung)",
					    i, status);
	}
	if (check)
		check(_metadata, mnt);
	EXPECT_EQ(0, umount(mnt)) TH_LOG("umount: %s", strerror(errno));
	EXPECT_EQ(0, raw_wait(server, 10));
	rmdir(mnt);
	TH_LOG("%ld requests, %ld broken messages, %ld refused as they must be, %ld wrong",
	       st->requests, st->broken, st->refused, st->wrong);
	EXPECT_EQ(0, st->wrong) TH_LOG("first: %s", st->why);
	EXPECT_LE(messages, st->broken);
}

#endif /* FUZZ_UTIL_H */
