/* graph.c - reads a trace into the model and the lock-order graph, then prints the graph: nodes
 * are the locks that take part in an order edge; edges carry counts and their cycle marks. */
#include "commands/graph.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/json.h"
#include "analysis/lockorder.h"
#include "trace/model.h"
#include "trace/trace.h"

#define JSON_PRETTY 2 /* a line per node and per edge */

enum graph_format { FORMAT_DOT, FORMAT_JSON };

struct graph_ctx {
	const char *path;
	struct model *model;
	struct lockorder *lo;
	bool *shown; /* node -> part of an edge */
	uint64_t records;
};

/* ---- reading ---- */

/* One line on stderr when the graph stands on part of the trace only. */
static void note_incomplete(const struct graph_ctx *ctx, struct trace_reader *r, int ret)
{
	if (ret < 0)
		ls_note("graph", "%s: %s; graphing the %" PRIu64 " records before it", ctx->path,
			trace_reader__error(r) ? trace_reader__error(r) : strerror(-ret),
			ctx->records);
	else if (!trace_reader__complete(r))
		ls_note("graph",
			"%s: file is cut: no end record (recording did not finish); graphing the "
			"%" PRIu64 " records read",
			ctx->path, ctx->records);
}

/* Feeds every record to the model and the graph. 0 or -ENOMEM; damage is not an error here. */
static int read_trace(struct graph_ctx *ctx, struct trace_reader *r)
{
	const struct ls_trace_info *info = trace_reader__info(r);
	struct ls_rec rec;
	int ret, err;

	while ((ret = trace_reader__next(r, &rec)) > 0) {
		ctx->records++;
		err = model__feed(ctx->model, &rec) ?: lockorder__feed(ctx->lo, &rec);
		if (err)
			return err;
	}
	note_incomplete(ctx, r, ret);
	if (!lockorder__edge_count(ctx->lo) && info->mode && !strcmp(info->mode, "contention"))
		ls_note("graph",
			"%s: recorded in contention mode, which does not trace lock order "
			"(record with --mode full)",
			ctx->path);
	return lockorder__finish(ctx->lo);
}

/* ---- shared by both formats ---- */

static const char *name_of(const struct graph_ctx *ctx, uint32_t node, char *buf, size_t len)
{
	return lockorder__node_name(ctx->lo, ctx->model, node, buf, len);
}

/* The model's kind where a LOCK record named the lock, else what its ACQUIRE said. */
static const char *kind_of(const struct graph_ctx *ctx, uint32_t node)
{
	const struct lo_node *n = lockorder__node(ctx->lo, node);
	uint8_t kind = n->kind;

	model__lock_name(ctx->model, n->addr, &kind);
	return ls_kind_name(kind < LS_KIND__COUNT ? kind : LS_KIND_FUTEX);
}

/* The interpreter's own locks (kind internal) are not the program's: drawn on a cycle that
 * has one of the program's only (lockorder__listed). */
static bool drawn(const struct graph_ctx *ctx, const struct lo_edge *e)
{
	return lockorder__listed(ctx->lo, ctx->model, e);
}

/* Only locks ordered against another are drawn: a lock always taken alone has no place here,
 * nor a CPython lock used as a signal, which no one owns (its edges are counted, "omitted"). */
static int mark_shown(struct graph_ctx *ctx)
{
	ctx->shown = calloc(lockorder__node_count(ctx->lo) + 1, sizeof(*ctx->shown));
	if (!ctx->shown)
		return -ENOMEM;
	for (size_t i = 0; i < lockorder__edge_count(ctx->lo); i++) {
		const struct lo_edge *e = lockorder__edge(ctx->lo, i);

		if (drawn(ctx, e))
			ctx->shown[e->from] = ctx->shown[e->to] = true;
	}
	return 0;
}

/* ---- dot ---- */

/* S as the inside of a dot string: quotes and backslashes escaped, control characters '?'. */
static void dot_string(const char *s, FILE *out)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fputc('\\', out);
		fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
	}
	fputc('"', out);
}

