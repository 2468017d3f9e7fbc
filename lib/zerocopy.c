// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libfuseuring: READ and WRITE data between a file descriptor and the
 * client, with as few copies as the request's transport allows.
 *
 *  - zero-copy (the ring with cfg.zero_copy, on fuseuring's window): the
 *    client's pages are mapped in the queue's window; pread(2) fills
 *    them, pwrite(2) reads them: one copy, in the kernel, none through
 *    server buffers;
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
	return ((const struct fur_req_priv *)req->priv)->zc_data != NULL;
}

bool fur_session_zero_copy(const struct fur_session *se)
{
	return se->zero_copy;
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

int fur_reply_read_fd(struct fur_req *req, int fd, off_t off, size_t size)
{
	struct fur_req_priv *rp = req->priv;
	const struct fur_reply_ops *ops = rp->rops;
	size_t cap = 0;
	ssize_t n;
	char *buf;
	int err;

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
	const struct fur_req_priv *rp = req->priv;
	const struct fuse_write_in *in = req->arg;
	size_t head;

	if (req->in->opcode != FUSE_WRITE ||
	    req->arglen < FUSE_COMPAT_WRITE_IN_SIZE)
		return NULL;
	if (rp->zc_data) {
		*len = in->size;
		return rp->zc_data;
	}
	/* The data follows the header, shorter before minor 9. */
	if (req->arglen < in->size)
		return NULL;
	head = req->arglen - in->size;
	if (head != sizeof(*in) && head != FUSE_COMPAT_WRITE_IN_SIZE)
		return NULL;
	*len = in->size;
	return (const char *)req->arg + head;
}

int fur_reply_write_fd(struct fur_req *req, int fd, off_t off)
{
	size_t len = 0, done = 0;
	const char *data = fur_req_write_data(req, &len);
	ssize_t n;

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
