// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: the page cache of regular files.  Folios are read with
 * FUSE_READ (readahead batches up to max_pages, in the background when
 * the server accepted ASYNC_READ) and written back with FUSE_WRITE from
 * writepages, which serves both shared writable mappings and, with the
 * writeback cache, buffered writes.  Writeback waits for its replies, so
 * a folio leaves the writeback state only once the server has its data.
 */

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/writeback.h>

#include "fuseuring_i.h"
#include "trace.h"

/* write_begin and write_end take the kiocb since 7.x, the file before. */
#if FUR_HAVE_WRITE_BEGIN_KIOCB
#define FUR_WRITE_CTX		const struct kiocb *
#define fur_write_ctx_file(c)	((c)->ki_filp)
#else
#define FUR_WRITE_CTX		struct file *
#define fur_write_ctx_file(c)	(c)
#endif

/* An open file with write access, to carry I/O that has no file. */
struct fur_file *fur_get_writable(struct inode *inode)
{
	struct fur_inode *fi = get_fur_inode(inode);
	struct fur_file *ff = NULL;

	spin_lock(&fi->lock);
	if (!list_empty(&fi->write_files)) {
		ff = list_first_entry(&fi->write_files, struct fur_file,
				      write_entry);
		fur_file_get(ff);
	}
	spin_unlock(&fi->lock);
	return ff;
}

/*
 * A READ came back short of count: without the writeback cache the
 * server's file ends there, unless an attribute change raced with us.
 */
static void fur_short_read(struct inode *inode, u64 attr_ver, loff_t end)
{
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_inode *fi = get_fur_inode(inode);

	if (fc->writeback_cache)
		return;
	spin_lock(&fi->lock);
	if (attr_ver >= fi->attr_version && end < i_size_read(inode) &&
	    !test_bit(FUR_I_SIZE_UNSTABLE, &fi->state)) {
		fi->attr_version = atomic64_inc_return(&fc->attr_version);
		i_size_write(inode, end);
	}
	spin_unlock(&fi->lock);
}

/* Read one locked folio synchronously; it stays locked. */
static int fur_fill_folio(struct file *file, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_file *ff;
	struct page *page = &folio->page;
	struct fur_page_desc desc = { .length = folio_size(folio) };
	struct fur_args_pages ap = {
		.pages = &page,
		.descs = &desc,
		.num_pages = 1,
	};
	struct fuse_read_in inarg = {};
	u64 attr_ver;
	ssize_t res;

	if (fur_is_bad(inode))
		return -EIO;
	if (file) {
		ff = fur_file_get(file->private_data);
	} else {
		ff = fur_get_writable(inode);
		if (!ff)
			return -EBADF;
	}
	attr_ver = fur_get_attr_version(fm->fc);
	fur_read_args(&ap, &inarg, ff, file, folio_pos(folio),
		      folio_size(folio));
	ap.args.page_zeroing = true;
	res = fur_simple_request(fm, &ap.args);
	fur_file_put(ff);
	trace_fur_folios_filled(inode, folio_pos(folio), folio_size(folio), res,
				FUR_FILL_READ_FOLIO);
	if (res < 0)
		return res;
	if (res < folio_size(folio))
		fur_short_read(inode, attr_ver, folio_pos(folio) + res);
	folio_mark_uptodate(folio);
	return 0;
}

static int fur_read_folio(struct file *file, struct folio *folio)
{
	int err = fur_fill_folio(file, folio);

	folio_unlock(folio);
	return err;
}

/*
 * One readahead request: its folios are locked until it ends, which keeps
 * the inode.  It holds its own reference on the open file until then, so
 * that the file's RELEASE goes out only after the READ ended: requests on
 * different ring queues reach the server in no particular order, and a
 * READ the server gets after the RELEASE would read a closed handle, or
 * one the server has handed out again for another file.
 */
struct fur_ra {
	struct fur_args_pages ap;
	struct fuse_read_in inarg;
	struct inode *inode;
	struct fur_file *ff;
	u64 attr_ver;
};

static void fur_ra_free(struct fur_ra *ra)
{
	/* The last reference sends RELEASE, once the READ is over. */
	fur_file_put(ra->ff);
	kfree(ra->ap.pages);
	kfree(ra->ap.descs);
	kfree(ra);
}

static void fur_ra_finish(struct fur_ra *ra, ssize_t res)
{
	unsigned int i;

	trace_fur_folios_filled(ra->inode, ra->inarg.offset, ra->inarg.size,
				res, FUR_FILL_READAHEAD);
	if (res >= 0 && res < ra->inarg.size)
		fur_short_read(ra->inode, ra->attr_ver, ra->inarg.offset + res);
	for (i = 0; i < ra->ap.num_pages; i++) {
		struct folio *folio = page_folio(ra->ap.pages[i]);

		if (res >= 0)
			folio_mark_uptodate(folio);
		folio_unlock(folio);
	}
	fur_ra_free(ra);
}

