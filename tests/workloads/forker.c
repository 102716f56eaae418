/* forker.c - a workload that forks a child which execs another program (given on the command
 * line) while its own threads contend on parent_lock; it prints its ground truth as JSON: the
 * lock's address, the time its threads spent blocked on it, the child's pid and status. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 3
#define ITERS 400

static pthread_mutex_t parent_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t total_wait_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *contender(void *arg)
{
	struct timespec hold = {.tv_nsec = 200000}, gap = {.tv_nsec = 50000};
	char name[16];

	snprintf(name, sizeof(name), "parent-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	for (int i = 0; i < ITERS; i++) {
		uint64_t t0 = now_ns(), waited;

		pthread_mutex_lock(&parent_lock);
		waited = now_ns() - t0;
		if (waited > 2000) /* longer than the uncontended path: we slept */
			total_wait_ns += waited;
		nanosleep(&hold, NULL);
		pthread_mutex_unlock(&parent_lock);
		nanosleep(&gap, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[THREADS];
	int status = -1;
	pid_t child;

	if (argc < 2) {
		fprintf(stderr, "usage: forker PROGRAM [ARGS...]\n");
		return 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_create(&tid[i], NULL, contender, (void *)(intptr_t)i);
	/* forked while the threads hold and wait for parent_lock: the child has a copy of it */
	child = fork();
	if (child == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO); /* the child's output is not our ground truth */
		execv(argv[1], argv + 1);
		_exit(127);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	if (child > 0)
		waitpid(child, &status, 0);
	printf("{\"lock\": \"parent_lock\", \"addr\": \"%p\", \"wait_ns\": %llu, \"threads\": %d, "
	       "\"child_pid\": %d, \"child_status\": %d}\n",
	       (void *)&parent_lock, (unsigned long long)total_wait_ns, THREADS, (int)child,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
