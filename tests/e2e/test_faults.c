/* test_faults.c - end to end: recording through faults (the target killed, forking and exec'ing,
 * churning threads; two recorders at once; a full disk) and a trace from a newer lockscope. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"

/* The top lock is the workload's own (gt's "lock" at gt's "addr") with its measured wait
 * (10%), and nothing was lost. */
static void expect_top_lock(const struct jp_value *rep, const struct jp_value *gt)
{
	double want = jnum(gt, "wait_ns", -1), got = jnum(rep, "locks.0.wait_ns", -1);

	cr_assert_str_eq(jstr(rep, "locks.0.name"), jstr(gt, "lock"));
	cr_assert_str_eq(jstr(rep, "locks.0.addr"), jstr(gt, "addr"));
	cr_assert_gt(want, 1e8, "the workload barely contended: %.0f ns", want);
	cr_assert_lt(fabs(got - want), 0.10 * want, "wait %.0f ns, the workload measured %.0f ns",
		     got, want);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	cr_assert_eq(jnum(rep, "recording.unpaired_waits", -1), 0);
}

/* The name report --json gives thread TID, or NULL. */
static const char *thread_name(const struct jp_value *rep, double tid)
{
	const struct jp_value *threads = must_array(rep, "threads");

	for (size_t i = 0; i < threads->len; i++)
		if (jnum(&threads->items[i], "tid", -1) == tid)
			return jstr(&threads->items[i], "name");
	return NULL;
}

/* Every thread that waited on the top lock has a name starting with PREFIX. */
static void expect_waiters_named(const struct jp_value *rep, const char *prefix)
{
	const struct jp_value *waiters = must_array(rep, "locks.0.waiters");

	for (size_t i = 0; i < waiters->len; i++) {
		const char *name = thread_name(rep, jnum(&waiters->items[i], "tid", -1));

		cr_assert(name && !strncmp(name, prefix, strlen(prefix)), "waiter %.0f is %s",
			  jnum(&waiters->items[i], "tid", -1), name ? name : "unnamed");
	}
}

/* Starts `record ARGS` in the background, stderr to DIR/NAME.err, and waits until it records. */
static pid_t start_recorder(const char *args, const char *name, char *err_path, size_t len)
{
	char cmd[1024];
	pid_t rec;

	snprintf(err_path, len, "%s/%s.err", test_dir(), name);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record %s", args);
	rec = spawn_bg(cmd, "/dev/null", err_path);
	cr_assert(wait_for_text(err_path, "recording", 20), "recorder did not start: %s",
		  slurp(err_path));
	return rec;
}

/* The target was SIGKILLed while recorded by REC: the recording still ends cleanly, and the
 * report says how the target ended. */
static void expect_killed_target(const char *trace, pid_t rec, const char *rec_err)
{
	struct jp_value *rep;

	cr_assert_eq(wait_for(rec, 20), 0, "recorder: %s", slurp(rec_err));
	rep = report_json(trace);
	cr_assert(jbool(rep, "recording.complete"), "the recording did not end cleanly");
	cr_assert_eq(jnum(rep, "target.exit_code", 0), 128 + SIGKILL);
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
	cr_assert_gt(jnum(rep, "locks.0.contentions", 0), 100);
	jp_free(rep);
}

/* Records `WORKLOAD ARGS` launched, with record's OPTS, into DIR/NAME.lsz (TRACE); the
 * workload's ground truth in *GT, the report returned. Both for the caller to free. */
static struct jp_value *record_launched(const char *opts, const char *workload, const char *name,
					char *trace, size_t len, struct jp_value **gt)
{
	char *out = NULL, *err = NULL;
	int rc;

	snprintf(trace, len, "%s/%s.lsz", test_dir(), name);
	rc = shf(&out, &err, LOCKSCOPE " record %s -o %s -- %s", opts, trace, workload);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	*gt = ground_truth(out);
	free(out);
	free(err);
	return report_json(trace);
}

/* Each test runs its workload with an iteration count of its own: a pgrep or pkill of another
 * test on this machine must not find it, nor this test theirs. */

/* The pid of the command a recorder launched, from its stderr at REC_ERR. */
static pid_t launched_pid(const char *rec_err)
{
	char *err = slurp(rec_err);
	const char *at = err ? strstr(err, "recording command, pid ") : NULL;
	int pid = 0;

	cr_assert(at && sscanf(at, "recording command, pid %d", &pid) == 1, "%s", err);
	free(err);
	return pid;
}

