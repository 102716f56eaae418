/* futex_rate.c - futex waits at a rate the caller dials, to find how many events a second the
 * recorder keeps up with. Each wait finds the word changed (EAGAIN): a wait begin and end. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define BATCH 64 /* waits between two looks at the clock */

struct worker {
	pthread_t thread;
	uint32_t word; /* always 0: a wait for 1 returns at once */
	uint64_t waits;
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];
static int threads = 2;
static double rate, seconds = 3; /* rate: waits a second in all; 0: as fast as it can */
static uint64_t start;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t end = start + (uint64_t)(seconds * 1e9);
	double per_thread = rate / threads;

	for (;;) {
		uint64_t t = now_ns();

		if (t >= end)
			break;
		if (per_thread > 0) {
			/* ahead of the schedule: sleep until the next batch is due */
			uint64_t due = start + (uint64_t)(w->waits / per_thread * 1e9);

			if (due > t) {
				struct timespec ts = {.tv_sec = due / 1000000000ull,
						      .tv_nsec = due % 1000000000ull};

				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				continue;
			}
		}
		for (int i = 0; i < BATCH; i++)
			syscall(SYS_futex, &w->word, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
		w->waits += BATCH;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t elapsed, waits = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--rate") && i + 1 < argc) {
			rate = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: futex_rate [--threads N] [--rate WAITS_PER_S] "
					"[--seconds S]\n");
			return 1;
		}
	}
	if (threads < 1 || threads > MAX_THREADS)
		threads = 2;
	start = now_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&workers[i].thread, NULL, run, &workers[i]);
	for (int i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		waits += workers[i].waits;
	}
	elapsed = now_ns() - start;
	printf("{\"workload\": \"futex_rate\", \"threads\": %d, \"rate\": %.0f, \"waits\": %llu, "
	       "\"events\": %llu, \"waits_per_s\": %.0f, \"elapsed_ns\": %llu}\n",
	       threads, rate, (unsigned long long)waits, (unsigned long long)(2 * waits),
	       waits / (elapsed / 1e9), (unsigned long long)elapsed);
	return 0;
}
