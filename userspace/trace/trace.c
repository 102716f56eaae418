/* trace.c - the .lsz byte layout: file header, zstd chunks with checksums, the compact record
 * encoding; the writer (one chunk buffer, sticky error) and the reader that trusts no byte. */
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "util/common.h"
#include "util/json.h"
#include "util/outfile.h"

/*
 * File layout, all integers little-endian:
 *
 *   file header   magic "\x89LSZ\r\n\x1a\n" (8), version u32, body length u32, body,
 *                 crc32 u32 of version..body. The magic, version and length stay where they are
 *                 in every version, so that any lockscope can say "written by a newer
 *                 lockscope". Body: pid, comm, cmdline, mode, start_realtime_ns, start_mono_ns,
 *                 encoded as records are; a reader ignores bytes after the fields it knows
 *                 (room to add fields).
 *   chunk * N     magic "LSCK" u32, seq u32 (1, 2, ...), records u32, raw size u32,
 *                 compressed size u32, base ts u64, header crc32 u32 (of the 28 bytes before it),
 *                 crc32 u32 (of the 32 header bytes before it, then the payload), payload: one
 *                 zstd frame of the encoded records. The header crc tells a damaged size (corrupt)
 *                 from a short file (cut). A file may end after any complete chunk.
 *
 * Records, each decodable only from the start of its chunk:
 *   type byte, ts as a zigzag varint delta from the previous record's ts (the first from the
 *   chunk's base ts, so it is 0), tid, then per type:
 *     WAIT_BEGIN  addr, owner, stack_id, kind byte, op varint
 *     WAIT_END    result byte
 *     WAKE        addr, wakee, ts - call_ts (zigzag)
 *     THREAD      parent, name, pid (format 2; format 1 has one process, the header's)
 *                                         THREAD_EXIT, PROC_EXIT  code (zigzag)
 *     LOST        count                   LOCK   addr, kind byte, name
 *     FRAME       id, pc, func, file, line, module, offset
 *     STACK       id, nframes, frame ids  MAPPING start, end, offset, perms, path
 *     OBJECT      path, build_id, debug_file, flags byte, via byte
 *     PROCESS     comm, cmdline (format 3)
 *     END         duration_ns, events, lost
 *   Integers are LEB128 varints. Strings are a varint length, the bytes and a NUL, so that the
 *   reader lends pointers into the chunk without copying. Tids (tid, owner, wakee, parent),
 *   addresses and stack ids go through per-chunk dictionaries: varint 0 then the value adds it
 *   to the table, k >= 1 repeats entry k. A contended stream names few threads and locks, so
 *   these become one byte of a handful of values, which zstd's entropy stage packs into bits;
 *   only the timestamp deltas stay noisy.
 */

#define FILE_MAGIC "\x89LSZ\r\n\x1a\n"
#define FILE_MAGIC_LEN 8
#define FILE_FIXED 16		/* magic, version, body length */
#define CHUNK_MAGIC 0x4b43534cu /* "LSCK" */
#define CHUNK_HDR 36
#define CHUNK_HCRC_AT 28
#define CHUNK_CRC_AT 32

#define CHUNK_TARGET (64 * 1024) /* a chunk is closed once its records pass this */
#define STR_MAX (1u << 20)	 /* longest string a record or the header may hold */
#define FRAMES_MAX 4096u	 /* deepest stack */
#define REC_FIXED_MAX 160	 /* a record without its strings and frames, worst case */
/* The largest raw chunk: up to the target, then the largest record (a FRAME's 3 strings). */
#define CHUNK_MAX (4u << 20)
_Static_assert(CHUNK_TARGET + REC_FIXED_MAX + 3 * (STR_MAX + 11) + 5 * FRAMES_MAX <= CHUNK_MAX,
	       "a chunk holding the largest record must stay readable");
#define HEADER_MAX (3 * (STR_MAX + 11) + 64) /* the file header's body */

/* What a reader lets a trace make it (and everything that keeps what it yields) hold, whatever
 * the file says: a name is cut at READ_STR_MAX bytes; the records whose contents readers keep
 * (THREAD, LOCK, FRAME, STACK, TASK_WAIT) may bring READ_KEEP_BASE bytes plus READ_KEEP_PER_BYTE
 * for each byte of the file, each costing READ_KEEP_REC plus its strings and frames; past that
 * they are dropped; a stack deeper than any recorder writes is cut to LS_STACK_FRAMES_MAX. All
 * are counted, in COUNTER records yielded at the end. A genuine trace
 * stays far inside (its names are the distinct functions and locks of one program, which
 * compress to no less than a quarter); a crafted one of 1 MB cannot make readers keep more than
 * ~20 MiB of names, where one of 77 KB once made them take 1.85 GB. */
#define READ_STR_MAX 4096
#define READ_KEEP_BASE (16u << 20)
#define READ_KEEP_PER_BYTE 4
#define READ_KEEP_REC 64
#define READ_CUT_NAME "reader: names cut to 4096 bytes"
#define READ_DROP_NAME "reader: names and stacks dropped over the reader's memory budget"
#define READ_DEEP_NAME "reader: stacks cut to 128 frames"
_Static_assert(LS_STACK_FRAMES_MAX == 128, "READ_DEEP_NAME says 128");
/* Times past this (31 years in ns) are no recording's: a crafted delta, not a clock. */
#define TS_MAX 1000000000000000000ull

#define DICT_CAP 1024	/* entries per dictionary and chunk; then values go literal */
#define DICT_SLOTS 2048 /* writer's hash of a dictionary, load <= 1/2 */
#define ZSTD_LEVEL 3

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* The libFuzzer convention: let a fuzzer reach the decoders behind the checksums. */
static bool crc_ok(uint32_t want, uint32_t got)
{
	(void)want;
	(void)got;
	return true;
}
#else
static bool crc_ok(uint32_t want, uint32_t got)
{
	return want == got;
}
#endif

/* ---- little-endian fixed integers ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- encoding: the caller has made room for REC_FIXED_MAX plus strings and frames ---- */

static uint64_t zigzag(uint64_t v)
{
	return (v << 1) ^ (0 - (v >> 63));
}

static uint64_t unzigzag(uint64_t v)
{
	return (v >> 1) ^ (0 - (v & 1));
}

static uint8_t *put_u(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)v | 0x80;
		v >>= 7;
	}
	*p++ = v;
	return p;
}

static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	p = put_u(p, len);
	if (len)
		memcpy(p, s, len);
	p[len] = 0;
	return p + len + 1;
}

