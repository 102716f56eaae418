/* test_export.c - the Chrome trace export: every event checked against the Trace Event Format's
 * rules (fields per phase, named tracks, flows paired and inside slices), then exact values. */
#include <criterion/criterion.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/export_chrome.h"
#include "jsonparse.h"
#include "tracefile.h"

#define PID 4242
#define W1 4243
#define W2 4244
#define ANON 99
#define HOT 0x5581d2a0ull
#define COLD 0x5581d300ull

static struct tf trace;
static char out_path[80];

static void teardown(void)
{
	tf_remove(&trace);
	if (out_path[0])
		unlink(out_path);
}

TestSuite(export, .fini = teardown);

/* ---- the format's rules ---- */

/* A time as written: microseconds with exactly three decimals, back to nanoseconds. */
static uint64_t ns_of(const struct jp_value *v, const char *what)
{
	const char *dot;
	uint64_t us, frac;

	cr_assert(v && v->type == JP_NUMBER, "%s: not a number", what);
	dot = strchr(v->text, '.');
	cr_assert(dot && strlen(dot + 1) == 3 && v->text[0] != '-', "%s: %s is not us.nnn", what,
		  v->text);
	us = strtoull(v->text, NULL, 10);
	frac = strtoull(dot + 1, NULL, 10);
	return us * 1000 + frac;
}

static bool is(const struct jp_value *ev, const char *key, const char *value)
{
	const char *s = jp_str(jp_get(ev, key));

	return s && strcmp(s, value) == 0;
}

static uint64_t uint_of(const struct jp_value *ev, const char *key)
{
	uint64_t v;

	cr_assert(jp_uint(jp_get(ev, key), &v), "%s is not an unsigned integer", key);
	return v;
}

/* True if some X event on TID spans TS. */
static bool inside_slice(const struct jp_value *events, uint64_t tid, uint64_t ts)
{
	for (size_t i = 0; i < events->len; i++) {
		const struct jp_value *ev = &events->items[i];
		uint64_t start;

		if (!is(ev, "ph", "X") || uint_of(ev, "tid") != tid)
			continue;
		start = ns_of(jp_get(ev, "ts"), "ts");
		if (start <= ts && ts <= start + ns_of(jp_get(ev, "dur"), "dur"))
			return true;
	}
	return false;
}

static void check_event(const struct jp_value *ev)
{
	const char *ph = jp_str(jp_get(ev, "ph"));

	cr_assert(ev->type == JP_OBJECT && ph, "an event without ph");
	cr_assert(jp_str(jp_get(ev, "name")), "a %s event without name", ph);
	uint_of(ev, "pid");
	uint_of(ev, "tid");
	if (strcmp(ph, "M") == 0) {
		cr_assert(jp_get(jp_get(ev, "args"), "name"), "metadata without args.name");
		return;
	}
	ns_of(jp_get(ev, "ts"), "ts");
	if (strcmp(ph, "X") == 0)
		ns_of(jp_get(ev, "dur"), "dur"); /* a time, so >= 0 */
	else if (strcmp(ph, "s") == 0 || strcmp(ph, "f") == 0)
		cr_assert(jp_str(jp_get(ev, "cat")) && jp_get(ev, "id"), "flow without cat or id");
	else
		cr_assert(strcmp(ph, "i") == 0, "unexpected phase %s", ph);
	if (strcmp(ph, "f") == 0)
		cr_assert(is(ev, "bp", "e"), "a flow end that does not bind to its slice");
}

/* Every flow id once as s and once as f, with the same cat and name, each inside a slice of
 * its own thread, the start no later than the end. Returns the number of flows. */
