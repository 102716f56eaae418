/* test_deadlock.c - end to end: a real deadlock, found when attaching to the process after it hung
 * and live while recording it; checked against the holds and waits the workload prints. */
#include <criterion/criterion.h>
#include <dirent.h>
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

/* What this test started, killed with all its descendants when it ends, passed or not: a
 * deadlocked workload never exits by itself. */
static pid_t started[4];
static int nstarted;

static pid_t track(pid_t pid)
{
	cr_assert_gt(pid, 0);
	if (nstarted < (int)(sizeof(started) / sizeof(started[0])))
		started[nstarted++] = pid;
	return pid;
}

/* PID was reaped: its number may be reused, leave it alone. */
static void untrack(pid_t pid)
{
	for (int i = 0; i < nstarted; i++)
		if (started[i] == pid)
			started[i] = 0;
}

static void kill_started(void)
{
	for (int i = 0; i < nstarted; i++) {
		if (!started[i])
			continue;
		kill_tree(started[i]);
		waitpid(started[i], NULL, 0);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Gone, or a zombie nobody has reaped yet. */
static bool is_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	char state = 0;
	FILE *f;

	if (kill(pid, 0) && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %c", &state);
	fclose(f);
	return state == 'Z' || state == 'X';
}

static const struct jp_value *thread_by_tid(const struct jp_value *threads, double tid)
{
	for (size_t i = 0; threads && i < threads->len; i++)
		if (jnum(&threads->items[i], "tid", -1) == tid)
			return &threads->items[i];
	return NULL;
}

/* The report's one deadlock is the workload's: the same two threads, each holding and waiting
 * for what it says, blocked in the function it names; the locks at the addresses it printed. */
static void check_deadlock(const struct jp_value *rep, const struct jp_value *gt)
{
	const struct jp_value *dls = must_array(rep, "deadlocks");
	const struct jp_value *threads, *locks = jp_get(rep, "locks");

	cr_assert_eq(dls->len, 1, "%zu deadlocks, want 1", dls->len);
	cr_assert(is_pair(jp_path(rep, "deadlocks.0.locks"), "lock_a", "lock_b"),
		  "the deadlock's locks are not lock_a and lock_b");
	cr_assert_not_null(jp_path(rep, "deadlocks.0.detected_ns"));
	threads = must_array(rep, "deadlocks.0.threads");
	cr_assert_eq(threads->len, 2, "%zu threads in the deadlock, want 2", threads->len);
	for (int i = 0; i < 2; i++) {
		const struct jp_value *want = jp_at(jp_get(gt, "threads"), i), *got, *holds;

		got = thread_by_tid(threads, jnum(want, "tid", -1));
		cr_assert_not_null(got, "thread %.0f is not in the deadlock",
				   jnum(want, "tid", -1));
		cr_assert_str_eq(jstr(got, "name"), jstr(want, "name"));
		holds = jp_get(got, "holds");
		cr_assert(holds && holds->len == 1 && jp_str(&holds->items[0]) &&
				  !strcmp(jp_str(&holds->items[0]), jstr(want, "holds")),
			  "thread %.0f should hold just %s", jnum(want, "tid", -1),
			  jstr(want, "holds"));
		cr_assert_not_null(jstr(got, "waits_for"));
		cr_assert_str_eq(jstr(got, "waits_for"), jstr(want, "waits_for"));
		cr_assert(names_function(jp_get(got, "stack"), jstr(want, "function")),
			  "thread %.0f's stack does not name %s", jnum(want, "tid", -1),
			  jstr(want, "function"));
	}
	/* both locks are waited on for good: they are in the ranking, at their addresses */
	for (const char *const *name = (const char *const[]){"lock_a", "lock_b", NULL}; *name;
	     name++) {
		bool found = false;

		for (size_t i = 0; locks && i < locks->len; i++) {
			const char *n = jstr(&locks->items[i], "name");

			if (!n || strcmp(n, *name))
				continue;
			found = true;
			cr_assert_not_null(jstr(&locks->items[i], "addr"));
			cr_assert_str_eq(jstr(&locks->items[i], "addr"), jstr(gt, *name),
					 "%s is at %s, the workload says", *name, jstr(gt, *name));
		}
		cr_assert(found, "%s is not among the report's locks", *name);
	}
}

Test(deadlock, found_when_attached_after_it_hung, .timeout = 90, .fini = kill_started)
{
	char trace[256], wl_out[256], wl_err[256], *out = NULL, *err = NULL;
	struct jp_value *gt, *rep;
	pid_t wl;
	int rc;

	snprintf(trace, sizeof(trace), "%s/attached.lsz", test_dir());
	snprintf(wl_out, sizeof(wl_out), "%s/deadlock.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/deadlock.err", test_dir());
	wl = track(spawn_bg(WORKLOAD("deadlock"), wl_out, wl_err));
	cr_assert(wait_for_text(wl_out, "\"workload\": \"deadlock\"", 10),
		  "the workload did not reach its deadlock: %s", slurp(wl_err));
	usleep(500000);	/* both threads are asleep in their second lock by now */
	cr_assert(!is_dead(wl), "the workload exited instead of hanging");
	gt = ground_truth_in(wl_out, "deadlock");
	cr_assert_eq(jnum(gt, "pid", -1), wl);

	rc = shf(&out, &err, LOCKSCOPE " record -p %d -d 2 -o %s", wl, trace);
	cr_assert_eq(rc, 0, "record -p of a hung process failed (%d): %s", rc, err);
	cr_assert(!is_dead(wl), "recording ended the process it attached to");
	rep = report_json(trace);
	check_deadlock(rep, gt);
	free(out);
	free(err);

	rc = shf(&out, &err, LOCKSCOPE " report %s", trace);
	cr_assert_eq(rc, 0, "report failed (%d): %s", rc, err);
	cr_assert(strcasestr(out, "deadlock"), "the text report does not say deadlock");
	cr_assert(strstr(out, "transfer_a_to_b") && strstr(out, "transfer_b_to_a"),
		  "the text report does not name both functions");
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

/* TEXT has a line that says "deadlock" and names both locks. */
static bool has_alert(const char *text)
{
	while (text && *text) {
		const char *end = strchr(text, '\n');
		size_t len = end ? (size_t)(end - text) : strlen(text);
		char *line = strndup(text, len);
		bool yes = strcasestr(line, "deadlock") && strstr(line, "lock_a") &&
			   strstr(line, "lock_b");

		free(line);
		if (yes)
			return true;
		text = end ? end + 1 : text + len;
	}
	return false;
}

Test(deadlock, alerted_live_and_stored_in_the_trace, .timeout = 90, .fini = kill_started)
{
	char trace[256], rec_out[256], rec_err[256], cmd[512], *err_text = NULL;
	double t_hung = 0, t_alert = 0, end;
	struct jp_value *gt, *rep;
	int rc = -1, st;
	pid_t rec, reaped = 0;

	snprintf(trace, sizeof(trace), "%s/live.lsz", test_dir());
	snprintf(rec_out, sizeof(rec_out), "%s/live.out", test_dir());
	snprintf(rec_err, sizeof(rec_err), "%s/live.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --mode full -d 4 -o %s -- "
		 WORKLOAD("deadlock") " --delay-ms 300", trace);
	/* the launched workload writes its ground truth to the recorder's stdout */
	rec = track(spawn_bg(cmd, rec_out, rec_err));
	end = now_s() + 30;
	while (now_s() < end && !t_alert && !(reaped = waitpid(rec, &st, WNOHANG))) {
		char *o = slurp(rec_out), *e = slurp(rec_err);

		if (!t_hung && o && strstr(o, "\"workload\": \"deadlock\"")) {
			t_hung = now_s();
			/* the recorder's child: killed at the end even if the recorder is not */
			gt = ground_truth_in(rec_out, "deadlock");
			track(jnum(gt, "pid", 0));
			jp_free(gt);
		}
		if (t_hung && has_alert(e))
			t_alert = now_s();
		free(o);
		free(e);
		usleep(10000);
	}
	if (reaped == rec)
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	else
		rc = wait_for(rec, 30);
	untrack(rec);
	err_text = slurp(rec_err);
	cr_assert_eq(rc, 0, "the recorder exited %d after -d 4: %s", rc, err_text);
	cr_assert_neq(t_hung, 0, "the workload never reached its deadlock under the recorder");
	cr_assert(has_alert(err_text), "no alert naming the deadlock, lock_a and lock_b: %s",
		  err_text);
	if (t_alert)
		cr_log_info("deadlock alert %.2f s after the workload printed its ground truth",
			    t_alert - t_hung);
	else
		cr_log_info("the deadlock alert appeared only after recording had stopped");

	gt = ground_truth_in(rec_out, "deadlock");
	/* recording stopped before the command exited: the command got SIGTERM */
	for (end = now_s() + 5; now_s() < end && !is_dead(jnum(gt, "pid", 0));)
		usleep(10000);
	cr_assert(is_dead(jnum(gt, "pid", 0)), "the launched workload survived the recording");
	rep = report_json(trace);
	cr_assert_str_eq(jstr(rep, "recording.mode"), "full");
	check_deadlock(rep, gt);
	cr_assert_geq(must_array(rep, "lock_order.cycles")->len, 1, "no lock-order cycle");
	cr_assert(is_pair(jp_path(rep, "lock_order.cycles.0.locks"), "lock_a", "lock_b"),
		  "the lock-order cycle is not lock_a, lock_b");
	jp_free(gt);
	jp_free(rep);
	free(err_text);
}
