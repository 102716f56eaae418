/* test_pyasync.c - end to end on live CPython, every interpreter under test (tests/support):
 * asyncio tasks, await chains, locks held in open `async with`/`with` blocks and deadlock cycles,
 * read by pyasync__read() from outside, and found by `record`, against the ground truth the
 * workloads print. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect/blocked.h"
#include "e2e.h"
#include "util/json.h"
#include "proc.h"
#include "python/pyasync.h"

#define WL "tests/workloads/"

#define PYASYNC_TEST(name) \
	Test(pyasync, name, .init = e2e_adopt_orphans, .fini = e2e_kill_started, .timeout = 300)

/* Starts INTERP SCRIPT ARGS in the background; its ground truth, the first JSON line it prints
 * (it says its own pid), into *TRUTH. */
static pid_t start(const char *interp, const char *script, const char *args,
		   struct jp_value **truth)
{
	char cmd[4608];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "%s %s %s", interp, script, args);
	*truth = start_workload(strrchr(script, '/') + 1, 30, cmd, "{\"workload\"", &pid);
	cr_assert_eq(jnum(*truth, "pid", -1), pid, "%s runs as another process", cmd);
	return pid;
}

/* One snapshot of PID: threads, their futex waits (unless NO_FUTEX), then pyasync__read(). */
static struct pyasync *snapshot(pid_t pid, bool no_futex)
{
	struct pyasync_futex fw[64];
	struct blocked_wait *bw = NULL;
	struct py_thread *th = NULL;
	struct pyasync *a = NULL;
	struct pyreader *r;
	char why[256] = "";
	size_t nth = 0, nbw = 0, nfw = 0;
	int err;

	r = pyreader__open(pid, why, sizeof(why));
	cr_assert_not_null(r, "pyreader__open(%d): %s: %s", pid, strerror(errno), why);
	cr_assert_eq(pyreader__threads(r, &th, &nth), 0);
	cr_assert_eq(blocked__scan(pid, &bw, &nbw), 0);
	for (size_t i = 0; i < nbw && nfw < 64; i++)
		fw[nfw++] = (struct pyasync_futex){ bw[i].tid, bw[i].uaddr };
	err = pyasync__read(r, th, nth, no_futex ? NULL : fw, nfw, &a, why, sizeof(why));
	cr_assert_eq(err, 0, "pyasync__read(%d): %s: %s", pid, strerror(-err), why);
	blocked__free(bw, nbw);
	pyreader__threads_free(th, nth);
	pyreader__free(r);
	return a;
}

static const struct pyasync_task *task_named(const struct pyasync *a, const char *name)
{
	for (size_t i = 0; i < a->ntasks; i++)
		if (!strcmp(a->tasks[i].name, name))
			return &a->tasks[i];
	return NULL;
}

static const char *lock_name(const struct pyasync *a, int idx)
{
	return idx >= 0 && (size_t)idx < a->nlocks ? a->locks[idx].name : "(none)";
}

/* The task's chain: innermost frames asyncio's Lock.acquire, outermost its own coroutine at
 * FUNC (FILE:LINE). */
static void expect_chain(const struct pyasync_task *t, const char *func, const char *file,
			 long line)
{
	char want[256];

	cr_assert_gt(t->nframes, 1, "task %s: chain of %zu frames", t->name, t->nframes);
	snprintf(want, sizeof(want), "%s (%s:%ld)", func, file, line);
	cr_expect_str_eq(t->frames[t->nframes - 1].text, want, "task %s's own frame", t->name);
	cr_expect(!strncmp(t->frames[0].text, "Lock.acquire (locks.py:", 23),
		  "task %s's innermost frame is %s", t->name, t->frames[0].text);
	cr_expect_str_eq(t->coro, func);
	cr_expect_not(t->chain_cut);
}

/* The dump's "tasks" and "deadlocks" as pyasync__json_tasks() and pyasync__json_cycles() write
 * them, parsed. */