static size_t check_flows(const struct jp_value *events)
{
	size_t flows = 0;

	for (size_t i = 0; i < events->len; i++) {
		const struct jp_value *s = &events->items[i], *f = NULL;
		uint64_t id;

		if (is(s, "ph", "f")) {
			bool paired = false;

			id = uint_of(s, "id");
			for (size_t j = 0; j < events->len; j++)
				paired |= is(&events->items[j], "ph", "s") &&
					  uint_of(&events->items[j], "id") == id;
			cr_assert(paired, "flow end %lu without its start", (unsigned long)id);
		}
		if (!is(s, "ph", "s"))
			continue;
		id = uint_of(s, "id");
		for (size_t j = 0; j < events->len; j++) {
			const struct jp_value *e = &events->items[j];

			if (j == i || !jp_get(e, "id") || uint_of(e, "id") != id)
				continue;
			cr_assert(is(e, "ph", "f") && !f, "flow %lu: more than one other end",
				  (unsigned long)id);
			f = e;
		}
		cr_assert(f, "flow %lu: start without end", (unsigned long)id);
		cr_assert(is(f, "cat", jp_str(jp_get(s, "cat"))) &&
			      is(f, "name", jp_str(jp_get(s, "name"))),
			  "flow %lu: cat/name differ", (unsigned long)id);
		cr_assert_leq(ns_of(jp_get(s, "ts"), "ts"), ns_of(jp_get(f, "ts"), "ts"));
		cr_assert(inside_slice(events, uint_of(s, "tid"), ns_of(jp_get(s, "ts"), "ts")),
			  "flow %lu starts outside any slice", (unsigned long)id);
		cr_assert(inside_slice(events, uint_of(f, "tid"), ns_of(jp_get(f, "ts"), "ts")),
			  "flow %lu ends outside any slice", (unsigned long)id);
		flows++;
	}
	return flows;
}

/* Every thread an event is on has a thread_name. */
static void check_names(const struct jp_value *events)
{
	for (size_t i = 0; i < events->len; i++) {
		const struct jp_value *ev = &events->items[i];
		bool named = false;

		if (is(ev, "ph", "M"))
			continue;
		for (size_t j = 0; j < events->len && !named; j++) {
			const struct jp_value *m = &events->items[j];

			named = is(m, "ph", "M") && is(m, "name", "thread_name") &&
				uint_of(m, "tid") == uint_of(ev, "tid") &&
				uint_of(m, "pid") == uint_of(ev, "pid");
		}
		cr_assert(named, "tid %lu has no thread_name", (unsigned long)uint_of(ev, "tid"));
	}
}

/* Parses TEXT and checks the whole document; returns it. CHECK_FLOWS can be skipped for big
 * documents, where its quadratic search would be slow. */
static struct jp_value *parse_and_check(const char *text, size_t len, bool flows)
{
	struct jp_value *doc;
	const struct jp_value *events;
	char err[128];

	doc = jp_parse(text, len, err, sizeof(err));
	cr_assert(doc, "%s", err);
	events = jp_get(doc, "traceEvents");
	cr_assert(events && events->type == JP_ARRAY, "no traceEvents array");
	cr_assert(is(doc, "displayTimeUnit", "ns"));
	cr_assert(jp_get(doc, "otherData") && jp_get(doc, "otherData")->type == JP_OBJECT);
	for (size_t i = 0; i < events->len; i++)
		check_event(&events->items[i]);
	if (flows) {
		check_names(events);
		check_flows(events);
	}
	return doc;
}

/* ---- running it ---- */

struct export_call {
	const char *path, *out;
};

static int call_export(void *arg)
{
	struct export_call *c = arg;

	return export_chrome__run(c->path, c->out);
}

static struct jp_value *export_stdout(struct tf_run *run)
{
	struct export_call c = {trace.path, "-"};

	tf_capture(run, call_export, &c);
	cr_assert_eq(run->status, 0, "status %d: %s", run->status, run->err);
	return parse_and_check(run->out, run->out_len, true);
}

/* The events of phase PH on TID, in the order written. */
static const struct jp_value *nth_event(const struct jp_value *doc, const char *ph, uint64_t tid,
					size_t n)
{
	const struct jp_value *events = jp_get(doc, "traceEvents");

	for (size_t i = 0; i < events->len; i++) {
		const struct jp_value *ev = &events->items[i];

		if (is(ev, "ph", ph) && uint_of(ev, "tid") == tid && !n--)
			return ev;
	}
	return NULL;
}

