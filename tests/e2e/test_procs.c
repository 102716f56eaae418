/* test_procs.c - end to end: programs of several processes and whole stacks. PostgreSQL started
 * by the test (private data directory and socket, stopped however the test ends): a backend
 * blocked on a row lock, dumped to its outermost frame; stacks too deep to copy, marked cut. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"
#include "protodec.h"

/* the report's count of threads set aside as two epoll sets, not loops */
#define TWO_SETS "recording.counters.loops: threads waiting in two epoll instances, not loops"

#define PG_BIN "/usr/lib/postgresql/15/bin"

static char pg_dir[256];

/* Stops the server (fast, then killed) and everything the test started. */
static void stop_all(void)
{
	char *out = NULL, *err = NULL;

	if (pg_dir[0])
		shf(&out, &err,
		    "runuser -u postgres -- " PG_BIN "/pg_ctl -D %s/data -m immediate "
		    "-w -t 10 stop || pkill -KILL -F %s/data/postmaster.pid",
		    pg_dir, pg_dir);
	free(out);
	free(err);
	pg_dir[0] = '\0';
	e2e_kill_started();
}

/* psql as the server's superuser over its private socket; the output of SQL (caller frees). */
static char *psql(const char *sql)
{
	char *out = NULL, *err = NULL;
	int rc =
	    shf(&out, &err, PG_BIN "/psql -h %s -p 5999 -U postgres -At -c \"%s\"", pg_dir, sql);

	cr_assert_eq(rc, 0, "psql %s: %s", sql, err);
	free(err);
	return out;
}

/* The postgresql package's server on a fresh data directory, its socket beside it, no TCP. */
static pid_t start_postgres(void)
{
	char *out = NULL, *err = NULL, path[320];
	pid_t pm;
	int rc;

	snprintf(pg_dir, sizeof(pg_dir), "%s/pg", test_dir());
	rc =
	    shf(&out, &err,
		"chmod 711 %s && mkdir -p %s && chown postgres %s && runuser -u postgres -- " PG_BIN
		"/initdb -D %s/data -A trust -U postgres --no-sync",
		test_dir(), pg_dir, pg_dir, pg_dir);
	cr_assert_eq(rc, 0, "initdb (the postgresql package): %s", err);
	free(out);
	free(err);
	rc = shf(&out, &err,
		 "runuser -u postgres -- " PG_BIN "/pg_ctl -D %s/data -l %s/log -w "
		 "-o \"-k %s -p 5999 -c listen_addresses='' -c fsync=off\" start",
		 pg_dir, pg_dir, pg_dir);
	snprintf(path, sizeof(path), "%s/log", pg_dir);
	cr_assert_eq(rc, 0, "pg_ctl start: %s %s", err, slurp(path));
	free(out);
	free(err);
	snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg_dir);
	out = slurp(path);
	cr_assert(out, "no postmaster.pid");
	pm = atoi(out);
	free(out);
	cr_assert_gt(pm, 0);
	return pm;
}

/* The backend of a session that waits for a row lock: another session updated the row and
 * sleeps in its transaction. Both sessions are psql processes of the test. */
static pid_t row_lock_waiter(void)
{
	char cmd[600], path[320], *pid = NULL;
	pid_t waiter = 0;

	free(psql("create table t (id int primary key, v int); insert into t values (1, 0)"));
	snprintf(cmd, sizeof(cmd),
		 PG_BIN "/psql -h %s -p 5999 -U postgres -c \"begin; update t "
			"set v = v + 1 where id = 1; select pg_sleep(120); commit\"",
		 pg_dir);
	snprintf(path, sizeof(path), "%s/holder.out", pg_dir);
	cr_assert_gt(spawn_bg(cmd, path, path), 0);
	snprintf(cmd, sizeof(cmd),
		 PG_BIN "/psql -h %s -p 5999 -U postgres -c \"update t set v = "
			"v + 1 where id = 1\"",
		 pg_dir);
	snprintf(path, sizeof(path), "%s/waiter.out", pg_dir);
	for (int i = 0; i < 100 && !waiter; i++) {
		if (i == 5)
			cr_assert_gt(spawn_bg(cmd, path, path), 0);
		usleep(100000);
		pid = psql("select pid from pg_stat_activity where wait_event = 'transactionid'");
		waiter = atoi(pid);
		free(pid);
	}
	cr_assert_gt(waiter, 0, "no backend came to wait for the row lock");
	return waiter;
}

/* The thread of a one-thread dump, and its frames. */
static const struct jp_value *only_stack(const struct jp_value *d)
{
	const struct jp_value *threads = must_array(d, "threads");

	cr_assert_eq(threads->len, 1);
	return must_array(&threads->items[0], "stack");
}

