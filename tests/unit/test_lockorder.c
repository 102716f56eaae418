/* test_lockorder.c - the lock-order graph from hand-built ACQUIRE/RELEASE sequences: edges and
 * their data, cycles, gates, trylocks, readers, reused addresses, windows, caps, and output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "jsonparse.h"
#include "analysis/lockorder.h"
#include "trace/model.h"
#include "trace/trace.h"

#define LOCK_A 0x5581d2a0ull
#define LOCK_B 0x5581d2e0ull
#define LOCK_C 0x5581d320ull
#define GATE 0x5581d360ull
#define RW 0x5581d3a0ull
#define T1 101
#define T2 102
#define T3 103

static struct model *m;
static struct lockorder *lo;
static uint64_t now;

static void feed(struct ls_rec r)
{
	r.ts = now += 10;
	cr_assert_eq(model__feed(m, &r), 0);
	cr_assert_eq(lockorder__feed(lo, &r), 0, "record type %d", r.type);
}

static void name_lock(uint64_t addr, uint8_t kind, const char *name)
{
	struct ls_rec r = {.type = LS_REC_LOCK};

	r.lock.addr = addr;
	r.lock.kind = kind;
	r.lock.name = name;
	feed(r);
}

static void name_thread(uint32_t tid, const char *name)
{
	struct ls_rec r = {.type = LS_REC_THREAD, .tid = tid};

	r.thread.name = name;
	feed(r);
}

/* Frame ID is "fID (t.c:ID)"; stack ID is frame ID then frame 100 ("worker (t.c:100)"). */
static void def_stack(uint32_t id)
{
	static char funcs[8][16];
	struct ls_rec f = {.type = LS_REC_FRAME}, s = {.type = LS_REC_STACK};
	uint32_t frames[2] = {id, 100};

	snprintf(funcs[id % 8], sizeof(funcs[0]), "f%u", id);
	f.frame.id = id;
	f.frame.func = funcs[id % 8];
	f.frame.file = "t.c";
	f.frame.line = id;
	f.frame.module = "t";
	feed(f);
	f.frame.id = 100;
	f.frame.func = "worker";
	f.frame.line = 100;
	feed(f);
	s.stack.id = id;
	s.stack.nframes = 2;
	s.stack.frames = frames;
	feed(s);
}

static void acq_full(uint32_t tid, uint64_t addr, uint8_t kind, uint8_t flags, uint32_t stack)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .tid = tid};

	r.acquire.addr = addr;
	r.acquire.kind = kind;
	r.acquire.flags = flags;
	r.acquire.stack_id = stack;
	feed(r);
}

static void acq(uint32_t tid, uint64_t addr, uint32_t stack)
{
	acq_full(tid, addr, LS_KIND_MUTEX, 0, stack);
}

static void rel(uint32_t tid, uint64_t addr)
{
	struct ls_rec r = {.type = LS_REC_RELEASE, .tid = tid};

	r.release.addr = addr;
	feed(r);
}

static void destroy(uint32_t tid, uint64_t addr)
{
	struct ls_rec r = {.type = LS_REC_DESTROY, .tid = tid};

	r.release.addr = addr;
	feed(r);
}

/* A futex wait inside a lock call whose entry the probes saw (LS_WAIT_IN_CALL). */
static void wait_on(uint32_t tid, uint64_t addr, uint8_t kind, uint32_t stack)
{
	struct ls_rec r = {.type = LS_REC_WAIT_BEGIN, .tid = tid};

	r.wait_begin.flags = LS_WAIT_IN_CALL;
	r.wait_begin.addr = addr;
	r.wait_begin.kind = kind;
	r.wait_begin.stack_id = stack;
	feed(r);
}

static void window(uint8_t on)
{
	struct ls_rec r = {.type = LS_REC_WINDOW};

	r.window.on = on;
	feed(r);
}

/* TID takes FIRST then SECOND (with STACK), and lets both go. */
static void nest(uint32_t tid, uint64_t first, uint64_t second, uint32_t stack)
{
	acq(tid, first, 0);
	acq(tid, second, stack);
	rel(tid, second);
	rel(tid, first);
}

static void setup(void)
{
	now = 0;
	m = model__new();
	lo = lockorder__new();
	cr_assert(m && lo);
	name_lock(LOCK_A, LS_KIND_MUTEX, "lock_a");
	name_lock(LOCK_B, LS_KIND_MUTEX, "lock_b");
	name_lock(LOCK_C, LS_KIND_MUTEX, "lock_c");
	name_lock(GATE, LS_KIND_MUTEX, "gate");
	name_lock(RW, LS_KIND_RWLOCK, "table_rw");
	name_thread(T1, "worker-1");
	name_thread(T2, "worker-2");
	def_stack(1);
	def_stack(2);
	def_stack(3);
}

static void teardown(void)
{
	lockorder__free(lo);
	model__free(m);
}

TestSuite(lockorder, .init = setup, .fini = teardown);

static const char *node_name(uint32_t node)
{
	static char buf[256];

	return lockorder__node_name(lo, m, node, buf, sizeof(buf));
}