static size_t count_events(const struct jp_value *doc, const char *ph)
{
	const struct jp_value *events = jp_get(doc, "traceEvents");
	size_t n = 0;

	for (size_t i = 0; i < events->len; i++)
		n += is(&events->items[i], "ph", ph);
	return n;
}

/* worker-1 waits on hot_lock 1 ms and is woken by worker-2 (a flow); worker-2 wakes main,
 * which is not waiting (no flow); a thread the trace never names waits on an unnamed lock;
 * worker-2 is still waiting when the recording ends. */
static void write_scenario(bool complete)
{
	static const uint32_t s1[] = {1, 2};

	tf_open(&trace, PID, "hot", "./hot", "contention");
	tf_thread(&trace, 0, PID, "hot");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_frame(&trace, 1, 0x401136, "lock_hot", "hot.c", 31, "hot", 0x16);
	tf_frame(&trace, 2, 0x4011a0, "worker", "", 0, "hot", 0x1a);
	tf_stack(&trace, 1, 2, s1);
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "hot_lock");
	tf_begin(&trace, 1000000, W1, HOT, LS_KIND_MUTEX, W2, 1);
	tf_wake(&trace, 1990000, 2000000, W2, W1, HOT);
	tf_end(&trace, 2000500, W1, LS_WAIT_WOKEN);
	tf_wake(&trace, 3000000, 3000100, W2, PID, HOT);
	tf_begin(&trace, 4000000, W2, HOT, LS_KIND_MUTEX, W1, 0);
	tf_begin(&trace, 5000000, ANON, COLD, LS_KIND_FUTEX, 0, 0);
	tf_end(&trace, 5100000, ANON, LS_WAIT_CHANGED);
	tf_lost(&trace, 6000000, 12);
	if (complete)
		tf_finish(&trace, 10000000, 10, 12);
	tf_close(&trace);
}

