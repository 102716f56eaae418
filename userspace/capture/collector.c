/* collector.c - from raw BPF events to self-contained trace records. Names are resolved here,
 * while the target's objects are mapped; every record that names something follows its name. */
#include "capture/collector.h"

#include <bpf/bpf.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/lockword.h"
#include "inspect/blocked.h"
#include "inspect/debuginfo.h"
#include "util/bytemap.h"
#include "util/privs.h"
#include "util/common.h"
#include "bpf/events.h"
#include "python/pyasync.h"
#include "python/pyreader.h"
#include "python/pywait.h"
#include "inspect/symbols.h"
#include "trace/trace.h"

#define MAX_PCS 64
#define REFRESH_NS 20000000ull	/* re-read the memory map on a miss, at most 50 times a second */

/* What a stack says about the wait it was taken at: the lock API it passes through. */
enum {
	SF_MUTEX = 1 << 0,
	SF_RWLOCK = 1 << 1,
	SF_SEM = 1 << 2,
	SF_COND = 1 << 3,
	SF_JOIN = 1 << 4,
	SF_PYLOCK = 1 << 5,	/* CPython's lock (threading.Lock, RLock): a lock, though a sem_t */
	SF_COND_WAKE = 1 << 6,	/* pthread_cond_signal, _broadcast: they wait on other words */
	SF_COND_DESTROY = 1 << 7,
	SF_PYMETHOD = 1 << 8,	/* ... taken through the _thread module's lock objects, for Python */
	SF_UNNAMED = 1 << 9,	/* a frame of the program's or the interpreter's has no function */
	SF_START = 1 << 10,	/* CPython 3.13+: a new thread's thread_run waits in PyEvent_Wait
				 * until its starter has marked its handle running */
};

struct stack_info {
	uint16_t flags;	/* SF_* */
	char *first_user;	/* first frame outside the C library, formatted; may be NULL */
};

/* A thread's Python stack as frame ids, read at most every PY_READ_NS: a CPU-bound Python
 * program waits for the GIL hundreds of times a second, and a read costs ~50 us. */
#define PY_READ_NS 10000000ull
#define PY_LOOK_NS 5000000000ull	/* how long after an exec to look for CPython */
/* ... and how often: a launched interpreter runs its program's first lines ~30 ms after its
 * exec, whose waits carry their Python frames only once it is found */
#define PY_LOOK_EVERY_NS 5000000ull
#define GIL_LOOK_NS 1000000ull		/* how often to look for a GIL not set up yet */
#define PY_MAX_IDS 64
#define DESCRIBE_AGAIN 16 /* events after an exec read without its arguments: read again */
_Static_assert(MAX_PCS + PY_MAX_IDS <= LS_STACK_FRAMES_MAX, "readers cut deeper stacks");

struct py_cached {
	uint64_t read_at;
	uint32_t n;
	uint32_t ids[PY_MAX_IDS];
	uint64_t addr[PY_MAX_IDS];	/* the frames in the target */
	char *text[PY_MAX_IDS];		/* ... formatted */
	bool lib[PY_MAX_IDS];		/* ... in threading.py */
	bool join[PY_MAX_IDS];		/* ... threading.Thread.join's own */
	/* the pinned read's objects told what its wait is (pywait): the frames' names alone do
	 * not make it a join */
	bool objects_told;
	char *name;		/* threading.Thread.name last written */
	uint64_t tstate;	/* its PyThreadState, as last told to py_thread_fn */
	bool pinned;		/* read by collector__python_pin: kept for the next stack */
	/* its last futex wait, classified from its frames (python/pywait.h) */
	uint64_t wait_futex, wait_at;
	struct pywait wait;
};

/* A thread's Python stack for one stack record: frame ids innermost first. */
struct py_view {
	uint32_t ids[PY_MAX_IDS];
	uint32_t n;
	bool join;		/* it waits in threading.Thread.join */
	const char *first;	/* its innermost frame not in threading.py, formatted; borrowed */
};



#define COUNTERS_MAX 32

/* A call path's native frames, as the unwinder found them. */
struct path_pcs {
	uint32_t n;
	uint64_t pcs[LS_PATH_MAX_FRAMES];
};

/* What every collector writing to one trace shares: one space of frame and stack ids, and the
 * call paths given to the BPF side, whose maps they share too (events.h): a forked child's
 * waits come keyed by its parent's paths. */
struct collector_ids {
	uint32_t frame, stack;
	struct bytemap *paths;		/* key -> index in pathv */
	struct path_pcs *pathv;
	size_t npaths, pathv_cap;
	/* loss counters summed over the collectors: the trace keeps one total per name */
	struct {
		char *name;
		uint64_t value;
	} totals[COUNTERS_MAX];
	size_t ntotals;
	bool several;			/* more than one collector shares this */
};

struct collector {
	pid_t pid;
	pid_t tgid;		/* the process: PID may be one of its threads (a zombie leader) */
	uint32_t proc_index;	/* of the trace's processes: keeps private addresses apart */
	/* the first process's symbolizer, whose loaded objects this one's borrows (it outlives
	 * this collector); NULL for the first */
	const struct symbolizer *lender;
	struct trace_writer *w;		/* borrowed */
	struct symbolizer *sym;
	uint64_t start_mono;
	uint64_t last_ts;
	uint64_t last_refresh;
	bool objects_loaded;	/* collector__load_objects was called */
	char *comm, *cmdline;	/* the last PROCESS record's; NULL before the first */
	uint32_t describe_again;	/* events after which the command is read again: an exec
					 * renames before its arguments are in place */
	struct bytemap *threads;	/* tid -> its last name (strdup'd char *) */
	struct bytemap *frames;		/* (pc, ra) -> frame id */
	struct bytemap *stacks;		/* pcs -> stack id */
	struct bytemap *locks;		/* addr -> kind + 1 of the LOCK record written */
	struct bytemap *mappings;	/* (start, path) -> 1: MAPPING records written */
	struct bytemap *joins;		/* tid -> address of a join on it: renamed with it */
	struct bytemap *at_attach;	/* tid -> 1 while the wait the attach snapshot found it in
					 * has not ended: its begin was never seen by a probe */
	struct stack_info *sinfo;	/* by stack id */
	size_t sinfo_cap;
	struct collector_ids own_ids, *ids;	/* ids: own_ids, or another collector's */
	uint64_t events, lost, bad;
	uint32_t lost_mark;		/* the largest loss count an event carried (events.h) */
	uint64_t py_infer_lost;		/* frames or registries pyasync could not read at attach */
	uint64_t py_wait_unknown;	/* CPython lock waits that the frames could not place */
	uint64_t py_name_at, py_name_left;	/* lock names looked for: this second, how many more */
	struct bytemap *signals;	/* (kind, object) -> the address its signalling waits use */
	struct bytemap *signal_addrs;	/* ... and the addresses used */
	uint64_t signal_gen;
	/* CPython targets: the reader, the GIL's words, Python frames and stacks */
	struct pyreader *py;
	uint64_t py_look_until, py_looked;	/* after an exec: look for CPython a while */
	size_t py_absent_at;		/* objects mapped when none had _PyRuntime, + 1 */
	struct late_frame {		/* frames in no object, unnamed yet: JIT code that its */
		uint64_t pc;		/* runtime's perf map may name later */
		uint32_t id;
		bool ra;
	} *late;
	size_t nlate, late_cap;
	uint64_t gil_lo, gil_hi;
	uint64_t gil_looked;		/* when gil_look() last tried */
	char py_unsupported[192];	/* a CPython not read: the counter that says so, or "" */
	struct bytemap *pyframes;	/* "func (file:line)" -> frame id */
	struct bytemap *idstacks;	/* frame ids -> stack id, for stacks with Python frames */
	struct bytemap *pythreads;	/* tid -> index in pyt */
	struct py_cached *pyt;
	size_t npyt, pyt_cap;
	int (*sink)(void *arg, const struct ls_rec *rec);
	void *sink_arg;
	bool mark_cuts;			/* end a stack cut short with a frame that says why */
	struct {
		const char *name;	/* a string constant, or the collector's own */
		uint64_t value;		/* as last written */
	} counters[COUNTERS_MAX];
	size_t ncounters;
	bool (*wait_seen)(void *arg, uint32_t tid);	/* see collector__set_wait_seen() */
	void *wait_seen_arg;
	/* call paths given to the BPF side (events.h): their native pcs by key */
	int rules_fd, paths_fd;		/* the BPF maps; -1: none given */
	uint64_t path_waits;		/* waits sent with a path's key, not a stack */
	uint64_t path_unknown;		/* ... with a key this collector never gave */
	void (*py_thread_fn)(void *arg, uint32_t tid, uint64_t tstate);
	void *py_thread_arg;
	uint64_t py_cut;	/* waits whose Python stack was cut: frames gone before read */
	bool (*wait_open)(void *arg, uint32_t tid, uint64_t uaddr, uint64_t ts);
	void *wait_open_arg;	/* see collector__set_wait_open() */
};

static uint64_t rel_ts(struct collector *c, uint64_t mono)
{
	uint64_t ts = mono > c->start_mono ? mono - c->start_mono : 0;

	if (ts > c->last_ts)
		c->last_ts = ts;
	return ts;
}

/* A lock's key in the trace. Memory shared with other processes is keyed as the kernel keys its
 * futexes, by the mapped file and the offset in it: LS_SHARED_KEY, 23 bits of the file's
 * identity, 40 of the offset. Private memory keeps its address, tagged above the 48 bits of user
 * memory and the signal addresses' count (signal_addr) by the process's place in the trace, so
 * that two processes' locks at one address stay apart; the first process's is the address. */
static uint64_t lock_key(struct collector *c, uint64_t addr)
{
	struct sym_shared sh;

	if (addr < (1ull << 47) && symbolizer__shared(c->sym, addr, &sh)) {
		uint64_t file = (sh.dev * 0x9e3779b97f4a7c15ull) ^ (sh.ino * 0xc2b2ae3d27d4eb4full);

		return LS_SHARED_KEY | ((file >> 41) << 40) | (sh.offset & ((1ull << 40) - 1));
	}
	return addr | (uint64_t)c->proc_index << LS_PROC_KEY_SHIFT;
}

static int put(struct collector *c, const struct ls_rec *r)
{
	struct ls_rec k;
	int err;

	if (r->type == LS_REC_WAIT_BEGIN || r->type == LS_REC_WAKE || r->type == LS_REC_LOCK ||
	    r->type == LS_REC_ACQUIRE || r->type == LS_REC_RELEASE || r->type == LS_REC_DESTROY ||
	    r->type == LS_REC_THREAD) {
		k = *r;
		if (r->type == LS_REC_WAIT_BEGIN)
			k.wait_begin.addr = lock_key(c, r->wait_begin.addr);
		else if (r->type == LS_REC_WAKE)
			k.wake.addr = lock_key(c, r->wake.addr);
		else if (r->type == LS_REC_LOCK)
			k.lock.addr = lock_key(c, r->lock.addr);
		else if (r->type == LS_REC_ACQUIRE)
			k.acquire.addr = lock_key(c, r->acquire.addr);
		else if (r->type == LS_REC_THREAD)
			k.thread.pid = (uint32_t)c->tgid;
		else
			k.release.addr = lock_key(c, r->release.addr);
		r = &k;
	}
	err = c->w ? trace_writer__append(c->w, r) : 0;
	return !err && c->sink ? c->sink(c->sink_arg, r) : err;
}

void collector__share_ids(struct collector *c, struct collector *with, uint32_t proc_index)
{
	c->ids = with->ids;
	c->ids->several = true;
	c->lender = with->sym;
	c->proc_index = proc_index;
}

pid_t collector__tgid(const struct collector *c)
{
	return c->tgid;
}

void collector__set_sink(struct collector *c, int (*fn)(void *arg, const struct ls_rec *rec),
			 void *arg)
{
	c->sink = fn;
	c->sink_arg = arg;
}

void collector__set_python_threads(struct collector *c,
				   void (*fn)(void *arg, uint32_t tid, uint64_t tstate), void *arg)
{
	c->py_thread_fn = fn;
	c->py_thread_arg = arg;
}

void collector__set_wait_seen(struct collector *c, bool (*fn)(void *arg, uint32_t tid),
			      void *arg)
{
	c->wait_seen = fn;
	c->wait_seen_arg = arg;
}

/* The OBJECT record of the file mapped executable at START, once per path. Its symbols and
 * DWARF load now, which searches for its separate debug file (perhaps a debuginfod download):
 * at attach rather than at its first event, and before a short-lived target is gone. */
static int write_object(struct collector *c, uint64_t start, const char *path)
{
	struct ls_rec r = {.type = LS_REC_OBJECT, .ts = c->last_ts};
	struct sym_object_info info;
	char key[4096];
	int n = snprintf(key, sizeof(key), "object %s", path);

	if (bytemap__get(c->mappings, key, n))
		return 0;
	if (bytemap__put(c->mappings, key, n, 1))
		return -ENOMEM;
	if (symbolizer__object(c->sym, start, &info))
		return 0;
	r.object.path = info.path;
	r.object.build_id = info.build_id;
	r.object.debug_file = info.debug_file ? info.debug_file : "";
	r.object.via = info.via == DEBUGINFO_BUILD_ID	 ? LS_VIA_BUILD_ID
		       : info.via == DEBUGINFO_DEBUGLINK	 ? LS_VIA_DEBUGLINK
		       : info.via == DEBUGINFO_DEBUGINFOD ? LS_VIA_DEBUGINFOD
							 : LS_VIA_NONE;
	r.object.flags = (info.readable ? LS_OBJ_READABLE : 0) | (info.symtab ? LS_OBJ_SYMTAB : 0) |
			 (info.dynsym ? LS_OBJ_DYNSYM : 0) | (info.lines ? LS_OBJ_LINES : 0);
	return put(c, &r);
}

void collector__set_paths(struct collector *c, int rules_fd, int paths_fd)
{
	c->rules_fd = rules_fd;
	c->paths_fd = paths_fd;
}

void collector__set_wait_open(struct collector *c,
			      bool (*fn)(void *arg, uint32_t tid, uint64_t uaddr, uint64_t ts),
			      void *arg)
{
	c->wait_open = fn;
	c->wait_open_arg = arg;
}

