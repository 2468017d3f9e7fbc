// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: notifications from the server (a reply with unique 0).
 */

#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "fuseuring_i.h"

static int fur_notify_inval_inode(struct fur_conn *fc, unsigned int size,
				  struct iov_iter *from)
{
	struct fuse_notify_inval_inode_out outarg;
	int err;

	if (size != sizeof(outarg))
		return -EINVAL;
	if (copy_from_iter(&outarg, size, from) != size)
		return -EFAULT;
	down_read(&fc->killsb);
	err = fur_reverse_inval_inode(fc, outarg.ino, outarg.off, outarg.len);
	up_read(&fc->killsb);
	return err;
}

/* INVAL_ENTRY and DELETE: a header, then the name and its NUL. */
static int fur_notify_entry(struct fur_conn *fc, unsigned int size,
			    struct iov_iter *from, bool delete)
{
	struct fuse_notify_inval_entry_out inval;
	struct fuse_notify_delete_out del;
	u64 parent, child = 0;
	unsigned int hsize, namelen;
	u32 flags = 0;
	struct qstr name;
	char *buf;
	int err;

	hsize = delete ? sizeof(del) : sizeof(inval);
	if (size < hsize)
		return -EINVAL;
	if (delete) {
		if (copy_from_iter(&del, hsize, from) != hsize)
			return -EFAULT;
		parent = del.parent;
		child = del.child;
		namelen = del.namelen;
	} else {
		if (copy_from_iter(&inval, hsize, from) != hsize)
			return -EFAULT;
		parent = inval.parent;
		namelen = inval.namelen;
		flags = inval.flags;
		if (flags & ~FUSE_EXPIRE_ONLY)
			return -EINVAL;
	}
	if (namelen > FUR_NAME_MAX)
		return -ENAMETOOLONG;
	if (size != hsize + namelen + 1)
		return -EINVAL;
	buf = kmalloc(namelen + 1, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = -EFAULT;
	if (copy_from_iter(buf, namelen + 1, from) != namelen + 1)
		goto out;
	err = -EINVAL;
	if (buf[namelen] || strnlen(buf, namelen) != namelen)
		goto out;
	name.name = buf;
	name.len = namelen;
	down_read(&fc->killsb);
	err = fur_reverse_inval_entry(fc, parent, child, &name, flags);
	up_read(&fc->killsb);
out:
	kfree(buf);
	return err;
}

static int fur_notify_store(struct fur_conn *fc, unsigned int size,
			    struct iov_iter *from)
{
	struct fuse_notify_store_out outarg;
	struct address_space *mapping;
	struct inode *inode;
	unsigned int num, offset;
	pgoff_t index;
	loff_t end;
	int err = 0;

	if (size < sizeof(outarg))
		return -EINVAL;
	if (copy_from_iter(&outarg, sizeof(outarg), from) != sizeof(outarg))
		return -EFAULT;
	if (size - sizeof(outarg) != outarg.size)
		return -EINVAL;
	if (outarg.offset > LLONG_MAX - outarg.size)
		return -EINVAL;

	down_read(&fc->killsb);
	inode = fur_ilookup(fc, outarg.nodeid);
	if (!inode) {
		err = -ENOENT;
		goto out_up;
	}
	if (!S_ISREG(inode->i_mode)) {
		err = -EINVAL;
		goto out_iput;
	}
	mapping = inode->i_mapping;
	index = outarg.offset >> PAGE_SHIFT;
	offset = outarg.offset & ~PAGE_MASK;
	end = outarg.offset + outarg.size;
	num = outarg.size;
	if (end > i_size_read(inode))
		i_size_write(inode, end);
	while (num) {
		unsigned int len = min_t(unsigned int, num, PAGE_SIZE - offset);
		struct page *page;

		page = find_or_create_page(mapping, index,
					   mapping_gfp_mask(mapping));
		if (!page) {
			err = -ENOMEM;
			break;
		}
		if (copy_page_from_iter(page, offset, len, from) != len) {
			err = -EFAULT;
		} else if (!offset && (len == PAGE_SIZE ||
				       end == i_size_read(inode))) {
			if (len < PAGE_SIZE)
				zero_user_segment(page, len, PAGE_SIZE);
			SetPageUptodate(page);
		}
		unlock_page(page);
		put_page(page);
		if (err)
			break;
		num -= len;
		offset = 0;
		index++;
	}
out_iput:
	iput(inode);
out_up:
	up_read(&fc->killsb);
	return err;
}

struct fur_retrieve_args {
	struct fur_args_pages ap;
	struct fuse_notify_retrieve_in inarg;
};

static void fur_retrieve_end(struct fur_mount *fm, struct fur_args *args,
			     int error)
{
	struct fur_retrieve_args *ra;
	unsigned int i;

	ra = container_of(args, struct fur_retrieve_args, ap.args);
	for (i = 0; i < ra->ap.num_pages; i++)
		put_page(ra->ap.pages[i]);
	kfree(ra->ap.pages);
	kfree(ra->ap.descs);
	kfree(ra);
}

static int fur_retrieve(struct fur_mount *fm, struct inode *inode,
			struct fuse_notify_retrieve_out *outarg)
{
	struct address_space *mapping = inode->i_mapping;
	unsigned int offset = outarg->offset & ~PAGE_MASK;
	pgoff_t index = outarg->offset >> PAGE_SHIFT;
	struct fur_retrieve_args *ra;
	unsigned int num, max_pages, total = 0;
	loff_t file_size = i_size_read(inode);
	int err;

