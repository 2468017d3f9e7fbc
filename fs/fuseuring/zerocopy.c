// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the zero-copy window.  Kernels before 6.15 cannot register
 * a request's pages in the server's io_uring buffer table, which is how
 * upstream gives a server zero-copy READ and WRITE.  Instead, a window
 * queue's server maps a window of /dev/fuseuring once, and for each
 * zero-copy request the module puts the request's pages (the client's
 * page-cache or direct-I/O pages) into the entry's part of that window
 * for exactly the life of the request: writable for a READ, read-only
 * for a WRITE.  The server then moves the data with read(2), write(2),
 * send(2), ... on the window: one copy, between the client's pages and
 * the backing file or socket, none through server buffers.
 *
 * The window is a VM_PFNMAP mapping: its PTEs are "special" and hold no
 * page reference, GUP refuses it (no page can escape into O_DIRECT, a
 * pipe or another process), fork does not copy it and it cannot be
 * split or moved.  The pages stay valid because the request holds them;
 * every path that ends a mapped request zaps the PTEs first (with the
 * TLB shootdown that implies).  An exiting server's mm tears the window
 * down itself before its files close.
 * Design, costs and limits: Documentation/filesystems/fuseuring-zerocopy.rst
 */

#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>

#include "dev_uring_i.h"

#if FUR_HAVE_RING

/* 7.x renamed zap_vma_ptes(). */
static void fur_zc_zap(struct vm_area_struct *vma, unsigned long addr,
		       unsigned long len)
{
#if FUR_HAVE_ZAP_SPECIAL_VMA_RANGE
	zap_special_vma_range(vma, addr, len);
#else
	zap_vma_ptes(vma, addr, len);
#endif
}

/*
 * ADD_QUEUE flags: zero-copy is for CAP_SYS_ADMIN only (the server sees
 * other users' file data).  FUSE_URING_ZERO_COPY alone is upstream's
 * registered-buffer kind: where the kernel lacks io_buffer_register_bvec,
 * -EOPNOTSUPP tells the server to ask for the window instead.
 */
int fur_zc_queue_flags(u64 flags)
{
	if (flags & ~(FUSE_URING_ZERO_COPY | FUSEURING_ZERO_COPY_WINDOW))
		return -EINVAL;
	if (!(flags & FUSE_URING_ZERO_COPY))
		return flags ? -EINVAL : FUR_ZC_NONE;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (flags & FUSEURING_ZERO_COPY_WINDOW)
		return FUR_ZC_WINDOW;
	return FUR_HAVE_IO_BUFFER_REGISTER_BVEC ? FUR_ZC_BVEC : -EOPNOTSUPP;
}

/*
 * REGISTER names the entry's slot: of the window (below
 * FUSEURING_ZC_MAX_ENTS), or of the server's buffer table (io_uring
 * checks it when it registers pages there).  As upstream, a queue
 * without zero-copy takes only 0.
 */
int fur_zc_register(struct fur_ring_queue *q, struct fur_ring_ent *ent,
		    const struct fuse_uring_cmd_req *cr)
{
	u16 index = READ_ONCE(cr->ent_zero_copy_buf_index);

	if (READ_ONCE(q->zc_window) && index >= FUSEURING_ZC_MAX_ENTS)
		return -EINVAL;
	if (!READ_ONCE(q->zc_window) && !READ_ONCE(q->zc_bvec) && index)
		return -EINVAL;
	ent->zc_index = index;
	return 0;
}

/*
 * Only a READ or WRITE whose data is one page argument that is
 * contiguous in the window (a first page that may start late, full pages,
 * a last page that may end early) goes through it.
 */
static bool fur_zc_request_fits(struct fur_args *args)
{
	struct fur_args_pages *ap = container_of(args, struct fur_args_pages,
						 args);
	unsigned int i, n = ap->num_pages;

	if (!args->zero_copy || !n)
		return false;
	if (args->opcode == FUSE_READ) {
		if (args->in_numargs != 1 || args->out_numargs != 1 ||
		    !args->out_pages)
			return false;
	} else if (args->opcode == FUSE_WRITE) {
		if (args->in_numargs != 2 || !args->in_pages ||
		    args->out_pages)
			return false;
	} else {
		return false;
	}
	if (((u64)n << PAGE_SHIFT) > FUSEURING_ZC_WINDOW_SIZE)
		return false;
	for (i = 0; i < n; i++) {
		const struct fur_page_desc *d = &ap->descs[i];

		if (i && d->offset)
			return false;
		if (i < n - 1 && d->offset + d->length != PAGE_SIZE)
			return false;
	}
	return true;
}

