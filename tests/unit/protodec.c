/* protodec.c - protocol buffers' wire format read strictly, and the pprof and Perfetto schemas
 * checked field by field: what a lenient reader would let through is an error here. */
#include "protodec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 10; i++) {
		uint8_t b;

		if (*pos >= len)
			return -1;
		b = p[(*pos)++];
		if (i == 9 && b > 1)
			return -1; /* past 64 bits */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i && !b)
				return -1; /* a trailing zero byte: not what an encoder writes */
			*out = v;
			return 0;
		}
	}
	return -1;
}

int pd_parse(const uint8_t *data, size_t len, struct pd_msg *out, char *err, size_t errlen)
{
	size_t pos = 0, cap = 0;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		size_t at = pos;
		struct pd_field f = {0};
		uint64_t key;

		if (varint(data, len, &pos, &key))
			return pd_free(out), fail(err, errlen, "bad tag varint at %zu", at);
		f.num = key >> 3;
		f.wire = key & 7;
		if (f.num == 0 || key >> 3 > 536870911)
			return pd_free(out), fail(err, errlen, "field number %llu at %zu",
						  (unsigned long long)(key >> 3), at);
		switch (f.wire) {
		case PD_VARINT:
			if (varint(data, len, &pos, &f.v))
				return pd_free(out), fail(err, errlen, "bad varint at %zu", pos);
			break;
		case PD_FIXED64:
		case PD_FIXED32: {
			size_t n = f.wire == PD_FIXED64 ? 8 : 4;

			if (len - pos < n)
				return pd_free(out), fail(err, errlen, "fixed cut at %zu", pos);
			for (size_t i = 0; i < n; i++)
				f.v |= (uint64_t)data[pos + i] << (8 * i);
			pos += n;
			break;
		}
		case PD_LEN:
			if (varint(data, len, &pos, &f.v) || f.v > len - pos)
				return pd_free(out),
				       fail(err, errlen, "length past the end at %zu", at);
			f.data = data + pos;
			f.len = f.v;
			pos += f.len;
			break;
		default:
			return pd_free(out), fail(err, errlen, "wire type %d at %zu", f.wire, at);
		}
		if (out->n == cap) {
			struct pd_field *g =
			    realloc(out->f, (cap = cap ? 2 * cap : 16) * sizeof(*g));

			if (!g)
				return pd_free(out), fail(err, errlen, "out of memory");
			out->f = g;
		}
		out->f[out->n++] = f;
	}
	return 0;
}

void pd_free(struct pd_msg *m)
{
	free(m->f);
	m->f = NULL;
	m->n = 0;
}

int pd_check(const struct pd_msg *m, const struct pd_rule *rules, size_t n, const char *what,
	     char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct pd_field *f = &m->f[i];
		const struct pd_rule *r = NULL;
		size_t seen = 0;

		for (size_t j = 0; j < n && !r; j++)
			if (rules[j].num == f->num)
				r = &rules[j];
		if (!r)
			return fail(err, errlen, "%s: unknown field %u", what, f->num);
		if (f->wire != r->wire && !(r->packed_ok && f->wire == PD_LEN))
			return fail(err, errlen, "%s: field %u has wire type %d, wants %d", what,
				    f->num, f->wire, r->wire);
		for (size_t j = 0; j < m->n; j++)
			seen += m->f[j].num == f->num;
		if (seen > 1 && !r->repeated)
			return fail(err, errlen, "%s: field %u more than once", what, f->num);
	}
	return 0;
}

/* The values of a repeated varint field, packed or not, appended to *V. */
static int varints(const struct pd_field *f, uint64_t **v, size_t *n)
{
	size_t pos = 0;
	uint64_t x;

	if (f->wire == PD_VARINT) {
		*v = realloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = f->v;
		return 0;
	}
	while (pos < f->len) {
		if (varint(f->data, f->len, &pos, &x))
			return -1;
		*v = realloc(*v, (*n + 1) * sizeof(**v));
		(*v)[(*n)++] = x;
	}
	return 0;
}

static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

int pd_gunzip(const uint8_t *data, size_t len, uint8_t **out, size_t *outlen)
{
	z_stream z = {0};
	size_t cap = 1 << 16;
	int ret;

	if (len < 2 || data[0] != 0x1f || data[1] != 0x8b)
		return -1; /* gzip's magic: pprof reads gzip, not zlib or raw deflate */
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	*out = malloc(cap);
	*outlen = 0;
	z.next_in = (uint8_t *)data;
	z.avail_in = len;
	do {
		if (*outlen == cap)
			*out = realloc(*out, cap *= 2);
		z.next_out = *out + *outlen;
		z.avail_out = cap - *outlen;
		ret = inflate(&z, Z_NO_FLUSH);
		*outlen = cap - z.avail_out;
	} while (ret == Z_OK);
	inflateEnd(&z);
	if (ret != Z_STREAM_END || z.avail_in) {
		free(*out);
		return -1;
	}
	return 0;
}