static int write_new_mappings(struct collector *c)
{
	struct sym_mapping m;
	char key[4096];

	for (int i = 0; symbolizer__mapping(c->sym, i, &m); i++) {
		int n = snprintf(key, sizeof(key), "%llx %s", (unsigned long long)m.start, m.path);
		struct ls_rec r = {.type = LS_REC_MAPPING, .ts = rel_ts(c, ls_mono_ns())};
		int err;

		if (bytemap__get(c->mappings, key, n))
			continue;
		if (bytemap__put(c->mappings, key, n, 1))
			return -ENOMEM;
		r.mapping.start = m.start;
		r.mapping.end = m.end;
		r.mapping.offset = m.offset;
		r.mapping.perms = m.perms;
		r.mapping.path = m.path;
		err = put(c, &r);
		if (err)
			return err;
		if (strchr(m.perms, 'x') && m.path[0] == '/') {
			err = write_object(c, m.start, m.path);
			if (err)
				return err;
		}
	}
	return 0;
}

/* Re-reads the memory map when an address falls outside it (dlopen, new thread stacks, a grown
 * heap), at most every REFRESH_NS unless FORCE. True if it did. */
static bool refresh_map(struct collector *c, bool force)
{
	uint64_t now = ls_mono_ns();

	if (!force && now - c->last_refresh < REFRESH_NS)
		return false;
	c->last_refresh = now;
	if (symbolizer__refresh(c->sym))
		return false;
	write_new_mappings(c);
	return true;
}

static bool maybe_refresh(struct collector *c)
{
	return refresh_map(c, false);
}

static void read_comm(pid_t pid, uint32_t tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", pid, tid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* A join is named after the thread it waits for, under that thread's latest name. */
static int write_join_name(struct collector *c, uint64_t ts, uint64_t addr, uint32_t tid)
{
	uint64_t *name = bytemap__get_u64(c->threads, tid);
	const char *comm = name ? (const char *)(uintptr_t)*name : "";
	struct ls_rec r = {.type = LS_REC_LOCK, .ts = ts};
	char buf[64];

	snprintf(buf, sizeof(buf), "thread %u%s%s%s", tid, comm[0] ? " (" : "", comm,
		 comm[0] ? ")" : "");
	r.lock.addr = addr;
	r.lock.kind = LS_KIND_JOIN;
	r.lock.name = buf;
	return put(c, &r);
}

static int write_thread(struct collector *c, uint64_t ts, uint32_t tid, const char *name,
			uint32_t parent)
{
	struct ls_rec r = {.type = LS_REC_THREAD, .ts = ts, .tid = tid};

	uint64_t *old = bytemap__get_u64(c->threads, tid), *join;
	char *copy = strdup(name);
	int err;

	if (!copy)
		return -ENOMEM;
	if (old)
		free((char *)(uintptr_t)*old);
	if (bytemap__put_u64(c->threads, tid, (uintptr_t)copy)) {
		free(copy);
		return -ENOMEM;
	}
	r.thread.name = name;
	r.thread.parent = parent;
	err = put(c, &r);
	if (!err && (join = bytemap__get_u64(c->joins, tid)))
		err = write_join_name(c, ts, *join, tid);
	return err;
}

static int ensure_thread(struct collector *c, uint64_t ts, uint32_t tid)
{
	char comm[LS_COMM_LEN + 1];

	if (!tid || bytemap__get_u64(c->threads, tid))
		return 0;
	read_comm(c->pid, tid, comm, sizeof(comm));
	return write_thread(c, ts, tid, comm, 0);
}

static bool known_thread(const struct collector *c, uint32_t tid)
{
	return tid && bytemap__get_u64(c->threads, tid);
}

/* Known, and by a name: one seen only after it was gone from /proc has none yet. */
static bool named_thread(const struct collector *c, uint32_t tid)
{
	const uint64_t *name = tid ? bytemap__get_u64(c->threads, tid) : NULL;

	return name && *(const char *)(uintptr_t)*name;
}

/* "func (file:line)", "func+0x1a (module)", "module+0x1234" or "0x7f...": the contract's form. */
static void format_frame(const struct sym_frame *f, uint64_t pc, char *buf, size_t len)
{
	const char *base = f->file ? strrchr(f->file, '/') : NULL;

	if (f->func && f->file && f->line)
		snprintf(buf, len, "%s (%s:%d)", f->func, base ? base + 1 : f->file, f->line);
	else if (f->func)
		snprintf(buf, len, "%s+0x%llx (%s)", f->func, (unsigned long long)f->func_off,
			 f->module ? f->module : "?");
	else if (f->module)
		snprintf(buf, len, "%s+0x%llx", f->module, (unsigned long long)f->mod_off);
	else
		snprintf(buf, len, "0x%llx", (unsigned long long)pc);
}

static bool is_libc(const char *module)
{
	return module && (strncmp(module, "libc.so", 7) == 0 ||
			  strncmp(module, "libpthread.so", 13) == 0 ||
			  strncmp(module, "ld-linux", 8) == 0);
}

static uint16_t api_flags(const char *func)
{
	if (!func)
		return SF_UNNAMED;
	if (strstr(func, "PyThread_acquire_lock"))
		return SF_PYLOCK;
	/* Modules/_threadmodule.c's methods of `_thread.lock` and `_thread.RLock` */
	if (!strcmp(func, "acquire_timed") || !strcmp(func, "lock_PyThread_acquire_lock") ||
	    !strcmp(func, "rlock_acquire") || !strcmp(func, "lock___enter__") ||
	    !strcmp(func, "rlock___enter__"))
		return SF_PYMETHOD;
	if (strstr(func, "pthread_mutex_") || strstr(func, "__lll_lock_wait"))
		return SF_MUTEX;
	if (strstr(func, "pthread_rwlock_"))
		return SF_RWLOCK;
	if (strstr(func, "sem_wait") || strstr(func, "sem_timedwait") ||
	    strstr(func, "sem_clockwait"))
		return SF_SEM;
	if (strstr(func, "pthread_cond_signal") || strstr(func, "pthread_cond_broadcast"))
		return SF_COND | SF_COND_WAKE;
	if (strstr(func, "pthread_cond_destroy"))
		return SF_COND | SF_COND_DESTROY;
	if (strstr(func, "pthread_cond_"))
		return SF_COND;
	if (strstr(func, "pthread_join") || strstr(func, "pthread_timedjoin") ||
	    strstr(func, "pthread_clockjoin"))
		return SF_JOIN;
	return 0;
}

/* What frame F at PC says of the wait's API, and where it is the first frame out of libc (all
 * frames before it, AFTER_LIBC, in libc), what it called there: libc's sem_wait ends in a tail
 * call, and without libc's debug info the function it jumps to has no name. */
static uint16_t frame_flags(struct collector *c, uint64_t pc, const struct sym_frame *f,
			    bool after_libc)
{
	uint16_t flags = api_flags(f->func);

	if (after_libc && f->module && !is_libc(f->module))
		flags |= api_flags(symbolizer__callee(c->sym, pc)) & ~SF_UNNAMED;
	return flags;
}

#define FRAME_NAMED (1ull << 32)	/* in the frames map: the FRAME record has a function */

#define LATE_FRAMES_MAX 4096	/* JIT frames waiting for a name: a bound on the retries */

static int put_frame(struct collector *c, uint32_t id, uint64_t pc, const struct sym_frame *f);

static int intern_frame(struct collector *c, uint64_t pc, bool ra, uint32_t *id,
			struct sym_frame *f)
{
	uint64_t key[2] = {pc, ra};
	uint64_t *known = bytemap__get(c->frames, key, sizeof(key));
	char cut[64];

	memset(f, 0, sizeof(*f));
	if (pc >= LS_CUT_PC_BASE) {
		snprintf(cut, sizeof(cut), "…cut: %s",
			 symbolizer__cut_why((enum sym_cut)(pc - LS_CUT_PC_BASE)));
		f->func = cut;
	} else if (symbolizer__frame(c->sym, pc, ra, f) == -ENOENT) {
		maybe_refresh(c);
		symbolizer__frame(c->sym, pc, ra, f);
	}
	/* a frame first seen before its object was mapped is written again once it has a name */
	if (known && ((*known & FRAME_NAMED) || !f->func)) {
		*id = (uint32_t)*known;
		return 0;
	}
	*id = known ? (uint32_t)*known : ++c->ids->frame;
	if (bytemap__put(c->frames, key, sizeof(key), *id | (f->func ? FRAME_NAMED : 0)))
		return -ENOMEM;
	if (!known && !f->func && !f->module && pc < LS_CUT_PC_BASE && c->nlate < LATE_FRAMES_MAX &&
	    !ls_reserve(&c->late, &c->late_cap, c->nlate + 1, sizeof(*c->late)))
		c->late[c->nlate++] = (struct late_frame){.pc = pc, .id = *id, .ra = ra};
	return put_frame(c, *id, pc, f);
}

/* JIT code named since its frames were written (the runtime writes its perf map line after the
 * code ran): their FRAME records again, with the name. 0 or -ENOMEM. */
static int name_late_frames(struct collector *c)
{
	struct sym_frame f;
	int err;

	for (size_t i = 0; i < c->nlate;) {
		struct late_frame *l = &c->late[i];
		uint64_t key[2] = {l->pc, l->ra};

		if (symbolizer__frame(c->sym, l->pc, l->ra, &f) || !f.func) {
			i++;
			continue;
		}
		err = bytemap__put(c->frames, key, sizeof(key), l->id | FRAME_NAMED) ?:
		      put_frame(c, l->id, l->pc, &f);
		if (err)
			return err;
		*l = c->late[--c->nlate];
	}
	return 0;
}

static int put_frame(struct collector *c, uint32_t id, uint64_t pc, const struct sym_frame *f)
{
	struct ls_rec r = {.type = LS_REC_FRAME};

	r.ts = c->last_ts;
	r.frame.id = id;
	r.frame.pc = pc;
	r.frame.func = f->func ? f->func : "";
	r.frame.file = f->file ? f->file : "";
	r.frame.line = f->line > 0 ? f->line : 0;
	r.frame.module = f->module ? f->module : "";
	r.frame.offset = f->func ? f->func_off : f->mod_off;
	return put(c, &r);
}

static struct stack_info *stack_info(struct collector *c, uint32_t id)
{
	size_t old = c->sinfo_cap;

	if (ls_reserve(&c->sinfo, &c->sinfo_cap, (size_t)id + 1, sizeof(*c->sinfo)))
		return NULL;
	memset(c->sinfo + old, 0, (c->sinfo_cap - old) * sizeof(*c->sinfo));
	return &c->sinfo[id];
}

/* Symbolises a new stack: FRAME records for new frames, then its STACK record. */
static int write_stack(struct collector *c, const uint64_t *pcs, int n, uint32_t *id)
{
	uint32_t fids[MAX_PCS];
	struct ls_rec r = {.type = LS_REC_STACK};
	struct stack_info *si;
	struct sym_frame f;
	char text[512];
	bool in_event = false, in_libc = false;
	int err;

	*id = ++c->ids->stack;
	si = stack_info(c, *id);
	if (!si || bytemap__put(c->stacks, pcs, n * sizeof(*pcs), *id))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		err = intern_frame(c, pcs[i], i > 0, &fids[i], &f);
		if (err)
			return err;
		si->flags |= frame_flags(c, pcs[i], &f, in_libc);
		in_libc = (i == 0 || in_libc) && is_libc(f.module);
		/* Modules/_threadmodule.c (3.13): thread_run's first act is to wait in
		 * PyEvent_Wait(&boot->handle_ready) for its starter */
		if (in_event && f.func && !strcmp(f.func, "thread_run"))
			si->flags |= SF_START;
		in_event = f.func && !strncmp(f.func, "PyEvent_Wait", 12);
		if (!si->first_user && f.module && !is_libc(f.module)) {
			format_frame(&f, pcs[i], text, sizeof(text));
			si->first_user = strdup(text);
		}
	}
	r.ts = c->last_ts;
	r.stack.id = *id;
	r.stack.nframes = n;
	r.stack.frames = fids;
	return put(c, &r);
}

/* ---- CPython: Python frames where the native stack runs the interpreter loop ---- */

static const char *function_at(struct collector *c, uint64_t pc, bool ra)
{
	struct sym_frame f = {0};

	return c->sym && symbolizer__frame(c->sym, pc, ra, &f) == 0 ? f.func : NULL;
}

static bool is_eval(struct collector *c, uint64_t pc, bool ra)
{
	const char *func = function_at(c, pc, ra);

	return func && !strcmp(func, "_PyEval_EvalFrameDefault");
}

const char *collector__function(struct collector *c, uint64_t ip)
{
	return function_at(c, ip, false);
}

#define PY_FRAME_KEY 1024 /* bytes of a Python frame's text and path that tell it apart */

/* A Python frame's id: one per function, line and file. The record keeps the file's whole path
 * (pprof's readers find the source by it); the texts show its base name. */
static int py_frame_id(struct collector *c, const struct py_frame *pf, uint32_t *id)
{
	struct ls_rec r = {.type = LS_REC_FRAME, .ts = c->last_ts};
	size_t lt = strlen(pf->text), lf = strlen(pf->file);
	char key[PY_FRAME_KEY];
	uint64_t *known;

	/* "func (base:line)", then the path: two files of one base name are two frames */
	if (lt > sizeof(key) - 1)
		lt = sizeof(key) - 1;
	if (lf > sizeof(key) - 1 - lt)
		lf = sizeof(key) - 1 - lt;
	memcpy(key, pf->text, lt);
	key[lt] = '\0';
	memcpy(key + lt + 1, pf->file, lf);
	known = bytemap__get(c->pyframes, key, lt + 1 + lf);
	if (known) {
		*id = (uint32_t)*known;
		return 0;
	}
	*id = ++c->ids->frame;
	if (bytemap__put(c->pyframes, key, lt + 1 + lf, *id))
		return -ENOMEM;
	r.frame.id = *id;
	r.frame.func = pf->func;
	r.frame.file = pf->file;
	r.frame.line = pf->line > 0 ? pf->line : 0;
	/* the standard library's and installed packages' frames are the library's, which a long
	 * stack's text leaves out before the program's own (model.c) */
	r.frame.module = "python";
	if (strstr(pf->file, "/lib/python3") || strstr(pf->file, "/site-packages/") ||
	    strstr(pf->file, "/dist-packages/"))
		r.frame.module = "python-lib";
	return put(c, &r);
}

static struct py_cached *py_cached(struct collector *c, uint32_t tid)
{
	uint64_t *i = bytemap__get_u64(c->pythreads, tid);

