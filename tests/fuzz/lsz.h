/* lsz.h - the .lsz chunk layout as the fuzz tools need it (trace.c owns it): a chunk built
 * around raw records, its payload a zstd frame of stored blocks, so that a fuzzer's change to
 * one byte of it is a change to one byte of the records. */
#ifndef LOCKSCOPE_FUZZ_LSZ_H
#define LOCKSCOPE_FUZZ_LSZ_H

#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define LSZ_FILE_FIXED 16 /* magic, version, header body length; then the body and its crc32 */
#define LSZ_CHUNK_MAGIC 0x4b43534cu
#define LSZ_CHUNK_HDR 36  /* magic, seq, records, raw size, payload size, base ts, 2 crc32s */
#define LSZ_BLOCK_MAX (128 * 1024)

static inline uint32_t lsz_get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void lsz_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

/* Room a stored frame of LEN bytes takes. */
static inline size_t lsz_frame_bound(size_t len)
{
	return len + 9 + 3 * (len / LSZ_BLOCK_MAX + 1);
}

/* RAW as a zstd frame of stored blocks, into OUT (lsz_frame_bound(LEN) bytes). Its size. */
static inline size_t lsz_stored_frame(uint8_t *out, const uint8_t *raw, size_t len)
{
	uint8_t *p = out;
	size_t off = 0;

	lsz_put32(p, ZSTD_MAGICNUMBER);
	p[4] = 0xa0; /* single segment, 4-byte content size, no checksum, no dictionary */
	lsz_put32(p + 5, len);
	p += 9;
	do {
		size_t n = len - off > LSZ_BLOCK_MAX ? LSZ_BLOCK_MAX : len - off;
		uint32_t bh = (off + n == len) | (uint32_t)n << 3; /* last flag, type 0: raw */

		p[0] = bh;
		p[1] = bh >> 8;
		p[2] = bh >> 16;
		if (n)
			memcpy(p + 3, raw + off, n);
		p += 3 + n;
		off += n;
	} while (off < len);
	return p - out;
}

/* A chunk header for chunk SEQ of NREC records (USIZE raw bytes) whose payload is FRAME
 * (FSIZE bytes), with base timestamp TS, into HDR; both checksums hold. */
static inline void lsz_chunk_header(uint8_t *hdr, uint32_t seq, uint32_t nrec, uint32_t usize,
				    const uint8_t *frame, uint32_t fsize, uint64_t ts)
{
	lsz_put32(hdr, LSZ_CHUNK_MAGIC);
	lsz_put32(hdr + 4, seq);
	lsz_put32(hdr + 8, nrec);
	lsz_put32(hdr + 12, usize);
	lsz_put32(hdr + 16, fsize);
	lsz_put32(hdr + 20, (uint32_t)ts);
	lsz_put32(hdr + 24, (uint32_t)(ts >> 32));
	lsz_put32(hdr + 28, crc32(0, hdr, 28));
	lsz_put32(hdr + 32, crc32(crc32(0, hdr, 32), frame, fsize));
}

/* Makes the checksums of the file in BUF (LEN bytes) hold wherever its sizes let them be found:
 * what a fuzz build reads past them (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION), any build then
 * reads the same way. */
static inline void lsz_fix_checksums(uint8_t *buf, size_t len)
{
	size_t pos, body;

	if (len < LSZ_FILE_FIXED)
		return;
	body = lsz_get32(buf + 12);
	if (body > len - LSZ_FILE_FIXED - 4)
		return;
	lsz_put32(buf + LSZ_FILE_FIXED + body, crc32(crc32(0, buf + 8, 8), buf + 16, body));
	for (pos = LSZ_FILE_FIXED + body + 4; len - pos >= LSZ_CHUNK_HDR;) {
		uint8_t *h = buf + pos;
		uint32_t csize = lsz_get32(h + 16);

		lsz_put32(h + 28, crc32(0, h, 28));
		if (csize > len - pos - LSZ_CHUNK_HDR)
			return;
		lsz_put32(h + 32, crc32(crc32(0, h, 32), h + LSZ_CHUNK_HDR, csize));
		pos += LSZ_CHUNK_HDR + csize;
	}
}

#endif
