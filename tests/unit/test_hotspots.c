/* test_hotspots.c - contention per lock from hand-built wait records: exact sums, maxima,
 * waiters, owners and stacks; what is not contention; waits cut by the end of the trace. */
#include <criterion/criterion.h>
#include <errno.h>

#include "analysis/hotspots.h"
#include "recs.h"

#define MUTEX_A 0x5581d2a0ull
#define MUTEX_B 0x5581d2e0ull
#define COND 0x7ffc1000ull
#define JOIN 0x7f0000a910ull

static void feed(struct hotspots *h, struct ls_rec r)
{
	cr_assert_eq(hotspots__feed(h, NULL, &r), 0, "record type %d at %lu", r.type,
		     (unsigned long)r.ts);
}

/* One complete wait of TID on ADDR from B to E. */
static void wait(struct hotspots *h, uint32_t tid, uint64_t addr, uint8_t kind, uint64_t b,
		 uint64_t e, uint32_t owner, uint32_t stack_id)
{
	feed(h, wait_begin(b, tid, addr, kind, owner, stack_id));
	feed(h, wait_end(e, tid, LS_WAIT_WOKEN));
}

static struct hotspots *hs;

static void setup(void)
{
	hs = hotspots__new();
	cr_assert(hs);
}

static void teardown(void)
{
	hotspots__free(hs);
}

TestSuite(hotspots, .init = setup, .fini = teardown);

Test(hotspots, two_threads_contending_one_mutex)
{
	const struct hs_lock *l;

	wait(hs, 101, MUTEX_A, LS_KIND_MUTEX, 100, 400, 102, 1);
	wait(hs, 102, MUTEX_A, LS_KIND_MUTEX, 500, 600, 101, 2);
	wait(hs, 101, MUTEX_A, LS_KIND_MUTEX, 700, 1700, 102, 1);
	cr_assert_eq(hotspots__finish(hs, 2000), 0);

	cr_assert_eq(hotspots__count(hs, HS_LOCKS), 1);
	cr_assert_eq(hotspots__count(hs, HS_OTHER), 0);
	l = hotspots__get(hs, HS_LOCKS, 0);
	cr_assert_eq(l->addr, MUTEX_A);
	cr_assert_eq(l->kind, LS_KIND_MUTEX);
	cr_assert_not(l->other);
	cr_assert_eq(l->count, 3);
	cr_assert_eq(l->wait_ns, 300 + 100 + 1000);
	cr_assert_eq(l->max_wait_ns, 1000);
	cr_assert_eq(l->unfinished, 0);

	cr_assert_eq(l->nwaiters, 2);
	cr_assert_eq(l->waiters[0].tid, 101);
	cr_assert_eq(l->waiters[0].wait_ns, 1300);
	cr_assert_eq(l->waiters[0].count, 2);
	cr_assert_eq(l->waiters[1].tid, 102);
	cr_assert_eq(l->waiters[1].wait_ns, 100);
	cr_assert_eq(l->waiters[1].count, 1);

	cr_assert_eq(l->nowners, 2);
	cr_assert_eq(l->owners[0].tid, 102);
	cr_assert_eq(l->owners[0].count, 2);
	cr_assert_eq(l->owners[1].tid, 101);
	cr_assert_eq(l->owners[1].count, 1);

	cr_assert_eq(l->nstacks, 2);
	cr_assert_eq(l->stacks[0].id, 1);
	cr_assert_eq(l->stacks[0].wait_ns, 1300);
	cr_assert_eq(l->stacks[0].count, 2);
	cr_assert_eq(l->stacks[1].id, 2);
	cr_assert_eq(l->stacks[1].wait_ns, 100);
	cr_assert_eq(l->stacks[1].count, 1);
	cr_assert_eq(hotspots__unpaired(hs), 0);
}

Test(hotspots, interleaved_threads_pair_by_thread)
{
	const struct hs_lock *a, *b;

	/* 1 and 2 wait on A, 3 on B, their begins and ends interleaved */
	feed(hs, wait_begin(10, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_begin(20, 2, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_begin(25, 3, MUTEX_B, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_end(30, 2, LS_WAIT_WOKEN));  /* 2: 10 */
	feed(hs, wait_end(75, 3, LS_WAIT_WOKEN));  /* 3: 50 */
	feed(hs, wait_end(110, 1, LS_WAIT_WOKEN)); /* 1: 100 */
	feed(hs, wait_begin(120, 2, MUTEX_B, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_end(125, 2, LS_WAIT_WOKEN)); /* 2: 5 on B */
	cr_assert_eq(hotspots__finish(hs, 200), 0);

	a = hotspots__find(hs, HS_LOCKS, MUTEX_A);
	b = hotspots__find(hs, HS_LOCKS, MUTEX_B);
	cr_assert(a && b);
	cr_assert_eq(a->wait_ns, 110);
	cr_assert_eq(a->count, 2);
	cr_assert_eq(a->max_wait_ns, 100);
	cr_assert_eq(b->wait_ns, 55);
	cr_assert_eq(b->count, 2);
	cr_assert_eq(b->waiters[0].tid, 3);
	cr_assert_eq(b->waiters[1].tid, 2);
	/* ranked by total wait */
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 0), a);
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 1), b);
	cr_assert_null(hotspots__get(hs, HS_LOCKS, 2));
}

