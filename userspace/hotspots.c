/* hotspots.c - pairs each thread's futex wait begin and end, and adds the wait to its lock.
 * Everything grows with the trace's locks, threads and stacks, never with its length. */
#include "hotspots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytemap.h"
#include "common.h"
#include "trace.h"

/* The wait a thread is in, if any. */
struct thread_wait {
	uint32_t tid;
	bool open;
	uint8_t kind;
	uint32_t owner, stack_id;
	uint64_t addr, begin_ts;
	/* its last wait's lock (position + 1; 0: none yet) and its own place among that lock's
	 * waiters: a thread mostly waits for the same lock again */
	uint32_t last_lock, last_waiter;
};

/* A lock's totals and the capacities of its arrays, which callers need not see. */
struct acc {
	struct hs_lock pub;
	size_t waiters_cap, owners_cap, stacks_cap;
};

struct hotspots {
	struct thread_wait *threads;
	size_t nthreads, threads_cap;
	struct bytemap *by_tid; /* tid -> position in threads */
	struct acc *locks;
	size_t nlocks, locks_cap;
	struct bytemap *by_addr[2]; /* per enum hs_list: addr -> position in locks */
	/* (lock position << 32 | tid or stack id) -> position in that lock's array */
	struct bytemap *waiter_ix, *owner_ix, *stack_ix;
	const struct hs_lock **sorted[2]; /* per enum hs_list, after finish */
	size_t nsorted[2];
	uint64_t unpaired;
	bool finished;
	int (*on_wait)(void *arg, const struct hs_wait *w);
	void *on_wait_arg;
};