static const struct lo_edge *find_edge(const char *from, const char *to)
{
	for (size_t i = 0; i < lockorder__edge_count(lo); i++) {
		const struct lo_edge *e = lockorder__edge(lo, i);
		char f[256];

		snprintf(f, sizeof(f), "%s", node_name(e->from));
		if (!strcmp(f, from) && !strcmp(node_name(e->to), to))
			return e;
	}
	return NULL;
}

static const char *cycle_lock(const struct lo_cycle *c, uint32_t i)
{
	return node_name(lockorder__edge(lo, c->edges[i])->from);
}

/* The lock_order value as a parsed document; free with jp_free(). */
static struct jp_value *lock_order_json(void)
{
	char *text = NULL, err[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json_writer *w = json_writer__new(f, 2);
	struct jp_value *doc;

	cr_assert(f && w);
	lockorder__json(lo, m, w);
	cr_assert_eq(json_writer__finish(w), 0);
	json_writer__free(w);
	fclose(f);
	doc = jp_parse(text, len, err, sizeof(err));
	cr_assert(doc, "not JSON: %s\n%s", err, text);
	free(text);
	return doc;
}

static char *lock_order_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert(f);
	lockorder__text(lo, m, f);
	fclose(f);
	return text;
}

static void assert_str_at(const struct jp_value *doc, const char *path, const char *want)
{
	const char *got = jp_str(jp_path(doc, path));

	cr_assert(got, "%s is not a string", path);
	cr_assert_str_eq(got, want, "%s", path);
}

static void assert_uint_at(const struct jp_value *doc, const char *path, uint64_t want)
{
	uint64_t got;

	cr_assert(jp_uint(jp_path(doc, path), &got), "%s is not an integer", path);
	cr_assert_eq(got, want, "%s: %lu, not %lu", path, (unsigned long)got, (unsigned long)want);
}

Test(lockorder, inverted_order_in_two_threads_is_one_cycle)
{
	const struct lo_edge *ab, *ba;
	const struct lo_cycle *c;

	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T2, LOCK_B, LOCK_A, 2);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__edge_count(lo), 2);
	ab = find_edge("lock_a", "lock_b");
	ba = find_edge("lock_b", "lock_a");
	cr_assert(ab && ba);
	cr_assert_eq(ab->count, 2);
	cr_assert_eq(ab->ntids, 1);
	cr_assert_eq(ab->tids[0], T1);
	cr_assert_eq(ab->stack_id, 1);
	cr_assert_eq(ab->first_tid, T1);
	cr_assert_eq(ba->count, 1);
	cr_assert_eq(ba->tids[0], T2);
	cr_assert_eq(ba->stack_id, 2);
	cr_assert(ab->in_cycle && ba->in_cycle);
	cr_assert_not(ab->try_only);

	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	cr_assert_eq(lockorder__cycle_count(lo, true), 0);
	c = lockorder__cycle(lo, false, 0);
	cr_assert_eq(c->len, 2);
	cr_assert_str_eq(cycle_lock(c, 0), "lock_a");
	cr_assert_str_eq(cycle_lock(c, 1), "lock_b");
	cr_assert_eq(lockorder__edge(lo, c->edges[0]), ab);
	cr_assert_eq(lockorder__edge(lo, c->edges[1]), ba);
}

Test(lockorder, json_matches_the_contract)
{
	struct jp_value *doc;

	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T2, LOCK_B, LOCK_A, 2);
	nest(T1, GATE, LOCK_C, 3);
	cr_assert_eq(lockorder__finish(lo), 0);
	doc = lock_order_json();

	cr_assert_eq(jp_get(doc, "edges")->type, JP_ARRAY);
	cr_assert_eq(jp_get(doc, "edges")->len, 3);
	assert_str_at(doc, "edges.0.from", "lock_a");
	assert_str_at(doc, "edges.0.to", "lock_b");
	assert_uint_at(doc, "edges.0.count", 1);
	assert_uint_at(doc, "edges.0.tids.0", T1);
	cr_assert_eq(jp_path(doc, "edges.0.tids")->len, 1);
	assert_str_at(doc, "edges.0.stack.0", "f1 (t.c:1)");
	assert_str_at(doc, "edges.0.stack.1", "worker (t.c:100)");
	assert_str_at(doc, "edges.2.from", "gate");
	assert_str_at(doc, "edges.2.to", "lock_c");

	cr_assert_eq(jp_get(doc, "cycles")->len, 1);
	cr_assert_eq(jp_path(doc, "cycles.0.locks")->len, 2);
	assert_str_at(doc, "cycles.0.locks.0", "lock_a");
	assert_str_at(doc, "cycles.0.locks.1", "lock_b");
	cr_assert_eq(jp_path(doc, "cycles.0.edges")->len, 2);
	assert_str_at(doc, "cycles.0.edges.0.from", "lock_a");
	assert_str_at(doc, "cycles.0.edges.0.to", "lock_b");
	assert_uint_at(doc, "cycles.0.edges.0.tids.0", T1);
	assert_str_at(doc, "cycles.0.edges.0.stack.0", "f1 (t.c:1)");
	assert_str_at(doc, "cycles.0.edges.1.from", "lock_b");
	assert_uint_at(doc, "cycles.0.edges.1.tids.0", T2);
	assert_str_at(doc, "cycles.0.edges.1.stack.0", "f2 (t.c:2)");
	cr_assert_eq(jp_get(doc, "suppressed")->type, JP_ARRAY);
	cr_assert_eq(jp_get(doc, "suppressed")->len, 0);
	cr_assert_eq(doc->len, 3, "exactly the contract's members");
	jp_free(doc);
}

