/* trace.h - the .lsz trace file: a header, then independently decodable zstd chunks of records.
 * The record model here is what every analysis consumes; trace.c owns the encoding. */
#ifndef LOCKSCOPE_TRACE_H
#define LOCKSCOPE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS_TRACE_VERSION 3

#define LS_TASK_CYCLE_MAX 32	/* tasks in one TASK_WAIT cycle */
#define LS_TASK_HOLDS_MAX 16	/* locks one TASK_WAIT names as held */
#define LS_STACK_FRAMES_MAX 128	/* the deepest stack a recorder writes (64 native frames, 64
					 * Python ones): readers cut deeper ones, which are crafted */
#define LS_CUT_PC_BASE 0xffffffffffffff00ull	/* a frame's pc from here up is no code address:
					 * the stack was cut short there, its func says why
					 * ("…cut: <why>") */
#define LS_STACK_JSON_MAX (32u << 10)	/* a stack printed as JSON holds its frames up to this many
					 * bytes, then "... N more frames" (trace/model.h) */

/* What a wait was, as the recorder classified it. */
enum ls_lock_kind {
	LS_KIND_FUTEX = 0,	/* a futex we could not place */
	LS_KIND_MUTEX,
	LS_KIND_RWLOCK,
	LS_KIND_SEM,
	LS_KIND_GIL,
	LS_KIND_COND,		/* condition wait: not contention */
	LS_KIND_JOIN,		/* thread join: not contention */
	/* CPython's signalling, built on locks acquired twice (python/pywait.h): not contention */
	LS_KIND_EVENT,		/* Event.wait */
	LS_KIND_QUEUE,		/* a queue's get, put, join; idle pool workers */
	LS_KIND_BARRIER,	/* Barrier.wait */
	LS_KIND_SIGNAL,		/* a semaphore used as a signal */
	LS_KIND_INTERNAL,	/* a CPython lock the interpreter takes for itself (imports, I/O
				 * buffers, its runtime), never from the program's Python code */
	LS_KIND_START,		/* a thread's start handshake: Thread.start waiting for the new
				 * thread's bootstrap, or the new thread for its starter */
	LS_KIND_UNPLACED,	/* a CPython lock wait whose Python frames were read too late (the
				 * thread had moved on, or the program had ended), none captured when
				 * it began: a join, a signal or contention, not known which, so not
				 * counted as contention */
	LS_KIND__COUNT
};

/* Waiting that is not contention: for a signal, a thread's end, a queue's item. Such waits
 * have no holder to wait for, so they close no deadlock and order no locks. A wait not placed
 * is not known to be contention: it is listed with them, and closes nothing either. */
static inline bool ls_kind_signal(unsigned int kind)
{
	return kind == LS_KIND_COND || kind == LS_KIND_JOIN || kind == LS_KIND_EVENT ||
	       kind == LS_KIND_QUEUE || kind == LS_KIND_BARRIER || kind == LS_KIND_SIGNAL ||
	       kind == LS_KIND_START || kind == LS_KIND_UNPLACED;
}

/* WAIT_BEGIN flags. */
enum {
	LS_WAIT_AT_ATTACH = 1 << 0,	/* already waiting when recording began (ts is then 0) */
	/* inside a lock call on this lock whose entry full mode's probes saw in the window open
	 * now: the thread's holds are what they were at that entry, which the trace has seen */
	LS_WAIT_IN_CALL = 1 << 1,
};

/* ACQUIRE flags. */
enum {
	LS_ACQ_TRY = 1 << 0,	/* a trylock: never blocks, so it cannot close a deadlock */
	LS_ACQ_SHARED = 1 << 1,	/* a reader's hold of an rwlock: readers do not exclude readers */
	LS_ACQ_TIMED = 1 << 2,	/* a timed lock call: gives up instead of deadlocking forever */
	LS_ACQ_COND = 1 << 3,	/* the mutex retaken by pthread_cond_*wait on its return */
	LS_ACQ_INFERRED = 1 << 4,	/* held when recording began: deduced (a CPython `with` block
					 * open in the thread's frames), not seen taken */
	LS_ACQ_PY = 1 << 5,	/* a CPython lock (`_thread.lock`, RLock's, SimpleQueue's): any
				 * thread may release it, so it may be used as a signal */
};

