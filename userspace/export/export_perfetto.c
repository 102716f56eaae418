/* export_perfetto.c - the trace as Perfetto's own protobuf format: a stream of TracePackets with
 * a track per thread, TrackEvent slices for waits, wakes, holds and event-loop blocks, deadlock
 * instants, flows, interned names. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "export/export.h"
#include "trace/model.h"
#include "util/pbuf.h"
#include "analysis/deadlock.h"
#include "analysis/loopblock.h"
#include "analysis/timeline.h"
#include "trace/trace.h"

/* perfetto/protos/perfetto/trace/: trace.proto, trace_packet.proto, track_event/... */
enum {
	TRACE_PACKET = 1,
	PACKET_TIMESTAMP = 8,
	PACKET_SEQUENCE_ID = 10,
	PACKET_TRACK_EVENT = 11,
	PACKET_INTERNED_DATA = 12,
	PACKET_SEQUENCE_FLAGS = 13,
	PACKET_TRACK_DESCRIPTOR = 60,
	SEQ_INCREMENTAL_STATE_CLEARED = 1,
	SEQ_NEEDS_INCREMENTAL_STATE = 2,
	TRACK_UUID = 1,
	TRACK_NAME = 2,
	TRACK_PROCESS = 3,
	TRACK_THREAD = 4,
	TRACK_PARENT = 5,
	PROCESS_PID = 1,
	PROCESS_NAME = 6,
	THREAD_PID = 1,
	THREAD_TID = 2,
	THREAD_NAME = 5,
	EVENT_CATEGORY_IIDS = 3,
	EVENT_DEBUG_ANNOTATIONS = 4,
	EVENT_TYPE = 9,
	EVENT_NAME_IID = 10,
	EVENT_TRACK_UUID = 11,
	EVENT_FLOW_IDS = 47,
	EVENT_TERMINATING_FLOW_IDS = 48,
	TYPE_SLICE_BEGIN = 1,
	TYPE_SLICE_END = 2,
	TYPE_INSTANT = 3,
	ANNOTATION_NAME_IID = 1,
	ANNOTATION_UINT = 3,
	ANNOTATION_STRING_IID = 17,
	INTERNED_CATEGORIES = 1,
	INTERNED_EVENT_NAMES = 2,
	INTERNED_ANNOTATION_NAMES = 3,
	INTERNED_ANNOTATION_STRINGS = 29,
	INTERNED_IID = 1,
	INTERNED_NAME = 2,
};

#define SEQUENCE_ID 1 /* every packet is on one sequence */
#define PROCESS_UUID 1ull				/* the trace's own process */
#define OTHER_PROCESS_UUID(pid) (2ull << 32 | (pid))	/* the others recorded with it */
#define THREAD_UUID(tid) (1ull << 32 | (tid))
#define HOLD_UUID(n) (2ull << 32 | (n))	    /* the n-th (thread, lock) pair's hold track */
#define LOOP_UUID(tid) (3ull << 32 | (tid)) /* an event loop's blocks, under its thread */

/* Interned: event names, categories, annotation names, annotation string values (a stack is
 * written once, then referred to by its id). */
enum { NAMES, CATEGORIES, ANNOTATIONS, STRINGS, NTABLES };
static const uint32_t interned_field[NTABLES] = {INTERNED_EVENT_NAMES, INTERNED_CATEGORIES,
						 INTERNED_ANNOTATION_NAMES,
						 INTERNED_ANNOTATION_STRINGS};

struct perfetto {
	const struct export_ctx *ctx;
	struct timeline *tl;
	struct pbuf packet, event, interned, entry, sub, wrap;
	struct bytemap *iids[NTABLES]; /* string -> interning id, per table */
	struct bytemap *hold_tracks;   /* (tid, lock addr) -> its hold track uuid */
	struct bytemap *stack_iids;    /* stack id -> its text's interning id */
	struct bytemap *track_ends;    /* track uuid -> where its last slice ended */
	struct loopblock *loops;       /* event-loop blocks: slices once the trace is read */
	struct bytemap *processes;     /* pid -> 1: the other processes' tracks described */
	struct deadlock *deadlocks;    /* deadlocks: instants once the trace is read */
	uint64_t niids[NTABLES];
	/* A wait is written once the walk says whether a flow ends in it. */
	bool pending;
	struct tl_wait wait;
	uint64_t wait_flow;
};

