// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile server on the classic transport.  For every request, it first
 * writes zero to three broken messages (a length that disagrees with the
 * write, a write shorter than a header, an error out of range, an unknown
 * unique) and checks each is refused with its errno without ending the
 * request; then it answers, sometimes with broken contents (out args too
 * long or too short, readdir records with bad lengths or names with '/'
 * or NUL, nodeid 0 or the root's id for a child, a node that changes
 * type, an error of any valid value), and sometimes answers twice.  Two
 * client processes meanwhile run random operations on the mount.  The
 * kernel must refuse what it cannot use, never complete a request twice,
 * return every caller, and keep its log clean (checked by the runner).
 * The tree, the answers, the clients and the run: fuzz_util.h.
 */
#include "kselftest_harness.h"
#include "raw_server.h"
#include "fuzz_util.h"

/* Write a raw message; returns 0 or -errno. */
static int send_raw(int fd, const void *msg, size_t len)
{
	return write(fd, msg, len) < 0 ? -errno : 0;
}

/* A broken header for unique: refused with the errno it deserves. */
static void send_broken_header(int fd, uint64_t unique)
{
	struct {
		struct fuse_out_header h;
		char pad[16];
	} m = { .h = { .len = sizeof(m.h), .unique = unique } };
	size_t len = sizeof(m.h);
	int want = -EINVAL, kind = rnd(4), got;

	switch (kind) {
	case 0:		/* the length disagrees with the write */
		m.h.len = sizeof(m.h) + 1 + rnd(64);
		break;
	case 1:		/* shorter than a header */
		len = rnd(sizeof(m.h));
		break;
	case 2:		/* an error no syscall can return */
		m.h.error = rnd(2) ? (int)(1 + rnd(1000)) : -(int)(512 + rnd(5000));
		break;
	case 3:		/* nobody asked */
		m.h.unique = (unique + 2 * (1 + rnd(1000))) & ~1ULL;
		want = -ENOENT;
		break;
	}
	st->broken++;
	got = send_raw(fd, &m, len);
	if (got == want)
		st->refused++;
	else
		wrong("broken header kind %ld: write returned %ld", kind, got);
}

static void reply_to(int fd, const struct raw_req *req, char *out)
{
	struct fuse_out_header *h = (void *)out;
	int i, fixed, bad, twice, got, err = 0;
	long len;

	for (i = rnd(4); i > 0; i--)
		send_broken_header(fd, req->h.unique);

	bad = rnd(3) == 0;
	len = answer(req, out + sizeof(*h), RAW_BUFSIZE - sizeof(*h) - 64,
		     &fixed, bad);
	if (len < 0) {
		err = len;
		len = 0;
	} else if (rnd(8) == 0) {
		err = -(int)(1 + rnd(511));	/* any valid error */
		len = 0;
		bad = 1;
	}
	if (!err && fixed && rnd(4) == 0) {	/* too long or too short */
		long delta = 1 + rnd(64);

		len = rnd(2) ? len + delta : (len > delta ? len - delta : 0);
		bad = 2;
	}
	h->len = sizeof(*h) + len;
	h->error = err;
	h->unique = req->h.unique;
	got = send_raw(fd, out, h->len);
	if (bad)
		st->broken++;
	if (bad == 2) {
		if (got < 0)
			st->refused++;
		else
			wrong("an out arg of the wrong size for opcode %ld was accepted (len %ld)",
			      req->h.opcode, len);
	} else if (got == -ENOENT) {
		wrong("the request (opcode %ld) was gone before its reply: a broken message ended it (%ld)",
		      req->h.opcode, got);
	}
	twice = rnd(5) == 0;
	if (twice) {
		st->broken++;
		got = send_raw(fd, out, h->len);
		if (got == -ENOENT)
			st->refused++;
		else
			wrong("a second reply for opcode %ld returned %ld",
			      req->h.opcode, got);
	}
}

static void serve(const char *mnt, long messages)
{
	char *buf = malloc(RAW_BUFSIZE), *out = malloc(RAW_BUFSIZE);
	int fd = raw_mount(mnt, "allow_other");
	struct raw_req req = {};

	if (fd < 0) {
		fprintf(stderr, "# mount: %s\n", strerror(-fd));
		_exit(1);
	}
	st->ready = 1;
	while (buf && out && !raw_read(fd, buf, &req)) {
		switch (req.h.opcode) {
		case FUSE_INIT:
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
		case FUSE_DESTROY:
		case FUSE_RELEASEDIR:
			raw_default(fd, &req);
			continue;
		}
		st->requests++;
		st->last_opcode = req.h.opcode;
		reply_to(fd, &req, out);
		if (st->broken >= messages)
			st->done = 1;
	}
	_exit(0);
}

FIXTURE(classic) {
};

FIXTURE_SETUP(classic)
{
}

FIXTURE_TEARDOWN(classic)
{
}

TEST_F_TIMEOUT(classic, fuzz_hostile_server, 900)
{
	fuzz_run(_metadata, serve, NULL);
}

TEST_HARNESS_MAIN