	if (i)
		return &c->pyt[*i];
	if (ls_reserve(&c->pyt, &c->pyt_cap, c->npyt + 1, sizeof(*c->pyt)) ||
	    bytemap__put_u64(c->pythreads, tid, c->npyt))
		return NULL;
	memset(&c->pyt[c->npyt], 0, sizeof(*c->pyt));
	return &c->pyt[c->npyt++];
}

/* threading.Thread.name, where Python knows the thread: the name its user gave it. */
static int py_name(struct collector *c, struct py_cached *pc, const struct py_thread *t)
{
	if (!t->name || !t->tid || (pc->name && !strcmp(pc->name, t->name)))
		return 0;
	free(pc->name);
	pc->name = strdup(t->name);
	return pc->name ? write_thread(c, c->last_ts, t->tid, t->name, 0) : -ENOMEM;
}

/* A thread's state, told to whoever follows the threads' frames from BPF (py_thread_fn). */
static void py_tstate(struct collector *c, struct py_cached *pc, const struct py_thread *t)
{
	if (!t->tid || !t->tstate || pc->tstate == t->tstate)
		return;
	pc->tstate = t->tstate;
	if (c->py_thread_fn)
		c->py_thread_fn(c->py_thread_arg, (uint32_t)t->tid, t->tstate);
}

static void py_cached_clear(struct py_cached *pc)
{
	for (uint32_t i = 0; i < pc->n; i++)
		free(pc->text[i]);
	pc->n = 0;
	pc->objects_told = false;
}

/* The Python stack T, just read, as PC's frames. */
static void py_fill(struct collector *c, struct py_cached *pc, const struct py_thread *t)
{
	py_cached_clear(pc);
	for (size_t i = 0; i < t->nframes && pc->n < PY_MAX_IDS; i++) {
		const struct py_frame *f = &t->frames[i];
		uint32_t k = pc->n;

		if (py_frame_id(c, f, &pc->ids[k]) || !(pc->text[k] = strdup(f->text)))
			break;
		pc->addr[k] = f->addr;
		/* the user's own frame names what it waits in, not threading.py's machinery */
		pc->lib[k] = strstr(f->file, "/threading.py") != NULL;
		pc->join[k] = !strcmp(f->func, "Thread.join") ||
			      !strcmp(f->func, "Thread._wait_for_tstate_lock");
		pc->n++;
	}
	py_name(c, pc, t);
	py_tstate(c, pc, t);
}

/* TID's Python stack as frame ids, read again at most every PY_READ_NS (FORCE: now). */
static struct py_cached *py_stack(struct collector *c, uint32_t tid, bool force)
{
	struct py_cached *pc = py_cached(c, tid);
	uint64_t now = ls_mono_ns();
	struct py_thread t;

	if (pc && pc->pinned) {
		pc->pinned = false;
		return pc;
	}
	if (!pc || (!force && pc->read_at && now - pc->read_at < PY_READ_NS))
		return pc;
	pc->read_at = now;
	py_cached_clear(pc);
	if (pyreader__thread(c->py, tid, &t))
		return pc;
	py_fill(c, pc, &t);
	pyreader__thread_clear(&t);
	return pc;
}

/* Appends PC's stack from its frame FROM outwards to V. */
static void py_view_fill(const struct py_cached *pc, uint32_t from, struct py_view *v)
{
	for (uint32_t i = from; i < pc->n && v->n < PY_MAX_IDS; i++) {
		v->ids[v->n++] = pc->ids[i];
		v->join |= pc->join[i];
		if (!v->first && (!pc->lib[i] || i + 1 == pc->n))
			v->first = pc->text[i];
	}
}

static uint32_t py_find(const struct py_cached *pc, uint64_t frame)
{
	uint32_t k = 0;

	while (k < pc->n && pc->addr[k] != frame)
		k++;
	return k;
}

/* Appends frame F (its id ID) to V. */
static void py_view_add(struct py_view *v, uint32_t id, const struct py_frame *f, bool last)
{
	v->ids[v->n++] = id;
	v->join |= !strcmp(f->func, "Thread.join") ||
		   !strcmp(f->func, "Thread._wait_for_tstate_lock");
	if (!v->first && (!strstr(f->file, "/threading.py") || last))
		v->first = f->text;
}

/* The frames an event carries (AT), as they were when it happened, into V (*F and *NF keep
 * them: V borrows their texts); then, past the last of them, the thread's callers as they are
 * now. The thread may have returned from the innermost frames since, but what AT read of
 * them says where they were; a frame reused since for another function ends the stack there. */
static int py_view_as_was(struct collector *c, uint32_t tid, const struct ls_py_stack *at,
			  struct py_view *v, struct py_frame *f, size_t *nf)
{
	/* read as often as without AT: it names the thread, and has its callers */
	struct py_cached *pc = py_stack(c, tid, false);
	bool cut = false;
	uint32_t id, k;
	int err;

	v->n = 0;
	v->join = false;
	v->first = NULL;
	for (uint32_t i = 0; i < at->n && i < LS_PY_FRAMES && v->n < PY_MAX_IDS && !cut; i++) {
		err = pyreader__frame_as(c->py, at->frame[i], at->code[i], at->instr[i],
					 (int8_t)at->owner[i], &f[*nf]);
		if (err == -ENOENT)
			continue;	/* a C-stack shim, or a frame not started: not shown */
		if (err == -ENOMEM)
			return err;
		if (err) {	/* reused for another function since, or unreadable */
			cut = true;
			break;
		}
		(*nf)++;
		if ((err = py_frame_id(c, &f[*nf - 1], &id)))
			return err;
		py_view_add(v, id, &f[*nf - 1], !at->more && i + 1 == at->n);
	}
	if (!cut && at->more) {
		k = pc ? py_find(pc, at->more) : 0;
		if (pc && k == pc->n && (pc = py_stack(c, tid, true)))	/* not in the cached read */
			k = py_find(pc, at->more);
		cut = !pc || k == pc->n;
		if (!cut)
			py_view_fill(pc, k, v);
	}
	c->py_cut += cut;
	return v->n ? 0 : 1;
}

/* TID's Python stack for one stack record, into V: as the event that brought it says (AT, its
 * frames read when it happened), or, without, as it is now (read at most every PY_READ_NS).
 * 1: no Python stack to give. */
static int py_view_of(struct collector *c, uint32_t tid, const struct ls_py_stack *at,
		      struct py_view *v, struct py_frame *f, size_t *nf)
{
	struct py_cached *pc;

	if (at && at->n)
		return py_view_as_was(c, tid, at, v, f, nf);
	pc = py_stack(c, tid, false);
	if (!pc || !pc->n)
		return 1;
	*v = (struct py_view){0};
	py_view_fill(pc, 0, v);
	return 0;
}

/* How long a thread's verdict that a futex word is a lock's stands for its next waits on the
 * same word: a contended lock is waited for again and again, and reading frames costs ~50 us.
 * (A signal's word is a Condition's waiter lock, freed after the wait: the next waiter lock,
 * of any Condition, may get the same memory.) */
#define PY_WAIT_KEEP_NS PY_READ_NS

/* A lock call whose wait a signal interrupted (EINTR: CPython runs the pending calls, then
 * waits again) waits on the same word soon after: the same wait, the same object. */
#define PY_WAIT_RESUME_NS 100000000ull

/* What the frames of a wait as they were when it began (AT) show, where those read now came
 * too late: the idiom of a Condition's waiter lock, or a join, from their code alone
 * (pywait__classify_as_was). Frames not shown (C-stack shims) are left out. How many frames
 * it could read: none, and nothing is known of where the wait was. */
static size_t py_wait_as_was(struct collector *c, const struct ls_py_stack *at, struct pywait *out)
{
	struct py_frame f[LS_PY_FRAMES];
	uint64_t code[LS_PY_FRAMES], instr[LS_PY_FRAMES];
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < at->n && i < LS_PY_FRAMES; i++) {
		err = pyreader__frame_as(c->py, at->frame[i], at->code[i], at->instr[i],
					 (int8_t)at->owner[i], &f[n]);
		if (err == -ENOENT)
			continue;
		if (err)
			break;
		code[n] = at->code[i];
		instr[n++] = at->instr[i];
	}
	if (!n)
		return 0;
	pywait__classify_as_was(c->py, f, code, instr, n, out);
	for (size_t i = 0; i < n; i++)
		pyreader__frame_clear(&f[i]);
	return n;
}

/* What thread TID's wait on FUTEX, begun at BEGAN (the BPF clock; 0: already open when
 * recording began), is (python/pywait.h), from its frames read now: they are pinned for the
 * wait's stack, so that the stack and the verdict are of one moment. KNOWN_LOCK: FUTEX is a
 * threading lock's, found before. True where nothing is known of where it waited: its frames
 * read too late (the thread had moved on or gone, the program ended) and none captured when it
 * began. (Frames of then that show no idiom show a lock taken: contention, as ever.) */
static bool py_wait(struct collector *c, uint32_t tid, uint64_t futex, uint64_t began,
		    bool known_lock, const struct ls_py_stack *at, struct pywait *out)
{
	struct py_cached *pc = py_cached(c, tid);
	uint64_t now = ls_mono_ns();
	struct py_thread t;
	bool late = false, as_was = false;
	int err;

	memset(out, 0, sizeof(*out));
	if (!pc)
		return false;
	if (pc->wait_futex == futex && pc->wait.kind == PYWAIT_LOCK &&
	    now - pc->wait_at < PY_WAIT_KEEP_NS) {
		*out = pc->wait;
		return false;
	}
	/* a thread list walked while threads come and go may miss it: once more; still missed
	 * (a join waits while the threads it waits for leave the list), its frames as they were
	 * when the wait began say what they can */
	if (pyreader__thread(c->py, tid, &t) && pyreader__thread(c->py, tid, &t)) {
		late = true;
	} else {
		pc->read_at = now;
		py_fill(c, pc, &t);
		pc->pinned = true;
		err = pywait__classify(c->py, &t, futex, known_lock, out);
		/* frames read after the wait ended are another moment's: a Condition's next
		 * waiter lock gets the same memory, so the objects would confirm the wrong wait */
		if (!err && began && c->wait_open &&
		    !c->wait_open(c->wait_open_arg, tid, futex, began)) {
			memset(out, 0, sizeof(*out));
			late = true;
		}
		pyreader__thread_clear(&t);
		if (err)
			return false;	/* no object layouts for this CPython: the frames' names */
		pc->objects_told = true;	/* the objects decide, not the names */
	}
	/* frames that moved on before they were read (a wait shorter than the time it took to
	 * handle its event), or not read at all: the idiom their code shows, else the kind of the
	 * thread's last verdict on the word, not its object. A Condition.wait frees its waiter
	 * lock, and the thread's next one gets the same memory, so the same word: a thread that
	 * waits in a loop waits alike. */
	if (out->kind == PYWAIT_UNKNOWN && at && at->n)
		as_was = py_wait_as_was(c, at, out) > 0;
	if (out->kind == PYWAIT_UNKNOWN && pc->wait_futex == futex &&
	    now - pc->wait_at < PY_WAIT_RESUME_NS) {
		*out = pc->wait;	/* the same wait, resumed after a signal */
	} else if (out->kind == PYWAIT_UNKNOWN && pc->wait_futex == futex) {
		out->kind = pc->wait.kind;
		if (out->kind != PYWAIT_LOCK) {
			out->object = 0;
			out->name[0] = out->type[0] = '\0';
		}
	}
	if (out->kind == PYWAIT_UNKNOWN) {
		c->py_wait_unknown++;
		return late && !as_was;	/* the last verdict stands for the next waits */
	}
	pc->wait = *out;
	pc->wait_futex = futex;
	pc->wait_at = now;
	return false;
}

/* A pin that no stack used (the wait's stack did not run the interpreter loop) is dropped. */
static void py_unpin(struct collector *c, uint32_t tid)
{
	uint64_t *i = bytemap__get_u64(c->pythreads, tid);

	if (i)
		c->pyt[*i].pinned = false;
}