Test(lockorder, a_common_gate_suppresses_the_cycle)
{
	const struct lo_cycle *c;
	struct jp_value *doc;

	acq(T1, GATE, 0);
	nest(T1, LOCK_A, LOCK_B, 1);
	rel(T1, GATE);
	acq(T2, GATE, 0);
	nest(T2, LOCK_B, LOCK_A, 2);
	rel(T2, GATE);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
	cr_assert_eq(lockorder__cycle_count(lo, true), 1);
	c = lockorder__cycle(lo, true, 0);
	cr_assert_str_eq(node_name(c->guard), "gate");
	cr_assert(find_edge("lock_a", "lock_b")->in_suppressed);
	cr_assert_not(find_edge("lock_a", "lock_b")->in_cycle);
	/* gate -> lock_a and gate -> lock_b are plain edges */
	cr_assert_eq(lockorder__edge_count(lo), 4);

	doc = lock_order_json();
	cr_assert_eq(jp_get(doc, "cycles")->len, 0);
	cr_assert_eq(jp_get(doc, "suppressed")->len, 1);
	assert_str_at(doc, "suppressed.0.locks.0", "lock_a");
	assert_str_at(doc, "suppressed.0.locks.1", "lock_b");
	assert_str_at(doc, "suppressed.0.guarded_by", "gate");
	jp_free(doc);
}

Test(lockorder, a_gate_held_only_sometimes_gates_nothing)
{
	acq(T1, GATE, 0);
	nest(T1, LOCK_A, LOCK_B, 1);
	rel(T1, GATE);
	nest(T1, LOCK_A, LOCK_B, 1); /* the same edge without the gate */
	acq(T2, GATE, 0);
	nest(T2, LOCK_B, LOCK_A, 2);
	rel(T2, GATE);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(find_edge("lock_a", "lock_b")->nguards, 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	cr_assert_eq(lockorder__cycle_count(lo, true), 0);
}

Test(lockorder, a_gate_held_for_reading_gates_nothing)
{
	acq_full(T1, RW, LS_KIND_RWLOCK, LS_ACQ_SHARED, 0);
	nest(T1, LOCK_A, LOCK_B, 1);
	rel(T1, RW);
	acq_full(T2, RW, LS_KIND_RWLOCK, LS_ACQ_SHARED, 0);
	nest(T2, LOCK_B, LOCK_A, 2);
	rel(T2, RW);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	cr_assert_eq(lockorder__cycle_count(lo, true), 0);
}

Test(lockorder, consistent_order_makes_edges_only)
{
	const struct lo_edge *e;
	struct jp_value *doc;
	char *text;

	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T2, LOCK_A, LOCK_B, 2);
	acq(T3, LOCK_A, 0);
	acq(T3, LOCK_B, 0);
	acq(T3, LOCK_C, 3); /* A -> C and B -> C: every lock held, not just the last */
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__edge_count(lo), 3);
	e = find_edge("lock_a", "lock_b");
	cr_assert_eq(e->count, 3);
	cr_assert_eq(e->ntids, 3);
	cr_assert_eq(e->tids[0], T1);
	cr_assert_eq(e->tids[1], T2);
	cr_assert_eq(e->tids[2], T3);
	cr_assert_eq(e->stack_id, 1, "the first occurrence's stack");
	cr_assert(find_edge("lock_a", "lock_c"));
	cr_assert(find_edge("lock_b", "lock_c"));
	/* lock_b was held alongside lock_a when lock_c was taken: each guards the other's edge */
	cr_assert_eq(find_edge("lock_a", "lock_c")->nguards, 1);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
	cr_assert_eq(lockorder__cycle_count(lo, true), 0);

	doc = lock_order_json();
	cr_assert_eq(jp_get(doc, "edges")->len, 3);
	cr_assert_eq(jp_get(doc, "cycles")->len, 0);
	jp_free(doc);
	text = lock_order_text();
	cr_assert(strstr(text, "No lock-order cycles"), "%s", text);
	free(text);
}

Test(lockorder, a_trylock_closing_the_cycle_cannot_deadlock)
{
	nest(T1, LOCK_A, LOCK_B, 1);
	acq(T2, LOCK_B, 0);
	acq_full(T2, LOCK_A, LS_KIND_MUTEX, LS_ACQ_TRY, 2);
	rel(T2, LOCK_A);
	rel(T2, LOCK_B);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__edge_count(lo), 2);
	cr_assert(find_edge("lock_b", "lock_a")->try_only);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
	cr_assert_eq(lockorder__cycle_count(lo, true), 0);
}

