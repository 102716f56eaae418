/* test_loop.c - end to end on event loops: asyncio on every CPython (blocked by sleeps, CPU
 * work and network calls with timeouts), a C epoll loop (by a sleep, CPU work, a lock and a
 * read; by a sleep in select() on no descriptors), redis (DEBUG SLEEP, DEBUG POPULATE, KEYS,
 * against its slow log), Node.js (CPU work, execSync; with and without V8's perf map), a busy
 * but well-behaved asyncio loop and a thread-per-connection server (no loop blocked). Every
 * block the workload measured itself must be in loop_blocks (and nothing else): its duration
 * within 10%, its cause, and (but for node's JIT code without a perf map) the blocking function
 * in its stack; the Chrome export shows the same blocks. */
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

/* the report's count of threads set aside as two epoll sets, not loops */
#define TWO_SETS "recording.counters.loops: threads waiting in two epoll instances, not loops"

#define MAX_BLOCKS 8

/* One line of a workload's ground truth: "block CAUSE FUNCTION START_NS DURATION_NS [LINE]"
 * (LINE: of the blocking call in FUNCTION, a Python file's; 0 or none: not checked). */
struct truth {
	char cause[16], func[64];
	double start, dur;
	int line;
};

/* Records CMD launched with OPTS; its stdout's block lines into GT. Returns how many; the report
 * in *REP. */
static int record_opts(const char *opts, const char *cmd, struct truth *gt, struct jp_value **rep)
{
	char trace[512], *out = NULL, *err = NULL, *line;
	int rc, n = 0, done = -1;

	snprintf(trace, sizeof(trace), "%s/loop.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record %s -o %s -- %s", opts, trace, cmd);
	cr_assert_eq(rc, 0, "record of %s failed (%d): %s", cmd, rc, err);
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		gt[n].line = 0;
		if (n < MAX_BLOCKS && sscanf(line, "block %15s %63s %lf %lf %d", gt[n].cause,
					     gt[n].func, &gt[n].start, &gt[n].dur, &gt[n].line) >= 4)
			n++;
		sscanf(line, "done %d", &done);
	}
	cr_assert_eq(done, n, "%s did not finish as expected: %s", cmd, err);
	*rep = report_json(trace);
	free(out);
	free(err);
	return n;
}

static int record(const char *cmd, struct truth *gt, struct jp_value **rep)
{
	return record_opts("", cmd, gt, rep);
}

/* FRAMES has FUNC's frame at LINE: "func (file.py:line)". */
static bool names_line(const struct jp_value *frames, const char *func, int line)
{
	size_t len = strlen(func);

	for (size_t i = 0; frames && i < frames->len; i++) {
		const char *f = jp_str(&frames->items[i]), *colon;

		if (f && !strncmp(f, func, len) && !strncmp(f + len, " (", 2) &&
		    (colon = strrchr(f, ':')) && atoi(colon + 1) == line)
			return true;
	}
	return false;
}

/* The report's blocks match the ground truth one to one, in order. */
static void check_blocks(const char *cmd, const struct truth *gt, int n, const struct jp_value *rep,
			 bool stacks)
{
	const struct jp_value *blocks = must_array(rep, "loop_blocks");

	cr_assert_eq((int)blocks->len, n, "%s: %zu loop blocks reported, the workload made %d", cmd,
		     blocks->len, n);
	for (int i = 0; i < n; i++) {
		const struct jp_value *b = &blocks->items[i];
		double dur = jnum(b, "duration_ns", -1), start = jnum(b, "start_ns", -1);
		double start0 = jnum(&blocks->items[0], "start_ns", -1);

		cr_expect(fabs(dur - gt[i].dur) <= 0.1 * gt[i].dur,
			  "%s: block %d lasted %.1f ms, the workload measured %.1f ms", cmd, i,
			  dur / 1e6, gt[i].dur / 1e6);
		/* the blocks are as far apart as the workload saw them */
		cr_expect(fabs((start - start0) - (gt[i].start - gt[0].start)) <= 0.1 * gt[i].dur,
			  "%s: block %d began %.1f ms after the first, the workload says %.1f ms",
			  cmd, i, (start - start0) / 1e6, (gt[i].start - gt[0].start) / 1e6);
		cr_expect_str_eq(jstr(b, "cause"), gt[i].cause, "%s: block %d (%s)", cmd, i,
				 gt[i].func);
		cr_expect(jnum(b, "on_cpu_ns", -1) >= 0 && jnum(b, "on_cpu_ns", -1) <= dur);
		if (stacks)
			cr_expect(names_function(jp_path(b, "stack"), gt[i].func),
				  "%s: block %d's stack does not name %s: %s | %s", cmd, i,
				  gt[i].func, jstr(b, "stack.0"), jstr(b, "stack.1"));
		if (stacks && gt[i].line)
			cr_expect(names_line(jp_path(b, "stack"), gt[i].func, gt[i].line),
				  "%s: block %d's stack does not name %s at line %d", cmd, i,
				  gt[i].func, gt[i].line);
	}
}

