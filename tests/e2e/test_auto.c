/* test_auto.c - end to end: the default mode keeps its promises. Its probes come out as soon as
 * a burst of lock calls overdraws the budget, a short launched program gets its lock order, and
 * a cycle found in windows is one that full mode finds too. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"
#include "trace/trace.h"

/* The stretches of full mode in TRACE, as [on, off) in the BPF clock (ls_mono_ns). */
struct stretch {
	uint64_t on, off;
};

static size_t stretches_of(const char *trace, struct stretch *s, size_t max)
{
	char err[256];
	struct trace_reader *r = trace_reader__open(trace, err, sizeof(err));
	struct ls_rec rec;
	uint64_t base;
	size_t n = 0;
	bool on = false;

	cr_assert_not_null(r, "%s: %s", trace, err);
	base = trace_reader__info(r)->start_mono_ns;
	while (trace_reader__next(r, &rec) == 1) {
		if (rec.type != LS_REC_WINDOW || rec.window.on == on)
			continue;
		on = rec.window.on;
		if (on && n < max)
			s[n++] = (struct stretch){base + rec.ts, UINT64_MAX};
		else if (!on && n)
			s[n - 1].off = base + rec.ts;
	}
	trace_reader__free(r);
	return n;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static double burst_alone(void)
{
	char *out = NULL, *err = NULL;
	struct jp_value *gt;
	double ns;
	int rc = shf(&out, &err, WORKLOAD("burst") " --idle-ms 0 --pairs 40000000");

	cr_assert_eq(rc, 0, "%s", err);
	gt = ground_truth(out);
	ns = jnum(gt, "elapsed_ns", 0);
	jp_free(gt);
	free(out);
	free(err);
	return ns;
}

/* Attached while the program sleeps, auto mode sees no lock call, prices its probes at nothing
 * and leaves them in. The program then makes 40 M lock calls, which probed would take ~15 times
 * as long: the guard must take the probes out within a few milliseconds of the burst's start. */
Test(auto, a_burst_after_an_idle_attach_stays_in_budget, .timeout = 90)
{
	char trace[256], *out = NULL, *err = NULL, path[256];
	struct stretch s[64];
	struct jp_value *idle, *gt;
	double alone = burst_alone(), with;
	uint64_t start;
	size_t n;
	pid_t pid;
	int rc;

	idle = start_workload("burst", 10, WORKLOAD("burst") " --idle-ms 1500 --pairs 40000000",
			      "{\"workload\": \"burst\", \"pid\"", &pid);
	snprintf(trace, sizeof(trace), "%s/burst.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -p %d -o %s", pid, trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert_geq(wait_for(pid, 30), 0);
	snprintf(path, sizeof(path), "%s/burst.out", test_dir());
	free(out);
	out = slurp(path);
	gt = ground_truth(out);
	start = (uint64_t)jnum(gt, "start_mono_ns", 0);
	with = jnum(gt, "elapsed_ns", 0);
	cr_assert_gt(start, 0);
	n = stretches_of(trace, s, 64);
	cr_assert_gt(n, 0, "the probes never went in: %s", err);
	for (size_t i = 0; i < n; i++) {
		uint64_t from = s[i].on > start ? s[i].on : start;

		/* the slack (5 ms of probe cost, a few hundred hits) and the detach */
		if (s[i].off > start)
			cr_assert_lt(s[i].off - from, 60000000, "stretch %zu: probes in for %.1f ms "
				     "of the burst", i, (s[i].off - from) / 1e6);
	}
	/* probed throughout, it would take ~15 times as long. The stretches above are the exact
	 * test; this ratio is taken on a shared machine at two different moments, so its bound only
	 * tells "probes left in" from "probes out" (the budget itself is measured by `make bench`) */
	cr_assert_lt(with / alone, 4.0, "the burst took %.2f times as long recorded (%s)",
		     with / alone, err);
	jp_free(idle);
	jp_free(gt);
	free(out);
	free(err);
}

/* The inversion done within a few milliseconds of the program's start, before any look. */
Test(auto, a_short_launched_program_gets_its_lock_order, .timeout = 60)
{
	char trace[256], *out = NULL, *err = NULL;
	const struct jp_value *cycles;
	struct jp_value *gt, *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/short.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("inversion")
		 " --rounds 2 --hold-us 100", trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	gt = ground_truth(out);
	rep = report_json(trace);
	cr_assert_str_eq(jstr(rep, "recording.mode"), "auto");
	cycles = must_array(rep, "lock_order.cycles");
	cr_assert_eq(cycles->len, 1, "the inversion was not found: %s", err);
	cr_assert(is_pair(jp_path(&cycles->items[0], "locks"), "lock_a", "lock_b"));
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

/* A static binary's lock calls are its own copies of glibc's, which no probe on the system's
 * C library sees: full mode says so and records contention only, claiming no coverage. */
Test(auto, full_mode_on_a_static_binary_says_it_cannot_probe, .timeout = 60)
{
	char bin[256], trace[256], cmd[512], path[300], *out = NULL, *err = NULL;
	struct jp_value *rep;
	pid_t pid;
	int rc;

	snprintf(bin, sizeof(bin), "%s/inversion-static", test_dir());
	rc = shf(&out, &err, "gcc -static -O2 -pthread -o %s tests/workloads/inversion.c", bin);
	cr_assert_eq(rc, 0, "gcc -static (libc6-dev): %s", err);
	free(out);
	free(err);
	snprintf(trace, sizeof(trace), "%s/static.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record --mode full -o %s -- %s", trace, bin);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert(strstr(err, "its lock calls cannot be probed; recording contention only"), "%s",
		  err);
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "recording.full_coverage", -1), 0);
	cr_assert_eq(jnum(rep, "recording.counters.lock calls not probed: the target does not "
			  "use the system's C library", 0), 1);
	cr_assert_eq(must_array(rep, "lock_order.edges")->len, 0);
	jp_free(rep);
	free(out);
	free(err);
	/* attached to, the same: it maps no C library at all */
	snprintf(trace, sizeof(trace), "%s/static-attached.lsz", test_dir());
	snprintf(cmd, sizeof(cmd), "%s --rounds 1000 --hold-us 1000", bin);
	snprintf(path, sizeof(path), "%s/static.out", test_dir());
	pid = spawn_bg(cmd, path, path);
	usleep(200000);
	rc = shf(&out, &err, LOCKSCOPE " record --mode full -d 1 -p %d -o %s", pid, trace);
	kill(pid, SIGTERM);
	wait_for(pid, 10);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert(strstr(err, "its lock calls cannot be probed; recording contention only"), "%s",
		  err);
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "recording.full_coverage", -1), 0);
	jp_free(rep);
	free(out);
	free(err);
}

