/* lockorder.c - the locks each thread holds, the order edges they make, and the search for
 * cycles among the edges that can block: Tarjan's SCCs, then a bounded DFS inside each. */
#include "analysis/lockorder.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "util/json.h"
#include "trace/model.h"
#include "trace/trace.h"

#define SEARCH_BUDGET (1u << 22) /* edge visits of the cycle search, whatever the graph */
#define TEXT_FRAMES 16		 /* frames shown per stack */
#define NONE UINT32_MAX
#define NAMED_NEXT UINT32_MAX /* a LOCK record came between identities: it names the next */

struct held {
	uint32_t node;
	uint32_t depth; /* recursion: released when it drops to 0 */
	bool shared;
	/* Perhaps no longer held: taken before a window edge or a loss, whose releases went
	 * unseen, or inferred from frames. It makes no edge; it still counts as a gate, since a
	 * gate wrongly forgotten would turn a guarded cycle into a reported one. */
	bool stale;
	uint64_t ts;	/* its last ACQUIRE */
};

/* A lock call that waited and has not returned yet. */
struct attempt {
	bool on;
	uint32_t node, stack_id;
	uint64_t ts;
};

struct thread {
	uint32_t tid;
	struct held *held;
	uint32_t nheld;
	size_t cap;
	struct attempt attempt;
};

/* pub's arrays point at tids and guards, kept in step when they move. */
struct edge {
	struct lo_edge pub;
	uint32_t *tids, *guards;
	size_t tids_cap;
};

struct cycle_list {
	struct lo_cycle *items;
	size_t n, cap;
};

struct lockorder {
	struct lo_node *nodes;
	size_t nnodes, nodes_cap;
	struct bytemap *node_of; /* addr -> generations << 32 | (current node + 1, 0: destroyed) */
	struct bytemap *named;	 /* addr -> the node its last LOCK record named + 1; NAMED_NEXT */
	struct edge *edges;
	size_t nedges, edges_cap;
	struct bytemap *edge_of; /* from << 32 | to -> edge */
	struct thread *threads;
	size_t nthreads, threads_cap;
	struct bytemap *thread_of; /* tid -> thread */
	uint32_t *excl;		   /* the acquiring thread's exclusive holds, sorted */
	size_t excl_cap;
	struct cycle_list lists[2]; /* [0] potential deadlocks, [1] suppressed */
	struct lo_omitted omitted;
	bool finished;
};

struct lockorder *lockorder__new(void)
{
	struct lockorder *lo = calloc(1, sizeof(*lo));

	if (!lo)
		return NULL;
	lo->node_of = bytemap__new();
	lo->named = bytemap__new();
	lo->edge_of = bytemap__new();
	lo->thread_of = bytemap__new();
	if (!lo->node_of || !lo->named || !lo->edge_of || !lo->thread_of) {
		lockorder__free(lo);
		errno = ENOMEM;
		return NULL;
	}
	return lo;
}

void lockorder__free(struct lockorder *lo)
{
	if (!lo)
		return;
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < lo->lists[i].n; j++)
			free((void *)lo->lists[i].items[j].edges);
		free(lo->lists[i].items);
	}
	for (size_t i = 0; i < lo->nthreads; i++)
		free(lo->threads[i].held);
	for (size_t i = 0; i < lo->nedges; i++) {
		free(lo->edges[i].tids);
		free(lo->edges[i].guards);
	}
	free(lo->excl);
	free(lo->threads);
	free(lo->edges);
	free(lo->nodes);
	bytemap__free(lo->thread_of);
	bytemap__free(lo->edge_of);
	bytemap__free(lo->node_of);
	bytemap__free(lo->named);
	free(lo);
}

/* ---- held locks ---- */

static struct thread *thread_find(const struct lockorder *lo, uint32_t tid)
{
	const uint64_t *i = bytemap__get_u64(lo->thread_of, tid);

	return i ? &lo->threads[*i] : NULL;
}

static struct thread *thread_get(struct lockorder *lo, uint32_t tid)
{
	struct thread *t = thread_find(lo, tid);

	if (t)
		return t;
	if (ls_reserve(&lo->threads, &lo->threads_cap, lo->nthreads + 1, sizeof(*lo->threads)) ||
	    bytemap__put_u64(lo->thread_of, tid, lo->nthreads))
		return NULL;
	t = &lo->threads[lo->nthreads++];
	*t = (struct thread){.tid = tid};
	return t;
}

static struct held *held_find(struct thread *t, uint32_t node)
{
	for (uint32_t i = 0; i < t->nheld; i++)
		if (t->held[i].node == node)
			return &t->held[i];
	return NULL;
}

static void held_drop(struct thread *t, struct held *h)
{
	*h = t->held[--t->nheld];
}

/* Doubts what every thread holds: at window edges and lost events the releases in between
 * went unseen, and a hold kept as sure would make edges that never were. Edges stay. */
static void reset_held(struct lockorder *lo)
{
	for (size_t i = 0; i < lo->nthreads; i++)
		for (uint32_t k = 0; k < lo->threads[i].nheld; k++)
			lo->threads[i].held[k].stale = true;
}

