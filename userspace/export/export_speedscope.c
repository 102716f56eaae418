/* export_speedscope.c - the waits in speedscope's own file format: a profile per thread whose
 * samples are the stacks it waited in, the lock as the innermost frame, weighted by the time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "util/json.h"
#include "export/export.h"
#include "analysis/hotspots.h"
#include "trace/model.h"
#include "trace/trace.h"

/* The waits of one thread in one stack for one lock. */
struct sample_key {
	uint64_t addr;
	uint32_t tid, stack_id;
};

struct sample {
	struct sample_key key;
	uint64_t wait_ns;
};

struct speedscope {
	const struct export_ctx *ctx;
	struct hotspots *hs;
	struct bytemap *sample_ix, *frame_ix;
	struct sample *samples;
	size_t nsamples, samples_cap;
	uint32_t nframes;
	struct json_writer *w;
};

static void speedscope_free(void *self)
{
	struct speedscope *s = self;

	if (!s)
		return;
	hotspots__free(s->hs);
	bytemap__free(s->sample_ix);
	bytemap__free(s->frame_ix);
	free(s->samples);
	json_writer__free(s->w);
	free(s);
}

/* Adds a finished wait to its sample. Contention only, as the report's locks and pprof have it:
 * a condition wait or a join is not a lock's cost. */
static int add_wait(void *arg, const struct hs_wait *w)
{
	struct speedscope *s = arg;
	struct sample_key k = {.addr = w->addr, .tid = w->tid, .stack_id = w->stack_id};
	struct sample *smp;

	if (ls_kind_signal(w->kind))
		return 0;
	smp = bytemap__slot(s->sample_ix, &k, sizeof(k), &s->samples, &s->nsamples,
			    &s->samples_cap, sizeof(*s->samples));
	if (!smp)
		return -ENOMEM;
	smp->key = k;
	smp->wait_ns += w->end_ts - w->begin_ts;
	return 0;
}

static void *speedscope_new(const struct export_ctx *ctx)
{
	struct speedscope *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = ctx;
	s->hs = hotspots__new();
	s->sample_ix = bytemap__new();
	s->frame_ix = bytemap__new();
	if (!s->hs || !s->sample_ix || !s->frame_ix) {
		speedscope_free(s);
		errno = ENOMEM;
		return NULL;
	}
	hotspots__on_wait(s->hs, add_wait, s);
	return s;
}

static int speedscope_feed(void *self, const struct ls_rec *rec)
{
	struct speedscope *s = self;

	return hotspots__feed(s->hs, s->ctx->model, rec);
}

/* Samples by thread, then by weight, heaviest first: each thread's profile is one run. */
static int sample_cmp(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	if (x->key.tid != y->key.tid)
		return x->key.tid < y->key.tid ? -1 : 1;
	return x->wait_ns > y->wait_ns ? -1 : x->wait_ns < y->wait_ns;
}

/* The frames' table index of a stack frame (KIND 0, ID a frame id) or of a lock (KIND 1, ID
 * its address), written to the table when first met. UINT32_MAX when out of memory. */
static uint32_t frame_index(struct speedscope *s, uint64_t kind, uint64_t id, bool write)
{
	uint64_t key[2] = {kind, id};
	const uint64_t *at = bytemap__get(s->frame_ix, key, sizeof(key));
	const struct model *m = s->ctx->model;
	struct model_frame f = {.func = "", .file = ""};
	char text[512];

	if (at)
		return (uint32_t)*at;
	if (!write)
		return UINT32_MAX;
	if (bytemap__put(s->frame_ix, key, sizeof(key), s->nframes))
		return UINT32_MAX;
	json_writer__object_begin(s->w);
	json_writer__key(s->w, "name");
	if (kind) {
		/* the lock: named as the report names it, its kind apart */
		uint8_t lk = LS_KIND_FUTEX;

		model__lock_name(m, id, &lk);
		json_writer__string(s->w, model__lock_label(m, id, MODEL_NO_KIND, text,
							     sizeof(text)));
		json_writer__key(s->w, "file");
		json_writer__stringf(s->w, "%s (waited for)", ls_kind_name(lk));
	} else {
		model__frame_parts(m, (uint32_t)id, &f);
		if (!f.func[0]) /* "libfoo.so+0x1234": all the trace knows of it */
			model__frame_format(m, (uint32_t)id, text, sizeof(text));
		json_writer__string(s->w, f.func[0] ? f.func : text);
		if (f.file && f.file[0]) {
			json_writer__key(s->w, "file");
			json_writer__string(s->w, f.file);
		}
		if (f.line)
			json_writer__key_u64(s->w, "line", f.line);
	}
	json_writer__object_end(s->w);
	return s->nframes++;
}

