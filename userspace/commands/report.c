/* report.c - one pass over the trace: the model and every analysis see each record in order,
 * then each analysis writes its part. Adding an analysis is adding a row to `analyses`. */
#include "commands/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "analysis/deadlock.h"
#include "analysis/holds.h"
#include "analysis/lockorder.h"
#include "analysis/hotspots.h"
#include "util/json.h"
#include "analysis/loopblock.h"
#include "trace/model.h"
#include "trace/trace.h"

#define TEXT_WIDTH 100 /* lists wrap before this column */
#define TEXT_TOP 10    /* locks listed in text when --top is not given */
#define TEXT_THREADS 4 /* waiters and owners named per lock; the rest are summed up */
#define TEXT_STACKS 3  /* stacks shown per lock */
#define TEXT_FRAMES 16 /* frames shown per stack */
#define JSON_PRETTY 4  /* nesting levels with a line per member; deeper ones stay inline */

/* What every analysis may read once the whole trace has been read. */
struct report_ctx {
	const char *path;
	const struct report_opts *opts;
	const struct ls_trace_info *info;
	struct model *model;
	uint64_t records;     /* records read */
	uint64_t events;      /* END's count of kernel events, else the event records read */
	uint64_t lost;	      /* END's count of lost events, or the LOST records' sum if larger */
	uint64_t duration_ns; /* END's duration, else the last timestamp */
	uint64_t last_ts;
	uint64_t events_seen, lost_seen; /* event records and LOST counts, as read */
	uint64_t end_ts;   /* where waits still open are closed: the later of the two */
	uint64_t unpaired; /* wait records without their other half */
	bool have_end;
	bool complete;	 /* END read, and nothing wrong after it */
	const char *cut; /* why reading stopped early, or NULL */
	size_t nprocs;	 /* processes the threads belong to: several, and lists group by them */
	uint32_t *tids;	 /* every thread a record names or mentions, once */
	size_t ntids, tids_cap;
	struct bytemap *tid_set; /* tid -> 1, for the above */
	uint32_t noted[64];	 /* by tid % 64: tids in the set, so that the few threads of
				  * most records need no lookup */
	struct holds *holds;	 /* full mode: acquisitions, hold times, coverage */
	struct {
		char name[80];
		uint64_t value;
	} counters[32];		/* loss counters: the last COUNTER record of each name */
	size_t ncounters;
	bool exited;		 /* the target ended while recorded (a PROC_EXIT record) */
	int32_t exit_code;	 /* its status as a shell shows it (128+N: signal N); -1 unknown */
	bool leader_exited;	 /* the main thread's THREAD_EXIT was read ... */
	int32_t leader_code;	 /* ... with the kernel's exit code (wait status layout) */
};

/* An analysis: fed every record in order, finished once, then asked for its part of the output.
 * NULL hooks are skipped; an analysis without state has no new/free. */
struct analysis {
	void *(*new)(void);
	void (*free)(void *self);
	int (*feed)(void *self, const struct model *m, const struct ls_rec *rec);
	int (*finish)(void *self, struct report_ctx *ctx);
	/* writes its members of the top-level object, in the contract's order */
	void (*emit_json)(void *self, const struct report_ctx *ctx, struct json_writer *w);
	void (*emit_text)(void *self, const struct report_ctx *ctx, FILE *out);
};

static uint32_t *trace_pids(const struct report_ctx *ctx, size_t *n);

/* ---- helpers for both outputs ---- */

/* Hold figures exist where full mode traced lock/unlock calls; the GIL is taken by no such
 * call, so its holds stay unknown whatever the mode. */
/* Hold figures exist for a lock that the probes saw taken. One never seen taken while they were
 * in (a futex-only lock such as InnoDB's, a static binary's inlined lock calls) is not traced:
 * its figures are unknown, not zero. */
static bool holds_known(const struct report_ctx *ctx, const struct hs_lock *l)
{
	return holds__traced(ctx->holds) && l->kind != LS_KIND_GIL &&
	       holds__get(ctx->holds, l->addr).acquisitions;
}

static void json_str(struct json_writer *w, const char *key, const char *s)
{
	json_writer__key(w, key);
	json_writer__string(w, s ? s : "");
}

/* Nanoseconds for people: "850 ns", "12.35 us", "3.20 ms", "2.001 s". */
static const char *human_ns(uint64_t ns, char *buf, size_t len)
{
	return ls_human_ns(ns, buf, len);
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * part / whole : 0;
}

/* ---- hotspots: locks and other_waits ---- */

static void *hs_new(void)
{
	return hotspots__new();
}

static void hs_free(void *self)
{
	hotspots__free(self);
}

static int hs_feed(void *self, const struct model *m, const struct ls_rec *rec)
{
	return hotspots__feed(self, m, rec);
}

static int hs_finish(void *self, struct report_ctx *ctx)
{
	ctx->unpaired += hotspots__unpaired(self);
	return hotspots__finish(self, ctx->end_ts);
}

