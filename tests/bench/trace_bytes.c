/* trace_bytes.c - what a contended stream costs in the .lsz format: bytes per event, and write
 * and read throughput, on a simulated workload (threads taking a few locks in turn). */
#include "trace/trace.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 256
#define MAX_LOCKS 64
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAIT_BITSET_PRIVATE 137

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* splitmix64: deterministic, so that every run measures the same stream */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t between(uint64_t lo, uint64_t hi)
{
	return lo + rng() % (hi - lo + 1);
}

enum thread_state { COMPUTE, HOLD, WAIT, WAKING, RETRY };

struct sim_thread {
	uint32_t tid;
	enum thread_state state;
	uint64_t next; /* when it next does something (not while WAIT) */
	int lock;      /* the lock it wants or holds */
};

struct sim_lock {
	uint64_t addr;
	int holder; /* thread index, -1 if free */
	int queue[MAX_THREADS], head, len;
};

struct sim {
	int nthreads, nlocks;
	struct sim_thread t[MAX_THREADS];
	struct sim_lock l[MAX_LOCKS];
	struct ls_rec *recs;
	size_t n, cap, waits;
	/* streaming (-s): records go to the writer as they are made, one kept pending */
	struct trace_writer *w;
	uint64_t next_flush;
	size_t written;
	int err;
};

/* The recorder flushes at least once a second: so does the simulation. */
static void write_rec(struct sim *s, const struct ls_rec *r)
{
	if (s->err)
		return;
	if (r->ts >= s->next_flush) {
		s->err = trace_writer__flush(s->w);
		s->next_flush += 1000000000;
	}
	s->err = s->err ?: trace_writer__append(s->w, r);
	s->written++;
}

static struct ls_rec *emit(struct sim *s, uint8_t type, uint64_t ts, uint32_t tid)
{
	struct ls_rec *r;

	if (s->w && s->n) {	/* the pending record is complete now */
		write_rec(s, &s->recs[0]);
		s->n = 0;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1 << 16;
		s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
		if (!s->recs) {
			perror("trace_bytes");
			exit(1);
		}
	}
	r = &s->recs[s->n++];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->ts = ts;
	r->tid = tid;
	if (type <= LS_REC_WAKE)
		s->waits++;
	return r;
}

/* Skewed: the first lock is the hot one. */
static int pick_lock(struct sim *s)
{
	for (int i = 0; i < s->nlocks - 1; i++)
		if (rng() % 2)
			return i;
	return s->nlocks - 1;
}

static void begin_hold(struct sim_thread *t, uint64_t now)
{
	t->state = HOLD;
	t->next = now + between(1000, 8000);
}

static void try_lock(struct sim *s, int i, uint64_t now)
{
	struct sim_thread *t = &s->t[i];
	struct sim_lock *l = &s->l[t->lock];
	struct ls_rec *r;

	if (l->holder < 0) {
		l->holder = i;
		begin_hold(t, now);
		return;
	}
	r = emit(s, LS_REC_WAIT_BEGIN, now, t->tid);
	r->wait_begin.addr = l->addr;
	r->wait_begin.owner = s->t[l->holder].tid;
	r->wait_begin.stack_id = 1 + (i * s->nlocks + t->lock) % 12;
	r->wait_begin.kind = t->lock == 3 ? LS_KIND_RWLOCK : LS_KIND_MUTEX;
	r->wait_begin.op = t->lock == 3 ? FUTEX_WAIT_BITSET_PRIVATE : FUTEX_WAIT_PRIVATE;
	if (rng() % 10 == 0) { /* the word changed before it slept: EAGAIN, try again */
		t->state = RETRY;
		t->next = now + between(200, 1500);
		return;
	}
	t->state = WAIT;
	l->queue[(l->head + l->len++) % MAX_THREADS] = i;
}