/* The writer's side of a dictionary: values in order of first use, and a hash to find them. */
struct wdict {
	uint32_t n;
	uint16_t slot[DICT_SLOTS]; /* index + 1; 0 empty */
	uint64_t val[DICT_CAP];
};

static void wdict_reset(struct wdict *d)
{
	d->n = 0;
	memset(d->slot, 0, sizeof(d->slot));
}

static uint8_t *put_dict(uint8_t *p, struct wdict *d, uint64_t v)
{
	uint32_t h = (v * 0x9e3779b97f4a7c15ull) >> (64 - 11);

	_Static_assert(DICT_SLOTS == 1 << 11, "hash width");
	for (;; h = (h + 1) % DICT_SLOTS) {
		uint16_t s = d->slot[h];

		if (s && d->val[s - 1] == v)
			return put_u(p, s);
		if (!s)
			break;
	}
	/* not in the table: a literal, which the reader adds too while there is room */
	if (d->n < DICT_CAP) {
		d->val[d->n++] = v;
		d->slot[h] = d->n;
	}
	*p++ = 0;
	return put_u(p, v);
}

/* ---- decoding: a cursor that turns bad instead of reading past its end ---- */

struct cur {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get_u(struct cur *c)
{
	uint64_t v = 0;

	if (c->p < c->end && *c->p < 0x80)
		return *c->p++;
	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (c->p >= c->end)
			break;
		b = *c->p++;
		if (shift == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	c->bad = true;
	return 0;
}

static uint32_t get_u32(struct cur *c)
{
	uint64_t v = get_u(c);

	if (v > UINT32_MAX) {
		c->bad = true;
		return 0;
	}
	return v;
}

static uint8_t get_byte(struct cur *c, unsigned int limit)
{
	if (c->p >= c->end || *c->p >= limit) {
		c->bad = true;
		return 0;
	}
	return *c->p++;
}

/* A borrowed pointer into the chunk: the NUL after the bytes was checked. */
static const char *get_str(struct cur *c)
{
	uint64_t len = get_u(c);

	if (c->bad || len > STR_MAX || len >= (uint64_t)(c->end - c->p) || c->p[len]) {
		c->bad = true;
		return "";
	}
	c->p += len + 1;
	return (const char *)c->p - len - 1;
}

struct rdict {
	uint32_t n;
	uint64_t val[DICT_CAP];
};

static uint64_t get_dict(struct cur *c, struct rdict *d)
{
	uint64_t k = get_u(c), v;

	if (k == 0) {
		v = get_u(c);
		if (d->n < DICT_CAP)
			d->val[d->n++] = v;
		return v;
	}
	if (k > d->n) {
		c->bad = true;
		return 0;
	}
	return d->val[k - 1];
}

static uint32_t get_dict32(struct cur *c, struct rdict *d)
{
	uint64_t v = get_dict(c, d);

	if (v > UINT32_MAX) {
		c->bad = true;
		return 0;
	}
	return v;
}

/* ---- writer ----
 * Records are encoded into one chunk buffer, which goes out (compressed, with its header, in one
 * write(2)) once it passes CHUNK_TARGET or on trace_writer__flush(). The first failure to write
 * or to allocate is sticky: later appends do nothing and return it, as do flush and close; the
 * file keeps every chunk written before it. A malformed record (unknown type, kind or result out
 * of range, frame or stack id 0, a string over STR_MAX, a stack over FRAMES_MAX frames) is the
 * caller's bug, not a broken file: it is refused with -EINVAL and the writer goes on; so is a time
 * past TS_MAX and any record after the END record. NULL
 * strings are written as "". The END record is the caller's to append before closing.
 */

struct trace_writer {
	struct outfile *file;
	int fd;
	int err; /* sticky: the first failure, returned from then on */
	uint64_t bytes, records;
	ZSTD_CCtx *cctx;
	uint8_t *buf; /* the open chunk's encoded records */
	size_t len, cap;
	uint8_t *out; /* chunk header + compressed payload */
	size_t out_cap;
	uint32_t nrec, seq;
	uint64_t base_ts, prev_ts;
	bool ended; /* the END record went in: nothing may follow it */
	struct wdict tids, addrs, stacks;
};

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (need <= *cap)
		return 0;
	p = realloc(*buf, need);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = need;
	return 0;
}

/* Counts what reached the file even when the write then fails: bytes() stays true. */
static int write_all(int fd, const uint8_t *p, size_t len, uint64_t *bytes)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
		*bytes += n;
	}
	return 0;
}

static bool str_fits(const char *s)
{
	return !s || strnlen(s, STR_MAX + 1) <= STR_MAX;
}

static size_t slen(const char *s)
{
	return s ? strlen(s) : 0;
}

/* A TASK_WAIT's strings together take no more room than a FRAME's largest: a chunk holding it
 * stays readable. */
static int task_wait_check(const struct ls_rec *rec, size_t *need)
{
	const struct ls_task_wait *t = &rec->task_wait;
	size_t n = slen(t->name) + slen(t->coro) + slen(t->waits_for) + 11 * (3 + t->nholds);

	if (!t->cycle || !t->ntasks || t->ntasks > LS_TASK_CYCLE_MAX || t->index >= t->ntasks ||
	    t->nholds > LS_TASK_HOLDS_MAX || (t->nholds && !t->holds) || !str_fits(t->name) ||
	    !str_fits(t->coro) || !str_fits(t->waits_for))
		return -EINVAL;
	for (uint32_t i = 0; i < t->nholds; i++) {
		if (!str_fits(t->holds[i]))
			return -EINVAL;
		n += slen(t->holds[i]);
	}
	if (n > 3 * (STR_MAX + 11))
		return -EINVAL;
	*need = REC_FIXED_MAX + n;
	return 0;
}

/* Every time a record carries is a time of a recording: nothing past TS_MAX, which is also
 * where a delta that wrapped below 0 lands (a crafted one once made a wait last 9.2e9 s). */
static bool times_ok(const struct ls_rec *rec)
{
	uint64_t t = rec->ts;

	if (t > TS_MAX)
		return false;
	switch (rec->type) {
	case LS_REC_WAKE:
		return rec->wake.call_ts <= TS_MAX;
	case LS_REC_ACQUIRE:
		return rec->acquire.call_ts <= TS_MAX;
	case LS_REC_END:
		return rec->end.duration_ns <= TS_MAX;
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK:
		for (int i = 0; i < LS_LOOP_OFF__COUNT; i++)
			if (rec->loop.off_ns[i] > TS_MAX)
				return false;
		return rec->loop.on_cpu_ns <= TS_MAX;
	default:
		return true;
	}
}