static void hs_json_waiters(const struct hs_lock *l, struct json_writer *w)
{
	json_writer__key(w, "waiters");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < l->nwaiters; i++) {
		json_writer__object_begin(w);
		json_writer__key_u64(w, "tid", l->waiters[i].tid);
		json_writer__key_u64(w, "wait_ns", l->waiters[i].wait_ns);
		json_writer__key_u64(w, "count", l->waiters[i].count);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

static void hs_json_owners(const struct hs_lock *l, struct json_writer *w)
{
	json_writer__key(w, "owners");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < l->nowners; i++) {
		json_writer__object_begin(w);
		json_writer__key_u64(w, "tid", l->owners[i].tid);
		json_writer__key_u64(w, "count", l->owners[i].count);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

static void hs_json_stacks(const struct report_ctx *ctx, const struct hs_lock *l,
			   struct json_writer *w)
{
	json_writer__key(w, "stacks");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < l->nstacks; i++) {
		json_writer__object_begin(w);
		json_writer__key(w, "frames");
		model__stack_json(ctx->model, l->stacks[i].id, w);
		json_writer__key_u64(w, "wait_ns", l->stacks[i].wait_ns);
		json_writer__key_u64(w, "count", l->stacks[i].count);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

/* The contract's fields, then ours: max_wait_ns for other waits, unfinished (waits still open
 * at the end: a hang or deadlock shows here), owners (who held the lock, as its word said). */
static void hs_json_lock(const struct report_ctx *ctx, const struct hs_lock *l,
			 struct json_writer *w)
{
	char buf[64];

	json_writer__object_begin(w);
	json_writer__key(w, "addr");
	json_writer__stringf(w, "0x%" PRIx64, l->addr);
	json_str(w, "name", model__lock_label(ctx->model, l->addr, l->kind, buf, sizeof(buf)));
	json_str(w, "kind", ls_kind_name(l->kind));
	if (!l->other) {
		json_writer__key_u64(w, "contentions", l->count);
		json_writer__key_u64(w, "wait_ns", l->wait_ns);
		json_writer__key_u64(w, "max_wait_ns", l->max_wait_ns);
		/* these come from lock/unlock probes: unknown where full mode never ran */
		if (holds_known(ctx, l)) {
			struct hold_stats hs = holds__get(ctx->holds, l->addr);

			json_writer__key_u64(w, "acquisitions", hs.acquisitions);
			if (l->kind == LS_KIND_SEM) {	/* taken, never held by one thread */
				json_writer__key(w, "hold_ns");
				json_writer__null(w);
				json_writer__key(w, "max_hold_ns");
				json_writer__null(w);
			} else {
				json_writer__key_u64(w, "hold_ns", hs.hold_ns);
				json_writer__key_u64(w, "max_hold_ns", hs.max_hold_ns);
			}
		} else {
			json_writer__key(w, "acquisitions");
			json_writer__null(w);
			json_writer__key(w, "hold_ns");
			json_writer__null(w);
			json_writer__key(w, "max_hold_ns");
			json_writer__null(w);
		}
	} else {
		json_writer__key_u64(w, "wait_ns", l->wait_ns);
		json_writer__key_u64(w, "count", l->count);
		json_writer__key_u64(w, "max_wait_ns", l->max_wait_ns);
	}
	json_writer__key_u64(w, "unfinished", l->unfinished);
	hs_json_waiters(l, w);
	if (!l->other)
		hs_json_owners(l, w);
	hs_json_stacks(ctx, l, w);
	json_writer__object_end(w);
}

static void hs_emit_json(void *self, const struct report_ctx *ctx, struct json_writer *w)
{
	size_t n = hotspots__count(self, HS_LOCKS);

	if (ctx->opts->top > 0 && (size_t)ctx->opts->top < n)
		n = ctx->opts->top;
	json_writer__key(w, "locks");
	json_writer__array_begin(w);
	for (size_t i = 0; i < n; i++)
		hs_json_lock(ctx, hotspots__get(self, HS_LOCKS, i), w);
	json_writer__array_end(w);
	json_writer__key(w, "other_waits");
	json_writer__array_begin(w);
	for (size_t i = 0; i < hotspots__count(self, HS_OTHER); i++)
		hs_json_lock(ctx, hotspots__get(self, HS_OTHER, i), w);
	json_writer__array_end(w);
}

/* A labelled list of items that wraps under its first item before TEXT_WIDTH columns. */
struct text_list {
	FILE *out;
	int col, n;
};

static void list_begin(struct text_list *tl, FILE *out, const char *label)
{
	tl->out = out;
	tl->n = 0;
	tl->col = fprintf(out, "%8s%-9s ", "", label);
}

/* One item, after SEP (',' or ';') and a space unless it is the first. */
static void list_vitem(struct text_list *tl, char sep, const char *fmt, va_list ap)
{
	char item[160];
	int len;

	len = vsnprintf(item, sizeof(item), fmt, ap);
	if (len < 0)
		return;
	if (tl->n && tl->col + 2 + len > TEXT_WIDTH) {
		tl->col = fprintf(tl->out, "%c\n%18s", sep, "") - 2;
	} else if (tl->n) {
		fprintf(tl->out, "%c ", sep);
		tl->col += 2;
	}
	fputs(item, tl->out);
	tl->col += len;
	tl->n++;
}

__attribute__((format(printf, 2, 3))) static void list_item(struct text_list *tl, const char *fmt,
							    ...)
{
	va_list ap;

	va_start(ap, fmt);
	list_vitem(tl, ',', fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void list_item_sep(struct text_list *tl, char sep,
								const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	list_vitem(tl, sep, fmt, ap);
	va_end(ap);
}

/* A thread as a list of its process names it: its name alone for the process's main thread (its
 * tid is the process's pid, already said), else "name (tid)"; the bare tid where unnamed. */
static const char *thread_in_process(const struct model *m, uint32_t tid, uint32_t pid, char *buf,
				     size_t len)
{
	const char *name = model__thread_name(m, tid);

	if (tid != pid || !name || !name[0])
		return model__thread_label(m, tid, true, buf, len);
	snprintf(buf, len, "%s", name);
	return ls_scrub(buf);
}

/* Threads TIDS[0..N), each with its figure FIGS[i] (" 65.0%", " x3"), in that order; in a trace
 * of several processes grouped under theirs, in the order each first appears:
 * "python3 4240: MainThread 65.0%, worker (4243) 5.0%; python3 4250: MainThread 30.0%". */
static void list_threads(const struct report_ctx *ctx, struct text_list *tl, const uint32_t *tids,
			 char (*figs)[24], size_t n)
{
	const struct model *m = ctx->model;
	bool done[TEXT_THREADS] = {false};
	char label[96], proc[96];

	for (size_t i = 0; i < n && i < TEXT_THREADS; i++) {
		uint32_t pid = ctx->nprocs > 1 ? model__thread_pid(m, tids[i]) : 0;

		if (done[i])
			continue;
		if (!pid) { /* one process, or a thread whose process is not known */
			list_item_sep(tl, ctx->nprocs > 1 ? ';' : ',', "%s%s",
				      model__thread_label(m, tids[i], true, label, sizeof(label)),
				      figs[i]);
			continue;
		}
		model__process_label(m, pid, proc, sizeof(proc));
		for (size_t j = i; j < n && j < TEXT_THREADS; j++) {
			if (done[j] || model__thread_pid(m, tids[j]) != pid)
				continue;
			thread_in_process(m, tids[j], pid, label, sizeof(label));
			if (j == i)
				list_item_sep(tl, ';', "%s: %s%s", proc, label, figs[j]);
			else
				list_item(tl, "%s%s", label, figs[j]);
			done[j] = true;
		}
	}
}

/* Each waiter's share: of the time, or of the waits where nothing slept (all -EAGAIN). */
static void hs_text_waiters(const struct report_ctx *ctx, const struct hs_lock *l, FILE *out)
{
	uint64_t rest_ns = l->wait_ns, rest_count = l->count;
	uint32_t tids[TEXT_THREADS], i;
	char figs[TEXT_THREADS][24];
	struct text_list tl;

	list_begin(&tl, out, "waiters");
	for (i = 0; i < l->nwaiters && i < TEXT_THREADS; i++) {
		const struct hs_waiter *w = &l->waiters[i];

		tids[i] = w->tid;
		snprintf(figs[i], sizeof(figs[i]), " %.1f%%",
			 l->wait_ns ? share(w->wait_ns, l->wait_ns) : share(w->count, l->count));
		rest_ns -= w->wait_ns;
		rest_count -= w->count;
	}
	list_threads(ctx, &tl, tids, figs, i);
	if (i < l->nwaiters)
		list_item_sep(
		    &tl, ctx->nprocs > 1 ? ';' : ',', "%" PRIu32 " more %.1f%%", l->nwaiters - i,
		    l->wait_ns ? share(rest_ns, l->wait_ns) : share(rest_count, l->count));
	fputc('\n', out);
}

/* The owners the lock word named when waits began: who kept the others waiting. */
static void hs_text_owners(const struct report_ctx *ctx, const struct hs_lock *l, FILE *out)
{
	uint32_t tids[TEXT_THREADS], i;
	char figs[TEXT_THREADS][24];
	struct text_list tl;

	if (!l->nowners)
		return;
	list_begin(&tl, out, "held by");
	for (i = 0; i < l->nowners && i < TEXT_THREADS; i++) {
		tids[i] = l->owners[i].tid;
		snprintf(figs[i], sizeof(figs[i]), " x%" PRIu64, l->owners[i].count);
	}
	list_threads(ctx, &tl, tids, figs, i);
	if (i < l->nowners)
		list_item_sep(&tl, ctx->nprocs > 1 ? ';' : ',', "%" PRIu32 " more", l->nowners - i);
	fputc('\n', out);
}

static void hs_text_stack(const struct report_ctx *ctx, const struct hs_lock *l,
			  const struct hs_stack *s, int rank, FILE *out)
{
	fprintf(out, "        stack %-3d %.1f%% of the wait, %" PRIu64 " %s\n", rank,
		l->wait_ns ? share(s->wait_ns, l->wait_ns) : share(s->count, l->count), s->count,
		s->count == 1 ? "wait" : "waits");
	model__stack_text(ctx->model, s->id, "                    ", TEXT_FRAMES, out);
}

/* One row: count, total, average and longest wait, kind, name; then, if DETAIL, who waited,
 * who held it, and from where. */
static void hs_text_lock(const struct report_ctx *ctx, const struct hs_lock *l, bool detail,
			 FILE *out)
{
	char total[24], avg[24], max[24], addr[24], fallback[64], n[640];

	snprintf(n, sizeof(n), "%s",
		 model__lock_label(ctx->model, l->addr, l->kind, fallback, sizeof(fallback)));
	ls_scrub(n);
	snprintf(addr, sizeof(addr), "0x%" PRIx64, l->addr);
	fprintf(out, "%12" PRIu64 " %12s %12s %12s  %-6s  %s", l->count,
		human_ns(l->wait_ns, total, sizeof(total)),
		human_ns(l->count ? l->wait_ns / l->count : 0, avg, sizeof(avg)),
		human_ns(l->max_wait_ns, max, sizeof(max)), ls_kind_name(l->kind), n);
	/* symbol names do not say where the lock is; descriptions of heap locks already do */
	fprintf(out, strstr(n, addr) ? "\n" : "  [%s]\n", addr);
	if (l->unfinished)
		fprintf(out,
			"        open      %" PRIu64 " %s still waiting when the trace ended\n",
			l->unfinished, l->unfinished == 1 ? "thread was" : "threads were");
	if (!detail)
		return;
	if (holds_known(ctx, l) && l->kind == LS_KIND_SEM) {
		fprintf(out, "        taken     %" PRIu64 " times (in the %.0f%% of the time traced); "
			"held: not traced (a semaphore has no owner)\n",
			holds__get(ctx->holds, l->addr).acquisitions,
			100 * holds__coverage(ctx->holds, ctx->end_ts));
	} else if (holds_known(ctx, l)) {
		struct hold_stats hs = holds__get(ctx->holds, l->addr);
		char tot[24], avg[24], max[24];

		fprintf(out, "        held      %" PRIu64 " times, %s in all, %s on average, %s at most"
			" (in the %.0f%% of the time traced)\n", hs.acquisitions,
			human_ns(hs.hold_ns, tot, sizeof(tot)),
			human_ns(hs.acquisitions ? hs.hold_ns / hs.acquisitions : 0, avg, sizeof(avg)),
			human_ns(hs.max_hold_ns, max, sizeof(max)),
			100 * holds__coverage(ctx->holds, ctx->end_ts));
		if (hs.open)
			fprintf(out, "                  %" PRIu64 " still held when the trace ended "
				"(counted up to it)\n", hs.open);
		if (hs.cut)
			fprintf(out, "                  %" PRIu64 " still held when full mode "
				"switched off (counted up to then)\n", hs.cut);
	} else if (holds__traced(ctx->holds) && l->kind != LS_KIND_GIL) {
		fprintf(out, "        held      not traced: never seen taken in the %.0f%% of the time "
			"traced (lock calls the probes do not see: futex-only, inlined)\n",
			100 * holds__coverage(ctx->holds, ctx->end_ts));
	}
	hs_text_waiters(ctx, l, out);
	hs_text_owners(ctx, l, out);
	for (uint32_t i = 0; i < l->nstacks && i < TEXT_STACKS; i++)
		hs_text_stack(ctx, l, &l->stacks[i], i + 1, out);
	fputc('\n', out);
}

static void hs_text_header(const char *count, FILE *out)
{
	fprintf(out, "%12s %12s %12s %12s  %-6s  %s\n", count, "total wait", "avg wait", "max wait",
		"kind", "name");
}

static void hs_emit_text(void *self, const struct report_ctx *ctx, FILE *out)
{
	size_t nlocks = hotspots__count(self, HS_LOCKS), nother = hotspots__count(self, HS_OTHER);
	size_t top = ctx->opts->top > 0 ? (size_t)ctx->opts->top : TEXT_TOP;

	if (!nlocks) {
		fputs("No contended locks.\n\n", out);
	} else {
		fprintf(out, "Contended locks by total wait (%zu of %zu)\n\n",
			nlocks < top ? nlocks : top, nlocks);
		hs_text_header("contentions", out);
		for (size_t i = 0; i < nlocks && i < top; i++)
			hs_text_lock(ctx, hotspots__get(self, HS_LOCKS, i), true, out);
	}
	if (!nother)
		return;
	fprintf(out, "Other waits: joins, condition waits and signals, not contention (%zu of %zu)\n\n",
		nother < top ? nother : top, nother);
	hs_text_header("waits", out);
	for (size_t i = 0; i < nother && i < top; i++)
		hs_text_lock(ctx, hotspots__get(self, HS_OTHER, i), false, out);
	fputc('\n', out);
}

/* ---- analyses still to come: their keys stay in the document, empty ---- */

/* ---- lock order and deadlocks: the same modules `record` and `graph` use ---- */

static void *lo_new(void)
{
	return lockorder__new();
}

static void lo_free(void *self)
{
	lockorder__free(self);
}

static int lo_feed(void *self, const struct model *m, const struct ls_rec *rec)
{
	(void)m;
	return lockorder__feed(self, rec);
}

static int lo_finish(void *self, struct report_ctx *ctx)
{
	(void)ctx;
	return lockorder__finish(self);
}

static void lo_emit_json(void *self, const struct report_ctx *ctx, struct json_writer *w)
{
	json_writer__key(w, "lock_order");
	lockorder__json(self, ctx->model, w);
}

static void lo_emit_text(void *self, const struct report_ctx *ctx, FILE *out)
{
	lockorder__text(self, ctx->model, out);
}

static void *dl_new(void)
{
	return deadlock__new(DEADLOCK_CONFIRM_NS);
}

static void dl_free(void *self)
{
	deadlock__free(self);
}

static int dl_feed(void *self, const struct model *m, const struct ls_rec *rec)
{
	(void)m;
	return deadlock__feed(self, rec);
}

static int dl_finish(void *self, struct report_ctx *ctx)
{
	return deadlock__check(self, ctx->end_ts, NULL, NULL);
}

static void dl_emit_json(void *self, const struct report_ctx *ctx, struct json_writer *w)
{
	json_writer__key(w, "deadlocks");
	deadlock__json(self, ctx->model, w);
}

static void dl_emit_text(void *self, const struct report_ctx *ctx, FILE *out)
{
	deadlock__text(self, ctx->model, out);
}

static void *lb_new(void)
{
	return loopblock__new();
}

static void lb_free(void *self)
{
	loopblock__free(self);
}

static int lb_feed(void *self, const struct model *m, const struct ls_rec *rec)
{
	(void)m;
	return loopblock__feed(self, rec);
}

static int lb_finish(void *self, struct report_ctx *ctx)
{
	return loopblock__finish(self, ctx->end_ts);
}

static void lb_emit_json(void *self, const struct report_ctx *ctx, struct json_writer *w)
{
	json_writer__key(w, "loop_blocks");
	loopblock__json(self, ctx->model, w);
}

static void lb_emit_text(void *self, const struct report_ctx *ctx, FILE *out)
{
	loopblock__text(self, ctx->model, out);
}

static const struct analysis analyses[] = {
    {hs_new, hs_free, hs_feed, hs_finish, hs_emit_json, hs_emit_text},
    {lo_new, lo_free, lo_feed, lo_finish, lo_emit_json, lo_emit_text},
    {dl_new, dl_free, dl_feed, dl_finish, dl_emit_json, dl_emit_text},
    {lb_new, lb_free, lb_feed, lb_finish, lb_emit_json, lb_emit_text},
};

/* ---- the document's own parts: target, recording, threads ---- */

static void emit_json_head(const struct report_ctx *ctx, struct json_writer *w)
{
	json_str(w, "schema", "lockscope.report/1");
	json_writer__key(w, "target");
	json_writer__object_begin(w);
	json_writer__key_u64(w, "pid", ctx->info->pid);
	json_str(w, "comm", ctx->info->comm);
	json_str(w, "cmdline", ctx->info->cmdline);
	json_writer__key_u64(w, "duration_ns", ctx->duration_ns);
	/* null: still running when recording stopped; -1: it ended, its status unknown */
	json_writer__key(w, "exit_code");
	if (ctx->exited)
		json_writer__i64(w, ctx->exit_code);
	else
		json_writer__null(w);
	json_writer__object_end(w);
	json_writer__key(w, "recording");
	json_writer__object_begin(w);
	json_str(w, "mode", ctx->info->mode);
	json_writer__key_u64(w, "events", ctx->events);
	json_writer__key_u64(w, "lost_events", ctx->lost);
	/* the share of time lock/unlock were traced */
	json_writer__key(w, "full_coverage");
	json_writer__decimal(w, (int64_t)(holds__coverage(ctx->holds, ctx->end_ts) * 1000 + 0.5), 3);
	json_writer__key(w, "complete");
	json_writer__bool(w, ctx->complete);
	/* what the unwinder and the CPython reader could not read: every loss is shown */
	json_writer__key(w, "counters");
	json_writer__object_begin(w);
	for (size_t i = 0; i < ctx->ncounters; i++)
		json_writer__key_u64(w, ctx->counters[i].name, ctx->counters[i].value);
	json_writer__object_end(w);
	json_writer__key_u64(w, "unpaired_waits", ctx->unpaired);
	json_writer__object_end(w);
}

static int cmp_u32(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return a < b ? -1 : a > b;
}

/* Every thread the trace names or mentions, by tid; "" for those it does not name. */
static void emit_json_threads(struct report_ctx *ctx, struct json_writer *w)
{
	if (ctx->ntids > 1)
		qsort(ctx->tids, ctx->ntids, sizeof(*ctx->tids), cmp_u32);
	json_writer__key(w, "threads");
	json_writer__array_begin(w);
	for (size_t i = 0; i < ctx->ntids; i++) {
		json_writer__object_begin(w);
		json_writer__key_u64(w, "tid", ctx->tids[i]);
		json_writer__key(w, "pid");
		if (model__thread_pid(ctx->model, ctx->tids[i]))
			json_writer__u64(w, model__thread_pid(ctx->model, ctx->tids[i]));
		else
			json_writer__null(w);
		json_str(w, "name", model__thread_name(ctx->model, ctx->tids[i]));
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

static void json_str_null(struct json_writer *w, const char *key, const char *s);

/* The processes of the trace's threads, the target first, in order of pid after it; *N of them
 * in a new array (the caller frees it; NULL and 0 without memory). */
static uint32_t *trace_pids(const struct report_ctx *ctx, size_t *n)
{
	uint32_t *pids = malloc((ctx->ntids + 1) * sizeof(*pids));
	size_t k = 0;

	*n = 0;
	if (!pids)
		return NULL;
	pids[k++] = ctx->info->pid;
	for (size_t i = 0; i < ctx->ntids; i++) {	/* tids are sorted: so are their pids, mostly */
		uint32_t pid = model__thread_pid(ctx->model, ctx->tids[i]);
		size_t j;

		for (j = 0; j < k && pids[j] != pid; j++)
			;
		if (pid && j == k)
			pids[k++] = pid;
	}
	if (k > 2)
		qsort(pids + 1, k - 1, sizeof(*pids), cmp_u32);
	*n = k;
	return pids;
}

/* Process PID's command: the target's as the trace's header says it, another's as its PROCESS
 * record does (the header's for the target where none did); NULL where not known. */
static void process_command(const struct report_ctx *ctx, uint32_t pid, const char **comm,
			    const char **cmdline)
{
	model__process(ctx->model, pid, comm, cmdline);
	if (pid == ctx->info->pid) {
		*comm = ctx->info->comm && ctx->info->comm[0] ? ctx->info->comm : *comm;
		*cmdline =
		    ctx->info->cmdline && ctx->info->cmdline[0] ? ctx->info->cmdline : *cmdline;
	}
}

/* Every process recorded: its command where known (null where not: a trace of an older
 * lockscope, a process gone before it could be read), and the process that started it. */
static void emit_json_processes(struct report_ctx *ctx, struct json_writer *w)
{
	size_t n;
	uint32_t *pids = trace_pids(ctx, &n);

	json_writer__key(w, "processes");
	json_writer__array_begin(w);
	for (size_t i = 0; i < n; i++) {
		uint32_t parent = model__thread_parent(ctx->model, pids[i]);
		uint32_t ppid = parent ? model__thread_pid(ctx->model, parent) : 0;
		const char *comm, *cmdline;

		process_command(ctx, pids[i], &comm, &cmdline);
		json_writer__object_begin(w);
		json_writer__key_u64(w, "pid", pids[i]);
		if (i == 0) { /* the target, as it always was: "" where the header has nothing */
			json_str(w, "comm", ctx->info->comm);
			json_str(w, "cmdline", ctx->info->cmdline);
		} else {
			json_str_null(w, "comm", comm);
			json_str_null(w, "cmdline", cmdline);
		}
		json_writer__key(w, "parent");
		if (ppid && ppid != pids[i])
			json_writer__u64(w, ppid);
		else
			json_writer__null(w);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	free(pids);
}

/* ---- the target's objects: which could name their code ---- */

/* PATH's basename, without " (deleted)", as frames name their module, in BUF. */
static const char *module_name(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	snprintf(buf, len, "%s", slash ? slash + 1 : path);
	n = strlen(buf);
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)"))
		buf[n - 10] = '\0';
	return buf;
}

static void json_str_null(struct json_writer *w, const char *key, const char *s)
{
	json_writer__key(w, key);
	if (s)
		json_writer__string(w, s);
	else
		json_writer__null(w);
}

static const char *object_symbols(const struct model_object *o)
{
	if (o->flags & LS_OBJ_SYMTAB)
		return "full";
	return o->flags & LS_OBJ_DYNSYM ? "dynamic" : "none";
}

/* Native frames that no symbol named, counted by module: where names are missing. */
static struct bytemap *unnamed_frames(const struct model *m)
{
	struct bytemap *by = bytemap__new();
	struct model_frame f;
	uint64_t *n;

	for (size_t i = 0; by && model__frame_at(m, i, &f); i++) {
		if (f.func[0] || !f.module[0] || !f.pc)
			continue;
		n = bytemap__get(by, f.module, strlen(f.module));
		if (n)
			(*n)++;
		else if (bytemap__put(by, f.module, strlen(f.module), 1))
			break;
	}
	return by;
}

static uint64_t unnamed_in(const struct bytemap *by, const char *module)
{
	const uint64_t *n = by ? bytemap__get(by, module, strlen(module)) : NULL;

	return n ? *n : 0;
}

static void emit_json_objects(const struct report_ctx *ctx, struct json_writer *w)
{
	static const char *const via[LS_VIA__COUNT] = {
	    [LS_VIA_BUILD_ID] = "build-id",
	    [LS_VIA_DEBUGLINK] = "debuglink",
	    [LS_VIA_DEBUGINFOD] = "debuginfod",
	};
	struct bytemap *by = unnamed_frames(ctx->model);
	struct model_object o;
	char name[256];

	json_writer__key(w, "objects");
	json_writer__array_begin(w);
	for (size_t i = 0; model__object_at(ctx->model, i, &o); i++) {
		json_writer__object_begin(w);
		json_str(w, "path", o.path);
		json_str_null(w, "build_id", o.build_id[0] ? o.build_id : NULL);
		json_str(w, "symbols", object_symbols(&o));
		json_writer__key(w, "lines");
		json_writer__bool(w, o.flags & LS_OBJ_LINES);
		json_str_null(w, "debug_file", o.debug_file[0] ? o.debug_file : NULL);
		json_str_null(w, "debug_via", o.via < LS_VIA__COUNT ? via[o.via] : NULL);
		json_writer__key_u64(w, "unnamed_frames",
				     unnamed_in(by, module_name(o.path, name, sizeof(name))));
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	bytemap__free(by);
}

struct unnamed_text {
	const struct report_ctx *ctx;
	FILE *out;
	int shown;
};

/* "  symbols    named by address only: app (14 frames, no symbols), ..." */
static void text_unnamed_module(const char *module, uint64_t frames, struct unnamed_text *t)
{
	struct model_object o;
	const char *why = "";
	char name[256];

	for (size_t i = 0; model__object_at(t->ctx->model, i, &o); i++) {
		if (strcmp(module_name(o.path, name, sizeof(name)), module))
			continue;
		why = !strcmp(object_symbols(&o), "none") ? ", no symbols"
		      : !strcmp(object_symbols(&o), "dynamic") ? ", exported symbols only"
							     : "";
		break;
	}
	snprintf(name, sizeof(name), "%s", module);
	fprintf(t->out, "%s%s (%" PRIu64 " frame%s%s)",
		t->shown++ ? ",\n             " : "  symbols    named by address only: ",
		ls_scrub(name), frames, frames == 1 ? "" : "s", why);
}

static void text_unnamed(const struct report_ctx *ctx, FILE *out)
{
	struct bytemap *by = unnamed_frames(ctx->model);
	struct unnamed_text t = {.ctx = ctx, .out = out};
	struct model_frame f;

	/* in the order modules first appear, each once */
	for (size_t i = 0; by && model__frame_at(ctx->model, i, &f); i++) {
		uint64_t *n = f.func[0] || !f.pc ? NULL : bytemap__get(by, f.module, strlen(f.module));

		if (!n || !*n)
			continue;
		text_unnamed_module(f.module, *n, &t);
		*n = 0;
	}
	if (t.shown)
		fputs("\n             (their debug info: a -dbgsym package, "
		      "LOCKSCOPE_DEBUGINFO_PATH or DEBUGINFOD_URLS)\n", out);
	bytemap__free(by);
}

static int emit_json(struct report_ctx *ctx, void *const *states)
{
	struct json_writer *w = json_writer__new(ctx->opts->out ?: stdout, JSON_PRETTY);
	int err;

	if (!w)
		return -errno;
	json_writer__object_begin(w);
	emit_json_head(ctx, w);
	emit_json_processes(ctx, w);
	emit_json_threads(ctx, w);
	emit_json_objects(ctx, w);
	for (size_t i = 0; i < ARRAY_SIZE(analyses); i++)
		if (analyses[i].emit_json)
			analyses[i].emit_json(states[i], ctx, w);
	json_writer__object_end(w);
	err = json_writer__finish(w);
	json_writer__free(w);
	return err;
}

#define TEXT_PROCS 8 /* processes listed, a line each */

/* "PID COMM: CMDLINE" in BUF, cut with "..." to fit TEXT_WIDTH - 13 columns (after the label):
 * the pid alone where the command is not known, no command line where CMDLINE is NULL. */
static const char *process_line(uint32_t pid, const char *comm, const char *cmdline, char *buf,
				size_t len)
{
	size_t fit = TEXT_WIDTH - 13 < len ? TEXT_WIDTH - 13 : len;
	int n = snprintf(buf, len, "%" PRIu32 "%s%s%s%s", pid, comm ? " " : "", comm ? comm : "",
			 cmdline ? ": " : "", cmdline ? cmdline : "");

	if (n >= 0 && (size_t)n >= fit && fit > 4)
		strcpy(buf + fit - 4, "...");
	return ls_scrub(buf);
}

/* The processes of a trace of several, a line each: pid, command name and, but for the target
 * whose line above has it, command line. */
static void text_processes(const struct report_ctx *ctx)
{
	size_t n;
	uint32_t *pids = trace_pids(ctx, &n);
	char line[TEXT_WIDTH];

	for (size_t i = 0; n > 1 && i < n && i < TEXT_PROCS; i++) {
		const char *comm, *cmdline;

		process_command(ctx, pids[i], &comm, &cmdline);
		printf("%s%s\n", i ? "             " : "  processes  ",
		       process_line(pids[i], comm, i ? cmdline : NULL, line, sizeof(line)));
	}
	if (n > TEXT_PROCS)
		printf("             and %zu more\n", n - TEXT_PROCS);
	free(pids);
}

static int emit_text(const struct report_ctx *ctx, void *const *states)
{
	const struct ls_trace_info *info = ctx->info;
	char dur[24], comm[64], mode[32], cmdline[1024];

	snprintf(comm, sizeof(comm), "%s", info->comm ? info->comm : "");
	snprintf(mode, sizeof(mode), "%s", info->mode ? info->mode : "");
	snprintf(cmdline, sizeof(cmdline), "%s", info->cmdline ? info->cmdline : "");
	printf("lockscope report: %s\n", ctx->path);
	printf("  target     pid %" PRIu32 " (%s)%s%s\n", info->pid, ls_scrub(comm),
	       cmdline[0] ? ": " : "", ls_scrub(cmdline));
	text_processes(ctx);
	printf("  recording  %s, %s mode, %" PRIu64 " events, %" PRIu64 " lost\n",
	       human_ns(ctx->duration_ns, dur, sizeof(dur)), ls_scrub(mode), ctx->events,
	       ctx->lost);
	for (size_t i = 0, shown = 0; i < ctx->ncounters; i++)
		if (ctx->counters[i].value)
			printf("  %-10s %s: %" PRIu64 "\n", shown++ ? "" : "losses",
			       ctx->counters[i].name, ctx->counters[i].value);
	text_unnamed(ctx, stdout);
	if (!ctx->complete)
		printf("  incomplete %s: the report covers what was read\n",
		       ctx->cut ? ctx->cut : "no end record (recording did not finish)");
	if (ctx->exited && ctx->exit_code > 128 && ctx->exit_code <= 128 + 64)
		printf("  ended      the target was killed by signal %d while recorded\n",
		       ctx->exit_code - 128);
	else if (ctx->exited && ctx->exit_code >= 0)
		printf("  ended      the target exited with status %d while recorded\n",
		       ctx->exit_code);
	else if (ctx->exited)
		printf("  ended      the target ended while recorded\n");
	if (ctx->unpaired)
		printf("  unpaired   %" PRIu64
		       " wait records without their other half, not counted\n",
		       ctx->unpaired);
	putchar('\n');
	for (size_t i = 0; i < ARRAY_SIZE(analyses); i++)
		if (analyses[i].emit_text)
			analyses[i].emit_text(states[i], ctx, stdout);
	errno = 0;
	if (fflush(stdout) || ferror(stdout))
		return errno ? -errno : -EIO;
	return 0;
}

static int note_tid(struct report_ctx *ctx, uint32_t tid)
{
	uint32_t *noted = &ctx->noted[tid % ARRAY_SIZE(ctx->noted)];

	if (!tid || *noted == tid)
		return 0;
	if (!bytemap__get_u64(ctx->tid_set, tid)) {
		if (ls_reserve(&ctx->tids, &ctx->tids_cap, ctx->ntids + 1, sizeof(*ctx->tids)) ||
		    bytemap__put_u64(ctx->tid_set, tid, 1))
			return -ENOMEM;
		ctx->tids[ctx->ntids++] = tid;
	}
	*noted = tid;
	return 0;
}

static void note_counter(struct report_ctx *ctx, const char *name, uint64_t value)
{
	size_t i;

	for (i = 0; i < ctx->ncounters && strcmp(ctx->counters[i].name, name); i++)
		;
	if (i == ARRAY_SIZE(ctx->counters))
		return;	/* more names than any recorder writes: a damaged trace */
	if (i == ctx->ncounters) {
		snprintf(ctx->counters[i].name, sizeof(ctx->counters[i].name), "%s", name);
		ls_scrub(ctx->counters[ctx->ncounters++].name);	/* it is printed as it is */
	}
	ctx->counters[i].value = value;
}

/* What the report says about the recording itself, from one record. */
static int note_record(struct report_ctx *ctx, const struct ls_rec *rec)
{
	ctx->records++;
	if (rec->ts > ctx->last_ts)
		ctx->last_ts = rec->ts;
	if (rec->type == LS_REC_THREAD_EXIT && rec->tid == ctx->info->pid) {
		ctx->leader_exited = true;
		ctx->leader_code = rec->exit.code;
	}
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		ctx->events_seen++;
		return note_tid(ctx, rec->tid) ?: note_tid(ctx, rec->wait_begin.owner);
	case LS_REC_WAKE:
		ctx->events_seen++;
		return note_tid(ctx, rec->tid) ?: note_tid(ctx, rec->wake.wakee);
	case LS_REC_WAIT_END:
	case LS_REC_THREAD:
	case LS_REC_THREAD_EXIT:
	case LS_REC_ACQUIRE:
	case LS_REC_RELEASE:
		ctx->events_seen++;
		return note_tid(ctx, rec->tid);
	case LS_REC_LOST:
		ctx->lost_seen += rec->lost.count;
		return 0;
	case LS_REC_COUNTER:
		note_counter(ctx, rec->counter.name, rec->counter.value);
		return 0;
	case LS_REC_PROC_EXIT:
		ctx->exited = true;
		ctx->exit_code = rec->exit.code;
		return 0;
	case LS_REC_END:
		ctx->have_end = true;
		ctx->duration_ns = rec->end.duration_ns;
		ctx->events = rec->end.events;
		ctx->lost = rec->end.lost;
		return 0;
	default:
		return 0;
	}
}

/* Reads the whole trace into the model and the analyses. 0 or -ENOMEM; a damaged trace is
 * not an error here: what came before the damage is kept, and ctx->cut says why. */
static int read_trace(struct report_ctx *ctx, struct trace_reader *r, void *const *states)
{
	struct ls_rec rec;
	int ret, err;

	while ((ret = trace_reader__next(r, &rec)) > 0) {
		err = note_record(ctx, &rec) ?: model__feed(ctx->model, &rec) ?:
		      holds__feed(ctx->holds, &rec);
		for (size_t i = 0; !err && i < ARRAY_SIZE(analyses); i++)
			if (analyses[i].feed)
				err = analyses[i].feed(states[i], ctx->model, &rec);
		if (err)
			return err;
	}
	if (ret < 0)
		ctx->cut = trace_reader__error(r) ? trace_reader__error(r) : strerror(-ret);
	ctx->complete = ret == 0 && trace_reader__complete(r);
	if (!ctx->have_end) {
		ctx->duration_ns = ctx->last_ts;
		ctx->events = ctx->events_seen;
	}
	if (ctx->lost_seen > ctx->lost)
		ctx->lost = ctx->lost_seen;
	/* an attached target's status is not ours to reap: its main thread's exit code says it */
	if (ctx->exited && ctx->exit_code < 0 && ctx->leader_exited)
		ctx->exit_code = ctx->leader_code & 0x7f ? 128 + (ctx->leader_code & 0x7f) :
			(ctx->leader_code >> 8) & 0xff;
	ctx->end_ts = ctx->duration_ns > ctx->last_ts ? ctx->duration_ns : ctx->last_ts;
	holds__finish(ctx->holds, ctx->end_ts);
	return 0;
}

static int finish(struct report_ctx *ctx, void *const *states)
{
	for (size_t i = 0; i < ARRAY_SIZE(analyses); i++) {
		int err = analyses[i].finish ? analyses[i].finish(states[i], ctx) : 0;

		if (err)
			return err;
	}
	return 0;
}

/* One line on stderr when the trace is cut or damaged: the report stands, but is partial. */
static void note_incomplete(const struct report_ctx *ctx)
{
	char upto[24];

	if (ctx->complete)
		return;
	human_ns(ctx->last_ts, upto, sizeof(upto));
	if (ctx->cut)
		ls_note("report", "%s: %s; reporting the %" PRIu64 " records before it (%s)",
			ctx->path, ctx->cut, ctx->records, upto);
	else
		ls_note("report",
			"%s: file is cut: no end record (recording did not finish); "
			"reporting the %" PRIu64 " records read (%s)",
			ctx->path, ctx->records, upto);
}

int report__run(const char *path, const struct report_opts *opts)
{
	struct report_ctx ctx = {.path = path, .opts = opts};
	void *states[ARRAY_SIZE(analyses)] = {NULL};
	struct trace_reader *r;
	char why[256] = "";
	int ret = LS_EXIT_SYSTEM, err = -ENOMEM;

	r = trace_reader__open(path, why, sizeof(why));
	if (!r) {
		ls_err("report", "%s: %s", path, why[0] ? why : strerror(errno));
		return errno == ENOMEM ? LS_EXIT_SYSTEM : LS_EXIT_INPUT;
	}
	ctx.info = trace_reader__info(r);
	ctx.model = model__new();
	ctx.tid_set = bytemap__new();
	ctx.holds = holds__new();
	if (!ctx.model || !ctx.tid_set || !ctx.holds)
		goto cleanup;
	for (size_t i = 0; i < ARRAY_SIZE(analyses); i++)
		if (analyses[i].new && !(states[i] = analyses[i].new()))
			goto cleanup;
	err = read_trace(&ctx, r, states) ?: finish(&ctx, states);
	if (err)
		goto cleanup;
	free(trace_pids(&ctx, &ctx.nprocs));
	note_incomplete(&ctx);
	err = opts->json ? emit_json(&ctx, states) : emit_text(&ctx, states);
	if (err) {
		ls_err("report", "%s: cannot write the report: %s", path, strerror(-err));
		err = 0;
		goto cleanup;
	}
	ret = LS_EXIT_OK;
cleanup:
	if (err)
		ls_err("report", "%s: %s", path, strerror(-err));
	for (size_t i = 0; i < ARRAY_SIZE(analyses); i++)
		if (analyses[i].free)
			analyses[i].free(states[i]);
	free(ctx.tids);
	bytemap__free(ctx.tid_set);
	holds__free(ctx.holds);
	model__free(ctx.model);
	trace_reader__free(r);
	return ret;
}
