/* pywait.c - classifies a CPython lock wait by the frames around it and confirms it in the objects
 * they hold; names the objects by the variables that refer to them. */
#include "python/pywait.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/pycode.h"
#include "python/pyobj.h"

#define NAME_FRAMES 3	 /* frames searched for a variable, from the first one named */
#define VISIT_BUDGET 256 /* objects looked at in one search: a bound on huge modules */
#define MAX_WAITERS 4096 /* a Condition's waiters read */

/* ---- the frames' names ---- */

static bool in_file(const struct py_frame *f, const char *base)
{
	size_t n = strlen(f->file), b = strlen(base);

	return n >= b && !strcmp(f->file + n - b, base) && (n == b || f->file[n - b - 1] == '/');
}

static bool is(const struct py_frame *f, const char *file, const char *func)
{
	return !strcmp(f->func, func) && in_file(f, file);
}

/* The standard library's machinery that a wait passes through: not where the user names things. */
static bool library(const struct py_frame *f)
{
	return in_file(f, "threading.py") || in_file(f, "queue.py");
}

static size_t first_user(const struct py_frame *frames, size_t n, size_t from)
{
	while (from + 1 < n && library(&frames[from]))
		from++;
	return from;
}

/* A lock that threading's own frames take for a Thread.join or Thread.start the user called
 * (its registry of threads: _active_limbo_lock, _shutdown_locks_lock, taken as a joined thread
 * is marked stopped, or a started one is entered): the user's join or start, not a lock of the
 * program's. OUT's user frame is known. */
static void machinery(const struct py_frame *frames, struct pywait_site *out)
{
	for (size_t i = 0; i < out->user && in_file(&frames[i], "threading.py"); i++)
		if (!strcmp(frames[i].func, "Thread.join") ||
		    !strcmp(frames[i].func, "Thread.start")) {
			out->kind = frames[i].func[7] == 'j' ? PYWAIT_JOIN : PYWAIT_START;
			out->check = PYWAIT_CHECK_MACHINERY;
			out->api = i;
			return;
		}
}

/*
 * CPython's signalling is built on locks acquired twice (Lib/threading.py, Lib/queue.py):
 * - Condition.wait allocates a fresh waiter lock, acquires it, puts it in self._waiters,
 *   releases the condition's lock and acquires the waiter again: that second acquire sleeps
 *   until notify() releases the waiter from another thread. Event.wait, Queue.get/put/join,
 *   Barrier.wait and Semaphore.acquire all wait in Condition.wait of their own Condition, so
 *   the frame that called Condition.wait (past wait_for) says which idiom it is.
 * - Thread.join sleeps in Thread._wait_for_tstate_lock on self._tstate_lock, which the joined
 *   thread holds from its start and the interpreter releases when the thread ends.
 * - queue.SimpleQueue.get (ThreadPoolExecutor's idle workers) is C: it sleeps on the queue's
 *   own lock, which put() releases; the Python frame that called it holds the queue.
 * - 3.13 parks a thread that waits for a SimpleQueue or for a thread's end on a semaphore of
 *   its own (Python/parking_lot.c), which no object holds: Thread.join waits in C for
 *   self._handle's thread_is_exiting event, set when the thread ends; SimpleQueue.get is
 *   known by the call the frame is making, read from its bytecode.
 * Anything else a thread sleeps on from Python is a lock it asked for: contention, once a
 * lock object it refers to is found to own the futex word.
 */
