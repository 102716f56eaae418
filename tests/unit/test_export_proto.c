/* test_export_proto.c - the pprof and Perfetto exports read back by a strict protobuf decoder:
 * the wire format and schema, then the values against what the synthetic trace holds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/export.h"
#include "util/pbuf.h"
#include "protodec.h"
#include "tracefile.h"

#define PID 4242
#define W1 4243
#define W2 4244
#define HOT 0x5581d2a0ull
#define COND 0x5581d400ull
#define MS 1000000ull

static struct tf trace;
static char out_path[96];

static void teardown(void)
{
	tf_remove(&trace);
	if (out_path[0])
		unlink(out_path);
}

TestSuite(export_proto, .fini = teardown);

/* W1 waits 1 ms and W2 0.5 ms on hot_lock from stack 1, W1 0.25 ms more without a stack; W2's
 * hold in full mode (taken at stack 2, 0.3 ms) is what W1's second wait was held up by; a
 * condition wait is not contention. The program /opt/hot/hot is mapped executable at 0x401000
 * (and a library after it); worker is a C++ function. */
static void write_scenario(void)
{
	static const uint32_t s1[] = {1, 2}, s2[] = {3, 2};
	struct ls_rec acq = {.type = LS_REC_ACQUIRE, .ts = 2900000, .tid = W2};
	struct ls_rec rel = {.type = LS_REC_RELEASE, .ts = 3200000, .tid = W2};
	struct ls_rec map = {.type = LS_REC_MAPPING,
			     .mapping = {.start = 0x7f0000001000, .end = 0x7f0000009000,
					 .offset = 0x1000, .perms = "r-xp", .path = "/lib/libx.so"}};
	struct ls_rec obj = {.type = LS_REC_OBJECT,
			     .object = {.path = "/opt/hot/hot", .build_id = "0123abcd",
					.debug_file = "", .flags = LS_OBJ_READABLE | LS_OBJ_SYMTAB}};

	tf_open(&trace, PID, "hot", "./hot", "full");
	tf_add(&trace, &map);
	map.mapping.start = 0x400000;
	map.mapping.end = 0x401000;
	map.mapping.offset = 0;
	map.mapping.perms = "r--p";
	map.mapping.path = "/opt/hot/hot";
	tf_add(&trace, &map);
	map.mapping.start = 0x401000;
	map.mapping.end = 0x402000;
	map.mapping.offset = 0x1000;
	map.mapping.perms = "r-xp";
	tf_add(&trace, &map);
	tf_add(&trace, &obj);
	tf_thread(&trace, 0, PID, "hot");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_frame(&trace, 1, 0x401136, "lock_hot", "/src/hot/hot.c", 31, "hot", 0x16);
	tf_frame(&trace, 2, 0x4011a0, "_Z6workerPv", "", 0, "hot", 0x1a);
	tf_frame(&trace, 3, 0x401200, "take_hot", "hot.c", 40, "hot", 0x10);
	tf_stack(&trace, 1, 2, s1);
	tf_stack(&trace, 2, 2, s2);
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "hot_lock");
	tf_begin(&trace, 1 * MS, W1, HOT, LS_KIND_MUTEX, W2, 1);
	tf_wake(&trace, 1990000, 2 * MS, W2, W1, HOT);
	tf_end(&trace, 2 * MS, W1, LS_WAIT_WOKEN);
	tf_begin(&trace, 2 * MS, W2, HOT, LS_KIND_MUTEX, W1, 1);
	tf_end(&trace, 2500000, W2, LS_WAIT_WOKEN);
	acq.acquire.addr = HOT;
	acq.acquire.kind = LS_KIND_MUTEX;
	acq.acquire.call_ts = 2800000;
	acq.acquire.stack_id = 2;
	tf_add(&trace, &acq);
	tf_begin(&trace, 3 * MS, W1, HOT, LS_KIND_MUTEX, 0, 0);
	rel.release.addr = HOT;
	tf_add(&trace, &rel);
	tf_end(&trace, 3250000, W1, LS_WAIT_WOKEN);
	tf_begin(&trace, 4 * MS, W2, COND, LS_KIND_COND, 0, 1);
	tf_end(&trace, 9 * MS, W2, LS_WAIT_WOKEN);
	tf_finish(&trace, 10 * MS, 12, 0);
	tf_close(&trace);
}

