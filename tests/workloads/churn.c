/* churn.c - a workload that creates and ends thousands of short threads, each naming itself and
 * contending on one mutex; it measures its own ground truth (the lock's address, the time spent
 * blocked taking it, the threads made) and prints it as JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;

static int threads = 3000, batch = 8, rounds = 3, hold_us = 100;
static _Atomic uint64_t total_wait_ns, slow_calls;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *short_lived(void *arg)
{
	struct timespec hold = {.tv_nsec = hold_us * 1000L};
	char name[16];

	snprintf(name, sizeof(name), "churn-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	for (int i = 0; i < rounds; i++) {
		uint64_t t0 = now_ns(), waited;

		pthread_mutex_lock(&churn_lock);
		waited = now_ns() - t0;
		/* the uncontended path takes well under a microsecond; longer means we slept */
		if (waited > 2000) {
			total_wait_ns += waited;
			slow_calls++;
		}
		nanosleep(&hold, NULL);
		pthread_mutex_unlock(&churn_lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[64];
	uint64_t start = now_ns();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: churn [--threads N] [--batch N] [--rounds N]\n");
			return 1;
		}
	}
	if (batch < 1 || batch > 64)
		batch = 8;
	/* BATCH threads at a time, each started, contending and gone within milliseconds */
	for (int made = 0; made < threads;) {
		int n = threads - made < batch ? threads - made : batch;

		for (int i = 0; i < n; i++)
			if (pthread_create(&tid[i], NULL, short_lived, (void *)(intptr_t)(made + i))) {
				fprintf(stderr, "churn: pthread_create failed\n");
				return 1;
			}
		for (int i = 0; i < n; i++)
			pthread_join(tid[i], NULL);
		made += n;
	}
	printf("{\"lock\": \"churn_lock\", \"addr\": \"%p\", \"wait_ns\": %llu, \"slow_calls\": %llu, "
	       "\"threads\": %d, \"elapsed_ns\": %llu}\n",
	       (void *)&churn_lock, (unsigned long long)total_wait_ns,
	       (unsigned long long)slow_calls, threads, (unsigned long long)(now_ns() - start));
	return 0;
}