/* The node ADDR names now; a new one if it has none (first use, or after DESTROY). */
static int node_current(struct lockorder *lo, uint64_t addr, uint8_t kind, uint32_t *node)
{
	uint64_t *v = bytemap__get_u64(lo->node_of, addr);
	uint64_t gens = v ? *v >> 32 : 0;

	if (v && (uint32_t)*v) {
		*node = (uint32_t)*v - 1;
		return 0;
	}
	if (lo->nnodes >= NONE - 1 ||
	    ls_reserve(&lo->nodes, &lo->nodes_cap, lo->nnodes + 1, sizeof(*lo->nodes)))
		return -ENOMEM;
	lo->nodes[lo->nnodes] = (struct lo_node){.addr = addr, .kind = kind, .generation = (uint32_t)gens};
	*node = lo->nnodes++;
	v = bytemap__get_u64(lo->named, addr);
	if (v && *v == NAMED_NEXT)
		*v = *node + 1;
	return bytemap__put_u64(lo->node_of, addr, (gens + 1) << 32 | (*node + 1));
}

static bool node_lookup(const struct lockorder *lo, uint64_t addr, uint32_t *node)
{
	const uint64_t *v = bytemap__get_u64(lo->node_of, addr);

	if (!v || !(uint32_t)*v)
		return false;
	*node = (uint32_t)*v - 1;
	return true;
}

/* ---- edges ---- */

static int cmp_u32(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return a < b ? -1 : a > b;
}

static bool sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u32);
}

/* T's exclusive holds into lo->excl, sorted: the candidates for an edge's gate. A lock held for
 * reading gates nothing, since other readers pass it. */
static int collect_exclusive(struct lockorder *lo, const struct thread *t, size_t *n)
{
	if (ls_reserve(&lo->excl, &lo->excl_cap, t->nheld, sizeof(*lo->excl)))
		return -ENOMEM;
	*n = 0;
	for (uint32_t i = 0; i < t->nheld; i++)
		if (!t->held[i].shared)
			lo->excl[(*n)++] = t->held[i].node;
	if (*n > 1)
		qsort(lo->excl, *n, sizeof(*lo->excl), cmp_u32);
	return 0;
}

static int edge_add_tid(struct edge *e, uint32_t tid)
{
	size_t lo = 0, hi = e->pub.ntids;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (e->tids[mid] == tid)
			return 0;
		if (e->tids[mid] < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ls_reserve(&e->tids, &e->tids_cap, e->pub.ntids + 1, sizeof(*e->tids)))
		return -ENOMEM;
	memmove(e->tids + lo + 1, e->tids + lo, (e->pub.ntids - lo) * sizeof(*e->tids));
	e->tids[lo] = tid;
	e->pub.ntids++;
	e->pub.tids = e->tids;
	return 0;
}

/* One taking of a lock: by whom, where, when, how (LS_ACQ_*). */
struct occurrence {
	uint32_t tid, stack_id;
	uint64_t ts;
	uint8_t flags;
	bool waiting; /* a lock call seen waiting, not returning */
};

static struct edge *edge_new(struct lockorder *lo, uint32_t from, uint32_t to,
			     const struct occurrence *o, size_t nexcl)
{
	struct edge *e;

	if (ls_reserve(&lo->edges, &lo->edges_cap, lo->nedges + 1, sizeof(*lo->edges)) ||
	    bytemap__put_u64(lo->edge_of, (uint64_t)from << 32 | to, lo->nedges))
		return NULL;
	e = &lo->edges[lo->nedges++];
	*e = (struct edge){0};
	e->pub = (struct lo_edge){
	    .from = from,
	    .to = to,
	    .first_tid = o->tid,
	    .stack_id = o->stack_id,
	    .first_ts = o->ts,
	    .try_only = true,
	    .to_shared = true,
	    .from_shared = true,
	    .waited_only = true,
	};
	e->guards = malloc((nexcl ? nexcl : 1) * sizeof(*e->guards));
	if (!e->guards)
		return NULL;
	for (size_t i = 0; i < nexcl; i++)
		if (lo->excl[i] != from)
			e->guards[e->pub.nguards++] = lo->excl[i];
	e->pub.guards = e->guards;
	return e;
}

/* One occurrence of H's lock -> TO. lo->excl holds the thread's NEXCL exclusive holds. */
static int edge_note(struct lockorder *lo, const struct held *h, uint32_t to,
		     const struct occurrence *o, size_t nexcl)
{
	const uint64_t *i = bytemap__get_u64(lo->edge_of, (uint64_t)h->node << 32 | to);
	struct edge *e = i ? &lo->edges[*i] : edge_new(lo, h->node, to, o, nexcl);
	uint32_t n = 0;

	if (!e)
		return -ENOMEM;
	if (i) {
		/* the gate must have been held at every occurrence */
		for (uint32_t k = 0; k < e->pub.nguards; k++)
			if (sorted_has(lo->excl, nexcl, e->guards[k]))
				e->guards[n++] = e->guards[k];
		e->pub.nguards = n;
	}
	e->pub.count++;
	e->pub.try_only &= !!(o->flags & LS_ACQ_TRY);
	e->pub.to_shared &= !!(o->flags & LS_ACQ_SHARED);
	e->pub.from_shared &= h->shared;
	e->pub.waited_only &= o->waiting;
	return edge_add_tid(e, o->tid);
}

