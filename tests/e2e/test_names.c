/* test_names.c - end to end: names on real binaries. C++ names demangled in every output, a
 * stripped binary named from its separate debug file (build-ID tree, debuglink, a debuginfod
 * server on loopback), one entry per condition variable (a workload's, Debian's zstd -T0), and
 * a pprof profile that `go tool pprof` maps back to the binary and its source. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"
#include "protodec.h"

static pid_t server;	/* a debuginfod the test started, stopped whatever the outcome */

static void stop_server(void)
{
	if (server > 0)
		kill_tree(server);
	server = 0;
}

TestSuite(names, .fini = stop_server);

static bool has_text(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle);
}

/* The lock at address ADDR (a "0x..." string) in the report's ARRAY, or NULL. */
static const struct jp_value *lock_at(const struct jp_value *rep, const char *array,
				      const char *addr)
{
	const struct jp_value *locks = jp_path(rep, array);

	for (size_t i = 0; locks && i < locks->len; i++)
		if (!strcmp(jstr(&locks->items[i], "addr"), addr))
			return &locks->items[i];
	return NULL;
}

/* ---- C++ ---- */

Test(names, cpp_names_are_demangled_in_every_output, .timeout = 120)
{
	char trace[256], *out = NULL, *err = NULL, *text = NULL;
	const struct jp_value *ledger, *audit, *frames;
	struct jp_value *gt, *rep;
	struct pp_profile prof;
	size_t len, rawlen;
	uint8_t *gz, *raw;
	bool found = false;
	char perr[256];
	int rc;

	snprintf(trace, sizeof(trace), "%s/ledger.lsz", test_dir());
	/* full mode: the graph below needs the lock order, whatever the load */
	rc = shf(&out, &err, LOCKSCOPE " record --mode full -o %s -- " WORKLOAD("ledger"), trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	gt = ground_truth(out);
	rep = report_json(trace);
	/* the class member in a static object, and the namespace's mutex, at their addresses */
	ledger = lock_at(rep, "locks", jstr(gt, "ledger_mutex"));
	audit = lock_at(rep, "locks", jstr(gt, "audit_mutex"));
	cr_assert_not_null(ledger, "no lock at the ledger's mutex %s", jstr(gt, "ledger_mutex"));
	cr_assert_not_null(audit, "no lock at bank::audit_mutex %s", jstr(gt, "audit_mutex"));
	cr_assert_str_eq(jstr(ledger, "name"), "ledger");
	cr_assert_str_eq(jstr(audit, "name"), "bank::audit_mutex");
	frames = jp_path(ledger, "stacks.0.frames");
	cr_assert(names_function(frames, "bank::Ledger::post(long)"), "first frame: %s",
		  frames && frames->len ? jp_str(&frames->items[0]) : "none");
	cr_assert(names_function(frames, "worker(int, int)"));
	free(out);
	free(err);

	/* text report, graph, Chrome export: demangled, no linkage name anywhere */
	cr_assert_eq(shf(&text, NULL, LOCKSCOPE " report %s", trace), 0);
	cr_assert(has_text(text, "bank::Ledger::post(long) (ledger.cpp:"), "%s", text);
	cr_assert_not(has_text(text, "_ZN4bank"), "a mangled name in the report");
	free(text);
	cr_assert_eq(shf(&text, NULL, LOCKSCOPE " graph %s", trace), 0);
	cr_assert(has_text(text, "\"ledger\"") && has_text(text, "\"bank::audit_mutex\""), "%s",
		  text);
	cr_assert_not(has_text(text, "_Z"), "%s", text);
	free(text);
	cr_assert_eq(shf(&text, NULL, LOCKSCOPE " export %s -o -", trace), 0);
	cr_assert(has_text(text, "bank::Ledger::post(long)"));
	cr_assert_not(has_text(text, "_ZN4bank"), "a mangled name in the Chrome export");
	free(text);

	/* pprof: demangled names, linkage names as system names */
	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " export --format pprof -o %s/l.pb.gz %s",
			 test_dir(), trace),
		     0, "%s", err);
	free(err);
	snprintf(perr, sizeof(perr), "%s/l.pb.gz", test_dir());
	gz = (uint8_t *)slurp(perr);
	cr_assert_not_null(gz);
	cr_assert_eq(shf(&text, NULL, "stat -c %%s %s/l.pb.gz", test_dir()), 0);
	len = strtoul(text, NULL, 10);
	free(text);
	cr_assert_eq(pd_gunzip(gz, len, &raw, &rawlen), 0);
	cr_assert_eq(pp_decode(raw, rawlen, &prof, perr, sizeof(perr)), 0, "%s", perr);
	for (size_t i = 0; i < prof.nsamples; i++)
		for (size_t j = 0; j < prof.samples[i].nframes; j++)
			found |= !strcmp(prof.samples[i].frames[j], "bank::Ledger::post(long)") &&
				 !strcmp(prof.samples[i].sysnames[j], "_ZN4bank6Ledger4postEl");
	cr_assert(found, "no bank::Ledger::post(long) with its linkage name in the profile");
	pp_free(&prof);
	free(raw);
	free(gz);

	/* --no-demangle: the names as the object spells them, for scripts */
	cr_assert_eq(shf(&text, NULL, LOCKSCOPE " report --no-demangle --json %s", trace), 0);
	cr_assert(has_text(text, "\"_ZL6ledger\"") && has_text(text, "_ZN4bank6Ledger4postEl"),
		  "%.400s", text);
	free(text);
	jp_free(gt);
	jp_free(rep);
}

