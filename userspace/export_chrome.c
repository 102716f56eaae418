/* export_chrome.c - streams trace records out as trace events: a wait becomes a slice when it
 * ends, a wake a slice on the waker and a flow into the wait it ended (the walk: timeline.c). */
#include "export_chrome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "json.h"
#include "model.h"
#include "timeline.h"
#include "trace.h"

#define JSON_PRETTY 2 /* a line per member of the document and per event */
#define FLOW_CAT "wake"
#define WAKE_NAME_MAX 1024

struct exporter {
	const char *path;
	const struct ls_trace_info *info;
	struct model *model;
	struct json_writer *w;
	struct timeline *tl;
	uint64_t last_ts, records;
	uint64_t lost; /* LOST records' sum, or END's count if larger */
	bool have_end;
	uint64_t end_duration;
};

static const char *result_name(uint8_t result)
{
	static const char *const names[] = {
	    [LS_WAIT_WOKEN] = "woken",	   [LS_WAIT_TIMEOUT] = "timeout",
	    [LS_WAIT_CHANGED] = "changed", [LS_WAIT_INTR] = "intr",
	    [LS_WAIT_ERROR] = "error",	   [LS_WAIT_UNFINISHED] = "unfinished",
	};

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
	json_writer__u64(w, x->info->pid);
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
	struct exporter *x = arg;

	metadata(x, "thread_name", tid, name);
	return json_writer__error(x->w);
}

/* "wake hot_lock": the name of a wake slice, and of its flow. Names longer than a recorder
 * writes are cut, the same way at both ends of a flow. */
static void wake_name(struct exporter *x, uint64_t addr, char *buf, size_t len)
{
	char fallback[64];

	snprintf(buf, len, "wake %s",
		 model__lock_label(x->model, addr, LS_KIND_FUTEX, fallback, sizeof(fallback)));
}

/* The slice of a wait, from its begin to its end. */
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
	json_writer__string(w, t->result == TL_RESULT_EXITED ? "exited" : result_name(t->result));
	json_writer__key(w, "stack");
	model__stack_json(x->model, t->stack_id, w);
	json_writer__object_end(w);
	json_writer__object_end(w);
	return json_writer__error(w);
}

/* The flow of the wake that ended a wait: from the waker's wake slice, at the wake call, to
 * the woken thread's wait slice, at the wakeup. */
static int on_flow(void *arg, const struct tl_flow *f)
{
	struct exporter *x = arg;
	char name[WAKE_NAME_MAX];

	wake_name(x, f->addr, name, sizeof(name));
	event_begin(x, "s", name, FLOW_CAT, f->waker);
	json_us(x->w, "ts", f->call_ts);
	json_writer__key(x->w, "id");
	json_writer__u64(x->w, f->id);
	json_writer__object_end(x->w);
	event_begin(x, "f", name, FLOW_CAT, f->woken);
	json_writer__key(x->w, "bp");
	json_writer__string(x->w, "e");
	json_us(x->w, "ts", f->wake_ts);
	json_writer__key(x->w, "id");
	json_writer__u64(x->w, f->id);
	json_writer__object_end(x->w);
	return json_writer__error(x->w);
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
	return json_writer__error(x->w);
}

/* Lost events get a mark where they were noticed. */
static int on_lost(void *arg, uint32_t tid, uint64_t ts, uint64_t count)
{
	struct exporter *x = arg;
	char name[48];

	x->lost += count;
	snprintf(name, sizeof(name), "lost %" PRIu64 " events", count);
	event_begin(x, "i", name, "lost", tid);
	json_us(x->w, "ts", ts);
	json_writer__key(x->w, "s");
	json_writer__string(x->w, "p");
	json_writer__object_end(x->w);
	return json_writer__error(x->w);
}

static const struct timeline_ops chrome_ops = {
	.thread_name = on_thread_name,
	.wait = on_wait,
	.wake = on_wake,
	.flow = on_flow,
	.lost = on_lost,
};

static int on_record(struct exporter *x, const struct ls_rec *rec)
{
	int err = model__feed(x->model, rec);

	if (err)
		return err;
	x->records++;
	if (rec->ts > x->last_ts)
		x->last_ts = rec->ts;
	if (rec->type == LS_REC_END) {
		x->have_end = true;
		x->end_duration = rec->end.duration_ns;
		if (rec->end.lost > x->lost)
			x->lost = rec->end.lost;
	}
	return timeline__feed(x->tl, rec);
}

