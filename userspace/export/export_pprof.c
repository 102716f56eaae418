/* export_pprof.c - the waits as a pprof profile (profile.proto, gzipped), as Go's mutex profile
 * has them: contentions and delay per stack, charged to the waiter's stack or the holder's. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "export/export.h"
#include "analysis/hotspots.h"
#include "trace/model.h"
#include "util/pbuf.h"
#include "trace/trace.h"

/* github.com/google/pprof/proto/profile.proto */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	VALUE_TYPE_TYPE = 1,
	VALUE_TYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4,
	MAPPING_FILENAME = 5,
	MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

/* An executable mapping of a file, from the trace's MAPPING records. */
struct exec_map {
	uint64_t start, end, offset;
	char *path;
	uint64_t id;		/* the profile's mapping id once written; 0 before */
};

/* The thread that holds a lock, as full mode's acquire records say, and where it took it. */
struct holder {
	uint32_t tid, stack_id;
};

/* One sample: a wait's lock, thread, holder (by holder only) and stack; 0 where none. */
struct sample_key {
	uint64_t addr;
	uint32_t tid, holder, stack_id, pad;
};

struct sample {
	struct sample_key key;
	uint64_t count, delay_ns;
};

struct pprof {
	const struct export_ctx *ctx;
	bool by_holder;
	struct hotspots *hs;		/* pairs the waits, as the report does */
	struct bytemap *holders;	/* lock addr -> (tid << 32 | acquire stack) */
	struct holder *holder_at_begin; /* per waiting thread: its lock's holder then */
	struct bytemap *begin_ix;	/* tid -> position in holder_at_begin */
	size_t nbegin, begin_cap;
	struct sample *samples;
	size_t nsamples, samples_cap;
	struct bytemap *sample_ix; /* struct sample_key -> position in samples */
	/* while writing: the string table, mappings, locations and functions */
	struct pbuf strings, body, msg, sub;
	struct bytemap *string_ix; /* string -> index */
	uint64_t nstrings;
	struct bytemap *loc_ix; /* frame id, or a made-up frame's name, -> location id */
	struct bytemap *func_ix; /* name, system name and file -> function id */
	uint64_t nlocs, nfuncs, nmaps;
	struct exec_map *maps;	/* sorted by start once the trace is read */
	size_t nexec, exec_cap;
};

static void pprof_free(void *self)
{
	struct pprof *p = self;

	if (!p)
		return;
	hotspots__free(p->hs);
	bytemap__free(p->holders);
	bytemap__free(p->begin_ix);
	bytemap__free(p->sample_ix);
	bytemap__free(p->string_ix);
	bytemap__free(p->loc_ix);
	bytemap__free(p->func_ix);
	for (size_t i = 0; i < p->nexec; i++)
		free(p->maps[i].path);
	free(p->maps);
	free(p->holder_at_begin);
	free(p->samples);
	pbuf__release(&p->strings);
	pbuf__release(&p->body);
	pbuf__release(&p->msg);
	pbuf__release(&p->sub);
	free(p);
}

static struct holder *begin_slot(struct pprof *p, uint32_t tid)
{
	uint64_t key = tid;

	return bytemap__slot(p->begin_ix, &key, sizeof(key), &p->holder_at_begin, &p->nbegin,
			     &p->begin_cap, sizeof(*p->holder_at_begin));
}

/* Charges a finished wait to its sample. */
static int add_wait(void *arg, const struct hs_wait *w)
{
	struct pprof *p = arg;
	struct sample_key k = {.addr = w->addr, .tid = w->tid, .stack_id = w->stack_id};
	struct sample *s;

	/* Go's mutex profile is contention: condition waits and joins are not */
	if (ls_kind_signal(w->kind))
		return 0;
	if (p->by_holder) {
		const uint64_t *slot = bytemap__get_u64(p->begin_ix, w->tid);
		struct holder h = slot ? p->holder_at_begin[*slot] : (struct holder){0};

		/* the lock word's owner where no acquire record named the holder */
		k.holder = h.tid ? h.tid : w->owner;
		k.stack_id = h.tid ? h.stack_id : 0;
	}
	s = bytemap__slot(p->sample_ix, &k, sizeof(k), &p->samples, &p->nsamples, &p->samples_cap,
			  sizeof(*p->samples));
	if (!s)
		return -ENOMEM;
	s->key = k;
	s->count++;
	s->delay_ns += w->end_ts - w->begin_ts;
	return 0;
}