static struct jp_value *pyasync_json(const struct pyasync *a)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer *w = json_writer__new(f, 0);
	struct jp_value *v;

	cr_assert(f && w);
	json_writer__object_begin(w);
	json_writer__key(w, "tasks");
	pyasync__json_tasks(a, w);
	json_writer__key(w, "deadlocks");
	json_writer__array_begin(w);
	pyasync__json_cycles(a, NULL, 0, false, w);
	json_writer__array_end(w);
	json_writer__object_end(w);
	cr_assert_eq(json_writer__finish(w), 0);
	json_writer__free(w);
	fclose(f);
	v = jparse(buf);
	cr_assert_not_null(v, "not JSON: %s", buf);
	free(buf);
	return v;
}

static void async_deadlock(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *truth;
	pid_t pid = start(interp, WL "py_async_deadlock.py", "", &truth);
	struct pyasync *a = snapshot(pid, false);
	const struct pyasync_cycle *c;
	const struct pyasync_task *t[2];
	struct jp_value *dump;

	cr_assert_eq(a->ncycles, 1, "%zu cycles, want 1", a->ncycles);
	c = &a->cycles[0];
	cr_assert(c->among_tasks && c->n == 2, "the cycle is not of two tasks");
	for (int i = 0; i < 2; i++) {
		const struct jp_value *want = jp_at(jp_get(truth, "tasks"), i);
		bool member = false;

		t[i] = task_named(a, jstr(want, "name"));
		cr_assert_not_null(t[i], "no task %s among %zu", jstr(want, "name"), a->ntasks);
		for (size_t j = 0; j < c->n; j++)
			member |= &a->tasks[c->members[j]] == t[i];
		cr_expect(member, "task %s is not in the cycle", t[i]->name);
		cr_expect_eq(t[i]->tid, pid, "task %s: its loop's thread", t[i]->name);
		cr_expect_str_eq(lock_name(a, t[i]->waits_for), jstr(want, "waits_for"));
		cr_expect(t[i]->waits_queued, "task %s's future is not in the lock's queue",
			  t[i]->name);
		cr_assert_eq(t[i]->nholds, 1, "task %s holds %zu locks", t[i]->name, t[i]->nholds);
		cr_expect_str_eq(lock_name(a, (int)t[i]->holds[0]), jstr(want, "holds"));
		cr_expect_neq(t[i]->awaits, 0, "task %s awaits no future", t[i]->name);
		expect_chain(t[i], jstr(want, "function"), "py_async_deadlock.py",
			     (long)jnum(want, "line", 0));
	}
	cr_expect_str_eq(a->locks[c->locks[0]].kind, "asyncio.Lock");
	dump = pyasync_json(a);
	cr_expect_eq(must_array(dump, "tasks")->len, a->ntasks);
	cr_expect(jbool(dump, "deadlocks.0.inferred"), "the deadlock is not marked inferred");
	cr_expect(is_pair(must_array(dump, "deadlocks.0.locks"), "lock_a", "lock_b"),
		  "the cycle's locks: %s, %s", lock_name(a, (int)c->locks[0]),
		  lock_name(a, (int)c->locks[1]));
	cr_expect_eq(must_array(dump, "deadlocks.0.tasks")->len, 2);
	cr_expect(names_function(jp_path(dump, "deadlocks.0.tasks.0.stack"), "Lock.acquire"));
	jp_free(dump);
	pyasync__free(a);
	jp_free(truth);
}

