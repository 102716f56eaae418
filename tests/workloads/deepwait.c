/* deepwait.c - contended waits under a deep stack: threads recurse through frames of 256 bytes
 * each, built with frame pointers, and wait for a mutex at the bottom, far more than the 2 KiB
 * stack snapshot below deep_root. Prints its own figures: the waits it made for the lock. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 3
#define FP __attribute__((noinline, optimize("no-omit-frame-pointer")))

static pthread_mutex_t deep_lock = PTHREAD_MUTEX_INITIALIZER;
static int depth = 40, rounds = 100;
static uint64_t contended[THREADS];

static void sleep_us(long us)
{
	struct timespec d = {0, us * 1000};

	nanosleep(&d, NULL);
}

/* Holds the lock a while: the other threads wait under their deep stacks meanwhile. */
FP static void deep_bottom(int t)
{
	if (pthread_mutex_trylock(&deep_lock)) {
		contended[t]++;
		pthread_mutex_lock(&deep_lock);
	}
	sleep_us(2000);
	pthread_mutex_unlock(&deep_lock);
}

FP static void deep_frame(int t, int level)
{
	volatile char pad[256];

	pad[0] = (char)level;
	if (level > 0)
		deep_frame(t, level - 1);
	else
		deep_bottom(t);
	pad[1] = pad[0];
}

FP static void deep_root(int t)
{
	for (int i = 0; i < rounds; i++)
		deep_frame(t, depth);
}

static void *run(void *arg)
{
	deep_root((int)(intptr_t)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[THREADS];
	uint64_t total = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
			depth = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: deepwait [--depth N] [--rounds N]\n");
			return 1;
		}
	}
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += contended[i];
	}
	printf("{\"workload\": \"deepwait\", \"depth\": %d, \"rounds\": %d, \"contended\": %llu}\n",
	       depth, rounds, (unsigned long long)total);
	return 0;
}