static void release(struct sim *s, int i, uint64_t now)
{
	struct sim_thread *t = &s->t[i];
	struct sim_lock *l = &s->l[t->lock];
	struct ls_rec *r;
	uint64_t woken;
	int w;

	t->state = COMPUTE;
	t->next = now + between(2000, 30000);
	l->holder = -1;
	if (!l->len)
		return;
	w = l->queue[l->head];
	l->head = (l->head + 1) % MAX_THREADS;
	l->len--;
	l->holder = w; /* handed over, as a fair lock would */
	woken = now + between(800, 3000);
	r = emit(s, LS_REC_WAKE, woken, t->tid);
	r->wake.addr = l->addr;
	r->wake.wakee = s->t[w].tid;
	r->wake.call_ts = now;
	s->t[w].state = WAKING;
	s->t[w].next = woken + between(200, 2000);
}

static void step(struct sim *s, int i)
{
	struct sim_thread *t = &s->t[i];
	uint64_t now = t->next;

	switch (t->state) {
	case COMPUTE:
		t->lock = pick_lock(s);
		try_lock(s, i, now);
		break;
	case HOLD:
		release(s, i, now);
		break;
	case RETRY:
		emit(s, LS_REC_WAIT_END, now, t->tid)->wait_end.result = LS_WAIT_CHANGED;
		try_lock(s, i, now);
		break;
	case WAKING:
		emit(s, LS_REC_WAIT_END, now, t->tid)->wait_end.result = LS_WAIT_WOKEN;
		begin_hold(t, now);
		break;
	case WAIT:
		break;
	}
}

static void define(struct sim *s)
{
	static const char *const funcs[] = {"worker", "update_stats", "pop_job", "log_line"};
	static uint32_t frame_ids[12][3];
	struct ls_rec *r;

	for (int i = 0; i < s->nthreads; i++) {
		char name[16];

		snprintf(name, sizeof(name), "worker-%d", i);
		r = emit(s, LS_REC_THREAD, 0, s->t[i].tid);
		r->thread.name = strdup(name);
		r->thread.parent = s->t[0].tid;
	}
	for (int i = 0; i < s->nlocks; i++) {
		r = emit(s, LS_REC_LOCK, 0, 0);
		r->lock.addr = s->l[i].addr;
		r->lock.kind = i == 3 ? LS_KIND_RWLOCK : LS_KIND_MUTEX;
		r->lock.name =
		    i == 0 ? "hot_lock" : "heap 0x55d0c1a0 first taken in worker (hot.c:31)";
	}
	for (uint32_t id = 1; id <= 12; id++) {
		for (int f = 0; f < 3; f++) {
			frame_ids[id - 1][f] = 3 * (id - 1) + f + 1;
			r = emit(s, LS_REC_FRAME, 0, 0);
			r->frame.id = frame_ids[id - 1][f];
			r->frame.pc = 0x55d0c0a01000 + 64 * r->frame.id;
			r->frame.func = funcs[(id + f) % 4];
			r->frame.file = "hot.c";
			r->frame.line = 20 + r->frame.id;
			r->frame.module = "hot";
			r->frame.offset = 12;
		}
		r = emit(s, LS_REC_STACK, 0, 0);
		r->stack.id = id;
		r->stack.nframes = 3;
		r->stack.frames = frame_ids[id - 1];
	}
	s->waits = 0;
}

