/* pyobj.h - CPython objects read from outside the process over a pyreader: type names, lists,
 * sets, weak references, deques, bound methods, coroutines and the value stacks of their frames. */
#ifndef LOCKSCOPE_PYOBJ_H
#define LOCKSCOPE_PYOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "python/pyreader.h"

#define PYOBJ_MAX_ITEMS 65536	/* items of one container read; a bigger one is refused */
#define PYOBJ_MAX_STACK 4096	/* value-stack slots of one frame */

/* Every reader here takes addresses in the target and fails with a negative errno, never a
 * crash, on a damaged or changing target: -EFAULT unmapped memory, -EINVAL an object that is
 * not of the expected type or has implausible sizes or links, -ENOTSUP a CPython version whose
 * object layouts are not known here (3.11 to 3.13 are; see pyobj__supported()), -ENOMEM.
 * Arrays returned through pointer arguments are malloc'd and the caller frees them; on error
 * they are NULL. */

/* 0 if the objects of R's CPython version can be read, else -ENOTSUP with a one-line reason
 * in WHY (if not NULL). */
int pyobj__supported(struct pyreader *r, char *why, size_t why_len);

/* The tp_name of OBJ's type ("coroutine", "_thread.lock", "Lock" for a class), cut to CAP - 1. */
int pyobj__type_name(struct pyreader *r, uint64_t obj, char *buf, size_t cap);
/* True if OBJ's type is named NAME. */
bool pyobj__is(struct pyreader *r, uint64_t obj, const char *name);

/* The items of a list or tuple. */
int pyobj__seq_items(struct pyreader *r, uint64_t obj, uint64_t **items, size_t *n);
/* The keys of a set or frozenset (deleted slots left out). */
int pyobj__set_items(struct pyreader *r, uint64_t set, uint64_t **keys, size_t *n);
/* The object a weak reference refers to: 0, or -ENOENT if it is dead. */
int pyobj__weakref_target(struct pyreader *r, uint64_t ref, uint64_t *obj);
/* The live members of a weakref.WeakSet (its `data` set of weak references). *DEAD (if not
 * NULL) counts the references that were dead or unreadable. */
int pyobj__weakset_items(struct pyreader *r, uint64_t weakset, uint64_t **objs, size_t *n,
			 size_t *dead);
/* The items of a collections.deque, left to right. */
int pyobj__deque_items(struct pyreader *r, uint64_t deque, uint64_t **items, size_t *n);

/* A bound method: a Python one (`method`: *FUNC its function) or a builtin one
 * (`builtin_function_or_method`: *FUNC 0). *SELF the object it is bound to, NAME the
 * function's name. -EINVAL for anything else or a builtin without self. */
int pyobj__method(struct pyreader *r, uint64_t obj, uint64_t *self, uint64_t *func, char *name,
		  size_t cap);
/* The module name (`__name__` of its globals) of a Python function, in BUF. */
int pyobj__func_module(struct pyreader *r, uint64_t func, char *buf, size_t cap);

enum pyobj_gen_state {
	PYOBJ_GEN_CREATED,	/* not started */
	PYOBJ_GEN_SUSPENDED,	/* at an await or yield */
	PYOBJ_GEN_RUNNING,	/* its frame is on a thread's stack right now */
	PYOBJ_GEN_DONE,		/* returned, raised or closed: no frame */
};

/* A coroutine or generator: its embedded _PyInterpreterFrame (gi_iframe) and its state; the
 * qualified name into NAME (if not NULL). */
int pyobj__gen_frame(struct pyreader *r, uint64_t gen, uint64_t *frame,
		     enum pyobj_gen_state *state, char *name, size_t cap);
/* What a suspended coroutine or generator frame awaits: the object at the top of its value
 * stack (_PyGen_yf): a coroutine, a future, a future's iterator... -ENOENT if the
 * frame is not suspended in an await or `yield from`. */
int pyobj__frame_awaits(struct pyreader *r, uint64_t frame, uint64_t *obj);
/* If OBJ is an asyncio future's iterator (`_asyncio.FutureIter`), the future; else OBJ. */
uint64_t pyobj__future_of(struct pyreader *r, uint64_t obj);

/* The value stack of a frame where it is sure to be valid, also in a thread's running frame
 * whose stack pointer is not written back: the slots below the stack depth of the innermost
 * exception handler covering the current instruction (from co_exceptiontable; for a frame
 * suspended at a yield, the instruction it resumes at). Each open `with` or `async with`
 * block keeps its bound __exit__/__aexit__ there; one still being entered is above them. */
