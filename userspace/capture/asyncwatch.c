/* asyncwatch.c - finds asyncio deadlocks while recording: event loops asleep in their poll call,
 * judged from /proc, then the tasks read by the same code as `dump` (pyasync.c). */
#include "capture/asyncwatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/blocked.h"
#include "util/bytemap.h"
#include "capture/collector.h"
#include "util/common.h"
#include "python/pyasync.h"
#include "trace/trace.h"

#define SCAN_NS 1000000000ull	/* all threads are looked over this often */

_Static_assert(LS_TASK_CYCLE_MAX >= PYASYNC_MAX_CYCLE, "a cycle pyasync finds fits a record");
_Static_assert(LS_TASK_HOLDS_MAX == 16, "the counter's name says 16");

/* A thread seen asleep in a poll call, not switched since SINCE. */
struct loop_sleep {
	pid_t tid;		/* 0: it left the call; the slot is dropped */
	uint64_t switches;	/* voluntary + involuntary context switches when first seen */
	uint64_t since;
	bool idle;		/* the threshold passed: an idle loop (or an idle poller) */
	bool read;		/* the tasks were read during this stretch */
};

struct asyncwatch {
	pid_t pid;
	uint64_t threshold_ns;
	struct loop_sleep *sleeps;
	size_t nsleeps, sleeps_cap;
	uint64_t next_scan;
	struct bytemap *reported;	/* a cycle's sorted task addresses -> its id */
	uint32_t ncycles;
	uint64_t read_failures;
	uint64_t holds_cut;		/* held locks past LS_TASK_HOLDS_MAX, left out */
};

struct asyncwatch *asyncwatch__new(pid_t pid, uint64_t threshold_ns)
{
	struct asyncwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->pid = pid;
	w->threshold_ns = threshold_ns;
	w->reported = bytemap__new();
	if (!w->reported) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

void asyncwatch__free(struct asyncwatch *w)
{
	if (!w)
		return;
	bytemap__free(w->reported);
	free(w->sleeps);
	free(w);
}

/* True if TID sits in a poll call now; *SWITCHES gets its context switches so far. */
static bool in_poll(pid_t pid, pid_t tid, uint64_t *switches)
{
	char line[256], path[64];
	struct blocked_sys s;
	unsigned long long n;
	FILE *f;

	if (blocked__syscall_line(pid, tid, line, sizeof(line)) ||
	    blocked__parse_syscall(line, &s) || !blocked__polls(&s))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	*switches = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &n) == 1)
			*switches += n;
	fclose(f);
	return true;
}

/* The one judgement: has S's thread sat in its poll call, not switched, for longer than the
 * threshold as of NOW? From /proc: the system call it sleeps in and its context switches, seen
 * the same at two looks the threshold apart. Not from the BPF side's loop state: a loop that
 * went idle before recording began (attached to a program already hung) has none.
 * Updates S: a new stretch when it switched, tid 0 when it left the call. */
static bool loop_idle(struct asyncwatch *w, struct loop_sleep *s, uint64_t now)
{
	uint64_t switches;

	if (!in_poll(w->pid, s->tid, &switches)) {
		s->tid = 0;
		return false;
	}
	if (switches != s->switches) {
		*s = (struct loop_sleep){.tid = s->tid, .switches = switches, .since = now};
		return false;
	}
	return now - s->since >= w->threshold_ns;
}

static struct loop_sleep *find_sleep(struct asyncwatch *w, pid_t tid)
{
	for (size_t i = 0; i < w->nsleeps; i++)
		if (w->sleeps[i].tid == tid)
			return &w->sleeps[i];
	return NULL;
}

struct scan {
	struct asyncwatch *w;
	uint64_t now;
};

/* A thread not known to sleep: added if it sleeps in a poll call. */
static int add_sleeper(void *arg, pid_t tid)
{
	struct scan *sc = arg;
	struct asyncwatch *w = sc->w;
	uint64_t switches;

	if (find_sleep(w, tid) || !in_poll(w->pid, tid, &switches))
		return 0;
	if (ls_reserve(&w->sleeps, &w->sleeps_cap, w->nsleeps + 1, sizeof(*w->sleeps)))
		return -ENOMEM;
	w->sleeps[w->nsleeps++] = (struct loop_sleep){tid, switches, sc->now, false, false};
	return 0;
}

/* Looks over every thread: new sleepers are added, known ones judged again. A process whose
 * threads cannot be listed (gone) has none to add. */
static int scan(struct asyncwatch *w, uint64_t now)
{
	struct scan sc = {.w = w, .now = now};
	int err;

	for (size_t i = 0; i < w->nsleeps; i++)
		w->sleeps[i].idle = loop_idle(w, &w->sleeps[i], now);
	err = ls_each_thread(w->pid, add_sleeper, &sc);
	return err == -ENOMEM ? err : 0;
}

static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

/* *IDLE: every task of CY runs on a loop seen idle, and these tasks were not reported before
 * (they are remembered as reported now). 0 or -ENOMEM. */
