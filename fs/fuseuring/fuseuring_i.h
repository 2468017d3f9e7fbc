/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuseuring: private declarations shared by the module's files.
 *
 * Names: fur_ is fuseuring's internal prefix.  A request (struct fur_req)
 * is what a filesystem operation asks of the server; how it travels (the
 * classic read/write device path, or an io_uring queue) is the business
 * of the connection's input queue operations (struct fur_iqueue_ops), so
 * that the operations in dir.c, file.c, ... never know the transport.
 */
#ifndef _FS_FUSEURING_I_H
#define _FS_FUSEURING_I_H

#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/fuseuring.h>

#include "compat.h"

/* Bounds of what a server may negotiate. */
#define FUR_NAME_MAX			1024
#define FUR_SYMLINK_MAX			PAGE_SIZE
#define FUR_DEFAULT_MAX_PAGES		32
#define FUR_MAX_MAX_PAGES		256
#define FUR_DEFAULT_MAX_BACKGROUND	12
#define FUR_DEFAULT_CONGESTION		9
#define FUR_MAX_IN_ARGS			3
#define FUR_MAX_OUT_ARGS		2

/* The low bit of a unique marks an interrupt; real uniques step by 2. */
#define FUSE_INT_REQ_BIT		BIT_ULL(0)
#define FUSE_REQ_ID_STEP		BIT_ULL(1)

/*
 * In the FUSE protocol this error means "the server does not implement
 * the operation"; spelled so that checkpatch's syscall rule stays quiet.
 */
#define FUR_ENOSYS			__PASTE(ENO, SYS)

struct fur_conn;
struct fur_mount;
struct fur_ring;

/* One input argument of a request: copied to the server. */
struct fur_in_arg {
	unsigned int size;
	const void *value;
};

/* One output argument: filled from the server's reply. */
struct fur_arg {
	unsigned int size;
	void *value;
};

/* Where a page's data starts and how long it is, for page arguments. */
struct fur_page_desc {
	unsigned int length;
	unsigned int offset;
};

/*
 * What an operation asks: the opcode, its arguments, and how to finish.
 * The last in or out argument may be a page vector (in_pages, out_pages:
 * see struct fur_args_pages).  out_argvar: the last out argument may be
 * shorter than its size, and its size is set to what the server sent.
 */
struct fur_args {
	u64 nodeid;
	u32 opcode;
	u8 in_numargs;
	u8 out_numargs;
	bool force:1;		/* send even if interrupted; no waiting for bg */
	bool noreply:1;		/* no reply expected (FORGET) */
	bool nocreds:1;		/* don't fill uid/gid/pid */
	bool in_pages:1;
	bool out_pages:1;
	bool user_pages:1;	/* pages of a user buffer (direct I/O) */
	bool out_argvar:1;
	bool page_zeroing:1;	/* zero what the server did not fill */
	bool may_block:1;	/* end() may sleep: run it from a worker */
	bool killable:1;	/* only a fatal signal interrupts the wait */
	bool zero_copy:1;	/* FOPEN_IO_URING_ZERO_COPY: pages may be mapped */
	struct fur_in_arg in_args[FUR_MAX_IN_ARGS];
	struct fur_arg out_args[FUR_MAX_OUT_ARGS];
	/* Background requests only: called once the request is done. */
	void (*end)(struct fur_mount *fm, struct fur_args *args, int error);
};

struct fur_args_pages {
	struct fur_args args;
	struct page **pages;
	struct fur_page_desc *descs;
	unsigned int num_pages;
};

/* Bits of fur_req.flags. */
enum fur_req_flag {
	FR_ISREPLY,	/* a reply is expected */
	FR_FORCE,
	FR_BACKGROUND,	/* counted against max_background */
	FR_WAITING,	/* counted in fc->num_waiting */
	FR_ABORTED,
	FR_INTERRUPTED,
	FR_LOCKED,	/* a transport is copying the request's data */
	FR_PENDING,	/* queued, not yet taken by the server */
	FR_SENT,	/* in the server's hands */
	FR_FINISHED,
	FR_PRIVATE,	/* in a transport's private list (ring entry) */
	FR_ASYNC,	/* background: end() is called, nobody waits */
};

/* How folios became uptodate, for the fur_folios_filled tracepoint. */
enum fur_fill_how {
	FUR_FILL_READAHEAD,
	FUR_FILL_READ_FOLIO,
	FUR_FILL_PAST_EOF,
};

