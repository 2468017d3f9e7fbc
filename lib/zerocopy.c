// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libfuseuring: READ and WRITE data between a file descriptor and the
 * client, with as few copies as the request's transport allows.
 *
 *  - upstream's zero-copy (the ring with cfg.zero_copy, on a kernel that
 *    registers the client's pages in the ring's buffer table): READ_FIXED
 *    fills them from fd, WRITE_FIXED writes them to fd: one copy, in the
 *    kernel, none through server buffers;
 *  - fuseuring's window (the same, on kernels without that): the client's
 *    pages are mapped in the queue's window; pread(2) fills them,
 *    pwrite(2) reads them;
 *  - the ring without it: pread(2) into the entry's payload buffer, which
 *    the kernel copies to the client's pages (no server-side copy);
 *  - the classic device: a buffer of the server's, then write(2).
 * A handler calls the same helpers in every case.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fur_internal.h"

bool fur_req_zero_copy(const struct fur_req *req)
{
	const struct fur_req_priv *rp = req->priv;

	return rp->zc_data || rp->zc_fixed;
}

bool fur_session_zero_copy(const struct fur_session *se)
{
	return se->zero_copy;
}

bool fur_session_zero_copy_fixed(const struct fur_session *se)
{
	return se->zero_copy && se->zero_copy_fixed;
}

/* The reply is in place (payload or window): send it, once. */
static int fur_send_inplace(struct fur_req *req, size_t len)
{
	struct fur_req_priv *rp = req->priv;

	if (rp->replied)
		return -EALREADY;
	rp->replied = true;
	return rp->rops->send_inplace(req, len);
}

/* pread(2) until size bytes or EOF; bytes read or -errno. */
static ssize_t fur_pread_full(int fd, char *buf, size_t size, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < size) {
		n = pread(fd, buf + done, size - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : -errno;
		if (!n)
			break;
		done += n;
	}
	return done;
}

/* READ_FIXED until size bytes or EOF; bytes read or -errno. */
static ssize_t fur_fixed_read_full(struct fur_req *req, int fd, size_t size,
				   off_t off)
{
	const struct fur_reply_ops *ops =
		((struct fur_req_priv *)req->priv)->rops;
	size_t done = 0;
	ssize_t n;

	while (done < size) {
		n = ops->fixed_io(req, true, fd, done, size - done, off + done);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			return done ? (ssize_t)done : n;
		if (!n)
			break;
		done += n;
	}
	return done;
}

int fur_reply_read_fd(struct fur_req *req, int fd, off_t off, size_t size)
{
	struct fur_req_priv *rp = req->priv;
	const struct fur_reply_ops *ops = rp->rops;
	size_t cap = 0;
	ssize_t n;
	char *buf;
	int err;

	if (rp->zc_fixed) {
		if (size > rp->zc_len)
			return fur_reply_err(req, EIO);
		n = fur_fixed_read_full(req, fd, size, off);
		return n < 0 ? fur_reply_err(req, -n) :
		       fur_send_inplace(req, n);
	}
	if (rp->zc_data) {
		if (size > rp->zc_len)
			return fur_reply_err(req, EIO);
		n = fur_pread_full(fd, rp->zc_data, size, off);
		return n < 0 ? fur_reply_err(req, -n) :
		       fur_send_inplace(req, n);
	}
	buf = ops->buf ? ops->buf(req, &cap) : NULL;
	if (buf && cap >= size) {
		n = fur_pread_full(fd, buf, size, off);
		return n < 0 ? fur_reply_err(req, -n) :
		       fur_send_inplace(req, n);
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return fur_reply_err(req, ENOMEM);
	n = fur_pread_full(fd, buf, size, off);
	err = n < 0 ? fur_reply_err(req, -n) : fur_reply_buf(req, buf, n);
	free(buf);
	return err;
}

const void *fur_req_write_data(const struct fur_req *req, size_t *len)
{
	struct fur_req_priv *rp = req->priv;
	const struct fuse_write_in *in = req->arg;
	size_t head;

	if (req->in->opcode != FUSE_WRITE ||
	    req->arglen < FUSE_COMPAT_WRITE_IN_SIZE)
		return NULL;
	if (rp->zc_data) {
		*len = in->size;
		return rp->zc_data;
	}
	/* Only io_uring reaches registered pages: a copy, on demand. */
	if (rp->zc_fixed)
		return rp->rops->fixed_data((struct fur_req *)req, len);
	/* The data follows the header, shorter before minor 9. */
	if (req->arglen < in->size)
		return NULL;
	head = req->arglen - in->size;
	if (head != sizeof(*in) && head != FUSE_COMPAT_WRITE_IN_SIZE)
		return NULL;
	*len = in->size;
	return (const char *)req->arg + head;
}

/* WRITE_FIXED of a zero-copied WRITE's pages to fd at off. */
static int fur_fixed_write_fd(struct fur_req *req, int fd, off_t off)
{
	struct fur_req_priv *rp = req->priv;
	size_t done = 0;
	ssize_t n;

	while (done < rp->zc_len) {
		n = rp->rops->fixed_io(req, false, fd, done, rp->zc_len - done,
				       off + done);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0) {
			if (!done)
				return fur_reply_err(req, -n);
			break;
		}
		if (!n)
			break;
		done += n;
	}
	return fur_reply_write(req, done);
}

int fur_reply_write_fd(struct fur_req *req, int fd, off_t off)
{
	size_t len = 0, done = 0;
	const char *data;
	ssize_t n;

	if (((struct fur_req_priv *)req->priv)->zc_fixed)
		return fur_fixed_write_fd(req, fd, off);
	data = fur_req_write_data(req, &len);
	if (!data)
		return fur_reply_err(req, EINVAL);
	while (done < len) {
		n = pwrite(fd, data + done, len - done, off + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!done)
				return fur_reply_err(req, errno);
			break;
		}
		if (!n)
			break;
		done += n;
	}
	return fur_reply_write(req, done);
}
