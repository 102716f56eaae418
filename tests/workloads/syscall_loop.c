/* syscall_loop.c - a single thread's loop of non-blocking system calls that lockscope does not
 * trace (a byte written to a pipe and read back), with --epoll an epoll_wait(0) each round as an
 * event loop polls: what a recording costs a program that has nothing for it to see.
 *   syscall_loop [--rounds N] [--epoll] [--linger MS]
 * prints its elapsed time as JSON, then stays MS milliseconds (for a test to look at a recording
 * of it meanwhile). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Rounds timed together: the fastest batch is the cost of a round with nothing else running,
 * a figure that a machine shared with other work leaves intact. */
#define BATCH 1000

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long rounds = 500000, linger_ms = 0;
	bool epoll = false;
	struct epoll_event ev = {.events = EPOLLIN};
	int fds[2], ep = -1;
	uint64_t start, elapsed, cpu, batch = 0, best = UINT64_MAX;
	char c = 'x';

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--epoll")) {
			epoll = true;
		} else if (!strcmp(argv[i], "--linger") && i + 1 < argc) {
			linger_ms = atol(argv[++i]);
		} else {
			fprintf(stderr, "usage: syscall_loop [--rounds N] [--epoll] [--linger MS]\n");
			return 1;
		}
	}
	if (pipe2(fds, O_NONBLOCK)) {
		perror("syscall_loop: pipe2");
		return 1;
	}
	/* the epoll set watches nothing that becomes ready: each poll returns at once, empty */
	if (epoll && ((ep = epoll_create1(0)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fds[1], &ev))) {
		perror("syscall_loop: epoll");
		return 1;
	}
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	start = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < rounds; i++) {
		if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1) {
			perror("syscall_loop: pipe");
			return 1;
		}
		if (epoll && epoll_wait(ep, &ev, 1, 0) < 0) {
			perror("syscall_loop: epoll_wait");
			return 1;
		}
		if (i % BATCH == 0) {
			uint64_t t = now_ns(CLOCK_MONOTONIC);

			if (i && t - batch < best)
				best = t - batch;
			batch = t;
		}
	}
	elapsed = now_ns(CLOCK_MONOTONIC) - start;
	cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	/* its CPU time too: on a busy machine, the time it waited for a CPU is not the tool's */
	printf("{\"workload\": \"syscall_loop\", \"rounds\": %ld, \"epoll\": %s, \"ns_per_round\": %.1f, "
	       "\"best_ns_per_round\": %.1f, \"cpu_ns\": %llu, \"elapsed_ns\": %llu}\n",
	       rounds, epoll ? "true" : "false", (double)elapsed / rounds,
	       rounds > BATCH ? (double)best / BATCH : 0.0, (unsigned long long)cpu,
	       (unsigned long long)elapsed);
	fflush(stdout);
	if (linger_ms > 0) {
		struct timespec d = {linger_ms / 1000, linger_ms % 1000 * 1000000};

		nanosleep(&d, NULL);
	}
	return 0;
}