/* OBJECT flags: what the object's symbols and debug info gave. */
enum {
	LS_OBJ_READABLE = 1 << 0,	/* an ELF lockscope could read (else the rest is 0) */
	LS_OBJ_SYMTAB = 1 << 1,		/* a full symbol table: every function, static ones too */
	LS_OBJ_DYNSYM = 1 << 2,		/* dynamic symbols: exported functions only */
	LS_OBJ_LINES = 1 << 3,		/* DWARF: source files and lines */
};

/* OBJECT: how its separate debug file was found. */
enum ls_obj_via {
	LS_VIA_NONE = 0,		/* none used: the object's own sections, or nothing */
	LS_VIA_BUILD_ID,		/* a .build-id tree */
	LS_VIA_DEBUGLINK,		/* its .gnu_debuglink name */
	LS_VIA_DEBUGINFOD,		/* a debuginfod server (or its client's cache) */
	LS_VIA__COUNT
};

/* How a futex wait ended. */
enum ls_wait_result {
	LS_WAIT_WOKEN = 0,
	LS_WAIT_TIMEOUT,	/* -ETIMEDOUT */
	LS_WAIT_CHANGED,	/* -EAGAIN: the word had changed, no sleep */
	LS_WAIT_INTR,		/* -EINTR */
	LS_WAIT_ERROR,		/* any other error */
	LS_WAIT_UNFINISHED,	/* synthesised by readers: the trace ended during the wait */
};

/* Where a loop thread's time off CPU went in a gap between its poll calls. */
enum ls_loop_off {
	LS_LOOP_SLEEP = 0,	/* asleep in nanosleep, clock_nanosleep */
	LS_LOOP_LOCK,		/* in futex, futex_waitv */
	LS_LOOP_IO,		/* in any other system call */
	LS_LOOP_RUNQ,		/* preempted: runnable, waiting for a CPU */
	LS_LOOP_OTHER,		/* asleep outside a system call */
	LS_LOOP_OFF__COUNT
};
#define LS_LOOP_RUNNING LS_LOOP_OFF__COUNT	  /* a loop sample's class: on CPU */
#define LS_LOOP_CLS_UNKNOWN (LS_LOOP_OFF__COUNT + 1)

/* Lock keys (the addr of WAIT_BEGIN, WAKE, LOCK, ACQUIRE, RELEASE) in a trace of several
 * processes: memory shared between processes has LS_SHARED_KEY set (the rest says which file and
 * where in it: the same lock in every process); a private address is tagged with its process's
 * place in the trace (1..LS_PROC_KEY_MAX) from bit LS_PROC_KEY_SHIFT, the first process's not. */
#define LS_SHARED_KEY (1ull << 63)
#define LS_PROC_KEY_SHIFT 52
#define LS_PROC_KEY_MAX 2047

enum ls_rec_type {
	LS_REC_WAIT_BEGIN = 1,
	LS_REC_WAIT_END,
	LS_REC_WAKE,
	LS_REC_THREAD,		/* a thread appeared or was (re)named */
	LS_REC_THREAD_EXIT,
	LS_REC_PROC_EXIT,	/* the target process ended */
	LS_REC_LOST,		/* events the kernel could not hand over */
	LS_REC_LOCK,		/* a lock address's name and kind; precedes its first use */
	LS_REC_FRAME,		/* a symbolised stack frame; precedes its first use */
	LS_REC_STACK,		/* a stack as frame ids, innermost first; precedes its first use */
	LS_REC_MAPPING,		/* one line of the target's memory map */
	LS_REC_END,		/* written once when recording finished cleanly */
	LS_REC_ACQUIRE,		/* full mode: a lock call returned with the lock taken */
	LS_REC_RELEASE,		/* full mode: an unlock call */
	LS_REC_DESTROY,		/* full mode: the lock was destroyed; its address may be reused */
	LS_REC_WINDOW,		/* full mode's lock/unlock tracing switched on or off */
	LS_REC_COUNTER,		/* a named loss counter's running total (unwinder, CPython reader) */
	LS_REC_LOOP_SAMPLE,	/* an event loop's thread away from its poll call past the
				 * threshold, still: where it is (the block in progress) */
	LS_REC_LOOP_BLOCK,	/* ... back in its poll call: the whole block */
	LS_REC_TASK_WAIT,	/* one asyncio task of a deadlock among tasks; the cycle's tasks
				 * follow each other, in the cycle's order */
	LS_REC_OBJECT,		/* a mapped object: its build ID, and the names it could give */
	LS_REC_PROCESS,		/* a process's command (format 3): when it is first seen, and
				 * again after it exec'd; tid: its pid */
	LS_REC__COUNT
};

