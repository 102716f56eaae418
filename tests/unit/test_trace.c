/* test_trace.c - the .lsz writer and reader: round trips of every record, chunking and flushes,
 * and files damaged every way the field damages them (cut, flipped, foreign, full disk). */
#include "trace/trace.h"
#include "lsz.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct ls_trace_info info = {
    .pid = 4242,
    .comm = "hot",
    .cmdline = "./hot --threads 8 \"quoted arg\"",
    .mode = "full",
    .start_realtime_ns = 1717171717123456789ull,
    .start_mono_ns = 98765432101234ull,
};

#define TS_MAX 1000000000000000000ull /* as trace.c: the latest time a reader believes */

/* ---- helpers ---- */

static void tmp_path(char *path)
{
	int fd;

	strcpy(path, "/tmp/lockscope-test-trace-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	close(fd);
	unlink(path); /* a unique name; the writer would keep a file there as PATH.old */
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc(st.st_size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static void spill(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *const names[] = {"", "worker-1", "hot_lock", "pool/σ", "x y z"};
static const uint32_t frame_sets[3][4] = {{1, 2, 3, 4}, {7, 1}, {UINT32_MAX, 5, 6}};

/* A plausible mix: mostly waits, now and then everything else, timestamps mostly rising. */
static void gen(struct ls_rec *r, uint64_t *ts)
{
	uint64_t x = rng();

	memset(r, 0, sizeof(*r));
	uint64_t back;

	*ts += rng() % 5000;
	back = rng() % 3000;
	if (x % 97 == 0)
		*ts -= back < *ts ? back : *ts; /* the ring buffer does not sort across CPUs */
	r->ts = *ts;
	r->tid = 1000 + rng() % 8;
	r->type = x % 13 < 4	? LS_REC_WAIT_BEGIN
		  : x % 13 < 8	? LS_REC_WAIT_END
		  : x % 13 < 11 ? LS_REC_WAKE
				: 1 + rng() % (LS_REC__COUNT - 1);
	switch (r->type) {
	case LS_REC_WAIT_BEGIN:
		r->wait_begin.addr = 0x55d0c0a04040 + 0x28 * (rng() % 4);
		r->wait_begin.owner = rng() % 3 ? 1000 + rng() % 8 : 0;
		r->wait_begin.stack_id = rng() % 20;
		r->wait_begin.kind = rng() % LS_KIND__COUNT;
		r->wait_begin.op = 128 + rng() % 10;
		break;
	case LS_REC_WAIT_END:
		r->wait_end.result = rng() % (LS_WAIT_UNFINISHED + 1);
		break;
	case LS_REC_WAKE:
		r->wake.addr = 0x55d0c0a04040 + 0x28 * (rng() % 4);
		r->wake.wakee = 1000 + rng() % 8;
		r->wake.call_ts = r->ts - rng() % 2000 % (r->ts + 1); /* never before 0 */
		break;
	case LS_REC_THREAD:
		r->thread.name = names[rng() % 5];
		r->thread.parent = rng() % 1000;
		r->thread.pid = 1000 + rng() % 3;
		break;
	case LS_REC_THREAD_EXIT:
	case LS_REC_PROC_EXIT:
		r->exit.code = (int32_t)rng();
		break;
	case LS_REC_LOST:
		r->lost.count = rng() >> (rng() % 64);
		break;
	case LS_REC_LOCK:
		r->lock.addr = rng();
		r->lock.kind = rng() % LS_KIND__COUNT;
		r->lock.name = names[rng() % 5];
		break;
	case LS_REC_FRAME:
		r->frame.id = 1 + rng() % 100000;
		r->frame.pc = rng();
		r->frame.func = names[rng() % 5];
		r->frame.file = names[rng() % 5];
		r->frame.line = rng() % 5000;
		r->frame.module = names[rng() % 5];
		r->frame.offset = rng() % 4096;
		break;
	case LS_REC_STACK: {
		int k = rng() % 3;

		r->stack.id = 1 + rng() % 1000;
		r->stack.nframes = k == 0 ? 4 : k == 1 ? 2 : 3;
		r->stack.frames = frame_sets[k];
		break;
	}
	case LS_REC_MAPPING:
		r->mapping.start = rng() & ~0xfffull;
		r->mapping.end = r->mapping.start + 0x21000;
		r->mapping.offset = rng() % 0x100000;
		r->mapping.perms = "r-xp";
		r->mapping.path = names[rng() % 5];
		break;
	case LS_REC_END: /* only last: see gen_recs() */
		r->type = LS_REC_LOST;
		r->lost.count = rng() % 10;
		break;
	case LS_REC_OBJECT:
		r->object.path = names[rng() % 5];
		r->object.build_id = names[rng() % 5];
		r->object.debug_file = names[rng() % 5];
		r->object.flags = rng() % 16;
		r->object.via = rng() % LS_VIA__COUNT;
		break;
	case LS_REC_PROCESS:
		r->tid = 1000 + rng() % 3; /* a process's pid, never 0 */
		r->process.comm = names[rng() % 5];
		r->process.cmdline = names[rng() % 5];
		break;
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK:
		r->loop.start = r->ts - rng() % (r->ts + 1);
		r->loop.on_cpu_ns = rng() >> (5 + rng() % 59); /* <= TS_MAX */
		for (int c = 0; c < LS_LOOP_OFF__COUNT; c++)
			r->loop.off_ns[c] = rng() % 3 ? rng() % 300000000 : 0;
		r->loop.stack_id = r->type == LS_REC_LOOP_SAMPLE ? rng() % 20 : 0;
		r->loop.on_cpu = r->type == LS_REC_LOOP_SAMPLE ? rng() % 2 : 0;
		r->loop.cls = r->type == LS_REC_LOOP_SAMPLE ? rng() % (LS_LOOP_CLS_UNKNOWN + 1) : 0;
		break;
	case LS_REC_TASK_WAIT:
		r->task_wait.cycle = 1 + rng() % 4;
		r->task_wait.ntasks = 1 + rng() % LS_TASK_CYCLE_MAX;
		r->task_wait.index = rng() % r->task_wait.ntasks;
		r->task_wait.task = rng();
		r->task_wait.name = names[rng() % 5];
		r->task_wait.coro = names[rng() % 5];
		r->task_wait.waits_for = names[rng() % 5];
		r->task_wait.nholds = rng() % 6;
		r->task_wait.holds = names;
		r->task_wait.stack_id = rng() % 20;
		break;
	}
}

static void expect_str(const char *got, const char *want, size_t i, const char *field)
{
	cr_assert_not_null(got, "record %zu: %s is NULL", i, field);
	cr_assert_str_eq(got, want ? want : "", "record %zu: %s", i, field);
}

/* Every field of the record's type, as written. */
static void expect_rec(const struct ls_rec *g, const struct ls_rec *w, size_t i)
{
	cr_assert_eq(g->type, w->type, "record %zu: type %u, want %u", i, g->type, w->type);
	cr_assert_eq(g->ts, w->ts, "record %zu: ts", i);
	cr_assert_eq(g->tid, w->tid, "record %zu: tid", i);
	switch (w->type) {
	case LS_REC_WAIT_BEGIN:
		cr_assert_eq(g->wait_begin.addr, w->wait_begin.addr, "record %zu: addr", i);
		cr_assert_eq(g->wait_begin.owner, w->wait_begin.owner, "record %zu: owner", i);
		cr_assert_eq(g->wait_begin.stack_id, w->wait_begin.stack_id, "record %zu: stack",
			     i);
		cr_assert_eq(g->wait_begin.kind, w->wait_begin.kind, "record %zu: kind", i);
		cr_assert_eq(g->wait_begin.op, w->wait_begin.op, "record %zu: op", i);
		cr_assert_eq(g->wait_begin.flags, w->wait_begin.flags, "record %zu: flags", i);
		break;
	case LS_REC_ACQUIRE:
		cr_assert_eq(g->acquire.addr, w->acquire.addr, "record %zu: addr", i);
		cr_assert_eq(g->acquire.kind, w->acquire.kind, "record %zu: kind", i);
		cr_assert_eq(g->acquire.flags, w->acquire.flags, "record %zu: flags", i);
		cr_assert_eq(g->acquire.call_ts, w->acquire.call_ts, "record %zu: call_ts", i);
		cr_assert_eq(g->acquire.stack_id, w->acquire.stack_id, "record %zu: stack", i);
		break;
	case LS_REC_RELEASE:
	case LS_REC_DESTROY:
		cr_assert_eq(g->release.addr, w->release.addr, "record %zu: addr", i);
		break;
	case LS_REC_WINDOW:
		cr_assert_eq(g->window.on, w->window.on, "record %zu: on", i);
		break;
	case LS_REC_COUNTER:
		expect_str(g->counter.name, w->counter.name, i, "name");
		cr_assert_eq(g->counter.value, w->counter.value, "record %zu: value", i);
		break;
	case LS_REC_WAIT_END:
		cr_assert_eq(g->wait_end.result, w->wait_end.result, "record %zu: result", i);
		break;
	case LS_REC_WAKE:
		cr_assert_eq(g->wake.addr, w->wake.addr, "record %zu: addr", i);
		cr_assert_eq(g->wake.wakee, w->wake.wakee, "record %zu: wakee", i);
		cr_assert_eq(g->wake.call_ts, w->wake.call_ts, "record %zu: call_ts", i);
		break;
	case LS_REC_THREAD:
		expect_str(g->thread.name, w->thread.name, i, "name");
		cr_assert_eq(g->thread.parent, w->thread.parent, "record %zu: parent", i);
		cr_assert_eq(g->thread.pid, w->thread.pid, "record %zu: pid", i);
		break;
	case LS_REC_THREAD_EXIT:
	case LS_REC_PROC_EXIT:
		cr_assert_eq(g->exit.code, w->exit.code, "record %zu: code", i);
		break;
	case LS_REC_LOST:
		cr_assert_eq(g->lost.count, w->lost.count, "record %zu: count", i);
		break;
	case LS_REC_LOCK:
		cr_assert_eq(g->lock.addr, w->lock.addr, "record %zu: addr", i);
		cr_assert_eq(g->lock.kind, w->lock.kind, "record %zu: kind", i);
		expect_str(g->lock.name, w->lock.name, i, "name");
		break;
	case LS_REC_FRAME:
		cr_assert_eq(g->frame.id, w->frame.id, "record %zu: id", i);
		cr_assert_eq(g->frame.pc, w->frame.pc, "record %zu: pc", i);
		expect_str(g->frame.func, w->frame.func, i, "func");
		expect_str(g->frame.file, w->frame.file, i, "file");
		cr_assert_eq(g->frame.line, w->frame.line, "record %zu: line", i);
		expect_str(g->frame.module, w->frame.module, i, "module");
		cr_assert_eq(g->frame.offset, w->frame.offset, "record %zu: offset", i);
		break;
	case LS_REC_STACK:
		cr_assert_eq(g->stack.id, w->stack.id, "record %zu: id", i);
		cr_assert_eq(g->stack.nframes, w->stack.nframes, "record %zu: nframes", i);
		cr_assert(g->stack.nframes == 0 || g->stack.frames, "record %zu: frames", i);
		for (uint32_t k = 0; k < w->stack.nframes; k++)
			cr_assert_eq(g->stack.frames[k], w->stack.frames[k], "record %zu: frame %u",
				     i, k);
		break;
	case LS_REC_MAPPING:
		cr_assert_eq(g->mapping.start, w->mapping.start, "record %zu: start", i);
		cr_assert_eq(g->mapping.end, w->mapping.end, "record %zu: end", i);
		cr_assert_eq(g->mapping.offset, w->mapping.offset, "record %zu: offset", i);
		expect_str(g->mapping.perms, w->mapping.perms, i, "perms");
		expect_str(g->mapping.path, w->mapping.path, i, "path");
		break;
	case LS_REC_OBJECT:
		expect_str(g->object.path, w->object.path, i, "path");
		expect_str(g->object.build_id, w->object.build_id, i, "build_id");
		expect_str(g->object.debug_file, w->object.debug_file, i, "debug_file");
		cr_assert_eq(g->object.flags, w->object.flags, "record %zu: flags", i);
		cr_assert_eq(g->object.via, w->object.via, "record %zu: via", i);
		break;
	case LS_REC_PROCESS:
		expect_str(g->process.comm, w->process.comm, i, "comm");
		expect_str(g->process.cmdline, w->process.cmdline, i, "cmdline");
		break;
	case LS_REC_END:
		cr_assert_eq(g->end.duration_ns, w->end.duration_ns, "record %zu: duration", i);
		cr_assert_eq(g->end.events, w->end.events, "record %zu: events", i);
		cr_assert_eq(g->end.lost, w->end.lost, "record %zu: lost", i);
		break;
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK:
		cr_assert_eq(g->loop.start, w->loop.start, "record %zu: start", i);
		cr_assert_eq(g->loop.on_cpu_ns, w->loop.on_cpu_ns, "record %zu: on_cpu_ns", i);
		for (int c = 0; c < LS_LOOP_OFF__COUNT; c++)
			cr_assert_eq(g->loop.off_ns[c], w->loop.off_ns[c], "record %zu: off %d", i,
				     c);
		cr_assert_eq(g->loop.stack_id, w->loop.stack_id, "record %zu: stack", i);
		cr_assert_eq(g->loop.on_cpu, w->loop.on_cpu, "record %zu: on_cpu", i);
		cr_assert_eq(g->loop.cls, w->loop.cls, "record %zu: cls", i);
		break;
	case LS_REC_TASK_WAIT:
		cr_assert_eq(g->task_wait.cycle, w->task_wait.cycle, "record %zu: cycle", i);
		cr_assert_eq(g->task_wait.ntasks, w->task_wait.ntasks, "record %zu: ntasks", i);
		cr_assert_eq(g->task_wait.index, w->task_wait.index, "record %zu: index", i);
		cr_assert_eq(g->task_wait.task, w->task_wait.task, "record %zu: task", i);
		expect_str(g->task_wait.name, w->task_wait.name, i, "name");
		expect_str(g->task_wait.coro, w->task_wait.coro, i, "coro");
		expect_str(g->task_wait.waits_for, w->task_wait.waits_for, i, "waits_for");
		cr_assert_eq(g->task_wait.nholds, w->task_wait.nholds, "record %zu: nholds", i);
		for (uint32_t k = 0; k < w->task_wait.nholds; k++)
			expect_str(g->task_wait.holds[k], w->task_wait.holds[k], i, "holds");
		cr_assert_eq(g->task_wait.stack_id, w->task_wait.stack_id, "record %zu: stack", i);
		break;
	}
}

/* Writes N records, flushing after every EVERY (0: never). Fills bounds[] (if not NULL) with
 * the file offset where each flushed chunk ends; bounds[0] is the end of the header. */
static size_t write_recs(const char *path, const struct ls_rec *recs, size_t n, size_t every,
			 uint64_t *bounds)
{
	struct trace_writer *w = trace_writer__new(path, &info);
	size_t nb = 0;

	cr_assert_not_null(w, "trace_writer__new: %s", strerror(errno));
	if (bounds)
		bounds[nb++] = trace_writer__bytes(w);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(trace_writer__append(w, &recs[i]), 0, "append %zu", i);
		if (every && (i + 1) % every == 0) {
			cr_assert_eq(trace_writer__flush(w), 0);
			if (bounds)
				bounds[nb++] = trace_writer__bytes(w);
		}
	}
	cr_assert_eq(trace_writer__records(w), n);
	cr_assert_eq(trace_writer__close(w), 0);
	return nb;
}

/* Reads PATH, checking each record against WANT; returns how many came, *RET the last result. */
static size_t read_recs(const char *path, const struct ls_rec *want, size_t n, int *ret,
			char *error, bool *complete)
{
	struct trace_reader *r;
	struct ls_rec rec;
	char err[256];
	size_t i = 0;
	int ret_;

	r = trace_reader__open(path, err, sizeof(err));
	cr_assert_not_null(r, "trace_reader__open: %s", err);
	while ((ret_ = trace_reader__next(r, &rec)) > 0) {
		cr_assert_lt(i, n, "more records than written");
		expect_rec(&rec, &want[i], i);
		i++;
	}
	cr_assert_eq(trace_reader__next(r, &rec), ret_, "the reader does not stay stopped");
	if (ret)
		*ret = ret_;
	if (error)
		strcpy(error, trace_reader__error(r) ? trace_reader__error(r) : "(null)");
	if (complete)
		*complete = trace_reader__complete(r);
	trace_reader__free(r);
	return i;
}

/* open() must fail, saying MSG (a prefix of the message, or NULL for any). */
static void expect_open_fails(const char *path, const char *msg)
{
	char err[256] = "";
	struct trace_reader *r = trace_reader__open(path, err, sizeof(err));

	cr_assert_null(r, "opened a file it should refuse (%s)", msg ? msg : "");
	cr_assert_neq(errno, 0);
	cr_assert_neq(err[0], 0, "no message");
	if (msg)
		cr_assert(strncmp(err, msg, strlen(msg)) == 0, "message \"%s\", want \"%s\"", err,
			  msg);
}

static struct ls_rec *gen_recs(size_t n, uint64_t seed)
{
	struct ls_rec *recs = calloc(n, sizeof(*recs));
	uint64_t ts = 0;

	cr_assert_not_null(recs);
	rng_state = seed;
	for (size_t i = 0; i < n; i++)
		gen(&recs[i], &ts);
	/* a finished recording: the END record last, and only there */
	recs[n - 1] = (struct ls_rec){.type = LS_REC_END, .ts = recs[n - 1].ts};
	recs[n - 1].end.duration_ns = ts + rng() % 1000;
	recs[n - 1].end.events = rng();
	recs[n - 1].end.lost = rng() % 10;
	return recs;
}

/* The same, without END records: a recording that has not finished. */
static struct ls_rec *gen_unfinished(size_t n, uint64_t seed)
{
	struct ls_rec *recs = gen_recs(n, seed);

	for (size_t i = 0; i < n; i++)
		if (recs[i].type == LS_REC_END)
			recs[i].type = LS_REC_LOST;
	return recs;
}

/* ---- round trips ---- */

Test(trace, round_trips_every_record_type_and_field)
{
	static const uint32_t frames[] = {1, 2, 300, 70000, UINT32_MAX};
	const struct ls_rec recs[] = {
	    {.type = LS_REC_THREAD, .ts = 0, .tid = 4242, .thread = {.name = "main", .parent = 0}},
	    {.type = LS_REC_THREAD,
	     .ts = 5,
	     .tid = 4243,
	     .thread = {.name = "worker-1 ünïcode", .parent = 4242, .pid = 4242}},
	    /* a thread of another process of the trace (format 2) */
	    {.type = LS_REC_THREAD,
	     .ts = 5,
	     .tid = 5001,
	     .thread = {.name = "child", .parent = 4243, .pid = 5001}},
	    {.type = LS_REC_MAPPING,
	     .ts = 5,
	     .mapping = {.start = 0x55d0c0a00000,
			 .end = 0x55d0c0a21000,
			 .offset = 0x1000,
			 .perms = "r-xp",
			 .path = "/usr/bin/hot"}},
	    {.type = LS_REC_OBJECT,
	     .ts = 5,
	     .object = {.path = "/usr/bin/hot",
			.build_id = "4c531bcfc631e6f3c6e106cd5dacb22be1ff0af6",
			.debug_file = "/usr/lib/debug/.build-id/4c/531bcfc631e6f3c6e106cd5dacb22be1ff0af6.debug",
			.flags = LS_OBJ_READABLE | LS_OBJ_SYMTAB | LS_OBJ_DYNSYM | LS_OBJ_LINES,
			.via = LS_VIA_BUILD_ID}},
	    {.type = LS_REC_OBJECT, .ts = 5, .object = {.via = LS_VIA__COUNT - 1, .flags = 0xff}},
	    {.type = LS_REC_FRAME,
	     .ts = 6,
	     .frame = {.id = 1,
		       .pc = 0x55d0c0a01234,
		       .func = "worker",
		       .file = "hot.c",
		       .line = 31,
		       .module = "hot",
		       .offset = 0x34}},
	    {.type = LS_REC_FRAME,
	     .ts = 6,
	     .frame = {.id = UINT32_MAX,
		       .pc = UINT64_MAX,
		       .func = "",
		       .file = "",
		       .line = UINT32_MAX,
		       .module = "",
		       .offset = UINT64_MAX}},
	    {.type = LS_REC_STACK, .ts = 6, .stack = {.id = 1, .nframes = 5, .frames = frames}},
	    {.type = LS_REC_STACK, .ts = 6, .stack = {.id = UINT32_MAX, .nframes = 0}},
	    {.type = LS_REC_LOCK,
	     .ts = 7,
	     .lock = {.addr = 0x55d0c0a04040, .kind = LS_KIND_MUTEX, .name = "hot_lock"}},
	    {.type = LS_REC_LOCK,
	     .ts = 7,
	     .lock = {.addr = UINT64_MAX,
		      .kind = LS_KIND_JOIN,
		      .name = "heap 0x5581d2a0 first taken in worker (hot.c:31)"}},
	    {.type = LS_REC_WAIT_BEGIN,
	     .ts = 1000,
	     .tid = 4243,
	     .wait_begin = {.addr = 0x55d0c0a04040,
			    .owner = 4242,
			    .stack_id = 1,
			    .kind = LS_KIND_MUTEX,
			    .op = 128}},
	    {.type = LS_REC_WAKE,
	     .ts = 2500,
	     .tid = 4242,
	     .wake = {.addr = 0x55d0c0a04040, .wakee = 4243, .call_ts = 2000}},
	    {.type = LS_REC_WAIT_END,
	     .ts = 2600,
	     .tid = 4243,
	     .wait_end = {.result = LS_WAIT_WOKEN}},
	    /* extremes: the timestamp jumps both ways, every field at its limit (times at 31
	     * years, the most a reader believes) */
	    {.type = LS_REC_WAIT_BEGIN,
	     .ts = TS_MAX,
	     .tid = UINT32_MAX,
	     .wait_begin = {.addr = UINT64_MAX,
			    .owner = UINT32_MAX,
			    .stack_id = UINT32_MAX,
			    .kind = LS_KIND__COUNT - 1,
			    .op = UINT32_MAX}},
	    {.type = LS_REC_WAIT_BEGIN, .ts = 0, .tid = 0, .wait_begin = {.kind = LS_KIND_FUTEX}},
	    {.type = LS_REC_WAKE,
	     .ts = 10,
	     .tid = 1,
	     .wake = {.addr = 0, .wakee = 0, .call_ts = TS_MAX}},
	    {.type = LS_REC_WAKE, .ts = TS_MAX - 1, .tid = 1, .wake = {.call_ts = 0}},
	    {.type = LS_REC_WAIT_END,
	     .ts = 3000,
	     .tid = 4243,
	     .wait_end = {.result = LS_WAIT_TIMEOUT}},
	    {.type = LS_REC_WAIT_END, .ts = 3001, .wait_end = {.result = LS_WAIT_CHANGED}},
	    {.type = LS_REC_WAIT_END, .ts = 3002, .wait_end = {.result = LS_WAIT_INTR}},
	    {.type = LS_REC_WAIT_END, .ts = 3003, .wait_end = {.result = LS_WAIT_ERROR}},
	    {.type = LS_REC_WAIT_END, .ts = 3004, .wait_end = {.result = LS_WAIT_UNFINISHED}},
	    {.type = LS_REC_LOST, .ts = 4000, .lost = {.count = 17}},
	    {.type = LS_REC_LOST, .ts = 4000, .lost = {.count = UINT64_MAX}},
	    {.type = LS_REC_THREAD_EXIT, .ts = 5000, .tid = 4243, .exit = {.code = 0}},
	    {.type = LS_REC_THREAD_EXIT, .ts = 5000, .tid = 4244, .exit = {.code = INT32_MIN}},
	    {.type = LS_REC_PROC_EXIT, .ts = 6000, .tid = 4242, .exit = {.code = INT32_MAX}},
	    {.type = LS_REC_PROC_EXIT, .ts = 6000, .tid = 4242, .exit = {.code = -1}},
	    {.type = LS_REC_END,
	     .ts = 7000,
	     .end = {.duration_ns = 7000, .events = 12, .lost = 17}},
	};
	const size_t n = sizeof(recs) / sizeof(recs[0]);
	char path[64], error[256];
	const struct ls_trace_info *got;
	struct trace_reader *r;
	bool complete;
	int ret;

	tmp_path(path);
	write_recs(path, recs, n, 0, NULL);
	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), n);
	cr_assert_eq(ret, 0);
	cr_assert(complete);
	cr_assert_str_eq(error, "(null)");

	r = trace_reader__open(path, NULL, 0);
	cr_assert_not_null(r);
	got = trace_reader__info(r);
	cr_assert_eq(got->version, LS_TRACE_VERSION);
	cr_assert_eq(got->pid, info.pid);
	cr_assert_str_eq(got->comm, info.comm);
	cr_assert_str_eq(got->cmdline, info.cmdline);
	cr_assert_str_eq(got->mode, info.mode);
	cr_assert_eq(got->start_realtime_ns, info.start_realtime_ns);
	cr_assert_eq(got->start_mono_ns, info.start_mono_ns);
	cr_assert_not(trace_reader__complete(r), "complete before the END record was read");
	trace_reader__free(r);
	unlink(path);
}

Test(trace, null_strings_are_read_back_empty)
{
	const struct ls_trace_info bare = {.pid = 1};
	const struct ls_rec recs[] = {
	    {.type = LS_REC_THREAD, .tid = 1},
	    {.type = LS_REC_LOCK, .lock = {.addr = 1}},
	    {.type = LS_REC_FRAME, .frame = {.id = 1}},
	    {.type = LS_REC_MAPPING},
	};
	struct trace_writer *w;
	struct trace_reader *r;
	char path[64];

	tmp_path(path);
	w = trace_writer__new(path, &bare);
	cr_assert_not_null(w);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(trace_writer__append(w, &recs[i]), 0);
	cr_assert_eq(trace_writer__close(w), 0);
	cr_assert_eq(read_recs(path, recs, 4, NULL, NULL, NULL), 4);

	r = trace_reader__open(path, NULL, 0);
	cr_assert_not_null(r);
	cr_assert_str_eq(trace_reader__info(r)->comm, "");
	cr_assert_str_eq(trace_reader__info(r)->cmdline, "");
	cr_assert_str_eq(trace_reader__info(r)->mode, "");
	trace_reader__free(r);
	unlink(path);
}

/* The largest records the format holds are written whole; a reader hands their names back cut
 * to 4096 bytes (at a character's start), their stacks to 128 frames, and says how many it cut. */
Test(trace, largest_records_are_written_whole_and_read_cut)
{
	static uint32_t frames[4096];
	const size_t big = 1 << 20;
	char *s = malloc(big + 1), path[64], err[256];
	struct ls_rec recs[3], got;
	struct trace_reader *r;

	cr_assert_not_null(s);
	for (size_t i = 0; i < big; i++)
		s[i] = 'a' + i % 26;
	memcpy(s + 4095, "σ", 2); /* a two-byte character across the cut */
	s[big] = 0;
	for (uint32_t i = 0; i < 4096; i++)
		frames[i] = i * 997 + 1;
	memset(recs, 0, sizeof(recs));
	recs[0] = (struct ls_rec){
	    .type = LS_REC_FRAME, .ts = 1, .frame = {.id = 9, .func = s, .file = s, .module = s}};
	recs[1] = (struct ls_rec){
	    .type = LS_REC_STACK, .ts = 2, .stack = {.id = 9, .nframes = 4096, .frames = frames}};
	recs[2] = (struct ls_rec){.type = LS_REC_THREAD, .ts = 3, .thread = {.name = s + 7}};
	tmp_path(path);
	write_recs(path, recs, 3, 0, NULL);
	r = trace_reader__open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	cr_assert_eq(trace_reader__next(r, &got), 1);
	cr_assert_eq(got.type, LS_REC_FRAME);
	cr_assert_eq(strlen(got.frame.func), 4095, "cut before the character, not inside it");
	cr_assert_eq(strncmp(got.frame.func, s, 4095), 0);
	cr_assert_eq(strlen(got.frame.module), 4095);
	cr_assert_eq(trace_reader__next(r, &got), 1);
	recs[1].stack.nframes = 128; /* as deep as a recorder writes */
	expect_rec(&got, &recs[1], 1);
	cr_assert_eq(trace_reader__next(r, &got), 1);
	cr_assert_eq(strlen(got.thread.name), 4096);
	cr_assert_eq(trace_reader__next(r, &got), 1);
	cr_assert_eq(got.type, LS_REC_COUNTER);
	cr_assert_str_eq(got.counter.name, "reader: names cut to 4096 bytes");
	cr_assert_eq(got.counter.value, 4);
	cr_assert_eq(trace_reader__next(r, &got), 1);
	cr_assert_str_eq(got.counter.name, "reader: stacks cut to 128 frames");
	cr_assert_eq(got.counter.value, 1);
	cr_assert_eq(trace_reader__next(r, &got), 0);
	trace_reader__free(r);
	free(s);
	unlink(path);
}

/* A file of many chunks of huge names (what once made readers take 1.85 GB from 77 KB): the
 * reader keeps to its budget, 16 MiB and 4 bytes per byte of file, and counts what it dropped. */
Test(trace, names_past_the_budget_are_dropped_and_counted)
{
	const size_t len = 1 << 20;
	char *name = malloc(len + 1), path[64], err[256];
	uint64_t kept = 0, names = 0, dropped = 0, cut = 0;
	struct trace_writer *w;
	struct trace_reader *r;
	struct stat st;
	struct ls_rec rec;
	int ret;

	cr_assert_not_null(name);
	memset(name, 'n', len);
	name[len] = 0;
	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	for (uint32_t i = 0; i < 3000; i++) {
		rec = (struct ls_rec){.type = LS_REC_FRAME, .ts = i, .frame = {.id = i + 1}};
		rec.frame.func = rec.frame.file = rec.frame.module = name;
		name[0] = 'a' + i % 26; /* not quite the same, record to record */
		cr_assert_eq(trace_writer__append(w, &rec), 0);
	}
	cr_assert_eq(trace_writer__close(w), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, 1 << 20, "the crafted file is small: %lld", (long long)st.st_size);
	r = trace_reader__open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	while ((ret = trace_reader__next(r, &rec)) > 0) {
		if (rec.type == LS_REC_FRAME) {
			names++;
			kept += 64 + 2 * (strlen(rec.frame.func) + strlen(rec.frame.file) +
					  strlen(rec.frame.module));
		} else if (rec.type == LS_REC_COUNTER && strstr(rec.counter.name, "dropped")) {
			dropped = rec.counter.value;
		} else if (rec.type == LS_REC_COUNTER && strstr(rec.counter.name, "cut")) {
			cut = rec.counter.value;
		}
	}
	cr_assert_eq(ret, 0, "%s", trace_reader__error(r));
	cr_assert_leq(kept, (16u << 20) + 4 * (uint64_t)st.st_size);
	cr_assert_gt(names, 500, "the budget holds hundreds of such frames: %llu",
		     (unsigned long long)names);
	cr_assert_eq(names + dropped, 3000, "%llu kept, %llu dropped", (unsigned long long)names,
		     (unsigned long long)dropped);
	cr_assert_eq(cut, 3 * 3000, "every name was cut, dropped or not");
	trace_reader__free(r);
	free(name);
	unlink(path);
}

/* Records after the END record (a file with chunks repeated) and times no recording has (a
 * delta that wraps) are damage: the reader stops there, after everything before. */
Test(trace, records_after_the_end_and_absurd_times_are_refused)
{
	struct ls_rec recs[3] = {
	    {.type = LS_REC_THREAD, .ts = 1, .tid = 7, .thread = {.name = "t"}},
	    {.type = LS_REC_END, .ts = 2, .end = {.duration_ns = 5}},
	    {.type = LS_REC_LOST, .ts = 3, .lost = {.count = 1}},
	};
	struct ls_rec bad = {.type = LS_REC_LOST, .ts = TS_MAX + 1};
	char path[64], error[256];
	uint8_t *buf, *twice;
	struct trace_writer *w;
	bool complete;
	size_t len, hdr;
	int ret;

	/* the writer refuses both */
	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	cr_assert_eq(trace_writer__append(w, &bad), -EINVAL);
	bad = (struct ls_rec){.type = LS_REC_END, .ts = 1, .end = {.duration_ns = TS_MAX + 1}};
	cr_assert_eq(trace_writer__append(w, &bad), -EINVAL);
	cr_assert_eq(trace_writer__append(w, &recs[0]), 0);
	cr_assert_eq(trace_writer__append(w, &recs[1]), 0);
	cr_assert_eq(trace_writer__append(w, &recs[2]), -EINVAL, "a record after the end");
	cr_assert_eq(trace_writer__close(w), 0);

	/* a file whose one chunk (the end record in it) comes twice: the second is refused */
	buf = slurp(path, &len);
	write_recs(path, NULL, 0, 0, NULL);
	free(slurp(path, &hdr)); /* hdr: the length of the header alone */
	twice = malloc(len + (len - hdr));
	memcpy(twice, buf, len);
	memcpy(twice + len, buf + hdr, len - hdr);
	twice[len + 4] = 2; /* its sequence number: it is chunk 2 */
	lsz_fix_checksums(twice, len + (len - hdr));
	spill(path, twice, len + (len - hdr));
	cr_assert_eq(read_recs(path, recs, 2, &ret, error, &complete), 2);
	cr_assert_eq(ret, -EBADMSG);
	cr_assert_str_eq(error, "chunk 2 is corrupt (record 1: records after the end record)");
	free(buf);
	free(twice);
	unlink(path);
}
/* The dictionaries hold 1024 values a chunk; past that, values are written out in full. */
Test(trace, more_distinct_values_than_a_dictionary_holds)
{
	const size_t n = 6000;
	struct ls_rec *recs = calloc(n, sizeof(*recs));
	char path[64];

	cr_assert_not_null(recs);
	for (size_t i = 0; i < n; i++) {
		size_t v = i % 3 ? i : i / 7; /* new values, and old ones coming back */

		recs[i].type = i % 2 ? LS_REC_WAIT_BEGIN : LS_REC_WAKE;
		recs[i].ts = i * 1000;
		recs[i].tid = 100000 + v;
		if (i % 2) {
			recs[i].wait_begin.addr = 0x7f0000000000 + 64 * v;
			recs[i].wait_begin.owner = 200000 + v;
			recs[i].wait_begin.stack_id = 1 + v;
		} else {
			recs[i].wake.addr = 0x7f0000000000 + 64 * v;
			recs[i].wake.wakee = 300000 + v;
			recs[i].wake.call_ts = recs[i].ts - v;
		}
	}
	tmp_path(path);
	write_recs(path, recs, n, 0, NULL);
	cr_assert_eq(read_recs(path, recs, n, NULL, NULL, NULL), n);
	free(recs);
	unlink(path);
}

/* ---- chunks ---- */

Test(trace, many_records_span_many_chunks)
{
	const size_t n = 300000;
	struct ls_rec *recs = gen_recs(n, 1);
	struct trace_writer *w;
	size_t chunks = 0;
	uint64_t bytes;
	char path[64], error[256];
	bool complete;
	int ret;

	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	bytes = trace_writer__bytes(w);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(trace_writer__append(w, &recs[i]), 0, "append %zu (%s)", i,
			     ls_rec_type_name(recs[i].type));
		/* a chunk goes out on its own once it is full */
		if (trace_writer__bytes(w) != bytes)
			chunks++;
		bytes = trace_writer__bytes(w);
	}
	cr_assert_eq(trace_writer__records(w), n);
	cr_assert_geq(chunks, 20, "only %zu chunks", chunks);
	cr_assert_eq(trace_writer__close(w), 0);

	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), n);
	cr_assert_eq(ret, 0);
	cr_assert_str_eq(error, "(null)");
	free(recs);
	unlink(path);
}