/* Checks what the reader will check, and says how many bytes the record may take. */
static int rec_check(const struct ls_rec *rec, size_t *need)
{
	size_t n = REC_FIXED_MAX;

	if (!times_ok(rec))
		return -EINVAL;
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		if (rec->wait_begin.kind >= LS_KIND__COUNT)
			return -EINVAL;
		break;
	case LS_REC_WAIT_END:
		if (rec->wait_end.result > LS_WAIT_UNFINISHED)
			return -EINVAL;
		break;
	case LS_REC_THREAD:
		if (!str_fits(rec->thread.name))
			return -EINVAL;
		n += slen(rec->thread.name);
		break;
	case LS_REC_LOCK:
		if (rec->lock.kind >= LS_KIND__COUNT || !str_fits(rec->lock.name))
			return -EINVAL;
		n += slen(rec->lock.name);
		break;
	case LS_REC_FRAME:
		if (!rec->frame.id || !str_fits(rec->frame.func) || !str_fits(rec->frame.file) ||
		    !str_fits(rec->frame.module))
			return -EINVAL;
		n += slen(rec->frame.func) + slen(rec->frame.file) + slen(rec->frame.module);
		break;
	case LS_REC_STACK:
		if (!rec->stack.id || rec->stack.nframes > FRAMES_MAX ||
		    (rec->stack.nframes && !rec->stack.frames))
			return -EINVAL;
		n += 5 * rec->stack.nframes;
		break;
	case LS_REC_MAPPING:
		if (!str_fits(rec->mapping.perms) || !str_fits(rec->mapping.path))
			return -EINVAL;
		n += slen(rec->mapping.perms) + slen(rec->mapping.path);
		break;
	case LS_REC_ACQUIRE:
		if (rec->acquire.kind >= LS_KIND__COUNT)
			return -EINVAL;
		break;
	case LS_REC_COUNTER:
		if (!str_fits(rec->counter.name))
			return -EINVAL;
		n += slen(rec->counter.name);
		break;
	case LS_REC_OBJECT:
		if (!str_fits(rec->object.path) || !str_fits(rec->object.build_id) ||
		    !str_fits(rec->object.debug_file) || rec->object.via >= LS_VIA__COUNT)
			return -EINVAL;
		n += slen(rec->object.path) + slen(rec->object.build_id) +
		     slen(rec->object.debug_file);
		break;
	case LS_REC_PROCESS:
		if (!rec->tid || !str_fits(rec->process.comm) || !str_fits(rec->process.cmdline))
			return -EINVAL;
		n += slen(rec->process.comm) + slen(rec->process.cmdline);
		break;
	case LS_REC_TASK_WAIT:
		return task_wait_check(rec, need);
	case LS_REC_WAKE:
	case LS_REC_THREAD_EXIT:
	case LS_REC_PROC_EXIT:
	case LS_REC_LOST:
	case LS_REC_END:
	case LS_REC_RELEASE:
	case LS_REC_DESTROY:
	case LS_REC_WINDOW:
		break;
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK:
		if (rec->loop.start > rec->ts || rec->loop.on_cpu > 1 ||
		    rec->loop.cls > LS_LOOP_CLS_UNKNOWN)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	*need = n;
	return 0;
}

static uint8_t *rec_encode(struct trace_writer *w, uint8_t *p, const struct ls_rec *rec)
{
	*p++ = rec->type;
	p = put_u(p, zigzag(rec->ts - w->prev_ts));
	p = put_dict(p, &w->tids, rec->tid);
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		p = put_dict(p, &w->addrs, rec->wait_begin.addr);
		p = put_dict(p, &w->tids, rec->wait_begin.owner);
		p = put_dict(p, &w->stacks, rec->wait_begin.stack_id);
		*p++ = rec->wait_begin.kind;
		*p++ = rec->wait_begin.flags;
		return put_u(p, rec->wait_begin.op);
	case LS_REC_WAIT_END:
		*p++ = rec->wait_end.result;
		return p;
	case LS_REC_WAKE:
		p = put_dict(p, &w->addrs, rec->wake.addr);
		p = put_dict(p, &w->tids, rec->wake.wakee);
		return put_u(p, zigzag(rec->ts - rec->wake.call_ts));
	case LS_REC_THREAD:
		p = put_dict(p, &w->tids, rec->thread.parent);
		p = put_str(p, rec->thread.name);
		return put_dict(p, &w->tids, rec->thread.pid);
	case LS_REC_THREAD_EXIT:
	case LS_REC_PROC_EXIT:
		return put_u(p, zigzag((uint64_t)(int64_t)rec->exit.code));
	case LS_REC_LOST:
		return put_u(p, rec->lost.count);
	case LS_REC_LOCK:
		p = put_dict(p, &w->addrs, rec->lock.addr);
		*p++ = rec->lock.kind;
		return put_str(p, rec->lock.name);
	case LS_REC_FRAME:
		p = put_u(p, rec->frame.id);
		p = put_u(p, rec->frame.pc);
		p = put_str(p, rec->frame.func);
		p = put_str(p, rec->frame.file);
		p = put_u(p, rec->frame.line);
		p = put_str(p, rec->frame.module);
		return put_u(p, rec->frame.offset);
	case LS_REC_STACK:
		p = put_u(p, rec->stack.id);
		p = put_u(p, rec->stack.nframes);
		for (uint32_t i = 0; i < rec->stack.nframes; i++)
			p = put_u(p, rec->stack.frames[i]);
		return p;
	case LS_REC_MAPPING:
		p = put_u(p, rec->mapping.start);
		p = put_u(p, rec->mapping.end);
		p = put_u(p, rec->mapping.offset);
		p = put_str(p, rec->mapping.perms);
		return put_str(p, rec->mapping.path);
	case LS_REC_END:
		p = put_u(p, rec->end.duration_ns);
		p = put_u(p, rec->end.events);
		return put_u(p, rec->end.lost);
	case LS_REC_ACQUIRE:
		p = put_dict(p, &w->addrs, rec->acquire.addr);
		*p++ = rec->acquire.kind;
		*p++ = rec->acquire.flags;
		p = put_u(p, zigzag(rec->ts - rec->acquire.call_ts));
		return put_dict(p, &w->stacks, rec->acquire.stack_id);
	case LS_REC_RELEASE:
	case LS_REC_DESTROY:
		return put_dict(p, &w->addrs, rec->release.addr);
	case LS_REC_WINDOW:
		*p++ = rec->window.on;
		return p;
	case LS_REC_COUNTER:
		p = put_str(p, rec->counter.name);
		return put_u(p, rec->counter.value);
	case LS_REC_OBJECT:
		p = put_str(p, rec->object.path);
		p = put_str(p, rec->object.build_id);
		p = put_str(p, rec->object.debug_file);
		*p++ = rec->object.flags;
		*p++ = rec->object.via;
		return p;
	case LS_REC_PROCESS:
		p = put_str(p, rec->process.comm);
		return put_str(p, rec->process.cmdline);
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK:
		p = put_u(p, rec->ts - rec->loop.start);
		p = put_u(p, rec->loop.on_cpu_ns);
		for (int i = 0; i < LS_LOOP_OFF__COUNT; i++)
			p = put_u(p, rec->loop.off_ns[i]);
		p = put_dict(p, &w->stacks, rec->loop.stack_id);
		/* the class in the same byte, above the flag: 0 in older traces, unknown */
		*p++ = rec->loop.on_cpu | (uint8_t)((rec->loop.cls + 1) % (LS_LOOP_CLS_UNKNOWN + 1)) << 1;
		return p;
	case LS_REC_TASK_WAIT:
		p = put_u(p, rec->task_wait.cycle);
		p = put_u(p, rec->task_wait.ntasks);
		p = put_u(p, rec->task_wait.index);
		p = put_u(p, rec->task_wait.task);
		p = put_str(p, rec->task_wait.name);
		p = put_str(p, rec->task_wait.coro);
		p = put_str(p, rec->task_wait.waits_for);
		p = put_u(p, rec->task_wait.nholds);
		for (uint32_t i = 0; i < rec->task_wait.nholds; i++)
			p = put_str(p, rec->task_wait.holds[i]);
		return put_dict(p, &w->stacks, rec->task_wait.stack_id);
	}
	return p; /* not reached: rec_check() let only known types through */
}