static void async_ordered(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *truth;
	pid_t pid = start(interp, WL "py_async_ordered.py", "--seconds 4", &truth);
	size_t holding = 0;
	char path[300], *out;

	for (int round = 0; round < 10; round++) {
		struct pyasync *a = snapshot(pid, false);

		cr_expect_eq(a->ncycles, 0, "round %d: a cycle where there is none", round);
		for (int i = 0; i < 2; i++) {
			const char *name = jstr(truth, i ? "tasks.1" : "tasks.0");
			const struct pyasync_task *t = task_named(a, name);

			cr_assert_not_null(t, "round %d: no task %s", round, name);
			cr_expect_str_eq(t->coro, "transfer");
			holding += t->nholds > 0;
		}
		pyasync__free(a);
		usleep(150000);
	}
	/* the tasks spend nearly all their time inside `async with lock_a` */
	cr_expect_gt(holding, 5, "holders seen in %zu of 20 looks", holding);
	cr_assert_eq(wait_for(pid, 30), 0, "the ordered workload did not finish");
	snprintf(path, sizeof(path), "%s/py_async_ordered.py.out", test_dir());
	out = slurp(path);
	cr_expect(out && strstr(out, "\"done\": true"), "no end line: %s", out);
	free(out);
	jp_free(truth);
}

static void async_idle(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *truth;
	pid_t pid = start(interp, WL "py_async_idle.py", "", &truth);
	bool ticker_held = false;

	for (int round = 0; round < 10 && !ticker_held; round++) {
		struct pyasync *a = snapshot(pid, false);
		const struct pyasync_task *server = task_named(a, jstr(truth, "tasks.0"));
		const struct pyasync_task *ticker = task_named(a, jstr(truth, "tasks.1"));

		cr_expect_eq(a->ncycles, 0, "a cycle in an idle loop");
		cr_assert_not_null(server, "no server task among %zu", a->ntasks);
		cr_assert_not_null(ticker, "no ticker task among %zu", a->ntasks);
		cr_expect_str_eq(server->coro, "Server.serve_forever");
		cr_expect_str_eq(ticker->coro, jstr(truth, "ticker.function"));
		for (size_t i = 0; i < a->ntasks; i++) {
			cr_expect_eq(a->tasks[i].waits_for, -1, "task %s waits for a lock",
				     a->tasks[i].name);
			cr_expect_eq(a->tasks[i].tid, pid);
		}
		ticker_held = ticker->nholds == 1 &&
			      !strcmp(lock_name(a, (int)ticker->holds[0]),
				      jstr(truth, "ticker.holds"));
		pyasync__free(a);
		usleep(100000);
	}
	cr_expect(ticker_held, "the ticker's `async with state_lock` was never seen");
	jp_free(truth);
}

/* py_deadlock.py: threading locks taken with `with`; no probe saw them taken. */
static void thread_deadlock(const char *interp, bool no_futex)
{
	struct jp_value *truth;
	pid_t pid = start(interp, "tests/workloads/py_deadlock.py", "", &truth);
	struct pyasync *a;
	const struct pyasync_cycle *c;

	usleep(200000);	/* the truth is printed just before the second acquire sleeps */
	a = snapshot(pid, no_futex);
	cr_assert_eq(a->ncycles, 1, "%zu cycles, want 1", a->ncycles);
	c = &a->cycles[0];
	cr_assert(!c->among_tasks && c->n == 2, "the cycle is not of two threads");
	for (int i = 0; i < 2; i++) {
		const struct jp_value *want = jp_at(jp_get(truth, "threads"), i);
		const struct pyasync_thread *th = NULL;

		for (size_t j = 0; j < a->nthreads; j++)
			if (a->threads[j].tid == jnum(want, "tid", -1))
				th = &a->threads[j];
		cr_assert_not_null(th, "thread %s is not found", jstr(want, "name"));
		cr_expect_str_eq(lock_name(a, th->waits_for), jstr(want, "waits_for"));
		cr_expect_eq(th->waits_unconfirmed, no_futex);
		cr_assert_eq(th->nholds, 1, "thread %s holds %zu locks", jstr(want, "name"),
			     th->nholds);
		cr_expect_str_eq(lock_name(a, (int)th->holds[0]), jstr(want, "holds"));
		cr_expect_str_eq(a->locks[th->holds[0]].kind, "threading.Lock");
		cr_expect_neq(a->locks[th->holds[0]].futex, 0);
	}
	pyasync__free(a);
	jp_free(truth);
}

