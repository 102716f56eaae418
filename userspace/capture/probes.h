/* probes.h - full mode's uprobes on the target's lock API (pthread mutex, rwlock, cond, sem),
 * attached and detached as a few multi-uprobe links so that windows can switch them quickly. */
#ifndef LOCKSCOPE_PROBES_H
#define LOCKSCOPE_PROBES_H

#include <stdbool.h>
#include <sys/types.h>

struct lockscope_bpf;
struct lock_probes;

/* Finds the C library that PID uses (or, for a command not yet exec'd, the one lockscope
 * uses) and the file offsets of its lock functions. NULL with errno; *WHY then says what is
 * missing in one line. SKEL is borrowed. */
struct lock_probes *lock_probes__new(struct lockscope_bpf *skel, pid_t pid, bool launched,
				     char *why, size_t why_len);
void lock_probes__free(struct lock_probes *p);	/* detaches; accepts NULL */
/* Does the target map the C library probed? A launched command's probes are placed in the
 * system's before it runs: a static or musl binary never calls it, and what it makes of its own
 * lock calls no probe sees. Asked once it has exec'd. */
bool lock_probes__target_uses(const struct lock_probes *p);

int lock_probes__attach(struct lock_probes *p);	/* 0 or -errno */
/* Probes CPython's lock too, in OBJECT (the executable or libpython, as the target names
 * it): with the rest from now on. 0, -ENOENT if it has no PyThread lock, or -errno. */
int lock_probes__add_python(struct lock_probes *p, const char *object);
void lock_probes__detach(struct lock_probes *p);
bool lock_probes__attached(const struct lock_probes *p);
const char *lock_probes__library(const struct lock_probes *p);
int lock_probes__count(const struct lock_probes *p);	/* functions probed */

/* Measures what one probe hit costs on this machine, in ns, for an entry probe and for a
 * return probe, on a function of lockscope's own. For the price to include what a hit on the
 * target does (stack copy, ring buffer), the caller makes lockscope a target meanwhile and
 * discards its events. 0 or -errno. */
int lock_probes__calibrate(struct lockscope_bpf *skel, double *entry_ns, double *return_ns);

/* Is FUNC (a symbol's name) one of the probed functions, or one of their own helpers in the C
 * library (its name holds theirs, as __pthread_mutex_unlock_usercnt does)? */
bool lock_probes__is_lock_function(const struct lock_probes *p, const char *func);

/* What an uncontended lock/unlock pair of a mutex costs unprobed on this machine, in ns. */
double lock_probes__pair_ns(void);

/* The kernel attach type of multi-uprobe links (Linux 6.6), which Debian 12's libbpf 1.1
 * does not name yet; programs are loaded with it. */
#define LS_TRACE_UPROBE_MULTI 48
#define LS_TRACE_UPROBE_SESSION 57	/* Linux 6.13: one program for entry and return */

#endif