static void *pprof_new(const struct export_ctx *ctx)
{
	struct pprof *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->ctx = ctx;
	p->by_holder = ctx->opts->by == EXPORT_BY_HOLDER;
	p->hs = hotspots__new();
	p->holders = bytemap__new();
	p->begin_ix = bytemap__new();
	p->sample_ix = bytemap__new();
	p->string_ix = bytemap__new();
	p->loc_ix = bytemap__new();
	p->func_ix = bytemap__new();
	if (!p->hs || !p->holders || !p->begin_ix || !p->sample_ix || !p->string_ix || !p->loc_ix ||
	    !p->func_ix) {
		pprof_free(p);
		errno = ENOMEM;
		return NULL;
	}
	hotspots__on_wait(p->hs, add_wait, p);
	return p;
}

/* Who holds each lock, from full mode's records: what a wait beginning now is charged to. */
static int track_holders(struct pprof *p, const struct ls_rec *rec)
{
	uint64_t *v;
	struct holder *h;

	switch (rec->type) {
	case LS_REC_ACQUIRE:
		if (rec->acquire.flags & LS_ACQ_SHARED)
			return 0; /* readers: no one holder */
		return bytemap__put_u64(p->holders, rec->acquire.addr,
					(uint64_t)rec->tid << 32 | rec->acquire.stack_id);
	case LS_REC_RELEASE:
	case LS_REC_DESTROY:
		v = bytemap__get_u64(p->holders, rec->release.addr);
		if (v && *v >> 32 == rec->tid)
			*v = 0;
		return 0;
	case LS_REC_WINDOW:
		/* what was held when the probes went off is not known after */
		bytemap__free(p->holders);
		p->holders = bytemap__new();
		return p->holders ? 0 : -ENOMEM;
	case LS_REC_WAIT_BEGIN:
		h = begin_slot(p, rec->tid);
		if (!h)
			return -ENOMEM;
		v = bytemap__get_u64(p->holders, rec->wait_begin.addr);
		h->tid = v ? *v >> 32 : 0;
		h->stack_id = v ? (uint32_t)*v : 0;
		return 0;
	default:
		return 0;
	}
}

/* Executable mappings of files: where the profile's addresses lie. A refreshed map repeats the
 * ones it had; a mapping at an address already known replaces it (dlclose, then dlopen). */
static int note_mapping(struct pprof *p, const struct ls_rec *rec)
{
	const char *path = rec->mapping.path;
	struct exec_map *m = NULL;
	char *copy;

	if (!path || path[0] != '/' || !rec->mapping.perms || !strchr(rec->mapping.perms, 'x'))
		return 0;
	for (size_t i = 0; i < p->nexec && !m; i++)
		if (p->maps[i].start == rec->mapping.start)
			m = &p->maps[i];
	if (m && m->end == rec->mapping.end && !strcmp(m->path, path))
		return 0;
	copy = strdup(path);
	if (!copy || (!m && ls_reserve(&p->maps, &p->exec_cap, p->nexec + 1, sizeof(*p->maps)))) {
		free(copy);
		return -ENOMEM;
	}
	if (m)
		free(m->path);
	else
		m = &p->maps[p->nexec++];
	*m = (struct exec_map){.start = rec->mapping.start, .end = rec->mapping.end,
			       .offset = rec->mapping.offset, .path = copy};
	return 0;
}

static int pprof_feed(void *self, const struct ls_rec *rec)
{
	struct pprof *p = self;

	if (rec->type == LS_REC_MAPPING)
		return note_mapping(p, rec);

	if (p->by_holder) {
		int err = track_holders(p, rec);

		if (err)
			return err;
	}
	return hotspots__feed(p->hs, p->ctx->model, rec);
}

/* ---- writing the profile ---- */

