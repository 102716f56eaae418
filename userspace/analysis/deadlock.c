/* deadlock.c - each thread's open wait, each lock's holders (from ACQUIRE/RELEASE, else the owner
 * the lock word named), the cycles among them, pending until confirmed, and their output. */
#include "analysis/deadlock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/asyncdl.h"
#include "util/bytemap.h"
#include "util/common.h"
#include "util/json.h"
#include "trace/model.h"
#include "trace/trace.h"

#define TEXT_FRAMES 16 /* frames shown per stack */

struct wait {
	bool open;
	uint8_t kind, flags;
	uint32_t owner, stack_id;
	uint64_t addr;
	uint64_t since; /* when the thread began waiting for ADDR, across restarts of the wait */
};

struct thread {
	uint32_t tid;
	struct wait wait;
	/* the wait that ended last, if it ended without the lock (-EAGAIN, -EINTR): a new wait on
	 * the same lock continues it */
	bool restartable;
	uint64_t last_addr, last_since;
	uint64_t *held; /* addresses it holds per ACQUIRE */
	uint32_t nheld;
	size_t held_cap;
	uint32_t mark; /* the cycle search that visited it last */
};

struct holder {
	uint32_t tid, depth;
	bool inferred;	/* LS_ACQ_INFERRED: deduced, not seen taken */
	uint64_t ts;	/* its last ACQUIRE */
};

/* A lock that ACQUIRE records mentioned: its exact holders. */
struct lock {
	uint64_t addr;
	struct holder *h;
	uint32_t n;
	size_t cap;
	/* when it was last left without holders: the owner word has ruled since */
	uint64_t empty_since;
	bool python;	/* a CPython lock (LS_ACQ_PY): any thread may release it */
	/* ... seen used as a signal (see lockorder.h): who "holds" it owns nothing, and a thread
	 * that waits on it waits for a signal, not for them; until its DESTROY */
	bool signal;
};

struct cycle {
	uint32_t n;
	uint32_t tids[DEADLOCK_MAX_THREADS];
	uint64_t locks[DEADLOCK_MAX_THREADS];
	uint64_t since[DEADLOCK_MAX_THREADS];
	uint64_t formed;
};

/* A confirmed deadlock: pub's arrays point into the allocations here. */
struct confirmed {
	struct deadlock_found pub;
	struct cycle c;
	struct deadlock_thread *threads;
	uint64_t *locks, *holds;
	bool notified;
};

struct deadlock {
	uint64_t confirm_ns;
	uint64_t now; /* the latest trace time seen */
	struct thread *threads;
	size_t nthreads, threads_cap;
	struct bytemap *thread_of; /* tid -> thread */
	struct lock *locks;
	size_t nlocks, locks_cap;
	struct bytemap *lock_of; /* addr -> lock */
	struct cycle *pending;	 /* cycles not yet confirmed */
	size_t npending, pending_cap;
	struct confirmed *found;
	size_t nfound, found_cap;
	uint32_t mark;
	struct asyncdl *tasks; /* deadlocks among asyncio tasks, as `record` found them */
};

struct deadlock *deadlock__new(uint64_t confirm_ns)
{
	struct deadlock *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->confirm_ns = confirm_ns;
	d->thread_of = bytemap__new();
	d->lock_of = bytemap__new();
	d->tasks = asyncdl__new();
	if (!d->thread_of || !d->lock_of || !d->tasks) {
		deadlock__free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void deadlock__free(struct deadlock *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nfound; i++) {
		free(d->found[i].threads);
		free(d->found[i].locks);
		free(d->found[i].holds);
	}
	for (size_t i = 0; i < d->nthreads; i++)
		free(d->threads[i].held);
	for (size_t i = 0; i < d->nlocks; i++)
		free(d->locks[i].h);
	asyncdl__free(d->tasks);
	free(d->found);
	free(d->pending);
	free(d->locks);
	free(d->threads);
	bytemap__free(d->lock_of);
	bytemap__free(d->thread_of);
	free(d);
}

/* ---- state ---- */

static struct thread *thread_find(const struct deadlock *d, uint32_t tid)
{
	const uint64_t *i = bytemap__get_u64(d->thread_of, tid);