static const char *last_frame(const struct jp_value *frames)
{
	return frames->len ? jp_str(&frames->items[frames->len - 1]) : "";
}

/* gdb's stack of such a backend: epoll_wait <- WaitEventSetWait <- WaitLatch <- ProcSleep <-
 * ... <- LockAcquireExtended <- XactLockTableWait <- heap_update <- ... <- main. Read from
 * /proc, the thread has no rbp, on which WaitEventSetWait's CFA rests: its frame record is
 * found on the stack, and the dump goes on to the outermost frame. */
Test(procs, dump_of_postgres_backend_blocked_on_a_row_lock_is_whole, .timeout = 90,
     .init = e2e_adopt_orphans, .fini = stop_all)
{
	struct jp_value *d;
	const struct jp_value *frames;
	pid_t waiter;

	start_postgres();
	waiter = row_lock_waiter();
	d = dump_json(waiter);
	frames = only_stack(d);
	cr_assert(names_function(frames, "WaitEventSetWait"), "stack: %s", last_frame(frames));
	cr_assert(names_function(frames, "ProcSleep"), "no ProcSleep in %zu frames", frames->len);
	cr_assert(names_function(frames, "XactLockTableWait"));
	cr_assert(names_function(frames, "heap_update"));
	cr_assert(names_function(frames, "PostgresMain"));
	cr_assert(names_function(frames, "main"));
	cr_assert(strstr(last_frame(frames), "_start"), "outermost: %s", last_frame(frames));
	cr_assert_eq(jnum(d, "stacks_cut", -1), 0);
	cr_assert_eq(jnum(d, "stacks_missing", -1), 0);
	jp_free(d);
}

/* Threads whose stacks are deeper than a stack holds (400 frames; 63 are kept): each ends with a
 * frame that says it was cut, and they are counted; the main thread's, in pthread_join, is whole
 * and unmarked. */
Test(procs, dump_marks_and_counts_stacks_cut_short, .timeout = 60, .init = e2e_adopt_orphans,
     .fini = stop_all)
{
	char path[300], *text = NULL, *err = NULL;
	const struct jp_value *threads;
	struct jp_value *d;
	size_t cut = 0, whole = 0;
	pid_t pid;
	int rc;

	snprintf(path, sizeof(path), "%s/deepwait.out", test_dir());
	pid = spawn_bg(WORKLOAD("deepwait") " --depth 400 --rounds 1000000", path, path);
	cr_assert_gt(pid, 0);
	usleep(300000);
	d = dump_json(pid);
	threads = must_array(d, "threads");
	for (size_t i = 0; i < threads->len; i++) {
		const struct jp_value *frames = must_array(&threads->items[i], "stack");
		const char *last = last_frame(frames);

		if (!strncmp(last, "…cut: ", strlen("…cut: "))) {
			cr_assert(names_function(frames, "deep_frame"), "cut: %s", last);
			cut++;
		} else if (frames->len) {
			cr_assert(names_function(frames, "main"), "whole: %s", last);
			cr_assert(strstr(last, "_start"), "outermost: %s", last);
			whole++;
		}
	}
	cr_assert_eq(whole, 1);
	cr_assert_eq(cut, 3);
	cr_assert_eq(jnum(d, "stacks_cut", -1), 3);
	jp_free(d);
	rc = shf(&text, &err, LOCKSCOPE " dump -p %d", pid);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(text, "…cut: too many frames"), "%s", text);
	cr_assert(strstr(text, "cut: 3 stacks end short"), "%s", text);
	free(text);
	free(err);
}

/* A thread of PID other than PID itself; 0 if none. */
static pid_t a_thread_of(pid_t pid)
{
	char cmd[128], *out = NULL;
	pid_t tid;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/task | grep -vx %d | head -1", pid, pid);
	cr_assert_eq(sh(cmd, &out, NULL), 0);
	tid = atoi(out);
	free(out);
	return tid;
}

/* A process whose main thread called pthread_exit: a zombie leader, its threads alive. It is
 * dumped through one of its threads, and recorded (futex waits only: the kernel matches uprobes
 * by the leader's memory), the waits against what the threads measured themselves. */
