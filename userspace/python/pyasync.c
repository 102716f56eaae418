/* pyasync.c - asyncio tasks found through the interpreter's task registry, their await chains,
 * locks held in open with-blocks (inferred from frames' value stacks), waits and cycles. */
#include "python/pyasync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/json.h"
#include "python/pycode.h"
#include "python/pyobj.h"
#include "python/pywait.h"

#define MAX_GLOBALS 4		/* module dicts searched for a lock's variable name */
#define MAX_NAME 256
#define CYCLE_STEPS 100000	/* search steps for cycles: a bound on pathological graphs */

/* _asyncio.Task (Modules/_asynciomodule.c, FutureObj_HEAD then the task fields): byte offsets
 * from `ptype/o TaskObj` over the debug info of pyenv 3.11.7's _asyncio module; 3.12.1's has
 * the same. */
struct task_layout {
	int32_t loop, state, fut_waiter, coro, name, size;
};

static const struct task_layout task_311 = {
	.loop = 16, .state = 88, .fut_waiter = 128, .coro = 136, .name = 144, .size = 176,
};

/* 3.10.13's */
static const struct task_layout task_310 = {
	.loop = 16, .state = 88, .fut_waiter = 152, .coro = 160, .name = 168, .size = 192,
};

/* 3.13.0's: the future's flags became bit fields, the weak reference list left */
static const struct task_layout task_313 = {
	.loop = 16, .state = 96, .fut_waiter = 112, .coro = 120, .name = 128, .size = 144,
};

#define FUT_PENDING 0

/* Where each lock was seen, for its name: module dicts that may hold it and one frame. */
struct lock_seen {
	uint64_t globals[MAX_GLOBALS];
	char *where;		/* "f (file.py:12)" */
	bool taken;		/* WHERE holds it, else waits for it */
};

struct loop_thread {
	uint64_t loop;
	pid_t tid;
};

struct builder {
	struct pyreader *r;
	struct pyasync *a;
	const struct task_layout *tl;
	struct lock_seen *seen;		/* parallel to a->locks */
	size_t lock_cap, task_cap, thread_cap, cycle_cap, seen_cap;
	struct loop_thread *loops;
	size_t nloops, loop_cap;
	uint32_t minor;			/* CPython 3.MINOR */
	/* the frames of the task being read and their marks from before they were read */
	uint64_t mark_frames[PYASYNC_MAX_CHAIN], marks[PYASYNC_MAX_CHAIN];
	size_t nmarks;
};

/* ---- locks ---- */

static int seen_note(struct lock_seen *s, uint64_t globals, const char *where, bool taken)
{
	for (size_t i = 0; globals && i < MAX_GLOBALS; i++) {
		if (s->globals[i] == globals)
			break;
		if (!s->globals[i]) {
			s->globals[i] = globals;
			break;
		}
	}
	if (where && (!s->where || (taken && !s->taken))) {
		free(s->where);
		s->where = strdup(where);
		s->taken = taken;
		if (!s->where)
			return -ENOMEM;
	}
	return 0;
}

/* The index of the lock object ADDR, added if new. FRAME is where it was seen. */
static int lock_get(struct builder *b, uint64_t addr, bool asyncio, const char *kind,
		    const struct py_frame *frame, bool taken, size_t *idx)
{
	struct pyasync *a = b->a;
	struct pyasync_lock *l;
	uint64_t globals = 0, sem = 0;
	size_t i;

	if (frame && pyobj__frame_globals(b->r, frame->addr, &globals))
		globals = 0;
	for (i = 0; i < a->nlocks && a->locks[i].addr != addr; i++)
		;
	if (i == a->nlocks) {
		if (ls_reserve(&a->locks, &b->lock_cap, i + 1, sizeof(*a->locks)) ||
		    ls_reserve(&b->seen, &b->seen_cap, i + 1, sizeof(*b->seen)))
			return -ENOMEM;
		l = &a->locks[i];
		memset(l, 0, sizeof(*l));
		memset(&b->seen[i], 0, sizeof(b->seen[i]));
		a->nlocks++;
		l->addr = addr;
		l->asyncio = asyncio;
		l->kind = strdup(kind);
		if (!l->kind)
			return -ENOMEM;
		/* lock_lock / rlock_lock: the sem_t whose first word is the futex (glibc) */
		if (!asyncio && !pyreader__read(b->r, addr + 16, &sem, sizeof(sem)))
			l->futex = sem;
	}
	*idx = i;
	return seen_note(&b->seen[i], globals, frame ? frame->text : NULL, taken);
}

static int idx_add(size_t **v, size_t *n, size_t x)
{
	size_t cap = *n;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i] == x)
			return 0;
	if (ls_reserve(v, &cap, *n + 1, sizeof(**v)))
		return -ENOMEM;
	(*v)[(*n)++] = x;
	return 0;
}

/* The kind of the threading lock at OBJ, NULL if it is none. */
static const char *thread_lock_kind(struct pyreader *r, uint64_t obj)
{
	char type[32];

	if (pyobj__type_name(r, obj, type, sizeof(type)))
		return NULL;
	if (!strcmp(type, "_thread.lock"))
		return "threading.Lock";
	if (!strcmp(type, "_thread.RLock"))
		return "threading.RLock";
	return NULL;
}

