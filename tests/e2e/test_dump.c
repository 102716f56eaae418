/* test_dump.c - end to end: `dump -p` of real processes attached after they hung (a C deadlock,
 * Python threading and asyncio deadlocks on every interpreter under test), of a live contended
 * one, of a running thread, and of a vanished PID; checked against the ground truth the
 * workloads print. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"

#define PY_DEADLOCK "tests/workloads/py_deadlock.py"

/* The dump of PID, checked to be of it and to have the tasks array. */
static struct jp_value *dump_of(pid_t pid)
{
	struct jp_value *d = dump_json(pid);

	cr_assert_eq(jnum(d, "target.pid", -1), pid);
	must_array(d, "tasks");
	return d;
}

static const struct jp_value *thread_by(const struct jp_value *dump, const char *key, double tid,
					const char *name)
{
	const struct jp_value *threads = must_array(dump, "threads");

	for (size_t i = 0; i < threads->len; i++) {
		const struct jp_value *t = &threads->items[i];

		if (key && jnum(t, "tid", -1) == tid)
			return t;
		if (!key && jstr(t, "name") && !strcmp(jstr(t, "name"), name))
			return t;
	}
	return NULL;
}

static const struct jp_value *thread_by_tid(const struct jp_value *dump, double tid)
{
	return thread_by(dump, "tid", tid, NULL);
}

static const struct jp_value *thread_by_name(const struct jp_value *dump, const char *name)
{
	return thread_by(dump, NULL, 0, name);
}

/* ---- a C deadlock ---- */

Test(dump, c_deadlock_attached_after_the_hang, .timeout = 60, .init = e2e_adopt_orphans,
     .fini = e2e_kill_started)
{
	struct jp_value *gt, *d;
	const struct jp_value *dl, *want, *got;
	char *out = NULL, *err = NULL;
	pid_t wl;
	int rc;

	gt = start_workload("wl", 20, WORKLOAD("deadlock"), "{\"workload\": \"deadlock\"", &wl);
	usleep(300000); /* both threads are asleep in their second lock by now */
	d = dump_of(wl);
	cr_assert_eq(must_array(d, "threads")->len, 3, "main and the two workers");
	for (int i = 0; i < 2; i++) {
		const char *other = i ? "tid_a_to_b" : "tid_b_to_a";

		want = jp_at(jp_get(gt, "threads"), i);
		got = thread_by_tid(d, jnum(want, "tid", -1));
		cr_assert_not_null(got, "thread %.0f is not in the dump", jnum(want, "tid", -1));
		cr_assert_str_eq(jstr(got, "name"), jstr(want, "name"));
		cr_assert_str_eq(jstr(got, "state"), "sleeping");
		cr_assert_str_eq(jstr(got, "syscall"), "futex wait");
		cr_assert_str_eq(jstr(got, "waits_for"), jstr(want, "waits_for"));
		cr_assert_str_eq(jstr(got, "wait_addr"), jstr(want, "waits_for_addr"));
		cr_assert_eq(jnum(got, "waits_for_owner", -1), jnum(gt, other, -2),
			     "%s's lock is held by %.0f, not by the other thread %.0f",
			     jstr(want, "name"), jnum(got, "waits_for_owner", -1),
			     jnum(gt, other, -2));
		cr_assert(must_array(got, "holds")->len == 1 && jstr(got, "holds.0") &&
			      !strcmp(jstr(got, "holds.0"), jstr(want, "holds")),
			  "%s should hold just %s", jstr(want, "name"), jstr(want, "holds"));
		cr_assert(names_function(jp_get(got, "stack"), jstr(want, "function")),
			  "%s's stack does not name %s", jstr(want, "name"),
			  jstr(want, "function"));
		cr_assert(!jbool(got, "stopped"), "a sleeping thread was stopped");
	}
	/* the main thread joins the first worker: a wait, but no lock anyone holds */
	got = thread_by_tid(d, wl);
	cr_assert_not_null(got);
	cr_assert_str_eq(jstr(got, "wait_kind"), "join");
	cr_assert(names_function(jp_get(got, "stack"), "main"));

	dl = must_array(d, "deadlocks");
	cr_assert_eq(dl->len, 1, "%zu deadlocks, want 1", dl->len);
	cr_assert(is_pair(jp_path(d, "deadlocks.0.locks"), "lock_a", "lock_b"));
	cr_assert_eq(must_array(d, "deadlocks.0.threads")->len, 2);
	cr_assert(!jbool(d, "deadlocks.0.inferred"), "the owner fields named both holders");
	cr_assert_eq(jnum(d, "stopped_ns", -1), 0, "nothing ran, nothing needed stopping");
	jp_free(d);

	rc = shf(&out, &err, LOCKSCOPE " dump -p %d", wl);
	cr_assert_eq(rc, 0, "dump -p exited %d: %s", rc, err);
	cr_assert(strstr(out, "DEADLOCK") && strstr(out, "transfer_a_to_b") &&
		      strstr(out, "transfer_b_to_a"),
		  "the text dump names no deadlock or not both functions:\n%s", out);
	cr_assert(strstr(out, "waits for lock_b (mutex), held by thread"), "%s", out);
	cr_assert(strstr(out, "\nstopped "), "the text dump does not say how long it stopped");
	cr_assert_eq(kill(wl, 0), 0, "dumping ended the process");
	jp_free(gt);
	free(out);
	free(err);
}

