/* test_python.c - end to end on CPython, every interpreter under test (tests/support: pyenv's 3.10
 * to 3.13 and Debian's 3.11 here): the GIL as a lock of kind gil named GIL with every thread's
 * wait for it, Python frames (function (file.py:line)) in the waits' stacks, Python thread
 * names, deadlocks; checked against the ground truth the Python workloads print
 * (tests/workloads/py_gil.py, py_lockwait.py, py_deadlock.py). Launched and attached. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"

#define PY_GIL "tests/workloads/py_gil.py"
#define PY_LOCKWAIT "tests/workloads/py_lockwait.py"
#define PY_DEADLOCK "tests/workloads/py_deadlock.py"

/* ---- reading the report ---- */

static const struct jp_value *array_at(const struct jp_value *v, const char *path)
{
	const struct jp_value *a = jp_path(v, path);

	return a && a->type == JP_ARRAY ? a : NULL;
}

static const struct jp_value *by_tid(const struct jp_value *arr, double tid)
{
	for (size_t i = 0; arr && arr->type == JP_ARRAY && i < arr->len; i++)
		if (jnum(&arr->items[i], "tid", -1) == tid)
			return &arr->items[i];
	return NULL;
}

/* FRAME is exactly "FUNC (FILE:N)": N in *LINE. */
static bool frame_is(const char *frame, const char *func, const char *file, long *line)
{
	char prefix[256], *end;
	size_t n;
	long l;

	if (!frame)
		return false;
	n = (size_t)snprintf(prefix, sizeof(prefix), "%s (%s:", func, file);
	if (strncmp(frame, prefix, n))
		return false;
	errno = 0;
	l = strtol(frame + n, &end, 10);
	if (errno || end == frame + n || strcmp(end, ")"))
		return false;
	*line = l;
	return true;
}

/* Index of the first frame of FRAMES that is "FUNC (FILE:N)" with N in [LO, HI], or -1. */
static long find_frame(const struct jp_value *frames, const char *func, const char *file,
		       long lo, long hi)
{
	for (size_t i = 0; frames && frames->type == JP_ARRAY && i < frames->len; i++) {
		long line;

		if (frame_is(jp_str(&frames->items[i]), func, file, &line) && line >= lo &&
		    line <= hi)
			return (long)i;
	}
	return -1;
}

/* For failure messages: every frame of the report that mentions FUNC, or else the first stack
 * of the first lock. Static buffer. */
static const char *frames_mentioning(const struct jp_value *rep, const char *func)
{
	static char buf[2048];
	const char *sections[] = {"locks", "other_waits"};
	size_t used = 0;

	buf[0] = '\0';
	for (int s = 0; s < 2; s++) {
		const struct jp_value *locks = array_at(rep, sections[s]);

		for (size_t i = 0; locks && i < locks->len; i++) {
			const struct jp_value *stacks = array_at(&locks->items[i], "stacks");

			for (size_t j = 0; stacks && j < stacks->len; j++) {
				const struct jp_value *fr = array_at(&stacks->items[j], "frames");

				for (size_t k = 0; fr && k < fr->len; k++) {
					const char *f = jp_str(&fr->items[k]);

					if (f && strstr(f, func) && used < sizeof(buf) - 1)
						used += snprintf(buf + used, sizeof(buf) - used,
								 "%s[%s.%zu] %s", used ? "; " : "",
								 sections[s], i, f);
				}
			}
		}
	}
	if (!used) {
		const struct jp_value *fr = array_at(rep, "locks.0.stacks.0.frames");

		used = snprintf(buf, sizeof(buf), "no frame names %s; locks.0 is %s %s, its first "
				"stack:", func, jstr(rep, "locks.0.kind") ?: "(none)",
				jstr(rep, "locks.0.name") ?: "(none)");
		for (size_t k = 0; fr && k < fr->len && used < sizeof(buf) - 1; k++)
			used += snprintf(buf + used, sizeof(buf) - used, " | %s",
					 jp_str(&fr->items[k]) ?: "?");
	}
	return buf;
}