struct fur_req {
	/* On exactly one list of the transport that carries it. */
	struct list_head list;
	/* On the connection's interrupt list while an interrupt is due. */
	struct list_head intr_entry;
	struct fur_args *args;
	refcount_t count;
	unsigned long flags;
	struct {
		struct fuse_in_header h;
	} in;
	struct {
		struct fuse_out_header h;
	} out;
	wait_queue_head_t waitq;
	struct fur_mount *fm;
	/* The io_uring entry that carries the request, if any. */
	void *ring_entry;
};

/* A FORGET the connection owes the server, batched. */
struct fur_forget_link {
	struct fuse_forget_one forget_one;
	struct fur_forget_link *next;
};

struct fur_iqueue;

/*
 * How requests travel.  The classic device path implements all three;
 * the io_uring transport replaces send_req and leaves forgets and
 * interrupts on the classic path (as upstream does).
 * Called with fiq->lock held, they must release it.
 */
struct fur_iqueue_ops {
	void (*send_forget)(struct fur_iqueue *fiq,
			    struct fur_forget_link *link)
		__releases(fiq->lock);
	void (*send_interrupt)(struct fur_iqueue *fiq, struct fur_req *req)
		__releases(fiq->lock);
	void (*send_req)(struct fur_iqueue *fiq, struct fur_req *req)
		__releases(fiq->lock);
};

/* The input queue: requests waiting for the server to read them. */
struct fur_iqueue {
	/* Protects everything below. */
	spinlock_t lock;
	bool connected;
	wait_queue_head_t waitq;
	u64 reqctr;
	struct list_head pending;
	struct list_head interrupts;
	struct fur_forget_link forget_list_head;
	struct fur_forget_link *forget_list_tail;
	int forget_batch;
	struct fasync_struct *fasync;
	const struct fur_iqueue_ops *ops;
};

#define FUR_PQ_HASH_BITS	8
#define FUR_PQ_HASH_SIZE	BIT(FUR_PQ_HASH_BITS)

/* Requests the server has taken over the classic path, by unique. */
struct fur_pqueue {
	/* Protects the lists and connected. */
	spinlock_t lock;
	bool connected;
	struct list_head *processing;	/* FUR_PQ_HASH_SIZE lists */
	struct list_head io;		/* being copied */
};

/* The connection: one per mount, shared by the device and the sb. */
struct fur_conn {
	/* Protects the state bits and the mounts and devices lists. */
	spinlock_t lock;
	refcount_t count;
	atomic_t dev_count;
	struct fur_iqueue iq;
	struct fur_pqueue pq;
	struct rcu_head rcu;

	kuid_t user_id;
	kgid_t group_id;
	struct pid_namespace *pid_ns;
	struct user_namespace *user_ns;

	/* Negotiated at INIT. */
	unsigned int minor;
	unsigned int max_read;
	unsigned int max_write;
	unsigned int max_pages;
	unsigned int max_pages_limit;
	u64 init_flags;		/* what the server accepted (flags | flags2) */

	/* Background requests. */
	unsigned int max_background;
	unsigned int congestion_threshold;
	unsigned int num_background;
	unsigned int active_background;
	struct list_head bg_queue;
	/* Protects the background counters and bg_queue. */
	spinlock_t bg_lock;
	bool blocked;
	wait_queue_head_t blocked_waitq;

	atomic_t num_waiting;
	atomic64_t attr_version;
	atomic64_t khctr;	/* lock owner ids */

	/* State; connected and initialized are read without fc->lock. */
	bool connected;
	bool initialized;
	bool aborted:1;
	bool conn_error:1;
	bool conn_init:1;	/* INIT answered */

	/* Negotiated features and mount options. */
	bool async_read:1;
	bool atomic_o_trunc:1;
	bool big_writes:1;
	bool writeback_cache:1;
	bool parallel_dirops:1;
	bool handle_killpriv_v2:1;
	bool posix_locks:1;
	bool flock_locks:1;
	bool readdirplus:1;
	bool readdirplus_auto:1;
	bool default_permissions:1;
	bool allow_other:1;
	bool dont_mask:1;
	bool auto_inval_data:1;
	bool explicit_inval_data:1;
	bool cache_symlinks:1;
	bool no_open:1;
	bool no_opendir:1;
	bool no_fsync:1;
	bool no_fsyncdir:1;
	bool no_flush:1;
	bool no_setxattr:1;
	bool no_getxattr:1;
	bool no_listxattr:1;
	bool no_removexattr:1;
	bool no_access:1;
	bool no_create:1;
	bool no_interrupt:1;
	bool no_lock:1;
	bool no_fallocate:1;
	bool no_rename2:1;
	bool no_lseek:1;
	bool no_copy_file_range:1;
	bool no_readdirplus:1;
	bool over_io_uring:1;	/* the server accepted FUSE_OVER_IO_URING */