static void chunk_reset(struct trace_writer *w)
{
	w->len = 0;
	w->nrec = 0;
	wdict_reset(&w->tids);
	wdict_reset(&w->addrs);
	wdict_reset(&w->stacks);
}

/* Compresses the open chunk and writes it with its header. Nothing to do if it is empty. */
static int chunk_write(struct trace_writer *w)
{
	size_t bound = ZSTD_compressBound(w->len), csize;
	uint8_t *h;
	uint32_t crc;
	int ret;

	if (!w->nrec)
		return 0;
	ret = grow(&w->out, &w->out_cap, CHUNK_HDR + bound);
	if (ret)
		return ret;
	csize = ZSTD_compress2(w->cctx, w->out + CHUNK_HDR, bound, w->buf, w->len);
	if (ZSTD_isError(csize))
		return ZSTD_getErrorCode(csize) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
	h = w->out;
	put32(h, CHUNK_MAGIC);
	put32(h + 4, ++w->seq);
	put32(h + 8, w->nrec);
	put32(h + 12, w->len);
	put32(h + 16, csize);
	put64(h + 20, w->base_ts);
	put32(h + CHUNK_HCRC_AT, crc32(0, h, CHUNK_HCRC_AT));
	crc = crc32(0, h, CHUNK_CRC_AT);
	put32(h + CHUNK_CRC_AT, crc32(crc, h + CHUNK_HDR, csize));
	ret = write_all(w->fd, w->out, CHUNK_HDR + csize, &w->bytes);
	chunk_reset(w);
	return ret;
}

static int header_write(struct trace_writer *w, const struct ls_trace_info *info)
{
	size_t max =
	    FILE_FIXED + 64 + slen(info->comm) + slen(info->cmdline) + slen(info->mode) + 4;
	uint8_t *buf = malloc(max), *p;
	size_t len;
	int ret;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, FILE_MAGIC, FILE_MAGIC_LEN);
	p = buf + FILE_FIXED;
	p = put_u(p, info->pid);
	p = put_str(p, info->comm);
	p = put_str(p, info->cmdline);
	p = put_str(p, info->mode);
	p = put_u(p, info->start_realtime_ns);
	p = put_u(p, info->start_mono_ns);
	put32(buf + 8, LS_TRACE_VERSION);
	put32(buf + 12, p - buf - FILE_FIXED);
	put32(p, crc32(0, buf + FILE_MAGIC_LEN, p - buf - FILE_MAGIC_LEN));
	len = p + 4 - buf;
	ret = write_all(w->fd, buf, len, &w->bytes);
	free(buf);
	return ret;
}

struct trace_writer *trace_writer__new(const char *path, const struct ls_trace_info *info)
{
	struct trace_writer *w = NULL;
	int ret = -EINVAL;

	if (!info || !str_fits(info->comm) || !str_fits(info->cmdline) ||
	    !str_fits(info->mode))
		goto cleanup;
	ret = -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (!w)
		goto cleanup;
	w->fd = -1;
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx || grow(&w->buf, &w->cap, CHUNK_TARGET + 4096))
		goto cleanup;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL)))
		goto cleanup;
	chunk_reset(w);
	w->file = outfile__open(path);
	if (!w->file) {
		ret = -errno;
		goto cleanup;
	}
	w->fd = outfile__fd(w->file);
	ret = header_write(w, info);
	if (ret)
		goto cleanup;
	return w;
cleanup:
	trace_writer__discard(w);
	errno = -ret;
	return NULL;
}

int trace_writer__append(struct trace_writer *w, const struct ls_rec *rec)
{
	size_t need;
	int ret;

	if (w->err)
		return w->err;
	/* a malformed record is the caller's bug, not a broken file: refuse it, keep going */
	if (!rec || w->ended || rec_check(rec, &need))
		return -EINVAL;
	w->ended = rec->type == LS_REC_END;
	ret = grow(&w->buf, &w->cap, w->len + need);
	if (ret)
		return w->err = ret;
	if (!w->nrec)
		w->base_ts = w->prev_ts = rec->ts;
	w->len = rec_encode(w, w->buf + w->len, rec) - w->buf;
	w->prev_ts = rec->ts;
	w->nrec++;
	w->records++;
	if (w->len >= CHUNK_TARGET)
		w->err = chunk_write(w);
	return w->err;
}

int trace_writer__flush(struct trace_writer *w)
{
	if (!w->err)
		w->err = chunk_write(w);
	return w->err;
}

uint64_t trace_writer__bytes(const struct trace_writer *w)
{
	return w ? w->bytes : 0;
}

uint64_t trace_writer__records(const struct trace_writer *w)
{
	return w ? w->records : 0;
}

int trace_writer__publish(struct trace_writer *w)
{
	if (!w->err)
		w->err = trace_writer__flush(w) ?: outfile__publish(w->file);
	return w->err;
}

