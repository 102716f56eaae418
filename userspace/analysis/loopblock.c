/* loopblock.c - event-loop blocks from the trace: pairs each block with the stack sampled while it
 * lasted, judges its cause from where its time went, and closes blocks still open at the end. */
#include "analysis/loopblock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace/model.h"
#include "util/bytemap.h"
#include "util/common.h"
#include "util/json.h"

#define TEXT_BLOCKS 10 /* blocks listed in text, the longest */
#define TEXT_FRAMES 12

/* The samples of a block in progress, per thread, until the block ends. */
struct pending {
	uint64_t ts;	    /* when the first was taken */
	struct ls_rec rec;  /* the first LOOP_SAMPLE */
	struct ls_rec last; /* the latest: the figures of a block still open */
	/* the first stack taken in each class of where the thread was, the recorder's own read (a
	 * whole copy of the stack) before BPF's (a small one, as the thread left the CPU) */
	uint32_t stack[LOOP_CAUSE__COUNT];
	bool read[LOOP_CAUSE__COUNT];
	bool live;
	uint64_t last_end; /* where the thread's last block ended: a sample of a gap that
			    * began before it arrived late, and is no block in progress */
};

struct loopblock {
	struct loop_block *blocks;
	size_t n, cap;
	struct bytemap *by_tid; /* tid -> index in pend */
	struct pending *pend;
	size_t npend, pend_cap;
};

struct loopblock *loopblock__new(void)
{
	struct loopblock *lb = calloc(1, sizeof(*lb));

	if (!lb)
		return NULL;
	lb->by_tid = bytemap__new();
	if (!lb->by_tid) {
		free(lb);
		errno = ENOMEM;
		return NULL;
	}
	return lb;
}

void loopblock__free(struct loopblock *lb)
{
	if (!lb)
		return;
	bytemap__free(lb->by_tid);
	free(lb->pend);
	free(lb->blocks);
	free(lb);
}

enum loop_cause loopblock__cause(uint64_t duration_ns, uint64_t on_cpu_ns, const uint64_t *off_ns)
{
	uint64_t share[LOOP_CAUSE__COUNT] = {
	    [LOOP_CAUSE_SLEEP] = off_ns[LS_LOOP_SLEEP],
	    [LOOP_CAUSE_CPU] = on_cpu_ns + off_ns[LS_LOOP_RUNQ],
	    [LOOP_CAUSE_LOCK] = off_ns[LS_LOOP_LOCK],
	    [LOOP_CAUSE_IO] = off_ns[LS_LOOP_IO],
	    [LOOP_CAUSE_OTHER] = off_ns[LS_LOOP_OTHER],
	};
	enum loop_cause best = LOOP_CAUSE_OTHER;

	(void)duration_ns; /* the shares need not add up to it: the largest one speaks */
	for (int c = 0; c < LOOP_CAUSE__COUNT; c++)
		if (share[c] > share[best])
			best = c;
	return best;
}

const char *loopblock__cause_name(enum loop_cause cause)
{
	static const char *const names[] = {"sleep", "cpu", "lock", "io", "other"};

	_Static_assert(ARRAY_SIZE(names) == LOOP_CAUSE__COUNT, "a cause without a name");
	return (unsigned int)cause < LOOP_CAUSE__COUNT ? names[cause] : "other";
}

static struct pending *pending_of(struct loopblock *lb, uint32_t tid, bool create)
{
	uint64_t *i = bytemap__get_u64(lb->by_tid, tid);

	if (i)
		return &lb->pend[*i];
	if (!create || ls_reserve(&lb->pend, &lb->pend_cap, lb->npend + 1, sizeof(*lb->pend)) ||
	    bytemap__put_u64(lb->by_tid, tid, lb->npend))
		return NULL;
	memset(&lb->pend[lb->npend], 0, sizeof(*lb->pend));
	return &lb->pend[lb->npend++];
}

/* The cause a sample's stack speaks for: where the thread was when it was taken. */
static enum loop_cause sample_cause(const struct ls_rec *rec)
{
	switch (rec->loop.cls) {
	case LS_LOOP_RUNNING:
	case LS_LOOP_RUNQ:
		return LOOP_CAUSE_CPU;
	case LS_LOOP_SLEEP:
		return LOOP_CAUSE_SLEEP;
	case LS_LOOP_LOCK:
		return LOOP_CAUSE_LOCK;
	case LS_LOOP_IO:
		return LOOP_CAUSE_IO;
	case LS_LOOP_OTHER:
		return LOOP_CAUSE_OTHER;
	default:
		return rec->loop.on_cpu ? LOOP_CAUSE_CPU : LOOP_CAUSE__COUNT;
	}
}

/* The stack of a block of CAUSE: one taken where its main cause kept it (not a shorter wait
 * before it), else the first one taken. */
