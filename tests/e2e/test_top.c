/* test_top.c - `lockscope top` on real workloads: frames that name the hot lock and the threads
 * waiting on it, totals that match what the workload measured, and every way out clean. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"

static pid_t started[8];
static int nstarted;

static pid_t track(pid_t pid)
{
	cr_assert_gt(pid, 0);
	cr_assert_lt(nstarted, 8, "more processes than the test keeps track of");
	started[nstarted++] = pid;
	return pid;
}

static void teardown(void)
{
	for (int i = 0; i < nstarted; i++)
		kill_tree(started[i]);
}

TestSuite(top, .fini = teardown);

/* Scratch traces top left in /tmp: there must be none. */
static size_t scratch_files(void)
{
	glob_t g;
	size_t n;

	if (glob("/tmp/lockscope-top-*", 0, NULL, &g))
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

/* The contended workload, held until SIGUSR1 so that top sees it from its first wait. */
static pid_t workload(int iters, char *out, size_t len)
{
	static int n;
	char cmd[128], err[256];
	pid_t pid;

	/* files of their own: an earlier run's text must not pass for this one's */
	snprintf(out, len, "%s/top-wl-%d.out", test_dir(), ++n);
	snprintf(err, sizeof(err), "%s/top-wl-%d.err", test_dir(), n);
	snprintf(cmd, sizeof(cmd), WORKLOAD("contended") " --wait-signal --iters %d", iters);
	pid = track(spawn_bg(cmd, out, err));
	cr_assert(wait_for_text(err, "waiting for SIGUSR1", 10), "the workload did not start");
	return pid;
}

/* `top -p TARGET` with EXTRA options, its output to files. */
static pid_t start_top(pid_t target, const char *extra, const char *out, const char *err)
{
	char cmd[384];

	snprintf(cmd, sizeof(cmd), LOCKSCOPE " top -p %d %s", target, extra);
	return track(spawn_bg(cmd, out, err));
}

/* The since-start wait on the last frame's row of LOCK, in ns; -1 if there is none. */
static double since_start_ns(const char *text, const char *lock)
{
	const char *row = NULL, *p = text;
	double v1, v2, v3;
	char u1[8], u2[8];
	unsigned long long n1, n2;

	while ((p = strstr(p, lock))) {
		if (p == text || p[-1] == '\n')
			row = p;
		p++;
	}
	if (!row || sscanf(row + strlen(lock), "%llu %lf %7s %llu %lf %7s %lf", &n1, &v1, u1, &n2,
			   &v2, u2, &v3) < 6)
		return -1;
	return v2 * (!strcmp(u2, "s")	 ? 1e9
		     : !strcmp(u2, "ms") ? 1e6
		     : !strcmp(u2, "us") ? 1e3
					 : 1);
}

Test(top, frames_show_the_hot_lock_and_who_waits_then_sigterm_ends_it, .timeout = 60)
{
	char wl_out[256], out[256], err[256], *text;
	size_t scratch = scratch_files();
	pid_t wl = workload(100000, wl_out, sizeof(wl_out)), top;

	snprintf(out, sizeof(out), "%s/top.out", test_dir());
	snprintf(err, sizeof(err), "%s/top.err", test_dir());
	top = start_top(wl, "", out, err);
	cr_assert(wait_for_text(out, "lockscope top:", 20), "no frame: %s", slurp(err));
	kill(wl, SIGUSR1);
	sleep(3);
	kill(top, SIGTERM);
	cr_assert_eq(wait_for(top, 10), 0, "top did not end cleanly on SIGTERM: %s", slurp(err));
	text = slurp(out);
	/* a frame a second, each after a blank line when stdout is not a terminal */
	cr_assert_geq(count_lines(text), 3 * 8, "%s", text);
	cr_assert(strstr(text, "\n\nlockscope top: pid"), "frames are not parted: %s", text);
	cr_assert_null(strchr(text, '\033'), "escape sequences in a file");
	cr_assert(since_start_ns(text, "hot_lock") > 1e8, "no hot_lock row with its wait: %s",
		  text);
	cr_assert(strstr(text, "waiting now\n  worker-"), "no waiting worker: %s", text);
	cr_assert(strstr(text, "on hot_lock"), "%s", text);
	cr_assert(strstr(text, "held by worker-"), "no holder: %s", text);
	cr_assert_eq(scratch_files(), scratch, "top left its trace in /tmp");
	free(text);
}

/* A lock without a variable keeps its whole description in a file's frames, the column as wide
 * as the longest name (on a terminal, its width bounds it): the latch workload's "anon mapping
 * 0x... first waited on in latch_wr_lock (latch.c:N)", not cut down to its address. */
Test(top, a_long_lock_name_is_not_cut_to_its_address, .timeout = 60)
{
	char wl_out[256], wl_err[256], out[256], err[256], want[160], name[192], *text, *gt_text;
	const char *row;
	struct jp_value *gt;
	pid_t wl, top;

	snprintf(wl_out, sizeof(wl_out), "%s/top-latch.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/top-latch.err", test_dir());
	snprintf(out, sizeof(out), "%s/top-long.out", test_dir());
	snprintf(err, sizeof(err), "%s/top-long.err", test_dir());
	wl = track(spawn_bg(WORKLOAD("latch") " --iters 2500", wl_out, wl_err));
	top = start_top(wl, "", out, err);
	cr_assert_eq(wait_for(top, 45), 0, "top did not end when the target did: %s", slurp(err));
	text = slurp(out);
	gt_text = slurp(wl_out);
	gt = jparse(strrchr(gt_text, '{'));
	cr_assert_not_null(gt, "no ground truth: %s", gt_text);
	snprintf(want, sizeof(want), "\nanon mapping %s first waited on in latch_wr_lock (latch.c:",
		 jstr(gt, "latch"));
	row = strstr(text, want);
	cr_assert_not_null(row, "no row with the latch's whole name: %s", text);
	/* its counts follow, in their columns */
	snprintf(name, sizeof(name), "%.*s", (int)(strchr(row + 1, ')') - row), row + 1);
	cr_assert_gt(since_start_ns(text, name), 0, "no wait on the row of %s: %s", name, text);
	jp_free(gt);
	free(gt_text);
	free(text);
}

/* An asyncio loop blocked by a sleep while top watches: the frames show it while it lasts, with
 * its cause, its thread and the handler that blocks it. */
Test(top, an_event_loop_block_is_shown_as_it_happens, .timeout = 60)
{
	char cmd[4200], wl_out[256], wl_err[256], out[256], err[256], *text, *row;
	pid_t wl, top;

	snprintf(wl_out, sizeof(wl_out), "%s/stuck.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/stuck.err", test_dir());
	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_loop.py stuck signal", python3_path());
	wl = track(spawn_bg(cmd, wl_out, wl_err));
	cr_assert(wait_for_text(wl_out, "ready", 20), "the workload did not start: %s",
		  slurp(wl_err));
	snprintf(out, sizeof(out), "%s/top-loop.out", test_dir());
	snprintf(err, sizeof(err), "%s/top-loop.err", test_dir());
	top = start_top(wl, "", out, err);
	cr_assert(wait_for_text(out, "lockscope top:", 20), "no frame: %s", slurp(err));
	usleep(300000); /* a few turns of the loop, seen polling */
	kill(wl, SIGUSR1);
	cr_assert(wait_for_text(wl_out, "stuck ", 20), "the workload did not block: %s",
		  slurp(wl_err));
	sleep(2);
	kill(top, SIGTERM);
	cr_assert_eq(wait_for(top, 10), 0, "top did not end cleanly: %s", slurp(err));
	text = slurp(out);
	row = strstr(text, "event-loop blocks: 0 over, blocked now:\n");
	cr_assert_not_null(row, "no loop block in progress shown: %s", text);
	row = strchr(row, '\n') + 1;
	cr_expect(strstr(row, " ms  sleep  now ") && strstr(row, "MainThread") &&
		      strstr(row, "stuck_handler (py_loop.py:"),
		  "the block's row: %.200s", row);
	free(text);
}

Test(top, target_exit_is_said_and_totals_match_the_workload, .timeout = 60)
{
	char wl_out[256], out[256], err[256], *text, *gt_text, pidtext[64], keep[256];
	pid_t wl = workload(1500, wl_out, sizeof(wl_out)), top;
	struct jp_value *gt, *rep;
	double want, got;

	snprintf(out, sizeof(out), "%s/top-exit.out", test_dir());
	snprintf(err, sizeof(err), "%s/top-exit.err", test_dir());
	snprintf(keep, sizeof(keep), "-o %s/top-kept.lsz", test_dir());
	top = start_top(wl, keep, out, err);
	cr_assert(wait_for_text(out, "lockscope top:", 20), "no frame: %s", slurp(err));
	kill(wl, SIGUSR1);
	cr_assert_eq(wait_for(top, 30), 0, "top did not end when the target did: %s", slurp(err));
	text = slurp(out);
	snprintf(pidtext, sizeof(pidtext), "lockscope: top: process %d exited\n", wl);
	cr_assert(strstr(text, pidtext), "%s", text);
	gt_text = slurp(wl_out);
	gt = jparse(strrchr(gt_text, '{'));
	cr_assert_not_null(gt, "no ground truth: %s", gt_text);
	want = jnum(gt, "wait_ns", -1);
	got = since_start_ns(text, "hot_lock");
	cr_assert_gt(want, 1e8);
	cr_assert_lt(fabs(got - want), 0.10 * want, "top %.0f ns, the workload measured %.0f ns",
		     got, want);
	/* -o kept the trace: the report reads what top showed */
	rep = report_json(keep + 3);
	cr_assert_lt(fabs(jnum(rep, "locks.0.wait_ns", 0) - got), 0.01 * got + 1e5,
		     "report %.0f ns, top %.0f ns", jnum(rep, "locks.0.wait_ns", 0), got);
	jp_free(rep);
	jp_free(gt);
	free(gt_text);
	free(text);
}

/* Reads the terminal's output into BUF until it holds NEEDLE or TIMEOUT_S pass. */
static bool read_until(int fd, char *buf, size_t len, size_t *n, const char *needle,
		       double timeout_s)
{
	for (int i = 0; i < timeout_s * 100; i++) {
		ssize_t r;

		while (*n + 1 < len && (r = read(fd, buf + *n, len - 1 - *n)) > 0)
			*n += r;
		buf[*n] = '\0';
		if (strstr(buf, needle))
			return true;
		if (*n + 1 >= len)
			*n = 0; /* keep the tail only: frames repeat */
		usleep(10000);
	}
	return false;
}

/* Runs top on a terminal until its frames show, ends it with KEY (a byte typed) or SIGNAL,
 * and checks that it exits 0 and leaves the terminal as it found it. */
static void top_on_a_terminal(char key, int signal)
{
	char wl_out[256], buf[65536], exe[64];
	pid_t wl = workload(100000, wl_out, sizeof(wl_out)), top;
	struct termios before, after;
	int master, slave;
	size_t n = 0;

	cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
	cr_assert_eq(tcgetattr(slave, &before), 0);
	kill(wl, SIGUSR1);
	snprintf(exe, sizeof(exe), "%d", wl);
	top = fork();
	if (top == 0) {
		setsid();
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close(master);
		execl(LOCKSCOPE, LOCKSCOPE, "top", "-p", exe, (char *)NULL);
		_exit(127);
	}
	track(top);
	fcntl(master, F_SETFL, O_NONBLOCK);
	/* the frame says q quits once the terminal is in its mode */
	cr_assert(read_until(master, buf, sizeof(buf), &n, "q quits", 20), "no frame: %s", buf);
	cr_assert(read_until(master, buf, sizeof(buf), &n, "hot_lock", 10), "%s", buf);
	cr_assert(strstr(buf, "\033[H\033[2J"), "a frame does not redraw the screen");
	if (key)
		cr_assert_eq(write(master, &key, 1), 1);
	else
		kill(top, signal);
	cr_assert_eq(wait_for(top, 5), 0, "top did not end cleanly");
	cr_assert_eq(tcgetattr(slave, &after), 0);
	cr_assert_eq(after.c_lflag & (ICANON | ECHO), before.c_lflag & (ICANON | ECHO),
		     "the terminal was left without echo or line editing");
	close(master);
	close(slave);
}

Test(top, q_on_a_terminal_quits_and_restores_it, .timeout = 60)
{
	top_on_a_terminal('q', 0);
}

Test(top, ctrl_c_and_sigterm_on_a_terminal_restore_it, .timeout = 60)
{
	top_on_a_terminal(0, SIGINT);
	top_on_a_terminal(0, SIGTERM);
}

/* TEXT has a line holding A, then B, then C. */
static bool line_with(const char *text, const char *a, const char *b, const char *c)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t len = strcspn(p, "\n");
		char *line = strndup(p, len);
		const char *x = strstr(line, a), *y = x ? strstr(x, b) : NULL;
		bool yes = y && strstr(y, c);

		free(line);
		if (yes)
			return true;
	}
	return false;
}