/* The string table index of S, added if new; the table starts with "". */
static int64_t str(struct pprof *p, const char *s)
{
	size_t len = strlen(s);
	const uint64_t *ix = bytemap__get(p->string_ix, s, len);

	if (ix)
		return *ix;
	if (bytemap__put(p->string_ix, s, len, p->nstrings)) {
		p->strings.err = -ENOMEM;
		return 0;
	}
	pbuf__string(&p->strings, PROFILE_STRING_TABLE, s);
	return p->nstrings++;
}

static void value_type(struct pprof *p, uint32_t field, const char *type, const char *unit)
{
	pbuf__reset(&p->sub);
	pbuf__int(&p->sub, VALUE_TYPE_TYPE, str(p, type));
	pbuf__int(&p->sub, VALUE_TYPE_UNIT, str(p, unit));
	pbuf__message(&p->body, field, &p->sub);
}

/* The mapping holding PC, written when first used: its addresses, file and build ID, so that
 * readers can match the profile with the binaries (symbolization servers, `pprof -raw`). The
 * functions are already named, which the has_* flags tell them. 0 for none. */
static uint64_t mapping(struct pprof *p, uint64_t pc)
{
	struct model_object obj;
	struct exec_map *m = NULL;
	size_t lo = 0, hi = p->nexec;

	while (lo < hi && !m) {
		size_t mid = lo + (hi - lo) / 2;

		if (pc < p->maps[mid].start)
			hi = mid;
		else if (pc >= p->maps[mid].end)
			lo = mid + 1;
		else
			m = &p->maps[mid];
	}
	if (!m)
		return 0;
	if (m->id)
		return m->id;
	m->id = ++p->nmaps;
	pbuf__reset(&p->msg);
	pbuf__uint(&p->msg, MAPPING_ID, m->id);
	pbuf__uint(&p->msg, MAPPING_MEMORY_START, m->start);
	pbuf__uint(&p->msg, MAPPING_MEMORY_LIMIT, m->end);
	pbuf__uint(&p->msg, MAPPING_FILE_OFFSET, m->offset);
	pbuf__int(&p->msg, MAPPING_FILENAME, str(p, m->path));
	if (model__object(p->ctx->model, m->path, &obj) && obj.build_id[0])
		pbuf__int(&p->msg, MAPPING_BUILD_ID, str(p, obj.build_id));
	pbuf__uint(&p->msg, MAPPING_HAS_FUNCTIONS, 1);
	pbuf__uint(&p->msg, MAPPING_HAS_FILENAMES, 1);
	pbuf__uint(&p->msg, MAPPING_HAS_LINE_NUMBERS, 1);
	pbuf__message(&p->body, PROFILE_MAPPING, &p->msg);
	return m->id;
}

/* The function of NAME (as people read it), SYSNAME (as the object spells it) and FILE, written
 * when first used. 0 without memory. */
static uint64_t function(struct pprof *p, const char *name, const char *sysname, const char *file)
{
	size_t ln = strlen(name) + 1, ls = strlen(sysname) + 1, lf = strlen(file);
	char *key = malloc(ln + ls + lf);
	const uint64_t *id;
	uint64_t n = 0;

	if (!key)
		return 0;
	memcpy(key, name, ln);
	memcpy(key + ln, sysname, ls);
	memcpy(key + ln + ls, file, lf);
	id = bytemap__get(p->func_ix, key, ln + ls + lf);
	if (id) {
		n = *id;
	} else if (!bytemap__put(p->func_ix, key, ln + ls + lf, p->nfuncs + 1)) {
		n = ++p->nfuncs;
		pbuf__reset(&p->sub);
		pbuf__uint(&p->sub, FUNCTION_ID, n);
		pbuf__int(&p->sub, FUNCTION_NAME, str(p, name));
		pbuf__int(&p->sub, FUNCTION_SYSTEM_NAME, str(p, sysname));
		pbuf__int(&p->sub, FUNCTION_FILENAME, str(p, file));
		pbuf__message(&p->body, PROFILE_FUNCTION, &p->sub);
	}
	free(key);
	return n;
}