static uint32_t pick_stack(const struct pending *p, enum loop_cause cause)
{
	if (cause < LOOP_CAUSE__COUNT && p->stack[cause])
		return p->stack[cause];
	if (p->rec.loop.stack_id)
		return p->rec.loop.stack_id;
	for (int c = 0; c < LOOP_CAUSE__COUNT; c++)
		if (p->stack[c])
			return p->stack[c];
	return 0;
}

/* B: the block of a LOOP_BLOCK record, or of the sample of one still open at END_TS. */
static void fill_block(struct loop_block *b, const struct ls_rec *rec, uint64_t end_ts,
		       uint32_t stack_id, bool open)
{
	memset(b, 0, sizeof(*b));
	b->tid = rec->tid;
	b->start_ns = rec->loop.start;
	b->duration_ns = end_ts > rec->loop.start ? end_ts - rec->loop.start : 0;
	b->on_cpu_ns = rec->loop.on_cpu_ns;
	memcpy(b->off_ns, rec->loop.off_ns, sizeof(b->off_ns));
	/* an open block's figures go up to its sample */
	b->cause = loopblock__cause(rec->ts - rec->loop.start, b->on_cpu_ns, b->off_ns);
	b->stack_id = stack_id;
	b->open = open;
}

/* P: the block's samples, NULL if none was taken. */
static int add_block(struct loopblock *lb, const struct ls_rec *rec, uint64_t end_ts,
		     const struct pending *p, bool open)
{
	struct loop_block *b;

	if (ls_reserve(&lb->blocks, &lb->cap, lb->n + 1, sizeof(*lb->blocks)))
		return -ENOMEM;
	b = &lb->blocks[lb->n++];
	fill_block(b, rec, end_ts, 0, open);
	if (p)
		b->stack_id = pick_stack(p, b->cause);
	return 0;
}

size_t loopblock__in_progress(const struct loopblock *lb, uint64_t now, struct loop_block *out,
			      size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < lb->npend && n < max; i++) {
		const struct pending *p = &lb->pend[i];

		if (!p->live)
			continue;
		fill_block(&out[n], &p->last, now, 0, true);
		out[n].start_ns = p->rec.loop.start;
		out[n].stack_id = pick_stack(p, out[n].cause);
		n++;
	}
	return n;
}

static int on_sample(struct loopblock *lb, const struct ls_rec *rec)
{
	struct pending *p = pending_of(lb, rec->tid, true);

	if (!p)
		return -ENOMEM;
	enum loop_cause c = sample_cause(rec);

	if (rec->loop.start < p->last_end)
		return 0;
	if (!p->live || p->rec.loop.start != rec->loop.start) {
		p->live = true;
		p->ts = rec->ts;
		p->rec = *rec;
		memset(p->stack, 0, sizeof(p->stack));
		memset(p->read, 0, sizeof(p->read));
	}
	p->last = *rec;
	if (c < LOOP_CAUSE__COUNT && rec->loop.stack_id &&
	    (!p->stack[c] || (!p->read[c] && !rec->loop.on_cpu))) {
		p->stack[c] = rec->loop.stack_id;
		p->read[c] = !rec->loop.on_cpu;
	}
	return 0;
}

static int on_block(struct loopblock *lb, const struct ls_rec *rec)
{
	struct pending *p = pending_of(lb, rec->tid, true);

	if (!p)
		return -ENOMEM;
	p->last_end = rec->ts;
	if (p->live && p->rec.loop.start == rec->loop.start) {
		p->live = false;
		return add_block(lb, rec, rec->ts, p, false);
	}
	/* a sample of an earlier gap is over too: the thread has polled since */
	if (p->live && p->rec.loop.start < rec->loop.start)
		p->live = false;
	return add_block(lb, rec, rec->ts, NULL, false);
}

/* TID (0: every thread) exited at TS: a block in progress ends there if a signal killed it (a
 * launched command is killed when the recording stops), else the loop ended and was not blocked.
 * SIGNALED: what the exit code says. */
static int on_loop_exit(struct loopblock *lb, uint32_t tid, uint64_t ts, bool signaled)
{
	for (size_t i = 0; i < lb->npend; i++) {
		struct pending *p = &lb->pend[i];
		int err;

		if (!p->live || (tid && p->rec.tid != tid))
			continue;
		p->live = false;
		err = signaled ? add_block(lb, &p->last, ts, p, true) : 0;
		if (err)
			return err;
	}
	return 0;
}

int loopblock__feed(struct loopblock *lb, const struct ls_rec *rec)
{
	switch (rec->type) {
	case LS_REC_LOOP_SAMPLE:
		return on_sample(lb, rec);
	case LS_REC_LOOP_BLOCK:
		return on_block(lb, rec);
	case LS_REC_THREAD_EXIT:
		/* the kernel's exit code: a signal number in the low 7 bits */
		return on_loop_exit(lb, rec->tid, rec->ts, (rec->exit.code & 0x7f) != 0);
	case LS_REC_PROC_EXIT:
		/* waitpid's status as the recorder stores it: 128 + the signal */
		return on_loop_exit(lb, 0, rec->ts, rec->exit.code > 128);
	default:
		return 0;
	}
}