/* ---- real servers, started here on private sockets and data directories ---- */

static char server_dir[256];
static pid_t server_pid;

static void stop_server(void)
{
	stop_server_pid(&server_pid);
}

/* Debian's MariaDB on a fresh data directory, with sysbench's tables loaded. */
static void start_mariadb(void)
{
	char cmd[2048], *out = NULL, *err = NULL, path[300];
	int rc;

	snprintf(server_dir, sizeof(server_dir), "%s/mariadb", test_dir());
	rc = shf(&out, &err, "mkdir -p %s/data && mariadb-install-db --no-defaults --datadir=%s/data "
		 "--user=root --auth-root-authentication-method=normal --skip-test-db",
		 server_dir, server_dir);
	cr_assert_eq(rc, 0, "mariadb-install-db (the mariadb-server package): %s", err);
	free(out);
	free(err);
	snprintf(cmd, sizeof(cmd), "mariadbd --no-defaults --datadir=%s/data --socket=%s/sock "
		 "--skip-networking --user=root --pid-file=%s/pid --innodb-buffer-pool-size=256M "
		 "--log-error=%s/error.log", server_dir, server_dir, server_dir, server_dir);
	snprintf(path, sizeof(path), "%s/mariadbd.out", server_dir);
	server_pid = spawn_bg(cmd, path, path);
	cr_assert_gt(server_pid, 0);
	rc = shf(&out, &err, "for i in $(seq 300); do mariadb --no-defaults -S %s/sock -uroot "
		 "-e 'create database sbtest' 2>/dev/null && exit 0; sleep 0.1; done; exit 1",
		 server_dir);
	cr_assert_eq(rc, 0, "mariadbd did not start: %s", slurp(path));
	free(out);
	free(err);
	rc = shf(&out, &err, "sysbench oltp_read_write --db-driver=mysql --mysql-socket=%s/sock "
		 "--mysql-user=root --tables=4 --table-size=10000 prepare", server_dir);
	cr_assert_eq(rc, 0, "sysbench prepare: %s%s", out, err);
	free(out);
	free(err);
}