static void fur_ra_end(struct fur_mount *fm, struct fur_args *args,
		       int error)
{
	struct fur_ra *ra = container_of(args, struct fur_ra, ap.args);
	/*
	 * Not "error ?: size": with an unsigned size that is unsigned, and
	 * an aborted READ would mark its folios uptodate, full of zeros.
	 */
	ssize_t res = error;

	if (!error)
		res = args->out_args[0].size;
	fur_ra_finish(ra, res);
}

static struct fur_ra *fur_ra_alloc(unsigned int nr, gfp_t gfp)
{
	struct fur_ra *ra = kzalloc(sizeof(*ra), gfp);

	if (!ra)
		return NULL;
	ra->ap.pages = kcalloc(nr, sizeof(*ra->ap.pages), gfp);
	ra->ap.descs = kcalloc(nr, sizeof(*ra->ap.descs), gfp);
	if (!ra->ap.pages || !ra->ap.descs) {
		kfree(ra->ap.pages);
		kfree(ra->ap.descs);
		kfree(ra);
		return NULL;
	}
	return ra;
}

static void fur_readahead(struct readahead_control *rac)
{
	struct inode *inode = rac->mapping->host;
	struct fur_mount *fm = get_fur_mount(inode);
	struct fur_conn *fc = fm->fc;
	struct fur_file *ff;
	unsigned int max_pages;
	/* Readahead is a hint: fail an allocation rather than reclaim hard. */
	gfp_t gfp = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;

	if (fur_is_bad(inode))
		return;
	/* Without a file, read synchronously under a borrowed handle. */
	if (rac->file)
		ff = fur_file_get(rac->file->private_data);
	else
		ff = fur_get_writable(inode);
	if (!ff)
		return;
	max_pages = min_t(unsigned int, fc->max_pages,
			  fc->max_read >> PAGE_SHIFT);
	max_pages = max(max_pages, 1U);

	while (readahead_count(rac)) {
		unsigned int nr = min_t(unsigned int, readahead_count(rac),
					max_pages);
		struct folio *folio;
		struct fur_ra *ra;
		size_t bytes = 0;
		int err;

		ra = fur_ra_alloc(nr, gfp);
		if (!ra)
			break;
		ra->inode = inode;
		ra->ff = fur_file_get(ff);
		while (ra->ap.num_pages < nr && (folio = readahead_folio(rac))) {
			ra->ap.pages[ra->ap.num_pages] = &folio->page;
			ra->ap.descs[ra->ap.num_pages].length =
				folio_size(folio);
			ra->ap.num_pages++;
			bytes += folio_size(folio);
		}
		if (!ra->ap.num_pages) {
			/* readahead_count() still counted the last folio. */
			fur_ra_free(ra);
			break;
		}
		ra->attr_ver = fur_get_attr_version(fc);
		fur_read_args(&ra->ap, &ra->inarg, ff, rac->file,
			      folio_pos(page_folio(ra->ap.pages[0])), bytes);
		ra->ap.args.page_zeroing = true;
		if (fc->async_read && rac->file) {
			ra->ap.args.end = fur_ra_end;
			err = fur_simple_background(fm, &ra->ap.args, gfp);
			if (err)
				fur_ra_finish(ra, err);
			continue;
		}
		fur_ra_finish(ra, fur_simple_request(fm, &ra->ap.args));
	}
	fur_file_put(ff);
}

/* Writeback: runs of contiguous folios, each run one FUSE_WRITE. */
struct fur_wb {
	struct fur_args_pages ap;
	struct address_space *mapping;
	struct fur_file *ff;
	unsigned int max_pages;
	size_t max_bytes;
	loff_t pos;
	size_t count;
	int err;
};

static void fur_wb_send(struct fur_wb *wb)
{
	struct fuse_write_in inarg = {};
	struct fuse_write_out outarg = {};
	struct inode *inode = wb->mapping->host;
	unsigned int i;
	ssize_t err;

	if (!wb->ap.num_pages)
		return;
	memset(&wb->ap.args, 0, sizeof(wb->ap.args));
	fur_write_args(&wb->ap, &inarg, &outarg, wb->ff, wb->pos, wb->count);
	inarg.write_flags |= FUSE_WRITE_CACHE;
	/* Only death stops the wait: the folios are clean already. */
	wb->ap.args.killable = true;
	err = fur_simple_request(get_fur_mount(inode), &wb->ap.args);
	if (!err && outarg.size != wb->count)
		err = -EIO;
	for (i = 0; i < wb->ap.num_pages; i++) {
		struct folio *folio = page_folio(wb->ap.pages[i]);

		if (err)
			mapping_set_error(wb->mapping, err);
		folio_end_writeback(folio);
	}
	if (err && !wb->err)
		wb->err = err;
	/* The server's block count moved; the kernel does not track it. */
	if (!err)
		fur_invalidate_attr(inode);
	wb->ap.num_pages = 0;
	wb->count = 0;
}