/* ---- a live, contended process: waits and holders, never a deadlock ---- */

Test(dump, contended_but_live_has_no_deadlock, .timeout = 60, .init = e2e_adopt_orphans,
     .fini = e2e_kill_started)
{
	char out[256], err[256], *wl_err;
	bool seen_held = false;
	int named = 0, cut = 0;
	pid_t wl;

	snprintf(out, sizeof(out), "%s/contended.out", test_dir());
	snprintf(err, sizeof(err), "%s/contended.err", test_dir());
	wl = spawn_bg(WORKLOAD("contended") " --threads 4 --iters 200000", out, err);
	cr_assert_gt(wl, 0);
	usleep(300000);
	for (int i = 0; i < 8; i++) {
		struct jp_value *d = dump_of(wl);
		const struct jp_value *threads = must_array(d, "threads");

		cr_assert_eq(must_array(d, "deadlocks")->len, 0, "a deadlock in a live process");
		cr_assert_eq(threads->len, 5, "%zu threads, want main and 4 workers", threads->len);
		for (size_t k = 0; k < threads->len; k++) {
			const struct jp_value *t = &threads->items[k];
			const char *waits = jstr(t, "waits_for");
			double owner = jnum(t, "waits_for_owner", 0);

			if (!waits || strcmp(waits, "hot_lock"))
				continue;
			/* a thread that ran while the dump read it is shown as last read; its
			 * stack was seen cut short, rarely, at load 10: counted, not failed */
			if (!names_function(jp_get(t, "stack"), "update_shared_state")) {
				cr_assert(jbool(t, "ran_during_dump"),
					  "a wait for hot_lock outside update_shared_state: %s, %s",
					  jstr(t, "stack.0"), jstr(t, "stack.1"));
				cut++;
				continue;
			}
			named++;
			if (owner && thread_by_tid(d, owner)) {
				seen_held = true;
				cr_assert(
				    !strncmp(jstr(thread_by_tid(d, owner), "name"), "worker-", 7));
			}
		}
		jp_free(d);
		usleep(50000);
	}
	wl_err = slurp(err);
	cr_assert(seen_held, "in 8 dumps no thread waited for hot_lock held by a worker: %s",
		  wl_err);
	cr_assert_gt(named, 4 * cut, "%d stacks of hot_lock's waiters cut short, %d whole", cut,
		     named);
	if (cut)
		cr_log_info("%d of %d stacks of waiters that ran during the dump cut short", cut,
			    cut + named);
	cr_assert_eq(kill(wl, 0), 0, "dumping ended the process");
	free(wl_err);
}

/* ---- a Python threading deadlock, on every interpreter under test ---- */

/* FRAMES has exactly the frame TEXT ("func (file:line)"). */
static bool has_frame(const struct jp_value *frames, const char *text)
{
	for (size_t i = 0; frames && frames->type == JP_ARRAY && i < frames->len; i++)
		if (jp_str(&frames->items[i]) && !strcmp(jp_str(&frames->items[i]), text))
			return true;
	return false;
}

