/* test_json.c - the JSON writer: separators and layout, escaping of every byte, numbers at
 * their limits, misuse and write errors reported once and kept. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "jsonparse.h"

/* A writer into memory; doc() finishes it and hands back the text (freed by the fixture). */
static FILE *mem;
static char *mem_buf;
static size_t mem_len;

static struct json_writer *open_writer(int pretty)
{
	struct json_writer *w;

	mem = open_memstream(&mem_buf, &mem_len);
	cr_assert(mem);
	w = json_writer__new(mem, pretty);
	cr_assert(w);
	return w;
}

static const char *doc(struct json_writer *w)
{
	cr_assert_eq(json_writer__finish(w), 0);
	json_writer__free(w);
	fclose(mem);
	mem = NULL;
	return mem_buf;
}

static void cleanup(void)
{
	if (mem)
		fclose(mem);
	free(mem_buf);
	mem_buf = NULL;
}

TestSuite(json, .fini = cleanup);

Test(json, commas_and_nesting_compact)
{
	struct json_writer *w = open_writer(0);

	json_writer__object_begin(w);
	json_writer__key(w, "a");
	json_writer__array_begin(w);
	json_writer__u64(w, 1);
	json_writer__array_begin(w);
	json_writer__array_end(w);
	json_writer__object_begin(w);
	json_writer__object_end(w);
	json_writer__null(w);
	json_writer__array_end(w);
	json_writer__key(w, "b");
	json_writer__bool(w, true);
	json_writer__key(w, "c");
	json_writer__bool(w, false);
	json_writer__object_end(w);
	cr_assert_str_eq(doc(w), "{\"a\":[1,[],{},null],\"b\":true,\"c\":false}\n");
}

Test(json, pretty_to_a_depth_then_inline)
{
	struct json_writer *w = open_writer(2);

	json_writer__object_begin(w);
	json_writer__key(w, "list");
	json_writer__array_begin(w);
	json_writer__object_begin(w);
	json_writer__key(w, "x");
	json_writer__i64(w, -1);
	json_writer__key(w, "y");
	json_writer__array_begin(w);
	json_writer__array_end(w);
	json_writer__object_end(w);
	json_writer__u64(w, 2);
	json_writer__array_end(w);
	json_writer__key(w, "empty");
	json_writer__object_begin(w);
	json_writer__object_end(w);
	json_writer__object_end(w);
	cr_assert_str_eq(doc(w), "{\n"
				 "  \"list\": [\n"
				 "    {\"x\": -1, \"y\": []},\n"
				 "    2\n"
				 "  ],\n"
				 "  \"empty\": {}\n"
				 "}\n");
}

static const char *one_string(const char *s)
{
	struct json_writer *w = open_writer(0);

	json_writer__string(w, s);
	return doc(w);
}

