/* jsonparse.h - a small strict JSON parser (RFC 8259) for tests that check what lockscope
 * writes: it rejects what a lenient parser would let through, then lets tests walk the tree. */
#ifndef LOCKSCOPE_TEST_JSONPARSE_H
#define LOCKSCOPE_TEST_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jp_type { JP_NULL, JP_BOOL, JP_NUMBER, JP_STRING, JP_ARRAY, JP_OBJECT };

struct jp_value {
	enum jp_type type;
	bool boolean;
	double number;
	char *text;		/* JP_STRING: decoded, NUL-terminated; JP_NUMBER: as written */
	size_t len;		/* JP_STRING: bytes; JP_ARRAY, JP_OBJECT: members */
	struct jp_value *items; /* JP_ARRAY, JP_OBJECT: the values */
	char **keys;		/* JP_OBJECT: the keys, in order */
};

/* Parses TEXT (LEN bytes). Rejects trailing commas, leading zeros, raw control characters,
 * invalid UTF-8, lone surrogates, duplicate keys and anything after the value. NULL on error,
 * with the reason and byte offset in ERR. The result is freed with jp_free(). */
struct jp_value *jp_parse(const char *text, size_t len, char *err, size_t errlen);
void jp_free(struct jp_value *v);

/* Member KEY of an object, item I of an array: NULL if V is not one or has none. */
const struct jp_value *jp_get(const struct jp_value *v, const char *key);
const struct jp_value *jp_at(const struct jp_value *v, size_t i);
/* The string, or NULL if V is not a string. */
const char *jp_str(const struct jp_value *v);
/* True if V is a number written as a non-negative integer; its value in *OUT. */
bool jp_uint(const struct jp_value *v, uint64_t *out);
/* A path through objects and arrays: "locks.0.waiters.1.tid" (numbers index arrays). */
const struct jp_value *jp_path(const struct jp_value *v, const char *path);

#endif