/* The interning id of S in TABLE; a new one goes into this packet's interned_data. */
static uint64_t iid(struct perfetto *x, int table, const char *s)
{
	size_t len = strlen(s);
	const uint64_t *v = bytemap__get(x->iids[table], s, len);

	if (v)
		return *v;
	if (bytemap__put(x->iids[table], s, len, ++x->niids[table])) {
		x->interned.err = -ENOMEM;
		return 0;
	}
	pbuf__reset(&x->entry);
	pbuf__uint(&x->entry, INTERNED_IID, x->niids[table]);
	pbuf__string(&x->entry, INTERNED_NAME, s);
	pbuf__message(&x->interned, interned_field[table], &x->entry);
	return x->niids[table];
}

/* Writes the packet built in x->packet, with the sequence's fields, as one Trace.packet. */
static int emit(struct perfetto *x, uint32_t flags)
{
	pbuf__uint(&x->packet, PACKET_SEQUENCE_ID, SEQUENCE_ID);
	pbuf__uint(&x->packet, PACKET_SEQUENCE_FLAGS, flags);
	if (x->interned.len)
		pbuf__message(&x->packet, PACKET_INTERNED_DATA, &x->interned);
	pbuf__reset(&x->wrap);
	pbuf__message(&x->wrap, TRACE_PACKET, &x->packet);
	pbuf__reset(&x->packet);
	pbuf__reset(&x->interned);
	if (pbuf__error(&x->wrap))
		return pbuf__error(&x->wrap);
	if (fwrite(x->wrap.data, 1, x->wrap.len, x->ctx->out) != x->wrap.len)
		return -(errno ? errno : EIO);
	return 0;
}

static void annotate_uint(struct perfetto *x, const char *name, uint64_t v)
{
	pbuf__reset(&x->sub);
	pbuf__uint(&x->sub, ANNOTATION_NAME_IID, iid(x, ANNOTATIONS, name));
	pbuf__uint(&x->sub, ANNOTATION_UINT, v);
	pbuf__message(&x->event, EVENT_DEBUG_ANNOTATIONS, &x->sub);
}

/* An annotation whose string value is interned already, as VALUE_IID. */
static void annotate_iid(struct perfetto *x, const char *name, uint64_t value_iid)
{
	uint64_t name_iid = iid(x, ANNOTATIONS, name);

	pbuf__reset(&x->sub);
	pbuf__uint(&x->sub, ANNOTATION_NAME_IID, name_iid);
	pbuf__uint(&x->sub, ANNOTATION_STRING_IID, value_iid);
	pbuf__message(&x->event, EVENT_DEBUG_ANNOTATIONS, &x->sub);
}

static void annotate_string(struct perfetto *x, const char *name, const char *s)
{
	annotate_iid(x, name, iid(x, STRINGS, s));
}

/* Starts an event of TYPE on track TRACK; the caller adds fields to x->event, then ends it. */
static void event_begin(struct perfetto *x, int type, uint64_t track, const char *name,
			const char *category)
{
	pbuf__reset(&x->event);
	pbuf__uint(&x->event, EVENT_TYPE, type);
	pbuf__uint(&x->event, EVENT_TRACK_UUID, track);
	if (name)
		pbuf__uint(&x->event, EVENT_NAME_IID, iid(x, NAMES, name));
	if (category)
		pbuf__uint(&x->event, EVENT_CATEGORY_IIDS, iid(x, CATEGORIES, category));
}

static int event_end(struct perfetto *x, uint64_t ts)
{
	pbuf__uint(&x->packet, PACKET_TIMESTAMP, ts);
	pbuf__message(&x->packet, PACKET_TRACK_EVENT, &x->event);
	return emit(x, SEQ_NEEDS_INCREMENTAL_STATE);
}