/* Location ID at ADDRESS (0: none) in mapping MAP (0: none), one line of a function. */
static void location(struct pprof *p, uint64_t id, uint64_t map, uint64_t address,
		     const struct model_frame *f)
{
	uint64_t func = function(p, f->func, f->sysname, f->file);

	pbuf__reset(&p->sub);
	pbuf__uint(&p->sub, LINE_FUNCTION_ID, func);
	pbuf__int(&p->sub, LINE_LINE, f->line);
	pbuf__reset(&p->msg);
	pbuf__uint(&p->msg, LOCATION_ID, id);
	if (map)
		pbuf__uint(&p->msg, LOCATION_MAPPING_ID, map);
	if (address)
		pbuf__uint(&p->msg, LOCATION_ADDRESS, address);
	pbuf__message(&p->msg, LOCATION_LINE, &p->sub);
	pbuf__message(&p->body, PROFILE_LOCATION, &p->msg);
}

/* The location of frame ID, written when first used. 0 without memory. */
static uint64_t frame_location(struct pprof *p, uint32_t id)
{
	struct model_frame f = {.func = "", .sysname = "", .file = "", .module = ""};
	uint64_t key = (uint64_t)id << 1; /* made-up frames have the low bit set */
	const uint64_t *loc = bytemap__get_u64(p->loc_ix, key);
	char text[512];

	if (loc)
		return *loc;
	if (bytemap__put_u64(p->loc_ix, key, ++p->nlocs))
		return 0;
	model__frame_parts(p->ctx->model, id, &f);
	if (!f.func[0]) {
		/* "libfoo.so+0x1234": what the trace knows of a frame without a symbol */
		model__frame_format(p->ctx->model, id, text, sizeof(text));
		f.func = f.sysname = text;
	}
	location(p, p->nlocs, f.pc ? mapping(p, f.pc) : 0, f.pc, &f);
	return p->nlocs;
}

/* A made-up single frame, where a stack is not known: "hot_lock (no stack)". */
static uint64_t label_location(struct pprof *p, const char *name)
{
	uint64_t key[2] = {1, (uint64_t)str(p, name)};
	const uint64_t *loc = bytemap__get(p->loc_ix, key, sizeof(key));

	if (loc)
		return *loc;
	if (bytemap__put(p->loc_ix, key, sizeof(key), ++p->nlocs))
		return 0;
	location(p, p->nlocs, 0, 0, /* in no object */
		 &(struct model_frame){.func = name, .sysname = name, .file = ""});
	return p->nlocs;
}

static void label(struct pprof *p, struct pbuf *sample, const char *key, const char *value)
{
	pbuf__reset(&p->sub);
	pbuf__int(&p->sub, LABEL_KEY, str(p, key));
	pbuf__int(&p->sub, LABEL_STR, str(p, value));
	pbuf__message(sample, SAMPLE_LABEL, &p->sub);
}

/* A sample: its stack's locations innermost first, [contentions, delay], labels. */
static int write_sample(struct pprof *p, const struct sample *s, struct pbuf *smp, struct pbuf *ids)
{
	const struct model *m = p->ctx->model;
	const uint32_t *frames;
	uint32_t n = model__stack(m, s->key.stack_id, &frames);
	char lock[64], thread[64], made_up[1200];
	const char *lock_name =
	    model__lock_label(m, s->key.addr, MODEL_NO_KIND, lock, sizeof(lock));

	pbuf__reset(smp);
	pbuf__reset(ids);
	for (uint32_t i = 0; i < n; i++)
		pbuf__varint(ids, frame_location(p, frames[i]));
	if (!n) {
		snprintf(made_up, sizeof(made_up), "%s (%s)", lock_name,
			 p->by_holder ? "holder's stack unknown" : "no stack");
		pbuf__varint(ids, label_location(p, made_up));
	}
	pbuf__message(smp, SAMPLE_LOCATION_ID, ids);
	pbuf__reset(ids);
	pbuf__varint(ids, s->count);
	pbuf__varint(ids, s->delay_ns);
	pbuf__message(smp, SAMPLE_VALUE, ids);
	label(p, smp, "lock", lock_name);
	label(p, smp, "thread", model__thread_label(m, s->key.tid, true, thread, sizeof(thread)));
	/* the waiter's process: a lock shared between processes has waiters in each */
	if (model__thread_pid(m, s->key.tid)) {
		snprintf(thread, sizeof(thread), "%u", model__thread_pid(m, s->key.tid));
		label(p, smp, "pid", thread);
	}
	if (p->by_holder)
		label(p, smp, "holder",
		      s->key.holder
			  ? model__thread_label(m, s->key.holder, true, thread, sizeof(thread))
			  : "unknown");
	pbuf__message(&p->body, PROFILE_SAMPLE, smp);
	return pbuf__error(smp) ?: pbuf__error(ids);
}