	return i ? &d->threads[*i] : NULL;
}

static struct thread *thread_get(struct deadlock *d, uint32_t tid)
{
	struct thread *t = thread_find(d, tid);

	if (t)
		return t;
	if (ls_reserve(&d->threads, &d->threads_cap, d->nthreads + 1, sizeof(*d->threads)) ||
	    bytemap__put_u64(d->thread_of, tid, d->nthreads))
		return NULL;
	t = &d->threads[d->nthreads++];
	*t = (struct thread){.tid = tid};
	return t;
}

static struct lock *lock_find(const struct deadlock *d, uint64_t addr)
{
	const uint64_t *i = bytemap__get_u64(d->lock_of, addr);

	return i ? &d->locks[*i] : NULL;
}

static struct lock *lock_get(struct deadlock *d, uint64_t addr)
{
	struct lock *l = lock_find(d, addr);

	if (l)
		return l;
	if (ls_reserve(&d->locks, &d->locks_cap, d->nlocks + 1, sizeof(*d->locks)) ||
	    bytemap__put_u64(d->lock_of, addr, d->nlocks))
		return NULL;
	l = &d->locks[d->nlocks++];
	*l = (struct lock){.addr = addr};
	return l;
}

static struct holder *holder_find(struct lock *l, uint32_t tid)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->h[i].tid == tid)
			return &l->h[i];
	return NULL;
}

static void holder_drop(struct lock *l, struct holder *h, uint64_t ts)
{
	*h = l->h[--l->n];
	if (!l->n)
		l->empty_since = ts;
}

static void held_drop(struct thread *t, uint64_t addr)
{
	for (uint32_t i = 0; i < t->nheld; i++)
		if (t->held[i] == addr) {
			t->held[i] = t->held[--t->nheld];
			return;
		}
}

/* A thread that runs is not waiting, whatever records were lost. */
static void wait_close(struct thread *t)
{
	t->wait.open = false;
	t->restartable = false;
}

static int on_acquire(struct deadlock *d, struct thread *t, const struct ls_rec *rec)
{
	struct lock *l;
	struct holder *h;

	/* a hold deduced from a thread's frames says nothing of it running: it may be blocked */
	if (!(rec->acquire.flags & LS_ACQ_INFERRED))
		wait_close(t);
	/* a semaphore has no owner: whoever posts it, not its last taker, lets waiters on */
	if (rec->acquire.kind == LS_KIND_SEM)
		return 0;
	l = lock_get(d, rec->acquire.addr);
	if (!l)
		return -ENOMEM;
	l->python |= !!(rec->acquire.flags & LS_ACQ_PY);
	if ((h = holder_find(l, t->tid))) {
		/* not reentrant: taken again by a call begun after the last one returned, it was
		 * released meanwhile by another thread (a probed sem_wait returns inside the
		 * PyThread call that takes the lock: one taking) */
		if (l->python && rec->acquire.call_ts > h->ts)
			l->signal = true;
		h->depth++;
		h->ts = rec->ts;
		return 0;
	}
	if (ls_reserve(&l->h, &l->cap, l->n + 1, sizeof(*l->h)) ||
	    ls_reserve(&t->held, &t->held_cap, t->nheld + 1, sizeof(*t->held)))
		return -ENOMEM;
	l->h[l->n++] = (struct holder){t->tid, 1, rec->acquire.flags & LS_ACQ_INFERRED, rec->ts};
	t->held[t->nheld++] = l->addr;
	return 0;
}

static void on_release(struct deadlock *d, struct thread *t, uint64_t addr, uint64_t ts)
{
	struct lock *l = lock_find(d, addr);
	struct holder *h;

	wait_close(t);
	if (!l)
		return;
	if (!(h = holder_find(l, t->tid))) {
		/* released for another thread that holds it: a signal, not a lock */
		l->signal |= l->python && l->n;
		return;
	}
	if (--h->depth)
		return;
	holder_drop(l, h, ts);
	held_drop(t, addr);
}