Test(export, follows_the_format_rules)
{
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(true);
	doc = export_stdout(&run);
	cr_assert_eq(run.err_len, 0, "%s", run.err);
	/* three waits, two wake slices, the woken thread's part of the wake; one flow */
	cr_assert_eq(count_events(doc, "X"), 6);
	cr_assert_eq(count_events(doc, "s"), 1);
	cr_assert_eq(count_events(doc, "f"), 1);
	cr_assert_eq(count_events(doc, "i"), 1);
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, metadata_names_process_and_threads)
{
	struct tf_run run;
	struct jp_value *doc;
	const struct jp_value *m;

	write_scenario(true);
	doc = export_stdout(&run);
	m = nth_event(doc, "M", PID, 0);
	cr_assert(is(m, "name", "process_name"));
	cr_assert(is(jp_get(m, "args"), "name", "hot"));
	m = nth_event(doc, "M", W1, 0);
	cr_assert(is(m, "name", "thread_name"));
	cr_assert(is(jp_get(m, "args"), "name", "worker-1"));
	m = nth_event(doc, "M", ANON, 0);
	cr_assert(is(jp_get(m, "args"), "name", "tid 99"));
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, wait_is_a_complete_event_in_microseconds)
{
	struct tf_run run;
	struct jp_value *doc;
	const struct jp_value *x, *args;

	write_scenario(true);
	doc = export_stdout(&run);
	x = nth_event(doc, "X", W1, 0);
	cr_assert(x);
	cr_assert(is(x, "name", "hot_lock"));
	cr_assert(is(x, "cat", "mutex"));
	cr_assert_str_eq(jp_get(x, "ts")->text, "1000.000");
	cr_assert_str_eq(jp_get(x, "dur")->text, "1000.500");
	args = jp_get(x, "args");
	cr_assert(is(args, "addr", "0x5581d2a0"));
	cr_assert_eq(uint_of(args, "owner"), W2);
	cr_assert(is(args, "result", "woken"));
	cr_assert_eq(jp_get(args, "stack")->len, 2);
	cr_assert_str_eq(jp_str(jp_path(args, "stack.0")), "lock_hot (hot.c:31)");
	cr_assert_str_eq(jp_str(jp_path(args, "stack.1")), "worker+0x1a (hot)");

	x = nth_event(doc, "X", ANON, 0);
	cr_assert(is(x, "name", "futex 0x5581d300"));
	cr_assert(is(x, "cat", "futex"));
	cr_assert(is(jp_get(x, "args"), "result", "changed"));
	cr_assert_eq(jp_get(jp_get(x, "args"), "owner")->type, JP_NULL);
	cr_assert_eq(jp_get(jp_get(x, "args"), "stack")->len, 0);
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, wake_flows_from_waker_into_the_wait)
{
	struct tf_run run;
	struct jp_value *doc;
	const struct jp_value *wake, *s, *f;

	write_scenario(true);
	doc = export_stdout(&run);
	wake = nth_event(doc, "X", W2, 0);
	cr_assert(is(wake, "name", "wake hot_lock"));
	cr_assert_str_eq(jp_get(wake, "ts")->text, "1990.000");
	cr_assert_str_eq(jp_get(wake, "dur")->text, "10.000");
	s = nth_event(doc, "s", W2, 0);
	f = nth_event(doc, "f", W1, 0);
	cr_assert(s && f);
	cr_assert_str_eq(jp_get(s, "ts")->text, "1990.000");
	cr_assert_str_eq(jp_get(f, "ts")->text, "2000.000");
	cr_assert_eq(uint_of(s, "id"), uint_of(f, "id"));
	/* the wake of main, which was not waiting, has its slice but no flow */
	wake = nth_event(doc, "X", W2, 1);
	cr_assert(is(wake, "name", "wake hot_lock"));
	cr_assert_str_eq(jp_get(wake, "ts")->text, "3000.000");
	cr_assert_null(nth_event(doc, "f", PID, 0));
	cr_assert_null(nth_event(doc, "s", W2, 1));
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, wait_open_at_the_end_runs_to_the_end)
{
	struct tf_run run;
	struct jp_value *doc;
	const struct jp_value *x;

	write_scenario(true);
	doc = export_stdout(&run);
	x = nth_event(doc, "X", W2, 2);
	cr_assert(is(x, "name", "hot_lock"));
	cr_assert_str_eq(jp_get(x, "ts")->text, "4000.000");
	cr_assert_str_eq(jp_get(x, "dur")->text, "6000.000");
	cr_assert(is(jp_get(x, "args"), "result", "unfinished"));
	cr_assert_eq(uint_of(jp_get(doc, "otherData"), "lost_events"), 12);
	cr_assert(jp_get(jp_get(doc, "otherData"), "complete")->boolean);
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, cut_trace_is_exported_with_a_note)
{
	struct tf_run run;
	struct jp_value *doc;
	const struct jp_value *x;

	write_scenario(false);
	doc = export_stdout(&run);
	cr_assert(strstr(run.err, "lockscope: export: "), "%s", run.err);
	cr_assert(strstr(run.err, "no end record"), "%s", run.err);
	cr_assert_not(jp_get(jp_get(doc, "otherData"), "complete")->boolean);
	/* the open wait ends at the last timestamp read */
	x = nth_event(doc, "X", W2, 2);
	cr_assert_str_eq(jp_get(x, "dur")->text, "2000.000");
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, writes_a_file_and_refuses_bad_paths)
{
	struct export_call c = {NULL, NULL};
	struct tf_run run;
	struct jp_value *doc;
	char *text;
	size_t len;
	FILE *f;

	write_scenario(true);
	snprintf(out_path, sizeof(out_path), "%s.json", trace.path);
	c.path = trace.path;
	c.out = out_path;
	tf_capture(&run, call_export, &c);
	cr_assert_eq(run.status, 0, "%s", run.err);
	cr_assert_eq(run.out_len, 0);
	tf_run_free(&run);
	f = fopen(out_path, "r");
	cr_assert(f);
	text = malloc(1 << 20);
	len = fread(text, 1, 1 << 20, f);
	fclose(f);
	doc = parse_and_check(text, len, true);
	jp_free(doc);
	free(text);

	c.out = "/nonexistent/dir/out.json";
	tf_capture(&run, call_export, &c);
	cr_assert_eq(run.status, 1);
	cr_assert_str_eq(run.err, "lockscope: export: /nonexistent/dir/out.json: No such file or "
				  "directory\n");
	tf_run_free(&run);

	/* not a trace: nothing is created */
	unlink(out_path);
	c.path = "/nonexistent.lsz";
	c.out = out_path;
	tf_capture(&run, call_export, &c);
	cr_assert_eq(run.status, 1);
	cr_assert_eq(access(out_path, F_OK), -1);
	cr_assert_str_eq(run.err, "lockscope: export: /nonexistent.lsz: No such file or "
				  "directory\n");
	tf_run_free(&run);
}

