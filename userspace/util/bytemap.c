/* bytemap.c - open addressing with linear probing; keys of up to 8 bytes (lock addresses, tids)
 * live in the slot itself, longer ones in an allocation per entry. Load factor kept under 1/2. */
#include "util/bytemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

#define WORD sizeof(uint64_t)

struct slot {
	uint64_t hash;		/* 0: empty */
	union {
		uint64_t word;	/* len <= WORD: the key's bytes, zero-padded */
		uint8_t *bytes;	/* len > WORD: a copy the map owns */
	} key;
	size_t len;
	uint64_t val;
};

struct bytemap {
	struct slot *slots;
	size_t cap;		/* power of two */
	size_t count;
};

/* A multiply folded onto itself: sequential integers and aligned addresses spread over the low
 * bits, which pick the slot. */
static uint64_t mix(uint64_t h)
{
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 32;
	return h ? h : 1;
}

static uint64_t hash_word(uint64_t word, size_t len)
{
	return mix(word + len);
}

static uint64_t hash_bytes(const void *key, size_t len)
{
	/* FNV-1a, then the mix */
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return mix(h);
}

static uint64_t word_of(const void *key, size_t len)
{
	uint64_t word = 0;

	memcpy(&word, key, len);
	return word;
}

struct bytemap *bytemap__new(void)
{
	struct bytemap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 64;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void bytemap__free(struct bytemap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].hash && m->slots[i].len > WORD)
			free(m->slots[i].key.bytes);
	free(m->slots);
	free(m);
}

/* The slot holding the key of LEN <= WORD bytes that reads as WORD, or the empty slot where it
 * would go. */
static struct slot *find_word(const struct bytemap *m, uint64_t h, uint64_t word, size_t len)
{
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->slots[i];

		if (!s->hash || (s->hash == h && s->key.word == word && s->len == len))
			return s;
	}
}

static struct slot *find_bytes(const struct bytemap *m, uint64_t h, const void *key, size_t len)
{
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->slots[i];

		if (!s->hash || (s->hash == h && s->len == len && !memcmp(s->key.bytes, key, len)))
			return s;
	}
}

static struct slot *find(const struct bytemap *m, uint64_t *h, const void *key, size_t len)
{
	uint64_t word;

	if (len > WORD) {
		*h = hash_bytes(key, len);
		return find_bytes(m, *h, key, len);
	}
	word = word_of(key, len);
	*h = hash_word(word, len);
	return find_word(m, *h, word, len);
}

static int grow(struct bytemap *m)
{
	size_t cap = m->cap * 2;
	struct slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		const struct slot *s = &m->slots[i];
		size_t j = s->hash & (cap - 1);

		if (!s->hash)
			continue;
		while (slots[j].hash)	/* every key is new here: the first empty slot is its own */
			j = (j + 1) & (cap - 1);
		slots[j] = *s;
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

/* Makes room for one more entry, then the slot for the key (empty if new). NULL: no memory. */
static struct slot *place(struct bytemap *m, uint64_t *h, const void *key, size_t len)
{
	if ((m->count + 1) * 2 > m->cap && grow(m))
		return NULL;
	return find(m, h, key, len);
}

static void fill(struct bytemap *m, struct slot *s, uint64_t h, uint64_t word, size_t len)
{
	s->hash = h;
	s->key.word = word;
	s->len = len;
	m->count++;
}

uint64_t *bytemap__get(const struct bytemap *m, const void *key, size_t len)
{
	uint64_t h;
	struct slot *s = find(m, &h, key, len);

	return s->hash ? &s->val : NULL;
}

int bytemap__put(struct bytemap *m, const void *key, size_t len, uint64_t val)
{
	uint64_t h;
	struct slot *s = place(m, &h, key, len);

	if (!s)
		return -ENOMEM;
	if (!s->hash && len > WORD) {
		uint8_t *copy = malloc(len);

		if (!copy)
			return -ENOMEM;
		memcpy(copy, key, len);
		fill(m, s, h, 0, len);
		s->key.bytes = copy;
	} else if (!s->hash) {
		fill(m, s, h, word_of(key, len), len);
	}
	s->val = val;
	return 0;
}

uint64_t *bytemap__get_u64(const struct bytemap *m, uint64_t key)
{
	struct slot *s = find_word(m, hash_word(key, WORD), key, WORD);

	return s->hash ? &s->val : NULL;
}

int bytemap__put_u64(struct bytemap *m, uint64_t key, uint64_t val)
{
	return bytemap__put(m, &key, sizeof(key), val);
}

void *bytemap__slot(struct bytemap *m, const void *key, size_t len, void *items, size_t *n,
		    size_t *cap, size_t size)
{
	const uint64_t *pos = bytemap__get(m, key, len);
	char *base;

	if (pos)
		return *(char **)items + *pos * size;
	if (ls_reserve(items, cap, *n + 1, size) || bytemap__put(m, key, len, *n))
		return NULL;
	base = *(char **)items + (*n)++ * size;
	return memset(base, 0, size);
}

size_t bytemap__count(const struct bytemap *m)
{
	return m->count;
}

void bytemap__each(const struct bytemap *m, void (*fn)(uint64_t val, void *arg), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].hash)
			fn(m->slots[i].val, arg);
}