static int map_cmp(const void *a, const void *b)
{
	const struct exec_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The program's own object gets the first mapping, which readers take for the main binary:
 * the one of the command's file, else the lowest executable mapping. */
static void main_mapping(struct pprof *p)
{
	const char *cmd = p->ctx->info->cmdline ? p->ctx->info->cmdline : "";
	size_t len = strcspn(cmd, " "), i;
	const char *base, *slash = memrchr(cmd, '/', len);

	if (!p->nexec)
		return;
	qsort(p->maps, p->nexec, sizeof(*p->maps), map_cmp);
	base = slash ? slash + 1 : cmd;
	len -= base - cmd;
	for (i = 0; i < p->nexec; i++) {
		const char *b = strrchr(p->maps[i].path, '/') + 1;

		if (len && !strncmp(b, base, len) && (!b[len] || b[len] == ' '))
			break;
	}
	mapping(p, p->maps[i < p->nexec ? i : 0].start);
}

static int write_profile(struct pprof *p)
{
	const struct ls_trace_info *info = p->ctx->info;
	struct pbuf smp = {0}, ids = {0};
	int err = 0;

	str(p, "");
	main_mapping(p);
	value_type(p, PROFILE_SAMPLE_TYPE, "contentions", "count");
	value_type(p, PROFILE_SAMPLE_TYPE, "delay", "nanoseconds");
	for (size_t i = 0; i < p->nsamples && !err; i++)
		err = write_sample(p, &p->samples[i], &smp, &ids);
	pbuf__release(&smp);
	pbuf__release(&ids);
	pbuf__int(&p->body, PROFILE_TIME_NANOS, info->start_realtime_ns);
	pbuf__int(&p->body, PROFILE_DURATION_NANOS,
		  p->ctx->have_end ? p->ctx->end_duration : p->ctx->last_ts);
	value_type(p, PROFILE_PERIOD_TYPE, "contentions", "count");
	pbuf__int(&p->body, PROFILE_PERIOD, 1);
	pbuf__int(&p->body, PROFILE_COMMENT,
		  str(p, p->by_holder ? "lockscope: lock waits by the holder's stack"
				      : "lockscope: lock waits by the waiter's stack"));
	return err ?: pbuf__error(&p->body) ?: pbuf__error(&p->strings);
}

/* Writes DATA gzipped (the form pprof reads) to OUT. 0 or -errno. */
static int gzip_to(FILE *out, const struct pbuf *a, const struct pbuf *b)
{
	const struct pbuf *parts[] = {a, b};
	z_stream z = {0};
	uint8_t buf[65536];
	int err = 0, zret = Z_OK;

	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	for (int i = 0; i < 2 && !err; i++) {
		z.next_in = parts[i]->data;
		z.avail_in = parts[i]->len;
		do {
			z.next_out = buf;
			z.avail_out = sizeof(buf);
			zret = deflate(&z, i == 1 ? Z_FINISH : Z_NO_FLUSH);
			if (fwrite(buf, 1, sizeof(buf) - z.avail_out, out) !=
			    sizeof(buf) - z.avail_out)
				err = -(errno ? errno : EIO);
		} while (!err && (z.avail_out == 0 || (i == 1 && zret != Z_STREAM_END)));
	}
	deflateEnd(&z);
	if (!err && fflush(out))
		err = -errno;
	return err;
}

static int pprof_finish(void *self, uint64_t end_ts, bool complete, const char *cut)
{
	struct pprof *p = self;
	int err = hotspots__finish(p->hs, end_ts) ?: write_profile(p);

	(void)complete;
	(void)cut; /* the note on stderr says it; a profile has no place for it */
	return err ?: gzip_to(p->ctx->out, &p->strings, &p->body);
}

const struct export_format export_pprof_format = {
    .name = "pprof",
    .suffix = ".pb.gz",
    .new = pprof_new,
    .feed = pprof_feed,
    .finish = pprof_finish,
    .free = pprof_free,
};
