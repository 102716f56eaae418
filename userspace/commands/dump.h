/* dump.h - the `dump` command: one snapshot of a live (perhaps hung) process, read from /proc
 * and its memory, stopping only the threads that run, one at a time, as briefly as it can. */
#ifndef LOCKSCOPE_DUMP_H
#define LOCKSCOPE_DUMP_H

#include <stdbool.h>
#include <sys/types.h>

struct snapshot;

/* Reads every thread of PID into S (see snapshot.h): names, states, stacks, waits. 0, or -errno:
 * -ESRCH when PID is gone (before or during the read), -EPERM/-EACCES when not permitted. */
int dump__read(pid_t pid, struct snapshot *s);

/* The command: prints the snapshot of PID as text, or as JSON. Returns an exit status. */
int dump__run(pid_t pid, bool json);

#endif