/* The threading lock whose bound builtin __exit__ is SLOT: its kind, NULL if SLOT is none. */
static const char *thread_lock_of(struct pyreader *r, uint64_t slot, uint64_t *self)
{
	char name[32];
	uint64_t func;

	if (!slot || pyobj__method(r, slot, self, &func, name, sizeof(name)) || func ||
	    strcmp(name, "__exit__"))
		return NULL;
	return thread_lock_kind(r, *self);
}

/* The asyncio lock whose bound __aexit__ (from asyncio.locks) is SLOT: its kind into KIND. */
static bool async_lock_of(struct pyreader *r, uint64_t slot, uint64_t *self, char *kind,
			  size_t cap)
{
	char name[32], mod[32], type[64];
	uint64_t func;

	if (!slot || pyobj__method(r, slot, self, &func, name, sizeof(name)) || !func ||
	    strcmp(name, "__aexit__") || pyobj__func_module(r, func, mod, sizeof(mod)) ||
	    strcmp(mod, "asyncio.locks") || pyobj__type_name(r, *self, type, sizeof(type)))
		return false;
	snprintf(kind, cap, "asyncio.%s", type);
	return true;
}

static bool library_frame(const struct py_frame *f)
{
	static const char *const files[] = {"/threading.py", "/queue.py", "/asyncio/locks.py",
					    "/asyncio/queues.py"};
	size_t n = strlen(f->file);

	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if (n >= strlen(files[i]) && !strcmp(f->file + n - strlen(files[i]), files[i]))
			return true;
	return false;
}

/* An asyncio lock (its `_locked` is True): a bool's first digit is 1 for True, 0 for False,
 * at the same place in 3.11 and 3.12. */
static bool async_locked(struct pyreader *r, uint64_t lock)
{
	uint64_t v;
	uint32_t digit;

	return !pyreader__attr(r, lock, "_locked", &v) && pyobj__is(r, v, "bool") &&
	       !pyreader__read(r, v + 24, &digit, sizeof(digit)) && digit == 1;
}

/* The lock OBJ that FRAME took with an explicit acquire() call (python/pycode.h), if its own
 * state agrees: a Lock is locked, an RLock is owned by IDENT (the thread's; it records its
 * owner), an asyncio lock is locked. Its kind into KIND, NULL if not. */
static const char *explicit_hold(struct builder *b, uint64_t obj, bool asyncio, uint64_t ident,
				 char *kind, size_t cap)
{
	uint64_t owner;
	bool locked;
	char type[64];

	if (asyncio) {
		if (pyobj__type_name(b->r, obj, type, sizeof(type)) || !async_locked(b->r, obj))
			return NULL;
		snprintf(kind, cap, "asyncio.%s", type);
		return kind;
	}
	if (pyobj__lock_state(b->r, obj, &locked, &owner) || !locked)
		return NULL;
	if (pyobj__is(b->r, obj, "_thread.RLock"))
		return owner == ident ? "threading.RLock" : NULL;
	return "threading.Lock";
}

/* The locks of the open with-blocks of FRAME into *HOLDS, threading or asyncio ones, and those
 * it took with acquire() and holds: IDENT, the thread's threading.get_ident() (0 for tasks). */
static int frame_holds(struct builder *b, const struct py_frame *frame, bool asyncio,
		       uint64_t ident, size_t **holds, size_t *nholds, struct pyobj_stack *st)
{
	uint64_t taken[PYCODE_MAX_HOLDS];
	char kind[80];
	size_t n;
	int err = 0;

	if (pyobj__frame_stack(b->r, frame->addr, st)) {
		b->a->stats.frames_unreadable++;
		return 0;
	}
	for (size_t i = 0; i < st->nlive && !err; i++) {
		const char *tk = NULL;
		uint64_t self;
		size_t idx;
		bool found = asyncio ? async_lock_of(b->r, st->live[i], &self, kind, sizeof(kind))
				     : (tk = thread_lock_of(b->r, st->live[i], &self)) != NULL;

		if (!found)
			continue;
		err = lock_get(b, self, asyncio, asyncio ? kind : tk, frame, true, &idx);
		if (!err)
			err = idx_add(holds, nholds, idx);
	}
	/* not in the standard library's own machinery: Condition.wait takes its waiter lock
	 * once, to wait on it for a notify (a signal, not a hold) */
	n = library_frame(frame) ? 0
				 : pycode__acquired(b->r, frame->addr, asyncio, taken, PYCODE_MAX_HOLDS);
	for (size_t i = 0; i < n && !err; i++) {
		const char *tk = explicit_hold(b, taken[i], asyncio, ident, kind, sizeof(kind));
		size_t idx;

		if (!tk)
			continue;
		err = lock_get(b, taken[i], asyncio, tk, frame, true, &idx);
		if (!err)
			err = idx_add(holds, nholds, idx);
	}
	return err;
}

/* ---- threads ---- */

static int loop_add(struct builder *b, const struct py_frame *f, pid_t tid)
{
	uint64_t self;

	if (strcmp(f->func, "BaseEventLoop.run_forever") || pyobj__frame_local(b->r, f->addr, 0,
									       &self))
		return 0;
	if (ls_reserve(&b->loops, &b->loop_cap, b->nloops + 1, sizeof(*b->loops)))
		return -ENOMEM;
	b->loops[b->nloops++] = (struct loop_thread){ self, tid };
	return 0;
}

