/* pyreader.h - a live CPython's threads, Python stacks, thread names and GIL, read from outside
 * the process without stopping it (struct offsets per version; 3.13+ from its debug offsets). */
#ifndef LOCKSCOPE_PYREADER_H
#define LOCKSCOPE_PYREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PY_MAX_FRAMES 256	/* a deeper stack is cut there, innermost frames kept */
#define PY_MAX_THREADS 4096	/* per interpreter */

struct pyreader;

/* Copies LEN bytes of the target's memory at ADDR into BUF: 0, or -errno (-EFAULT when any
 * part is unmapped, -ESRCH when the target is gone). Live targets use process_vm_readv(2);
 * tests and captured memory images supply their own. */
typedef int (*py_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* One Python frame. Strings are owned by the py_thread that holds the frame. */
struct py_frame {
	char *func;		/* co_qualname (co_name where the version has no qualname); "?" */
	char *file;		/* co_filename as the code object holds it; "?" if unreadable */
	int line;		/* 0 if unknown */
	bool line_exact;	/* false: co_firstlineno stands in (location table unreadable,
				 * or the instruction pointer torn by the running thread) */
	bool entry;		/* the first Python frame of one run of the interpreter loop: the
				 * frame was called from C, so outward from here the native stack
				 * leaves _PyEval_EvalFrameDefault for C code */
	char *text;		/* "func (basename-of-file:line)", the form stack frames take */
	uint64_t addr;		/* the _PyInterpreterFrame in the target, for pyobj.h */
};

struct py_thread {
	pid_t tid;		/* native thread id; 0 if the interpreter has not recorded it yet */
	uint64_t ident;		/* threading.get_ident(): the thread's pthread_t */
	uint64_t tstate;	/* its PyThreadState in the target */
	char *name;		/* threading.Thread.name; NULL where threading does not know it */
	bool holds_gil;
	bool truncated;		/* the stack is cut: PY_MAX_FRAMES, or an unreadable or looping
				 * frame chain (a thread that ran on while we read it) */
	size_t nframes;
	struct py_frame *frames;	/* innermost first */
};

struct py_info {
	uint32_t version;	/* PY_VERSION_HEX: 0x030b07f0 is 3.11.7 */
	uint64_t runtime;	/* address of _PyRuntime in the target */
	bool debug_offsets;	/* offsets read from the interpreter's own _Py_DebugOffsets */
	const char *object;	/* the file that exports _PyRuntime; "" for an image. Borrowed. */
};

/* What reading lost, for the report: every cut or guessed value is counted. */
struct py_stats {
	uint64_t reads, read_errors;	/* target memory reads, and those that failed */
	uint64_t thread_lists_cut;	/* thread or interpreter lists that broke or looped */
	uint64_t stacks_truncated;	/* py_thread.truncated */
	uint64_t frames_skipped;	/* frames whose code object was unreadable or not code */
	uint64_t lines_inexact;		/* py_frame.line_exact == false */
	uint64_t names_unknown;		/* threads without a threading.Thread name */
};

/* For process PID. NULL with errno on failure: ESRCH no such process; ENOENT not CPython
 * (no _PyRuntime in the executable or a mapped libpython, or libpython not mapped yet);
 * ENOTSUP a CPython that cannot be read here (3.10 to 3.14 can; WHY then says "CPython 3.9 is
 * not supported"); EACCES/EPERM not permitted; EFAULT unreadable. pyreader__open also writes a
 * one-line reason into WHY (if not NULL). */
struct pyreader *pyreader__new(pid_t pid);
struct pyreader *pyreader__open(pid_t pid, char *why, size_t why_len);
/* Over any memory (tests, captured images): _PyRuntime at RUNTIME, CPython VERSION
 * (PY_VERSION_HEX; 0 to require the 3.13+ debug offsets at RUNTIME). Errors as above. */
struct pyreader *pyreader__new_image(py_read_fn read, void *ctx, uint64_t runtime,
				     uint32_t version, char *why, size_t why_len);
void pyreader__free(struct pyreader *r);	/* accepts NULL */

void pyreader__info(const struct pyreader *r, struct py_info *out);
void pyreader__stats(const struct pyreader *r, struct py_stats *out);

/* Every Python thread of every interpreter, with its stack and name. *OUT is heap memory the
 * caller frees with pyreader__threads_free(); none (*n == 0) before the interpreter is up or
 * after it is gone. A damaged or changing target gives a partial result (counted in the
 * stats), never a crash. 0, or -errno when _PyRuntime cannot be read (-ESRCH: target gone). */
int pyreader__threads(struct pyreader *r, struct py_thread **out, size_t *n);
void pyreader__threads_free(struct py_thread *threads, size_t n);	/* accepts NULL */

/* The one Python thread whose native id is TID: 0, -ENOENT if TID runs no Python, or as
 * pyreader__threads. OUT is released with pyreader__thread_clear(). */
int pyreader__thread(struct pyreader *r, pid_t tid, struct py_thread *out);
void pyreader__thread_clear(struct py_thread *t);

/* The GIL's state, [*lo, *hi): the mutex and condition variables whose futex words threads
 * wait on to take the GIL. 0; -EAGAIN while the interpreter is not initialised (3.12+ keep
 * the GIL in the interpreter state); -errno if unreadable. */
int pyreader__gil(struct pyreader *r, uint64_t *lo, uint64_t *hi);

/* The line of the instruction at byte offset ADDRQ of a code object, from its location table
 * (co_linetable, the 3.11+ format of PEP 626/657); FIRSTLINENO for ADDRQ < 0. -1 when the
 * instruction has no line, -2 when the table ends before ADDRQ or is malformed. */
int pyreader__linetable_line(const uint8_t *table, size_t len, int firstlineno, int addrq);
/* The same over 3.10's table (co_linetable of PEP 626, byte pairs). */
int pyreader__linetable310_line(const uint8_t *table, size_t len, int firstlineno, int addrq);

/* ---- for the object readers (pyobj.h, pyasync.h) ---- */

/* Reads LEN bytes at ADDR through the reader, counted in its stats: 0 or -errno (-EFAULT for
 * an address no user pointer can hold). */
int pyreader__read(struct pyreader *r, uint64_t addr, void *buf, size_t len);
/* The str object at OBJ as UTF-8 in BUF (cut to CAP - 1 bytes, CAP <= 1025): 0, or -EINVAL if
 * OBJ is no compact str, -EFAULT if unreadable. */
int pyreader__str(struct pyreader *r, uint64_t obj, char *buf, size_t cap);
/* The value of the str key KEY in the dict at DICT: 0, -ENOENT, -EINVAL (not a dict), -EFAULT. */
int pyreader__dict_get(struct pyreader *r, uint64_t dict, const char *key, uint64_t *val);
/* The entries of the dict at DICT (at most 8192): *KEYS and *VALUES are malloc'd arrays of *N
 * object addresses (0 in a deleted slot) that the caller frees. 0 or -errno. */
int pyreader__dict_items(struct pyreader *r, uint64_t dict, uint64_t **keys, uint64_t **values,
			 size_t *n);
/* The bytes object at OBJ, at most MAX bytes, in a new buffer *OUT (of *LEN bytes) the caller
 * frees: 0, -EINVAL (not bytes), -E2BIG, -EFAULT, -ENOMEM. */
int pyreader__bytes(struct pyreader *r, uint64_t obj, size_t max, uint8_t **out, uint32_t *len);
/* The non-negative int object at OBJ that fits 64 bits: 0, -EINVAL (not an int), -ERANGE. */
int pyreader__long(struct pyreader *r, uint64_t obj, uint64_t *out);
/* Instance attribute NAME of a Python class instance (its __dict__ or inline values). */
int pyreader__attr(struct pyreader *r, uint64_t obj, const char *name, uint64_t *val);
/* All instance attributes of OBJ, as pyreader__dict_items gives a dict's: *NAMES and *VALUES
 * are malloc'd arrays of *N object addresses (0 in an empty slot) that the caller frees. */
int pyreader__attr_items(struct pyreader *r, uint64_t obj, uint64_t **names, uint64_t **values,
			 size_t *n);
/* sys.modules of the main interpreter. 0, -EAGAIN before it exists, -errno. */
int pyreader__modules(struct pyreader *r, uint64_t *dict);
/* Describes the _PyInterpreterFrame at FRAME (a coroutine's, say) as a stack frame: OUT's
 * strings are heap memory released with pyreader__frame_clear(). 0; -EINVAL if its code
 * object is unreadable or not code; -ENOMEM. */
int pyreader__frame(struct pyreader *r, uint64_t frame, struct py_frame *out);
void pyreader__frame_clear(struct py_frame *f);	/* accepts NULL */
/* The frame at FRAME as it was at some moment, from what was read of it then: its code object
 * CODE, the word at its instruction pointer INSTR (3.10: f_lasti, in the low half), its OWNER
 * (3.11+). 0; -ENOENT for a frame not shown (a C-stack shim, a frame not started yet); -EINVAL
 * if CODE is no code object (now); -ESTALE if INSTR lies outside CODE; -ENOMEM. */
int pyreader__frame_as(struct pyreader *r, uint64_t frame, uint64_t code, uint64_t instr,
		       int owner, struct py_frame *out);

/* Where a thread's innermost frame is, from its thread state (py_thread.tstate), and where the
 * thread states are. */
struct py_where {
	/* offset of the pointer to what holds the frame pointer (3.11, 3.12's _PyCFrame), or
	 * -1: the thread state does */
	int32_t cframe;
	uint32_t frame;		/* that pointer's offset */
	uint32_t instr;		/* offset of the instruction pointer in a frame (3.10: f_lasti) */
	uint32_t prev, code;	/* offsets in a frame: the next frame out, the code object */
	int32_t owner;		/* ... its owner byte, or -1 (3.10) */
	uint64_t main;		/* address of _PyRuntime's pointer to the main interpreter */
	uint32_t threads;	/* offset of an interpreter's thread list head */
	uint32_t ts_next, ts_ident;	/* offsets in a thread state: the next one, the ident */
};
void pyreader__frame_where(const struct pyreader *r, struct py_where *out);

#endif
