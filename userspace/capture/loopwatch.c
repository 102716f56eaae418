/* loopwatch.c - the recorder's side of event-loop blocking: attaches the busy-block sampler, and
 * reads the BPF `loops` map for blocks that no probe sees (a thread asleep). */
#include "capture/loopwatch.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/bytemap.h"
#include "capture/cpusampler.h"
#include "bpf/events.h"

#define MAX_LOOPS 4096 /* the loops map's max_entries: bounds a scan */
#define MIN_PERIOD_NS 5000000ull

struct loopwatch {
	int loops_fd; /* borrowed */
	uint64_t threshold_ns;
	struct bpf_program *sampler; /* borrowed; attached once the target has a loop */
	bool sampler_tried;
	struct cpusampler *sampling; /* the sampler, attached */
	struct bytemap *taken; /* tid -> gap_start of the block whose stacks are being taken */
	struct bytemap *taken_cls; /* tid -> the off-CPU classes (bits) it was read in */
};

struct loopwatch *loopwatch__new(int loops_fd, struct bpf_program *sampler, uint64_t threshold_ns)
{
	struct loopwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->loops_fd = loops_fd;
	w->sampler = sampler;
	w->threshold_ns = threshold_ns;
	w->taken = bytemap__new();
	w->taken_cls = bytemap__new();
	if (!w->taken || !w->taken_cls) {
		bytemap__free(w->taken);
		bytemap__free(w->taken_cls);
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

/* The sampler runs on every CPU of the machine and keeps each one's timer ticking: it goes in
 * only once the target is seen to run an event loop. Tried once; WHY says what failed. */
static int start_sampler(struct loopwatch *w, char *why, size_t len)
{
	if (w->sampler_tried || !w->sampler)
		return 0;
	w->sampler_tried = true;
	/* it fires twice per threshold: a busy block is caught before it is 1.5 times it */
	w->sampling = cpusampler__attach(w->sampler, w->threshold_ns / 2 > MIN_PERIOD_NS ?
					 w->threshold_ns / 2 : MIN_PERIOD_NS, why, len);
	return !w->sampling && errno == ENOMEM ? -ENOMEM : 0;
}

void loopwatch__free(struct loopwatch *w)
{
	if (!w)
		return;
	cpusampler__free(w->sampling);
	bytemap__free(w->taken);
	bytemap__free(w->taken_cls);
	free(w);
}

/* Calls FN for every loop thread in the map (at most MAX_LOOPS: threads come and go meanwhile,
 * and a vanished key restarts the walk). FN's non-zero return stops the walk and is returned. */
static int each_loop(struct loopwatch *w,
		     int (*fn)(void *arg, uint32_t tid, const struct ls_loop_state *st), void *arg)
{
	int fd = w->loops_fd, err;
	struct ls_loop_state st;
	uint32_t key, next;
	bool first = true;

	for (int i = 0; i < MAX_LOOPS; i++) {
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next))
			break;
		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue; /* exited meanwhile */
		err = fn(arg, key, &st);
		if (err)
			return err;
	}
	return 0;
}

struct scan_ctx {
	struct loopwatch *w;
	uint64_t now;
	int loops;
	int (*fn)(void *arg, uint32_t tid, const struct ls_loop_state *st, uint64_t now);
	void *arg;
};

/* The loop's own time in its gap at NOW, off CPU: the gap without the time spent runnable,
 * waiting for a CPU (events.h). */
static uint64_t own_ns(const struct ls_loop_state *st, uint64_t now)
{
	uint64_t runq = st->off_ns[LS_OFF_RUNQ];

	if (st->off_class == LS_OFF_RUNQ && now > st->off_since)
		runq += now - st->off_since;
	return now > st->gap_start + runq ? now - st->gap_start - runq : 0;
}

/* A block asleep is read once per class of sleep (a sleep, a lock, a call): its stack is then
 * the one of the wait that dominates it, whatever BPF took before (on CPU, or as it left it:
 * from a small copy of the stack). */
static int scan_one(void *arg, uint32_t tid, const struct ls_loop_state *st)
{
	struct scan_ctx *s = arg;
	uint64_t *taken = bytemap__get_u64(s->w->taken, tid);
	uint64_t *cls = bytemap__get_u64(s->w->taken_cls, tid);
	uint64_t bit = 1ull << (st->off_class & 63), mask;
	int ret;

	s->loops += st->polls >= LS_LOOP_MIN_POLLS;
	mask = taken && cls && *taken == st->gap_start ? *cls : 0;
	if (!st->gap_start || st->poll_since || !st->off_since || st->polls < LS_LOOP_MIN_POLLS ||
	    (mask & bit) || (st->off_class == LS_OFF_RUNQ && st->sampled == st->gap_start) ||
	    s->now < st->gap_start + s->w->threshold_ns ||
	    own_ns(st, s->now) < s->w->threshold_ns / LS_LOOP_OWN_DIV)
		return 0;
	ret = s->fn(s->arg, tid, st, s->now);
	if (ret < 0)
		return ret;
	if (ret > 0 && (bytemap__put_u64(s->w->taken, tid, st->gap_start) ||
			bytemap__put_u64(s->w->taken_cls, tid, mask | bit)))
		return -ENOMEM;
	return 0;
}

int loopwatch__scan(struct loopwatch *w, uint64_t now,
		    int (*fn)(void *arg, uint32_t tid, const struct ls_loop_state *st,
			      uint64_t now),
		    void *arg, char *why, size_t why_len)
{
	struct scan_ctx s = {.w = w, .now = now, .fn = fn, .arg = arg};
	int err = each_loop(w, scan_one, &s);

	if (!err && s.loops)
		err = start_sampler(w, why, why_len);
	return err ? err : s.loops;
}