/* T takes NODE, which it does not hold: an edge from every lock it surely holds. */
static int edges_to(struct lockorder *lo, const struct thread *t, uint32_t node,
		    const struct occurrence *o)
{
	size_t nexcl;
	int err = collect_exclusive(lo, t, &nexcl);

	for (uint32_t i = 0; !err && i < t->nheld; i++)
		if (!t->held[i].stale)
			err = edge_note(lo, &t->held[i], node, o, nexcl);
	return err;
}

/* A lock call that blocked in a futex wait makes its edges when it returns with the lock, with
 * the ACQUIRE's flags. Where it never returns, as in a deadlock, the attempt itself makes them:
 * once the thread is seen doing anything else, or at the end. */
static int attempt_flush(struct lockorder *lo, struct thread *t)
{
	struct occurrence o = {t->tid, t->attempt.stack_id, t->attempt.ts, 0, true};

	if (!t->attempt.on)
		return 0;
	t->attempt.on = false;
	return edges_to(lo, t, t->attempt.node, &o);
}

static int attempts_flush(struct lockorder *lo)
{
	int err = 0;

	for (size_t i = 0; !err && i < lo->nthreads; i++)
		err = attempt_flush(lo, &lo->threads[i]);
	return err;
}

/* Only a mutex's futex word is the lock's own address; other kinds wait on a word inside. */
static int on_wait_begin(struct lockorder *lo, const struct ls_rec *rec)
{
	struct thread *t = thread_find(lo, rec->tid);
	uint32_t node;
	int err;

	/* a wait outside a lock call the probes saw begin may follow releases they did not see
	 * (an off stretch begun meanwhile): what the thread holds then is not known */
	if (!t || !t->nheld || !(rec->wait_begin.flags & LS_WAIT_IN_CALL))
		return 0;
	/* a CPython lock wait its frames did not place orders nothing, but says as much as any
	 * of the lock a thread waits on while it holds it */
	if (rec->wait_begin.kind == LS_KIND_UNPLACED) {
		if (node_lookup(lo, rec->wait_begin.addr, &node) && held_find(t, node))
			lo->nodes[node].signal |= lo->nodes[node].python;
		return 0;
	}
	if (rec->wait_begin.kind != LS_KIND_MUTEX)
		return 0;
	if (node_lookup(lo, rec->wait_begin.addr, &node) && t->attempt.on &&
	    t->attempt.node == node)
		return 0; /* the same lock call waiting again */
	err = attempt_flush(lo, t) ?: node_current(lo, rec->wait_begin.addr, LS_KIND_MUTEX, &node);
	if (err)
		return err;
	if (held_find(t, node)) {
		/* the holder of a CPython lock waits for another thread to release it: a signal */
		lo->nodes[node].signal |= lo->nodes[node].python;
		return 0;
	}
	t->attempt.on = true;
	t->attempt.node = node;
	t->attempt.stack_id = rec->wait_begin.stack_id;
	t->attempt.ts = rec->ts;
	return 0;
}

static int on_acquire(struct lockorder *lo, const struct ls_rec *rec)
{
	struct occurrence o = {rec->tid, rec->acquire.stack_id, rec->ts, rec->acquire.flags, false};
	struct thread *t;
	struct held *h;
	uint32_t node;
	int err;

	/* a semaphore has no owner: sem_post from another thread would leave it held forever */
	if (!rec->tid || rec->acquire.kind == LS_KIND_SEM)
		return 0;
	t = thread_get(lo, rec->tid);
	if (!t)
		return -ENOMEM;
	err = node_current(lo, rec->acquire.addr, rec->acquire.kind, &node);
	if (err)
		return err;
	lo->nodes[node].python |= !!(o.flags & LS_ACQ_PY);
	if (t->attempt.on && t->attempt.node == node)
		t->attempt.on = false; /* the attempt succeeded: the ACQUIRE tells how */
	err = attempt_flush(lo, t);
	if (err)
		return err;
	h = held_find(t, node);
	if (h && h->stale) {
		/* held now, surely; but retaken (recursion, which orders nothing) or taken anew
		 * after a release that went unseen, no one can tell: no edge */
		*h = (struct held){node, 1, !!(o.flags & LS_ACQ_SHARED), false, rec->ts};
		return 0;
	}
	if (h) {
		/* a CPython lock is not reentrant: a call begun after its holder's last one
		 * returned got it because another thread released it. (Its sem_wait, probed
		 * too, returns inside the call that takes it: that is one taking, not two.) */
		if (lo->nodes[node].python && rec->acquire.call_ts > h->ts)
			lo->nodes[node].signal = true;
		h->depth++; /* recursion orders nothing */
		h->ts = rec->ts;
		return 0;
	}
	/* a hold deduced from frames (LS_ACQ_INFERRED) came at an unknown time, and may end
	 * unseen: no order into it, nor from it (stale) */
	if (!(o.flags & LS_ACQ_INFERRED))
		err = edges_to(lo, t, node, &o);
	err = err ?: ls_reserve(&t->held, &t->cap, t->nheld + 1, sizeof(*t->held));
	if (err)
		return err;
	t->held[t->nheld++] = (struct held){node, 1, !!(o.flags & LS_ACQ_SHARED),
					    !!(o.flags & LS_ACQ_INFERRED), rec->ts};
	return 0;
}

