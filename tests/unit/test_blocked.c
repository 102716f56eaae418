/* test_blocked.c - blocked__scan against real child processes whose threads sleep on a held
 * mutex, a PI mutex and futex_waitv: the lock words, the owner and the stack copy are checked. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inspect/blocked.h"
#include "bpf/events.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2	/* FUTEX2_SIZE_U32 in newer headers */
#endif

#define SMALL_STACK (64 * 1024)
#define PAD_BYTE 0xa5

/* The child is a fork of this process: these globals have the same addresses in both. */
static pthread_mutex_t plain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pi_lock;
static uint32_t waitv_word;

/* What the child tells the parent, through a pipe, once every thread is in place. */
struct child_info {
	pid_t holder, deep_waiter, small_waiter, pi_waiter, waitv_waiter;
	uint64_t small_top;	/* the end of the small waiter's stack; a PROT_NONE page follows */
};

static struct child_info info;	/* the child's own copy, filled in by its threads */
static atomic_int holding, started;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *holder(void *arg)
{
	(void)arg;
	info.holder = gettid_();
	pthread_mutex_lock(&plain_lock);
	pthread_mutex_lock(&pi_lock);
	atomic_store(&holding, 1);
	for (;;)
		pause();
	return NULL;
}

/* Waits from under a 128 KiB frame of known bytes, so that a copy from sp (BLOCKED_STACK_MAX)
 * is whole and must show those bytes. */
static void *deep_waiter(void *arg)
{
	char pad[131072];

	(void)arg;
	memset(pad, PAD_BYTE, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
	info.deep_waiter = gettid_();
	atomic_fetch_add(&started, 1);
	pthread_mutex_lock(&plain_lock);
	__asm__ volatile("" : : "r"(pad) : "memory");
	return NULL;
}

static void *small_waiter(void *arg)
{
	(void)arg;
	info.small_waiter = gettid_();
	atomic_fetch_add(&started, 1);
	pthread_mutex_lock(&plain_lock);
	return NULL;
}

static void *pi_waiter(void *arg)
{
	(void)arg;
	info.pi_waiter = gettid_();
	atomic_fetch_add(&started, 1);
	pthread_mutex_lock(&pi_lock);
	return NULL;
}

static void *waitv_waiter(void *arg)
{
	struct futex_waitv wv = {.val = 0, .uaddr = (uintptr_t)&waitv_word, .flags = FUTEX_32};

	(void)arg;
	info.waitv_waiter = gettid_();
	atomic_fetch_add(&started, 1);
	for (;;)
		syscall(SYS_futex_waitv, &wv, 1, 0, NULL, CLOCK_MONOTONIC);
	return NULL;
}

static void spawn(void *(*fn)(void *), pthread_attr_t *attr)
{
	pthread_t t;

	if (pthread_create(&t, attr, fn, NULL))
		_exit(3);
}

/* The child: one holder of both mutexes, then the waiters; reports their tids and pauses. */
static void run_child(int fd)
{
	size_t page = sysconf(_SC_PAGESIZE);
	pthread_mutexattr_t ma;
	pthread_attr_t attr;
	uint8_t *mem;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&pi_lock, &ma);
	spawn(holder, NULL);
	while (!atomic_load(&holding))
		usleep(1000);
	/* a stack with an unreadable page right above it: the copy must stop there */
	mem = mmap(NULL, SMALL_STACK + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (mem == MAP_FAILED || mprotect(mem + SMALL_STACK, page, PROT_NONE))
		_exit(3);
	info.small_top = (uintptr_t)mem + SMALL_STACK;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, mem, SMALL_STACK);
	spawn(small_waiter, &attr);
	spawn(deep_waiter, NULL);
	spawn(pi_waiter, NULL);
	spawn(waitv_waiter, NULL);
	while (atomic_load(&started) < 4)
		usleep(1000);
	if (write(fd, &info, sizeof(info)) != sizeof(info))
		_exit(3);
	for (;;)
		pause();
}

static pid_t start_child(struct child_info *ci)
{
	int fds[2];
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		run_child(fds[1]);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], ci, sizeof(*ci)), (ssize_t)sizeof(*ci),
		     "the child did not start");
	close(fds[0]);
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static const struct blocked_wait *find(const struct blocked_wait *w, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].tid == tid)
			return &w[i];
	return NULL;
}

/* Scans until every waiter of the child is seen asleep (they may still be on their way). */
static void scan_all(pid_t pid, const struct child_info *ci, struct blocked_wait **w, size_t *n)
{
	pid_t want[] = {ci->deep_waiter, ci->small_waiter, ci->pi_waiter, ci->waitv_waiter};

	for (int tries = 0; tries < 500; tries++) {
		size_t found = 0;

		cr_assert_eq(blocked__scan(pid, w, n), 0);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			found += find(*w, *n, want[i]) != NULL;
		if (found == sizeof(want) / sizeof(want[0]))
			return;
		blocked__free(*w, *n);
		usleep(10000);
	}
	cr_assert_fail("the child's waiters were never all seen blocked");
}