/* Exports the trace in FORMAT and reads the output back (raw bytes; caller frees). */
static uint8_t *export_to(const char *format, enum export_by by, size_t *len)
{
	struct export_opts o = {.format = format, .out = out_path, .by = by};
	uint8_t *data;
	FILE *f;

	snprintf(out_path, sizeof(out_path), "%s.%s", trace.path, format);
	cr_assert_eq(export__run(trace.path, &o), 0);
	f = fopen(out_path, "rb");
	cr_assert(f);
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	rewind(f);
	data = malloc(*len ? *len : 1);
	cr_assert_eq(fread(data, 1, *len, f), *len);
	fclose(f);
	return data;
}

static void read_profile(enum export_by by, struct pp_profile *p)
{
	size_t len, rawlen;
	uint8_t *gz = export_to("pprof", by, &len), *raw;
	char err[256];

	cr_assert_eq(pd_gunzip(gz, len, &raw, &rawlen), 0, "not gzip");
	cr_assert_eq(pp_decode(raw, rawlen, p, err, sizeof(err)), 0, "%s", err);
	free(gz);
	free(raw);
}

static const struct pp_sample *find_sample(const struct pp_profile *p, const char *frame0,
					   const char *thread)
{
	for (size_t i = 0; i < p->nsamples; i++)
		if (!strcmp(p->samples[i].frames[0], frame0) &&
		    !strcmp(p->samples[i].thread, thread))
			return &p->samples[i];
	return NULL;
}

Test(export_proto, pprof_is_a_mutex_profile_of_the_waits)
{
	struct pp_profile p;
	const struct pp_sample *s;
	int64_t total = 0;

	write_scenario();
	read_profile(EXPORT_BY_WAITER, &p);
	cr_assert_str_eq(p.types[0], "contentions");
	cr_assert_str_eq(p.units[0], "count");
	cr_assert_str_eq(p.types[1], "delay");
	cr_assert_str_eq(p.units[1], "nanoseconds");
	cr_assert_str_eq(p.period_type, "contentions");
	cr_assert_str_eq(p.period_unit, "count");
	cr_assert_eq(p.period, 1);
	cr_assert_eq(p.duration_ns, 10 * MS);
	/* the frames' one mapping, as the memory map had it, with the object's build ID */
	cr_assert_eq(p.nmappings, 1, "one object, hot, has all the frames");
	cr_assert_eq(p.mappings[0].start, 0x401000);
	cr_assert_eq(p.mappings[0].limit, 0x402000);
	cr_assert_eq(p.mappings[0].offset, 0x1000);
	cr_assert_str_eq(p.mappings[0].file, "/opt/hot/hot");
	cr_assert_str_eq(p.mappings[0].build_id, "0123abcd");
	/* the report's stack 1 of hot_lock: 1.5 ms in 2 waits, here split by thread */
	s = find_sample(&p, "lock_hot", "worker-1 (4243)");
	cr_assert(s && s->values[0] == 1 && s->values[1] == (int64_t)MS);
	cr_assert_eq(s->nframes, 2);
	/* names as people read them, linkage names as system names; addresses in the mapping */
	cr_assert_str_eq(s->frames[1], "worker(void*)");
	cr_assert_str_eq(s->sysnames[1], "_Z6workerPv");
	cr_assert_str_eq(s->files[0], "/src/hot/hot.c", "the source file's full path");
	cr_assert_eq(s->lines[0], 31);
	cr_assert_eq(s->addrs[0], 0x401136);
	cr_assert_eq(s->addrs[1], 0x4011a0);
	cr_assert_eq(s->mapping[0], p.mappings[0].id);
	cr_assert_str_eq(s->lock, "hot_lock");
	s = find_sample(&p, "lock_hot", "worker-2 (4244)");
	cr_assert(s && s->values[0] == 1 && s->values[1] == 500000);
	/* a wait without a stack keeps its time, under its lock's name */
	s = find_sample(&p, "hot_lock (no stack)", "worker-1 (4243)");
	cr_assert(s && s->values[1] == 250000 && s->nframes == 1);
	/* the condition wait is not contention: every sample is hot_lock's */
	for (size_t i = 0; i < p.nsamples; i++)
		total += p.samples[i].values[1];
	cr_assert_eq(total, 1750000);
	cr_assert_eq(p.nsamples, 3);
	pp_free(&p);
}

