/* test_report.c - `report` on trace files written by the real writer: the JSON document field by
 * field, the text layout, --top, cut and damaged files, files that are not traces. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonparse.h"
#include "commands/report.h"
#include "tracefile.h"

#define PID 4242
#define W1 4243
#define W2 4244
#define HOT 0x5581d2a0ull
#define COLD 0x5581d300ull
#define CONDV 0x5581d400ull
#define JOINW 0x7f1234000990ull

static struct tf trace;

static void teardown(void)
{
	tf_remove(&trace);
}

TestSuite(report, .fini = teardown);

/* hot_lock: worker-1 waits 1 ms and 2.5 ms (stack 1, held by worker-2), worker-2 3 ms (stack
 * 2, held by worker-1). cold_lock: worker-2 0.4 ms. main: a 4 ms condition wait, then joins
 * worker-1 for 4.5 ms. Without END, the join is still open when the trace stops. */
static void write_scenario(bool complete)
{
	static const uint32_t s1[] = {1, 2, 3, 4}, s2[] = {2, 3};

	tf_open(&trace, PID, "hot", "./hot --threads 2", "contention");
	tf_thread(&trace, 0, PID, "hot");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_frame(&trace, 1, 0x401136, "lock_hot", "hot.c", 31, "hot", 0x16);
	tf_frame(&trace, 2, 0x4011a0, "worker", "", 0, "hot", 0x1a);
	tf_frame(&trace, 3, 0x7f00008f2a0, "", "", 0, "libc.so.6", 0x8f2a0);
	tf_frame(&trace, 4, 0x7f0000001234, "", "", 0, "", 0);
	tf_stack(&trace, 1, 4, s1);
	tf_stack(&trace, 2, 2, s2);
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "hot_lock");
	tf_lock(&trace, 0, COLD, LS_KIND_MUTEX, "cold_lock");
	tf_lock(&trace, 0, CONDV, LS_KIND_COND, "work_ready");
	tf_lock(&trace, 0, JOINW, LS_KIND_JOIN, "thread 4243 (worker-1)");
	tf_begin(&trace, 100000, PID, CONDV, LS_KIND_COND, 0, 0);
	tf_begin(&trace, 1000000, W1, HOT, LS_KIND_MUTEX, W2, 1);
	tf_end(&trace, 2000000, W1, LS_WAIT_WOKEN);
	tf_begin(&trace, 2500000, W2, COLD, LS_KIND_MUTEX, W1, 0);
	tf_end(&trace, 2900000, W2, LS_WAIT_WOKEN);
	tf_begin(&trace, 3000000, W2, HOT, LS_KIND_MUTEX, W1, 2);
	tf_end(&trace, 4100000, PID, LS_WAIT_WOKEN);
	tf_begin(&trace, 5000000, PID, JOINW, LS_KIND_JOIN, 0, 0);
	tf_end(&trace, 6000000, W2, LS_WAIT_WOKEN);
	tf_begin(&trace, 7000000, W1, HOT, LS_KIND_MUTEX, W2, 1);
	tf_end(&trace, 9500000, W1, LS_WAIT_WOKEN);
	if (complete) {
		tf_end(&trace, 9500000, PID, LS_WAIT_WOKEN);
		tf_finish(&trace, 10000000, 99, 3);
	}
	tf_close(&trace);
}

static void run_report(struct tf_run *run, const char *path, bool json, int top)
{
	struct report_opts opts = {.json = json, .top = top};

	tf_report(run, path, &opts);
}

/* Runs report --json on the scenario's file and parses what it printed. */
static struct jp_value *report_json(struct tf_run *run, int top)
{
	struct jp_value *doc;
	char err[128];

	run_report(run, trace.path, true, top);
	cr_assert_eq(run->status, 0, "status %d, stderr: %s", run->status, run->err);
	doc = jp_parse(run->out, run->out_len, err, sizeof(err));
	cr_assert(doc, "%s in:\n%s", err, run->out);
	return doc;
}

static uint64_t u64_at(const struct jp_value *doc, const char *path)
{
	uint64_t v;

	cr_assert(jp_uint(jp_path(doc, path), &v), "%s is not an unsigned integer", path);
	return v;
}

static const char *str_at(const struct jp_value *doc, const char *path)
{
	const char *s = jp_str(jp_path(doc, path));

	cr_assert(s, "%s is not a string", path);
	return s;
}

static size_t len_at(const struct jp_value *doc, const char *path, enum jp_type type)
{
	const struct jp_value *v = jp_path(doc, path);

	cr_assert(v && v->type == type, "%s is missing or of another type", path);
	return v->len;
}

