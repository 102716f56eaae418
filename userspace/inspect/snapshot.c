/* snapshot.c - the dump's model: threads, waits, holders, deadlocks, and its JSON and text. The
 * waits-for cycles come from deadlock.c, fed the snapshot as records that were open at attach. */
#include "inspect/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "inspect/blocked.h"
#include "util/common.h"
#include "analysis/deadlock.h"
#include "util/json.h"
#include "trace/model.h"
#include "python/pyasync.h"
#include "trace/trace.h"

#define TEXT_FRAMES 24 /* frames shown per stack in text */

struct holder {
	uint64_t lock;
	uint32_t tid;
	bool inferred;
	bool torn; /* named by the wait of a thread that moved: shown, not analysed */
};

struct snapshot {
	uint32_t pid;
	char *comm, *cmdline;
	struct model *m;
	struct snapshot_thread *threads;
	size_t n, cap;
	struct holder *holders;
	size_t nholders, holders_cap;
	struct deadlock *dl; /* after snapshot__analyse */
	uint32_t stopped_threads;
	uint64_t stopped_ns;
	uint32_t threads_gone, stacks_missing;
	struct pyasync *async;		/* asyncio tasks, or NULL */
	struct py_thread *pythreads;	/* what async was read over */
	size_t npythreads;
};

struct snapshot *snapshot__new(uint32_t pid, const char *comm, const char *cmdline)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pid = pid;
	s->comm = strdup(comm);
	s->cmdline = strdup(cmdline);
	s->m = model__new();
	if (!s->comm || !s->cmdline || !s->m) {
		snapshot__free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void snapshot__free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->threads[i].comm);
	free(s->threads);
	free(s->holders);
	pyasync__free(s->async);
	pyreader__threads_free(s->pythreads, s->npythreads);
	deadlock__free(s->dl);
	model__free(s->m);
	free(s->cmdline);
	free(s->comm);
	free(s);
}

/* ---- building ---- */

