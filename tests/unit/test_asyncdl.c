/* test_asyncdl.c - asyncio deadlocks as TASK_WAIT records: gathered into cycles, shown by
 * `report` after the threads' deadlocks (JSON and text), and formatted as the live alert. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/asyncdl.h"
#include "jsonparse.h"
#include "trace/model.h"
#include "commands/report.h"
#include "tracefile.h"

#define PID 5150
#define W1 5151
#define W2 5152
#define MUTEX_A 0x5581d2a0ull
#define MUTEX_B 0x5581d300ull
#define TASK_A 0x7f3a1c2b4d40ull
#define TASK_B 0x7f3a1c2b4e80ull

static struct tf trace;

static void teardown(void)
{
	tf_remove(&trace);
}

TestSuite(asyncdl, .fini = teardown);

static const char *const holds_a[] = {"lock_a"};
static const char *const holds_b[] = {"lock_b"};

static struct ls_rec task_wait(uint64_t ts, uint32_t cycle, uint32_t ntasks, uint32_t index)
{
	struct ls_rec r = {.type = LS_REC_TASK_WAIT, .ts = ts, .tid = PID};
	struct ls_task_wait *t = &r.task_wait;

	t->cycle = cycle;
	t->ntasks = ntasks;
	t->index = index;
	t->task = index % 2 ? TASK_B : TASK_A;
	t->name = index % 2 ? "b-to-a" : "a-to-b";
	t->coro = index % 2 ? "transfer_b_to_a" : "transfer_a_to_b";
	t->waits_for = index % 2 ? "lock_a" : "lock_b";
	t->nholds = 1;
	t->holds = index % 2 ? holds_b : holds_a;
	t->stack_id = index % 2 ? 2 : 1;
	return r;
}

/* The await chains of py_async_deadlock.py: Lock.acquire, __aenter__, the task's coroutine. */
static void write_chains(void)
{
	static const uint32_t s1[] = {1, 2, 3}, s2[] = {1, 2, 4};

	tf_frame(&trace, 1, 0, "Lock.acquire", "locks.py", 114, "python", 0);
	tf_frame(&trace, 2, 0, "_ContextManagerMixin.__aenter__", "locks.py", 15, "python", 0);
	tf_frame(&trace, 3, 0, "transfer_a_to_b", "py_async_deadlock.py", 21, "python", 0);
	tf_frame(&trace, 4, 0, "transfer_b_to_a", "py_async_deadlock.py", 30, "python", 0);
	tf_stack(&trace, 1, 3, s1);
	tf_stack(&trace, 2, 3, s2);
}

/* Two threads crossed on two mutexes (a thread deadlock), then two tasks crossed on two asyncio
 * locks, found at 1.5 s; the trace ends at 3 s. */
static void write_both(void)
{
	struct ls_rec r;

	tf_open(&trace, PID, "python3", "python3 both.py", "contention");
	tf_thread(&trace, 0, PID, "MainThread");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_lock(&trace, 0, MUTEX_A, LS_KIND_MUTEX, "mutex_a");
	tf_lock(&trace, 0, MUTEX_B, LS_KIND_MUTEX, "mutex_b");
	write_chains();
	tf_begin(&trace, 1000, W1, MUTEX_B, LS_KIND_MUTEX, W2, 0);
	tf_begin(&trace, 2000, W2, MUTEX_A, LS_KIND_MUTEX, W1, 0);
	r = task_wait(1500000000ull, 1, 2, 0);
	tf_add(&trace, &r);
	r = task_wait(1500000000ull, 1, 2, 1);
	tf_add(&trace, &r);
	tf_finish(&trace, 3000000000ull, 2, 0);
	tf_close(&trace);
}

static void run_report(struct tf_run *run, bool json)
{
	struct report_opts opts = {.json = json};

	tf_report(run, trace.path, &opts);
	cr_assert_eq(run->status, 0, "status %d, stderr: %s", run->status, run->err);
}

static struct jp_value *report_json(struct tf_run *run)
{
	struct jp_value *doc;
	char err[128];

	run_report(run, true);
	doc = jp_parse(run->out, run->out_len, err, sizeof(err));
	cr_assert(doc, "%s in:\n%s", err, run->out);
	return doc;
}

