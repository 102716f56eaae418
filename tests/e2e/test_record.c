/* test_record.c - end to end: real BPF programs attached to real workloads, launched and
 * attached; the report is checked against the ground truth each workload measures itself. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"

/* The top lock is the workload's hot_lock, at its address, with its measured wait (10%). */
static void check_contended(const struct jp_value *rep, const struct jp_value *gt)
{
	double want = jnum(gt, "wait_ns", -1), got = jnum(rep, "locks.0.wait_ns", -1);
	const struct jp_value *waiters = jp_path(rep, "locks.0.waiters");
	const struct jp_value *frames = jp_path(rep, "locks.0.stacks.0.frames");
	bool named = false;

	cr_assert_str_eq(jstr(rep, "schema"), "lockscope.report/1");
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
	cr_assert_str_eq(jstr(rep, "locks.0.kind"), "mutex");
	cr_assert_str_eq(jstr(rep, "locks.0.addr"), jstr(gt, "addr"));
	cr_assert_gt(want, 1e8, "the workload barely contended: %f", want);
	cr_assert_lt(fabs(got - want), 0.10 * want, "wait %.0f ns, the workload measured %.0f ns",
		     got, want);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	cr_assert_not_null(waiters);
	cr_assert_eq(waiters->len, (size_t)jnum(gt, "threads", 0), "waiters: %zu", waiters->len);
	/* the stack names the workload's function that takes the lock */
	cr_assert_not_null(frames, "no stack for the top lock");
	for (size_t i = 0; i < frames->len; i++)
		named |= strstr(frames->items[i].text, "update_shared_state (contended.c:") != NULL;
	cr_assert(named, "no frame names update_shared_state (contended.c:N); first: %s",
		  frames->len ? frames->items[0].text : "none");
	/* the main thread's join is a wait, but not contention */
	cr_assert_str_eq(jstr(rep, "other_waits.0.kind"), "join");
}