Test(hotspots, cond_and_join_waits_are_not_contention)
{
	const struct hs_lock *c, *j;

	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 0, 10, 2, 0);
	wait(hs, 1, COND, LS_KIND_COND, 100, 5100, 0, 3);
	wait(hs, 2, COND, LS_KIND_COND, 200, 1200, 0, 3);
	wait(hs, 1, JOIN, LS_KIND_JOIN, 6000, 9000, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 10000), 0);

	cr_assert_eq(hotspots__count(hs, HS_LOCKS), 1);
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 0)->addr, MUTEX_A);
	cr_assert_eq(hotspots__count(hs, HS_OTHER), 2);
	c = hotspots__get(hs, HS_OTHER, 0);
	j = hotspots__get(hs, HS_OTHER, 1);
	cr_assert_eq(c->addr, COND);
	cr_assert(c->other);
	cr_assert_eq(c->kind, LS_KIND_COND);
	cr_assert_eq(c->count, 2);
	cr_assert_eq(c->wait_ns, 6000);
	cr_assert_eq(c->max_wait_ns, 5000);
	cr_assert_eq(c->nwaiters, 2);
	cr_assert_eq(c->waiters[0].tid, 1);
	cr_assert_eq(c->waiters[0].wait_ns, 5000);
	cr_assert_eq(c->nstacks, 1);
	cr_assert_eq(c->stacks[0].count, 2);
	cr_assert_eq(j->addr, JOIN);
	cr_assert_eq(j->kind, LS_KIND_JOIN);
	cr_assert_eq(j->wait_ns, 3000);
	cr_assert_null(hotspots__find(hs, HS_LOCKS, COND));
}

/* CPython's signalling (Event.wait, Queue.get, Barrier.wait, a Semaphore as a signal) waits
 * for another thread, not for a holder: it is listed apart, each under its own kind; so is a
 * CPython lock wait its frames came too late to place, not known to be contention. */
Test(hotspots, python_signalling_kinds_are_not_contention)
{
	static const uint8_t kinds[] = {LS_KIND_EVENT, LS_KIND_QUEUE, LS_KIND_BARRIER,
					LS_KIND_SIGNAL, LS_KIND_UNPLACED};

	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 0, 10, 2, 0);
	for (size_t i = 0; i < sizeof(kinds); i++)
		wait(hs, 2, COND + 64 * i, kinds[i], 100, 1100 + 1000 * i, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 10000), 0);
	cr_assert_eq(hotspots__count(hs, HS_LOCKS), 1);
	cr_assert_eq(hotspots__count(hs, HS_OTHER), sizeof(kinds));
	for (size_t i = 0; i < sizeof(kinds); i++) {
		const struct hs_lock *l = hotspots__find(hs, HS_OTHER, COND + 64 * i);

		cr_assert(l && l->other, "%s is contention", ls_kind_name(kinds[i]));
		cr_assert_eq(l->kind, kinds[i]);
		cr_assert_eq(l->wait_ns, 1000 + 1000 * i);
	}
}

Test(hotspots, wait_open_at_the_end_is_closed_there_and_counted)
{
	const struct hs_lock *l;

	/* a deadlock: each holds what the other waits for, neither ever returns */
	feed(hs, wait_begin(1000, 1, MUTEX_A, LS_KIND_MUTEX, 2, 1));
	feed(hs, wait_begin(1500, 2, MUTEX_B, LS_KIND_MUTEX, 1, 2));
	wait(hs, 3, MUTEX_A, LS_KIND_MUTEX, 100, 200, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 5000), 0);

	l = hotspots__find(hs, HS_LOCKS, MUTEX_A);
	cr_assert_eq(l->count, 2);
	cr_assert_eq(l->wait_ns, 4000 + 100);
	cr_assert_eq(l->max_wait_ns, 4000);
	cr_assert_eq(l->unfinished, 1);
	cr_assert_eq(l->owners[0].tid, 2);
	l = hotspots__find(hs, HS_LOCKS, MUTEX_B);
	cr_assert_eq(l->wait_ns, 3500);
	cr_assert_eq(l->unfinished, 1);
	cr_assert_eq(l->waiters[0].tid, 2);
}