static void blocked_asyncio(const char *interp)
{
	char cmd[4200];
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	int n;

	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_loop.py block", interp);
	n = record(cmd, gt, &rep);
	cr_assert_eq(n, 6, "py_loop.py made %d blocks", n);
	check_blocks(cmd, gt, n, rep, true);
	jp_free(rep);
}

/* On every interpreter under test: 3.10's time.sleep sleeps in select with no descriptors,
 * which must not pass for the loop's own poll call; network calls with a timeout (urlopen, a
 * socket's settimeout) wait in poll() on their one socket, which is no more the loop's. */
Test(loop, asyncio_blocks_every_python, .timeout = 150)
{
	const struct test_python *py;
	size_t n = test_pythons(&py);

	cr_assert_gt(n, 0, "no CPython to test");
	for (size_t i = 0; i < n; i++)
		blocked_asyncio(py[i].path);
}

Test(loop, well_behaved_asyncio_has_no_blocks, .timeout = 60)
{
	char cmd[4200];
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;

	snprintf(cmd, sizeof(cmd), "%s tests/workloads/py_loop.py ok", python3_path());
	cr_assert_eq(record(cmd, gt, &rep), 0);
	check_blocks(cmd, gt, 0, rep, false);
	jp_free(rep);
}

/* The Chrome export has the report's blocks as loop_block slices on the loop's track. */
static void check_chrome(const struct jp_value *rep)
{
	const struct jp_value *blocks = must_array(rep, "loop_blocks"), *events;
	char *out = NULL, *err = NULL;
	struct jp_value *doc;
	size_t k = 0;

	cr_assert_eq(shf(&out, &err, LOCKSCOPE " export %s/loop.lsz -o -", test_dir()), 0,
		     "export failed: %s", err);
	doc = jparse(out);
	cr_assert_not_null(doc, "the export is not JSON");
	events = must_array(doc, "traceEvents");
	for (size_t i = 0; i < events->len; i++) {
		const struct jp_value *ev = &events->items[i], *b = &blocks->items[k];
		char name[64];

		if (!jstr(ev, "cat") || strcmp(jstr(ev, "cat"), "loop_block"))
			continue;
		cr_assert_lt(k, blocks->len, "more loop_block slices than blocks");
		snprintf(name, sizeof(name), "loop blocked (%s)", jstr(b, "cause"));
		cr_expect_str_eq(jstr(ev, "name"), name);
		cr_expect_eq(jnum(ev, "tid", -1), jnum(b, "tid", -2));
		cr_expect(fabs(jnum(ev, "dur", -1) * 1e3 - jnum(b, "duration_ns", 0)) < 2);
		cr_expect_str_eq(jstr(ev, "args.cause"), jstr(b, "cause"));
		cr_expect_str_eq(jstr(ev, "args.stack.0"), jstr(b, "stack.0"));
		k++;
	}
	cr_expect_eq(k, blocks->len, "%zu loop_block slices for %zu blocks", k, blocks->len);
	jp_free(doc);
	free(out);
	free(err);
}

Test(loop, c_epoll_loop_blocks, .timeout = 60)
{
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	int n = record(WORKLOAD("epoll_loop"), gt, &rep);

	cr_assert_eq(n, 5, "epoll_loop made %d blocks", n);
	check_blocks("epoll_loop", gt, n, rep, true);
	check_chrome(rep);
	jp_free(rep);
}