/* One decoded record. Pointers inside are borrowed from the reader and valid until the next
 * trace_reader__next() call; copy what you keep. */
struct ls_rec {
	uint8_t type;		/* enum ls_rec_type */
	uint64_t ts;		/* ns since the start of recording */
	uint32_t tid;		/* the thread the record is about (0 where none) */
	union {
		struct {
			uint64_t addr;		/* futex address (the lock's address) */
			uint32_t owner;		/* owner TID read from the lock, 0 if unknown */
			uint32_t stack_id;	/* 0: no stack */
			uint8_t kind;		/* enum ls_lock_kind */
			uint32_t op;		/* raw futex op */
			uint8_t flags;		/* LS_WAIT_* */
		} wait_begin;
		struct {
			uint8_t result;		/* enum ls_wait_result */
		} wait_end;
		struct {
			uint64_t addr;
			uint32_t wakee;
			uint64_t call_ts;	/* waker entered its wake call (<= ts) */
		} wake;
		struct {
			const char *name;
			uint32_t parent;	/* 0 if unknown or present at attach */
			uint32_t pid;		/* its process (0: not known) */
		} thread;
		struct {
			int32_t code;
		} exit;			/* THREAD_EXIT and PROC_EXIT */
		struct {
			const char *comm;	/* /proc/PID/comm; "" if it could not be read */
			const char *cmdline;	/* arguments joined by spaces; "" if unknown */
		} process;
		struct {
			uint64_t count;
		} lost;
		struct {
			uint64_t addr;
			uint8_t kind;
			const char *name;	/* "hot_lock", or "heap 0x... first taken in f (x.c:3)" */
		} lock;
		struct {
			uint32_t id;		/* >= 1 */
			uint64_t pc;
			const char *func;	/* "" if unknown */
			const char *file;	/* "" if unknown */
			uint32_t line;		/* 0 if unknown */
			const char *module;	/* basename of the object, "" if unknown */
			uint64_t offset;	/* pc's offset in module, or in func if func is known */
		} frame;
		struct {
			uint32_t id;		/* >= 1 */
			uint32_t nframes;
			const uint32_t *frames;	/* frame ids, innermost first */
		} stack;
		struct {
			uint64_t start, end, offset;
			const char *perms;
			const char *path;
		} mapping;
		struct {
			const char *path;	/* as the memory map names it */
			const char *build_id;	/* lowercase hex; "" if it has none */
			const char *debug_file;	/* the separate debug file used; "" if none */
			uint8_t flags;		/* LS_OBJ_* */
			uint8_t via;		/* enum ls_obj_via */
		} object;
		struct {
			uint64_t addr;
			uint8_t kind;		/* enum ls_lock_kind */
			uint8_t flags;		/* LS_ACQ_* */
			uint64_t call_ts;	/* when the lock call began (<= ts, the return) */
			uint32_t stack_id;	/* where it was taken; 0: none */
		} acquire;
		struct {
			uint64_t addr;		/* RELEASE and DESTROY */
		} release;
		struct {
			uint8_t on;		/* 1: lock/unlock tracing began; 0: it stopped */
		} window;
		struct {
			const char *name;	/* "unwind: stacks cut at the snapshot's end" */
			uint64_t value;		/* the total so far; the last record of a name wins */
		} counter;
		struct ls_task_wait {	/* tid: the thread running the tasks' loop */
			uint32_t cycle;		/* >= 1: the deadlock, the same in its tasks */
			uint32_t ntasks;	/* tasks in it, 1..LS_TASK_CYCLE_MAX */
			uint32_t index;		/* this task's place: it waits for the lock the
						 * task at index + 1 (mod ntasks) holds */
			uint64_t task;		/* the task object's address */
			const char *name;	/* Task.get_name() */
			const char *coro;	/* the qualified name of its coroutine */
			const char *waits_for;	/* the lock it waits for, by name */
			uint32_t nholds;	/* <= LS_TASK_HOLDS_MAX */
			const char *const *holds;	/* names of the locks it holds (inferred
						 * from its open `async with` blocks) */
			uint32_t stack_id;	/* its await chain, innermost first; 0: none */
		} task_wait;
		struct {
			uint64_t start;		/* the gap's start: its poll call's return */
			uint64_t on_cpu_ns;	/* on CPU from start to ts */
			uint64_t off_ns[LS_LOOP_OFF__COUNT];	/* off CPU from start to ts */
			uint32_t stack_id;	/* SAMPLE: the thread's stack at ts; 0: none */
			uint8_t on_cpu;		/* SAMPLE: the thread was on CPU at ts */
			uint8_t cls;		/* SAMPLE: where it was: LS_LOOP_RUNNING,
						 * enum ls_loop_off, or LS_LOOP_CLS_UNKNOWN
						 * (a trace of an older lockscope) */
		} loop;			/* LOOP_SAMPLE and LOOP_BLOCK */
		struct {
			uint64_t duration_ns;
			uint64_t events;	/* kernel events handled */
			uint64_t lost;		/* kernel events lost, total */
		} end;
	};
};