	/* The io_uring transport, once the server registers entries. */
	struct fur_ring *ring;

	struct list_head mounts;
	struct list_head devices;
	/* Held for reading by notifications, for writing by kill_sb. */
	struct rw_semaphore killsb;
	/* Set by a transport that must fail its own requests on abort. */
	void (*abort_transport)(struct fur_conn *fc);
	struct mutex lookup_mutex;	/* not PARALLEL_DIROPS: serialise */
	void (*release)(struct fur_conn *fc);
};

/* One superblock's view of a connection. */
struct fur_mount {
	struct fur_conn *fc;
	struct super_block *sb;
	struct list_head fc_entry;
};

/* What an open /dev/fuseuring file points at once mounted. */
struct fur_dev {
	struct fur_conn *fc;
	struct fur_pqueue *pq;
	struct list_head entry;
};

/* Per-inode state. */
struct fur_inode {
	struct inode inode;
	u64 nodeid;
	u64 nlookup;		/* LOOKUPs the server counts for us */
	struct fur_forget_link *forget;
	u64 i_time;		/* attributes valid until (jiffies64) */
	u32 inval_mask;		/* attributes to refresh anyway */
	umode_t orig_i_mode;
	u64 orig_ino;
	u64 attr_version;
	/* Protects the attribute bookkeeping and the write lists. */
	spinlock_t lock;
	/* Serialises operations that change the inode's data or size. */
	struct mutex mutex;
	/* Writeback state for regular files. */
	struct list_head write_files;
	struct list_head queued_writes;
	int writectr;
	wait_queue_head_t page_waitq;
	unsigned long state;
};

/* Bits of fur_inode.state. */
enum {
	FUR_I_ADVISE_RDPLUS,
	FUR_I_INIT_RDPLUS,
	FUR_I_SIZE_UNSTABLE,
	FUR_I_BAD,
};

/*
 * An open file or directory on the server: file->private_data of every
 * open file and directory of a mount (getattr and setattr read fh).
 */
struct fur_file {
	struct fur_mount *fm;
	struct fur_args *release_args;
	u64 kh;
	u64 fh;
	u64 nodeid;
	refcount_t count;
	u32 open_flags;		/* FOPEN_* from the server */
	struct list_head write_entry;
	struct {
		/* Serialises readdir on this open directory. */
		struct mutex lock;
		loff_t pos;
		loff_t cache_off;
		u64 version;
	} readdir;
	bool flock:1;
};

static inline struct fur_inode *get_fur_inode(struct inode *inode)
{
	return container_of(inode, struct fur_inode, inode);
}

static inline u64 get_node_id(struct inode *inode)
{
	return get_fur_inode(inode)->nodeid;
}