static struct snapshot_thread *thread_find(const struct snapshot *s, uint32_t tid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

static struct snapshot_thread *thread_get(struct snapshot *s, uint32_t tid)
{
	struct snapshot_thread *t = thread_find(s, tid);

	if (t)
		return t;
	if (ls_reserve(&s->threads, &s->cap, s->n + 1, sizeof(*s->threads)))
		return NULL;
	t = &s->threads[s->n++];
	*t = (struct snapshot_thread){.tid = tid, .state = '?', .nr = SNAPSHOT_NO_CALL};
	return t;
}

int snapshot__feed(void *arg, const struct ls_rec *rec)
{
	struct snapshot *s = arg;
	struct snapshot_thread *t;

	/* a CPython lock held when the dump began, from an open `with` block: the collector's
	 * inference, as record writes it */
	if (rec->type == LS_REC_ACQUIRE)
		return model__feed(s->m, rec) ?:
		       snapshot__add_holder(s, rec->tid, rec->acquire.addr,
					    rec->acquire.flags & LS_ACQ_INFERRED);
	if (rec->type != LS_REC_WAIT_BEGIN)
		return model__feed(s->m, rec);
	t = thread_get(s, rec->tid);
	if (!t)
		return -ENOMEM;
	t->waiting = true;
	t->wait_kind = rec->wait_begin.kind;
	t->wait_addr = rec->wait_begin.addr;
	t->owner = rec->wait_begin.owner;
	t->stack_id = rec->wait_begin.stack_id;
	return 0;
}

void snapshot__set_asyncio(struct snapshot *s, struct pyasync *a, struct py_thread *threads,
			   size_t nthreads)
{
	pyasync__free(s->async);
	pyreader__threads_free(s->pythreads, s->npythreads);
	s->async = a;
	s->pythreads = threads;
	s->npythreads = nthreads;
}

int snapshot__thread(struct snapshot *s, uint32_t tid, char state, long nr, uint64_t arg1,
		     uint32_t stack_id, bool stopped, const char *comm)
{
	struct snapshot_thread *t = thread_get(s, tid);

	if (!t)
		return -ENOMEM;
	t->state = state;
	t->nr = nr;
	t->arg1 = arg1;
	t->stopped = stopped;
	if (stack_id)
		t->stack_id = stack_id;
	if (comm && !t->comm && !(t->comm = strdup(comm)))
		return -ENOMEM;
	return 0;
}

void snapshot__drop_wait(struct snapshot *s, uint32_t tid)
{
	struct snapshot_thread *t = thread_find(s, tid);

	if (!t)
		return;
	t->waiting = false;
	t->owner = 0;
	t->stack_id = 0;
}

void snapshot__moved(struct snapshot *s, uint32_t tid)
{
	struct snapshot_thread *t = thread_find(s, tid);

	if (t)
		t->moved = true;
}

static int holder_add(struct snapshot *s, uint32_t tid, uint64_t lock, bool inferred, bool torn)
{
	for (size_t i = 0; i < s->nholders; i++) {
		struct holder *h = &s->holders[i];

		if (h->lock == lock && h->tid == tid) {
			h->torn &= torn;
			return 0;
		}
	}
	if (ls_reserve(&s->holders, &s->holders_cap, s->nholders + 1, sizeof(*s->holders)))
		return -ENOMEM;
	s->holders[s->nholders++] = (struct holder){lock, tid, inferred, torn};
	return 0;
}

int snapshot__add_holder(struct snapshot *s, uint32_t tid, uint64_t lock, bool inferred)
{
	return holder_add(s, tid, lock, inferred, false);
}

void snapshot__set_stopped(struct snapshot *s, uint32_t threads, uint64_t ns)
{
	s->stopped_threads = threads;
	s->stopped_ns = ns;
}

void snapshot__count_lost(struct snapshot *s, uint32_t threads_gone, uint32_t stacks_missing)
{
	s->threads_gone += threads_gone;
	s->stacks_missing += stacks_missing;
}

static int by_tid(const void *a, const void *b)
{
	const struct snapshot_thread *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* The snapshot as records that were all open when it was taken: every hold first (an ACQUIRE
 * ends its thread's wait), then every wait of a thread that slept throughout. Cycles need no
 * confirming delay: their threads did not run between the first read and the last, so their
 * waits and owners are of one moment, and stay as they are. */
static int find_deadlocks(struct snapshot *s)
{
	struct ls_rec r;
	int err = 0;

	s->dl = deadlock__new(0);
	if (!s->dl)
		return -ENOMEM;
	for (size_t i = 0; !err && i < s->nholders; i++) {
		if (s->holders[i].torn)
			continue;
		r = (struct ls_rec){.type = LS_REC_ACQUIRE, .tid = s->holders[i].tid};
		r.acquire.addr = s->holders[i].lock;
		r.acquire.kind = LS_KIND_MUTEX;
		err = deadlock__feed(s->dl, &r);
	}
	for (size_t i = 0; !err && i < s->n; i++) {
		const struct snapshot_thread *t = &s->threads[i];

		if (!t->waiting || t->moved)
			continue;
		r = (struct ls_rec){.type = LS_REC_WAIT_BEGIN, .tid = t->tid};
		r.wait_begin.addr = t->wait_addr;
		r.wait_begin.owner = t->owner;
		r.wait_begin.stack_id = t->stack_id;
		r.wait_begin.kind = t->wait_kind;
		r.wait_begin.flags = LS_WAIT_AT_ATTACH;
		err = deadlock__feed(s->dl, &r);
	}
	return err ?: deadlock__check(s->dl, 0, NULL, NULL);
}

int snapshot__analyse(struct snapshot *s)
{
	int err = 0;

	if (s->n)
		qsort(s->threads, s->n, sizeof(*s->threads), by_tid);
	for (size_t i = 0; !err && i < s->n; i++) {
		const struct snapshot_thread *t = &s->threads[i];

		if (t->waiting && t->owner && thread_find(s, t->owner))
			err = holder_add(s, t->owner, t->wait_addr, false, t->moved);
	}
	deadlock__free(s->dl);
	s->dl = NULL;
	return err ?: find_deadlocks(s);
}

/* ---- reading ---- */

size_t snapshot__count(const struct snapshot *s)
{
	return s->n;
}

const struct snapshot_thread *snapshot__get(const struct snapshot *s, size_t i)
{
	return i < s->n ? &s->threads[i] : NULL;
}

const struct snapshot_thread *snapshot__find(const struct snapshot *s, uint32_t tid)
{
	return thread_find(s, tid);
}

const struct model *snapshot__model(const struct snapshot *s)
{
	return s->m;
}

uint32_t snapshot__holder(const struct snapshot *s, uint32_t tid, bool *inferred)
{
	const struct snapshot_thread *t = thread_find(s, tid);

	*inferred = false;
	for (size_t i = 0; t && t->waiting && i < s->nholders; i++) {
		/* a thread that waits for a lock it holds is stuck for good where it slept
		 * throughout; where it moved, the two were read at different moments */
		if (s->holders[i].lock != t->wait_addr || (s->holders[i].tid == tid && t->moved))
			continue;
		*inferred = s->holders[i].inferred;
		return s->holders[i].tid;
	}
	return 0;
}

static const struct {
	long nr;
	const char *name;
} syscall_names[] = {
    {SYS_read, "read"},
    {SYS_write, "write"},
    {SYS_poll, "poll"},
    {SYS_select, "select"},
    {SYS_pselect6, "pselect6"},
    {SYS_ppoll, "ppoll"},
    {SYS_epoll_wait, "epoll_wait"},
    {SYS_epoll_pwait, "epoll_pwait"},
    {SYS_nanosleep, "nanosleep"},
    {SYS_clock_nanosleep, "clock_nanosleep"},
    {SYS_wait4, "wait4"},
    {SYS_waitid, "waitid"},
    {SYS_accept, "accept"},
    {SYS_accept4, "accept4"},
    {SYS_connect, "connect"},
    {SYS_recvfrom, "recvfrom"},
    {SYS_recvmsg, "recvmsg"},
    {SYS_sendto, "sendto"},
    {SYS_sendmsg, "sendmsg"},
    {SYS_pause, "pause"},
    {SYS_rt_sigsuspend, "rt_sigsuspend"},
    {SYS_rt_sigtimedwait, "rt_sigtimedwait"},
    {SYS_readv, "readv"},
    {SYS_writev, "writev"},
    {SYS_pread64, "pread64"},
    {SYS_pwrite64, "pwrite64"},
    {SYS_openat, "openat"},
    {SYS_flock, "flock"},
    {SYS_fcntl, "fcntl"},
    {SYS_msgrcv, "msgrcv"},
    {SYS_semop, "semop"},
    {SYS_semtimedop, "semtimedop"},
    {SYS_io_getevents, "io_getevents"},
    {SYS_futex, "futex"},
#ifdef SYS_epoll_pwait2
    {SYS_epoll_pwait2, "epoll_pwait2"},
#endif
#ifdef SYS_io_uring_enter
    {SYS_io_uring_enter, "io_uring_enter"},
#endif
    {449, "futex_waitv"},
};

const char *snapshot__doing(long nr, uint64_t arg1, char *buf, size_t len)
{
	if (nr == SNAPSHOT_RUNNING)
		return "running";
	if (nr < 0)
		return "";
	if (nr == SYS_futex || nr == 449)
		return nr == 449 || blocked__futex_waits(arg1) ? "futex wait" : "futex";
	for (size_t i = 0; i < ARRAY_SIZE(syscall_names); i++)
		if (syscall_names[i].nr == nr)
			return syscall_names[i].name;
	snprintf(buf, len, "syscall %ld", nr);
	return buf;
}

const char *snapshot__state_name(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
		return "sleeping";
	case 'D':
		return "disk sleep";
	case 'T':
		return "stopped";
	case 't':
		return "tracing stop";
	case 'Z':
		return "zombie";
	case 'X':
		return "dead";
	case 'I':
		return "idle";
	default:
		return "unknown";
	}
}

static const char *thread_name(const struct snapshot *s, const struct snapshot_thread *t)
{
	const char *name = t ? model__thread_name(s->m, t->tid) : NULL;

	if (!name && t)
		name = t->comm;
	return name ? name : "";
}

/* The locks TID holds, each once. *N: how many went into OUT (at most MAX). */
static size_t holds_of(const struct snapshot *s, uint32_t tid, uint64_t *out, size_t max)
{
	const struct snapshot_thread *t = thread_find(s, tid);
	size_t n = 0;

	for (size_t i = 0; i < s->nholders && n < max; i++) {
		bool seen = false;

		if (s->holders[i].tid != tid ||
		    (t && t->moved && t->waiting && t->wait_addr == s->holders[i].lock))
			continue;
		for (size_t k = 0; k < n; k++)
			seen |= out[k] == s->holders[i].lock;
		if (!seen)
			out[n++] = s->holders[i].lock;
	}
	return n;
}

/* A deadlock is inferred where any of its holders was. */
static bool deadlock_inferred(const struct snapshot *s, const struct deadlock_found *f)
{
	bool inferred, any = false;

	for (uint32_t i = 0; i < f->nthreads; i++) {
		snapshot__holder(s, f->threads[i].tid, &inferred);
		any |= inferred;
	}
	return any;
}

/* ---- JSON ---- */

#define MAX_HOLDS 64

static void json_lock(const struct snapshot *s, uint64_t addr, int kind, struct json_writer *w)
{
	char bare[32];

	json_writer__string(w, model__lock_label(s->m, addr, kind, bare, sizeof(bare)));
}

static void json_holds(const struct snapshot *s, uint32_t tid, struct json_writer *w)
{
	uint64_t locks[MAX_HOLDS];
	size_t n = holds_of(s, tid, locks, MAX_HOLDS);

	json_writer__array_begin(w);
	for (size_t i = 0; i < n; i++)
		json_lock(s, locks[i], MODEL_NO_KIND, w);
	json_writer__array_end(w);
}

static void json_thread(const struct snapshot *s, const struct snapshot_thread *t,
			struct json_writer *w)
{
	bool inferred;
	uint32_t holder = snapshot__holder(s, t->tid, &inferred);
	const char *doing;
	char buf[32];

	json_writer__object_begin(w);
	json_writer__key(w, "tid");
	json_writer__u64(w, t->tid);
	json_writer__key(w, "name");
	json_writer__string(w, thread_name(s, t));
	json_writer__key(w, "state");
	json_writer__string(w, snapshot__state_name(t->state));
	json_writer__key(w, "syscall");
	doing = snapshot__doing(t->nr, t->arg1, buf, sizeof(buf));
	if (t->nr >= 0)
		json_writer__string(w, doing);
	else
		json_writer__null(w);
	json_writer__key(w, "stopped");
	json_writer__bool(w, t->stopped);
	json_writer__key(w, "ran_during_dump");
	json_writer__bool(w, t->moved);
	json_writer__key(w, "stack");
	model__stack_json(s->m, t->stack_id, w);
	json_writer__key(w, "waits_for");
	if (t->waiting)
		json_lock(s, t->wait_addr, t->wait_kind, w);
	else
		json_writer__null(w);
	json_writer__key(w, "wait_kind");
	json_writer__string(w, t->waiting ? ls_kind_name(t->wait_kind) : NULL);
	json_writer__key(w, "wait_addr");
	if (t->waiting)
		json_writer__stringf(w, "0x%" PRIx64, t->wait_addr);
	else
		json_writer__null(w);
	json_writer__key(w, "waits_for_owner");
	if (holder)
		json_writer__u64(w, holder);
	else
		json_writer__null(w);
	json_writer__key(w, "owner_inferred");
	json_writer__bool(w, inferred);
	json_writer__key(w, "holds");
	json_holds(s, t->tid, w);
	json_writer__object_end(w);
}

static void json_deadlock(const struct snapshot *s, const struct deadlock_found *f,
			  struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "locks");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < f->nthreads; i++)
		json_lock(s, f->locks[i], MODEL_NO_KIND, w);
	json_writer__array_end(w);
	json_writer__key(w, "threads");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < f->nthreads; i++) {
		const struct deadlock_thread *dt = &f->threads[i];

		json_writer__object_begin(w);
		json_writer__key(w, "tid");
		json_writer__u64(w, dt->tid);
		json_writer__key(w, "name");
		json_writer__string(w, thread_name(s, thread_find(s, dt->tid)));
		json_writer__key(w, "holds");
		json_writer__array_begin(w);
		for (uint32_t k = 0; k < dt->nholds; k++)
			json_lock(s, dt->holds[k], MODEL_NO_KIND, w);
		json_writer__array_end(w);
		json_writer__key(w, "waits_for");
		json_lock(s, dt->waits_for, MODEL_NO_KIND, w);
		json_writer__key(w, "stack");
		model__stack_json(s->m, dt->stack_id, w);
		json_writer__object_end(w);
	}
	json_writer__array_end(w);
	json_writer__key(w, "inferred");
	json_writer__bool(w, deadlock_inferred(s, f));
	json_writer__object_end(w);
}