/* The header: what the trace is of. Strings owned by the header's holder. */
struct ls_trace_info {
	uint32_t version;
	uint32_t pid;
	char *comm;
	char *cmdline;		/* arguments joined by spaces */
	char *mode;		/* "contention", "full" */
	uint64_t start_realtime_ns;	/* wall clock at the start of recording */
	uint64_t start_mono_ns;		/* the BPF clock (CLOCK_MONOTONIC) at the same instant */
};

/* ---- writer: owns its file; errors are sticky and reported by __flush/__close ----
 * The trace is written as util/outfile.h says: a 0600 temporary beside PATH that becomes PATH
 * (an existing PATH kept as PATH.old) when trace_writer__close() succeeds, or earlier on
 * trace_writer__publish(); a discarded or failed trace leaves PATH as it was. */
struct trace_writer;

/* Starts the trace for PATH (NULL: an anonymous scratch file that is never left behind) and
 * writes the header. NULL with errno on failure. */
struct trace_writer *trace_writer__new(const char *path, const struct ls_trace_info *info);
/* Appends one record (copies what it needs). 0 or a negative errno (sticky). */
int trace_writer__append(struct trace_writer *w, const struct ls_rec *rec);
/* Closes the current chunk and writes it out. 0 or a negative errno. */
int trace_writer__flush(struct trace_writer *w);
/* Bytes written so far, and records appended. */
uint64_t trace_writer__bytes(const struct trace_writer *w);
uint64_t trace_writer__records(const struct trace_writer *w);
/* Flushes and puts the file at its name now: a recording worth keeping stays readable there
 * up to its last flushed chunk even if the recorder is killed. 0 or a negative errno (sticky). */
int trace_writer__publish(struct trace_writer *w);
/* Flushes, puts the file in place, frees. Returns the first error seen, or 0; on an error the
 * file is not put in place (unless it was published). Accepts NULL. */
int trace_writer__close(struct trace_writer *w);
/* Frees W and removes its file, unless it was published. Accepts NULL. */
void trace_writer__discard(struct trace_writer *w);

/* ---- reader: one chunk in memory at a time ---- */
struct trace_reader;

/* Opens PATH and reads the header. NULL with errno on failure; *err (if not NULL) then holds
 * a one-line description ("not a lockscope trace", "written by a newer lockscope (format 7;
 * this one reads format 1)"). */
struct trace_reader *trace_reader__open(const char *path, char *err, size_t errlen);
const struct ls_trace_info *trace_reader__info(const struct trace_reader *r);
/* 1: *rec filled; 0: end of data; negative errno on a bad chunk (then the message is in
 * trace_reader__error()). Everything before the first bad chunk is yielded. */
int trace_reader__next(struct trace_reader *r, struct ls_rec *rec);
/* Why reading stopped early, e.g. "chunk 12 is corrupt (checksum)" or "file is cut in chunk 3";
 * NULL when it has not. */
const char *trace_reader__error(const struct trace_reader *r);
/* True once the END record was read (the recording finished cleanly). */
bool trace_reader__complete(const struct trace_reader *r);
void trace_reader__free(struct trace_reader *r);

const char *ls_kind_name(enum ls_lock_kind kind);	/* "mutex", ... "futex" */
const char *ls_rec_type_name(enum ls_rec_type type);

#endif