Test(hotspots, reader_synthesised_unfinished_end_counts_as_unfinished)
{
	feed(hs, wait_begin(10, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_end(90, 1, LS_WAIT_UNFINISHED));
	cr_assert_eq(hotspots__finish(hs, 100), 0);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->wait_ns, 80);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->unfinished, 1);
}

Test(hotspots, every_result_counts_with_its_measured_time)
{
	const struct hs_lock *l;
	const uint8_t results[] = {LS_WAIT_WOKEN, LS_WAIT_TIMEOUT, LS_WAIT_CHANGED, LS_WAIT_INTR,
				   LS_WAIT_ERROR};

	for (size_t i = 0; i < sizeof(results); i++) {
		/* -EAGAIN and errors return at once, without sleeping */
		bool slept = results[i] != LS_WAIT_CHANGED && results[i] != LS_WAIT_ERROR;

		feed(hs, wait_begin(1000 * i, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0));
		feed(hs, wait_end(1000 * i + (slept ? 500 : 3), 1, results[i]));
	}
	cr_assert_eq(hotspots__finish(hs, 10000), 0);
	l = hotspots__find(hs, HS_LOCKS, MUTEX_A);
	cr_assert_eq(l->count, 5);
	cr_assert_eq(l->wait_ns, 500 * 3 + 3 * 2);
	cr_assert_eq(l->max_wait_ns, 500);
	cr_assert_eq(l->unfinished, 0);
}

Test(hotspots, records_without_their_other_half_are_counted_not_guessed)
{
	const struct hs_lock *l;

	feed(hs, wait_end(5, 1, LS_WAIT_WOKEN)); /* END without BEGIN */
	feed(hs, wait_begin(10, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_begin(50, 1, MUTEX_B, LS_KIND_MUTEX, 0, 0)); /* first END lost */
	feed(hs, wait_end(60, 1, LS_WAIT_WOKEN));
	feed(hs, wait_end(70, 1, LS_WAIT_WOKEN)); /* second END for one BEGIN */
	cr_assert_eq(hotspots__finish(hs, 100), 0);

	cr_assert_eq(hotspots__unpaired(hs), 3);
	cr_assert_null(hotspots__find(hs, HS_LOCKS, MUTEX_A));
	l = hotspots__find(hs, HS_LOCKS, MUTEX_B);
	cr_assert_eq(l->count, 1);
	cr_assert_eq(l->wait_ns, 10);
}

Test(hotspots, end_before_begin_counts_zero)
{
	feed(hs, wait_begin(100, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_end(90, 1, LS_WAIT_WOKEN));
	cr_assert_eq(hotspots__finish(hs, 100), 0);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->count, 1);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->wait_ns, 0);
}

Test(hotspots, exit_ends_the_waits_it_takes_down)
{
	feed(hs, wait_begin(100, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_begin(200, 2, MUTEX_A, LS_KIND_MUTEX, 0, 0));
	feed(hs, wait_begin(300, 3, MUTEX_B, LS_KIND_MUTEX, 0, 0));
	feed(hs, exit_rec(LS_REC_THREAD_EXIT, 400, 1));
	feed(hs, exit_rec(LS_REC_PROC_EXIT, 1000, 0));
	cr_assert_eq(hotspots__finish(hs, 5000), 0);

	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->wait_ns, 300 + 800);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->unfinished, 0);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_B)->wait_ns, 700);
}

Test(hotspots, unplaced_futex_takes_the_kind_of_a_later_wait)
{
	wait(hs, 1, MUTEX_A, LS_KIND_FUTEX, 0, 10, 0, 0);
	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 20, 30, 0, 0);
	wait(hs, 1, MUTEX_A, LS_KIND_FUTEX, 40, 50, 0, 0);
	wait(hs, 1, MUTEX_B, LS_KIND_SEM, 0, 10, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 100), 0);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->kind, LS_KIND_MUTEX);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_A)->count, 3);
	cr_assert_eq(hotspots__find(hs, HS_LOCKS, MUTEX_B)->kind, LS_KIND_SEM);
}

/* A thread's waits go to the lock each names, whichever lock its wait before was on: another
 * lock, the same address waited on as a condition, the same lock again. */