static void json_target(const struct snapshot *s, struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "pid");
	json_writer__u64(w, s->pid);
	json_writer__key(w, "comm");
	json_writer__string(w, s->comm);
	json_writer__key(w, "cmdline");
	json_writer__string(w, s->cmdline);
	json_writer__object_end(w);
}

/* Threads whose stack ends short of its outermost frame, marked so by the collector. */
static uint32_t stacks_cut(const struct snapshot *s)
{
	uint32_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->threads[i].stack_id && model__stack_cut(s->m, s->threads[i].stack_id);
	return n;
}

int snapshot__json(const struct snapshot *s, FILE *out)
{
	struct json_writer *w = json_writer__new(out, 2);
	size_t ndl = s->dl ? deadlock__count(s->dl) : 0;
	int err;

	if (!w)
		return -errno;
	json_writer__object_begin(w);
	json_writer__key(w, "schema");
	json_writer__string(w, "lockscope.dump/1");
	json_writer__key(w, "target");
	json_target(s, w);
	json_writer__key(w, "stopped_ns");
	json_writer__u64(w, s->stopped_ns);
	json_writer__key(w, "stopped_threads");
	json_writer__u64(w, s->stopped_threads);
	json_writer__key(w, "threads_gone");
	json_writer__u64(w, s->threads_gone);
	json_writer__key(w, "stacks_missing");
	json_writer__u64(w, s->stacks_missing);
	json_writer__key(w, "stacks_cut");
	json_writer__u64(w, stacks_cut(s));
	json_writer__key(w, "threads");
	json_writer__array_begin(w);
	for (size_t i = 0; i < s->n; i++)
		json_thread(s, &s->threads[i], w);
	json_writer__array_end(w);
	json_writer__key(w, "tasks");
	if (s->async) {
		pyasync__json_tasks(s->async, w);
	} else {
		json_writer__array_begin(w);
		json_writer__array_end(w);
	}
	json_writer__key(w, "deadlocks");
	json_writer__array_begin(w);
	for (size_t i = 0; i < ndl; i++)
		json_deadlock(s, deadlock__get(s->dl, i), w);
	if (s->async)
		pyasync__json_cycles(s->async, s->pythreads, s->npythreads, true, w);
	json_writer__array_end(w);
	json_writer__object_end(w);
	err = json_writer__finish(w);
	json_writer__free(w);
	return err;
}

