/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the privilege tests (priv_classic, priv_ring) share: the user they
 * switch to, and the check that the padding and unused fields of what the
 * module sends a server are zero (no stale kernel bytes reach it).  The
 * counts live in shared memory (ps) so a server in a child can report.
 * Include after raw_server.h.
 */
#ifndef PRIV_UTIL_H
#define PRIV_UTIL_H

#define NOBODY	65534

struct priv_stats {
	long opendir_by_nobody;
	long nonzero_padding;
	long checked;
	char why[160];
};

static struct priv_stats *ps;

static void mark(int cond, const char *what, long v)
{
	ps->checked++;
	if (!cond) {
		if (!ps->nonzero_padding)
			snprintf(ps->why, sizeof(ps->why), "%s: %ld", what, v);
		ps->nonzero_padding++;
	}
}

/* The bytes of what the kernel sent that must be zero. */
static void check_padding(const struct raw_req *req)
{
	const void *a = req->arg;

	mark(!req->h.padding, "in_header.padding", req->h.padding);
	mark(!req->h.total_extlen, "in_header.total_extlen", req->h.total_extlen);
	switch (req->h.opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *in = a;
		size_t i;

		for (i = 0; i < sizeof(in->unused) / sizeof(in->unused[0]); i++)
			mark(!in->unused[i], "init_in.unused", i);
		break;
	}
	case FUSE_GETATTR: {
		const struct fuse_getattr_in *in = a;

		mark(!in->dummy, "getattr_in.dummy", in->dummy);
		break;
	}
	case FUSE_MKNOD: {
		const struct fuse_mknod_in *in = a;

		mark(!in->padding, "mknod_in.padding", in->padding);
		break;
	}
	case FUSE_RENAME2: {
		const struct fuse_rename2_in *in = a;

		mark(!in->padding, "rename2_in.padding", in->padding);
		break;
	}
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *in = a;

		mark(!in->padding, "setattr_in.padding", in->padding);
		mark(!in->unused4, "setattr_in.unused4", in->unused4);
		mark(!in->unused5, "setattr_in.unused5", in->unused5);
		break;
	}
	case FUSE_OPENDIR: {
		const struct fuse_open_in *in = a;

		mark(!in->open_flags, "open_in.open_flags", in->open_flags);
		break;
	}
	case FUSE_READDIR:
	case FUSE_READDIRPLUS: {
		const struct fuse_read_in *in = a;

		mark(!in->padding, "read_in.padding", in->padding);
		break;
	}
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		const struct fuse_getxattr_in *in = a;

		mark(!in->padding, "getxattr_in.padding", in->padding);
		break;
	}
	}
}

#endif /* PRIV_UTIL_H */
