/* test_lockorder.c - end to end: the lock-order graph of real workloads recorded in full mode,
 * checked against the locks and threads each workload prints; `graph` in DOT and JSON. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "proc.h"

/* Records WORKLOAD in full mode into DIR/NAME.lsz (TRACE), with ENV before the command;
 * returns the ground truth it printed. Recording that cannot attach is a failure, not a skip. */
static struct jp_value *record_full_env(const char *env, const char *workload, char *trace,
					size_t len)
{
	char *out = NULL, *err = NULL;
	struct jp_value *gt;
	int rc;

	snprintf(trace, len, "%s/%s%s.lsz", test_dir(), workload, *env ? "-env" : "");
	rc = shf(&out, &err, "%s " LOCKSCOPE " record --mode full -o %s -- build/workloads/%s",
		 env, trace, workload);
	cr_assert_eq(rc, 0, "record --mode full of %s failed (%d): %s", workload, rc, err);
	gt = ground_truth(out);
	free(out);
	free(err);
	return gt;
}

static struct jp_value *record_full(const char *workload, char *trace, size_t len)
{
	return record_full_env("", workload, trace, len);
}

static const struct jp_value *find_edge(const struct jp_value *edges, const char *from,
					const char *to)
{
	for (size_t i = 0; edges && i < edges->len; i++) {
		const char *f = jstr(&edges->items[i], "from"), *t = jstr(&edges->items[i], "to");

		if (f && t && !strcmp(f, from) && !strcmp(t, to))
			return &edges->items[i];
	}
	return NULL;
}

/* The edge's "tids" is exactly the set of N tids in WANT. */
static void check_tids(const struct jp_value *edge, const double *want, size_t n)
{
	const struct jp_value *tids = jp_get(edge, "tids");

	cr_assert_not_null(tids, "edge %s -> %s has no tids", jstr(edge, "from"), jstr(edge, "to"));
	cr_assert_eq(tids->len, n, "edge %s -> %s: %zu tids, want %zu", jstr(edge, "from"),
		     jstr(edge, "to"), tids->len, n);
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < tids->len; j++)
			found |= tids->items[j].type == JP_NUMBER &&
				 tids->items[j].number == want[i];
		cr_assert(found, "edge %s -> %s lacks tid %.0f", jstr(edge, "from"),
			  jstr(edge, "to"), want[i]);
	}
}

/* An edge taken by one thread (TID) in function FUNC, COUNT times. */
static void check_edge(const struct jp_value *edges, const char *from, const char *to,
		       double tid, const char *func, double count)
{
	const struct jp_value *e = find_edge(edges, from, to);

	cr_assert_not_null(e, "no edge %s -> %s", from, to);
	check_tids(e, &tid, 1);
	cr_assert(names_function(jp_get(e, "stack"), func), "edge %s -> %s: no frame in %s",
		  from, to, func);
	cr_assert_eq(jnum(e, "count", -1), count, "edge %s -> %s: count %.0f, want %.0f", from, to,
		     jnum(e, "count", -1), count);
}

/* Where the report lists a lock by NAME, it is at the address the workload printed. */
static void check_addr(const struct jp_value *rep, const struct jp_value *gt, const char *name)
{
	const struct jp_value *locks = jp_get(rep, "locks");

	for (size_t i = 0; locks && i < locks->len; i++) {
		const char *n = jstr(&locks->items[i], "name");

		if (n && !strcmp(n, name)) {
			const char *addr = jstr(&locks->items[i], "addr");

			cr_assert_not_null(addr, "%s has no addr", name);
			cr_assert_str_eq(addr, jstr(gt, name), "%s is at %s, the workload says %s",
					 name, addr, jstr(gt, name));
		}
	}
}

/* The inversion workload's two orders, each by its own thread, make the one cycle. */
static void check_inversion(const char *trace, struct jp_value *gt)
{
	char *out = NULL, *err = NULL;
	struct jp_value *rep = report_json(trace);
	const struct jp_value *cycles = must_array(rep, "lock_order.cycles"), *cedges;
	double rounds = jnum(gt, "rounds", -1);
	int rc;

	cr_assert_eq(cycles->len, 1, "%zu cycles, want the one inversion", cycles->len);
	cr_assert(is_pair(jp_path(rep, "lock_order.cycles.0.locks"), "lock_a", "lock_b"),
		  "the cycle is not lock_a, lock_b");
	cedges = must_array(rep, "lock_order.cycles.0.edges");
	check_edge(cedges, "lock_a", "lock_b", jnum(gt, "tid_a_to_b", -1), "transfer_a_to_b",
		   rounds);
	check_edge(cedges, "lock_b", "lock_a", jnum(gt, "tid_b_to_a", -1), "transfer_b_to_a",
		   rounds);
	/* the graph's own edge list has both too */
	cr_assert_not_null(find_edge(must_array(rep, "lock_order.edges"), "lock_a", "lock_b"));
	cr_assert_not_null(find_edge(must_array(rep, "lock_order.edges"), "lock_b", "lock_a"));
	cr_assert_eq(must_array(rep, "lock_order.suppressed")->len, 0);
	/* potential, not actual: the turns kept the threads apart */
	cr_assert_eq(must_array(rep, "deadlocks")->len, 0, "the inversion never deadlocked");
	check_addr(rep, gt, "lock_a");
	check_addr(rep, gt, "lock_b");

	rc = shf(&out, &err, LOCKSCOPE " report %s", trace);
	cr_assert_eq(rc, 0, "report failed (%d): %s", rc, err);
	cr_assert(strcasestr(out, "potential deadlock"),
		  "text report lacks the potential deadlock");
	cr_assert(strstr(out, "transfer_a_to_b"), "text report does not name transfer_a_to_b");
	cr_assert(strstr(out, "transfer_b_to_a"), "text report does not name transfer_b_to_a");
	cr_assert(strstr(out, "lock_a") && strstr(out, "lock_b"));
	jp_free(gt);
	jp_free(rep);
	free(out);
	free(err);
}