/* Slices on one track must nest; a thread's are one after another. Times from different CPUs
 * (or a crafted trace) can overlap them: a slice starts no earlier than the last on its track
 * ended, and ends no earlier than it starts. */
static void no_overlap(struct perfetto *x, uint64_t track, uint64_t *begin, uint64_t *end)
{
	const uint64_t *last = bytemap__get_u64(x->track_ends, track);

	if (last && *begin < *last)
		*begin = *last;
	if (*end < *begin)
		*end = *begin;
	if (bytemap__put_u64(x->track_ends, track, *end))
		x->interned.err = -ENOMEM;
}

/* A slice's end: on the same track, no name (the begin's closes). */
static int slice_end(struct perfetto *x, uint32_t tid, uint64_t ts)
{
	event_begin(x, TYPE_SLICE_END, THREAD_UUID(tid), NULL, NULL);
	return event_end(x, ts);
}

/* A packet that describes process PID's track UUID, named NAME (NULL: ""); SEQ its flags. */
static int process_descriptor(struct perfetto *x, uint64_t uuid, uint32_t pid, const char *name,
			      uint32_t seq)
{
	pbuf__reset(&x->sub);
	pbuf__uint(&x->sub, PROCESS_PID, pid);
	pbuf__string(&x->sub, PROCESS_NAME, name ? name : "");
	pbuf__reset(&x->event);
	pbuf__uint(&x->event, TRACK_UUID, uuid);
	pbuf__message(&x->event, TRACK_PROCESS, &x->sub);
	pbuf__message(&x->packet, PACKET_TRACK_DESCRIPTOR, &x->event);
	return emit(x, seq);
}

/* The track of process PID, other than the trace's own, described before its first thread's. */
static int other_process_track(struct perfetto *x, uint32_t pid)
{
	if (bytemap__get_u64(x->processes, pid))
		return 0;
	if (bytemap__put_u64(x->processes, pid, 1))
		return -ENOMEM;
	return process_descriptor(x, OTHER_PROCESS_UUID(pid), pid,
				  model__process_name(x->ctx->model, pid),
				  SEQ_NEEDS_INCREMENTAL_STATE);
}

static int on_thread_name(void *arg, uint32_t tid, const char *name)
{
	struct perfetto *x = arg;
	/* each process's threads under their own process (the trace's own where not known) */
	uint32_t pid = model__thread_pid(x->ctx->model, tid) ?: x->ctx->info->pid;
	int err = pid == x->ctx->info->pid ? 0 : other_process_track(x, pid);

	if (err)
		return err;
	pbuf__reset(&x->sub);
	pbuf__uint(&x->sub, THREAD_PID, pid);
	pbuf__uint(&x->sub, THREAD_TID, tid);
	pbuf__string(&x->sub, THREAD_NAME, name);
	pbuf__reset(&x->event);
	pbuf__uint(&x->event, TRACK_UUID, THREAD_UUID(tid));
	pbuf__uint(&x->event, TRACK_PARENT,
		   pid == x->ctx->info->pid ? PROCESS_UUID : OTHER_PROCESS_UUID(pid));
	pbuf__message(&x->event, TRACK_THREAD, &x->sub);
	pbuf__message(&x->packet, PACKET_TRACK_DESCRIPTOR, &x->event);
	return emit(x, SEQ_NEEDS_INCREMENTAL_STATE);
}

