/* gated.c - lock_a and lock_b taken in opposite orders by two threads at once, but always under
 * gate_lock: an inversion that cannot deadlock, to be reported as suppressed. Prints JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;

static int rounds = 200, hold_us = 100, gap_us = 100;
static long balance_a = 1000, balance_b = 1000;
static atomic_int ready;
static pid_t tid_a_to_b, tid_b_to_a;

static void sleep_us(int us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};

	nanosleep(&ts, NULL);
}

/* Both threads start together so that the two orders really overlap in time. */
static void start_together(void)
{
	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < 2)
		sleep_us(100);
}

/* The gate is what makes the opposite orders safe: only its holder takes lock_a or lock_b. */
__attribute__((noinline)) static void transfer_a_to_b(void)
{
	pthread_mutex_lock(&gate_lock);
	pthread_mutex_lock(&lock_a);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_b);
	balance_a -= 10;
	balance_b += 10;
	pthread_mutex_unlock(&lock_b);
	pthread_mutex_unlock(&lock_a);
	pthread_mutex_unlock(&gate_lock);
}

__attribute__((noinline)) static void transfer_b_to_a(void)
{
	pthread_mutex_lock(&gate_lock);
	pthread_mutex_lock(&lock_b);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_a);
	balance_b -= 10;
	balance_a += 10;
	pthread_mutex_unlock(&lock_a);
	pthread_mutex_unlock(&lock_b);
	pthread_mutex_unlock(&gate_lock);
}

static void *a_to_b(void *arg)
{
	(void)arg;
	tid_a_to_b = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "a-to-b");
	start_together();
	for (int r = 0; r < rounds; r++) {
		transfer_a_to_b();
		sleep_us(gap_us);
	}
	return NULL;
}

static void *b_to_a(void *arg)
{
	(void)arg;
	tid_b_to_a = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "b-to-a");
	start_together();
	for (int r = 0; r < rounds; r++) {
		transfer_b_to_a();
		sleep_us(gap_us);
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
			fprintf(stderr, "usage: gated [--rounds N] [--hold-us N]\n");
			return 1;
		}
	}
	if (rounds < 1)
		rounds = 1;
	pthread_create(&t1, NULL, a_to_b, NULL);
	pthread_create(&t2, NULL, b_to_a, NULL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	printf("{\"workload\": \"gated\", \"gate_lock\": \"%p\", \"lock_a\": \"%p\", "
	       "\"lock_b\": \"%p\", \"tid_a_to_b\": %d, \"tid_b_to_a\": %d, \"rounds\": %d, "
	       "\"balance\": %ld}\n",
	       (void *)&gate_lock, (void *)&lock_a, (void *)&lock_b, tid_a_to_b, tid_b_to_a, rounds,
	       balance_a + balance_b);
	return 0;
}