	num = min_t(u64, outarg->size, fm->fc->max_write);
	if (outarg->offset > file_size)
		num = 0;
	else if (outarg->offset + num > file_size)
		num = file_size - outarg->offset;
	max_pages = min_t(unsigned int, fm->fc->max_pages,
			  DIV_ROUND_UP(num + offset, PAGE_SIZE));

	ra = kzalloc(sizeof(*ra), GFP_KERNEL);
	if (!ra)
		return -ENOMEM;
	ra->ap.pages = kcalloc(max_pages ?: 1, sizeof(struct page *),
			       GFP_KERNEL);
	ra->ap.descs = kcalloc(max_pages ?: 1, sizeof(struct fur_page_desc),
			       GFP_KERNEL);
	if (!ra->ap.pages || !ra->ap.descs) {
		fur_retrieve_end(fm, &ra->ap.args, 0);
		return -ENOMEM;
	}
	while (num && ra->ap.num_pages < max_pages) {
		unsigned int len = min_t(unsigned int, num, PAGE_SIZE - offset);
		struct page *page = find_get_page(mapping, index);

		if (!page)
			break;
		ra->ap.pages[ra->ap.num_pages] = page;
		ra->ap.descs[ra->ap.num_pages].offset = offset;
		ra->ap.descs[ra->ap.num_pages].length = len;
		ra->ap.num_pages++;
		offset = 0;
		num -= len;
		total += len;
		index++;
	}
	ra->inarg.offset = outarg->offset;
	ra->inarg.size = total;
	ra->ap.args.opcode = FUSE_NOTIFY_REPLY;
	ra->ap.args.nodeid = outarg->nodeid;
	ra->ap.args.in_numargs = 2;
	ra->ap.args.in_pages = true;
	ra->ap.args.noreply = true;
	ra->ap.args.force = true;
	ra->ap.args.in_args[0].size = sizeof(ra->inarg);
	ra->ap.args.in_args[0].value = &ra->inarg;
	ra->ap.args.in_args[1].size = total;
	ra->ap.args.end = fur_retrieve_end;

	err = fur_simple_notify_reply(fm, &ra->ap.args, outarg->notify_unique);
	if (err)
		fur_retrieve_end(fm, &ra->ap.args, err);
	return err;
}

static int fur_notify_retrieve(struct fur_conn *fc, unsigned int size,
			       struct iov_iter *from)
{
	struct fuse_notify_retrieve_out outarg;
	struct fur_mount *fm;
	struct inode *inode;
	int err = -ENOENT;

	if (size != sizeof(outarg))
		return -EINVAL;
	if (copy_from_iter(&outarg, size, from) != size)
		return -EFAULT;
	down_read(&fc->killsb);
	inode = fur_ilookup(fc, outarg.nodeid);
	if (inode) {
		fm = get_fur_mount(inode);
		err = fur_retrieve(fm, inode, &outarg);
		iput(inode);
	}
	up_read(&fc->killsb);
	return err;
}

int fur_notify(struct fur_conn *fc, int code, unsigned int size,
	       struct iov_iter *from)
{
	switch (code) {
	case FUSE_NOTIFY_INVAL_INODE:
		return fur_notify_inval_inode(fc, size, from);
	case FUSE_NOTIFY_INVAL_ENTRY:
		return fur_notify_entry(fc, size, from, false);
	case FUSE_NOTIFY_DELETE:
		return fur_notify_entry(fc, size, from, true);
	case FUSE_NOTIFY_STORE:
		return fur_notify_store(fc, size, from);
	case FUSE_NOTIFY_RETRIEVE:
		return fur_notify_retrieve(fc, size, from);
	case FUSE_NOTIFY_POLL:
		/* No poll support: nothing waits on a kernel handle. */
		return 0;
	default:
		return -EINVAL;
	}
}
EXPORT_SYMBOL_GPL(fur_notify);
