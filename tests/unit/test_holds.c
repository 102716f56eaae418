/* test_holds.c - hold times and full-mode coverage on hand-built ACQUIRE/RELEASE/WINDOW
 * sequences. */
#include <criterion/criterion.h>

#include "analysis/holds.h"
#include "trace/trace.h"

static void feed(struct holds *h, uint8_t type, uint64_t ts, uint32_t tid, uint64_t addr)
{
	struct ls_rec r = {.type = type, .ts = ts, .tid = tid};

	if (type == LS_REC_ACQUIRE)
		r.acquire.addr = addr;
	else if (type == LS_REC_RELEASE)
		r.release.addr = addr;
	else
		r.window.on = addr != 0;
	cr_assert_eq(holds__feed(h, &r), 0);
}

Test(holds, pairs_acquire_and_release_per_thread)
{
	struct holds *h = holds__new();
	struct hold_stats s;

	feed(h, LS_REC_WINDOW, 0, 0, 1);
	feed(h, LS_REC_ACQUIRE, 100, 1, 0xa);
	feed(h, LS_REC_ACQUIRE, 150, 2, 0xa);	/* a reader alongside */
	feed(h, LS_REC_RELEASE, 400, 1, 0xa);
	feed(h, LS_REC_RELEASE, 250, 2, 0xa);
	feed(h, LS_REC_ACQUIRE, 500, 1, 0xa);	/* taken again after its release */
	feed(h, LS_REC_RELEASE, 520, 1, 0xa);
	holds__finish(h, 1000);
	s = holds__get(h, 0xa);
	cr_assert_eq(s.acquisitions, 3);
	cr_assert_eq(s.hold_ns, 300 + 100 + 20);
	cr_assert_eq(s.max_hold_ns, 300);
	cr_assert(holds__traced(h));
	cr_assert_float_eq(holds__coverage(h, 1000), 1.0, 1e-9);
	holds__free(h);
}

/* A hold open when full mode switches off was held at least until then: counted up to it (a
 * deadlock's locks, held for seconds, once said 0 ns), and its release after the gap is not
 * paired with it. */
Test(holds, holds_across_an_off_window_count_up_to_it)
{
	struct holds *h = holds__new();

	feed(h, LS_REC_WINDOW, 0, 0, 1);
	feed(h, LS_REC_ACQUIRE, 100, 1, 0xa);
	feed(h, LS_REC_WINDOW, 200, 0, 0);
	feed(h, LS_REC_WINDOW, 800, 0, 1);
	feed(h, LS_REC_RELEASE, 900, 1, 0xa);	/* its acquire was before the gap */
	holds__finish(h, 1000);
	cr_assert_eq(holds__get(h, 0xa).acquisitions, 1);
	cr_assert_eq(holds__get(h, 0xa).hold_ns, 100);
	cr_assert_eq(holds__get(h, 0xa).max_hold_ns, 100);
	cr_assert_eq(holds__get(h, 0xa).cut, 1);
	cr_assert_eq(holds__get(h, 0xa).open, 0);
	cr_assert_float_eq(holds__coverage(h, 1000), 0.4, 1e-9);
	holds__free(h);
}

Test(holds, contention_mode_traces_nothing)
{
	struct holds *h = holds__new();

	holds__finish(h, 1000);
	cr_assert_not(holds__traced(h));
	cr_assert_float_eq(holds__coverage(h, 1000), 0.0, 1e-9);
	holds__free(h);
}

Test(holds, a_hold_whose_release_was_lost_is_not_timed)
{
	struct holds *h = holds__new();

	feed(h, LS_REC_WINDOW, 0, 0, 1);
	feed(h, LS_REC_ACQUIRE, 100, 1, 0xa);
	feed(h, LS_REC_LOST, 150, 0, 0);	/* its release among the lost events */
	feed(h, LS_REC_ACQUIRE, 600, 1, 0xa);
	feed(h, LS_REC_RELEASE, 650, 1, 0xa);
	holds__finish(h, 1000);
	cr_assert_eq(holds__get(h, 0xa).acquisitions, 2);
	cr_assert_eq(holds__get(h, 0xa).hold_ns, 50, "not 550: the first hold's end is unknown");
	holds__free(h);
}