/* (c) every thread the workload names is in the report's threads, with its Python name. */
static void expect_thread_names(const struct jp_value *rep, const struct jp_value *gt)
{
	const struct jp_value *want = array_at(gt, "threads"), *threads = array_at(rep, "threads");

	cr_assert_not_null(want);
	cr_expect_not_null(threads, "the report has no threads");
	for (size_t i = 0; i < want->len; i++) {
		double tid = jnum(&want->items[i], "tid", -1);
		const char *name = jstr(&want->items[i], "name");
		const struct jp_value *t = by_tid(threads, tid);

		cr_expect_not_null(t, "thread %.0f (%s) is not among the report's threads", tid,
				   name);
		if (t)
			cr_expect(jstr(t, "name") && !strcmp(jstr(t, "name"), name),
				  "thread %.0f is named \"%s\" in the report, Python calls it \"%s\"",
				  tid, jstr(t, "name") ?: "(null)", name);
	}
}

/* ---- py_gil: four CPU-bound threads, one GIL ---- */

static void check_gil(const struct jp_value *rep, const struct jp_value *gt)
{
	const struct jp_value *locks = array_at(rep, "locks"), *gil = NULL, *want, *waiters,
			      *stacks;
	double elapsed = jnum(gt, "elapsed_ns", 0), wait, burn_wait = 0;
	long lo = (long)jnum(gt, "first_line", -1), hi = (long)jnum(gt, "last_line", -1);
	bool burn_then_worker = false;

	want = array_at(gt, "threads");
	cr_assert(want && want->len == 4 && elapsed > 0 && lo > 0 && hi >= lo,
		  "bad ground truth from py_gil.py");
	cr_expect_eq(jnum(rep, "target.pid", -1), jnum(gt, "pid", -2), "target.pid");
	cr_expect_eq(jnum(rep, "recording.lost_events", -1), 0, "lost events");
	/* (c) the threads carry their Python names */
	expect_thread_names(rep, gt);

	/* (a) the GIL is the top lock */
	cr_assert(locks && locks->len, "no locks in the report");
	cr_expect_str_eq(jstr(rep, "locks.0.kind") ?: "(null)", "gil", "locks.0 is %s \"%s\"",
			 jstr(rep, "locks.0.kind"), jstr(rep, "locks.0.name"));
	cr_expect_str_eq(jstr(rep, "locks.0.name") ?: "(null)", "GIL");
	for (size_t i = 0; i < locks->len && !gil; i++)
		if (jstr(&locks->items[i], "kind") && !strcmp(jstr(&locks->items[i], "kind"), "gil"))
			gil = &locks->items[i];
	cr_assert_not_null(gil, "no lock of kind gil at all; locks.0 is %s \"%s\" (%zu locks), "
			   "first stack: %s", jstr(rep, "locks.0.kind"), jstr(rep, "locks.0.name"),
			   locks->len, frames_mentioning(rep, "burn"));
	cr_expect_str_eq(jstr(gil, "name") ?: "(null)", "GIL");

	/* ... with each of the four threads' waits: three wait while one runs, all along */
	wait = jnum(gil, "wait_ns", 0);
	cr_expect_gt(wait, elapsed, "the GIL was waited for %.0f ns in all, the workload ran "
		     "%.0f ns with 4 threads on it", wait, elapsed);
	waiters = array_at(gil, "waiters");
	cr_expect_not_null(waiters, "the GIL has no waiters");
	for (size_t i = 0; i < want->len; i++) {
		double tid = jnum(&want->items[i], "tid", -1);
		const struct jp_value *w = by_tid(waiters, tid);

		cr_expect_not_null(w, "thread %.0f (%s) is not among the GIL's waiters", tid,
				   jstr(&want->items[i], "name"));
		if (w)
			cr_expect_gt(jnum(w, "wait_ns", 0), 0.2 * elapsed,
				     "thread %.0f (%s) waited %.0f ns for the GIL in a %.0f ns run",
				     tid, jstr(&want->items[i], "name"), jnum(w, "wait_ns", 0),
				     elapsed);
	}

	/* (b) the waits happen in burn (py_gil.py:N), called from worker (py_gil.py:M) */
	stacks = array_at(gil, "stacks");
	cr_expect(stacks && stacks->len, "the GIL has no stacks");
	for (size_t i = 0; stacks && i < stacks->len; i++) {
		const struct jp_value *fr = array_at(&stacks->items[i], "frames");
		long at = find_frame(fr, "burn", "py_gil.py", lo, hi);

		if (at < 0)
			continue;
		burn_wait += jnum(&stacks->items[i], "wait_ns", 0);
		burn_then_worker |= find_frame(fr, "worker", "py_gil.py", hi + 1, 1000000) > at;
	}
	cr_expect_gt(burn_wait, 0, "no GIL stack names burn (py_gil.py:N), N in %ld..%ld: %s", lo,
		     hi, frames_mentioning(rep, "burn"));
	cr_expect_gt(burn_wait, 0.5 * wait, "stacks in burn hold %.0f of the GIL's %.0f ns",
		     burn_wait, wait);
	cr_expect(burn_wait == 0 || burn_then_worker,
		  "burn's caller worker (py_gil.py:N) does not follow it in the stack: %s",
		  frames_mentioning(rep, "py_gil.py"));
}

