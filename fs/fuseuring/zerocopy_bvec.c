// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: upstream's zero-copy (FUSE 7.46), on kernels that export
 * io_buffer_register_bvec().  A zero-copy queue (ADD_QUEUE with
 * FUSE_URING_ZERO_COPY by a CAP_SYS_ADMIN server, then a buffer pool)
 * names one slot of the server's io_uring buffer table per entry at
 * REGISTER (ent_zero_copy_buf_index).  A READ or WRITE of a file opened
 * with FOPEN_IO_URING_ZERO_COPY gets its pages registered as a kernel
 * buffer in that slot, in the ring whose command hands the request over,
 * and arrives with FUSE_URING_ENT_ZERO_COPY: the server fills a READ's
 * pages with IORING_OP_READ_FIXED and reads a WRITE's with
 * IORING_OP_WRITE_FIXED at offsets from 0; nothing is copied through the
 * payload buffer.
 *
 * The slot is emptied (io_buffer_unregister()) before the request ends,
 * with a command of the same ring: the commit's, the handing-over
 * command's when the hand-over fails, a parked command's at the abort.
 * Where the abort finds none (the server holds every entry of that ring)
 * the buffer stays in the server's table until the server empties the
 * slot or its ring goes; the page references the buffer holds keep the
 * pages valid until io_uring lets them go (the release callback).
 * Design and limits: Documentation/filesystems/fuseuring-zerocopy.rst
 */

#include <linux/bvec.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "dev_uring_i.h"

#if FUR_HAVE_RING && FUR_HAVE_IO_BUFFER_REGISTER_BVEC

/* The pages of one registered request, shared with io_uring's table. */
struct fur_zc_buf {
	/* One for the entry that registered it, one for io_uring's table. */
	refcount_t ref;
	/* Cleared by the release: the table no longer holds the buffer. */
	bool in_table;
	unsigned int nr;
	struct bio_vec bvs[];
};

static unsigned long fur_cmd_ctx(struct io_uring_cmd *cmd)
{
	return (unsigned long)io_uring_cmd_ctx_handle(cmd);
}

static void fur_zcb_put(struct fur_zc_buf *zb)
{
	if (refcount_dec_and_test(&zb->ref))
		kvfree(zb);
}

static void fur_zcb_put_pages(struct fur_zc_buf *zb)
{
	unsigned int i;

	for (i = 0; i < zb->nr; i++)
		put_page(zb->bvs[i].bv_page);
}

/*
 * io_uring let the buffer go (unregistered and no fixed I/O on it any
 * more, or the ring torn down): the pages are no longer reachable.  A
 * ring may outlive the connection and the device file, so each buffer
 * holds a module reference until this callback, which is module code.
 */
static void fur_zcb_release(void *priv)
{
	struct fur_zc_buf *zb = priv;

	fur_zcb_put_pages(zb);
	/* Pairs with smp_load_acquire() in fur_zcb_unregister(). */
	smp_store_release(&zb->in_table, false);
	fur_zcb_put(zb);
	module_put(THIS_MODULE);
}

/*
 * As upstream: a READ or WRITE whose data is pages, of a file opened with
 * FOPEN_IO_URING_ZERO_COPY, on a zero-copy queue.
 */
bool fur_zcb_wanted(struct fur_ring_queue *q, struct fur_req *req)
{
	struct fur_args *args = req->args;
	struct fur_args_pages *ap;

	if (!READ_ONCE(q->zc_bvec) || !args->zero_copy)
		return false;
	if (args->opcode == FUSE_READ) {
		if (!args->out_pages || args->in_pages)
			return false;
	} else if (args->opcode == FUSE_WRITE) {
		if (!args->in_pages || args->out_pages)
			return false;
	} else {
		return false;
	}
	ap = container_of(args, struct fur_args_pages, args);
	return ap->num_pages;
}

/*
 * Register req's pages (exactly its data: a READ's size, a WRITE's data
 * argument) in ent's slot of the ring of ent's command, writable for a
 * READ, readable for a WRITE.  Each page is referenced for as long as
 * io_uring holds the buffer.  0, or io_uring's error, which ends the
 * request (-EINVAL: no such slot, -EBUSY: the slot is taken).
 */