void pywait__site(const struct py_frame *frames, size_t n, struct pywait_site *out)
{
	size_t i = 1;

	*out = (struct pywait_site){.kind = PYWAIT_LOCK, .check = PYWAIT_CHECK_OBJECT};
	if (!n)
		return;
	if (is(&frames[0], "threading.py", "Thread._wait_for_tstate_lock") ||
	    is(&frames[0], "threading.py", "Thread.join")) {
		out->kind = PYWAIT_JOIN;
		out->check = frames[0].func[7] == 'j' ? PYWAIT_CHECK_HANDLE : PYWAIT_CHECK_TSTATE;
		out->user = first_user(frames, n, 0);
		return;
	}
	if (!is(&frames[0], "threading.py", "Condition.wait")) {
		out->user = first_user(frames, n, 0);
		machinery(frames, out);
		return;
	}
	out->kind = PYWAIT_COND;
	out->check = PYWAIT_CHECK_WAITER;
	while (i < n && is(&frames[i], "threading.py", "Condition.wait_for"))
		i++;
	if (i < n) {
		const struct py_frame *f = &frames[i];

		if (is(f, "threading.py", "Event.wait"))
			out->kind = PYWAIT_EVENT;
		else if (in_file(f, "queue.py") && !strncmp(f->func, "Queue.", 6))
			out->kind = PYWAIT_QUEUE;
		else if (in_file(f, "threading.py") && !strncmp(f->func, "Barrier.", 8))
			out->kind = PYWAIT_BARRIER;
		else if (is(f, "threading.py", "Semaphore.acquire"))
			out->kind = PYWAIT_SIGNAL;
		if (out->kind != PYWAIT_COND)
			out->api = i;
		/* Thread.start waits on the new thread's _started Event, which its bootstrap
		 * sets: the start handshake, the Thread (start's self) what is waited on */
		if (out->kind == PYWAIT_EVENT && i + 1 < n &&
		    is(&frames[i + 1], "threading.py", "Thread.start")) {
			out->kind = PYWAIT_START;
			out->api = i + 1;
		}
	}
	/* Barrier.wait calls Barrier._wait: the same self; the user is past both */
	out->user = first_user(frames, n, out->api);
}