static void on_destroy(struct deadlock *d, uint64_t addr, uint64_t ts)
{
	struct lock *l = lock_find(d, addr);
	struct thread *t;

	if (!l)
		return;
	while (l->n) {
		if ((t = thread_find(d, l->h[0].tid)))
			held_drop(t, addr);
		holder_drop(l, &l->h[0], ts);
	}
	l->python = l->signal = false;	/* the address may be another lock's next */
}

static void thread_gone(struct deadlock *d, struct thread *t, uint64_t ts)
{
	struct lock *l;
	struct holder *h;

	wait_close(t);
	for (uint32_t i = 0; i < t->nheld; i++)
		if ((l = lock_find(d, t->held[i])) && (h = holder_find(l, t->tid)))
			holder_drop(l, h, ts);
	t->nheld = 0;
}

/* Window edges and lost events: releases may have gone unseen, so ACQUIRE holders are
 * forgotten and the owner words rule until the next acquisitions. */
static void reset_holders(struct deadlock *d, uint64_t ts)
{
	for (size_t i = 0; i < d->nlocks; i++) {
		if (d->locks[i].n)
			d->locks[i].empty_since = ts;
		d->locks[i].n = 0;
	}
	for (size_t i = 0; i < d->nthreads; i++)
		d->threads[i].nheld = 0;
}

static void on_wait_begin(struct thread *t, const struct ls_rec *rec)
{
	const bool at_attach = rec->wait_begin.flags & LS_WAIT_AT_ATTACH;
	uint64_t since = at_attach ? 0 : rec->ts;

	if (t->restartable && t->last_addr == rec->wait_begin.addr)
		since = t->last_since;
	t->restartable = false;
	t->wait = (struct wait){
	    .open = true,
	    .kind = rec->wait_begin.kind,
	    .flags = rec->wait_begin.flags,
	    .owner = rec->wait_begin.owner,
	    .stack_id = rec->wait_begin.stack_id,
	    .addr = rec->wait_begin.addr,
	    .since = since,
	};
}

/* T runs again: what its frames showed it holding (inferred) may be released unseen from now
 * on, by a thread the probes do not watch; it is forgotten, and inferred again if need be. */
static void inferred_drop(struct deadlock *d, struct thread *t, uint64_t ts)
{
	struct lock *l;
	struct holder *h;

	for (uint32_t i = 0; i < t->nheld;) {
		if ((l = lock_find(d, t->held[i])) && (h = holder_find(l, t->tid)) && h->inferred) {
			holder_drop(l, h, ts);
			t->held[i] = t->held[--t->nheld];
			continue;
		}
		i++;
	}
}

static void on_wait_end(struct deadlock *d, struct thread *t, const struct ls_rec *rec)
{
	uint8_t r = rec->wait_end.result;
	bool was_open = t->wait.open;

	if (r == LS_WAIT_WOKEN || r == LS_WAIT_TIMEOUT)
		inferred_drop(d, t, rec->ts);
	wait_close(t);
	/* the word changed or a signal came: the lock call goes on waiting */
	if (was_open && (r == LS_WAIT_CHANGED || r == LS_WAIT_INTR)) {
		t->restartable = true;
		t->last_addr = t->wait.addr;
		t->last_since = t->wait.since;
	}
}

/* ---- the waits-for graph ---- */

/* A condition wait waits for a signal, not for a holder. */
static bool waiting(const struct thread *t)
{
	return t->wait.open && !ls_kind_signal(t->wait.kind);
}

/* The I-th thread that T's wait waits on: the holders of L (the lock it waits for, NULL if no
 * ACQUIRE named it) where ACQUIRE records say, else the owner its word named. *SINCE: from when
 * that holds. False past the last. */
static bool holder_at(const struct lock *l, const struct thread *t, uint32_t i, uint32_t *tid,
		      uint64_t *since)
{
	if (l && l->signal)
		return false;	/* no one owns a signal: no one is waited for */
	if (l && l->n) {
		if (i >= l->n)
			return false;
		*tid = l->h[i].tid;
		*since = 0; /* the holder took it before it could wait itself */
		return true;
	}
	if (i || !t->wait.owner)
		return false;
	*tid = t->wait.owner;
	*since = l ? l->empty_since : 0;
	return true;
}