Test(faults, target_killed_while_launched_ends_the_recording_cleanly, .timeout = 60)
{
	char trace[256], args[512], rec_err[256], *out = NULL, *text_err = NULL;
	pid_t rec;

	snprintf(trace, sizeof(trace), "%s/killed-launched.lsz", test_dir());
	snprintf(args, sizeof(args), "-o %s -- " WORKLOAD("contended") " --iters 1000001", trace);
	rec = start_recorder(args, "killed-launched", rec_err, sizeof(rec_err));
	sleep(1);
	kill(launched_pid(rec_err), SIGKILL);
	expect_killed_target(trace, rec, rec_err);
	cr_assert_eq(shf(&out, &text_err, LOCKSCOPE " report %s", trace), 0, "%s", text_err);
	cr_assert(strstr(out, "killed by signal 9"), "the text report does not say: %s", out);
	free(out);
	free(text_err);
}

Test(faults, target_killed_while_attached_ends_the_recording_cleanly, .timeout = 60)
{
	char trace[256], args[512], rec_err[256], wl_err[256];
	pid_t wl, rec;

	snprintf(trace, sizeof(trace), "%s/killed-attached.lsz", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/killed-attached-wl.err", test_dir());
	wl = spawn_bg(WORKLOAD("contended") " --iters 1000002", "/dev/null", wl_err);
	snprintf(args, sizeof(args), "-d 600 -o %s -p %d", trace, wl);
	rec = start_recorder(args, "killed-attached", rec_err, sizeof(rec_err));
	sleep(1);
	kill(wl, SIGKILL);
	cr_assert_eq(wait_for(wl, 10), 128 + SIGKILL);
	/* not the recorder's child: the status comes from the kernel's exit of its main thread */
	expect_killed_target(trace, rec, rec_err);
}

/* CMD, on a trace cut short, exits 0 with one line that says it is cut. */
static void expect_reads_cut(const char *cmd)
{
	char *err = NULL;
	int rc = sh(cmd, NULL, &err);

	cr_assert_eq(rc, 0, "%s: exit %d: %s", cmd, rc, err);
	cr_assert(strstr(err, "cut"), "%s: no note that the trace is cut: %s", cmd, err);
	cr_assert_eq(count_lines(err), 1, "%s: not one line: %s", cmd, err);
	free(err);
}

/* The recorder itself killed with SIGKILL in full mode (test_record.c has the report of it):
 * graph and export read the trace too, up to its last flushed chunk. */
Test(faults, recorder_killed_every_command_reads_what_was_flushed, .timeout = 60)
{
	char trace[256], args[512], rec_err[256], cmd[1024];
	pid_t rec, target;

	snprintf(trace, sizeof(trace), "%s/recorder-killed.lsz", test_dir());
	snprintf(args, sizeof(args), "--mode full -o %s -- " WORKLOAD("contended")
		 " --iters 1000004", trace);
	rec = start_recorder(args, "recorder-killed", rec_err, sizeof(rec_err));
	target = launched_pid(rec_err);
	sleep(2);	/* at least one flush */
	kill(rec, SIGKILL);
	wait_for(rec, 10);
	kill(target, SIGKILL);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " graph %s", trace);
	expect_reads_cut(cmd);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " graph --format json %s", trace);
	expect_reads_cut(cmd);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " export -o %s.json %s", trace, trace);
	expect_reads_cut(cmd);
}

/* The process of thread TID as report --json gives it, or -1. */
static double thread_pid(const struct jp_value *rep, double tid)
{
	const struct jp_value *threads = must_array(rep, "threads");

	for (size_t i = 0; i < threads->len; i++)
		if (jnum(&threads->items[i], "tid", -1) == tid)
			return jnum(&threads->items[i], "pid", -1);
	return -1;
}

/* Every waiter of LOCK is a thread of process PID. */
static void expect_waiters_of(const struct jp_value *rep, const struct jp_value *lock, double pid)
{
	const struct jp_value *waiters = must_array(lock, "waiters");

	cr_assert_gt(waiters->len, 0);
	for (size_t i = 0; i < waiters->len; i++)
		cr_assert_eq(thread_pid(rep, jnum(&waiters->items[i], "tid", -1)), pid,
			     "%s: waiter %.0f is not of process %.0f", jstr(lock, "name"),
			     jnum(&waiters->items[i], "tid", -1), pid);
}