Test(record, launched_command_matches_ground_truth, .timeout = 60)
{
	char trace[256], *out = NULL, *err = NULL;
	struct jp_value *gt, *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/launched.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("contended"), trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	gt = ground_truth(out);
	rep = report_json(trace);
	check_contended(rep, gt);
	cr_assert(strstr(jstr(rep, "target.cmdline"), "contended"));
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

Test(record, attached_pid_matches_ground_truth, .timeout = 60)
{
	char trace[256], wl_out[256], wl_err[256], rec_err[256], cmd[512], *out;
	struct jp_value *gt, *rep;
	pid_t wl, rec;

	snprintf(trace, sizeof(trace), "%s/attached.lsz", test_dir());
	snprintf(wl_out, sizeof(wl_out), "%s/wl.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/wl.err", test_dir());
	snprintf(rec_err, sizeof(rec_err), "%s/rec.err", test_dir());
	wl = spawn_bg(WORKLOAD("contended") " --wait-signal", wl_out, wl_err);
	cr_assert(wait_for_text(wl_err, "waiting for SIGUSR1", 10));
	/* -d far beyond the workload's life: the recording must end when the target exits */
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -d 600 -o %s -p %d", trace, wl);
	rec = spawn_bg(cmd, "/dev/null", rec_err);
	cr_assert(wait_for_text(rec_err, "recording", 20), "recorder did not start: %s",
		  slurp(rec_err));
	kill(wl, SIGUSR1);
	cr_assert_eq(wait_for(wl, 30), 0);
	cr_assert_eq(wait_for(rec, 30), 0, "recorder: %s", slurp(rec_err));
	out = slurp(wl_out);
	gt = ground_truth(out);
	rep = report_json(trace);
	check_contended(rep, gt);
	cr_assert_eq(jbool(rep, "recording.complete"), true);
	jp_free(gt);
	jp_free(rep);
	free(out);
}

Test(record, sigterm_finishes_trace_and_stops_command, .timeout = 60)
{
	char trace[256], rec_err[256], cmd[512], *err = NULL;
	struct jp_value *rep;
	pid_t rec;
	int rc;

	snprintf(trace, sizeof(trace), "%s/sigterm.lsz", test_dir());
	snprintf(rec_err, sizeof(rec_err), "%s/sigterm.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s -- " WORKLOAD("contended")
		 " --iters 1000000", trace);
	rec = spawn_bg(cmd, "/dev/null", rec_err);
	cr_assert(wait_for_text(rec_err, "recording", 20));
	sleep(1);
	kill(rec, SIGTERM);
	cr_assert_eq(wait_for(rec, 20), 0, "recorder: %s", slurp(rec_err));
	/* the launched command got SIGTERM: nothing of it is left running */
	rc = sh("pgrep -f 'contende[d] --iters 1000000'", NULL, NULL);
	cr_assert_neq(rc, 0, "the launched command survived the recording");
	rep = report_json(trace);
	cr_assert_eq(jbool(rep, "recording.complete"), true);
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
	jp_free(rep);
	free(err);
}

Test(record, sigkill_leaves_a_readable_trace, .timeout = 60)
{
	char trace[256], rec_err[256], cmd[512], *err = NULL, *out = NULL;
	struct jp_value *rep;
	pid_t rec;
	int rc;

	snprintf(trace, sizeof(trace), "%s/sigkill.lsz", test_dir());
	snprintf(rec_err, sizeof(rec_err), "%s/sigkill.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s -- " WORKLOAD("contended")
		 " --iters 1000000", trace);
	rec = spawn_bg(cmd, "/dev/null", rec_err);
	cr_assert(wait_for_text(rec_err, "recording", 20));
	sleep(3);	/* at least two flushes */
	kill(rec, SIGKILL);
	wait_for(rec, 10);
	rc = shf(&out, &err, LOCKSCOPE " report --json %s", trace);
	cr_assert_eq(rc, 0, "report on a SIGKILLed recording failed (%d): %s", rc, err);
	cr_assert(strstr(err, "cut"), "no note that the trace is cut: %s", err);
	cr_assert_eq(count_lines(err), 1, "more than one line: %s", err);
	rep = jparse(out);
	cr_assert_not_null(rep);
	cr_assert_eq(jbool(rep, "recording.complete"), false);
	cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
	cr_assert_gt(jnum(rep, "locks.0.contentions", 0), 100);
	sh("pkill -f 'contende[d] --iters 1000000'", NULL, NULL);
	jp_free(rep);
	free(out);
	free(err);
}

/* A launched command is held at its entry point while its objects load, then let go: it runs
 * untraced, from an intact first instruction, and what it maps is named. */
Test(record, launched_command_runs_untraced_from_its_entry, .timeout = 60)
{
	char trace[256], *out = NULL, *err = NULL;
	int rc;

	snprintf(trace, sizeof(trace), "%s/entry.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- sh -c 'while read -r k v; do "
		 "[ \"$k\" = TracerPid: ] && echo \"tracer=$v\"; done < /proc/$$/status; exit 7'",
		 trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert(strstr(out, "tracer=0\n"), "the command ran traced: %s", out);
	free(out);
	free(err);
	rc = shf(&out, &err, LOCKSCOPE " report %s", trace);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "exited with status 7"), "%s", out);
	free(out);
	free(err);
}

/* A program whose time goes to uncontended lock calls would run thousands of times slower
 * probed: the guard takes the probes out after the budget's slack, the looks that follow keep
 * them out, and the recorder says why. */
Test(record, auto_mode_does_not_probe_a_lock_heavy_program, .timeout = 60)
{
	char trace[256], *out = NULL, *err = NULL;
	int rc;

	snprintf(trace, sizeof(trace), "%s/heavy.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("lockheavy") " --iters 30000000",
		 trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	/* probed from its first instruction, until the guard took the probes out */
	cr_assert(strstr(err, "full mode off until a look finds lock calls cheaper"), "%s", err);
	cr_assert(strstr(err, "cut short by the 5% budget)"), "%s", err);
	/* a few ms of a 1 s program; a sanitizer build on a loaded machine reacts later */
	{
		const char *share = strstr(err, "; full mode ");
		int pct = 100;

		cr_assert(share && sscanf(share, "; full mode %d%% of the time", &pct) == 1, "%s", err);
		cr_assert_leq(pct, 5, "probes in for %d%% of the run: %s", pct, err);
	}
	free(out);
	free(err);
	/* the report says so too */
	rc = shf(&out, &err, LOCKSCOPE " report %s", trace);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(strstr(out, "auto mode: full-mode stretches skipped, probes too dear: "), "%s",
		  out);
	cr_assert(strstr(out, "auto mode: full-mode stretches cut short by the budget: 1"), "%s",
		  out);
	free(out);
	free(err);
}
