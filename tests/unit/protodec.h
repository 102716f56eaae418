/* protodec.h - a strict protocol buffers decoder for tests that check what lockscope writes:
 * the wire format, then the schemas of the pprof profile and the Perfetto packets we emit. */
#ifndef LOCKSCOPE_TEST_PROTODEC_H
#define LOCKSCOPE_TEST_PROTODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { PD_VARINT = 0, PD_FIXED64 = 1, PD_LEN = 2, PD_FIXED32 = 5 };

struct pd_field {
	uint32_t num;
	uint8_t wire;
	uint64_t v;	     /* VARINT, FIXED64, FIXED32 */
	const uint8_t *data; /* LEN: borrowed from the input */
	size_t len;
};

struct pd_msg {
	struct pd_field *f;
	size_t n;
};

/* Parses LEN bytes as one message. Rejects field number 0 or above 2^29-1, wire types other
 * than 0, 1, 2, 5 (groups), varints longer than 10 bytes or not minimal where they end in a
 * zero byte, and lengths past the end. 0, or -1 with the reason and offset in ERR. */
int pd_parse(const uint8_t *data, size_t len, struct pd_msg *out, char *err, size_t errlen);
void pd_free(struct pd_msg *m);

/* What a message may hold: each field number once, with its wire type; others are errors. */
struct pd_rule {
	uint32_t num;
	uint8_t wire;
	bool repeated;
	bool packed_ok; /* a repeated varint that may also come packed (wire LEN) */
};
/* Checks M against RULES (N of them). 0 or -1 with ERR. */
int pd_check(const struct pd_msg *m, const struct pd_rule *rules, size_t n, const char *what,
	     char *err, size_t errlen);

/* ---- pprof: profile.proto, as a test wants to read it ---- */
struct pp_sample {
	char **frames; /* function names, innermost first */
	char **sysnames; /* their system names (linkage names) */
	char **files;
	int64_t *lines;
	uint64_t *addrs;   /* each frame's location's address; 0 where none */
	uint64_t *mapping; /* ... and mapping id; 0 where none */
	size_t nframes;
	int64_t values[2];	      /* contentions, delay */
	char *lock, *thread, *holder; /* labels; NULL where absent */
};

struct pp_mapping {
	uint64_t id, start, limit, offset;
	char *file, *build_id;
};

struct pp_profile {
	char *types[2], *units[2]; /* sample_type */
	char *period_type, *period_unit;
	int64_t period, duration_ns;
	struct pp_sample *samples;
	size_t nsamples;
	size_t nstrings, nlocations, nfunctions, nmappings;
	struct pp_mapping *mappings; /* in the profile's order: the first is the main binary */
};

/* Inflates gzip DATA into a malloc'd buffer (*OUT, *OUTLEN). 0 or -1. */
int pd_gunzip(const uint8_t *data, size_t len, uint8_t **out, size_t *outlen);
/* Decodes and checks a profile: every field known with its wire type, the string table
 * starting with "", every string index, location id and function id referenced defined, ids
 * unique and not 0, two values per sample. 0 or -1 with ERR. */
int pp_decode(const uint8_t *data, size_t len, struct pp_profile *p, char *err, size_t errlen);
void pp_free(struct pp_profile *p);

/* ---- Perfetto: a Trace of TracePackets ---- */
enum { PF_BEGIN = 1, PF_END = 2, PF_INSTANT = 3 };

struct pf_event {
	int type;
	uint64_t ts, track;
	char *name, *category;		 /* interned names resolved; NULL where none */
	uint64_t flow, terminating_flow; /* 0 where none */
	char *result, *stack;		 /* debug annotations "result", "stack", or NULL */
};

struct pf_track {
	uint64_t uuid, parent;
	uint32_t pid, tid;
	bool process;
	char *name; /* thread or process name */
	unsigned described; /* descriptors of it in the trace (a renamed thread's: more than 1) */
};

struct pf_trace {
	struct pf_event *events;
	size_t nevents;
	struct pf_track *tracks;
	size_t ntracks;
};

/* Decodes and checks a trace: the fields we emit with their wire types; one trusted sequence id;
 * the first packet clears the incremental state and later ones need it; every interned id
 * defined before use; every event on a described track; every slice begun ended on its track,
 * no earlier, slices nested. 0 or -1 with ERR. */
int pf_decode(const uint8_t *data, size_t len, struct pf_trace *t, char *err, size_t errlen);
void pf_free(struct pf_trace *t);

#endif
