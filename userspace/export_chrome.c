/* export_chrome.c - streams trace records out as trace events: a wait becomes a slice when it
 * ends, a wake a slice on the waker and a flow into the wait it ended. State: one per thread. */
#include "export_chrome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytemap.h"
#include "common.h"
#include "json.h"
#include "model.h"
#include "trace.h"

#define JSON_PRETTY 2 /* a line per member of the document and per event */
#define FLOW_CAT "wake"
#define WAKE_NAME_MAX 1024

/* A thread's track: whether it has its name yet, and the wait it is in. */
struct track {
	uint32_t tid;
	bool named; /* a thread_name event was written */
	bool waiting;
	uint8_t kind;
	uint32_t owner, stack_id;
	uint64_t addr, begin_ts;
	/* The last wake that landed inside this wait. Its flow is written when the wait ends,
	 * so that the flow's end lies in a slice that exists. */
	bool woken;
	uint32_t waker;
	uint64_t wake_ts, wake_call_ts, wake_addr;
};

struct exporter {
	const char *path;
	const struct ls_trace_info *info;
	struct model *model;
	struct json_writer *w;
	struct track *tracks;
	size_t ntracks, tracks_cap;
	struct bytemap *by_tid; /* tid -> position in tracks */
	uint64_t next_flow_id;
	uint64_t last_ts, records;
	uint64_t lost;		/* LOST records' sum, or END's count if larger */
	uint64_t unpaired;	/* wait records without their other half */
	uint64_t flows_dropped; /* wakes whose wakee was not waiting, or was woken again */
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

/* The result of a wait its thread's exit ended: not one the kernel returned. */
#define RESULT_EXITED 0xff

static struct track *track_get(struct exporter *x, uint32_t tid)
{
	const uint64_t *pos = bytemap__get_u64(x->by_tid, tid);
	struct track *t;

