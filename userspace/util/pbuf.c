/* pbuf.c - protocol buffers' wire format: varint (type 0), fixed64 (1) and length-delimited (2)
 * fields into a buffer that doubles as it fills, with a sticky error. */
#include "util/pbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2 };

static void put(struct pbuf *b, const void *data, size_t len)
{
	if (b->err)
		return;
	if (ls_reserve(&b->data, &b->cap, b->len + len, 1)) {
		b->err = -ENOMEM;
		return;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

void pbuf__varint(struct pbuf *b, uint64_t v)
{
	uint8_t buf[10];
	size_t n = 0;

	do {
		buf[n] = v & 0x7f;
		v >>= 7;
		buf[n++] |= v ? 0x80 : 0;
	} while (v);
	put(b, buf, n);
}

static void tag(struct pbuf *b, uint32_t field, int wire)
{
	pbuf__varint(b, (uint64_t)field << 3 | wire);
}

void pbuf__uint(struct pbuf *b, uint32_t field, uint64_t v)
{
	tag(b, field, WIRE_VARINT);
	pbuf__varint(b, v);
}

void pbuf__int(struct pbuf *b, uint32_t field, int64_t v)
{
	pbuf__uint(b, field, (uint64_t)v);
}

void pbuf__fixed64(struct pbuf *b, uint32_t field, uint64_t v)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = v >> (8 * i);
	tag(b, field, WIRE_FIXED64);
	put(b, le, sizeof(le));
}

void pbuf__bytes(struct pbuf *b, uint32_t field, const void *data, size_t len)
{
	tag(b, field, WIRE_LEN);
	pbuf__varint(b, len);
	put(b, data, len);
}

void pbuf__string(struct pbuf *b, uint32_t field, const char *s)
{
	pbuf__bytes(b, field, s, strlen(s));
}

void pbuf__message(struct pbuf *b, uint32_t field, const struct pbuf *sub)
{
	if (sub->err && !b->err)
		b->err = sub->err;
	pbuf__bytes(b, field, sub->data, sub->len);
}

void pbuf__reset(struct pbuf *b)
{
	b->len = 0;
}

void pbuf__release(struct pbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int pbuf__error(const struct pbuf *b)
{
	return b->err;
}