/* ---- text ---- */

/* Copied to be scrubbed: the target chose the name. */
static const char *text_lock(const struct snapshot *s, uint64_t addr, int kind, char *buf,
			     size_t len)
{
	char bare[32];

	snprintf(buf, len, "%s", model__lock_label(s->m, addr, kind, bare, sizeof(bare)));
	return ls_scrub(buf);
}

static const char *text_thread(const struct snapshot *s, uint32_t tid, char *buf, size_t len)
{
	const char *name = thread_name(s, thread_find(s, tid));

	if (name[0])
		snprintf(buf, len, "%u (%s)", tid, name);
	else
		snprintf(buf, len, "%u", tid);
	return ls_scrub(buf);
}

static void text_wait(const struct snapshot *s, const struct snapshot_thread *t, FILE *out)
{
	char lock[512], who[128];
	bool inferred;
	uint32_t holder = snapshot__holder(s, t->tid, &inferred);

	if (!t->waiting)
		return;
	fprintf(out, "  waits for %s (%s)",
		text_lock(s, t->wait_addr, t->wait_kind, lock, sizeof(lock)),
		ls_kind_name(t->wait_kind));
	if (holder == t->tid)
		fprintf(out, ", held by itself%s\n", inferred ? " (inferred)" : "");
	else if (holder)
		fprintf(out, ", held by thread %s%s\n", text_thread(s, holder, who, sizeof(who)),
			inferred ? " (inferred)" : "");
	else if (ls_kind_signal(t->wait_kind))
		fputc('\n', out);
	else
		fputs(", holder unknown\n", out);
}