Test(report, json_head_target_recording_threads)
{
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(true);
	doc = report_json(&run, 0);
	cr_assert_eq(run.err_len, 0, "stderr: %s", run.err);
	cr_assert_str_eq(str_at(doc, "schema"), "lockscope.report/1");
	cr_assert_eq(u64_at(doc, "target.pid"), PID);
	cr_assert_str_eq(str_at(doc, "target.comm"), "hot");
	cr_assert_str_eq(str_at(doc, "target.cmdline"), "./hot --threads 2");
	cr_assert_eq(u64_at(doc, "target.duration_ns"), 10000000);
	cr_assert_str_eq(str_at(doc, "recording.mode"), "contention");
	cr_assert_eq(u64_at(doc, "recording.events"), 99);
	cr_assert_eq(u64_at(doc, "recording.lost_events"), 3);
	/* a share, 0..1: none of a contention-mode trace */
	const struct jp_value *cov = jp_path(doc, "recording.full_coverage");

	cr_assert(cov && cov->type == JP_NUMBER && cov->number == 0.0,
		  "recording.full_coverage is not the number 0");
	cr_assert_eq(jp_path(doc, "recording.complete")->type, JP_BOOL);
	cr_assert(jp_path(doc, "recording.complete")->boolean);
	cr_assert_eq(len_at(doc, "threads", JP_ARRAY), 3);
	cr_assert_eq(u64_at(doc, "threads.0.tid"), PID);
	cr_assert_str_eq(str_at(doc, "threads.0.name"), "hot");
	cr_assert_eq(u64_at(doc, "threads.2.tid"), W2);
	cr_assert_str_eq(str_at(doc, "threads.2.name"), "worker-2");
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, json_locks_exact)
{
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(true);
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "locks", JP_ARRAY), 2);
	cr_assert_str_eq(str_at(doc, "locks.0.addr"), "0x5581d2a0");
	cr_assert_str_eq(str_at(doc, "locks.0.name"), "hot_lock");
	cr_assert_str_eq(str_at(doc, "locks.0.kind"), "mutex");
	cr_assert_eq(u64_at(doc, "locks.0.contentions"), 3);
	cr_assert_eq(u64_at(doc, "locks.0.wait_ns"), 6500000);
	cr_assert_eq(u64_at(doc, "locks.0.max_wait_ns"), 3000000);
	cr_assert_eq(jp_path(doc, "locks.0.acquisitions")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "locks.0.hold_ns")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "locks.0.max_hold_ns")->type, JP_NULL);

	cr_assert_eq(len_at(doc, "locks.0.waiters", JP_ARRAY), 2);
	cr_assert_eq(u64_at(doc, "locks.0.waiters.0.tid"), W1);
	cr_assert_eq(u64_at(doc, "locks.0.waiters.0.wait_ns"), 3500000);
	cr_assert_eq(u64_at(doc, "locks.0.waiters.0.count"), 2);
	cr_assert_eq(u64_at(doc, "locks.0.waiters.1.tid"), W2);
	cr_assert_eq(u64_at(doc, "locks.0.waiters.1.wait_ns"), 3000000);
	cr_assert_eq(u64_at(doc, "locks.0.owners.0.tid"), W2);
	cr_assert_eq(u64_at(doc, "locks.0.owners.0.count"), 2);

	cr_assert_eq(len_at(doc, "locks.0.stacks", JP_ARRAY), 2);
	cr_assert_eq(u64_at(doc, "locks.0.stacks.0.wait_ns"), 3500000);
	cr_assert_eq(u64_at(doc, "locks.0.stacks.0.count"), 2);
	cr_assert_eq(len_at(doc, "locks.0.stacks.0.frames", JP_ARRAY), 4);
	cr_assert_str_eq(str_at(doc, "locks.0.stacks.0.frames.0"), "lock_hot (hot.c:31)");
	cr_assert_str_eq(str_at(doc, "locks.0.stacks.0.frames.1"), "worker+0x1a (hot)");
	cr_assert_str_eq(str_at(doc, "locks.0.stacks.0.frames.2"), "libc.so.6+0x8f2a0");
	cr_assert_str_eq(str_at(doc, "locks.0.stacks.0.frames.3"), "0x7f0000001234");
	cr_assert_eq(len_at(doc, "locks.0.stacks.1.frames", JP_ARRAY), 2);

	cr_assert_str_eq(str_at(doc, "locks.1.name"), "cold_lock");
	cr_assert_eq(u64_at(doc, "locks.1.wait_ns"), 400000);
	cr_assert_eq(len_at(doc, "locks.1.stacks", JP_ARRAY), 0);
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, json_other_waits_and_empty_analyses)
{
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(true);
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "other_waits", JP_ARRAY), 2);
	cr_assert_str_eq(str_at(doc, "other_waits.0.kind"), "join");
	cr_assert_str_eq(str_at(doc, "other_waits.0.name"), "thread 4243 (worker-1)");
	cr_assert_eq(u64_at(doc, "other_waits.0.wait_ns"), 4500000);
	cr_assert_eq(u64_at(doc, "other_waits.0.count"), 1);
	cr_assert_str_eq(str_at(doc, "other_waits.1.kind"), "cond");
	cr_assert_str_eq(str_at(doc, "other_waits.1.name"), "work_ready");
	cr_assert_eq(u64_at(doc, "other_waits.1.wait_ns"), 4000000);
	cr_assert_eq(u64_at(doc, "other_waits.1.waiters.0.tid"), PID);

	cr_assert_eq(len_at(doc, "lock_order", JP_OBJECT), 3);
	cr_assert_eq(len_at(doc, "lock_order.edges", JP_ARRAY), 0);
	cr_assert_eq(len_at(doc, "lock_order.cycles", JP_ARRAY), 0);
	cr_assert_eq(len_at(doc, "lock_order.suppressed", JP_ARRAY), 0);
	cr_assert_eq(len_at(doc, "deadlocks", JP_ARRAY), 0);
	cr_assert_eq(len_at(doc, "loop_blocks", JP_ARRAY), 0);
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, json_keys_in_the_contracts_order)
{
	static const char *const keys[] = {"schema",	  "target",	 "recording",
					   "processes",	  "threads",	 "objects",	"locks",
					   "other_waits", "lock_order", "deadlocks",
					   "loop_blocks"};
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(true);
	doc = report_json(&run, 0);
	cr_assert_eq(doc->len, sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < doc->len; i++)
		cr_assert_str_eq(doc->keys[i], keys[i]);
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, top_limits_locks)
{
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(true);
	doc = report_json(&run, 1);
	cr_assert_eq(len_at(doc, "locks", JP_ARRAY), 1);
	cr_assert_str_eq(str_at(doc, "locks.0.name"), "hot_lock");
	jp_free(doc);
	tf_run_free(&run);

	run_report(&run, trace.path, false, 1);
	cr_assert_eq(run.status, 0);
	cr_assert(strstr(run.out, "hot_lock"));
	cr_assert_null(strstr(run.out, "cold_lock"));
	cr_assert(strstr(run.out, "(1 of 2)"), "%s", run.out);
	tf_run_free(&run);
}