static void with_holders(const struct test_python *py)
{
	thread_deadlock(py->path, false);
}

static void with_holders_without_futex(const struct test_python *py)
{
	thread_deadlock(py->path, true);
}

PYASYNC_TEST(async_deadlock_found) { on_every_python(async_deadlock); }
PYASYNC_TEST(async_ordered_no_deadlock) { on_every_python(async_ordered); }
PYASYNC_TEST(async_idle_server_healthy) { on_every_python(async_idle); }
PYASYNC_TEST(with_holders_of_thread_deadlock) { on_every_python(with_holders); }
PYASYNC_TEST(with_holders_without_futex) { on_every_python(with_holders_without_futex); }

/* ---- record: the same cycles found while recording, from a loop idle in its poll call ---- */

/* The task of deadlock DL named NAME, or NULL. */
static const struct jp_value *dl_task(const struct jp_value *dl, const char *name)
{
	const struct jp_value *tasks = must_array(dl, "tasks");

	for (size_t i = 0; i < tasks->len; i++)
		if (jstr(&tasks->items[i], "name") && !strcmp(jstr(&tasks->items[i], "name"), name))
			return &tasks->items[i];
	return NULL;
}

static bool has_string(const struct jp_value *a, const char *s)
{
	for (size_t i = 0; a && a->type == JP_ARRAY && i < a->len; i++)
		if (jp_str(&a->items[i]) && !strcmp(jp_str(&a->items[i]), s))
			return true;
	return false;
}

/* `record ARGS -o TRACE` (TRACE in the test's directory): its stderr and the report, parsed.
 * DEBUG: with LOCKSCOPE_DEBUG set, which says when the tasks are read. */
static struct jp_value *record(const char *args, bool debug, char **err)
{
	char trace[300];
	int rc;

	snprintf(trace, sizeof(trace), "%s/async.lsz", test_dir());
	rc = shf(NULL, err, "%s" LOCKSCOPE " record -o %s %s", debug ? "LOCKSCOPE_DEBUG=1 " : "",
		 trace, args);
	cr_assert_eq(rc, 0, "record %s failed (%d): %s", args, rc, *err);
	return report_json(trace);
}

/* The asyncio deadlocks (those with tasks) of report REP. */
static size_t task_deadlocks(const struct jp_value *rep, const struct jp_value **last)
{
	const struct jp_value *dls = must_array(rep, "deadlocks");
	size_t n = 0;

	for (size_t i = 0; i < dls->len; i++)
		if (jp_get(&dls->items[i], "tasks")) {
			*last = &dls->items[i];
			n++;
		}
	return n;
}

/* py_async_deadlock.py hung before the recording began: the loop sleeps in epoll_wait, no event
 * comes, and still the report and the live alert have both tasks, their locks and chains. */