Test(lockorder, a_blocking_occurrence_makes_the_edge_blocking)
{
	nest(T1, LOCK_A, LOCK_B, 1);
	acq(T2, LOCK_B, 0);
	acq_full(T2, LOCK_A, LS_KIND_MUTEX, LS_ACQ_TRY, 2);
	rel(T2, LOCK_A);
	acq(T2, LOCK_A, 2);
	rel(T2, LOCK_A);
	rel(T2, LOCK_B);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_not(find_edge("lock_b", "lock_a")->try_only);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
}

Test(lockorder, rwlock_readers_both_ways_cannot_deadlock)
{
	char *text;

	/* worker-1 reads the table, then takes lock_a; worker-2 holds lock_a and reads the table */
	acq_full(T1, RW, LS_KIND_RWLOCK, LS_ACQ_SHARED, 0);
	acq(T1, LOCK_A, 1);
	rel(T1, LOCK_A);
	rel(T1, RW);
	acq(T2, LOCK_A, 0);
	acq_full(T2, RW, LS_KIND_RWLOCK, LS_ACQ_SHARED, 2);
	rel(T2, RW);
	rel(T2, LOCK_A);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__edge_count(lo), 2);
	cr_assert(find_edge("table_rw", "lock_a")->from_shared);
	cr_assert(find_edge("lock_a", "table_rw")->to_shared);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
	cr_assert_eq(lockorder__cycle_count(lo, true), 0);
	cr_assert_eq(lockorder__omitted(lo)->readers_only, 1);
	text = lock_order_text();
	cr_assert(strstr(text, "1 cycle left out"), "%s", text);
	cr_assert(strstr(text, "readers do not block readers"), "%s", text);
	free(text);
}

Test(lockorder, rwlock_writer_against_reader_can_deadlock)
{
	acq_full(T1, RW, LS_KIND_RWLOCK, LS_ACQ_SHARED, 0);
	acq(T1, LOCK_A, 1);
	rel(T1, LOCK_A);
	rel(T1, RW);
	acq(T2, LOCK_A, 0);
	acq_full(T2, RW, LS_KIND_RWLOCK, 0, 2); /* the write side waits for the reader */
	rel(T2, RW);
	rel(T2, LOCK_A);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	cr_assert_eq(lockorder__omitted(lo)->readers_only, 0);
}

Test(lockorder, a_destroyed_address_reused_is_another_lock)
{
	nest(T1, LOCK_A, LOCK_B, 1);
	destroy(T1, LOCK_A);
	/* a new lock at lock_a's address, taken in the other order: no cycle */
	nest(T2, LOCK_B, LOCK_A, 2);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__node_count(lo), 3);
	cr_assert_eq(lockorder__node(lo, 2)->addr, LOCK_A);
	cr_assert_eq(lockorder__node(lo, 2)->generation, 1);
	cr_assert(find_edge("lock_b", "lock_a #2"));
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
}

Test(lockorder, destroy_drops_the_lock_from_held_sets)
{
	acq(T1, LOCK_A, 0);
	destroy(T2, LOCK_A);
	acq(T1, LOCK_B, 1); /* lock_a is gone: nothing held */
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

Test(lockorder, window_edges_reset_what_threads_hold)
{
	nest(T1, LOCK_A, LOCK_B, 1);
	acq(T2, LOCK_B, 0);
	window(0);
	rel(T2, LOCK_B); /* unseen in reality; ignored here as not held */
	window(1);
	acq(T2, LOCK_A, 2); /* lock_b's hold was not seen through the window */
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__edge_count(lo), 1, "edges stay across windows");
	cr_assert(find_edge("lock_a", "lock_b"));
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
}

static void lost(void)
{
	struct ls_rec r = {.type = LS_REC_LOST};

	r.lost.count = 1;
	feed(r);
}

/* MariaDB's rw_pr_wrlock under sysbench with a full ring buffer: two heap locks taken one after
 * the other, never nested, whose releases were among the lost events. */
Test(lockorder, a_release_lost_makes_no_edge_after_the_loss)
{
	acq(T1, LOCK_A, 0);
	lost(); /* T1's release of lock_a was lost */
	acq(T1, LOCK_B, 1);
	rel(T1, LOCK_B);
	acq(T2, LOCK_B, 0);
	lost(); /* and T2's of lock_b */
	acq(T2, LOCK_A, 2);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
}