/* The lock a thread's innermost frame is entering: BEFORE_WITH (3.10: SETUP_WITH) is calling
 * __enter__ (a blocked acquire), the slot just above the open blocks holding the bound __exit__
 * (3.10 to 3.12 store it before the call) or still the lock itself (3.13 stores both results
 * after it). */
static uint64_t entering(struct builder *b, const struct pyobj_stack *st, const char **kind)
{
	uint64_t self;

	if (!st->entering_with || !st->next)
		return 0;
	if ((*kind = thread_lock_of(b->r, st->next, &self)))
		return self;
	return (*kind = thread_lock_kind(b->r, st->next)) ? st->next : 0;
}

static const struct pyasync_futex *futex_of(const struct pyasync_futex *w, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].tid == tid)
			return &w[i];
	return NULL;
}

static int thread_read(struct builder *b, const struct py_thread *t, uint64_t *enter,
		       const char **enter_kind, struct pyasync_thread *out)
{
	int err = 0;

	*out = (struct pyasync_thread){ .tid = t->tid, .waits_for = -1 };
	*enter = 0;
	for (size_t i = 0; i < t->nframes && !err; i++) {
		struct pyobj_stack st;

		err = loop_add(b, &t->frames[i], t->tid);
		if (!err)
			err = frame_holds(b, &t->frames[i], false, t->ident, &out->holds,
					  &out->nholds, &st);
		if (!err && i == 0)
			*enter = entering(b, &st, enter_kind);
		pyobj__frame_stack_clear(&st);
	}
	return err;
}

/* What thread T waits for: the lock whose futex word it sleeps on, or without WAITS the lock
 * its innermost frame is entering. */
static int thread_wait(struct builder *b, const struct py_thread *t, uint64_t enter,
		       const char *kind, const struct pyasync_futex *waits, size_t nwaits,
		       struct pyasync_thread *th)
{
	const struct pyasync_futex *fw = waits ? futex_of(waits, nwaits, t->tid) : NULL;
	struct pywait pw;
	uint64_t sem = 0;
	size_t idx;
	int err;

	if (waits && !fw)
		return 0;	/* not asleep */
	if (enter && fw && (pyreader__read(b->r, enter + 16, &sem, sizeof(sem)) || sem != fw->uaddr))
		enter = 0;
	if (enter) {
		if ((err = lock_get(b, enter, false, kind, &t->frames[0], false, &idx)))
			return err;
		th->waits_for = (int)idx;
		th->waits_unconfirmed = !fw;
		return 0;
	}
	for (size_t i = 0; fw && i < b->a->nlocks; i++)
		if (b->a->locks[i].futex && b->a->locks[i].futex == fw->uaddr)
			th->waits_for = (int)i;
	if (th->waits_for >= 0 || !fw)
		return 0;
	/* a lock asked for with acquire(), not `with`: the frames' objects say which (and not a
	 * signal's, such as a Condition's waiter) */
	if (pywait__classify(b->r, t, fw->uaddr, false, &pw) || pw.kind != PYWAIT_LOCK || !pw.lock)
		return 0;
	kind = pyobj__is(b->r, pw.lock, "_thread.RLock") ? "threading.RLock" : "threading.Lock";
	if ((err = lock_get(b, pw.lock, false, kind, &t->frames[0], false, &idx)))
		return err;
	th->waits_for = (int)idx;
	return 0;
}

/* An RLock records its owner: the thread that holds the RLock that TH waits for, by its
 * threading.get_ident(), holds it, whatever its frames show. */
static int rlock_owner(struct builder *b, const struct pyasync_thread *th,
		       const struct py_thread *threads, struct pyasync_thread *v, size_t n)
{
	uint64_t owner;
	bool locked;

	if (th->waits_for < 0 || strcmp(b->a->locks[th->waits_for].kind, "threading.RLock") ||
	    pyobj__lock_state(b->r, b->a->locks[th->waits_for].addr, &locked, &owner) || !locked)
		return 0;
	for (size_t j = 0; j < n; j++)
		if (owner && threads[j].ident == owner)
			return idx_add(&v[j].holds, &v[j].nholds, (size_t)th->waits_for);
	return 0;
}

static int threads_read(struct builder *b, const struct py_thread *threads, size_t n,
			const struct pyasync_futex *waits, size_t nwaits)
{
	struct pyasync *a = b->a;
	struct pyasync_thread *v = calloc(n + 1, sizeof(*v));
	uint64_t *enter = calloc(n + 1, sizeof(*enter));
	const char **kinds = calloc(n + 1, sizeof(*kinds));
	int err = v && enter && kinds ? 0 : -ENOMEM;

	/* every thread's holds first: a waiter may wait for a lock a later thread holds */
	for (size_t i = 0; i < n && !err; i++)
		err = thread_read(b, &threads[i], &enter[i], &kinds[i], &v[i]);
	for (size_t i = 0; i < n && !err; i++)
		err = thread_wait(b, &threads[i], enter[i], kinds[i], waits, nwaits, &v[i]);
	for (size_t i = 0; i < n && !err; i++)
		err = rlock_owner(b, &v[i], threads, v, n);
	for (size_t i = 0; i < n && !err; i++) {
		if (v[i].waits_for < 0 && !v[i].nholds)
			continue;
		if ((err = ls_reserve(&a->threads, &b->thread_cap, a->nthreads + 1,
				      sizeof(*a->threads))))
			break;
		a->threads[a->nthreads++] = v[i];
		v[i].holds = NULL;
	}
	for (size_t i = 0; v && i < n; i++)
		free(v[i].holds);
	free(v);
	free(enter);
	free(kinds);
	return err;
}