static void record_async_deadlock(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *truth, *rep;
	const struct jp_value *dl = NULL;
	char args[64], *err = NULL, want[256];
	pid_t pid = start(interp, WL "py_async_deadlock.py", "", &truth);

	snprintf(args, sizeof(args), "-p %d -d 2", pid);
	rep = record(args, false, &err);
	cr_assert_eq(task_deadlocks(rep, &dl), 1, "asyncio deadlocks in the report");
	cr_expect(jbool(dl, "inferred"), "the deadlock is not marked inferred");
	cr_expect(is_pair(must_array(dl, "locks"), "lock_a", "lock_b"));
	cr_expect_gt(jnum(dl, "detected_ns", 0), 0);
	cr_assert(strstr(err, "lockscope: ASYNCIO DEADLOCK: tasks "), "no alert: %s", err);
	cr_expect(strstr(err, " on locks lock_b, lock_a\n") || strstr(err, " on locks lock_a, "
		  "lock_b\n"), "the alert's locks: %s", err);
	for (int i = 0; i < 2; i++) {
		const struct jp_value *gt = jp_at(jp_get(truth, "tasks"), i);
		const struct jp_value *t = dl_task(dl, jstr(gt, "name"));

		cr_assert_not_null(t, "task %s is not in the deadlock", jstr(gt, "name"));
		cr_expect_eq(jnum(t, "tid", -1), pid, "the loop runs on the main thread");
		cr_expect_str_eq(jstr(t, "coro"), jstr(gt, "function"));
		cr_expect_str_eq(jstr(t, "waits_for"), jstr(gt, "waits_for"));
		cr_expect(must_array(t, "holds")->len == 1 &&
			  !strcmp(jstr(t, "holds.0"), jstr(gt, "holds")),
			  "task %s holds the wrong locks", jstr(gt, "name"));
		snprintf(want, sizeof(want), "%s (py_async_deadlock.py:%.0f)", jstr(gt, "function"),
			 jnum(gt, "line", -1));
		cr_expect(has_string(must_array(t, "stack"), want), "no %s in task %s's chain",
			  want, jstr(gt, "name"));
		cr_expect(names_function(jp_get(t, "stack"), "Lock.acquire"));
		cr_expect(strstr(err, want), "the alert lacks %s: %s", want, err);
		snprintf(want, sizeof(want), "    task %s (%s, loop thread %d", jstr(gt, "name"),
			 jstr(gt, "function"), pid);
		cr_expect(strstr(err, want), "the alert lacks %s: %s", want, err);
	}
	free(err);
	jp_free(rep);
	jp_free(truth);
}

/* py_async_ordered.py launched under record: contended asyncio locks, never a deadlock. */
static void record_async_ordered(const struct test_python *py)
{
	const char *interp = py->path;
	const struct jp_value *dl;
	char args[4608], *err = NULL;
	struct jp_value *rep;

	snprintf(args, sizeof(args), "-- %s " WL "py_async_ordered.py --seconds 2", interp);
	rep = record(args, false, &err);
	cr_expect_eq(jnum(rep, "target.duration_ns", 0) > 1.5e9, true, "the workload ended early");
	cr_expect_eq(must_array(rep, "deadlocks")->len, 0, "a deadlock where there is none");
	cr_expect_eq(task_deadlocks(rep, &dl), 0);
	cr_expect_null(strstr(err, "DEADLOCK"), "an alert: %s", err);
	free(err);
	jp_free(rep);
}

/* py_async_idle.py: its loop sleeps in epoll_wait most of the time, its tasks are read, and
 * nothing is a deadlock. */
static void record_async_idle(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *truth, *rep;
	char args[64], *err = NULL;
	pid_t pid = start(interp, WL "py_async_idle.py", "", &truth);

	snprintf(args, sizeof(args), "-p %d -d 2", pid);
	rep = record(args, true, &err);
	cr_expect_eq(must_array(rep, "deadlocks")->len, 0, "an idle server is no deadlock");
	cr_expect_null(strstr(err, "DEADLOCK"), "an alert: %s", err);
	/* the main task, the server and the ticker: read while the loop slept, no cycle */
	cr_expect(strstr(err, "asyncio: a loop is idle: 3 tasks, 0 cycles read"),
		  "the idle loop's tasks were not read: %s", err);
	cr_expect_null(jp_path(rep, "recording.counters.asyncio: task reads failed"),
		       "the tasks could not be read");
	free(err);
	jp_free(rep);
	jp_free(truth);
}

PYASYNC_TEST(record_finds_async_deadlock) { on_every_python(record_async_deadlock); }
PYASYNC_TEST(record_async_ordered_no_deadlock) { on_every_python(record_async_ordered); }
PYASYNC_TEST(record_async_idle_no_deadlock) { on_every_python(record_async_idle); }
