/* guard.h - auto mode's guard: while full mode's probes are in, a thread of its own draws their
 * cost from the budget's account whenever BPF counts the hits that could overdraw it, and takes
 * the probes out the moment it is overdrawn, whatever the recorder's main loop is busy with. */
#ifndef LOCKSCOPE_GUARD_H
#define LOCKSCOPE_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture/budget.h"

struct lockscope_bpf;
struct lock_probes;
struct guard;

/* Watches the probes P of SKEL on PID, priced by B (copied). All borrowed; the guard must be
 * freed before them. NULL with errno. */
struct guard *guard__new(struct lockscope_bpf *skel, struct lock_probes *p, pid_t pid,
			 const struct budget *b);
void guard__free(struct guard *g);	/* stops the thread; accepts NULL */

/* Attaches the probes and opens their account with CREDIT ns of probe cost, holding CAP at most
 * (budget__open). 0 or -errno from the attach. */
int guard__attach(struct guard *g, double credit, double cap);
/* Takes the probes out, if the guard has not already. */
void guard__detach(struct guard *g);
/* Did the guard take the probes out since the last call? *AT: when (ls_mono_ns). */
bool guard__tripped(struct guard *g, uint64_t *at);
/* lock_probes__add_python, in step with the guard. */
int guard__add_python(struct guard *g, const char *object);

#endif