static int by_start(const void *pa, const void *pb)
{
	const struct loop_block *a = pa, *b = pb;

	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

int loopblock__finish(struct loopblock *lb, uint64_t end_ts)
{
	for (size_t i = 0; i < lb->npend; i++) {
		struct pending *p = &lb->pend[i];
		int err;

		if (!p->live)
			continue;
		p->live = false;
		err = add_block(lb, &p->last, end_ts, p, true);
		if (err)
			return err;
	}
	if (lb->n)
		qsort(lb->blocks, lb->n, sizeof(*lb->blocks), by_start);
	return 0;
}

size_t loopblock__count(const struct loopblock *lb)
{
	return lb->n;
}

const struct loop_block *loopblock__get(const struct loopblock *lb, size_t i)
{
	return i < lb->n ? &lb->blocks[i] : NULL;
}

void loopblock__json(const struct loopblock *lb, const struct model *m, struct json_writer *w)
{
	static const char *const off_names[] = {"sleep", "lock", "io", "runq", "other"};

	_Static_assert(ARRAY_SIZE(off_names) == LS_LOOP_OFF__COUNT,
		       "an off-CPU class without name");
	json_writer__array_begin(w);
	for (size_t i = 0; i < lb->n; i++) {
		const struct loop_block *b = &lb->blocks[i];
		const char *name = model__thread_name(m, b->tid);

		json_writer__object_begin(w);
		json_writer__key_u64(w, "tid", b->tid);
		json_writer__key_u64(w, "start_ns", b->start_ns);
		json_writer__key_u64(w, "duration_ns", b->duration_ns);
		json_writer__key(w, "cause");
		json_writer__string(w, loopblock__cause_name(b->cause));
		json_writer__key_u64(w, "on_cpu_ns", b->on_cpu_ns);
		json_writer__key(w, "stack");
		model__stack_json(m, b->stack_id, w);
		json_writer__key(w, "thread");
		json_writer__string(w, name ? name : "");
		json_writer__key(w, "open");
		json_writer__bool(w, b->open);
		json_writer__key(w, "off_cpu_ns");
		json_writer__object_begin(w);
		for (int c = 0; c < LS_LOOP_OFF__COUNT; c++)
			json_writer__key_u64(w, off_names[c], b->off_ns[c]);
		json_writer__object_end(w);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
}

static int by_duration(const void *pa, const void *pb)
{
	const struct loop_block *a = *(const struct loop_block *const *)pa;
	const struct loop_block *b = *(const struct loop_block *const *)pb;

	if (a->duration_ns != b->duration_ns)
		return a->duration_ns > b->duration_ns ? -1 : 1;
	return by_start(a, b);
}

void loopblock__text(const struct loopblock *lb, const struct model *m, FILE *out)
{
	const struct loop_block **top;
	uint64_t total = 0;
	size_t shown, unsampled = 0;
	char who[128];

	if (!lb->n) {
		fputs("No event-loop blocking.\n\n", out);
		return;
	}
	top = malloc(lb->n * sizeof(*top));
	for (size_t i = 0; i < lb->n; i++) {
		total += lb->blocks[i].duration_ns;
		unsampled += !lb->blocks[i].stack_id;
		if (top)
			top[i] = &lb->blocks[i];
	}
	fprintf(out, "Event-loop blocking: %zu %s, %.1f ms in all", lb->n,
		lb->n == 1 ? "block" : "blocks", total / 1e6);
	/* a stack is taken while a block lasts: one that ended soon after the threshold, before
	 * the sampler's or the recorder's next look, has none */
	if (unsampled)
		fprintf(out, "; %zu without a stack (over before one was taken)", unsampled);
	fputs("\n\n", out);
	if (!top)
		return;
	qsort(top, lb->n, sizeof(*top), by_duration);
	shown = lb->n < TEXT_BLOCKS ? lb->n : TEXT_BLOCKS;
	for (size_t i = 0; i < shown; i++) {
		const struct loop_block *b = top[i];

		fprintf(out, "  %8.1f ms  %-5s  at %.3f s, thread %s, on CPU %.1f ms%s\n",
			b->duration_ns / 1e6, loopblock__cause_name(b->cause), b->start_ns / 1e9,
			model__thread_label_of(m, b->tid, who, sizeof(who)), b->on_cpu_ns / 1e6,
			b->open ? ", still blocked when recording ended" : "");
		model__stack_text(m, b->stack_id, "        ", TEXT_FRAMES, out);
	}
	if (shown < lb->n)
		fprintf(out, "  ... and %zu shorter %s\n", lb->n - shown,
			lb->n - shown == 1 ? "block" : "blocks");
	fputc('\n', out);
	free(top);
}
