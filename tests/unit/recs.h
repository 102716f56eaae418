/* recs.h - hand-built wait records for the unit tests of what pairs them. */
#ifndef LOCKSCOPE_TEST_RECS_H
#define LOCKSCOPE_TEST_RECS_H

#include "trace/trace.h"

static inline struct ls_rec wait_begin(uint64_t ts, uint32_t tid, uint64_t addr, uint8_t kind,
				       uint32_t owner, uint32_t stack_id)
{
	struct ls_rec r = {.type = LS_REC_WAIT_BEGIN, .ts = ts, .tid = tid};

	r.wait_begin.addr = addr;
	r.wait_begin.kind = kind;
	r.wait_begin.owner = owner;
	r.wait_begin.stack_id = stack_id;
	return r;
}

static inline struct ls_rec wait_end(uint64_t ts, uint32_t tid, uint8_t result)
{
	struct ls_rec r = {.type = LS_REC_WAIT_END, .ts = ts, .tid = tid};

	r.wait_end.result = result;
	return r;
}

/* LS_REC_THREAD_EXIT or LS_REC_PROC_EXIT */
static inline struct ls_rec exit_rec(uint8_t type, uint64_t ts, uint32_t tid)
{
	return (struct ls_rec){.type = type, .ts = ts, .tid = tid};
}

#endif