static void text_holds(const struct snapshot *s, uint32_t tid, FILE *out)
{
	uint64_t locks[MAX_HOLDS];
	size_t n = holds_of(s, tid, locks, MAX_HOLDS);
	char lock[512];

	if (!n)
		return;
	fputs("  holds ", out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "",
			text_lock(s, locks[i], MODEL_NO_KIND, lock, sizeof(lock)));
	fputc('\n', out);
}

static size_t task_cycles(const struct snapshot *s)
{
	size_t n = 0;

	for (size_t i = 0; s->async && i < s->async->ncycles; i++)
		n += s->async->cycles[i].among_tasks;
	return n;
}

static void text_deadlocks(const struct snapshot *s, FILE *out)
{
	size_t ndl = s->dl ? deadlock__count(s->dl) : 0;
	char lock[512], who[128];

	if (!ndl) {
		if (!task_cycles(s))
			fputs("No deadlocks.\n\n", out);
		return;
	}
	fprintf(out, "Deadlocks: %zu\n", ndl);
	for (size_t i = 0; i < ndl; i++) {
		const struct deadlock_found *f = deadlock__get(s->dl, i);

		fprintf(out, "  DEADLOCK: %u threads, locks ", f->nthreads);
		for (uint32_t k = 0; k < f->nthreads; k++)
			fprintf(out, "%s%s", k ? ", " : "",
				text_lock(s, f->locks[k], MODEL_NO_KIND, lock, sizeof(lock)));
		fputs(deadlock_inferred(s, f) ? " (a holder inferred)\n" : "\n", out);
		for (uint32_t k = 0; k < f->nthreads; k++) {
			const struct deadlock_thread *dt = &f->threads[k];

			fprintf(out, "    thread %s waits for %s\n",
				text_thread(s, dt->tid, who, sizeof(who)),
				text_lock(s, dt->waits_for, MODEL_NO_KIND, lock, sizeof(lock)));
		}
	}
	fputc('\n', out);
}