/* Frees W; its file is kept (in place) if KEEP and nothing failed. 0 or the first error. */
static int writer_end(struct trace_writer *w, bool keep)
{
	int ret = 0, err;

	if (!w)
		return 0;
	if (keep && w->file)
		ret = trace_writer__flush(w);
	err = outfile__close(w->file, keep && !ret);
	if (keep && !ret)
		ret = err;
	ZSTD_freeCCtx(w->cctx);
	free(w->out);
	free(w->buf);
	free(w);
	return ret;
}

int trace_writer__close(struct trace_writer *w)
{
	return writer_end(w, true);
}

void trace_writer__discard(struct trace_writer *w)
{
	writer_end(w, false);
}

/* ---- reader ----
 * trace_reader__next() returns 1 with a record; 0 at the end of the file, which is a clean end
 * between two chunks (trace_reader__complete() says whether the END record came; if it did not,
 * trace_reader__error() stays NULL: every byte written was read); -ENODATA when the file is cut
 * inside a chunk ("file is cut in chunk N (recording did not finish)": a recorder killed or a
 * full disk, the records of the complete chunks have all been yielded); -EBADMSG when chunk N
 * is damaged ("chunk N is corrupt (checksum)"); another negative errno when read(2) failed.
 * Chunks count from 1. Once it has returned 0 or an error, it returns the same again. A chunk
 * whose checksums hold but whose records do not decode (a writer bug, or a crafted file) is
 * reported at its first bad record, after the records before it in that chunk.
 */

enum { READING = 1, TELLING }; /* TELLING: yielding the reader's own counters, then FINAL */

struct trace_reader {
	int fd;
	int state; /* READING, TELLING, 0 at the end, or the negative errno that stopped it */
	int final; /* what TELLING ends in */
	bool complete;
	uint64_t keep_left;	 /* bytes of kept records the budget still allows */
	uint64_t cut, dropped;	 /* strings cut, records dropped */
	uint64_t deep;		 /* stacks cut to LS_STACK_FRAMES_MAX */
	bool told_cut, told_dropped, told_deep;
	struct frame_costs {	 /* what each kept frame's label takes printed, by id */
		uint32_t *id, *cost;
		size_t n, cap;	 /* open addressing; cap a power of 2 */
	} frames_out;
	struct ls_trace_info info;
	ZSTD_DCtx *dctx;
	uint8_t *cbuf, *ubuf; /* the current chunk, compressed and raw */
	size_t ccap, ucap;
	struct cur cur; /* the next record in ubuf */
	uint32_t chunk, left, rec_no;
	uint64_t prev_ts;
	struct rdict tids, addrs, stacks;
	uint32_t *frames; /* FRAMES_MAX, lent out by STACK records */
	const char *holds[LS_TASK_HOLDS_MAX]; /* lent out by TASK_WAIT records */
	char err[128];
};