/* ---- tasks ---- */

/* A frame of asyncio's locks.py that waits: Lock.acquire and the like, with the lock as self. */
static bool is_lock_wait(const struct py_frame *f)
{
	static const char *const waits[] = { "Lock.acquire", "Semaphore.acquire",
					     "Condition.wait", "Event.wait" };
	size_t n = strlen(f->file);

	if (n < 17 || strcmp(f->file + n - 17, "/asyncio/locks.py"))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(waits); i++)
		if (!strcmp(f->func, waits[i]))
			return true;
	return false;
}

static int task_wait(struct builder *b, struct pyasync_task *t, const struct py_frame *f,
		     const struct py_frame *outer)
{
	char type[64], kind[80];
	uint64_t self;
	size_t idx;
	int err;

	if (pyobj__frame_local(b->r, f->addr, 0, &self) ||
	    pyobj__type_name(b->r, self, type, sizeof(type)))
		return 0;
	snprintf(kind, sizeof(kind), "asyncio.%s", type);
	/* the task's own coroutine names the lock where it sees it, not locks.py */
	if ((err = lock_get(b, self, true, kind, outer, false, &idx)))
		return err;
	t->waits_for = (int)idx;
	return 0;
}

static int frame_add(struct pyasync_task *t, size_t *cap, const struct py_frame *f)
{
	if (ls_reserve(&t->frames, cap, t->nframes + 1, sizeof(*t->frames)))
		return -ENOMEM;
	t->frames[t->nframes++] = *f;
	return 0;
}

/* One coroutine of the chain: its frame, the locks of its open blocks, what it awaits next.
 * *NEXT: the coroutine it awaits, 0 at the end of the chain. */
static int chain_step(struct builder *b, struct pyasync_task *t, size_t *cap, uint64_t gen,
		      uint64_t *next)
{
	enum pyobj_gen_state state;
	struct pyobj_stack st;
	struct py_frame f;
	uint64_t frame, obj;
	int err;

	*next = 0;
	if (pyobj__gen_frame(b->r, gen, &frame, &state, NULL, 0)) {
		t->chain_cut = true;
		return 0;
	}
	if (state == PYOBJ_GEN_DONE)
		return 0;
	if (b->nmarks < PYASYNC_MAX_CHAIN && !pyobj__frame_mark(b->r, frame, &b->marks[b->nmarks]))
		b->mark_frames[b->nmarks++] = frame;
	if ((err = pyreader__frame(b->r, frame, &f))) {
		t->chain_cut = err != -ENOMEM;
		return err == -ENOMEM ? err : 0;
	}
	if ((err = frame_add(t, cap, &f))) {
		pyreader__frame_clear(&f);
		return err;
	}
	if (state != PYOBJ_GEN_CREATED) {
		err = frame_holds(b, &t->frames[t->nframes - 1], true, 0, &t->holds, &t->nholds,
				  &st);
		pyobj__frame_stack_clear(&st);
		if (!err && is_lock_wait(&f))
			err = task_wait(b, t, &f, &t->frames[0]);
		if (err)
			return err;
	}
	t->running |= state == PYOBJ_GEN_RUNNING;
	if (state != PYOBJ_GEN_SUSPENDED || pyobj__frame_awaits(b->r, frame, &obj))
		return 0;
	if (pyobj__is(b->r, obj, "coroutine") || pyobj__is(b->r, obj, "generator"))
		*next = obj;
	else
		t->awaits = pyobj__future_of(b->r, obj);
	return 0;
}

/* The await chain from the task's coroutine down, turned innermost first at the end. */
static int task_chain(struct builder *b, struct pyasync_task *t, uint64_t coro)
{
	size_t cap = 0, depth;
	int err = 0;

	for (depth = 0; coro && !err; depth++) {
		if (depth == PYASYNC_MAX_CHAIN) {
			t->chain_cut = true;
			break;
		}
		err = chain_step(b, t, &cap, coro, &coro);
	}
	for (size_t i = 0; i < t->nframes / 2; i++) {
		struct py_frame tmp = t->frames[i];

		t->frames[i] = t->frames[t->nframes - 1 - i];
		t->frames[t->nframes - 1 - i] = tmp;
	}
	b->a->stats.chains_cut += t->chain_cut;
	return err;
}

static void task_clear(struct pyasync_task *t)
{
	for (size_t i = 0; i < t->nframes; i++)
		pyreader__frame_clear(&t->frames[i]);
	free(t->frames);
	free(t->name);
	free(t->coro);
	free(t->holds);
}