Test(export, renamed_thread_and_hostile_names_stay_valid)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "x\x01", "", "contention");
	tf_thread(&trace, 0, 1, "old");
	tf_thread(&trace, 10, 1, "new\xff\n\"");
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "l\x1b[31mred");
	tf_begin(&trace, 10, 1, HOT, LS_KIND_MUTEX, 0, 0);
	tf_end(&trace, 20, 1, LS_WAIT_WOKEN);
	tf_finish(&trace, 30, 2, 0);
	tf_close(&trace);
	doc = export_stdout(&run);
	/* renamed before its first event: described once, with the name it has then */
	cr_assert(is(jp_get(nth_event(doc, "M", 1, 1), "args"), "name", "new\xef\xbf\xbd\n\""));
	cr_assert_null(nth_event(doc, "M", 1, 2), "the thread is described twice");
	cr_assert(is(nth_event(doc, "X", 1, 0), "name", "l\x1b[31mred"));
	jp_free(doc);
	tf_run_free(&run);
}

/* W1 waits on HOT with stack 1 and W2 wakes it: at START. */
static void wait_and_wake(uint64_t start, uint8_t kind)
{
	tf_begin(&trace, start, W1, HOT, kind, 0, 1);
	tf_wake(&trace, start + 10, start + 20, W2, W1, HOT);
	tf_end(&trace, start + 30, W1, LS_WAIT_WOKEN);
}

static const char *stack_frame(const struct jp_value *x, size_t i)
{
	const struct jp_value *stack = jp_get(jp_get(x, "args"), "stack");

	return i < stack->len ? jp_str(&stack->items[i]) : NULL;
}

/* Names and stacks are written once per lock and per stack, then copied: a record that
 * redefines a lock, a frame or a stack must show in every event after it, and in none before. */