/* Names every Python thread after its threading.Thread. */
static void py_names(struct collector *c)
{
	struct py_thread *ts = NULL;
	size_t n = 0;

	if (!c->py || pyreader__threads(c->py, &ts, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct py_cached *pc = ts[i].tid ? py_cached(c, ts[i].tid) : NULL;

		if (pc) {
			py_name(c, pc, &ts[i]);
			py_tstate(c, pc, &ts[i]);
		}
	}
	pyreader__threads_free(ts, n);
}

/* The GIL's words. 3.12+ keep the GIL in the interpreter state, which a launched interpreter
 * sets up after we found it: until then (-EAGAIN) look again, at most every GIL_LOOK_NS, so
 * that the first waits for it are named GIL and not after the words of _PyRuntime they use. */
static void gil_look(struct collector *c)
{
	uint64_t now;

	if (!c->py || c->gil_lo)
		return;
	now = ls_mono_ns();
	if (c->gil_looked && now - c->gil_looked < GIL_LOOK_NS)
		return;
	c->gil_looked = now;
	if (pyreader__gil(c->py, &c->gil_lo, &c->gil_hi))
		c->gil_lo = c->gil_hi = 0;
}

/* CPython found in the target: its reader and GIL. A program that execs (a shell wrapper, a
 * pyenv shim) becomes Python some time after its exec: look again for a few seconds. */
static void py_look(struct collector *c)
{
	uint64_t now = ls_mono_ns();
	char why[128];

	gil_look(c);
	if (c->py || now > c->py_look_until || now - c->py_looked < PY_LOOK_EVERY_NS)
		return;
	/* no object exported _PyRuntime: none will until another is mapped (reading a large
	 * program's symbol table every 50 ms, as Node.js', kept the recorder from its events) */
	if (c->py_absent_at && c->py_absent_at == bytemap__count(c->mappings) + 1)
		return;
	c->py_looked = now;
	c->py = pyreader__open(c->pid, why, sizeof(why));
	c->py_absent_at = !c->py && errno == ENOENT ? bytemap__count(c->mappings) + 1 : 0;
	if (!c->py && errno == ENOTSUP && !c->py_unsupported[0]) {
		/* a CPython we cannot read: said once, and in the report; no more looking */
		snprintf(c->py_unsupported, sizeof(c->py_unsupported), "python: %s: no Python "
			 "frames", why);
		ls_note("python", "%s: no Python frames", why);
		c->py_look_until = 0;
	}
	if (!c->py)
		return;
	gil_look(c);
	symbolizer__refresh(c->sym);	/* the interpreter's objects */
	write_new_mappings(c);
	py_names(c);
}

bool collector__python_looking(const struct collector *c)
{
	return !c->py && ls_mono_ns() <= c->py_look_until;
}

void collector__python_look(struct collector *c, bool now)
{
	if (now && !c->py) {
		c->py_look_until = ls_mono_ns() + PY_LOOK_NS;
		c->py_looked = 0;
		c->py_absent_at = 0;
	}
	py_look(c);
}

/* A native stack whose frames FIRST..LAST run the interpreter loop: those become the thread's
 * Python frames, innermost first, between the native frames above and below them. */
/* A stack of frame ids, interned: its STACK record when it is new. */
static int put_idstack(struct collector *c, const uint32_t *ids, int k, uint16_t flags,
		       const char *first_user, uint32_t *id)
{
	uint64_t *known = bytemap__get(c->idstacks, ids, k * sizeof(*ids));
	struct ls_rec r = {.type = LS_REC_STACK};
	struct stack_info *si;

	if (known) {
		*id = (uint32_t)*known;
		return 0;
	}
	*id = ++c->ids->stack;
	si = stack_info(c, *id);
	if (!si || bytemap__put(c->idstacks, ids, k * sizeof(*ids), *id))
		return -ENOMEM;
	si->flags = flags;
	si->first_user = first_user ? strdup(first_user) : NULL;
	r.ts = c->last_ts;
	r.stack.id = *id;
	r.stack.nframes = k;
	r.stack.frames = ids;
	return put(c, &r);
}

static int py_mixed_stack(struct collector *c, uint32_t tid, const uint64_t *pcs, int n,
			  int first, int last, const struct ls_py_stack *at, uint32_t *id)
{
	/* a wait whose pinned frames pywait read: its objects, not the frames' names, say join */
	const struct py_cached *pc = py_cached(c, tid);
	bool told = pc && pc->pinned && pc->objects_told;
	uint32_t ids[MAX_PCS + PY_MAX_IDS];
	struct py_frame pf[LS_PY_FRAMES] = {{0}};
	struct py_view v;
	struct sym_frame f;
	uint16_t flags = 0;
	size_t npf = 0;
	bool in_libc = false;
	int k = 0, err = py_view_of(c, tid, at, &v, pf, &npf);

	if (err)
		goto cleanup;	/* 1: no Python stack, keep the native one */
	for (int i = 0; i < n && !err; i++) {
		if (i == first)
			for (uint32_t j = 0; j < v.n; j++)
				ids[k++] = v.ids[j];
		if (i >= first && i <= last)
			continue;
		err = intern_frame(c, pcs[i], i > 0, &ids[k++], &f);
		flags |= err ? 0 : frame_flags(c, pcs[i], &f, in_libc);
		in_libc = (i == 0 || in_libc) && is_libc(f.module);
	}
	if (!err)
		err = put_idstack(c, ids, k, flags | (v.join && !told ? SF_JOIN : 0), v.first, id);
cleanup:
	for (size_t i = 0; i < LS_PY_FRAMES; i++)
		pyreader__frame_clear(&pf[i]);
	return err;
}

int collector__task_wait(struct collector *c, const struct ls_rec *rec)
{
	return ensure_thread(c, rec->ts, rec->tid) ?: put(c, rec);
}

int collector__task_stack(struct collector *c, const struct py_frame *frames, size_t n,
			  uint32_t *id)
{
	uint32_t ids[PY_MAX_IDS];
	int k = 0, err;

	*id = 0;
	for (size_t i = 0; i < n && k < PY_MAX_IDS; i++) {
		err = py_frame_id(c, &frames[i], &ids[k++]);
		if (err)
			return err;
	}
	return k ? put_idstack(c, ids, k, 0, frames[0].text, id) : 0;
}

/* The Python stack of a native stack that runs the interpreter: 1 if it does not. */
static int py_stack_of(struct collector *c, uint32_t tid, const uint64_t *pcs, int n,
		       const struct ls_py_stack *at, uint32_t *id)
{
	int first = -1, last = -1;

	py_look(c);
	if (!c->py || !tid)
		return 1;
	for (int i = 0; i < n; i++) {
		if (is_eval(c, pcs[i], i > 0)) {
			first = first < 0 ? i : first;
			last = i;
		}
	}
	return first < 0 ? 1 : py_mixed_stack(c, tid, pcs, n, first, last, at, id);
}

/* The stack ST describes; SNAP_AVAIL: bytes of the record after ST (the snapshot). */
/* Return addresses that full mode's return probes hid, to put back: up to two (a lock call,
 * and one nested in it). */
struct hidden_ra {
	uint64_t slot[2], ra[2];
};

/* The stack id of native frames PCS (N of them) of thread TID, with its Python frames spliced
 * in where TID is not 0; FRAME and STACK records written where new. 0 or -errno. */
static int stack_id_of(struct collector *c, uint32_t tid, uint64_t *pcs, int n,
		       const struct ls_py_stack *at, uint32_t *id)
{
	uint64_t *known;
	int err = py_stack_of(c, tid, pcs, n, at, id);

	if (err <= 0)
		return err;
	known = bytemap__get(c->stacks, pcs, n * sizeof(*pcs));
	if (known) {
		*id = (uint32_t)*known;
		return 0;
	}
	return write_stack(c, pcs, n, id);
}

/* Gives the BPF side the call path of the stack ST (its snapshot SNAP) that the unwinder found
 * to be PCS (N of them), if its rules reproduce it: the BPF side's walk (known_path), run here
 * over the same snapshot with the rules it would get, must end where the unwinder did. */
static void learn_path(struct collector *c, const struct ls_ev_stack *st, const uint8_t *snap,
		       const uint64_t *pcs, int n)
{
	struct ls_frame_rule rules[LS_PATH_MAX_FRAMES];
	uint64_t h = LS_PATH_SEED, sp = st->sp, bp = st->bp, cfa, ra, saved;
	struct path_pcs *p;
	bool bp_ok = true;
	uint8_t one = 1;

	if (c->paths_fd < 0 || n > LS_PATH_MAX_FRAMES || c->ids->npaths >= LS_PATHS_MAX)
		return;
	for (int i = 0; i < n; i++) {
		const struct ls_frame_rule *r = &rules[i];

		if (!symbolizer__frame_rule(c->sym, pcs[i], i == 0, &rules[i]))
			return;
		h = ls_path_mix(h, pcs[i]);
		if (r->flags & LS_RULE_END) {
			if (i != n - 1)
				return;
			break;
		}
		if ((r->flags & LS_RULE_CFA_BP) && !bp_ok)
			return;
		cfa = (r->flags & LS_RULE_CFA_BP ? bp : sp) + (int64_t)r->cfa_off;
		if (cfa <= sp || cfa - 8 < st->sp || cfa - st->sp > st->snap_len)
			return;
		memcpy(&ra, snap + (cfa - 8 - st->sp), sizeof(ra));
		if (r->flags & LS_RULE_BP_SAVED) {
			uint64_t at = cfa + (int64_t)r->bp_off;

			bp_ok = at >= st->sp && st->snap_len >= 8 && at - st->sp <= st->snap_len - 8;
			if (bp_ok)
				memcpy(&saved, snap + (at - st->sp), sizeof(saved));
			bp = bp_ok ? saved : 0;
		} else if (r->flags & LS_RULE_BP_LOST) {
			bp_ok = false;
		}
		if (i == n - 1 ? ra != 0 : ra != pcs[i + 1])
			return;
		sp = cfa;
	}
	h = h ? h : 1;
	if (bytemap__get_u64(c->ids->paths, h) ||
	    ls_reserve(&c->ids->pathv, &c->ids->pathv_cap, c->ids->npaths + 1,
		       sizeof(*c->ids->pathv)))
		return;
	p = &c->ids->pathv[c->ids->npaths];
	p->n = (uint32_t)n;
	memcpy(p->pcs, pcs, n * sizeof(*pcs));
	if (bytemap__put_u64(c->ids->paths, h, c->ids->npaths))
		return;
	c->ids->npaths++;
	for (int i = 0; i < n; i++) {
		uint32_t slot = ls_rule_slot(pcs[i], i == 0 ? LS_RULE_EXACT : 0);

		bpf_map_update_elem(c->rules_fd, &slot, &rules[i], BPF_ANY);
	}
	bpf_map_update_elem(c->paths_fd, &h, &one, BPF_ANY);
}

/* TID: whose Python frames to splice in, 0 for none. They are read when the event is handled:
 * exact for a thread still blocked in its wait, or where the event says which frame it was in
 * (AT, not NULL); not for an acquisition it has moved past. LEARN: a wait's stack, whose call
 * path the BPF side may key from now on. */
static int stack_of(struct collector *c, uint32_t tid, const struct ls_ev_stack *st,
		    size_t snap_avail, uint32_t *id, const struct hidden_ra *hid,
		    const struct ls_py_stack *at, bool learn)
{
	uint8_t local[LS_STACK_SNAP], *patched = local, *heap = NULL;
	uint64_t pcs[MAX_PCS];
	struct unwind_input in = {
		.ip = st->ip, .sp = st->sp, .bp = st->bp, .fp = (const uint64_t *)st->fp,
		.nfp = st->nfp > 0 ? st->nfp / 8 : 0,	/* bpf_get_stack returns bytes */
		.snap = (const uint8_t *)(st + 1), .snap_len = st->snap_len,
	};
	enum sym_cut cut;
	int n, err;

	*id = 0;
	if (!st->ip || snap_avail < st->snap_len)
		return 0;
	/* a stack the recorder read (64 KiB) is patched in a copy of its size */
	if ((hid && (hid->slot[0] || hid->slot[1])) && st->snap_len > sizeof(local)) {
		heap = malloc(st->snap_len);
		if (!heap)
			return -ENOMEM;
		patched = heap;
	}
	/* a probed lock call's return address, hidden by the return probe's trampoline */
	for (int i = 0; hid && i < 2; i++) {
		uint64_t slot = hid->slot[i];

		uint64_t now;

		if (!slot || slot < st->sp || slot + 8 > st->sp + st->snap_len)
			continue;
		/* only where the trampoline still stands: a call that returned while the probes
		 * were off leaves its entry behind, and the slot has been reused since */
		memcpy(&now, (const uint8_t *)(st + 1) + (slot - st->sp), sizeof(now));
		if (symbolizer__in_file(c->sym, now))
			continue;
		if (in.snap != patched)
			memcpy(patched, st + 1, st->snap_len);
		memcpy(patched + (slot - st->sp), &hid->ra[i], sizeof(hid->ra[i]));
		in.snap = patched;
	}
	/* code mapped since the map was read: a JIT's, new to unwind through */
	if (!symbolizer__in_file(c->sym, st->ip) && !symbolizer__is_anon(c->sym, st->ip))
		maybe_refresh(c);
	n = symbolizer__unwind_cut(c->sym, &in, pcs, c->mark_cuts ? MAX_PCS - 1 : MAX_PCS, &cut);
	err = 0;
	if (n <= 0)
		goto cleanup;
	if (c->mark_cuts && cut != SYM_WHOLE)
		pcs[n++] = LS_CUT_PC_BASE + cut;
	if (learn && in.snap != patched)
		learn_path(c, st, in.snap, pcs, n);
	err = stack_id_of(c, tid, pcs, n, at, id);
cleanup:
	free(heap);
	return err;
}

/* The stack of a wait sent with the key of call path PATH in place of its stack; AT: where its
 * Python frames were (stack_of). */
static int path_stack(struct collector *c, uint32_t tid, uint64_t path,
		      const struct ls_py_stack *at, uint32_t *id)
{
	uint64_t *i = bytemap__get_u64(c->ids->paths, path);
	uint64_t pcs[LS_PATH_MAX_FRAMES];
	const struct path_pcs *p;

	*id = 0;
	if (!i) {
		c->path_unknown++;
		return 0;
	}
	p = &c->ids->pathv[*i];
	c->path_waits++;
	memcpy(pcs, p->pcs, p->n * sizeof(*pcs));
	return stack_id_of(c, tid, pcs, (int)p->n, at, id);
}

/* glibc's mutex words: __lock, __count, __owner. A wait on a mutex expects the value 2
 * (locked, with waiters) and the owner field holds a thread of the target. */
static uint32_t mutex_owner(const struct collector *c, const struct ls_ev_wait_begin *ev)
{
	if (ev->fclass == LS_FUTEX_LOCK_PI)
		return known_thread(c, ev->words[0] & 0x3fffffff) ? ev->words[0] & 0x3fffffff : 0;
	if (ev->words_ok && ev->val == 2 && known_thread(c, ev->words[2]))
		return ev->words[2];
	return 0;
}

static enum ls_lock_kind classify(const struct collector *c, const struct ls_ev_wait_begin *ev,
				  uint16_t flags, uint32_t owner)
{
	if (ev->fclass == LS_FUTEX_LOCK_PI)
		return LS_KIND_MUTEX;
	/* pthread_cond_wait retakes its mutex through a futex wait on the mutex: the words say so */
	if (owner)
		return LS_KIND_MUTEX;
	if (flags & SF_JOIN)
		return LS_KIND_JOIN;
	if (flags & SF_START)
		return LS_KIND_START;
	if (flags & SF_PYLOCK)
		return LS_KIND_MUTEX;
	if (flags & SF_SEM)
		return LS_KIND_SEM;
	if (flags & SF_RWLOCK)
		return LS_KIND_RWLOCK;
	/* pthread_cond_wait retaking its mutex just let go (the words name no owner): a
	 * condition variable's waiters expect 0 (glibc 2.25 to 2.40), a contended mutex's 2.
	 * The value alone tells: the frame that retakes it (__pthread_mutex_cond_lock) is named
	 * only where libc's debug info is installed */
	if ((flags & SF_COND) && ev->val == 2 && !(flags & SF_COND_WAKE))
		return LS_KIND_MUTEX;
	if (flags & SF_COND)
		return LS_KIND_COND;
	if (flags & SF_MUTEX)
		return LS_KIND_MUTEX;
	/* pthread_join waits on the joined thread's TID word, expecting that TID */
	if (known_thread(c, ev->val) && ev->words_ok && ev->words[0] == ev->val)
		return LS_KIND_JOIN;
	return LS_KIND_FUTEX;
}

/* Where a lock without a symbol lies, for its name: "heap 0x55..", "anon mapping 0x7f..",
 * "shm /dev/shm/sem.x +0x40" (the file and offset, the same in every process), "stack 0x7f..", or for an object's data "data mariadbd+0x1c4a0". */
static void lock_place(struct collector *c, uint64_t addr, char *buf, size_t len)
{
	struct sym_region rg;
	struct sym_shared sh;

	/* one lock in every process that maps it: named by the file, as its key is */
	if (symbolizer__shared(c->sym, addr, &sh)) {
		snprintf(buf, len, "shm %s +0x%llx", sh.path[0] ? sh.path : "(shared anonymous)",
			 (unsigned long long)sh.offset);
		return;
	}
	symbolizer__region(c->sym, addr, &rg);
	/* memory mapped since the last read of the map (a grown heap, a new arena), however
	 * recent that read: a name is given once and stays */
	if (!strcmp(rg.kind, "unmapped") && refresh_map(c, true))
		symbolizer__region(c->sym, addr, &rg);
	if (!strcmp(rg.kind, "image"))
		snprintf(buf, len, "data %s+0x%llx", rg.module, (unsigned long long)rg.vaddr);
	else
		snprintf(buf, len, "%s 0x%llx", strcmp(rg.kind, "unmapped") ? rg.kind : "lock",
			 (unsigned long long)addr);
}

/* A lock's name: its variable where it has one, else where it lies and where it was first seen
 * (VERB: "waited on" or "taken"). False if no symbol named it. */
static bool lock_name(struct collector *c, uint64_t addr, enum ls_lock_kind kind,
		      const struct stack_info *si, const char *verb, char *buf, size_t len)
{
	bool anon = symbolizer__is_anon(c->sym, addr);
	const char *sym;
	char place[128];
	uint64_t off;
	int found;

	if (kind == LS_KIND_GIL) {
		snprintf(buf, len, "GIL");
		return true;
	}
	/* the GIL's own mutexes (take_gil holds one while it takes the other): parts of the GIL,
	 * named so, not after the interpreter's data they lie in */
	if (c->py && addr > c->gil_lo && addr < c->gil_hi) {
		snprintf(buf, len, "GIL+0x%llx", (unsigned long long)(addr - c->gil_lo));
		return true;
	}
	if (kind == LS_KIND_JOIN) {	/* CPython's Thread.join waits on a lock, not on a TID */
		snprintf(buf, len, "join in %s", si && si->first_user ? si->first_user : "?");
		return true;
	}
	found = symbolizer__data(c->sym, addr, &sym, &off);
	/* a miss outside the heap may be an object mapped since the last read of the map */
	if (found == -ENOENT && !anon && maybe_refresh(c))
		found = symbolizer__data(c->sym, addr, &sym, &off);
	if (found == 0) {
		/* ADDR is the object's start (lock_of_wait): an offset is a member's */
		if (off == 0)
			snprintf(buf, len, "%s", sym);
		else
			snprintf(buf, len, "%s+0x%llx", sym, (unsigned long long)off);
		return true;
	}
	lock_place(c, addr, place, sizeof(place));
	if (si && si->first_user)
		snprintf(buf, len, "%s first %s in %s", place, verb, si->first_user);
	else
		snprintf(buf, len, "%s", place);
	return false;
}

/* The locks map's value: the kind named + 1, and whether the name still lacks a symbol that a
 * later look may find (a command just exec'd has not finished mapping itself). */
#define LOCK_PROVISIONAL (1ull << 8)
/* ... or whose name came from an acquisition in a CPython target: the first wait renames it */
#define LOCK_PROVISIONAL_NAME (1ull << 9)
/* ... or named after the Python variable or object that it is: that name stays */
#define LOCK_PYNAMED (1ull << 10)
/* ... or a CPython lock whose first taking was looked at for its Python name */
#define LOCK_PYLOOKED (1ull << 11)
/* ... or named before CPython was found in the target: the GIL's own mutexes are renamed once
 * it is (a launched interpreter takes them before its reader can open) */
#define LOCK_PRE_PY (1ull << 12)

/* Writes the LOCK record that names ADDR before its first use. JOIN_TID: the joined thread. */
static int ensure_lock(struct collector *c, uint64_t ts, uint64_t addr, enum ls_lock_kind kind,
		       const struct stack_info *si, const char *verb, uint32_t join_tid)
{
	uint64_t *known = bytemap__get_u64(c->locks, addr);
	struct ls_rec r = {.type = LS_REC_LOCK, .ts = ts};
	struct sym_shared sh;
	const char *sym;
	uint64_t off;
	char name[600];
	bool named;

	if (known && (*known & LOCK_PRE_PY) && c->py) {
		*known &= ~LOCK_PRE_PY;
		if (addr > c->gil_lo && addr < c->gil_hi) {
			if (kind == LS_KIND_FUTEX)
				kind = (*known & 0xff) - 1;
			known = NULL;
		}
	}
	if (known && (*known & LOCK_PYNAMED) &&
	    ((*known & 0xff) == (uint64_t)kind + 1 || kind == LS_KIND_FUTEX))
		return 0;
	if (known && *known && !(*known & LOCK_PROVISIONAL_NAME)) {
		bool same = (*known & 0xff) == (uint64_t)kind + 1 || kind == LS_KIND_FUTEX;

		/* a later, better classification of the same address renames it */
		if (same && !(*known & LOCK_PROVISIONAL))
			return 0;
		if (same && (!maybe_refresh(c) || symbolizer__data(c->sym, addr, &sym, &off)))
			return 0;
		if (same)
			kind = (*known & 0xff) - 1;
	}
	if (kind == LS_KIND_JOIN && known_thread(c, join_tid)) {
		if (bytemap__put_u64(c->locks, addr, kind + 1) ||
		    bytemap__put_u64(c->joins, join_tid, addr))
			return -ENOMEM;
		return write_join_name(c, ts, addr, join_tid);
	}
	named = lock_name(c, addr, kind, si, verb, name, sizeof(name));
	/* no symbol names memory outside objects, nor shared memory (named by its file) */
	named = named || symbolizer__is_anon(c->sym, addr) || symbolizer__shared(c->sym, addr, &sh);
	if (bytemap__put_u64(c->locks, addr,
			     (kind + 1) | (named ? 0 : LOCK_PROVISIONAL) | (c->py ? 0 : LOCK_PRE_PY)))
		return -ENOMEM;
	r.lock.addr = addr;
	r.lock.kind = kind;
	r.lock.name = name;
	return put(c, &r);
}

/* Names the CPython lock or object at ADDR (a lock's sem's futex word, or the Python object
 * that signalling waits on) after the variable that refers to it, before its first use: that
 * name replaces any other and stays, unless ADDR turns out to be of another kind. */
static int name_lock(struct collector *c, uint64_t ts, uint64_t addr, enum ls_lock_kind kind,
		     const char *name)
{
	struct ls_rec r = {.type = LS_REC_LOCK, .ts = ts};
	uint64_t *known = bytemap__get_u64(c->locks, addr);

	if (known && (*known & LOCK_PYNAMED) && (*known & 0xff) == (uint64_t)kind + 1)
		return 0;
	if (bytemap__put_u64(c->locks, addr, (kind + 1) | LOCK_PYNAMED))
		return -ENOMEM;
	r.lock.addr = addr;
	r.lock.kind = kind;
	r.lock.name = name;
	return put(c, &r);
}

/* Whether ADDR is a lock named after its variable: a CPython lock found before. */
static bool py_named_lock(const struct collector *c, uint64_t addr)
{
	const uint64_t *known = bytemap__get_u64(c->locks, addr);

	return known && (*known & LOCK_PYNAMED) && (*known & 0xff) == LS_KIND_MUTEX + 1;
}

/* The address a signalling wait is filed under: the object's, one entry per object and kind,
 * named after the first wait on it; where Python reused an object's memory for one of another
 * kind, that address with a count above the 47 bits of user memory, so that they stay apart.
 * 0 without memory. */
static uint64_t signal_addr(struct collector *c, enum ls_lock_kind kind, uint64_t object)
{
	uint64_t key[2] = {kind, object}, *known = bytemap__get(c->signals, key, sizeof(key));
	uint64_t addr = object;

	if (known)
		return *known;
	while (bytemap__get_u64(c->signal_addrs, addr))
		addr = object + (++c->signal_gen << 48);
	if (bytemap__put(c->signals, key, sizeof(key), addr) ||
	    bytemap__put_u64(c->signal_addrs, addr, 1))
		return 0;
	return addr;
}

/* The key of the signalling waits of KIND at SITE (a frame's text) that have no object of
 * their own: above the 47 bits of user memory, apart from any object. */
static uint64_t site_key(const char *site, enum ls_lock_kind kind)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)kind;

	for (; *site; site++)
		h = (h ^ (uint8_t)*site) * 0x100000001b3ull;
	return (h >> 16) | 1ull << 63;
}