Test(report, json_lists_all_locks_text_ten_by_default)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "many", "", "contention");
	for (uint64_t i = 0; i < 12; i++) {
		tf_begin(&trace, i * 1000, 1, 0x1000 + i * 64, LS_KIND_MUTEX, 0, 0);
		tf_end(&trace, i * 1000 + 100 + i, 1, LS_WAIT_WOKEN);
	}
	tf_finish(&trace, 20000, 24, 0);
	tf_close(&trace);

	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "locks", JP_ARRAY), 12);
	/* no LOCK record: the kind and the address */
	cr_assert_str_eq(str_at(doc, "locks.0.name"), "mutex 0x12c0");
	jp_free(doc);
	tf_run_free(&run);

	run_report(&run, trace.path, false, 0);
	cr_assert(strstr(run.out, "(10 of 12)"), "%s", run.out);
	cr_assert(strstr(run.out, "mutex 0x12c0"));
	cr_assert_null(strstr(run.out, "mutex 0x1040"));
	tf_run_free(&run);
}

Test(report, text_has_header_table_waiters_and_stacks)
{
	struct tf_run run;

	write_scenario(true);
	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0);
	cr_assert_eq(run.err_len, 0, "%s", run.err);
	cr_assert(strstr(run.out, "pid 4242 (hot): ./hot --threads 2"), "%s", run.out);
	cr_assert(strstr(run.out, "10.00 ms, contention mode, 99 events, 3 lost"), "%s", run.out);
	cr_assert(strstr(run.out, "           3      6.50 ms      2.17 ms      3.00 ms  mutex   "
				  "hot_lock  [0x5581d2a0]\n"),
		  "%s", run.out);
	cr_assert(strstr(run.out, "worker-1 (4243) 53.8%, worker-2 (4244) 46.2%"), "%s", run.out);
	cr_assert(strstr(run.out, "worker-2 (4244) x2, worker-1 (4243) x1"), "%s", run.out);
	cr_assert(strstr(run.out, "stack 1   53.8% of the wait, 2 waits\n"
				  "                    lock_hot (hot.c:31)\n"
				  "                    worker+0x1a (hot)\n"),
		  "%s", run.out);
	cr_assert(strstr(run.out, "Other waits"), "%s", run.out);
	cr_assert(strstr(run.out, "join    thread 4243 (worker-1)"), "%s", run.out);
	cr_assert(strstr(run.out, "cond    work_ready"), "%s", run.out);
	tf_run_free(&run);
}

