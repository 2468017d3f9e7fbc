// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: splice(2) from /dev/fuseuring, the pages of one message.
 *
 * libfuse takes a request through a pipe when it can, reads the header
 * and the op's argument struct out of it, then splices what is left (a
 * WRITE's payload) straight into its backing file.  A file opened
 * O_DIRECT on a disk filesystem takes that only when every pipe buffer
 * starts and ends on a block boundary.  So, as the kernel's FUSE does, a
 * message gets pipe buffers of its own: the header and the arguments
 * packed from the start of the first page, then the page data (the last
 * input argument) from the start of the next page, one page a buffer.
 * The pages are the module's own, filled by a copy and given to the pipe
 * with the core's nosteal operations (never the module's: a buffer may
 * outlive the module).
 */

#include <linux/bvec.h>
#include <linux/mm.h>
#include <linux/pipe_fs_i.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uio.h>

#include "fuseuring_i.h"

/*
 * Start a splice of at most len bytes into pipe (locked by the caller);
 * returns the largest message the pipe can take: what its free buffers
 * hold.  The size of one message in pipe buffers is checked again by
 * fur_dev_splice_layout(), once its shape is known.
 */
size_t fur_dev_splice_init(struct fur_dev_splice *sp,
			   struct pipe_inode_info *pipe, size_t len)
{
	unsigned int used = pipe_occupancy(pipe->head, pipe->tail);

	sp->pipe = pipe;
	sp->slots = used < pipe->max_usage ? pipe->max_usage - used : 0;
	sp->nr = 0;
	sp->pushed = 0;
	sp->bvec = NULL;
	return min_t(size_t, len, (size_t)sp->slots << PAGE_SHIFT);
}

/* Append pages for bytes: whole pages, the last one as long as is left. */
static int fur_dev_splice_add(struct fur_dev_splice *sp, size_t bytes)
{
	while (bytes) {
		unsigned int len = min_t(size_t, bytes, PAGE_SIZE);
		struct page *page = alloc_page(GFP_HIGHUSER);

		if (!page)
			return -ENOMEM;
		bvec_set_page(&sp->bvec[sp->nr++], page, len, 0);
		bytes -= len;
	}
	return 0;
}

/*
 * Lay out pages for a message of size bytes whose last data bytes are
 * page data, and point sp->iter at them: a copy of the message into
 * sp->iter fills the arguments' pages, then the data's.  -ENOSPC if the
 * pipe has too few free buffers for it, -ENOMEM.
 */
int fur_dev_splice_layout(struct fur_dev_splice *sp, size_t size,
			  size_t data)
{
	size_t head = size - data;
	unsigned int nr;
	int err;

	if (WARN_ON_ONCE(sp->bvec || data >= size))
		return -EIO;
	nr = DIV_ROUND_UP(head, PAGE_SIZE) + DIV_ROUND_UP(data, PAGE_SIZE);
	if (nr > sp->slots)
		return -ENOSPC;
	sp->bvec = kvmalloc_array(nr, sizeof(*sp->bvec), GFP_KERNEL);
	if (!sp->bvec)
		return -ENOMEM;

	err = fur_dev_splice_add(sp, head) ?: fur_dev_splice_add(sp, data);
	if (err) {
		fur_dev_splice_release(sp);
		return err;
	}
	iov_iter_bvec(&sp->iter, ITER_DEST, sp->bvec, nr, size);
	return 0;
}

/*
 * Hand the filled pages to the pipe, in order; returns the bytes given.
 * The pipe takes each page's reference; a page it refuses (the pipe lost
 * its readers) is released by add_to_pipe(), the rest by
 * fur_dev_splice_release().
 */
ssize_t fur_dev_splice_push(struct fur_dev_splice *sp)
{
	ssize_t total = 0;

	while (sp->pushed < sp->nr) {
		struct bio_vec *bv = &sp->bvec[sp->pushed++];
		struct pipe_buffer buf = {
			.page	= bv->bv_page,
			.offset	= bv->bv_offset,
			.len	= bv->bv_len,
			/* Never mergeable: a later write must not land here. */
			.flags	= 0,
			.ops	= &nosteal_pipe_buf_ops,
		};
		ssize_t ret = add_to_pipe(sp->pipe, &buf);

		if (ret < 0)
			return total ? total : ret;
		total += ret;
	}
	return total;
}

/* Free what the pipe did not take. */
void fur_dev_splice_release(struct fur_dev_splice *sp)
{
	for (; sp->pushed < sp->nr; sp->pushed++)
		put_page(sp->bvec[sp->pushed].bv_page);
	kvfree(sp->bvec);
	sp->bvec = NULL;
	sp->nr = 0;
	sp->pushed = 0;
}