Test(procs, a_process_whose_leader_exited_is_recorded_and_dumped, .timeout = 90,
     .init = e2e_adopt_orphans, .fini = stop_all)
{
	char go[300], cmd[700], trace[300], errp[300], outp[300], *err;
	const struct jp_value *threads, *lock;
	struct jp_value *ready, *d, *rep, *gt;
	double want, got;
	pid_t pid, rec;
	size_t in_contender = 0;

	snprintf(go, sizeof(go), "%s/go", test_dir());
	snprintf(cmd, sizeof(cmd), WORKLOAD("leaderexit") " %s", go);
	ready = start_workload("leaderexit", 10, cmd, "{\"workload\": \"leaderexit-ready\"", &pid);
	jp_free(ready);
	snprintf(cmd, sizeof(cmd), "/proc/%d/task/%d/stat", pid, pid);
	for (int i = 0; i < 100; i++) {
		char *st = slurp(cmd);
		bool zombie = st && strstr(st, ") Z ");

		free(st);
		if (zombie)
			break;
		usleep(20000);
	}
	d = dump_json(pid);
	cr_assert_eq(jnum(d, "target.pid", -1), pid);
	threads = must_array(d, "threads");
	cr_assert_eq(threads->len, 4);
	for (size_t i = 0; i < threads->len; i++)
		in_contender += names_function(jp_path(&threads->items[i], "stack"), "contender");
	cr_assert_eq(in_contender, 3);
	jp_free(d);

	snprintf(trace, sizeof(trace), "%s/leaderexit.lsz", test_dir());
	snprintf(errp, sizeof(errp), "%s/record.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -p %d -o %s", pid, trace);
	rec = spawn_bg(cmd, "/dev/null", errp);
	cr_assert(wait_for_text(errp, "recording pid", 20), "%s", slurp(errp));
	snprintf(cmd, sizeof(cmd), "touch %s", go); /* the threads start */
	cr_assert_eq(sh(cmd, NULL, NULL), 0);
	cr_assert_eq(wait_for(rec, 60), 0, "%s", slurp(errp));
	err = slurp(errp);
	cr_assert(strstr(err, "main thread of process"), "%s", err);
	free(err);
	snprintf(outp, sizeof(outp), "%s/leaderexit.out", test_dir());
	gt = ground_truth_in(outp, "leaderexit");
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "target.pid", -1), pid);
	lock = &must_array(rep, "locks")->items[0];
	cr_assert_str_eq(jstr(lock, "name"), "leader_lock");
	want = jnum(gt, "lock_wait_ns", 0);
	got = jnum(lock, "wait_ns", 0);
	cr_assert(got > 0.75 * want && got < 1.05 * want,
		  "waits %.0f ns, the workload measured %.0f", got, want);
	cr_assert_eq(jp_path(lock, "acquisitions")->type, JP_NULL);
	jp_free(rep);
	jp_free(gt);
}

/* A thread id to -p stands for its process, with a note; a list -p cannot read is refused with
 * one line (exit 1); dump takes one process and says so. */
Test(procs, a_thread_id_is_taken_as_its_process, .timeout = 60, .init = e2e_adopt_orphans,
     .fini = stop_all)
{
	char path[300], trace[300], *out = NULL, *err = NULL, note[128];
	struct jp_value *d, *rep;
	pid_t pid, tid;
	int rc;

	snprintf(path, sizeof(path), "%s/deepwait.out", test_dir());
	pid = spawn_bg(WORKLOAD("deepwait") " --depth 4 --rounds 1000000", path, path);
	cr_assert_gt(pid, 0);
	usleep(200000);
	tid = a_thread_of(pid);
	cr_assert_gt(tid, 0);
	snprintf(note, sizeof(note), "%d is a thread of process %d: taking process %d", tid, pid,
		 pid);
	snprintf(trace, sizeof(trace), "%s/tid.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record --mode contention -d 1 -p %d -o %s", tid, trace);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(err, note), "%s", err);
	cr_assert(strstr(err, "recording pid"), "%s", err);
	free(out);
	free(err);
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "target.pid", -1), pid);
	cr_assert_geq(must_array(rep, "threads")->len, 4);
	cr_assert_gt(must_array(rep, "locks")->len, 0);
	jp_free(rep);
	d = dump_json(tid);
	cr_assert_eq(jnum(d, "target.pid", -1), pid);
	cr_assert_eq(must_array(d, "threads")->len, 4);
	jp_free(d);
	rc = shf(&out, &err, LOCKSCOPE " record -p %d,,%d -o %s", pid, pid, trace);
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "-p wants process ids separated by commas"), "%s", err);
	free(out);
	free(err);
	rc = shf(&out, &err, LOCKSCOPE " dump -p %d -p %d", pid, pid);
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "-p given twice"), "%s", err);
	free(out);
	free(err);
}

/* py_mplock started, waiting for GO (its path written to GO, GO_LEN bytes) to release its
 * workers, each taking the lock ROUNDS times: its pid. */