/* Probed throughout, the loop blocks inside a probed lock call (locked_handler's): its return
 * probe's trampoline stands in the stack in place of the return address, which the unwinder must
 * put back, not show as a frame of [uprobes]. */
Test(loop, c_epoll_loop_blocks_with_the_lock_calls_probed, .timeout = 60)
{
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	const struct jp_value *blocks;
	int n = record_opts("--mode full", WORKLOAD("epoll_loop"), gt, &rep);

	cr_assert_eq(n, 5, "epoll_loop made %d blocks", n);
	check_blocks("epoll_loop", gt, n, rep, true);
	blocks = must_array(rep, "loop_blocks");
	for (size_t i = 0; i < blocks->len; i++) {
		const struct jp_value *st = jp_path(&blocks->items[i], "stack");

		for (size_t k = 0; st && k < st->len; k++)
			cr_expect_null(strstr(jp_str(&st->items[k]), "[uprobes]"), "block %zu: %s", i,
				       jp_str(&st->items[k]));
	}
	cr_expect_eq(jnum(rep, "recording.counters.stacks cut: a return probe's trampoline", 0), 0);
	jp_free(rep);
}

/* A thread that waits in a second epoll instance of its own, made before (PostgreSQL's backends:
 * the client's set and their latch's), does not keep returning to one site: not an event loop,
 * no blocks, and the report says how many threads were so set aside. A blocking call's own
 * instance, made in the gap, stays a block (c_epoll_loop_blocks' selector_handler). */
Test(loop, a_thread_of_two_epoll_sets_is_not_a_loop, .timeout = 60)
{
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	int n = record(WORKLOAD("epoll_loop") " --second-set", gt, &rep);

	cr_assert_eq(n, 0);
	cr_expect_eq(must_array(rep, "loop_blocks")->len, 0, "%zu blocks, the first %s",
		     must_array(rep, "loop_blocks")->len, jstr(rep, "loop_blocks.0.cause"));
	cr_expect_eq(jnum(rep, TWO_SETS, 0), 1);
	jp_free(rep);
}

/* select() on no descriptors is a sleep, not the loop's poll (CPython 3.10 sleeps so): a loop
 * handler sleeping in it is a block of cause sleep, not a loop gone idle. */
Test(loop, select_on_no_descriptors_is_a_sleep, .timeout = 60)
{
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	int n = record(WORKLOAD("epoll_loop") " --select-sleep", gt, &rep);

	cr_assert_eq(n, 1, "epoll_loop --select-sleep made %d blocks", n);
	check_blocks("epoll_loop --select-sleep", gt, n, rep, true);
	jp_free(rep);
}

/* A thread-per-connection server: each connection's thread waits in poll() on its one socket,
 * then works 120 ms on the request; the main thread polls its two listeners. No thread there is
 * a blocked event loop, though every request outlasts the threshold. */
