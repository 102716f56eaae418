/* procset.c - the processes of one recording: a collector for each, sharing one trace, and the
 * events of the BPF side routed to the collector of the process of their thread. */
#include "capture/procset.h"

#include <errno.h>
#include <stdlib.h>

#include "bpf/events.h"
#include "capture/collector.h"
#include "trace/trace.h"
#include "util/bytemap.h"
#include "util/common.h"
#include "util/privs.h"

/* The tid map's value for the threads of a process that was gone before it could be read:
 * their events have nothing to be named with, and go (counted). */
#define GONE UINT64_MAX

struct procset {
	struct collector **cols;	/* [0]: the primary, borrowed; the rest owned */
	size_t n, cap;
	struct bytemap *tids;		/* tid -> index in cols + 1, or GONE */
	struct trace_writer *w;
	uint64_t start_mono;
	void (*setup)(void *arg, struct collector *c);
	void *arg;
	uint64_t unread, unplaced, dropped;
};

struct map_arg {
	struct procset *s;
	uint64_t val;
};

static int map_thread(void *arg, pid_t tid)
{
	struct map_arg *m = arg;

	return bytemap__put_u64(m->s->tids, (uint64_t)tid, m->val);
}

struct procset *procset__new(struct collector *primary, struct trace_writer *w,
			     uint64_t start_mono, void (*setup)(void *arg, struct collector *c),
			     void *arg)
{
	struct procset *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tids = bytemap__new();
	if (!s->tids || ls_reserve(&s->cols, &s->cap, 1, sizeof(*s->cols))) {
		procset__free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->cols[s->n++] = primary;
	/* its threads now, so that one gone from /proc by the time its last events are handled
	 * (its exit) is still placed; later ones come with their clone */
	ls_each_thread(collector__tgid(primary), map_thread, &(struct map_arg){s, 1});
	s->w = w;
	s->start_mono = start_mono;
	s->setup = setup;
	s->arg = arg;
	return s;
}

void procset__free(struct procset *s)
{
	if (!s)
		return;
	for (size_t i = 1; i < s->n; i++)
		collector__free(s->cols[i]);
	free(s->cols);
	bytemap__free(s->tids);
	free(s);
}

/* The latest process PID (a pid may be reused by a later one). */
static size_t index_of(const struct procset *s, pid_t pid)
{
	for (size_t i = s->n; i-- > 0;)
		if (collector__tgid(s->cols[i]) == pid)
			return i;
	return s->n;
}

/* A collector for PID; FRESH: even if the set has one (that process ended, its pid is reused). */
static struct collector *add(struct procset *s, pid_t pid, pid_t reader, bool fresh)
{
	struct map_arg m = {.s = s};
	size_t i = index_of(s, pid);
	struct collector *c;
	int err;

	if (i < s->n && !fresh)
		return s->cols[i];
	if (s->n > LS_PROC_KEY_MAX) {
		errno = ENOSPC;
		return NULL;
	}
	if (ls_reserve(&s->cols, &s->cap, s->n + 1, sizeof(*s->cols)))
		return NULL;
	c = collector__new(reader, s->w, s->start_mono);
	if (!c)
		return NULL;
	collector__share_ids(c, s->cols[0], (uint32_t)s->n);
	if (s->setup)
		s->setup(s->arg, c);
	/* its objects' symbols and CFI now, while they are mapped */
	err = collector__load_objects(c) ?: collector__describe(c);
	if (err) {
		collector__free(c);
		errno = -err;
		return NULL;
	}
	collector__python_look(c, true);	/* a forked CPython: its frames are read too */
	s->cols[s->n++] = c;
	m.val = s->n;
	/* the threads it has now; later ones come with their clone */
	ls_each_thread(reader, map_thread, &m);
	return c;
}

struct collector *procset__add(struct procset *s, pid_t pid, pid_t reader)
{
	return add(s, pid, reader, false);
}

struct collector *procset__of(struct procset *s, uint32_t tid)
{
	uint64_t *known = bytemap__get_u64(s->tids, tid);
	pid_t pid;
	size_t i;

	if (known)
		return *known == GONE ? NULL : s->cols[*known - 1];
	if (s->n == 1)
		return s->cols[0];
	/* a thread the set has not seen: a process's leader is its own pid, even once it is gone
	 * from /proc (its exit); another, by what /proc says of it */
	i = index_of(s, (pid_t)tid);
	if (i == s->n) {
		pid = ls_tgid_of((pid_t)tid);
		i = pid > 0 ? index_of(s, pid) : s->n;
	}
	if (i == s->n) {
		s->unplaced++;
		return s->cols[0];
	}
	bytemap__put_u64(s->tids, tid, i + 1);
	return s->cols[i];
}

/* A process a target started (fork), followed: a collector for it, its threads' events to it. */
static struct collector *started(struct procset *s, uint32_t pid)
{
	struct collector *c = add(s, (pid_t)pid, (pid_t)pid, true);

	if (c)
		return c;
	/* gone already (a short-lived child), or too many: its events cannot be named */
	s->unread++;
	bytemap__put_u64(s->tids, pid, GONE);
	return NULL;
}

int procset__handle(struct procset *s, const void *data, size_t size)
{
	const struct ls_ev_hdr *h = data;
	const struct ls_ev_thread *t = data;
	struct collector *c;

	if (size < sizeof(*h))
		return collector__handle(s->cols[0], data, size);	/* counted there */
	if (h->type == LS_EV_THREAD_NEW && size >= sizeof(*t) && t->new_proc) {
		c = started(s, h->tid);
	} else if (h->type == LS_EV_THREAD_NEW && size >= sizeof(*t)) {
		/* a thread of its creator's process, mapped even while the primary is the only
		 * one: it may be gone from /proc when the first child is followed */
		c = procset__of(s, t->parent);
		for (size_t i = 0; c && i < s->n; i++)
			if (s->cols[i] == c && bytemap__put_u64(s->tids, h->tid, i + 1))
				return -ENOMEM;
	} else {
		c = procset__of(s, h->tid);
	}
	if (!c) {
		s->dropped++;
		return 0;
	}
	return collector__handle(c, data, size);
}

struct collector *procset__at(const struct procset *s, size_t i)
{
	return i < s->n ? s->cols[i] : NULL;
}

uint64_t procset__unread(const struct procset *s)
{
	return s->unread;
}

uint64_t procset__unplaced(const struct procset *s)
{
	return s->unplaced;
}

uint64_t procset__dropped(const struct procset *s)
{
	return s->dropped;
}
