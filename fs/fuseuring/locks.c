// SPDX-License-Identifier: GPL-2.0
/*
 * fuseuring: POSIX record locks and flock.  When the server accepted
 * POSIX_LOCKS (FLOCK_LOCKS) it arbitrates them with GETLK, SETLK and
 * SETLKW; otherwise they are local to this kernel, as on any file.
 */

#include <linux/fs.h>
#include <linux/once.h>
#include <linux/pid_namespace.h>
#include <linux/random.h>
#include <linux/siphash.h>

#include "fuseuring_i.h"

static siphash_key_t fur_owner_key;

/*
 * The server sees an opaque 64-bit owner: a keyed hash of the owner
 * pointer, so that no kernel address leaks to userspace.
 */
u64 fur_lock_owner_id(struct fur_conn *fc, fl_owner_t owner)
{
	get_random_once(&fur_owner_key, sizeof(fur_owner_key));
	return siphash_1u64((unsigned long)owner, &fur_owner_key);
}

static void fur_lk_args(struct file *file, struct file_lock *fl, u32 opcode,
			bool flock, struct fuse_lk_in *inarg,
			struct fur_args *args)
{
	struct inode *inode = file_inode(file);
	struct fur_conn *fc = get_fur_conn(inode);
	struct fur_file *ff = file->private_data;

	inarg->fh = ff->fh;
	inarg->owner = fur_lock_owner_id(fc, fur_fl(fl, owner));
	inarg->lk.start = fl->fl_start;
	inarg->lk.end = fl->fl_end;
	inarg->lk.type = fur_fl(fl, type);
	/* The holder's pid as the server's namespace sees it. */
	if (!flock && fur_fl(fl, type) != F_UNLCK)
		inarg->lk.pid = pid_nr_ns(task_tgid(current), fc->pid_ns);
	if (flock)
		inarg->lk_flags |= FUSE_LK_FLOCK;
	args->opcode = opcode;
	args->nodeid = get_node_id(inode);
	args->in_numargs = 1;
	args->in_args[0].size = sizeof(*inarg);
	args->in_args[0].value = inarg;
}

static int fur_getlk(struct file *file, struct file_lock *fl)
{
	struct fur_mount *fm = get_fur_mount(file_inode(file));
	struct fuse_lk_in inarg = {};
	struct fuse_lk_out outarg = {};
	struct fur_args args = {};
	struct fuse_file_lock *lk = &outarg.lk;
	int err;

	fur_lk_args(file, fl, FUSE_GETLK, false, &inarg, &args);
	args.out_numargs = 1;
	args.out_args[0].size = sizeof(outarg);
	args.out_args[0].value = &outarg;
	err = fur_simple_request(fm, &args);
	if (err)
		return err;
	if (lk->type == F_UNLCK) {
		fur_fl(fl, type) = F_UNLCK;
		return 0;
	}
	if ((lk->type != F_RDLCK && lk->type != F_WRLCK) ||
	    lk->start > OFFSET_MAX || lk->end > OFFSET_MAX ||
	    lk->start > lk->end)
		return -EIO;
	fl->fl_start = lk->start;
	fl->fl_end = lk->end;
	fur_fl(fl, type) = lk->type;
	/* F_GETLK reports the pid in the initial namespace's terms. */
	rcu_read_lock();
	fur_fl(fl, pid) = pid_nr_ns(find_pid_ns(lk->pid, fm->fc->pid_ns),
				    &init_pid_ns);
	rcu_read_unlock();
	return 0;
}

static int fur_setlk(struct file *file, struct file_lock *fl, bool wait,
		     bool flock)
{
	struct fur_mount *fm = get_fur_mount(file_inode(file));
	struct fuse_lk_in inarg = {};
	struct fur_args args = {};
	int err;

	/* Lock managers (NFS export) would need a grant callback. */
	if (fl->fl_lmops && fl->fl_lmops->lm_grant)
		return -ENOLCK;
	fur_lk_args(file, fl, wait ? FUSE_SETLKW : FUSE_SETLK, flock, &inarg,
		    &args);
	err = fur_simple_request(fm, &args);
	/* A signal interrupted the wait: the syscall may restart. */
	if (err == -EINTR)
		err = -ERESTARTSYS;
	return err;
}

int fur_file_lock(struct file *file, int cmd, struct file_lock *fl)
{
	struct inode *inode = file_inode(file);
	struct fur_conn *fc = get_fur_conn(inode);

	if (fur_is_bad(inode))
		return -EIO;
	if (cmd == F_CANCELLK)
		return 0;
	if (!fc->posix_locks) {
		if (IS_GETLK(cmd)) {
			posix_test_lock(file, fl);
			return 0;
		}
		return locks_lock_file_wait(file, fl);
	}
	if (IS_GETLK(cmd))
		return fur_getlk(file, fl);
	/* At close, FLUSH carried the owner: the server unlocks then. */
	if ((fur_fl(fl, flags) & FL_CLOSE_POSIX) == FL_CLOSE_POSIX)
		return 0;
	return fur_setlk(file, fl, IS_SETLKW(cmd), false);
}

int fur_file_flock(struct file *file, int cmd, struct file_lock *fl)
{
	struct inode *inode = file_inode(file);
	struct fur_file *ff = file->private_data;

	if (fur_is_bad(inode))
		return -EIO;
	if (!get_fur_conn(inode)->flock_locks)
		return locks_lock_file_wait(file, fl);
	/* RELEASE drops the lock if the file goes without LOCK_UN. */
	ff->flock = true;
	return fur_setlk(file, fl, IS_SETLKW(cmd), true);
}
