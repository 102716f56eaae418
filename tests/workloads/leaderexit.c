/* leaderexit.c - a process whose main thread calls pthread_exit while its threads live on (a
 * zombie leader): they contend on leader_lock once the file named on the command line exists,
 * and the last one prints the ground truth: the time they spent waiting for the lock. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define ITERS 300

static pthread_mutex_t leader_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t started;
static _Atomic uint64_t total_wait_ns, contended;
static _Atomic int left = THREADS;
static const char *go;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *contender(void *arg)
{
	struct timespec hold = {.tv_nsec = 300000}, gap = {.tv_nsec = 20000};

	(void)arg;
	pthread_barrier_wait(&started);
	while (access(go, F_OK))
		usleep(2000);
	for (int i = 0; i < ITERS; i++) {
		uint64_t t0 = now_ns(), waited;

		if (pthread_mutex_trylock(&leader_lock)) {
			pthread_mutex_lock(&leader_lock);
			contended++;
		}
		waited = now_ns() - t0;
		total_wait_ns += waited;
		nanosleep(&hold, NULL);
		pthread_mutex_unlock(&leader_lock);
		nanosleep(&gap, NULL);
	}
	if (--left == 0)
		printf(
		    "{\"workload\": \"leaderexit\", \"lock_wait_ns\": %llu, \"contended\": %llu}\n",
		    (unsigned long long)total_wait_ns, (unsigned long long)contended);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[THREADS];

	if (argc != 2) {
		fprintf(stderr, "usage: leaderexit GO_FILE\n");
		return 1;
	}
	go = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_barrier_init(&started, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, contender, NULL);
	pthread_barrier_wait(&started);
	printf("{\"workload\": \"leaderexit-ready\", \"pid\": %d}\n", getpid());
	pthread_exit(NULL);
}