/* Process PID is in processes[] with COMM and CMDLINE. */
static void expect_process(const struct jp_value *rep, double pid, const char *comm,
			   const char *cmdline)
{
	const struct jp_value *procs = must_array(rep, "processes");

	for (size_t i = 0; i < procs->len; i++) {
		if (jnum(&procs->items[i], "pid", -1) != pid)
			continue;
		cr_assert_str_eq(jstr(&procs->items[i], "comm") ?: "(null)", comm);
		cr_assert_str_eq(jstr(&procs->items[i], "cmdline") ?: "(null)", cmdline);
		return;
	}
	cr_assert_fail("process %.0f is not in processes[]", pid);
}

/* The target forks a child that execs another workload: a launched command's children are
 * recorded too, each lock under its own process; the target's own figures are undisturbed. */
Test(faults, target_forking_and_execing_keeps_recording_the_target, .timeout = 90)
{
	const struct jp_value *locks, *mine = NULL, *child = NULL;
	struct jp_value *gt, *rep;
	char trace[256];
	double want, got;

	rep = record_launched("", WORKLOAD("forker") " " WORKLOAD("contended")
			      " --iters 300", "forker", trace, sizeof(trace), &gt);
	cr_assert_eq(jnum(gt, "child_status", -1), 0, "the exec'd child failed");
	cr_assert(jbool(rep, "recording.complete"));
	cr_assert_eq(jnum(rep, "target.exit_code", -1), 0);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	locks = must_array(rep, "locks");
	for (size_t i = 0; i < locks->len; i++) {
		if (!strcmp(jstr(&locks->items[i], "name"), jstr(gt, "lock")))
			mine = &locks->items[i];
		if (!strcmp(jstr(&locks->items[i], "name"), "hot_lock"))
			child = &locks->items[i];
	}
	cr_assert(mine && child, "the target's and the exec'd child's locks are not both there");
	cr_assert_str_eq(jstr(mine, "addr"), jstr(gt, "addr"));
	want = jnum(gt, "wait_ns", -1);
	got = jnum(mine, "wait_ns", -1);
	cr_assert_lt(fabs(got - want), 0.10 * want, "wait %.0f ns, the workload measured %.0f ns",
		     got, want);
	expect_waiters_of(rep, mine, jnum(rep, "target.pid", -1));
	expect_waiters_of(rep, child, jnum(gt, "child_pid", -1));
	expect_process(rep, jnum(rep, "target.pid", -1), "forker",
		       WORKLOAD("forker") " " WORKLOAD("contended") " --iters 300");
	/* forked with the target's command, then exec'd: the command it ran is the one it had */
	expect_process(rep, jnum(gt, "child_pid", -1), "contended",
		       WORKLOAD("contended") " --iters 300");
	jp_free(gt);
	jp_free(rep);
}

/* Thousands of threads, each alive for a few milliseconds: every wait counted, every thread
 * named by itself, no wait attributed to a thread that is not one of them. */
Test(faults, threads_created_and_ended_at_a_high_rate, .timeout = 120)
{
	const struct jp_value *threads;
	struct jp_value *gt, *rep;
	char trace[256], *seen;
	int nthreads, named = 0;

	rep = record_launched("", WORKLOAD("churn"), "churn", trace, sizeof(trace), &gt);
	expect_top_lock(rep, gt);
	nthreads = (int)jnum(gt, "threads", 0);
	cr_assert_geq(nthreads, 1000);
	/* each churn-N exactly once, under its own tid */
	seen = calloc(nthreads, 1);
	threads = must_array(rep, "threads");
	for (size_t i = 0; i < threads->len; i++) {
		const char *name = jstr(&threads->items[i], "name");
		int n;

		if (!name || sscanf(name, "churn-%d", &n) != 1)
			continue;
		cr_assert(n >= 0 && n < nthreads && !seen[n], "thread name %s twice or unknown",
			  name);
		seen[n] = 1;
		named++;
	}
	cr_assert_eq(named, nthreads, "%d of %d threads are named churn-N", named, nthreads);
	expect_waiters_named(rep, "churn-");
	free(seen);
	jp_free(gt);
	jp_free(rep);
}

/* Attached while threads come and go: no wait is seen to end without its begin (none thrown
 * away with auto mode's calibration events, none doubled by the attach snapshot). */
