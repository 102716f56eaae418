/* loopblock.h - event-loop blocking: the gaps in which a loop thread stayed away from its poll call
 * past the threshold, from LOOP_SAMPLE and LOOP_BLOCK records; their cause, and where they were. */
#ifndef LOCKSCOPE_LOOPBLOCK_H
#define LOCKSCOPE_LOOPBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace/trace.h"

struct json_writer;
struct model;
struct loopblock;

/* What kept the loop away from its poll call. */
enum loop_cause {
	LOOP_CAUSE_SLEEP, /* asleep in nanosleep or clock_nanosleep */
	LOOP_CAUSE_CPU,	  /* on CPU (or waiting for one) */
	LOOP_CAUSE_LOCK,  /* waiting in futex: a lock, a condition, a join */
	LOOP_CAUSE_IO,	  /* asleep in another system call */
	LOOP_CAUSE_OTHER, /* asleep outside a system call, or nothing was accounted */
	LOOP_CAUSE__COUNT
};

struct loop_block {
	uint32_t tid;
	uint64_t start_ns;    /* the poll call's return, relative to the recording's start */
	uint64_t duration_ns; /* to the next poll call, or to the end of the recording */
	uint64_t on_cpu_ns;
	uint64_t off_ns[LS_LOOP_OFF__COUNT]; /* off CPU, by enum ls_loop_off */
	enum loop_cause cause;
	uint32_t stack_id; /* taken while the block was in progress; 0: none */
	bool open;	   /* still blocked when the recording ended: figures up to its stack */
};

/* NULL with errno on failure. */
struct loopblock *loopblock__new(void);
void loopblock__free(struct loopblock *lb); /* accepts NULL */

/* Feeds one record in trace order: LOOP_SAMPLE, LOOP_BLOCK, THREAD_EXIT and PROC_EXIT matter.
 * 0 or -ENOMEM. */
int loopblock__feed(struct loopblock *lb, const struct ls_rec *rec);
/* The recording ended at END_TS: a block in progress then (sampled, not yet over) is a block to
 * END_TS, marked open. A loop whose thread or process exited was not blocked, unless a signal
 * killed it in the block (a launched command when the recording stops): the block is open to
 * the exit. Sorts the blocks by start. 0 or -ENOMEM. */
int loopblock__finish(struct loopblock *lb, uint64_t end_ts);

/* The blocks in progress at NOW (sampled past the threshold, not yet over), as open blocks up
 * to NOW, into OUT (at most MAX of them). Returns how many. For a live view. */
size_t loopblock__in_progress(const struct loopblock *lb, uint64_t now, struct loop_block *out,
			      size_t max);

/* The blocks over, in the order they ended until loopblock__finish() sorts them by start. */
size_t loopblock__count(const struct loopblock *lb);
const struct loop_block *loopblock__get(const struct loopblock *lb, size_t i);

/* The cause of a block of DURATION_NS with ON_CPU_NS on CPU and OFF_NS off it (by enum
 * ls_loop_off): the largest share, time spent runnable counting as CPU. */
enum loop_cause loopblock__cause(uint64_t duration_ns, uint64_t on_cpu_ns, const uint64_t *off_ns);
const char *loopblock__cause_name(enum loop_cause cause); /* "sleep", "cpu", ... */

/* The report's "loop_blocks" array (the contract's members, then thread, open, off_cpu_ns). */
void loopblock__json(const struct loopblock *lb, const struct model *m, struct json_writer *w);
/* The report's text section: a summary, then the longest blocks with their stacks. */
void loopblock__text(const struct loopblock *lb, const struct model *m, FILE *out);

#endif