/* Every frame the samples use, in the shared table. */
static int write_frames(struct speedscope *s)
{
	const uint32_t *frames;

	for (size_t i = 0; i < s->nsamples; i++) {
		uint32_t n = model__stack(s->ctx->model, s->samples[i].key.stack_id, &frames);

		for (uint32_t j = 0; j < n; j++)
			if (frame_index(s, 0, frames[j], true) == UINT32_MAX)
				return -ENOMEM;
		if (frame_index(s, 1, s->samples[i].key.addr, true) == UINT32_MAX)
			return -ENOMEM;
	}
	return 0;
}

/* The profile of the thread of samples [FROM, TO): stacks root first, the lock innermost. */
static void write_profile(struct speedscope *s, size_t from, size_t to)
{
	const struct model *m = s->ctx->model;
	const uint32_t *frames;
	uint64_t total = 0;
	char who[96];

	for (size_t i = from; i < to; i++)
		total += s->samples[i].wait_ns;
	json_writer__object_begin(s->w);
	json_writer__key(s->w, "type");
	json_writer__string(s->w, "sampled");
	json_writer__key(s->w, "name");
	json_writer__stringf(s->w, "waits of %s",
			     model__thread_label(m, s->samples[from].key.tid, true, who,
						 sizeof(who)));
	json_writer__key(s->w, "unit");
	json_writer__string(s->w, "nanoseconds");
	json_writer__key_u64(s->w, "startValue", 0);
	json_writer__key_u64(s->w, "endValue", total);
	json_writer__key(s->w, "samples");
	json_writer__array_begin(s->w);
	for (size_t i = from; i < to; i++) {
		uint32_t n = model__stack(m, s->samples[i].key.stack_id, &frames);

		json_writer__array_begin(s->w);
		for (uint32_t j = n; j-- > 0;)
			json_writer__u64(s->w, frame_index(s, 0, frames[j], false));
		json_writer__u64(s->w, frame_index(s, 1, s->samples[i].key.addr, false));
		json_writer__array_end(s->w);
	}
	json_writer__array_end(s->w);
	json_writer__key(s->w, "weights");
	json_writer__array_begin(s->w);
	for (size_t i = from; i < to; i++)
		json_writer__u64(s->w, s->samples[i].wait_ns);
	json_writer__array_end(s->w);
	json_writer__object_end(s->w);
}

static int speedscope_finish(void *self, uint64_t end_ts, bool complete, const char *cut)
{
	struct speedscope *s = self;
	const char *base = strrchr(s->ctx->path, '/');
	int err = hotspots__finish(s->hs, end_ts);

	(void)complete;
	(void)cut; /* the note on stderr says it */
	if (err)
		return err;
	if (s->nsamples > 1)
		qsort(s->samples, s->nsamples, sizeof(*s->samples), sample_cmp);
	s->w = json_writer__new(s->ctx->out, 2); /* a line per frame and per profile */
	if (!s->w)
		return -ENOMEM;
	json_writer__object_begin(s->w);
	json_writer__key(s->w, "$schema");
	json_writer__string(s->w, "https://www.speedscope.app/file-format-schema.json");
	json_writer__key(s->w, "name");
	json_writer__stringf(s->w, "lock waits in %s", base ? base + 1 : s->ctx->path);
	json_writer__key(s->w, "exporter");
	json_writer__string(s->w, "lockscope");
	json_writer__key_u64(s->w, "activeProfileIndex", 0);
	json_writer__key(s->w, "shared");
	json_writer__object_begin(s->w);
	json_writer__key(s->w, "frames");
	json_writer__array_begin(s->w);
	err = write_frames(s);
	json_writer__array_end(s->w);
	json_writer__object_end(s->w);
	json_writer__key(s->w, "profiles");
	json_writer__array_begin(s->w);
	for (size_t from = 0, to; !err && from < s->nsamples; from = to) {
		for (to = from + 1; to < s->nsamples && s->samples[to].key.tid == s->samples[from].key.tid;)
			to++;
		write_profile(s, from, to);
	}
	json_writer__array_end(s->w);
	json_writer__object_end(s->w);
	return err ?: json_writer__finish(s->w);
}

const struct export_format export_speedscope_format = {
    .name = "speedscope",
    .suffix = ".speedscope.json",
    .new = speedscope_new,
    .feed = speedscope_feed,
    .finish = speedscope_finish,
    .free = speedscope_free,
};