static inline struct fur_mount *get_fur_mount_sb(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct fur_mount *get_fur_mount(struct inode *inode)
{
	return get_fur_mount_sb(inode->i_sb);
}

static inline struct fur_conn *get_fur_conn(struct inode *inode)
{
	return get_fur_mount(inode)->fc;
}

static inline bool fur_is_bad(struct inode *inode)
{
	return unlikely(test_bit(FUR_I_BAD, &get_fur_inode(inode)->state));
}

/* main.c / dev.c */
extern const struct file_operations fur_dev_fops;
extern struct file_system_type fur_fs_type;
int fur_dev_init(void);
void fur_dev_exit(void);

/*
 * dev_splice.c: splice(2) from the device gives a message pipe buffers
 * of its own pages, its page data starting on a page of its own.
 */
struct fur_dev_splice {
	struct pipe_inode_info *pipe;
	unsigned int slots;		/* the pipe's free buffers */
	unsigned int nr;		/* pages laid out in bvec */
	unsigned int pushed;		/* of them, given to the pipe */
	struct bio_vec *bvec;
	struct iov_iter iter;		/* over bvec, for the copy */
};

size_t fur_dev_splice_init(struct fur_dev_splice *sp,
			   struct pipe_inode_info *pipe, size_t len);
int fur_dev_splice_layout(struct fur_dev_splice *sp, size_t size,
			  size_t data);
ssize_t fur_dev_splice_push(struct fur_dev_splice *sp);
void fur_dev_splice_release(struct fur_dev_splice *sp);

/*
 * req.c: the request machinery.  fur_simple_request() sends and waits
 * and returns the reply's error or, for out_argvar, the size of the last
 * out argument.  fur_simple_background() queues and returns at once;
 * args->end() runs when the reply comes or the connection dies.
 */
ssize_t fur_simple_request(struct fur_mount *fm, struct fur_args *args);
int fur_simple_background(struct fur_mount *fm, struct fur_args *args,
			  gfp_t gfp_flags);
void fur_request_end(struct fur_req *req);
void fur_put_request(struct fur_req *req);
void fur_queue_forget(struct fur_conn *fc, struct fur_forget_link *forget,
		      u64 nodeid, u64 nlookup);
struct fur_forget_link *fur_alloc_forget(void);
void fur_abort_conn(struct fur_conn *fc);
void fur_wait_aborted(struct fur_conn *fc);
u64 fur_get_unique(struct fur_iqueue *fiq);
extern const struct fur_iqueue_ops fur_dev_iqueue_ops;
int fur_req_init(void);
void fur_req_exit(void);
int fur_queue_interrupt(struct fur_req *req);
int fur_simple_notify_reply(struct fur_mount *fm, struct fur_args *args,
			    u64 unique);

/*
 * For transports: copy a request's input arguments (from index first
 * on) into a destination, and a reply's arguments (nbytes, without the
 * out header) from a source; -EINVAL if the reply's size is wrong.
 */
int fur_copy_in_args(struct iov_iter *to, struct fur_args *args,
		     unsigned int first);
/* The bytes of a request's page argument, which the copy puts last. */
size_t fur_in_args_page_bytes(struct fur_args *args);
int fur_copy_out_args(struct iov_iter *from, struct fur_args *args,
		      unsigned int nbytes);
/* fpq->lock held: the request with this unique the server holds. */
struct fur_req *fur_request_find(struct fur_pqueue *fpq, u64 unique);
/* 0 if the error of a reply is in (-512, 0]. */
int fur_reply_header_valid(const struct fuse_out_header *oh);

/*
 * dev_uring.c: the io_uring transport, on kernels whose uring_cmd
 * interface it knows (FUR_HAVE_RING, compat.h); elsewhere the device has
 * no .uring_cmd and INIT does not offer FUSE_OVER_IO_URING.
 */
struct io_uring_cmd;
#if FUR_HAVE_RING
#define FUR_URING_INIT_FLAGS	(FUSE_OVER_IO_URING | FUSE_HAS_IO_URING_BUFPOOL)
int fur_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags);
/* bufpool.c: a kernel-allocated buffer pool, mapped by the server. */
int fur_bufpool_mmap(struct file *file, struct vm_area_struct *vma);
void fur_uring_destroy(struct fur_conn *fc);
void fur_uring_init(void);
void fur_uring_exit(void);
#else
#define FUR_URING_INIT_FLAGS	0
static inline void fur_uring_destroy(struct fur_conn *fc) {}
static inline void fur_uring_init(void) {}
static inline void fur_uring_exit(void) {}
#endif

/* notify.c: a message with unique 0 from the server. */
int fur_notify(struct fur_conn *fc, int code, unsigned int size,
	       struct iov_iter *from);

/* conn.c */
struct fur_conn *fur_conn_alloc(struct user_namespace *user_ns);
void fur_conn_init(struct fur_conn *fc, struct user_namespace *user_ns);
struct fur_conn *fur_conn_get(struct fur_conn *fc);
void fur_conn_put(struct fur_conn *fc);
struct fur_dev *fur_dev_alloc_install(struct fur_conn *fc);
void fur_dev_free(struct fur_dev *fud);
int fur_send_init(struct fur_mount *fm);

/* inode.c */
struct inode *fur_iget(struct super_block *sb, u64 nodeid, int generation,
		       struct fuse_attr *attr, u64 attr_valid,
		       u64 attr_version);
void fur_change_attributes(struct inode *inode, struct fuse_attr *attr,
			   u64 attr_valid, u64 attr_version);
int fur_update_attributes(struct inode *inode, struct file *file, u32 mask);
void fur_invalidate_attr(struct inode *inode);
void fur_make_bad(struct inode *inode);
u64 fur_get_attr_version(struct fur_conn *fc);
int fur_reverse_inval_inode(struct fur_conn *fc, u64 nodeid,
			    loff_t offset, loff_t len);
int fur_reverse_inval_entry(struct fur_conn *fc, u64 parent_nodeid,
			    u64 child_nodeid, struct qstr *name, u32 flags);
/*
 * Timeouts are absolute jiffies64 deadlines: attr_valid of fur_iget()
 * and fur_change_attributes() is fur_time_to_jiffies(sec, nsec).
 */
