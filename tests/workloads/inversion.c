/* inversion.c - a lock-order inversion that never deadlocks: one thread takes lock_a then lock_b,
 * the other lock_b then lock_a, in strict turns. Prints its locks and threads as JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;

static int rounds = 5, hold_us = 1000;
static long balance_a = 1000, balance_b = 1000;
/* Whose turn it is: even for a-to-b, odd for b-to-a. An atomic, not a lock or a semaphore, so
 * that the turns add no edges of their own to the lock-order graph. */
static atomic_int turn;
static pid_t tid_a_to_b, tid_b_to_a;

static void sleep_us(int us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};

	nanosleep(&ts, NULL);
}

static void wait_turn(int want)
{
	while (atomic_load(&turn) != want)
		sleep_us(100);
}

/* The two functions a profiler should name, one per order. */
__attribute__((noinline)) static void transfer_a_to_b(void)
{
	pthread_mutex_lock(&lock_a);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_b);
	balance_a -= 10;
	balance_b += 10;
	pthread_mutex_unlock(&lock_b);
	pthread_mutex_unlock(&lock_a);
}

__attribute__((noinline)) static void transfer_b_to_a(void)
{
	pthread_mutex_lock(&lock_b);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_a);
	balance_b -= 10;
	balance_a += 10;
	pthread_mutex_unlock(&lock_a);
	pthread_mutex_unlock(&lock_b);
}

static void *a_to_b(void *arg)
{
	(void)arg;
	tid_a_to_b = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "a-to-b");
	for (int r = 0; r < rounds; r++) {
		wait_turn(2 * r);
		transfer_a_to_b();
		atomic_store(&turn, 2 * r + 1);
	}
	return NULL;
}

static void *b_to_a(void *arg)
{
	(void)arg;
	tid_b_to_a = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "b-to-a");
	for (int r = 0; r < rounds; r++) {
		wait_turn(2 * r + 1);
		transfer_b_to_a();
		atomic_store(&turn, 2 * r + 2);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t1, t2;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--hold-us") && i + 1 < argc) {
			hold_us = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: inversion [--rounds N] [--hold-us N]\n");
			return 1;
		}
	}
	if (rounds < 1)
		rounds = 1;
	pthread_create(&t1, NULL, a_to_b, NULL);
	pthread_create(&t2, NULL, b_to_a, NULL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	printf("{\"workload\": \"inversion\", \"lock_a\": \"%p\", \"lock_b\": \"%p\", "
	       "\"tid_a_to_b\": %d, \"tid_b_to_a\": %d, \"rounds\": %d, \"balance\": %ld}\n",
	       (void *)&lock_a, (void *)&lock_b, tid_a_to_b, tid_b_to_a, rounds,
	       balance_a + balance_b);
	return 0;
}
