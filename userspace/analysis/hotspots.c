/* hotspots.c - adds each wait that waitpair.c pairs to its lock: count, time, waiters, owners
 * and stacks. Everything grows with the trace's locks, threads and stacks, never with its
 * length. */
#include "analysis/hotspots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "trace/trace.h"
#include "analysis/waitpair.h"

/* Per thread that waited (waitpair's order): its last wait's lock (position + 1; 0: none yet)
 * and its own place among that lock's waiters: a thread mostly waits for the same lock again. */
struct last_lock {
	uint32_t lock, waiter;
};

/* A lock's totals and the capacities of its arrays, which callers need not see. */
struct acc {
	struct hs_lock pub;
	size_t waiters_cap, owners_cap, stacks_cap;
};

struct hotspots {
	struct waitpair *pairs;
	struct last_lock *last; /* by waitpair's thread position */
	size_t last_cap;
	struct acc *locks;
	size_t nlocks, locks_cap;
	struct bytemap *by_addr[2]; /* per enum hs_list: addr -> position in locks */
	/* (lock position << 32 | tid or stack id) -> position in that lock's array */
	struct bytemap *waiter_ix, *owner_ix, *stack_ix;
	const struct hs_lock **sorted[2]; /* per enum hs_list, after finish */
	size_t nsorted[2];
	bool finished;
	int (*on_wait)(void *arg, const struct hs_wait *w);
	void *on_wait_arg;
};

static int on_closed(void *arg, const struct wp_wait *w, size_t thread);

struct hotspots *hotspots__new(void)
{
	struct hotspots *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->pairs = waitpair__new(on_closed, h);
	h->by_addr[HS_LOCKS] = bytemap__new();
	h->by_addr[HS_OTHER] = bytemap__new();
	h->waiter_ix = bytemap__new();
	h->owner_ix = bytemap__new();
	h->stack_ix = bytemap__new();
	if (!h->pairs || !h->by_addr[HS_LOCKS] || !h->by_addr[HS_OTHER] || !h->waiter_ix ||
	    !h->owner_ix || !h->stack_ix) {
		hotspots__free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

void hotspots__free(struct hotspots *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nlocks; i++) {
		free(h->locks[i].pub.waiters);
		free(h->locks[i].pub.owners);
		free(h->locks[i].pub.stacks);
	}
	free(h->locks);
	free(h->last);
	free(h->sorted[HS_LOCKS]);
	free(h->sorted[HS_OTHER]);
	waitpair__free(h->pairs);
	bytemap__free(h->by_addr[HS_LOCKS]);
	bytemap__free(h->by_addr[HS_OTHER]);
	bytemap__free(h->waiter_ix);
	bytemap__free(h->owner_ix);
	bytemap__free(h->stack_ix);
	free(h);
}

static bool is_other(uint8_t kind)
{
	return ls_kind_signal(kind);
}

/* The lock ADDR in the list that KIND belongs to, created if new. NULL if out of memory. */
static struct acc *lock_get(struct hotspots *h, uint64_t addr, uint8_t kind)
{
	enum hs_list list = is_other(kind) ? HS_OTHER : HS_LOCKS;
	const uint64_t *pos = bytemap__get_u64(h->by_addr[list], addr);
	struct acc *a;