static void py_deadlock(const struct test_python *py)
{
	const char *interp = py->path;
	char cmd[4608], want_frame[128];
	struct jp_value *gt, *d;
	const struct jp_value *dls;
	pid_t wl;

	snprintf(cmd, sizeof(cmd), "%s " PY_DEADLOCK, interp);
	gt = start_workload("wl", 20, cmd, "{\"workload\": \"py_deadlock\"", &wl);
	usleep(300000);
	d = dump_of(wl);
	for (int i = 0; i < 2; i++) {
		const struct jp_value *want = jp_at(jp_get(gt, "threads"), i), *got;

		got = thread_by_tid(d, jnum(want, "tid", -1));
		cr_assert_not_null(got, "thread %.0f is not in the dump", jnum(want, "tid", -1));
		/* threading.Thread's name, not the OS thread's */
		cr_assert_str_eq(jstr(got, "name"), jstr(want, "name"));
		cr_assert_str_eq(jstr(got, "syscall"), "futex wait");
		snprintf(want_frame, sizeof(want_frame), "%s (py_deadlock.py:%.0f)",
			 jstr(want, "function"), jnum(want, "line", -1));
		cr_assert(names_function(jp_get(got, "stack"), jstr(want, "function")),
			  "%s's stack does not name %s", jstr(want, "name"),
			  jstr(want, "function"));
		cr_assert(has_frame(jp_get(got, "stack"), want_frame), "no frame %s in %s's stack",
			  want_frame, jstr(want, "name"));
		cr_assert(names_function(jp_get(got, "stack"), "Thread.run"),
			  "the Python stack is cut short of threading's Thread.run");
		/* what it waits on and what it holds: the workload's own variables, the holds
		 * inferred from the `with` blocks open in its frames */
		cr_assert_str_eq(jstr(got, "wait_kind"), "mutex");
		cr_assert_str_eq(jstr(got, "waits_for"), jstr(want, "waits_for"));
		cr_assert_eq(jp_get(got, "holds")->len, 1, "%s holds not one lock",
			     jstr(want, "name"));
		cr_assert_str_eq(jstr(got, "holds.0"), jstr(want, "holds"));
	}
	/* one deadlock, and an inferred one: no owner field names the holders */
	dls = must_array(d, "deadlocks");
	cr_assert_eq(dls->len, 1, "%zu deadlocks, want 1", dls->len);
	cr_assert(jbool(&dls->items[0], "inferred"));
	cr_assert_eq(must_array(&dls->items[0], "threads")->len, 2);
	cr_assert_str_eq(jstr(thread_by_tid(d, wl), "name"), "MainThread");
	cr_assert(names_function(jp_get(thread_by_tid(d, wl), "stack"), "main"));
	cr_assert_eq(kill(wl, 0), 0, "dumping ended the process");
	jp_free(d);
	jp_free(gt);
}

Test(dump, python_deadlock, .timeout = 200, .init = e2e_adopt_orphans, .fini = e2e_kill_started)
{
	on_every_python(py_deadlock);
}

/* ---- asyncio: tasks, their await chains, asyncio locks and deadlocks among tasks ---- */

static const struct jp_value *task_by_name(const struct jp_value *dump, const char *name)
{
	const struct jp_value *tasks = must_array(dump, "tasks");

	for (size_t i = 0; i < tasks->len; i++)
		if (jstr(&tasks->items[i], "name") && !strcmp(jstr(&tasks->items[i], "name"), name))
			return &tasks->items[i];
	return NULL;
}

/* Two tasks take two asyncio.Locks in opposite order: the loop idles in epoll_wait, no thread
 * waits on anything, and still the dump names both tasks, what each holds and waits for, the
 * line where each awaits, and the cycle among them. */
