/* test_graph.c - `graph` on trace files written by the real writer: dot and JSON, cycles and
 * gated cycles marked, unknown formats, files that are not traces, cut files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/graph.h"
#include "jsonparse.h"
#include "tracefile.h"

#define PID 4242
#define W1 4243
#define W2 4244
#define LOCK_A 0x5581d2a0ull
#define LOCK_B 0x5581d2e0ull
#define LOCK_C 0x5581d320ull
#define LOCK_D 0x5581d360ull
#define GATE 0x5581d3a0ull

static struct tf trace;

static void teardown(void)
{
	tf_remove(&trace);
}

TestSuite(graph, .fini = teardown);

static uint64_t ts;

static void lock_rec(uint8_t type, uint32_t tid, uint64_t addr, uint32_t stack)
{
	struct ls_rec r = {.type = type, .ts = ts += 1000, .tid = tid};

	if (type == LS_REC_ACQUIRE) {
		r.acquire.addr = addr;
		r.acquire.kind = LS_KIND_MUTEX;
		r.acquire.stack_id = stack;
	} else {
		r.release.addr = addr;
	}
	tf_add(&trace, &r);
}

static void nest(uint32_t tid, uint64_t first, uint64_t second, uint32_t stack)
{
	lock_rec(LS_REC_ACQUIRE, tid, first, 0);
	lock_rec(LS_REC_ACQUIRE, tid, second, stack);
	lock_rec(LS_REC_RELEASE, tid, second, 0);
	lock_rec(LS_REC_RELEASE, tid, first, 0);
}

/* lock_a/lock_b taken in both orders; lock_c/lock_d both ways under gate; "quote\"d" alone. */
static void write_scenario(bool complete)
{
	static const uint32_t s1[] = {1};

	ts = 0;
	tf_open(&trace, PID, "bank", "./bank", "full");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_frame(&trace, 1, 0x401136, "transfer", "bank.c", 42, "bank", 0x16);
	tf_stack(&trace, 1, 1, s1);
	tf_lock(&trace, 0, LOCK_A, LS_KIND_MUTEX, "lock_a");
	tf_lock(&trace, 0, LOCK_B, LS_KIND_MUTEX, "lock_b");
	tf_lock(&trace, 0, LOCK_C, LS_KIND_MUTEX, "lock_\"c\"");
	tf_lock(&trace, 0, GATE, LS_KIND_MUTEX, "gate");
	nest(W1, LOCK_A, LOCK_B, 1);
	nest(W2, LOCK_B, LOCK_A, 0);
	lock_rec(LS_REC_ACQUIRE, W1, GATE, 0);
	nest(W1, LOCK_C, LOCK_D, 0);
	lock_rec(LS_REC_RELEASE, W1, GATE, 0);
	lock_rec(LS_REC_ACQUIRE, W2, GATE, 0);
	nest(W2, LOCK_D, LOCK_C, 0);
	lock_rec(LS_REC_RELEASE, W2, GATE, 0);
	if (complete)
		tf_finish(&trace, ts + 1000, 100, 0);
	tf_close(&trace);
}

struct args {
	const char *path, *format;
};

static int run_graph(void *arg)
{
	const struct args *a = arg;

	return graph__run(a->path, a->format);
}

static void run(struct tf_run *out, const char *path, const char *format)
{
	struct args a = {path, format};

	tf_capture(out, run_graph, &a);
}

Test(graph, dot_marks_cycles_red_and_gated_cycles_dashed)
{
	struct tf_run out;

	write_scenario(true);
	run(&out, trace.path, NULL);
	cr_assert_eq(out.status, 0, "%s", out.err);
	cr_assert_str_eq(out.err, "");
	cr_assert(!strncmp(out.out, "digraph lockorder {\n", 20), "%s", out.out);
	cr_assert(strstr(out.out, "\tn0 [label=\"lock_a\"];\n"), "%s", out.out);
	cr_assert(strstr(out.out, "[label=\"lock_\\\"c\\\"\"]"), "%s", out.out);
	cr_assert(strstr(out.out, "[label=\"0x5581d360\"]"), "%s", out.out);
	cr_assert(strstr(out.out, "\tn0 -> n1 [label=\"1\", color=red"), "%s", out.out);
	cr_assert(strstr(out.out, "\tn1 -> n0 [label=\"1\", color=red"), "%s", out.out);
	cr_assert(strstr(out.out, "\tn3 -> n4 [label=\"1\", style=dashed];\n"), "%s", out.out);
	cr_assert(strstr(out.out, "\tn2 -> n3 [label=\"2\"];\n"), "%s", out.out);
	cr_assert(!strcmp(out.out + out.out_len - 2, "}\n"), "%s", out.out);
	tf_run_free(&out);
}