Test(names, dump_of_a_cpp_program_is_demangled, .timeout = 60)
{
	const struct jp_value *threads;
	struct jp_value *d;
	char out[256], errp[256];
	bool found = false;
	pid_t pid;

	snprintf(out, sizeof(out), "%s/ledger.out", test_dir());
	snprintf(errp, sizeof(errp), "%s/ledger.err", test_dir());
	pid = spawn_bg(WORKLOAD("ledger") " --forever", out, errp);
	cr_assert(wait_for_text(errp, "running", 10));
	usleep(300000);
	d = dump_json(pid);
	kill_tree(pid);
	threads = must_array(d, "threads");
	for (size_t i = 0; i < threads->len; i++)
		found |= names_function(jp_path(&threads->items[i], "stack"),
					"bank::Ledger::post(long)") ||
			 names_function(jp_path(&threads->items[i], "stack"), "bank::audit(long)");
	cr_assert(found, "no thread's stack names bank::Ledger::post(long)");
	jp_free(d);
}

/* ---- separate debug info ---- */

/* A stripped copy of the contended workload in the test directory, DIR/app, with its debug
 * info in DIR/app.debug and a .gnu_debuglink to it. Its build ID in ID (41 bytes). */
static void make_stripped(const char *dir, char *id)
{
	char *out = NULL, *err = NULL;

	cr_assert_eq(shf(NULL, &err,
			 "mkdir -p %s && cp " WORKLOAD("contended") " %s/app && cd %s && "
			 "objcopy --only-keep-debug app app.debug && strip --strip-all app && "
			 "objcopy --add-gnu-debuglink=app.debug app",
			 dir, dir, dir),
		     0, "could not split the debug info: %s", err);
	cr_assert_eq(shf(&out, NULL, "readelf -n %s/app | awk '/Build ID/ {print $3}'", dir), 0);
	cr_assert_eq(strlen(out), 41, "build id: %s", out);
	memcpy(id, out, 40);
	id[40] = '\0';
	free(out);
	free(err);
	/* stripped indeed: nothing names hot_lock any more */
	cr_assert_neq(sh("nm app 2>/dev/null | grep -q hot_lock", NULL, NULL), 0);
}

/* Records DIR/app with the environment ENV, and checks what the report names: hot_lock and
 * update_shared_state where NAMED, else the report says which object had no symbols. The
 * app's OBJECT entry says how its debug file was found (VIA, or null). Returns stderr. */