static pid_t start_mplock(char *go, size_t go_len, long rounds)
{
	char cmd[800];
	struct jp_value *ready;
	pid_t pid;

	snprintf(go, go_len, "%s/go", test_dir());
	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_mplock.py %s --rounds %ld",
		 python3_path(), go, rounds);
	ready = start_workload("py_mplock", 20, cmd, "{\"workload\": \"py_mplock-ready\"", &pid);
	jp_free(ready);
	return pid;
}

/* A multiprocessing.Lock contended by three worker processes, the parent recorded alone (no
 * --children): the children are not recorded, and stderr and the report say how many, rather
 * than a quiet "no contended locks". */
Test(procs, children_not_recorded_are_counted_and_said, .timeout = 90, .init = e2e_adopt_orphans,
     .fini = stop_all)
{
	char go[300], cmd[800], trace[300], errp[300], *err;
	struct jp_value *rep;
	pid_t pid, rec;

	pid = start_mplock(go, sizeof(go), 50);
	snprintf(trace, sizeof(trace), "%s/parent.lsz", test_dir());
	snprintf(errp, sizeof(errp), "%s/record.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --mode contention -p %d -o %s", pid, trace);
	rec = spawn_bg(cmd, "/dev/null", errp);
	cr_assert(wait_for_text(errp, "recording pid", 20), "%s", slurp(errp));
	snprintf(cmd, sizeof(cmd), "touch %s", go);
	cr_assert_eq(sh(cmd, NULL, NULL), 0);
	cr_assert_eq(wait_for(rec, 60), 0, "%s", slurp(errp));
	err = slurp(errp);
	cr_assert(strstr(err, "3 child processes were not recorded: use --children"), "%s", err);
	free(err);
	rep = report_json(trace);
	cr_assert_eq(
	    jnum(rep, "recording.counters.child processes not recorded (without --children)", -1),
	    3);
	jp_free(rep);
}

static bool pid_in(const struct jp_value *pids, double pid)
{
	for (size_t i = 0; i < pids->len; i++)
		if (pids->items[i].number == pid)
			return true;
	return false;
}

/* Each of LOCKS (a report's locks[]) as "key kind name: waiter tids", for a failure to say
 * what was seen (static: valid to the next call). */
static const char *locks_said(const struct jp_value *locks)
{
	static char buf[4096];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < locks->len && n < sizeof(buf) - 256; i++) {
		const struct jp_value *w = jp_path(&locks->items[i], "waiters");

		n += snprintf(buf + n, sizeof(buf) - n,
			      "\n  %s %s %.80s:", jstr(&locks->items[i], "addr"),
			      jstr(&locks->items[i], "kind"), jstr(&locks->items[i], "name") ?: "");
		for (size_t k = 0; w && k < w->len && n < sizeof(buf) - 32; k++)
			n += snprintf(buf + n, sizeof(buf) - n, " %.0f",
				      jnum(&w->items[k], "tid", 0));
	}
	return buf;
}

/* The one entry of py_mplock's multiprocessing.Lock in the report of TRACE: a semaphore in
 * /dev/shm, the same lock in every process, named after its variable or its file, whose waiters are
 * threads of WAITERS (pids; at least MIN_PROCS of them wait) and no other. Every thread of the
 * trace says its process, and processes[] lists WAITERS. The report, parsed (caller frees); *LOCK
 * borrowed from it. */
