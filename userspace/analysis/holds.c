/* holds.c - acquisitions and hold times per lock, paired per (thread, lock), and the time
 * covered by full mode's windows. */
#include "analysis/holds.h"

#include <errno.h>
#include <stdlib.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "trace/trace.h"

/* A (thread, lock) pair taken in this window: when, while it is held. */
struct open_hold {
	uint64_t addr;
	uint64_t since;		/* acquire ts + 1; 0: released */
	uint32_t tid;
};

struct holds {
	struct bytemap *open;		/* (tid, addr) -> index into opens */
	struct open_hold *opens;
	size_t nopens, capopens;
	struct bytemap *stats;		/* addr -> index into st */
	struct hold_stats *st;
	size_t nst, capst;
	bool traced, on;
	uint64_t on_since, covered;
	int (*on_hold)(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts);
	void *on_hold_arg;
};

struct holds *holds__new(void)
{
	struct holds *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->open = bytemap__new();
	h->stats = bytemap__new();
	if (!h->open || !h->stats) {
		holds__free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

void holds__free(struct holds *h)
{
	if (!h)
		return;
	bytemap__free(h->open);
	bytemap__free(h->stats);
	free(h->opens);
	free(h->st);
	free(h);
}

static struct hold_stats *stats_of(struct holds *h, uint64_t addr)
{
	uint64_t *i = bytemap__get_u64(h->stats, addr);

	if (i)
		return &h->st[*i];
	if (ls_reserve(&h->st, &h->capst, h->nst + 1, sizeof(*h->st)) ||
	    bytemap__put_u64(h->stats, addr, h->nst))
		return NULL;
	h->st[h->nst] = (struct hold_stats){0};
	return &h->st[h->nst++];
}

/* Holds that straddle an off stretch or a loss may have no visible release: timed until the
 * next release of the lock by the thread, they would be too long. */
static int forget_open(struct holds *h)
{
	bytemap__free(h->open);
	h->open = bytemap__new();
	h->nopens = 0;
	return h->open ? 0 : -ENOMEM;
}

/* The open-hold slot of KEY, made if need be; NULL on ENOMEM. */
static struct open_hold *open_of(struct holds *h, const uint64_t key[2], bool make)
{
	uint64_t *i = bytemap__get(h->open, key, 2 * sizeof(*key));

	if (i)
		return &h->opens[*i];
	if (!make || ls_reserve(&h->opens, &h->capopens, h->nopens + 1, sizeof(*h->opens)) ||
	    bytemap__put(h->open, key, 2 * sizeof(*key), h->nopens))
		return NULL;
	h->opens[h->nopens] = (struct open_hold){.addr = key[1], .tid = (uint32_t)key[0]};
	return &h->opens[h->nopens++];
}

/* The holds still open at TS, when full mode switches off (CUT) or the trace ends: held at least
 * this long, they are counted up to TS, and go to the hold callback ending there. 0, or the
 * callback's error. */
static int close_open(struct holds *h, uint64_t ts, bool cut)
{
	int err = 0;

	for (size_t i = 0; i < h->nopens; i++) {
		const struct open_hold *o = &h->opens[i];
		struct hold_stats *s;
		uint64_t held;

		if (!o->since || !(s = stats_of(h, o->addr)))
			continue;
		held = ts + 1 > o->since ? ts + 1 - o->since : 0;
		s->hold_ns += held;
		if (cut)
			s->cut++;
		else
			s->open++;
		if (held > s->max_hold_ns)
			s->max_hold_ns = held;
		if (h->on_hold && !err)
			err = h->on_hold(h->on_hold_arg, o->tid, o->addr, o->since - 1,
					 ts >= o->since ? ts : o->since - 1);
	}
	return err;
}

static int window(struct holds *h, const struct ls_rec *rec)
{
	int err = 0;

	if (rec->window.on && !h->on) {
		h->on_since = rec->ts;
		h->traced = true;
	} else if (!rec->window.on && h->on) {
		h->covered += rec->ts - h->on_since;
		/* a lock held when the probes come out (a deadlock's, for one) was held at least
		 * until then: not 0 */
		err = close_open(h, rec->ts, true);
	}
	h->on = rec->window.on;
	return err ?: forget_open(h);
}

int holds__feed(struct holds *h, const struct ls_rec *rec)
{
	uint64_t key[2] = {rec->tid, 0};
	struct open_hold *open;
	struct hold_stats *s;

	switch (rec->type) {
	case LS_REC_WINDOW:
		return window(h, rec);
	case LS_REC_LOST:
		return forget_open(h);
	case LS_REC_ACQUIRE:
		/* a hold deduced from a thread's frames: no acquisition was seen */
		if (rec->acquire.flags & LS_ACQ_INFERRED)
			return 0;
		key[1] = rec->acquire.addr;
		if (!(s = stats_of(h, key[1])))
			return -ENOMEM;
		s->acquisitions++;
		/* a semaphore has no owner: another thread posts it, and no hold ends */
		if (rec->acquire.kind == LS_KIND_SEM)
			return 0;
		/* a recursive retake keeps the first acquisition's time */
		if (!(open = open_of(h, key, true)))
			return -ENOMEM;
		if (!open->since)
			open->since = rec->ts + 1;
		return 0;
	case LS_REC_RELEASE:
		key[1] = rec->release.addr;
		open = open_of(h, key, false);
		if (!open || !open->since)
			return 0;
		if (!(s = stats_of(h, key[1])))
			return -ENOMEM;
		uint64_t held = rec->ts + 1 > open->since ? rec->ts + 1 - open->since : 0;

		s->hold_ns += held;
		if (held > s->max_hold_ns)
			s->max_hold_ns = held;
		held = open->since - 1;	/* the acquire's ts */
		open->since = 0;	/* released: the slot stays, empty */
		return h->on_hold ? h->on_hold(h->on_hold_arg, rec->tid, key[1], held,
					       rec->ts > held ? rec->ts : held)
				  : 0;
	default:
		return 0;
	}
}

void holds__on_hold(struct holds *h,
		    int (*fn)(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts,
			      uint64_t end_ts),
		    void *arg)
{
	h->on_hold = fn;
	h->on_hold_arg = arg;
}

int holds__finish(struct holds *h, uint64_t end_ts)
{
	/* still held at the end, with the probes on (a deadlock's locks): held this long at least */
	int err = h->on ? close_open(h, end_ts, false) : 0;

	if (h->on && end_ts > h->on_since)
		h->covered += end_ts - h->on_since;
	h->on = false;
	return err;
}

bool holds__traced(const struct holds *h)
{
	return h->traced;
}

double holds__coverage(const struct holds *h, uint64_t end_ts)
{
	double c = end_ts ? (double)h->covered / end_ts : 0;

	return c > 1 ? 1 : c;
}

struct hold_stats holds__get(const struct holds *h, uint64_t addr)
{
	uint64_t *i = bytemap__get_u64(h->stats, addr);

	return i ? h->st[*i] : (struct hold_stats){0};
}
