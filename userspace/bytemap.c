/* bytemap.c - open addressing with linear probing; keys live in one arena per entry.
 * Load factor kept under 1/2, so probes stay short. */
#include "bytemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct slot {
	uint64_t hash;		/* 0: empty */
	uint8_t *key;
	size_t len;
	uint64_t val;
};

struct bytemap {
	struct slot *slots;
	size_t cap;		/* power of two */
	size_t count;
};

/* Inlined where it is called, so that the 8-byte keys most maps have (ids, addresses) take the
 * short way with their length known. */
#define INLINE static inline __attribute__((always_inline))

/* A final mix (MurmurHash3's), so that sequential integers spread. */
INLINE uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

INLINE uint64_t hash_bytes(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull;

	if (len == sizeof(uint64_t)) {
		/* one word: mixed whole, not a byte at a time (a lookup per event) */
		memcpy(&h, key, sizeof(h));
		h = mix(mix(h) * 0xc4ceb9fe1a85ec53ull);
		return h ? h : 1;
	}
	/* FNV-1a, then the mix */
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h = mix(h);
	return h ? h : 1;
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
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

INLINE struct slot *find(const struct bytemap *m, uint64_t h, const void *key, size_t len)
{
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->slots[i];

		if (!s->hash)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

static int grow(struct bytemap *m)
{
	struct bytemap bigger = {.cap = m->cap * 2};

	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		struct slot *s = &m->slots[i];

		if (s->hash)
			*find(&bigger, s->hash, s->key, s->len) = *s;
	}
	free(m->slots);
	m->slots = bigger.slots;
	m->cap = bigger.cap;
	return 0;
}

uint64_t *bytemap__get(const struct bytemap *m, const void *key, size_t len)
{
	struct slot *s = len == sizeof(uint64_t)
			     ? find(m, hash_bytes(key, sizeof(uint64_t)), key, sizeof(uint64_t))
			     : find(m, hash_bytes(key, len), key, len);

	return s->hash ? &s->val : NULL;
}

int bytemap__put(struct bytemap *m, const void *key, size_t len, uint64_t val)
{
	uint64_t h = hash_bytes(key, len);
	struct slot *s;

	if ((m->count + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	s = find(m, h, key, len);
	if (!s->hash) {
		s->key = malloc(len ? len : 1);
		if (!s->key)
			return -ENOMEM;
		memcpy(s->key, key, len);
		s->hash = h;
		s->len = len;
		m->count++;
	}
	s->val = val;
	return 0;
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