static void expect_str(const struct jp_value *doc, const char *path, const char *want)
{
	const char *s = jp_str(jp_path(doc, path));

	cr_assert(s, "%s is not a string", path);
	cr_assert_str_eq(s, want, "%s", path);
}

static size_t len_at(const struct jp_value *doc, const char *path, enum jp_type type)
{
	const struct jp_value *v = jp_path(doc, path);

	cr_assert(v && v->type == type, "%s is missing or of another type", path);
	return v->len;
}

Test(asyncdl, json_has_the_tasks_deadlock_after_the_threads)
{
	const struct jp_value *v;
	struct jp_value *doc;
	struct tf_run run;
	uint64_t u;

	write_both();
	doc = report_json(&run);
	cr_assert_eq(len_at(doc, "deadlocks", JP_ARRAY), 2, "%s", run.out);
	cr_assert_eq(len_at(doc, "deadlocks.0.threads", JP_ARRAY), 2);
	cr_assert_null(jp_path(doc, "deadlocks.0.tasks"));
	cr_assert_null(jp_path(doc, "deadlocks.1.threads"));
	cr_assert_eq(len_at(doc, "deadlocks.1.locks", JP_ARRAY), 2);
	expect_str(doc, "deadlocks.1.locks.0", "lock_b");
	expect_str(doc, "deadlocks.1.locks.1", "lock_a");
	cr_assert_eq(len_at(doc, "deadlocks.1.tasks", JP_ARRAY), 2);
	cr_assert(jp_uint(jp_path(doc, "deadlocks.1.tasks.0.tid"), &u) && u == PID);
	expect_str(doc, "deadlocks.1.tasks.0.name", "a-to-b");
	expect_str(doc, "deadlocks.1.tasks.0.coro", "transfer_a_to_b");
	cr_assert_eq(len_at(doc, "deadlocks.1.tasks.0.holds", JP_ARRAY), 1);
	expect_str(doc, "deadlocks.1.tasks.0.holds.0", "lock_a");
	expect_str(doc, "deadlocks.1.tasks.0.waits_for", "lock_b");
	cr_assert_eq(len_at(doc, "deadlocks.1.tasks.0.stack", JP_ARRAY), 3);
	expect_str(doc, "deadlocks.1.tasks.0.stack.0", "Lock.acquire (locks.py:114)");
	expect_str(doc, "deadlocks.1.tasks.0.stack.2", "transfer_a_to_b (py_async_deadlock.py:21)");
	expect_str(doc, "deadlocks.1.tasks.1.name", "b-to-a");
	expect_str(doc, "deadlocks.1.tasks.1.holds.0", "lock_b");
	expect_str(doc, "deadlocks.1.tasks.1.waits_for", "lock_a");
	expect_str(doc, "deadlocks.1.tasks.1.stack.2", "transfer_b_to_a (py_async_deadlock.py:30)");
	cr_assert(jp_uint(jp_path(doc, "deadlocks.1.detected_ns"), &u) && u == 1500000000ull);
	v = jp_path(doc, "deadlocks.1.inferred");
	cr_assert(v && v->type == JP_BOOL && v->boolean);
	jp_free(doc);
	tf_run_free(&run);
}

Test(asyncdl, text_has_a_section_after_the_threads_deadlocks)
{
	struct tf_run run;
	char *threads, *tasks;

	write_both();
	run_report(&run, false);
	threads = strstr(run.out, "Deadlocks: 1\n");
	tasks = strstr(run.out, "Asyncio deadlocks: 1\n\n  ASYNCIO DEADLOCK: 2 tasks, locks "
			  "lock_b, lock_a (loop idle in its poll call, found at 1.500 s)\n");
	cr_assert(threads && tasks && threads < tasks, "%s", run.out);
	cr_assert(strstr(tasks, "    task a-to-b (transfer_a_to_b, loop thread 5150 (MainThread)) "
			 "holds lock_a (inferred from its frames), waits for "
			 "lock_b\n        Lock.acquire (locks.py:114)\n"), "%s", run.out);
	cr_assert(strstr(tasks, "        transfer_b_to_a (py_async_deadlock.py:30)\n"), "%s",
		  run.out);
	cr_assert_null(strstr(run.out, "No deadlocks."), "%s", run.out);
	tf_run_free(&run);
}

