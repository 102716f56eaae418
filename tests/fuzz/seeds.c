/* seeds.c - the fuzzers' seed corpus: small synthetic traces that hold every record type (written
 * by the real writer), and given real traces, all re-wrapped in stored zstd blocks (lsz.h); and
 * each chunk's raw records alone, for fuzz_records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "lsz.h"
#include "trace/trace.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
	    (buf = malloc(n + 1)) && fread(buf, 1, n, f) == (size_t)n)
		*len = n;
	else
		free(buf), buf = NULL;
	fclose(f);
	return buf;
}

/* Writes fuzz_records' input for one chunk, into DIR/BASE-SEQ.rec: the record count (u16) and
 * the raw records. */
static int write_records(const char *dir, const char *base, uint32_t seq, uint32_t nrec,
			 const uint8_t *raw, size_t len)
{
	uint8_t count[2] = {nrec > 0xffff ? 0xff : nrec, nrec > 0xffff ? 0xff : nrec >> 8};
	char path[4096];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/%s-%u.rec", dir, base, seq);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	fwrite(count, 1, 2, f);
	fwrite(raw, 1, len, f);
	ret = ferror(f) ? -EIO : 0;
	return fclose(f) || ret ? -EIO : 0;
}

/* Copies the trace IN to DIR/BASE with every chunk's payload re-wrapped (damage is copied as
 * it is), and each chunk's records to RECDIR. */
static int rewrap(const char *in, const char *dir, const char *recdir, const char *base)
{
	size_t len = 0, pos, raw_cap = 0;
	uint8_t *buf = slurp(in, &len), *raw = NULL, *frame = NULL;
	char out[4096];
	FILE *f;
	int ret = -EINVAL;

	snprintf(out, sizeof(out), "%s/%s", dir, base);
	f = fopen(out, "wb");
	if (!buf || !f || len < LSZ_FILE_FIXED)
		goto cleanup;
	pos = LSZ_FILE_FIXED + lsz_get32(buf + 12) + 4;
	if (pos > len)
		goto cleanup;
	fwrite(buf, 1, pos, f);
	while (pos + LSZ_CHUNK_HDR <= len) {
		uint8_t *h = buf + pos, hdr[LSZ_CHUNK_HDR];
		uint32_t usize = lsz_get32(h + 12), csize = lsz_get32(h + 16);
		uint64_t ts = lsz_get32(h + 20) | (uint64_t)lsz_get32(h + 24) << 32;
		size_t d, fsize;

		if (csize > len - pos - LSZ_CHUNK_HDR)
			break;
		if (usize > raw_cap) {
			free(raw);
			free(frame);
			raw_cap = usize;
			raw = malloc(raw_cap);
			frame = malloc(lsz_frame_bound(raw_cap));
			if (!raw || !frame)
				goto cleanup;
		}
		d = ZSTD_decompress(raw, usize, h + LSZ_CHUNK_HDR, csize);
		if (ZSTD_isError(d) || d != usize)
			break;
		fsize = lsz_stored_frame(frame, raw, usize);
		lsz_chunk_header(hdr, lsz_get32(h + 4), lsz_get32(h + 8), usize, frame, fsize, ts);
		fwrite(hdr, 1, LSZ_CHUNK_HDR, f);
		fwrite(frame, 1, fsize, f);
		ret = write_records(recdir, base, lsz_get32(h + 4), lsz_get32(h + 8), raw, usize);
		if (ret)
			goto cleanup;
		pos += LSZ_CHUNK_HDR + csize;
	}
	fwrite(buf + pos, 1, len - pos, f); /* a cut or damaged tail stays in the seed */
	ret = ferror(f) ? -EIO : 0;
cleanup:
	if (f && fclose(f))
		ret = -EIO;
	free(buf);
	free(raw);
	free(frame);
	return ret;
}

/* ---- synthetic traces ---- */

enum { PID = 100, MAIN = 100, T1 = 101, T2 = 102 };
#define LOCK_A 0x5000
#define LOCK_B 0x5040
#define GIL 0x7000