/* Add a locked dirty folio to the batch; it is unlocked under writeback. */
static void fur_wb_add_folio(struct fur_wb *wb, struct folio *folio)
{
	struct inode *inode = wb->mapping->host;
	loff_t size = i_size_read(inode);
	loff_t pos = folio_pos(folio);
	size_t len;

	if (pos >= size) {
		/* Truncated meanwhile: nothing to write. */
		folio_unlock(folio);
		return;
	}
	len = min_t(loff_t, folio_size(folio), size - pos);
	if (wb->ap.num_pages &&
	    (pos != wb->pos + wb->count ||
	     wb->ap.num_pages == wb->max_pages ||
	     wb->count + len > wb->max_bytes))
		fur_wb_send(wb);
	folio_start_writeback(folio);
	folio_unlock(folio);
	if (!wb->ap.num_pages)
		wb->pos = pos;
	wb->ap.pages[wb->ap.num_pages] = &folio->page;
	wb->ap.descs[wb->ap.num_pages].offset = 0;
	wb->ap.descs[wb->ap.num_pages].length = len;
	wb->ap.num_pages++;
	wb->count += len;
	/* A partial folio ends the file: nothing may follow it. */
	if (len < folio_size(folio))
		fur_wb_send(wb);
}

#if !FUR_HAVE_WRITEBACK_ITER
/* write_cache_pages() hands out pages before 6.3, folios since. */
#if FUR_HAVE_WRITEPAGE_T_FOLIO
static int fur_wb_add_page(struct folio *folio, struct writeback_control *wbc,
			   void *data)
{
	fur_wb_add_folio(data, folio);
	return 0;
}
#else
static int fur_wb_add_page(struct page *page, struct writeback_control *wbc,
			   void *data)
{
	fur_wb_add_folio(data, page_folio(page));
	return 0;
}
#endif
#endif

static int fur_writepages(struct address_space *mapping,
			  struct writeback_control *wbc)
{
	struct inode *inode = mapping->host;
	struct fur_conn *fc = get_fur_conn(inode);
	struct folio *folio __maybe_unused = NULL;
	struct fur_wb wb = { .mapping = mapping };
	int error = 0;

	if (fur_is_bad(inode))
		return -EIO;
	wb.ff = fur_get_writable(inode);
	if (!wb.ff)
		return -EBADF;
	wb.max_pages = max(fc->max_pages, 1U);
	wb.max_bytes = min_t(size_t, fc->max_write,
			     (size_t)wb.max_pages << PAGE_SHIFT);
	wb.ap.pages = kcalloc(wb.max_pages, sizeof(*wb.ap.pages), GFP_NOFS);
	wb.ap.descs = kcalloc(wb.max_pages, sizeof(*wb.ap.descs), GFP_NOFS);
	if (!wb.ap.pages || !wb.ap.descs) {
		wb.err = -ENOMEM;
		goto out;
	}

#if FUR_HAVE_WRITEBACK_ITER
	while ((folio = writeback_iter(mapping, wbc, folio, &error)))
		fur_wb_add_folio(&wb, folio);
#else
	error = write_cache_pages(mapping, wbc, fur_wb_add_page, &wb);
#endif
	fur_wb_send(&wb);
out:
	kfree(wb.ap.pages);
	kfree(wb.ap.descs);
	fur_file_put(wb.ff);
	return error ?: wb.err;
}

/*
 * Writeback cache: a write to part of a folio that is not uptodate
 * reads the folio first, unless it lies wholly past the end of the
 * file, where it is zeros.
 */
static int fur_write_begin_folio(FUR_WRITE_CTX ctx,
				 struct address_space *mapping, loff_t pos,
				 unsigned int len, struct folio **foliop)
{
	struct folio *folio;
	int err;

	folio = fur_filemap_get_folio_writebegin(mapping, pos >> PAGE_SHIFT);
	if (IS_ERR(folio))
		return PTR_ERR(folio);
	*foliop = folio;
	if (folio_test_uptodate(folio) ||
	    (offset_in_folio(folio, pos) == 0 && len >= folio_size(folio)))
		return 0;
	if (folio_pos(folio) >= i_size_read(mapping->host)) {
		trace_fur_folios_filled(mapping->host, folio_pos(folio),
					folio_size(folio), 0, FUR_FILL_PAST_EOF);
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
		return 0;
	}
	err = fur_fill_folio(fur_write_ctx_file(ctx), folio);
	if (err) {
		folio_unlock(folio);
		folio_put(folio);
		*foliop = NULL;
	}
	return err;
}