Test(trace, flush_closes_a_chunk_each_time_it_is_called)
{
	const size_t n = 64;
	struct ls_rec *recs = gen_unfinished(n, 2);
	struct trace_writer *w;
	char path[64], error[256];
	size_t i = 0;
	uint64_t before;
	bool complete;
	int ret;

	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	/* chunks of 1, 2, 3, ... records, and flushes with nothing to flush */
	i = 0;
	for (size_t k = 1; i < n; k++) {
		for (size_t j = 0; j < k && i < n; j++, i++)
			cr_assert_eq(trace_writer__append(w, &recs[i]), 0);
		before = trace_writer__bytes(w);
		cr_assert_eq(trace_writer__flush(w), 0);
		cr_assert_gt(trace_writer__bytes(w), before, "flush wrote nothing");
		before = trace_writer__bytes(w);
		cr_assert_eq(trace_writer__flush(w), 0);
		cr_assert_eq(trace_writer__bytes(w), before, "an empty flush wrote a chunk");
	}
	cr_assert_eq(trace_writer__close(w), 0);

	/* ends cleanly between chunks without END: every record, no error, not complete */
	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), n);
	cr_assert_eq(ret, 0);
	cr_assert_not(complete);
	cr_assert_str_eq(error, "(null)");
	free(recs);
	unlink(path);
}