Test(hotspots, each_wait_goes_to_its_own_lock_and_waiter)
{
	const struct hs_lock *a, *b, *c;

	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 0, 10, 0, 0);
	wait(hs, 2, MUTEX_A, LS_KIND_MUTEX, 0, 20, 0, 0);
	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 100, 200, 0, 0);
	wait(hs, 1, MUTEX_B, LS_KIND_MUTEX, 300, 330, 0, 0);
	wait(hs, 1, MUTEX_A, LS_KIND_COND, 400, 1400, 0, 0);
	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 2000, 2001, 0, 0);
	wait(hs, 2, MUTEX_B, LS_KIND_MUTEX, 2000, 2040, 0, 0);
	wait(hs, 2, MUTEX_B, LS_KIND_MUTEX, 3000, 3050, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 10000), 0);
	a = hotspots__find(hs, HS_LOCKS, MUTEX_A);
	b = hotspots__find(hs, HS_LOCKS, MUTEX_B);
	c = hotspots__find(hs, HS_OTHER, MUTEX_A);
	cr_assert_eq(a->count, 4);
	cr_assert_eq(a->nwaiters, 2);
	cr_assert_eq(a->waiters[0].tid, 1);
	cr_assert_eq(a->waiters[0].wait_ns, 10 + 100 + 1);
	cr_assert_eq(a->waiters[0].count, 3);
	cr_assert_eq(a->waiters[1].wait_ns, 20);
	cr_assert_eq(b->count, 3);
	cr_assert_eq(b->nwaiters, 2);
	cr_assert_eq(b->waiters[0].tid, 2);
	cr_assert_eq(b->waiters[0].wait_ns, 90);
	cr_assert_eq(b->waiters[1].wait_ns, 30);
	cr_assert_eq(c->kind, LS_KIND_COND);
	cr_assert_eq(c->count, 1);
	cr_assert_eq(c->nwaiters, 1);
	cr_assert_eq(c->waiters[0].wait_ns, 1000);
}

Test(hotspots, waits_without_stack_or_owner_list_neither)
{
	const struct hs_lock *l;

	wait(hs, 1, MUTEX_A, LS_KIND_MUTEX, 0, 10, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 100), 0);
	l = hotspots__find(hs, HS_LOCKS, MUTEX_A);
	cr_assert_eq(l->nwaiters, 1);
	cr_assert_eq(l->nowners, 0);
	cr_assert_eq(l->nstacks, 0);
}

Test(hotspots, equal_waits_rank_by_count_then_address)
{
	wait(hs, 1, 0x3000, LS_KIND_MUTEX, 0, 100, 0, 0);
	wait(hs, 1, 0x1000, LS_KIND_MUTEX, 100, 200, 0, 0);
	wait(hs, 1, 0x2000, LS_KIND_MUTEX, 200, 250, 0, 0);
	wait(hs, 1, 0x2000, LS_KIND_MUTEX, 250, 300, 0, 0);
	cr_assert_eq(hotspots__finish(hs, 300), 0);
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 0)->addr, 0x2000);
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 1)->addr, 0x1000);
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 2)->addr, 0x3000);
}

Test(hotspots, many_locks_threads_and_stacks_are_all_kept)
{
	enum { LOCKS = 3000, THREADS = 70 };
	uint64_t ts = 0;

	for (uint32_t l = 0; l < LOCKS; l++)
		for (uint32_t t = 1; t <= 3; t++, ts += 10)
			wait(hs, (l * 3 + t) % THREADS + 1, 0x10000 + 64 * l, LS_KIND_MUTEX, ts,
			     ts + l + t, t, l * 3 + t);
	cr_assert_eq(hotspots__finish(hs, ts), 0);
	cr_assert_eq(hotspots__count(hs, HS_LOCKS), LOCKS);
	for (uint32_t l = 0; l < LOCKS; l++) {
		const struct hs_lock *k = hotspots__find(hs, HS_LOCKS, 0x10000 + 64 * l);

		cr_assert(k);
		cr_assert_eq(k->wait_ns, 3 * l + 6);
		cr_assert_eq(k->nstacks, 3);
		cr_assert_eq(k->nowners, 3);
	}
	cr_assert_eq(hotspots__get(hs, HS_LOCKS, 0)->addr, 0x10000 + 64 * (LOCKS - 1));
}

Test(hotspots, nothing_is_fed_after_finish)
{
	struct ls_rec r = wait_begin(0, 1, MUTEX_A, LS_KIND_MUTEX, 0, 0);

	cr_assert_eq(hotspots__finish(hs, 0), 0);
	cr_assert_eq(hotspots__feed(hs, NULL, &r), -EINVAL);
	cr_assert_eq(hotspots__count(hs, HS_LOCKS), 0);
}

Test(hotspots, free_accepts_null)
{
	hotspots__free(NULL);
}
