/* timeline.h - the walk over a trace that timeline exports share: waits paired into slices per
 * thread, wakes, flows from the waker to the wait it ended, thread names, lost-event marks. */
#ifndef LOCKSCOPE_TIMELINE_H
#define LOCKSCOPE_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

struct ls_rec;
struct model;
struct timeline;

/* The result of a wait its thread's exit ended: not one the kernel returned. */
#define TL_RESULT_EXITED 0xff

struct tl_wait {
	uint32_t tid, owner, stack_id;
	uint8_t kind;	/* enum ls_lock_kind */
	uint8_t result; /* enum ls_wait_result, or TL_RESULT_EXITED */
	uint64_t addr, begin_ts, end_ts;
};

/* A wake call: on the waker from CALL_TS to TS. FLOW_ID is not 0 where the wakee was waiting
 * then: the flow that may follow, when that wait ends, has the same id. */
struct tl_wake {
	uint32_t waker, wakee;
	uint64_t addr, call_ts, ts, flow_id;
};

/* The wake that ended a wait: from the waker at CALL_TS to the woken thread at WAKE_TS. */
struct tl_flow {
	uint64_t id; /* the wake's flow_id */
	uint32_t waker, woken;
	uint64_t addr, call_ts, wake_ts;
};

/* What an output does with the walk. Every thread is named (NAME: the thread's, else "tid N")
 * before the first event on it; a renamed thread is named again. Each returns 0 or -errno,
 * which the walk passes up. Events come in trace order, a wait when it ends, its flow after
 * it. */
struct timeline_ops {
	int (*thread_name)(void *arg, uint32_t tid, const char *name);
	int (*wait)(void *arg, const struct tl_wait *w);
	int (*wake)(void *arg, const struct tl_wake *k);
	int (*flow)(void *arg, const struct tl_flow *f);
	int (*lost)(void *arg, uint32_t tid, uint64_t ts, uint64_t count); /* on the main thread */
	/* full mode: a hold, from the acquire's return to the release (holds.c pairs them); NULL:
	 * holds are not walked */
	int (*hold)(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts);
};

/* M (borrowed) names threads and must be fed each record before the walk is. PID: the
 * process, whose main thread carries lost-event marks. NULL with errno on failure. */
struct timeline *timeline__new(const struct model *m, uint32_t pid, const struct timeline_ops *ops,
			       void *arg);
void timeline__free(struct timeline *t); /* accepts NULL */
int timeline__feed(struct timeline *t, const struct ls_rec *rec);
/* Names TID's track now, if it was not: for events of the output's own (event-loop blocks)
 * on a thread the walk may not have shown yet. 0 or -errno. */
int timeline__name(struct timeline *t, uint32_t tid);
/* Ends the waits still open at END_TS as unfinished, and the holds (full mode) still open then
 * at END_TS. 0 or -errno. */
int timeline__finish(struct timeline *t, uint64_t end_ts);
/* Wait records without their other half, and wakes that got no flow. */
uint64_t timeline__unpaired(const struct timeline *t);
uint64_t timeline__flows_dropped(const struct timeline *t);

#endif
