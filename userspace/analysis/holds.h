/* holds.h - full mode's view of each lock: how often it was taken and for how long it was held,
 * from ACQUIRE/RELEASE records, and the share of the recording that full mode covered. */
#ifndef LOCKSCOPE_HOLDS_H
#define LOCKSCOPE_HOLDS_H

#include <stdbool.h>
#include <stdint.h>

struct ls_rec;
struct holds;

struct hold_stats {
	uint64_t acquisitions;
	uint64_t hold_ns;	/* summed over the holds whose release was seen, and those still
				 * open at the end or when full mode switched off (counted up
				 * to then: held at least that long) */
	uint64_t max_hold_ns;
	uint64_t open;		/* holds still open when the trace ended, probes on */
	uint64_t cut;		/* holds still open when full mode switched off */
};

struct holds *holds__new(void);
void holds__free(struct holds *h);	/* accepts NULL */
/* Feeds one record in trace order. Holds open when full mode switches off are counted up to
 * then (their release cannot be seen) and go to the hold callback ending there. 0, -ENOMEM or
 * the callback's error. */
int holds__feed(struct holds *h, const struct ls_rec *rec);
/* FN (may be NULL) is called with every hold as its release is fed: the thread, the lock, when
 * it was taken and released; its non-zero return is passed up by the feed. */
void holds__on_hold(struct holds *h,
		    int (*fn)(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts,
			      uint64_t end_ts),
		    void *arg);
/* Closes the coverage at END_TS, and the holds still open then (up to it): each goes to the
 * hold callback too, ending at END_TS. 0, or the callback's error. */
int holds__finish(struct holds *h, uint64_t end_ts);
/* True if full mode was on at some point: hold figures exist (else they are unknown). */
bool holds__traced(const struct holds *h);
/* The share of [0, end_ts] during which lock/unlock were traced, 0..1. */
double holds__coverage(const struct holds *h, uint64_t end_ts);
/* The figures for ADDR; zeros if it was never taken while traced. */
struct hold_stats holds__get(const struct holds *h, uint64_t addr);

#endif