Test(graph, json_has_the_schema)
{
	struct jp_value *doc;
	struct tf_run out;
	char err[128];
	uint64_t v;

	write_scenario(true);
	run(&out, trace.path, "json");
	cr_assert_eq(out.status, 0, "%s", out.err);
	doc = jp_parse(out.out, out.out_len, err, sizeof(err));
	cr_assert(doc, "%s\n%s", err, out.out);
	cr_assert_str_eq(jp_str(jp_get(doc, "schema")), "lockscope.graph/1");
	cr_assert_eq(jp_get(doc, "nodes")->len, 5);
	cr_assert(jp_uint(jp_path(doc, "nodes.0.id"), &v) && v == 0);
	cr_assert_str_eq(jp_str(jp_path(doc, "nodes.0.name")), "lock_a");
	cr_assert_str_eq(jp_str(jp_path(doc, "nodes.0.kind")), "mutex");
	cr_assert_eq(jp_get(doc, "edges")->len, 6);
	cr_assert_str_eq(jp_str(jp_path(doc, "edges.0.from")), "lock_a");
	cr_assert_str_eq(jp_str(jp_path(doc, "edges.0.to")), "lock_b");
	cr_assert(jp_uint(jp_path(doc, "edges.0.from_id"), &v) && v == 0);
	cr_assert(jp_uint(jp_path(doc, "edges.0.to_id"), &v) && v == 1);
	cr_assert(jp_uint(jp_path(doc, "edges.0.count"), &v) && v == 1);
	cr_assert(jp_uint(jp_path(doc, "edges.0.tids.0"), &v) && v == W1);
	cr_assert(jp_path(doc, "edges.0.in_cycle")->boolean);
	cr_assert_not(jp_path(doc, "edges.0.suppressed")->boolean);
	cr_assert_str_eq(jp_str(jp_path(doc, "edges.0.stack.0")), "transfer (bank.c:42)");
	cr_assert(jp_path(doc, "edges.4.suppressed")->boolean);
	cr_assert_not(jp_path(doc, "edges.4.in_cycle")->boolean);
	cr_assert_eq(jp_get(doc, "cycles")->len, 1);
	cr_assert_str_eq(jp_str(jp_path(doc, "cycles.0.0")), "lock_a");
	cr_assert_str_eq(jp_str(jp_path(doc, "cycles.0.1")), "lock_b");
	cr_assert_eq(jp_get(doc, "suppressed")->len, 1);
	cr_assert_str_eq(jp_str(jp_path(doc, "suppressed.0.locks.0")), "lock_\"c\"");
	cr_assert_str_eq(jp_str(jp_path(doc, "suppressed.0.guarded_by")), "gate");
	jp_free(doc);
	tf_run_free(&out);
}

Test(graph, an_unknown_format_is_bad_usage)
{
	struct tf_run out;

	write_scenario(true);
	run(&out, trace.path, "svg");
	cr_assert_eq(out.status, 1);
	cr_assert_str_eq(out.err, "lockscope: graph: unknown format 'svg' (dot or json)\n");
	cr_assert_str_eq(out.out, "");
	tf_run_free(&out);
}

Test(graph, a_file_that_is_not_a_trace_is_bad_input)
{
	struct tf_run out;
	FILE *f;

	snprintf(trace.path, sizeof(trace.path), "/tmp/lockscope-test-graph-notatrace");
	f = fopen(trace.path, "w");
	cr_assert(f);
	fputs("hello\n", f);
	fclose(f);
	run(&out, trace.path, "dot");
	cr_assert_eq(out.status, 1);
	cr_assert(!strncmp(out.err, "lockscope: graph: /tmp/lockscope-test-graph-notatrace: ", 55),
		  "%s", out.err);
	cr_assert_eq(strchr(out.err, '\n'), out.err + out.err_len - 1, "one line: %s", out.err);
	tf_run_free(&out);
	run(&out, "/nonexistent/x.lsz", "dot");
	cr_assert_eq(out.status, 1);
	cr_assert_str_eq(out.err,
			 "lockscope: graph: /nonexistent/x.lsz: No such file or directory\n");
	tf_run_free(&out);
}

Test(graph, a_cut_file_is_graphed_with_a_note)
{
	struct tf_run out;

	write_scenario(false);
	run(&out, trace.path, "dot");
	cr_assert_eq(out.status, 0, "%s", out.err);
	cr_assert(strstr(out.err, "lockscope: graph: "), "%s", out.err);
	cr_assert(strstr(out.err, "file is cut"), "%s", out.err);
	cr_assert(strstr(out.out, "color=red"), "%s", out.out);
	tf_run_free(&out);
}

Test(graph, a_contention_trace_says_why_it_is_empty)
{
	struct tf_run out;

	tf_open(&trace, PID, "bank", "./bank", "contention");
	tf_finish(&trace, 1000, 0, 0);
	tf_close(&trace);
	run(&out, trace.path, "dot");
	cr_assert_eq(out.status, 0, "%s", out.err);
	cr_assert(strstr(out.err, "contention mode"), "%s", out.err);
	cr_assert_str_eq(out.out,
			 "digraph lockorder {\n\tnode [shape=box, fontname=\"monospace\"];\n}\n");
	tf_run_free(&out);
}
