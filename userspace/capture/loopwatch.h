/* loopwatch.h - the event-loop threads the BPF side tracks, seen from the recorder: the busy-block
 * sampler on every CPU, and the `loops` map read for blocks off CPU. */
#ifndef LOCKSCOPE_LOOPWATCH_H
#define LOCKSCOPE_LOOPWATCH_H

#include <stddef.h>
#include <stdint.h>

struct bpf_program;
struct ls_loop_state;
struct loopwatch;

/* Watches LOOPS_FD (the BPF hash map of struct ls_loop_state by tid) for gaps of THRESHOLD_NS.
 * Once the target is seen to run a loop, the first scan attaches SAMPLER (the perf_event
 * program; NULL: none) to a CPU clock on every CPU, so that a loop thread busy past the
 * threshold has its stack taken while it still is. Both are borrowed. NULL with errno
 * (ENOMEM). */
struct loopwatch *loopwatch__new(int loops_fd, struct bpf_program *sampler, uint64_t threshold_ns);
void loopwatch__free(struct loopwatch *w); /* detaches the sampler; accepts NULL */

/* Calls FN for each loop thread that at NOW (the BPF clock) has been away from its poll call
 * past the threshold and is off CPU, and whose block has no stack yet (the sampler takes those
 * of threads on CPU). FN returns 1 once it took the stack (the block is then not offered
 * again), 0 to be offered it again at the next scan, or a negative errno, which stops the scan
 * and is returned. Otherwise returns how many loop threads there are. A sampler the kernel
 * refuses (when the first loop is seen) is no failure: *WHY (if not NULL) then says why, once,
 * and busy blocks are found without their stacks; else *WHY is left alone. */
int loopwatch__scan(struct loopwatch *w, uint64_t now,
		    int (*fn)(void *arg, uint32_t tid, const struct ls_loop_state *st,
			      uint64_t now),
		    void *arg, char *why, size_t why_len);

#endif