static void dot_edge(const struct lo_edge *e, FILE *out)
{
	fprintf(out, "\tn%" PRIu32 " -> n%" PRIu32 " [label=\"%" PRIu64 "%s\"", e->from, e->to,
		e->count, e->try_only ? " try" : "");
	if (e->in_cycle)
		fputs(", color=red, fontcolor=red, penwidth=2", out);
	if (e->in_suppressed)
		fputs(", style=dashed", out);
	else if (e->try_only)
		fputs(", style=dotted", out);
	fputs("];\n", out);
}

static void emit_dot(const struct graph_ctx *ctx, FILE *out)
{
	char buf[1024];

	fputs("digraph lockorder {\n\tnode [shape=box, fontname=\"monospace\"];\n", out);
	for (uint32_t i = 0; i < lockorder__node_count(ctx->lo); i++) {
		if (!ctx->shown[i])
			continue;
		fprintf(out, "\tn%" PRIu32 " [label=", i);
		dot_string(name_of(ctx, i, buf, sizeof(buf)), out);
		fputs("];\n", out);
	}
	for (size_t i = 0; i < lockorder__edge_count(ctx->lo); i++)
		if (drawn(ctx, lockorder__edge(ctx->lo, i)))
			dot_edge(lockorder__edge(ctx->lo, i), out);
	fputs("}\n", out);
}

/* ---- json ---- */

static void json_name(const struct graph_ctx *ctx, uint32_t node, struct json_writer *w)
{
	char buf[1024];

	json_writer__string(w, name_of(ctx, node, buf, sizeof(buf)));
}

static void json_nodes(const struct graph_ctx *ctx, struct json_writer *w)
{
	json_writer__key(w, "nodes");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < lockorder__node_count(ctx->lo); i++) {
		if (!ctx->shown[i])
			continue;
		json_writer__object_begin(w);
		json_writer__key(w, "id");
		json_writer__u64(w, i);
		json_writer__key(w, "name");
		json_name(ctx, i, w);
		json_writer__key(w, "kind");
		json_writer__string(w, kind_of(ctx, i));
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

/* An edge names its ends as the report does, by lock name; from_id, to_id (the nodes' ids, which
 * stay apart where two locks share a name) and try_only are ours, beyond the schema's fields. */
static void json_edge(const struct graph_ctx *ctx, const struct lo_edge *e, struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "from");
	json_name(ctx, e->from, w);
	json_writer__key(w, "to");
	json_name(ctx, e->to, w);
	json_writer__key(w, "from_id");
	json_writer__u64(w, e->from);
	json_writer__key(w, "to_id");
	json_writer__u64(w, e->to);
	json_writer__key(w, "count");
	json_writer__u64(w, e->count);
	json_writer__key(w, "tids");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < e->ntids; i++)
		json_writer__u64(w, e->tids[i]);
	json_writer__array_end(w);
	json_writer__key(w, "in_cycle");
	json_writer__bool(w, e->in_cycle);
	json_writer__key(w, "suppressed");
	json_writer__bool(w, e->in_suppressed);
	json_writer__key(w, "try_only");
	json_writer__bool(w, e->try_only);
	json_writer__key(w, "stack");
	model__stack_json(ctx->model, e->stack_id, w);
	json_writer__object_end(w);
}

static void json_cycle_locks(const struct graph_ctx *ctx, const struct lo_cycle *c,
			     struct json_writer *w)
{
	json_writer__array_begin(w);
	for (uint32_t k = 0; k < c->len; k++)
		json_name(ctx, lockorder__edge(ctx->lo, c->edges[k])->from, w);
	json_writer__array_end(w);
}