static bool holds(const struct deadlock *d, const struct thread *waiter, uint32_t tid,
		  uint64_t *since)
{
	const struct lock *l = lock_find(d, waiter->wait.addr);
	uint32_t h;

	for (uint32_t i = 0; holder_at(l, waiter, i, &h, since); i++)
		if (h == tid)
			return true;
	return false;
}

/* Depth-first from the cycle's first thread, back to it. Threads already explored in this
 * search cannot lead back: their every path was tried. */
static bool cycle_dfs(struct deadlock *d, struct cycle *c, struct thread *t, uint32_t depth)
{
	const struct lock *l;
	uint64_t since;
	uint32_t tid;

	if (!waiting(t))
		return false;
	l = lock_find(d, t->wait.addr);
	t->mark = d->mark;
	c->tids[depth] = t->tid;
	c->locks[depth] = t->wait.addr;
	c->since[depth] = t->wait.since;
	for (uint32_t i = 0; holder_at(l, t, i, &tid, &since); i++) {
		struct thread *next;

		/* a thread that waits for a lock it holds itself is no deadlock between threads:
		 * a CPython lock is released by whichever thread releases it (signalling, as in
		 * SimpleQueue.get), and a lock's own recursion is no cycle of waits */
		if (tid == c->tids[0] && !depth)
			continue;
		if (tid == c->tids[0]) {
			c->n = depth + 1;
			return true;
		}
		next = thread_find(d, tid);
		if (!next || next->mark == d->mark || depth + 1 >= DEADLOCK_MAX_THREADS)
			continue;
		if (cycle_dfs(d, c, next, depth + 1))
			return true;
	}
	return false;
}

/* Rotates C so that its lowest tid comes first: one cycle, one spelling. */
static void cycle_canon(struct cycle *c)
{
	struct cycle r = *c;
	uint32_t m = 0;

	for (uint32_t i = 1; i < c->n; i++)
		if (c->tids[i] < c->tids[m])
			m = i;
	for (uint32_t i = 0; i < c->n; i++) {
		c->tids[i] = r.tids[(i + m) % c->n];
		c->locks[i] = r.locks[(i + m) % c->n];
		c->since[i] = r.since[(i + m) % c->n];
	}
}

/* The same threads waiting for the same locks: the same deadlock, whenever its waits began. */
static bool cycle_same(const struct cycle *a, const struct cycle *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->tids[i] != b->tids[i] || a->locks[i] != b->locks[i])
			return false;
	return true;
}

/* Whether C still stands, with the time it formed: the last of its waits began, or the last
 * of its hold edges appeared. */
static bool cycle_valid(const struct deadlock *d, const struct cycle *c, uint64_t *formed)
{
	*formed = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct thread *t = thread_find(d, c->tids[i]);
		uint64_t since;

		if (!t || !waiting(t) || t->wait.addr != c->locks[i] ||
		    t->wait.since != c->since[i] || !holds(d, t, c->tids[(i + 1) % c->n], &since))
			return false;
		if (t->wait.since > *formed)
			*formed = t->wait.since;
		if (since > *formed)
			*formed = since;
	}
	return true;
}

/* Already pending or confirmed: a deadlock is reported once. */
static bool known(const struct deadlock *d, const struct cycle *c)
{
	for (size_t i = 0; i < d->nfound; i++)
		if (cycle_same(&d->found[i].c, c))
			return true;
	for (size_t i = 0; i < d->npending; i++)
		if (cycle_same(&d->pending[i], c))
			return true;
	return false;
}

/* Looks for a cycle through T and keeps it pending if it is new. */
static int detect_from(struct deadlock *d, struct thread *t)
{
	struct cycle c; /* not cleared on every wait: the search writes the n entries it found */

	if (!waiting(t))
		return 0;
	d->mark++;
	if (!cycle_dfs(d, &c, t, 0))
		return 0;
	cycle_canon(&c);
	if (known(d, &c) || !cycle_valid(d, &c, &c.formed))
		return 0;
	if (ls_reserve(&d->pending, &d->pending_cap, d->npending + 1, sizeof(*d->pending)))
		return -ENOMEM;
	d->pending[d->npending++] = c;
	return 0;
}