Test(report, file_without_end_is_reported_with_a_note)
{
	struct tf_run run;
	struct jp_value *doc;

	write_scenario(false);
	doc = report_json(&run, 0);
	cr_assert(strstr(run.err, "lockscope: report: "), "%s", run.err);
	cr_assert(strstr(run.err, "no end record"), "%s", run.err);
	cr_assert_eq(strchr(run.err, '\n'), run.err + run.err_len - 1, "one line: %s", run.err);
	cr_assert_not(jp_path(doc, "recording.complete")->boolean);
	/* the last timestamp stands in for the duration, and closes the join still open */
	cr_assert_eq(u64_at(doc, "target.duration_ns"), 9500000);
	cr_assert_str_eq(str_at(doc, "other_waits.0.kind"), "join");
	cr_assert_eq(u64_at(doc, "other_waits.0.wait_ns"), 4500000);
	cr_assert_eq(u64_at(doc, "other_waits.0.unfinished"), 1);
	cr_assert_eq(u64_at(doc, "locks.0.wait_ns"), 6500000);
	jp_free(doc);
	tf_run_free(&run);

	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0);
	cr_assert(strstr(run.out, "  incomplete no end record"), "%s", run.out);
	cr_assert(strstr(run.out,
			 "join    thread 4243 (worker-1)  [0x7f1234000990]\n"
			 "        open      1 thread was still waiting when the trace ended\n"),
		  "%s", run.out);
	tf_run_free(&run);
}

/* Enough waits for several chunks. */
static void write_long(uint64_t pairs)
{
	tf_open(&trace, 7, "long", "", "contention");
	for (uint64_t i = 0; i < pairs; i++) {
		tf_begin(&trace, i * 1000 + (i * 7919) % 97, 10 + i % 7, HOT, LS_KIND_MUTEX, i % 5,
			 0);
		tf_end(&trace, i * 1000 + 500, 10 + i % 7, LS_WAIT_WOKEN);
	}
	tf_finish(&trace, pairs * 1000, pairs * 2, 0);
	tf_close(&trace);
}

Test(report, cut_file_reports_what_is_there)
{
	struct tf_run run;
	struct jp_value *doc;
	long size;
	FILE *f;

	write_long(60000);
	f = fopen(trace.path, "r");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	cr_assert_eq(truncate(trace.path, size - 100), 0);

	doc = report_json(&run, 0);
	cr_assert(strstr(run.err, "file is cut in chunk"), "%s", run.err);
	cr_assert_eq(strchr(run.err, '\n'), run.err + run.err_len - 1, "one line: %s", run.err);
	cr_assert_not(jp_path(doc, "recording.complete")->boolean);
	cr_assert_gt(u64_at(doc, "locks.0.contentions"), 1000);
	cr_assert_lt(u64_at(doc, "locks.0.contentions"), 60000);
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, corrupt_chunk_reports_what_came_before)
{
	struct tf_run run;
	long size;
	int byte;
	FILE *f;

	write_long(60000);
	f = fopen(trace.path, "r+");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size / 2, SEEK_SET);
	byte = fgetc(f);
	fseek(f, size / 2, SEEK_SET);
	fputc(byte ^ 0x55, f);
	fclose(f);

	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0);
	cr_assert(strstr(run.err, "corrupt"), "%s", run.err);
	cr_assert(strstr(run.out, "incomplete"), "%s", run.out);
	cr_assert(strstr(run.out, "mutex"), "%s", run.out);
	tf_run_free(&run);
}

Test(report, not_a_trace_is_one_line_and_status_1)
{
	struct tf_run run;
	char expect[128];
	FILE *f;

	tf_open(&trace, 1, "x", "", "contention");
	tf_close(&trace);
	f = fopen(trace.path, "w");
	fputs("hello, world\n", f);
	fclose(f);
	run_report(&run, trace.path, true, 0);
	cr_assert_eq(run.status, 1);
	cr_assert_eq(run.out_len, 0);
	snprintf(expect, sizeof(expect), "lockscope: report: %s: not a lockscope trace\n",
		 trace.path);
	cr_assert_str_eq(run.err, expect);
	tf_run_free(&run);

	run_report(&run, "/nonexistent/app.lsz", false, 0);
	cr_assert_eq(run.status, 1);
	cr_assert_str_eq(run.err, "lockscope: report: /nonexistent/app.lsz: No such file or "
				  "directory\n");
	tf_run_free(&run);
}

Test(report, hostile_names_still_make_valid_json)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "bad\x01\xff", "a \"quoted\"\n\targ", "contention");
	tf_thread(&trace, 0, 1, "t\x7f\xc3\x28\\");
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "first name");
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "lock\nwith \"newline\" \xe2\x82");
	tf_begin(&trace, 10, 1, HOT, LS_KIND_MUTEX, 0, 0);
	tf_end(&trace, 20, 1, LS_WAIT_WOKEN);
	tf_finish(&trace, 30, 2, 0);
	tf_close(&trace);

	doc = report_json(&run, 0);
	/* the later LOCK record for an address replaces the name */
	cr_assert_str_eq(str_at(doc, "locks.0.name"),
			 "lock\nwith \"newline\" \xef\xbf\xbd\xef\xbf\xbd");
	cr_assert_str_eq(str_at(doc, "target.cmdline"), "a \"quoted\"\n\targ");
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, empty_trace_reports_no_contention)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "idle", "", "contention");
	tf_finish(&trace, 5000000000ull, 0, 0);
	tf_close(&trace);
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "locks", JP_ARRAY), 0);
	cr_assert_eq(len_at(doc, "threads", JP_ARRAY), 0);
	jp_free(doc);
	tf_run_free(&run);
	run_report(&run, trace.path, false, 0);
	cr_assert(strstr(run.out, "No contended locks."), "%s", run.out);
	cr_assert(strstr(run.out, "5.000 s"), "%s", run.out);
	tf_run_free(&run);
}