static void simulate(struct sim *s, size_t events)
{
	struct ls_rec *r;
	uint64_t now = 0;

	for (int i = 0; i < s->nthreads; i++) {
		s->t[i] = (struct sim_thread){
		    .tid = 48211 + i, .state = COMPUTE, .next = between(0, 20000)};
	}
	for (int i = 0; i < s->nlocks; i++) {
		s->l[i].addr = i == 2 ? 0x7f3a2c000b70 : 0x55d0c0a04040 + 0x28 * i;
		s->l[i].holder = -1;
	}
	define(s);
	while (s->waits < events) {
		int next = -1;

		for (int i = 0; i < s->nthreads; i++)
			if (s->t[i].state != WAIT && (next < 0 || s->t[i].next < s->t[next].next))
				next = i;
		now = s->t[next].next;
		step(s, next);
	}
	r = emit(s, LS_REC_END, now, 0);
	r->end.duration_ns = now;
	r->end.events = s->written + s->n;
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const struct ls_trace_info info = {
    .pid = 48211, .comm = "hot", .cmdline = "./hot 8 4", .mode = "contention"};

/* Writes the simulated records (all of them, or with S->w set, the last one pending). */
static int write_trace(const char *path, struct sim *s)
{
	int ret;

	if (!s->w)
		s->w = trace_writer__new(path, &info);
	if (!s->w) {
		perror(path);
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		write_rec(s, &s->recs[i]);
	ret = trace_writer__close(s->w) ?: s->err;
	if (ret)
		fprintf(stderr, "trace_bytes: %s: %s\n", path, strerror(-ret));
	return ret;
}

static int read_trace(const char *path, const struct sim *s)
{
	struct trace_reader *r;
	struct ls_rec rec;
	size_t n = 0;
	char err[256];
	int ret;

	r = trace_reader__open(path, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "trace_bytes: %s: %s\n", path, err);
		return -1;
	}
	while ((ret = trace_reader__next(r, &rec)) > 0) {
		if (n >= s->n || rec.type != s->recs[n].type || rec.ts != s->recs[n].ts ||
		    rec.tid != s->recs[n].tid) {
			fprintf(stderr, "trace_bytes: record %zu differs\n", n);
			ret = -1;
			break;
		}
		n++;
	}
	if (!ret && (n != s->n || !trace_reader__complete(r))) {
		fprintf(stderr, "trace_bytes: read %zu of %zu records\n", n, s->n);
		ret = -1;
	}
	trace_reader__free(r);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: trace_bytes [-s] [-n EVENTS] [-t THREADS] [-l LOCKS] [-o FILE]\n"
			"  -s  stream the trace to FILE as it is made (any length, little memory);\n"
			"      no read-back\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static struct sim s = {.nthreads = 8, .nlocks = 4};
	const char *path = "/tmp/trace_bytes.lsz";
	size_t events = 1000000;
	bool stream = false;
	double t0, t1, t2;
	FILE *f;
	long size;
	int opt;

	while ((opt = getopt(argc, argv, "sn:t:l:o:")) != -1) {
		switch (opt) {
		case 's':
			stream = true;
			break;
		case 'n':
			events = strtoul(optarg, NULL, 10);
			break;
		case 't':
			s.nthreads = atoi(optarg);
			break;
		case 'l':
			s.nlocks = atoi(optarg);
			break;
		case 'o':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	if (!events || s.nthreads < 1 || s.nthreads > MAX_THREADS || s.nlocks < 1 ||
	    s.nlocks > MAX_LOCKS)
		usage();
	t0 = seconds();
	if (stream) {
		s.w = trace_writer__new(path, &info);
		if (!s.w) {
			perror(path);
			return 1;
		}
		s.next_flush = 1000000000;
	}
	simulate(&s, events);
	if (!stream)
		t0 = seconds();
	if (write_trace(path, &s))
		return 1;
	t1 = t2 = seconds();
	if (!stream && read_trace(path, &s))
		return 1;
	if (!stream)
		t2 = seconds();
	if (stream) {
		s.n = s.written;
		printf("%d threads, %d locks: %zu records streamed over %.3f s, %zu of them wait "
		       "begin/end/wake\n", s.nthreads, s.nlocks, s.n, s.recs[0].ts / 1e9, s.waits);
	}

	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0) {
		perror(path);
		return 1;
	}
	fclose(f);
	if (!stream)
		printf("%d threads, %d locks: %zu records, %zu of them wait begin/end/wake, over "
		       "%.3f s\n", s.nthreads, s.nlocks, s.n, s.waits, s.recs[s.n - 1].ts / 1e9);
	printf("file     %ld bytes, %.2f bytes/event\n", size, (double)size / s.n);
	printf("write    %.2f M events/s%s\n", s.n / (t1 - t0) / 1e6, stream ? " (with the simulation)" : "");
	if (!stream)
		printf("read     %.2f M events/s\n", s.n / (t2 - t1) / 1e6);
	return 0;
}
