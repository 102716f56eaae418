/* export_chrome.c - streams trace records out as trace events: a wait becomes a slice when it
 * ends, a wake a slice on the waker and a flow into the wait it ended (the walk: timeline.c). */
#include "export_chrome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "export.h"
#include "json.h"
#include "loopblock.h"
#include "model.h"
#include "timeline.h"
#include "trace.h"

#define JSON_PRETTY 2 /* a line per member of the document and per event */
#define FLOW_CAT "wake"
#define WAKE_NAME_MAX 1024

struct exporter {
	const struct export_ctx *ctx;
	const struct model *model;
	struct json_writer *w;
	struct timeline *tl;
	uint64_t next_flow_id;
	struct loopblock *loops; /* event-loop blocks: slices once the whole trace is read */
};

static const char *result_name(uint8_t result)
{
	static const char *const names[] = {
	    [LS_WAIT_WOKEN] = "woken",	   [LS_WAIT_TIMEOUT] = "timeout",
	    [LS_WAIT_CHANGED] = "changed", [LS_WAIT_INTR] = "intr",
	    [LS_WAIT_ERROR] = "error",	   [LS_WAIT_UNFINISHED] = "unfinished",
	};

	if (result == TL_RESULT_EXITED)
		return "exited";
	return result < ARRAY_SIZE(names) ? names[result] : "unknown";
}

/* ---- events ---- */

/* Opens an event with the fields every phase has; the caller adds the rest and closes it. */
static void event_begin(struct exporter *x, const char *ph, const char *name, const char *cat,
			uint32_t tid)
{
	struct json_writer *w = x->w;

	json_writer__object_begin(w);
	json_writer__key(w, "ph");
	json_writer__string(w, ph);
	json_writer__key(w, "name");
	json_writer__string(w, name);
	if (cat) {
		json_writer__key(w, "cat");
		json_writer__string(w, cat);
	}
	json_writer__key(w, "pid");
	json_writer__u64(w, x->ctx->info->pid);
	json_writer__key(w, "tid");
	json_writer__u64(w, tid);
}

/* Microseconds with nanosecond precision, as the format counts time: 12345 ns is 12.345. */
static void json_us(struct json_writer *w, const char *key, uint64_t ns)
{
	json_writer__key(w, key);
	json_writer__decimal(w, (int64_t)(ns > INT64_MAX ? INT64_MAX : ns), 3);
}

static void json_addr(struct json_writer *w, const char *key, uint64_t addr)
{
	json_writer__key(w, key);
	json_writer__stringf(w, "0x%" PRIx64, addr);
}

static void metadata(struct exporter *x, const char *what, uint32_t tid, const char *name)
{
	event_begin(x, "M", what, NULL, tid);
	json_writer__key(x->w, "args");
	json_writer__object_begin(x->w);
	json_writer__key(x->w, "name");
	json_writer__string(x->w, name);
	json_writer__object_end(x->w);
	json_writer__object_end(x->w);
}

static int on_thread_name(void *arg, uint32_t tid, const char *name)
{
	metadata(arg, "thread_name", tid, name);
	return 0;
}

/* "wake hot_lock": the name of a wake slice, and of its flow. Names longer than a recorder
 * writes are cut, the same way at both ends of a flow. */
static void wake_name(struct exporter *x, uint64_t addr, char *buf, size_t len)
{
	char fallback[64];

	snprintf(buf, len, "wake %s",
		 model__lock_label(x->model, addr, LS_KIND_FUTEX, fallback, sizeof(fallback)));
}