Test(faults, attached_to_churning_threads_every_wait_is_whole, .timeout = 60)
{
	char trace[256], args[512], rec_err[256];
	struct jp_value *rep;
	pid_t wl, rec;

	snprintf(trace, sizeof(trace), "%s/churn-attached.lsz", test_dir());
	wl = spawn_bg(WORKLOAD("churn") " --threads 100000", "/dev/null", "/dev/null");
	usleep(300000);
	snprintf(args, sizeof(args), "-d 1.5 -o %s -p %d", trace, wl);
	rec = start_recorder(args, "churn-attached", rec_err, sizeof(rec_err));
	cr_assert_eq(wait_for(rec, 30), 0, "recorder: %s", slurp(rec_err));
	kill(wl, SIGKILL);
	wait_for(wl, 10);
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "recording.unpaired_waits", -1), 0);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "churn_lock");
	cr_assert_gt(jnum(rep, "locks.0.contentions", 0), 100);
	expect_waiters_named(rep, "churn-");
	jp_free(rep);
}

/* Attached while threads sleep on the contended lock: each of those waits began before the
 * probes, which see only its return; that return still ends it, at its own time, so a thread
 * that waits again is not left with two begins (and the recording, which ends with the target,
 * leaves no wait open). */
Test(faults, waits_found_at_attach_end_when_their_call_returns, .timeout = 60)
{
	char trace[256], args[512], rec_err[256];
	struct jp_value *rep;
	pid_t wl, rec;

	snprintf(trace, sizeof(trace), "%s/contended-mid.lsz", test_dir());
	wl = spawn_bg(WORKLOAD("contended"), "/dev/null", "/dev/null");
	usleep(400000);
	snprintf(args, sizeof(args), "-o %s -p %d", trace, wl);
	rec = start_recorder(args, "contended-mid", rec_err, sizeof(rec_err));
	cr_assert_eq(wait_for(wl, 30), 0);
	cr_assert_eq(wait_for(rec, 30), 0, "recorder: %s", slurp(rec_err));
	rep = report_json(trace);
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
	cr_assert_gt(jnum(rep, "locks.0.contentions", 0), 100);
	cr_assert_eq(jnum(rep, "recording.unpaired_waits", -1), 0);
	cr_assert_eq(jnum(rep, "locks.0.unfinished", -1), 0);
	jp_free(rep);
}

Test(faults, two_recorders_on_one_process_both_see_the_contention, .timeout = 90)
{
	char trace[2][256], args[512], rec_err[2][256], wl_out[256], wl_err[256], *out;
	struct jp_value *gt;
	pid_t wl, rec[2];

	snprintf(wl_out, sizeof(wl_out), "%s/two-wl.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/two-wl.err", test_dir());
	wl = spawn_bg(WORKLOAD("contended") " --wait-signal", wl_out, wl_err);
	cr_assert(wait_for_text(wl_err, "waiting for SIGUSR1", 10));
	for (int i = 0; i < 2; i++) {
		char name[16];

		snprintf(name, sizeof(name), "two-%d", i);
		snprintf(trace[i], sizeof(trace[i]), "%s/%s.lsz", test_dir(), name);
		snprintf(args, sizeof(args), "-d 600 -o %s -p %d", trace[i], wl);
		rec[i] = start_recorder(args, name, rec_err[i], sizeof(rec_err[i]));
	}
	kill(wl, SIGUSR1);
	cr_assert_eq(wait_for(wl, 30), 0);
	out = slurp(wl_out);
	gt = ground_truth(out);
	for (int i = 0; i < 2; i++) {
		struct jp_value *rep;

		cr_assert_eq(wait_for(rec[i], 30), 0, "recorder %d: %s", i, slurp(rec_err[i]));
		rep = report_json(trace[i]);
		expect_top_lock(rep, gt);
		cr_assert(jbool(rep, "recording.complete"));
		cr_assert_eq(must_array(rep, "locks.0.waiters")->len, (size_t)jnum(gt, "threads", 0));
		jp_free(rep);
	}
	jp_free(gt);
	free(out);
}

/* Mounts a tmpfs of SIZE_KB at DIR/NAME (MNT) and fills all of it but FREE_KB. */
static void small_disk(const char *name, int size_kb, int free_kb, char *mnt, size_t len)
{
	char *err = NULL;
	int rc;

	snprintf(mnt, len, "%s/%s", test_dir(), name);
	mkdir(mnt, 0755);
	rc = shf(NULL, &err, "mount -t tmpfs -o size=%dk tmpfs %s && "
		 "{ dd if=/dev/zero of=%s/filler bs=1k count=%d 2>/dev/null || true; }", size_kb,
		 mnt, mnt, size_kb - free_kb);
	cr_assert_eq(rc, 0, "cannot make a small disk: %s", err);
	free(err);
}