static void add(struct trace_writer *w, struct ls_rec r)
{
	if (trace_writer__append(w, &r)) {
		fprintf(stderr, "seeds: a %s record was refused\n", ls_rec_type_name(r.type));
		exit(1);
	}
}

/* REC(w, WAKE, ts, tid, .wake = {...}): one record of type LS_REC_WAKE. */
#define REC(w, type_, ts_, tid_, ...) \
	add(w, (struct ls_rec){.type = LS_REC_##type_, .ts = (ts_), .tid = (tid_), __VA_ARGS__})

/* Names, a memory map, frames and a stack: what every trace starts with. */
static void preamble(struct trace_writer *w)
{
	static const uint32_t frames[] = {1, 2, 3};
	static const char *const funcs[] = {"", "pthread_mutex_lock", "update", ""};

	REC(w, MAPPING, 0, 0, .mapping = {0x400000, 0x401000, 0, "r-xp", "/usr/bin/app"});
	for (uint32_t i = 1; i <= 3; i++)
		REC(w, FRAME, 0, 0, .frame = {i, 0x400100 + i, funcs[i], i == 2 ? "app.c" : "",
					     i == 2 ? 42 : 0, "app", i});
	REC(w, STACK, 0, 0, .stack = {1, 3, frames});
	REC(w, THREAD, 0, MAIN, .thread = {"app", 0});
	REC(w, THREAD, 10, T1, .thread = {"worker-1", MAIN});
	REC(w, THREAD, 20, T2, .thread = {"worker-2", MAIN});
	REC(w, LOCK, 0, 0, .lock = {LOCK_A, LS_KIND_MUTEX, "lock_a"});
	REC(w, LOCK, 0, 0,
	    .lock = {LOCK_B, LS_KIND_MUTEX, "heap 0x5040 first waited on in update (app.c:42)"});
	REC(w, LOCK, 0, 0, .lock = {GIL, LS_KIND_GIL, "GIL"});
}

/* A wait of TID on ADDR from TS, held by OWNER; ended with RESULT unless that is -1. */
static void wait(struct trace_writer *w, uint64_t ts, uint32_t tid, uint64_t addr, uint8_t kind,
		 uint32_t owner, uint8_t flags, int result)
{
	REC(w, WAIT_BEGIN, ts, tid, .wait_begin = {addr, owner, 1, kind, 128, flags});
	if (result >= 0)
		REC(w, WAIT_END, ts + 10, tid, .wait_end = {result});
}

static void finish(struct trace_writer *w, uint64_t ts, uint64_t events, uint64_t lost)
{
	REC(w, PROC_EXIT, ts - 1, MAIN, .exit = {0});
	REC(w, END, ts, 0, .end = {ts, events, lost});
}

/* Contention mode: waits of every kind and result, wakes, a loss, thread exits. */
static void contention(struct trace_writer *w)
{
	preamble(w);
	for (int i = 0; i < 3; i++) {
		uint64_t t = 100 + i * 200;

		wait(w, t, T1, LOCK_A, LS_KIND_MUTEX, T2, 0, -1);
		REC(w, WAKE, t + 50, T2, .wake = {LOCK_A, T1, t + 40});
		REC(w, WAIT_END, t + 60, T1, .wait_end = {LS_WAIT_WOKEN});
		wait(w, t + 70, T2, GIL, LS_KIND_GIL, 0, 0, i ? LS_WAIT_TIMEOUT : LS_WAIT_INTR);
	}
	wait(w, 800, MAIN, LOCK_B, LS_KIND_JOIN, T2, 0, -1);
	wait(w, 810, T1, LOCK_B + 8, LS_KIND_COND, 0, 0, LS_WAIT_CHANGED);
	REC(w, LOST, 900, 0, .lost = {7});
	REC(w, THREAD_EXIT, 950, T2, .exit = {0});
	REC(w, WAIT_END, 960, MAIN, .wait_end = {LS_WAIT_WOKEN});
	finish(w, 1000, 40, 7);
}

/* Full mode: windows, an inversion (a lock-order cycle), trylocks, a destroy. */
static void full(struct trace_writer *w)
{
	preamble(w);
	REC(w, WINDOW, 50, 0, .window = {1});
	REC(w, ACQUIRE, 100, T1, .acquire = {LOCK_A, LS_KIND_MUTEX, 0, 90, 1});
	REC(w, ACQUIRE, 110, T1, .acquire = {LOCK_B, LS_KIND_MUTEX, 0, 105, 1});
	REC(w, RELEASE, 120, T1, .release = {LOCK_B});
	REC(w, RELEASE, 130, T1, .release = {LOCK_A});
	REC(w, ACQUIRE, 200, T2, .acquire = {LOCK_B, LS_KIND_RWLOCK, LS_ACQ_SHARED, 190, 1});
	wait(w, 205, T2, LOCK_A, LS_KIND_MUTEX, T1, 0, LS_WAIT_WOKEN);
	REC(w, ACQUIRE, 220, T2, .acquire = {LOCK_A, LS_KIND_MUTEX, 0, 204, 1});
	REC(w, RELEASE, 230, T2, .release = {LOCK_A});
	REC(w, RELEASE, 240, T2, .release = {LOCK_B});
	REC(w, ACQUIRE, 300, MAIN,
	    .acquire = {GIL, LS_KIND_GIL, LS_ACQ_COND | LS_ACQ_TRY | LS_ACQ_TIMED, 290, 0});
	REC(w, DESTROY, 310, MAIN, .release = {LOCK_A});
	REC(w, WINDOW, 400, 0, .window = {0});
	finish(w, 500, 30, 0);
}

/* Threads blocked at attach in a cycle, the file then cut: no END record. */
static void deadlock(struct trace_writer *w)
{
	preamble(w);
	REC(w, ACQUIRE, 0, T1, .acquire = {LOCK_A, LS_KIND_MUTEX, 0, 0, 1});
	REC(w, ACQUIRE, 0, T2, .acquire = {LOCK_B, LS_KIND_MUTEX, 0, 0, 1});
	wait(w, 0, T1, LOCK_B, LS_KIND_MUTEX, T2, LS_WAIT_AT_ATTACH, -1);
	wait(w, 0, T2, LOCK_A, LS_KIND_MUTEX, T1, LS_WAIT_AT_ATTACH, -1);
	wait(w, 5, MAIN, LOCK_A, LS_KIND_MUTEX, T1, 0, -1);
}

static int write_seed(const char *dir, const char *recdir, const char *name, const char *mode,
		      void (*fill)(struct trace_writer *w))
{
	struct ls_trace_info info = {.version = LS_TRACE_VERSION, .pid = PID, .comm = "app",
				     .cmdline = "/usr/bin/app --seed", .mode = (char *)mode};
	char tmp[4096], base[256];
	struct trace_writer *w;
	int ret;

	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	snprintf(base, sizeof(base), "%s.lsz", name);
	w = trace_writer__new(tmp, &info);
	if (!w)
		return -errno;
	fill(w);
	ret = trace_writer__close(w);
	if (!ret)
		ret = rewrap(tmp, dir, recdir, base);
	remove(tmp);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name, *mode;
		void (*fill)(struct trace_writer *w);
	} synth[] = {
		{"contention", "contention", contention},
		{"full", "full", full},
		{"deadlock", "full", deadlock},
	};
	int ret = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: seeds OUTDIR RECDIR [TRACE...]\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(synth) / sizeof(synth[0]) && !ret; i++)
		ret = write_seed(argv[1], argv[2], synth[i].name, synth[i].mode, synth[i].fill);
	for (int i = 3; i < argc && !ret; i++) {
		const char *base = strrchr(argv[i], '/');

		ret = rewrap(argv[i], argv[1], argv[2], base ? base + 1 : argv[i]);
	}
	if (ret)
		fprintf(stderr, "seeds: %s\n", strerror(-ret));
	return ret ? 1 : 0;
}