/* Another thread than T holds NODE. */
static bool held_by_other(struct lockorder *lo, const struct thread *t, uint32_t node)
{
	for (size_t i = 0; i < lo->nthreads; i++)
		if (&lo->threads[i] != t && held_find(&lo->threads[i], node))
			return true;
	return false;
}

static int on_release(struct lockorder *lo, uint32_t tid, uint64_t addr)
{
	struct thread *t = thread_find(lo, tid);
	struct held *h;
	uint32_t node;
	int err;

	if (!t)
		return 0;
	err = attempt_flush(lo, t);
	if (err || !node_lookup(lo, addr, &node))
		return err;
	if (!(h = held_find(t, node))) {
		/* released for a holder that is another thread: a signal (CPython allows it) */
		if (lo->nodes[node].python && held_by_other(lo, t, node))
			lo->nodes[node].signal = true;
		return 0;
	}
	if (!--h->depth)
		held_drop(t, h);
	return 0;
}

/* The address's identity ends: what is taken there next is another lock. */
static int on_destroy(struct lockorder *lo, uint64_t addr)
{
	uint64_t *v = bytemap__get_u64(lo->node_of, addr);
	uint32_t node;
	struct held *h;
	int err = 0;

	if (!v || !(uint32_t)*v)
		return 0;
	node = (uint32_t)*v - 1;
	*v &= ~(uint64_t)UINT32_MAX;
	for (size_t i = 0; !err && i < lo->nthreads; i++) {
		struct thread *t = &lo->threads[i];

		h = held_find(t, node);
		if (h || (t->attempt.on && t->attempt.node == node))
			err = attempt_flush(lo, t);
		if (h)
			held_drop(t, h);
	}
	return err;
}

int lockorder__feed(struct lockorder *lo, const struct ls_rec *rec)
{
	struct thread *t;
	uint32_t node;
	int err;

	if (lo->finished)
		return -EINVAL;
	switch (rec->type) {
	case LS_REC_LOCK:
		/* the recorder found from a thread's frames that the lock is a signal's */
		if (ls_kind_signal(rec->lock.kind) && node_lookup(lo, rec->lock.addr, &node))
			lo->nodes[node].signal = true;
		/* the name is the current identity's, or the next one's */
		return bytemap__put_u64(lo->named, rec->lock.addr,
					node_lookup(lo, rec->lock.addr, &node) ? node + 1 : NAMED_NEXT);
	case LS_REC_WAIT_BEGIN:
		return on_wait_begin(lo, rec);
	case LS_REC_ACQUIRE:
		return on_acquire(lo, rec);
	case LS_REC_RELEASE:
		return on_release(lo, rec->tid, rec->release.addr);
	case LS_REC_DESTROY:
		return on_destroy(lo, rec->release.addr);
	case LS_REC_WINDOW:
	case LS_REC_LOST:
	case LS_REC_PROC_EXIT:
		err = attempts_flush(lo);
		reset_held(lo);
		return err;
	case LS_REC_THREAD_EXIT:
		if (!(t = thread_find(lo, rec->tid)))
			return 0;
		err = attempt_flush(lo, t);
		t->nheld = 0;
		return err;
	default:
		return 0;
	}
}

/* ---- the search for cycles ---- */

/* The edges that can block, by source node, each list sorted by target; and the SCCs. */
struct graph {
	uint32_t *start; /* nnodes + 1: node v's edges are edge[start[v] .. start[v + 1]) */
	uint32_t *edge;	 /* edge numbers */
	uint32_t *comp;	 /* node -> its strongly connected component */
	uint32_t *comp_size;
};

struct keyed {
	uint64_t key; /* from << 32 | to */
	uint32_t edge;
};

static int cmp_keyed(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;

	return a->key < b->key ? -1 : a->key > b->key;
}

static void graph_free(struct graph *g)
{
	free(g->start);
	free(g->edge);
	free(g->comp);
	free(g->comp_size);
}

/* Adjacency of the edges that can block: a try-only edge never waits, so closes no cycle. */
static int graph_build(const struct lockorder *lo, struct graph *g)
{
	struct keyed *k = malloc((lo->nedges + 1) * sizeof(*k));
	size_t n = 0;

	g->start = calloc(lo->nnodes + 1, sizeof(*g->start));
	g->edge = malloc((lo->nedges + 1) * sizeof(*g->edge));
	g->comp = malloc((lo->nnodes + 1) * sizeof(*g->comp));
	g->comp_size = calloc(lo->nnodes + 1, sizeof(*g->comp_size));
	if (!k || !g->start || !g->edge || !g->comp || !g->comp_size) {
		free(k);
		return -ENOMEM;
	}
	for (size_t i = 0; i < lo->nedges; i++) {
		const struct lo_edge *e = &lo->edges[i].pub;

		if (!e->try_only && !e->signal)
			k[n++] = (struct keyed){(uint64_t)e->from << 32 | e->to, (uint32_t)i};
	}
	qsort(k, n, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < n; i++) {
		g->edge[i] = k[i].edge;
		g->start[(k[i].key >> 32) + 1]++;
	}
	for (size_t v = 0; v < lo->nnodes; v++)
		g->start[v + 1] += g->start[v];
	free(k);
	return 0;
}