/* ---- py_lockwait: one threading.Lock, the waiter blocked in wants_it ---- */

static void check_lockwait(const struct jp_value *rep, const struct jp_value *gt)
{
	const struct jp_value *locks = array_at(rep, "locks"), *lock = NULL, *w;
	long line = (long)jnum(gt, "line", -1);
	double waiter = jnum(gt, "waiter.tid", -1), want = jnum(gt, "wait_ns", 0), got;

	cr_assert(line > 0 && waiter > 0 && want > 1e9, "bad ground truth from py_lockwait.py");
	cr_assert_str_eq(jstr(gt, "waiter.name"), "waiter");
	cr_expect_eq(jnum(rep, "target.pid", -1), jnum(gt, "pid", -2), "target.pid");
	cr_expect_eq(jnum(rep, "recording.lost_events", -1), 0, "lost events");
	/* (c) the holder and the waiter carry their Python names */
	expect_thread_names(rep, gt);

	/* (b) a contended lock whose waits are at wants_it (py_lockwait.py:LINE), that line */
	for (size_t i = 0; locks && i < locks->len && !lock; i++) {
		const struct jp_value *stacks = array_at(&locks->items[i], "stacks");

		for (size_t j = 0; stacks && j < stacks->len && !lock; j++)
			if (find_frame(array_at(&stacks->items[j], "frames"), "wants_it",
				       "py_lockwait.py", line, line) >= 0)
				lock = &locks->items[i];
	}
	if (!lock) {
		/* say which lock the waiter did wait on, if the report has it at all */
		const struct jp_value *mine = NULL;

		for (size_t i = 0; locks && i < locks->len && !mine; i++)
			if (jnum(by_tid(array_at(&locks->items[i], "waiters"), waiter), "wait_ns",
				 0) > 0.8 * want)
				mine = &locks->items[i];
		cr_assert_fail("no lock in the report has a stack with wants_it (py_lockwait.py:"
			       "%ld); the waiter's lock is %s %s, %.0f ns; %s", line,
			       mine ? jstr(mine, "kind") : "not in locks",
			       mine ? jstr(mine, "name") : "", mine ? jnum(mine, "wait_ns", 0) : 0,
			       frames_mentioning(rep, "wants_it"));
	}
	cr_expect(!jstr(lock, "kind") || strcmp(jstr(lock, "kind"), "gil"),
		  "the threading.Lock is reported as the GIL");
	/* (d) named by what refers to it: an item of the module's list */
	cr_expect_str_eq(jstr(lock, "name"), "locks[1]");
	/* it is the lock the waiter waited on, for as long as it measured */
	w = by_tid(array_at(lock, "waiters"), waiter);
	cr_expect_not_null(w, "the waiter (%.0f) is not among the lock's waiters", waiter);
	got = jnum(lock, "wait_ns", 0);
	cr_expect(got > 0.8 * want && got < 1.2 * want,
		  "the lock (%s) was waited for %.0f ns, the waiter measured %.0f ns",
		  jstr(lock, "name"), got, want);
}