static const struct vm_operations_struct fur_zc_vm_ops;

/* The window of q at addr in mm, if it is still there; mmap lock held. */
static struct vm_area_struct *fur_zc_vma(struct mm_struct *mm,
					 struct fur_ring_queue *q,
					 unsigned long addr, unsigned long len)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || vma->vm_ops != &fur_zc_vm_ops ||
	    vma->vm_private_data != q || len > vma->vm_end - addr)
		return NULL;
	return vma;
}

/*
 * Map req's pages into ent's window, in the server's task.  false: the
 * request is copied as usual (it does not fit, or the task has no
 * window).  *data_off: where the data starts in the window.
 */
bool fur_zc_map(struct fur_ring_ent *ent, struct fur_req *req, u32 *data_off)
{
	struct fur_ring_queue *q = ent->queue;
	struct fur_args_pages *ap;
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long addr, len, i;
	vm_flags_t vm_flags;
	bool ok;

	if (!READ_ONCE(q->zc_window) || !mm || !fur_zc_request_fits(req->args))
		return false;
	ap = container_of(req->args, struct fur_args_pages, args);
	len = (unsigned long)ap->num_pages << PAGE_SHIFT;

	spin_lock(&q->lock);
	addr = q->zc_start + ((unsigned long)ent->zc_index <<
			      FUSEURING_ZC_WINDOW_SHIFT);
	ok = q->zc_owner == mm &&
	     ((unsigned long)ent->zc_index << FUSEURING_ZC_WINDOW_SHIFT) + len <=
	     q->zc_size;
	spin_unlock(&q->lock);
	if (!ok)
		return false;

	/* The server may store into a READ's pages, only read a WRITE's. */
	vm_flags = VM_READ | VM_SHARED;
	if (req->args->out_pages)
		vm_flags |= VM_WRITE;

	mmap_read_lock(mm);
	vma = fur_zc_vma(mm, q, addr, len);
	for (i = 0; vma && i < ap->num_pages; i++) {
		vm_fault_t ret;

		ret = vmf_insert_pfn_prot(vma, addr + (i << PAGE_SHIFT),
					  page_to_pfn(ap->pages[i]),
					  vm_get_page_prot(vm_flags));
		if (ret != VM_FAULT_NOPAGE) {
			fur_zc_zap(vma, addr, len);
			vma = NULL;
		}
	}
	mmap_read_unlock(mm);
	if (!vma)
		return false;

	mmgrab(mm);
	ent->zc_mm = mm;
	ent->zc_addr = addr;
	ent->zc_len = len;
	*data_off = ap->descs[0].offset;
	spin_lock(&q->lock);
	q->zc_requests++;
	spin_unlock(&q->lock);
	return true;
}

/*
 * Take ent's request's pages out of the window, before the request ends
 * and its pages go back to the client.  Any context that may sleep.  If
 * the mm has no users left, its exit unmaps the window (or has already):
 * no task can touch the pages through it any more.
 */
void fur_zc_unmap(struct fur_ring_ent *ent)
{
	struct mm_struct *mm = ent->zc_mm;
	struct vm_area_struct *vma;

	if (!mm)
		return;
	ent->zc_mm = NULL;
	if (mmget_not_zero(mm)) {
		mmap_read_lock(mm);
		/* Gone or replaced: munmap zapped the pages with it. */
		vma = fur_zc_vma(mm, ent->queue, ent->zc_addr, ent->zc_len);
		if (vma)
			fur_zc_zap(vma, ent->zc_addr, ent->zc_len);
		mmap_read_unlock(mm);
		mmput(mm);
	}
	mmdrop(mm);
}

/*
 * The reply of a zero-copy READ: the server stored nbytes in the pages
 * through the window; check the size as the copy would, and zero what it
 * did not fill where the request asks for that.
 */