u64 fur_time_to_jiffies(u64 sec, u32 nsec);
extern struct kmem_cache *fur_inode_cachep;
int fur_inode_cache_init(void);
void fur_inode_cache_exit(void);
struct inode *fur_alloc_inode(struct super_block *sb);
struct inode *fur_ilookup(struct fur_conn *fc, u64 nodeid);
bool fur_allow_current_process(struct fur_conn *fc);
bool fur_invalid_attr(struct fuse_attr *attr);
bool fur_valid_type(unsigned int mode);
unsigned int fur_attr_out_size(struct fur_conn *fc);
int fur_send_setattr(struct inode *inode, struct fuse_setattr_in *inarg,
		     struct fuse_attr_out *outarg);
int fur_do_setattr(struct dentry *dentry, struct iattr *attr,
		   struct file *file);
int fur_setattr(struct mnt_idmap *idmap, struct dentry *dentry,
		struct iattr *attr);
int fur_getattr(struct mnt_idmap *idmap, const struct path *path,
		struct kstat *stat, u32 request_mask, unsigned int flags);
int fur_permission(struct mnt_idmap *idmap, struct inode *inode, int mask);

/* dir.c, readdir.c, xattr.c */
extern const struct dentry_operations fur_dentry_operations;
unsigned int fur_entry_out_size(struct fur_conn *fc);
/* ->lookup of directories; atomic_open uses it for in-lookup dentries. */
struct dentry *fur_lookup(struct inode *dir, struct dentry *entry,
			  unsigned int flags);
void fur_dentry_settime(struct dentry *entry, u64 time);
void fur_change_entry_timeout(struct dentry *entry, struct fuse_entry_out *o);
void fur_init_common(struct inode *inode);
void fur_init_dir(struct inode *inode);
void fur_init_symlink(struct inode *inode);
void fur_init_special(struct inode *inode, u32 rdev);
int fur_readdir(struct file *file, struct dir_context *ctx);
void fur_advise_use_readdirplus(struct inode *dir);
ssize_t fur_listxattr(struct dentry *entry, char *list, size_t size);
extern const struct xattr_handler *FUR_S_XATTR_CONST fur_xattr_handlers[];

/* ioctl.c: restricted FUSE_IOCTL on open files and directories. */
long fur_file_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
long fur_file_compat_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg);
long fur_dir_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
long fur_dir_compat_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg);

/*
 * file.c: regular files.  fur_init_file_inode() sets i_op (it may use
 * fur_setattr/fur_getattr/fur_permission/fur_listxattr), i_fop and the
 * address_space operations of a new S_ISREG inode.
 */
void fur_init_file_inode(struct inode *inode, unsigned int attr_flags);
int fur_atomic_open(struct inode *dir, struct dentry *entry,
		    struct file *file, unsigned int flags, umode_t mode);
int fur_write_inode(struct inode *inode, struct writeback_control *wbc);
int fur_open_common(struct inode *inode, struct file *file, bool isdir);
void fur_release_common(struct file *file, bool isdir);
struct fur_file *fur_file_alloc(struct fur_mount *fm, u64 nodeid);
struct fur_file *fur_file_get(struct fur_file *ff);
void fur_file_put(struct fur_file *ff);
void fur_finish_open(struct inode *inode, struct file *file);
int fur_send_open(struct fur_mount *fm, u32 opcode, u64 nodeid,
		  struct fuse_open_in *inarg, struct fuse_open_out *outarg);
void fur_prepare_release(struct fur_file *ff, u32 flags);
int fur_send_fsync(struct file *file, u32 opcode, int datasync);
void fur_read_args(struct fur_args_pages *ap, struct fuse_read_in *inarg,
		   struct fur_file *ff, struct file *file, loff_t pos,
		   size_t count);
void fur_write_args(struct fur_args_pages *ap, struct fuse_write_in *inarg,
		    struct fuse_write_out *outarg, struct fur_file *ff,
		    loff_t pos, size_t count);
void fur_write_update_size(struct inode *inode, loff_t pos);
/* aops.c: the page cache; locks.c: POSIX locks and flock. */
extern const struct address_space_operations fur_file_aops;
struct fur_file *fur_get_writable(struct inode *inode);
int fur_file_mmap(struct file *file, struct vm_area_struct *vma);
u64 fur_lock_owner_id(struct fur_conn *fc, fl_owner_t owner);
int fur_file_lock(struct file *file, int cmd, struct file_lock *fl);
int fur_file_flock(struct file *file, int cmd, struct file_lock *fl);

#endif /* _FS_FUSEURING_I_H */