Test(lockorder, a_wait_after_a_loss_makes_no_edge_from_doubtful_holds)
{
	acq(T1, LOCK_A, 0);
	lost();
	wait_on(T1, LOCK_B, LS_KIND_MUTEX, 1); /* its ACQUIRE lost too: the attempt stands alone */
	rel(T1, LOCK_C);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

/* The probes came out while T1 held lock_a; it let it go unseen, then waited for lock_b before
 * the trace's window ended: a wait seen by the futex probes alone. */
Test(lockorder, a_wait_outside_a_probed_call_makes_no_edge)
{
	struct ls_rec r = {.type = LS_REC_WAIT_BEGIN, .tid = T1};

	acq(T1, LOCK_A, 0);
	r.wait_begin.addr = LOCK_B;
	r.wait_begin.kind = LS_KIND_MUTEX;
	feed(r);
	window(0);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

Test(lockorder, locks_taken_after_a_loss_are_ordered_again)
{
	acq(T1, LOCK_A, 0);
	lost();
	acq(T1, LOCK_B, 1);
	acq(T1, LOCK_C, 2); /* lock_b surely held: seen taken since the loss */
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 1);
	cr_assert(find_edge("lock_b", "lock_c"));
}

/* A gate forgotten at a loss would report a cycle that the gate makes impossible. */
Test(lockorder, a_gate_taken_before_a_loss_still_gates)
{
	acq(T1, GATE, 0);
	lost();
	acq(T1, LOCK_A, 0);
	acq(T1, LOCK_B, 1);
	rel(T1, LOCK_B);
	rel(T1, LOCK_A);
	rel(T1, GATE);
	acq(T2, GATE, 0);
	acq(T2, LOCK_B, 0);
	acq(T2, LOCK_A, 2);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
	cr_assert_eq(lockorder__cycle_count(lo, true), 1);
}

Test(lockorder, a_gate_taken_before_a_window_edge_still_gates)
{
	acq(T1, GATE, 0);
	window(0);
	window(1);
	acq(T1, LOCK_A, 0);
	acq(T1, LOCK_B, 1);
	acq(T2, GATE, 0);
	acq(T2, LOCK_B, 0);
	acq(T2, LOCK_A, 2);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
}

/* Retaking a lock held before a loss may be recursion, which blocks on nothing: no edge into it,
 * but edges out of it again, since it is surely held now. */
Test(lockorder, a_lock_retaken_after_a_loss_makes_no_edge_into_it)
{
	acq(T1, LOCK_A, 0);
	lost();
	acq(T1, LOCK_B, 1);
	acq(T1, LOCK_A, 2); /* recursive, perhaps */
	acq(T1, LOCK_C, 3);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_null(find_edge("lock_b", "lock_a"));
	cr_assert(find_edge("lock_a", "lock_c"));
	cr_assert(find_edge("lock_b", "lock_c"));
}

Test(lockorder, a_hold_inferred_at_attach_makes_no_edge)
{
	acq_full(T1, LOCK_A, LS_KIND_MUTEX, LS_ACQ_INFERRED, 0);
	acq(T1, LOCK_B, 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

Test(lockorder, thread_exit_drops_what_it_held)
{
	struct ls_rec ex = {.type = LS_REC_THREAD_EXIT, .tid = T1};

	acq(T1, LOCK_A, 0);
	feed(ex);
	acq(T1, LOCK_B, 1); /* tid reused by a new thread */
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

Test(lockorder, recursion_on_one_lock_is_nothing)
{
	acq(T1, LOCK_A, 0);
	acq(T1, LOCK_A, 1);
	rel(T1, LOCK_A);
	acq(T1, LOCK_B, 2); /* lock_a still held once */
	rel(T1, LOCK_B);
	rel(T1, LOCK_A);
	acq(T1, LOCK_C, 3); /* nothing held now */
	rel(T1, LOCK_C);
	rel(T2, LOCK_C); /* not held by T2: ignored */
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__edge_count(lo), 1);
	cr_assert(find_edge("lock_a", "lock_b"));
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
}

Test(lockorder, one_thread_taking_both_orders_is_still_reported)
{
	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T1, LOCK_B, LOCK_A, 2);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
}

Test(lockorder, semaphores_are_not_owned_so_not_ordered)
{
	acq_full(T1, LOCK_C, LS_KIND_SEM, 0, 0); /* sem_wait; another thread will post */
	acq(T1, LOCK_A, 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

Test(lockorder, three_locks_in_a_ring)
{
	const struct lo_cycle *c;
	char *text;

	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T2, LOCK_B, LOCK_C, 2);
	nest(T3, LOCK_C, LOCK_A, 3);
	cr_assert_eq(lockorder__finish(lo), 0);

	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	c = lockorder__cycle(lo, false, 0);
	cr_assert_eq(c->len, 3);
	cr_assert_str_eq(cycle_lock(c, 0), "lock_a");
	cr_assert_str_eq(cycle_lock(c, 1), "lock_b");
	cr_assert_str_eq(cycle_lock(c, 2), "lock_c");

	text = lock_order_text();
	cr_assert(strstr(text, "Potential deadlocks (lock-order cycles): 1"), "%s", text);
	cr_assert(strstr(text, "lock_a -> lock_b -> lock_c -> lock_a"), "%s", text);
	cr_assert(strstr(text, "thread 101 (worker-1) took lock_b while holding lock_a"), "%s",
		  text);
	cr_assert(strstr(text, "thread 102 (worker-2) took lock_c while holding lock_b"), "%s",
		  text);
	cr_assert(strstr(text, "thread 103 took lock_a while holding lock_c"), "%s", text);
	cr_assert(strstr(text, "f1 (t.c:1)"), "%s", text);
	free(text);
}

Test(lockorder, text_lists_suppressed_cycles_with_their_gate)
{
	char *text;

	acq(T1, GATE, 0);
	nest(T1, LOCK_A, LOCK_B, 1);
	rel(T1, GATE);
	acq(T2, GATE, 0);
	nest(T2, LOCK_B, LOCK_A, 2);
	rel(T2, GATE);
	cr_assert_eq(lockorder__finish(lo), 0);
	text = lock_order_text();
	cr_assert(strstr(text, "No lock-order cycles"), "%s", text);
	cr_assert(strstr(text, "lock_a -> lock_b -> lock_a  guarded by gate"), "%s", text);
	free(text);
}

Test(lockorder, unnamed_locks_are_named_by_address)
{
	struct jp_value *doc;

	nest(T1, 0x7f0000001000ull, 0x7f0000002000ull, 0);
	cr_assert_eq(lockorder__finish(lo), 0);
	doc = lock_order_json();
	assert_str_at(doc, "edges.0.from", "0x7f0000001000");
	assert_str_at(doc, "edges.0.to", "0x7f0000002000");
	cr_assert_eq(jp_path(doc, "edges.0.stack")->len, 0);
	jp_free(doc);
}

/* Locks 0x1000, 0x2000, ...: N of them, each ordered after the one before, the last before the
 * first. */
static void ring(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		nest(1000 + i, 0x1000 * (i + 1), 0x1000 * ((i + 1) % n + 1), 0);
}

Test(lockorder, cycles_up_to_the_length_cap_are_found)
{
	ring(LOCKORDER_MAX_LEN);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	cr_assert_eq(lockorder__cycle(lo, false, 0)->len, LOCKORDER_MAX_LEN);
	cr_assert_not(lockorder__omitted(lo)->length_limited);
}

Test(lockorder, longer_cycles_are_cut_and_said_so)
{
	char *text;

	ring(LOCKORDER_MAX_LEN + 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0);
	cr_assert(lockorder__omitted(lo)->length_limited);
	text = lock_order_text();
	cr_assert(strstr(text, "longer than 8 locks"), "%s", text);
	free(text);
}

Test(lockorder, the_cycle_cap_counts_what_it_cuts)
{
	const unsigned int n = 6;
	struct jp_value *doc;
	char *text;

	/* every order between 6 locks: 409 elementary cycles */
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = 0; j < n; j++)
			if (i != j)
				nest(1000 + i, 0x1000 * (i + 1), 0x1000 * (j + 1), 0);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 30);
	cr_assert_eq(lockorder__cycle_count(lo, false), LOCKORDER_MAX_CYCLES);
	cr_assert_eq(lockorder__omitted(lo)->over_cap, 409 - LOCKORDER_MAX_CYCLES);
	/* the kept ones come shortest first */
	cr_assert_eq(lockorder__cycle(lo, false, 0)->len, 2);
	cr_assert_eq(lockorder__cycle(lo, false, 14)->len, 2);
	cr_assert_eq(lockorder__cycle(lo, false, 15)->len, 3);
	doc = lock_order_json();
	cr_assert_eq(jp_get(doc, "cycles")->len, LOCKORDER_MAX_CYCLES);
	jp_free(doc);
	text = lock_order_text();
	cr_assert(strstr(text, "345 more cycles not listed (at most 64 are)"), "%s", text);
	free(text);
}

Test(lockorder, lock_calls_that_never_return_still_order_their_locks)
{
	const struct lo_edge *ab, *ba;
	char *text;

	/* the classic deadlock: neither second lock call ever returns */
	acq(T1, LOCK_A, 0);
	acq(T2, LOCK_B, 0);
	wait_on(T1, LOCK_B, LS_KIND_MUTEX, 1);
	wait_on(T2, LOCK_A, LS_KIND_MUTEX, 2);
	wait_on(T2, LOCK_A, LS_KIND_MUTEX, 2); /* the same call waiting again */
	cr_assert_eq(lockorder__finish(lo), 0);

	ab = find_edge("lock_a", "lock_b");
	ba = find_edge("lock_b", "lock_a");
	cr_assert(ab && ba);
	cr_assert_eq(ab->count, 1);
	cr_assert_eq(ab->stack_id, 1);
	cr_assert_eq(ba->count, 1);
	cr_assert_eq(ba->stack_id, 2);
	cr_assert(ab->waited_only && ba->waited_only);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	text = lock_order_text();
	cr_assert(strstr(text, "thread 101 (worker-1) waited to take lock_b while holding lock_a"),
		  "%s", text);
	free(text);
}

Test(lockorder, a_wait_then_its_acquire_is_one_occurrence)
{
	const struct lo_edge *e;

	acq(T1, LOCK_A, 0);
	wait_on(T1, LOCK_B, LS_KIND_MUTEX, 2);
	wait_on(T1, LOCK_B, LS_KIND_MUTEX, 2);
	acq(T1, LOCK_B, 1);
	rel(T1, LOCK_B);
	wait_on(T1, LOCK_C, LS_KIND_MUTEX, 3); /* a timed call that gave up ... */
	rel(T1, LOCK_A);		       /* ... still waited while holding lock_a */
	cr_assert_eq(lockorder__finish(lo), 0);

	e = find_edge("lock_a", "lock_b");
	cr_assert_eq(e->count, 1);
	cr_assert_eq(e->stack_id, 1, "the ACQUIRE's stack");
	cr_assert_not(e->waited_only);
	cr_assert_eq(find_edge("lock_a", "lock_c")->count, 1);
	cr_assert_eq(lockorder__edge_count(lo), 2);
}

Test(lockorder, waits_inside_other_kinds_make_no_edge)
{
	acq(T1, LOCK_A, 0);
	wait_on(T1, RW + 8, LS_KIND_RWLOCK, 1); /* an rwlock waits on a word inside it */
	wait_on(T1, LOCK_C, LS_KIND_COND, 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__edge_count(lo), 0);
}

/* A CPython lock's ACQUIRE: its call began at CALL_TS (the feed's clock runs 10 per record). */
static void acq_py(uint32_t tid, uint64_t addr, uint64_t call_ts, uint8_t flags)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .tid = tid};

	r.acquire.addr = addr;
	r.acquire.kind = LS_KIND_MUTEX;
	r.acquire.flags = LS_ACQ_PY | flags;
	r.acquire.call_ts = call_ts;
	feed(r);
}