/* A cycle whose last record never came (the trace was cut between them) is not a deadlock; the
 * text says one was cut short. */
Test(asyncdl, a_cycle_cut_short_is_counted_not_shown)
{
	struct jp_value *doc;
	struct tf_run run;
	struct ls_rec r;

	tf_open(&trace, PID, "python3", "python3 cut.py", "contention");
	write_chains();
	r = task_wait(100, 1, 2, 0);
	tf_add(&trace, &r);
	tf_finish(&trace, 1000, 0, 0);
	tf_close(&trace);
	doc = report_json(&run);
	cr_assert_eq(len_at(doc, "deadlocks", JP_ARRAY), 0, "%s", run.out);
	jp_free(doc);
	tf_run_free(&run);
	run_report(&run, false);
	cr_assert(strstr(run.out, "No deadlocks.\n"), "%s", run.out);
	cr_assert(strstr(run.out, "Asyncio deadlocks: 0\n\n  1 more cut short in the trace: not "
			  "shown\n"), "%s", run.out);
	tf_run_free(&run);
}

static struct asyncdl *feed(const struct ls_rec *recs, size_t n)
{
	struct asyncdl *a = asyncdl__new();

	cr_assert_not_null(a);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(asyncdl__feed(a, &recs[i]), 0);
	return a;
}

/* Records out of order: a cycle interrupted by another, one that starts past its first task.
 * Only whole cycles count; each broken one is counted once. */
Test(asyncdl, only_whole_cycles_in_order_count)
{
	const struct ls_rec recs[] = {
	    task_wait(10, 1, 2, 0),		/* cycle 1 ... */
	    task_wait(20, 2, 2, 0),		/* ... cut by cycle 2, whole */
	    task_wait(20, 2, 2, 1),
	    task_wait(30, 3, 3, 1),		/* cycle 3 without its first */
	    task_wait(30, 3, 3, 2),
	    task_wait(40, 4, 2, 0),		/* cycle 4: a repeated index breaks it */
	    task_wait(40, 4, 2, 0),
	    task_wait(50, 5, 1, 0),		/* a task waiting for itself */
	};
	struct asyncdl *a = feed(recs, sizeof(recs) / sizeof(recs[0]));
	const struct asyncdl_found *f;

	cr_assert_eq(asyncdl__count(a), 2);
	f = asyncdl__get(a, 0);
	cr_assert_eq(f->ntasks, 2);
	cr_assert_eq(f->detected_ns, 20);
	cr_assert_str_eq(f->tasks[0].name, "a-to-b");
	cr_assert_eq(f->tasks[0].addr, TASK_A);
	cr_assert_str_eq(f->tasks[1].waits_for, "lock_a");
	cr_assert_eq(f->tasks[1].stack_id, 2);
	f = asyncdl__get(a, 1);
	cr_assert_eq(f->ntasks, 1);
	cr_assert_eq(f->detected_ns, 50);
	cr_assert_null(asyncdl__get(a, 2));
	/* cycle 1, cycle 3, and cycle 4 twice: at its repeated index, and when cycle 5 began */
	cr_assert_eq(asyncdl__incomplete(a), 4);
	asyncdl__free(a);
}

Test(asyncdl, alert_names_tasks_locks_and_chains)
{
	const struct ls_rec recs[] = {task_wait(10, 1, 2, 0), task_wait(10, 1, 2, 1)};
	struct asyncdl *a = feed(recs, 2);
	struct model *m = model__new();
	char buf[4096];

	cr_assert_not_null(m);
	cr_assert_gt(asyncdl__format_alert(asyncdl__get(a, 0), m, buf, sizeof(buf)), 0);
	cr_assert(strncmp(buf, "lockscope: ASYNCIO DEADLOCK: tasks a-to-b, b-to-a on locks lock_b, "
			  "lock_a\n    task a-to-b (transfer_a_to_b, loop thread ", 97) == 0,
		  "%s", buf);
	cr_assert(strstr(buf, "    task b-to-a (transfer_b_to_a, loop thread "), "%s", buf);
	cr_assert(strstr(buf, "holds lock_b (inferred from its frames), waits for "
			 "lock_a\n"), "%s", buf);
	cr_assert_eq(buf[strlen(buf) - 1], '\n');
	model__free(m);
	asyncdl__free(a);
}