static const uint8_t pywait_kind[] = {
	[PYWAIT_UNKNOWN] = LS_KIND_FUTEX, [PYWAIT_LOCK] = LS_KIND_MUTEX,
	[PYWAIT_COND] = LS_KIND_COND,	  [PYWAIT_EVENT] = LS_KIND_EVENT,
	[PYWAIT_QUEUE] = LS_KIND_QUEUE,	  [PYWAIT_BARRIER] = LS_KIND_BARRIER,
	[PYWAIT_SIGNAL] = LS_KIND_SIGNAL, [PYWAIT_JOIN] = LS_KIND_JOIN,
	[PYWAIT_START] = LS_KIND_START,
};

/* A Python wait PW that its frames placed: contention on the lock at *ADDR (its futex word,
 * where the holders of CPython locks are recorded), or a wait for a signal, which is filed
 * under the object signalled (the Event, Queue...: one entry for all its waits, whatever
 * waiter lock each used) and named after it. */
static int py_wait_apply(struct collector *c, uint64_t ts, const struct pywait *pw,
			 const struct stack_info *si, enum ls_lock_kind *kind, uint64_t *addr)
{
	char name[PYWAIT_NAME_MAX + 300], sig[PYWAIT_NAME_MAX + 320];
	const char *site = si && si->first_user ? si->first_user : "?";
	uint64_t object = pw->object;
	int err;

	*kind = pywait_kind[pw->kind];
	/* a multiprocessing lock is a semaphore its native frames saw (not under a CPython lock) */
	if (pw->kind == PYWAIT_LOCK && si && (si->flags & (SF_SEM | SF_PYLOCK)) == SF_SEM)
		*kind = LS_KIND_SEM;
	if (pw->kind == PYWAIT_LOCK)
		return pw->name[0] ? name_lock(c, ts, *addr, *kind, pw->name) : 0;
	/* every start of a thread waits on a new Event: one entry per place that starts them;
	 * a wait whose object is not known (its frames as they were said what it is), one per
	 * kind and place. Keyed above user memory, apart from any object. */
	if (pw->kind == PYWAIT_START || !object)
		object = site_key(site, *kind);
	if (pw->kind == PYWAIT_START)
		snprintf(name, sizeof(name), "Thread.start in %s", site);
	else if (pw->name[0])
		snprintf(name, sizeof(name), "%s", pw->name);
	else if (pw->object)
		snprintf(name, sizeof(name), "%s 0x%llx waited on in %s",
			 pw->type[0] ? pw->type : "object", (unsigned long long)pw->object, site);
	else	/* its kind known from its frames' code or the thread's last wait */
		snprintf(name, sizeof(name), "%s waited on in %s", ls_kind_name(*kind), site);
	/* the lock under the wait (a Condition's waiter, a SimpleQueue's, a thread's tstate lock)
	 * is a signal: said once, so that the analyses neither order it nor count its holder */
	snprintf(sig, sizeof(sig), "signal lock of %s", name);
	err = name_lock(c, ts, *addr, *kind, sig);
	*addr = signal_addr(c, *kind, object);
	if (!*addr)
		return -ENOMEM;
	return err ?: name_lock(c, ts, *addr, *kind, name);
}

/* The lock a wait is for, keyed by the object's start: one condition variable, rwlock or
 * semaphore is one lock whichever of its words a thread sleeps on. The lock call in progress
 * names it (full mode), else the word's place in glibc's layout does (lockword.c), unless that
 * would reach before the start of the variable holding the word: then the variable is it. */
static uint64_t lock_of_wait(struct collector *c, const struct ls_ev_wait_begin *ev,
			     enum ls_lock_kind kind, uint16_t flags)
{
	enum lockword_call call = flags & SF_COND_WAKE	  ? LOCKWORD_WAKE
				  : flags & SF_COND_DESTROY ? LOCKWORD_DESTROY
							    : LOCKWORD_LOCK;
	const char *sym;
	uint64_t off, base;

	if (kind != LS_KIND_RWLOCK && kind != LS_KIND_SEM && kind != LS_KIND_COND &&
	    kind != LS_KIND_FUTEX)
		return ev->uaddr;
	if (ev->call_lock && (ev->call_api & LS_API__MASK) != LS_API_COND &&
	    ev->uaddr >= ev->call_lock && ev->uaddr - ev->call_lock < 64)
		return ev->call_lock;
	base = lockword_object(ev->uaddr, kind, call, ev->val);
	if (symbolizer__data(c->sym, ev->uaddr, &sym, &off) == 0 && off < ev->uaddr - base)
		return kind == LS_KIND_FUTEX ? ev->uaddr : ev->uaddr - off;
	return base;
}

static int put_lost(struct collector *c, uint64_t ts, uint64_t count)
{
	struct ls_rec r = {.type = LS_REC_LOST, .ts = ts};

	if (!count)
		return 0;
	c->lost += count;
	r.lost.count = count;
	return put(c, &r);
}

/* An event carrying a larger loss count than any before it (events.h) follows that many lost
 * events: the LOST record goes here, before it. Placed any later, a lock whose release was
 * lost would still be held for the analyses when its thread takes the next one. */
static int mark_lost(struct collector *c, uint32_t lost, uint64_t ts)
{
	int32_t ahead = (int32_t)(lost - c->lost_mark);

	if (ahead <= 0)
		return 0;
	c->lost_mark = lost;
	return put_lost(c, ts, (uint64_t)ahead);
}

/* EV's Python frames are PY (n 0: none), its stack ST, followed by SNAP_AVAIL bytes of the
 * record (ev->py and ev->st where it has its Python frames, events.h). */