/* Tarjan's algorithm without recursion: the graph of a big program is deep. */
struct tarjan {
	uint32_t *index, *low, *stack, *cs_node, *cs_pos;
	bool *on;
	uint32_t next, sp, csp, ncomp;
};

static void tarjan_visit(struct tarjan *t, const struct graph *g, uint32_t v)
{
	t->index[v] = t->low[v] = t->next++;
	t->stack[t->sp++] = v;
	t->on[v] = true;
	t->cs_node[t->csp] = v;
	t->cs_pos[t->csp++] = g->start[v];
}

static void tarjan_pop(struct tarjan *t, struct graph *g, uint32_t v)
{
	uint32_t x;

	if (t->low[v] == t->index[v]) {
		do {
			x = t->stack[--t->sp];
			t->on[x] = false;
			g->comp[x] = t->ncomp;
			g->comp_size[t->ncomp]++;
		} while (x != v);
		t->ncomp++;
	}
	if (--t->csp) {
		uint32_t u = t->cs_node[t->csp - 1];

		if (t->low[v] < t->low[u])
			t->low[u] = t->low[v];
	}
}

static void tarjan_from(const struct lockorder *lo, struct tarjan *t, struct graph *g, uint32_t v0)
{
	tarjan_visit(t, g, v0);
	while (t->csp) {
		uint32_t v = t->cs_node[t->csp - 1], w;

		if (t->cs_pos[t->csp - 1] == g->start[v + 1]) {
			tarjan_pop(t, g, v);
			continue;
		}
		w = lo->edges[g->edge[t->cs_pos[t->csp - 1]++]].pub.to;
		if (t->index[w] == NONE)
			tarjan_visit(t, g, w);
		else if (t->on[w] && t->index[w] < t->low[v])
			t->low[v] = t->index[w];
	}
}

static int graph_scc(const struct lockorder *lo, struct graph *g)
{
	size_t n = lo->nnodes + 1;
	struct tarjan t = {
	    .index = malloc(n * sizeof(uint32_t)),
	    .low = malloc(n * sizeof(uint32_t)),
	    .stack = malloc(n * sizeof(uint32_t)),
	    .cs_node = malloc(n * sizeof(uint32_t)),
	    .cs_pos = malloc(n * sizeof(uint32_t)),
	    .on = calloc(n, sizeof(bool)),
	};
	int err = -ENOMEM;

	if (!t.index || !t.low || !t.stack || !t.cs_node || !t.cs_pos || !t.on)
		goto cleanup;
	memset(t.index, 0xff, n * sizeof(uint32_t));
	for (uint32_t v = 0; v < lo->nnodes; v++)
		if (t.index[v] == NONE)
			tarjan_from(lo, &t, g, v);
	err = 0;
cleanup:
	free(t.on);
	free(t.cs_pos);
	free(t.cs_node);
	free(t.stack);
	free(t.low);
	free(t.index);
	return err;
}

/* A DFS for the elementary cycles of one length through START within its SCC, visiting only
 * nodes numbered above START, so that each cycle is found once: from its lowest node. Lengths
 * are searched in turn, shortest first, so that the cap keeps the shortest cycles: they are
 * the likeliest to happen and the easiest to read. */
struct search {
	struct lockorder *lo;
	const struct graph *g;
	uint32_t start;
	uint32_t path[LOCKORDER_MAX_LEN]; /* edges */
	uint32_t depth;
	uint32_t len; /* the length searched for */
	bool *on_path;
	uint64_t steps;
	int err;
};

/* Readers of one rwlock do not block each other: a cycle that enters R taking it for reading
 * and leaves it holding R for reading waits on no one there. Checked at every node. */
static bool readers_only(const struct lockorder *lo, const uint32_t *path, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		const struct lo_edge *in = &lo->edges[path[i]].pub;
		const struct lo_edge *out = &lo->edges[path[(i + 1) % len]].pub;

		if (in->to_shared && out->from_shared)
			return true;
	}
	return false;
}

/* The lowest lock held at every edge of the cycle, or NONE: with it held, no two threads can be
 * inside the cycle at once. */
static uint32_t common_guard(const struct lockorder *lo, const uint32_t *path, uint32_t len)
{
	const struct lo_edge *first = &lo->edges[path[0]].pub;

	for (uint32_t k = 0; k < first->nguards; k++) {
		uint32_t i;

		for (i = 1; i < len; i++) {
			const struct lo_edge *e = &lo->edges[path[i]].pub;

			if (!sorted_has(e->guards, e->nguards, first->guards[k]))
				break;
		}
		if (i == len)
			return first->guards[k];
	}
	return NONE;
}

static int cycle_found(struct search *s, uint32_t len)
{
	struct lockorder *lo = s->lo;
	uint32_t guard;
	struct cycle_list *l;
	uint32_t *edges;

	if (readers_only(lo, s->path, len)) {
		lo->omitted.readers_only++;
		return 0;
	}
	guard = common_guard(lo, s->path, len);
	l = &lo->lists[guard != NONE];
	if (l->n >= LOCKORDER_MAX_CYCLES) {
		lo->omitted.over_cap++;
		return 0;
	}
	edges = malloc(len * sizeof(*edges));
	if (!edges || ls_reserve(&l->items, &l->cap, l->n + 1, sizeof(*l->items))) {
		free(edges);
		return -ENOMEM;
	}
	memcpy(edges, s->path, len * sizeof(*edges));
	l->items[l->n++] = (struct lo_cycle){edges, len, guard};
	return 0;
}