/* sysbench OLTP against it, in the background for SECONDS. */
static pid_t start_sysbench(int seconds)
{
	char cmd[1024], path[300];

	snprintf(cmd, sizeof(cmd), "sysbench oltp_read_write --db-driver=mysql --mysql-socket=%s/sock "
		 "--mysql-user=root --tables=4 --table-size=10000 --threads=8 --time=%d "
		 "--report-interval=0 run", server_dir, seconds);
	snprintf(path, sizeof(path), "%s/sysbench.out", server_dir);
	return spawn_bg(cmd, path, path);
}

/* The cycles of a report as "a|b|..." lines, each cycle's names sorted. */
static char *cycle_set(const struct jp_value *rep)
{
	const struct jp_value *cycles = must_array(rep, "lock_order.cycles");
	char *set = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&set, &len);

	for (size_t i = 0; i < cycles->len; i++) {
		const struct jp_value *locks = jp_path(&cycles->items[i], "locks");

		for (size_t k = 0; locks && k < locks->len; k++)
			fprintf(f, "%s%s", k ? "|" : "", jp_str(&locks->items[k]));
		fputc('\n', f);
	}
	fclose(f);
	return set;
}

static struct jp_value *record_server(const char *mode, int seconds, const char *name, char **err)
{
	char trace[300], *out = NULL;
	struct jp_value *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/%s.lsz", server_dir, name);
	rc = shf(&out, err, LOCKSCOPE " record --mode %s -p %d -d %d -o %s", mode, server_pid,
		 seconds, trace);
	cr_assert_eq(rc, 0, "record %s failed (%d): %s", mode, rc, *err);
	rep = report_json(trace);
	free(out);
	return rep;
}

/* MariaDB under sysbench, attached in the default mode: its nested heap locks taken one after
 * the other (rw_pr_wrlock, tc_acquire_table) made false cycles from losses and window edges.
 * Several recordings: no cycle, and none that full mode on the same load does not find; and no
 * event-loop block, the server being thread-per-connection. */
Test(auto, mariadb_under_sysbench_has_no_cycle_full_mode_lacks, .timeout = 180,
     .fini = stop_server)
{
	struct jp_value *rep, *full;
	char *err = NULL, *set, *full_set;
	double covered = 0;
	pid_t bench;

	start_mariadb();
	bench = start_sysbench(16);
	usleep(1000000);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "auto%d", i);
		rep = record_server("auto", 3, name, &err);
		set = cycle_set(rep);
		cr_assert_str_eq(set, "", "recording %d: cycles in the default mode:\n%s(%s)", i, set,
				 err);
		/* its connection threads wait in poll() on their one socket: no event loops */
		cr_expect_eq(must_array(rep, "loop_blocks")->len, 0,
			     "recording %d: %zu loop blocks, %s", i,
			     must_array(rep, "loop_blocks")->len, jstr(rep, "loop_blocks.0.thread"));
		covered += jnum(rep, "recording.full_coverage", 0);
		free(set);
		free(err);
		jp_free(rep);
	}
	cr_assert_gt(covered, 0, "the default mode never probed the server's lock calls");
	full = record_server("full", 2, "full", &err);
	full_set = cycle_set(full);
	cr_assert_geq(jnum(full, "recording.events", 0), 1);
	free(err);
	kill(bench, SIGTERM);
	wait_for(bench, 10);
	jp_free(full);
	free(full_set);
}

