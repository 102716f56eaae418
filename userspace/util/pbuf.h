/* pbuf.h - protocol buffers' wire format, written by hand: a growing byte buffer with varints,
 * fixed64 and length-delimited fields, for the pprof and Perfetto exports. */
#ifndef LOCKSCOPE_PBUF_H
#define LOCKSCOPE_PBUF_H

#include <stddef.h>
#include <stdint.h>

/* Zero-initialise. Errors are sticky: after a failed allocation every call is a no-op and
 * pbuf__error() says -ENOMEM. The caller owns data until pbuf__release(). */
struct pbuf {
	uint8_t *data;
	size_t len, cap;
	int err;
};

void pbuf__varint(struct pbuf *b, uint64_t v);			/* a bare varint (packed fields) */
void pbuf__uint(struct pbuf *b, uint32_t field, uint64_t v);	/* varint field */
void pbuf__int(struct pbuf *b, uint32_t field, int64_t v);	/* int64: two's complement */
void pbuf__fixed64(struct pbuf *b, uint32_t field, uint64_t v); /* fixed64 field */
void pbuf__bytes(struct pbuf *b, uint32_t field, const void *data, size_t len);
void pbuf__string(struct pbuf *b, uint32_t field, const char *s);
/* A nested message: SUB's bytes as a length-delimited field (SUB's error carries over). */
void pbuf__message(struct pbuf *b, uint32_t field, const struct pbuf *sub);
void pbuf__reset(struct pbuf *b);      /* empties B, keeping its memory and its error */
void pbuf__release(struct pbuf *b);    /* frees B's memory; B is zeroed */
int pbuf__error(const struct pbuf *b); /* 0 or -ENOMEM */

#endif