Test(loop, thread_per_connection_server_has_no_blocks, .timeout = 60)
{
	char trace[512], *out = NULL, *err = NULL;
	struct jp_value *rep;
	int rc, served = -1;

	snprintf(trace, sizeof(trace), "%s/conn.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("conn_threads"), trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert(out && strstr(out, "requests "), "no requests served: %s", err);
	sscanf(strstr(out, "requests "), "requests %d", &served);
	cr_assert_eq(served, 12, "the server served %d requests: %s", served, err);
	rep = report_json(trace);
	cr_expect_eq(must_array(rep, "loop_blocks")->len, 0, "%zu loop blocks reported",
		     must_array(rep, "loop_blocks")->len);
	jp_free(rep);
	free(out);
	free(err);
}

static pid_t redis_pid;
static int redis_port;

static void stop_redis(void)
{
	stop_server_pid(&redis_pid);
}

/* Runs redis-cli ARGS against the test's server: its output, the caller's to free. */
static char *redis_cli(const char *args)
{
	char *out = NULL, *err = NULL;
	int rc = shf(&out, &err, "redis-cli -p %d %s", redis_port, args);

	cr_assert_eq(rc, 0, "redis-cli %s: %s", args, err);
	free(err);
	return out;
}

/* Runs redis command ARGS alone: its own time in redis' slow log, in ns. */
static double slowlog_ns(const char *args)
{
	char *out;
	double us;

	free(redis_cli("SLOWLOG RESET"));
	free(redis_cli(args));
	out = redis_cli("SLOWLOG GET 1");
	/* id, timestamp, duration (us), then the command */
	cr_assert(strchr(out, '\n') && strchr(strchr(out, '\n') + 1, '\n'),
		  "no slow-log entry for %s: %s", args, out);
	us = strtod(strchr(strchr(out, '\n') + 1, '\n') + 1, NULL);
	free(out);
	return us * 1e3;
}

/* redis-server, attached in the default mode, its lock calls probed: its event loop blocked by
 * DEBUG SLEEP (a sleep), DEBUG POPULATE and a KEYS scan (CPU), each a block as long as redis' own
 * slow log says, its stack naming the command's function, with no probe trampoline in it. */
Test(loop, redis_blocks_match_its_slow_log, .timeout = 120, .fini = stop_redis)
{
	static const struct {
		const char *args, *cause, *func;
	} cmds[] = {
	    {"DEBUG SLEEP 0.3", "sleep", "debugCommand"},
	    {"DEBUG POPULATE 200000", "cpu", "debugCommand"},
	    {"KEYS '*k*e*y*:*9*9*9*9*9*9*'", "cpu", "keysCommand"},
	    {"DEBUG SLEEP 0.2", "sleep", "debugCommand"},
	};
	char cmd[1024], dir[256], path[300], trace[300], rerr[300], *text = NULL;
	double truth[4];
	const struct jp_value *blocks;
	struct jp_value *rep;
	pid_t rec;

	redis_port = 20000 + (getpid() + 7) % 20000;
	snprintf(dir, sizeof(dir), "%s/redis", test_dir());
	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(cmd, sizeof(cmd), "redis-server --port %d --bind 127.0.0.1 --save '' "
		 "--appendonly no --dir %s --slowlog-log-slower-than 10000 "
		 "--enable-debug-command yes", redis_port, dir);
	snprintf(path, sizeof(path), "%s/redis.out", dir);
	redis_pid = spawn_bg(cmd, path, path);
	cr_assert_gt(redis_pid, 0);
	cr_assert(wait_for_text(path, "Ready to accept connections", 20), "redis-server: %s",
		  slurp(path));
	/* the commands' first run binds their library calls lazily: a sample inside ld.so's
	 * resolver is cut there (its frame is based on rbx, which BPF does not save) */
	free(redis_cli("DEBUG POPULATE 10 warm"));
	free(redis_cli("KEYS nothing"));
	free(redis_cli("FLUSHALL"));
	snprintf(trace, sizeof(trace), "%s/redis.lsz", dir);
	snprintf(rerr, sizeof(rerr), "%s/record.err", dir);
	/* the loop's stack is sampled every half threshold once past it: at the default 50 ms a
	 * 70 ms KEYS leaves 20 ms for a 25 ms period; at 20 ms, 50 ms for a 10 ms one */
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record --loop-threshold 20 -p %d -o %s", redis_pid,
		 trace);
	rec = spawn_bg(cmd, "/dev/null", rerr);
	cr_assert(wait_for_text(rerr, "Ctrl-C to stop", 20), "%s", slurp(rerr));
	usleep(300000);
	for (size_t i = 0; i < (sizeof(cmds) / sizeof(cmds[0])); i++) {
		truth[i] = slowlog_ns(cmds[i].args);
		usleep(100000);
	}
	kill(rec, SIGINT);
	cr_assert_eq(wait_for(rec, 30), 0, "record: %s", (text = slurp(rerr)));
	free(text);
	rep = report_json(trace);
	blocks = must_array(rep, "loop_blocks");
	cr_assert_eq(blocks->len, (sizeof(cmds) / sizeof(cmds[0])), "%zu loop blocks for %zu slow commands",
		     blocks->len, (sizeof(cmds) / sizeof(cmds[0])));
	for (size_t i = 0; i < blocks->len; i++) {
		const struct jp_value *b = &blocks->items[i], *st = jp_path(b, "stack");
		double dur = jnum(b, "duration_ns", -1);

		/* the slow log times the command; the block is its whole loop turn (the request
		 * read, the reply written, beforeSleep): up to a few ms more on a loaded machine */
		cr_expect(dur >= 0.9 * truth[i] && dur <= 1.1 * truth[i] + 10e6,
			  "%s: a block of %.1f ms, the slow log says %.1f ms", cmds[i].args,
			  dur / 1e6, truth[i] / 1e6);
		cr_expect_str_eq(jstr(b, "cause"), cmds[i].cause, "%s", cmds[i].args);
		cr_expect(names_function(st, cmds[i].func), "%s: the stack does not name %s: %s | %s",
			  cmds[i].args, cmds[i].func, jstr(b, "stack.0"), jstr(b, "stack.1"));
		for (size_t k = 0; st && k < st->len; k++)
			cr_expect_null(strstr(jp_str(&st->items[k]), "[uprobes]"), "%s: %s",
				       cmds[i].args, jp_str(&st->items[k]));
	}
	jp_free(rep);
}

