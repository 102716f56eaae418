/* deadlock.c - a real deadlock: thread 1 holds lock_a and wants lock_b, thread 2 holds lock_b and
 * wants lock_a. Prints who holds and waits for what as JSON just before both block, then hangs. */
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

static long balance_a = 1000, balance_b = 1000;
static pid_t tid_a_to_b, tid_b_to_a;
/* The barrier is two atomics polled with sleeps, not a pthread barrier: the only futex waits
 * this program makes are the deadlock's own (and main's join). */
static atomic_int holding, go;

static void sleep_us(int us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};

	nanosleep(&ts, NULL);
}

/* Each thread holds its first lock here until main has printed the ground truth. */
static void barrier(void)
{
	atomic_fetch_add(&holding, 1);
	while (!atomic_load(&go))
		sleep_us(1000);
}

/* The two functions a profiler should name: each blocks in its second pthread_mutex_lock. */
__attribute__((noinline)) static void transfer_a_to_b(void)
{
	pthread_mutex_lock(&lock_a);
	barrier();
	pthread_mutex_lock(&lock_b);
	balance_a -= 10;
	balance_b += 10;
	pthread_mutex_unlock(&lock_b);
	pthread_mutex_unlock(&lock_a);
}

__attribute__((noinline)) static void transfer_b_to_a(void)
{
	pthread_mutex_lock(&lock_b);
	barrier();
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
	transfer_a_to_b();
	return NULL;
}

static void *b_to_a(void *arg)
{
	(void)arg;
	tid_b_to_a = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "b-to-a");
	transfer_b_to_a();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t1, t2;
	int delay_ms = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc) {
			delay_ms = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: deadlock [--delay-ms N]\n");
			return 1;
		}
	}
	/* time for a recorder to attach before anything happens */
	if (delay_ms > 0)
		sleep_us(delay_ms * 1000);
	pthread_create(&t1, NULL, a_to_b, NULL);
	pthread_create(&t2, NULL, b_to_a, NULL);
	while (atomic_load(&holding) < 2)
		sleep_us(1000);
	printf("{\"workload\": \"deadlock\", \"pid\": %d, \"lock_a\": \"%p\", \"lock_b\": \"%p\", "
	       "\"tid_a_to_b\": %d, \"tid_b_to_a\": %d, \"threads\": ["
	       "{\"tid\": %d, \"name\": \"a-to-b\", \"function\": \"transfer_a_to_b\", "
	       "\"holds\": \"lock_a\", \"holds_addr\": \"%p\", "
	       "\"waits_for\": \"lock_b\", \"waits_for_addr\": \"%p\"}, "
	       "{\"tid\": %d, \"name\": \"b-to-a\", \"function\": \"transfer_b_to_a\", "
	       "\"holds\": \"lock_b\", \"holds_addr\": \"%p\", "
	       "\"waits_for\": \"lock_a\", \"waits_for_addr\": \"%p\"}]}\n",
	       getpid(), (void *)&lock_a, (void *)&lock_b, tid_a_to_b, tid_b_to_a,
	       tid_a_to_b, (void *)&lock_a, (void *)&lock_b, tid_b_to_a, (void *)&lock_b,
	       (void *)&lock_a);
	fflush(stdout);
	atomic_store(&go, 1);
	/* never returns: both threads are stuck for good */
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	printf("{\"error\": \"no deadlock\", \"balance\": %ld}\n", balance_a + balance_b);
	return 1;
}