/* Task.get_name(): a str, or (3.12+, until someone asks) the counter behind "Task-N". */
static char *task_name(struct builder *b, uint64_t name)
{
	char buf[MAX_NAME], *s;
	uint64_t n;

	if (!pyreader__str(b->r, name, buf, sizeof(buf)))
		return strdup(buf);
	if (!pyreader__long(b->r, name, &n))
		return asprintf(&s, "Task-%" PRIu64, n) < 0 ? NULL : s;
	return strdup("?");
}

/* FUT is in the `_waiters` deque of the asyncio lock LOCK. */
static bool queued(struct builder *b, uint64_t lock, uint64_t fut)
{
	uint64_t waiters, *items;
	size_t n;
	bool found = false;

	if (!fut || pyreader__attr(b->r, lock, "_waiters", &waiters) ||
	    pyobj__deque_items(b->r, waiters, &items, &n))
		return false;
	for (size_t i = 0; i < n && !found; i++)
		found = items[i] == fut;
	free(items);
	return found;
}

/* The frames of the task just read did not move while they were read. */
static bool marks_hold(struct builder *b)
{
	uint64_t mark;

	for (size_t i = 0; i < b->nmarks; i++)
		if (pyobj__frame_mark(b->r, b->mark_frames[i], &mark) || mark != b->marks[i])
			return false;
	return true;
}

static int task_read_once(struct builder *b, uint64_t addr)
{
	const struct task_layout *tl = b->tl;
	struct pyasync *a = b->a;
	struct pyasync_task *t;
	enum pyobj_gen_state state;
	uint8_t obj[256];
	char buf[MAX_NAME];
	uint64_t coro, name, frame;
	uint32_t fstate;
	int err;

	if (!pyobj__is(b->r, addr, "_asyncio.Task") || pyreader__read(b->r, addr, obj, tl->size)) {
		a->stats.tasks_skipped++;
		return 0;
	}
	memcpy(&fstate, obj + tl->state, sizeof(fstate));
	if (fstate != FUT_PENDING) {
		a->stats.tasks_done++;
		return 0;
	}
	if (ls_reserve(&a->tasks, &b->task_cap, a->ntasks + 1, sizeof(*a->tasks)))
		return -ENOMEM;
	t = &a->tasks[a->ntasks++];
	memset(t, 0, sizeof(*t));
	t->addr = addr;
	t->waits_for = -1;
	memcpy(&t->loop, obj + tl->loop, 8);
	memcpy(&coro, obj + tl->coro, 8);
	memcpy(&name, obj + tl->name, 8);
	for (size_t i = 0; i < b->nloops; i++)
		if (b->loops[i].loop == t->loop)
			t->tid = b->loops[i].tid;
	t->name = task_name(b, name);
	if (pyobj__gen_frame(b->r, coro, &frame, &state, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "?");
	t->coro = strdup(buf);
	if (!t->name || !t->coro)
		return -ENOMEM;
	if ((err = task_chain(b, t, coro)))
		return err;
	if (!t->awaits) {
		memcpy(&t->awaits, obj + tl->fut_waiter, 8);
		if (pyobj__is(b->r, t->awaits, "NoneType"))
			t->awaits = 0;
	}
	t->waits_queued = t->waits_for >= 0 && queued(b, a->locks[t->waits_for].addr, t->awaits);
	return 0;
}

#define TASK_READS 3

/* A task, read again while it runs on under the reader (a frame moved meanwhile); torn after
 * TASK_READS reads. */
static int task_read(struct builder *b, uint64_t addr)
{
	struct pyasync *a = b->a;
	int err = 0;

	for (int i = 0; i < TASK_READS && !err; i++) {
		size_t n = a->ntasks;

		b->nmarks = 0;
		if ((err = task_read_once(b, addr)) || a->ntasks == n || marks_hold(b))
			return err;
		if (i == TASK_READS - 1) {
			a->tasks[n].torn = true;
			a->stats.tasks_torn++;
			break;
		}
		a->stats.tasks_reread++;
		task_clear(&a->tasks[n]);
		a->ntasks = n;
	}
	return err;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Where tasks register. 3.10 and 3.11: C tasks in _asyncio's WeakSet, which asyncio.tasks
 * imports as its own (a program that imported _asyncio first keeps two: both are read). 3.12
 * and 3.13: scheduled tasks in a WeakSet, eager ones (run at once by an eager task factory) in
 * a plain set. 3.14 keeps them in per-thread linked lists: a layout not read here. */
struct registry {
	const char *module, *attr;
	bool weak;
};

static const struct registry registry_311[] = {
	{ "_asyncio", "_all_tasks", true }, { "asyncio.tasks", "_all_tasks", true },
};

static const struct registry registry_312[] = {
	{ "_asyncio", "_scheduled_tasks", true }, { "_asyncio", "_eager_tasks", false },
	{ "asyncio.tasks", "_scheduled_tasks", true }, { "asyncio.tasks", "_eager_tasks", false },
};

/* The members of the task set REG, appended to *V. */
static int registry_add(struct builder *b, uint64_t modules, const struct registry *reg,
			uint64_t **v, size_t *n, size_t *cap)
{
	uint64_t mod, set, *objs = NULL;
	size_t nobjs = 0, dead = 0;
	int err;

	if (pyreader__dict_get(b->r, modules, reg->module, &mod) ||
	    pyreader__attr(b->r, mod, reg->attr, &set))
		return 0;	/* not imported */
	if (reg->weak)
		err = pyobj__weakset_items(b->r, set, &objs, &nobjs, &dead);
	else
		err = pyobj__set_items(b->r, set, &objs, &nobjs);
	b->a->stats.tasks_dead += dead;
	b->a->stats.registry_unreadable += err && err != -ENOMEM;
	if (err == -ENOMEM)
		return err;
	if (!err && ls_reserve(v, cap, *n + nobjs, sizeof(**v)))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < nobjs; i++)
		(*v)[(*n)++] = objs[i];
	free(objs);
	return err == -ENOMEM ? err : 0;
}

static int tasks_read(struct builder *b)
{
	const struct registry *regs = b->minor <= 11 ? registry_311 : registry_312;
	size_t nregs = b->minor <= 11 ? ARRAY_SIZE(registry_311) : ARRAY_SIZE(registry_312);
	uint64_t modules, *v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if ((err = pyreader__modules(b->r, &modules))) {
		b->a->stats.registry_unreadable += err != -EAGAIN;
		return 0;
	}
	for (size_t i = 0; i < nregs && !err; i++)
		err = registry_add(b, modules, &regs[i], &v, &n, &cap);
	if (!err && n)
		qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n && !err; i++) {
		if (i && v[i] == v[i - 1])
			continue;
		if (b->a->ntasks == PYASYNC_MAX_TASKS) {
			b->a->stats.tasks_skipped++;
			continue;
		}
		err = task_read(b, v[i]);
	}
	free(v);
	return err;
}