static void json_cycles(const struct graph_ctx *ctx, struct json_writer *w)
{
	json_writer__key(w, "cycles");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lockorder__cycle_count(ctx->lo, false); i++)
		if (lockorder__cycle_listed(ctx->lo, ctx->model, lockorder__cycle(ctx->lo, false, i)))
			json_cycle_locks(ctx, lockorder__cycle(ctx->lo, false, i), w);
	json_writer__array_end(w);
	json_writer__key(w, "suppressed");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lockorder__cycle_count(ctx->lo, true); i++) {
		const struct lo_cycle *c = lockorder__cycle(ctx->lo, true, i);

		if (!lockorder__cycle_listed(ctx->lo, ctx->model, c))
			continue;
		json_writer__object_begin(w);
		json_writer__key(w, "locks");
		json_cycle_locks(ctx, c, w);
		json_writer__key(w, "guarded_by");
		json_name(ctx, c->guard, w);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

static int emit_json(const struct graph_ctx *ctx, FILE *out)
{
	struct json_writer *w = json_writer__new(out, JSON_PRETTY);
	const struct lo_omitted *o = lockorder__omitted(ctx->lo);
	int err;

	if (!w)
		return -errno;
	json_writer__object_begin(w);
	json_writer__key(w, "schema");
	json_writer__string(w, "lockscope.graph/1");
	json_nodes(ctx, w);
	json_writer__key(w, "edges");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lockorder__edge_count(ctx->lo); i++)
		if (drawn(ctx, lockorder__edge(ctx->lo, i)))
			json_edge(ctx, lockorder__edge(ctx->lo, i), w);
	json_writer__array_end(w);
	json_cycles(ctx, w);
	json_writer__key(w, "omitted");
	json_writer__object_begin(w);
	json_writer__key(w, "readers_only");
	json_writer__u64(w, o->readers_only);
	json_writer__key(w, "over_cap");
	json_writer__u64(w, o->over_cap);
	json_writer__key(w, "length_limited");
	json_writer__bool(w, o->length_limited);
	json_writer__key(w, "budget_spent");
	json_writer__bool(w, o->budget_spent);
	json_writer__key(w, "signal_edges");
	json_writer__u64(w, o->signal_edges);
	json_writer__key(w, "internal_edges");
	json_writer__u64(w, lockorder__internal_edges(ctx->lo, ctx->model));
	json_writer__key(w, "internal_cycles");
	json_writer__u64(w, lockorder__internal_cycles(ctx->lo, ctx->model));
	json_writer__object_end(w);
	json_writer__object_end(w);
	err = json_writer__finish(w);
	json_writer__free(w);
	return err;
}

static int emit(const struct graph_ctx *ctx, enum graph_format format, FILE *out)
{
	int err = 0;

	if (format == FORMAT_JSON)
		err = emit_json(ctx, out);
	else
		emit_dot(ctx, out);
	errno = 0;
	if (!err && (fflush(out) || ferror(out)))
		err = errno ? -errno : -EIO;
	return err;
}

int graph__run(const char *path, const char *format)
{
	return graph__write(path, format, stdout);
}

int graph__write(const char *path, const char *format, FILE *out)
{
	struct graph_ctx ctx = {.path = path};
	enum graph_format fmt = FORMAT_DOT;
	struct trace_reader *r;
	char why[256] = "";
	int ret = LS_EXIT_SYSTEM, err = -ENOMEM;

	if (format && !strcmp(format, "json")) {
		fmt = FORMAT_JSON;
	} else if (format && strcmp(format, "dot")) {
		ls_err("graph", "unknown format '%s' (dot or json)", format);
		return LS_EXIT_INPUT;
	}
	r = trace_reader__open(path, why, sizeof(why));
	if (!r) {
		err = errno;
		ls_err("graph", "%s: %s", path, why[0] ? why : strerror(err));
		return err == ENOMEM ? LS_EXIT_SYSTEM : LS_EXIT_INPUT;
	}
	err = -ENOMEM;
	ctx.model = model__new();
	ctx.lo = lockorder__new();
	if (!ctx.model || !ctx.lo)
		goto cleanup;
	err = read_trace(&ctx, r) ?: mark_shown(&ctx);
	if (err)
		goto cleanup;
	err = emit(&ctx, fmt, out);
	if (err) {
		ls_err("graph", "%s: cannot write the graph: %s", path, strerror(-err));
		err = 0;
		goto cleanup;
	}
	ret = LS_EXIT_OK;
cleanup:
	if (err)
		ls_err("graph", "%s: %s", path, strerror(-err));
	free(ctx.shown);
	lockorder__free(ctx.lo);
	model__free(ctx.model);
	trace_reader__free(r);
	return ret;
}