static void search_from(struct search *s, uint32_t v)
{
	const struct graph *g = s->g;

	for (uint32_t k = g->start[v]; k < g->start[v + 1] && !s->err; k++) {
		uint32_t e = g->edge[k], w = s->lo->edges[e].pub.to;

		if (++s->steps > SEARCH_BUDGET) {
			s->lo->omitted.budget_spent = true;
			return;
		}
		if (g->comp[w] != g->comp[s->start])
			continue;
		s->path[s->depth] = e;
		if (w == s->start) {
			if (s->depth + 1 == s->len)
				s->err = cycle_found(s, s->len);
			continue;
		}
		if (w < s->start || s->on_path[w])
			continue;
		if (s->depth + 2 > s->len) {
			if (s->len == LOCKORDER_MAX_LEN)
				s->lo->omitted.length_limited = true;
			continue;
		}
		s->on_path[w] = true;
		s->depth++;
		search_from(s, w);
		s->depth--;
		s->on_path[w] = false;
	}
}

/* The cycles of LEN locks, from each node that can be the lowest of one. */
static int search_len(struct search *s, uint32_t len)
{
	const struct graph *g = s->g;

	s->len = len;
	for (uint32_t v = 0; !s->err && v < s->lo->nnodes && !s->lo->omitted.budget_spent; v++) {
		/* no self-edges exist, so a lone node closes no cycle */
		if (g->comp_size[g->comp[v]] < len)
			continue;
		s->start = v;
		s->on_path[v] = true;
		search_from(s, v);
		s->on_path[v] = false;
	}
	return s->err;
}

/* Shortest first, then by the locks' order of first appearance. */
static int cmp_cycle(const void *pa, const void *pb, void *arg)
{
	const struct lo_cycle *a = pa, *b = pb;
	const struct lockorder *lo = arg;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	for (uint32_t i = 0; i < a->len; i++) {
		uint32_t x = lo->edges[a->edges[i]].pub.from, y = lo->edges[b->edges[i]].pub.from;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static void mark_cycles(struct lockorder *lo)
{
	for (int s = 0; s < 2; s++) {
		struct cycle_list *l = &lo->lists[s];

		if (l->n > 1)
			qsort_r(l->items, l->n, sizeof(*l->items), cmp_cycle, lo);
		for (size_t i = 0; i < l->n; i++)
			for (uint32_t k = 0; k < l->items[i].len; k++) {
				struct lo_edge *e = &lo->edges[l->items[i].edges[k]].pub;

				if (s)
					e->in_suppressed = true;
				else
					e->in_cycle = true;
			}
	}
}

int lockorder__finish(struct lockorder *lo)
{
	struct graph g = {0};
	struct search s = {.lo = lo, .g = &g};
	int err;

	if (lo->finished)
		return -EINVAL;
	lo->finished = true;
	err = attempts_flush(lo);
	/* a signal's edges are no lock order: they stay out of the graph and its cycles */
	for (size_t i = 0; i < lo->nedges; i++) {
		struct lo_edge *e = &lo->edges[i].pub;

		e->signal = lo->nodes[e->from].signal || lo->nodes[e->to].signal;
		lo->omitted.signal_edges += e->signal;
	}
	err = err ?: graph_build(lo, &g);
	if (!err)
		err = graph_scc(lo, &g);
	if (!err && !(s.on_path = calloc(lo->nnodes + 1, sizeof(bool))))
		err = -ENOMEM;
	for (uint32_t len = 2; !err && len <= LOCKORDER_MAX_LEN; len++)
		err = search_len(&s, len);
	if (!err)
		mark_cycles(lo);
	free(s.on_path);
	graph_free(&g);
	return err;
}

/* ---- accessors ---- */

size_t lockorder__node_count(const struct lockorder *lo)
{
	return lo->nnodes;
}

const struct lo_node *lockorder__node(const struct lockorder *lo, size_t i)
{
	return i < lo->nnodes ? &lo->nodes[i] : NULL;
}

size_t lockorder__edge_count(const struct lockorder *lo)
{
	return lo->nedges;
}

const struct lo_edge *lockorder__edge(const struct lockorder *lo, size_t i)
{
	return i < lo->nedges ? &lo->edges[i].pub : NULL;
}

size_t lockorder__cycle_count(const struct lockorder *lo, bool suppressed)
{
	return lo->lists[suppressed].n;
}

const struct lo_cycle *lockorder__cycle(const struct lockorder *lo, bool suppressed, size_t i)
{
	return i < lo->lists[suppressed].n ? &lo->lists[suppressed].items[i] : NULL;
}

const struct lo_omitted *lockorder__omitted(const struct lockorder *lo)
{
	return &lo->omitted;
}

const char *lockorder__node_name(const struct lockorder *lo, const struct model *m, uint32_t i,
				 char *buf, size_t len)
{
	const struct lo_node *n = lockorder__node(lo, i);
	const uint64_t *named;
	char bare[32];
	int used;

	if (!n) {
		snprintf(buf, len, "?");
		return buf;
	}
	named = bytemap__get_u64(lo->named, n->addr);
	used = snprintf(buf, len, "%s",
			model__lock_label(m, n->addr, MODEL_NO_KIND, bare, sizeof(bare)));
	/* another lock at the address than the one its name was given to: numbered */
	if ((named ? *named != i + 1 && *named != NAMED_NEXT : n->generation > 0) && used >= 0 &&
	    (size_t)used < len)
		snprintf(buf + used, len - used, " #%" PRIu32, n->generation + 1);
	return buf;
}

/* An interpreter's own lock (LS_KIND_INTERNAL, the model says): not the program's, so not
 * listed, unless on a cycle. */
static bool internal(const struct lockorder *lo, const struct model *m, uint32_t node)
{
	uint8_t kind = LS_KIND_FUTEX;

	return model__lock_name(m, lo->nodes[node].addr, &kind) && kind == LS_KIND_INTERNAL;
}

static bool internal_cycle(const struct lockorder *lo, const struct model *m,
			   const struct lo_cycle *c);

/* E lies on a cycle that is not the interpreter's alone. */
static bool on_listed_cycle(const struct lockorder *lo, const struct model *m,
			    const struct lo_edge *e)
{
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < lo->lists[l].n; i++) {
			const struct lo_cycle *c = &lo->lists[l].items[i];

			for (uint32_t k = 0; k < c->len; k++)
				if (&lo->edges[c->edges[k]].pub == e && !internal_cycle(lo, m, c))
					return true;
		}
	return false;
}

bool lockorder__listed(const struct lockorder *lo, const struct model *m, const struct lo_edge *e)
{
	if (e->signal)
		return false;
	if (!internal(lo, m, e->from) && !internal(lo, m, e->to))
		return true;
	return (e->in_cycle || e->in_suppressed) && on_listed_cycle(lo, m, e);
}

/* A cycle among the interpreter's own locks alone: its order, not the program's. */
static bool internal_cycle(const struct lockorder *lo, const struct model *m,
			   const struct lo_cycle *c)
{
	for (uint32_t i = 0; i < c->len; i++)
		if (!internal(lo, m, lo->edges[c->edges[i]].pub.from))
			return false;
	return true;
}

bool lockorder__cycle_listed(const struct lockorder *lo, const struct model *m,
			     const struct lo_cycle *c)
{
	return !internal_cycle(lo, m, c);
}

size_t lockorder__internal_cycles(const struct lockorder *lo, const struct model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < lo->lists[0].n; i++)
		n += internal_cycle(lo, m, &lo->lists[0].items[i]);
	return n;
}