/* A lock of pyasync's: its name, copied to be scrubbed. */
static const char *text_pylock(const struct pyasync *a, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s", a->locks[i].name);
	return ls_scrub(buf);
}

/* Each asyncio task: its name and coroutine, what it waits for and holds, its await chain. */
static void text_tasks(const struct pyasync *a, FILE *out)
{
	char name[256], lock[512];

	if (!a->ntasks)
		return;
	fprintf(out, "%zu asyncio %s\n\n", a->ntasks, a->ntasks == 1 ? "task" : "tasks");
	for (size_t i = 0; i < a->ntasks; i++) {
		const struct pyasync_task *t = &a->tasks[i];

		snprintf(name, sizeof(name), "%s", t->name ? t->name : "?");
		fprintf(out, "task %s", ls_scrub(name));
		snprintf(name, sizeof(name), "%s", t->coro ? t->coro : "?");
		fprintf(out, " (%s)", ls_scrub(name));
		if (t->tid)
			fprintf(out, " on the loop of thread %d", t->tid);
		fputs(t->running ? ", running\n" : "\n", out);
		if (t->waits_for >= 0)
			fprintf(out, "  waits for %s (%s)\n",
				text_pylock(a, t->waits_for, lock, sizeof(lock)),
				a->locks[t->waits_for].kind);
		for (size_t k = 0; k < t->nholds; k++)
			fprintf(out, "  holds %s (inferred from its frames)\n",
				text_pylock(a, t->holds[k], lock, sizeof(lock)));
		for (size_t k = 0; k < t->nframes; k++) {
			snprintf(lock, sizeof(lock), "%s", t->frames[k].text);
			fprintf(out, "    %s\n", ls_scrub(lock));
		}
		fputc('\n', out);
	}
}

