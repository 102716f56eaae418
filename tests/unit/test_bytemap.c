/* test_bytemap.c - the interning map: u64 keys (kept in the slots) and byte keys (copied) in one
 * table, through growth, with keys that differ only in length or padding. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/bytemap.h"

#define MANY 100000

/* Lock-like addresses: aligned, so their low bits say nothing. */
static uint64_t addr_of(size_t i)
{
	return 0x7f3a00000000ull + i * 64;
}

Test(bytemap, many_u64_keys_survive_growth)
{
	struct bytemap *m = bytemap__new();

	cr_assert(m);
	for (size_t i = 0; i < MANY; i++)
		cr_assert_eq(bytemap__put_u64(m, addr_of(i), i), 0);
	cr_assert_eq(bytemap__count(m), MANY);
	for (size_t i = 0; i < MANY; i++) {
		const uint64_t *v = bytemap__get_u64(m, addr_of(i));

		cr_assert(v, "key %zu lost", i);
		cr_assert_eq(*v, i);
	}
	cr_assert_null(bytemap__get_u64(m, addr_of(MANY)));
	cr_assert_null(bytemap__get_u64(m, addr_of(0) + 8));
	cr_assert_null(bytemap__get_u64(m, 0));
	bytemap__free(m);
}

Test(bytemap, u64_and_8_byte_keys_are_one_entry)
{
	struct bytemap *m = bytemap__new();
	uint64_t k = 12345;
	uint8_t bytes[8];

	cr_assert_eq(bytemap__put(m, &k, sizeof(k), 7), 0);
	cr_assert_eq(*bytemap__get_u64(m, 12345), 7);
	cr_assert_eq(bytemap__put_u64(m, 12345, 8), 0);	/* replaces */
	memcpy(bytes, &k, sizeof(bytes));
	cr_assert_eq(*bytemap__get(m, bytes, sizeof(bytes)), 8);
	cr_assert_eq(bytemap__count(m), 1);
	bytemap__free(m);
}

Test(bytemap, key_zero_and_the_empty_key_are_keys)
{
	struct bytemap *m = bytemap__new();

	cr_assert_null(bytemap__get_u64(m, 0));
	cr_assert_null(bytemap__get(m, "", 0));
	cr_assert_eq(bytemap__put_u64(m, 0, 1), 0);
	cr_assert_eq(bytemap__put(m, "", 0, 2), 0);
	cr_assert_eq(*bytemap__get_u64(m, 0), 1);
	cr_assert_eq(*bytemap__get(m, "", 0), 2);
	cr_assert_eq(bytemap__count(m), 2);
	bytemap__free(m);
}

/* A short key is kept zero-padded: its padded twins of other lengths stay other keys. */
Test(bytemap, keys_differing_only_in_length_are_distinct)
{
	static const uint8_t zeros[24];
	struct bytemap *m = bytemap__new();

	for (size_t len = 0; len <= sizeof(zeros); len++)
		cr_assert_eq(bytemap__put(m, zeros, len, len + 100), 0);
	cr_assert_eq(bytemap__count(m), sizeof(zeros) + 1);
	for (size_t len = 0; len <= sizeof(zeros); len++)
		cr_assert_eq(*bytemap__get(m, zeros, len), len + 100, "length %zu", len);
	cr_assert_eq(*bytemap__get_u64(m, 0), 8 + 100);
	bytemap__free(m);
}

/* Keys from 1 to 45 bytes: the I-th one's length varies with I. */
static int text_key(char *key, size_t size, size_t i)
{
	return snprintf(key, size, "%zx%.*s", i, (int)(i % 40),
			"frame:lock.c:1234/usr/lib/x86_64-linux-gnu/libc");
}

Test(bytemap, byte_keys_of_every_length_through_growth)
{
	struct bytemap *m = bytemap__new();
	char key[64];

	/* short (in the slot) and long (copied) keys share one table; the buffer is reused, so a
	 * copy that was not taken would show */
	for (size_t i = 0; i < MANY / 10; i++) {
		int len = text_key(key, sizeof(key), i);

		cr_assert_eq(bytemap__put(m, key, len, i), 0);
	}
	cr_assert_eq(bytemap__count(m), MANY / 10);
	for (size_t i = 0; i < MANY / 10; i++) {
		int len = text_key(key, sizeof(key), i);
		const uint64_t *v = bytemap__get(m, key, len);

		cr_assert(v, "key %s lost", key);
		cr_assert_eq(*v, i);
		cr_assert_null(bytemap__get(m, key, len + 1));
	}
	bytemap__free(m);
}

static void sum(uint64_t val, void *arg)
{
	uint64_t *acc = arg;

	acc[0] += val;
	acc[1]++;
}

Test(bytemap, each_visits_every_value_once)
{
	struct bytemap *m = bytemap__new();
	uint64_t acc[2] = {0};

	for (uint64_t i = 1; i <= 1000; i++)
		cr_assert_eq(bytemap__put_u64(m, i, i), 0);
	cr_assert_eq(bytemap__put(m, "a longer key than a word", 24, 5000), 0);
	bytemap__each(m, sum, acc);
	cr_assert_eq(acc[0], 1000 * 1001 / 2 + 5000);
	cr_assert_eq(acc[1], 1001);
	bytemap__free(m);
}

Test(bytemap, slot_appends_zeroed_and_finds_it_again)
{
	struct bytemap *m = bytemap__new();
	uint64_t *items = NULL, k;
	size_t n = 0, cap = 0;

	for (k = 0; k < 500; k++) {
		uint64_t *e = bytemap__slot(m, &k, sizeof(k), &items, &n, &cap, sizeof(*items));

		cr_assert(e);
		cr_assert_eq(*e, 0);
		*e = k * 3;
	}
	k = 42;
	cr_assert_eq(*(uint64_t *)bytemap__slot(m, &k, sizeof(k), &items, &n, &cap,
						sizeof(*items)), 126);
	cr_assert_eq(n, 500);
	cr_assert_eq(*bytemap__get_u64(m, 499), 499);	/* the value is the position */
	free(items);
	bytemap__free(m);
}

Test(bytemap, free_accepts_null)
{
	bytemap__free(NULL);
}