	if (pos)
		return &h->locks[*pos];
	/* member keys hold the lock's position in 32 bits */
	if (h->nlocks >= UINT32_MAX ||
	    ls_reserve(&h->locks, &h->locks_cap, h->nlocks + 1, sizeof(*h->locks)) ||
	    bytemap__put_u64(h->by_addr[list], addr, h->nlocks))
		return NULL;
	a = &h->locks[h->nlocks++];
	memset(a, 0, sizeof(*a));
	a->pub.addr = addr;
	a->pub.kind = kind;
	a->pub.other = list == HS_OTHER;
	return a;
}

/* The entry for KEY in one of A's arrays (*ITEMS, *N elements of SIZE bytes), appended zeroed
 * if new. NULL if out of memory. */
static void *member(struct hotspots *h, struct bytemap *ix, const struct acc *a, uint32_t key,
		    void *items, uint32_t *n, size_t *cap, size_t size)
{
	uint64_t k = (uint64_t)(a - h->locks) << 32 | key;
	const uint64_t *pos = bytemap__get_u64(ix, k);
	char *base;

	if (pos)
		return *(char **)items + *pos * size;
	if (ls_reserve(items, cap, *n + 1, size) || bytemap__put_u64(ix, k, *n))
		return NULL;
	base = *(char **)items + (*n)++ * size;
	memset(base, 0, size);
	return base;
}

static struct hs_wait wait_of(const struct wp_wait *w)
{
	return (struct hs_wait){.tid = w->tid, .owner = w->owner, .stack_id = w->stack_id,
				.kind = w->kind, .addr = w->addr, .begin_ts = w->begin_ts,
				.end_ts = w->open ? 0 : w->end_ts,
				.unfinished = !w->open && w->result == LS_WAIT_UNFINISHED};
}

/* W's entry among the waiters of its lock, *LOCK that lock: those of its thread's last wait
 * (LAST) when it is on the same lock, else looked up (and created) and kept. NULL if out of
 * memory. */
static struct hs_waiter *waiter_get(struct hotspots *h, const struct wp_wait *w,
				    struct last_lock *last, struct acc **lock)
{
	struct acc *a = last->lock ? &h->locks[last->lock - 1] : NULL;
	struct hs_waiter *e;

