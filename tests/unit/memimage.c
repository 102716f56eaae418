/* memimage.c - the flat memory image of the CPython reader tests: reads, allocation, stores. */
#include "memimage.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

int image_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct image *im = ctx;

	if (addr < IMG_BASE || len > IMG_SIZE || addr - IMG_BASE > IMG_SIZE - len)
		return -EFAULT;
	memcpy(buf, im->mem + (addr - IMG_BASE), len);
	return 0;
}

uint64_t img_alloc(struct image *im, size_t len)
{
	uint64_t a = im->next;

	im->next = (im->next + len + 15) & ~15ULL;
	cr_assert_leq(im->next, IMG_BASE + IMG_SIZE);
	return a;
}

void put(struct image *im, uint64_t addr, const void *v, size_t len)
{
	cr_assert(addr >= IMG_BASE && addr + len <= IMG_BASE + IMG_SIZE);
	memcpy(im->mem + (addr - IMG_BASE), v, len);
}

void put64(struct image *im, uint64_t addr, uint64_t v)
{
	put(im, addr, &v, sizeof(v));
}

void put32(struct image *im, uint64_t addr, uint32_t v)
{
	put(im, addr, &v, sizeof(v));
}

void put8(struct image *im, uint64_t addr, uint8_t v)
{
	put(im, addr, &v, sizeof(v));
}

uint64_t get64(const struct image *im, uint64_t addr)
{
	uint64_t v;

	memcpy(&v, im->mem + (addr - IMG_BASE), sizeof(v));
	return v;
}