/* The pending wait's slice, ending the flow FLOW (0: none) in it. */
static int write_wait(struct perfetto *x)
{
	const struct tl_wait *w = &x->wait;
	static const char *const results[] = {"woken", "timeout", "changed",
					      "intr",  "error",	  "unfinished"};
	char lock[64], frame[512], *stack = NULL;
	uint64_t begin = w->begin_ts, end = w->end_ts;
	const uint64_t *known;
	const uint32_t *frames;
	uint32_t n = model__stack(x->ctx->model, w->stack_id, &frames);
	size_t len = 0;
	FILE *f;
	int err;

	x->pending = false;
	no_overlap(x, THREAD_UUID(w->tid), &begin, &end);
	event_begin(x, TYPE_SLICE_BEGIN, THREAD_UUID(w->tid),
		    model__lock_label(x->ctx->model, w->addr, w->kind, lock, sizeof(lock)),
		    ls_kind_name(w->kind));
	if (x->wait_flow)
		pbuf__fixed64(&x->event, EVENT_TERMINATING_FLOW_IDS, x->wait_flow);
	snprintf(frame, sizeof(frame), "0x%" PRIx64, w->addr);
	annotate_string(x, "addr", frame);
	if (w->owner)
		annotate_uint(x, "owner", w->owner);
	annotate_string(x, "result",
			w->result == TL_RESULT_EXITED	  ? "exited"
			: w->result < ARRAY_SIZE(results) ? results[w->result]
							  : "unknown");
	/* a stack's text is made and interned once: thousands of waits share a deep stack */
	known = n ? bytemap__get_u64(x->stack_iids, w->stack_id) : NULL;
	f = n && !known ? open_memstream(&stack, &len) : NULL;
	for (uint32_t i = 0; f && i < n; i++) {
		model__frame_format(x->ctx->model, frames[i], frame, sizeof(frame));
		fprintf(f, "%s%s", i ? "\n" : "", frame);
	}
	if (f && !fclose(f)) {
		uint64_t value_iid = iid(x, STRINGS, stack);

		annotate_iid(x, "stack", value_iid);
		if (bytemap__put_u64(x->stack_iids, w->stack_id, value_iid))
			x->interned.err = -ENOMEM;
	} else if (known) {
		annotate_iid(x, "stack", *known);
	}
	free(stack);
	err = event_end(x, begin);
	return err ?: slice_end(x, w->tid, end);
}

static int flush_wait(struct perfetto *x)
{
	return x->pending ? write_wait(x) : 0;
}

static int on_wait(void *arg, const struct tl_wait *w)
{
	struct perfetto *x = arg;
	int err = flush_wait(x);

	x->pending = true;
	x->wait = *w;
	x->wait_flow = 0;
	return err;
}

/* The flow into the wait just ended: the wake's slice started it. */
static int on_flow(void *arg, const struct tl_flow *f)
{
	struct perfetto *x = arg;

	if (x->pending && x->wait.tid == f->woken)
		x->wait_flow = f->id;
	return flush_wait(x);
}

static int on_wake(void *arg, const struct tl_wake *k)
{
	struct perfetto *x = arg;
	char lock[64], name[1024];
	uint64_t begin = k->call_ts, end = k->ts;
	int err = flush_wait(x);

	if (err)
		return err;
	snprintf(name, sizeof(name), "wake %s",
		 model__lock_label(x->ctx->model, k->addr, LS_KIND_FUTEX, lock, sizeof(lock)));
	no_overlap(x, THREAD_UUID(k->waker), &begin, &end);
	event_begin(x, TYPE_SLICE_BEGIN, THREAD_UUID(k->waker), name, "wake");
	if (k->flow_id)
		pbuf__fixed64(&x->event, EVENT_FLOW_IDS, k->flow_id);
	annotate_uint(x, "wakee", k->wakee);
	return event_end(x, begin) ?: slice_end(x, k->waker, end);
}

static int on_lost(void *arg, uint32_t tid, uint64_t ts, uint64_t count)
{
	struct perfetto *x = arg;
	char name[48];
	int err = flush_wait(x);

	if (err)
		return err;
	snprintf(name, sizeof(name), "lost %" PRIu64 " events", count);
	event_begin(x, TYPE_INSTANT, THREAD_UUID(tid), name, "lost");
	return event_end(x, ts);
}

/* The track of TID's holds of ADDR, a child of its thread's, described when first used: holds
 * of different locks need not nest, so each (thread, lock) has a track of its own. */