/* Deadlocks among tasks: each waits for a lock the next one holds. */
static void text_task_deadlocks(const struct pyasync *a, FILE *out)
{
	char name[256], lock[512];

	for (size_t i = 0; i < a->ncycles; i++) {
		const struct pyasync_cycle *c = &a->cycles[i];

		if (!c->among_tasks)
			continue;
		fprintf(out, "DEADLOCK: %zu asyncio tasks (holders inferred from open `async with` "
			"blocks)\n", c->n);
		for (size_t k = 0; k < c->n; k++) {
			const struct pyasync_task *t = &a->tasks[c->members[k]];

			snprintf(name, sizeof(name), "%s", t->name ? t->name : "?");
			fprintf(out, "  task %s waits for %s, held by task ", ls_scrub(name),
				text_pylock(a, c->locks[k], lock, sizeof(lock)));
			t = &a->tasks[c->members[(k + 1) % c->n]];
			snprintf(name, sizeof(name), "%s", t->name ? t->name : "?");
			fprintf(out, "%s\n", ls_scrub(name));
		}
		fputc('\n', out);
	}
}

void snapshot__text(const struct snapshot *s, FILE *out)
{
	char buf[4096], doing[32];

	snprintf(buf, sizeof(buf), "%s", s->cmdline[0] ? s->cmdline : s->comm);
	fprintf(out, "process %u: %s\n%zu threads\n\n", s->pid, ls_scrub(buf), s->n);
	for (size_t i = 0; i < s->n; i++) {
		const struct snapshot_thread *t = &s->threads[i];
		const char *what = snapshot__doing(t->nr, t->arg1, doing, sizeof(doing));

		fprintf(out, "thread %s: %s", text_thread(s, t->tid, buf, sizeof(buf)),
			snapshot__state_name(t->state));
		if (t->nr >= 0)
			fprintf(out, " in %s", what);
		fputs(t->stopped ? " (stopped to read its stack)\n" : "\n", out);
		text_wait(s, t, out);
		text_holds(s, t->tid, out);
		model__stack_text(s->m, t->stack_id, "    ", TEXT_FRAMES, out);
		fputc('\n', out);
	}
	if (s->async)
		text_tasks(s->async, out);
	text_deadlocks(s, out);
	if (s->async)
		text_task_deadlocks(s->async, out);
	if (s->threads_gone || s->stacks_missing)
		fprintf(out, "lost: %u threads exited during the dump, %u stacks unreadable\n",
			s->threads_gone, s->stacks_missing);
	if (stacks_cut(s))
		fprintf(out, "cut: %u stacks end short of their outermost frame (\"…cut:\" says why)\n",
			stacks_cut(s));
	if (s->stopped_threads)
		fprintf(out, "stopped %.3f ms (%u running %s, one at a time)\n",
			s->stopped_ns / 1e6, s->stopped_threads,
			s->stopped_threads == 1 ? "thread" : "threads");
	else
		fputs("stopped 0 ms (no thread was running: read from memory alone)\n", out);
}
