/* test_loopwatch.c - which loop threads the recorder is offered as blocked off CPU, and which it
 * reports idle in their poll call: states hand-written into a real BPF hash map (needs root, as
 * every recording does), no BPF program. */
#include <bpf/bpf.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bpf/events.h"
#include "capture/loopwatch.h"

#define MS 1000000ull
#define THRESHOLD (50 * MS)

static int map_fd = -1;
static struct loopwatch *lw;

static void setup(void)
{
	map_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_loops", sizeof(uint32_t),
				sizeof(struct ls_loop_state), 64, NULL);
	cr_assert_geq(map_fd, 0, "bpf_map_create: %s (the unit tests run as root)",
		      strerror(errno));
	lw = loopwatch__new(map_fd, NULL, THRESHOLD);
	cr_assert_not_null(lw);
}

static void teardown(void)
{
	loopwatch__free(lw);
	if (map_fd >= 0)
		close(map_fd);
}

TestSuite(loopwatch, .init = setup, .fini = teardown);

static void put(uint32_t tid, struct ls_loop_state st)
{
	cr_assert_eq(bpf_map_update_elem(map_fd, &tid, &st, BPF_ANY), 0);
}

/* The threads offered, as a bit set of tids < 32; each is taken (1) unless TAKE is 0. */
struct offers {
	uint32_t seen;
	int take;
};

static int offer(void *arg, uint32_t tid, const struct ls_loop_state *st, uint64_t now)
{
	struct offers *o = arg;

	cr_assert_lt(tid, 32);
	cr_assert_geq(now - st->gap_start, THRESHOLD);
	o->seen |= 1u << tid;
	return o->take;
}

static uint32_t scan(uint64_t now, int take)
{
	struct offers o = {.take = take};

	cr_assert_geq(loopwatch__scan(lw, now, offer, &o, NULL, 0), 0);
	return o.seen;
}

Test(loopwatch, only_loops_asleep_past_the_threshold_are_offered)
{
	uint64_t t = 1000 * MS;

	/* asleep since 10 ms into a gap of 60 ms: blocked */
	put(1,
	    (struct ls_loop_state){.gap_start = t - 60 * MS, .off_since = t - 50 * MS, .polls = 9});
	/* on CPU: the sampler's */
	put(2,
	    (struct ls_loop_state){.gap_start = t - 60 * MS, .on_since = t - 60 * MS, .polls = 9});
	/* asleep, but the gap is under the threshold */
	put(3,
	    (struct ls_loop_state){.gap_start = t - 49 * MS, .off_since = t - 40 * MS, .polls = 9});
	/* waiting inside its poll call: idle, not blocked */
	put(4, (struct ls_loop_state){.poll_since = t - 500 * MS, .polls = 9});
	/* polled twice only: not a loop */
	put(5,
	    (struct ls_loop_state){.gap_start = t - 60 * MS, .off_since = t - 50 * MS, .polls = 2});
	/* BPF took this block's stack already, and it is asleep: read all the same (BPF's is
	 * from a small copy of the stack, or of another wait) */
	put(6, (struct ls_loop_state){.gap_start = t - 60 * MS,
				      .off_since = t - 50 * MS,
				      .polls = 9,
				      .sampled = t - 60 * MS});
	/* ... preempted, its stack taken as it left the CPU: not read again */
	put(11, (struct ls_loop_state){.gap_start = t - 60 * MS,
				       .off_since = t - 1 * MS,
				       .polls = 9,
				       .off_class = LS_OFF_RUNQ,
				       .sampled = t - 60 * MS});
	/* exactly at the threshold */
	put(7, (struct ls_loop_state){.gap_start = t - THRESHOLD, .off_since = t - MS, .polls = 3});
	/* 60 ms into its gap, but 55 of them waiting for a CPU: the loop's own 5 ms are under a
	 * fifth of the threshold (LS_LOOP_OWN_DIV) */
	put(8, (struct ls_loop_state){.gap_start = t - 60 * MS,
				      .off_since = t - 1 * MS,
				      .polls = 9,
				      .off_ns = {[LS_OFF_RUNQ] = 54 * MS}});
	/* ... of which 52 still now */
	put(9, (struct ls_loop_state){.gap_start = t - 60 * MS,
				      .off_since = t - 52 * MS,
				      .polls = 9,
				      .off_class = LS_OFF_RUNQ});
	/* ... but 15 ms of its own: blocked */
	put(10, (struct ls_loop_state){.gap_start = t - 60 * MS,
				       .off_since = t - 1 * MS,
				       .polls = 9,
				       .off_ns = {[LS_OFF_RUNQ] = 45 * MS}});
	cr_assert_eq(scan(t, 1), (1u << 1) | (1u << 6) | (1u << 7) | (1u << 10));
	cr_assert_eq(loopwatch__scan(lw, t, offer, &(struct offers){0}, NULL, 0), 10,
		     "loop threads: all but 5");
}

Test(loopwatch, a_block_is_offered_until_taken_then_never_again)
{
	uint64_t t = 1000 * MS;

	put(1,
	    (struct ls_loop_state){.gap_start = t - 60 * MS, .off_since = t - 50 * MS, .polls = 9});
	cr_assert_eq(scan(t, 0), 1u << 1, "not taken: offered");
	cr_assert_eq(scan(t + MS, 1), 1u << 1, "offered again");
	cr_assert_eq(scan(t + 2 * MS, 1), 0, "taken: not offered again");
	/* the same block asleep in another kind of wait (a lock after a sleep): read once more */
	put(1, (struct ls_loop_state){.gap_start = t - 60 * MS,
				      .off_since = t + 2 * MS,
				      .polls = 9,
				      .off_class = LS_OFF_LOCK});
	cr_assert_eq(scan(t + 3 * MS, 1), 1u << 1, "a lock wait in the block");
	cr_assert_eq(scan(t + 4 * MS, 1), 0, "taken in both");
	/* its next block is another */
	put(1, (struct ls_loop_state){
		   .gap_start = t + 100 * MS, .off_since = t + 101 * MS, .polls = 10});
	cr_assert_eq(scan(t + 200 * MS, 1), 1u << 1);
}

static int fail(void *arg, uint32_t tid, const struct ls_loop_state *st, uint64_t now)
{
	return -EIO;
}

Test(loopwatch, an_error_stops_the_scan_and_is_returned)
{
	put(1, (struct ls_loop_state){.gap_start = 1, .off_since = 2, .polls = 9});
	cr_assert_eq(loopwatch__scan(lw, 100 * MS, fail, NULL, NULL, 0), -EIO);
}
