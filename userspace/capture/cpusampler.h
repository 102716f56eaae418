/* cpusampler.h - a BPF program run on every CPU at a fixed period of CPU time (perf's cpu-clock
 * events): the event-loop sampler, and auto mode's look at where the target spends its time. */
#ifndef LOCKSCOPE_CPUSAMPLER_H
#define LOCKSCOPE_CPUSAMPLER_H

#include <stddef.h>
#include <stdint.h>

struct bpf_program;
struct cpusampler;

/* Attaches PROG (borrowed) to a cpu-clock event of PERIOD_NS on each online CPU. NULL with
 * errno on failure, and *WHY says what failed in one line. */
struct cpusampler *cpusampler__attach(struct bpf_program *prog, uint64_t period_ns, char *why,
				      size_t len);
void cpusampler__free(struct cpusampler *s);	/* detaches; accepts NULL */

#endif
