/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libfuseuring internals shared by the session and the transports. */
#ifndef FUR_INTERNAL_H
#define FUR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "libfuseuring.h"

struct fur_ring;

/* A request the handler waits on for its interrupt. */
struct fur_waiter {
	uint64_t unique;
	bool interrupted;
	struct fur_waiter *next;
};

struct fur_session {
	int fd;
	char *mountpoint;
	struct fur_config cfg;
	const struct fur_ops *ops;
	void *priv;
	uint32_t minor;
	uint64_t kernel_flags;		/* what INIT offered */
	uint32_t max_write;
	uint32_t max_pages;		/* as the INIT reply said */
	size_t bufsize;			/* a classic read buffer */
	enum fur_transport transport;	/* what serves now */
	unsigned int nqueues;
	_Atomic uint64_t counts[FUR_MAX_OPCODE];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fur_waiter *waiters;
	int init_err;			/* INIT could not be served */
	bool inited;
	bool zero_copy;			/* every ring queue has it */
	bool zero_copy_fixed;		/* upstream's kind (ring.c) */
	struct fur_ring *ring;
};

/* How a request's reply travels. */
struct fur_reply_ops {
	int (*send)(struct fur_req *req, int error, const struct iovec *iov,
		    int n);
	/*
	 * Optional: where a reply's payload can be built in place (*cap
	 * bytes), and the send of len bytes built there or, for a
	 * zero-copy READ, stored in the window.
	 */
	char *(*buf)(struct fur_req *req, size_t *cap);
	int (*send_inplace)(struct fur_req *req, size_t len);
	/*
	 * Upstream's zero-copy (the request's pages are a registered buffer
	 * of the ring): one READ_FIXED (read: fd into the pages) or
	 * WRITE_FIXED (the pages to fd) of len bytes at byte at of the
	 * pages and off of fd; bytes moved or -errno.
	 */
	ssize_t (*fixed_io)(struct fur_req *req, bool read, int fd, size_t at,
			    size_t len, off_t off);
	/* A zero-copied WRITE's data copied out of its pages (*len bytes). */
	const void *(*fixed_data)(struct fur_req *req, size_t *len);
};

struct fur_req_priv {
	const struct fur_reply_ops *rops;
	void *transport;		/* the transport's per-request data */
	struct fuse_in_header in;	/* a copy: the ring reuses its header */
	bool replied;
	/* Zero-copy: the request's data in the window, and its room. */
	char *zc_data;
	size_t zc_len;
	/*
	 * Upstream's zero-copy: the data is in registered buffer zc_index of
	 * the ring (zc_len bytes), reached by rops->fixed_io only.
	 */
	bool zc_fixed;
	unsigned int zc_index;
};

/* Act on one request whose header is rp->in (session.c). */
void fur_dispatch(struct fur_session *se, struct fur_req_priv *rp,
		  const void *arg, size_t arglen);

/* The ring (ring.c). */
int fur_ring_start(struct fur_session *se);
void fur_ring_wait(struct fur_session *se);

#endif /* FUR_INTERNAL_H */
