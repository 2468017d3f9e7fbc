/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * fuseuring: FUSE over io_uring for kernels that lack it.
 *
 * The wire protocol is FUSE's (linux/fuse.h).  This header adds what
 * fuseuring speaks beyond the FUSE minor of the kernel it is built
 * against: the io_uring transport of FUSE 7.42 and the buffer pools and
 * zero-copy of 7.46, with upstream's names and layout, so that a server
 * written for upstream works unchanged.  Kernel headers that already
 * carry these definitions are used as they are.
 */
#ifndef _UAPI_LINUX_FUSEURING_H
#define _UAPI_LINUX_FUSEURING_H

#include <linux/types.h>
#include <linux/fuse.h>

/* The character device and the filesystem type. */
#define FUSEURING_DEV_NAME	"fuseuring"
#define FUSEURING_FS_TYPE	"fuseuring"
#define FUSEURING_DEV_MODE	0666

/* The FUSE protocol version fuseuring speaks, whatever linux/fuse.h says. */
#define FUSEURING_KERNEL_VERSION	7
#define FUSEURING_KERNEL_MINOR_VERSION	46

#ifndef FUSE_OVER_IO_URING

#if FUSE_KERNEL_MINOR_VERSION >= 42
#error "linux/fuse.h of FUSE 7.42..7.45 is not supported; use 7.41 or older, or 7.46"
#endif

/* INIT flags (in flags2 as bit - 32). */
#define FUSE_OVER_IO_URING		(1ULL << 41)
#define FUSE_HAS_IO_URING_BUFPOOL	(1ULL << 43)

/* open reply: use zero-copy READ/WRITE on this file, if the queue can. */
#define FOPEN_IO_URING_ZERO_COPY	(1 << 8)

#define FUSE_URING_IN_OUT_HEADER_SZ	128
#define FUSE_URING_OP_IN_OUT_SZ		128

/* fuse_uring_ent_in_out.flags: the payload pages are registered. */
#define FUSE_URING_ENT_ZERO_COPY	(1ULL << 0)

/* Per-request data the kernel and the server exchange in the header. */
struct fuse_uring_ent_in_out {
	__u64 flags;
	/* The request's unique: the server commits its reply with it. */
	__u64 commit_id;
	/* Bytes of payload in the payload buffer, both ways. */
	__u32 payload_sz;
	/* Offset of this request's payload in the queue's buffer pool. */
	__u32 offset;
	__u64 reserved;
};

/* The header buffer of one ring entry (first iovec of REGISTER). */
struct fuse_uring_req_header {
	/* fuse_in_header to the server, fuse_out_header back. */
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];
	/* The opcode's argument struct. */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

/* sqe->cmd_op of IORING_OP_URING_CMD on the device. */
enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID = 0,
	FUSE_IO_URING_CMD_REGISTER = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
	FUSE_IO_URING_CMD_ADD_QUEUE = 3,
	FUSE_IO_URING_CMD_ADD_BUFPOOL = 4,
};

/* ADD_QUEUE flags: zero-copy payloads (CAP_SYS_ADMIN only). */
#define FUSE_URING_ZERO_COPY	(1ULL << 0)

/* The 80-byte command area of a 128-byte SQE. */
struct fuse_uring_cmd_req {
	__u64 flags;
	/* COMMIT_AND_FETCH: the unique of the request being answered. */
	__u64 commit_id;
	__u16 qid;
	__u8 padding[6];
	union {
		/* ADD_BUFPOOL: the pool's memory. */
		struct {
			__u64 uaddr;
			__u32 len;
			__u32 reserved;
		} bufpool;
		/* REGISTER on a zero-copy queue: the entry's buffer slot. */
		__u16 ent_zero_copy_buf_index;
	};
};

#elif !defined(FUSE_HAS_IO_URING_BUFPOOL)
#error "linux/fuse.h has FUSE over io_uring but not buffer pools (7.42..7.45)"
#endif /* FUSE_OVER_IO_URING */