static void py_async_deadlock(const struct test_python *py)
{
	const char *interp = py->path;
	char cmd[4608], want_frame[128];
	const struct jp_value *dls, *dl = NULL;
	struct jp_value *gt, *d;
	pid_t wl;

	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_async_deadlock.py", interp);
	gt = start_workload("wl", 20, cmd, "{\"workload\": \"py_async_deadlock\"", &wl);
	usleep(300000);
	d = dump_of(wl);
	for (int i = 0; i < 2; i++) {
		const struct jp_value *want = jp_at(jp_get(gt, "tasks"), i);
		const struct jp_value *got = task_by_name(d, jstr(want, "name"));

		cr_assert_not_null(got, "task %s is not in the dump", jstr(want, "name"));
		cr_assert_eq(jnum(got, "tid", -1), wl, "the loop runs on the main thread");
		cr_assert_str_eq(jstr(got, "waits_for"), jstr(want, "waits_for"));
		cr_assert_eq(jp_get(got, "holds")->len, 1);
		cr_assert_str_eq(jstr(got, "holds.0"), jstr(want, "holds"));
		snprintf(want_frame, sizeof(want_frame), "%s (py_async_deadlock.py:%.0f)",
			 jstr(want, "function"), jnum(want, "line", -1));
		cr_assert(has_frame(jp_get(got, "stack"), want_frame), "no %s in task %s's chain",
			  want_frame, jstr(want, "name"));
		cr_assert(names_function(jp_get(got, "stack"), "Lock.acquire"));
	}
	dls = must_array(d, "deadlocks");
	for (size_t i = 0; i < dls->len; i++)
		if (jp_get(&dls->items[i], "tasks"))
			dl = &dls->items[i];
	cr_assert_not_null(dl, "no deadlock among tasks");
	cr_assert(jbool(dl, "inferred"));
	cr_assert(is_pair(jp_get(dl, "locks"), "lock_a", "lock_b"));
	cr_assert_eq(must_array(dl, "tasks")->len, 2);
	jp_free(d);
	jp_free(gt);
}

Test(dump, asyncio_deadlock, .timeout = 200, .init = e2e_adopt_orphans, .fini = e2e_kill_started)
{
	on_every_python(py_async_deadlock);
}

/* An asyncio server waiting for clients: tasks, and no deadlock. */
static void py_async_idle(const struct test_python *py)
{
	const char *interp = py->path;
	char cmd[4608];
	struct jp_value *gt, *d;
	pid_t wl;

	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_async_idle.py", interp);
	gt = start_workload("wl", 20, cmd, "{\"workload\": \"py_async_idle\"", &wl);
	usleep(300000);
	d = dump_of(wl);
	cr_assert_gt(must_array(d, "tasks")->len, 0, "no task found");
	cr_assert_eq(must_array(d, "deadlocks")->len, 0, "an idle server is no deadlock");
	jp_free(d);
	jp_free(gt);
}

Test(dump, asyncio_idle_server, .timeout = 200, .init = e2e_adopt_orphans, .fini = e2e_kill_started)
{
	on_every_python(py_async_idle);
}

/* ---- the GIL: its waiters name its holder ---- */

/* Three CPU-bound threads on one GIL: in some dump, one waits for the GIL that another of
 * them holds. */
static void gil_holder(const struct test_python *py)
{
	const char *interp = py->path;
	char out[256], err[256], cmd[4608];
	bool seen = false;
	pid_t wl;

	snprintf(out, sizeof(out), "%s/gil.out", test_dir());
	snprintf(err, sizeof(err), "%s/gil.err", test_dir());
	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_gil.py --threads 3 --iters 1000000000",
		 interp);
	wl = spawn_bg(cmd, out, err);
	cr_assert_gt(wl, 0);
	usleep(1000000);
	for (int i = 0; i < 20 && !seen; i++) {
		struct jp_value *d = dump_of(wl);
		const struct jp_value *threads = must_array(d, "threads");

		for (size_t k = 0; k < threads->len; k++) {
			const struct jp_value *t = &threads->items[k], *holder;

			if (!jstr(t, "wait_kind") || strcmp(jstr(t, "wait_kind"), "gil"))
				continue;
			cr_assert_str_eq(jstr(t, "waits_for"), "GIL");
			cr_assert(names_function(jp_get(t, "stack"), "burn") ||
				      names_function(jp_get(t, "stack"), "worker"),
				  "a GIL wait outside the workload's functions");
			holder = thread_by_tid(d, jnum(t, "waits_for_owner", 0));
			if (!holder || holder == t)
				continue;
			cr_assert(!strncmp(jstr(holder, "name"), "cpu-", 4),
				  "the GIL is held by %s", jstr(holder, "name"));
			/* unless read waiting for it itself, a moment before or after */
			if (!jstr(holder, "wait_kind") || strcmp(jstr(holder, "wait_kind"), "gil"))
				cr_assert_str_eq(jstr(holder, "holds.0"), "GIL");
			seen = true;
		}
		jp_free(d);
	}
	cr_assert(seen, "in 20 dumps no thread waited for the GIL held by another");
}

