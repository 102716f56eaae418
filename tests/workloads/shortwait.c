/* shortwait.c - short contended waits at a high rate: more threads than CPUs, each doing a little
 * work of its own between short critical sections on one shared mutex. Prints its elapsed time
 * and how many of its lock calls found the mutex taken (each then waits in the kernel, mostly). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64

struct worker {
	pthread_t thread;
	uint64_t contended;	/* lock calls that found the mutex taken */
	uint64_t sum;
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shared_value;
static int threads = 4, work = 200, hold = 200;
static long iters = 200000;

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* N rounds of a generator the compiler cannot fold: the thread's own work. */
static uint64_t spin(uint64_t x, int n)
{
	for (int i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

__attribute__((noinline)) static void update_shared(struct worker *w)
{
	if (pthread_mutex_trylock(&shared_lock)) {
		w->contended++;
		pthread_mutex_lock(&shared_lock);
	}
	shared_value = spin(shared_value, hold);
	pthread_mutex_unlock(&shared_lock);
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < iters; i++) {
		w->sum = spin(w->sum + i, work);
		update_shared(w);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t start, elapsed, cpu, contended = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--work") && i + 1 < argc) {
			work = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--hold") && i + 1 < argc) {
			hold = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: shortwait [--threads N] [--iters N] [--work N] "
					"[--hold N]\n");
			return 1;
		}
	}
	if (threads < 1 || threads > MAX_THREADS || iters < 1 || work < 0 || hold < 0) {
		fprintf(stderr, "shortwait: bad arguments\n");
		return 1;
	}
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	start = now_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < threads; i++)
		pthread_create(&workers[i].thread, NULL, run, &workers[i]);
	for (int i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		contended += workers[i].contended;
	}
	elapsed = now_ns(CLOCK_MONOTONIC) - start;
	/* its CPU time too, the probes' share in its threads included: on a busy machine, the time
	 * it waited for a CPU is not the tool's */
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	printf("{\"workload\": \"shortwait\", \"threads\": %d, \"iters\": %ld, \"work\": %d, "
	       "\"hold\": %d, \"shared_lock\": \"%p\", \"contended\": %llu, "
	       "\"contended_per_s\": %.0f, \"cpu_ns\": %llu, \"elapsed_ns\": %llu}\n",
	       threads, iters, work, hold, (void *)&shared_lock, (unsigned long long)contended,
	       contended / (elapsed / 1e9), (unsigned long long)cpu, (unsigned long long)elapsed);
	return 0;
}