/* The slice of a wait. */
static int on_wait(void *arg, const struct tl_wait *t)
{
	struct exporter *x = arg;
	struct json_writer *w = x->w;
	char buf[64];

	event_begin(x, "X", model__lock_label(x->model, t->addr, t->kind, buf, sizeof(buf)),
		    ls_kind_name(t->kind), t->tid);
	json_us(w, "ts", t->begin_ts);
	json_us(w, "dur", t->end_ts - t->begin_ts);
	json_writer__key(w, "args");
	json_writer__object_begin(w);
	json_addr(w, "addr", t->addr);
	json_writer__key(w, "owner");
	if (t->owner)
		json_writer__u64(w, t->owner);
	else
		json_writer__null(w);
	json_writer__key(w, "result");
	json_writer__string(w, result_name(t->result));
	json_writer__key(w, "stack");
	model__stack_json(x->model, t->stack_id, w);
	json_writer__object_end(w);
	json_writer__object_end(w);
	return 0;
}

/* The flow of the wake that ended a wait: from the waker's wake slice, at the wake call, to
 * the woken thread's wait slice, at the wakeup. Numbered in the order written. */
static int on_flow(void *arg, const struct tl_flow *f)
{
	struct exporter *x = arg;
	uint64_t id = ++x->next_flow_id;
	char name[WAKE_NAME_MAX];

	wake_name(x, f->addr, name, sizeof(name));
	event_begin(x, "s", name, FLOW_CAT, f->waker);
	json_us(x->w, "ts", f->call_ts);
	json_writer__key(x->w, "id");
	json_writer__u64(x->w, id);
	json_writer__object_end(x->w);
	event_begin(x, "f", name, FLOW_CAT, f->woken);
	json_writer__key(x->w, "bp");
	json_writer__string(x->w, "e");
	json_us(x->w, "ts", f->wake_ts);
	json_writer__key(x->w, "id");
	json_writer__u64(x->w, id);
	json_writer__object_end(x->w);
	return 0;
}

/* A slice on the waker for its wake call. */
static int on_wake(void *arg, const struct tl_wake *k)
{
	struct exporter *x = arg;
	char name[WAKE_NAME_MAX];

	wake_name(x, k->addr, name, sizeof(name));
	event_begin(x, "X", name, FLOW_CAT, k->waker);
	json_us(x->w, "ts", k->call_ts);
	json_us(x->w, "dur", k->ts - k->call_ts);
	json_writer__key(x->w, "args");
	json_writer__object_begin(x->w);
	json_addr(x->w, "addr", k->addr);
	json_writer__key(x->w, "wakee");
	json_writer__u64(x->w, k->wakee);
	json_writer__object_end(x->w);
	json_writer__object_end(x->w);
	return 0;
}

static int on_lost(void *arg, uint32_t tid, uint64_t ts, uint64_t count)
{
	struct exporter *x = arg;
	char name[48];

	snprintf(name, sizeof(name), "lost %" PRIu64 " events", count);
	event_begin(x, "i", name, "lost", tid);
	json_us(x->w, "ts", ts);
	json_writer__key(x->w, "s");
	json_writer__string(x->w, "p");
	json_writer__object_end(x->w);
	return 0;
}

/* A slice per event-loop block on its loop thread's track: cat "loop_block", the cause in its
 * name and args, with the stack taken while it lasted. */
static int loop_slices(struct exporter *x, uint64_t end_ts)
{
	struct json_writer *w = x->w;
	int err = loopblock__finish(x->loops, end_ts);
	char name[64];

	for (size_t i = 0; !err && i < loopblock__count(x->loops); i++) {
		const struct loop_block *b = loopblock__get(x->loops, i);

		err = timeline__name(x->tl, b->tid);
		if (err)
			return err;
		snprintf(name, sizeof(name), "loop blocked (%s)", loopblock__cause_name(b->cause));
		event_begin(x, "X", name, "loop_block", b->tid);
		json_us(w, "ts", b->start_ns);
		json_us(w, "dur", b->duration_ns);
		json_writer__key(w, "args");
		json_writer__object_begin(w);
		json_writer__key(w, "cause");
		json_writer__string(w, loopblock__cause_name(b->cause));
		json_writer__key(w, "on_cpu_ns");
		json_writer__u64(w, b->on_cpu_ns);
		json_writer__key(w, "open");
		json_writer__bool(w, b->open);
		json_writer__key(w, "stack");
		model__stack_json(x->model, b->stack_id, w);
		json_writer__object_end(w);
		json_writer__object_end(w);
	}
	return err;
}