/* A disk full before recording starts: the trace cannot be created, which is the system
 * refusing (exit 2), said in one line; the command is not left running. */
Test(faults, a_full_disk_refuses_the_recording_at_once, .timeout = 60)
{
	char mnt[256], cmd[640], *err = NULL;
	int rc;

	small_disk("full-at-once", 64, 0, mnt, sizeof(mnt));
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s/t.lsz -- " WORKLOAD("contended")
		 " --iters 1000003", mnt);
	rc = sh(cmd, NULL, &err);
	shf(NULL, NULL, "umount %s", mnt);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
	cr_assert(strstr(err, mnt) && strstr(err, "No space left on device"), "%s", err);
	cr_assert_eq(count_lines(err), 1, "not one line: %s", err);
	cr_assert_neq(sh("pgrep -f 'contende[d] --iters 1000003'", NULL, NULL), 0,
		      "the command was left running");
	free(err);
}

/* A disk that fills while recording: one line naming the file and the cause, exit 2 (the
 * system refused), the launched command stopped, and the file readable up to its last good
 * chunk. The disk is a small tmpfs, filled up but for a few chunks' room. */
Test(faults, a_full_disk_stops_recording_with_a_readable_trace, .timeout = 120)
{
	char mnt[256], trace[320], copy[512], args[640], rec_err[256], *err, *out = NULL;
	char *rep_err = NULL;
	const char *last;
	struct jp_value *rep;
	int rc;
	pid_t rec;

	small_disk("small-disk", 1024, 124, mnt, sizeof(mnt));
	snprintf(trace, sizeof(trace), "%s/t.lsz", mnt);
	snprintf(copy, sizeof(copy), "%s/full-disk.lsz", test_dir());
	snprintf(args, sizeof(args), "--mode full -o %s -- " WORKLOAD("contended")
		 " --iters 1000005", trace);
	rec = start_recorder(args, "full-disk", rec_err, sizeof(rec_err));
	rc = wait_for(rec, 60);
	shf(NULL, NULL, "cp %s %s; umount %s", trace, copy, mnt);
	err = slurp(rec_err);
	cr_assert_eq(rc, 2, "record exited %d on a full disk: %s", rc, err);
	last = strstr(err, "lockscope: record: ");
	cr_assert(last, "%s", err);
	cr_assert(strstr(last, trace) && strstr(last, "No space left on device"),
		  "the error does not name the file and the cause: %s", err);
	cr_assert_eq(count_lines(last), 1, "more than one line: %s", last);
	rc = sh("pgrep -f 'contende[d] --iters 1000005'", NULL, NULL);
	cr_assert_neq(rc, 0, "the launched command survived the recording");
	rc = shf(&out, &rep_err, LOCKSCOPE " report --json %s", copy);
	cr_assert_eq(rc, 0, "report on the full disk's trace failed (%d): %s", rc, rep_err);
	cr_assert(strstr(rep_err, "cut"), "no note that the trace is cut: %s", rep_err);
	rep = jparse(out);
	cr_assert_not_null(rep);
	cr_assert_eq(jbool(rep, "recording.complete"), false);
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
	cr_assert_gt(jnum(rep, "locks.0.contentions", 0), 10);
	jp_free(rep);
	free(err);
	free(out);
	free(rep_err);
}

/* A trace whose header says format 4: every command that reads it says why it cannot. */
Test(faults, a_trace_from_a_newer_format_is_refused, .timeout = 60)
{
	static const char *const cmds[] = {"report", "report --json", "graph",
					   "graph --format json", "export"};
	char trace[256], *err = NULL;
	int rc;

	snprintf(trace, sizeof(trace), "%s/newer.lsz", test_dir());
	rc = shf(NULL, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("contended") " --iters 10 && "
		 "printf '\\004\\000\\000\\000' | dd of=%s bs=1 seek=8 conv=notrunc", trace, trace);
	cr_assert_eq(rc, 0, "%s", err);
	free(err);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		rc = shf(NULL, &err, LOCKSCOPE " %s %s", cmds[i], trace);
		cr_assert_eq(rc, 1, "%s: exit %d: %s", cmds[i], rc, err);
		cr_assert(strstr(err, trace) &&
			      strstr(err, "written by a newer lockscope (format 4"),
			  "%s: %s", cmds[i], err);
		cr_assert_eq(count_lines(err), 1, "%s: not one line: %s", cmds[i], err);
		free(err);
	}
}