static struct jp_value *mplock_report(const char *trace, const struct jp_value *waiters,
				      size_t min_procs, const struct jp_value **lock)
{
	struct jp_value *rep = report_json(trace);
	const struct jp_value *locks = must_array(rep, "locks"), *threads, *procs, *w;
	size_t shared = 0, seen = 0;

	*lock = NULL;
	for (size_t i = 0; i < locks->len; i++) {
		const char *addr = jstr(&locks->items[i], "addr");

		/* memory shared between processes: keyed by its file, bit 63 set (trace.h) */
		if (strlen(addr) != 18 || addr[2] < '8')
			continue;
		shared++;
		*lock = &locks->items[i];
	}
	cr_assert_eq(shared, 1, "the shared lock is %zu entries; the locks: %s", shared,
		     locks_said(locks));
	/* a semaphore, with or without libc's debug info (sem_wait's tail call leaves no frame of
	 * its own: the caller's call through its PLT names it) */
	cr_assert_str_eq(jstr(*lock, "kind"), "sem");
	/* named by the variable where the frames were read in time, else by the file */
	cr_assert(strstr(jstr(*lock, "name"), "lock._semlock in worker") ||
		      strstr(jstr(*lock, "name"), "shm /dev/shm/sem."),
		  "%s", jstr(*lock, "name"));
	w = must_array(*lock, "waiters");
	for (size_t i = 0; i < w->len; i++) {
		double tid = jnum(&w->items[i], "tid", 0);

		/* each worker waits in its main thread: its tid is its pid */
		cr_assert(pid_in(waiters, tid), "waiter %.0f is not a process recorded", tid);
		seen++;
	}
	cr_assert_geq(seen, min_procs, "waiters from %zu processes; the locks: %s", seen,
		      locks_said(locks));
	threads = must_array(rep, "threads");
	for (size_t i = 0; i < threads->len; i++)
		cr_assert_eq(jp_path(&threads->items[i], "pid")->type, JP_NUMBER);
	procs = must_array(rep, "processes");
	for (size_t i = 0; i < waiters->len; i++) {
		const struct jp_value *p = NULL;

		for (size_t k = 0; k < procs->len; k++)
			if (jnum(&procs->items[k], "pid", 0) == waiters->items[i].number)
				p = &procs->items[k];
		cr_assert(p, "process %.0f is not in processes[]", waiters->items[i].number);
		/* forked without an exec: the target's command, read when it was first seen */
		cr_assert(jstr(p, "comm") && !strcmp(jstr(p, "comm"), jstr(rep, "target.comm")),
			  "process %.0f: comm %s", waiters->items[i].number, jstr(p, "comm"));
		cr_assert(jstr(p, "cmdline") && strstr(jstr(p, "cmdline"), "py_mplock.py"),
			  "process %.0f: cmdline %s", waiters->items[i].number, jstr(p, "cmdline"));
	}
	return rep;
}

/* The text report of TRACE, of several processes: each listed by its command, and each waiter
 * of the shared LOCK (a worker's main thread) under its process, "python3 4250: MainThread
 * 35.2%"; every event's
 * process was known (REP: its JSON report). */
static void expect_text_by_process(const char *trace, const struct jp_value *rep,
				   const struct jp_value *lock)
{
	const struct jp_value *w = must_array(lock, "waiters");
	char *out = NULL, *err = NULL, want[128], *line, *end;

	cr_assert_eq(jnum(rep,
			  "recording.counters.events of threads whose process was not known "
			  "(given to the first)",
			  -1),
		     0);
	cr_assert_eq(shf(&out, &err, LOCKSCOPE " report %s", trace), 0, "%s", err);
	snprintf(want, sizeof(want), "  processes  %.0f %s\n", jnum(rep, "target.pid", 0),
		 jstr(rep, "target.comm"));
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	cr_assert(!strstr(out, "process was not known"), "%s", out);
	/* the shared lock's waiters: the lines from "waiters" up to its first stack */
	line = strstr(out, "        waiters   ");
	cr_assert(line, "%s", out);
	end = strstr(line, "        stack 1 ");
	cr_assert(end, "%s", out);
	*end = '\0';
	for (size_t i = 0; i < w->len && i < 4; i++) {
		snprintf(want, sizeof(want), "%s %.0f: ", jstr(rep, "target.comm"),
			 jnum(&w->items[i], "tid", 0));
		cr_assert(strstr(line, want), "no '%s' in: %s", want, line);
	}
	free(out);
	free(err);
}

static void expect_wait_near(const struct jp_value *lock, const struct jp_value *gt)
{
	double want = jnum(gt, "lock_wait_ns", 0), got = jnum(lock, "wait_ns", 0);

	cr_assert(want > 0.1e9, "the workload waited %.0f ns only", want);
	cr_assert(got > 0.85 * want && got < 1.15 * want,
		  "waits %.0f ns, the workload measured %.0f", got, want);
}

/* The Chrome export of TRACE puts each process in PIDS on its own group of tracks: a
 * process_name under its pid, its command COMM, and wait slices under it. */
/* The Perfetto export of TRACE has each process of PIDS as a process track of its own, named
 * COMM, with its threads' tracks under it. */
static void expect_perfetto_processes(const char *trace, const struct jp_value *pids,
				      const char *comm)
{
	struct pf_trace t;

	perfetto_of(trace, &t);
	for (size_t p = 0; p < pids->len; p++) {
		uint32_t pid = (uint32_t)pids->items[p].number;
		const struct pf_track *proc = NULL;
		size_t threads = 0, astray = 0;

		for (size_t i = 0; i < t.ntracks; i++)
			if (t.tracks[i].process && t.tracks[i].pid == pid) {
				cr_expect_null(proc, "process %u: two process tracks", pid);
				proc = &t.tracks[i];
			}
		cr_assert_not_null(proc, "process %u has no process track", pid);
		cr_expect_str_eq(proc->name ?: "", comm, "process %u", pid);
		for (size_t i = 0; i < t.ntracks; i++) {
			const struct pf_track *k = &t.tracks[i];

			if (k->process || !k->tid || k->pid != pid)
				continue;
			threads++;
			astray += k->parent != proc->uuid;
		}
		cr_expect_gt(threads, 0, "process %u: no thread tracks", pid);
		cr_expect_eq(astray, 0, "process %u: %zu thread tracks under another process", pid,
			     astray);
	}
	pf_free(&t);
}