Test(json, escapes_quotes_backslash_and_control_characters)
{
	cr_assert_str_eq(one_string("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"\n");
	cleanup();
	cr_assert_str_eq(one_string("\b\f\n\r\t\x01\x1f\x7f"),
			 "\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"\n");
	cleanup();
	cr_assert_str_eq(one_string("line\xe2\x80\xa8sep\xe2\x80\xa9"),
			 "\"line\\u2028sep\\u2029\"\n");
}

Test(json, keeps_valid_utf8_as_it_is)
{
	/* é, €, U+1F600 */
	cr_assert_str_eq(one_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
			 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n");
}

Test(json, replaces_each_invalid_byte)
{
	/* a stray continuation, a lead byte cut short, an overlong '/', a surrogate, > U+10FFFF */
	cr_assert_str_eq(one_string("a\x80z"), "\"a\\ufffdz\"\n");
	cleanup();
	cr_assert_str_eq(one_string("\xe2\x82"), "\"\\ufffd\\ufffd\"\n");
	cleanup();
	cr_assert_str_eq(one_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"\n");
	cleanup();
	cr_assert_str_eq(one_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"\n");
	cleanup();
	cr_assert_str_eq(one_string("\xf4\x90\x80\x80!"), "\"\\ufffd\\ufffd\\ufffd\\ufffd!\"\n");
}

Test(json, every_byte_reads_back_through_a_strict_parser)
{
	char in[256], err[128];
	struct jp_value *v;
	const char *out;

	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	out = one_string(in);
	v = jp_parse(out, strlen(out), err, sizeof(err));
	cr_assert(v, "%s", err);
	cr_assert_eq(v->type, JP_STRING);
	/* ASCII survives exactly; the 128 bytes above it are each a lone invalid byte here */
	cr_assert_eq(memcmp(v->text, in, 127), 0);
	cr_assert_eq(v->len, 127 + 128 * 3);
	jp_free(v);
}

Test(json, quote_writes_what_the_writer_writes)
{
	static const char *const texts[] = {
	    "plain", "a\"b\\c", "\x01\x1f\x7f\b\t", "caf\xc3\xa9 \xe2\x80\xa8", "\xe2\x82", "",
	};
	char out[64];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n = strlen(texts[i]), len = json_quote(out, texts[i], n);
		const char *want = one_string(texts[i]);

		cr_assert_leq(len, JSON_QUOTED_MAX(n));
		/* the document ends in a newline */
		cr_assert_eq(len, strlen(want) - 1, "%s", want);
		cr_assert_eq(memcmp(out, want, len), 0, "%s", want);
		cleanup();
	}
	/* the worst case: every byte a six-byte escape */
	cr_assert_eq(json_quote(out, "\x01\x02\xff", 3), JSON_QUOTED_MAX(3));
}

/* A string whose escapes outgrow the writer's block: it grows, and the text is whole. */
Test(json, string_longer_than_the_buffer_comes_out_whole)
{
	enum { N = 100000 };
	char *in = malloc(N + 1), err[128];
	struct jp_value *v;
	const char *out;

	cr_assert(in);
	memset(in, '\x01', N);
	in[N] = '\0';
	out = one_string(in);
	cr_assert_eq(strlen(out), JSON_QUOTED_MAX(N) + 1);
	v = jp_parse(out, strlen(out), err, sizeof(err));
	cr_assert(v, "%s", err);
	cr_assert_eq(v->len, N);
	jp_free(v);
	free(in);
}

Test(json, null_string_is_null)
{
	cr_assert_str_eq(one_string(NULL), "null\n");
}

Test(json, integers_at_their_limits)
{
	struct json_writer *w = open_writer(0);

	json_writer__array_begin(w);
	json_writer__i64(w, INT64_MIN);
	json_writer__i64(w, INT64_MAX);
	json_writer__u64(w, UINT64_MAX);
	json_writer__u64(w, 0);
	json_writer__array_end(w);
	cr_assert_str_eq(doc(w), "[-9223372036854775808,9223372036854775807,"
				 "18446744073709551615,0]\n");
}

Test(json, doubles_shortest_and_non_finite_as_null)
{
	struct json_writer *w = open_writer(0);

	json_writer__array_begin(w);
	json_writer__double(w, 0.1);
	json_writer__double(w, 1.5);
	json_writer__double(w, 1e300);
	json_writer__double(w, 1.0 / 3);
	json_writer__double(w, NAN);
	json_writer__double(w, INFINITY);
	json_writer__array_end(w);
	cr_assert_str_eq(doc(w), "[0.1,1.5,1e+300,0.33333333333333331,null,null]\n");
}

Test(json, decimals_are_exact)
{
	struct json_writer *w = open_writer(0);

	json_writer__array_begin(w);
	json_writer__decimal(w, 12345, 3);
	json_writer__decimal(w, 5, 3);
	json_writer__decimal(w, 0, 3);
	json_writer__decimal(w, -1500, 3);
	json_writer__decimal(w, 42, 0);
	json_writer__decimal(w, INT64_MIN, 3);
	json_writer__array_end(w);
	cr_assert_str_eq(doc(w), "[12.345,0.005,0.000,-1.500,42,-9223372036854775.808]\n");
}

Test(json, stringf_grows_past_its_buffer)
{
	struct json_writer *w = open_writer(0);
	char long_name[1000];

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	json_writer__stringf(w, "%s@%d", long_name, 7);
	doc(w);
	cr_assert_eq(strlen(mem_buf), 1 + 999 + 2 + 1 + 1);
	cr_assert_eq(strncmp(mem_buf + 1000, "@7\"", 3), 0);
}

/* Values written by the caller as text take their place like any other: separators and line
 * breaks before them, even where one is longer than the writer's block. */
Test(json, raw_values_are_placed_like_others)
{
	enum { BIG = 300000 };
	static const char head[] = "{\n  \"events\": [\n    {\"a\":1},\n    2,\n    \"";
	struct json_writer *w = open_writer(2);
	const char *text;
	char *p;

	json_writer__object_begin(w);
	json_writer__key(w, "events");
	json_writer__array_begin(w);
	p = json_writer__raw_begin(w, 16);
	cr_assert(p);
	memcpy(p, "{\"a\":1}", 7);
	json_writer__raw_end(w, 7);
	json_writer__u64(w, 2);
	p = json_writer__raw_begin(w, BIG + 2);
	cr_assert(p);
	p[0] = '"';
	memset(p + 1, 'x', BIG);
	p[BIG + 1] = '"';
	json_writer__raw_end(w, BIG + 2);
	json_writer__array_end(w);
	json_writer__object_end(w);
	text = doc(w);
	cr_assert_eq(strncmp(text, head, strlen(head)), 0, "%.60s", text);
	cr_assert_str_eq(text + strlen(head) + BIG, "\"\n  ]\n}\n");
	cr_assert_eq(strspn(text + strlen(head), "x"), BIG);
}

Test(json, raw_value_out_of_place_is_refused)
{
	struct json_writer *w = open_writer(0);

	json_writer__object_begin(w);
	cr_assert_null(json_writer__raw_begin(w, 4)); /* a key is due */
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__free(w);
}

Test(json, value_where_a_key_is_due_is_an_error_that_sticks)
{
	struct json_writer *w = open_writer(0);

	json_writer__object_begin(w);
	json_writer__u64(w, 1);
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__key(w, "a");
	json_writer__u64(w, 1);
	json_writer__object_end(w);
	cr_assert_eq(json_writer__finish(w), -EINVAL);
	json_writer__free(w);
}

Test(json, misuse_is_caught)
{
	struct json_writer *w;

	w = open_writer(0);
	json_writer__array_begin(w);
	json_writer__key(w, "a"); /* a key in an array */
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__free(w);
	cleanup();

	w = open_writer(0);
	json_writer__array_begin(w);
	json_writer__object_end(w); /* the wrong end */
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__free(w);
	cleanup();

	w = open_writer(0);
	json_writer__object_begin(w);
	json_writer__key(w, "a");
	json_writer__object_end(w); /* a key without its value */
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__free(w);
	cleanup();

	w = open_writer(0);
	json_writer__u64(w, 1);
	json_writer__u64(w, 2); /* a second document */
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__free(w);
	cleanup();

	w = open_writer(0);
	json_writer__array_begin(w); /* never closed */
	cr_assert_eq(json_writer__finish(w), -EINVAL);
	json_writer__free(w);
}

Test(json, nesting_past_the_limit_is_an_error)
{
	struct json_writer *w = open_writer(0);

	for (int i = 0; i < 100; i++)
		json_writer__array_begin(w);
	cr_assert_eq(json_writer__error(w), -EINVAL);
	json_writer__free(w);
}

Test(json, write_error_is_reported_by_finish)
{
	FILE *f = fopen("/dev/full", "w");
	struct json_writer *w;

	cr_assert(f);
	w = json_writer__new(f, 0);
	json_writer__array_begin(w);
	for (int i = 0; i < 100000; i++)
		json_writer__string(w, "filling the buffer until the device refuses");
	json_writer__array_end(w);
	cr_assert_eq(json_writer__finish(w), -ENOSPC);
	json_writer__free(w);
	fclose(f);
}

Test(json, new_refuses_a_null_file)
{
	cr_assert_null(json_writer__new(NULL, 0));
	cr_assert_eq(errno, EINVAL);
}