/* A deadlock's locks are held until the end: their time counts up to it, not as 0. */
Test(holds, holds_open_at_the_end_count_up_to_it)
{
	struct holds *h = holds__new();
	struct hold_stats s;

	feed(h, LS_REC_WINDOW, 0, 0, 1);
	feed(h, LS_REC_ACQUIRE, 100, 1, 0xa);
	feed(h, LS_REC_ACQUIRE, 200, 2, 0xb);
	feed(h, LS_REC_RELEASE, 300, 2, 0xb);
	holds__finish(h, 5000);
	s = holds__get(h, 0xa);
	cr_assert_eq(s.acquisitions, 1);
	cr_assert_eq(s.open, 1);
	cr_assert_eq(s.hold_ns, 4900);
	cr_assert_eq(s.max_hold_ns, 4900);
	cr_assert_eq(holds__get(h, 0xb).open, 0);
	cr_assert_eq(holds__get(h, 0xb).hold_ns, 100);
	holds__free(h);
}

struct seen_hold {
	uint32_t tid;
	uint64_t addr, begin, end;
};

static int collect(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts)
{
	struct seen_hold *seen = arg;

	while (seen->tid)
		seen++;
	*seen = (struct seen_hold){tid, addr, begin_ts, end_ts};
	return 0;
}

/* The hold callback gets every hold the figures count: those released, as they are, and those
 * still open at the end, from finish, up to it (so an export's hold slices add up to the
 * report's hold time). */
Test(holds, the_callback_gets_the_holds_open_at_the_end)
{
	struct seen_hold seen[4] = {0};
	struct holds *h = holds__new();

	holds__on_hold(h, collect, seen);
	feed(h, LS_REC_WINDOW, 0, 0, 1);
	feed(h, LS_REC_ACQUIRE, 100, 1, 0xa);
	feed(h, LS_REC_ACQUIRE, 200, 2, 0xb);
	feed(h, LS_REC_RELEASE, 300, 2, 0xb);
	cr_assert_eq(seen[0].tid, 2);
	cr_assert_eq(seen[1].tid, 0, "the open hold was given before the end");
	cr_assert_eq(holds__finish(h, 5000), 0);
	cr_assert_eq(seen[1].tid, 1);
	cr_assert_eq(seen[1].addr, 0xa);
	cr_assert_eq(seen[1].begin, 100);
	cr_assert_eq(seen[1].end, 5000);
	cr_assert_eq(seen[1].end - seen[1].begin + seen[0].end - seen[0].begin,
		     holds__get(h, 0xa).hold_ns + holds__get(h, 0xb).hold_ns);
	cr_assert_eq(seen[2].tid, 0);
	holds__free(h);
}

/* sem_wait then sem_post by another thread: taken, never held by anyone, so not timed (and not
 * left open to the end). */
Test(holds, a_semaphore_is_taken_but_not_held)
{
	struct holds *h = holds__new();
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .ts = 100, .tid = 1};

	feed(h, LS_REC_WINDOW, 0, 0, 1);
	r.acquire.addr = 0xc;
	r.acquire.kind = LS_KIND_SEM;
	cr_assert_eq(holds__feed(h, &r), 0);
	feed(h, LS_REC_RELEASE, 300, 2, 0xc);
	holds__finish(h, 1000);
	cr_assert_eq(holds__get(h, 0xc).acquisitions, 1);
	cr_assert_eq(holds__get(h, 0xc).open, 0);
	cr_assert_eq(holds__get(h, 0xc).hold_ns, 0);
	holds__free(h);
}