Test(trace, a_trace_without_records_is_read_as_empty)
{
	struct trace_writer *w;
	char path[64], error[256];
	bool complete;
	int ret;

	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	cr_assert_eq(trace_writer__bytes(w) > 0, 1, "no header written by __new");
	cr_assert_eq(trace_writer__close(w), 0);
	cr_assert_eq(read_recs(path, NULL, 0, &ret, error, &complete), 0);
	cr_assert_eq(ret, 0);
	cr_assert_not(complete);
	cr_assert_str_eq(error, "(null)");
	unlink(path);
}

/* ---- damaged files ---- */

#define GROUPS 8
#define PER_GROUP 40

static struct ls_rec *grouped_trace(const char *path, uint64_t *bounds, size_t *n, uint64_t seed)
{
	struct ls_rec *recs;

	*n = GROUPS * PER_GROUP;
	recs = gen_unfinished(*n, seed);
	recs[*n - 1] = (struct ls_rec){.type = LS_REC_END, .ts = recs[*n - 2].ts};
	cr_assert_eq(write_recs(path, recs, *n, PER_GROUP, bounds), GROUPS + 1);
	return recs;
}

Test(trace, a_cut_file_yields_exactly_the_complete_chunks)
{
	uint64_t b[GROUPS + 1];
	char path[64], cut[64], error[256], want[128];
	size_t n, len;
	struct ls_rec *recs;
	uint8_t *file;
	bool complete;
	int ret;

	tmp_path(path);
	tmp_path(cut);
	recs = grouped_trace(path, b, &n, 3);
	file = slurp(path, &len);
	cr_assert_eq(len, b[GROUPS]);

	/* every offset through the last three chunks, and the whole file */
	for (uint64_t t = b[GROUPS - 3]; t <= len; t++) {
		size_t full = 0;

		while (full < GROUPS && b[full + 1] <= t)
			full++;
		spill(cut, file, t);
		cr_assert_eq(read_recs(cut, recs, n, &ret, error, &complete), full * PER_GROUP,
			     "cut at %lu", (unsigned long)t);
		cr_assert_eq(complete, t == len, "cut at %lu", (unsigned long)t);
		if (t == b[full]) {
			cr_assert_eq(ret, 0, "cut at %lu, between chunks", (unsigned long)t);
			cr_assert_str_eq(error, "(null)");
		} else {
			snprintf(want, sizeof(want),
				 "file is cut in chunk %zu (recording did not finish)", full + 1);
			cr_assert_eq(ret, -ENODATA, "cut at %lu", (unsigned long)t);
			cr_assert_str_eq(error, want, "cut at %lu", (unsigned long)t);
		}
	}

	/* a cut inside the file header */
	for (uint64_t t = 0; t < b[0]; t++) {
		spill(cut, file, t);
		expect_open_fails(cut, t == 0 ? "not a lockscope trace (empty file)"
					      : "trace header is cut");
	}
	free(file);
	free(recs);
	unlink(path);
	unlink(cut);
}

