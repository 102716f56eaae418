/* holds.c - acquisitions and hold times per lock, paired per (thread, lock), and the time
 * covered by full mode's windows. */
#include "analysis/holds.h"

#include <errno.h>
#include <stdlib.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "trace/trace.h"

struct holds {
	struct bytemap *open;		/* (tid, addr) -> acquire ts + 1 */
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

static int window(struct holds *h, const struct ls_rec *rec)
{
	if (rec->window.on && !h->on) {
		h->on_since = rec->ts;
		h->traced = true;
	} else if (!rec->window.on && h->on) {
		h->covered += rec->ts - h->on_since;
	}
	h->on = rec->window.on;
	/* holds that straddle an off stretch have no visible release */
	bytemap__free(h->open);
	h->open = bytemap__new();
	return h->open ? 0 : -ENOMEM;
}

int holds__feed(struct holds *h, const struct ls_rec *rec)
{
	uint64_t key[2] = {rec->tid, 0}, *open;
	struct hold_stats *s;

	switch (rec->type) {
	case LS_REC_WINDOW:
		return window(h, rec);
	case LS_REC_ACQUIRE:
		/* a hold deduced from a thread's frames: no acquisition was seen */
		if (rec->acquire.flags & LS_ACQ_INFERRED)
			return 0;
		key[1] = rec->acquire.addr;
		if (!(s = stats_of(h, key[1])))
			return -ENOMEM;
		s->acquisitions++;
		/* a recursive retake keeps the first acquisition's time */
		open = bytemap__get(h->open, key, sizeof(key));
		if (open && *open)
			return 0;
		return bytemap__put(h->open, key, sizeof(key), rec->ts + 1);
	case LS_REC_RELEASE:
		key[1] = rec->release.addr;
		open = bytemap__get(h->open, key, sizeof(key));
		if (!open || !*open)
			return 0;
		if (!(s = stats_of(h, key[1])))
			return -ENOMEM;
		uint64_t held = rec->ts + 1 > *open ? rec->ts + 1 - *open : 0;

		s->hold_ns += held;
		if (held > s->max_hold_ns)
			s->max_hold_ns = held;
		held = *open - 1;	/* the acquire's ts */
		*open = 0;	/* released: the entry stays, empty */
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

void holds__finish(struct holds *h, uint64_t end_ts)
{
	if (h->on && end_ts > h->on_since)
		h->covered += end_ts - h->on_since;
	h->on = false;
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