const char *pywait__kind_name(enum pywait_kind kind)
{
	static const char *const names[] = {
	    [PYWAIT_UNKNOWN] = "unknown", [PYWAIT_LOCK] = "lock",   [PYWAIT_COND] = "cond",
	    [PYWAIT_EVENT] = "event",	  [PYWAIT_QUEUE] = "queue", [PYWAIT_BARRIER] = "barrier",
	    [PYWAIT_SIGNAL] = "signal",	  [PYWAIT_JOIN] = "join",   [PYWAIT_START] = "start",
	};

	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

/* ---- objects ---- */

/* The first argument of FRAME (self in a method), also where a closure made it a cell. */
static int self_of(struct pyreader *r, const struct py_frame *frame, uint64_t *self)
{
	uint64_t *vals = NULL, *names = NULL;
	size_t n = 0;
	int err = pyobj__frame_locals(r, frame->addr, &vals, &names, &n);

	*self = !err && n ? vals[0] : 0;
	free(vals);
	free(names);
	return err ? err : *self ? 0 : -ENOENT;
}

/* The local of FRAME named NAME (its value), 0 if it has none or it is unset. */
static uint64_t local_named(struct pyreader *r, const struct py_frame *frame, const char *name)
{
	uint64_t *vals = NULL, *names = NULL, val = 0;
	char buf[64];
	size_t n = 0;

	if (pyobj__frame_locals(r, frame->addr, &vals, &names, &n))
		return 0;
	for (size_t i = 0; i < n && !val; i++)
		if (vals[i] && !pyreader__str(r, names[i], buf, sizeof(buf)) && !strcmp(buf, name))
			val = vals[i];
	free(vals);
	free(names);
	return val;
}

static bool word_is(struct pyreader *r, uint64_t lock, uint64_t futex)
{
	uint64_t word;

	return lock && !pyobj__lock_word(r, lock, &word, NULL) && word == futex;
}

/* ---- a search through what frames refer to ---- */

struct search {
	struct pyreader *r;
	uint64_t target; /* naming: this object */
	uint64_t futex;	 /* finding: the lock object whose word this is */
	uint64_t found;
	size_t budget;
	bool attrs; /* look at the variables' attributes (else at the variables) */
	char *buf;
	size_t cap;
};

static bool matches(struct search *s, uint64_t obj)
{
	uint64_t word;

	if (!obj || !s->budget)
		return false;
	s->budget--;
	if (s->target)
		return obj == s->target;
	if (pyobj__lock_word(s->r, obj, &word, NULL) || word != s->futex)
		return false;
	s->found = obj;
	return true;
}

static bool str_of(struct pyreader *r, uint64_t obj, char *buf, size_t cap)
{
	return obj && !pyreader__str(r, obj, buf, cap);
}

/* The items of OBJ, a list or tuple (locks made in a comprehension, a philosopher's forks):
 * "PREFIX[i]" (SUFFIX after). */
static bool search_items(struct search *s, uint64_t obj, const char *prefix, const char *suffix)
{
	uint64_t *items = NULL;
	bool found = false;
	size_t n = 0;

	if (!s->budget)
		return false;
	s->budget--;	/* the look at its type costs reads too */
	if (pyobj__seq_items(s->r, obj, &items, &n))
		return false;
	/* naming compares pointers, read at once: the items cost no budget then */
	for (size_t i = 0; i < n && !found; i++)
		if (s->target ? items[i] == s->target : matches(s, items[i])) {
			snprintf(s->buf, s->cap, "%s[%zu]%s", prefix, i, suffix);
			found = true;
		}
	free(items);
	return found;
}

/* OBJ's instance attributes, and its class's, and the items of those that are lists or tuples:
 * "PREFIX.attr", "Class.attr" or "PREFIX.attr[i]" (SUFFIX after). */
static bool search_attrs(struct search *s, uint64_t obj, const char *prefix, const char *suffix)
{
	uint64_t *keys = NULL, *vals = NULL, dict;
	char key[128], cls[128], path[PYWAIT_NAME_MAX];
	bool found = false;
	size_t n = 0;

	if (!s->budget || pyreader__attr_items(s->r, obj, &keys, &vals, &n))
		return false;
	for (size_t i = 0; i < n && !found; i++)
		if (matches(s, vals[i]) && str_of(s->r, keys[i], key, sizeof(key))) {
			snprintf(s->buf, s->cap, "%s.%s%s", prefix, key, suffix);
			found = true;
		}
	/* naming only: finding a lock by its word would spend the budget on every attribute */
	for (size_t i = 0; i < n && !found && s->target; i++)
		if (vals[i] && str_of(s->r, keys[i], key, sizeof(key))) {
			snprintf(path, sizeof(path), "%s.%s", prefix, key);
			found = search_items(s, vals[i], path, suffix);
		}
	free(keys);
	free(vals);
	if (found || pyobj__type_dict(s->r, obj, &dict, cls, sizeof(cls)) ||
	    pyreader__dict_items(s->r, dict, &keys, &vals, &n))
		return found;
	for (size_t i = 0; i < n && !found; i++)
		if (matches(s, vals[i]) && str_of(s->r, keys[i], key, sizeof(key))) {
			snprintf(s->buf, s->cap, "%s.%s", cls, key);
			found = true;
		}
	free(keys);
	free(vals);
	return found;
}

/* Frame F's locals, the attributes of its locals. */
static bool search_locals(struct search *s, const struct py_frame *f)
{
	uint64_t *vals = NULL, *names = NULL;
	char name[128], suffix[PYWAIT_NAME_MAX];
	bool found = false;
	size_t n = 0;

	if (pyobj__frame_locals(s->r, f->addr, &vals, &names, &n))
		return false;
	snprintf(suffix, sizeof(suffix), " in %s", f->func);
	for (size_t i = 0; i < n && !found && !s->attrs; i++)
		if (matches(s, vals[i]) && str_of(s->r, names[i], name, sizeof(name))) {
			snprintf(s->buf, s->cap, "%s%s", name, suffix);
			found = true;
		}
	/* lists of locks before attributes: a module's attributes would spend the budget */
	for (size_t i = 0; i < n && !found && s->attrs; i++)
		found = vals[i] && str_of(s->r, names[i], name, sizeof(name)) &&
			search_items(s, vals[i], name, suffix);
	for (size_t i = 0; i < n && !found && s->attrs; i++)
		found = vals[i] && str_of(s->r, names[i], name, sizeof(name)) &&
			search_attrs(s, vals[i], name, suffix);
	free(vals);
	free(names);
	return found;
}

/* Frame F's module globals, and their attributes. */
static bool search_globals(struct search *s, const struct py_frame *f)
{
	uint64_t globals, *keys = NULL, *vals = NULL;
	char key[128];
	bool found = false;
	size_t n = 0;

	if (pyobj__frame_globals(s->r, f->addr, &globals) ||
	    pyreader__dict_items(s->r, globals, &keys, &vals, &n))
		return false;
	for (size_t i = 0; i < n && !found && !s->attrs; i++)
		if (matches(s, vals[i]) && str_of(s->r, keys[i], key, sizeof(key))) {
			snprintf(s->buf, s->cap, "%s", key);
			found = true;
		}
	for (size_t i = 0; i < n && !found && s->attrs; i++)
		found = vals[i] && str_of(s->r, keys[i], key, sizeof(key)) &&
			search_items(s, vals[i], key, "");
	for (size_t i = 0; i < n && !found && s->attrs; i++)
		found = vals[i] && str_of(s->r, keys[i], key, sizeof(key)) && key[0] != '_' &&
			search_attrs(s, vals[i], key, "");
	free(keys);
	free(vals);
	return found;
}

/* The frames' variables first, then their attributes: a lock is most often a variable of its
 * own, and an attribute costs a read of its object's dict. */
static bool search_frames(struct search *s, const struct py_thread *t, size_t from, bool skip_lib)
{
	for (int attrs = 0; attrs < 2; attrs++) {
		size_t searched = 0;

		s->attrs = attrs;
		for (size_t i = from; i < t->nframes && searched < NAME_FRAMES; i++) {
			const struct py_frame *f = &t->frames[i];

			if (skip_lib && library(f))
				continue;
			searched++;
			if (search_locals(s, f) || search_globals(s, f))
				return true;
		}
	}
	return false;
}

bool pywait__name(struct pyreader *r, const struct py_thread *t, size_t from, uint64_t obj,
		  char *buf, size_t cap)
{
	struct search s = {.r = r, .target = obj, .budget = VISIT_BUDGET, .buf = buf, .cap = cap};

	buf[0] = '\0';
	return obj && search_frames(&s, t, from, true);
}

/* The lock whose bound __exit__ a `with` being entered in FRAME has stored (BEFORE_WITH), if
 * FRAME is entering one. */
static uint64_t entering(struct pyreader *r, const struct py_frame *frame)
{
	struct pyobj_stack st;
	uint64_t self = 0, func;
	char name[32];

	if (pyobj__frame_stack(r, frame->addr, &st))
		return 0;
	if (!st.entering_with || !st.next ||
	    pyobj__method(r, st.next, &self, &func, name, sizeof(name)) || strcmp(name, "__exit__"))
		self = 0;
	pyobj__frame_stack_clear(&st);
	return self;
}

/* The lock of an open `with` block of FRAME (its bound __exit__ on the value stack) whose
 * futex word is FUTEX, or 0. */
static uint64_t with_block(struct pyreader *r, const struct py_frame *frame, uint64_t futex)
{
	struct pyobj_stack st;
	uint64_t self, func, found = 0;
	char name[32];

	if (pyobj__frame_stack(r, frame->addr, &st))
		return 0;
	for (size_t i = 0; i < st.nlive && !found; i++)
		if (!pyobj__method(r, st.live[i], &self, &func, name, sizeof(name)) &&
		    !strcmp(name, "__exit__") && word_is(r, self, futex))
			found = self;
	pyobj__frame_stack_clear(&st);
	return found;
}

bool pywait__find_lock(struct pyreader *r, const struct py_thread *t, size_t from, uint64_t futex,
		       uint64_t *obj, char *buf, size_t cap)
{
	struct search s = {.r = r, .futex = futex, .budget = VISIT_BUDGET, .buf = buf, .cap = cap};

	buf[0] = '\0';
	*obj = from < t->nframes ? entering(r, &t->frames[from]) : 0;
	for (size_t i = from; i < t->nframes && i < from + NAME_FRAMES && !word_is(r, *obj, futex);
	     i++)
		*obj = with_block(r, &t->frames[i], futex);
	if (word_is(r, *obj, futex)) {
		pywait__name(r, t, from, *obj, buf, cap);
		return true;
	}
	if (!search_frames(&s, t, from, false))
		return false;
	*obj = s.found;
	return true;
}

/* ---- confirming a site in the objects ---- */

/* Condition.wait: is FUTEX its waiter lock (the local `waiter`, also in self._waiters until a
 * notify takes it out), or the Condition's own lock, taken back after the wait? */
static void check_waiter(struct pyreader *r, const struct py_frame *f, uint64_t futex,
			 struct pywait *out, bool *own_lock)
{
	uint64_t cond, waiters, lock, *items = NULL;
	size_t n = 0;

	*own_lock = false;
	if (self_of(r, f, &cond))
		return;
	if (!pyreader__attr(r, cond, "_lock", &lock) && word_is(r, lock, futex)) {
		*own_lock = true;
		out->lock = lock;
		return;
	}
	if (word_is(r, local_named(r, f, "waiter"), futex)) {
		out->object = cond;
		return;
	}
	if (pyreader__attr(r, cond, "_waiters", &waiters) ||
	    pyobj__deque_items(r, waiters, &items, &n))
		return;
	for (size_t i = 0; i < n && i < MAX_WAITERS && !out->object; i++)
		if (word_is(r, items[i], futex))
			out->object = cond;
	free(items);
}

/* OUT's object is the threading.Thread THREAD: named after it. */
static void thread_named(struct pyreader *r, uint64_t thread, struct pywait *out)
{
	uint64_t tid = 0, obj;
	char name[128] = "";

	out->object = thread;
	if (!pyreader__attr(r, thread, "_native_id", &obj))
		pyreader__long(r, obj, &tid);
	if (pyreader__attr(r, thread, "_name", &obj) || pyreader__str(r, obj, name, sizeof(name)))
		name[0] = '\0';
	snprintf(out->name, sizeof(out->name), "thread %" PRIu64 "%s%s%s", tid, name[0] ? " (" : "",
		 name, name[0] ? ")" : "");
}

/* Thread._wait_for_tstate_lock: is FUTEX the joined thread's tstate lock (the local `lock`,
 * self._tstate_lock until the join completes)? Named after the thread. */
static void check_tstate(struct pyreader *r, const struct py_frame *f, uint64_t futex,
			 struct pywait *out)
{
	uint64_t thread, lock = 0;

	if (self_of(r, f, &thread))
		return;
	if (!word_is(r, local_named(r, f, "lock"), futex) &&
	    (pyreader__attr(r, thread, "_tstate_lock", &lock) || !word_is(r, lock, futex)))
		return;
	thread_named(r, thread, out);
}

/* 3.13's Thread.join: in C, parked until self._handle's thread ends; the futex is the
 * waiter's own, so the handle's event, not yet set, is what confirms it. */
static void check_handle(struct pyreader *r, const struct py_frame *f, struct pywait *out)
{
	uint64_t thread, handle;
	bool exited = true;

	if (self_of(r, f, &thread) || pyreader__attr(r, thread, "_handle", &handle) ||
	    pyobj__handle_exited(r, handle, &exited) || exited)
		return;
	thread_named(r, thread, out);
}

/* 3.13's SimpleQueue.get, parked: the queue whose get() FRAME calls. */
static bool parked_queue(struct pyreader *r, const struct py_thread *t, size_t frame,
			 const struct pywait_site *site, struct pywait *out)
{
	char method[16];
	uint64_t obj;

	if (!pyobj__parks(r) ||
	    pycode__calling(r, t->frames[frame].addr, &obj, method, sizeof(method)) ||
	    strcmp(method, "get") || !pyobj__is(r, obj, "_queue.SimpleQueue"))
		return false;
	out->kind = PYWAIT_QUEUE;
	out->object = obj;
	if (!pywait__name(r, t, site->user, obj, out->name, sizeof(out->name)))
		pywait__name(r, t, frame, obj, out->name, sizeof(out->name));
	return true;
}

/* The api frame's self, where the idiom is a method of an object: the Event, Queue... */
static uint64_t api_object(struct pyreader *r, const struct py_thread *t,
			   const struct pywait_site *site, uint64_t cond)
{
	uint64_t self;

	if (site->kind == PYWAIT_COND || site->api >= t->nframes ||
	    self_of(r, &t->frames[site->api], &self))
		return cond;
	return self;
}

static int confirm(struct pyreader *r, const struct py_thread *t, uint64_t futex, bool known_lock,
		   const struct pywait_site *site, struct pywait *out)
{
	const char *type = NULL;
	bool own_lock = false;
	uint64_t word;

	switch (site->check) {
	case PYWAIT_CHECK_TSTATE:
		check_tstate(r, &t->frames[site->frame], futex, out);
		out->kind = out->object ? PYWAIT_JOIN : PYWAIT_UNKNOWN;
		return 0;
	case PYWAIT_CHECK_HANDLE:
		check_handle(r, &t->frames[site->frame], out);
		out->kind = out->object ? PYWAIT_JOIN : PYWAIT_UNKNOWN;
		return 0;
	case PYWAIT_CHECK_WAITER:
		check_waiter(r, &t->frames[site->frame], futex, out, &own_lock);
		if (own_lock) {
			/* taking the Condition's lock back after the wait: a lock like any */
			out->kind = PYWAIT_LOCK;
			out->object = out->lock;
			pywait__name(r, t, site->user, out->object, out->name, sizeof(out->name));
			return 0;
		}
		if (!out->object)
			return 0;
		out->kind = site->kind;
		out->object = api_object(r, t, site, out->object);
		pywait__name(r, t, site->user, out->object, out->name, sizeof(out->name));
		return 0;
	case PYWAIT_CHECK_MACHINERY:
		/* a lock threading's frame refers to; what is waited for, the Thread */
		if (!pywait__find_lock(r, t, site->frame, futex, &out->lock, out->name,
				       sizeof(out->name)) ||
		    self_of(r, &t->frames[site->api], &out->object)) {
			memset(out, 0, sizeof(*out));
			return 0;
		}
		out->kind = site->kind;
		if (out->kind == PYWAIT_JOIN)	/* one entry with the join's own wait */
			thread_named(r, out->object, out);
		else
			pywait__name(r, t, site->user, out->object, out->name, sizeof(out->name));
		return 0;
	case PYWAIT_CHECK_OBJECT:
		if (known_lock) {
			out->kind = PYWAIT_LOCK;
			return 0;
		}
		if (!pywait__find_lock(r, t, site->frame, futex, &out->object, out->name,
				       sizeof(out->name))) {
			parked_queue(r, t, site->frame, site, out);
			return 0;
		}
		pyobj__lock_word(r, out->object, &word, &type);
		out->kind =
		    type && !strcmp(type, "_queue.SimpleQueue") ? PYWAIT_QUEUE : PYWAIT_LOCK;
		out->lock = out->kind == PYWAIT_LOCK ? out->object : 0;
		/* the name the user's own frames give it, else where it was found */
		if (site->user != site->frame || library(&t->frames[site->frame])) {
			char user[PYWAIT_NAME_MAX];

			if (pywait__name(r, t, site->user, out->object, user, sizeof(user)))
				snprintf(out->name, sizeof(out->name), "%s", user);
		}
		return 0;
	}
	return 0;
}

int pywait__classify(struct pyreader *r, const struct py_thread *t, uint64_t futex, bool known_lock,
		     struct pywait *out)
{
	struct pywait_site site;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = pyobj__supported(r, NULL, 0)))
		return err;
	if (!t->nframes)
		return 0;
	pywait__site(t->frames, t->nframes, &site);
	err = confirm(r, t, futex, known_lock, &site, out);
	if (out->object && pyobj__type_name(r, out->object, out->type, sizeof(out->type)))
		out->type[0] = '\0';
	return err;
}