Test(dump, gil_waits_name_the_holder, .timeout = 300, .init = e2e_adopt_orphans,
     .fini = e2e_kill_started)
{
	on_every_python(gil_holder);
}

/* ---- a running thread: stopped alone, briefly, for its stack ---- */

/* Dumps PID until THREAD (by name) was found running and stopped (the machine may preempt
 * it, and then it is read asleep), and checks that its stack names FUNC every time. */
static void running_thread(pid_t pid, const char *thread, const char *func)
{
	bool stopped = false;
	char *out = NULL, *err = NULL;
	int rc;

	for (int i = 0; i < 20 && !stopped; i++) {
		struct jp_value *d = dump_json(pid);
		const struct jp_value *t = thread_by_name(d, thread);

		cr_assert_not_null(t, "no thread %s in the dump", thread);
		cr_assert(names_function(jp_get(t, "stack"), func),
			  "the running thread's stack does not name %s", func);
		if (jbool(t, "stopped")) {
			stopped = true;
			cr_assert_str_eq(jstr(t, "state"), "running");
			cr_assert_gt(jnum(d, "stopped_ns", 0), 0, "a stop that took no time");
			cr_assert_geq(jnum(d, "stopped_threads", 0), 1);
			cr_log_info("%s stopped for %.3f ms", thread,
				    jnum(d, "stopped_ns", 0) / 1e6);
		}
		jp_free(d);
	}
	cr_assert(stopped, "in 20 dumps the spinning thread %s was never running", thread);
	rc = shf(&out, &err, LOCKSCOPE " dump -p %d", pid);
	cr_assert_eq(rc, 0, "dump -p exited %d: %s", rc, err);
	cr_assert(strstr(out, "\nstopped "), "the text does not say how long it stopped:\n%s", out);
	cr_assert_eq(kill(pid, 0), 0, "dumping ended the process");
	free(out);
	free(err);
}

Test(dump, running_c_thread_is_stopped_for_its_stack, .timeout = 90, .init = e2e_adopt_orphans,
     .fini = e2e_kill_started)
{
	char out[256], err[256];
	pid_t wl;

	snprintf(out, sizeof(out), "%s/spin.out", test_dir());
	snprintf(err, sizeof(err), "%s/spin.err", test_dir());
	/* one worker that spins while it holds the lock: always on a CPU */
	wl = spawn_bg(WORKLOAD("contended") " --spin --threads 1 --gap-us 0 --hold-us 100000 "
					    "--iters 100000",
		      out, err);
	cr_assert_gt(wl, 0);
	usleep(300000);
	running_thread(wl, "worker-0", "update_shared_state");
}

Test(dump, running_python_thread_is_stopped_for_its_stack, .timeout = 90, .init = e2e_adopt_orphans,
     .fini = e2e_kill_started)
{
	char out[256], err[256], cmd[4608];
	pid_t wl;

	snprintf(out, sizeof(out), "%s/gil.out", test_dir());
	snprintf(err, sizeof(err), "%s/gil.err", test_dir());
	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_gil.py --threads 1 --iters 1000000000",
		 python3_path());
	wl = spawn_bg(cmd, out, err);
	cr_assert_gt(wl, 0);
	usleep(800000); /* the interpreter is up and the thread burns */
	running_thread(wl, "cpu-0", "burn");
}

/* ---- races: threads that come and go, a process that ends during the dump ---- */