size_t lockorder__internal_edges(const struct lockorder *lo, const struct model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < lo->nedges; i++)
		n += !lo->edges[i].pub.signal && !lockorder__listed(lo, m, &lo->edges[i].pub);
	return n;
}

/* ---- JSON ---- */

static void json_name(const struct lockorder *lo, const struct model *m, uint32_t node,
		      struct json_writer *w)
{
	char buf[1024];

	json_writer__string(w, lockorder__node_name(lo, m, node, buf, sizeof(buf)));
}

static void json_edge(const struct lockorder *lo, const struct model *m, const struct lo_edge *e,
		      struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "from");
	json_name(lo, m, e->from, w);
	json_writer__key(w, "to");
	json_name(lo, m, e->to, w);
	json_writer__key(w, "count");
	json_writer__u64(w, e->count);
	json_writer__key(w, "tids");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < e->ntids; i++)
		json_writer__u64(w, e->tids[i]);
	json_writer__array_end(w);
	json_writer__key(w, "stack");
	model__stack_json(m, e->stack_id, w);
	json_writer__object_end(w);
}

static void json_cycle_locks(const struct lockorder *lo, const struct model *m,
			     const struct lo_cycle *c, struct json_writer *w)
{
	json_writer__key(w, "locks");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < c->len; i++)
		json_name(lo, m, lo->edges[c->edges[i]].pub.from, w);
	json_writer__array_end(w);
}

void lockorder__json(const struct lockorder *lo, const struct model *m, struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "edges");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lo->nedges; i++)
		if (lockorder__listed(lo, m, &lo->edges[i].pub))
			json_edge(lo, m, &lo->edges[i].pub, w);
	json_writer__array_end(w);
	json_writer__key(w, "cycles");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lo->lists[0].n; i++) {
		const struct lo_cycle *c = &lo->lists[0].items[i];

		if (internal_cycle(lo, m, c))
			continue;

		json_writer__object_begin(w);
		json_cycle_locks(lo, m, c, w);
		json_writer__key(w, "edges");
		json_writer__array_begin(w);
		for (uint32_t k = 0; k < c->len; k++)
			json_edge(lo, m, &lo->edges[c->edges[k]].pub, w);
		json_writer__array_end(w);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	json_writer__key(w, "suppressed");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lo->lists[1].n; i++) {
		if (internal_cycle(lo, m, &lo->lists[1].items[i]))
			continue;
		json_writer__object_begin(w);
		json_cycle_locks(lo, m, &lo->lists[1].items[i], w);
		json_writer__key(w, "guarded_by");
		json_name(lo, m, lo->lists[1].items[i].guard, w);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	json_writer__object_end(w);
}

