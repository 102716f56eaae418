/* pywait.h - what a Python thread asleep on a CPython lock waits for, decided from its frames and
 * the objects they hold: a lock another thread holds (contention), or signalling built on locks. */
#ifndef LOCKSCOPE_PYWAIT_H
#define LOCKSCOPE_PYWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "python/pyreader.h"

#define PYWAIT_NAME_MAX 256

enum pywait_kind {
	PYWAIT_UNKNOWN = 0, /* the frames do not show whose futex it is */
	PYWAIT_LOCK,	    /* a threading.Lock or RLock: contention */
	PYWAIT_COND,	    /* Condition.wait, wait_for, and what waits on a bare Condition */
	PYWAIT_EVENT,	    /* Event.wait */
	PYWAIT_QUEUE,	/* queue.Queue's get, put and join; SimpleQueue.get (idle pool workers) */
	PYWAIT_BARRIER, /* Barrier.wait */
	PYWAIT_SIGNAL,	/* Semaphore.acquire: a count that another thread's release raises */
	PYWAIT_JOIN,	/* Thread.join: the thread's end */
	PYWAIT_START,	/* Thread.start: the new thread's bootstrap, which sets _started */
};

/* How the objects confirm what the frames' names suggest. */
enum pywait_check {
	PYWAIT_CHECK_WAITER, /* FRAME is Condition.wait: the futex is a waiter lock in its
			      * self._waiters (or self._lock, taken back after the wait) */
	PYWAIT_CHECK_TSTATE, /* FRAME is Thread._wait_for_tstate_lock: self._tstate_lock's */
	PYWAIT_CHECK_HANDLE, /* FRAME is Thread.join (3.13): self._handle's thread runs on */
	PYWAIT_CHECK_OBJECT, /* FRAME calls into C: a lock or SimpleQueue that it refers to
			      * (3.13: a SimpleQueue whose get() it calls) */
	PYWAIT_CHECK_MACHINERY, /* FRAME, threading's, takes a lock of threading's own (its
				 * registry of threads) for the Thread.join or Thread.start at API:
				 * a lock that FRAME refers to, and API's self is the Thread */
};

/* Where the names of a wait's frames place it. */
struct pywait_site {
	enum pywait_kind kind; /* what it is once confirmed (CHECK_OBJECT: by the object found) */
	enum pywait_check check;
	size_t frame; /* the frame that confirms it */
	size_t api;   /* the frame of the call the user made (Event.wait, Queue.get...): its
		       * self is the object waited on */
	size_t user;  /* the first frame past the standard library's own: where the
		       * object has the name its user gave it */
};

/* The site of a wait of a thread whose Python frames are FRAMES, innermost first (N >= 1). */
void pywait__site(const struct py_frame *frames, size_t n, struct pywait_site *out);

struct pywait {
	enum pywait_kind kind;
	uint64_t object; /* what is waited on: the lock, Condition, Event, Queue, SimpleQueue,
			  * Barrier, Semaphore or Thread object; 0 if unknown */
	uint64_t lock;	 /* PYWAIT_LOCK: the lock object (a Condition's own lock when the
			  * wait takes it back); else 0 */
	char name[PYWAIT_NAME_MAX]; /* see pywait__name(); "" when no variable refers to it */
	char type[64];		    /* the object's type: "Event", "Condition", "_thread.lock" */
};

/* Thread T, read just now, sleeps on the futex word FUTEX: what it waits for. KNOWN_LOCK: FUTEX
 * was found to be a threading lock's before; where the frames make it one again it is not
 * looked for (nor named) again. 0, with out->kind PYWAIT_UNKNOWN where the frames and objects
 * do not show it; -ENOTSUP when R's CPython has no object layouts here. */
int pywait__classify(struct pyreader *r, const struct py_thread *t, uint64_t futex, bool known_lock,
		     struct pywait *out);

/* The name that T's frames, from frame FROM outward, give the object OBJ: a module global
 * ("lock_a"), a local of a frame ("lock in worker"), an attribute of a local or global
 * ("self._lock in Account.deposit", "q.mutex"), a class attribute ("Account._lock"); false
 * if none refers to it. BUF has CAP bytes. */
bool pywait__name(struct pyreader *r, const struct py_thread *t, size_t from, uint64_t obj,
		  char *buf, size_t cap);

/* Finds the `_thread.lock`/`_thread.RLock` or `_queue.SimpleQueue` whose futex word is FUTEX
 * among what T's frames FROM.. refer to (see pywait__name) and the lock a `with` in frame FROM
 * is entering: *OBJ and its name. False if none is. */
bool pywait__find_lock(struct pyreader *r, const struct py_thread *t, size_t from, uint64_t futex,
		       uint64_t *obj, char *buf, size_t cap);

/* A wait whose frames had moved on when they were read: what its frames as they were when it
 * began (FRAMES, N of them, innermost first; CODE[i] and INSTR[i] the code object and
 * instruction word read of frame i then, pyreader__frame_as) show, from their names and their
 * code alone: a Condition's waiter lock acquired in Condition.wait (the idiom of the frames
 * calling it), or a joined thread's tstate lock in Thread._wait_for_tstate_lock. OUT has no
 * object (they are gone). 0, with out->kind PYWAIT_UNKNOWN where they do not show it. */
int pywait__classify_as_was(struct pyreader *r, const struct py_frame *frames,
			    const uint64_t *code, const uint64_t *instr, size_t n,
			    struct pywait *out);

const char *pywait__kind_name(enum pywait_kind kind);

#endif