int fur_zc_copy_out(struct fur_req *req, unsigned int nbytes)
{
	struct fur_args *args = req->args;
	struct fur_args_pages *ap = container_of(args, struct fur_args_pages,
						 args);
	struct fur_arg *arg = &args->out_args[0];
	unsigned int n, left;

	if (nbytes > arg->size || (nbytes < arg->size && !args->out_argvar))
		return -EINVAL;
	arg->size = nbytes;
	if (!args->page_zeroing)
		return 0;
	left = nbytes;
	for (n = 0; n < ap->num_pages; n++) {
		const struct fur_page_desc *d = &ap->descs[n];
		unsigned int len = min(left, d->length);

		if (len < d->length)
			zero_user_segment(ap->pages[n], d->offset + len,
					  d->offset + d->length);
		left -= len;
	}
	return 0;
}

/* Pages are only ever inserted by fur_zc_map(): anything else is SIGBUS. */
static vm_fault_t fur_zc_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

/* A WRITE's pages are read-only, mprotect or not. */
static vm_fault_t fur_zc_pfn_mkwrite(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

/* One window, whole: entries' addresses are computed from its start. */
static int fur_zc_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int fur_zc_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static void fur_zc_close(struct vm_area_struct *vma)
{
	struct fur_ring_queue *q = vma->vm_private_data;

	spin_lock(&q->lock);
	if (q->zc_owner == vma->vm_mm && q->zc_start == vma->vm_start) {
		q->zc_owner = NULL;
		q->zc_start = 0;
		q->zc_size = 0;
	}
	spin_unlock(&q->lock);
}

static const struct vm_operations_struct fur_zc_vm_ops = {
	.fault = fur_zc_fault,
	.pfn_mkwrite = fur_zc_pfn_mkwrite,
	.may_split = fur_zc_may_split,
	.mremap = fur_zc_mremap,
	.close = fur_zc_close,
};

/*
 * mmap of a window queue's window at FUSEURING_ZC_MMAP_OFFSET(qid):
 * MAP_SHARED, not executable, at most FUSEURING_ZC_MAX_ENTS slots, one
 * per queue at a time.  -ENODEV without a ring or for a queue that is not
 * a window queue; -EINVAL for a bad queue, offset, size or a private
 * mapping; -EPERM without CAP_SYS_ADMIN or for PROT_EXEC; -EBUSY if the
 * queue's window is mapped already.
 */
int fur_zc_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* Pairs with smp_store_release() at mount time. */
	struct fur_dev *fud = smp_load_acquire(&file->private_data);
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 qid = (off & ~FUSEURING_ZC_MMAP_BIT) >> FUSEURING_BUFPOOL_MMAP_SHIFT;
	unsigned long len = vma->vm_end - vma->vm_start;
	struct fur_ring_queue *q;
	struct fur_ring *ring;
	int err = 0;

	if (!fud)
		return -ENODEV;
	/* Pairs with smp_store_release() in fur_ring_get(). */
	ring = smp_load_acquire(&fud->fc->ring);
	if (!ring)
		return -ENODEV;
	if (qid >= ring->nr_queues || off != FUSEURING_ZC_MMAP_OFFSET(qid) ||
	    !(vma->vm_flags & VM_SHARED) ||
	    len > FUSEURING_ZC_MAX_ENTS * FUSEURING_ZC_WINDOW_SIZE)
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN) || (vma->vm_flags & VM_EXEC))
		return -EPERM;
	q = ring->queues[qid];
	spin_lock(&q->lock);
	if (!q->zc_window)
		err = -ENODEV;
	else if (q->zc_owner)
		err = -EBUSY;
	if (!err) {
		q->zc_owner = vma->vm_mm;
		q->zc_start = vma->vm_start;
		q->zc_size = len;
	}
	spin_unlock(&q->lock);
	if (err)
		return err;
	/* The vma pins the device file, which pins the connection and q. */
	vma->vm_private_data = q;
	vma->vm_ops = &fur_zc_vm_ops;
	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTCOPY |
		     VM_DONTDUMP);
	vm_flags_clear(vma, VM_MAYEXEC);
	return 0;
}

#endif /* FUR_HAVE_RING */
