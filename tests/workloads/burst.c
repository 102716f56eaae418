/* burst.c - idle, then a burst of uncontended lock calls: what a profiler attached while the
 * program sleeps must not slow down past its budget. Prints the burst's own elapsed time. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long pairs = 20000000;
static int nthreads = 2;
static uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *worker(void *arg)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	uint64_t x = (uintptr_t)arg;

	for (long i = 0; i < pairs / nthreads; i++) {
		pthread_mutex_lock(&m);
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		pthread_mutex_unlock(&m);
	}
	__atomic_add_fetch(&sink, x, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	long idle_ms = 1000;
	pthread_t th[64];
	uint64_t t0, t1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--idle-ms") && i + 1 < argc) {
			idle_ms = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) {
			pairs = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			nthreads = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: burst [--idle-ms N] [--pairs N] [--threads N]\n");
			return 1;
		}
	}
	if (nthreads < 1 || nthreads > 64)
		nthreads = 2;
	printf("{\"workload\": \"burst\", \"pid\": %d, \"idle_ms\": %ld, \"idle\": true}\n",
	       getpid(), idle_ms);
	fflush(stdout);
	usleep(idle_ms * 1000);
	t0 = now_ns();
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t1 = now_ns();
	printf("{\"workload\": \"burst\", \"pairs\": %ld, \"threads\": %d, \"elapsed_ns\": %llu, "
	       "\"start_mono_ns\": %llu, \"sink\": %llu}\n", pairs, nthreads,
	       (unsigned long long)(t1 - t0), (unsigned long long)t0, (unsigned long long)sink);
	return 0;
}