/* ---- the interpreters ---- */

/* Every interpreter of the list is found, is an ELF executable and is the CPython it claims to
 * be; the suite says in one line which it could not find, and with TEST_REQUIRE_PYTHONS set
 * (as .ci/run does) a missing one fails the suite. */
Test(python, interpreters_present, .timeout = 60)
{
	const struct test_python *py;
	size_t n = test_pythons(&py);
	const char *missing = test_pythons_missing();

	if (missing[0])
		/* stderr, not cr_log_warn: Criterion exits 1 after a run that logged a warning */
		fprintf(stderr, "python: interpreters not found (their tests do not run): %s\n",
			missing);
	cr_expect(!missing[0] || !getenv(TEST_REQUIRE_PYTHONS),
		  "%s is set and interpreters are missing: %s", TEST_REQUIRE_PYTHONS, missing);
	cr_assert_gt(n, 0, "no CPython interpreter at all");
	for (size_t i = 0; i < n; i++) {
		char magic[4] = {0}, *out = NULL, want[16];
		FILE *f = fopen(py[i].path, "rb");

		cr_assert_not_null(f, "%s: %s", py[i].label, strerror(errno));
		cr_expect(fread(magic, 1, 4, f) == 4 && !memcmp(magic, "\177ELF", 4),
			  "%s: %s is not an ELF binary", py[i].label, py[i].path);
		fclose(f);
		cr_expect_eq(shf(&out, NULL, "%s -c 'import sys; print(\"%%d.%%d\" %% "
				 "sys.version_info[:2])'", py[i].path), 0, "%s does not run",
			     py[i].label);
		snprintf(want, sizeof(want), "3.%d\n", py[i].minor);
		cr_expect_str_eq(out ?: "", want, "%s: %s says it is %s", py[i].label, py[i].path,
				 out);
		free(out);
	}
}

/* ---- CPython that cannot be read ---- */

/* `record -- INTERP ARGS`: stderr and the report say "python: CPython VERSION is not supported:
 * no Python frames"; the recording itself goes on. */
static void check_unsupported(const char *interp, const char *args, const char *version)
{
	char trace[256], want[128], *err = NULL;
	struct jp_value *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/old.lsz", test_dir());
	rc = shf(NULL, &err, LOCKSCOPE " record -o %s -- %s %s", trace, interp, args);
	cr_assert_eq(rc, 0, "record -- %s exited %d: %s", interp, rc, err);
	snprintf(want, sizeof(want), "python: CPython %s is not supported: no Python frames",
		 version);
	cr_expect(err && strstr(err, want), "%s: stderr lacks \"%s\": %s", interp, want, err);
	rep = report_json(trace);
	cr_expect_eq(jnum(jp_get(jp_path(rep, "recording.counters"), want), "", -1), 1,
		     "%s: the report's counters lack \"%s\"", interp, want);
	free(err);
	jp_free(rep);
}

/* CPython before 3.10 is not read, and says so: pyenv's 3.9 (with _PyRuntime) and 2.7 (without,
 * as before 3.7) where pyenv has them, and everywhere a program that its file name gives away
 * as CPython 2.7 (sleep(1) copied as python2.7). */