/* Condition.wait, as the probes see it: T1 holds the condition's lock C, acquires a fresh
 * waiter lock W, lets C go and acquires W again, which T2's notify() releases; then T1 takes
 * C back while "holding" W. The edges C -> W -> C are one thread's and no lock order: W is a
 * signal, whether T2's release of it was seen (NOTIFY_SEEN) or not. */
static void condition_wait(uint64_t waiter, bool notify_seen)
{
	acq_py(T1, LOCK_C, now + 1, 0);
	acq_py(T1, waiter, now + 1, 0);	/* the waiter, taken at once */
	rel(T1, LOCK_C);
	if (notify_seen)
		rel(T2, waiter);	/* notify(): another thread releases the waiter */
	acq_py(T1, waiter, now + 1, 0);	/* taken again: someone released it meanwhile */
	acq_py(T1, LOCK_C, now + 1, 0);
	rel(T1, LOCK_C);
	destroy(T1, waiter);	/* the waiter is freed with its last reference */
}

Test(lockorder, a_condition_waiter_orders_nothing)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct jp_value *doc;

	condition_wait(LOCK_A, true);
	condition_wait(LOCK_B, false);	/* another wait, its notify unseen (out of a window) */
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0, "a waiter closed a cycle");
	cr_assert(lockorder__node(lo, 1)->signal, "the waiter is not seen as a signal");
	cr_assert(lockorder__node(lo, 2)->signal, "the waiter is not seen as a signal");
	cr_assert_not(lockorder__node(lo, 0)->signal, "the condition's lock is a lock");
	cr_assert_eq(lockorder__omitted(lo)->signal_edges, 4);
	doc = lock_order_json();
	cr_assert_eq(jp_get(doc, "edges")->len, 0, "a signal's edges are listed");
	jp_free(doc);
	lockorder__text(lo, m, out);
	fclose(out);
	cr_assert(strstr(text, "4 order edges left out: to or from a CPython lock used as a signal"),
		  "%s", text);
	free(text);
}