static int hold_track(struct perfetto *x, uint32_t tid, uint64_t addr, uint64_t *uuid)
{
	uint64_t key[2] = {tid, addr}, *v = bytemap__get(x->hold_tracks, key, sizeof(key));
	char lock[64], name[128];

	if (v) {
		*uuid = *v;
		return 0;
	}
	*uuid = HOLD_UUID(bytemap__count(x->hold_tracks) + 1);
	if (bytemap__put(x->hold_tracks, key, sizeof(key), *uuid))
		return -ENOMEM;
	snprintf(name, sizeof(name), "%s held",
		 model__lock_label(x->ctx->model, addr, MODEL_NO_KIND, lock, sizeof(lock)));
	pbuf__reset(&x->event);
	pbuf__uint(&x->event, TRACK_UUID, *uuid);
	pbuf__uint(&x->event, TRACK_PARENT, THREAD_UUID(tid));
	pbuf__string(&x->event, TRACK_NAME, name);
	pbuf__message(&x->packet, PACKET_TRACK_DESCRIPTOR, &x->event);
	return emit(x, SEQ_NEEDS_INCREMENTAL_STATE);
}

/* Full mode: a hold, a slice on its (thread, lock) track. */
static int on_hold(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts)
{
	struct perfetto *x = arg;
	char lock[64];
	uint64_t uuid;
	int err = flush_wait(x) ?: hold_track(x, tid, addr, &uuid);

	if (err)
		return err;
	no_overlap(x, uuid, &begin_ts, &end_ts);
	event_begin(x, TYPE_SLICE_BEGIN, uuid,
		    model__lock_label(x->ctx->model, addr, MODEL_NO_KIND, lock, sizeof(lock)),
		    "hold");
	err = event_end(x, begin_ts);
	if (err)
		return err;
	event_begin(x, TYPE_SLICE_END, uuid, NULL, NULL);
	return event_end(x, end_ts);
}

/* An event loop's blocks: a slice each on a track under its thread's (they enclose waits and
 * holds, which need not nest in them), cat "loop_block", the cause in the name. */
static int loop_slices(struct perfetto *x, uint64_t end_ts)
{
	int err = loopblock__finish(x->loops, end_ts);

	for (size_t i = 0; !err && i < loopblock__count(x->loops); i++) {
		const struct loop_block *b = loopblock__get(x->loops, i);
		uint64_t begin = b->start_ns, end = b->start_ns + b->duration_ns;
		char name[64];

		err = timeline__name(x->tl, b->tid);
		if (!err && !bytemap__get_u64(x->track_ends, LOOP_UUID(b->tid))) {
			pbuf__reset(&x->event);
			pbuf__uint(&x->event, TRACK_UUID, LOOP_UUID(b->tid));
			pbuf__uint(&x->event, TRACK_PARENT, THREAD_UUID(b->tid));
			pbuf__string(&x->event, TRACK_NAME, "event loop blocked");
			pbuf__message(&x->packet, PACKET_TRACK_DESCRIPTOR, &x->event);
			err = emit(x, SEQ_NEEDS_INCREMENTAL_STATE);
		}
		if (err)
			break;
		no_overlap(x, LOOP_UUID(b->tid), &begin, &end);
		snprintf(name, sizeof(name), "loop blocked (%s)", loopblock__cause_name(b->cause));
		event_begin(x, TYPE_SLICE_BEGIN, LOOP_UUID(b->tid), name, "loop_block");
		annotate_string(x, "cause", loopblock__cause_name(b->cause));
		annotate_uint(x, "on_cpu_ns", b->on_cpu_ns);
		err = event_end(x, begin);
		if (!err) {
			event_begin(x, TYPE_SLICE_END, LOOP_UUID(b->tid), NULL, NULL);
			err = event_end(x, end);
		}
	}
	return err;
}

/* A deadlock: an instant "DEADLOCK" on each of its threads when it was certain, with the lock
 * the thread waits for and those it holds. */
