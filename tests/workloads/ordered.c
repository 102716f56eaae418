/* ordered.c - two threads that both take lock_a then lock_b, at the same time: one edge in the
 * lock-order graph and nothing to report. Prints its locks and threads as JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;

static int rounds = 100, hold_us = 100, gap_us = 100;
static long balance_a = 1000, balance_b = 1000;
static atomic_int ready;
static pid_t tids[2];

static void sleep_us(int us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};

	nanosleep(&ts, NULL);
}

/* Both threads take the locks in the one agreed order. */
__attribute__((noinline)) static void transfer_a_to_b(int amount)
{
	pthread_mutex_lock(&lock_a);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_b);
	balance_a -= amount;
	balance_b += amount;
	pthread_mutex_unlock(&lock_b);
	pthread_mutex_unlock(&lock_a);
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	char name[16];

	tids[i] = (pid_t)syscall(SYS_gettid);
	snprintf(name, sizeof(name), "worker-%d", i);
	pthread_setname_np(pthread_self(), name);
	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < 2)
		sleep_us(100);
	for (int r = 0; r < rounds; r++) {
		/* one moves money forth, the other back, but both lock in the same order */
		transfer_a_to_b(i ? -10 : 10);
		sleep_us(gap_us);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: ordered [--rounds N]\n");
			return 1;
		}
	}
	if (rounds < 1)
		rounds = 1;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("{\"workload\": \"ordered\", \"lock_a\": \"%p\", \"lock_b\": \"%p\", "
	       "\"tids\": [%d, %d], \"rounds\": %d, \"balance\": %ld}\n",
	       (void *)&lock_a, (void *)&lock_b, tids[0], tids[1], rounds, balance_a + balance_b);
	return 0;
}