Test(top, a_deadlock_is_shown_with_its_threads_and_locks, .timeout = 60)
{
	char wl_out[256], wl_err[256], out[256], err[256], *text, *gt_text, want[128];
	struct jp_value *gt;
	pid_t wl, top;

	snprintf(wl_out, sizeof(wl_out), "%s/top-dl.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/top-dl.err", test_dir());
	wl = track(spawn_bg(WORKLOAD("deadlock"), wl_out, wl_err));
	cr_assert(wait_for_text(wl_out, "\"workload\": \"deadlock\"", 10),
		  "the workload did not reach its deadlock: %s", slurp(wl_err));
	usleep(500000); /* both threads are asleep in their second lock by now */
	gt_text = slurp(wl_out);
	gt = jparse(strstr(gt_text, "{\"workload\""));
	cr_assert_not_null(gt, "no ground truth: %s", gt_text);
	snprintf(out, sizeof(out), "%s/top-dl-top.out", test_dir());
	snprintf(err, sizeof(err), "%s/top-dl-top.err", test_dir());
	top = start_top(wl, "", out, err);
	cr_assert(wait_for_text(out, "DEADLOCK", 20), "no deadlock shown: %s", slurp(out));
	kill(top, SIGTERM);
	cr_assert_eq(wait_for(top, 10), 0, "%s", slurp(err));
	text = slurp(out);
	snprintf(want, sizeof(want), "thread %.0f (a-to-b) holds lock_a, waits for lock_b",
		 jnum(gt, "tid_a_to_b", 0));
	cr_assert(strstr(text, want), "no line '%s': %s", want, text);
	snprintf(want, sizeof(want), "thread %.0f (b-to-a) holds lock_b, waits for lock_a",
		 jnum(gt, "tid_b_to_a", 0));
	cr_assert(strstr(text, want), "no line '%s': %s", want, text);
	snprintf(want, sizeof(want), "  a-to-b (%.0f) ", jnum(gt, "tid_a_to_b", 0));
	cr_assert(line_with(text, want, " on lock_b ", " held by b-to-a ("),
		  "waiting now does not say a-to-b waits on lock_b held by b-to-a: %s", text);
	cr_assert(strstr(text, "transfer_a_to_b (deadlock.c:"), "%s", text);
	jp_free(gt);
	free(gt_text);
	free(text);
}

