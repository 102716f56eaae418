/* test_loopblock.c - event-loop blocks from hand-built LOOP_SAMPLE/LOOP_BLOCK streams: pairing
 * with the sample taken while a block lasted, cause judgement, open blocks at the end, threads
 * that ended, and the report's JSON. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "jsonparse.h"
#include "analysis/loopblock.h"
#include "trace/model.h"
#include "trace/trace.h"

#define MS 1000000ull

static struct loopblock *lb;

static void setup(void)
{
	lb = loopblock__new();
	cr_assert_not_null(lb);
}

static void teardown(void)
{
	loopblock__free(lb);
}

TestSuite(loopblock, .init = setup, .fini = teardown);

static void feed(const struct ls_rec *r)
{
	cr_assert_eq(loopblock__feed(lb, r), 0);
}

/* A LOOP_SAMPLE or LOOP_BLOCK of TID's gap from START at TS: ON ns on CPU, OFF[CLASS] off it. */
static void loop_rec(uint8_t type, uint32_t tid, uint64_t start, uint64_t ts, uint64_t on,
		     int off_class, uint64_t off, uint32_t stack_id)
{
	struct ls_rec r = {.type = type, .ts = ts, .tid = tid};

	r.loop.start = start;
	r.loop.on_cpu_ns = on;
	if (off_class >= 0)
		r.loop.off_ns[off_class] = off;
	r.loop.stack_id = stack_id;
	r.loop.cls = LS_LOOP_CLS_UNKNOWN;
	feed(&r);
}

/* A sample taken where the thread was: class CLS (enum ls_loop_off, LS_LOOP_RUNNING); ON_CPU:
 * BPF's (a small copy of the stack), else the recorder's read. */
static void sample_in(uint32_t tid, uint64_t start, uint64_t ts, uint8_t cls, bool on_cpu,
		      uint32_t stack_id)
{
	struct ls_rec r = {.type = LS_REC_LOOP_SAMPLE, .ts = ts, .tid = tid};

	r.loop.start = start;
	r.loop.cls = cls;
	r.loop.on_cpu = on_cpu;
	r.loop.stack_id = stack_id;
	feed(&r);
}

static void sample(uint32_t tid, uint64_t start, uint64_t ts, uint32_t stack_id)
{
	loop_rec(LS_REC_LOOP_SAMPLE, tid, start, ts, ts - start, -1, 0, stack_id);
}

static void block(uint32_t tid, uint64_t start, uint64_t end, uint64_t on, int off_class,
		  uint64_t off)
{
	loop_rec(LS_REC_LOOP_BLOCK, tid, start, end, on, off_class, off, 0);
}

static const struct loop_block *only_block(void)
{
	cr_assert_eq(loopblock__count(lb), 1, "%zu blocks", loopblock__count(lb));
	return loopblock__get(lb, 0);
}

Test(loopblock, a_block_takes_the_stack_sampled_while_it_lasted)
{
	sample(7, 100 * MS, 160 * MS, 42);
	block(7, 100 * MS, 300 * MS, 1 * MS, LS_LOOP_SLEEP, 199 * MS);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	const struct loop_block *b = only_block();

	cr_assert_eq(b->tid, 7);
	cr_assert_eq(b->start_ns, 100 * MS);
	cr_assert_eq(b->duration_ns, 200 * MS);
	cr_assert_eq(b->on_cpu_ns, 1 * MS);
	cr_assert_eq(b->off_ns[LS_LOOP_SLEEP], 199 * MS);
	cr_assert_eq(b->cause, LOOP_CAUSE_SLEEP);
	cr_assert_eq(b->stack_id, 42);
	cr_assert_not(b->open);
}

