/* waitpair.h - pairs each thread's futex wait records into whole waits, the one pairing that
 * hotspots (the report, top, pprof) and the timeline (the exports, the viewer) both build on. */
#ifndef LOCKSCOPE_WAITPAIR_H
#define LOCKSCOPE_WAITPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ls_rec;
struct waitpair;

#define WP_RESULT_EXITED 0xff	/* the thread, or its process, exited during the wait */

/* One wait: open while ENDED is false. */
struct wp_wait {
	uint32_t tid, owner, stack_id;
	uint8_t kind;	/* enum ls_lock_kind */
	uint8_t result;	/* enum ls_wait_result, or WP_RESULT_EXITED */
	bool open;
	uint64_t addr, begin_ts, end_ts;
};

/* Called with each wait as it ends (END_TS never before BEGIN_TS). THREAD is its thread's
 * place among the threads that ever waited, in order of their first wait. A non-zero return
 * is passed up by the feed. */
typedef int (*waitpair_fn)(void *arg, const struct wp_wait *w, size_t thread);

/* NULL with errno on failure. */
struct waitpair *waitpair__new(waitpair_fn closed, void *arg);
void waitpair__free(struct waitpair *p);	/* accepts NULL */

/* Feeds one record, in trace order: a thread's WAIT_BEGIN opens its wait and its next
 * WAIT_END closes it; a thread's exit, or its process's, closes the waits it ends. A begin
 * while a wait is open, or an end with none, is a record whose other half was lost: counted,
 * not paired. 0, -ENOMEM or what the callback returned. */
int waitpair__feed(struct waitpair *p, const struct ls_rec *rec);
/* Closes the waits still open at END_TS as LS_WAIT_UNFINISHED. */
int waitpair__finish(struct waitpair *p, uint64_t end_ts);

/* The wait TID is in now, or NULL. */
const struct wp_wait *waitpair__open(const struct waitpair *p, uint32_t tid);
/* The I-th thread's current or last wait, in order of first wait; NULL past the end. */
const struct wp_wait *waitpair__thread(const struct waitpair *p, size_t i);
uint64_t waitpair__unpaired(const struct waitpair *p);	/* records without their other half */

#endif