/* Event.wait in the main thread, a signal's handler calling Event.set: T1 holds the condition's
 * lock C, takes a fresh waiter W, lets C go and waits on W, its own, in a second acquire; the
 * signal interrupts it (the acquire fails: no ACQUIRE) and the handler, run inside it, takes C
 * and notify() releases W in the same thread; the acquire is made again and gets W; C is taken
 * back. The edges C -> W -> C are one thread's and no order: the wait on W, its holder's,
 * tells W is a signal, also where its frames came too late to place it (LS_KIND_UNPLACED). */
Test(lockorder, a_waiter_released_by_a_handler_in_its_own_wait_orders_nothing)
{
	for (int unplaced = 0; unplaced < 2; unplaced++) {
		uint64_t waiter = unplaced ? LOCK_B : LOCK_A;

		acq_py(T1, LOCK_C, now + 1, 0);
		acq_py(T1, waiter, now + 1, 0);
		rel(T1, LOCK_C);
		wait_on(T1, waiter, unplaced ? LS_KIND_UNPLACED : LS_KIND_MUTEX, 0);
		acq_py(T1, LOCK_C, now + 1, 0);	/* the handler: Event.set */
		rel(T1, waiter);		/* notify() */
		rel(T1, LOCK_C);
		acq_py(T1, waiter, now + 1, 0);	/* the acquire, made again */
		acq_py(T1, LOCK_C, now + 1, 0);
		rel(T1, LOCK_C);
		destroy(T1, waiter);
	}
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 0, "a waiter closed a cycle");
	cr_assert(lockorder__node(lo, 1)->signal, "the waiter is not seen as a signal");
	cr_assert(lockorder__node(lo, 2)->signal, "the unplaced waiter is not seen as a signal");
	cr_assert_not(lockorder__node(lo, 0)->signal, "the condition's lock is a lock");
}