Test(trace, a_damaged_byte_stops_the_reader_at_its_chunk)
{
	const size_t bad = 4; /* chunks count from 1: chunk 4 lies in [b[3], b[4]) */
	uint64_t b[GROUPS + 1];
	char path[64], flip[64], error[256], want[64];
	size_t n, len;
	struct ls_rec *recs;
	uint8_t *file;
	int ret;

	tmp_path(path);
	tmp_path(flip);
	recs = grouped_trace(path, b, &n, 4);
	file = slurp(path, &len);
	snprintf(want, sizeof(want), "chunk %zu is corrupt (", bad);

	for (int mask = 1; mask <= 0x80; mask <<= 7) { /* one bit, then a whole byte */
		for (uint64_t at = b[bad - 1]; at < b[bad]; at++) {
			file[at] ^= mask == 1 ? 1 : 0xff;
			spill(flip, file, len);
			file[at] ^= mask == 1 ? 1 : 0xff;
			cr_assert_eq(read_recs(flip, recs, n, &ret, error, NULL),
				     (bad - 1) * PER_GROUP, "byte %lu", (unsigned long)at);
			cr_assert_eq(ret, -EBADMSG, "byte %lu", (unsigned long)at);
			cr_assert(strncmp(error, want, strlen(want)) == 0, "byte %lu: \"%s\"",
				  (unsigned long)at, error);
		}
	}

	/* damage in the payload is the checksum's to find */
	file[b[bad] - 3] ^= 0x10;
	spill(flip, file, len);
	read_recs(flip, recs, n, &ret, error, NULL);
	cr_assert_str_eq(error, "chunk 4 is corrupt (checksum)");
	file[b[bad] - 3] ^= 0x10;

	/* any damage to the file header: refused, never misread */
	for (uint64_t at = 0; at < b[0]; at++) {
		file[at] ^= 0x04;
		spill(flip, file, len);
		file[at] ^= 0x04;
		expect_open_fails(flip, NULL);
	}
	free(file);
	free(recs);
	unlink(path);
	unlink(flip);
}

