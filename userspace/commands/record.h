/* record.h - `lockscope record`: attach to processes or launch a command, record until it exits,
 * the duration passes or we are told to stop, and leave a complete trace behind. */
#ifndef LOCKSCOPE_RECORD_H
#define LOCKSCOPE_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ls_rec;

enum record_mode { RECORD_AUTO, RECORD_CONTENTION, RECORD_FULL };

#define RECORD_MAX_PIDS 64

struct record_opts {
	pid_t pid;		/* the first process given to -p, or 0 */
	pid_t pids[RECORD_MAX_PIDS];	/* every process given to -p (pids[0] == pid) */
	size_t npids;
	bool children;		/* --children: their descendants too, present and future */
	char **cmd;		/* -- CMD ARGS (NULL-terminated), or NULL */
	const char *output;	/* the trace; NULL: a scratch file nothing leaves behind (top) */
	double duration;	/* seconds; 0: until the target exits or a signal */
	enum record_mode mode;
	double overhead_budget;	/* percent */
	unsigned loop_threshold_ms;
	bool no_stacks;
	/* Live views (top): every record goes to SINK as well, and TICK runs after each poll with
	 * the trace time; TICK's non-zero return stops recording. Both may be NULL. */
	int (*sink)(void *arg, const struct ls_rec *rec);
	int (*tick)(void *arg, uint64_t now_ts);
	void *live_arg;
	bool quiet;		/* no messages but errors, no deadlock alerts: the view shows them */
};

/* Returns an exit status (common.h). Stops early when *STOP becomes non-zero. */
int record__run(const struct record_opts *o, volatile const int *stop);

#endif
