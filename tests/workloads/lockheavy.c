/* lockheavy.c - tens of millions of uncontended lock/unlock pairs (each thread on its own mutex,
 * now and then a shared one): the worst case for lock/unlock probes. Prints its elapsed time. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64

/* One mutex per thread, each on its own cache line so that only the locks are measured. */
struct own_lock {
	pthread_mutex_t m;
	uint64_t count;
} __attribute__((aligned(64)));

static struct own_lock own[MAX_THREADS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shared_count;

static int threads = 2, shared_every = 1000;
static long iters = 50000000;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

__attribute__((noinline)) static void count_own(struct own_lock *l)
{
	pthread_mutex_lock(&l->m);
	l->count++;
	pthread_mutex_unlock(&l->m);
}

__attribute__((noinline)) static void count_shared(void)
{
	pthread_mutex_lock(&shared_lock);
	shared_count++;
	pthread_mutex_unlock(&shared_lock);
}

static void *worker(void *arg)
{
	struct own_lock *l = arg;

	for (long i = 0; i < iters; i++) {
		count_own(l);
		if (i % shared_every == 0)
			count_shared();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	uint64_t start, elapsed, own_total = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--shared-every") && i + 1 < argc) {
			shared_every = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: lockheavy [--threads N] [--iters N] "
					"[--shared-every N]\n");
			return 1;
		}
	}
	if (threads < 1 || threads > MAX_THREADS)
		threads = 2;
	if (iters < 1)
		iters = 1;
	if (shared_every < 1)
		shared_every = 1000;
	for (int i = 0; i < threads; i++)
		pthread_mutex_init(&own[i].m, NULL);
	start = now_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, &own[i]);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	elapsed = now_ns() - start;
	for (int i = 0; i < threads; i++)
		own_total += own[i].count;
	printf("{\"workload\": \"lockheavy\", \"threads\": %d, \"iters\": %ld, "
	       "\"shared_every\": %d, \"shared_lock\": \"%p\", \"lock_pairs\": %llu, "
	       "\"elapsed_ns\": %llu}\n",
	       threads, iters, shared_every, (void *)&shared_lock,
	       (unsigned long long)(own_total + shared_count), (unsigned long long)elapsed);
	return 0;
}
