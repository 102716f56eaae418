/* epoll_loop.c - a C event loop on epoll and a 5 ms timerfd, blocked twice by nanosleep in
 * sleepy_handler and twice by a CPU spin in busy_handler. Prints its own ground truth: one line
 * per block, "block CAUSE FUNCTION START_NS DURATION_NS" (CLOCK_MONOTONIC), then "done BLOCKS". */
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_NS 200000000ull
#define TICK_NS 5000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* the vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void report(const char *cause, const char *func, uint64_t t0)
{
	printf("block %s %s %llu %llu\n", cause, func, (unsigned long long)t0,
	       (unsigned long long)(now_ns() - t0));
	fflush(stdout);
}

__attribute__((noinline)) static void sleepy_handler(void)
{
	struct timespec d = {0, BLOCK_NS};
	uint64_t t0 = now_ns();

	nanosleep(&d, NULL);
	report("sleep", "sleepy_handler", t0);
}

__attribute__((noinline)) static void busy_handler(void)
{
	volatile uint64_t n = 0;
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < BLOCK_NS)
		for (int i = 0; i < 100000; i++)	/* work between the clock reads */
			n++;
	report("cpu", "busy_handler", t0);
}

int main(void)
{
	struct itimerspec its = {{0, TICK_NS}, {0, TICK_NS}};
	struct epoll_event ev = {.events = EPOLLIN}, got;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned ticks = 0, blocks = 0;

	if (tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &its, NULL) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev)) {
		perror("epoll_loop");
		return 1;
	}
	/* at 0.3, 0.7, 1.1 and 1.5 s of ticks (the ticks a block swallows count once) */
	while (ticks < 380) {
		uint64_t expired;

		if (epoll_wait(ep, &got, 1, 1000) != 1 ||
		    read(tfd, &expired, sizeof(expired)) != sizeof(expired))
			continue;
		ticks += expired;
		if (ticks >= 60 + 80 * blocks && blocks < 4) {
			if (blocks++ % 2 == 0)
				sleepy_handler();
			else
				busy_handler();
		}
	}
	printf("done %u\n", blocks);
	return 0;
}