Test(report, threads_seen_but_never_named_are_listed)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "anon", "", "contention");
	tf_begin(&trace, 10, 77, HOT, LS_KIND_MUTEX, 78, 0);
	tf_end(&trace, 20, 77, LS_WAIT_WOKEN);
	tf_finish(&trace, 30, 2, 0);
	tf_close(&trace);
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "threads", JP_ARRAY), 2);
	cr_assert_eq(u64_at(doc, "threads.0.tid"), 77);
	cr_assert_str_eq(str_at(doc, "threads.0.name"), "");
	cr_assert_eq(u64_at(doc, "threads.1.tid"), 78);
	jp_free(doc);
	tf_run_free(&run);
}

/* 77, 141 and 205 are one apart in 64: they take turns in one slot of the report's cache of
 * threads already listed, and each is still listed once. */
Test(report, threads_listed_once_whatever_their_tids)
{
	static const uint32_t tids[] = {77, 141, 77, 205, 141, 205, 77}, listed[] = {77, 141, 205};
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, 1, "anon", "", "contention");
	for (size_t i = 0; i < sizeof(tids) / sizeof(tids[0]); i++) {
		tf_begin(&trace, 10 + 20 * i, tids[i], HOT, LS_KIND_MUTEX, tids[(i + 1) % 7], 0);
		tf_end(&trace, 20 + 20 * i, tids[i], LS_WAIT_WOKEN);
	}
	tf_finish(&trace, 200, 14, 0);
	tf_close(&trace);
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "threads", JP_ARRAY), 3);
	for (size_t i = 0; i < 3; i++) {
		char path[32];

		snprintf(path, sizeof(path), "threads.%zu.tid", i);
		cr_assert_eq(u64_at(doc, path), listed[i]);
	}
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, text_scrubs_control_characters_from_names)
{
	struct tf_run run;

	tf_open(&trace, 1, "evil\x1b[2J", "run \x1b]0;title\x07", "contention");
	tf_thread(&trace, 0, 1, "t\x1b[31m");
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "lock\x1b[1m\n");
	tf_begin(&trace, 10, 1, HOT, LS_KIND_MUTEX, 0, 0);
	tf_end(&trace, 20, 1, LS_WAIT_WOKEN);
	tf_finish(&trace, 30, 2, 0);
	tf_close(&trace);
	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0);
	cr_assert_null(memchr(run.out, 0x1b, run.out_len), "%s", run.out);
	cr_assert_null(memchr(run.out, 0x07, run.out_len), "%s", run.out);
	cr_assert(strstr(run.out, "lock?[1m?  [0x5581d2a0]"), "%s", run.out);
	cr_assert(strstr(run.out, "t?[31m (1) 100.0%"), "%s", run.out);
	tf_run_free(&run);
}

static void tf_counter(struct tf *t, uint64_t ts, const char *name, uint64_t value)
{
	struct ls_rec r = {.type = LS_REC_COUNTER, .ts = ts};

	r.counter.name = name;
	r.counter.value = value;
	tf_add(t, &r);
}

/* Loss counters are running totals: the last record of a name wins, every name is in the JSON,
 * and the text lists those that lost something. */
Test(report, loss_counters_last_value_wins)
{
	struct tf_run run;
	struct jp_value *doc;

	tf_open(&trace, PID, "hot", "./hot", "contention");
	tf_counter(&trace, 10, "stacks cut: past the stack snapshot", 2);
	tf_counter(&trace, 20, "python: frames unreadable", 0);
	tf_counter(&trace, 30, "stacks cut: past the stack snapshot", 5);
	tf_finish(&trace, 1000, 0, 0);
	tf_close(&trace);
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "recording.counters", JP_OBJECT), 2);
	cr_assert_eq(u64_at(doc, "recording.counters.stacks cut: past the stack snapshot"), 5);
	cr_assert_eq(u64_at(doc, "recording.counters.python: frames unreadable"), 0);
	jp_free(doc);
	tf_run_free(&run);
	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0);
	cr_assert(strstr(run.out, "losses     stacks cut: past the stack snapshot: 5\n"), "%s",
		  run.out);
	cr_assert_null(strstr(run.out, "python: frames unreadable"), "%s", run.out);
	tf_run_free(&run);
}

/* A trace whose target ended: PROC_EXIT with CODE, after the main thread's THREAD_EXIT with
 * LEADER (the kernel's exit code) unless LEADER is -1. */