static int redis_port;

static char *redis(const char *args)
{
	char *out = NULL, *err = NULL;
	int rc = shf(&out, &err, "redis-cli -p %d %s", redis_port, args);

	cr_assert_eq(rc, 0, "redis-cli %s: %s", args, err);
	free(err);
	return out;
}

/* DEBUG POPULATE's own time in redis' slow log, in us. */
static double populate_us(void)
{
	char *out;
	double us;

	free(redis("FLUSHALL"));
	free(redis("SLOWLOG RESET"));
	free(redis("DEBUG POPULATE 1000000"));
	out = redis("SLOWLOG GET 1");
	/* id, timestamp, duration (us), then the command */
	cr_assert(strstr(out, "POPULATE"), "no slow-log entry: %s", out);
	us = strtod(strchr(strchr(out, '\n') + 1, '\n') + 1, NULL);
	free(out);
	return us;
}

/* redis-server on a private port: attached while idle, auto mode prices its probes at nothing;
 * DEBUG POPULATE then makes lock calls (jemalloc's) by the million. */
Test(auto, redis_populate_after_an_idle_attach_stays_in_budget, .timeout = 120,
     .fini = stop_server)
{
	char cmd[1024], path[300], trace[300];
	double alone = 1e18, with = 1e18;
	struct stretch st[64];
	uint64_t t0;
	size_t n;

	redis_port = 20000 + getpid() % 20000;
	snprintf(server_dir, sizeof(server_dir), "%s/redis", test_dir());
	cr_assert_eq(mkdir(server_dir, 0700), 0);
	snprintf(cmd, sizeof(cmd), "redis-server --port %d --bind 127.0.0.1 --save '' "
		 "--appendonly no --dir %s --slowlog-log-slower-than 10000 --enable-debug-command yes",
		 redis_port,
		 server_dir);
	snprintf(path, sizeof(path), "%s/redis.out", test_dir());
	server_pid = spawn_bg(cmd, path, path);
	cr_assert_gt(server_pid, 0);
	cr_assert(wait_for_text(path, "Ready to accept connections", 20), "redis-server: %s",
		  slurp(path));
	for (int i = 0; i < 2; i++) {
		char rerr[300], *text = NULL;
		pid_t rec;
		double us;

		us = populate_us();
		alone = us < alone ? us : alone;
		free(redis("FLUSHALL"));
		snprintf(trace, sizeof(trace), "%s/redis%d.lsz", test_dir(), i);
		snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -p %d -d 6 -o %s", server_pid, trace);
		snprintf(rerr, sizeof(rerr), "%s/record%d.err", test_dir(), i);
		rec = spawn_bg(cmd, "/dev/null", rerr);
		cr_assert(wait_for_text(rerr, "Ctrl-C to stop", 20), "%s", slurp(rerr));
		usleep(1500000);	/* idle: the first stretch sees no lock call */
		t0 = mono_ns();
		us = populate_us();
		with = us < with ? us : with;
		cr_assert_eq(wait_for(rec, 30), 0, "record: %s", (text = slurp(rerr)));
		free(text);
		/* the stretch priced on the idle server came to an end within the slack and a
		 * detach of the command's start; later ones are planned at its measured cost */
		n = stretches_of(trace, st, 64);
		for (size_t k = 0; k < n; k++)
			if (st[k].on < t0 && st[k].off > t0)
				cr_assert_lt(st[k].off - t0, 100000000, "recording %d, stretch %zu: "
					     "probes in for %.1f ms of DEBUG POPULATE", i, k,
					     (st[k].off - t0) / 1e6);
	}
	/* probed throughout it took 2.3-2.5 times as long; loose on a shared machine (the best of
	 * three took 1.55 times as long beside a parallel build and test run), where the stretches
	 * above are the exact test and `make bench` measures the cost */
	cr_assert_lt(with / alone, 2.0, "DEBUG POPULATE took %.0f us recorded, %.0f us alone",
		     with, alone);
}
