/* lookahead.c - samples the target's instruction addresses at a fixed period of CPU time and
 * sorts them into inside and outside the lock functions, for auto mode's prediction. */
#include "capture/lookahead.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>

#include "capture/cpusampler.h"

#define PERIOD_NS 500000ull	/* 2 kHz a CPU: a look of 50 ms takes ~100 samples of each */
#define MAX_IPS 4096		/* the map's max_entries: bounds a walk */

struct lookahead {
	struct cpusampler *sampling;
	int ips_fd;
};

/* Calls FN for each address and count in the map (FN may be NULL), then empties the map. The
 * keys are walked first and deleted after: a walk from a deleted key starts over. */
static void drain(int fd, void (*fn)(void *arg, uint64_t ip, uint64_t n), void *arg)
{
	static uint64_t keys[MAX_IPS];
	size_t nkeys = 0;
	uint64_t n;

	while (nkeys < MAX_IPS && !bpf_map_get_next_key(fd, nkeys ? &keys[nkeys - 1] : NULL,
							&keys[nkeys]))
		nkeys++;
	for (size_t i = 0; i < nkeys; i++) {
		if (fn && !bpf_map_lookup_elem(fd, &keys[i], &n))
			fn(arg, keys[i], n);
		bpf_map_delete_elem(fd, &keys[i]);
	}
}

struct lookahead *lookahead__start(struct bpf_program *sampler, int ips_fd, char *why,
				   size_t len)
{
	struct lookahead *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->ips_fd = ips_fd;
	drain(ips_fd, NULL, NULL);
	l->sampling = cpusampler__attach(sampler, PERIOD_NS, why, len);
	if (!l->sampling) {
		free(l);
		return NULL;
	}
	return l;
}

struct tally {
	bool (*is_lock)(void *arg, uint64_t ip);
	void *arg;
	uint64_t samples, in_lock;
};

static void count(void *arg, uint64_t ip, uint64_t n)
{
	struct tally *t = arg;

	t->samples += n;
	if (t->is_lock(t->arg, ip))
		t->in_lock += n;
}

void lookahead__count(struct lookahead *l, bool (*is_lock)(void *arg, uint64_t ip), void *arg,
		      uint64_t *samples, uint64_t *in_lock)
{
	struct tally t = {.is_lock = is_lock, .arg = arg};

	cpusampler__free(l->sampling);	/* no sample lands while the map is read */
	l->sampling = NULL;
	drain(l->ips_fd, count, &t);
	*samples = t.samples;
	*in_lock = t.in_lock;
}

void lookahead__free(struct lookahead *l)
{
	if (!l)
		return;
	cpusampler__free(l->sampling);
	free(l);
}
