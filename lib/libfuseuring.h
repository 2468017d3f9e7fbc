/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libfuseuring: a small library for FUSE servers on fuseuring (or on the
 * kernel's own FUSE), over the classic device or over io_uring.
 *
 * A server gives one handler; the library reads requests, decodes them
 * into a struct fur_req (the wire's in header and the op's arguments, laid
 * out as in a classic read), calls the handler and sends its reply.  The
 * handler sees the same request whatever the transport, so a server picks
 * its transport with one field of struct fur_config.
 *
 * Calls return 0 or -errno and print nothing.
 */
#ifndef LIBFUSEURING_H
#define LIBFUSEURING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/fuseuring.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fur_transport {
	FUR_TRANSPORT_CLASSIC,	/* read(2)/write(2) on the device */
	FUR_TRANSPORT_RING,	/* io_uring: REGISTER, COMMIT_AND_FETCH */
};

/*
 * Ring payload buffers: one per entry (depth x max payload per queue), or
 * one pool per queue, carved into max-payload slots the kernel hands to
 * requests (FUSE 7.46 buffer pools), sized from bufpool_budget.
 */
enum fur_bufpool {
	FUR_BUFPOOL_NONE,	/* a payload buffer per entry */
	FUR_BUFPOOL_USER,	/* the server's memory */
	FUR_BUFPOOL_FIXED,	/* the server's memory, an io_uring fixed
				 * buffer: no page lookup per request */
	FUR_BUFPOOL_KERNEL,	/* the module's pages, mapped (fuseuring) */
};

struct fur_req;
struct fur_session;

struct fur_ops {
	/*
	 * Every request but INIT, DESTROY, FORGET, BATCH_FORGET and
	 * INTERRUPT.  The handler must answer each request exactly once
	 * with one of the fur_reply_*() calls, from the calling thread.
	 */
	void (*request)(struct fur_req *req, void *priv);
	/* The kernel forgets nlookup lookups of nodeid. */
	void (*forget)(uint64_t nodeid, uint64_t nlookup, void *priv);
	/* INIT: adjust the reply (out) to the kernel's offer (in). */
	void (*init)(const struct fuse_init_in *in, struct fuse_init_out *out,
		     void *priv);
	/* The filesystem is unmounted cleanly. */
	void (*destroy)(void *priv);
	/* Serving has begun (over the ring: every queue is registered). */
	void (*ready)(void *priv);
};

struct fur_config {
	const char *dev;		/* default /dev/fuseuring */
	const char *fstype;		/* default "fuseuring" */
	const char *mount_opts;		/* extra mount options, or NULL */
	enum fur_transport transport;
	unsigned int threads;		/* classic: reader threads (default 2) */
	unsigned int queues;		/* ring: queues (0: as the kernel has) */
	unsigned int depth;		/* ring: entries per queue (default 8) */
	size_t payload;			/* ring: payload bytes (default: fits max_write) */
	enum fur_bufpool bufpool;	/* ring: payload pool per queue, or none */
	size_t bufpool_budget;		/* ring: pool bytes per queue (default:
					 * a quarter of depth x max payload) */
	/*
	 * ring: zero-copy READ and WRITE where the kernel gives it to this
	 * server (CAP_SYS_ADMIN; files opened with FOPEN_IO_URING_ZERO_COPY).
	 * The handler must then read WRITE data with fur_req_write_data()
	 * or fur_reply_write_fd(), not from arg.
	 */
	bool zero_copy;
	uint64_t want;			/* INIT flags wanted (FUSE_*) */
	uint32_t max_write;		/* default 1 MiB */
	uint32_t max_readahead;		/* default: what the kernel offers */
	/*
	 * ring: pin each queue's thread to the CPUs whose requests the
	 * kernel sends to that queue.  Off by default: with the client and
	 * its server on one CPU every request costs two context switches on
	 * that CPU, which doubled single-job latency in our measurements
	 * (fuseuring-ring-notes.txt, "Queue threads and CPUs").
	 */
	bool pin_queues;
};

/* A request, as the handler sees it. */
struct fur_req {
	const struct fuse_in_header *in;
	const void *arg;		/* the op's arguments, in wire order */
	size_t arglen;
	struct fur_session *se;
	void *priv;			/* the library's */
};

/* Mount cfg at mountpoint; *sep is the session, ready for fur_loop(). */
int fur_mount(const struct fur_config *cfg, const char *mountpoint,
	      struct fur_session **sep);