static int cycle_idle(struct asyncwatch *w, const struct pyasync *a,
		      const struct pyasync_cycle *cy, bool *idle)
{
	uint64_t key[PYASYNC_MAX_CYCLE];

	*idle = false;
	for (size_t i = 0; i < cy->n; i++) {
		const struct pyasync_task *t = &a->tasks[cy->members[i]];
		const struct loop_sleep *s = t->tid ? find_sleep(w, t->tid) : NULL;

		if (!s || !s->idle)
			return 0;
		key[i] = t->addr;
	}
	qsort(key, cy->n, sizeof(*key), cmp_u64);
	if (bytemap__get(w->reported, key, cy->n * sizeof(*key)))
		return 0;
	*idle = true;
	return bytemap__put(w->reported, key, cy->n * sizeof(*key), w->ncycles + 1);
}

/* Writes one cycle: a TASK_WAIT per task, in the cycle's order, with its chain as a stack. */
static int write_cycle(struct asyncwatch *w, struct collector *c, const struct pyasync *a,
		       const struct pyasync_cycle *cy, uint64_t ts)
{
	const char *holds[LS_TASK_HOLDS_MAX];
	uint32_t id = ++w->ncycles;
	int err = 0;

	for (size_t i = 0; !err && i < cy->n; i++) {
		const struct pyasync_task *t = &a->tasks[cy->members[i]];
		struct ls_rec r = {.type = LS_REC_TASK_WAIT, .ts = ts, .tid = t->tid};
		struct ls_task_wait *tw = &r.task_wait;

		err = collector__task_stack(c, t->frames, t->nframes, &tw->stack_id);
		tw->cycle = id;
		tw->ntasks = cy->n;
		tw->index = i;
		tw->task = t->addr;
		tw->name = t->name ? t->name : "";
		tw->coro = t->coro ? t->coro : "";
		tw->waits_for = a->locks[cy->locks[i]].name;
		for (size_t k = 0; k < t->nholds && tw->nholds < LS_TASK_HOLDS_MAX; k++)
			holds[tw->nholds++] = a->locks[t->holds[k]].name;
		tw->holds = holds;
		w->holds_cut += t->nholds - tw->nholds;
		err = err ?: collector__task_wait(c, &r);
	}
	if (!err && w->holds_cut)
		err = collector__count(c, "asyncio: held locks past 16 a task", w->holds_cut);
	return err;
}

/* Reads the tasks and writes the cycles among tasks of idle loops not reported before. */
static int read_tasks(struct asyncwatch *w, struct collector *c, struct pyreader *py,
		      uint64_t ts, unsigned *found)
{
	uint64_t t0 = ls_mono_ns();
	struct py_thread *th = NULL;
	struct pyasync *a = NULL;
	size_t nth = 0;
	int err = 0;

	if (pyreader__threads(py, &th, &nth) || pyasync__read(py, th, nth, NULL, 0, &a, NULL, 0)) {
		w->read_failures++;
		err = collector__count(c, "asyncio: task reads failed", w->read_failures);
		goto cleanup;
	}
	if (getenv("LOCKSCOPE_DEBUG"))
		fprintf(stderr, "lockscope: debug: asyncio: a loop is idle: %zu tasks, %zu cycles "
			"read in %.2f ms\n", a->ntasks, a->ncycles, (ls_mono_ns() - t0) / 1e6);
	for (size_t i = 0; !err && i < a->ncycles; i++) {
		const struct pyasync_cycle *cy = &a->cycles[i];
		bool idle;

		if (!cy->among_tasks)
			continue;
		err = cycle_idle(w, a, cy, &idle);
		if (!err && idle) {
			err = write_cycle(w, c, a, cy, ts);
			++*found;
		}
	}
cleanup:
	pyasync__free(a);
	pyreader__threads_free(th, nth);
	return err;
}

int asyncwatch__check(struct asyncwatch *w, struct collector *c, uint64_t now, uint64_t start,
		      unsigned *found)
{
	struct pyreader *py = collector__pyreader(c);
	bool want = false;
	size_t k = 0;
	int err = 0;

	*found = 0;
	if (!py)
		return 0;
	if (now >= w->next_scan) {
		err = scan(w, now);
		w->next_scan = now + SCAN_NS;
	}
	/* between scans only the sleepers still to be read are looked at, once due */
	for (size_t i = 0; i < w->nsleeps; i++) {
		struct loop_sleep *s = &w->sleeps[i];

		if (!s->read && !s->idle && now - s->since >= w->threshold_ns)
			s->idle = loop_idle(w, s, now);
		want |= s->idle && !s->read;
	}
	if (!err && want) {
		err = read_tasks(w, c, py, now - start, found);
		for (size_t i = 0; i < w->nsleeps; i++)
			w->sleeps[i].read |= w->sleeps[i].idle;
	}
	for (size_t i = 0; i < w->nsleeps; i++)
		if (w->sleeps[i].tid)
			w->sleeps[k++] = w->sleeps[i];
	w->nsleeps = k;
	return err;
}