static int deadlock_instants(struct perfetto *x, uint64_t end_ts)
{
	int err = deadlock__check(x->deadlocks, end_ts, NULL, NULL);

	for (size_t i = 0; !err && i < deadlock__count(x->deadlocks); i++) {
		const struct deadlock_found *f = deadlock__get(x->deadlocks, i);

		for (uint32_t k = 0; !err && k < f->nthreads; k++) {
			const struct deadlock_thread *t = &f->threads[k];
			char lock[64];

			err = timeline__name(x->tl, t->tid);
			if (err)
				break;
			event_begin(x, TYPE_INSTANT, THREAD_UUID(t->tid), "DEADLOCK", "deadlock");
			annotate_string(x, "waits_for",
					model__lock_label(x->ctx->model, t->waits_for,
							  MODEL_NO_KIND, lock, sizeof(lock)));
			for (uint32_t j = 0; j < t->nholds; j++)
				annotate_string(x, "holds",
						model__lock_label(x->ctx->model, t->holds[j],
								  MODEL_NO_KIND, lock,
								  sizeof(lock)));
			err = event_end(x, f->detected_ns);
		}
	}
	return err;
}

static const struct timeline_ops perfetto_ops = {
    .thread_name = on_thread_name,
    .wait = on_wait,
    .wake = on_wake,
    .flow = on_flow,
    .lost = on_lost,
    .hold = on_hold,
};

static void perfetto_free(void *self)
{
	struct perfetto *x = self;

	if (!x)
		return;
	timeline__free(x->tl);
	loopblock__free(x->loops);
	deadlock__free(x->deadlocks);
	for (int i = 0; i < NTABLES; i++)
		bytemap__free(x->iids[i]);
	bytemap__free(x->hold_tracks);
	bytemap__free(x->stack_iids);
	bytemap__free(x->track_ends);
	bytemap__free(x->processes);
	pbuf__release(&x->packet);
	pbuf__release(&x->event);
	pbuf__release(&x->interned);
	pbuf__release(&x->entry);
	pbuf__release(&x->sub);
	pbuf__release(&x->wrap);
	free(x);
}

/* The first packet clears the sequence's interning state and describes the process. */
static int process_track(struct perfetto *x)
{
	const struct ls_trace_info *info = x->ctx->info;

	return process_descriptor(x, PROCESS_UUID, info->pid, info->comm,
				  SEQ_INCREMENTAL_STATE_CLEARED);
}

static void *perfetto_new(const struct export_ctx *ctx)
{
	struct perfetto *x = calloc(1, sizeof(*x));
	int err = -ENOMEM;

	if (!x)
		return NULL;
	x->ctx = ctx;
	x->tl = timeline__new(ctx->model, ctx->info->pid, &perfetto_ops, x);
	x->hold_tracks = bytemap__new();
	x->stack_iids = bytemap__new();
	x->track_ends = bytemap__new();
	x->processes = bytemap__new();
	x->loops = loopblock__new();
	x->deadlocks = deadlock__new(DEADLOCK_CONFIRM_NS);
	err = x->tl && x->hold_tracks && x->stack_iids && x->track_ends && x->processes &&
		      x->loops && x->deadlocks
		  ? 0
		  : -ENOMEM;
	for (int i = 0; i < NTABLES; i++)
		if (!(x->iids[i] = bytemap__new()))
			err = -ENOMEM;
	if (!err)
		err = process_track(x);
	if (err) {
		perfetto_free(x);
		errno = -err;
		return NULL;
	}
	return x;
}

static int perfetto_feed(void *self, const struct ls_rec *rec)
{
	struct perfetto *x = self;

	return timeline__feed(x->tl, rec) ?: loopblock__feed(x->loops, rec) ?:
	       deadlock__feed(x->deadlocks, rec);
}

static int perfetto_finish(void *self, uint64_t end_ts, bool complete, const char *cut)
{
	struct perfetto *x = self;

	(void)complete;
	(void)cut; /* the note on stderr says it */
	return timeline__finish(x->tl, end_ts) ?: flush_wait(x) ?: loop_slices(x, end_ts) ?:
	       deadlock_instants(x, end_ts) ?: (fflush(x->ctx->out) ? -errno : 0);
}

const struct export_format export_perfetto_format = {
    .name = "perfetto",
    .suffix = ".pftrace",
    .new = perfetto_new,
    .feed = perfetto_feed,
    .finish = perfetto_finish,
    .free = perfetto_free,
};