Test(export, redefined_locks_frames_and_stacks_show_from_then_on)
{
	static const uint32_t one[] = {1}, two[] = {1, 2};
	const struct jp_value *x;
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, PID, "redef", "", "contention");
	tf_frame(&trace, 1, 0x1000, "first_frame", "a.c", 1, "m", 0);
	tf_stack(&trace, 1, 1, one);
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "first");
	wait_and_wake(100, LS_KIND_MUTEX);
	tf_lock(&trace, 200, HOT, LS_KIND_MUTEX, "second");
	tf_frame(&trace, 1, 0x1000, "second_frame", "a.c", 2, "m", 0);
	wait_and_wake(300, LS_KIND_MUTEX);
	tf_stack(&trace, 1, 2, two); /* frame 2 is not defined yet */
	wait_and_wake(500, LS_KIND_MUTEX);
	tf_frame(&trace, 2, 0x2000, "third_frame", "b.c", 3, "m", 0);
	tf_lock(&trace, 600, HOT, LS_KIND_MUTEX, ""); /* no name: the kind's label */
	wait_and_wake(700, LS_KIND_MUTEX);
	wait_and_wake(900, LS_KIND_COND);
	tf_finish(&trace, 1000, 15, 0);
	tf_close(&trace);
	doc = export_stdout(&run);

	/* W1's slices: each wait, then the woken part of the wake that ended it */
	cr_assert(is(nth_event(doc, "X", W1, 1), "name", "wake first"));
	cr_assert(is(nth_event(doc, "X", W1, 1), "cat", "wake"));
	x = nth_event(doc, "X", W1, 0);
	cr_assert(is(x, "name", "first"));
	cr_assert_str_eq(stack_frame(x, 0), "first_frame (a.c:1)");
	cr_assert(is(nth_event(doc, "X", W2, 0), "name", "wake first"));
	cr_assert(is(nth_event(doc, "s", W2, 0), "name", "wake first"));
	cr_assert(is(nth_event(doc, "f", W1, 0), "name", "wake first"));

	x = nth_event(doc, "X", W1, 2);
	cr_assert(is(x, "name", "second"));
	cr_assert_str_eq(stack_frame(x, 0), "second_frame (a.c:2)");
	cr_assert_null(stack_frame(x, 1));
	cr_assert(is(nth_event(doc, "X", W2, 1), "name", "wake second"));
	cr_assert(is(nth_event(doc, "f", W1, 1), "name", "wake second"));

	x = nth_event(doc, "X", W1, 4);
	cr_assert_str_eq(stack_frame(x, 0), "second_frame (a.c:2)");
	cr_assert_str_eq(stack_frame(x, 1), "?? (frame 2)");

	x = nth_event(doc, "X", W1, 6);
	cr_assert(is(x, "name", "mutex 0x5581d2a0"));
	cr_assert(is(x, "cat", "mutex"));
	cr_assert_str_eq(stack_frame(x, 1), "third_frame (b.c:3)");
	cr_assert(is(nth_event(doc, "X", W2, 3), "name", "wake futex 0x5581d2a0"));

	x = nth_event(doc, "X", W1, 8);
	cr_assert(is(x, "name", "cond 0x5581d2a0"));
	cr_assert(is(x, "cat", "cond"));
	jp_free(doc);
	tf_run_free(&run);
}

/* A deep stack of long frames comes out cut after 32 KiB of JSON, the rest counted (a stack
 * printed with every event that has it must not multiply a crafted trace into gigabytes); a
 * lock name longer than a wake name holds is cut the same way at both ends of the
 * flow, never inside a character. */
