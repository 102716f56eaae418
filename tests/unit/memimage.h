/* memimage.h - a flat memory image for the CPython reader tests: one mapped range at IMG_BASE,
 * a bump allocator, and typed stores; everything outside the range reads as unmapped. */
#ifndef LOCKSCOPE_TEST_MEMIMAGE_H
#define LOCKSCOPE_TEST_MEMIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMG_BASE 0x10000000ULL
#define IMG_SIZE (1u << 20)

struct image {
	uint8_t *mem;		/* [IMG_BASE, IMG_BASE + IMG_SIZE); everything else is unmapped */
	uint64_t next;		/* bump allocator */
};

/* A py_read_fn over the image CTX: -EFAULT outside it. */
int image_read(void *ctx, uint64_t addr, void *buf, size_t len);
/* LEN bytes of the image, 16-aligned; the test fails when it is full. */
uint64_t img_alloc(struct image *im, size_t len);
void put(struct image *im, uint64_t addr, const void *v, size_t len);
void put64(struct image *im, uint64_t addr, uint64_t v);
void put32(struct image *im, uint64_t addr, uint32_t v);
void put8(struct image *im, uint64_t addr, uint8_t v);
uint64_t get64(const struct image *im, uint64_t addr);

#endif
