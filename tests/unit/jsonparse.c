/* jsonparse.c - recursive descent over RFC 8259, strict where lenient parsers are not, so that
 * a test passing here means Perfetto, Python and jq will read the output too. */
#include "jsonparse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512

struct parser {
	const unsigned char *p, *start, *end;
	char *err;
	size_t errlen;
	bool failed;
	int depth;
};

__attribute__((format(printf, 2, 3))) static bool fail(struct parser *ps, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (ps->failed)
		return false;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "%s at byte %zu", msg, (size_t)(ps->p - ps->start));
	ps->failed = true;
	return false;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool parse_value(struct parser *ps, struct jp_value *v);

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return fail(ps, "bad literal");
	ps->p += n;
	return true;
}

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static bool parse_number(struct parser *ps, struct jp_value *v)
{
	const unsigned char *s = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!is_digit(ps->p, ps->end))
		return fail(ps, "bad number");
	if (*ps->p == '0' && is_digit(ps->p + 1, ps->end))
		return fail(ps, "leading zero");
	while (is_digit(ps->p, ps->end))
		ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!is_digit(ps->p, ps->end))
			return fail(ps, "bad fraction");
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!is_digit(ps->p, ps->end))
			return fail(ps, "bad exponent");
		while (is_digit(ps->p, ps->end))
			ps->p++;
	}
	v->type = JP_NUMBER;
	v->text = strndup((const char *)s, ps->p - s);
	if (!v->text)
		return fail(ps, "out of memory");
	v->number = strtod(v->text, NULL);
	return true;
}