Test(export, long_stacks_and_names_come_out_whole)
{
	enum { NFRAMES = 120, FUNC_LEN = 400 }; /* as deep as a recorder writes */
	static uint32_t ids[NFRAMES];
	char func[FUNC_LEN + 1], name[1500], want[64];
	const struct jp_value *x, *s, *f;
	size_t shown;
	struct tf_run run;
	struct jp_value *doc;

	memset(func, 'f', FUNC_LEN); /* 48 KB of stack */
	func[FUNC_LEN] = '\0';
	memset(name, 'n', sizeof(name) - 1);
	memcpy(name + 1016, "\xe2\x82\xac", 3); /* a 3-byte character across the cut */
	name[sizeof(name) - 1] = '\0';
	tf_open(&trace, PID, "long", "", "contention");
	for (uint32_t i = 0; i < NFRAMES; i++) {
		ids[i] = i + 1;
		tf_frame(&trace, i + 1, 0x1000 + i, func, "", 0, "m", i);
	}
	tf_stack(&trace, 1, NFRAMES, ids);
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, name);
	wait_and_wake(100, LS_KIND_MUTEX);
	tf_finish(&trace, 1000, 3, 0);
	tf_close(&trace);
	doc = export_stdout(&run);

	x = nth_event(doc, "X", W1, 0);
	cr_assert(is(x, "name", name));
	/* 32 KiB of labels (80 frames), then what is left, counted */
	shown = jp_get(jp_get(x, "args"), "stack")->len - 1;
	cr_assert(shown >= 70 && shown < NFRAMES, "%zu frames shown", shown);
	snprintf(want, sizeof(want), "+0x%zx (m)", shown - 1);
	cr_assert(strstr(stack_frame(x, shown - 1), want));
	snprintf(want, sizeof(want), "... %zu more frames", NFRAMES - shown);
	cr_assert_str_eq(stack_frame(x, shown), want);
	cr_assert_eq(strlen(stack_frame(x, 0)), FUNC_LEN + strlen("+0x0 (m)"));
	s = nth_event(doc, "s", W2, 0);
	f = nth_event(doc, "f", W1, 0);
	/* "wake " and the name up to 1023 bytes: the euro sign cut after its first two bytes,
	 * each replaced */
	cr_assert_eq(strncmp(jp_str(jp_get(s, "name")), "wake nnn", 8), 0);
	cr_assert_eq(jp_get(s, "name")->len, 5 + 1016 + 2 * 3);
	cr_assert_str_eq(jp_str(jp_get(s, "name")), jp_str(jp_get(f, "name")));
	x = nth_event(doc, "X", W2, 0);
	cr_assert_str_eq(jp_str(jp_get(s, "name")), jp_str(jp_get(x, "name")));
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, wakes_that_miss_a_wait_leave_nothing_dangling)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "w", "", "contention");
	/* a wake before the wait begins, a wake after it ended, two wakes into one wait */
	tf_wake(&trace, 5, 10, 2, 1, HOT);
	tf_begin(&trace, 20, 1, HOT, LS_KIND_MUTEX, 0, 0);
	tf_wake(&trace, 25, 30, 2, 1, HOT);
	tf_wake(&trace, 35, 40, 3, 1, HOT);
	tf_end(&trace, 50, 1, LS_WAIT_WOKEN);
	tf_wake(&trace, 55, 60, 2, 1, HOT);
	/* call_ts after ts: clamped to an empty slice */
	tf_wake(&trace, 80, 70, 2, 1, HOT);
	tf_finish(&trace, 100, 6, 0);
	tf_close(&trace);
	doc = export_stdout(&run);
	cr_assert_eq(count_events(doc, "s"), 1);
	cr_assert_eq(count_events(doc, "f"), 1);
	cr_assert_eq(uint_of(nth_event(doc, "s", 3, 0), "id"),
		     uint_of(nth_event(doc, "f", 1, 0), "id"));
	cr_assert_eq(uint_of(jp_get(doc, "otherData"), "wakes_without_flow"), 4);
	jp_free(doc);
	tf_run_free(&run);
}

Test(export, long_trace_streams_through)
{
	struct tf_run run;
	struct export_call c;
	struct jp_value *doc;

	tf_open(&trace, 7, "long", "", "contention");
	for (uint64_t i = 0; i < 50000; i++) {
		tf_begin(&trace, i * 1000, 10 + i % 7, HOT, LS_KIND_MUTEX, 0, 0);
		tf_end(&trace, i * 1000 + 500, 10 + i % 7, LS_WAIT_WOKEN);
	}
	tf_finish(&trace, 50000000, 100000, 0);
	tf_close(&trace);
	c = (struct export_call){trace.path, "-"};
	tf_capture(&run, call_export, &c);
	cr_assert_eq(run.status, 0);
	doc = parse_and_check(run.out, run.out_len, false);
	cr_assert_eq(count_events(doc, "X"), 50000);
	cr_assert_eq(count_events(doc, "M"), 1 + 7);
	jp_free(doc);
	tf_run_free(&run);
}

/* A loop thread blocked twice: in a sleep (its stack sampled meanwhile), and busy until the
 * recording ended. */