Test(export_proto, pprof_by_holder_charges_the_holders_stack)
{
	struct pp_profile p;
	const struct pp_sample *s;

	write_scenario();
	read_profile(EXPORT_BY_HOLDER, &p);
	/* W1's second wait began while W2 held hot_lock, taken at take_hot */
	s = find_sample(&p, "take_hot", "worker-1 (4243)");
	cr_assert(s, "no sample on the holder's stack");
	cr_assert_eq(s->values[1], 250000);
	cr_assert_str_eq(s->holder, "worker-2 (4244)");
	cr_assert_str_eq(s->frames[1], "worker(void*)");
	/* before any acquire was seen: the lock word's owner, its stack unknown */
	s = find_sample(&p, "hot_lock (holder's stack unknown)", "worker-1 (4243)");
	cr_assert(s && s->values[1] == (int64_t)MS);
	cr_assert_str_eq(s->holder, "worker-2 (4244)");
	s = find_sample(&p, "hot_lock (holder's stack unknown)", "worker-2 (4244)");
	cr_assert(s && s->values[1] == 500000);
	cr_assert_str_eq(s->holder, "worker-1 (4243)");
	pp_free(&p);
}

static const struct pf_track *track_of(const struct pf_trace *t, uint32_t tid)
{
	for (size_t i = 0; i < t->ntracks; i++)
		if (!t->tracks[i].process && t->tracks[i].tid == tid)
			return &t->tracks[i];
	return NULL;
}

