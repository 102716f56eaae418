/* test_waitpair.c - the one pairing of wait records: whole waits with their results, exits that
 * end waits, records whose other half was lost, and the order threads are kept in. */
#include <criterion/criterion.h>

#include "recs.h"
#include "analysis/waitpair.h"

#define LOCK 0x5581d2a0ull

static struct wp_wait got[16];
static size_t got_thread[16], ngot;
static struct waitpair *wp;

static int closed(void *arg, const struct wp_wait *w, size_t thread)
{
	(void)arg;
	cr_assert_lt(ngot, 16);
	got[ngot] = *w;
	got_thread[ngot++] = thread;
	return 0;
}

static void setup(void)
{
	ngot = 0;
	wp = waitpair__new(closed, NULL);
	cr_assert(wp);
}

static void teardown(void)
{
	waitpair__free(wp);
}

static void feed(struct ls_rec r)
{
	cr_assert_eq(waitpair__feed(wp, &r), 0);
}

TestSuite(waitpair, .init = setup, .fini = teardown);

Test(waitpair, a_begin_and_its_end_make_one_wait)
{
	feed(wait_begin(100, 7, LOCK, LS_KIND_MUTEX, 9, 3));
	cr_assert_not_null(waitpair__open(wp, 7));
	cr_assert_eq(waitpair__open(wp, 7)->begin_ts, 100);
	feed(wait_end(250, 7, LS_WAIT_TIMEOUT));
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].tid, 7);
	cr_assert_eq(got[0].owner, 9);
	cr_assert_eq(got[0].stack_id, 3);
	cr_assert_eq(got[0].addr, LOCK);
	cr_assert_eq(got[0].kind, LS_KIND_MUTEX);
	cr_assert_eq(got[0].result, LS_WAIT_TIMEOUT);
	cr_assert_eq(got[0].begin_ts, 100);
	cr_assert_eq(got[0].end_ts, 250);
	cr_assert_not(got[0].open);
	cr_assert_null(waitpair__open(wp, 7));
	cr_assert_eq(waitpair__unpaired(wp), 0);
}

Test(waitpair, lost_halves_are_counted_not_paired)
{
	feed(wait_end(50, 7, LS_WAIT_WOKEN));	/* its begin was lost */
	feed(wait_begin(100, 7, LOCK, LS_KIND_MUTEX, 0, 0));
	feed(wait_begin(200, 7, LOCK, LS_KIND_MUTEX, 0, 0));	/* the end before was lost */
	feed(wait_end(260, 7, LS_WAIT_WOKEN));
	cr_assert_eq(waitpair__unpaired(wp), 2);
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].begin_ts, 200);
	cr_assert_eq(got[0].end_ts, 260);
}

Test(waitpair, exits_end_waits_and_the_trace_end_leaves_them_unfinished)
{
	feed(wait_begin(10, 1, LOCK, LS_KIND_MUTEX, 0, 0));
	feed(wait_begin(20, 2, LOCK, LS_KIND_MUTEX, 0, 0));
	feed(wait_begin(30, 3, LOCK, LS_KIND_MUTEX, 0, 0));
	feed(exit_rec(LS_REC_THREAD_EXIT, 40, 2));
	feed(exit_rec(LS_REC_THREAD_EXIT, 45, 4));	/* never waited: just an exit */
	cr_assert_eq(waitpair__finish(wp, 90), 0);
	cr_assert_eq(ngot, 3);
	cr_assert_eq(got[0].tid, 2);
	cr_assert_eq(got[0].result, WP_RESULT_EXITED);
	cr_assert_eq(got[0].end_ts, 40);
	/* the rest in the order their threads first waited */
	cr_assert_eq(got[1].tid, 1);
	cr_assert_eq(got_thread[1], 0);
	cr_assert_eq(got[2].tid, 3);
	cr_assert_eq(got_thread[2], 2);
	cr_assert_eq(got[1].result, LS_WAIT_UNFINISHED);
	cr_assert_eq(got[2].end_ts, 90);
	cr_assert_eq(waitpair__unpaired(wp), 0);
}

Test(waitpair, a_process_exit_ends_every_wait_and_an_end_never_precedes_its_begin)
{
	feed(wait_begin(10, 1, LOCK, LS_KIND_MUTEX, 0, 0));
	feed(wait_begin(20, 2, LOCK, LS_KIND_COND, 0, 0));
	feed(exit_rec(LS_REC_PROC_EXIT, 15, 1));
	cr_assert_eq(ngot, 2);
	cr_assert_eq(got[0].result, WP_RESULT_EXITED);
	cr_assert_eq(got[1].begin_ts, 20);
	cr_assert_eq(got[1].end_ts, 20);
	cr_assert_null(waitpair__thread(wp, 2));
	cr_assert_eq(waitpair__thread(wp, 1)->tid, 2);
}
