// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: buffer pools of the io_uring transport.  Instead of one
 * max-payload buffer per ring entry, a queue may have one pool carved
 * into slots (FUSE 7.46: ADD_QUEUE, then ADD_BUFPOOL, then REGISTER with
 * header buffers only).  A request with payload takes a slot while the
 * server holds it and gives it back at commit; requests wait for a free
 * slot.  The server learns the slot from fuse_uring_ent_in_out.offset.
 *
 * Three kinds of pool:
 *  - server memory (upstream's unregistered pool): copied to and from
 *    with uaccess, pages looked up on each copy;
 *  - server memory registered as an io_uring fixed buffer (upstream's
 *    registered pool): pinned once at registration, imported per request
 *    with io_uring_cmd_import_fixed(), no page lookup;
 *  - module memory (fuseuring's extension, FUSEURING_BUFPOOL_KERNEL):
 *    pages allocated on the queue's NUMA node, mapped by the kernel once
 *    and by the server with mmap(2) on the device.
 * Design and measurements: Documentation/filesystems/fuseuring-bufpool-notes.txt
 */

#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>

#include "dev_uring_i.h"

#if FUR_HAVE_RING

/*
 * ADD_QUEUE: announce a queue before its pool and entries.  A queue that
 * already has entries (REGISTER announces a queue too, as upstream) or
 * was added before is -EEXIST.  Zero-copy: -EPERM without CAP_SYS_ADMIN
 * (as upstream); upstream's kind (zerocopy_bvec.c) where the kernel has
 * it, else -EOPNOTSUPP; fuseuring's window (FUSEURING_ZERO_COPY_WINDOW)
 * makes a window queue (zerocopy.c).
 */
int fur_ring_add_queue(struct fur_ring *ring,
		       const struct fuse_uring_cmd_req *cr)
{
	u16 qid = READ_ONCE(cr->qid);
	u64 flags = READ_ONCE(cr->flags);
	struct fur_ring_queue *q;
	int err = 0, zc;

	if (qid >= ring->nr_queues)
		return -EINVAL;
	zc = fur_zc_queue_flags(flags);
	if (zc < 0)
		return zc;
	q = ring->queues[qid];
	spin_lock(&q->lock);
	if (q->stopped)
		err = -ENOTCONN;
	else if (q->added)
		err = -EEXIST;
	else
		q->added = true;
	if (!err && zc == FUR_ZC_WINDOW)
		q->zc_window = true;
	if (!err && zc == FUR_ZC_BVEC)
		q->zc_bvec = true;
	spin_unlock(&q->lock);
	return err;
}

/* Whether q may take a pool now; q->lock held. */
static int fur_bufpool_queue_state(struct fur_ring_queue *q)
{
	lockdep_assert_held(&q->lock);
	if (q->stopped)
		return -ENOTCONN;
	if (q->payload_mode == FUR_PAYLOAD_POOL)
		return -EEXIST;
	if (q->payload_mode == FUR_PAYLOAD_PER_ENT)
		return -EBUSY;
	if (!q->added)
		return -ENOENT;
	return 0;
}

void fur_bufpool_free(struct fur_bufpool *pool)
{
	unsigned int i;

	if (!pool)
		return;
	if (pool->vaddr)
		vunmap(pool->vaddr);
	/* Pages the server still maps keep the reference its mapping took. */
	for (i = 0; pool->pages && i < pool->nr_pages; i++)
		if (pool->pages[i])
			put_page(pool->pages[i]);
	kvfree(pool->pages);
	kfree(pool);
}

/* A kernel-allocated pool: zeroed pages on node, mapped in the kernel. */
static int fur_bufpool_alloc_pages(struct fur_bufpool *pool, int node)
{
	unsigned int i;

	pool->nr_pages = (pool->nr_slots * pool->slot_size) >> PAGE_SHIFT;
	pool->pages = kvcalloc(pool->nr_pages, sizeof(*pool->pages),
			       GFP_KERNEL_ACCOUNT);
	if (!pool->pages)
		return -ENOMEM;
	for (i = 0; i < pool->nr_pages; i++) {
		pool->pages[i] = alloc_pages_node(node, GFP_KERNEL_ACCOUNT |
						  __GFP_ZERO | __GFP_NOWARN, 0);
		if (!pool->pages[i])
			return -ENOMEM;
		cond_resched();
	}
	pool->vaddr = vmap(pool->pages, pool->nr_pages, VM_MAP, PAGE_KERNEL);
	return pool->vaddr ? 0 : -ENOMEM;
}

/*
 * Server memory must be mapped now, not at the first request: touch
 * every page of it (reading populates nothing the server would not).
 */
static int fur_bufpool_check_user(struct fur_bufpool *pool)
{
	size_t len = pool->nr_slots * pool->slot_size, off;
	char __user *base = (char __user *)pool->uaddr;
	char c;

	if (!access_ok(base, len))
		return -EFAULT;
	for (off = 0; off < len; off += PAGE_SIZE) {
		if (get_user(c, base + off))
			return -EFAULT;
		cond_resched();
	}
	return 0;
}

/* The whole pool must lie in the registered buffer the command names. */
static int fur_bufpool_check_fixed(struct fur_bufpool *pool,
				   struct io_uring_cmd *cmd,
				   unsigned int issue_flags)
{
	struct iov_iter iter;

	return fur_uring_cmd_import_fixed(pool->uaddr,
					  pool->nr_slots * pool->slot_size,
					  ITER_DEST, &iter, cmd, issue_flags);
}

/*
 * ADD_BUFPOOL: give an added queue its pool, before any REGISTER on it.
 * Upstream's checks plus stricter ones (see fuseuring.rst for the table):
 * a pool must hold one max payload (-EINVAL), start on a page (-EINVAL)
 * and be mapped (-EFAULT); the queue must have been added (-ENOENT), have
 * no pool yet (-EEXIST) and no per-entry buffers (-EBUSY).
 */
int fur_ring_add_bufpool(struct fur_ring *ring, struct io_uring_cmd *cmd,
			 const struct fuse_uring_cmd_req *cr,
			 unsigned int issue_flags)
{
	bool fixed = cmd->flags & IORING_URING_CMD_FIXED;
	u64 flags = READ_ONCE(cr->flags);
	u16 qid = READ_ONCE(cr->qid);
	u64 uaddr = READ_ONCE(cr->bufpool.uaddr);
	u32 len = READ_ONCE(cr->bufpool.len);
	struct fur_ring_queue *q;
	struct fur_bufpool *pool;
	unsigned int nr;
	int err;

	if (qid >= ring->nr_queues || (flags & ~FUSEURING_BUFPOOL_KERNEL) ||
	    READ_ONCE(cr->bufpool.reserved))
		return -EINVAL;
	q = ring->queues[qid];
	spin_lock(&q->lock);
	err = fur_bufpool_queue_state(q);
	spin_unlock(&q->lock);
	if (err)
		return err;

	nr = len / ring->max_payload;
	if (!nr)
		return -EINVAL;
	if (flags & FUSEURING_BUFPOOL_KERNEL) {
		if (uaddr || fixed)
			return -EINVAL;
	} else if (!PAGE_ALIGNED(uaddr) || uaddr != (unsigned long)uaddr) {
		return -EINVAL;
	}

	pool = kzalloc(struct_size(pool, free_map, BITS_TO_LONGS(nr)),
		       GFP_KERNEL_ACCOUNT);
	if (!pool)
		return -ENOMEM;
	pool->uaddr = uaddr;
	pool->slot_size = ring->max_payload;
	pool->nr_slots = nr;
	bitmap_set(pool->free_map, 0, nr);
	if (flags & FUSEURING_BUFPOOL_KERNEL) {
		pool->kind = FUR_BUFPOOL_KERNEL;
		err = fur_bufpool_alloc_pages(pool, cpu_possible(qid) ?
					      cpu_to_node(qid) : NUMA_NO_NODE);
	} else if (fixed) {
		pool->kind = FUR_BUFPOOL_FIXED;
		pool->buf_index = fur_cmd_buf_index(cmd);
		err = fur_bufpool_check_fixed(pool, cmd, issue_flags);
	} else {
		pool->kind = FUR_BUFPOOL_USER;
		err = fur_bufpool_check_user(pool);
	}
	if (err)
		goto fail;

	spin_lock(&q->lock);
	err = fur_bufpool_queue_state(q);
	if (!err) {
		q->pool = pool;
		q->payload_mode = FUR_PAYLOAD_POOL;
		q->pool_slots = nr;
		q->pool_free = nr;
	}
	spin_unlock(&q->lock);
	if (!err)
		return 0;
fail:
	fur_bufpool_free(pool);
	return err;
}

/*
 * As upstream: on a queue whose pool is a registered buffer, every
 * command that carries payload (REGISTER, COMMIT_AND_FETCH) names that
 * buffer, so the kernel can import the pool through it.  q->lock held.
 */
bool fur_bufpool_cmd_ok(struct fur_ring_queue *q, struct io_uring_cmd *cmd)
{
	lockdep_assert_held(&q->lock);
	if (!q->pool || q->pool->kind != FUR_BUFPOOL_FIXED)
		return true;
	return (cmd->flags & IORING_URING_CMD_FIXED) &&
	       fur_cmd_buf_index(cmd) == q->pool->buf_index;
}

/* Give ent a free slot; false when every slot is taken.  q->lock held. */
bool fur_bufpool_take_slot(struct fur_ring_ent *ent)
{
	struct fur_ring_queue *q = ent->queue;
	struct fur_bufpool *pool = q->pool;
	unsigned int id;

	lockdep_assert_held(&q->lock);
	if (ent->slot != FUR_NO_SLOT)
		return true;
	id = find_first_bit(pool->free_map, pool->nr_slots);
	if (id >= pool->nr_slots)
		return false;
	__clear_bit(id, pool->free_map);
	q->pool_free--;
	ent->slot = id;
	return true;
}

/* Give ent's slot back, if it has one.  q->lock held. */
void fur_bufpool_put_slot(struct fur_ring_ent *ent)
{
	struct fur_ring_queue *q = ent->queue;

	lockdep_assert_held(&q->lock);
	if (ent->slot == FUR_NO_SLOT)
		return;
	WARN_ON_ONCE(test_bit(ent->slot, q->pool->free_map));
	__set_bit(ent->slot, q->pool->free_map);
	q->pool_free++;
	ent->slot = FUR_NO_SLOT;
}

u32 fur_bufpool_slot_offset(struct fur_ring_ent *ent)
{
	return ent->slot == FUR_NO_SLOT ? 0 :
	       ent->slot * ent->queue->pool->slot_size;
}

/*
 * An iterator over the first size bytes of ent's slot, in the server's
 * task (USER needs its mm; FIXED its command).  size <= slot_size.
 */
int fur_bufpool_payload_iter(struct fur_ring_ent *ent, int dir, size_t size,
			     struct iov_iter *iter, unsigned int issue_flags)
{
	struct fur_bufpool *pool = ent->queue->pool;
	size_t off = fur_bufpool_slot_offset(ent);

	if (ent->slot == FUR_NO_SLOT || size > pool->slot_size) {
		/* Only an empty payload fits without a slot. */
		if (size)
			return -EINVAL;
		iov_iter_kvec(iter, dir, NULL, 0, 0);
		return 0;
	}
	switch (pool->kind) {
	case FUR_BUFPOOL_FIXED:
		return fur_uring_cmd_import_fixed(pool->uaddr + off, size, dir,
						  iter, ent->cmd, issue_flags);
	case FUR_BUFPOOL_KERNEL:
		ent->kvec.iov_base = pool->vaddr + off;
		ent->kvec.iov_len = size;
		iov_iter_kvec(iter, dir, &ent->kvec, 1, size);
		return 0;
	default:
		return import_ubuf(dir, (void __user *)(pool->uaddr + off),
				   size, iter);
	}
}

/* Faults outside what mmap inserted get SIGBUS (no .fault). */
static const struct vm_operations_struct fur_bufpool_vm_ops;

/*
 * mmap of /dev/fuseuring: the kernel-allocated pool of queue qid at
 * FUSEURING_BUFPOOL_MMAP_OFFSET(qid) + a page-aligned offset into it,
 * MAP_SHARED.  -ENODEV without a mount, a ring or such a pool; -EINVAL
 * for a bad queue, a private mapping or a range past the pool.
 */
int fur_bufpool_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* Pairs with smp_store_release() at mount time. */
	struct fur_dev *fud = smp_load_acquire(&file->private_data);
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 in_pool = off & ((1ULL << FUSEURING_BUFPOOL_MMAP_SHIFT) - 1);
	u64 qid = off >> FUSEURING_BUFPOOL_MMAP_SHIFT;
	unsigned long len = vma->vm_end - vma->vm_start, n;
	struct fur_ring_queue *q;
	struct fur_bufpool *pool;
	struct fur_ring *ring;

	if (off & FUSEURING_ZC_MMAP_BIT)
		return fur_zc_mmap(file, vma);
	if (!fud)
		return -ENODEV;
	/* Pairs with smp_store_release() in fur_ring_get(). */
	ring = smp_load_acquire(&fud->fc->ring);
	if (!ring)
		return -ENODEV;
	if (qid >= ring->nr_queues || !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	q = ring->queues[qid];
	spin_lock(&q->lock);
	pool = q->pool;
	spin_unlock(&q->lock);
	/* Set once, freed with the connection: the open file pins both. */
	if (!pool || pool->kind != FUR_BUFPOOL_KERNEL)
		return -ENODEV;
	if (in_pool + len > ((u64)pool->nr_pages << PAGE_SHIFT))
		return -EINVAL;
	vma->vm_ops = &fur_bufpool_vm_ops;
	n = len >> PAGE_SHIFT;
	return vm_insert_pages(vma, vma->vm_start,
			       pool->pages + (in_pool >> PAGE_SHIFT), &n);
}

#endif /* FUR_HAVE_RING */