/* ---- text ---- */

static const char *text_name(const struct lockorder *lo, const struct model *m, uint32_t node,
			     char *buf, size_t len)
{
	lockorder__node_name(lo, m, node, buf, len);
	return ls_scrub(buf);
}

static void text_locks(const struct lockorder *lo, const struct model *m, const struct lo_cycle *c,
		       FILE *out)
{
	char buf[512];

	for (uint32_t i = 0; i < c->len; i++)
		fprintf(out, "%s -> ",
			text_name(lo, m, lo->edges[c->edges[i]].pub.from, buf, sizeof(buf)));
	fputs(text_name(lo, m, lo->edges[c->edges[0]].pub.from, buf, sizeof(buf)), out);
}

/* "thread 101 (worker-1) took lock_b while holding lock_a" ("waited to take" where the call
 * never returned), then how often, then where. */
static void text_edge(const struct lockorder *lo, const struct model *m, const struct lo_edge *e,
		      FILE *out)
{
	char from[512], to[512], thread[128];

	fprintf(out, "      thread %s %s %s while holding %s",
		model__thread_label_of(m, e->first_tid, thread, sizeof(thread)),
		e->waited_only ? "waited to take" : "took", text_name(lo, m, e->to, to, sizeof(to)),
		text_name(lo, m, e->from, from, sizeof(from)));
	if (e->count > 1)
		fprintf(out, " (%" PRIu64 " times, %" PRIu32 " %s)", e->count, e->ntids,
			e->ntids == 1 ? "thread" : "threads");
	fputc('\n', out);
	model__stack_text(m, e->stack_id, "          ", TEXT_FRAMES, out);
}

static void text_omitted(const struct lo_omitted *o, FILE *out)
{
	if (o->readers_only || o->over_cap || o->length_limited || o->budget_spent ||
	    o->signal_edges)
		fputc('\n', out);
	if (o->signal_edges)
		fprintf(out,
			"  %" PRIu64 " order %s left out: to or from a CPython lock used as a signal "
			"(released by another thread than its holder), which no one owns\n",
			o->signal_edges, o->signal_edges == 1 ? "edge" : "edges");
	if (o->readers_only)
		fprintf(out,
			"  %" PRIu64 " %s left out: through an rwlock only ever held for reading "
			"there, and readers do not block readers\n",
			o->readers_only, o->readers_only == 1 ? "cycle" : "cycles");
	if (o->over_cap)
		fprintf(out, "  %" PRIu64 " more cycles not listed (at most %d are)\n", o->over_cap,
			LOCKORDER_MAX_CYCLES);
	if (o->length_limited)
		fprintf(out, "  cycles longer than %d locks were not searched for\n",
			LOCKORDER_MAX_LEN);
	if (o->budget_spent)
		fputs("  the search for cycles stopped at its step budget: there may be more\n",
		      out);
}

void lockorder__text(const struct lockorder *lo, const struct model *m, FILE *out)
{
	const struct cycle_list *c = &lo->lists[0], *s = &lo->lists[1];
	size_t hidden = lockorder__internal_edges(lo, m), nth = 0, nsup = 0;
	size_t shown = lo->nedges - (size_t)lo->omitted.signal_edges - hidden;
	size_t internal_cycles = lockorder__internal_cycles(lo, m);
	char buf[512];

	for (size_t i = 0; i < s->n; i++)
		nsup += !internal_cycle(lo, m, &s->items[i]);
	if (!lo->nnodes)
		fputs("No lock-order cycles: no lock acquisitions were traced (full mode does).\n",
		      out);
	else if (c->n == internal_cycles)
		fprintf(out, "No lock-order cycles (%zu order %s).\n", shown,
			shown == 1 ? "edge" : "edges");
	else
		fprintf(out, "Potential deadlocks (lock-order cycles): %zu\n", c->n - internal_cycles);
	for (size_t i = 0; i < c->n; i++) {
		if (internal_cycle(lo, m, &c->items[i]))
			continue;
		fprintf(out, "\n  %zu. ", ++nth);
		text_locks(lo, m, &c->items[i], out);
		fputc('\n', out);
		for (uint32_t k = 0; k < c->items[i].len; k++)
			text_edge(lo, m, &lo->edges[c->items[i].edges[k]].pub, out);
	}
	if (nsup)
		fprintf(out, "\n  Cycles made safe by a gate lock held on every edge: %zu\n", nsup);
	for (size_t i = 0; i < s->n; i++) {
		if (internal_cycle(lo, m, &s->items[i]))
			continue;
		fputs("    ", out);
		text_locks(lo, m, &s->items[i], out);
		fprintf(out, "  guarded by %s\n",
			text_name(lo, m, s->items[i].guard, buf, sizeof(buf)));
	}
	if (hidden)
		fprintf(out, "\n  %zu order %s and %zu %s between the interpreter's own locks "
			"(imports, I/O, its runtime, threading's machinery) not listed\n", hidden,
			hidden == 1 ? "edge" : "edges", internal_cycles + (s->n - nsup),
			internal_cycles + (s->n - nsup) == 1 ? "cycle" : "cycles");
	text_omitted(&lo->omitted, out);
	fputc('\n', out);
}
