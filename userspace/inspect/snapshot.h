/* snapshot.h - what `dump` found in a live process, as a model built first and printed after:
 * its threads (state, stack, the lock each waits on), the locks' holders and the deadlocks. */
#ifndef LOCKSCOPE_SNAPSHOT_H
#define LOCKSCOPE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_rec;
struct model;
struct snapshot;

#define SNAPSHOT_RUNNING (-2) /* snapshot_thread.nr: on a CPU, in no system call */
#define SNAPSHOT_NO_CALL (-1) /* ... asleep outside any system call */

/* One thread as /proc and its memory showed it. */
struct snapshot_thread {
	uint32_t tid;
	char state;	   /* /proc/PID/task/TID/stat: R S D T t Z X I; '?' if unread */
	long nr;	   /* the system call it sleeps in, or SNAPSHOT_RUNNING/NO_CALL */
	uint64_t arg1;	   /* ... its second argument (futex(2): the op) */
	uint32_t stack_id; /* in the model; 0: no stack */
	bool stopped;	   /* its registers came from a brief ptrace stop */
	char *comm;	   /* /proc's name for it, owned by the snapshot; NULL if none */
	bool moved;	   /* it ran while the dump read: its wait closes no deadlock */
	/* the lock it waits on, from a WAIT_BEGIN record */
	bool waiting;
	uint8_t wait_kind; /* enum ls_lock_kind */
	uint64_t wait_addr;
	uint32_t owner; /* the owner the lock word names; 0 if none */
};

/* For process PID with its COMM and CMDLINE (copied). NULL with errno on failure. */
struct snapshot *snapshot__new(uint32_t pid, const char *comm, const char *cmdline);
void snapshot__free(struct snapshot *s); /* accepts NULL */

/* ---- building: names and stacks, threads, holders ---- */

/* Takes a record from the collector: THREAD, LOCK, FRAME and STACK records name things (the
 * model keeps them); a WAIT_BEGIN says which lock its thread waits on, the owner its word
 * names and where it waits. 0 or -ENOMEM. Its signature is a collector sink's. */
int snapshot__feed(void *s, const struct ls_rec *rec);
/* A thread and what /proc says of it: STATE, NR and ARG1 as in snapshot_thread; STACK_ID 0
 * keeps the stack a WAIT_BEGIN gave it. COMM names it where no THREAD record did. */
int snapshot__thread(struct snapshot *s, uint32_t tid, char state, long nr, uint64_t arg1,
		     uint32_t stack_id, bool stopped, const char *comm);
/* TID no longer waits where its WAIT_BEGIN said (it moved on while being read): the wait and
 * its stack are forgotten. */
void snapshot__drop_wait(struct snapshot *s, uint32_t tid);
/* TID ran (or appeared) while the snapshot was read: what it waits on is shown, but read at
 * another moment than the others' waits, it closes no deadlock. */
void snapshot__moved(struct snapshot *s, uint32_t tid);
/* TID holds LOCK. INFERRED: deduced (from the `with` blocks open in its Python frames, say)
 * rather than read from the lock's owner field. Holders that lock words name are added by
 * snapshot__analyse itself. 0 or -ENOMEM. */
int snapshot__add_holder(struct snapshot *s, uint32_t tid, uint64_t lock, bool inferred);
/* Threads stopped to read their registers, and for how long in all. */
void snapshot__set_stopped(struct snapshot *s, uint32_t threads, uint64_t ns);
/* What was lost while reading: threads that exited meanwhile, stacks that could not be read. */
void snapshot__count_lost(struct snapshot *s, uint32_t threads_gone, uint32_t stacks_missing);

struct pyasync;
struct py_thread;
/* The target's asyncio tasks, from pyasync__read() over THREADS (from pyreader__threads()):
 * the snapshot owns and frees all three from here on. Their deadlocks among tasks are added
 * to the thread deadlocks; thread cycles come from the inferred holders fed as records. */
void snapshot__set_asyncio(struct snapshot *s, struct pyasync *a, struct py_thread *threads,
			   size_t nthreads);

/* Once every thread and holder is in: holders from the lock words, then the waits-for graph's
 * cycles (the same analysis record uses). 0 or -ENOMEM. */
int snapshot__analyse(struct snapshot *s);

/* ---- reading ---- */

size_t snapshot__count(const struct snapshot *s);
/* The I-th thread in tid order; NULL past the end. Borrowed. */
const struct snapshot_thread *snapshot__get(const struct snapshot *s, size_t i);
/* The thread TID; NULL if it is not in the snapshot. Borrowed. */
const struct snapshot_thread *snapshot__find(const struct snapshot *s, uint32_t tid);
/* The names model (threads, locks, frames, stacks). Borrowed. */
const struct model *snapshot__model(const struct snapshot *s);
/* The holder of the lock TID waits on: its tid, 0 if unknown; *INFERRED as added. */
uint32_t snapshot__holder(const struct snapshot *s, uint32_t tid, bool *inferred);
/* "futex wait", "epoll_wait", "nanosleep", "syscall 123", "running" or "" (outside any
 * system call): what a thread is doing, from snapshot_thread's NR and ARG1. */
const char *snapshot__doing(long nr, uint64_t arg1, char *buf, size_t len);
/* "running", "sleeping", "disk sleep", "stopped", "tracing stop", "zombie", "dead", "idle" or
 * "unknown", for /proc's state letter. */
const char *snapshot__state_name(char state);

/* The contract's `dump --json` document. 0 or -errno from writing. */
int snapshot__json(const struct snapshot *s, FILE *out);
/* For people: one block per thread, then the deadlocks, then how long the target stopped. */
void snapshot__text(const struct snapshot *s, FILE *out);

#endif