/* Reads up to LEN bytes; fewer only at the end of the file. */
static ssize_t read_full(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

__attribute__((format(printf, 3, 4))) static int stop(struct trace_reader *r, int err,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->state = err;
	return err;
}

static int corrupt(struct trace_reader *r, const char *why)
{
	return stop(r, -EBADMSG, "chunk %u is corrupt (%s)", r->chunk, why);
}

/* Reads, checks and decompresses the next chunk. 1: loaded; 0: clean end; negative: stopped. */
static int chunk_load(struct trace_reader *r)
{
	uint8_t h[CHUNK_HDR], magic[4];
	uint32_t nrec, usize, csize;
	ssize_t n;
	size_t d;

	n = read_full(r->fd, h, sizeof(h));
	if (n < 0)
		return stop(r, n, "cannot read chunk %u: %s", r->chunk + 1, strerror(-n));
	if (n == 0)
		return 0;
	r->chunk++;
	put32(magic, CHUNK_MAGIC);
	if (memcmp(h, magic, n < 4 ? n : 4))
		return corrupt(r, "magic");
	if (n < CHUNK_HDR)
		return stop(r, -ENODATA, "file is cut in chunk %u (recording did not finish)",
			    r->chunk);
	if (!crc_ok(get32(h + CHUNK_HCRC_AT), crc32(0, h, CHUNK_HCRC_AT)))
		return corrupt(r, "header checksum");
	if (get32(h + 4) != r->chunk)
		return corrupt(r, "sequence");
	nrec = get32(h + 8);
	usize = get32(h + 12);
	csize = get32(h + 16);
	if (!nrec || usize < nrec || usize > CHUNK_MAX || !csize ||
	    csize > ZSTD_compressBound(CHUNK_MAX))
		return corrupt(r, "sizes");
	if (grow(&r->cbuf, &r->ccap, csize) || grow(&r->ubuf, &r->ucap, usize))
		return stop(r, -ENOMEM, "chunk %u: out of memory", r->chunk);
	n = read_full(r->fd, r->cbuf, csize);
	if (n < 0)
		return stop(r, n, "cannot read chunk %u: %s", r->chunk, strerror(-n));
	if ((size_t)n < csize)
		return stop(r, -ENODATA, "file is cut in chunk %u (recording did not finish)",
			    r->chunk);
	if (!crc_ok(get32(h + CHUNK_CRC_AT), crc32(crc32(0, h, CHUNK_CRC_AT), r->cbuf, csize)))
		return corrupt(r, "checksum");
	d = ZSTD_decompressDCtx(r->dctx, r->ubuf, usize, r->cbuf, csize);
	if (ZSTD_isError(d) || d != usize)
		return corrupt(r, "zstd");
	r->cur = (struct cur){r->ubuf, r->ubuf + usize, false};
	r->left = nrec;
	r->rec_no = 0;
	r->prev_ts = get64(h + 20);
	if (r->prev_ts > TS_MAX)
		return corrupt(r, "time out of range");
	r->tids.n = r->addrs.n = r->stacks.n = 0;
	return 1;
}

static void task_wait_decode(struct trace_reader *r, struct cur *c, struct ls_rec *rec)
{
	struct ls_task_wait *t = &rec->task_wait;

	t->cycle = get_u32(c);
	t->ntasks = get_u32(c);
	t->index = get_u32(c);
	t->task = get_u(c);
	t->name = get_str(c);
	t->coro = get_str(c);
	t->waits_for = get_str(c);
	t->nholds = get_u32(c);
	if (!t->cycle || !t->ntasks || t->ntasks > LS_TASK_CYCLE_MAX || t->index >= t->ntasks ||
	    t->nholds > LS_TASK_HOLDS_MAX) {
		c->bad = true;
		return;
	}
	for (uint32_t i = 0; i < t->nholds; i++)
		r->holds[i] = get_str(c);
	t->holds = r->holds;
	t->stack_id = get_dict32(c, &r->stacks);
}

static void rec_decode(struct trace_reader *r, struct cur *c, struct ls_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->type = get_byte(c, LS_REC__COUNT);
	rec->ts = r->prev_ts + unzigzag(get_u(c));
	rec->tid = get_dict32(c, &r->tids);
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		rec->wait_begin.addr = get_dict(c, &r->addrs);
		rec->wait_begin.owner = get_dict32(c, &r->tids);
		rec->wait_begin.stack_id = get_dict32(c, &r->stacks);
		rec->wait_begin.kind = get_byte(c, LS_KIND__COUNT);
		rec->wait_begin.flags = get_byte(c, 256);
		rec->wait_begin.op = get_u32(c);
		break;
	case LS_REC_WAIT_END:
		rec->wait_end.result = get_byte(c, LS_WAIT_UNFINISHED + 1);
		break;
	case LS_REC_WAKE:
		rec->wake.addr = get_dict(c, &r->addrs);
		rec->wake.wakee = get_dict32(c, &r->tids);
		rec->wake.call_ts = rec->ts - unzigzag(get_u(c));
		break;
	case LS_REC_THREAD:
		rec->thread.parent = get_dict32(c, &r->tids);
		rec->thread.name = get_str(c);
		/* format 1 recorded one process: the trace's own */
		rec->thread.pid = r->info.version >= 2 ? get_dict32(c, &r->tids) : r->info.pid;
		break;
	case LS_REC_THREAD_EXIT:
	case LS_REC_PROC_EXIT: {
		int64_t code = (int64_t)unzigzag(get_u(c));

		if (code < INT32_MIN || code > INT32_MAX)
			c->bad = true;
		rec->exit.code = (int32_t)code;
		break;
	}
	case LS_REC_LOST:
		rec->lost.count = get_u(c);
		break;
	case LS_REC_LOCK:
		rec->lock.addr = get_dict(c, &r->addrs);
		rec->lock.kind = get_byte(c, LS_KIND__COUNT);
		rec->lock.name = get_str(c);
		break;
	case LS_REC_FRAME:
		rec->frame.id = get_u32(c);
		rec->frame.pc = get_u(c);
		rec->frame.func = get_str(c);
		rec->frame.file = get_str(c);
		rec->frame.line = get_u32(c);
		rec->frame.module = get_str(c);
		rec->frame.offset = get_u(c);
		c->bad |= !rec->frame.id;
		break;
	case LS_REC_STACK:
		rec->stack.id = get_u32(c);
		rec->stack.nframes = get_u32(c);
		if (!rec->stack.id || rec->stack.nframes > FRAMES_MAX) {
			c->bad = true;
			break;
		}
		for (uint32_t i = 0; i < rec->stack.nframes && !c->bad; i++)
			r->frames[i] = get_u32(c);
		rec->stack.frames = r->frames;
		break;
	case LS_REC_MAPPING:
		rec->mapping.start = get_u(c);
		rec->mapping.end = get_u(c);
		rec->mapping.offset = get_u(c);
		rec->mapping.perms = get_str(c);
		rec->mapping.path = get_str(c);
		break;
	case LS_REC_END:
		rec->end.duration_ns = get_u(c);
		rec->end.events = get_u(c);
		rec->end.lost = get_u(c);
		break;
	case LS_REC_ACQUIRE:
		rec->acquire.addr = get_dict(c, &r->addrs);
		rec->acquire.kind = get_byte(c, LS_KIND__COUNT);
		rec->acquire.flags = get_byte(c, 256);
		rec->acquire.call_ts = rec->ts - unzigzag(get_u(c));
		rec->acquire.stack_id = get_dict32(c, &r->stacks);
		break;
	case LS_REC_RELEASE:
	case LS_REC_DESTROY:
		rec->release.addr = get_dict(c, &r->addrs);
		break;
	case LS_REC_WINDOW:
		rec->window.on = get_byte(c, 2);
		break;
	case LS_REC_COUNTER:
		rec->counter.name = get_str(c);
		rec->counter.value = get_u(c);
		break;
	case LS_REC_OBJECT:
		rec->object.path = get_str(c);
		rec->object.build_id = get_str(c);
		rec->object.debug_file = get_str(c);
		rec->object.flags = get_byte(c, 256);
		rec->object.via = get_byte(c, LS_VIA__COUNT);
		break;
	case LS_REC_PROCESS:
		rec->process.comm = get_str(c);
		rec->process.cmdline = get_str(c);
		break;
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK: {
		uint64_t gap = get_u(c);

		c->bad |= gap > rec->ts;
		rec->loop.start = rec->ts - gap;
		rec->loop.on_cpu_ns = get_u(c);
		for (int i = 0; i < LS_LOOP_OFF__COUNT; i++)
			rec->loop.off_ns[i] = get_u(c);
		rec->loop.stack_id = get_dict32(c, &r->stacks);
		rec->loop.on_cpu = get_byte(c, 2 * (LS_LOOP_CLS_UNKNOWN + 1));
		rec->loop.cls = (uint8_t)((rec->loop.on_cpu >> 1) + LS_LOOP_CLS_UNKNOWN) %
				(LS_LOOP_CLS_UNKNOWN + 1);
		rec->loop.on_cpu &= 1;
		break;
	}
	case LS_REC_TASK_WAIT:
		task_wait_decode(r, c, rec);
		break;
	default: /* 0 */
		c->bad = true;
	}
}

/* Cuts the string at *S (in the reader's chunk buffer) to READ_STR_MAX bytes, at a character's
 * start; returns its length. */
static size_t cut_str(struct trace_reader *r, const char *s)
{
	size_t n = strnlen(s, READ_STR_MAX + 1);

	if (n <= READ_STR_MAX)
		return n;
	n = READ_STR_MAX;
	while (n > READ_STR_MAX - 3 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	((char *)s)[n] = '\0'; /* the chunk buffer is the reader's own */
	r->cut++;
	return n;
}

/* A kept frame's label, printed as JSON (func, file, module: a bound), by id. 0 if unknown. */
static uint32_t *cost_slot(struct frame_costs *t, uint32_t id)
{
	size_t i = (id * 0x9e3779b1u) & (t->cap - 1);

	while (t->id[i] && t->id[i] != id)
		i = (i + 1) & (t->cap - 1);
	return &t->cost[i];
}

static int cost_put(struct frame_costs *t, uint32_t id, uint32_t cost)
{
	uint32_t *slot;

	if (2 * (t->n + 1) > t->cap) {
		struct frame_costs b = {.cap = t->cap ? 2 * t->cap : 1024};

		b.id = calloc(b.cap, sizeof(*b.id));
		b.cost = calloc(b.cap, sizeof(*b.cost));
		if (!b.id || !b.cost) {
			free(b.id);
			free(b.cost);
			return -ENOMEM;
		}
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->id[i])
				continue;
			slot = cost_slot(&b, t->id[i]);
			b.id[slot - b.cost] = t->id[i];
			*slot = t->cost[i];
		}
		b.n = t->n;
		free(t->id);
		free(t->cost);
		*t = b;
	}
	slot = cost_slot(t, id);
	if (!t->id[slot - t->cost])
		t->n++;
	t->id[slot - t->cost] = id;
	*slot = cost;
	return 0;
}