/* Rules: a singular field, a repeated one, a repeated varint that may come packed. */
#define ONE(n, w)                                                                                  \
	{                                                                                          \
		n, w, false, false                                                                 \
	}
#define REP(n, w)                                                                                  \
	{                                                                                          \
		n, w, true, false                                                                  \
	}
#define PACKED(n)                                                                                  \
	{                                                                                          \
		n, PD_VARINT, true, true                                                           \
	}

/* ---- pprof ---- */

enum {
	P_SAMPLE_TYPE = 1,
	P_SAMPLE,
	P_MAPPING,
	P_LOCATION,
	P_FUNCTION,
	P_STRING_TABLE,
	P_DROP,
	P_KEEP,
	P_TIME,
	P_DURATION,
	P_PERIOD_TYPE,
	P_PERIOD,
	P_COMMENT,
	P_DEFAULT_TYPE
};

static const struct pd_rule profile_rules[] = {
    REP(P_SAMPLE_TYPE, PD_LEN), REP(P_SAMPLE, PD_LEN),		REP(P_MAPPING, PD_LEN),
    REP(P_LOCATION, PD_LEN),	REP(P_FUNCTION, PD_LEN),	REP(P_STRING_TABLE, PD_LEN),
    ONE(P_DROP, PD_VARINT),	ONE(P_KEEP, PD_VARINT),		ONE(P_TIME, PD_VARINT),
    ONE(P_DURATION, PD_VARINT), ONE(P_PERIOD_TYPE, PD_LEN),	ONE(P_PERIOD, PD_VARINT),
    PACKED(P_COMMENT),		ONE(P_DEFAULT_TYPE, PD_VARINT),
};
static const struct pd_rule value_type_rules[] = {ONE(1, PD_VARINT), ONE(2, PD_VARINT)};
static const struct pd_rule sample_rules[] = {PACKED(1), PACKED(2), REP(3, PD_LEN)};
static const struct pd_rule label_rules[] = {ONE(1, PD_VARINT), ONE(2, PD_VARINT),
					     ONE(3, PD_VARINT), ONE(4, PD_VARINT)};
static const struct pd_rule location_rules[] = {
    ONE(1, PD_VARINT), ONE(2, PD_VARINT), ONE(3, PD_VARINT), REP(4, PD_LEN), ONE(5, PD_VARINT)};
static const struct pd_rule mapping_rules[] = {
    ONE(1, PD_VARINT), ONE(2, PD_VARINT), ONE(3, PD_VARINT), ONE(4, PD_VARINT), ONE(5, PD_VARINT),
    ONE(6, PD_VARINT), ONE(7, PD_VARINT), ONE(8, PD_VARINT), ONE(9, PD_VARINT), ONE(10, PD_VARINT)};
static const struct pd_rule line_rules[] = {ONE(1, PD_VARINT), ONE(2, PD_VARINT),
					    ONE(3, PD_VARINT)};
static const struct pd_rule function_rules[] = {
    ONE(1, PD_VARINT), ONE(2, PD_VARINT), ONE(3, PD_VARINT), ONE(4, PD_VARINT), ONE(5, PD_VARINT)};

/* A nested message, parsed and checked. */
static int sub(const struct pd_field *f, const struct pd_rule *rules, size_t n, const char *what,
	       struct pd_msg *m, char *err, size_t errlen)
{
	if (pd_parse(f->data, f->len, m, err, errlen))
		return -1;
	if (pd_check(m, rules, n, what, err, errlen)) {
		pd_free(m);
		return -1;
	}
	return 0;
}

static uint64_t field_v(const struct pd_msg *m, uint32_t num)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->f[i].num == num)
			return m->f[i].v;
	return 0;
}

struct pp_tables {
	char **strings;
	size_t nstrings;
	struct pd_msg *locs, *funcs, *maps;
	size_t nlocs, nfuncs, nmaps;
};

static const char *string_at(const struct pp_tables *t, uint64_t i, char *err, size_t errlen,
			     int *bad)
{
	if (i >= t->nstrings) {
		*bad = fail(err, errlen, "string index %llu past the table (%zu)",
			    (unsigned long long)i, t->nstrings);
		return "";
	}
	return t->strings[i];
}

static const struct pd_msg *by_id(const struct pd_msg *ms, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (field_v(&ms[i], 1) == id)
			return &ms[i];
	return NULL;
}