Test(export_proto, perfetto_has_named_tracks_slices_and_flows)
{
	const struct pf_track *w1, *w2, *hold = NULL;
	const struct pf_event *wait = NULL, *wake = NULL;
	struct pf_trace t;
	char err[256];
	size_t len;
	uint8_t *data;
	bool process = false;
	int holds = 0;

	write_scenario();
	data = export_to("perfetto", EXPORT_BY_WAITER, &len);
	cr_assert_eq(pf_decode(data, len, &t, err, sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < t.ntracks; i++)
		process |= t.tracks[i].process && t.tracks[i].pid == PID &&
			   !strcmp(t.tracks[i].name, "hot");
	cr_assert(process, "no process track");
	w1 = track_of(&t, W1);
	w2 = track_of(&t, W2);
	cr_assert(w1 && w2 && w1->pid == PID);
	cr_assert_str_eq(w1->name, "worker-1");
	cr_assert_str_eq(w2->name, "worker-2");
	for (size_t i = 0; i < t.nevents; i++) {
		const struct pf_event *e = &t.events[i];

		if (e->type == PF_BEGIN && e->track == w1->uuid && !wait)
			wait = e;
		if (e->type == PF_BEGIN && e->track == w2->uuid &&
		    !strcmp(e->name, "wake hot_lock"))
			wake = e;
	}
	cr_assert(wait && wake);
	cr_assert_str_eq(wait->name, "hot_lock");
	cr_assert_str_eq(wait->category, "mutex");
	cr_assert_eq(wait->ts, 1 * MS);
	cr_assert_str_eq(wait->result, "woken");
	cr_assert_str_eq(wait->stack, "lock_hot (hot.c:31)\nworker(void*)+0x1a (hot)");
	cr_assert_eq(wake->ts, 1990000);
	cr_assert(wake->flow && wake->flow == wait->terminating_flow, "no flow from the wake");
	/* W2's hold, on a track of its own under W2's */
	for (size_t i = 0; i < t.ntracks; i++)
		hold = t.tracks[i].parent == w2->uuid ? &t.tracks[i] : hold;
	cr_assert(hold, "no hold track under worker-2");
	cr_assert_str_eq(hold->name, "hot_lock held");
	for (size_t i = 0; i + 1 < t.nevents; i++) {
		if (t.events[i].track != hold->uuid || t.events[i].type != PF_BEGIN)
			continue;
		cr_assert_str_eq(t.events[i].name, "hot_lock");
		cr_assert_str_eq(t.events[i].category, "hold");
		cr_assert_eq(t.events[i].ts, 2900000);
		cr_assert_eq(t.events[i + 1].ts, 3200000);
		holds++;
	}
	cr_assert_eq(holds, 1);
	free(data);
	pf_free(&t);
}

Test(export_proto, decoder_rejects_malformed_input)
{
	static const struct {
		const char *what;
		uint8_t bytes[8];
		size_t len;
	} bad[] = {
	    {"cut varint", {0x08, 0x80}, 2},
	    {"length past the end", {0x12, 0x05, 'a'}, 3},
	    {"group wire type", {0x0b}, 1},
	    {"field 0", {0x00, 0x01}, 2},
	    {"non-minimal varint", {0x08, 0x81, 0x00}, 3},
	};
	struct pbuf b = {0};
	struct pp_profile p;
	struct pd_msg m;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(pd_parse(bad[i].bytes, bad[i].len, &m, err, sizeof(err)), -1, "%s",
			     bad[i].what);
	/* well-formed, but not a profile: the string table must start with "" */
	pbuf__string(&b, 6, "contentions");
	cr_assert_eq(pp_decode(b.data, b.len, &p, err, sizeof(err)), -1);
	/* nor may a sample name a location that does not exist */
	pbuf__reset(&b);
	pbuf__string(&b, 6, "");
	pbuf__bytes(&b, 2, "\x0a\x01\x07\x12\x02\x01\x02", 7);
	cr_assert_eq(pp_decode(b.data, b.len, &p, err, sizeof(err)), -1);
	cr_assert(strstr(err, "location 7"), "%s", err);
	pbuf__release(&b);
}

static int call_pprof(void *arg)
{
	struct export_opts o = {.format = "pprof", .out = arg};

	return export__run(trace.path, &o);
}

Test(export_proto, cut_trace_is_a_valid_profile_and_bad_paths_say_so)
{
	struct tf_run run;
	struct pp_profile p;
	char err[256];
	uint8_t *raw;
	size_t len, rawlen;
	uint8_t *gz;
	FILE *f;

	/* no END record: the waits read are exported, with a note */
	tf_open(&trace, PID, "hot", "./hot", "contention");
	tf_begin(&trace, 1 * MS, W1, HOT, LS_KIND_MUTEX, 0, 0);
	tf_end(&trace, 3 * MS, W1, LS_WAIT_WOKEN);
	tf_close(&trace);
	snprintf(out_path, sizeof(out_path), "%s.pprof", trace.path);
	tf_capture(&run, call_pprof, out_path);
	cr_assert_eq(run.status, 0, "%s", run.err);
	cr_assert(strstr(run.err, "no end record"), "%s", run.err);
	tf_run_free(&run);
	f = fopen(out_path, "rb");
	cr_assert(f);
	gz = malloc(1 << 16);
	len = fread(gz, 1, 1 << 16, f);
	fclose(f);
	cr_assert_eq(pd_gunzip(gz, len, &raw, &rawlen), 0);
	cr_assert_eq(pp_decode(raw, rawlen, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(p.nsamples, 1);
	cr_assert_eq(p.samples[0].values[1], 2 * MS);
	pp_free(&p);
	free(raw);
	free(gz);
	/* an output that cannot be created is the user's to fix: 1, one line */
	tf_capture(&run, call_pprof, "/nonexistent-dir/out.pb.gz");
	cr_assert_eq(run.status, 1);
	cr_assert_str_eq(run.err, "lockscope: export: /nonexistent-dir/out.pb.gz: No such file or "
				  "directory\n");
	tf_run_free(&run);
}
