/* deadlock.h - actual deadlocks: the waits-for graph (thread -> lock it waits on -> thread that
 * holds it), fed live or offline, and the cycles in it that stayed put long enough to be sure. */
#ifndef LOCKSCOPE_DEADLOCK_H
#define LOCKSCOPE_DEADLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_rec;
struct model;
struct json_writer;
struct deadlock;
struct asyncdl;

/* An owner read when a wait began can be stale for a moment: a cycle is a deadlock only once
 * every wait in it has stayed open this long after the cycle formed. */
#define DEADLOCK_CONFIRM_NS 500000000ull
#define DEADLOCK_MAX_THREADS 32 /* threads in the longest cycle searched for */

struct deadlock_thread {
	uint32_t tid;
	/* the cycle's locks it holds: at least the one the thread before it waits for */
	const uint64_t *holds;
	uint32_t nholds;
	uint64_t waits_for; /* the lock it waits on */
	uint32_t stack_id;  /* where its wait began; 0: none */
	uint64_t since_ns;  /* when it began waiting (0 for waits already open at attach) */
	bool at_attach;	    /* already waiting when recording began */
	bool holds_inferred; /* a hold of it was deduced (LS_ACQ_INFERRED), not seen taken */
};

/* One deadlock: threads[i] waits for locks[i], which threads[i + 1] holds; the last thread
 * waits for a lock the first holds. The first thread is the one with the lowest tid. */
struct deadlock_found {
	uint32_t nthreads;
	const uint64_t *locks;
	const struct deadlock_thread *threads;
	uint64_t formed_ns;   /* the trace time the cycle closed */
	uint64_t detected_ns; /* formed_ns + the confirmation delay: when it was certain */
	bool inferred;	      /* some thread's hold in it was deduced, not seen */
};

/* CONFIRM_NS: how long a cycle's waits must stay open (DEADLOCK_CONFIRM_NS is the default).
 * NULL with errno on failure. */
struct deadlock *deadlock__new(uint64_t confirm_ns);
void deadlock__free(struct deadlock *d); /* accepts NULL */

/* Feeds one record, in trace order: WAIT_BEGIN/END, ACQUIRE, RELEASE, DESTROY, WINDOW, LOST,
 * THREAD_EXIT, PROC_EXIT and the thread's own records matter. Cycles that stay open long enough
 * while later records arrive are confirmed on the way, so a deadlock that was broken later
 * (a timeout, a kill) is still found. 0 or -ENOMEM. */
int deadlock__feed(struct deadlock *d, const struct ls_rec *rec);
/* Confirms the cycles open for the confirmation delay as of trace time NOW_TS (live: the latest
 * timestamp; offline: the trace's end) and calls FOUND (may be NULL) once for each deadlock not
 * reported before; *FOUND's argument is valid during the call. 0 or -ENOMEM. */
int deadlock__check(struct deadlock *d, uint64_t now_ts,
		    void (*found)(const struct deadlock_found *, void *arg), void *arg);

/* Threads whose wait on a lock has been open for MIN_NS at least as of trace time NOW_TS with
 * no holder known (no ACQUIRE record names one, the lock word names no owner): waits the
 * probes cannot close a cycle with. Up to MAX of them into TIDS and the locks into ADDRS
 * (either may be NULL with MAX 0); returns how many there are. */
size_t deadlock__unheld_waits(const struct deadlock *d, uint64_t now_ts, uint64_t min_ns,
			      uint32_t *tids, uint64_t *addrs, size_t max);

/* The deadlocks confirmed so far, in order of confirmation. Borrowed. */
size_t deadlock__count(const struct deadlock *d);
const struct deadlock_found *deadlock__get(const struct deadlock *d, size_t i);

/* The deadlocks among asyncio tasks among the records fed (TASK_WAIT). Borrowed. */
const struct asyncdl *deadlock__tasks(const struct deadlock *d);

/* Writes one deadlock as an object of the contract's "deadlocks" array. */
void deadlock__found_json(const struct deadlock_found *f, const struct model *m,
			  struct json_writer *w);
/* Writes the contract's "deadlocks" array: the threads' deadlocks, then the tasks'. */
void deadlock__json(const struct deadlock *d, const struct model *m, struct json_writer *w);
/* Writes the "Deadlocks" section for people, after the tasks' deadlocks if any. */
void deadlock__text(const struct deadlock *d, const struct model *m, FILE *out);
/* Formats one deadlock as an alert for stderr: "lockscope: DEADLOCK: ..." naming the threads and
 * locks, then each thread with its stack, indented; ends with a newline. Returns what snprintf
 * would (the length it needed), or -1 without memory. */
int deadlock__format_alert(const struct deadlock_found *f, const struct model *m, char *buf,
			   size_t len);

#endif