struct hotspots *hotspots__new(void)
{
	struct hotspots *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->by_tid = bytemap__new();
	h->by_addr[HS_LOCKS] = bytemap__new();
	h->by_addr[HS_OTHER] = bytemap__new();
	h->waiter_ix = bytemap__new();
	h->owner_ix = bytemap__new();
	h->stack_ix = bytemap__new();
	if (!h->by_tid || !h->by_addr[HS_LOCKS] || !h->by_addr[HS_OTHER] || !h->waiter_ix ||
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
	free(h->threads);
	free(h->sorted[HS_LOCKS]);
	free(h->sorted[HS_OTHER]);
	bytemap__free(h->by_tid);
	bytemap__free(h->by_addr[HS_LOCKS]);
	bytemap__free(h->by_addr[HS_OTHER]);
	bytemap__free(h->waiter_ix);
	bytemap__free(h->owner_ix);
	bytemap__free(h->stack_ix);
	free(h);
}

static bool is_other(uint8_t kind)
{
	return kind == LS_KIND_COND || kind == LS_KIND_JOIN;
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

static struct hs_wait wait_of(const struct thread_wait *t, uint64_t end_ts, bool unfinished)
{
	return (struct hs_wait){.tid = t->tid, .owner = t->owner, .stack_id = t->stack_id,
				.kind = t->kind, .addr = t->addr, .begin_ts = t->begin_ts,
				.end_ts = end_ts, .unfinished = unfinished};
}

/* T's entry among the waiters of the lock it waits for, *LOCK that lock: those of its last wait
 * when it is on the same lock, else looked up (and created) and kept. NULL if out of memory. */
static struct hs_waiter *waiter_get(struct hotspots *h, struct thread_wait *t, struct acc **lock)
{
	struct acc *a = t->last_lock ? &h->locks[t->last_lock - 1] : NULL;
	struct hs_waiter *w;

	if (a && a->pub.addr == t->addr && a->pub.other == is_other(t->kind)) {
		*lock = a;
		return &a->pub.waiters[t->last_waiter];
	}
	*lock = a = lock_get(h, t->addr, t->kind);
	w = a ? member(h, h->waiter_ix, a, t->tid, &a->pub.waiters, &a->pub.nwaiters,
		       &a->waiters_cap, sizeof(*w)) : NULL;
	if (w) {
		t->last_lock = a - h->locks + 1;
		t->last_waiter = w - a->pub.waiters;
	}
	return w;
}

/* Adds the wait T is in, ended at END_TS, to its lock. */
static int close_wait(struct hotspots *h, struct thread_wait *t, uint64_t end_ts, bool unfinished)
{
	uint64_t ns = end_ts > t->begin_ts ? end_ts - t->begin_ts : 0;
	struct acc *a;
	struct hs_waiter *w = waiter_get(h, t, &a);
	struct hs_owner *o;
	struct hs_stack *s;

	t->open = false;
	if (!w)
		return -ENOMEM;
	/* an address first seen as an unplaced futex may be recognised later */
	if (a->pub.kind == LS_KIND_FUTEX)
		a->pub.kind = t->kind;
	a->pub.count++;
	a->pub.wait_ns += ns;
	if (ns > a->pub.max_wait_ns)
		a->pub.max_wait_ns = ns;
	a->pub.unfinished += unfinished;
	w->tid = t->tid;
	w->wait_ns += ns;
	w->count++;
	if (t->owner) {
		o = member(h, h->owner_ix, a, t->owner, &a->pub.owners, &a->pub.nowners,
			   &a->owners_cap, sizeof(*o));
		if (!o)
			return -ENOMEM;
		o->tid = t->owner;
		o->count++;
	}
	if (t->stack_id) {
		s = member(h, h->stack_ix, a, t->stack_id, &a->pub.stacks, &a->pub.nstacks,
			   &a->stacks_cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->id = t->stack_id;
		s->wait_ns += ns;
		s->count++;
	}
	if (h->on_wait) {
		struct hs_wait done = wait_of(t, t->begin_ts + ns, unfinished);

		return h->on_wait(h->on_wait_arg, &done);
	}
	return 0;
}

static struct thread_wait *thread_get(struct hotspots *h, uint32_t tid)
{
	uint64_t key = tid;
	struct thread_wait *t = bytemap__slot(h->by_tid, &key, sizeof(key), &h->threads,
					      &h->nthreads, &h->threads_cap, sizeof(*h->threads));

	if (t)
		t->tid = tid;
	return t;
}

static int wait_begin(struct hotspots *h, const struct ls_rec *rec)
{
	struct thread_wait *t = thread_get(h, rec->tid);

	if (!t)
		return -ENOMEM;
	/* the END of the previous wait was lost: its length is unknown, so it is not counted */
	if (t->open)
		h->unpaired++;
	t->open = true;
	t->kind = rec->wait_begin.kind;
	t->owner = rec->wait_begin.owner;
	t->stack_id = rec->wait_begin.stack_id;
	t->addr = rec->wait_begin.addr;
	t->begin_ts = rec->ts;
	return 0;
}

/* Every result counts, with the time measured between begin and end: WOKEN and TIMEOUT slept;
 * INTR slept until the signal; CHANGED (-EAGAIN) and ERROR did not sleep, but the thread did
 * find the lock taken, so they are contentions whose wait is the ~1 us the syscall took. */
static int wait_end(struct hotspots *h, const struct ls_rec *rec)
{
	const uint64_t *pos = bytemap__get_u64(h->by_tid, rec->tid);

	if (!pos || !h->threads[*pos].open) {
		h->unpaired++;
		return 0;
	}
	return close_wait(h, &h->threads[*pos], rec->ts,
			  rec->wait_end.result == LS_WAIT_UNFINISHED);
}

/* A thread that exits, or is taken down with its process, stops waiting then. */
static int thread_exit(struct hotspots *h, const struct ls_rec *rec)
{
	const uint64_t *pos = bytemap__get_u64(h->by_tid, rec->tid);

	if (!pos || !h->threads[*pos].open)
		return 0;
	return close_wait(h, &h->threads[*pos], rec->ts, false);
}

static int close_all(struct hotspots *h, uint64_t ts, bool unfinished)
{
	for (size_t i = 0; i < h->nthreads; i++) {
		if (h->threads[i].open) {
			int err = close_wait(h, &h->threads[i], ts, unfinished);

			if (err)
				return err;
		}
	}
	return 0;
}

int hotspots__feed(struct hotspots *h, const struct model *m, const struct ls_rec *rec)
{
	(void)m; /* fed as every analysis is; hotspots need only the records */
	if (h->finished)
		return -EINVAL;
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		return wait_begin(h, rec);
	case LS_REC_WAIT_END:
		return wait_end(h, rec);
	case LS_REC_THREAD_EXIT:
		return thread_exit(h, rec);
	case LS_REC_PROC_EXIT:
		return close_all(h, rec->ts, false);
	default:
		return 0;
	}
}

void hotspots__on_wait(struct hotspots *h, int (*fn)(void *arg, const struct hs_wait *w),
		       void *arg)
{
	h->on_wait = fn;
	h->on_wait_arg = arg;
}

size_t hotspots__open_waits(const struct hotspots *h, struct hs_wait *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < h->nthreads; i++) {
		if (!h->threads[i].open)
			continue;
		if (n < max)
			out[n] = wait_of(&h->threads[i], 0, false);
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
	err = close_all(h, end_ts, true);
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
	return h->unpaired;
}