static int on_wait_begin(struct collector *c, const struct ls_ev_wait_begin *ev,
			 const struct ls_py_stack *py, const struct ls_ev_stack *st,
			 size_t snap_avail, uint8_t flags)
{
	struct ls_rec r = {.type = LS_REC_WAIT_BEGIN, .tid = ev->h.tid};
	const struct hidden_ra hid = {{ev->ra_slot, ev->ra2_slot}, {ev->ra, ev->ra2}};
	struct stack_info *si = NULL;
	struct pywait pw = {.kind = PYWAIT_UNKNOWN};
	enum ls_lock_kind kind;
	uint32_t stack_id, owner;
	bool gil, late = false;
	int err;

	r.ts = rel_ts(c, ev->h.ts);
	err = mark_lost(c, ev->lost, r.ts) ?: ensure_thread(c, r.ts, ev->h.tid);
	if (err)
		return err;
	/* a CPython thread: what its frames say it waits for, read before its stack */
	py_look(c);
	gil_look(c);
	gil = c->py && ev->uaddr >= c->gil_lo && ev->uaddr < c->gil_hi;
	if (c->py && !gil && ev->h.tid)
		late = py_wait(c, ev->h.tid, ev->uaddr, flags & LS_WAIT_AT_ATTACH ? 0 : ev->h.ts,
			       py_named_lock(c, ev->uaddr), py, &pw);
	if (ev->path)
		err = path_stack(c, ev->h.tid, ev->path, py, &stack_id);
	else
		err = stack_of(c, ev->h.tid, st, snap_avail, &stack_id, &hid, py,
			       true);
	if (c->py && ev->h.tid)
		py_unpin(c, ev->h.tid);
	if (err)
		return err;
	if (stack_id)
		si = &c->sinfo[stack_id];
	owner = mutex_owner(c, ev);
	kind = classify(c, ev, si ? si->flags : 0, owner);
	r.wait_begin.addr = lock_of_wait(c, ev, kind, si ? si->flags : 0);
	/* the GIL's mutex and condition variables are one lock, named for what it is */
	if (gil) {
		kind = LS_KIND_GIL;
		owner = 0;
		r.wait_begin.addr = c->gil_lo;
	} else if (pw.kind != PYWAIT_UNKNOWN && !owner) {
		err = py_wait_apply(c, r.ts, &pw, si, &kind, &r.wait_begin.addr);
		if (err)
			return err;
	} else if (kind == LS_KIND_START) {
		/* on the new thread's own parking semaphore: one entry for all of them */
		r.wait_begin.addr = signal_addr(c, kind, site_key("thread_run", kind));
		err = r.wait_begin.addr ? name_lock(c, r.ts, r.wait_begin.addr, kind,
						    "new thread waits for Thread.start (thread_run)")
					: -ENOMEM;
		if (err)
			return err;
	}
	err = ensure_lock(c, r.ts, r.wait_begin.addr, kind, si, "waited on", ev->val);
	if (err)
		return err;
	/* a CPython lock its frames came too late to place: a join, a signal or contention, not
	 * known which, so not contention; the lock keeps its kind, the wait says it is unplaced */
	if (late && kind == LS_KIND_MUTEX && !owner && si && (si->flags & SF_PYLOCK))
		kind = LS_KIND_UNPLACED;
	r.wait_begin.owner = owner;
	r.wait_begin.stack_id = stack_id;
	r.wait_begin.kind = kind;
	r.wait_begin.op = ev->op;
	r.wait_begin.flags = flags;
	if (ev->call_lock && ev->call_lock == r.wait_begin.addr)
		r.wait_begin.flags |= LS_WAIT_IN_CALL;
	return put(c, &r);
}

static uint8_t wait_result(int64_t ret)
{
	switch (ret) {
	case 0:
		return LS_WAIT_WOKEN;
	case -ETIMEDOUT:
		return LS_WAIT_TIMEOUT;
	case -EAGAIN:
		return LS_WAIT_CHANGED;
	case -EINTR:
		return LS_WAIT_INTR;
	default:
		return ret > 0 ? LS_WAIT_WOKEN : LS_WAIT_ERROR;	/* futex_waitv: index woken */
	}
}

static int on_wait_end(struct collector *c, const struct ls_ev_wait_end *ev)
{
	struct ls_rec r = {.type = LS_REC_WAIT_END, .tid = ev->h.tid};

	r.ts = rel_ts(c, ev->h.ts);
	r.wait_end.result = wait_result(ev->ret);
	return put(c, &r);
}

/* A futex call that began before the probes went in has returned: the end of the wait the
 * attach snapshot found its thread in, if there is one (else a call the snapshot did not count:
 * a wake, or a wait that ended before it looked). */
static int on_unseen_end(struct collector *c, const struct ls_ev_wait_end *ev)
{
	uint64_t *open = bytemap__get_u64(c->at_attach, ev->h.tid);

	if (!open || !*open)
		return 0;
	*open = 0;
	return on_wait_end(c, ev);
}

static int on_wake(struct collector *c, const struct ls_ev_wake *ev)
{
	struct ls_rec r = {.type = LS_REC_WAKE, .tid = ev->h.tid};
	int err;

	r.ts = rel_ts(c, ev->h.ts);
	err = ensure_thread(c, r.ts, ev->h.tid);
	/* a thread of another process recorded (a lock in shared memory) is named by its own
	 * process's collector: this one cannot read it under its process */
	if (!err && (!c->ids->several || bytemap__get_u64(c->threads, ev->wakee) ||
		     ls_tgid_of((pid_t)ev->wakee) == c->tgid))
		err = ensure_thread(c, r.ts, ev->wakee);
	if (err)
		return err;
	/* a wake on the GIL's condition variables or mutex wakes a waiter of the GIL */
	gil_look(c);
	r.wake.addr = c->py && c->gil_lo && ev->uaddr >= c->gil_lo && ev->uaddr < c->gil_hi
			  ? c->gil_lo
			  : ev->uaddr;
	r.wake.wakee = ev->wakee;
	r.wake.call_ts = rel_ts(c, ev->call_ts);
	return put(c, &r);
}

static int on_thread(struct collector *c, const struct ls_ev_thread *ev)
{
	char comm[LS_COMM_LEN + 1];
	uint64_t ts = rel_ts(c, ev->h.ts);
	struct ls_rec r = {.type = LS_REC_THREAD_EXIT, .ts = ts, .tid = ev->h.tid};
	uint64_t *open;

	memcpy(comm, ev->comm, LS_COMM_LEN);
	comm[LS_COMM_LEN] = '\0';
	switch (ev->h.type) {
	case LS_EV_THREAD_NEW:
		/* a clone's comm is its parent's: a thread already named keeps its name; a
		 * followed process read before its fork was handled learns who forked it */
		if (known_thread(c, ev->h.tid) && ev->new_proc && ev->parent) {
			char name[256]; /* write_thread frees the one it replaces */

			snprintf(name, sizeof(name), "%s",
				 (char *)(uintptr_t)*bytemap__get_u64(c->threads, ev->h.tid));
			return write_thread(c, ts, ev->h.tid, name, ev->parent);
		}
		if (known_thread(c, ev->h.tid))
			return 0;
		return write_thread(c, ts, ev->h.tid, comm, ev->parent);
	case LS_EV_COMM:
		/* the leader renamed: at an exec, the command is another; a fork that did not
		 * exec kept its parent's, as it was read when the process was first seen */
		if (ev->h.tid == (uint32_t)c->tgid && c->comm) {
			int err = collector__describe(c);

			if (err)
				return err;
			/* read in the middle of the exec: its new arguments are not there yet */
			c->describe_again = c->cmdline[0] ? 0 : DESCRIBE_AGAIN;
		}
		/* the leader renamed at exec: the program may now be another, perhaps CPython */
		if (ev->h.tid == (uint32_t)c->pid && !c->py) {
			c->py_look_until = ls_mono_ns() + PY_LOOK_NS;
			c->py_absent_at = 0;
		}
		/* a followed child that exec'd maps another program: what was read at its fork
		 * would misname it (a launched command's exec is read at its entry instead) */
		if (ev->h.tid == (uint32_t)c->tgid && c->proc_index) {
			struct symbolizer *sym = symbolizer__new_sharing(c->pid, c->lender);
			int err;

			if (sym) {	/* else gone already: the old names are all there is */
				symbolizer__free(c->sym);
				c->sym = sym;
				c->last_refresh = ls_mono_ns();
				if ((err = write_new_mappings(c)))
					return err;
			}
		}
		return write_thread(c, ts, ev->h.tid, comm, 0);
	default:
		/* its wait from before the attach ends with it (the exit says so) */
		if ((open = bytemap__get_u64(c->at_attach, ev->h.tid)))
			*open = 0;
		/* the kernel's name for it at its exit: all there is of a thread that was gone
		 * before its earlier events were handled */
		if (!named_thread(c, ev->h.tid)) {
			int err = write_thread(c, ts, ev->h.tid, comm, 0);

			if (err)
				return err;
		}
		r.exit.code = ev->exit_code;
		return put(c, &r);
	}
}

static enum ls_lock_kind api_kind(uint32_t api)
{
	switch (api & LS_API__MASK) {
	case LS_API_RWLOCK:
		return LS_KIND_RWLOCK;
	case LS_API_SEM:
		return LS_KIND_SEM;
	default:
		return LS_KIND_MUTEX;	/* mutexes, and the mutex a condition wait retakes */
	}
}

static uint8_t acquire_flags(uint32_t api)
{
	return (api & LS_API_TRY ? LS_ACQ_TRY : 0) | (api & LS_API_SHARED ? LS_ACQ_SHARED : 0) |
	       (api & LS_API_TIMED ? LS_ACQ_TIMED : 0) |
	       ((api & LS_API__MASK) == LS_API_COND ? LS_ACQ_COND : 0) |
	       (api & LS_API_PY ? LS_ACQ_PY : 0);
}

/* Is the call site at ST (a return probe's: the caller) in the interpreter's executable or
 * libpython? */
static bool taken_by_cpython(struct collector *c, const struct ls_ev_stack *st)
{
	const char *object = collector__python_object(c), *base;
	struct sym_frame f = {0};

	if (!object || !st->ip || symbolizer__frame(c->sym, st->ip, true, &f) || !f.module)
		return false;
	base = strrchr(object, '/');
	return !strcmp(f.module, base ? base + 1 : object);
}

/* A lock in the interpreter's own data (_PyRuntime's words but the GIL's): internal. */
static bool py_internal(struct collector *c, uint64_t addr)
{
	const char *sym;
	uint64_t off;

	return c->py && !(addr >= c->gil_lo && addr < c->gil_hi) &&
	       symbolizer__data(c->sym, addr, &sym, &off) == 0 &&
	       (!strncmp(sym, "_Py", 3) || !strncmp(sym, "Py", 2));
}

/* Lock names looked for in the frames of threads that took a lock, per second at most: an
 * acquisition's frames are read after the fact, ~50 us each, and Condition.wait makes a new
 * waiter lock every time. */
#define PY_NAME_RATE 20

/* The first taking of the CPython lock at ADDR (per identity: a DESTROY ends one) by TID, its
 * native stack SI: taken by the interpreter for itself (no frame of the _thread module's lock
 * objects, every frame named), the lock is internal; taken for Python, the thread's frames
 * may still show the variable that refers to it (an open `with` block, a variable of its
 * innermost frames), which names it. */
static int py_acquired(struct collector *c, uint64_t ts, uint32_t tid, uint64_t addr,
		       const struct stack_info *si)
{
	uint64_t *known = bytemap__get_u64(c->locks, addr), now = ls_mono_ns(), obj;
	struct ls_rec r = {.type = LS_REC_LOCK, .ts = ts};
	char name[PYWAIT_NAME_MAX], user_name[PYWAIT_NAME_MAX];
	uint16_t flags = si ? si->flags : SF_UNNAMED;
	struct py_thread t;
	bool found, user;

	if (!known || (*known & (LOCK_PYNAMED | LOCK_PYLOOKED)))
		return 0;
	if (py_internal(c, addr) || !(flags & (SF_PYMETHOD | SF_UNNAMED))) {
		lock_name(c, addr, LS_KIND_INTERNAL, si, "taken", name, sizeof(name));
		*known = (LS_KIND_INTERNAL + 1) | LOCK_PYLOOKED;
		r.lock.addr = addr;
		r.lock.kind = LS_KIND_INTERNAL;
		r.lock.name = name;
		return put(c, &r);
	}
	/* taken for Python (a _thread lock method's frame), or a stack with frames unnamed (a
	 * stripped interpreter, Debian's, names none of those): its frames may show the variable;
	 * the lock object is found by its word, so a lock no variable refers to is left alone */
	if (now - c->py_name_at >= 1000000000ull) {
		c->py_name_at = now;
		c->py_name_left = PY_NAME_RATE;
	}
	if (!c->py_name_left || pyreader__thread(c->py, tid, &t))
		return 0;
	c->py_name_left--;
	/* looked for once per lock: its frames are read after the fact, and it may not be there */
	*known |= LOCK_PYLOOKED;
	found = pywait__find_lock(c->py, &t, 0, addr, &obj, name, sizeof(name)) && name[0];
	/* a lock that only the standard library's frames refer to (a Thread's tstate lock, its
	 * _started Event's) is threading's machinery, not the program's */
	user = found && pywait__name(c->py, &t, 0, obj, user_name, sizeof(user_name));
	pyreader__thread_clear(&t);
	if (!found)
		return 0;
	return name_lock(c, ts, addr, user ? LS_KIND_MUTEX : LS_KIND_INTERNAL,
			 user ? user_name : name);
}


static int on_lock(struct collector *c, const struct ls_ev_lock *ev, size_t size)
{
	struct ls_rec r = {.tid = ev->h.tid};
	uint32_t api = ev->api;
	uint64_t *known;
	enum ls_lock_kind kind = api_kind(ev->api);
	uint32_t stack_id = 0;
	int err;

	r.ts = rel_ts(c, ev->h.ts);
	err = mark_lost(c, ev->lost, r.ts) ?: ensure_thread(c, r.ts, ev->h.tid);
	if (err)
		return err;
	if (ev->h.type != LS_EV_ACQUIRE) {
		r.type = ev->h.type == LS_EV_RELEASE ? LS_REC_RELEASE : LS_REC_DESTROY;
		r.release.addr = ev->addr;
		if (r.type == LS_REC_DESTROY)
			bytemap__put_u64(c->locks, ev->addr, 0);	/* renamed at next use */
		return put(c, &r);
	}
	if (size < sizeof(*ev))
		return -EINVAL;
	err = stack_of(c, 0, &ev->st, size - sizeof(*ev), &stack_id, NULL, NULL, false);
	/* a semaphore taken by the interpreter's own code is CPython's lock (it uses sem_t for
	 * nothing else; Debian's LTO build takes it without passing the probed exported
	 * PyThread_acquire_lock_timed); its try-first is not a trylock */
	if (kind == LS_KIND_SEM && taken_by_cpython(c, &ev->st)) {
		kind = LS_KIND_MUTEX;
		api &= ~LS_API_TRY;
		api |= LS_API_PY;
	}
	known = bytemap__get_u64(c->locks, ev->addr);
	/* an acquisition names a lock not seen yet; a wait's kind (a join, the GIL) says more, and
	 * in a CPython target only a wait's stack has the exact Python frame */
	if (!err && (!known || !*known || ((*known & LOCK_PRE_PY) && c->py))) {
		err = ensure_lock(c, r.ts, ev->addr, kind, stack_id ? &c->sinfo[stack_id] : NULL,
				  "taken", 0);
		known = bytemap__get_u64(c->locks, ev->addr);
		if (!err && known && c->py)
			*known |= LOCK_PROVISIONAL_NAME;
	}
	if (!err && c->py && kind == LS_KIND_MUTEX &&
	    ((api & LS_API_PY) || py_internal(c, ev->addr)))
		err = py_acquired(c, r.ts, ev->h.tid, ev->addr,
				  stack_id ? &c->sinfo[stack_id] : NULL);
	if (err)
		return err;
	r.type = LS_REC_ACQUIRE;
	r.acquire.addr = ev->addr;
	r.acquire.kind = kind;
	r.acquire.flags = acquire_flags(api);
	r.acquire.call_ts = rel_ts(c, ev->call_ts);
	r.acquire.stack_id = stack_id;
	return put(c, &r);
}