Test(lockorder, inversion_is_a_potential_deadlock, .timeout = 120)
{
	char trace[256];
	struct jp_value *gt = record_full("inversion", trace, sizeof(trace));

	check_inversion(trace, gt);
}

/* Kernels without uprobe sessions (Linux 6.6-6.12) get an entry link and a return link: the
 * same graph, to the edge and the frame. */
Test(lockorder, inversion_is_found_with_an_entry_and_a_return_link, .timeout = 120)
{
	char trace[256];
	struct jp_value *gt = record_full_env("LOCKSCOPE_UPROBES=multi", "inversion", trace,
					      sizeof(trace));

	check_inversion(trace, gt);
}

Test(lockorder, a_gate_lock_suppresses_the_cycle, .timeout = 120)
{
	char trace[256];
	struct jp_value *gt = record_full("gated", trace, sizeof(trace));
	struct jp_value *rep = report_json(trace);
	const struct jp_value *edges = must_array(rep, "lock_order.edges");
	const struct jp_value *sup = must_array(rep, "lock_order.suppressed");
	double rounds = jnum(gt, "rounds", -1);

	cr_assert_eq(must_array(rep, "lock_order.cycles")->len, 0,
		     "a cycle under one gate lock is reported as a potential deadlock");
	cr_assert_eq(sup->len, 1, "%zu suppressed cycles, want 1", sup->len);
	cr_assert(is_pair(jp_path(rep, "lock_order.suppressed.0.locks"), "lock_a", "lock_b"));
	cr_assert_str_eq(jstr(rep, "lock_order.suppressed.0.guarded_by"), "gate_lock");
	/* the inversion is still in the graph, with the gate above both locks */
	check_edge(edges, "lock_a", "lock_b", jnum(gt, "tid_a_to_b", -1), "transfer_a_to_b",
		   rounds);
	check_edge(edges, "lock_b", "lock_a", jnum(gt, "tid_b_to_a", -1), "transfer_b_to_a",
		   rounds);
	cr_assert_not_null(find_edge(edges, "gate_lock", "lock_a"));
	cr_assert_not_null(find_edge(edges, "gate_lock", "lock_b"));
	cr_assert_null(find_edge(edges, "lock_a", "gate_lock"));
	cr_assert_null(find_edge(edges, "lock_b", "gate_lock"));
	cr_assert_eq(must_array(rep, "deadlocks")->len, 0);
	check_addr(rep, gt, "gate_lock");
	check_addr(rep, gt, "lock_a");
	check_addr(rep, gt, "lock_b");
	jp_free(gt);
	jp_free(rep);
}

Test(lockorder, one_order_makes_no_cycle, .timeout = 120)
{
	char trace[256];
	struct jp_value *gt = record_full("ordered", trace, sizeof(trace));
	struct jp_value *rep = report_json(trace);
	const struct jp_value *edges = must_array(rep, "lock_order.edges"), *e;
	double tids[2] = {jnum(gt, "tids.0", -1), jnum(gt, "tids.1", -1)};

	e = find_edge(edges, "lock_a", "lock_b");
	cr_assert_not_null(e, "no edge lock_a -> lock_b");
	check_tids(e, tids, 2);
	cr_assert(names_function(jp_get(e, "stack"), "transfer_a_to_b"));
	cr_assert_eq(jnum(e, "count", -1), 2 * jnum(gt, "rounds", -1));
	cr_assert_null(find_edge(edges, "lock_b", "lock_a"), "an edge nobody took");
	cr_assert_eq(must_array(rep, "lock_order.cycles")->len, 0);
	cr_assert_eq(must_array(rep, "lock_order.suppressed")->len, 0);
	cr_assert_eq(must_array(rep, "deadlocks")->len, 0);
	check_addr(rep, gt, "lock_a");
	check_addr(rep, gt, "lock_b");
	jp_free(gt);
	jp_free(rep);
}

