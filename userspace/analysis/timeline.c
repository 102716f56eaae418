/* timeline.c - the waits waitpair.c pairs, each with the wake that ended it as a flow on the
 * waker's side, and every thread named before its first event. State: one per thread, so
 * memory grows with threads, never with the trace's length. */
#include "analysis/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "analysis/holds.h"
#include "trace/model.h"
#include "trace/trace.h"
#include "analysis/waitpair.h"

_Static_assert(TL_RESULT_EXITED == WP_RESULT_EXITED, "one result for an exit");

/* A thread's track: whether it has its name yet, and the wake that ended its wait. */
struct track {
	uint32_t tid;
	bool named; /* thread_name was called */
	/* The last wake that landed inside the wait it is in. Its flow is given when the wait
	 * ends, so that the flow's end lies in a slice that exists. */
	bool woken;
	uint32_t waker;
	uint64_t wake_ts, wake_call_ts, wake_addr, wake_flow_id;
};

struct timeline {
	const struct model *model;
	uint32_t pid;
	const struct timeline_ops *ops;
	void *arg;
	struct track *tracks;
	size_t ntracks, tracks_cap;
	struct bytemap *by_tid; /* tid -> position in tracks */
	struct waitpair *pairs;
	struct holds *holds;	/* where the output wants holds */
	uint64_t next_flow_id;
	uint64_t flows_dropped; /* wakes whose wakee was not waiting, or was woken again */
};

static int on_hold(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts);
static int wait_close(void *arg, const struct wp_wait *w, size_t thread);

struct timeline *timeline__new(const struct model *m, uint32_t pid, const struct timeline_ops *ops,
			       void *arg)
{
	struct timeline *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->model = m;
	t->pid = pid;
	t->ops = ops;
	t->arg = arg;
	t->by_tid = bytemap__new();
	t->pairs = waitpair__new(wait_close, t);
	t->holds = ops->hold ? holds__new() : NULL;
	if (!t->by_tid || !t->pairs || (ops->hold && !t->holds)) {
		timeline__free(t);
		errno = ENOMEM;
		return NULL;
	}
	if (t->holds)
		holds__on_hold(t->holds, on_hold, t);
	return t;
}

void timeline__free(struct timeline *t)
{
	if (!t)
		return;
	bytemap__free(t->by_tid);
	waitpair__free(t->pairs);
	holds__free(t->holds);
	free(t->tracks);
	free(t);
}

uint64_t timeline__unpaired(const struct timeline *t)
{
	return waitpair__unpaired(t->pairs);
}

uint64_t timeline__flows_dropped(const struct timeline *t)
{
	return t->flows_dropped;
}

static struct track *track_get(struct timeline *x, uint32_t tid)
{
	uint64_t key = tid;
	struct track *t = bytemap__slot(x->by_tid, &key, sizeof(key), &x->tracks, &x->ntracks,
					&x->tracks_cap, sizeof(*x->tracks));

	if (t)
		t->tid = tid;
	return t;
}

/* Names T's track now if it was not named yet: every track used has a name. */
static int track_name(struct timeline *x, struct track *t)
{
	const char *name;
	char buf[32];

	if (t->named)
		return 0;
	name = model__thread_name(x->model, t->tid);
	if (!name || !name[0]) {
		snprintf(buf, sizeof(buf), "tid %" PRIu32, t->tid);
		name = buf;
	}
	t->named = true;
	return x->ops->thread_name(x->arg, t->tid, name);
}

int timeline__name(struct timeline *t, uint32_t tid)
{
	struct track *k = track_get(t, tid);

	return k ? track_name(t, k) : -ENOMEM;
}

/* A hold that holds.c paired, on its thread's track. */
static int on_hold(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts)
{
	struct timeline *x = arg;
	struct track *t = track_get(x, tid);

	if (!t)
		return -ENOMEM;
	return track_name(x, t) ?: x->ops->hold(x->arg, tid, addr, begin_ts, end_ts);
}

/* The flow of the wake that ended a wait. It takes a copy of the woken track's state: finding
 * the waker's track may move the tracks. */
static int wake_flow(struct timeline *x, struct track woken)
{
	struct track *waker = track_get(x, woken.waker);
	struct tl_flow f = {.id = woken.wake_flow_id,
			    .waker = woken.waker,
			    .woken = woken.tid,
			    .addr = woken.wake_addr,
			    .call_ts = woken.wake_call_ts,
			    .wake_ts = woken.wake_ts};

	if (!waker)
		return -ENOMEM;
	return track_name(x, waker) ?: x->ops->flow(x->arg, &f);
}