/* ---- event loops: blocks, and where they were while in progress ---- */

_Static_assert((int)LS_OFF__COUNT == (int)LS_LOOP_OFF__COUNT &&
		       (int)LS_CLS_ON_CPU == (int)LS_LOOP_RUNNING &&
	       (int)LS_OFF_SLEEP == (int)LS_LOOP_SLEEP && (int)LS_OFF_LOCK == (int)LS_LOOP_LOCK &&
	       (int)LS_OFF_IO == (int)LS_LOOP_IO && (int)LS_OFF_RUNQ == (int)LS_LOOP_RUNQ &&
	       (int)LS_OFF_OTHER == (int)LS_LOOP_OTHER, "off-CPU classes");

/* SIZE: the event's, with its snapshot (SAMPLE). The Python frames are read now, afresh: the
 * thread is still in the block. */
static int on_loop(struct collector *c, const struct ls_ev_loop *ev, size_t size,
		   const struct hidden_ra *hid)
{
	struct ls_rec r = {.tid = ev->h.tid};
	struct py_cached *pc;
	uint32_t stack_id = 0;
	int err;

	if (ev->polls < LS_LOOP_MIN_POLLS || ev->gap_start > ev->h.ts)
		return 0;	/* not an event loop (yet) */
	r.ts = rel_ts(c, ev->h.ts);
	err = ensure_thread(c, r.ts, ev->h.tid);
	if (err)
		return err;
	if (ev->h.type == LS_EV_LOOP_SAMPLE) {
		pc = c->py ? py_cached(c, ev->h.tid) : NULL;
		if (pc)
			pc->read_at = 0;
		err = stack_of(c, ev->h.tid, &ev->st, size - sizeof(*ev), &stack_id, hid, NULL,
			       false);
		if (err)
			return err;
	}
	r.type = ev->h.type == LS_EV_LOOP_SAMPLE ? LS_REC_LOOP_SAMPLE : LS_REC_LOOP_BLOCK;
	r.loop.start = rel_ts(c, ev->gap_start);
	if (r.loop.start > r.ts)
		r.loop.start = r.ts;
	r.loop.on_cpu_ns = ev->on_ns;
	for (int i = 0; i < LS_OFF__COUNT; i++)
		r.loop.off_ns[i] = ev->off_ns[i];
	r.loop.stack_id = stack_id;
	r.loop.on_cpu = ev->on_cpu != 0;
	r.loop.cls = ev->h.type == LS_EV_LOOP_SAMPLE && ev->cls <= LS_CLS_ON_CPU ? ev->cls
										 : LS_LOOP_CLS_UNKNOWN;
	return put(c, &r);
}

/* Is loop thread TID still in the gap that began at GAP_START, out of its poll site's call? */
static bool still_in_gap(int loops_fd, uint32_t tid, uint64_t gap_start)
{
	struct ls_loop_state st;

	return !bpf_map_lookup_elem(loops_fd, &tid, &st) && st.gap_start == gap_start &&
	       !st.poll_since;
}

int collector__loop_off_cpu(struct collector *c, int loops_fd, uint32_t tid,
			    const struct ls_loop_state *st, uint64_t now, bool stack)
{
	size_t len = BLOCKED_STACK_MAX;
	struct ls_ev_loop *ev = calloc(1, sizeof(*ev) + len);
	struct hidden_ra hid = {{0}, {0}};
	uint64_t ip, sp;
	int found, err = 0;
	bool polls;

	if (!ev)
		return -ENOMEM;
	found = blocked__thread_stack(c->pid, tid, &polls, &ip, &sp, (uint8_t *)(ev + 1), &len);
	/* back at its poll site since ST was read: the block is over, this is not its stack. (A
	 * poll call elsewhere, on one socket with a timeout, is the block itself.) */
	if (found == 1 && !still_in_gap(loops_fd, tid, st->gap_start))
		found = 0;
	if (found == 1) {
		/* nothing else may have read the map lately (a loop makes few events): unwound on
		 * a stale one, the first block's stack stops at its first frame */
		maybe_refresh(c);
		ev->st.ip = ip;
		ev->st.sp = sp;
		/* the frame pointer where it left the CPU, and the return addresses that full
		 * mode's probes hid, if it has not moved since */
		if (st->user_ip == ip && st->user_sp == sp) {
			ev->st.bp = st->user_bp;
			hid = (struct hidden_ra){{st->ra_slot, st->ra2_slot}, {st->ra, st->ra2}};
		}
		if (!stack) {
			ev->st.ip = 0;	/* no stack: stack_of() takes none */
			len = 0;
		}
		ev->h.type = LS_EV_LOOP_SAMPLE;
		ev->h.tid = tid;
		ev->h.ts = now;
		ev->gap_start = st->gap_start;
		ev->on_ns = st->on_ns;
		memcpy(ev->off_ns, st->off_ns, sizeof(ev->off_ns));
		if (st->off_since && st->off_since < now && st->off_class < LS_OFF__COUNT)
			ev->off_ns[st->off_class] += now - st->off_since;
		ev->polls = st->polls;
		ev->cls = st->off_class < LS_OFF__COUNT ? st->off_class : LS_OFF_OTHER;
		ev->st.snap_len = len;
		err = on_loop(c, ev, sizeof(*ev) + len, &hid);
	}
	free(ev);
	return found < 0 ? found : err ? err : found == 1;
}

/* A WAIT_BEGIN record of SIZE bytes. One of a target that runs no CPython comes without its
 * Python frames (py_len 0): what follows them moved up in their place. One that came with its
 * call path's key ends before its frame-pointer chain, which it has no use for. */
static int wait_begin(struct collector *c, const struct ls_ev_wait_begin *ev, size_t size)
{
	static const struct ls_py_stack no_py;
	const size_t fixed = offsetof(struct ls_ev_wait_begin, py);
	const struct ls_ev_stack *st;
	struct ls_ev_stack keyed;
	size_t less, head;

	if (size < fixed || (ev->py_len && ev->py_len != LS_WAIT_PY_SIZE))
		goto bad;
	less = ev->py_len ? 0 : LS_WAIT_PY_SIZE;
	st = (const struct ls_ev_stack *)((const uint8_t *)&ev->st - less);
	head = sizeof(*ev) - less;
	if (size >= LS_WAIT_KEYED_SIZE - less && size < head && ev->path) {
		memset(&keyed, 0, sizeof(keyed));
		memcpy(&keyed, st, size - (LS_WAIT_KEYED_SIZE - less) + offsetof(struct ls_ev_stack, fp));
		keyed.snap_len = 0;
		return on_wait_begin(c, ev, less ? &no_py : &ev->py, &keyed, 0, 0);
	}
	if (size < head)
		goto bad;
	return on_wait_begin(c, ev, less ? &no_py : &ev->py, st, size - head, 0);
bad:
	c->bad++;
	return 0;
}

int collector__handle(struct collector *c, const void *data, size_t size)
{
	const struct ls_ev_hdr *h = data;

	if (size < sizeof(*h))
		goto bad;
	c->events++;
	if (c->describe_again) {
		int err;

		c->describe_again--;
		if ((err = collector__describe(c)))
			return err;
	}
	switch (h->type) {
	case LS_EV_WAIT_BEGIN: {
		const struct ls_ev_wait_begin *ev = data;

		return wait_begin(c, ev, size);
	}
	case LS_EV_WAIT_END:
		if (size < sizeof(struct ls_ev_wait_end))
			goto bad;
		return on_wait_end(c, data);
	case LS_EV_WAIT_END_UNSEEN:
		if (size < sizeof(struct ls_ev_wait_end))
			goto bad;
		return on_unseen_end(c, data);
	case LS_EV_WAKE:
		if (size < sizeof(struct ls_ev_wake))
			goto bad;
		return on_wake(c, data);
	case LS_EV_ACQUIRE:
	case LS_EV_RELEASE:
	case LS_EV_DESTROY:
		if (size < offsetof(struct ls_ev_lock, st))
			goto bad;
	{
		int err = on_lock(c, data, size);

		if (err != -EINVAL)
			return err;
		goto bad;	/* an ACQUIRE cut short */
	}
	case LS_EV_THREAD_NEW:
	case LS_EV_THREAD_EXIT:
	case LS_EV_COMM:
		if (size < sizeof(struct ls_ev_thread))
			goto bad;
		return on_thread(c, data);
	case LS_EV_LOOP_BLOCK:
		if (size < offsetof(struct ls_ev_loop, st))
			goto bad;
		return on_loop(c, data, size, NULL);
	case LS_EV_LOOP_SAMPLE: {
		const struct ls_ev_loop *ev = data;
		struct hidden_ra hid = {{0}, {0}};

		if (size < sizeof(struct ls_ev_loop))
			goto bad;
		hid = (struct hidden_ra){{ev->ra_slot, ev->ra2_slot}, {ev->ra, ev->ra2}};
		return on_loop(c, data, size, &hid);
	}
	}
bad:
	c->bad++;
	return 0;
}

int collector__blocked_wait(struct collector *c, const struct blocked_wait *bw)
{
	size_t size = sizeof(struct ls_ev_wait_begin) + bw->stack_len;
	struct ls_ev_wait_begin *ev = calloc(1, size);
	int err;

	if (!ev)
		return -ENOMEM;
	ev->h.type = LS_EV_WAIT_BEGIN;
	ev->h.tid = bw->tid;
	ev->h.ts = c->start_mono;
	ev->lost = c->lost_mark;	/* seen by no probe: it says nothing of losses */
	ev->uaddr = bw->uaddr;
	ev->op = bw->op;
	ev->val = bw->val;
	memcpy(ev->words, bw->words, sizeof(ev->words));
	ev->words_ok = bw->words_ok;
	ev->fclass = bw->fclass;
	ev->st.ip = bw->ip;
	ev->st.sp = bw->sp;
	ev->st.snap_len = bw->stack_len;
	memcpy(ev + 1, bw->stack, bw->stack_len);
	err = on_wait_begin(c, ev, &ev->py, &ev->st, bw->stack_len, LS_WAIT_AT_ATTACH);
	free(ev);
	/* the probes will see only the call's return: LS_EV_WAIT_END_UNSEEN */
	return err ?: bytemap__put_u64(c->at_attach, bw->tid, 1);
}

/* One hold that pyasync deduced: an inferred ACQUIRE at TS, after the LOCK record that gives
 * the lock its Python name. */
static int infer_hold(struct collector *c, uint64_t ts, pid_t tid, const struct pyasync_lock *l)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .ts = ts, .tid = tid};
	int err;

	if (!l->futex)
		return 0;
	err = ensure_thread(c, ts, tid) ?: name_lock(c, ts, l->futex, LS_KIND_MUTEX, l->name);
	r.acquire.addr = l->futex;
	r.acquire.kind = LS_KIND_MUTEX;
	r.acquire.flags = LS_ACQ_INFERRED | LS_ACQ_PY;
	return err ?: put(c, &r);
}

/* The holds of A's deadlocks among threads: member j holds the lock member j - 1 waits for. */
static int infer_cycles(struct collector *c, uint64_t ts, const struct pyasync *a, size_t *found)
{
	int err = 0;

	for (size_t i = 0; !err && i < a->ncycles; i++) {
		const struct pyasync_cycle *cy = &a->cycles[i];

		if (cy->among_tasks)
			continue;
		++*found;
		for (size_t j = 0; !err && j < cy->n; j++)
			err = infer_hold(c, ts, a->threads[cy->members[j]].tid,
					 &a->locks[cy->locks[(j + cy->n - 1) % cy->n]]);
	}
	return err;
}

/* The CPython locks held that no probe saw taken: each thread's open `with` blocks name them
 * (pyasync), read over BW, the N threads blocked in a futex wait. Written as inferred ACQUIRE
 * records at TS, after LOCK records that give them their Python names, ahead of the waits, so
 * that a deadlock has its holders: at attach, every hold (CYCLES NULL); while recording, only
 * those of the deadlocks among threads that the frames show (counted in *CYCLES), since a
 * thread that runs may release what it held unseen. */
static int infer_python_holds(struct collector *c, const struct blocked_wait *bw, size_t n,
			      uint64_t ts, size_t *cycles)
{
	struct pyasync_futex *fw = calloc(n ? n : 1, sizeof(*fw));
	struct py_thread *th = NULL;
	struct pyasync *a = NULL;
	size_t nth = 0;
	int err = 0;

	if (!fw)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		fw[i] = (struct pyasync_futex){bw[i].tid, bw[i].uaddr};
	if (pyreader__threads(c->py, &th, &nth) ||
	    pyasync__read(c->py, th, nth, fw, n, &a, NULL, 0))
		goto out;	/* unreadable: the waits stand without their holders */
	if (cycles) {
		err = infer_cycles(c, ts, a, cycles);
		goto lost;
	}
	for (size_t i = 0; !err && i < a->nthreads; i++) {
		const struct pyasync_thread *t = &a->threads[i];

		for (size_t k = 0; !err && k < t->nholds; k++)
			err = infer_hold(c, ts, t->tid, &a->locks[t->holds[k]]);
		if (!err && t->waits_for >= 0 && a->locks[t->waits_for].futex)
			err = name_lock(c, ts, a->locks[t->waits_for].futex, LS_KIND_MUTEX,
					a->locks[t->waits_for].name);
	}
lost:
	c->py_infer_lost += a->stats.registry_unreadable + a->stats.frames_unreadable;
out:
	pyasync__free(a);
	pyreader__threads_free(th, nth);
	free(fw);
	return err;
}