static int hex4(const unsigned char *p, const unsigned char *end)
{
	int v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t put_utf8(char *out, unsigned int cp)
{
	if (cp < 0x80) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | cp >> 6;
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | cp >> 12;
		out[1] = 0x80 | (cp >> 6 & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	out[0] = 0xf0 | cp >> 18;
	out[1] = 0x80 | (cp >> 12 & 0x3f);
	out[2] = 0x80 | (cp >> 6 & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* Length of a well-formed UTF-8 sequence at P, or 0. */
static size_t utf8_ok(const unsigned char *p, const unsigned char *end)
{
	unsigned int v, min;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, v = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, v = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, v = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if ((size_t)(end - p) < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return len;
}

static bool parse_escape(struct parser *ps, char *out, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	int cp, lo;

	if (ps->p >= ps->end)
		return fail(ps, "cut escape");
	if (*ps->p != 'u') {
		e = memchr(from, *ps->p, sizeof(from) - 1);
		if (!e)
			return fail(ps, "bad escape");
		out[(*n)++] = to[e - from];
		ps->p++;
		return true;
	}
	cp = hex4(ps->p + 1, ps->end);
	if (cp < 0)
		return fail(ps, "bad \\u escape");
	ps->p += 5;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(ps, "lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return fail(ps, "lone high surrogate");
		lo = hex4(ps->p + 2, ps->end);
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(ps, "bad surrogate pair");
		ps->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*n += put_utf8(out + *n, cp);
	return true;
}

static bool parse_string(struct parser *ps, char **out, size_t *outlen)
{
	const unsigned char *q = ps->p + 1;
	size_t n = 0, len;
	char *s;

	/* the decoded text is never longer than the quoted source */
	while (q < ps->end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	s = malloc(q - ps->p + 1);

	if (!s)
		return fail(ps, "out of memory");
	ps->p++; /* the opening quote */
	while (ps->p < ps->end && *ps->p != '"') {
		if (*ps->p < 0x20) {
			free(s);
			return fail(ps, "raw control character in string");
		}
		if (*ps->p == '\\') {
			ps->p++;
			if (!parse_escape(ps, s, &n)) {
				free(s);
				return false;
			}
			continue;
		}
		len = utf8_ok(ps->p, ps->end);
		if (!len) {
			free(s);
			return fail(ps, "invalid UTF-8 in string");
		}
		memcpy(s + n, ps->p, len);
		n += len;
		ps->p += len;
	}
	if (ps->p >= ps->end) {
		free(s);
		return fail(ps, "unterminated string");
	}
	ps->p++;
	s[n] = '\0';
	*out = s;
	*outlen = n;
	return true;
}

static bool push(struct parser *ps, struct jp_value *v, size_t *cap)
{
	if (v->len < *cap)
		return true;
	void *items, *keys;

	*cap = *cap ? *cap * 2 : 8;
	items = realloc(v->items, *cap * sizeof(*v->items));
	if (items)
		v->items = items;
	keys = v->type == JP_OBJECT ? realloc(v->keys, *cap * sizeof(*v->keys)) : NULL;
	if (keys)
		v->keys = keys;
	if (!items || (v->type == JP_OBJECT && !keys))
		return fail(ps, "out of memory");
	return true;
}

static bool parse_members(struct parser *ps, struct jp_value *v, bool object)
{
	char close = object ? '}' : ']';
	size_t cap = 0;

	v->type = object ? JP_OBJECT : JP_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		char *key = NULL;
		size_t keylen;

		skip_ws(ps);
		if (!push(ps, v, &cap))
			return false;
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "key expected");
			if (!parse_string(ps, &key, &keylen))
				return false;
			for (size_t i = 0; i < v->len; i++) {
				if (strcmp(v->keys[i], key) == 0) {
					free(key);
					return fail(ps, "duplicate key");
				}
			}
			v->keys[v->len] = key;
		}
		/* counted before it is parsed, so that a failure frees what it holds */
		memset(&v->items[v->len], 0, sizeof(v->items[0]));
		v->len++;
		if (object) {
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, "':' expected");
			ps->p++;
		}
		if (!parse_value(ps, &v->items[v->len - 1]))
			return false;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return true;
		}
		return fail(ps, "',' or '%c' expected", close);
	}
}

static bool parse_value(struct parser *ps, struct jp_value *v)
{
	bool ok;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "value expected");
	switch (*ps->p) {
	case '{':
	case '[':
		if (++ps->depth > MAX_DEPTH)
			return fail(ps, "too deep");
		ok = parse_members(ps, v, *ps->p == '{');
		ps->depth--;
		return ok;
	case '"':
		v->type = JP_STRING;
		return parse_string(ps, &v->text, &v->len);
	case 't':
		v->type = JP_BOOL;
		v->boolean = true;
		return literal(ps, "true");
	case 'f':
		v->type = JP_BOOL;
		return literal(ps, "false");
	case 'n':
		v->type = JP_NULL;
		return literal(ps, "null");
	default:
		return parse_number(ps, v);
	}
}

static void free_members(struct jp_value *v)
{
	if (v->type == JP_ARRAY || v->type == JP_OBJECT) {
		for (size_t i = 0; i < v->len; i++) {
			free_members(&v->items[i]);
			if (v->keys)
				free(v->keys[i]);
		}
	}
	free(v->items);
	free(v->keys);
	free(v->text);
}

void jp_free(struct jp_value *v)
{
	if (!v)
		return;
	free_members(v);
	free(v);
}

struct jp_value *jp_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = {
	    .p = (const unsigned char *)text,
	    .start = (const unsigned char *)text,
	    .end = (const unsigned char *)text + len,
	    .err = err,
	    .errlen = errlen,
	};
	struct jp_value *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	if (parse_value(&ps, v)) {
		skip_ws(&ps);
		if (ps.p == ps.end)
			return v;
		fail(&ps, "trailing bytes");
	}
	jp_free(v);
	return NULL;
}

const struct jp_value *jp_get(const struct jp_value *v, const char *key)
{
	if (!v || v->type != JP_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->len; i++)
		if (strcmp(v->keys[i], key) == 0)
			return &v->items[i];
	return NULL;
}

const struct jp_value *jp_at(const struct jp_value *v, size_t i)
{
	return v && v->type == JP_ARRAY && i < v->len ? &v->items[i] : NULL;
}

const char *jp_str(const struct jp_value *v)
{
	return v && v->type == JP_STRING ? v->text : NULL;
}

bool jp_uint(const struct jp_value *v, uint64_t *out)
{
	if (!v || v->type != JP_NUMBER || strpbrk(v->text, "-.eE"))
		return false;
	*out = strtoull(v->text, NULL, 10);
	return true;
}

const struct jp_value *jp_path(const struct jp_value *v, const char *path)
{
	char part[128];

	while (v && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		path += n + (path[n] == '.');
		if (v->type == JP_ARRAY) {
			char *end;
			unsigned long i = strtoul(part, &end, 10);

			v = *end ? NULL : jp_at(v, i);
		} else {
			v = jp_get(v, part);
		}
	}
	return v;
}
