/* test_syscalls.c - end to end on how system calls are seen: by default through the per-call
 * syscalls tracepoints of the calls lockscope traces, on request (LOCKSCOPE_SYSCALLS=raw) through
 * the raw sys_enter/sys_exit tracepoints; either way every futex wait is recorded. With the
 * per-call tracepoints, no program runs for the system calls lockscope does not trace, the
 * target's or another process's: the recorder's programs' run counts (BPF run-time stats) say. */
#include <bpf/bpf.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"

/* Records futex_rate at a modest rate with ENV: the first line names WAY, every wait the
 * workload made is a contention in the report, nothing is lost. */
static void every_wait(const char *env, const char *way)
{
	char trace[512], *out = NULL, *err = NULL;
	const struct jp_value *locks;
	struct jp_value *gt, *rep;
	double waits = 0;
	int rc;

	snprintf(trace, sizeof(trace), "%s/rate.lsz", test_dir());
	rc = shf(&out, &err, "%s " LOCKSCOPE " record --mode contention -o %s -- "
		 WORKLOAD("futex_rate") " --seconds 1 --rate 5000", env, trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert(err && strstr(err, way), "the recording does not say it uses %s: %s", way, err);
	gt = ground_truth(out);
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	locks = must_array(rep, "locks");
	for (size_t i = 0; i < locks->len; i++)
		waits += jnum(&locks->items[i], "contentions", 0);
	cr_assert_gt(jnum(gt, "waits", 0), 1000);
	cr_assert_eq(waits, jnum(gt, "waits", -1), "%.0f contentions, the workload waited %.0f times",
		     waits, jnum(gt, "waits", -1));
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

Test(syscalls, per_call_tracepoints_by_default_record_every_wait, .timeout = 60)
{
	every_wait("", "syscall tracepoints");
}

Test(syscalls, raw_sys_enter_on_request_records_every_wait, .timeout = 60)
{
	every_wait("LOCKSCOPE_SYSCALLS=raw", "tp_btf sys_enter");
}

Test(syscalls, an_unknown_way_is_refused, .timeout = 30)
{
	char *out = NULL, *err = NULL;
	int rc = shf(&out, &err, "LOCKSCOPE_SYSCALLS=kprobe " LOCKSCOPE " record -o %s/x.lsz -- true",
		     test_dir());

	cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
	cr_assert(err && strstr(err, "LOCKSCOPE_SYSCALLS: kprobe") && count_lines(err) == 1,
		  "stderr: %s", err);
	free(out);
	free(err);
}

/* The summed run count of the programs that process PID has loaded and that run at system calls
 * (the per-call ones, sc_*, and the raw sys_enter/sys_exit ones), from its fdinfo. */
static unsigned long long syscall_runs(pid_t pid)
{
	unsigned long long total = 0;
	char dir[64], path[320], line[256];
	struct dirent *d;
	DIR *fds;

	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", pid);
	fds = opendir(dir);
	cr_assert_not_null(fds, "%s: the recorder is gone", dir);
	while ((d = readdir(fds))) {
		struct bpf_prog_info info = {0};
		__u32 len = sizeof(info), id = 0;
		FILE *f;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "prog_id: %u", &id);
		if (f)
			fclose(f);
		if (!id || (fd = bpf_prog_get_fd_by_id(id)) < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    (!strncmp(info.name, "sc_", 3) || !strncmp(info.name, "sys_enter", 9) ||
		     !strncmp(info.name, "sys_exit", 8)))
			total += info.run_cnt;
		close(fd);
	}
	closedir(fds);
	return total;
}

#define ROUNDS 150000	/* the target's pipe write+read rounds: twice as many system calls */
#define OWN_CALLS 300000	/* getppid calls of the test's own, another process */

/* Records syscall_loop (system calls lockscope does not trace) with ENV while this process makes
 * its own: how many times the recorder's system call programs ran meanwhile. */
static unsigned long long runs_while_untraced_calls(const char *env)
{
	char out[300], err[300], cmd[1024];
	unsigned long long before, after;
	pid_t rec;
	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);

	cr_assert_geq(stats, 0, "cannot turn on BPF run-time stats");
	snprintf(out, sizeof(out), "%s/loop.out", test_dir());
	snprintf(err, sizeof(err), "%s/loop.err", test_dir());
	snprintf(cmd, sizeof(cmd), "env %s " LOCKSCOPE " record --mode contention -o %s/loop.lsz -- "
		 WORKLOAD("syscall_loop") " --rounds %d --linger 5000", env, test_dir(), ROUNDS);
	rec = spawn_bg(cmd, out, err);
	cr_assert_gt(rec, 0);
	cr_assert(wait_for_text(err, "recording", 30), "the recording did not start: %s",
		  slurp(err));
	before = syscall_runs(rec);
	for (int i = 0; i < OWN_CALLS; i++)
		syscall(SYS_getppid);
	cr_assert(wait_for_text(out, "elapsed_ns", 120), "syscall_loop did not finish: %s",
		  slurp(out));
	after = syscall_runs(rec);
	kill(rec, SIGINT);
	cr_assert_eq(wait_for(rec, 30), 0, "record failed: %s", slurp(err));
	close(stats);
	return after - before;
}

/* 2 x ROUNDS + OWN_CALLS untraced calls; the futex and poll calls of the machine's other
 * processes meanwhile still run the programs (to find the target's), a small share of that. */
Test(syscalls, untraced_system_calls_run_no_program, .timeout = 180)
{
	unsigned long long runs = runs_while_untraced_calls("");

	cr_assert_lt(runs, (2 * ROUNDS + OWN_CALLS) / 4,
		     "the system call programs ran %llu times for %d untraced calls", runs,
		     2 * ROUNDS + OWN_CALLS);
}

/* The measure above sees a program that runs for every call: raw sys_enter/sys_exit. */
Test(syscalls, raw_sys_enter_runs_for_every_system_call, .timeout = 180)
{
	unsigned long long runs = runs_while_untraced_calls("LOCKSCOPE_SYSCALLS=raw");

	cr_assert_geq(runs, 2 * (2 * ROUNDS + OWN_CALLS),
		      "raw sys_enter/sys_exit ran %llu times for %d calls", runs,
		      2 * ROUNDS + OWN_CALLS);
}