Test(blocked, finds_threads_waiting_on_a_held_mutex_and_its_owner, .timeout = 30)
{
	struct child_info ci;
	struct blocked_wait *w;
	const struct blocked_wait *b;
	size_t n;
	pid_t pid = start_child(&ci);

	scan_all(pid, &ci, &w, &n);
	b = find(w, n, ci.small_waiter);
	cr_assert_eq(b->uaddr, (uintptr_t)&plain_lock);
	cr_assert_eq(b->fclass, LS_FUTEX_WAIT);
	cr_assert_eq(b->op & 0x7f, 0, "op %#x is not FUTEX_WAIT", b->op);
	cr_assert_eq(b->val, 2, "glibc sleeps on a mutex that is locked with waiters (2)");
	cr_assert(b->words_ok);
	cr_assert_eq(b->words[0], 2);
	cr_assert_eq((pid_t)b->words[2], ci.holder, "__owner %u, holder %d", b->words[2],
		     ci.holder);
	cr_assert_neq(b->ip, 0);
	cr_assert_neq(b->sp, 0);
	cr_assert_not_null(b->stack);
	cr_assert_gt(b->stack_len, 0);
	b = find(w, n, ci.deep_waiter);
	cr_assert_eq(b->uaddr, (uintptr_t)&plain_lock);
	cr_assert_eq((pid_t)b->words[2], ci.holder);
	/* the holder sleeps in pause(), not in a futex: it is not a waiter */
	cr_assert_null(find(w, n, ci.holder));
	cr_assert_null(find(w, n, pid));
	for (size_t i = 1; i < n; i++)
		cr_assert_lt(w[i - 1].tid, w[i].tid, "not sorted by tid");
	blocked__free(w, n);
	stop_child(pid);
}

Test(blocked, copies_the_stack_up_to_the_end_of_its_mapping, .timeout = 30)
{
	struct child_info ci;
	struct blocked_wait *w;
	const struct blocked_wait *b;
	size_t n, run = 0, longest = 0;
	pid_t pid = start_child(&ci);

	scan_all(pid, &ci, &w, &n);
	/* far from its top: a whole copy, and the waiting function's frame is in it */
	b = find(w, n, ci.deep_waiter);
	cr_assert_eq(b->stack_len, BLOCKED_STACK_MAX);
	for (size_t i = 0; i < b->stack_len; i++) {
		run = b->stack[i] == PAD_BYTE ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	cr_assert_geq(longest, 8192, "the waiter's own frame is not in the copy (%zu)", longest);
	/* near its top, with an unreadable page above: exactly what lies between sp and the top */
	b = find(w, n, ci.small_waiter);
	cr_assert(b->sp < ci.small_top && b->sp >= ci.small_top - SMALL_STACK, "sp %#lx",
		  (unsigned long)b->sp);
	cr_assert_lt(ci.small_top - b->sp, BLOCKED_STACK_MAX, "test set-up: too deep");
	cr_assert_eq(b->stack_len, ci.small_top - b->sp, "copied %zu, mapped %lu", b->stack_len,
		     (unsigned long)(ci.small_top - b->sp));
	blocked__free(w, n);
	stop_child(pid);
}

Test(blocked, pi_mutex_and_futex_waitv, .timeout = 30)
{
	struct child_info ci;
	struct blocked_wait *w;
	const struct blocked_wait *b;
	size_t n;
	pid_t pid = start_child(&ci);

	scan_all(pid, &ci, &w, &n);
	b = find(w, n, ci.pi_waiter);
	cr_assert_eq(b->uaddr, (uintptr_t)&pi_lock);
	cr_assert_eq(b->fclass, LS_FUTEX_LOCK_PI);
	cr_assert((b->op & 0x7f) == 6 || (b->op & 0x7f) == 13, "op %#x", b->op);
	/* a PI futex word is the owner's tid (with flag bits above) */
	cr_assert_eq((pid_t)(b->words[0] & 0x3fffffff), ci.holder);
	b = find(w, n, ci.waitv_waiter);
	cr_assert_eq(b->fclass, LS_FUTEX_WAITV);
	cr_assert_eq(b->uaddr, (uintptr_t)&waitv_word, "uaddr %#lx, want the vector's first word",
		     (unsigned long)b->uaddr);
	cr_assert_eq(b->op, 0);
	cr_assert_eq(b->val, 0);
	cr_assert(b->words_ok);
	blocked__free(w, n);
	stop_child(pid);
}

Test(blocked, a_process_that_waits_on_nothing_has_no_entries, .timeout = 30)
{
	struct blocked_wait *w = (void *)1;
	size_t n = 1;
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	usleep(50000);
	cr_assert_eq(blocked__scan(pid, &w, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(w);
	blocked__free(w, n);
	stop_child(pid);
}

Test(blocked, a_process_that_is_gone_is_esrch)
{
	struct blocked_wait *w = (void *)1;
	size_t n = 1;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	cr_assert_eq(blocked__scan(pid, &w, &n), -ESRCH);
	cr_assert_null(w);
	cr_assert_eq(n, 0);
}

/* Threads that are born, wait briefly and exit all the time: entries may come and go, but the
 * scan never fails and what it returns is whole. */
static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;

static void *churner(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&churn_lock);
	usleep(200);
	pthread_mutex_unlock(&churn_lock);
	return NULL;
}

static void run_churn(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		pthread_t t[8];

		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, churner, NULL);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
	}
}

