/* view_timeline.c - collects the timeline walk's waits, wakes and flows into arrays, interns
 * locks, stacks and threads into tables, and lays them out as the viewer's columnar document. */
#include "export/view_timeline.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "analysis/holds.h"
#include "util/json.h"
#include "trace/model.h"
#include "analysis/timeline.h"
#include "trace/trace.h"

#define VT_MAGIC "LSTL"
#define VT_VERSION 1
#define ROW_WAIT 0
#define ROW_WAKE 1
#define ROW_HOLD 2

struct vt_slice {
	uint64_t start, dur;
	uint32_t track, lock, stack, owner; /* stack: index into the stack table */
	uint8_t row, result;
};

struct vt_flow {
	uint64_t from_ts, to_ts;
	uint32_t from_track, to_track, lock;
};

struct vt_track {
	uint32_t tid;
	char *name;
};

struct vt_lock {
	uint64_t addr;
	uint8_t kind;
};

struct vt_lost {
	uint32_t track;
	uint64_t ts, count;
};

struct vt {
	struct model *model;
	struct vt_slice *slices;
	size_t nslices, slices_cap;
	struct vt_flow *flows;
	size_t nflows, flows_cap;
	struct vt_track *tracks;
	size_t ntracks, tracks_cap;
	struct vt_lock *locks;
	size_t nlocks, locks_cap;
	struct vt_lost *lost;
	size_t nlost, lost_cap;
	uint32_t *stacks; /* stack ids by table index; index 0 is the empty stack */
	size_t nstacks, stacks_cap;
	struct bytemap *track_of, *lock_of, *stack_of;
	uint64_t last_ts, end_duration;
	bool have_end;
};

/* ---- interning ---- */

/* The track index of TID, made on first sight. UINT32_MAX when memory ran out. */
static uint32_t track_index(struct vt *v, uint32_t tid)
{
	const uint64_t *pos = bytemap__get_u64(v->track_of, tid);

	if (pos)
		return (uint32_t)*pos;
	if (ls_reserve(&v->tracks, &v->tracks_cap, v->ntracks + 1, sizeof(*v->tracks)) ||
	    bytemap__put_u64(v->track_of, tid, v->ntracks))
		return UINT32_MAX;
	v->tracks[v->ntracks] = (struct vt_track){.tid = tid};
	return (uint32_t)v->ntracks++;
}

/* A kind seen in a wait is kept: wakes do not say what kind of lock they woke. */
static uint32_t lock_index(struct vt *v, uint64_t addr, int kind)
{
	const uint64_t *pos = bytemap__get_u64(v->lock_of, addr);

	if (pos) {
		if (kind >= 0)
			v->locks[*pos].kind = (uint8_t)kind;
		return (uint32_t)*pos;
	}
	if (ls_reserve(&v->locks, &v->locks_cap, v->nlocks + 1, sizeof(*v->locks)) ||
	    bytemap__put_u64(v->lock_of, addr, v->nlocks))
		return UINT32_MAX;
	v->locks[v->nlocks] =
	    (struct vt_lock){.addr = addr, .kind = kind >= 0 ? (uint8_t)kind : LS_KIND_FUTEX};
	return (uint32_t)v->nlocks++;
}

static uint32_t stack_index(struct vt *v, uint32_t stack_id)
{
	const uint64_t *pos;

	if (!stack_id)
		return 0;
	pos = bytemap__get_u64(v->stack_of, stack_id);
	if (pos)
		return (uint32_t)*pos;
	if (ls_reserve(&v->stacks, &v->stacks_cap, v->nstacks + 1, sizeof(*v->stacks)) ||
	    bytemap__put_u64(v->stack_of, stack_id, v->nstacks))
		return UINT32_MAX;
	v->stacks[v->nstacks] = stack_id;
	return (uint32_t)v->nstacks++;
}

static int add_slice(struct vt *v, const struct vt_slice *s)
{
	if (s->track == UINT32_MAX || s->lock == UINT32_MAX || s->stack == UINT32_MAX ||
	    ls_reserve(&v->slices, &v->slices_cap, v->nslices + 1, sizeof(*v->slices)))
		return -ENOMEM;
	v->slices[v->nslices++] = *s;
	return 0;
}

/* ---- the walk's callbacks ---- */

static int on_thread_name(void *arg, uint32_t tid, const char *name)
{
	struct vt *v = arg;
	uint32_t t = track_index(v, tid);
	char *copy = strdup(name);

	if (t == UINT32_MAX || !copy) {
		free(copy);
		return -ENOMEM;
	}
	free(v->tracks[t].name);
	v->tracks[t].name = copy;
	return 0;
}