	if (pos)
		return &x->tracks[*pos];
	if (ls_reserve(&x->tracks, &x->tracks_cap, x->ntracks + 1, sizeof(*x->tracks)) ||
	    bytemap__put_u64(x->by_tid, tid, x->ntracks))
		return NULL;
	t = &x->tracks[x->ntracks++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	return t;
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

/* Names T's track now if it was not named yet: every track used has a name. */
static void track_name(struct exporter *x, struct track *t)
{
	const char *name = model__thread_name(x->model, t->tid);
	char buf[32];

	if (t->named)
		return;
	if (!name || !name[0]) {
		snprintf(buf, sizeof(buf), "tid %" PRIu32, t->tid);
		name = buf;
	}
	metadata(x, "thread_name", t->tid, name);
	t->named = true;
}

/* "wake hot_lock": the name of a wake slice, and of its flow. Names longer than a recorder
 * writes are cut, the same way at both ends of a flow. */
static void wake_name(struct exporter *x, uint64_t addr, char *buf, size_t len)
{
	char fallback[64];

	snprintf(buf, len, "wake %s",
		 model__lock_label(x->model, addr, LS_KIND_FUTEX, fallback, sizeof(fallback)));
}

/* The slice of T's wait, from its begin to END_TS. */
static void wait_slice(struct exporter *x, struct track *t, uint64_t end_ts, uint8_t result)
{
	struct json_writer *w = x->w;
	char buf[64];

	track_name(x, t);
	event_begin(x, "X", model__lock_label(x->model, t->addr, t->kind, buf, sizeof(buf)),
		    ls_kind_name(t->kind), t->tid);
	json_us(w, "ts", t->begin_ts);
	json_us(w, "dur", end_ts - t->begin_ts);
	json_writer__key(w, "args");
	json_writer__object_begin(w);
	json_addr(w, "addr", t->addr);
	json_writer__key(w, "owner");
	if (t->owner)
		json_writer__u64(w, t->owner);
	else
		json_writer__null(w);
	json_writer__key(w, "result");
	json_writer__string(w, result == RESULT_EXITED ? "exited" : result_name(result));
	json_writer__key(w, "stack");
	model__stack_json(x->model, t->stack_id, w);
	json_writer__object_end(w);
	json_writer__object_end(w);
}

/* The flow of the wake that ended a wait: from the waker's wake slice, at the wake call, to
 * the woken thread's wait slice, at the wakeup. It takes a copy of the woken track's state:
 * finding the waker's track may move the tracks. */
static int wake_flow(struct exporter *x, struct track woken)
{
	struct track *waker = track_get(x, woken.waker);
	uint64_t id = ++x->next_flow_id;
	char name[WAKE_NAME_MAX];

	if (!waker)
		return -ENOMEM;
	wake_name(x, woken.wake_addr, name, sizeof(name));
	track_name(x, waker);
	event_begin(x, "s", name, FLOW_CAT, woken.waker);
	json_us(x->w, "ts", woken.wake_call_ts);
	json_writer__key(x->w, "id");
	json_writer__u64(x->w, id);
	json_writer__object_end(x->w);
	event_begin(x, "f", name, FLOW_CAT, woken.tid);
	json_writer__key(x->w, "bp");
	json_writer__string(x->w, "e");
	json_us(x->w, "ts", woken.wake_ts);
	json_writer__key(x->w, "id");
	json_writer__u64(x->w, id);
	json_writer__object_end(x->w);
	return 0;
}

/* Ends T's wait at END_TS: its slice, then the flow of the wake that ended it, if one did. */
static int wait_close(struct exporter *x, struct track *t, uint64_t end_ts, uint8_t result)
{
	struct track woken;

	if (end_ts < t->begin_ts)
		end_ts = t->begin_ts;
	wait_slice(x, t, end_ts, result);
	woken = *t;
	t->waiting = false;
	t->woken = false;
	if (!woken.woken)
		return 0;
	if (woken.wake_ts > end_ts) {
		x->flows_dropped++;
		return 0;
	}
	return wake_flow(x, woken);
}

/* ---- records ---- */

static int on_wait_begin(struct exporter *x, const struct ls_rec *rec)
{
	struct track *t = track_get(x, rec->tid);

	if (!t)
		return -ENOMEM;
	if (t->waiting) {
		/* the END of the wait before was lost: its length is unknown */
		x->unpaired++;
		x->flows_dropped += t->woken;
	}
	t->waiting = true;
	t->woken = false;
	t->kind = rec->wait_begin.kind;
	t->owner = rec->wait_begin.owner;
	t->stack_id = rec->wait_begin.stack_id;
	t->addr = rec->wait_begin.addr;
	t->begin_ts = rec->ts;
	return 0;
}

static int on_wait_end(struct exporter *x, const struct ls_rec *rec, uint8_t result)
{
	const uint64_t *pos = bytemap__get_u64(x->by_tid, rec->tid);

	if (!pos || !x->tracks[*pos].waiting) {
		x->unpaired += result != RESULT_EXITED;
		return 0;
	}
	return wait_close(x, &x->tracks[*pos], rec->ts, result);
}

/* A slice on the waker for its wake call; the flow waits for the wakee's wait to end. A wake
 * of a thread that was not waiting then has no slice to point into: it gets no flow. */
static int on_wake(struct exporter *x, const struct ls_rec *rec)
{
	uint64_t call_ts = rec->wake.call_ts <= rec->ts ? rec->wake.call_ts : rec->ts;
	struct track *waker = track_get(x, rec->tid), *wakee;
	char name[WAKE_NAME_MAX];

	if (!waker)
		return -ENOMEM;
	track_name(x, waker);
	wake_name(x, rec->wake.addr, name, sizeof(name));
	event_begin(x, "X", name, FLOW_CAT, rec->tid);
	json_us(x->w, "ts", call_ts);
	json_us(x->w, "dur", rec->ts - call_ts);
	json_writer__key(x->w, "args");
	json_writer__object_begin(x->w);
	json_addr(x->w, "addr", rec->wake.addr);
	json_writer__key(x->w, "wakee");
	json_writer__u64(x->w, rec->wake.wakee);
	json_writer__object_end(x->w);
	json_writer__object_end(x->w);

	wakee = track_get(x, rec->wake.wakee);
	if (!wakee)
		return -ENOMEM;
	if (!wakee->waiting || wakee->begin_ts > rec->ts) {
		x->flows_dropped++;
		return 0;
	}
	x->flows_dropped += wakee->woken;
	wakee->woken = true;
	wakee->waker = rec->tid;
	wakee->wake_ts = rec->ts;
	wakee->wake_call_ts = call_ts;
	wakee->wake_addr = rec->wake.addr;
	return 0;
}

/* A renamed thread gets a new thread_name event; the viewers keep the last. */
static int on_thread(struct exporter *x, const struct ls_rec *rec)
{
	struct track *t = track_get(x, rec->tid);

	if (!t)
		return -ENOMEM;
	t->named = false;
	track_name(x, t);
	return 0;
}

/* Lost events get a mark where they were noticed, on the process's main thread. */
static int on_lost(struct exporter *x, const struct ls_rec *rec)
{
	struct track *t = track_get(x, x->info->pid);
	char name[48];

	if (!t)
		return -ENOMEM;
	x->lost += rec->lost.count;
	track_name(x, t);
	snprintf(name, sizeof(name), "lost %" PRIu64 " events", rec->lost.count);
	event_begin(x, "i", name, "lost", t->tid);
	json_us(x->w, "ts", rec->ts);
	json_writer__key(x->w, "s");
	json_writer__string(x->w, "p");
	json_writer__object_end(x->w);
	return 0;
}

static int close_all(struct exporter *x, uint64_t ts, uint8_t result)
{
	for (size_t i = 0; i < x->ntracks; i++) {
		if (x->tracks[i].waiting) {
			int err = wait_close(x, &x->tracks[i], ts, result);

			if (err)
				return err;
		}
	}
	return 0;
}

static int on_record(struct exporter *x, const struct ls_rec *rec)
{
	int err = model__feed(x->model, rec);

	if (err)
		return err;
	x->records++;
	if (rec->ts > x->last_ts)
		x->last_ts = rec->ts;
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		return on_wait_begin(x, rec);
	case LS_REC_WAIT_END:
		return on_wait_end(x, rec, rec->wait_end.result);
	case LS_REC_WAKE:
		return on_wake(x, rec);
	case LS_REC_THREAD:
		return on_thread(x, rec);
	case LS_REC_THREAD_EXIT:
		return on_wait_end(x, rec, RESULT_EXITED);
	case LS_REC_PROC_EXIT:
		return close_all(x, rec->ts, RESULT_EXITED);
	case LS_REC_LOST:
		return on_lost(x, rec);
	case LS_REC_END:
		x->have_end = true;
		x->end_duration = rec->end.duration_ns;
		if (rec->end.lost > x->lost)
			x->lost = rec->end.lost;
		return 0;
	default:
		return 0;
	}
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
	json_writer__u64(w, x->unpaired);
	json_writer__key(w, "wakes_without_flow");
	json_writer__u64(w, x->flows_dropped);
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
	err = close_all(x, end_ts, LS_WAIT_UNFINISHED);
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

int export_chrome__run(const char *path, const char *out_path)
{
	struct exporter x = {.path = path};
	bool to_stdout = strcmp(out_path, "-") == 0;
	struct trace_reader *r;
	FILE *out = NULL;
	struct stat st;
	bool regular = false;
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
		ret = ls_path_status(errno);
		err = 0;
		goto cleanup;
	}
	/* only a file of our making is removed on failure: never /dev/full, a pipe, a tty */
	regular = !to_stdout && !fstat(fileno(out), &st) && S_ISREG(st.st_mode);
	x.model = model__new();
	x.by_tid = bytemap__new();
	x.w = json_writer__new(out, JSON_PRETTY);
	if (!x.model || !x.by_tid || !x.w)
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
	if (out && regular && ret != LS_EXIT_OK)
		remove(out_path);
	json_writer__free(x.w);
	bytemap__free(x.by_tid);
	free(x.tracks);
	model__free(x.model);
	trace_reader__free(r);
	return ret;
}
