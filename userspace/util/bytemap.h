/* bytemap.h - an open-addressing hash map from byte-string keys (copied) to uint64 values,
 * for interning: frames, stacks, threads, lock addresses. Grows; never drops an entry. */
#ifndef LOCKSCOPE_BYTEMAP_H
#define LOCKSCOPE_BYTEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bytemap;

struct bytemap *bytemap__new(void);
void bytemap__free(struct bytemap *m);	/* accepts NULL */
/* Returns a pointer to the value for KEY, or NULL if absent. Valid until the next insert. */
uint64_t *bytemap__get(const struct bytemap *m, const void *key, size_t len);
/* Inserts or replaces. 0 or -ENOMEM. */
int bytemap__put(struct bytemap *m, const void *key, size_t len, uint64_t val);
size_t bytemap__count(const struct bytemap *m);
/* Calls FN on every value, in no particular order. */
void bytemap__each(const struct bytemap *m, void (*fn)(uint64_t val, void *arg), void *arg);

/* An array indexed by M: the element for KEY in *ITEMS (a pointer to an array of *N elements
 * of SIZE bytes, capacity *CAP), appended zeroed if new. NULL if out of memory. The pointer is
 * valid until the next element is added. */
void *bytemap__slot(struct bytemap *m, const void *key, size_t len, void *items, size_t *n,
		    size_t *cap, size_t size);

/* The same map, keyed by the 8 bytes of KEY (as bytemap__get(m, &key, 8)). Keys of up to 8 bytes
 * are kept in the map's own slots: no allocation, one word compared. */
uint64_t *bytemap__get_u64(const struct bytemap *m, uint64_t key);
int bytemap__put_u64(struct bytemap *m, uint64_t key, uint64_t val);

#endif
