/* json.c - the JSON writer: a stack of open containers decides where commas and newlines go;
 * the first error sticks, and every later call is a no-op. */
#include "util/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting is a caller's bug (-EINVAL), not data: our documents are a few levels deep. */
#define MAX_DEPTH 64
/* Output is gathered here and handed to the FILE in blocks: an unbuffered stdout (a test
 * harness, a terminal) would otherwise cost a write(2) per token. Larger blocks were measured
 * not to pay: a 2 GB export spent more time in the kernel with blocks of 256 KiB or 1 MiB. */
#define BUF_SIZE (64 * 1024)

struct level {
	bool object;
	uint64_t count; /* members written so far */
};

struct json_writer {
	FILE *f;
	int pretty_depth;
	int err;
	int depth;
	bool key_pending; /* a key was written; its value is due */
	bool done;	  /* the top-level value is complete */
	struct level stack[MAX_DEPTH];
	size_t len; /* bytes in buf not yet handed to the FILE */
	size_t cap; /* BUF_SIZE, or more for a raw value longer than that */
	char *buf;
};

struct json_writer *json_writer__new(FILE *f, int pretty_depth)
{
	struct json_writer *w;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->buf = malloc(BUF_SIZE);
	if (!w->buf) {
		free(w);
		return NULL;
	}
	w->cap = BUF_SIZE;
	w->f = f;
	w->pretty_depth = pretty_depth > 0 ? pretty_depth : 0;
	return w;
}

void json_writer__free(struct json_writer *w)
{
	if (w)
		free(w->buf);
	free(w);
}

int json_writer__error(const struct json_writer *w)
{
	return w->err;
}

static void fail(struct json_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

static void drain(struct json_writer *w)
{
	if (w->err || !w->len)
		return;
	errno = 0;
	if (fwrite(w->buf, 1, w->len, w->f) != w->len)
		fail(w, errno ? -errno : -EIO);
	w->len = 0;
}

static void put_slow(struct json_writer *w, const char *s, size_t n)
{
	while (!w->err && n) {
		size_t room = w->cap - w->len, take = n < room ? n : room;

		memcpy(w->buf + w->len, s, take);
		w->len += take;
		s += take;
		n -= take;
		if (w->len == w->cap)
			drain(w);
	}
}

/* The hot path of every writer call: a copy into the buffer (inlined, so that the constant
 * lengths of punctuation make the copy a store). */
static inline __attribute__((always_inline)) void put(struct json_writer *w, const char *s,
						      size_t n)
{
	if (n < w->cap - w->len) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
		return;
	}
	put_slow(w, s, n);
}

static void put_text(struct json_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void newline(struct json_writer *w, int indent)
{
	static const char spaces[] = "                                ";

	put(w, "\n", 1);
	for (int n = indent * 2; n > 0; n -= (int)sizeof(spaces) - 1)
		put(w, spaces, n < (int)sizeof(spaces) - 1 ? (size_t)n : sizeof(spaces) - 1);
}

/* The separator before a member of the innermost container: a comma after the first member,
 * then a line break in the expanded levels. */
static void separate(struct json_writer *w)
{
	struct level *top = &w->stack[w->depth - 1];
	bool expanded = w->depth - 1 < w->pretty_depth;

	if (top->count++)
		put_text(w, expanded || !w->pretty_depth ? "," : ", ");
	if (expanded)
		newline(w, w->depth);
}

/* Checks that a value may come here and writes what precedes it. False if it may not. */
static bool value_begin(struct json_writer *w)
{
	if (w->err)
		return false;
	if (!w->depth) {
		if (w->done) {
			fail(w, -EINVAL);
			return false;
		}
		return true;
	}
	if (w->stack[w->depth - 1].object) {
		if (!w->key_pending) {
			fail(w, -EINVAL);
			return false;
		}
		w->key_pending = false;
		return true;
	}
	separate(w);
	return true;
}

static void value_end(struct json_writer *w)
{
	if (!w->depth)
		w->done = true;
}

static void container_begin(struct json_writer *w, bool object)
{
	if (!value_begin(w))
		return;
	if (w->depth == MAX_DEPTH) {
		fail(w, -EINVAL);
		return;
	}
	w->stack[w->depth++] = (struct level){.object = object};
	put(w, object ? "{" : "[", 1);
}

static void container_end(struct json_writer *w, bool object)
{
	if (w->err)
		return;
	if (!w->depth || w->stack[w->depth - 1].object != object || w->key_pending) {
		fail(w, -EINVAL);
		return;
	}
	w->depth--;
	if (w->stack[w->depth].count && w->depth < w->pretty_depth)
		newline(w, w->depth);
	put(w, object ? "}" : "]", 1);
	value_end(w);
}

void json_writer__object_begin(struct json_writer *w)
{
	container_begin(w, true);
}

void json_writer__object_end(struct json_writer *w)
{
	container_end(w, true);
}

void json_writer__array_begin(struct json_writer *w)
{
	container_begin(w, false);
}

void json_writer__array_end(struct json_writer *w)
{
	container_end(w, false);
}

/* Length of the well-formed UTF-8 sequence at S (N bytes available), or 0 if it is not one:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t v, min;
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, v = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* The escape for one character, or NULL if it goes out as it is. U+2028/2029 are escaped
 * because JavaScript before ES2019 reads them as line ends inside strings. */
static const char *escape(uint32_t cp, char *buf, size_t len)
{
	switch (cp) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	}
	if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029) {
		snprintf(buf, len, "\\u%04x", (unsigned int)cp);
		return buf;
	}
	return NULL;
}

size_t json_quoted_bound(const char *str)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)str; *s; s++)
		n += *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\' ? 1 : 6;
	return n;
}