static void other_data(struct exporter *x, bool complete, const char *cut)
{
	struct json_writer *w = x->w;

	json_writer__key(w, "otherData");
	json_writer__object_begin(w);
	json_writer__key(w, "tool");
	json_writer__string(w, "lockscope");
	json_writer__key(w, "pid");
	json_writer__u64(w, x->info->pid);
	json_writer__key(w, "comm");
	json_writer__string(w, x->info->comm ? x->info->comm : "");
	json_writer__key(w, "cmdline");
	json_writer__string(w, x->info->cmdline ? x->info->cmdline : "");
	json_writer__key(w, "mode");
	json_writer__string(w, x->info->mode ? x->info->mode : "");
	json_writer__key(w, "duration_ns");
	json_writer__u64(w, x->have_end ? x->end_duration : x->last_ts);
	json_writer__key(w, "lost_events");
	json_writer__u64(w, x->lost);
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

/* Reads the trace and writes the whole document. 0, -ENOMEM, or the writer's error. */
static int convert(struct exporter *x, struct trace_reader *r)
{
	struct json_writer *w = x->w;
	const char *cut = NULL;
	struct ls_rec rec;
	uint64_t end_ts;
	bool complete;
	int ret = 0, err = 0;

	json_writer__object_begin(w);
	json_writer__key(w, "traceEvents");
	json_writer__array_begin(w);
	metadata(x, "process_name", x->info->pid, x->info->comm ? x->info->comm : "");
	while (!err && (ret = trace_reader__next(r, &rec)) > 0)
		err = on_record(x, &rec) ?: json_writer__error(w);
	if (err)
		return err;
	if (ret < 0)
		cut = trace_reader__error(r) ? trace_reader__error(r) : strerror(-ret);
	complete = ret == 0 && trace_reader__complete(r);
	/* a wait open at the end is shown to the end: a deadlocked thread's wait must show */
	end_ts = x->have_end && x->end_duration > x->last_ts ? x->end_duration : x->last_ts;
	err = timeline__finish(x->tl, end_ts);
	if (err)
		return err;
	json_writer__array_end(w);
	json_writer__key(w, "displayTimeUnit");
	json_writer__string(w, "ns");
	other_data(x, complete, cut);
	json_writer__object_end(w);
	err = json_writer__finish(w);
	if (!err && !complete) {
		char upto[32];

		snprintf(upto, sizeof(upto), "%.3f s", x->last_ts / 1e9);
		if (cut)
			ls_note("export", "%s: %s; exported the %" PRIu64 " records before it (%s)",
				x->path, cut, x->records, upto);
		else
			ls_note("export",
				"%s: file is cut: no end record (recording did not "
				"finish); exported the %" PRIu64 " records read (%s)",
				x->path, x->records, upto);
	}
	return err;
}

/* Bad paths are the user's to fix (1); the rest is the system refusing (2). */
static int open_status(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
	case ELOOP:
		return LS_EXIT_INPUT;
	default:
		return LS_EXIT_SYSTEM;
	}
}

int export_chrome__run(const char *path, const char *out_path)
{
	struct exporter x = {.path = path};
	bool to_stdout = strcmp(out_path, "-") == 0;
	struct trace_reader *r;
	FILE *out = NULL;
	char why[256] = "";
	int ret = LS_EXIT_SYSTEM, err = -ENOMEM;

	r = trace_reader__open(path, why, sizeof(why));
	if (!r) {
		ls_err("export", "%s: %s", path, why[0] ? why : strerror(errno));
		return errno == ENOMEM ? LS_EXIT_SYSTEM : LS_EXIT_INPUT;
	}
	x.info = trace_reader__info(r);
	out = to_stdout ? stdout : fopen(out_path, "w");
	if (!out) {
		ls_err("export", "%s: %s", out_path, strerror(errno));
		ret = open_status(errno);
		err = 0;
		goto cleanup;
	}
	x.model = model__new();
	x.w = json_writer__new(out, JSON_PRETTY);
	x.tl = x.model ? timeline__new(x.model, x.info->pid, &chrome_ops, &x) : NULL;
	if (!x.model || !x.w || !x.tl)
		goto cleanup;
	err = convert(&x, r);
	if (!err)
		ret = LS_EXIT_OK;
cleanup:
	if (err == -ENOMEM)
		ls_err("export", "%s: out of memory", path);
	else if (err)
		ls_err("export", "%s: cannot write: %s", to_stdout ? "stdout" : out_path,
		       strerror(-err));
	if (out && !to_stdout && fclose(out) && ret == LS_EXIT_OK) {
		ls_err("export", "%s: cannot write: %s", out_path, strerror(errno));
		ret = LS_EXIT_SYSTEM;
	}
	/* a half-written file would look like a valid export to the next tool */
	if (out && !to_stdout && ret != LS_EXIT_OK)
		remove(out_path);
	json_writer__free(x.w);
	timeline__free(x.tl);
	model__free(x.model);
	trace_reader__free(r);
	return ret;
}
