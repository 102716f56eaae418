/* json.h - a streaming JSON writer to a FILE*: it places commas, colons and indentation, escapes
 * strings (control characters, invalid UTF-8), and keeps the first error so callers check once. */
#ifndef LOCKSCOPE_JSON_H
#define LOCKSCOPE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_writer;

/* Writes to F (borrowed, not closed), in blocks: what is written reaches F by
 * json_writer__finish() at the latest. Containers nested less than PRETTY_DEPTH deep put each
 * member on its own line, deeper ones stay on one line; 0 writes everything compactly.
 * NULL with errno on failure. */
struct json_writer *json_writer__new(FILE *f, int pretty_depth);
/* Accepts NULL. Does not close the FILE; what finish did not write out is dropped. */
void json_writer__free(struct json_writer *w);

/* Ends the document: checks that every container was closed, writes a newline, hands all to
 * the FILE and flushes it. Returns the first error seen, or 0. */
int json_writer__finish(struct json_writer *w);
/* The first error seen: a negative errno from the FILE, or -EINVAL for a call out of place
 * (a value where a key is due, a key in an array, an unbalanced end, a second document). */
int json_writer__error(const struct json_writer *w);

void json_writer__object_begin(struct json_writer *w);
void json_writer__object_end(struct json_writer *w);
void json_writer__array_begin(struct json_writer *w);
void json_writer__array_end(struct json_writer *w);
void json_writer__key(struct json_writer *w, const char *key);

/* A NUL-terminated string; NULL writes null. Bytes that are not valid UTF-8 become U+FFFD. */
void json_writer__string(struct json_writer *w, const char *s);
void json_writer__stringf(struct json_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void json_writer__i64(struct json_writer *w, int64_t v);
void json_writer__u64(struct json_writer *w, uint64_t v);
/* An object's member KEY with its value: json_writer__key() and the value in one call. */
void json_writer__key_u64(struct json_writer *w, const char *key, uint64_t v);
/* Shortest form that reads back to the same double; NaN and infinities, which JSON cannot
 * express, are written as null. */
void json_writer__double(struct json_writer *w, double v);
/* V / 10^SCALE written exactly with SCALE decimals: (12345, 3) gives 12.345. SCALE <= 18. */
void json_writer__decimal(struct json_writer *w, int64_t v, unsigned int scale);
void json_writer__bool(struct json_writer *w, bool v);
void json_writer__null(struct json_writer *w);

/* A value the caller writes itself as JSON text, for output made of pieces rendered once and
 * copied many times: json_writer__raw_begin() writes what precedes a value and returns where
 * the value goes, with room for MAX bytes (NULL after an error, or where no value may go);
 * json_writer__raw_end() takes the LEN bytes the caller wrote there. */
char *json_writer__raw_begin(struct json_writer *w, size_t max);
void json_writer__raw_end(struct json_writer *w, size_t len);

/* A bound on what json_quote() writes for the string S, without its quotes: printable ASCII
 * as it is, any other byte as 6. For limits on output that escaping must not multiply. */
size_t json_quoted_bound(const char *s);

/* The most bytes json_quote() writes for N bytes of text: a byte escapes to 6 at worst. */
#define JSON_QUOTED_MAX(n) (6 * (size_t)(n) + 2)
/* The N bytes at S as a JSON string, quoted and escaped as json_writer__string() writes them,
 * at OUT, which has room for JSON_QUOTED_MAX(N) bytes. Returns the length written. */
size_t json_quote(char *out, const char *s, size_t n);

#endif