static void expect_chrome_processes(const char *trace, const struct jp_value *pids,
				    const char *comm)
{
	const struct jp_value *events;
	char *out = NULL, *err = NULL;
	struct jp_value *doc;

	cr_assert_eq(shf(&out, &err, LOCKSCOPE " export %s -o -", trace), 0, "export: %s", err);
	doc = jparse(out);
	cr_assert_not_null(doc, "the export is not JSON");
	events = must_array(doc, "traceEvents");
	for (size_t p = 0; p < pids->len; p++) {
		double pid = pids->items[p].number;
		size_t named = 0, waits = 0;

		for (size_t i = 0; i < events->len; i++) {
			const struct jp_value *ev = &events->items[i];

			if (jnum(ev, "pid", -1) != pid)
				continue;
			if (jstr(ev, "name") && !strcmp(jstr(ev, "name"), "process_name")) {
				cr_expect_str_eq(jstr(ev, "args.name") ?: "", comm, "process %.0f",
						 pid);
				named++;
			}
			waits += jstr(ev, "ph") && !strcmp(jstr(ev, "ph"), "X");
		}
		cr_expect_eq(named, 1, "process %.0f: %zu process_name events", pid, named);
		cr_expect_gt(waits, 0, "process %.0f: no slices under its pid", pid);
	}
	jp_free(doc);
	free(out);
	free(err);
}

/* `record -- CMD` records CMD and every process it starts: the multiprocessing.Lock's waits in
 * the three workers are one lock's, within 15% of what the workers measured themselves; the
 * Chrome export shows each worker as its own process. */
Test(procs, a_launched_command_is_recorded_with_its_children, .timeout = 90,
     .init = e2e_adopt_orphans, .fini = stop_all)
{
	char go[300], trace[300], *out = NULL, *err = NULL;
	const struct jp_value *lock;
	struct jp_value *rep, *gt;
	int rc;

	snprintf(go, sizeof(go), "%s/go", test_dir());
	snprintf(trace, sizeof(trace), "%s/launched.lsz", test_dir());
	rc = shf(&out, &err,
		 "touch %s && " LOCKSCOPE " record --mode contention -o %s -- %s "
		 "tests/workloads/py_mplock.py %s --rounds 60",
		 go, trace, python3_path(), go);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(err, "and the processes it starts"), "%s", err);
	gt = ground_truth(out);
	rep = mplock_report(trace, must_array(gt, "pids"), 2, &lock);
	expect_wait_near(lock, gt);
	cr_assert_eq(must_array(rep, "processes")->len, 4, "the parent and its three workers");
	expect_text_by_process(trace, rep, lock);
	expect_chrome_processes(trace, must_array(gt, "pids"), jstr(rep, "target.comm"));
	expect_perfetto_processes(trace, must_array(gt, "pids"), jstr(rep, "target.comm"));
	jp_free(rep);
	jp_free(gt);
	free(out);
	free(err);
}

/* `record -p PID --children` attached before the workers start: they are followed as they fork. */
Test(procs, children_are_followed_from_an_attached_parent, .timeout = 90, .init = e2e_adopt_orphans,
     .fini = stop_all)
{
	char go[300], cmd[800], trace[300], errp[300], outp[300];
	const struct jp_value *lock;
	struct jp_value *rep, *gt;
	pid_t pid, rec;

	pid = start_mplock(go, sizeof(go), 60);
	snprintf(trace, sizeof(trace), "%s/children.lsz", test_dir());
	snprintf(errp, sizeof(errp), "%s/record.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --mode contention --children -p %d -o %s",
		 pid, trace);
	rec = spawn_bg(cmd, "/dev/null", errp);
	cr_assert(wait_for_text(errp, "recording pid", 20), "%s", slurp(errp));
	snprintf(cmd, sizeof(cmd), "touch %s", go);
	cr_assert_eq(sh(cmd, NULL, NULL), 0);
	cr_assert_eq(wait_for(rec, 60), 0, "%s", slurp(errp));
	snprintf(outp, sizeof(outp), "%s/py_mplock.out", test_dir());
	gt = ground_truth_in(outp, "py_mplock");
	rep = mplock_report(trace, must_array(gt, "pids"), 2, &lock);
	expect_wait_near(lock, gt);
	expect_text_by_process(trace, rep, lock);
	jp_free(rep);
	jp_free(gt);
}

