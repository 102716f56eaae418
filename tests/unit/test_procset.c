/* test_procset.c - events routed to the collector of their thread's process, on real processes
 * (children of the test): a thread already gone from /proc is still placed where it is known. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf/events.h"
#include "capture/collector.h"
#include "capture/procset.h"

static pid_t kids[2];

static pid_t sleeper(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void teardown(void)
{
	for (size_t i = 0; i < 2; i++)
		if (kids[i] > 0)
			reap(kids[i]);
}

TestSuite(procset, .fini = teardown);

static int thread_exit(struct procset *s, uint32_t tid)
{
	struct ls_ev_thread ev;

	memset(&ev, 0, sizeof(ev));
	ev.h.type = LS_EV_THREAD_EXIT;
	ev.h.tid = tid;
	ev.group_dead = 1;
	memcpy(ev.comm, "sleeper", 8);
	return procset__handle(s, &ev, sizeof(ev));
}

/* The first process's main thread, reaped before its exit is handled (/proc says nothing of it
 * then), is the first's: it was once counted as a thread of no known process. */
Test(procset, a_process_gone_from_proc_is_still_placed, .timeout = 30)
{
	struct collector *first, *second;
	struct procset *s;

	kids[0] = sleeper();
	kids[1] = sleeper();
	first = collector__new(kids[0], NULL, 0);
	cr_assert_not_null(first);
	s = procset__new(first, NULL, 0, NULL, NULL);
	cr_assert_not_null(s);
	second = procset__add(s, kids[1], kids[1]);
	cr_assert_not_null(second);
	reap(kids[0]);
	reap(kids[1]);
	kids[0] = kids[1] = 0;
	cr_assert_eq(procset__of(s, collector__tgid(first)), first);
	cr_assert_eq(procset__of(s, collector__tgid(second)), second);
	cr_assert_eq(thread_exit(s, collector__tgid(first)), 0);
	cr_assert_eq(thread_exit(s, collector__tgid(second)), 0);
	cr_assert_eq(procset__unplaced(s), 0);
	/* a thread of no process of the set (init's) is counted, and given to the first */
	cr_assert_eq(procset__of(s, 1), first);
	cr_assert_eq(procset__unplaced(s), 1);
	procset__free(s);
	collector__free(first);
}
