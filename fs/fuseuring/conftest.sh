#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# conftest.sh "CC AND FLAGS": test the kernel fuseuring is being built
# for and print features.h, one FUR_HAVE_* line a feature.  Each test
# compiles a few lines against the kernel's headers: a kernel is judged
# by what it has, not by its version, so distribution kernels with
# backports come out right.  compat.h turns the bits into one spelling.

cc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# feature NAME HEADERS CODE: FUR_HAVE_NAME is 1 when CODE compiles.
feature() {
	name=$1 headers=$2 code=$3 src=$tmp/$1.c

	for h in $headers; do
		echo "#include <$h>"
	done >"$src"
	printf '%s\n' "$code" >>"$src"
	# shellcheck disable=SC2086 # the compiler command is a word list
	if $cc -Werror=incompatible-pointer-types \
	       -Werror=implicit-function-declaration \
	       -Werror=discarded-qualifiers -Werror=int-conversion \
	       -fsyntax-only "$src" >/dev/null 2>&1; then
		echo 1 >"$tmp/$name.res"
	else
		echo 0 >"$tmp/$name.res"
	fi
}

# Proves the compiler command works: without it, every test would fail.
feature BASELINE "linux/fs.h" 'int fur_t(struct inode *i) { return i->i_nlink; }' &
feature MNT_IDMAP "linux/fs.h linux/mnt_idmapping.h" '
struct mnt_idmap *fur_t(void) { return &nop_mnt_idmap; }' &
feature COPY_SPLICE_READ "linux/fs.h linux/splice.h" '
ssize_t (*fur_t)(struct file *, loff_t *, struct pipe_inode_info *,
		 size_t, unsigned int) = copy_splice_read;' &
feature FILLATTR_REQUEST_MASK "linux/fs.h" '
void (*fur_t)(struct mnt_idmap *, u32, struct inode *,
	      struct kstat *) = generic_fillattr;' &
feature INODE_TIME_ACCESSORS "linux/fs.h" '
struct timespec64 (*fur_t)(const struct inode *) = inode_get_mtime;' &
feature CONST_S_XATTR "linux/fs.h linux/xattr.h" '
static const struct xattr_handler * const fur_h[] = { NULL };
void fur_t(struct super_block *sb) { sb->s_xattr = fur_h; }' &
feature REVALIDATE_DIR_NAME "linux/fs.h linux/dcache.h" '
static int fur_rv(struct inode *d, const struct qstr *n, struct dentry *e,
		  unsigned int f) { return 1; }
const struct dentry_operations fur_t = { .d_revalidate = fur_rv };' &
feature MKDIR_RETURNS_DENTRY "linux/fs.h" '
static struct dentry *fur_mk(struct mnt_idmap *i, struct inode *d,
			     struct dentry *e, umode_t m) { return NULL; }
const struct inode_operations fur_t = { .mkdir = fur_mk };' &
feature CREATE_WITHOUT_EXCL "linux/fs.h" '
static int fur_cr(struct mnt_idmap *i, struct inode *d, struct dentry *e,
		  umode_t m) { return 0; }
const struct inode_operations fur_t = { .create = fur_cr };' &
feature SET_DEFAULT_D_OP "linux/fs.h linux/dcache.h" '
void (*fur_t)(struct super_block *,
	      const struct dentry_operations *) = set_default_d_op;' &
feature INODE_JUST_DROP "linux/fs.h" '
int (*fur_t)(struct inode *) = inode_just_drop;' &
feature INODE_STATE_ACCESSORS "linux/fs.h" '
int fur_t(struct inode *i) { return inode_state_read_once(i) & I_NEW; }' &
feature FILEMAP_SPLICE_READ "linux/fs.h linux/splice.h" '
ssize_t (*fur_t)(struct file *, loff_t *, struct pipe_inode_info *,
		 size_t, unsigned int) = filemap_splice_read;' &
feature SPLICE_COPY_FILE_RANGE "linux/fs.h linux/splice.h" '
ssize_t (*fur_t)(struct file *, loff_t, struct file *, loff_t,
		 size_t) = splice_copy_file_range;' &
feature WRITEBACK_ITER "linux/writeback.h" '
struct folio *(*fur_t)(struct address_space *, struct writeback_control *,
		       struct folio *, int *) = writeback_iter;' &
feature WRITEPAGE_T_FOLIO "linux/writeback.h" '
static int fur_wp(struct folio *f, struct writeback_control *w, void *d)
{ return 0; }
writepage_t fur_t = fur_wp;' &
feature WRITE_BEGIN_FOLIO "linux/fs.h" '
void fur_t(struct address_space *m)
{
	struct folio **f = NULL;

	m->a_ops->write_begin(NULL, m, 0, 0, f, NULL);
}' &
feature FILELOCK_H "linux/filelock.h" 'int fur_t;' &
feature FILE_LOCK_CORE "linux/fs.h" '
#if __has_include(<linux/filelock.h>)
#include <linux/filelock.h>
#endif
int fur_t(struct file_lock *fl) { return fl->c.flc_type; }' &
feature D_ALLOC_PARALLEL_NO_WQ "linux/fs.h linux/dcache.h" '
struct dentry *(*fur_t)(struct dentry *,
			const struct qstr *) = d_alloc_parallel;' &