/* The worker processes (children) of PID, once N of them run. */
static size_t workers_of(pid_t pid, size_t n, pid_t *out)
{
	size_t got = 0;

	for (int tries = 0; tries < 100 && got < n; tries++) {
		char *ps = NULL, *line, *save = NULL;

		usleep(50000);
		shf(&ps, NULL, "pgrep -P %d", pid);
		got = 0;
		for (line = strtok_r(ps ? ps : (char[]){""}, "\n", &save); line && got < n;
		     line = strtok_r(NULL, "\n", &save))
			out[got++] = atoi(line);
		free(ps);
	}
	return got;
}

/* -p A,B and -p A -p B: the processes named, and no other, in one trace; the shared lock is one
 * entry with waiters from both. */
Test(procs, a_list_of_processes_is_recorded_together, .timeout = 90, .init = e2e_adopt_orphans,
     .fini = stop_all)
{
	char go[300], cmd[800], trace[300], *out = NULL, *err = NULL;
	const char *forms[] = {"-p %d,%d", "-p %d -p %d"};
	const struct jp_value *lock;
	struct jp_value *rep, *pids;
	pid_t pid, w[3];

	pid = start_mplock(go, sizeof(go), 100000);
	snprintf(cmd, sizeof(cmd), "touch %s", go);
	cr_assert_eq(sh(cmd, NULL, NULL), 0);
	cr_assert_eq(workers_of(pid, 3, w), 3, "the workers did not start");
	for (size_t f = 0; f < 2; f++) {
		char form[64], json[64];
		const struct jp_value *procs;

		snprintf(trace, sizeof(trace), "%s/list%zu.lsz", test_dir(), f);
		snprintf(form, sizeof(form), forms[f], w[0], w[f + 1]);
		cr_assert_eq(shf(&out, &err, LOCKSCOPE " record --mode contention -d 1.5 %s -o %s",
				 form, trace),
			     0, "%s", err);
		cr_assert(strstr(err, "recording pids"), "%s", err);
		snprintf(json, sizeof(json), "[%d, %d]", w[0], w[f + 1]);
		pids = jparse(json);
		rep = mplock_report(trace, pids, 2, &lock);
		procs = must_array(rep, "processes");
		cr_assert_eq(procs->len, 2, "%s: %zu processes", form, procs->len);
		cr_assert_eq(jnum(rep, "target.pid", 0), w[0]);
		jp_free(rep);
		jp_free(pids);
		free(out);
		free(err);
		out = err = NULL;
	}
}

/* PostgreSQL recorded from its postmaster with --children under pgbench -c 16: every backend is
 * recorded as it forks, and their lightweight-lock waits (each backend sleeps on its own
 * semaphore in shared memory) come with stacks through LWLockAcquire, from several backends. */
Test(procs, postgres_backends_are_recorded_from_the_postmaster, .timeout = 120,
     .init = e2e_adopt_orphans, .fini = stop_all)
{
	char cmd[600], trace[300], errp[300], *out = NULL, *err = NULL;
	const struct jp_value *locks, *procs;
	struct jp_value *rep;
	pid_t pm = start_postgres(), rec, waiters[64];
	size_t nwaiters = 0;
	bool several = false;
	int rc;

	rc = shf(&out, &err, PG_BIN "/pgbench -h %s -p 5999 -U postgres -i -s 1 postgres", pg_dir);
	cr_assert_eq(rc, 0, "pgbench -i: %s", err);
	free(out);
	free(err);
	snprintf(trace, sizeof(trace), "%s/pg.lsz", test_dir());
	snprintf(errp, sizeof(errp), "%s/record.err", test_dir());
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record --mode contention --children -p %d -d 8 -o %s", pm, trace);
	rec = spawn_bg(cmd, "/dev/null", errp);
	cr_assert(wait_for_text(errp, "recording pid", 30), "%s", slurp(errp));
	rc = shf(&out, &err, PG_BIN "/pgbench -h %s -p 5999 -U postgres -c 16 -j 2 -T 4 postgres",
		 pg_dir);
	cr_assert_eq(rc, 0, "pgbench: %s", err);
	free(out);
	free(err);
	cr_assert_eq(wait_for(rec, 60), 0, "%s", slurp(errp));
	rep = report_json(trace);
	procs = must_array(rep, "processes");
	cr_assert_geq(procs->len, 17, "the postmaster and 16 backends: %zu processes", procs->len);
	locks = must_array(rep, "locks");
	for (size_t i = 0; i < locks->len; i++) {
		const struct jp_value *l = &locks->items[i], *stacks = must_array(l, "stacks");
		bool lwlock = false;

		for (size_t k = 0; k < stacks->len; k++)
			lwlock |=
			    names_function(jp_path(&stacks->items[k], "frames"), "LWLockAcquire");
		if (!lwlock)
			continue;
		for (size_t k = 0; k < must_array(l, "waiters")->len && nwaiters < 64; k++)
			waiters[nwaiters++] = jnum(&must_array(l, "waiters")->items[k], "tid", 0);
	}
	for (size_t i = 1; i < nwaiters; i++)
		several |= waiters[i] != waiters[0];
	cr_assert(several, "LWLock waits from %zu threads, not two backends at least", nwaiters);
	jp_free(rep);
}