Test(trace, open_refuses_what_is_not_a_trace)
{
	char path[64], err[256];
	uint8_t junk[4096];
	struct trace_reader *r;

	tmp_path(path);
	spill(path, "", 0);
	expect_open_fails(path, "not a lockscope trace (empty file)");

	rng_state = 5;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = rng();
	junk[0] = 'R'; /* random, but surely not the magic */
	spill(path, junk, sizeof(junk));
	expect_open_fails(path, "not a lockscope trace");

	spill(path, "hello, world\n", 13);
	expect_open_fails(path, "not a lockscope trace");
	spill(path, "\x28\xb5\x2f\xfd\x20\x00\x01\x00\x00", 9); /* a zstd frame */
	expect_open_fails(path, "not a lockscope trace");
	spill(path, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
	expect_open_fails(path, "not a lockscope trace");
	spill(path, "\x89", 1); /* the first byte of the magic, then nothing */
	expect_open_fails(path, "trace header is cut");
	unlink(path);

	errno = 0;
	r = trace_reader__open(path, err, sizeof(err));
	cr_assert_null(r);
	cr_assert_eq(errno, ENOENT);
	cr_assert_str_eq(err, strerror(ENOENT));
	r = trace_reader__open("/", err, sizeof(err));
	cr_assert_null(r);
	cr_assert_eq(errno, EISDIR);
}

Test(trace, open_refuses_a_newer_format_version)
{
	struct ls_rec rec = {.type = LS_REC_END};
	char path[64];
	size_t len;
	uint8_t *file;

	tmp_path(path);
	write_recs(path, &rec, 1, 0, NULL);
	file = slurp(path, &len);
	/* the version is the little-endian u32 after the 8-byte magic, in every version */
	memcpy(file + 8, "\x04\0\0\0", 4);
	spill(path, file, len);
	expect_open_fails(path, "written by a newer lockscope (format 4; this one reads format 3)");
	cr_assert_eq(errno, EPROTONOSUPPORT);
	memcpy(file + 8, "\xff\xff\xff\xff", 4);
	spill(path, file, len);
	expect_open_fails(
	    path, "written by a newer lockscope (format 4294967295; this one reads format 3)");
	memcpy(file + 8, "\0\0\0\0", 4);
	spill(path, file, len);
	expect_open_fails(path, "trace header is corrupt");
	free(file);
	unlink(path);
}

/* Random damage of every kind: the reader may stop anywhere, but never crashes and never
 * yields a record that is not one written. */
Test(trace, mutated_files_never_crash_the_reader)
{
	uint64_t b[GROUPS + 1];
	char path[64], mut[64];
	size_t n, len;
	struct ls_rec *recs;
	uint8_t *file, *copy;

	tmp_path(path);
	tmp_path(mut);
	recs = grouped_trace(path, b, &n, 6);
	file = slurp(path, &len);
	copy = malloc(len);
	cr_assert_not_null(copy);
	rng_state = 77;
	for (int iter = 0; iter < 1500; iter++) {
		size_t l = len, k = 1 + rng() % 8;
		struct trace_reader *r;
		struct ls_rec rec;
		char err[256];
		size_t i = 0;
		int ret;

		memcpy(copy, file, len);
		switch (iter % 3) {
		case 0: /* flipped bytes */
			for (size_t j = 0; j < k; j++)
				copy[rng() % len] ^= 1 + rng() % 255;
			break;
		case 1: /* a run overwritten, then maybe cut */
			for (size_t at = rng() % len, j = 0; at < len && j < 16 * k; at++, j++)
				copy[at] = rng();
			if (rng() % 2)
				l = rng() % len;
			break;
		case 2: /* a chunk header moved or repeated */
			memcpy(copy + b[1 + rng() % (GROUPS - 1)], file + b[rng() % GROUPS], 36);
			break;
		}
		spill(mut, copy, l);
		r = trace_reader__open(mut, err, sizeof(err));
		if (!r)
			continue;
		while ((ret = trace_reader__next(r, &rec)) > 0) {
			cr_assert_lt(i, n);
			expect_rec(&rec, &recs[i], i);
			i++;
		}
		cr_assert(ret == 0 || trace_reader__error(r), "stopped without saying why");
		trace_reader__free(r);
	}
	free(copy);
	free(file);
	free(recs);
	unlink(path);
	unlink(mut);
}

/* ---- the writer's errors ---- */

Test(trace, writer_refuses_malformed_records_and_goes_on)
{
	static const uint32_t frames[2] = {1, 2};
	char *huge = malloc((1 << 20) + 2), path[64];
	const struct ls_rec bad[] = {
	    {.type = 0},
	    {.type = LS_REC__COUNT},
	    {.type = 200},
	    {.type = LS_REC_WAIT_BEGIN, .wait_begin = {.kind = LS_KIND__COUNT}},
	    {.type = LS_REC_LOCK, .lock = {.kind = 99}},
	    {.type = LS_REC_WAIT_END, .wait_end = {.result = LS_WAIT_UNFINISHED + 1}},
	    {.type = LS_REC_FRAME, .frame = {.id = 0}},
	    {.type = LS_REC_FRAME, .frame = {.id = 1, .file = huge}},
	    {.type = LS_REC_THREAD, .thread = {.name = huge}},
	    {.type = LS_REC_MAPPING, .mapping = {.path = huge}},
	    {.type = LS_REC_STACK, .stack = {.id = 0, .nframes = 2, .frames = frames}},
	    {.type = LS_REC_STACK, .stack = {.id = 1, .nframes = 4097, .frames = frames}},
	    {.type = LS_REC_STACK, .stack = {.id = 1, .nframes = 2}},
	    {.type = LS_REC_TASK_WAIT, .task_wait = {.cycle = 0, .ntasks = 2}},
	    {.type = LS_REC_TASK_WAIT, .task_wait = {.cycle = 1, .ntasks = 0}},
	    {.type = LS_REC_TASK_WAIT, .task_wait = {.cycle = 1, .ntasks = 2, .index = 2}},
	    {.type = LS_REC_TASK_WAIT, .task_wait = {.cycle = 1, .ntasks = LS_TASK_CYCLE_MAX + 1}},
	    {.type = LS_REC_TASK_WAIT, .task_wait = {.cycle = 1, .ntasks = 1, .nholds = 1}},
	    {.type = LS_REC_TASK_WAIT,
	     .task_wait =
		 {.cycle = 1, .ntasks = 1, .nholds = LS_TASK_HOLDS_MAX + 1, .holds = names}},
	    {.type = LS_REC_TASK_WAIT, .task_wait = {.cycle = 1, .ntasks = 1, .coro = huge}},
	    {.type = LS_REC_OBJECT, .object = {.via = LS_VIA__COUNT}},
	    {.type = LS_REC_OBJECT, .object = {.debug_file = huge}},
	    {.type = LS_REC_PROCESS, .tid = 0, .process = {.comm = "app"}},
	    {.type = LS_REC_PROCESS, .tid = 7, .process = {.cmdline = huge}},
	};
	const struct ls_rec good = {
	    .type = LS_REC_STACK, .ts = 9, .stack = {.id = 1, .nframes = 2, .frames = frames}};
	struct trace_writer *w;
	struct ls_trace_info long_comm = info;

	cr_assert_not_null(huge);
	memset(huge, 'x', (1 << 20) + 1);
	huge[(1 << 20) + 1] = 0;
	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(trace_writer__append(w, &bad[i]), -EINVAL, "bad record %zu", i);
	cr_assert_eq(trace_writer__append(w, NULL), -EINVAL);
	cr_assert_eq(trace_writer__records(w), 0);
	cr_assert_eq(trace_writer__append(w, &good), 0, "a refused record made the error sticky");
	cr_assert_eq(trace_writer__close(w), 0);
	cr_assert_eq(read_recs(path, &good, 1, NULL, NULL, NULL), 1);

	long_comm.cmdline = huge;
	errno = 0;
	cr_assert_null(trace_writer__new(path, &long_comm));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(trace_writer__new(path, NULL));
	cr_assert_eq(errno, EINVAL);
	free(huge);
	unlink(path);
}

Test(trace, a_full_disk_fails_new)
{
	if (access("/dev/full", W_OK))
		cr_assert_fail("no /dev/full: the disk-full path cannot be tested");
	errno = 0;
	cr_assert_null(trace_writer__new("/dev/full", &info));
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(trace_writer__close(NULL), 0);
}

/* The descriptor the writer holds for PATH, found through /proc. */
static int writer_fd(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[PATH_MAX], target[PATH_MAX];
	int fd = -1;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, path))
			fd = atoi(e->d_name);
	}
	closedir(d);
	return fd;
}

