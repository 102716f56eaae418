/* cpusampler.c - one cpu-clock perf event per CPU, each running the same BPF program: what a
 * sample costs is paid only while the sampler is attached. */
#include "capture/cpusampler.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct cpusampler {
	struct bpf_link **links;	/* one per CPU */
	int nlinks;
};

void cpusampler__free(struct cpusampler *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nlinks; i++)
		bpf_link__destroy(s->links[i]);	/* closes its perf event too */
	free(s->links);
	free(s);
}

struct cpusampler *cpusampler__attach(struct bpf_program *prog, uint64_t period_ns, char *why,
				      size_t len)
{
	struct perf_event_attr attr = {
	    .size = sizeof(attr),
	    .type = PERF_TYPE_SOFTWARE,
	    .config = PERF_COUNT_SW_CPU_CLOCK,
	    .sample_period = period_ns,
	};
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct cpusampler *s = calloc(1, sizeof(*s));

	if (!s || ncpu <= 0 || !(s->links = calloc(ncpu, sizeof(*s->links)))) {
		err = ncpu < 0 ? ncpu : ncpu == 0 ? -ENODEV : -ENOMEM;
		snprintf(why, len, "%s", strerror(-err));
		goto fail;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		int fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *link;

		if (fd < 0) {
			if (errno == ENODEV)
				continue;	/* an offline CPU */
			err = -errno;
			snprintf(why, len, "perf_event_open on CPU %d: %s", cpu, strerror(errno));
			goto fail;
		}
		link = bpf_program__attach_perf_event(prog, fd);
		if (!link) {
			err = -errno;
			close(fd);
			snprintf(why, len, "attaching the sampler: %s", strerror(-err));
			goto fail;
		}
		s->links[s->nlinks++] = link;
	}
	return s;
fail:
	cpusampler__free(s);
	errno = -err;
	return NULL;
}