static char *record_app(const char *dir, const char *env, bool named, const char *via)
{
	char trace[512], *out = NULL, *err = NULL, *text = NULL;
	const struct jp_value *objs, *app = NULL, *frames;
	struct jp_value *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/app-%d.lsz", dir, (int)(random() % 100000));
	rc = shf(&out, &err, "%s " LOCKSCOPE " record -o %s -- %s/app --iters 300", env, trace,
		 dir);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	rep = report_json(trace);
	objs = must_array(rep, "objects");
	for (size_t i = 0; i < objs->len && !app; i++)
		if (has_text(jstr(&objs->items[i], "path"), "/app"))
			app = &objs->items[i];
	cr_assert_not_null(app, "no object for the app");
	frames = jp_path(rep, "locks.0.stacks.0.frames");
	if (named) {
		cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
		cr_assert(names_function(frames, "update_shared_state"));
		cr_assert_str_eq(jstr(app, "symbols"), "full");
		cr_assert(jbool(app, "lines"));
		cr_assert_str_eq(jstr(app, "debug_via"), via);
		cr_assert_eq(jnum(app, "unnamed_frames", -1), 0);
	} else {
		cr_assert_str_neq(jstr(rep, "locks.0.name"), "hot_lock");
		cr_assert(has_text(jstr(rep, "locks.0.name"), "data app+0x"), "%s",
			  jstr(rep, "locks.0.name"));
		cr_assert_str_eq(jstr(app, "symbols"), "none");
		cr_assert_null(jstr(app, "debug_via"));
		cr_assert_gt(jnum(app, "unnamed_frames", 0), 0);
		cr_assert_eq(shf(&text, NULL, LOCKSCOPE " report %s", trace), 0);
		cr_assert(has_text(text, "named by address only: app ("), "%s", text);
		free(text);
	}
	jp_free(rep);
	free(out);
	return err;
}