Test(lockorder, readers_of_one_rwlock_make_no_cycle, .timeout = 120)
{
	char trace[256];
	struct jp_value *gt = record_full("rwreaders", trace, sizeof(trace));
	struct jp_value *rep = report_json(trace);
	const struct jp_value *edges = must_array(rep, "lock_order.edges");

	/* both orders were taken, but the rwlock's side was always a read: nothing can block */
	cr_assert_not_null(find_edge(edges, "table_lock", "lock_x"), "no table_lock -> lock_x");
	cr_assert_not_null(find_edge(edges, "table_lock", "lock_y"), "no table_lock -> lock_y");
	cr_assert_eq(must_array(rep, "lock_order.cycles")->len, 0,
		     "readers of one rwlock reported as a potential deadlock");
	cr_assert_eq(must_array(rep, "lock_order.suppressed")->len, 0);
	cr_assert_eq(must_array(rep, "deadlocks")->len, 0);
	check_addr(rep, gt, "table_lock");
	jp_free(gt);
	jp_free(rep);
}

/* Lines of S that contain every one of the NULL-terminated needles. */
static int lines_with(const char *s, const char *const *needles)
{
	int n = 0;

	while (s && *s) {
		const char *end = strchr(s, '\n');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		char *line = strndup(s, len);
		bool all = true;

		for (size_t i = 0; needles[i]; i++)
			all &= strstr(line, needles[i]) != NULL;
		n += all;
		free(line);
		s = end ? end + 1 : s + len;
	}
	return n;
}

Test(lockorder, graph_dot_marks_the_cycle, .timeout = 120)
{
	char trace[256], *out = NULL, *err = NULL;
	struct jp_value *gt = record_full("inversion", trace, sizeof(trace));
	const char *arrow[] = {"->", NULL}, *red[] = {"->", "red", NULL};
	const char *p;
	int rc, depth = 0;

	rc = shf(&out, &err, LOCKSCOPE " graph %s --format dot", trace);
	cr_assert_eq(rc, 0, "graph --format dot failed (%d): %s", rc, err);
	for (p = out; *p == ' ' || *p == '\n'; p++)
		;
	cr_assert(!strncmp(p, "digraph", 7), "not a DOT digraph: %.200s", out);
	for (p = out; *p; p++) {
		depth += *p == '{';
		depth -= *p == '}';
		cr_assert_geq(depth, 0, "unbalanced braces");
	}
	cr_assert_eq(depth, 0, "unbalanced braces");
	cr_assert(strstr(out, "lock_a") && strstr(out, "lock_b"), "the locks are not named: %s",
		  out);
	cr_assert_geq(lines_with(out, arrow), 2, "fewer than two edges: %s", out);
	/* both edges of the cycle, and only they, are drawn red */
	cr_assert_eq(lines_with(out, red), 2, "the cycle's two edges are not marked red: %s", out);
	jp_free(gt);
	free(out);
	free(err);
}

static const char *node_name(const struct jp_value *node)
{
	return node->type == JP_STRING ? jp_str(node) : jstr(node, "name");
}

Test(lockorder, graph_json_flags_the_cycle_edges, .timeout = 120)
{
	char trace[256], *out = NULL, *err = NULL;
	struct jp_value *gt = record_full("inversion", trace, sizeof(trace)), *g;
	const struct jp_value *nodes, *edges;
	bool has_a = false, has_b = false;
	int in_cycle = 0;
	int rc;

	rc = shf(&out, &err, LOCKSCOPE " graph %s --format json", trace);
	cr_assert_eq(rc, 0, "graph --format json failed (%d): %s", rc, err);
	g = jparse(out);
	cr_assert_not_null(g, "graph --format json is not valid JSON: %.300s", out);
	nodes = must_array(g, "nodes");
	edges = must_array(g, "edges");
	for (size_t i = 0; i < nodes->len; i++) {
		const char *n = node_name(&nodes->items[i]);

		has_a |= n && !strcmp(n, "lock_a");
		has_b |= n && !strcmp(n, "lock_b");
	}
	cr_assert(has_a && has_b, "nodes lack lock_a or lock_b");
	for (size_t i = 0; i < edges->len; i++) {
		const struct jp_value *e = &edges->items[i], *flag = jp_get(e, "in_cycle");

		cr_assert_not_null(jp_get(e, "from"), "edge %zu has no from", i);
		cr_assert_not_null(jp_get(e, "to"), "edge %zu has no to", i);
		cr_assert(flag && flag->type == JP_BOOL, "edge %zu: in_cycle is not a bool", i);
		in_cycle += flag->boolean;
	}
	cr_assert(jbool(find_edge(edges, "lock_a", "lock_b"), "in_cycle"),
		  "lock_a -> lock_b is missing or not in a cycle");
	cr_assert(jbool(find_edge(edges, "lock_b", "lock_a"), "in_cycle"),
		  "lock_b -> lock_a is missing or not in a cycle");
	cr_assert_eq(in_cycle, 2, "%d edges in a cycle, want 2", in_cycle);
	jp_free(gt);
	jp_free(g);
	free(out);
	free(err);
}