Test(python, unsupported_versions_are_named, .timeout = 60)
{
	static const char *const old[] = { "2.7", "3.9" };
	const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");
	char pattern[512], fake[256];

	snprintf(fake, sizeof(fake), "%s/python2.7", test_dir());
	cr_assert_eq(shf(NULL, NULL, "cp /bin/sleep %s", fake), 0);
	check_unsupported(fake, "0.2", "2.7");
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		glob_t g;

		if (root)
			snprintf(pattern, sizeof(pattern), "%s/versions/%s.*/bin/python%s", root,
				 old[i], old[i]);
		else
			snprintf(pattern, sizeof(pattern), "%s/.pyenv/versions/%s.*/bin/python%s",
				 home ? home : "/root", old[i], old[i]);
		if (glob(pattern, 0, NULL, &g))
			continue;	/* not on this machine: the copy above stands in */
		check_unsupported(g.gl_pathv[0], "-c 'import time; time.sleep(0.2)'", old[i]);
		globfree(&g);
	}
}

/* ---- py_stale: the line a lock is waited on, amid waits on later lines ---- */

/* Two workers take turns on one threading.Lock, `with lock:` on the only line where it is ever
 * waited for, and inside it wait for the GIL on the lines after. Python frames read when the
 * wait is handled, after the thread went on, used to put a third of that lock's wait (and its
 * name) on the later lines: the wait must stay on its own line. */
static void check_stale(const struct jp_value *rep, const struct jp_value *gt, const char *label)
{
	const struct jp_value *locks = array_at(rep, "locks"), *lock = NULL;
	long line = (long)jnum(gt, "lock_line", -1);
	double at_line = 0, in_worker = 0, wait;
	const char *name;

	cr_assert(line > 0, "bad ground truth from py_stale.py");
	for (size_t i = 0; locks && i < locks->len; i++) {
		const struct jp_value *l = &locks->items[i];
		const struct jp_value *w = array_at(l, "waiters");

		if (jstr(l, "kind") && !strcmp(jstr(l, "kind"), "gil"))
			continue;
		for (size_t j = 0; w && j < w->len && !lock; j++)
			if (jnum(&w->items[j], "tid", -1) == jnum(gt, "threads.0.tid", -2) ||
			    jnum(&w->items[j], "tid", -1) == jnum(gt, "threads.1.tid", -2))
				lock = l;
	}
	cr_assert_not_null(lock, "%s: no lock waited for by the workers", label);
	wait = jnum(lock, "wait_ns", 0);
	for (size_t i = 0; i < array_at(lock, "stacks")->len; i++) {
		const struct jp_value *st = &array_at(lock, "stacks")->items[i];
		const struct jp_value *fr = array_at(st, "frames");

		if (find_frame(fr, "worker", "py_stale.py", 1, 1000000) < 0)
			continue;
		in_worker += jnum(st, "wait_ns", 0);
		if (find_frame(fr, "worker", "py_stale.py", line, line) >= 0)
			at_line += jnum(st, "wait_ns", 0);
	}
	cr_expect_gt(in_worker, 0.9 * wait, "%s: %.0f of the lock's %.0f ns have worker's frame",
		     label, in_worker, wait);
	cr_expect_geq(at_line, 0.97 * in_worker, "%s: %.0f of %.0f ns of the lock's wait in worker "
		      "at py_stale.py:%ld, its only waiting line: %s", label, at_line, in_worker,
		      line, frames_mentioning(rep, "worker"));
	name = jstr(lock, "name");
	if (name && strstr(name, "py_stale.py:")) {
		char want[64];

		snprintf(want, sizeof(want), "worker (py_stale.py:%ld)", line);
		cr_expect(strstr(name, want), "%s: the lock is named %s", label, name);
	}
}

/* ---- the tests ---- */

/* Each test kills what it started when it ends, passed or not. */
#define PY_TEST(name) \
	Test(python, name, .init = e2e_adopt_orphans, .fini = e2e_kill_started, .timeout = 300)