Test(dump, threads_that_exit_meanwhile_are_counted_not_fatal, .timeout = 90,
     .init = e2e_adopt_orphans, .fini = e2e_kill_started)
{
	char out[256], err[256], cmd[1024];
	pid_t wl;

	snprintf(out, sizeof(out), "%s/churn.out", test_dir());
	snprintf(err, sizeof(err), "%s/churn.err", test_dir());
	/* threads that live a millisecond, four at a time, for ever */
	snprintf(cmd, sizeof(cmd),
		 "%s -c 'import threading, time\n"
		 "while True:\n"
		 "    ts = [threading.Thread(target=time.sleep, args=(0.001,)) for _ in range(4)]\n"
		 "    [t.start() for t in ts]\n"
		 "    [t.join() for t in ts]'",
		 python3_path());
	wl = spawn_bg(cmd, out, err);
	cr_assert_gt(wl, 0);
	usleep(500000);
	for (int i = 0; i < 15; i++) {
		struct jp_value *d = dump_of(wl);

		cr_assert_geq(must_array(d, "threads")->len, 1);
		cr_assert_geq(jnum(d, "threads_gone", -1), 0);
		cr_assert_eq(must_array(d, "deadlocks")->len, 0);
		jp_free(d);
	}
	cr_assert_eq(kill(wl, 0), 0, "dumping ended the process");
}

Test(dump, a_process_that_ends_meanwhile_is_exit_2_or_a_whole_dump, .timeout = 90,
     .init = e2e_adopt_orphans, .fini = e2e_kill_started)
{
	char cmd[4608];

	for (int i = 0; i < 10; i++) {
		char *out = NULL, *err = NULL;
		pid_t wl;
		int rc;

		snprintf(cmd, sizeof(cmd), "%s -c 'import time; time.sleep(%.3f)'", python3_path(),
			 0.02 * i);
		wl = spawn_bg(cmd, "/dev/null", "/dev/null");
		cr_assert_gt(wl, 0);
		rc = shf(&out, &err, LOCKSCOPE " dump -p %d --json", wl);
		cr_assert(rc == 0 || rc == 2, "dump of a process that ends exited %d: %s", rc, err);
		if (rc == 0) {
			struct jp_value *d = jparse(out);

			cr_assert_not_null(d, "not JSON: %.300s", out);
			jp_free(d);
		} else {
			cr_assert_eq(count_lines(err), 1, "not one line: %s", err);
			cr_assert(strstr(err, "lockscope: dump: no such process") ||
				      strstr(err, "exited (zombie): nothing to dump") ||
				      strstr(err, "exited during the dump"),
				  "%s", err);
		}
		waitpid(wl, NULL, 0);
		free(out);
		free(err);
	}
}

/* ---- bad targets ---- */

Test(dump, vanished_pid_is_refused_with_exit_2, .timeout = 30)
{
	char *out = NULL, *err = NULL;
	pid_t gone = fork();
	int rc;

	cr_assert_geq(gone, 0);
	if (!gone)
		_exit(0);
	waitpid(gone, NULL, 0); /* reaped: the PID names no process now */
	rc = shf(&out, &err, LOCKSCOPE " dump -p %d", gone);
	cr_assert_eq(rc, 2, "dump of a vanished PID exited %d", rc);
	cr_assert_eq(count_lines(err), 1, "not one line: %s", err);
	cr_assert(strstr(err, "lockscope: dump: no such process"), "%s", err);
	cr_assert(!out || !*out, "output for a vanished PID: %s", out);
	free(out);
	free(err);
	rc = shf(&out, &err, LOCKSCOPE " dump");
	cr_assert_eq(rc, 1, "dump without -p exited %d", rc);
	cr_assert(strstr(err, "give -p PID"), "%s", err);
	free(out);
	free(err);
	rc = shf(&out, &err, LOCKSCOPE " dump -p nope");
	cr_assert_eq(rc, 1, "dump -p nope exited %d", rc);
	free(out);
	free(err);
}

Test(dump, not_permitted_is_refused_with_exit_2, .timeout = 30)
{
	char *out = NULL, *err = NULL;
	int rc;

	/* a copy that an unprivileged user can run, wherever the build tree is */
	rc = shf(NULL, NULL, "cp " LOCKSCOPE " %s/lockscope && chmod 755 %s %s/lockscope",
		 test_dir(), test_dir(), test_dir());
	cr_assert_eq(rc, 0);
	rc = shf(&out, &err,
		 "setpriv --reuid=65534 --regid=65534 --clear-groups "
		 "%s/lockscope dump -p 1",
		 test_dir());
	cr_assert_eq(rc, 2, "dump of init as nobody exited %d: %s", rc, err);
	cr_assert_eq(count_lines(err), 1, "not one line: %s", err);
	cr_assert(strstr(err, "lockscope: dump: not permitted"), "%s", err);
	free(out);
	free(err);
}
