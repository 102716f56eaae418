/* procset.h - the processes of one recording: a collector for each, sharing one trace, and the
 * events of the BPF side routed to the collector of the process of their thread. */
#ifndef LOCKSCOPE_PROCSET_H
#define LOCKSCOPE_PROCSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct collector;
struct trace_writer;
struct procset;

/* PRIMARY (borrowed, outlives the set) records the first process; later ones write to W with
 * START_MONO as it does, and SETUP(ARG, C) gives each new collector its callbacks. NULL with
 * errno on failure. */
struct procset *procset__new(struct collector *primary, struct trace_writer *w,
			     uint64_t start_mono, void (*setup)(void *arg, struct collector *c),
			     void *arg);
void procset__free(struct procset *s);	/* accepts NULL; frees the collectors it made */

/* Adds process PID, read through its thread READER (a zombie leader's process is read through a
 * live thread), with the threads it has now and its objects loaded. Its collector, or NULL with errno: ESRCH if it is
 * gone, ENOSPC past LS_PROC_KEY_MAX processes. One already in the set is returned as it is. */
struct collector *procset__add(struct procset *s, pid_t pid, pid_t reader);
/* The collector of the process of thread TID; the primary's for a thread of no known process. */
struct collector *procset__of(struct procset *s, uint32_t tid);
/* One event from the ring buffer, to its process's collector; the first event of a followed
 * process (LS_EV_THREAD_NEW with new_proc) adds it. 0 or -errno (the trace could not be
 * written). */
int procset__handle(struct procset *s, const void *data, size_t size);

/* The I-th collector (0: the primary); NULL past the end. */
struct collector *procset__at(const struct procset *s, size_t i);
/* Processes started by a target that were gone before they could be read: not recorded. */
uint64_t procset__unread(const struct procset *s);
/* ... and their events, dropped. */
uint64_t procset__dropped(const struct procset *s);
/* Events of threads whose process could not be told, handed to the primary's collector. */
uint64_t procset__unplaced(const struct procset *s);

#endif