/* `record --mode contention -o T -- INTERP SCRIPT`: the workload's ground truth and the report. */
static void record_launched(const char *interp, const char *script, const char *workload,
			    struct jp_value **gt, struct jp_value **rep)
{
	char trace[256], out[256], err[256], cmd[5120];
	pid_t rec;
	int rc;

	snprintf(trace, sizeof(trace), "%s/%s.lsz", test_dir(), workload);
	snprintf(out, sizeof(out), "%s/%s.out", test_dir(), workload);
	snprintf(err, sizeof(err), "%s/%s.err", test_dir(), workload);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --mode contention -o %s -- %s %s", trace,
		 interp, script);
	/* the launched workload writes its ground truth to the recorder's stdout */
	rec = spawn_bg(cmd, out, err);
	cr_assert_gt(rec, 0);
	rc = e2e_wait_exit(rec, 60);
	cr_assert_eq(rc, 0, "record -- %s %s exited %d: %s", interp, script, rc, slurp(err));
	*gt = ground_truth_in(out, workload);
	cr_log_info("%s under lockscope: %.3f s", workload, jnum(*gt, "elapsed_ns", 0) / 1e9);
	*rep = report_json(trace);
	cr_expect(jstr(*rep, "target.cmdline") && strstr(jstr(*rep, "target.cmdline"), script),
		  "target.cmdline is %s", jstr(*rep, "target.cmdline"));
}

static void stale_launched(const struct test_python *py)
{
	struct jp_value *gt, *rep;

	record_launched(py->path, "tests/workloads/py_stale.py --rounds 100", "py_stale", &gt,
			&rep);
	check_stale(rep, gt, py->label);
	jp_free(gt);
	jp_free(rep);
}

static void gil_launched(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *gt, *rep;

	record_launched(interp, PY_GIL, "py_gil", &gt, &rep);
	check_gil(rep, gt);
	jp_free(gt);
	jp_free(rep);
}

static void lockwait_launched(const struct test_python *py)
{
	const char *interp = py->path;
	struct jp_value *gt, *rep;

	record_launched(interp, PY_LOCKWAIT, "py_lockwait", &gt, &rep);
	check_lockwait(rep, gt);
	jp_free(gt);
	jp_free(rep);
}

/* `record -p PID` on INTERP SCRIPT --wait-signal, which holds still until SIGUSR1, sent once the
 * recorder records: the workload's ground truth and the report. */
static void record_attached(const char *interp, const char *script, const char *workload,
			    struct jp_value **gt, struct jp_value **rep)
{
	char trace[256], wl_out[256], wl_err[256], rec_err[256], cmd[5120], ready[64];
	pid_t wl, rec;
	int rc;

	snprintf(trace, sizeof(trace), "%s/attached.lsz", test_dir());
	snprintf(wl_out, sizeof(wl_out), "%s/wl.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/wl.err", test_dir());
	snprintf(rec_err, sizeof(rec_err), "%s/rec.err", test_dir());
	snprintf(cmd, sizeof(cmd), "%s %s --wait-signal", interp, script);
	wl = spawn_bg(cmd, wl_out, wl_err);
	cr_assert_gt(wl, 0);
	snprintf(ready, sizeof(ready), "%s: pid %d waiting for SIGUSR1", workload, wl);
	cr_assert(wait_for_text(wl_err, ready, 10), "%s: the workload did not start: %s", interp,
		  slurp(wl_err));
	/* -d far beyond the workload's life: the recording must end when the target exits */
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -d 600 -o %s -p %d", trace, wl);
	rec = spawn_bg(cmd, "/dev/null", rec_err);
	cr_assert_gt(rec, 0);
	cr_assert(wait_for_text(rec_err, "recording", 20), "%s: the recorder did not attach: %s",
		  interp, slurp(rec_err));
	kill(wl, SIGUSR1);
	rc = e2e_wait_exit(wl, 30);
	cr_assert_eq(rc, 0, "%s: the workload exited %d: %s", interp, rc, slurp(wl_err));
	rc = e2e_wait_exit(rec, 30);
	cr_assert_eq(rc, 0, "%s: the recorder exited %d: %s", interp, rc, slurp(rec_err));
	*gt = ground_truth_in(wl_out, workload);
	cr_assert_eq(jnum(*gt, "pid", -1), wl);
	*rep = report_json(trace);
	cr_expect(jbool(*rep, "recording.complete"), "%s: the recording is not complete", interp);
}