Test(loopblock, a_sample_of_an_earlier_gap_is_not_the_blocks_stack)
{
	sample(7, 100 * MS, 160 * MS, 42); /* its block never came (lost) */
	block(7, 400 * MS, 500 * MS, 100 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(only_block()->stack_id, 0);
	cr_assert_eq(only_block()->cause, LOOP_CAUSE_CPU);
}

Test(loopblock, the_first_sample_of_a_block_stands)
{
	sample(7, 100 * MS, 160 * MS, 42);
	sample(7, 100 * MS, 170 * MS, 43); /* the sampler's, after the scan's */
	block(7, 100 * MS, 300 * MS, 200 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(only_block()->stack_id, 42);
}

/* A block that read a file for 30 ms, then slept for 170: its stack is the sleep's, not the
 * read's that came first. */
Test(loopblock, the_stack_is_the_main_causes_not_the_first_waits)
{
	sample_in(7, 100 * MS, 160 * MS, LS_LOOP_IO, false, 42);
	sample_in(7, 100 * MS, 200 * MS, LS_LOOP_SLEEP, false, 43);
	block(7, 100 * MS, 300 * MS, 0, LS_LOOP_SLEEP, 170 * MS);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(only_block()->cause, LOOP_CAUSE_SLEEP);
	cr_assert_eq(only_block()->stack_id, 43);
}

/* Busy at first (the sampler's stack), then waiting on a lock for most of the block: the lock's
 * stack; and preempted counts as on CPU. */
Test(loopblock, a_busy_start_does_not_name_a_lock_block)
{
	sample_in(7, 100 * MS, 160 * MS, LS_LOOP_RUNNING, true, 42);
	sample_in(7, 100 * MS, 180 * MS, LS_LOOP_LOCK, false, 43);
	block(7, 100 * MS, 400 * MS, 70 * MS, LS_LOOP_LOCK, 230 * MS);
	sample_in(8, 100 * MS, 160 * MS, LS_LOOP_LOCK, false, 44);
	sample_in(8, 100 * MS, 180 * MS, LS_LOOP_RUNQ, true, 45);
	block(8, 100 * MS, 400 * MS, 250 * MS, LS_LOOP_LOCK, 50 * MS);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(loopblock__count(lb), 2);
	cr_assert_eq(loopblock__get(lb, 0)->stack_id, 43);
	cr_assert_eq(loopblock__get(lb, 1)->stack_id, 45);
}

/* BPF's stack as the thread left the CPU is from a 2 KiB copy; the recorder's read of the same
 * wait, a whole one, is the block's. Without one of its cause, the first stands. */
Test(loopblock, the_recorders_read_of_a_wait_replaces_bpfs)
{
	sample_in(7, 100 * MS, 160 * MS, LS_LOOP_IO, true, 42);
	sample_in(7, 100 * MS, 170 * MS, LS_LOOP_IO, false, 43);
	sample_in(7, 100 * MS, 180 * MS, LS_LOOP_IO, false, 44);
	block(7, 100 * MS, 300 * MS, 0, LS_LOOP_IO, 200 * MS);
	sample_in(7, 400 * MS, 460 * MS, LS_LOOP_IO, true, 45);
	block(7, 400 * MS, 500 * MS, 100 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(loopblock__get(lb, 0)->stack_id, 43);
	cr_assert_eq(loopblock__get(lb, 1)->stack_id, 45);
}

Test(loopblock, causes_are_the_largest_share)
{
	uint64_t off[LS_LOOP_OFF__COUNT] = {0};

	cr_assert_eq(loopblock__cause(100, 0, off), LOOP_CAUSE_OTHER, "nothing accounted");
	off[LS_LOOP_SLEEP] = 60;
	cr_assert_eq(loopblock__cause(100, 40, off), LOOP_CAUSE_SLEEP);
	cr_assert_eq(loopblock__cause(100, 61, off), LOOP_CAUSE_CPU);
	off[LS_LOOP_RUNQ] = 30; /* waiting for a CPU is wanting one */
	cr_assert_eq(loopblock__cause(100, 40, off), LOOP_CAUSE_CPU);
	memset(off, 0, sizeof(off));
	off[LS_LOOP_LOCK] = 90;
	cr_assert_eq(loopblock__cause(100, 10, off), LOOP_CAUSE_LOCK);
	off[LS_LOOP_IO] = 91;
	cr_assert_eq(loopblock__cause(200, 10, off), LOOP_CAUSE_IO);
	off[LS_LOOP_OTHER] = 92;
	cr_assert_eq(loopblock__cause(300, 10, off), LOOP_CAUSE_OTHER);
	cr_assert_str_eq(loopblock__cause_name(LOOP_CAUSE_SLEEP), "sleep");
	cr_assert_str_eq(loopblock__cause_name(LOOP_CAUSE_CPU), "cpu");
	cr_assert_str_eq(loopblock__cause_name(LOOP_CAUSE_LOCK), "lock");
	cr_assert_str_eq(loopblock__cause_name(LOOP_CAUSE_IO), "io");
	cr_assert_str_eq(loopblock__cause_name(LOOP_CAUSE_OTHER), "other");
	cr_assert_str_eq(loopblock__cause_name(LOOP_CAUSE__COUNT), "other");
}

Test(loopblock, every_cause_from_a_stream)
{
	block(1, 0, 100 * MS, 2 * MS, LS_LOOP_SLEEP, 98 * MS);
	block(1, 200 * MS, 300 * MS, 95 * MS, LS_LOOP_RUNQ, 5 * MS);
	block(1, 400 * MS, 500 * MS, 1 * MS, LS_LOOP_LOCK, 99 * MS);
	block(1, 600 * MS, 700 * MS, 1 * MS, LS_LOOP_IO, 99 * MS);
	block(1, 800 * MS, 900 * MS, 1 * MS, LS_LOOP_OTHER, 99 * MS);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(loopblock__count(lb), 5);
	const enum loop_cause want[] = {LOOP_CAUSE_SLEEP, LOOP_CAUSE_CPU, LOOP_CAUSE_LOCK,
					LOOP_CAUSE_IO, LOOP_CAUSE_OTHER};

	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(loopblock__get(lb, i)->cause, want[i], "block %zu", i);
	cr_assert_null(loopblock__get(lb, 5));
}

/* The threshold is the BPF side's: whatever comes as a block is one, to the nanosecond. */
Test(loopblock, a_block_exactly_at_the_threshold_is_kept_to_the_nanosecond)
{
	block(3, 1000, 1000 + 50 * MS, 50 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(only_block()->duration_ns, 50 * MS);
	cr_assert_eq(only_block()->start_ns, 1000);
}

/* An idle loop waits inside its poll call: that makes no records at all. */
Test(loopblock, an_idle_loop_and_a_thread_that_never_polls_make_no_blocks)
{
	struct ls_rec wait = {.type = LS_REC_WAIT_BEGIN, .ts = 10 * MS, .tid = 9};
	struct ls_rec end = {.type = LS_REC_WAIT_END, .ts = 900 * MS, .tid = 9};

	feed(&wait); /* a thread busy in a futex wait for most of a second: not a loop */
	feed(&end);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(loopblock__count(lb), 0);
}

Test(loopblock, a_block_still_open_at_the_end_of_recording_is_reported_open)
{
	struct ls_rec sample_rec = {.type = LS_REC_LOOP_SAMPLE, .ts = 900 * MS, .tid = 7};

	sample_rec.loop.start = 800 * MS;
	sample_rec.loop.on_cpu_ns = 95 * MS;
	sample_rec.loop.off_ns[LS_LOOP_RUNQ] = 5 * MS;
	sample_rec.loop.stack_id = 5;
	sample_rec.loop.on_cpu = 1;
	feed(&sample_rec);
	cr_assert_eq(loopblock__finish(lb, 1500 * MS), 0);
	const struct loop_block *b = only_block();

	cr_assert(b->open);
	cr_assert_eq(b->start_ns, 800 * MS);
	cr_assert_eq(b->duration_ns, 700 * MS);
	cr_assert_eq(b->cause, LOOP_CAUSE_CPU);
	cr_assert_eq(b->stack_id, 5);
}

Test(loopblock, a_loop_whose_thread_or_process_ended_was_not_blocked)
{
	struct ls_rec texit = {.type = LS_REC_THREAD_EXIT, .ts = 950 * MS, .tid = 7};
	struct ls_rec pexit = {.type = LS_REC_PROC_EXIT, .ts = 990 * MS, .tid = 1};

	sample(7, 800 * MS, 900 * MS, 5);
	feed(&texit);
	sample(8, 800 * MS, 900 * MS, 6);
	feed(&pexit);
	cr_assert_eq(loopblock__finish(lb, 1500 * MS), 0);
	cr_assert_eq(loopblock__count(lb), 0);
}

Test(loopblock, blocks_of_several_loops_are_sorted_by_start)
{
	block(2, 300 * MS, 400 * MS, 100 * MS, -1, 0);
	block(1, 100 * MS, 500 * MS, 400 * MS, -1, 0);
	block(3, 200 * MS, 260 * MS, 60 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(loopblock__get(lb, 0)->tid, 1);
	cr_assert_eq(loopblock__get(lb, 1)->tid, 3);
	cr_assert_eq(loopblock__get(lb, 2)->tid, 2);
}

Test(loopblock, json_has_the_contracts_members)
{
	struct model *m = model__new();
	struct ls_rec thr = {.type = LS_REC_THREAD, .tid = 7, .thread = {.name = "loop"}};
	struct ls_rec fr = {
	    .type = LS_REC_FRAME,
	    .frame = {
		.id = 1, .func = "bad_handler", .file = "app.py", .line = 42, .module = "python"}};
	static const uint32_t frames[] = {1};
	struct ls_rec st = {.type = LS_REC_STACK,
			    .stack = {.id = 5, .nframes = 1, .frames = frames}};
	char *text = NULL, err[128];
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct json_writer *w = json_writer__new(out, 0);
	struct jp_value *v;

	cr_assert(m && out && w);
	cr_assert_eq(model__feed(m, &thr) ?: model__feed(m, &fr) ?: model__feed(m, &st), 0);
	sample(7, 100 * MS, 160 * MS, 5);
	block(7, 100 * MS, 300 * MS, 1 * MS, LS_LOOP_SLEEP, 199 * MS);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	loopblock__json(lb, m, w);
	cr_assert_eq(json_writer__finish(w), 0);
	fclose(out);
	v = jp_parse(text, len, err, sizeof(err));
	cr_assert_not_null(v, "%s: %s", err, text);
	cr_assert_eq(v->type, JP_ARRAY);
	cr_assert_eq(v->len, 1);
	cr_assert_str_eq(jp_str(jp_path(v, "0.cause")), "sleep");
	cr_assert_str_eq(jp_str(jp_path(v, "0.stack.0")), "bad_handler (app.py:42)");
	cr_assert_str_eq(jp_str(jp_path(v, "0.thread")), "loop");
	uint64_t x;

	cr_assert(jp_uint(jp_path(v, "0.tid"), &x) && x == 7);
	cr_assert(jp_uint(jp_path(v, "0.start_ns"), &x) && x == 100 * MS);
	cr_assert(jp_uint(jp_path(v, "0.duration_ns"), &x) && x == 200 * MS);
	cr_assert(jp_uint(jp_path(v, "0.on_cpu_ns"), &x) && x == 1 * MS);
	cr_assert(jp_uint(jp_path(v, "0.off_cpu_ns.sleep"), &x) && x == 199 * MS);
	jp_free(v);
	json_writer__free(w);
	free(text);
	model__free(m);
}

Test(loopblock, text_names_the_cause_and_the_blocking_function)
{
	struct model *m = model__new();
	struct ls_rec fr = {
	    .type = LS_REC_FRAME,
	    .frame = {
		.id = 1, .func = "busy_handler", .file = "app.py", .line = 7, .module = "python"}};
	static const uint32_t frames[] = {1};
	struct ls_rec st = {.type = LS_REC_STACK,
			    .stack = {.id = 2, .nframes = 1, .frames = frames}};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	cr_assert(m && out);
	cr_assert_eq(model__feed(m, &fr) ?: model__feed(m, &st), 0);
	loopblock__text(lb, m, out); /* nothing yet */
	sample(7, 100 * MS, 160 * MS, 2);
	block(7, 100 * MS, 300 * MS, 200 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	loopblock__text(lb, m, out);
	fclose(out);
	cr_assert(strstr(text, "No event-loop blocking."), "%s", text);
	cr_assert(strstr(text, "Event-loop blocking: 1 block"), "%s", text);
	cr_assert(strstr(text, "200.0 ms  cpu"), "%s", text);
	cr_assert(strstr(text, "busy_handler (app.py:7)"), "%s", text);
	free(text);
	model__free(m);
}

/* A block over before any stack was taken (soon past the threshold, between two looks) is
 * counted as such. */
Test(loopblock, text_counts_the_blocks_without_a_stack)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	cr_assert(out);
	sample(7, 100 * MS, 160 * MS, 2);
	block(7, 100 * MS, 300 * MS, 200 * MS, -1, 0);
	block(7, 400 * MS, 455 * MS, 55 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	loopblock__text(lb, NULL, out);
	fclose(out);
	cr_assert(strstr(text, "2 blocks, 255.0 ms in all; 1 without a stack"), "%s", text);
	free(text);
}

/* The recorder's scan may read a block's state just before the thread returns to its poll
 * call: its sample then comes after the block. It is neither the next block's stack nor a
 * block still open at the end. */
Test(loopblock, a_sample_arriving_after_its_block_is_dropped)
{
	block(7, 100 * MS, 300 * MS, 1 * MS, LS_LOOP_SLEEP, 199 * MS);
	sample(7, 100 * MS, 301 * MS, 42);
	block(7, 400 * MS, 500 * MS, 100 * MS, -1, 0);
	cr_assert_eq(loopblock__finish(lb, 1000 * MS), 0);
	cr_assert_eq(loopblock__count(lb), 2);
	cr_assert_eq(loopblock__get(lb, 0)->stack_id, 0);
	cr_assert_eq(loopblock__get(lb, 1)->stack_id, 0);
	cr_assert_not(loopblock__get(lb, 1)->open);
}

/* A launched command is killed when the recording stops: its block was still going on. */
Test(loopblock, a_loop_killed_in_a_block_has_it_open_to_its_death)
{
	struct ls_rec texit = {.type = LS_REC_THREAD_EXIT, .ts = 950 * MS, .tid = 7};
	struct ls_rec pexit = {.type = LS_REC_PROC_EXIT, .ts = 990 * MS, .tid = 1};

	texit.exit.code = 15; /* SIGTERM, as the kernel's exit_code says it */
	pexit.exit.code = 128 + 15;
	sample(7, 800 * MS, 900 * MS, 5);
	feed(&texit);
	sample(8, 700 * MS, 900 * MS, 6);
	feed(&pexit);
	cr_assert_eq(loopblock__finish(lb, 1500 * MS), 0);
	cr_assert_eq(loopblock__count(lb), 2);
	cr_assert_eq(loopblock__get(lb, 0)->tid, 8);
	cr_assert_eq(loopblock__get(lb, 0)->duration_ns, 290 * MS);
	cr_assert(loopblock__get(lb, 0)->open);
	cr_assert_eq(loopblock__get(lb, 1)->tid, 7);
	cr_assert_eq(loopblock__get(lb, 1)->duration_ns, 150 * MS);
	cr_assert_eq(loopblock__get(lb, 1)->stack_id, 5);
}

/* The live view's blocks in progress: sampled and not over, up to the moment asked, open; one
 * that ended is no longer in progress but among the blocks over. */
Test(loopblock, blocks_in_progress_are_the_sampled_ones_not_over)
{
	struct loop_block now[4];

	sample(7, 100 * MS, 160 * MS, 3);
	sample(8, 200 * MS, 260 * MS, 4);
	block(8, 200 * MS, 300 * MS, 100 * MS, -1, 0);
	cr_assert_eq(loopblock__in_progress(lb, 400 * MS, now, 4), 1);
	cr_expect_eq(now[0].tid, 7);
	cr_expect_eq(now[0].start_ns, 100 * MS);
	cr_expect_eq(now[0].duration_ns, 300 * MS);
	cr_expect_eq(now[0].stack_id, 3);
	cr_expect(now[0].open);
	cr_assert_eq(loopblock__count(lb), 1);
	cr_expect_eq(loopblock__get(lb, 0)->tid, 8);
	cr_expect_eq(loopblock__get(lb, 0)->stack_id, 4);
	cr_expect_eq(loopblock__in_progress(lb, 400 * MS, now, 0), 0);
}