/* A psql session in the background, NAME's output in the server's directory: FIRST's then
 * THEN's -c arguments, each statement in turn. */
static pid_t psql_session(const char *name, const char *first, const char *then)
{
	char cmd[1200], path[320];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), PG_BIN "/psql -h %s -p 5999 -U postgres %s %s", pg_dir, first,
		 then);
	snprintf(path, sizeof(path), "%s/%s.out", pg_dir, name);
	pid = spawn_bg(cmd, path, path);
	cr_assert_gt(pid, 0);
	return pid;
}

/* PostgreSQL's backends wait for their client in one epoll instance and for their latch (a row
 * lock, pg_sleep) in another they keep: recorded from the postmaster with --children, a session
 * that holds a row lock through pg_sleep and one that waits for it, each after several statements,
 * are no event-loop blocks (they were 0.7-1 s "io" blocks). The report says the backends were
 * set aside, and the waiter did wait: pg_stat_activity saw it on the row's transaction. */
Test(procs, postgres_backends_waiting_for_a_row_lock_are_no_loop_blocks, .timeout = 90,
     .init = e2e_adopt_orphans, .fini = stop_all)
{
	char cmd[600], trace[300], errp[300], *pid = NULL;
	/* statements with a pause between: each a wait of the backend's for its client */
	const char *selects = "-c 'select 1' -c '\\! sleep 0.05' -c 'select 1' "
			      "-c '\\! sleep 0.05' -c 'select 1' -c '\\! sleep 0.05' "
			      "-c 'select 1' -c '\\! sleep 0.05'";
	struct jp_value *rep;
	pid_t pm = start_postgres(), rec, holder, waiter;
	int waited = 0;

	free(psql("create table t (id int primary key, v int); insert into t values (1, 0)"));
	snprintf(trace, sizeof(trace), "%s/pgrow.lsz", test_dir());
	snprintf(errp, sizeof(errp), "%s/record.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --mode contention --children -p %d -o %s", pm,
		 trace);
	rec = spawn_bg(cmd, "/dev/null", errp);
	cr_assert(wait_for_text(errp, "recording pid", 30), "%s", slurp(errp));
	holder = psql_session("holder", selects,
			      "-c begin -c 'update t set v = v + 1 where id = 1' "
			      "-c 'select pg_sleep(1)' -c 'select 1' -c commit");
	usleep(300000);
	waiter = psql_session("waiter", selects,
			      "-c 'update t set v = v + 1 where id = 1' -c 'select 1'");
	for (int i = 0; i < 30 && !waited; i++) {
		usleep(50000);
		pid = psql(
		    "select count(*) from pg_stat_activity where wait_event = 'transactionid'");
		waited = atoi(pid);
		free(pid);
	}
	cr_assert_eq(wait_for(holder, 30), 0, "the holder's psql failed");
	cr_assert_eq(wait_for(waiter, 30), 0, "the waiter's psql failed");
	cr_assert_eq(waited, 1, "no backend was seen waiting for the row lock");
	kill(rec, SIGINT);
	cr_assert_eq(wait_for(rec, 30), 0, "%s", slurp(errp));
	rep = report_json(trace);
	cr_expect_eq(must_array(rep, "loop_blocks")->len, 0, "%zu loop blocks, the first %s %s",
		     must_array(rep, "loop_blocks")->len, jstr(rep, "loop_blocks.0.cause"),
		     jstr(rep, "loop_blocks.0.stack.2"));
	cr_expect_geq(jnum(rep, TWO_SETS, 0), 2,
		      "the holder's and the waiter's backends were not set aside: %g",
		      jnum(rep, TWO_SETS, 0));
	jp_free(rep);
}