feature WRITE_BEGIN_KIOCB "linux/fs.h" '
static int fur_wb(const struct kiocb *k, struct address_space *m, loff_t p,
		  unsigned int l, struct folio **f, void **d) { return 0; }
const struct address_space_operations fur_t = { .write_begin = fur_wb };' &
feature IMPORT_UBUF "linux/uio.h" '
int (*fur_t)(int, void __user *, size_t, struct iov_iter *) = import_ubuf;' &
# io_uring commands: their own header (6.7), the whole SQE in the command
# (6.6; 6.1 has only the command area) and a typed pdu accessor (6.10).
feature IO_URING_CMD_H "linux/io_uring/cmd.h" 'int fur_t;' &
feature URING_CMD_SQE "linux/io_uring.h" '
#if __has_include(<linux/io_uring/cmd.h>)
#include <linux/io_uring/cmd.h>
#endif
const struct io_uring_sqe *fur_t(struct io_uring_cmd *c) { return c->sqe; }' &
feature URING_CMD_TO_PDU "linux/io_uring.h" '
#if __has_include(<linux/io_uring/cmd.h>)
#include <linux/io_uring/cmd.h>
#endif
struct fur_p { void *p; };
struct fur_p *fur_t(struct io_uring_cmd *c)
{
	return io_uring_cmd_to_pdu(c, struct fur_p);
}' &
# Kernels without cancelable commands (6.1): the ring runs only where the
# module can see what io_uring itself would cancel (the request behind a
# command: its task exiting or cancelling, its ring closing) and where the
# command area still points into the SQE.  dev_uring.c watches for that.
feature URING_CMD_KIOCB "linux/io_uring.h linux/io_uring_types.h" '
static void fur_cb(struct io_uring_cmd *c, unsigned int f) {}
bool fur_t(struct io_uring_cmd *c)
{
	struct io_kiocb *r = cmd_to_io_kiocb(c);

	io_uring_cmd_complete_in_task(c, fur_cb);
	io_uring_cmd_done(c, 0, 0, 0);
	return (r->task->flags & PF_EXITING) ||
	       percpu_ref_is_dying(&r->ctx->refs) ||
	       atomic_read(&r->task->io_uring->in_idle) ||
	       (r->async_data == c->cmd && (r->flags & REQ_F_FORCE_ASYNC));
}' &
# Cancelable commands (6.7); the task work callback and
# io_uring_cmd_done() changed shape in 7.x (URING_CMD_TW_REQ).
feature URING_CMD_CANCEL "linux/io_uring/cmd.h" '
void fur_t(struct io_uring_cmd *c, unsigned int f)
{
	io_uring_cmd_mark_cancelable(c, f | IO_URING_F_CANCEL);
}' &
feature URING_CMD_TW_REQ "linux/io_uring/cmd.h" '
static void fur_cb(struct io_tw_req r, io_tw_token_t t) {}
void fur_t(struct io_uring_cmd *c, unsigned int f)
{
	io_uring_cmd_complete_in_task(c, fur_cb);
	io_uring_cmd_done(c, 0, f);
}' &
# Buffer pools import registered buffers; 7.x passes the issue flags.
feature URING_CMD_IMPORT_FIXED_FLAGS "linux/io_uring/cmd.h" '
int fur_t(struct io_uring_cmd *c, struct iov_iter *i, unsigned int f)
{
	return io_uring_cmd_import_fixed(0, 0, ITER_DEST, i, c, f);
}' &
# The zero-copy window zaps its PTEs; 7.x renamed zap_vma_ptes().
feature ZAP_SPECIAL_VMA_RANGE "linux/mm.h" '
void (*fur_t)(struct vm_area_struct *, unsigned long,
	      unsigned long) = zap_special_vma_range;' &
# Upstream's zero-copy (7.x): a command registers a bvec array as a
# kernel buffer in its ring's buffer table.  Not with CONFIG_IO_URING off,
# where the declarations are stubs.
feature IO_BUFFER_REGISTER_BVEC "linux/io_uring/cmd.h" '
#ifndef CONFIG_IO_URING
#error no io_uring
#endif
static void fur_rel(void *p) {}
int fur_t(struct io_uring_cmd *c, const struct bio_vec *b, unsigned int f)
{
	unsigned long ctx = (unsigned long)io_uring_cmd_ctx_handle(c);

	return io_buffer_register_bvec(c, b, 1, fur_rel, NULL, IO_BUF_DEST,
				       0, f) + io_buffer_unregister(c, 0, f) +
	       (ctx ? IO_BUF_SOURCE : 0);
}' &
# vm_flags became read-only behind vm_flags_set()/vm_flags_clear() in 6.3.
feature VM_FLAGS_SET "linux/mm.h" '
void fur_t(struct vm_area_struct *v) { vm_flags_set(v, VM_IO); }' &
wait

if [ "$(cat "$tmp/BASELINE.res")" != 1 ]; then
	echo "conftest.sh: cannot compile against the kernel headers with: $cc" >&2
	exit 1
fi
rm "$tmp/BASELINE.res"
echo "/* SPDX-License-Identifier: GPL-2.0 */"
echo "/* Generated by conftest.sh for the kernel being built for. */"
for r in "$tmp"/*.res; do
	n=$(basename "$r" .res)
	echo "#define FUR_HAVE_$n $(cat "$r")"
done