Test(export, loop_blocks_are_slices_on_the_loop_threads_track)
{
	static const uint32_t s1[] = {1, 2};
	struct ls_rec sample = {.type = LS_REC_LOOP_SAMPLE, .ts = 1060000, .tid = W1,
				.loop = {.start = 1000000, .stack_id = 1}};
	struct ls_rec block = {.type = LS_REC_LOOP_BLOCK, .ts = 1200000, .tid = W1,
			       .loop = {.start = 1000000, .on_cpu_ns = 3000,
					.off_ns = {[LS_LOOP_SLEEP] = 197000}}};
	struct ls_rec busy = {.type = LS_REC_LOOP_SAMPLE, .ts = 3000000, .tid = W1,
			      .loop = {.start = 2000000, .on_cpu_ns = 1000000, .on_cpu = 1}};
	struct tf_run run;
	struct jp_value *doc;
	const struct jp_value *x, *args;

	tf_open(&trace, PID, "loop", "./loop", "contention");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_frame(&trace, 1, 0x401136, "bad_handler", "app.py", 42, "python", 0);
	tf_frame(&trace, 2, 0x4011a0, "Handle._run", "events.py", 80, "python", 0);
	tf_stack(&trace, 1, 2, s1);
	tf_add(&trace, &sample);
	tf_add(&trace, &block);
	tf_add(&trace, &busy);
	tf_finish(&trace, 4000000, 3, 0);
	tf_close(&trace);
	doc = export_stdout(&run);
	cr_assert_eq(count_events(doc, "X"), 2);
	x = nth_event(doc, "X", W1, 0);
	cr_assert(is(x, "cat", "loop_block"));
	cr_assert(is(x, "name", "loop blocked (sleep)"));
	cr_assert_str_eq(jp_get(x, "ts")->text, "1000.000");
	cr_assert_str_eq(jp_get(x, "dur")->text, "200.000");
	args = jp_get(x, "args");
	cr_assert(is(args, "cause", "sleep"));
	cr_assert_eq(uint_of(args, "on_cpu_ns"), 3000);
	cr_assert_str_eq(jp_str(jp_path(args, "stack.0")), "bad_handler (app.py:42)");
	x = nth_event(doc, "X", W1, 1);
	cr_assert(is(x, "name", "loop blocked (cpu)"));
	cr_assert_str_eq(jp_get(x, "dur")->text, "2000.000");	/* to the end of recording */
	cr_assert_eq(jp_get(jp_get(x, "args"), "open")->type, JP_BOOL);
	jp_free(doc);
	tf_run_free(&run);
}

/* A failed export leaves things as they were: the device it was asked to write (/dev/full) stays
 * the device, and a file already at the output's name stays, whole, with no temporary beside it. */
Test(export, a_failed_write_leaves_what_was_there)
{
	struct export_call c = {NULL, NULL};
	struct rlimit lim, old;
	struct tf_run run;
	char pattern[96];
	struct stat st;
	glob_t g;

	write_scenario(true);
	c.path = trace.path;
	c.out = "/dev/full";
	tf_capture(&run, call_export, &c);
	cr_assert_eq(run.status, 2, "status %d: %s", run.status, run.err);
	cr_assert(strstr(run.err, "No space left on device"), "%s", run.err);
	cr_assert_eq(stat("/dev/full", &st), 0);
	cr_assert(S_ISCHR(st.st_mode));
	tf_run_free(&run);

	/* a disk that fills (here a file size limit) while a good export is at the name */
	snprintf(out_path, sizeof(out_path), "%s.json", trace.path);
	c.out = out_path;
	tf_capture(&run, call_export, &c);
	cr_assert_eq(run.status, 0, "%s", run.err);
	tf_run_free(&run);
	cr_assert_eq(stat(out_path, &st), 0);
	cr_assert_gt(st.st_size, 100);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	tf_capture(&run, call_export, &c);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(run.status, 2, "status %d: %s", run.status, run.err);
	tf_run_free(&run);
	cr_assert_eq(lstat(out_path, &st), 0, "the good export was removed");
	cr_assert_gt(st.st_size, 100, "the good export was cut");
	snprintf(pattern, sizeof(pattern), "%s.*", out_path);
	cr_assert_eq(glob(pattern, 0, NULL, &g), GLOB_NOMATCH, "left beside it: %s", g.gl_pathv[0]);
}
