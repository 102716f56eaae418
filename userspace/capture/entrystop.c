/* entrystop.c - holds a launched program at its entry point, so that loading the symbols of
 * what it mapped costs the recorder time before the program runs rather than CPU beside it. */
#include "capture/entrystop.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define INT3 0xcc

int entrystop__arm(void)
{
	return ptrace(PTRACE_TRACEME, 0, NULL, NULL) ? -errno : 0;
}

static uint64_t auxv_entry(pid_t pid)
{
	char path[64];
	uint64_t av[2];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (read(fd, av, sizeof(av)) == sizeof(av) && av[0] != AT_NULL) {
		if (av[0] == AT_ENTRY) {
			close(fd);
			return av[1];
		}
	}
	close(fd);
	return 0;
}

/* Waits for the next stop of the child. A signal meant for the program on the way (not our
 * SIGTRAP) is passed on. 0 at a SIGTRAP stop, -ECHILD (and *STATUS) if it ended. */
static int next_trap(pid_t pid, int *status)
{
	for (;;) {
		if (waitpid(pid, status, 0) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!WIFSTOPPED(*status))
			return -ECHILD;
		if (WSTOPSIG(*status) == SIGTRAP)
			return 0;
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(*status)))
			return -errno;
	}
}

int entrystop__hold(struct entrystop *e, pid_t pid, int *status)
{
	struct user_regs_struct regs;
	bool poked = false;
	long word = 0;
	int err;

	*e = (struct entrystop){.pid = pid};
	err = next_trap(pid, status);	/* the stop after exec */
	if (err)
		return err;
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_EXITKILL);
	e->entry = auxv_entry(pid);
	errno = e->entry ? 0 : ENOEXEC;
	if (e->entry)
		word = ptrace(PTRACE_PEEKTEXT, pid, (void *)e->entry, NULL);
	if (errno)
		goto release;
	if (ptrace(PTRACE_POKETEXT, pid, (void *)e->entry, (void *)((word & ~0xffl) | INT3)))
		goto release;
	poked = true;
	if (ptrace(PTRACE_CONT, pid, NULL, NULL))
		goto release;
	err = next_trap(pid, status);
	if (err)
		return err;
	/* back to the entry, its text as it was: released, it runs as if never stopped */
	errno = EPROTO;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) || regs.rip != e->entry + 1)
		goto release;
	regs.rip = e->entry;
	if (ptrace(PTRACE_SETREGS, pid, NULL, &regs) ||
	    ptrace(PTRACE_POKETEXT, pid, (void *)e->entry, (void *)word))
		goto release;
	e->held = true;
	return 0;
release:
	err = -errno;
	if (poked)
		ptrace(PTRACE_POKETEXT, pid, (void *)e->entry, (void *)word);
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return err;
}

int entrystop__release(struct entrystop *e)
{
	if (!e->held)
		return 0;
	e->held = false;
	return ptrace(PTRACE_DETACH, e->pid, NULL, NULL) ? -errno : 0;
}