static int detect_all(struct deadlock *d)
{
	int err = 0;

	for (size_t i = 0; !err && i < d->nthreads; i++)
		err = detect_from(d, &d->threads[i]);
	return err;
}

/* What a thread of a confirmed cycle holds among the cycle's locks. */
static void fill_holds(const struct deadlock *d, struct confirmed *f)
{
	const struct cycle *c = &f->c;
	uint64_t since;

	for (uint32_t j = 0; j < c->n; j++) {
		struct deadlock_thread *dt = &f->threads[j];

		dt->holds = f->holds + (size_t)j * c->n;
		for (uint32_t i = 0; i < c->n; i++) {
			struct lock *l = lock_find(d, c->locks[i]);
			const struct holder *h = l ? holder_find(l, c->tids[j]) : NULL;

			if (!holds(d, thread_find(d, c->tids[i]), c->tids[j], &since))
				continue;
			f->holds[(size_t)j * c->n + dt->nholds++] = c->locks[i];
			dt->holds_inferred |= h && h->inferred;
		}
		f->pub.inferred |= dt->holds_inferred;
	}
}

static int confirm(struct deadlock *d, const struct cycle *c)
{
	struct confirmed *f;

	if (ls_reserve(&d->found, &d->found_cap, d->nfound + 1, sizeof(*d->found)))
		return -ENOMEM;
	f = &d->found[d->nfound];
	*f = (struct confirmed){.c = *c};
	f->threads = calloc(c->n, sizeof(*f->threads));
	f->locks = malloc(c->n * sizeof(*f->locks));
	f->holds = malloc((size_t)c->n * c->n * sizeof(*f->holds));
	if (!f->threads || !f->locks || !f->holds) {
		free(f->threads);
		free(f->locks);
		free(f->holds);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		const struct thread *t = thread_find(d, c->tids[i]);

		f->locks[i] = c->locks[i];
		f->threads[i] = (struct deadlock_thread){
		    .tid = t->tid,
		    .waits_for = t->wait.addr,
		    .stack_id = t->wait.stack_id,
		    .since_ns = t->wait.since,
		    .at_attach = t->wait.flags & LS_WAIT_AT_ATTACH,
		};
	}
	f->pub = (struct deadlock_found){c->n, f->locks, f->threads, c->formed,
					 c->formed + d->confirm_ns, false};
	fill_holds(d, f);
	d->nfound++;
	return 0;
}

/* Drops the pending cycles that broke up; confirms those open for confirm_ns as of d->now. */
static int advance(struct deadlock *d)
{
	int err = 0;

	for (size_t i = 0; !err && i < d->npending;) {
		struct cycle *c = &d->pending[i];
		bool stands = cycle_valid(d, c, &c->formed);

		if (stands && d->now - c->formed < d->confirm_ns) {
			i++;
			continue;
		}
		if (stands)
			err = confirm(d, c);
		d->pending[i] = d->pending[--d->npending];
	}
	return err;
}

static int apply(struct deadlock *d, const struct ls_rec *rec)
{
	struct thread *t;

	if (rec->type == LS_REC_WINDOW || rec->type == LS_REC_LOST) {
		reset_holders(d, rec->ts);
		return detect_all(d);
	}
	if (rec->type == LS_REC_LOCK && ls_kind_signal(rec->lock.kind)) {
		/* the recorder found from a thread's frames that the lock is a signal's */
		struct lock *l = lock_get(d, rec->lock.addr);

		if (!l)
			return -ENOMEM;
		l->signal = true;
		return 0;
	}
	if (rec->type == LS_REC_PROC_EXIT) {
		for (size_t i = 0; i < d->nthreads; i++)
			thread_gone(d, &d->threads[i], rec->ts);
		return 0;
	}
	if (!rec->tid || rec->type == LS_REC_THREAD || rec->type >= LS_REC__COUNT)
		return 0;
	if (rec->type == LS_REC_THREAD_EXIT) {
		if ((t = thread_find(d, rec->tid)))
			thread_gone(d, t, rec->ts);
		return 0;
	}
	t = thread_get(d, rec->tid);
	if (!t)
		return -ENOMEM;
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		on_wait_begin(t, rec);
		return detect_from(d, t);
	case LS_REC_WAIT_END:
		on_wait_end(d, t, rec);
		return 0;
	case LS_REC_ACQUIRE:
		/* a holder read from frames may close a cycle among waits already open */
		if (rec->acquire.flags & LS_ACQ_INFERRED)
			return on_acquire(d, t, rec) ?: detect_all(d);
		return on_acquire(d, t, rec);
	case LS_REC_RELEASE:
		on_release(d, t, rec->release.addr, rec->ts);
		return 0;
	case LS_REC_DESTROY:
		wait_close(t);
		on_destroy(d, rec->release.addr, rec->ts);
		return 0;
	case LS_REC_WAKE:
		wait_close(t); /* the waker runs */
		return 0;
	default:
		return 0;
	}
}