/* Where the interpreter's sem_wait is probed too, it returns inside PyThread_acquire_lock_timed:
 * two ACQUIREs, the outer one's call begun before the inner one returned. One taking: the lock
 * stays a lock, and its inversion is a cycle. */
Test(lockorder, a_python_lock_probed_twice_is_still_a_lock)
{
	uint64_t call;

	call = now + 1;
	acq_py(T1, LOCK_A, call + 2, 0);	/* sem_wait, called inside */
	acq_py(T1, LOCK_A, call, 0);		/* PyThread_acquire_lock_timed */
	acq_py(T1, LOCK_B, now + 1, 0);
	rel(T1, LOCK_B);
	rel(T1, LOCK_B);
	rel(T1, LOCK_A);
	rel(T1, LOCK_A);	/* sem_post after PyThread_release_lock: no holder left, no one else */
	acq_py(T2, LOCK_B, now + 1, 0);
	acq_py(T2, LOCK_A, now + 1, 0);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_not(lockorder__node(lo, 0)->signal);
	cr_assert_not(lockorder__node(lo, 1)->signal);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
}

/* A pthread mutex is never judged a signal: only CPython's locks may be released by another. */
Test(lockorder, a_mutex_unlocked_by_another_thread_stays_a_lock)
{
	acq(T1, LOCK_A, 0);
	rel(T2, LOCK_A);
	acq(T1, LOCK_B, 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_not(lockorder__node(lo, 0)->signal);
	cr_assert_eq(lockorder__edge_count(lo), 1);
}

/* A hold read from frames (attach, or holders inferred while recording) came at an unknown
 * time: it is held from then on, but orders nothing by itself. */
/* A hold deduced from a thread's frames came at an unknown time and may end unseen: it orders
 * nothing, into it or from it; the thread's probed holds order as before. */
Test(lockorder, an_inferred_hold_orders_nothing)
{
	acq(T1, LOCK_A, 0);
	acq_py(T1, LOCK_B, 0, LS_ACQ_INFERRED);
	acq(T1, LOCK_C, 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_null(find_edge("lock_a", "lock_b"));
	cr_assert_not_null(find_edge("lock_a", "lock_c"));
	cr_assert_null(find_edge("lock_b", "lock_c"));
}

/* An address reused by another lock: the lock its name was given to has it bare, the others at
 * the address are numbered by their place among its identities. */
Test(lockorder, a_reused_address_numbers_the_locks_its_name_was_not_given_to)
{
	char buf[128];

	nest(T1, LOCK_C, GATE, 1);	/* GATE's first identity, named "gate" in setup */
	destroy(T1, GATE);
	nest(T1, LOCK_C, GATE, 1);	/* its second */
	destroy(T1, GATE);
	name_lock(GATE, LS_KIND_MUTEX, "fresh_lock");	/* named between identities: the next's */
	nest(T1, LOCK_C, GATE, 1);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_str_eq(lockorder__node_name(lo, m, 1, buf, sizeof(buf)), "fresh_lock #1");
	cr_assert_str_eq(lockorder__node_name(lo, m, 2, buf, sizeof(buf)), "fresh_lock #2");
	cr_assert_str_eq(lockorder__node_name(lo, m, 3, buf, sizeof(buf)), "fresh_lock");
}

/* The interpreter's own locks (kind internal) in an order of their own: not the program's to
 * fix, so not listed, and counted; with a lock of the program's on the cycle, it is. */
Test(lockorder, cycles_of_the_interpreters_own_locks_are_counted_not_listed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct jp_value *doc;

	name_lock(LOCK_A, LS_KIND_INTERNAL, "_PyRuntime+0x1b8");
	name_lock(LOCK_B, LS_KIND_INTERNAL, "import lock");
	nest(T1, LOCK_A, LOCK_B, 1);
	nest(T1, LOCK_B, LOCK_A, 2);
	nest(T2, LOCK_C, LOCK_A, 3);
	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__cycle_count(lo, false), 1);
	cr_assert_eq(lockorder__internal_cycles(lo, m), 1);
	cr_assert_eq(lockorder__internal_edges(lo, m), 3);
	doc = lock_order_json();
	cr_assert_eq(jp_get(doc, "cycles")->len, 0);
	cr_assert_eq(jp_get(doc, "edges")->len, 0);
	jp_free(doc);
	lockorder__text(lo, m, out);
	fclose(out);
	cr_assert(strstr(text, "No lock-order cycles (0 order edges)."), "%s", text);
	cr_assert(strstr(text, "3 order edges and 1 cycle between the interpreter's own locks"),
		  "%s", text);
	free(text);
}

Test(lockorder, nothing_is_fed_after_finish)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .tid = T1};

	cr_assert_eq(lockorder__finish(lo), 0);
	cr_assert_eq(lockorder__feed(lo, &r), -EINVAL);
	lockorder__free(NULL);
}
