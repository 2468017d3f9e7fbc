/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuseuring tracepoints: how each request ended, and how page cache
 * folios came to be uptodate.  A wrong read can be traced back to the
 * reply (or the zeroing) that filled its folio.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM fuseuring

#if !defined(_FUR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _FUR_TRACE_H

#include <linux/fs.h>
#include <linux/tracepoint.h>

#include "fuseuring_i.h"

TRACE_EVENT(fur_request_end,
	    TP_PROTO(const struct fur_req *req),
	    TP_ARGS(req),
	    TP_STRUCT__entry(__field(dev_t, dev)
			     __field(u64, unique)
			     __field(u64, nodeid)
			     __field(u32, opcode)
			     __field(int, error)
			     __field(bool, aborted)),
	    TP_fast_assign(__entry->dev = req->fm->sb->s_dev;
			   __entry->unique = req->in.h.unique;
			   __entry->nodeid = req->in.h.nodeid;
			   __entry->opcode = req->in.h.opcode;
			   __entry->error = req->out.h.error;
			   __entry->aborted = test_bit(FR_ABORTED,
						       &req->flags)),
	    TP_printk("dev %d:%d unique %llu opcode %u nodeid %llx error %d%s",
		      MAJOR(__entry->dev), MINOR(__entry->dev),
		      __entry->unique, __entry->opcode, __entry->nodeid,
		      __entry->error, __entry->aborted ? " aborted" : "")
);

TRACE_EVENT(fur_folios_filled,
	    TP_PROTO(const struct inode *inode, loff_t pos, size_t count,
		     ssize_t res, int how),
	    TP_ARGS(inode, pos, count, res, how),
	    TP_STRUCT__entry(__field(dev_t, dev)
			     __field(unsigned long, ino)
			     __field(loff_t, pos)
			     __field(size_t, count)
			     __field(ssize_t, res)
			     __field(int, how)),
	    TP_fast_assign(__entry->dev = inode->i_sb->s_dev;
			   __entry->ino = inode->i_ino;
			   __entry->pos = pos;
			   __entry->count = count;
			   __entry->res = res;
			   __entry->how = how),
	    TP_printk("dev %d:%d ino %lx pos %lld count %zu res %zd %s",
		      MAJOR(__entry->dev), MINOR(__entry->dev), __entry->ino,
		      __entry->pos, __entry->count, __entry->res,
		      __print_symbolic(__entry->how,
				       { FUR_FILL_READAHEAD, "readahead" },
				       { FUR_FILL_READ_FOLIO, "read_folio" },
				       { FUR_FILL_PAST_EOF, "zeroed_past_eof" }))
);

#endif /* _FUR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
