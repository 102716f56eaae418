/* syscall_tax.c - what a system call costs, to measure the tax that lockscope's syscall
 * tracepoints put on every syscall of every process while a recording runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	double best = 1e18;

	for (int round = 0; round < 5; round++) {
		uint64_t t0 = now_ns();

		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);	/* not cached by libc: a real kernel entry */
		double per = (double)(now_ns() - t0) / n;

		if (per < best)
			best = per;
	}
	printf("%.1f\n", best);
	return 0;
}
