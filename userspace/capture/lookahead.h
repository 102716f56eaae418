/* lookahead.h - auto mode's look before it probes: where the target's threads run, sampled on
 * every CPU for a moment, tells what share of its CPU time the lock functions take. */
#ifndef LOCKSCOPE_LOOKAHEAD_H
#define LOCKSCOPE_LOOKAHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_program;
struct lookahead;

/* Starts sampling with SAMPLER (borrowed), which counts the targets' instruction addresses in
 * the map IPS_FD (emptied first). NULL with errno; *WHY then says why in one line. */
struct lookahead *lookahead__start(struct bpf_program *sampler, int ips_fd, char *why,
				   size_t len);

/* Stops sampling and counts: *SAMPLES of the target's threads running, *IN_LOCK of them at an
 * address IS_LOCK says is in a lock function. */
void lookahead__count(struct lookahead *l, bool (*is_lock)(void *arg, uint64_t ip), void *arg,
		      uint64_t *samples, uint64_t *in_lock);
void lookahead__free(struct lookahead *l);	/* stops sampling; accepts NULL */

#endif