int fur_zcb_register(struct fur_ring_ent *ent, struct fur_req *req,
		     unsigned int issue_flags)
{
	struct fur_args *args = req->args;
	struct fur_args_pages *ap = container_of(args, struct fur_args_pages,
						 args);
	bool read = args->opcode == FUSE_READ;
	size_t left = read ? args->out_args[0].size :
			     args->in_args[args->in_numargs - 1].size;
	struct fur_zc_buf *zb;
	unsigned int i;
	int err;

	zb = kvmalloc(struct_size(zb, bvs, ap->num_pages), GFP_KERNEL_ACCOUNT);
	if (!zb)
		return -ENOMEM;
	zb->nr = 0;
	for (i = 0; i < ap->num_pages && left; i++) {
		unsigned int len = min_t(size_t, left, ap->descs[i].length);

		bvec_set_page(&zb->bvs[zb->nr++], ap->pages[i], len,
			      ap->descs[i].offset);
		get_page(ap->pages[i]);
		left -= len;
	}
	err = -EINVAL;
	if (left || !zb->nr)
		goto fail;
	refcount_set(&zb->ref, 2);
	zb->in_table = true;
	/* The open device file holds one: the module is live. */
	__module_get(THIS_MODULE);
	err = io_buffer_register_bvec(ent->cmd, zb->bvs, zb->nr,
				      fur_zcb_release, zb,
				      read ? IO_BUF_DEST : IO_BUF_SOURCE,
				      ent->zc_index, issue_flags);
	if (err) {
		module_put(THIS_MODULE);
		goto fail;
	}
	ent->zcb = zb;
	ent->zc_ctx = fur_cmd_ctx(ent->cmd);
	spin_lock(&ent->queue->lock);
	ent->queue->zc_requests++;
	spin_unlock(&ent->queue->lock);
	return 0;
fail:
	fur_zcb_put_pages(zb);
	kvfree(zb);
	return err;
}

/*
 * Empty ent's slot, if its request's pages are registered, with cmd (a
 * command of the same ring, being issued or parked) or, without one,
 * leave the buffer to the server's ring.  Either way ent lets it go.
 */
void fur_zcb_unregister(struct fur_ring_ent *ent, struct io_uring_cmd *cmd,
			unsigned int issue_flags)
{
	struct fur_zc_buf *zb = ent->zcb;

	if (!zb)
		return;
	ent->zcb = NULL;
	/*
	 * Still in the table, the ring is alive and ent->zc_ctx names it.
	 * An error means the server emptied the slot itself meanwhile.
	 */
	if (cmd && smp_load_acquire(&zb->in_table) &&
	    fur_cmd_ctx(cmd) == ent->zc_ctx)
		io_buffer_unregister(cmd, ent->zc_index, issue_flags);
	fur_zcb_put(zb);
}

/*
 * A commit must come from the ring the request's pages are registered
 * in: only a command of that ring can empty the slot.
 */
bool fur_zcb_commit_ok(struct fur_ring_ent *ent, struct io_uring_cmd *cmd)
{
	struct fur_zc_buf *zb = ent->zcb;

	/* Pairs with smp_store_release() in fur_zcb_release(). */
	return !zb || !smp_load_acquire(&zb->in_table) ||
	       fur_cmd_ctx(cmd) == ent->zc_ctx;
}

/*
 * The abort, for entries the server holds (held) and parked entries
 * (parked, their commands not completed yet, any queue of the ring):
 * empty each held entry's slot with a parked command of its ring.
 * Process context, no lock held: the ring's lock is taken.
 */
void fur_zcb_abort(struct list_head *held, struct list_head *parked)
{
	struct fur_ring_ent *ent, *p;
	struct io_uring_cmd *cmd;

	list_for_each_entry(ent, held, list) {
		if (!ent->zcb)
			continue;
		cmd = NULL;
		list_for_each_entry(p, parked, list) {
			if (fur_cmd_ctx(p->cmd) == ent->zc_ctx) {
				cmd = p->cmd;
				break;
			}
		}
		fur_zcb_unregister(ent, cmd, IO_URING_F_UNLOCKED);
	}
}

#endif /* FUR_HAVE_RING && FUR_HAVE_IO_BUFFER_REGISTER_BVEC */