int deadlock__feed(struct deadlock *d, const struct ls_rec *rec)
{
	int err = 0;

	/* cycles that stood until this record's time are confirmed before it can break them */
	if (rec->ts > d->now)
		d->now = rec->ts;
	if (d->npending)
		err = advance(d);
	if (!err && rec->type == LS_REC_TASK_WAIT)
		return asyncdl__feed(d->tasks, rec);
	return err ?: apply(d, rec);
}

const struct asyncdl *deadlock__tasks(const struct deadlock *d)
{
	return d->tasks;
}

int deadlock__check(struct deadlock *d, uint64_t now_ts,
		    void (*found)(const struct deadlock_found *, void *arg), void *arg)
{
	int err;

	if (now_ts > d->now)
		d->now = now_ts;
	err = detect_all(d) ?: advance(d);
	for (size_t i = 0; i < d->nfound; i++) {
		if (d->found[i].notified)
			continue;
		d->found[i].notified = true;
		if (found)
			found(&d->found[i].pub, arg);
	}
	return err;
}

size_t deadlock__unheld_waits(const struct deadlock *d, uint64_t now_ts, uint64_t min_ns,
			      uint32_t *tids, uint64_t *addrs, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nthreads; i++) {
		const struct thread *t = &d->threads[i];
		uint64_t since;
		uint32_t tid;

		if (!waiting(t) || t->wait.since + min_ns > now_ts ||
		    holder_at(lock_find(d, t->wait.addr), t, 0, &tid, &since))
			continue;
		if (n < max) {
			tids[n] = t->tid;
			addrs[n] = t->wait.addr;
		}
		n++;
	}
	return n;
}

size_t deadlock__count(const struct deadlock *d)
{
	return d->nfound;
}

const struct deadlock_found *deadlock__get(const struct deadlock *d, size_t i)
{
	return i < d->nfound ? &d->found[i].pub : NULL;
}

/* ---- output ---- */

static void json_lock(const struct model *m, uint64_t addr, struct json_writer *w)
{
	char bare[32];

	json_writer__string(w, model__lock_label(m, addr, MODEL_NO_KIND, bare, sizeof(bare)));
}

static void json_thread(const struct model *m, const struct deadlock_thread *t,
			struct json_writer *w)
{
	const char *name = model__thread_name(m, t->tid);

	json_writer__object_begin(w);
	json_writer__key(w, "tid");
	json_writer__u64(w, t->tid);
	json_writer__key(w, "name");
	json_writer__string(w, name ? name : "");
	json_writer__key(w, "holds");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < t->nholds; i++)
		json_lock(m, t->holds[i], w);
	json_writer__array_end(w);
	json_writer__key(w, "waits_for");
	json_lock(m, t->waits_for, w);
	json_writer__key(w, "stack");
	model__stack_json(m, t->stack_id, w);
	json_writer__object_end(w);
}

void deadlock__found_json(const struct deadlock_found *f, const struct model *m,
			  struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "locks");
	json_writer__array_begin(w);
	for (uint32_t k = 0; k < f->nthreads; k++)
		json_lock(m, f->locks[k], w);
	json_writer__array_end(w);
	json_writer__key(w, "threads");
	json_writer__array_begin(w);
	for (uint32_t k = 0; k < f->nthreads; k++)
		json_thread(m, &f->threads[k], w);
	json_writer__array_end(w);
	json_writer__key(w, "detected_ns");
	json_writer__u64(w, f->detected_ns);
	/* a holder deduced from the target's frames, not seen taking the lock */
	json_writer__key(w, "inferred");
	json_writer__bool(w, f->inferred);
	json_writer__object_end(w);
}