/* ---- names ---- */

/* The key under which dict GLOBALS holds OBJ, into BUF. */
static bool global_name(struct pyreader *r, uint64_t globals, uint64_t obj, char *buf, size_t cap)
{
	uint64_t *keys, *values;
	size_t n;
	bool found = false;

	if (pyreader__dict_items(r, globals, &keys, &values, &n))
		return false;
	for (size_t i = 0; i < n && !found; i++)
		found = values[i] == obj && keys[i] && !pyreader__str(r, keys[i], buf, cap);
	free(keys);
	free(values);
	return found;
}

static int names_give(struct builder *b)
{
	for (size_t i = 0; i < b->a->nlocks; i++) {
		struct pyasync_lock *l = &b->a->locks[i];
		struct lock_seen *s = &b->seen[i];
		char buf[MAX_NAME];
		bool found = false;
		int n;

		for (size_t g = 0; g < MAX_GLOBALS && s->globals[g] && !found; g++)
			found = global_name(b->r, s->globals[g], l->addr, buf, sizeof(buf));
		if (found)
			n = asprintf(&l->name, "%s", buf);
		else if (s->where)
			n = asprintf(&l->name, "%s 0x%" PRIx64 " first %s in %s", l->kind, l->addr,
				     s->taken ? "taken" : "waited on", s->where);
		else
			n = asprintf(&l->name, "%s 0x%" PRIx64, l->kind, l->addr);
		if (n < 0) {
			l->name = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

/* ---- cycles ---- */

/* The waits-for graph over tasks or threads: node -> the lock it waits for -> its holders. */
struct graph {
	size_t n;
	const int *waits;		/* per node */
	size_t **holders;		/* per lock: nodes holding it */
	size_t *nholders;
	size_t path[PYASYNC_MAX_CYCLE], locks[PYASYNC_MAX_CYCLE];
	size_t steps;
};

static int cycle_add(struct builder *b, struct graph *g, bool tasks, size_t len)
{
	struct pyasync *a = b->a;
	struct pyasync_cycle *c;

	if (ls_reserve(&a->cycles, &b->cycle_cap, a->ncycles + 1, sizeof(*a->cycles)))
		return -ENOMEM;
	c = &a->cycles[a->ncycles];
	c->among_tasks = tasks;
	c->n = len;
	c->members = malloc(len * sizeof(size_t));
	c->locks = malloc(len * sizeof(size_t));
	if (!c->members || !c->locks) {
		free(c->members);
		free(c->locks);
		return -ENOMEM;
	}
	memcpy(c->members, g->path, len * sizeof(size_t));
	memcpy(c->locks, g->locks, len * sizeof(size_t));
	a->ncycles++;
	return 0;
}

/* Paths from START through nodes above it only, so that each cycle is found once, from its
 * lowest member. */
static int cycle_search(struct builder *b, struct graph *g, bool tasks, size_t node, size_t depth)
{
	int lock = g->waits[node];
	int err = 0;

	if (lock < 0 || depth == PYASYNC_MAX_CYCLE || ++g->steps > CYCLE_STEPS)
		return 0;
	g->path[depth] = node;
	g->locks[depth] = (size_t)lock;
	for (size_t i = 0; i < g->nholders[lock] && !err; i++) {
		size_t h = g->holders[lock][i];
		bool on_path = false;

		for (size_t j = 1; j <= depth; j++)
			on_path |= g->path[j] == h;
		if (h == g->path[0] && depth)
			err = cycle_add(b, g, tasks, depth + 1);
		else if (h > g->path[0] && !on_path)
			err = cycle_search(b, g, tasks, h, depth + 1);
	}
	return err;
}

static int cycles_find(struct builder *b, bool tasks)
{
	struct pyasync *a = b->a;
	size_t n = tasks ? a->ntasks : a->nthreads, nl = a->nlocks;
	struct graph g = { .n = n };
	int *waits = calloc(n + 1, sizeof(int));
	size_t *caps = calloc(nl + 1, sizeof(size_t));
	int err = 0;

	g.holders = calloc(nl + 1, sizeof(*g.holders));
	g.nholders = calloc(nl + 1, sizeof(*g.nholders));
	g.waits = waits;
	if (!waits || !caps || !g.holders || !g.nholders)
		err = -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		bool torn = tasks && a->tasks[i].torn;
		const size_t *holds = tasks ? a->tasks[i].holds : a->threads[i].holds;
		size_t nh = torn ? 0 : tasks ? a->tasks[i].nholds : a->threads[i].nholds;

		waits[i] = torn ? -1 : tasks ? a->tasks[i].waits_for : a->threads[i].waits_for;
		for (size_t j = 0; j < nh && !err; j++) {
			size_t l = holds[j];

			if (ls_reserve(&g.holders[l], &caps[l], g.nholders[l] + 1, sizeof(size_t)))
				err = -ENOMEM;
			else
				g.holders[l][g.nholders[l]++] = i;
		}
	}
	for (size_t i = 0; i < n && !err; i++)
		err = cycle_search(b, &g, tasks, i, 0);
	for (size_t l = 0; g.holders && l < nl; l++)
		free(g.holders[l]);
	free(g.holders);
	free(g.nholders);
	free(caps);
	free(waits);
	return err;
}

/* ---- the snapshot ---- */

void pyasync__free(struct pyasync *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nlocks; i++) {
		free(a->locks[i].kind);
		free(a->locks[i].name);
	}
	free(a->locks);
	for (size_t i = 0; i < a->ntasks; i++)
		task_clear(&a->tasks[i]);
	free(a->tasks);
	for (size_t i = 0; i < a->nthreads; i++)
		free(a->threads[i].holds);
	free(a->threads);
	for (size_t i = 0; i < a->ncycles; i++) {
		free(a->cycles[i].members);
		free(a->cycles[i].locks);
	}
	free(a->cycles);
	free(a);
}

static int snapshot(struct pyreader *r, uint32_t minor, const struct py_thread *threads,
		    size_t nthreads, const struct pyasync_futex *waits, size_t nwaits,
		    struct pyasync **out)
{
	struct builder b = { .r = r, .minor = minor,
			     .tl = minor >= 13 ? &task_313 : minor == 10 ? &task_310 : &task_311 };
	int err;

	b.a = calloc(1, sizeof(*b.a));
	if (!b.a)
		return -ENOMEM;
	err = threads_read(&b, threads, nthreads, waits, nwaits);
	if (!err)
		err = tasks_read(&b);
	if (!err)
		err = names_give(&b);
	if (!err)
		err = cycles_find(&b, true);
	if (!err)
		err = cycles_find(&b, false);
	for (size_t i = 0; b.seen && i < b.a->nlocks; i++)
		free(b.seen[i].where);
	free(b.seen);
	free(b.loops);
	if (err) {
		pyasync__free(b.a);
		return err;
	}
	*out = b.a;
	return 0;
}

/* Who member J of cycle C is and which lock it waits for, comparable across snapshots. */
static void cycle_pair(const struct pyasync *a, const struct pyasync_cycle *c, size_t j,
		       uint64_t pair[2])
{
	pair[0] = c->among_tasks ? a->tasks[c->members[j]].addr
				 : (uint64_t)a->threads[c->members[j]].tid;
	pair[1] = a->locks[c->locks[j]].addr;
}

/* Cycle C of A is in B: the same members waiting for the same locks. */
static bool cycle_in(const struct pyasync *a, const struct pyasync_cycle *c,
		     const struct pyasync *b)
{
	for (size_t k = 0; k < b->ncycles; k++) {
		const struct pyasync_cycle *d = &b->cycles[k];
		size_t same = 0;

		if (d->among_tasks != c->among_tasks || d->n != c->n)
			continue;
		for (size_t i = 0; i < c->n; i++) {
			uint64_t p[2], q[2];

			cycle_pair(a, c, i, p);
			for (size_t j = 0; j < d->n; j++) {
				cycle_pair(b, d, j, q);
				same += p[0] == q[0] && p[1] == q[1];
			}
		}
		if (same == c->n)
			return true;
	}
	return false;
}

/* A target runs on while it is read: a cycle is kept only if a second snapshot, from a fresh
 * read of the threads, finds it again. A real deadlock holds still. */
static int cycles_confirm(struct pyreader *r, uint32_t minor, const struct pyasync_futex *waits,
			  size_t nwaits, struct pyasync *a)
{
	struct py_thread *th = NULL;
	struct pyasync *again = NULL;
	size_t nth = 0, kept = 0;
	int err = pyreader__threads(r, &th, &nth);

	if (!err)
		err = snapshot(r, minor, th, nth, waits, nwaits, &again);
	pyreader__threads_free(th, nth);
	if (err == -ENOMEM)
		return err;
	for (size_t i = 0; i < a->ncycles; i++) {
		if (!err && cycle_in(a, &a->cycles[i], again)) {
			a->cycles[kept++] = a->cycles[i];
			continue;
		}
		a->stats.cycles_unconfirmed++;
		free(a->cycles[i].members);
		free(a->cycles[i].locks);
	}
	a->ncycles = kept;
	pyasync__free(again);
	return 0;
}

int pyasync__read(struct pyreader *r, const struct py_thread *threads, size_t nthreads,
		  const struct pyasync_futex *waits, size_t nwaits, struct pyasync **out,
		  char *why, size_t why_len)
{
	struct py_info info;
	uint32_t minor;
	int err;

	*out = NULL;
	if ((err = pyobj__supported(r, why, why_len)))
		return err;
	pyreader__info(r, &info);
	minor = info.version >> 16 & 0xff;
	err = snapshot(r, minor, threads, nthreads, waits, nwaits, out);
	if (!err && (*out)->ncycles)
		err = cycles_confirm(r, minor, waits, nwaits, *out);
	if (err) {
		pyasync__free(*out);
		*out = NULL;
		if (why && why_len)
			snprintf(why, why_len, "reading asyncio tasks and with-blocks: %s",
				 strerror(-err));
	}
	return err;
}

/* ---- the dump's JSON ---- */

const struct pyasync_thread *pyasync__thread(const struct pyasync *a, pid_t tid)
{
	for (size_t i = 0; i < a->nthreads; i++)
		if (a->threads[i].tid == tid)
			return &a->threads[i];
	return NULL;
}

static void json_lock_name(const struct pyasync *a, int idx, struct json_writer *w)
{
	json_writer__string(w, idx >= 0 && (size_t)idx < a->nlocks ? a->locks[idx].name : NULL);
}

static void json_holds(const struct pyasync *a, const size_t *holds, size_t n,
		       struct json_writer *w)
{
	json_writer__key(w, "holds");
	json_writer__array_begin(w);
	for (size_t i = 0; i < n; i++)
		json_lock_name(a, (int)holds[i], w);
	json_writer__array_end(w);
}

static void json_frames(const struct py_frame *frames, size_t n, struct json_writer *w)
{
	json_writer__key(w, "stack");
	json_writer__array_begin(w);
	for (size_t i = 0; i < n; i++)
		json_writer__string(w, frames[i].text);
	json_writer__array_end(w);
}

static void json_task(const struct pyasync *a, const struct pyasync_task *t,
		      struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "tid");
	json_writer__i64(w, t->tid);
	json_writer__key(w, "name");
	json_writer__string(w, t->name);
	json_writer__key(w, "coro");
	json_writer__string(w, t->coro);
	json_frames(t->frames, t->nframes, w);
	json_writer__key(w, "waits_for");
	json_lock_name(a, t->waits_for, w);
	json_holds(a, t->holds, t->nholds, w);
	json_writer__object_end(w);
}