/* Serve until the filesystem is unmounted. */
int fur_loop(struct fur_session *se, const struct fur_ops *ops, void *priv);
/* Free a session whose loop has ended. */
void fur_session_free(struct fur_session *se);
/* Unmount (lazily if busy). */
int fur_unmount(const char *mountpoint);
/* What a setup errno means, in words (for the ring's refusals too). */
const char *fur_strerror(int err);
/* The transport that serves now, and the number of ring queues. */
enum fur_transport fur_session_transport(const struct fur_session *se);
unsigned int fur_session_queues(const struct fur_session *se);
/* Ring payload memory per queue (entries' buffers or the pool), bytes. */
size_t fur_session_payload_mem(const struct fur_session *se);
/* Whether every ring queue has zero-copy (cfg.zero_copy and the kernel). */
bool fur_session_zero_copy(const struct fur_session *se);
/*
 * Whether that zero-copy is upstream's kind (the client's pages are
 * registered buffers of the ring: READ_FIXED/WRITE_FIXED), not the window.
 */
bool fur_session_zero_copy_fixed(const struct fur_session *se);
/* "none", "user", "fixed", "kernel"; -1 for another name. */
int fur_bufpool_parse(const char *name);
/* Requests served, by opcode (0 .. FUR_MAX_OPCODE - 1). */
#define FUR_MAX_OPCODE	64
uint64_t fur_session_count(const struct fur_session *se, unsigned int opcode);
const char *fur_opname(unsigned int opcode);

/* Replies: each returns 0 or -errno (from the transport). */
int fur_reply_err(struct fur_req *req, int err);	/* err >= 0 */
int fur_reply_buf(struct fur_req *req, const void *buf, size_t len);
int fur_reply_iov(struct fur_req *req, const struct iovec *iov, int n);
int fur_reply_none(struct fur_req *req);		/* no reply at all */
int fur_reply_entry(struct fur_req *req, const struct fuse_entry_out *e);
int fur_reply_attr(struct fur_req *req, const struct fuse_attr_out *a);
int fur_reply_open(struct fur_req *req, const struct fuse_open_out *o);
int fur_reply_create(struct fur_req *req, const struct fuse_entry_out *e,
		     const struct fuse_open_out *o);
int fur_reply_write(struct fur_req *req, uint32_t count);
/*
 * File data without a copy through server buffers, where the request came
 * zero-copy (the client's pages are in the queue's window: the read or
 * write goes straight between them and fd), and with the payload buffer
 * as the read's target otherwise.  Same results on every transport.
 * fur_reply_read_fd: answer a READ with up to size bytes of fd at off
 * (fewer at EOF).  fur_reply_write_fd: write a WRITE's data to fd at off
 * and answer with the count.  Errors of fd are the reply's.
 */
int fur_reply_read_fd(struct fur_req *req, int fd, off_t off, size_t size);
int fur_reply_write_fd(struct fur_req *req, int fd, off_t off);
/* A WRITE's data, wherever it is (payload or window), and its length. */
const void *fur_req_write_data(const struct fur_req *req, size_t *len);
/* Whether the request's data is in the window (zero-copy). */
bool fur_req_zero_copy(const struct fur_req *req);
int fur_reply_statfs(struct fur_req *req, const struct fuse_kstatfs *st);
int fur_reply_xattr_size(struct fur_req *req, uint32_t size);
int fur_reply_lock(struct fur_req *req, const struct fuse_file_lock *lk);
int fur_reply_lseek(struct fur_req *req, uint64_t offset);

/* Attributes for a reply, from a stat of the object. */
void fur_stat_to_attr(const struct stat *st, struct fuse_attr *a);

/* The entry's name, etc.: the NUL-terminated string at byte off of arg. */
const char *fur_req_str(const struct fur_req *req, size_t off);

/*
 * Wait until the kernel interrupts req (FUSE_INTERRUPT) or timeout_ms
 * pass (-1: forever); 1 if interrupted, 0 on timeout.
 */
int fur_req_wait_interrupt(struct fur_req *req, int timeout_ms);

/*
 * Directory replies: add one record to buf (size bytes, *len used);
 * 0 when it fits, -ENOSPC when it does not.  off is the record's offset
 * for the next READDIR; type is DT_*.
 */
int fur_dirbuf_add(char *buf, size_t size, size_t *len, const char *name,
		   uint64_t ino, uint32_t type, uint64_t off);
int fur_dirbuf_add_plus(char *buf, size_t size, size_t *len, const char *name,
			const struct fuse_entry_out *e, uint64_t off);

#ifdef __cplusplus
}
#endif
#endif /* LIBFUSEURING_H */