struct pyobj_stack {
	uint64_t *live;		/* malloc'd, nlive slots, bottom first */
	size_t nlive;
	uint64_t next;		/* the slot just above them, 0 if none: the bound __exit__ that
				 * BEFORE_WITH stores while a `with` is still being entered */
	uint8_t opcode;		/* the instruction the frame is at (executing or last executed) */
	bool entering_with;	/* that is BEFORE_WITH: `next` is the bound __exit__ of the
				 * context manager whose __enter__ runs (a blocked acquire) */
};
int pyobj__frame_stack(struct pyreader *r, uint64_t frame, struct pyobj_stack *out);
void pyobj__frame_stack_clear(struct pyobj_stack *s);	/* accepts NULL */

/* A value that changes whenever FRAME executes (its instruction pointer and stack depth): equal
 * before and after reading a frame piecemeal, the frame held still meanwhile. */
int pyobj__frame_mark(struct pyreader *r, uint64_t frame, uint64_t *mark);
/* The frame's fast local I (an argument: self is 0 in a method): 0, -ENOENT if unset, -ERANGE
 * past the code's locals. */
int pyobj__frame_local(struct pyreader *r, uint64_t frame, size_t i, uint64_t *val);
/* The frame's locals, arguments and cell variables (a cell's value, not the cell): *VALUES (0
 * where unset) and *NAMES (str objects) are malloc'd arrays of *N addresses. */
int pyobj__frame_locals(struct pyreader *r, uint64_t frame, uint64_t **values, uint64_t **names,
			size_t *n);
/* The futex word behind a `_thread.lock`, `_thread.RLock` or `_queue.SimpleQueue` at OBJ (the
 * sem_t of its PyThread_type_lock: its waiters sleep on it), and which of them it is (*TYPE, a
 * constant, if TYPE is not NULL). -EINVAL for any other object. */
int pyobj__lock_word(struct pyreader *r, uint64_t obj, uint64_t *word, const char **type);
/* Whether the `_thread.lock` or `_thread.RLock` at OBJ is taken now, and by whom where it says
 * (an RLock records its owner's threading.get_ident(); a Lock has no owner: *OWNER 0). */
int pyobj__lock_state(struct pyreader *r, uint64_t obj, bool *locked, uint64_t *owner);
/* Whether R's CPython (3.13 on) parks a thread that waits for a SimpleQueue, a thread's end
 * or its own internal mutexes: it sleeps on a semaphore of its own, not on the object's. */
bool pyobj__parks(struct pyreader *r);
/* 3.13: whether the thread of the `_thread._ThreadHandle` HANDLE has ended (its
 * thread_is_exiting event set, which Thread.join waits for). -ENOTSUP before 3.13. */
int pyobj__handle_exited(struct pyreader *r, uint64_t handle, bool *exited);
/* The __dict__ of OBJ's class, and the class's name into NAME (if not NULL). */
int pyobj__type_dict(struct pyreader *r, uint64_t obj, uint64_t *dict, char *name, size_t cap);
/* A frame's code as it stands: its bytecode (quickened: python/pycode.c undoes that), the
 * index of its current instruction (code units; -1 before the first), its names (co_names)
 * and exception table. Arrays are malloc'd; pyobj__code_clear() frees them. */
struct pyobj_code {
	uint64_t code;		/* the code object */
	int64_t index;
	uint32_t minor;		/* CPython 3.MINOR */
	uint8_t *bytes;		/* 2 * units bytes */
	size_t units;
	uint64_t *names;	/* str objects */
	size_t nnames;
	uint8_t *exc;		/* 3.11+: the exception table; 3.10: none (NULL, 0) */
	uint32_t exclen;
	uint32_t deref_base;	/* LOAD_DEREF's argument counts from this local: 3.10's cells
				 * come after its co_nlocals locals, 0 from 3.11 */
};
int pyobj__frame_code(struct pyreader *r, uint64_t frame, struct pyobj_code *out);
/* The same for a frame as it was at some moment: its code object CODE and the word at its
 * instruction pointer INSTR then (3.10: f_lasti, in the low half). -ESTALE if INSTR lies
 * outside CODE. */
int pyobj__code_as(struct pyreader *r, uint64_t code, uint64_t instr, struct pyobj_code *out);
void pyobj__code_clear(struct pyobj_code *c);	/* accepts NULL */
/* The frame's module globals (a dict). */
int pyobj__frame_globals(struct pyreader *r, uint64_t frame, uint64_t *globals);
/* The entry of the 3.11+ exception table TABLE (co_exceptiontable) at *I, which moves past it:
 * the instructions [START, START + SIZE) (code units) are handled at TARGET. 0, or -EINVAL at
 * the end or where the table is malformed. */
int pyobj__exception_entry(const uint8_t *table, size_t len, size_t *i, uint32_t *start,
			   uint32_t *size, uint32_t *target, uint32_t *depth_lasti);
/* The stack depth of the handler that covers instruction INDEX (in code units) in the 3.11+
 * exception table TABLE (co_exceptiontable): 0 with *DEPTH, -ENOENT if none covers it, -EINVAL
 * if the table is malformed. */
int pyobj__exception_depth(const uint8_t *table, size_t len, uint32_t index, uint32_t *depth);

#endif