Test(trace, a_full_disk_makes_the_error_sticky)
{
	const size_t n = 5 * PER_GROUP;
	struct ls_rec *recs = gen_unfinished(n, 8), more;
	struct trace_writer *w;
	char path[64], error[256];
	uint64_t bytes, nrec;
	bool complete;
	int fd, full, ret;

	if (access("/dev/full", W_OK))
		cr_assert_fail("no /dev/full: the disk-full path cannot be tested");
	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	/* as record does once the recording has begun: a disk filling later keeps what was written */
	cr_assert_eq(trace_writer__publish(w), 0);
	for (size_t i = 0; i < 3 * PER_GROUP; i++) {
		cr_assert_eq(trace_writer__append(w, &recs[i]), 0);
		if ((i + 1) % PER_GROUP == 0)
			cr_assert_eq(trace_writer__flush(w), 0);
	}

	/* the disk fills up */
	fd = writer_fd(path);
	cr_assert_geq(fd, 0, "cannot find the writer's descriptor");
	full = open("/dev/full", O_WRONLY);
	cr_assert_geq(full, 0);
	cr_assert_eq(dup2(full, fd), fd);
	close(full);

	for (size_t i = 3 * PER_GROUP; i < 4 * PER_GROUP; i++)
		cr_assert_eq(trace_writer__append(w, &recs[i]), 0, "buffered, not written yet");
	bytes = trace_writer__bytes(w);
	nrec = trace_writer__records(w);
	cr_assert_eq(trace_writer__flush(w), -ENOSPC);
	/* from now on: no-ops that return the first error */
	for (size_t i = 4 * PER_GROUP; i < n; i++)
		cr_assert_eq(trace_writer__append(w, &recs[i]), -ENOSPC);
	more = (struct ls_rec){.type = LS_REC_END};
	cr_assert_eq(trace_writer__append(w, &more), -ENOSPC);
	cr_assert_eq(trace_writer__records(w), nrec);
	cr_assert_eq(trace_writer__bytes(w), bytes);
	cr_assert_eq(trace_writer__flush(w), -ENOSPC);
	cr_assert_eq(trace_writer__close(w), -ENOSPC);

	/* what was written before is all there */
	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), 3 * PER_GROUP);
	cr_assert_eq(ret, 0);
	cr_assert_not(complete);
	free(recs);
	unlink(path);
}