static void lockwait_attached(const struct test_python *py)
{
	struct jp_value *gt, *rep;

	record_attached(py->path, PY_LOCKWAIT, "py_lockwait", &gt, &rep);
	check_lockwait(rep, gt);
	jp_free(gt);
	jp_free(rep);
}

static void gil_attached(const struct test_python *py)
{
	struct jp_value *gt, *rep;

	record_attached(py->path, PY_GIL, "py_gil", &gt, &rep);
	check_gil(rep, gt);
	jp_free(gt);
	jp_free(rep);
}

/* Two threads take two threading.Locks in opposite order and hang: recorded in full mode from
 * launch, the deadlock is alerted live and reported with both threads, their Python names,
 * what each holds and waits for, and Python stacks down to the line where each blocks. */
static void deadlock_launched(const struct test_python *py)
{
	const char *interp = py->path;
	char trace[256], out[256], err[256], cmd[5120], *errtext;
	const struct jp_value *dl, *threads, *want, *got[2];
	struct jp_value *gt, *rep;
	pid_t rec;
	int rc;

	snprintf(trace, sizeof(trace), "%s/py_deadlock.lsz", test_dir());
	snprintf(out, sizeof(out), "%s/py_deadlock.out", test_dir());
	snprintf(err, sizeof(err), "%s/py_deadlock.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --mode full -d 60 -o %s -- %s " PY_DEADLOCK
		 " --delay-ms 200", trace, interp);
	rec = spawn_bg(cmd, out, err);
	cr_assert_gt(rec, 0);
	/* Ctrl-C once the live alert is out (the interpreter starts slowly under full mode's
	 * probes on a loaded machine), or after 30 s without one */
	wait_for_text(err, "DEADLOCK", 30);
	kill(rec, SIGINT);
	rc = e2e_wait_exit(rec, 30);
	errtext = slurp(err);
	cr_assert_eq(rc, 0, "record -- %s exited %d: %s", interp, rc, errtext);
	cr_expect(errtext && strstr(errtext, "DEADLOCK"), "%s: no live alert: %s", py->label,
		  errtext);
	gt = ground_truth_in(out, "py_deadlock");
	rep = report_json(trace);
	dl = array_at(rep, "deadlocks");
	cr_assert(dl && dl->len == 1, "%zu deadlocks, want 1", dl ? dl->len : 0);
	threads = array_at(&dl->items[0], "threads");
	cr_assert(threads && threads->len == 2, "the deadlock is not of two threads");
	for (int i = 0; i < 2; i++) {
		long line;

		want = jp_at(jp_get(gt, "threads"), i);
		line = (long)jnum(want, "line", 0);
		got[i] = by_tid(threads, jnum(want, "tid", -1));
		cr_assert_not_null(got[i], "thread %s (%.0f) is not in the deadlock",
				   jstr(want, "name"), jnum(want, "tid", -1));
		cr_expect_str_eq(jstr(got[i], "name"), jstr(want, "name"));
		cr_expect_geq(find_frame(jp_get(got[i], "stack"), jstr(want, "function"),
					 "py_deadlock.py", line, line), 0,
			      "thread %s's stack does not name %s (py_deadlock.py:%ld)",
			      jstr(want, "name"), jstr(want, "function"), line);
		cr_assert_eq(jp_get(got[i], "holds")->len, 1, "%s holds not one lock",
			     jstr(want, "name"));
	}
	/* each waits for what the other holds */
	cr_expect_str_eq(jstr(got[0], "waits_for"), jstr(got[1], "holds.0"));
	cr_expect_str_eq(jstr(got[1], "waits_for"), jstr(got[0], "holds.0"));
	free(errtext);
	jp_free(gt);
	jp_free(rep);
}