static void write_exit(int32_t code, int32_t leader)
{
	struct ls_rec texit = {.type = LS_REC_THREAD_EXIT, .ts = 900, .tid = PID};
	struct ls_rec pexit = {.type = LS_REC_PROC_EXIT, .ts = 900, .tid = PID};

	tf_open(&trace, PID, "hot", "./hot", "contention");
	tf_thread(&trace, 0, PID, "hot");
	texit.exit.code = leader;
	if (leader != -1)
		tf_add(&trace, &texit);
	pexit.exit.code = code;
	tf_add(&trace, &pexit);
	tf_finish(&trace, 1000, 2, 0);
	tf_close(&trace);
}

static void expect_exit(int32_t code, int32_t leader, int64_t want, const char *text)
{
	const struct jp_value *got;
	struct tf_run run;
	struct jp_value *doc;

	write_exit(code, leader);
	doc = report_json(&run, 0);
	got = jp_path(doc, "target.exit_code");
	cr_assert(got && got->type == JP_NUMBER, "target.exit_code is not a number");
	cr_assert_eq(got->number, (double)want, "exit_code %g, want %lld", got->number,
		     (long long)want);
	jp_free(doc);
	tf_run_free(&run);
	run_report(&run, trace.path, false, 0);
	cr_assert(strstr(run.out, text), "text lacks \"%s\":\n%s", text, run.out);
	tf_run_free(&run);
	tf_remove(&trace);
}

Test(report, the_target_ending_is_noted_with_its_status)
{
	struct tf_run run;
	struct jp_value *doc;

	/* a launched command: the recorder reaped it */
	expect_exit(137, -1, 137, "killed by signal 9 while recorded");
	expect_exit(3, -1, 3, "exited with status 3 while recorded");
	/* an attached process: the status comes from its main thread's exit code */
	expect_exit(-1, 9, 137, "killed by signal 9 while recorded");
	expect_exit(-1, 3 << 8, 3, "exited with status 3 while recorded");
	expect_exit(-1, -1, -1, "the target ended while recorded");
	/* still running when the recording stopped */
	write_scenario(true);
	doc = report_json(&run, 0);
	cr_assert_eq(jp_path(doc, "target.exit_code")->type, JP_NULL);
	jp_free(doc);
	tf_run_free(&run);
}

/* A program whose debug file was found, and a library with exported symbols only: the JSON
 * lists both; the text names the library, whose frame only an address names. */
Test(report, objects_and_frames_named_by_address_only)
{
	static const uint32_t s1[] = {1, 2};
	struct ls_rec obj = {.type = LS_REC_OBJECT};
	const struct jp_value *app, *lib;
	struct jp_value *doc;
	struct tf_run run;

	tf_open(&trace, PID, "hot", "./hot", "contention");
	obj.object.path = "/opt/hot/hot";
	obj.object.build_id = "4c531bcf";
	obj.object.debug_file = "/usr/lib/debug/.build-id/4c/531bcf.debug";
	obj.object.flags = LS_OBJ_READABLE | LS_OBJ_SYMTAB | LS_OBJ_LINES;
	obj.object.via = LS_VIA_BUILD_ID;
	tf_add(&trace, &obj);
	obj.object.path = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30";
	obj.object.build_id = "";
	obj.object.debug_file = "";
	obj.object.flags = LS_OBJ_READABLE | LS_OBJ_DYNSYM;
	obj.object.via = LS_VIA_NONE;
	tf_add(&trace, &obj);
	tf_frame(&trace, 1, 0x401136, "lock_hot", "/src/hot.c", 31, "hot", 0x16);
	tf_frame(&trace, 2, 0x7f00000d44a3, "", "", 0, "libstdc++.so.6.0.30", 0xd44a3);
	tf_stack(&trace, 1, 2, s1);
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "hot_lock");
	tf_begin(&trace, 1000000, W1, HOT, LS_KIND_MUTEX, W2, 1);
	tf_end(&trace, 2000000, W1, LS_WAIT_WOKEN);
	tf_finish(&trace, 3000000, 2, 0);
	tf_close(&trace);

	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "objects", JP_ARRAY), 2);
	app = jp_path(doc, "objects.0");
	lib = jp_path(doc, "objects.1");
	cr_assert_str_eq(str_at(app, "path"), "/opt/hot/hot");
	cr_assert_str_eq(str_at(app, "build_id"), "4c531bcf");
	cr_assert_str_eq(str_at(app, "symbols"), "full");
	cr_assert_str_eq(str_at(app, "debug_via"), "build-id");
	cr_assert_str_eq(str_at(app, "debug_file"), "/usr/lib/debug/.build-id/4c/531bcf.debug");
	cr_assert_eq(u64_at(app, "unnamed_frames"), 0);
	cr_assert_str_eq(str_at(lib, "symbols"), "dynamic");
	cr_assert_eq(jp_path(lib, "build_id")->type, JP_NULL);
	cr_assert_eq(jp_path(lib, "debug_via")->type, JP_NULL);
	cr_assert_eq(u64_at(lib, "unnamed_frames"), 1);
	/* the stack shows the file's name, the trace keeps its path */
	cr_assert_str_eq(str_at(doc, "locks.0.stacks.0.frames.0"), "lock_hot (hot.c:31)");
	jp_free(doc);
	tf_run_free(&run);

	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0);
	cr_assert(strstr(run.out, "  symbols    named by address only: libstdc++.so.6.0.30 "
				  "(1 frame, exported symbols only)\n"),
		  "%s", run.out);
	cr_assert_null(strstr(run.out, "hot (0 frames"), "%s", run.out);
	tf_run_free(&run);
}