int collector__infer_deadlocks(struct collector *c, size_t *found)
{
	struct blocked_wait *bw = NULL;
	size_t n = 0;
	int err;

	*found = 0;
	if (!c->py)
		return 0;
	err = blocked__scan(c->pid, &bw, &n);
	if (!err)
		err = infer_python_holds(c, bw, n, rel_ts(c, ls_mono_ns()), found);
	blocked__free(bw, n);
	return err == -ESRCH ? 0 : err;
}

/* Did W's wait begin before the probes went in? Not if they saw its thread enter the futex
 * call it is in (its own event says it); and one no longer asleep in the call the scan found
 * may have begun after them too: asked before and after, so that a wait cannot slip between. */
static bool began_before_attach(struct collector *c, const struct blocked_wait *w)
{
	if (!c->wait_seen)
		return true;
	return !c->wait_seen(c->wait_seen_arg, w->tid) && blocked__still_waiting(c->pid, w) &&
	       !c->wait_seen(c->wait_seen_arg, w->tid);
}

/* Threads already blocked in a futex wait make no event: each becomes a wait that began
 * before the recording (ts 0), with its stack read from memory. */
static int snapshot_blocked(struct collector *c)
{
	struct blocked_wait *bw = NULL;
	size_t n = 0;
	int err = blocked__scan(c->pid, &bw, &n);

	if (!err && c->py)
		err = infer_python_holds(c, bw, n, 0, NULL);
	for (size_t i = 0; !err && i < n; i++) {
		/* blocked since the probes went in: its wait has an event of its own, still in
		 * the ring buffer; a second, "at attach" begin would unpair it */
		if (began_before_attach(c, &bw[i]))
			err = collector__blocked_wait(c, &bw[i]);
	}
	blocked__free(bw, n);
	return err == -ESRCH ? 0 : err;
}

int collector__load_objects(struct collector *c)
{
	/* a launched command has just exec'd: what was read at collector__new described the
	 * forked copy of lockscope, whose objects must not stand in for the new program's */
	symbolizer__free(c->sym);
	c->sym = symbolizer__new_sharing(c->pid, c->lender);
	if (!c->sym)
		return -errno;
	c->last_refresh = ls_mono_ns();
	c->objects_loaded = true;
	return write_new_mappings(c);
}

/* One thread that exists at the attach snapshot, at ts. */
struct snap_thread {
	struct collector *c;
	uint64_t ts;
};

static int snapshot_thread(void *arg, pid_t tid)
{
	struct snap_thread *s = arg;

	return ensure_thread(s->c, s->ts, tid);
}

int collector__attach_snapshot(struct collector *c)
{
	struct snap_thread st = {.c = c, .ts = rel_ts(c, ls_mono_ns())};
	int err;

	if (!c->objects_loaded && (err = collector__load_objects(c)))
		return err;
	/* a CPython target: its GIL and Python frames (absent otherwise: nothing changes) */
	pyreader__free(c->py);
	c->py = NULL;
	c->py_look_until = ls_mono_ns() + PY_LOOK_NS;
	py_look(c);
	err = ls_each_thread(c->pid, snapshot_thread, &st);
	if (!err)
		py_names(c);
	return err ? err : snapshot_blocked(c);
}

int collector__thread_stack(struct collector *c, pid_t tid, uint64_t ip, uint64_t sp,
			    uint64_t bp, const void *snap, size_t len, uint32_t *id)
{
	struct ls_ev_stack *st = calloc(1, sizeof(*st) + len);
	int err;

	*id = 0;
	if (!st)
		return -ENOMEM;
	st->ip = ip;
	st->sp = sp;
	st->bp = bp;
	st->snap_len = len;
	memcpy(st + 1, snap, len);
	err = stack_of(c, tid, st, len, id, NULL, NULL, false);
	free(st);
	return err;
}

int collector__python_pin(struct collector *c, pid_t tid)
{
	struct py_cached *pc;

	if (!c->py)	/* looking for CPython is for later: the thread waits stopped */
		return 0;
	pc = py_cached(c, tid);
	if (!pc)
		return -ENOMEM;
	pc->read_at = 0;
	pc->pinned = false;
	pc = py_stack(c, tid, false);
	if (pc)
		pc->pinned = true;
	return 0;
}

int collector__gil(struct collector *c, uint64_t *addr, pid_t *holder)
{
	struct py_thread *ts = NULL;
	size_t n = 0;
	int err;

	*addr = 0;
	*holder = 0;
	gil_look(c);
	if (!c->py || !c->gil_lo)
		return -ENOENT;
	*addr = c->gil_lo;
	err = pyreader__threads(c->py, &ts, &n);
	for (size_t i = 0; !err && i < n; i++)
		if (ts[i].holds_gil)
			*holder = ts[i].tid;
	pyreader__threads_free(ts, n);
	return err;
}

int collector__gil_range(const struct collector *c, uint64_t *lo, uint64_t *hi)
{
	*lo = c->gil_lo;
	*hi = c->gil_hi;
	return c->py && c->gil_lo ? 0 : -ENOENT;
}

int collector__lost(struct collector *c, uint64_t total)
{
	return put_lost(c, rel_ts(c, ls_mono_ns()), total > c->lost ? total - c->lost : 0);
}

int collector__refresh(struct collector *c)
{
	int err = symbolizer__refresh(c->sym);

	py_look(c);
	py_names(c);	/* threads named since */
	c->last_refresh = ls_mono_ns();
	err = err ?: name_late_frames(c);
	return err ? err : write_new_mappings(c);
}

int collector__count(struct collector *c, const char *name, uint64_t value)
{
	struct ls_rec r = {.type = LS_REC_COUNTER, .ts = c->last_ts};
	struct collector_ids *sh = c->ids;
	size_t i, t;

	for (i = 0; i < c->ncounters && strcmp(c->counters[i].name, name); i++)
		;
	if (i == COUNTERS_MAX)
		return -ENOSPC;
	for (t = 0; t < sh->ntotals && strcmp(sh->totals[t].name, name); t++)
		;
	if (t == COUNTERS_MAX)
		return -ENOSPC;
	if (t == sh->ntotals) {
		sh->totals[t].name = strdup(name);
		if (!sh->totals[t].name)
			return -ENOMEM;
		sh->totals[t].value = 0;
		sh->ntotals++;
	}
	if (i == c->ncounters) {
		c->counters[c->ncounters++].name = name;
		c->counters[i].value = 0;
	} else if (c->counters[i].value == value) {
		return 0;
	}
	/* this collector's share changed: the total by as much (wrapping, as a share may drop) */
	sh->totals[t].value += value - c->counters[i].value;
	c->counters[i].value = value;
	r.counter.name = name;
	r.counter.value = sh->totals[t].value;
	return put(c, &r);
}

int collector__counters(struct collector *c)
{
	struct sym_stats st;
	struct py_stats ps;
	int err;

	symbolizer__stats(c->sym, &st);
	err = collector__count(c, "malformed BPF events skipped", c->bad);
	err = err ?: collector__count(c, "stacks: a call path's key the collector never gave",
				      c->path_unknown);
	err = err ?: collector__count(c, "stacks cut: past the stack snapshot", st.cut_snapshot);
	err = err ?: collector__count(c, "stacks cut: no unwind info for a frame", st.cut_cfi);
	err = err ?: collector__count(c, "stacks cut: a bad return address", st.cut_bad);
	err = err ?: collector__count(c, "stacks cut: frame base register unknown", st.cut_no_bp);
	err = err ?: collector__count(c, "stacks cut: a return probe's trampoline",
				      st.cut_trampoline);
	err = err ?: collector__count(c, "objects without symbols (unreadable ELF)",
				      st.objects_unreadable);
	if (!err && c->py_unsupported[0])
		err = collector__count(c, c->py_unsupported, 1);	/* one interpreter */
	if (err || !c->py)
		return err;
	pyreader__stats(c->py, &ps);
	err = collector__count(c, "python: memory reads failed", ps.read_errors);
	err = err ?: collector__count(c, "python: thread lists cut", ps.thread_lists_cut);
	err = err ?: collector__count(c, "python: stacks cut", ps.stacks_truncated);
	err = err ?: collector__count(c, "python: frames unreadable", ps.frames_skipped);
	err = err ?: collector__count(c, "python: line numbers approximate", ps.lines_inexact);
	err = err ?: collector__count(c, "python: stacks cut: frames gone before they were read",
				      c->py_cut);
	err = err ?: collector__count(c, "python: objects unreadable inferring holders at attach",
				      c->py_infer_lost);
	err = err ?: collector__count(c, "python: lock waits its frames could not place",
				      c->py_wait_unknown);
	return err;
}

int collector__window(struct collector *c, bool on, uint64_t at)
{
	struct ls_rec r = {.type = LS_REC_WINDOW, .ts = rel_ts(c, at)};

	r.window.on = on;
	return put(c, &r);
}

int collector__proc_exit(struct collector *c, int code)
{
	struct ls_rec r = {.type = LS_REC_PROC_EXIT, .ts = c->last_ts, .tid = c->pid};

	r.exit.code = code;
	return put(c, &r);
}

const char *collector__python_object(const struct collector *c)
{
	struct py_info info;

	if (!c->py)
		return NULL;
	pyreader__info(c->py, &info);
	return info.object && info.object[0] ? info.object : NULL;
}

uint64_t collector__events(const struct collector *c)
{
	return c->events;
}

uint64_t collector__path_waits(const struct collector *c)
{
	return c->path_waits;
}

struct pyreader *collector__pyreader(const struct collector *c)
{
	return c->py;
}

uint64_t collector__lost_total(const struct collector *c)
{
	return c->lost;
}

uint64_t collector__bad_events(const struct collector *c)
{
	return c->bad;
}

uint64_t collector__last_ts(const struct collector *c)
{
	return c->last_ts;
}

int collector__describe(struct collector *c)
{
	struct ls_rec r = {.type = LS_REC_PROCESS, .ts = rel_ts(c, ls_mono_ns()), .tid = c->tgid};
	char comm[64], cmdline[4096], *comm_copy, *cmdline_copy;

	ls_read_proc(c->pid, "comm", comm, sizeof(comm), false);
	ls_read_proc(c->pid, "cmdline", cmdline, sizeof(cmdline), true);
	if (c->comm && !strcmp(c->comm, comm) && !strcmp(c->cmdline, cmdline))
		return 0;
	comm_copy = strdup(comm);
	cmdline_copy = strdup(cmdline);
	if (!comm_copy || !cmdline_copy) {
		free(comm_copy);
		free(cmdline_copy);
		return -ENOMEM;
	}
	free(c->comm);
	free(c->cmdline);
	c->comm = comm_copy;
	c->cmdline = cmdline_copy;
	r.process.comm = comm;
	r.process.cmdline = cmdline;
	return put(c, &r);
}

struct collector *collector__new(pid_t pid, struct trace_writer *w, uint64_t start_mono)
{
	struct collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->pid = pid;
	c->tgid = ls_tgid_of(pid) > 0 ? ls_tgid_of(pid) : pid;
	c->ids = &c->own_ids;
	c->w = w;
	c->start_mono = start_mono;
	c->sym = symbolizer__new(pid);
	if (!c->sym)
		goto fail;
	c->threads = bytemap__new();
	c->frames = bytemap__new();
	c->stacks = bytemap__new();
	c->locks = bytemap__new();
	c->mappings = bytemap__new();
	c->joins = bytemap__new();
	c->at_attach = bytemap__new();
	c->pyframes = bytemap__new();
	c->idstacks = bytemap__new();
	c->pythreads = bytemap__new();
	c->own_ids.paths = bytemap__new();
	c->rules_fd = c->paths_fd = -1;
	c->signals = bytemap__new();
	c->signal_addrs = bytemap__new();
	if (!c->threads || !c->frames || !c->stacks || !c->locks || !c->mappings || !c->joins ||
	    !c->at_attach || !c->pyframes || !c->idstacks || !c->pythreads || !c->own_ids.paths ||
	    !c->signals || !c->signal_addrs) {
		errno = ENOMEM;
		goto fail;
	}
	return c;
fail:;
	int saved = errno;

	collector__free(c);
	errno = saved;
	return NULL;
}

static void free_name(uint64_t val, void *arg)
{
	free((char *)(uintptr_t)val);
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	if (getenv("LOCKSCOPE_DEBUG") && c->sym) {
		struct sym_stats st;

		symbolizer__stats(c->sym, &st);
		fprintf(stderr, "lockscope: debug: %llu unwinds: %llu CFI frames, %llu FP frames, "
			"cut: %llu snapshot, %llu CFI, %llu bad; %llu objects unreadable\n",
			(unsigned long long)st.unwinds, (unsigned long long)st.cfi_frames,
			(unsigned long long)st.fp_frames, (unsigned long long)st.cut_snapshot,
			(unsigned long long)st.cut_cfi, (unsigned long long)st.cut_bad,
			(unsigned long long)st.objects_unreadable);
	}
	for (size_t i = 0; i < c->sinfo_cap; i++)
		free(c->sinfo[i].first_user);
	if (c->threads)
		bytemap__each(c->threads, free_name, NULL);
	free(c->sinfo);
	for (size_t i = 0; i < c->npyt; i++) {
		py_cached_clear(&c->pyt[i]);
		free(c->pyt[i].name);
	}
	free(c->pyt);
	free(c->own_ids.pathv);
	for (size_t i = 0; i < c->own_ids.ntotals; i++)
		free(c->own_ids.totals[i].name);
	bytemap__free(c->own_ids.paths);
	bytemap__free(c->pythreads);
	bytemap__free(c->signals);
	bytemap__free(c->signal_addrs);
	bytemap__free(c->idstacks);
	bytemap__free(c->pyframes);
	pyreader__free(c->py);
	bytemap__free(c->joins);
	bytemap__free(c->at_attach);
	bytemap__free(c->mappings);
	bytemap__free(c->locks);
	bytemap__free(c->stacks);
	bytemap__free(c->frames);
	free(c->late);
	free(c->comm);
	free(c->cmdline);
	bytemap__free(c->threads);
	symbolizer__free(c->sym);
	free(c);
}

void collector__mark_cuts(struct collector *c)
{
	c->mark_cuts = true;
}