/* Node.js without a perf map: JIT-compiled JavaScript has no symbols, so the blocks and their
 * causes, not the functions. */
Test(loop, node_loop_blocks, .timeout = 60)
{
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	int n = record("node tests/workloads/node_loop.js", gt, &rep);

	cr_assert_eq(n, 4, "node_loop.js made %d blocks", n);
	check_blocks("node_loop.js", gt, n, rep, false);
	jp_free(rep);
}

/* With the perf map V8 writes (--perf-basic-prof; interpreted functions named too), each block's
 * stack goes through the JIT-compiled frames to the handler that blocked: busyHandler on CPU,
 * syncHandler waiting for execSync's child in a loop of its own. */
Test(loop, node_loop_blocks_name_the_javascript_function, .timeout = 60)
{
	struct truth gt[MAX_BLOCKS];
	struct jp_value *rep;
	char cmd[1024];
	int n;

	/* the flag also makes V8 write a log of its code to the current directory */
	snprintf(cmd, sizeof(cmd), "node --perf-basic-prof --interpreted-frames-native-stack "
		 "--no-logfile-per-isolate --logfile=%s/v8.log tests/workloads/node_loop.js",
		 test_dir());
	n = record(cmd, gt, &rep);

	cr_assert_eq(n, 4, "node_loop.js made %d blocks", n);
	check_blocks("node_loop.js (perf map)", gt, n, rep, true);
	jp_free(rep);
}

/* The recording stops (and kills the command) while the loop is blocked: the block is there,
 * open, up to the end. */
Test(loop, block_still_open_when_recording_ends, .timeout = 60)
{
	char trace[512], *out = NULL, *err = NULL;
	const struct jp_value *blocks, *b;
	struct jp_value *rep;
	double end, stop;
	int rc;

	snprintf(trace, sizeof(trace), "%s/stuck.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -d 2 -o %s -- %s tests/workloads/py_loop.py stuck",
		 trace, python3_path());
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert(out && strstr(out, "stuck "), "the workload did not block: %s %s", out, err);
	rep = report_json(trace);
	blocks = must_array(rep, "loop_blocks");
	cr_assert_eq(blocks->len, 1, "%zu loop blocks", blocks->len);
	b = &blocks->items[0];
	cr_expect(jbool(b, "open"), "the block is not open");
	cr_expect_str_eq(jstr(b, "cause"), "sleep");
	cr_expect(names_function(jp_path(b, "stack"), "stuck_handler"), "stack: %s | %s",
		  jstr(b, "stack.0"), jstr(b, "stack.1"));
	/* it lasts until the recording stopped the command, 2 s in */
	end = jnum(b, "start_ns", 0) + jnum(b, "duration_ns", 0);
	stop = jnum(rep, "target.duration_ns", 0);
	cr_expect(end <= stop && stop - end < 0.25e9,
		  "the block ends at %.3f s, the recording at "
		  "%.3f s",
		  end / 1e9, stop / 1e9);
	jp_free(rep);
	free(out);
	free(err);
}