size_t json_quote(char *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	char *o = out, buf[12];

	*o++ = '"';
	while (n) {
		size_t run = 0, len;
		const char *esc;
		uint32_t cp;

		/* printable ASCII but for the quote and backslash, the bulk of text: as it is */
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		memcpy(o, s, run);
		o += run, s += run, n -= run;
		if (!n)
			break;
		len = utf8_len(s, n, &cp);
		esc = len ? escape(cp, buf, sizeof(buf)) : "\\ufffd";
		if (esc) {
			size_t e = strlen(esc);

			memcpy(o, esc, e);
			o += e;
			len = len ? len : 1; /* an invalid byte is replaced alone */
		} else {
			memcpy(o, s, len);
			o += len;
		}
		s += len, n -= len;
	}
	*o++ = '"';
	return o - out;
}

/* Makes room for MAX bytes in the buffer: drained first, grown if MAX is more than it holds.
 * False on error. */
static bool room(struct json_writer *w, size_t max)
{
	char *bigger;

	if (max <= w->cap - w->len)
		return !w->err;
	drain(w);
	if (w->err || max <= w->cap)
		return !w->err;
	bigger = realloc(w->buf, max);
	if (!bigger) {
		fail(w, -ENOMEM);
		return false;
	}
	w->buf = bigger;
	w->cap = max;
	return true;
}

static void put_string(struct json_writer *w, const char *s)
{
	size_t n = strlen(s);

	if (room(w, JSON_QUOTED_MAX(n)))
		w->len += json_quote(w->buf + w->len, s, n);
}

void json_writer__key(struct json_writer *w, const char *key)
{
	if (w->err)
		return;
	if (!w->depth || !w->stack[w->depth - 1].object || w->key_pending || !key) {
		fail(w, -EINVAL);
		return;
	}
	separate(w);
	put_string(w, key);
	put_text(w, w->pretty_depth ? ": " : ":");
	w->key_pending = true;
}

static void put_scalar(struct json_writer *w, const char *text)
{
	if (!value_begin(w))
		return;
	put_text(w, text);
	value_end(w);
}

void json_writer__string(struct json_writer *w, const char *s)
{
	if (!s) {
		json_writer__null(w);
		return;
	}
	if (!value_begin(w))
		return;
	put_string(w, s);
	value_end(w);
}

void json_writer__stringf(struct json_writer *w, const char *fmt, ...)
{
	char buf[256], *s = buf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0) {
		fail(w, -EINVAL);
		return;
	}
	if ((size_t)n >= sizeof(buf)) {
		s = malloc(n + 1);
		if (!s) {
			fail(w, -ENOMEM);
			return;
		}
		va_start(ap, fmt);
		vsnprintf(s, n + 1, fmt, ap);
		va_end(ap);
	}
	json_writer__string(w, s);
	if (s != buf)
		free(s);
}

/* V's digits, written backwards so that they end just before END; returns the first. Numbers
 * are most of an export: snprintf was a third of its time. */
static char *digits(char *end, uint64_t v)
{
	do {
		*--end = '0' + v % 10;
		v /= 10;
	} while (v);
	return end;
}

void json_writer__i64(struct json_writer *w, int64_t v)
{
	char buf[24], *p;

	buf[sizeof(buf) - 1] = '\0';
	p = digits(buf + sizeof(buf) - 1, v < 0 ? -(uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	put_scalar(w, p);
}

void json_writer__u64(struct json_writer *w, uint64_t v)
{
	char buf[24];

	buf[sizeof(buf) - 1] = '\0';
	put_scalar(w, digits(buf + sizeof(buf) - 1, v));
}

void json_writer__key_u64(struct json_writer *w, const char *key, uint64_t v)
{
	json_writer__key(w, key);
	json_writer__u64(w, v);
}

void json_writer__double(struct json_writer *w, double v)
{
	char buf[32];

	if (!isfinite(v)) {
		json_writer__null(w);
		return;
	}
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	put_scalar(w, buf);
}

void json_writer__decimal(struct json_writer *w, int64_t v, unsigned int scale)
{
	/* the magnitude as unsigned, so that INT64_MIN has one */
	uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v, pow10 = 1;
	char buf[48], *p = buf + sizeof(buf) - 1;

	if (scale > 18) {
		fail(w, -EINVAL);
		return;
	}
	for (unsigned int i = 0; i < scale; i++)
		pow10 *= 10;
	*p = '\0';
	if (scale) {	/* the fraction, zero-padded to SCALE digits */
		char *frac = digits(p, mag % pow10);

		while (frac > p - scale)
			*--frac = '0';
		p = frac;
		*--p = '.';
	}
	p = digits(p, scale ? mag / pow10 : mag);
	if (v < 0)
		*--p = '-';
	put_scalar(w, p);
}

char *json_writer__raw_begin(struct json_writer *w, size_t max)
{
	if (!value_begin(w) || !room(w, max))
		return NULL;
	return w->buf + w->len;
}

void json_writer__raw_end(struct json_writer *w, size_t len)
{
	if (w->err)
		return;
	w->len += len;
	value_end(w);
}

void json_writer__bool(struct json_writer *w, bool v)
{
	put_scalar(w, v ? "true" : "false");
}

void json_writer__null(struct json_writer *w)
{
	put_scalar(w, "null");
}

int json_writer__finish(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (w->depth || w->key_pending || !w->done) {
		fail(w, -EINVAL);
		return w->err;
	}
	put(w, "\n", 1);
	drain(w);
	errno = 0;
	if (!w->err && fflush(w->f))
		fail(w, errno ? -errno : -EIO);
	if (!w->err && ferror(w->f))
		fail(w, -EIO);
	return w->err;
}