static int on_wait(void *arg, const struct tl_wait *w)
{
	struct vt *v = arg;
	struct vt_slice s = {.start = w->begin_ts,
			     .dur = w->end_ts - w->begin_ts,
			     .track = track_index(v, w->tid),
			     .lock = lock_index(v, w->addr, w->kind),
			     .stack = stack_index(v, w->stack_id),
			     .owner = w->owner,
			     .row = ROW_WAIT,
			     .result = w->result};

	return add_slice(v, &s);
}

static int on_wake(void *arg, const struct tl_wake *k)
{
	struct vt *v = arg;
	struct vt_slice s = {.start = k->call_ts,
			     .dur = k->ts - k->call_ts,
			     .track = track_index(v, k->waker),
			     .lock = lock_index(v, k->addr, -1),
			     .row = ROW_WAKE};

	return add_slice(v, &s);
}

static int on_flow(void *arg, const struct tl_flow *f)
{
	struct vt *v = arg;
	struct vt_flow fl = {.from_ts = f->call_ts,
			     .to_ts = f->wake_ts,
			     .from_track = track_index(v, f->waker),
			     .to_track = track_index(v, f->woken),
			     .lock = lock_index(v, f->addr, -1)};

	if (fl.from_track == UINT32_MAX || fl.to_track == UINT32_MAX || fl.lock == UINT32_MAX ||
	    ls_reserve(&v->flows, &v->flows_cap, v->nflows + 1, sizeof(*v->flows)))
		return -ENOMEM;
	v->flows[v->nflows++] = fl;
	return 0;
}

static int on_lost(void *arg, uint32_t tid, uint64_t ts, uint64_t count)
{
	struct vt *v = arg;
	uint32_t t = track_index(v, tid);

	if (t == UINT32_MAX || ls_reserve(&v->lost, &v->lost_cap, v->nlost + 1, sizeof(*v->lost)))
		return -ENOMEM;
	v->lost[v->nlost++] = (struct vt_lost){.track = t, .ts = ts, .count = count};
	return 0;
}

/* Full mode's holds, as holds.c pairs them. */
static int on_hold(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts)
{
	struct vt *v = arg;
	struct vt_slice s = {.start = begin_ts,
			     .dur = end_ts > begin_ts ? end_ts - begin_ts : 0,
			     .track = track_index(v, tid),
			     .lock = lock_index(v, addr, -1),
			     .row = ROW_HOLD};

	return add_slice(v, &s);
}

static const struct timeline_ops vt_ops = {
    .thread_name = on_thread_name,
    .wait = on_wait,
    .wake = on_wake,
    .flow = on_flow,
    .lost = on_lost,
};

/* ---- layout ---- */

static int cmp_slice(const void *pa, const void *pb)
{
	const struct vt_slice *a = pa, *b = pb;

	if (a->track != b->track)
		return a->track < b->track ? -1 : 1;
	if (a->row != b->row)
		return a->row < b->row ? -1 : 1;
	return a->start < b->start ? -1 : a->start > b->start;
}