/* The same deadlock, attached after it hung: no probe saw the locks taken, so each thread's
 * holder is inferred from the `with` block open in its frames, named by the variable that
 * refers to the lock, and the report says that it was inferred. */
static void deadlock_attached(const struct test_python *py)
{
	const char *interp = py->path;
	char trace[256], wl_out[256], wl_err[256], cmd[5120];
	const struct jp_value *dl, *threads, *want, *got;
	struct jp_value *gt, *rep;
	pid_t wl;
	int rc;

	snprintf(trace, sizeof(trace), "%s/py_deadlock_attached.lsz", test_dir());
	snprintf(wl_out, sizeof(wl_out), "%s/wl.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/wl.err", test_dir());
	snprintf(cmd, sizeof(cmd), "%s " PY_DEADLOCK, interp);
	wl = spawn_bg(cmd, wl_out, wl_err);
	cr_assert_gt(wl, 0);
	cr_assert(wait_for_text(wl_out, "\"workload\": \"py_deadlock\"", 20),
		  "the workload printed no ground truth: %s", slurp(wl_err));
	usleep(300000);	/* from the print to the second `with`: both asleep by now */
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -d 1.5 -o %s -p %d", trace, wl);
	rc = sh(cmd, NULL, NULL);
	cr_assert_eq(rc, 0, "record -p exited %d", rc);
	gt = ground_truth_in(wl_out, "py_deadlock");
	rep = report_json(trace);
	dl = array_at(rep, "deadlocks");
	cr_assert(dl && dl->len == 1, "%zu deadlocks, want 1", dl ? dl->len : 0);
	cr_expect(jbool(&dl->items[0], "inferred"), "the holders are not marked inferred");
	threads = array_at(&dl->items[0], "threads");
	cr_assert(threads && threads->len == 2, "the deadlock is not of two threads");
	for (int i = 0; i < 2; i++) {
		long line;

		want = jp_at(jp_get(gt, "threads"), i);
		line = (long)jnum(want, "line", 0);
		got = by_tid(threads, jnum(want, "tid", -1));
		cr_assert_not_null(got, "thread %s is not in the deadlock", jstr(want, "name"));
		cr_expect_str_eq(jstr(got, "name"), jstr(want, "name"));
		cr_expect_str_eq(jstr(got, "holds.0"), jstr(want, "holds"));
		cr_expect_str_eq(jstr(got, "waits_for"), jstr(want, "waits_for"));
		cr_expect_geq(find_frame(jp_get(got, "stack"), jstr(want, "function"),
					 "py_deadlock.py", line, line), 0,
			      "thread %s's stack does not name %s (py_deadlock.py:%ld)",
			      jstr(want, "name"), jstr(want, "function"), line);
	}
	kill(wl, SIGKILL);
	jp_free(gt);
	jp_free(rep);
}

PY_TEST(gil_top_lock_launched) { on_every_python(gil_launched); }
PY_TEST(gil_top_lock_attached) { on_every_python(gil_attached); }
PY_TEST(deadlock_launched_full_mode) { on_every_python(deadlock_launched); }
PY_TEST(lockwait_frames_launched) { on_every_python(lockwait_launched); }
PY_TEST(lockwait_frames_attached) { on_every_python(lockwait_attached); }
PY_TEST(deadlock_attached_inferred) { on_every_python(deadlock_attached); }
PY_TEST(lock_waits_on_their_own_line) { on_every_python(stale_launched); }