/* Full mode on for the whole trace: hot_lock seen taken by worker-2 and never let go (a
 * deadlock's lock), cold_lock waited on but never seen taken (a futex-only lock). */
static void write_full_scenario(void)
{
	struct ls_rec w = {.type = LS_REC_WINDOW, .ts = 0}, a = {.type = LS_REC_ACQUIRE};

	tf_open(&trace, PID, "hot", "./hot", "full");
	tf_thread(&trace, 0, PID, "hot");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "hot_lock");
	tf_lock(&trace, 0, COLD, LS_KIND_MUTEX, "cold_lock");
	w.window.on = 1;
	tf_add(&trace, &w);
	a.ts = 1000000;
	a.tid = W2;
	a.acquire.addr = HOT;
	a.acquire.kind = LS_KIND_MUTEX;
	a.acquire.call_ts = a.ts;
	tf_add(&trace, &a);
	tf_begin(&trace, 2000000, W1, HOT, LS_KIND_MUTEX, W2, 0);
	tf_begin(&trace, 2500000, PID, COLD, LS_KIND_MUTEX, 0, 0);
	tf_end(&trace, 2900000, PID, LS_WAIT_WOKEN);
	tf_finish(&trace, 10000000, 10, 0);
	tf_close(&trace);
}

Test(report, holds_never_seen_are_null_and_open_ones_count_to_the_end)
{
	struct tf_run run;
	struct jp_value *doc;
	int hot, cold;

	write_full_scenario();
	doc = report_json(&run, 0);
	hot = !strcmp(str_at(doc, "locks.0.name"), "hot_lock") ? 0 : 1;
	cold = 1 - hot;
	cr_assert_eq(u64_at(doc, hot ? "locks.1.acquisitions" : "locks.0.acquisitions"), 1);
	cr_assert_eq(u64_at(doc, hot ? "locks.1.hold_ns" : "locks.0.hold_ns"), 9000000, "%lu",
		     (unsigned long)u64_at(doc, hot ? "locks.1.hold_ns" : "locks.0.hold_ns"));
	cr_assert_eq(jp_path(doc, cold ? "locks.1.acquisitions" : "locks.0.acquisitions")->type,
		     JP_NULL);
	cr_assert_eq(jp_path(doc, cold ? "locks.1.hold_ns" : "locks.0.hold_ns")->type, JP_NULL);
	jp_free(doc);
	tf_run_free(&run);
	run_report(&run, trace.path, false, 0);
	cr_assert(strstr(run.out, "held      1 times, 9.00 ms in all"), "%s", run.out);
	cr_assert(strstr(run.out, "1 still held when the trace ended"), "%s", run.out);
	cr_assert(strstr(run.out, "held      not traced"), "%s", run.out);
	cr_assert_null(strstr(run.out, "held      0 times"), "%s", run.out);
	tf_run_free(&run);
}

/* ---- a trace of several processes ---- */

#define SHM (0x8000000000000000ull | 0x5a0000000ull) /* a lock in shared memory */

static void mp_thread(uint32_t tid, uint32_t pid, uint32_t parent, const char *name)
{
	struct ls_rec r = {.type = LS_REC_THREAD, .tid = tid};

	r.thread.name = name;
	r.thread.pid = pid;
	r.thread.parent = parent;
	tf_add(&trace, &r);
}

static void mp_process(uint32_t pid, const char *comm, const char *cmdline)
{
	struct ls_rec r = {.type = LS_REC_PROCESS, .tid = pid};

	r.process.comm = comm;
	r.process.cmdline = cmdline;
	tf_add(&trace, &r);
}

/* The target 4242 (app) forks 4250, which keeps its command, and 4260, which runs another
 * (worker, two threads); 4270 was gone before it could be read: no PROCESS record. One shared
 * lock: 4250 waits 3 ms, 4260's helper 2 ms, 4260 1 ms, 4270 0.5 ms, the target 0.2 ms; 4250
 * held it twice, 4261 once. CMDLINE is 4260's command line. */