/* The locations' lines into S's frames, innermost first. */
static int sample_frames(const struct pp_tables *t, const uint64_t *ids, size_t n,
			 struct pp_sample *s, char *err, size_t errlen)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		const struct pd_msg *loc = by_id(t->locs, t->nlocs, ids[i]);

		if (!ids[i] || !loc)
			return fail(err, errlen, "sample refers to location %llu, not defined",
				    (unsigned long long)ids[i]);
		for (size_t j = 0; j < loc->n; j++) {
			struct pd_msg line;
			const struct pd_msg *fn;

			if (loc->f[j].num != 4)
				continue;
			if (sub(&loc->f[j], line_rules, 3, "Line", &line, err, errlen))
				return -1;
			fn = by_id(t->funcs, t->nfuncs, field_v(&line, 1));
			if (!field_v(&line, 1) || !fn) {
				pd_free(&line);
				return fail(err, errlen,
					    "line refers to function %llu, not defined",
					    (unsigned long long)field_v(&line, 1));
			}
			s->frames = realloc(s->frames, (s->nframes + 1) * sizeof(char *));
			s->sysnames = realloc(s->sysnames, (s->nframes + 1) * sizeof(char *));
			s->files = realloc(s->files, (s->nframes + 1) * sizeof(char *));
			s->lines = realloc(s->lines, (s->nframes + 1) * sizeof(int64_t));
			s->addrs = realloc(s->addrs, (s->nframes + 1) * sizeof(uint64_t));
			s->mapping = realloc(s->mapping, (s->nframes + 1) * sizeof(uint64_t));
			s->frames[s->nframes] =
			    strdup(string_at(t, field_v(fn, 2), err, errlen, &bad));
			s->sysnames[s->nframes] =
			    strdup(string_at(t, field_v(fn, 3), err, errlen, &bad));
			s->files[s->nframes] =
			    strdup(string_at(t, field_v(fn, 4), err, errlen, &bad));
			s->addrs[s->nframes] = field_v(loc, 3);
			s->mapping[s->nframes] = field_v(loc, 2);
			s->lines[s->nframes++] = (int64_t)field_v(&line, 2);
			pd_free(&line);
			if (bad)
				return -1;
		}
	}
	return 0;
}

static int decode_sample(const struct pp_tables *t, const struct pd_field *f, struct pp_sample *s,
			 char *err, size_t errlen)
{
	uint64_t *ids = NULL, *vals = NULL;
	size_t nids = 0, nvals = 0;
	struct pd_msg m, label;
	int ret = -1, bad = 0;

	if (sub(f, sample_rules, 3, "Sample", &m, err, errlen))
		return -1;
	for (size_t i = 0; i < m.n; i++) {
		if ((m.f[i].num == 1 && varints(&m.f[i], &ids, &nids)) ||
		    (m.f[i].num == 2 && varints(&m.f[i], &vals, &nvals))) {
			fail(err, errlen, "bad packed varints in a sample");
			goto out;
		}
		if (m.f[i].num != 3)
			continue;
		if (sub(&m.f[i], label_rules, 4, "Label", &label, err, errlen))
			goto out;
		{
			const char *key = string_at(t, field_v(&label, 1), err, errlen, &bad);
			char *value = strdup(string_at(t, field_v(&label, 2), err, errlen, &bad));

			if (!strcmp(key, "lock"))
				free(s->lock), s->lock = value;
			else if (!strcmp(key, "thread"))
				free(s->thread), s->thread = value;
			else if (!strcmp(key, "holder"))
				free(s->holder), s->holder = value;
			else
				free(value);
		}
		pd_free(&label);
		if (bad)
			goto out;
	}
	if (nvals != 2) {
		fail(err, errlen, "a sample with %zu values, not 2", nvals);
		goto out;
	}
	if (!nids) {
		fail(err, errlen, "a sample without locations");
		goto out;
	}
	s->values[0] = (int64_t)vals[0];
	s->values[1] = (int64_t)vals[1];
	ret = sample_frames(t, ids, nids, s, err, errlen);
out:
	free(ids);
	free(vals);
	pd_free(&m);
	return ret;
}

