/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuseuring: private declarations of the io_uring transport (dev_uring.c).
 * See Documentation/filesystems/fuseuring-ring-notes.txt for the design.
 */
#ifndef _FS_FUSEURING_DEV_URING_I_H
#define _FS_FUSEURING_DEV_URING_I_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "fuseuring_i.h"

struct io_uring_cmd;

/*
 * Where a ring entry is.  Each state but FUR_ENT_FREE has its own list in
 * the queue and an entry is on exactly the list of its state.
 */
enum fur_ent_state {
	FUR_ENT_AVAIL,		/* parked: holds a command, no request */
	FUR_ENT_DISPATCH,	/* holds a command and a request to copy */
	FUR_ENT_USERSPACE,	/* command done: the server has the request */
	FUR_ENT_COMMIT,		/* holds a new command, copying the reply */
	FUR_ENT_FREE,		/* off every list, about to be freed */
};

struct fur_ring_queue;

/* One registered pair of server buffers and the command parked on it. */
struct fur_ring_ent {
	struct list_head list;
	struct fur_ring_queue *queue;
	enum fur_ent_state state;
	struct io_uring_cmd *cmd;
	struct fur_req *req;
	struct fuse_uring_req_header __user *headers;
	void __user *payload;
	size_t payload_sz;
};

/* Counters a user reads in debugfs; updated under the queue's lock. */
struct fur_ring_stats {
	u64 dispatched;		/* requests handed to the server */
	u64 inflight;		/* requests the server holds now */
	u64 committed;		/* replies accepted */
	u64 errors;		/* bad replies, unknown commit ids, copy faults */
};

struct fur_ring_queue {
	/* Protects everything below. */
	spinlock_t lock;
	unsigned int qid;
	struct fur_ring *ring;
	bool stopped;
	unsigned int nr_ents;
	struct list_head ent_avail;
	struct list_head ent_dispatch;
	struct list_head ent_user;
	struct list_head ent_commit;
	/* Requests waiting for an entry of this queue. */
	struct list_head reqs;
	struct fur_ring_stats stats;
};

struct fur_ring {
	struct fur_conn *fc;
	unsigned int nr_queues;
	size_t max_payload;
	/* Queues that have at least one entry. */
	atomic_t nr_ready;
	/* The ring carries requests; changed under fc->iq.lock. */
	bool ready;
	/* Set once by the abort; read under a queue's lock too. */
	bool stopped;
	/* Classic forgets and interrupts, ring requests. */
	struct fur_iqueue_ops ops;
	struct dentry *debugfs;
#if !FUR_HAVE_URING_CMD_CANCEL
	/* 6.1: completes parked commands io_uring gave up on. */
	struct delayed_work watch;
#endif
	struct fur_ring_queue *queues[];
};

#endif /* _FS_FUSEURING_DEV_URING_I_H */