/* A wait that waitpair.c closed: its slice, then the flow of the wake that ended it, if one
 * did. */
static int wait_close(void *arg, const struct wp_wait *pw, size_t thread)
{
	struct timeline *x = arg;
	struct track *t = track_get(x, pw->tid), woken;
	struct tl_wait w = {.tid = pw->tid,
			    .owner = pw->owner,
			    .stack_id = pw->stack_id,
			    .kind = pw->kind,
			    .result = pw->result,
			    .addr = pw->addr,
			    .begin_ts = pw->begin_ts,
			    .end_ts = pw->end_ts};
	int err;

	(void)thread;
	if (!t)
		return -ENOMEM;
	err = track_name(x, t) ?: x->ops->wait(x->arg, &w);
	if (err)
		return err;
	woken = *t;
	t->woken = false;
	if (!woken.woken)
		return 0;
	if (woken.wake_ts > w.end_ts) {
		x->flows_dropped++;
		return 0;
	}
	return wake_flow(x, woken);
}

/* A new wait has had no wake yet; one that landed in a wait whose end was lost has no flow. */
static int on_wait_begin(struct timeline *x, const struct ls_rec *rec)
{
	struct track *t = track_get(x, rec->tid);

	if (!t)
		return -ENOMEM;
	if (waitpair__open(x->pairs, rec->tid))
		x->flows_dropped += t->woken;
	t->woken = false;
	return waitpair__feed(x->pairs, rec);
}

/* The wake call on the waker; the flow waits for the wakee's wait to end. A wake of a thread
 * that was not waiting then has no slice to point into: it gets no flow. */
static int on_wake(struct timeline *x, const struct ls_rec *rec)
{
	struct tl_wake k = {
	    .waker = rec->tid, .wakee = rec->wake.wakee, .addr = rec->wake.addr, .ts = rec->ts};
	struct track *waker = track_get(x, rec->tid), *wakee;
	const struct wp_wait *open;
	int err;

	if (!waker)
		return -ENOMEM;
	k.call_ts = rec->wake.call_ts <= rec->ts ? rec->wake.call_ts : rec->ts;
	err = track_name(x, waker);
	if (err)
		return err;
	wakee = track_get(x, rec->wake.wakee);
	if (!wakee)
		return -ENOMEM;
	open = waitpair__open(x->pairs, rec->wake.wakee);
	if (!open || open->begin_ts > rec->ts) {
		x->flows_dropped++;
		return x->ops->wake(x->arg, &k);
	}
	x->flows_dropped += wakee->woken;
	k.flow_id = ++x->next_flow_id;
	wakee->woken = true;
	wakee->waker = rec->tid;
	wakee->wake_ts = rec->ts;
	wakee->wake_call_ts = k.call_ts;
	wakee->wake_addr = rec->wake.addr;
	wakee->wake_flow_id = k.flow_id;
	return x->ops->wake(x->arg, &k);
}

/* A thread is named at its first event, with the name it has then (a new thread's first
 * THREAD record has the process's name until the thread sets its own): once per track. One
 * renamed after that is named again; the viewers keep the last. */
static int on_thread(struct timeline *x, const struct ls_rec *rec)
{
	struct track *t = track_get(x, rec->tid);

	if (!t)
		return -ENOMEM;
	if (!t->named)
		return 0;
	t->named = false;
	return track_name(x, t);
}

/* Lost events get a mark where they were noticed, on the process's main thread. */
static int on_lost(struct timeline *x, const struct ls_rec *rec)
{
	struct track *t = track_get(x, x->pid);

	if (!t)
		return -ENOMEM;
	return track_name(x, t) ?: x->ops->lost(x->arg, t->tid, rec->ts, rec->lost.count);
}

int timeline__feed(struct timeline *x, const struct ls_rec *rec)
{
	int err = x->holds ? holds__feed(x->holds, rec) : 0;

	if (err)
		return err;
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		return on_wait_begin(x, rec);
	case LS_REC_WAIT_END:
	case LS_REC_THREAD_EXIT:
	case LS_REC_PROC_EXIT:
		return waitpair__feed(x->pairs, rec);
	case LS_REC_WAKE:
		return on_wake(x, rec);
	case LS_REC_THREAD:
		return on_thread(x, rec);
	case LS_REC_LOST:
		return on_lost(x, rec);
	default:
		return 0;
	}
}

int timeline__finish(struct timeline *x, uint64_t end_ts)
{
	/* holds still open at the end (a deadlock's locks) are shown up to it */
	return waitpair__finish(x->pairs, end_ts) ?: (x->holds ? holds__finish(x->holds, end_ts) : 0);
}