static int fur_write_end_folio(struct address_space *mapping, loff_t pos,
			       unsigned int len, unsigned int copied,
			       struct folio *folio)
{
	struct inode *inode = mapping->host;
	struct fur_inode *fi = get_fur_inode(inode);

	if (!folio_test_uptodate(folio)) {
		/* A whole-folio write that faulted: let it retry. */
		if (copied < len) {
			copied = 0;
			goto unlock;
		}
		folio_mark_uptodate(folio);
	}
	if (!copied)
		goto unlock;
	if (pos + copied > i_size_read(inode)) {
		spin_lock(&fi->lock);
		fi->attr_version =
			atomic64_inc_return(&get_fur_conn(inode)->attr_version);
		i_size_write(inode, pos + copied);
		spin_unlock(&fi->lock);
	}
	folio_mark_dirty(folio);
unlock:
	folio_unlock(folio);
	folio_put(folio);
	return copied;
}

/* write_begin and write_end pass folios since 6.12, pages before. */
#if FUR_HAVE_WRITE_BEGIN_FOLIO
static int fur_write_begin(FUR_WRITE_CTX ctx, struct address_space *mapping,
			   loff_t pos, unsigned int len, struct folio **foliop,
			   void **fsdata)
{
	return fur_write_begin_folio(ctx, mapping, pos, len, foliop);
}

static int fur_write_end(FUR_WRITE_CTX ctx, struct address_space *mapping,
			 loff_t pos, unsigned int len, unsigned int copied,
			 struct folio *folio, void *fsdata)
{
	return fur_write_end_folio(mapping, pos, len, copied, folio);
}
#else
static int fur_write_begin(FUR_WRITE_CTX ctx, struct address_space *mapping,
			   loff_t pos, unsigned int len, struct page **pagep,
			   void **fsdata)
{
	struct folio *folio;
	int err = fur_write_begin_folio(ctx, mapping, pos, len, &folio);

	*pagep = err ? NULL : &folio->page;
	return err;
}

static int fur_write_end(FUR_WRITE_CTX ctx, struct address_space *mapping,
			 loff_t pos, unsigned int len, unsigned int copied,
			 struct page *page, void *fsdata)
{
	return fur_write_end_folio(mapping, pos, len, copied,
				   page_folio(page));
}
#endif

/*
 * Writeback cache: the kernel owns mtime and ctime; write_inode tells the
 * server what they became.
 */
int fur_write_inode(struct inode *inode, struct writeback_control *wbc)
{
	struct fur_mount *fm = get_fur_mount(inode);
	struct fuse_setattr_in inarg = {};
	struct fuse_attr_out outarg = {};
	struct timespec64 mtime, ctime;
	struct fur_file *ff;
	int err;

	if (!fm->fc->writeback_cache || !S_ISREG(inode->i_mode) ||
	    fur_is_bad(inode))
		return 0;
	mtime = inode_get_mtime(inode);
	ctime = inode_get_ctime(inode);
	inarg.valid = FATTR_MTIME;
	inarg.mtime = mtime.tv_sec;
	inarg.mtimensec = mtime.tv_nsec;
	if (fm->fc->minor >= 23) {
		inarg.valid |= FATTR_CTIME;
		inarg.ctime = ctime.tv_sec;
		inarg.ctimensec = ctime.tv_nsec;
	}
	ff = fur_get_writable(inode);
	if (ff) {
		inarg.valid |= FATTR_FH;
		inarg.fh = ff->fh;
	}
	err = fur_send_setattr(inode, &inarg, &outarg);
	if (ff)
		fur_file_put(ff);
	return err;
}

int fur_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fur_file *ff = file->private_data;

	if (fur_is_bad(file_inode(file)))
		return -EIO;
	/* Direct I/O files have no coherent cache to share. */
	if ((ff->open_flags & FOPEN_DIRECT_IO) && (vma->vm_flags & VM_MAYSHARE))
		return -ENODEV;
	return generic_file_mmap(file, vma);
}

const struct address_space_operations fur_file_aops = {
	.read_folio	= fur_read_folio,
	.readahead	= fur_readahead,
	.writepages	= fur_writepages,
	.dirty_folio	= filemap_dirty_folio,
	.write_begin	= fur_write_begin,
	.write_end	= fur_write_end,
	.direct_IO	= noop_direct_IO,
	.migrate_folio	= filemap_migrate_folio,
};