/* Two asyncio tasks deadlocked on two asyncio.Locks: no thread waits on anything, the loop
 * idles in epoll_wait, and top still shows the tasks' deadlock (record's check of idle loops). */
Test(top, an_asyncio_deadlock_is_shown_with_its_tasks_and_locks, .timeout = 60)
{
	char wl_out[256], wl_err[256], out[256], err[256], cmd[512], *text;
	pid_t wl, top;

	snprintf(wl_out, sizeof(wl_out), "%s/top-adl.out", test_dir());
	snprintf(wl_err, sizeof(wl_err), "%s/top-adl.err", test_dir());
	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_async_deadlock.py", python3_path());
	wl = track(spawn_bg(cmd, wl_out, wl_err));
	cr_assert(wait_for_text(wl_out, "\"workload\": \"py_async_deadlock\"", 20),
		  "the workload did not reach its deadlock: %s", slurp(wl_err));
	snprintf(out, sizeof(out), "%s/top-adl-top.out", test_dir());
	snprintf(err, sizeof(err), "%s/top-adl-top.err", test_dir());
	top = start_top(wl, "", out, err);
	cr_assert(wait_for_text(out, "ASYNCIO DEADLOCK", 20), "no deadlock shown: %s", slurp(out));
	kill(top, SIGTERM);
	cr_assert_eq(wait_for(top, 10), 0, "%s", slurp(err));
	text = slurp(out);
	cr_assert(strstr(text, "tasks a-to-b, b-to-a on locks"), "%s", text);
	cr_assert(strstr(text, "transfer_a_to_b (py_async_deadlock.py:"), "%s", text);
	free(text);
}

Test(top, bad_usage_and_a_missing_process_say_what, .timeout = 30)
{
	char *err = NULL;

	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " top"), 1);
	cr_assert(strstr(err, "lockscope: top: give -p PID\n"), "%s", err);
	free(err);
	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " top -p 4194000"), 2);
	cr_assert_str_eq(err, "lockscope: top: no such process: 4194000\n");
	free(err);
	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " top -p 1 -i 0"), 1);
	free(err);
}
