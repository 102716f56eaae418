/* loop_tax.c - what event-loop tracking costs: a context switch (the sched_switch program runs
 * on every one of the machine), and a poll call of a recorded loop thread (its gap accounting).
 *   loop_tax switch [N]   ns per round trip of a byte between two processes over pipes
 *   loop_tax poll [N]     ns per epoll_wait(timeout 0) on an empty epoll set */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Two processes pass a byte back and forth: two context switches per round trip. */
static double ping_pong(long n)
{
	int ab[2], ba[2];
	uint64_t t0;
	pid_t pid;
	char c = 0;

	if (pipe(ab) || pipe(ba))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(ab[1]);
		close(ba[0]);
		while (read(ab[0], &c, 1) == 1 && write(ba[1], &c, 1) == 1)
			;
		_exit(0);
	}
	close(ab[0]);
	close(ba[1]);
	t0 = now_ns();
	for (long i = 0; i < n && t0; i++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			t0 = 0;
	t0 = t0 ? now_ns() - t0 : 0;
	close(ab[1]); /* the child reads EOF and exits */
	close(ba[0]);
	waitpid(pid, NULL, 0);
	return t0 ? (double)t0 / n : -1;
}

static double polls(long n)
{
	struct epoll_event ev;
	int ep = epoll_create1(0);
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		epoll_wait(ep, &ev, 1, 0);
	return (double)(now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
	bool poll = argc > 1 && !strcmp(argv[1], "poll");
	long n = argc > 2 ? atol(argv[2]) : poll ? 1000000 : 20000;
	double best = 1e18;

	for (int round = 0; round < 5; round++) {
		double per = poll ? polls(n) : ping_pong(n);

		if (per >= 0 && per < best)
			best = per;
	}
	printf("%.1f\n", best);
	return 0;
}
