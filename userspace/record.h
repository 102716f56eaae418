/* record.h - `lockscope record`: attach to a PID or launch a command, record until it exits,
 * the duration passes or we are told to stop, and leave a complete trace behind. */
#ifndef LOCKSCOPE_RECORD_H
#define LOCKSCOPE_RECORD_H

#include <stdbool.h>
#include <sys/types.h>

enum record_mode { RECORD_AUTO, RECORD_CONTENTION, RECORD_FULL };

struct record_opts {
	pid_t pid;		/* -p, or 0 */
	char **cmd;		/* -- CMD ARGS (NULL-terminated), or NULL */
	const char *output;
	double duration;	/* seconds; 0: until the target exits or a signal */
	enum record_mode mode;
	double overhead_budget;	/* percent */
	unsigned loop_threshold_ms;
	bool no_stacks;
};

/* Returns an exit status (common.h). Stops early when *STOP becomes non-zero. */
int record__run(const struct record_opts *o, volatile const int *stop);

#endif