Test(blocked, threads_that_come_and_go_do_not_break_the_scan, .timeout = 60)
{
	size_t seen = 0, scans = 0;
	struct timespec t0, t;
	pid_t pid = fork();

	if (pid == 0)
		run_churn();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct blocked_wait *w;
		size_t n;

		cr_assert_eq(blocked__scan(pid, &w, &n), 0);
		for (size_t j = 0; j < n; j++) {
			cr_assert_gt(w[j].tid, 0);
			cr_assert_leq(w[j].stack_len, BLOCKED_STACK_MAX);
			cr_assert_eq(w[j].stack == NULL, w[j].stack_len == 0);
		}
		seen += n;
		scans++;
		blocked__free(w, n);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 2);	/* 1 to 2 s of scanning */
	cr_log_info("churn: %zu waits seen in %zu scans", seen, scans);
	/* the child's main thread sleeps in pthread_join most of the time: a futex wait */
	cr_assert_gt(seen, 0, "%zu scans of a churning process never saw a wait", scans);
	stop_child(pid);
}

/* The recorder asks again, after the scan, whether a thread still sleeps in the wait it found:
 * the same call at the same place, not merely some futex wait. */
Test(blocked, still_waiting_is_true_only_for_the_same_wait, .timeout = 30)
{
	struct child_info ci;
	struct blocked_wait *w, other;
	const struct blocked_wait *b;
	size_t n;
	pid_t pid = start_child(&ci);

	scan_all(pid, &ci, &w, &n);
	b = find(w, n, ci.deep_waiter);
	cr_assert(blocked__still_waiting(pid, b));
	other = *b;
	other.uaddr += 4;
	cr_assert_not(blocked__still_waiting(pid, &other), "another futex word");
	other = *b;
	other.sp += 16;
	cr_assert_not(blocked__still_waiting(pid, &other), "another place");
	other = *b;
	other.tid = ci.holder;
	cr_assert_not(blocked__still_waiting(pid, &other), "a thread asleep outside a futex");
	stop_child(pid);
	cr_assert_not(blocked__still_waiting(pid, b), "a thread that is gone");
	blocked__free(w, n);
}

/* An event loop waits in epoll_wait, or in select/poll over its descriptors; select or poll over
 * none is a sleep (CPython 3.10's time.sleep: pselect6(0, NULL, NULL, NULL, &ts, NULL)). */
Test(blocked, a_poll_over_no_descriptors_is_no_poll)
{
	static const struct {
		const char *line;
		bool polls;
	} cases[] = {
		{ "232 0x4 0x7ffd10 0x20 0xffffffff 0x0 0x0 0x7ffd00 0x7f01", true },
		{ "281 0x4 0x7ffd10 0x20 0xa 0x0 0x8 0x7ffd00 0x7f01", true },
		/* time.sleep on 3.10 */
		{ "270 0x0 0x0 0x0 0x0 0x7ffd20 0x0 0x7ffd00 0x7f01", false },
		{ "270 0x6 0x7ffd30 0x0 0x0 0x7ffd20 0x0 0x7ffd00 0x7f01", true },
		{ "23 0x0 0x0 0x0 0x0 0x7ffd20 0x0 0x7ffd00 0x7f01", false },	/* select */
		{ "7 0x7ffd30 0x2 0x3e8 0x0 0x0 0x0 0x7ffd00 0x7f01", true },	/* poll */
		{ "7 0x0 0x0 0x3e8 0x0 0x0 0x0 0x7ffd00 0x7f01", false },
		{ "271 0x0 0x0 0x7ffd20 0x0 0x8 0x0 0x7ffd00 0x7f01", false },	/* ppoll */
		{ "35 0x7ffd20 0x0 0x0 0x0 0x0 0x0 0x7ffd00 0x7f01", false },	/* nanosleep */
		{ "-1 0x7ffd00 0x7f01", false },
		{ "running", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct blocked_sys s;

		cr_assert_eq(blocked__parse_syscall(cases[i].line, &s), 0, "%s", cases[i].line);
		cr_expect_eq(blocked__polls(&s), cases[i].polls, "%s", cases[i].line);
	}
}
