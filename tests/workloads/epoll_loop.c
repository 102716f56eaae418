/* epoll_loop.c - a C event loop on epoll and a 5 ms timerfd, blocked five times: by nanosleep in
 * sleepy_handler, a CPU spin in busy_handler, a mutex another thread holds in locked_handler, a
 * blocking read of a pipe in reading_handler and a wait in an epoll instance of its own that
 * selector_handler makes for it (as a blocking client call does). Prints its own ground truth: one
 * line per block, "block CAUSE FUNCTION START_NS DURATION_NS" (CLOCK_MONOTONIC), then "done
 * BLOCKS". With --select-sleep: blocked once, by a select() on no descriptors (a sleep, as
 * CPython 3.10's time.sleep makes it) in selecting_handler. With --second-set: no blocks; twice the
 * thread waits in a second epoll instance it keeps, as PostgreSQL's backends wait for their latch
 * (latch_handler): a thread of two wait sets, not an event loop. */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_NS 200000000ull
#define TICK_NS 5000000ull

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int lock_taken;
static int cmd_pipe[2], data_pipe[2]; /* loop -> helper: what to do; helper -> loop: data */
static int latch_set;		      /* --second-set: the epoll instance kept for data_pipe */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec d = {ns / 1000000000ull, ns % 1000000000ull};

	nanosleep(&d, NULL);
}

static void report(const char *cause, const char *func, uint64_t t0)
{
	printf("block %s %s %llu %llu\n", cause, func, (unsigned long long)t0,
	       (unsigned long long)(now_ns() - t0));
	fflush(stdout);
}

/* Not a loop thread (it never polls): holds the lock, or writes the pipe, a block's time late. */
static void *helper(void *arg)
{
	char c;

	while (read(cmd_pipe[0], &c, 1) == 1) {
		if (c == 'L') {
			pthread_mutex_lock(&held_lock);
			atomic_store(&lock_taken, 1);
			sleep_ns(BLOCK_NS);
			pthread_mutex_unlock(&held_lock);
		} else {
			sleep_ns(BLOCK_NS);
			if (write(data_pipe[1], "d", 1) != 1)
				break;
		}
	}
	return arg;
}

__attribute__((noinline)) static void sleepy_handler(void)
{
	uint64_t t0 = now_ns();

	sleep_ns(BLOCK_NS);
	report("sleep", "sleepy_handler", t0);
}

__attribute__((noinline)) static void selecting_handler(void)
{
	struct timeval tv = {0, BLOCK_NS / 1000};
	uint64_t t0 = now_ns();

	select(0, NULL, NULL, NULL, &tv);
	report("sleep", "selecting_handler", t0);
}

__attribute__((noinline)) static void busy_handler(void)
{
	volatile uint64_t n = 0;
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < BLOCK_NS)
		for (int i = 0; i < 100000; i++) /* work between the clock reads */
			n++;
	report("cpu", "busy_handler", t0);
}

__attribute__((noinline)) static void locked_handler(void)
{
	uint64_t t0 = now_ns();

	if (write(cmd_pipe[1], "L", 1) != 1)
		return;
	while (!atomic_load(&lock_taken))
		; /* the helper takes it soon (later on a loaded machine: the block is longer) */
	pthread_mutex_lock(&held_lock);
	pthread_mutex_unlock(&held_lock);
	report("lock", "locked_handler", t0);
}

__attribute__((noinline)) static void reading_handler(void)
{
	uint64_t t0 = now_ns();
	char c;

	if (write(cmd_pipe[1], "R", 1) != 1 || read(data_pipe[0], &c, 1) != 1)
		return;
	report("io", "reading_handler", t0);
}

/* Waits until data_pipe is readable in epoll instance EP, and reads it. */
static void wait_data(int ep)
{
	struct epoll_event got;
	char c;

	if (write(cmd_pipe[1], "R", 1) != 1)
		return;
	while (epoll_wait(ep, &got, 1, -1) != 1)
		;
	if (read(data_pipe[0], &c, 1) != 1)
		perror("epoll_loop: read");
}

__attribute__((noinline)) static void selector_handler(void)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint64_t t0 = now_ns();
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, data_pipe[0], &ev))
		return;
	wait_data(ep);
	close(ep);
	report("io", "selector_handler", t0);
}

__attribute__((noinline)) static void latch_handler(void)
{
	wait_data(latch_set);
}

int main(int argc, char **argv)
{
	static void (*const handlers[])(void) = {sleepy_handler, busy_handler, locked_handler,
						 reading_handler, selector_handler};
	static void (*const selecting[])(void) = {selecting_handler};
	static void (*const latching[])(void) = {latch_handler, latch_handler};
	bool select_sleep = argc > 1 && !strcmp(argv[1], "--select-sleep");
	bool second_set = argc > 1 && !strcmp(argv[1], "--second-set");
	void (*const *run)(void) = select_sleep ? selecting : second_set ? latching : handlers;
	unsigned nblocks = select_sleep ? 1 : second_set ? 2 : 5;
	struct itimerspec its = {{0, TICK_NS}, {0, TICK_NS}};
	struct epoll_event ev = {.events = EPOLLIN}, got;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned ticks = 0, blocks = 0;
	pthread_t t;

	if (tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &its, NULL) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) || pipe(cmd_pipe) || pipe(data_pipe) ||
	    pthread_create(&t, NULL, helper, NULL)) {
		perror("epoll_loop");
		return 1;
	}
	latch_set = second_set ? epoll_create1(EPOLL_CLOEXEC) : -1;
	if (second_set &&
	    (latch_set < 0 || epoll_ctl(latch_set, EPOLL_CTL_ADD, data_pipe[0], &ev))) {
		perror("epoll_loop: second set");
		return 1;
	}
	/* at 0.3, 0.7, 1.1, 1.5 and 1.9 s of ticks (the ticks a block swallows count once) */
	while (ticks < 60 + 80 * nblocks) {
		uint64_t expired;

		if (epoll_wait(ep, &got, 1, 1000) != 1 ||
		    read(tfd, &expired, sizeof(expired)) != sizeof(expired))
			continue;
		ticks += expired;
		if (ticks >= 60 + 80 * blocks && blocks < nblocks)
			run[blocks++]();
	}
	close(cmd_pipe[1]); /* the helper reads EOF and ends */
	pthread_join(t, NULL);
	printf("done %u\n", second_set ? 0 : blocks);
	return 0;
}