/* Location and function ids: unique, not 0; function names are string indices in range. */
static int check_ids(const struct pp_tables *t, char *err, size_t errlen)
{
	int bad = 0;

	for (size_t i = 0; i < t->nmaps; i++) {
		if (!field_v(&t->maps[i], 1) || by_id(t->maps, i, field_v(&t->maps[i], 1)))
			return fail(err, errlen, "mapping id %llu is 0 or not unique",
				    (unsigned long long)field_v(&t->maps[i], 1));
		string_at(t, field_v(&t->maps[i], 5), err, errlen, &bad);
		string_at(t, field_v(&t->maps[i], 6), err, errlen, &bad);
	}
	for (size_t i = 0; i < t->nlocs; i++) {
		uint64_t map = field_v(&t->locs[i], 2);

		if (!field_v(&t->locs[i], 1) || by_id(t->locs, i, field_v(&t->locs[i], 1)))
			return fail(err, errlen, "location id %llu is 0 or not unique",
				    (unsigned long long)field_v(&t->locs[i], 1));
		if (map && !by_id(t->maps, t->nmaps, map))
			return fail(err, errlen, "location refers to mapping %llu, not defined",
				    (unsigned long long)map);
	}
	for (size_t i = 0; i < t->nfuncs; i++) {
		if (!field_v(&t->funcs[i], 1) || by_id(t->funcs, i, field_v(&t->funcs[i], 1)))
			return fail(err, errlen, "function id %llu is 0 or not unique",
				    (unsigned long long)field_v(&t->funcs[i], 1));
		for (uint32_t k = 2; k <= 4; k++)
			string_at(t, field_v(&t->funcs[i], k), err, errlen, &bad);
	}
	return bad;
}

static void value_type(const struct pp_tables *t, const struct pd_msg *vt, char **type, char **unit,
		       char *err, size_t errlen, int *bad)
{
	*type = strdup(string_at(t, field_v(vt, 1), err, errlen, bad));
	*unit = strdup(string_at(t, field_v(vt, 2), err, errlen, bad));
}

static int decode_tables(const struct pd_msg *m, struct pp_tables *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct pd_field *f = &m->f[i];
		struct pd_msg **arr = f->num == P_LOCATION   ? &t->locs
				      : f->num == P_FUNCTION ? &t->funcs
							     : &t->maps;
		size_t *n = f->num == P_LOCATION   ? &t->nlocs
			    : f->num == P_FUNCTION ? &t->nfuncs
						   : &t->nmaps;
		int ret;

		if (f->num == P_STRING_TABLE) {
			t->strings = realloc(t->strings, (t->nstrings + 1) * sizeof(char *));
			t->strings[t->nstrings++] = dup_n(f->data, f->len);
			continue;
		}
		if (f->num != P_LOCATION && f->num != P_FUNCTION && f->num != P_MAPPING)
			continue;
		*arr = realloc(*arr, (*n + 1) * sizeof(**arr));
		if (f->num == P_LOCATION)
			ret = sub(f, location_rules, 5, "Location", &(*arr)[*n], err, errlen);
		else if (f->num == P_FUNCTION)
			ret = sub(f, function_rules, 5, "Function", &(*arr)[*n], err, errlen);
		else
			ret = sub(f, mapping_rules, 10, "Mapping", &(*arr)[*n], err, errlen);
		if (ret)
			return -1;
		(*n)++;
	}
	if (!t->nstrings || t->strings[0][0])
		return fail(err, errlen, "the string table does not start with \"\"");
	return check_ids(t, err, errlen);
}