void deadlock__json(const struct deadlock *d, const struct model *m, struct json_writer *w)
{
	json_writer__array_begin(w);
	for (size_t i = 0; i < d->nfound; i++)
		deadlock__found_json(&d->found[i].pub, m, w);
	asyncdl__json(d->tasks, m, w);
	json_writer__array_end(w);
}

/* Copied to be scrubbed, and cut to BUF's size. */
static const char *text_lock(const struct model *m, uint64_t addr, char *buf, size_t len)
{
	char bare[32];

	snprintf(buf, len, "%s", model__lock_label(m, addr, MODEL_NO_KIND, bare, sizeof(bare)));
	return ls_scrub(buf);
}

static void text_locks(const struct model *m, const struct deadlock_found *f, FILE *out)
{
	char buf[512];

	for (uint32_t i = 0; i < f->nthreads; i++)
		fprintf(out, "%s%s", i ? ", " : "", text_lock(m, f->locks[i], buf, sizeof(buf)));
}

/* Each thread: what it holds, what it waits for, and where it waits. */
static void text_threads(const struct model *m, const struct deadlock_found *f, FILE *out)
{
	char who[128], buf[512];

	for (uint32_t i = 0; i < f->nthreads; i++) {
		const struct deadlock_thread *t = &f->threads[i];

		fprintf(out, "    thread %s holds ",
			model__thread_label_of(m, t->tid, who, sizeof(who)));
		for (uint32_t k = 0; k < t->nholds; k++)
			fprintf(out, "%s%s", k ? ", " : "",
				text_lock(m, t->holds[k], buf, sizeof(buf)));
		if (t->holds_inferred)
			fputs(" (inferred from its frames)", out);
		fprintf(out, ", waits for %s", text_lock(m, t->waits_for, buf, sizeof(buf)));
		if (t->at_attach)
			fputs(" (since before recording began)", out);
		fputc('\n', out);
		model__stack_text(m, t->stack_id, "        ", TEXT_FRAMES, out);
	}
}

void deadlock__text(const struct deadlock *d, const struct model *m, FILE *out)
{
	if (!d->nfound && !asyncdl__count(d->tasks))
		fputs("No deadlocks.\n\n", out);
	if (d->nfound)
		fprintf(out, "Deadlocks: %zu\n\n", d->nfound);
	for (size_t i = 0; i < d->nfound; i++) {
		const struct deadlock_found *f = &d->found[i].pub;

		fprintf(out, "  DEADLOCK: %" PRIu32 " %s, locks ", f->nthreads,
			f->nthreads == 1 ? "thread" : "threads");
		text_locks(m, f, out);
		if (f->formed_ns)
			fprintf(out, " (stuck since %.3f s, certain at %.3f s)\n",
				f->formed_ns / 1e9, f->detected_ns / 1e9);
		else
			fprintf(out, " (stuck since before recording began, certain at %.3f s)\n",
				f->detected_ns / 1e9);
		text_threads(m, f, out);
		fputc('\n', out);
	}
	asyncdl__text(d->tasks, m, out);
}

int deadlock__format_alert(const struct deadlock_found *f, const struct model *m, char *buf,
			   size_t len)
{
	char *text = NULL, who[128];
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	int ret = -1;

	if (!out)
		return -1;
	fputs("lockscope: DEADLOCK: threads ", out);
	for (uint32_t i = 0; i < f->nthreads; i++)
		fprintf(out, "%s%s", i ? ", " : "",
			model__thread_label_of(m, f->threads[i].tid, who, sizeof(who)));
	fputs(" on locks ", out);
	text_locks(m, f, out);
	fputc('\n', out);
	text_threads(m, f, out);
	if (fclose(out) == 0)
		ret = snprintf(buf, len, "%s", text);
	free(text);
	return ret;
}