void pyasync__json_tasks(const struct pyasync *a, struct json_writer *w)
{
	json_writer__array_begin(w);
	for (size_t i = 0; i < a->ntasks; i++)
		json_task(a, &a->tasks[i], w);
	json_writer__array_end(w);
}

static void json_thread(const struct pyasync *a, const struct pyasync_thread *th,
			const struct py_thread *threads, size_t nthreads, struct json_writer *w)
{
	const struct py_thread *t = NULL;

	for (size_t i = 0; i < nthreads && !t; i++)
		if (threads[i].tid == th->tid)
			t = &threads[i];
	json_writer__object_begin(w);
	json_writer__key(w, "tid");
	json_writer__i64(w, th->tid);
	json_writer__key(w, "name");
	json_writer__string(w, t ? t->name : NULL);
	json_holds(a, th->holds, th->nholds, w);
	json_writer__key(w, "waits_for");
	json_lock_name(a, th->waits_for, w);
	json_frames(t ? t->frames : NULL, t ? t->nframes : 0, w);
	json_writer__object_end(w);
}

void pyasync__json_cycles(const struct pyasync *a, const struct py_thread *threads,
			  size_t nthreads, bool tasks_only, struct json_writer *w)
{
	for (size_t i = 0; i < a->ncycles; i++) {
		const struct pyasync_cycle *c = &a->cycles[i];

		if (tasks_only && !c->among_tasks)
			continue;
		json_writer__object_begin(w);
		json_writer__key(w, "locks");
		json_writer__array_begin(w);
		for (size_t j = 0; j < c->n; j++)
			json_lock_name(a, (int)c->locks[j], w);
		json_writer__array_end(w);
		json_writer__key(w, c->among_tasks ? "tasks" : "threads");
		json_writer__array_begin(w);
		for (size_t j = 0; j < c->n; j++) {
			if (c->among_tasks)
				json_task(a, &a->tasks[c->members[j]], w);
			else
				json_thread(a, &a->threads[c->members[j]], threads, nthreads, w);
		}
		json_writer__array_end(w);
		/* holders come from open with-blocks: no lock here records its owner */
		json_writer__key(w, "inferred");
		json_writer__bool(w, true);
		json_writer__object_end(w);
	}
}