	if (a && a->pub.addr == w->addr && a->pub.other == is_other(w->kind)) {
		*lock = a;
		return &a->pub.waiters[last->waiter];
	}
	*lock = a = lock_get(h, w->addr, w->kind);
	e = a ? member(h, h->waiter_ix, a, w->tid, &a->pub.waiters, &a->pub.nwaiters,
		       &a->waiters_cap, sizeof(*e)) : NULL;
	if (e) {
		last->lock = a - h->locks + 1;
		last->waiter = e - a->pub.waiters;
	}
	return e;
}

/* Adds a wait that ended to its lock. Every result counts, with the time measured between
 * begin and end: WOKEN and TIMEOUT slept; INTR slept until the signal; CHANGED (-EAGAIN) and
 * ERROR did not sleep, but the thread did find the lock taken, so they are contentions whose
 * wait is the ~1 us the syscall took. */
static int on_closed(void *arg, const struct wp_wait *w, size_t thread)
{
	struct hotspots *h = arg;
	uint64_t ns = w->end_ts - w->begin_ts;
	struct acc *a;
	struct hs_waiter *e;
	struct hs_owner *o;
	struct hs_stack *s;

	if (thread >= h->last_cap) {
		size_t had = h->last_cap;

		if (ls_reserve(&h->last, &h->last_cap, thread + 1, sizeof(*h->last)))
			return -ENOMEM;
		memset(h->last + had, 0, (h->last_cap - had) * sizeof(*h->last));
	}
	e = waiter_get(h, w, &h->last[thread], &a);
	if (!e)
		return -ENOMEM;
	/* an address first seen as an unplaced futex may be recognised later */
	if (a->pub.kind == LS_KIND_FUTEX)
		a->pub.kind = w->kind;
	a->pub.count++;
	a->pub.wait_ns += ns;
	if (ns > a->pub.max_wait_ns)
		a->pub.max_wait_ns = ns;
	a->pub.unfinished += w->result == LS_WAIT_UNFINISHED;
	e->tid = w->tid;
	e->wait_ns += ns;
	e->count++;
	if (w->owner) {
		o = member(h, h->owner_ix, a, w->owner, &a->pub.owners, &a->pub.nowners,
			   &a->owners_cap, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->tid = w->owner;
		o->count++;
	}
	if (w->stack_id) {
		s = member(h, h->stack_ix, a, w->stack_id, &a->pub.stacks, &a->pub.nstacks,
			   &a->stacks_cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->id = w->stack_id;
		s->wait_ns += ns;
		s->count++;
	}
	if (h->on_wait) {
		struct hs_wait done = wait_of(w);

		return h->on_wait(h->on_wait_arg, &done);
	}
	return 0;
}

int hotspots__feed(struct hotspots *h, const struct model *m, const struct ls_rec *rec)
{
	(void)m; /* fed as every analysis is; hotspots need only the records */
	if (h->finished)
		return -EINVAL;
	return waitpair__feed(h->pairs, rec);
}

void hotspots__on_wait(struct hotspots *h, int (*fn)(void *arg, const struct hs_wait *w),
		       void *arg)
{
	h->on_wait = fn;
	h->on_wait_arg = arg;
}

size_t hotspots__open_waits(const struct hotspots *h, struct hs_wait *out, size_t max)
{
	const struct wp_wait *w;
	size_t n = 0;

	for (size_t i = 0; (w = waitpair__thread(h->pairs, i)); i++) {
		if (!w->open)
			continue;
		if (n < max)
			out[n] = wait_of(w);
		n++;
	}
	return n;
}

const struct hs_lock *hotspots__lock_at(const struct hotspots *h, size_t i)
{
	return i < h->nlocks ? &h->locks[i].pub : NULL;
}

/* Orders: larger first, then the smaller key, so that output does not depend on hashing. */
#define CMP_DESC(a, b) ((a) < (b) ? 1 : (a) > (b) ? -1 : 0)
#define CMP_ASC(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

static int cmp_waiter(const void *pa, const void *pb)
{
	const struct hs_waiter *a = pa, *b = pb;

	return CMP_DESC(a->wait_ns, b->wait_ns) ?: CMP_DESC(a->count, b->count) ?:
	       CMP_ASC(a->tid, b->tid);
}

static int cmp_owner(const void *pa, const void *pb)
{
	const struct hs_owner *a = pa, *b = pb;

	return CMP_DESC(a->count, b->count) ?: CMP_ASC(a->tid, b->tid);
}

static int cmp_stack(const void *pa, const void *pb)
{
	const struct hs_stack *a = pa, *b = pb;

	return CMP_DESC(a->wait_ns, b->wait_ns) ?: CMP_DESC(a->count, b->count) ?:
	       CMP_ASC(a->id, b->id);
}

static int cmp_lock(const void *pa, const void *pb)
{
	const struct hs_lock *a = *(const struct hs_lock *const *)pa;
	const struct hs_lock *b = *(const struct hs_lock *const *)pb;

	return CMP_DESC(a->wait_ns, b->wait_ns) ?: CMP_DESC(a->count, b->count) ?:
	       CMP_ASC(a->addr, b->addr);
}

/* qsort, for arrays that may be empty and so still NULL (qsort's pointer must not be) */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

int hotspots__finish(struct hotspots *h, uint64_t end_ts)
{
	int err;

	if (h->finished)
		return 0;
	err = waitpair__finish(h->pairs, end_ts);
	if (err)
		return err;
	h->finished = true;
	for (int l = HS_LOCKS; l <= HS_OTHER; l++) {
		h->sorted[l] = calloc(h->nlocks ? h->nlocks : 1, sizeof(*h->sorted[l]));
		if (!h->sorted[l])
			return -ENOMEM;
	}
	for (size_t i = 0; i < h->nlocks; i++) {
		struct hs_lock *l = &h->locks[i].pub;
		enum hs_list list = l->other ? HS_OTHER : HS_LOCKS;

		sort(l->waiters, l->nwaiters, sizeof(*l->waiters), cmp_waiter);
		sort(l->owners, l->nowners, sizeof(*l->owners), cmp_owner);
		sort(l->stacks, l->nstacks, sizeof(*l->stacks), cmp_stack);
		h->sorted[list][h->nsorted[list]++] = l;
	}
	for (int l = HS_LOCKS; l <= HS_OTHER; l++)
		sort(h->sorted[l], h->nsorted[l], sizeof(*h->sorted[l]), cmp_lock);
	return 0;
}

size_t hotspots__count(const struct hotspots *h, enum hs_list list)
{
	return h->nsorted[list];
}

const struct hs_lock *hotspots__get(const struct hotspots *h, enum hs_list list, size_t i)
{
	return i < h->nsorted[list] ? h->sorted[list][i] : NULL;
}

const struct hs_lock *hotspots__find(const struct hotspots *h, enum hs_list list, uint64_t addr)
{
	const uint64_t *pos = bytemap__get_u64(h->by_addr[list], addr);

	return pos ? &h->locks[*pos].pub : NULL;
}

uint64_t hotspots__unpaired(const struct hotspots *h)
{
	return waitpair__unpaired(h->pairs);
}