static uint64_t cost_get(struct frame_costs *t, uint32_t id)
{
	uint32_t *slot = t->cap ? cost_slot(t, id) : NULL;

	return slot && t->id[slot - t->cost] ? *slot : 32; /* "?? (frame 4294967295)" */
}

/* What the strings of REC cost once cut, escaped as JSON escapes them (a bound). */
static uint64_t cut_cost(struct trace_reader *r, const char *s)
{
	cut_str(r, s);
	return json_quoted_bound(s);
}

/* A stack costs what its ids take kept, and what its frames take each time it is printed, up to
 * where a printed stack stops (LS_STACK_JSON_MAX): one deep stack of long names must not cost
 * a few bytes here and gigabytes in a report or an export. */
static uint64_t stack_cost(struct trace_reader *r, const struct ls_rec *rec)
{
	uint64_t out = 0;

	for (uint32_t i = 0; i < rec->stack.nframes && out <= LS_STACK_JSON_MAX; i++)
		out += cost_get(&r->frames_out, rec->stack.frames[i]) + 3;
	return 4ull * rec->stack.nframes + out;
}

/* Bounds what REC makes its readers keep; false if it is over the budget and must be dropped
 * (or memory ran out for the bookkeeping). */
static bool keep(struct trace_reader *r, struct ls_rec *rec)
{
	uint64_t cost = READ_KEEP_REC, label = 0;

	switch (rec->type) {
	case LS_REC_THREAD:
		cost += cut_cost(r, rec->thread.name);
		break;
	case LS_REC_PROCESS:
		cost += cut_cost(r, rec->process.comm) + cut_cost(r, rec->process.cmdline);
		break;
	case LS_REC_LOCK:
		cost += cut_cost(r, rec->lock.name);
		break;
	case LS_REC_FRAME:
		/* kept twice over: the parts, and the label made of them */
		label = cut_cost(r, rec->frame.func) + cut_cost(r, rec->frame.file) +
			cut_cost(r, rec->frame.module) + 32;
		cost += 2 * label;
		break;
	case LS_REC_STACK:
		/* every sample that has it prints it, in every profile: depth multiplies */
		if (rec->stack.nframes > LS_STACK_FRAMES_MAX) {
			rec->stack.nframes = LS_STACK_FRAMES_MAX;
			r->deep++;
		}
		cost += stack_cost(r, rec);
		break;
	case LS_REC_TASK_WAIT:
		cost += cut_cost(r, rec->task_wait.name) + cut_cost(r, rec->task_wait.coro) +
			cut_cost(r, rec->task_wait.waits_for);
		for (uint32_t i = 0; i < rec->task_wait.nholds; i++)
			cost += cut_cost(r, rec->task_wait.holds[i]);
		break;
	case LS_REC_MAPPING:
		cut_str(r, rec->mapping.perms);
		cut_str(r, rec->mapping.path);
		return true;
	case LS_REC_COUNTER:
		cut_str(r, rec->counter.name);
		return true;
	default:
		return true;
	}
	if (cost > r->keep_left ||
	    (rec->type == LS_REC_FRAME && cost_put(&r->frames_out, rec->frame.id, label))) {
		r->dropped++;
		return false;
	}
	r->keep_left -= cost;
	return true;
}

/* The reader's own loss counters, one record each, before the end (or the error) it had. */
static int tell(struct trace_reader *r, struct ls_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->type = LS_REC_COUNTER;
	rec->ts = r->prev_ts;
	if (r->cut && !r->told_cut) {
		r->told_cut = true;
		rec->counter.name = READ_CUT_NAME;
		rec->counter.value = r->cut;
		return 1;
	}
	if (r->dropped && !r->told_dropped) {
		r->told_dropped = true;
		rec->counter.name = READ_DROP_NAME;
		rec->counter.value = r->dropped;
		return 1;
	}
	if (r->deep && !r->told_deep) {
		r->told_deep = true;
		rec->counter.name = READ_DEEP_NAME;
		rec->counter.value = r->deep;
		return 1;
	}
	return r->state = r->final;
}

static int stop_telling(struct trace_reader *r, int ret, struct ls_rec *rec)
{
	r->final = ret;
	r->state = TELLING;
	return tell(r, rec);
}

