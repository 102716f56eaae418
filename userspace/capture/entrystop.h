/* entrystop.h - holds a launched program at its entry point: the dynamic loader has mapped its
 * libraries, none of its own code has run. The recorder loads their symbols meanwhile. */
#ifndef LOCKSCOPE_ENTRYSTOP_H
#define LOCKSCOPE_ENTRYSTOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct entrystop {
	pid_t pid;
	uint64_t entry;		/* AT_ENTRY: where the breakpoint stands */
	long word;		/* the text it replaced */
	bool held;		/* stopped there, traced by us */
};

/* In the forked child, before exec: its exec will stop it, traced by its parent. 0 or -errno. */
int entrystop__arm(void);

/* In the parent, once the armed child has exec'd: runs it to its entry point and holds it
 * there. 0 (held); -ECHILD with *STATUS set (a wait status) if it ended on the way; -errno if
 * it could not be held (it is then released, running). */
int entrystop__hold(struct entrystop *e, pid_t pid, int *status);

/* Puts the text back and lets the program run from its first instruction, untraced. */
int entrystop__release(struct entrystop *e);

#endif
