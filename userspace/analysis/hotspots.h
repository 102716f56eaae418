/* hotspots.h - contention per lock from futex waits: how often threads waited, for how long,
 * who waited, who held the lock, from where. Condition waits and joins are kept apart. */
#ifndef LOCKSCOPE_HOTSPOTS_H
#define LOCKSCOPE_HOTSPOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ls_rec;
struct model;
struct hotspots;

struct hs_waiter {
	uint32_t tid;
	uint64_t wait_ns, count;
};

struct hs_owner {
	uint32_t tid; /* the owner the lock word named when a waiter began to wait */
	uint64_t count;
};

struct hs_stack {
	uint32_t id; /* a STACK record's id (waits without a stack are not listed) */
	uint64_t wait_ns, count;
};

/* One lock address: its contention, or (other) its condition waits or joins. */
struct hs_lock {
	uint64_t addr;
	uint8_t kind;	/* enum ls_lock_kind, from the waits */
	bool other;	/* kind cond or join: waiting that is not contention */
	uint64_t count; /* waits: contentions, or for other waits how many */
	uint64_t wait_ns, max_wait_ns;
	uint64_t unfinished;	   /* waits still open when the trace ended */
	struct hs_waiter *waiters; /* by wait_ns, largest first */
	struct hs_owner *owners;   /* by count, largest first */
	struct hs_stack *stacks;   /* by wait_ns, largest first */
	uint32_t nwaiters, nowners, nstacks;
};

/* One wait as hotspots pair it: what a live view or an export may want of each. */
struct hs_wait {
	uint32_t tid, owner, stack_id;
	uint8_t kind;
	uint64_t addr, begin_ts, end_ts; /* end_ts: 0 while the wait is open */
	bool unfinished;
};

enum hs_list {
	HS_LOCKS, /* contention */
	HS_OTHER, /* cond and join */
};

/* NULL with errno on failure. */
struct hotspots *hotspots__new(void);
void hotspots__free(struct hotspots *h); /* accepts NULL */

/* Feeds one record, in trace order. Pairs each thread's WAIT_BEGIN with its next WAIT_END;
 * a thread's or the process's exit closes the waits it ends. M is not used yet: it is there
 * because every analysis is fed the same way. 0, -ENOMEM, or -EINVAL after finish. */
int hotspots__feed(struct hotspots *h, const struct model *m, const struct ls_rec *rec);
/* Closes the waits still open at END_TS (the trace's end) as unfinished, and sorts. Nothing
 * may be fed after. 0 or -ENOMEM. */
int hotspots__finish(struct hotspots *h, uint64_t end_ts);

/* FN (may be NULL) is called with every wait as it is added to its lock, while feeding and
 * finishing; its non-zero return is passed up by the feed. */
void hotspots__on_wait(struct hotspots *h, int (*fn)(void *arg, const struct hs_wait *w),
		       void *arg);
/* The waits open now, at most MAX of them in OUT, in order of their threads' first appearance.
 * Returns how many are open. */
size_t hotspots__open_waits(const struct hotspots *h, struct hs_wait *out, size_t max);
/* Any time, before finish too: the I-th lock of either list in order of its first wait, or
 * NULL past the end. Its arrays are sorted only after finish. */
const struct hs_lock *hotspots__lock_at(const struct hotspots *h, size_t i);

/* After finish: the locks of a list by wait_ns, largest first (then by count, then address). */
size_t hotspots__count(const struct hotspots *h, enum hs_list list);
const struct hs_lock *hotspots__get(const struct hotspots *h, enum hs_list list, size_t i);
/* The entry for ADDR in LIST, or NULL. */
const struct hs_lock *hotspots__find(const struct hotspots *h, enum hs_list list, uint64_t addr);
/* Wait records without their other half (a BEGIN replaced by the thread's next BEGIN, an END
 * with no BEGIN): lost events, counted here because their waits could not be. */
uint64_t hotspots__unpaired(const struct hotspots *h);

#endif