int trace_reader__next(struct trace_reader *r, struct ls_rec *rec)
{
	int ret;

	if (r->state == TELLING)
		return tell(r, rec);
	if (r->state != READING)
		return r->state;
	for (;;) {
		while (!r->left) {
			if (r->cur.p != r->cur.end)
				return stop_telling(r, corrupt(r, "trailing bytes"), rec);
			ret = chunk_load(r);
			if (ret <= 0)
				return stop_telling(r, ret, rec);
		}
		rec_decode(r, &r->cur, rec);
		if (r->cur.bad || !times_ok(rec) || r->complete) {
			char why[64];

			snprintf(why, sizeof(why), "record %u%s", r->rec_no + 1,
				 r->cur.bad ? "" :
				 r->complete ? ": records after the end record" : ": time out of range");
			return stop_telling(r, corrupt(r, why), rec);
		}
		r->prev_ts = rec->ts;
		r->left--;
		r->rec_no++;
		if (!keep(r, rec))
			continue;
		if (rec->type == LS_REC_END)
			r->complete = true;
		return 1;
	}
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int info_decode(struct ls_trace_info *info, const uint8_t *body, size_t len)
{
	struct cur c = {body, body + len, false};
	const char *comm, *cmdline, *mode;

	info->pid = get_u32(&c);
	comm = get_str(&c);
	cmdline = get_str(&c);
	mode = get_str(&c);
	info->start_realtime_ns = get_u(&c);
	info->start_mono_ns = get_u(&c);
	if (c.bad)
		return -EBADMSG;
	info->comm = strdup(comm);
	info->cmdline = strdup(cmdline);
	/* traces of older lockscopes kept a rewritten process title's padding */
	if (info->cmdline)
		ls_rtrim(info->cmdline);
	info->mode = strdup(mode);
	return info->comm && info->cmdline && info->mode ? 0 : -ENOMEM;
}

/* Reads and checks the file header. 0, or a negative errno with the message in ERR. */
static int header_read(struct trace_reader *r, char *err, size_t errlen)
{
	uint8_t fixed[FILE_FIXED], *body = NULL;
	uint32_t version, len;
	ssize_t n;
	int ret = -EBADMSG;

	n = read_full(r->fd, fixed, sizeof(fixed));
	if (n < 0) {
		set_err(err, errlen, "%s", strerror(-n));
		return n;
	}
	if (n == 0) {
		set_err(err, errlen, "not a lockscope trace (empty file)");
		return -EBADMSG;
	}
	if (memcmp(fixed, FILE_MAGIC, n < FILE_MAGIC_LEN ? n : FILE_MAGIC_LEN)) {
		set_err(err, errlen, "not a lockscope trace");
		return -EBADMSG;
	}
	if (n < FILE_FIXED) {
		set_err(err, errlen, "trace header is cut");
		return -EBADMSG;
	}
	version = get32(fixed + 8);
	len = get32(fixed + 12);
	if (version > LS_TRACE_VERSION) {
		set_err(err, errlen,
			"written by a newer lockscope (format %u; this one reads format %d)",
			version, LS_TRACE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (version == 0 || len > HEADER_MAX) {
		set_err(err, errlen, "trace header is corrupt");
		return -EBADMSG;
	}
	body = malloc(len + 4);
	if (!body) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = read_full(r->fd, body, len + 4);
	if (n < 0) {
		set_err(err, errlen, "%s", strerror(-n));
		ret = n;
	} else if ((size_t)n < (size_t)len + 4) {
		set_err(err, errlen, "trace header is cut");
	} else if (!crc_ok(get32(body + len),
			   crc32(crc32(0, fixed + FILE_MAGIC_LEN, FILE_FIXED - FILE_MAGIC_LEN),
				 body, len))) {
		set_err(err, errlen, "trace header is corrupt (checksum)");
	} else {
		ret = info_decode(&r->info, body, len);
		if (ret)
			set_err(err, errlen, "%s",
				ret == -ENOMEM ? "out of memory" : "trace header is corrupt");
		r->info.version = version;
	}
	free(body);
	return ret;
}

struct trace_reader *trace_reader__open(const char *path, char *err, size_t errlen)
{
	struct trace_reader *r;
	struct stat st;
	int ret = -ENOMEM;

	set_err(err, errlen, "out of memory");
	r = calloc(1, sizeof(*r));
	if (!r)
		goto cleanup;
	r->state = READING;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		ret = -errno;
		set_err(err, errlen, "%s", strerror(errno));
		goto cleanup;
	}
	r->dctx = ZSTD_createDCtx();
	r->frames = malloc(FRAMES_MAX * sizeof(*r->frames));
	if (!r->dctx || !r->frames)
		goto cleanup;
	ret = header_read(r, err, errlen);
	if (ret)
		goto cleanup;
	r->keep_left = READ_KEEP_BASE;
	if (!fstat(r->fd, &st) && st.st_size > 0)
		r->keep_left += (uint64_t)st.st_size * READ_KEEP_PER_BYTE;
	return r;
cleanup:
	trace_reader__free(r);
	errno = -ret;
	return NULL;
}

const struct ls_trace_info *trace_reader__info(const struct trace_reader *r)
{
	return &r->info;
}

const char *trace_reader__error(const struct trace_reader *r)
{
	return r->state < 0 ? r->err : NULL;
}

bool trace_reader__complete(const struct trace_reader *r)
{
	return r->complete;
}

void trace_reader__free(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->frames);
	free(r->cbuf);
	free(r->ubuf);
	free(r->frames_out.id);
	free(r->frames_out.cost);
	free(r->info.comm);
	free(r->info.cmdline);
	free(r->info.mode);
	free(r);
}

/* ---- names ---- */

const char *ls_kind_name(enum ls_lock_kind kind)
{
	static const char *const names[] = {
	    [LS_KIND_FUTEX] = "futex",	 [LS_KIND_MUTEX] = "mutex",
	    [LS_KIND_RWLOCK] = "rwlock", [LS_KIND_SEM] = "sem",
	    [LS_KIND_GIL] = "gil",	 [LS_KIND_COND] = "cond",
	    [LS_KIND_JOIN] = "join",	 [LS_KIND_EVENT] = "event",
	    [LS_KIND_QUEUE] = "queue",	 [LS_KIND_BARRIER] = "barrier",
	    [LS_KIND_SIGNAL] = "signal", [LS_KIND_INTERNAL] = "internal",
	    [LS_KIND_START] = "start",	 [LS_KIND_UNPLACED] = "unplaced",
	};

	_Static_assert(sizeof(names) / sizeof(names[0]) == LS_KIND__COUNT, "a kind without name");
	return (unsigned int)kind < LS_KIND__COUNT ? names[kind] : "unknown";
}

const char *ls_rec_type_name(enum ls_rec_type type)
{
	static const char *const names[] = {
	    [LS_REC_WAIT_BEGIN] = "wait_begin",
	    [LS_REC_WAIT_END] = "wait_end",
	    [LS_REC_WAKE] = "wake",
	    [LS_REC_THREAD] = "thread",
	    [LS_REC_THREAD_EXIT] = "thread_exit",
	    [LS_REC_PROC_EXIT] = "proc_exit",
	    [LS_REC_LOST] = "lost",
	    [LS_REC_LOCK] = "lock",
	    [LS_REC_FRAME] = "frame",
	    [LS_REC_STACK] = "stack",
	    [LS_REC_MAPPING] = "mapping",
	    [LS_REC_END] = "end",
	    [LS_REC_ACQUIRE] = "acquire",
	    [LS_REC_RELEASE] = "release",
	    [LS_REC_DESTROY] = "destroy",
	    [LS_REC_WINDOW] = "window",
	    [LS_REC_COUNTER] = "counter",
	    [LS_REC_LOOP_SAMPLE] = "loop_sample",
	    [LS_REC_LOOP_BLOCK] = "loop_block",
	    [LS_REC_TASK_WAIT] = "task_wait",
	    [LS_REC_OBJECT] = "object",
	    [LS_REC_PROCESS] = "process",
	};

	_Static_assert(sizeof(names) / sizeof(names[0]) == LS_REC__COUNT, "a type without name");
	if ((unsigned int)type >= LS_REC__COUNT || !names[type])
		return "unknown";
	return names[type];
}
