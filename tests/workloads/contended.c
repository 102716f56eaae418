/* contended.c - a workload with one hot, contended mutex that measures its own ground truth:
 * the lock's address and the time its threads spent blocked taking it, printed as JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t hot_lock = PTHREAD_MUTEX_INITIALIZER;

static int threads = 4, iters = 1500, hold_us = 200, gap_us = 50;
/* Sleeping under the lock (as I/O would) keeps the CPUs free, so that the time a thread spends
 * in pthread_mutex_lock is time blocked on the lock, not time preempted by a spinning peer. */
static bool spin_hold;
static _Atomic uint64_t total_wait_ns, slow_calls, lock_calls;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void spin_us(int us)
{
	uint64_t end = now_ns() + (uint64_t)us * 1000;

	while (now_ns() < end)
		;
}

static void pause_us(int us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};

	if (spin_hold)
		spin_us(us);
	else
		nanosleep(&ts, NULL);
}

/* The function a profiler should name as the one that waits. */
__attribute__((noinline)) static void update_shared_state(void)
{
	uint64_t t0 = now_ns(), waited;

	pthread_mutex_lock(&hot_lock);
	waited = now_ns() - t0;
	/* the uncontended path takes well under a microsecond; longer means we slept */
	if (waited > 2000) {
		total_wait_ns += waited;
		slow_calls++;
	}
	lock_calls++;
	pause_us(hold_us);
	pthread_mutex_unlock(&hot_lock);
}

static void *worker(void *arg)
{
	char name[16];

	snprintf(name, sizeof(name), "worker-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	for (int i = 0; i < iters; i++) {
		update_shared_state();
		pause_us(gap_us);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[64];
	bool wait_signal = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait-signal"))
			wait_signal = true;
		else if (!strcmp(argv[i], "--spin"))
			spin_hold = true;
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--hold-us") && i + 1 < argc)
			hold_us = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--gap-us") && i + 1 < argc)
			gap_us = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: contended [--wait-signal] [--spin] [--threads N] [--iters N] "
					"[--hold-us N] [--gap-us N]\n");
			return 1;
		}
	}
	if (threads < 1 || threads > 64)
		threads = 4;
	if (wait_signal) {
		/* hold still until the recorder is attached: the test sends SIGUSR1 */
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		fprintf(stderr, "contended: pid %d waiting for SIGUSR1\n", getpid());
		sigwait(&set, &sig);
	}
	uint64_t start = now_ns();

	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	printf("{\"lock\": \"hot_lock\", \"addr\": \"%p\", \"wait_ns\": %llu, \"slow_calls\": %llu, "
	       "\"lock_calls\": %llu, \"threads\": %d, \"elapsed_ns\": %llu}\n",
	       (void *)&hot_lock, (unsigned long long)total_wait_ns,
	       (unsigned long long)slow_calls, (unsigned long long)lock_calls, threads,
	       (unsigned long long)(now_ns() - start));
	return 0;
}