static const struct timeline_ops chrome_ops = {
    .thread_name = on_thread_name,
    .wait = on_wait,
    .wake = on_wake,
    .flow = on_flow,
    .lost = on_lost,
};

static void other_data(struct exporter *x, bool complete, const char *cut)
{
	const struct export_ctx *c = x->ctx;
	struct json_writer *w = x->w;

	json_writer__key(w, "otherData");
	json_writer__object_begin(w);
	json_writer__key(w, "tool");
	json_writer__string(w, "lockscope");
	json_writer__key(w, "pid");
	json_writer__u64(w, c->info->pid);
	json_writer__key(w, "comm");
	json_writer__string(w, c->info->comm ? c->info->comm : "");
	json_writer__key(w, "cmdline");
	json_writer__string(w, c->info->cmdline ? c->info->cmdline : "");
	json_writer__key(w, "mode");
	json_writer__string(w, c->info->mode ? c->info->mode : "");
	json_writer__key(w, "duration_ns");
	json_writer__u64(w, c->have_end ? c->end_duration : c->last_ts);
	json_writer__key(w, "lost_events");
	json_writer__u64(w, c->lost);
	json_writer__key(w, "unpaired_waits");
	json_writer__u64(w, timeline__unpaired(x->tl));
	json_writer__key(w, "wakes_without_flow");
	json_writer__u64(w, timeline__flows_dropped(x->tl));
	json_writer__key(w, "complete");
	json_writer__bool(w, complete);
	if (cut) {
		json_writer__key(w, "incomplete");
		json_writer__string(w, cut);
	}
	json_writer__object_end(w);
}

static void chrome_free(void *self)
{
	struct exporter *x = self;

	if (!x)
		return;
	json_writer__free(x->w);
	timeline__free(x->tl);
	loopblock__free(x->loops);
	free(x);
}

/* Starts the document: the events array opens with the process's name. */
static void *chrome_new(const struct export_ctx *ctx)
{
	struct exporter *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->ctx = ctx;
	x->model = ctx->model;
	x->w = json_writer__new(ctx->out, JSON_PRETTY);
	x->tl = timeline__new(ctx->model, ctx->info->pid, &chrome_ops, x);
	x->loops = loopblock__new();
	if (!x->w || !x->tl || !x->loops) {
		chrome_free(x);
		errno = ENOMEM;
		return NULL;
	}
	json_writer__object_begin(x->w);
	json_writer__key(x->w, "traceEvents");
	json_writer__array_begin(x->w);
	metadata(x, "process_name", ctx->info->pid, ctx->info->comm ? ctx->info->comm : "");
	return x;
}

static int chrome_feed(void *self, const struct ls_rec *rec)
{
	struct exporter *x = self;

	return timeline__feed(x->tl, rec) ?: loopblock__feed(x->loops, rec) ?:
	       json_writer__error(x->w);
}

static int chrome_finish(void *self, uint64_t end_ts, bool complete, const char *cut)
{
	struct exporter *x = self;
	struct json_writer *w = x->w;
	int err = timeline__finish(x->tl, end_ts) ?: loop_slices(x, end_ts);

	if (err)
		return err;
	json_writer__array_end(w);
	json_writer__key(w, "displayTimeUnit");
	json_writer__string(w, "ns");
	other_data(x, complete, cut);
	json_writer__object_end(w);
	return json_writer__finish(w);
}

const struct export_format export_chrome_format = {
    .name = "chrome",
    .suffix = NULL, /* stdout, as before there were other formats */
    .new = chrome_new,
    .feed = chrome_feed,
    .finish = chrome_finish,
    .free = chrome_free,
};

int export_chrome__run(const char *path, const char *out_path)
{
	struct export_opts o = {.format = "chrome", .out = out_path};

	return export__run(path, &o);
}