/* A disk that fills in the middle of a chunk (here a file size limit, as precise as a byte)
 * leaves a cut file: every complete chunk readable, then "cut". */
Test(trace, a_disk_filling_mid_chunk_leaves_the_complete_chunks)
{
	const size_t n = 4 * PER_GROUP;
	struct ls_rec *recs = gen_unfinished(n, 9);
	struct trace_writer *w;
	struct rlimit lim, old;
	char path[64], error[256];
	bool complete;
	int ret = 0;

	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	/* as record does once the recording has begun: a disk filling later keeps what was written */
	cr_assert_eq(trace_writer__publish(w), 0);
	for (size_t i = 0; i < 3 * PER_GROUP; i++) {
		cr_assert_eq(trace_writer__append(w, &recs[i]), 0);
		if ((i + 1) % PER_GROUP == 0)
			cr_assert_eq(trace_writer__flush(w), 0);
	}
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = trace_writer__bytes(w) + 50;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (size_t i = 3 * PER_GROUP; i < n; i++)
		ret = ret ?: trace_writer__append(w, &recs[i]);
	cr_assert_eq(ret, 0);
	cr_assert_eq(trace_writer__flush(w), -EFBIG);
	cr_assert_eq(trace_writer__append(w, &recs[0]), -EFBIG);
	cr_assert_eq(trace_writer__close(w), -EFBIG);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), 3 * PER_GROUP);
	cr_assert_eq(ret, -ENODATA);
	cr_assert_str_eq(error, "file is cut in chunk 4 (recording did not finish)");
	cr_assert_not(complete);
	free(recs);
	unlink(path);
}

/* ---- names ---- */

