/* top.h - `lockscope top -p PID`: a live view of a running process's lock contention, refreshed
 * every second, fed by the recorder and the same analyses as `report`. */
#ifndef LOCKSCOPE_TOP_H
#define LOCKSCOPE_TOP_H

#include <sys/types.h>

struct top_opts {
	pid_t pid;
	const char *output; /* keep the trace here; NULL: a scratch file, removed at once */
	double interval;    /* seconds between frames */
};

/* Returns an exit status (common.h): 0 when the user quits (q, a signal: *STOP) or the target
 * exits. The terminal is restored on every way out. */
int top__run(const struct top_opts *o, volatile const int *stop);

#endif