Test(names, stripped_binary_named_from_a_build_id_tree_or_debuglink, .timeout = 120)
{
	char dir[256], id[41], env[512];

	snprintf(dir, sizeof(dir), "%s/stripped", test_dir());
	make_stripped(dir, id);
	/* the debug file beside the binary: found by its .gnu_debuglink name */
	free(record_app(dir, "", true, "debuglink"));
	/* moved into a .build-id tree of a debug directory the user names */
	cr_assert_eq(shf(NULL, NULL, "mkdir -p %s/debug/.build-id/%.2s && mv %s/app.debug "
				     "%s/debug/.build-id/%.2s/%s.debug",
			 dir, id, dir, dir, id, id + 2),
		     0);
	free(record_app(dir, "", false, NULL));
	snprintf(env, sizeof(env), "LOCKSCOPE_DEBUGINFO_PATH=%s/debug", dir);
	free(record_app(dir, env, true, "build-id"));
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

Test(names, stripped_binary_named_by_a_local_debuginfod, .timeout = 180)
{
	char dir[256], id[41], env[1024], cmd[1024], log[300], *err;
	int port = free_port(), tries;

	snprintf(dir, sizeof(dir), "%s/served", test_dir());
	make_stripped(dir, id);
	/* the server has the debug file; the binary's directory has not */
	cr_assert_eq(shf(NULL, NULL, "mkdir -p %s/srv && mv %s/app.debug %s/srv/", dir, dir, dir),
		     0);
	snprintf(cmd, sizeof(cmd), "debuginfod -F -p %d -d %s/db.sqlite %s/srv", port, dir, dir);
	snprintf(log, sizeof(log), "%s/debuginfod.log", dir);
	server = spawn_bg(cmd, log, log);
	cr_assert_gt(server, 0);
	/* ready once it has indexed the file and serves it; each try with a fresh cache, as
	 * the client remembers a miss for ten minutes */
	for (tries = 0; tries < 60; tries++) {
		if (shf(NULL, NULL,
			"DEBUGINFOD_URLS=http://127.0.0.1:%d DEBUGINFOD_CACHE_PATH=%s/probe%d "
			"debuginfod-find debuginfo %s",
			port, dir, tries, id) == 0)
			break;
		usleep(500000);
	}
	cr_assert_lt(tries, 60, "debuginfod never served the file: %s", slurp(log));
	snprintf(env, sizeof(env),
		 "DEBUGINFOD_URLS=http://127.0.0.1:%d DEBUGINFOD_CACHE_PATH=%s/cache", port, dir);
	err = record_app(dir, env, true, "debuginfod");
	cr_assert(has_text(err, "debuginfod: fetching debug info for app from http://127.0.0.1"),
		  "no progress on stderr: %s", err);
	cr_assert(has_text(err, "debuginfod: app: done"), "%s", err);
	free(err);
	/* again: from the client's cache, without a download */
	err = record_app(dir, env, true, "debuginfod");
	cr_assert_not(has_text(err, "fetching"), "downloaded again: %s", err);
	free(err);
	/* a server that is gone: said once, and recording goes on without the names */
	stop_server();
	snprintf(env, sizeof(env),
		 "DEBUGINFOD_URLS=http://127.0.0.1:%d DEBUGINFOD_CACHE_PATH=%s/cache2", port, dir);
	err = record_app(dir, env, false, NULL);
	cr_assert(has_text(err, "not asked again during this run"), "%s", err);
	free(err);
}

/* ---- one entry per condition variable ---- */

Test(names, a_condition_variable_is_one_entry, .timeout = 60)
{
	char trace[256], *out = NULL, *err = NULL;
	const struct jp_value *other, *queue, *board;
	struct jp_value *gt, *rep;
	size_t conds = 0;
	int rc;

	snprintf(trace, sizeof(trace), "%s/cond.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("condwait"), trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	gt = ground_truth(out);
	rep = report_json(trace);
	other = must_array(rep, "other_waits");
	for (size_t i = 0; i < other->len; i++)
		conds += !strcmp(jstr(&other->items[i], "kind"), "cond");
	queue = lock_at(rep, "other_waits", jstr(gt, "queue_ready"));
	board = lock_at(rep, "other_waits", jstr(gt, "board_changed"));
	/* keyed by each pthread_cond_t's own address, whichever of its words was slept on */
	cr_assert_not_null(queue, "no entry at queue_ready %s", jstr(gt, "queue_ready"));
	cr_assert_not_null(board, "no entry at the heap condition %s", jstr(gt, "board_changed"));
	cr_assert_eq(conds, 2, "%zu condition entries for 2 condition variables", conds);
	cr_assert_str_eq(jstr(queue, "name"), "queue_ready");
	cr_assert(has_text(jstr(board, "name"), "heap 0x") &&
		      has_text(jstr(board, "name"), "first waited on in consumer (condwait.c:"),
		  "%s", jstr(board, "name"));
	/* the mutexes the waits retake are mutexes, at their own addresses */
	for (size_t i = 0; i < other->len; i++)
		cr_assert_str_neq(jstr(&other->items[i], "addr"), jstr(gt, "board_lock"));
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

/* A latch of a writer word and a reader count in one 8-byte block of an anonymous mapping
 * (InnoDB's page latches in its buffer pool): one lock, named by its memory and its waiter. */
Test(names, two_words_of_one_latch_are_one_lock, .timeout = 60)
{
	char trace[256], *out = NULL, *err = NULL, want[128];
	const struct jp_value *locks;
	struct jp_value *gt, *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/latch.lsz", test_dir());
	rc = shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("latch"), trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	gt = ground_truth(out);
	rep = report_json(trace);
	locks = must_array(rep, "locks");
	cr_assert_eq(locks->len, 1, "%zu locks for one latch", locks->len);
	cr_assert_str_eq(jstr(rep, "locks.0.addr"), jstr(gt, "latch"));
	snprintf(want, sizeof(want), "anon mapping %s first waited on in latch_wr_lock (latch.c:",
		 jstr(gt, "latch"));
	cr_assert(has_text(jstr(rep, "locks.0.name"), want), "%s", jstr(rep, "locks.0.name"));
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

/* Debian's zstd compressing with a thread per CPU: its job queue and pool waits. A
 * pthread_cond_t is 48 bytes and a mutex 40: no two condition entries closer than that, and
 * none inside a mutex, or one object was listed twice. */
Test(names, zstd_lists_each_condition_variable_once, .timeout = 120)
{
	char trace[256], *err = NULL;
	const struct jp_value *other, *locks;
	unsigned long long conds[256], mutexes[256];
	size_t nc = 0, nm = 0;
	struct jp_value *rep;
	int rc;

	cr_assert_eq(sh("command -v zstd", NULL, NULL), 0, "zstd is not installed (make deps)");
	snprintf(trace, sizeof(trace), "%s/zstd.lsz", test_dir());
	cr_assert_eq(shf(NULL, NULL, "head -c 60000000 /dev/urandom | base64 > %s/big.txt",
			 test_dir()),
		     0);
	rc = shf(NULL, &err, LOCKSCOPE " record -o %s -- zstd -T0 -q -f %s/big.txt -o %s/big.zst",
		 trace, test_dir(), test_dir());
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	shf(NULL, NULL, "rm -f %s/big.txt %s/big.zst", test_dir(), test_dir());
	rep = report_json(trace);
	other = must_array(rep, "other_waits");
	locks = must_array(rep, "locks");
	for (size_t i = 0; i < other->len && nc < 256; i++)
		if (!strcmp(jstr(&other->items[i], "kind"), "cond"))
			conds[nc++] = strtoull(jstr(&other->items[i], "addr"), NULL, 16);
	for (size_t i = 0; i < locks->len && nm < 256; i++)
		if (!strcmp(jstr(&locks->items[i], "kind"), "mutex"))
			mutexes[nm++] = strtoull(jstr(&locks->items[i], "addr"), NULL, 16);
	cr_assert_geq(nc, 2, "zstd -T0 waited on %zu condition variables", nc);
	for (size_t i = 0; i < nc; i++) {
		cr_assert_eq(conds[i] % 8, 0, "a condition at %#llx: not its start", conds[i]);
		for (size_t j = 0; j < nc; j++)
			cr_assert(i == j || conds[i] - conds[j] >= 48 || conds[j] - conds[i] >= 48,
				  "conditions %#llx and %#llx overlap", conds[i], conds[j]);
		for (size_t j = 0; j < nm; j++)
			cr_assert(conds[i] + 48 <= mutexes[j] || mutexes[j] + 40 <= conds[i],
				  "condition %#llx overlaps mutex %#llx", conds[i], mutexes[j]);
	}
	jp_free(rep);
	free(err);
}

/* ---- pprof back to the binary ---- */

Test(names, pprof_maps_back_to_the_binary_and_its_source, .timeout = 120)
{
	char trace[256], prof[256], *out = NULL, *err = NULL, *id = NULL, want[256];
	int rc;

	cr_assert_eq(sh("command -v go", NULL, NULL), 0, "go is not installed (make deps)");
	snprintf(trace, sizeof(trace), "%s/pp.lsz", test_dir());
	snprintf(prof, sizeof(prof), "%s/pp.pb.gz", test_dir());
	rc = shf(NULL, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("contended"), trace);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	free(err);
	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " export --format pprof -o %s %s", prof, trace), 0,
		     "%s", err);
	free(err);
	cr_assert_eq(shf(&id, NULL, "readelf -n " WORKLOAD("contended")
				    " | awk '/Build ID/ {print $3}'"),
		     0);
	id[strcspn(id, "\n")] = '\0';

	/* -raw: the workload's mapping with its path and build ID, real addresses */
	cr_assert_eq(shf(&out, &err, "cd / && HOME=%s go tool pprof -raw %s", test_dir(), prof), 0,
		     "%s", err);
	snprintf(want, sizeof(want), "%s %s [FN][FL][LN]", "/workloads/contended", id);
	cr_assert(has_text(out, want), "no mapping for the workload with build id %s:\n%s", id,
		  out);
	cr_assert(has_text(out, "M=1 update_shared_state /"),
		  "no address in mapping 1 for update_shared_state, with its full path:\n%s", out);
	cr_assert_not(has_text(out, ": 0x0 "), "a location without an address:\n%s", out);
	free(out);
	free(err);

	/* -list from another directory, without -source_path: the file's full path suffices */
	cr_assert_eq(shf(&out, &err, "cd / && HOME=%s go tool pprof -list update_shared_state %s",
			 test_dir(), prof),
		     0, "%s", err);
	cr_assert(has_text(out, "ROUTINE ======================== update_shared_state in /"), "%s",
		  out);
	cr_assert(has_text(out, "tests/workloads/contended.c"), "%s", out);
	cr_assert(has_text(out, "pthread_mutex_lock(&hot_lock);"), "no source lines:\n%s", out);
	free(out);
	free(err);
	free(id);
}