static void free_tables(struct pp_tables *t)
{
	for (size_t i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	for (size_t i = 0; i < t->nlocs; i++)
		pd_free(&t->locs[i]);
	for (size_t i = 0; i < t->nfuncs; i++)
		pd_free(&t->funcs[i]);
	for (size_t i = 0; i < t->nmaps; i++)
		pd_free(&t->maps[i]);
	free(t->maps);
	free(t->strings);
	free(t->locs);
	free(t->funcs);
}

int pp_decode(const uint8_t *data, size_t len, struct pp_profile *p, char *err, size_t errlen)
{
	struct pp_tables t = {0};
	struct pd_msg m, vt;
	size_t ntypes = 0;
	int ret = -1, bad = 0;

	memset(p, 0, sizeof(*p));
	if (pd_parse(data, len, &m, err, errlen))
		return -1;
	if (pd_check(&m, profile_rules, sizeof(profile_rules) / sizeof(profile_rules[0]), "Profile",
		     err, errlen) ||
	    decode_tables(&m, &t, err, errlen))
		goto out;
	p->nstrings = t.nstrings;
	p->nlocations = t.nlocs;
	p->nfunctions = t.nfuncs;
	p->nmappings = t.nmaps;
	p->mappings = calloc(t.nmaps ? t.nmaps : 1, sizeof(*p->mappings));
	for (size_t i = 0; i < t.nmaps && !bad; i++) {
		const struct pd_msg *mp = &t.maps[i];

		p->mappings[i] = (struct pp_mapping){
		    .id = field_v(mp, 1), .start = field_v(mp, 2), .limit = field_v(mp, 3),
		    .offset = field_v(mp, 4),
		    .file = strdup(string_at(&t, field_v(mp, 5), err, errlen, &bad)),
		    .build_id = strdup(string_at(&t, field_v(mp, 6), err, errlen, &bad))};
	}
	for (size_t i = 0; i < m.n && !bad; i++) {
		const struct pd_field *f = &m.f[i];

		if (f->num == P_SAMPLE_TYPE || f->num == P_PERIOD_TYPE) {
			if (sub(f, value_type_rules, 2, "ValueType", &vt, err, errlen))
				goto out;
			if (f->num == P_PERIOD_TYPE)
				value_type(&t, &vt, &p->period_type, &p->period_unit, err, errlen,
					   &bad);
			else if (ntypes < 2)
				value_type(&t, &vt, &p->types[ntypes], &p->units[ntypes], err,
					   errlen, &bad);
			ntypes += f->num == P_SAMPLE_TYPE;
			pd_free(&vt);
		} else if (f->num == P_SAMPLE) {
			p->samples = realloc(p->samples, (p->nsamples + 1) * sizeof(*p->samples));
			memset(&p->samples[p->nsamples], 0, sizeof(*p->samples));
			if (decode_sample(&t, f, &p->samples[p->nsamples++], err, errlen))
				goto out;
		} else if (f->num == P_PERIOD) {
			p->period = (int64_t)f->v;
		} else if (f->num == P_DURATION) {
			p->duration_ns = (int64_t)f->v;
		} else if (f->num == P_COMMENT) {
			string_at(&t, f->v, err, errlen, &bad);
		}
	}
	if (!bad && ntypes != 2)
		bad = fail(err, errlen, "%zu sample types, not 2", ntypes);
	ret = bad ? -1 : 0;
out:
	free_tables(&t);
	pd_free(&m);
	return ret;
}

void pp_free(struct pp_profile *p)
{
	for (size_t i = 0; i < p->nsamples; i++) {
		struct pp_sample *s = &p->samples[i];

		for (size_t j = 0; j < s->nframes; j++) {
			free(s->frames[j]);
			free(s->sysnames[j]);
			free(s->files[j]);
		}
		free(s->frames);
		free(s->sysnames);
		free(s->files);
		free(s->lines);
		free(s->addrs);
		free(s->mapping);
		free(s->lock);
		free(s->thread);
		free(s->holder);
	}
	free(p->samples);
	for (size_t i = 0; p->mappings && i < p->nmappings; i++) {
		free(p->mappings[i].file);
		free(p->mappings[i].build_id);
	}
	free(p->mappings);
	for (int i = 0; i < 2; i++) {
		free(p->types[i]);
		free(p->units[i]);
	}
	free(p->period_type);
	free(p->period_unit);
	memset(p, 0, sizeof(*p));
}

/* ---- Perfetto ---- */

enum { T_TS = 8, T_SEQ = 10, T_EVENT = 11, T_INTERNED = 12, T_FLAGS = 13, T_DESCRIPTOR = 60 };
enum { CLEARED = 1, NEEDS_STATE = 2 };

static const struct pd_rule trace_rules[] = {REP(1, PD_LEN)};
static const struct pd_rule packet_rules[] = {ONE(T_TS, PD_VARINT),    ONE(T_SEQ, PD_VARINT),
					      ONE(T_EVENT, PD_LEN),    ONE(T_INTERNED, PD_LEN),
					      ONE(T_FLAGS, PD_VARINT), ONE(T_DESCRIPTOR, PD_LEN)};
static const struct pd_rule event_rules[] = {
    PACKED(3),		REP(4, PD_LEN),	     ONE(9, PD_VARINT),	 ONE(10, PD_VARINT),
    ONE(11, PD_VARINT), REP(47, PD_FIXED64), REP(48, PD_FIXED64)};
static const struct pd_rule annotation_rules[] = {ONE(1, PD_VARINT), ONE(3, PD_VARINT),
						  ONE(6, PD_LEN), ONE(17, PD_VARINT)};
static const struct pd_rule interned_rules[] = {REP(1, PD_LEN), REP(2, PD_LEN), REP(3, PD_LEN),
						REP(29, PD_LEN)};
static const struct pd_rule iid_rules[] = {ONE(1, PD_VARINT), ONE(2, PD_LEN)};
static const struct pd_rule descriptor_rules[] = {ONE(1, PD_VARINT), ONE(2, PD_LEN), ONE(3, PD_LEN),
						  ONE(4, PD_LEN), ONE(5, PD_VARINT)};
static const struct pd_rule process_rules[] = {ONE(1, PD_VARINT), ONE(6, PD_LEN)};
static const struct pd_rule thread_rules[] = {ONE(1, PD_VARINT), ONE(2, PD_VARINT), ONE(5, PD_LEN)};

#define NRULES(r) (sizeof(r) / sizeof((r)[0]))

/* Interning tables: 0 annotation string values (InternedData field 29), 1 categories, 2 event
 * names, 3 annotation names. */
struct interned {
	uint64_t *iids[4];
	char **names[4];
	size_t n[4];
};

static const char *lookup(const struct interned *in, int table, uint64_t iid)
{
	for (size_t i = 0; i < in->n[table]; i++)
		if (in->iids[table][i] == iid)
			return in->names[table][i];
	return NULL;
}

static int add_interned(struct interned *in, const struct pd_field *f, char *err, size_t errlen)
{
	struct pd_msg m, e;
	int ret = -1;

	if (sub(f, interned_rules, NRULES(interned_rules), "InternedData", &m, err, errlen))
		return -1;
	for (size_t i = 0; i < m.n; i++) {
		int t = m.f[i].num == 29 ? 0 : (int)m.f[i].num;
		const struct pd_field *name = NULL;
		const char *old;

		if (sub(&m.f[i], iid_rules, NRULES(iid_rules), "interned entry", &e, err, errlen))
			goto out;
		for (size_t j = 0; j < e.n; j++)
			name = e.f[j].num == 2 ? &e.f[j] : name;
		if (!field_v(&e, 1) || !name) {
			pd_free(&e);
			fail(err, errlen, "an interned entry without iid or name");
			goto out;
		}
		old = lookup(in, t, field_v(&e, 1));
		if (old) {
			bool same = strlen(old) == name->len && !memcmp(old, name->data, name->len);

			pd_free(&e);
			if (!same) {
				fail(err, errlen, "iid %llu of table %d defined twice",
				     (unsigned long long)field_v(&e, 1), t);
				goto out;
			}
			continue;
		}
		in->iids[t] = realloc(in->iids[t], (in->n[t] + 1) * sizeof(uint64_t));
		in->names[t] = realloc(in->names[t], (in->n[t] + 1) * sizeof(char *));
		in->iids[t][in->n[t]] = field_v(&e, 1);
		in->names[t][in->n[t]++] = dup_n(name->data, name->len);
		pd_free(&e);
	}
	ret = 0;
out:
	pd_free(&m);
	return ret;
}

static int add_track(struct pf_trace *t, const struct pd_field *f, char *err, size_t errlen)
{
	struct pd_msg m, d;
	struct pf_track k = {0};
	int ret = -1;

	if (sub(f, descriptor_rules, NRULES(descriptor_rules), "TrackDescriptor", &m, err, errlen))
		return -1;
	k.uuid = field_v(&m, 1);
	k.parent = field_v(&m, 5);
	for (size_t i = 0; i < m.n; i++) {
		bool proc = m.f[i].num == 3;

		if (m.f[i].num == 2 && !k.name)
			k.name = dup_n(m.f[i].data, m.f[i].len); /* a track's own name */
		if (m.f[i].num != 3 && m.f[i].num != 4)
			continue;
		if (proc ? sub(&m.f[i], process_rules, 2, "ProcessDescriptor", &d, err, errlen)
			 : sub(&m.f[i], thread_rules, 3, "ThreadDescriptor", &d, err, errlen))
			goto out;
		k.process = proc;
		k.pid = field_v(&d, 1);
		k.tid = proc ? 0 : field_v(&d, 2);
		for (size_t j = 0; j < d.n; j++)
			if (d.f[j].num == (proc ? 6u : 5u))
				free(k.name), k.name = dup_n(d.f[j].data, d.f[j].len);
		pd_free(&d);
	}
	if (!k.uuid) {
		fail(err, errlen, "a track without uuid");
		goto out;
	}
	/* a thread renamed is described again: the last description holds */
	for (size_t i = 0; i < t->ntracks; i++) {
		if (t->tracks[i].uuid != k.uuid)
			continue;
		if (t->tracks[i].process != k.process || t->tracks[i].tid != k.tid) {
			fail(err, errlen, "track %llu described as two things",
			     (unsigned long long)k.uuid);
			goto out;
		}
		free(t->tracks[i].name);
		k.described = t->tracks[i].described + 1;
		t->tracks[i] = k;
		k.name = NULL;
		ret = 0;
		goto out;
	}
	t->tracks = realloc(t->tracks, (t->ntracks + 1) * sizeof(*t->tracks));
	k.described = 1;
	t->tracks[t->ntracks++] = k;
	k.name = NULL;
	ret = 0;
out:
	free(k.name);
	pd_free(&m);
	return ret;
}

static int annotation(const struct interned *in, const struct pd_field *f, struct pf_event *ev,
		      char *err, size_t errlen)
{
	struct pd_msg a;
	const char *name;

	if (sub(f, annotation_rules, NRULES(annotation_rules), "DebugAnnotation", &a, err, errlen))
		return -1;
	name = lookup(in, 3, field_v(&a, 1));
	if (!name) {
		pd_free(&a);
		return fail(err, errlen, "annotation name iid %llu not interned",
			    (unsigned long long)field_v(&a, 1));
	}
	for (size_t i = 0; i < a.n; i++) {
		const char *v = a.f[i].num == 17 ? lookup(in, 0, a.f[i].v) : NULL;
		char *value;

		if (a.f[i].num == 17 && !v) {
			pd_free(&a);
			return fail(err, errlen, "annotation string iid %llu not interned",
				    (unsigned long long)a.f[i].v);
		}
		if (a.f[i].num != 6 && a.f[i].num != 17)
			continue;
		value = v ? strdup(v) : dup_n(a.f[i].data, a.f[i].len);
		if (!strcmp(name, "result"))
			free(ev->result), ev->result = value;
		else if (!strcmp(name, "stack"))
			free(ev->stack), ev->stack = value;
		else
			free(value);
	}
	pd_free(&a);
	return 0;
}

static int add_event(struct pf_trace *t, const struct interned *in, const struct pd_field *f,
		     uint64_t ts, char *err, size_t errlen)
{
	struct pf_event ev = {.ts = ts};
	struct pd_msg m;
	int ret = -1;

	if (sub(f, event_rules, NRULES(event_rules), "TrackEvent", &m, err, errlen))
		return -1;
	ev.type = field_v(&m, 9);
	ev.track = field_v(&m, 11);
	for (size_t i = 0; i < m.n; i++) {
		const struct pd_field *g = &m.f[i];
		const char *s;

		if (g->num == 10 || g->num == 3) {
			s = lookup(in, g->num == 10 ? 2 : 1, g->v);
			if (!s) {
				fail(err, errlen, "%s iid %llu not interned",
				     g->num == 10 ? "name" : "category", (unsigned long long)g->v);
				goto out;
			}
			*(g->num == 10 ? &ev.name : &ev.category) = strdup(s);
		} else if (g->num == 47 || g->num == 48) {
			*(g->num == 47 ? &ev.flow : &ev.terminating_flow) = g->v;
		} else if (g->num == 4 && annotation(in, g, &ev, err, errlen)) {
			goto out;
		}
	}
	if (ev.type < PF_BEGIN || ev.type > PF_INSTANT || !ev.track ||
	    (ev.type != PF_END && !ev.name)) {
		fail(err, errlen, "event of type %d without a track or name", ev.type);
		goto out;
	}
	t->events = realloc(t->events, (t->nevents + 1) * sizeof(*t->events));
	t->events[t->nevents++] = ev;
	memset(&ev, 0, sizeof(ev));
	ret = 0;
out:
	free(ev.name);
	free(ev.category);
	free(ev.result);
	free(ev.stack);
	pd_free(&m);
	return ret;
}

static int add_packet(struct pf_trace *t, struct interned *in, const struct pd_field *f,
		      size_t index, uint64_t *seq, char *err, size_t errlen)
{
	struct pd_msg m;
	uint64_t flags;
	int ret = -1;

	if (sub(f, packet_rules, NRULES(packet_rules), "TracePacket", &m, err, errlen))
		return -1;
	flags = field_v(&m, T_FLAGS);
	if (!field_v(&m, T_SEQ) || (index && field_v(&m, T_SEQ) != *seq)) {
		fail(err, errlen, "packet %zu: trusted_packet_sequence_id %llu", index,
		     (unsigned long long)field_v(&m, T_SEQ));
		goto out;
	}
	*seq = field_v(&m, T_SEQ);
	if (!index && !(flags & CLEARED)) {
		fail(err, errlen, "the first packet does not clear the incremental state");
		goto out;
	}
	for (size_t i = 0; i < m.n; i++)
		if (m.f[i].num == T_INTERNED && add_interned(in, &m.f[i], err, errlen))
			goto out;
	for (size_t i = 0; i < m.n; i++) {
		if (m.f[i].num == T_DESCRIPTOR && add_track(t, &m.f[i], err, errlen))
			goto out;
		if (m.f[i].num != T_EVENT)
			continue;
		if (!(flags & NEEDS_STATE)) {
			fail(err, errlen, "packet %zu uses interned data without needing it",
			     index);
			goto out;
		}
		if (add_event(t, in, &m.f[i], field_v(&m, T_TS), err, errlen))
			goto out;
	}
	ret = 0;
out:
	pd_free(&m);
	return ret;
}

struct span {
	uint64_t begin, end;
};

static int cmp_span(const void *pa, const void *pb)
{
	const struct span *a = pa, *b = pb;

	if (a->begin != b->begin)
		return a->begin < b->begin ? -1 : 1;
	return a->end > b->end ? -1 : a->end < b->end;
}

/* On each track, in the order written, every BEGIN has its END, no earlier; in time, slices
 * nest (a viewer sorts by time: overlapping slices on one track would be drawn wrongly). */
static int check_slices(const struct pf_trace *t, char *err, size_t errlen)
{
	for (size_t k = 0; k < t->ntracks; k++) {
		struct span *spans = NULL, stack[64];
		size_t n = 0, depth = 0, open = 0;
		uint64_t begin = 0;
		int ret = 0;

		for (size_t i = 0; i < t->nevents; i++) {
			const struct pf_event *e = &t->events[i];

			if (e->track != t->tracks[k].uuid || e->type == PF_INSTANT)
				continue;
			if (e->type == PF_BEGIN) {
				if (open)
					return free(spans), fail(err, errlen,
								 "track %llu: nested "
								 "begin in the stream",
								 (unsigned long long)e->track);
				open = 1;
				begin = e->ts;
				continue;
			}
			if (!open || e->ts < begin)
				return free(spans), fail(err, errlen,
							 "track %llu: end without begin, "
							 "or before it at %llu",
							 (unsigned long long)e->track,
							 (unsigned long long)e->ts);
			open = 0;
			spans = realloc(spans, (n + 1) * sizeof(*spans));
			spans[n++] = (struct span){begin, e->ts};
		}
		if (open)
			return free(spans), fail(err, errlen, "track %llu: a slice never ends",
						 (unsigned long long)t->tracks[k].uuid);
		if (n > 1)
			qsort(spans, n, sizeof(*spans), cmp_span);
		for (size_t i = 0; i < n && !ret; i++) {
			while (depth && stack[depth - 1].end <= spans[i].begin)
				depth--;
			if (depth && spans[i].end > stack[depth - 1].end)
				ret = fail(err, errlen,
					   "track %llu: slices [%llu, %llu] and [%llu, "
					   "%llu] overlap",
					   (unsigned long long)t->tracks[k].uuid,
					   (unsigned long long)stack[depth - 1].begin,
					   (unsigned long long)stack[depth - 1].end,
					   (unsigned long long)spans[i].begin,
					   (unsigned long long)spans[i].end);
			else if (depth < 64)
				stack[depth++] = spans[i];
		}
		free(spans);
		if (ret)
			return ret;
	}
	return 0;
}

static bool track_known(const struct pf_trace *t, uint64_t uuid)
{
	for (size_t i = 0; i < t->ntracks; i++)
		if (t->tracks[i].uuid == uuid)
			return true;
	return false;
}

int pf_decode(const uint8_t *data, size_t len, struct pf_trace *t, char *err, size_t errlen)
{
	struct interned in = {0};
	struct pd_msg m;
	uint64_t seq = 0;
	int ret = -1;

	memset(t, 0, sizeof(*t));
	if (pd_parse(data, len, &m, err, errlen))
		return -1;
	if (pd_check(&m, trace_rules, 1, "Trace", err, errlen))
		goto out;
	for (size_t i = 0; i < m.n; i++)
		if (add_packet(t, &in, &m.f[i], i, &seq, err, errlen))
			goto out;
	for (size_t i = 0; i < t->nevents; i++) {
		if (!track_known(t, t->events[i].track)) {
			fail(err, errlen, "event %zu on track %llu, never described", i,
			     (unsigned long long)t->events[i].track);
			goto out;
		}
	}
	ret = check_slices(t, err, errlen);
out:
	for (int k = 0; k < 4; k++) {
		for (size_t i = 0; i < in.n[k]; i++)
			free(in.names[k][i]);
		free(in.names[k]);
		free(in.iids[k]);
	}
	pd_free(&m);
	return ret;
}

void pf_free(struct pf_trace *t)
{
	for (size_t i = 0; i < t->nevents; i++) {
		free(t->events[i].name);
		free(t->events[i].category);
		free(t->events[i].result);
		free(t->events[i].stack);
	}
	for (size_t i = 0; i < t->ntracks; i++)
		free(t->tracks[i].name);
	free(t->events);
	free(t->tracks);
	memset(t, 0, sizeof(*t));
}