/*
 * fuseuring's own extension, not upstream's: a kernel-allocated buffer
 * pool.  FUSE_IO_URING_CMD_ADD_BUFPOOL with FUSEURING_BUFPOOL_KERNEL in
 * fuse_uring_cmd_req.flags, bufpool.uaddr 0 and bufpool.len the pool's
 * size asks the module to allocate the pool itself, on the NUMA node of
 * the queue's CPU.  The server then maps it with mmap(2) on its
 * /dev/fuseuring fd (MAP_SHARED) at FUSEURING_BUFPOOL_MMAP_OFFSET(qid)
 * plus a page-aligned offset into the pool; the kernel reports each
 * request's slot in fuse_uring_ent_in_out.offset, as for any pool.
 * Upstream refuses the flag with EINVAL, so a server can fall back to a
 * pool of its own.
 */
#define FUSEURING_BUFPOOL_KERNEL	(1ULL << 63)

/* mmap offsets: queue qid's kernel-allocated pool starts here. */
#define FUSEURING_BUFPOOL_MMAP_SHIFT	32
#define FUSEURING_BUFPOOL_MMAP_OFFSET(qid) \
	((__u64)(qid) << FUSEURING_BUFPOOL_MMAP_SHIFT)

/*
 * fuseuring's own zero-copy, for kernels that cannot register pages in
 * a server's io_uring buffer table (no io_buffer_register_bvec, 6.1 to
 * 6.14): the window.  Not upstream's: an upstream kernel refuses the
 * flag with EINVAL.
 *
 * ADD_QUEUE with FUSE_URING_ZERO_COPY | FUSEURING_ZERO_COPY_WINDOW
 * (CAP_SYS_ADMIN, else EPERM) makes a window queue.  The server maps the
 * queue's window with mmap(2) on its /dev/fuseuring fd, MAP_SHARED,
 * PROT_READ | PROT_WRITE, at FUSEURING_ZC_MMAP_OFFSET(qid), at most
 * FUSEURING_ZC_MAX_ENTS * FUSEURING_ZC_WINDOW_SIZE bytes.  Each REGISTER
 * names the entry's slot in ent_zero_copy_buf_index (< FUSEURING_ZC_MAX_ENTS);
 * the entry's window is FUSEURING_ZC_WINDOW_SIZE bytes at
 * slot * FUSEURING_ZC_WINDOW_SIZE in the mapping.
 *
 * A READ or WRITE of a file opened with FOPEN_IO_URING_ZERO_COPY comes
 * with FUSE_URING_ENT_ZERO_COPY when the kernel mapped the request's
 * pages into the entry's window: the data starts at byte
 * fuse_uring_ent_in_out.reserved of the window (the offset of the data
 * in its first page).  For a WRITE, payload_sz counts the data (which is
 * in the window, read-only), and fuse_write_out goes back in the payload
 * buffer as usual.  For a READ, the server stores the data in the window
 * (read(2) or recv(2) into it) and commits with payload_sz = the bytes
 * it stored.  The pages leave the window when the request ends; touching
 * the window outside a request is SIGBUS.  Requests that cannot be
 * mapped (pages not contiguous, no window mapped by the task that serves
 * the queue) arrive without the flag and are copied as usual.
 */
#define FUSEURING_ZERO_COPY_WINDOW	(1ULL << 62)

#define FUSEURING_ZC_WINDOW_SHIFT	21
#define FUSEURING_ZC_WINDOW_SIZE	(1ULL << FUSEURING_ZC_WINDOW_SHIFT)
#define FUSEURING_ZC_MAX_ENTS		1024

/* mmap offsets: queue qid's zero-copy window. */
#define FUSEURING_ZC_MMAP_BIT		(1ULL << 48)
#define FUSEURING_ZC_MMAP_OFFSET(qid) \
	(FUSEURING_ZC_MMAP_BIT | FUSEURING_BUFPOOL_MMAP_OFFSET(qid))

#endif /* _UAPI_LINUX_FUSEURING_H */
