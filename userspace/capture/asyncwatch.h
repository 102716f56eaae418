/* asyncwatch.h - `record`'s watch for deadlocks among asyncio tasks: an event loop asleep in its
 * poll call for longer than the loop threshold gets its tasks read (pyasync.h), and each cycle
 * of tasks waiting for each other's asyncio locks is written once, as TASK_WAIT records. */
#ifndef LOCKSCOPE_ASYNCWATCH_H
#define LOCKSCOPE_ASYNCWATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct collector;
struct asyncwatch;

/* For process PID; a loop counts as idle after THRESHOLD_NS asleep in its poll call. NULL with
 * errno on failure. */
struct asyncwatch *asyncwatch__new(pid_t pid, uint64_t threshold_ns);
void asyncwatch__free(struct asyncwatch *w);	/* accepts NULL */

/* Called after each poll of the recorder, NOW on the BPF clock, START the start of recording.
 * Cheap unless a loop thread has just become idle: threads are looked over once a second, a
 * thread asleep in a poll call is looked at again once the threshold passed, and the tasks are
 * read at most once per idle stretch of a loop (its tasks cannot move while it sleeps), and at
 * most about once a second (a loop looked at again at the next look-over). A new deadlock
 * goes through C (collector__task_wait, its chains through collector__task_stack); *FOUND
 * counts them. Nothing for a target not seen to run CPython. 0 or -errno from the trace. */
int asyncwatch__check(struct asyncwatch *w, struct collector *c, uint64_t now, uint64_t start,
		      unsigned *found);

#endif
