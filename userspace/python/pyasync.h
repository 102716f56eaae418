/* pyasync.h - one snapshot of a live CPython's asyncio tasks and their await chains, the locks
 * held in open `async with`/`with` blocks, what each task and thread waits for, deadlock cycles. */
#ifndef LOCKSCOPE_PYASYNC_H
#define LOCKSCOPE_PYASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "python/pyreader.h"

#define PYASYNC_MAX_TASKS 4096	/* tasks read; more are counted in tasks_skipped */
#define PYASYNC_MAX_CHAIN 64	/* coroutines followed down one await chain */
#define PYASYNC_MAX_CYCLE 32	/* tasks or threads in the longest cycle searched for */

/* An asyncio or threading lock found in a frame: held in an open block, or waited for. */
struct pyasync_lock {
	uint64_t addr;		/* the lock object */
	uint64_t futex;		/* threading: the futex word its waiters sleep on (the sem_t
				 * behind `_thread.lock`/`_thread.RLock`); 0 for asyncio */
	bool asyncio;
	char *kind;		/* "asyncio.Lock", "asyncio.Semaphore", "asyncio.Condition",
				 * "asyncio.Event", "threading.Lock", "threading.RLock" */
	char *name;		/* the module global that refers to it ("lock_a"), else
				 * "asyncio.Lock 0x7f.. first taken in f (file.py:12)" */
};

/* One asyncio task of any running loop. Lock indexes refer to pyasync.locks. */
struct pyasync_task {
	uint64_t addr;		/* the _asyncio.Task object */
	uint64_t loop;		/* its event loop */
	pid_t tid;		/* the thread running that loop (in BaseEventLoop.run_forever);
				 * 0 if none does (a loop not running, or not found) */
	char *name;		/* Task.get_name() */
	char *coro;		/* the qualified name of the coroutine it runs */
	struct py_frame *frames;	/* its await chain, innermost first: the coroutine the task
				 * runs is last; strings owned here */
	size_t nframes;
	bool running;		/* executing right now: its inner frames are on tid's stack */
	bool chain_cut;		/* unreadable or longer than PYASYNC_MAX_CHAIN */
	bool torn;		/* it ran on while it was read, every time: its chain may mix two
				 * moments; its waits and holds are left out of cycles */
	uint64_t awaits;	/* the future its innermost coroutine awaits; 0 if none */
	int waits_for;		/* the lock an asyncio.Lock.acquire, Semaphore.acquire,
				 * Condition.wait or Event.wait in its chain waits for; -1: none */
	bool waits_queued;	/* the future it awaits is in that lock's _waiters queue */
	size_t *holds;		/* the asyncio locks of its open `async with` blocks: inferred,
				 * asyncio locks record no owner */
	size_t nholds;
};

/* A Python thread that holds or waits for a threading lock taken with `with`. */
struct pyasync_thread {
	pid_t tid;
	int waits_for;		/* -1: none */
	bool waits_unconfirmed;	/* from its frame alone: no futex wait was given to confirm it */
	size_t *holds;		/* threading locks of its open `with` blocks: inferred */
	size_t nholds;
};

/* A deadlock: members[i] waits for locks[i], which members[(i + 1) % n] holds. Members are
 * indexes into pyasync.tasks (among_tasks) or pyasync.threads; the first is the lowest. */
struct pyasync_cycle {
	bool among_tasks;
	size_t n;
	size_t *members;
	size_t *locks;
};

/* What reading lost: every skipped or cut object is counted. */
struct pyasync_stats {
	uint64_t registry_unreadable;	/* sys.modules or a task set that could not be read */
	uint64_t tasks_done;		/* finished tasks still registered: left out */
	uint64_t tasks_dead;		/* dead or unreadable weak references in the task set */
	uint64_t tasks_skipped;		/* not an _asyncio.Task, unreadable, or past the limit */
	uint64_t chains_cut;		/* pyasync_task.chain_cut */
	uint64_t tasks_reread;		/* tasks read again because they ran while read */
	uint64_t tasks_torn;		/* pyasync_task.torn */
	uint64_t cycles_unconfirmed;	/* cycles a second read did not find again: left out */
	uint64_t frames_unreadable;	/* frames whose value stack or code could not be read */
};

struct pyasync {
	struct pyasync_lock *locks;
	size_t nlocks;
	struct pyasync_task *tasks;	/* by address */
	size_t ntasks;
	struct pyasync_thread *threads;	/* only those holding or waiting for a lock */
	size_t nthreads;
	struct pyasync_cycle *cycles;
	size_t ncycles;
	struct pyasync_stats stats;
};

/* A thread asleep in a futex wait, as /proc/PID/task/TID/syscall shows it (blocked.h). */
struct pyasync_futex {
	pid_t tid;
	uint64_t uaddr;
};

/* Reads one snapshot through R, over THREADS (from pyreader__threads(), on the same target and
 * just before; they give the loops' threads and the `with` blocks). WAITS lists the threads
 * asleep on a futex: a thread waits for the threading lock whose futex word it sleeps on; with
 * WAITS NULL, the lock a thread's innermost frame is entering (a blocked `with`) stands in,
 * marked waits_unconfirmed. The target runs on meanwhile: a task whose frames moved while
 * they were read is read again (then marked torn), and a cycle is kept only if a second
 * snapshot finds it again (a deadlock holds still). On success 0 and *OUT, freed with
 * pyasync__free(). -ENOTSUP for a CPython version whose object layouts are unknown (3.11 and
 * 3.12 are known), -ENOMEM, or -errno when the interpreter's state is unreadable; WHY (if not
 * NULL) gets a one-line reason. A damaged target gives a partial snapshot, counted in the
 * stats. No asyncio imported: no tasks, not an error. */
int pyasync__read(struct pyreader *r, const struct py_thread *threads, size_t nthreads,
		  const struct pyasync_futex *waits, size_t nwaits, struct pyasync **out,
		  char *why, size_t why_len);
void pyasync__free(struct pyasync *a);	/* accepts NULL */

/* The entry of thread TID in A->threads, or NULL if it holds and waits for no lock seen. */
const struct pyasync_thread *pyasync__thread(const struct pyasync *a, pid_t tid);

struct json_writer;

/* Writes the dump contract's "tasks" array: [{"tid", "name", "coro", "stack": [frames,
 * innermost first], "waits_for": name|null, "holds": [names]}]. */
void pyasync__json_tasks(const struct pyasync *a, struct json_writer *w);
/* Writes each cycle of A as one member of the contract's "deadlocks" array (the caller opens
 * and closes it, around its other deadlocks): {"locks": [names], "tasks": [...] or "threads":
 * [{"tid", "name", "holds", "waits_for", "stack"}], "inferred": true}. Thread names and stacks
 * come from THREADS, the array given to pyasync__read(). TASKS_ONLY: only cycles among tasks
 * (where thread cycles are found elsewhere, from the holders as records). */
void pyasync__json_cycles(const struct pyasync *a, const struct py_thread *threads,
			  size_t nthreads, bool tasks_only, struct json_writer *w);

#endif