int pywait__classify_as_was(struct pyreader *r, const struct py_frame *frames, const uint64_t *code,
			    const uint64_t *instr, size_t n, struct pywait *out)
{
	struct pywait_site site;
	char method[16];
	bool local;

	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	pywait__site(frames, n, &site);
	/* under Thread.join or Thread.start, threading's frames take nothing but its registry's
	 * locks (and the Events and tstate locks placed above) */
	if (site.check == PYWAIT_CHECK_MACHINERY) {
		out->kind = site.kind;
		return 0;
	}
	if (site.check == PYWAIT_CHECK_OBJECT ||
	    pycode__call_as(r, code[site.frame], instr[site.frame], method, sizeof(method), &local))
		return 0;
	/* In Condition.wait the only plain local acquired is `waiter`, the fresh lock that
	 * notify() releases; it also retakes the Condition's own lock (self._acquire_restore,
	 * C for an RLock): contention, not this. Thread._wait_for_tstate_lock acquires only
	 * its local `lock`, the joined thread's tstate lock. 3.13's Thread.join calls only
	 * self._handle.join(). The call in progress, read from the code at the instruction
	 * the frame was at, tells them apart. */
	if (site.check == PYWAIT_CHECK_HANDLE ? !strcmp(method, "join")
					      : !strcmp(method, "acquire") && local)
		out->kind = site.kind;
	return 0;
}