static void write_processes(const char *cmdline)
{
	static const struct {
		uint32_t tid, owner;
		uint64_t ns;
	} waits[] = {{4250, 4261, 3000000},
		     {4261, 4250, 2000000},
		     {4260, 4250, 1000000},
		     {4270, 0, 500000},
		     {4242, 0, 200000}};
	uint64_t ts = 1000;

	tf_open(&trace, PID, "app", "./app --procs 2", "contention");
	mp_thread(PID, PID, 0, "app");
	mp_process(PID, "app", "./app --procs 2");
	mp_thread(4250, 4250, PID, "app");
	mp_process(4250, "app", "./app --procs 2");
	mp_thread(4260, 4260, PID, "worker");
	mp_process(4260, "worker", cmdline);
	mp_thread(4261, 4260, 4260, "helper");
	mp_thread(4270, 4270, PID, "gone");
	tf_lock(&trace, 0, SHM, LS_KIND_SEM, "shared_sem");
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		tf_begin(&trace, ts, waits[i].tid, SHM, LS_KIND_SEM, waits[i].owner, 0);
		tf_end(&trace, ts + waits[i].ns, waits[i].tid, LS_WAIT_WOKEN);
		ts += waits[i].ns + 1000;
	}
	tf_finish(&trace, 10000000, 10, 0);
	tf_close(&trace);
}

Test(report, json_processes_carry_their_command_or_null)
{
	struct tf_run run;
	struct jp_value *doc;

	write_processes("/usr/bin/worker --id 2");
	doc = report_json(&run, 0);
	cr_assert_eq(len_at(doc, "processes", JP_ARRAY), 4);
	cr_assert_eq(u64_at(doc, "processes.0.pid"), PID);
	cr_assert_str_eq(str_at(doc, "processes.0.comm"), "app");
	cr_assert_str_eq(str_at(doc, "processes.0.cmdline"), "./app --procs 2");
	cr_assert_eq(u64_at(doc, "processes.1.pid"), 4250);
	cr_assert_str_eq(str_at(doc, "processes.1.comm"), "app");
	cr_assert_str_eq(str_at(doc, "processes.1.cmdline"), "./app --procs 2");
	cr_assert_eq(u64_at(doc, "processes.1.parent"), PID);
	cr_assert_eq(u64_at(doc, "processes.2.pid"), 4260);
	cr_assert_str_eq(str_at(doc, "processes.2.comm"), "worker");
	cr_assert_str_eq(str_at(doc, "processes.2.cmdline"), "/usr/bin/worker --id 2");
	/* not read: not known, never "" */
	cr_assert_eq(u64_at(doc, "processes.3.pid"), 4270);
	cr_assert_eq(jp_path(doc, "processes.3.comm")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "processes.3.cmdline")->type, JP_NULL);
	cr_assert_eq(u64_at(doc, "threads.3.tid"), 4261);
	cr_assert_eq(u64_at(doc, "threads.3.pid"), 4260);
	jp_free(doc);
	tf_run_free(&run);
}

Test(report, text_lists_processes_by_command_and_groups_threads_under_them)
{
	struct tf_run run;

	write_processes("/usr/bin/worker --id 2");
	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0, "%s", run.err);
	cr_assert(strstr(run.out, "  target     pid 4242 (app): ./app --procs 2\n"
				  "  processes  4242 app\n"
				  "             4250 app: ./app --procs 2\n"
				  "             4260 worker: /usr/bin/worker --id 2\n"
				  "             4270\n"
				  "  recording  "),
		  "%s", run.out);
	/* the top four waiters by process, in the order each process first ranks; the rest */
	cr_assert(strstr(run.out,
			 "        waiters   app 4250: app 44.8%; worker 4260: helper (4261) "
			 "29.9%, worker 14.9%;\n"
			 "                  4270: gone 7.5%; 1 more 3.0%\n"),
		  "%s", run.out);
	cr_assert(strstr(run.out, "        held by   app 4250: app x2; worker 4260: helper (4261) "
				  "x1\n"),
		  "%s", run.out);
	tf_run_free(&run);
}

/* A command line longer than the line ends in "..." at column 99. */
Test(report, text_cuts_a_long_command_line)
{
	char cmdline[300], want[128];
	struct tf_run run;
	const char *line;

	memset(cmdline, 'a', sizeof(cmdline) - 1);
	cmdline[sizeof(cmdline) - 1] = '\0';
	write_processes(cmdline);
	run_report(&run, trace.path, false, 0);
	cr_assert_eq(run.status, 0, "%s", run.err);
	line = strstr(run.out, "             4260 worker: ");
	cr_assert(line, "%s", run.out);
	snprintf(want, sizeof(want), "             4260 worker: %.*s...\n", 99 - 26 - 3, cmdline);
	cr_assert(!strncmp(line, want, strlen(want)), "%.*s", (int)strlen(want), line);
	tf_run_free(&run);
}

/* One process: threads are listed as they always were, not grouped. */
Test(report, text_of_one_process_does_not_group)
{
	struct tf_run run;

	write_scenario(true);
	run_report(&run, trace.path, false, 0);
	cr_assert(!strstr(run.out, "processes"), "%s", run.out);
	cr_assert(
	    strstr(run.out, "        waiters   worker-1 (4243) 53.8%, worker-2 (4244) 46.2%\n"),
	    "%s", run.out);
	tf_run_free(&run);
}