/* Runs of slices on one track and row, each sorted by start. */
static void meta_lanes(const struct vt *v, struct json_writer *w)
{
	json_writer__key(w, "lanes");
	json_writer__array_begin(w);
	for (size_t i = 0, j; i < v->nslices; i = j) {
		uint64_t max_dur = 0;

		for (j = i; j < v->nslices && v->slices[j].track == v->slices[i].track &&
			    v->slices[j].row == v->slices[i].row;
		     j++)
			if (v->slices[j].dur > max_dur)
				max_dur = v->slices[j].dur;
		json_writer__object_begin(w);
		json_writer__key_u64(w, "track", v->slices[i].track);
		json_writer__key_u64(w, "row", v->slices[i].row);
		json_writer__key_u64(w, "first", i);
		json_writer__key_u64(w, "count", j - i);
		json_writer__key_u64(w, "max_dur_ns", max_dur);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

static void meta_tables(const struct vt *v, struct json_writer *w)
{
	char buf[64];

	json_writer__key(w, "tracks");
	json_writer__array_begin(w);
	for (size_t i = 0; i < v->ntracks; i++) {
		/* a thread with holds only was never named by the walk */
		const char *name =
		    v->tracks[i].name ?: model__thread_name(v->model, v->tracks[i].tid);

		json_writer__object_begin(w);
		json_writer__key_u64(w, "tid", v->tracks[i].tid);
		json_writer__key(w, "name");
		json_writer__string(w, name ? name : "");
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	json_writer__key(w, "locks");
	json_writer__array_begin(w);
	for (size_t i = 0; i < v->nlocks; i++) {
		uint8_t kind = v->locks[i].kind, named = LS_KIND_FUTEX;

		/* holds and wakes do not say the kind: the lock's record does, and says which
		 * locks are the interpreter's own (the viewer folds those) */
		if (model__lock_name(v->model, v->locks[i].addr, &named) &&
		    (named == LS_KIND_INTERNAL || kind == LS_KIND_FUTEX))
			kind = named;
		json_writer__object_begin(w);
		json_writer__key(w, "addr");
		json_writer__stringf(w, "0x%llx", (unsigned long long)v->locks[i].addr);
		json_writer__key(w, "name");
		json_writer__string(
		    w, model__lock_label(v->model, v->locks[i].addr, kind, buf, sizeof(buf)));
		json_writer__key(w, "kind");
		json_writer__string(w, ls_kind_name(kind));
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	json_writer__key(w, "stacks");
	json_writer__array_begin(w);
	for (size_t i = 0; i < v->nstacks; i++)
		model__stack_json(v->model, v->stacks[i], w);
	json_writer__array_end(w);
}

static void meta_lost(const struct vt *v, struct json_writer *w)
{
	json_writer__key(w, "lost");
	json_writer__array_begin(w);
	for (size_t i = 0; i < v->nlost; i++) {
		json_writer__object_begin(w);
		json_writer__key_u64(w, "track", v->lost[i].track);
		json_writer__key_u64(w, "ts_ns", v->lost[i].ts);
		json_writer__key_u64(w, "count", v->lost[i].count);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

/* The meta JSON, padded with spaces to a multiple of 8 bytes. */
static int write_meta(const struct vt *v, const struct timeline *tl,
		      const struct ls_trace_info *info, const char *cut, bool complete, FILE *f)
{
	struct json_writer *w = json_writer__new(f, 0);
	int err;

	if (!w)
		return -errno;
	json_writer__object_begin(w);
	json_writer__key(w, "schema");
	json_writer__string(w, "lockscope.timeline/1");
	json_writer__key_u64(w, "pid", info->pid);
	json_writer__key(w, "comm");
	json_writer__string(w, info->comm ? info->comm : "");
	json_writer__key_u64(w, "duration_ns",
			v->have_end && v->end_duration > v->last_ts ? v->end_duration : v->last_ts);
	json_writer__key(w, "complete");
	json_writer__bool(w, complete);
	json_writer__key(w, "cut");
	json_writer__string(w, cut);
	json_writer__key_u64(w, "slices", v->nslices);
	json_writer__key_u64(w, "flows", v->nflows);
	json_writer__key_u64(w, "unpaired_waits", timeline__unpaired(tl));
	json_writer__key_u64(w, "wakes_without_flow", timeline__flows_dropped(tl));
	meta_tables(v, w);
	meta_lanes(v, w);
	meta_lost(v, w);
	json_writer__object_end(w);
	err = json_writer__finish(w);
	json_writer__free(w);
	return err;
}

static void pad8(FILE *f, char fill)
{
	for (long pos = ftell(f); pos % 8; pos++)
		fputc(fill, f);
}

/* One column: FIELD of every element of ARR, as TYPE. */
#define COLUMN(f, arr, n, type, expr)                                                              \
	do {                                                                                       \
		for (size_t i_ = 0; i_ < (n); i_++) {                                              \
			type x_ = (type)((arr)[i_].expr);                                          \
			fwrite(&x_, sizeof(x_), 1, (f));                                           \
		}                                                                                  \
		pad8((f), 0);                                                                      \
	} while (0)

static void write_columns(const struct vt *v, FILE *f)
{
	COLUMN(f, v->slices, v->nslices, double, start);
	COLUMN(f, v->slices, v->nslices, double, dur);
	COLUMN(f, v->slices, v->nslices, uint32_t, lock);
	COLUMN(f, v->slices, v->nslices, uint32_t, stack);
	COLUMN(f, v->slices, v->nslices, uint32_t, owner);
	COLUMN(f, v->slices, v->nslices, uint8_t, row);
	COLUMN(f, v->slices, v->nslices, uint8_t, result);
	COLUMN(f, v->flows, v->nflows, double, from_ts);
	COLUMN(f, v->flows, v->nflows, double, to_ts);
	COLUMN(f, v->flows, v->nflows, uint32_t, from_track);
	COLUMN(f, v->flows, v->nflows, uint32_t, to_track);
	COLUMN(f, v->flows, v->nflows, uint32_t, lock);
}

/* The header, the meta and the columns into one buffer. The meta's length goes in the header,
 * so the meta is written first to its own stream. */
static int layout(struct vt *v, const struct timeline *tl, const struct ls_trace_info *info,
		  const char *cut, bool complete, char **out, size_t *len)
{
	char *meta = NULL;
	size_t meta_len = 0;
	FILE *mf = open_memstream(&meta, &meta_len), *f = NULL;
	uint32_t head[3];
	int err = -ENOMEM;

	if (!mf)
		return -ENOMEM;
	if (v->nslices) /* a trace without waits has no array: qsort must not be handed NULL */
		qsort(v->slices, v->nslices, sizeof(*v->slices), cmp_slice);
	err = write_meta(v, tl, info, cut, complete, mf);
	pad8(mf, ' ');
	if (fclose(mf) || err)
		goto cleanup;
	err = -ENOMEM;
	f = open_memstream(out, len);
	if (!f)
		goto cleanup;
	head[0] = VT_VERSION;
	head[1] = (uint32_t)meta_len;
	head[2] = 0;
	fwrite(VT_MAGIC, 4, 1, f);
	fwrite(head, sizeof(head), 1, f);
	fwrite(meta, meta_len, 1, f);
	write_columns(v, f);
	err = ferror(f) ? -ENOMEM : 0;
	if (fclose(f))
		err = -ENOMEM;
	if (err) {
		free(*out);
		*out = NULL;
	}
cleanup:
	free(meta);
	return err;
}

/* ---- reading ---- */

static int walk(struct vt *v, struct timeline *tl, struct holds *h, struct trace_reader *r,
		const char **cut)
{
	struct ls_rec rec;
	int ret, err = 0;

	while (!err && (ret = trace_reader__next(r, &rec)) > 0) {
		if (rec.ts > v->last_ts)
			v->last_ts = rec.ts;
		if (rec.type == LS_REC_END) {
			v->have_end = true;
			v->end_duration = rec.end.duration_ns;
		}
		/* a track per thread, in the order the threads appeared, events or not */
		if (rec.type == LS_REC_THREAD && track_index(v, rec.tid) == UINT32_MAX)
			err = -ENOMEM;
		err = err ?: model__feed(v->model, &rec) ?: timeline__feed(tl, &rec) ?:
		      holds__feed(h, &rec);
	}
	if (err)
		return err;
	if (ret < 0)
		*cut = trace_reader__error(r) ? trace_reader__error(r) : strerror(-ret);
	return timeline__finish(tl, v->have_end && v->end_duration > v->last_ts ? v->end_duration
										: v->last_ts);
}

static void vt_free(struct vt *v)
{
	for (size_t i = 0; i < v->ntracks; i++)
		free(v->tracks[i].name);
	free(v->tracks);
	free(v->slices);
	free(v->flows);
	free(v->locks);
	free(v->lost);
	free(v->stacks);
	bytemap__free(v->track_of);
	bytemap__free(v->lock_of);
	bytemap__free(v->stack_of);
	model__free(v->model);
}

int view_timeline__build(const char *path, char **out, size_t *len, char *why, size_t whylen)
{
	struct vt v = {.nstacks = 1};
	struct timeline *tl = NULL;
	struct holds *h = NULL;
	struct trace_reader *r;
	const char *cut = NULL;
	int err = -ENOMEM;

	*out = NULL;
	*len = 0;
	r = trace_reader__open(path, why, whylen);
	if (!r) {
		if (errno == ENOMEM)
			return -ENOMEM;
		if (!why[0])
			snprintf(why, whylen, "%s", strerror(errno));
		return -EINVAL;
	}
	v.model = model__new();
	v.track_of = bytemap__new();
	v.lock_of = bytemap__new();
	v.stack_of = bytemap__new();
	v.stacks = calloc(1, sizeof(*v.stacks));
	v.stacks_cap = 1;
	if (!v.model || !v.track_of || !v.lock_of || !v.stack_of || !v.stacks)
		goto cleanup;
	tl = timeline__new(v.model, trace_reader__info(r)->pid, &vt_ops, &v);
	h = holds__new();
	if (!tl || !h)
		goto cleanup;
	holds__on_hold(h, on_hold, &v);
	err = walk(&v, tl, h, r, &cut)
		  ?: layout(&v, tl, trace_reader__info(r), cut, !cut && trace_reader__complete(r),
			    out, len);
cleanup:
	holds__free(h);
	timeline__free(tl);
	vt_free(&v);
	trace_reader__free(r);
	return err;
}