Test(trace, kinds_and_record_types_have_names)
{
	cr_assert_str_eq(ls_kind_name(LS_KIND_FUTEX), "futex");
	cr_assert_str_eq(ls_kind_name(LS_KIND_MUTEX), "mutex");
	cr_assert_str_eq(ls_kind_name(LS_KIND_RWLOCK), "rwlock");
	cr_assert_str_eq(ls_kind_name(LS_KIND_SEM), "sem");
	cr_assert_str_eq(ls_kind_name(LS_KIND_GIL), "gil");
	cr_assert_str_eq(ls_kind_name(LS_KIND_COND), "cond");
	cr_assert_str_eq(ls_kind_name(LS_KIND_JOIN), "join");
	cr_assert_str_eq(ls_kind_name(LS_KIND__COUNT), "unknown");
	cr_assert_str_eq(ls_kind_name((enum ls_lock_kind) - 1), "unknown");

	cr_assert_str_eq(ls_rec_type_name(LS_REC_WAIT_BEGIN), "wait_begin");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_WAIT_END), "wait_end");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_WAKE), "wake");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_THREAD), "thread");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_THREAD_EXIT), "thread_exit");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_PROC_EXIT), "proc_exit");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_LOST), "lost");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_LOCK), "lock");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_FRAME), "frame");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_STACK), "stack");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_MAPPING), "mapping");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_END), "end");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_COUNTER), "counter");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_LOOP_SAMPLE), "loop_sample");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_LOOP_BLOCK), "loop_block");
	cr_assert_str_eq(ls_rec_type_name(LS_REC_OBJECT), "object");
	cr_assert_str_eq(ls_rec_type_name(0), "unknown");
	cr_assert_str_eq(ls_rec_type_name(LS_REC__COUNT), "unknown");
}

/* Writes RECS, flushing every EVERY, and reads every field of them back. */
static void round_trip(const struct ls_rec *recs, size_t n, size_t every)
{
	char path[64], error[256];
	bool complete;
	int ret;

	tmp_path(path);
	write_recs(path, recs, n, every, NULL);
	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), n);
	cr_assert_eq(ret, 0);
	unlink(path);
}

Test(trace, full_mode_records_round_trip)
{
	const struct ls_rec recs[] = {
	    {.type = LS_REC_WINDOW, .ts = 10, .window = {.on = 1}},
	    {.type = LS_REC_WAIT_BEGIN, .ts = 0, .tid = 7,
	     .wait_begin = {.addr = 0x5581d2a0, .owner = 8, .stack_id = 3, .kind = LS_KIND_MUTEX,
			    .op = 128, .flags = LS_WAIT_AT_ATTACH}},
	    {.type = LS_REC_ACQUIRE, .ts = 2000, .tid = 8,
	     .acquire = {.addr = 0x5581d2a0, .kind = LS_KIND_RWLOCK,
			 .flags = LS_ACQ_TRY | LS_ACQ_SHARED | LS_ACQ_TIMED | LS_ACQ_COND,
			 .call_ts = 1500, .stack_id = 9}},
	    {.type = LS_REC_ACQUIRE, .ts = 2100, .tid = 8,
	     .acquire = {.addr = UINT64_MAX, .kind = LS_KIND_SEM, .call_ts = 2100}},
	    {.type = LS_REC_RELEASE, .ts = 3000, .tid = 8, .release = {.addr = 0x5581d2a0}},
	    {.type = LS_REC_DESTROY, .ts = 3001, .tid = 8, .release = {.addr = 0x5581d2a0}},
	    {.type = LS_REC_WINDOW, .ts = 4000, .window = {.on = 0}},
	    {.type = LS_REC_COUNTER, .ts = 4000, .counter = {.name = "unwind: cut", .value = 0}},
	    {.type = LS_REC_COUNTER, .ts = 4001, .counter = {.name = "", .value = UINT64_MAX}},
	};
	round_trip(recs, sizeof(recs) / sizeof(recs[0]), 3);
}

Test(trace, loop_records_round_trip)
{
	const struct ls_rec recs[] = {
	    {.type = LS_REC_LOOP_SAMPLE, .ts = 260000000, .tid = 7,
	     .loop = {.start = 200000000, .on_cpu_ns = 12345,
		      .off_ns = {[LS_LOOP_SLEEP] = 59000000, [LS_LOOP_RUNQ] = 3},
		      .stack_id = 9, .on_cpu = 0}},
	    {.type = LS_REC_LOOP_SAMPLE, .ts = 260000001, .tid = 8,
	     .loop = {.start = 260000001, .on_cpu_ns = 0, .stack_id = 0, .on_cpu = 1}},
	    {.type = LS_REC_LOOP_BLOCK, .ts = 400000000, .tid = 7,
	     .loop = {.start = 200000000, .on_cpu_ns = TS_MAX,
		      .off_ns = {1, 2, 3, 4, TS_MAX}}},
	    {.type = LS_REC_LOOP_BLOCK, .ts = 0, .tid = 8, .loop = {.start = 0}},
	};
	round_trip(recs, sizeof(recs) / sizeof(recs[0]), 2);
}

Test(trace, writer_refuses_a_loop_block_that_ends_before_it_starts)
{
	struct ls_rec bad = {.type = LS_REC_LOOP_BLOCK, .ts = 100, .tid = 7, .loop = {.start = 101}};
	struct ls_rec flag = {.type = LS_REC_LOOP_SAMPLE, .ts = 100, .tid = 7, .loop = {.on_cpu = 2}};
	char path[64];
	struct trace_writer *w;

	tmp_path(path);
	w = trace_writer__new(path, &info);
	cr_assert_not_null(w);
	cr_assert_eq(trace_writer__append(w, &bad), -EINVAL);
	cr_assert_eq(trace_writer__append(w, &flag), -EINVAL);
	cr_assert_eq(trace_writer__records(w), 0);
	cr_assert_eq(trace_writer__close(w), 0);
	unlink(path);
}

Test(trace, task_wait_records_round_trip)
{
	static const char *const holds_a[] = {"lock_a", "asyncio.Lock 0x7f00 first taken in f"};
	static const char *const holds_b[] = {"lock_b"};
	const struct ls_rec recs[] = {
	    {.type = LS_REC_STACK, .ts = 5, .stack = {.id = 4, .nframes = 2,
						      .frames = frame_sets[1]}},
	    {.type = LS_REC_TASK_WAIT, .ts = 3000000000ull, .tid = 4321,
	     .task_wait = {.cycle = 1, .ntasks = 2, .index = 0, .task = 0x7f3a1c2b4d40,
			   .name = "a-to-b", .coro = "transfer_a_to_b", .waits_for = "lock_b",
			   .nholds = 2, .holds = holds_a, .stack_id = 4}},
	    {.type = LS_REC_TASK_WAIT, .ts = 3000000000ull, .tid = 4321,
	     .task_wait = {.cycle = 1, .ntasks = 2, .index = 1, .task = 0x7f3a1c2b4e80,
			   .name = "b-to-a", .coro = "transfer_b_to_a", .waits_for = "lock_a",
			   .nholds = 1, .holds = holds_b}},
	    {.type = LS_REC_TASK_WAIT, .ts = 3000000001ull, .tid = 1,
	     .task_wait = {.cycle = UINT32_MAX, .ntasks = LS_TASK_CYCLE_MAX,
			   .index = LS_TASK_CYCLE_MAX - 1, .task = UINT64_MAX}},
	};
	const size_t n = sizeof(recs) / sizeof(recs[0]);
	char path[64], error[256];
	bool complete;
	int ret;

	cr_assert_str_eq(ls_rec_type_name(LS_REC_TASK_WAIT), "task_wait");
	tmp_path(path);
	write_recs(path, recs, n, 2, NULL);
	cr_assert_eq(read_recs(path, recs, n, &ret, error, &complete), n);
	cr_assert_eq(ret, 0);
	cr_assert_not(complete);
	unlink(path);
}

