/* blocked.h - threads of a process that were already asleep in a futex wait when we attached:
 * found from /proc/PID/task/TID/syscall, with their lock words and a copy of their user stack. */
#ifndef LOCKSCOPE_BLOCKED_H
#define LOCKSCOPE_BLOCKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BLOCKED_STACK_MAX 65536	/* bytes of user stack copied from sp: enough for the whole
					 * stack of most threads (a dump unwinds to the outermost frame) */

/* One thread asleep in futex(2) with a wait op, or in futex_waitv(2). */
struct blocked_wait {
	pid_t tid;
	uint32_t fclass;	/* enum ls_futex_class (events.h), as the BPF side would say */
	uint64_t uaddr;		/* the futex word; futex_waitv: the first waiter's */
	uint32_t op;		/* raw futex op; 0 for futex_waitv, as the BPF side sends it */
	uint32_t val;		/* the value the thread sleeps on while the word holds it */
	uint32_t words[6];	/* 24 bytes at uaddr: glibc's __lock, __count, __owner, __nusers,
				 * __kind, ... of a pthread_mutex_t */
	bool words_ok;		/* all 24 bytes were readable (zero otherwise) */
	uint64_t ip, sp;	/* user registers at syscall entry */
	uint8_t *stack;		/* stack_len bytes from sp, owned by the array; NULL if none */
	size_t stack_len;	/* up to BLOCKED_STACK_MAX; less where the stack mapping ends */
};

/* Scans every thread of PID. On success returns 0 with *OUT a malloc'd array of *N entries
 * sorted by tid (NULL, 0 when none), freed with blocked__free(). Threads that exit or wake
 * while being read are left out. -ESRCH if PID is gone, -EACCES/-EPERM if not permitted,
 * -ENOMEM; *OUT is then NULL and *N 0. */
int blocked__scan(pid_t pid, struct blocked_wait **out, size_t *n);
/* One thread: reads TID's wait and stack into W. 1: it is blocked in a futex wait (W->stack
 * is then the caller's to free); 0: it is not, or it vanished or moved on while being read;
 * -EACCES/-EPERM: not permitted; -ENOMEM. */
int blocked__read_thread(pid_t pid, pid_t tid, struct blocked_wait *w);
/* TID's user stack while it sleeps (*POLLS: in a poll call, blocked__polls()): its user
 * registers from /proc, and up to *LEN (at most BLOCKED_STACK_MAX) bytes from sp into BUF, *LEN
 * then what was read. 1: read; 0: it is runnable or gone, or moved on while being read;
 * -EACCES/-EPERM: not permitted. */
int blocked__thread_stack(pid_t pid, pid_t tid, bool *polls, uint64_t *ip, uint64_t *sp,
			  uint8_t *buf, size_t *len);
/* True while W's thread still sleeps in the call blocked__scan() found: the same futex wait, at
 * the same place. */
bool blocked__still_waiting(pid_t pid, const struct blocked_wait *w);
/* Frees the array from blocked__scan() and its stacks. Accepts NULL. */
void blocked__free(struct blocked_wait *w, size_t n);

/* ---- the pieces, for reading threads that are not in a futex wait ---- */

/* What /proc/PID/task/TID/syscall says of a thread. */
enum blocked_sys_state {
	BLOCKED_SYS_RUNNING,	/* "running": on a CPU; its registers are not to be had here */
	BLOCKED_SYS_CALL,	/* asleep inside system call NR */
	BLOCKED_SYS_NONE,	/* "-1 SP PC": asleep outside any system call (stopped, faulting) */
};

struct blocked_sys {
	enum blocked_sys_state state;
	long nr;		/* BLOCKED_SYS_CALL: the system call's number */
	uint64_t args[6];	/* ... and its arguments */
	uint64_t sp, ip;	/* user registers; 0 for BLOCKED_SYS_RUNNING */
};

/* Reads TID's /proc/PID/task/TID/syscall line into BUF. 0, or a negative errno: -ENOENT or
 * -ESRCH when the thread is gone, -EACCES/-EPERM when not permitted. */
int blocked__syscall_line(pid_t pid, pid_t tid, char *buf, size_t len);
/* Parses such a line into *S. 0, or -EINVAL if it has none of the three forms. */
int blocked__parse_syscall(const char *line, struct blocked_sys *s);
/* S waits in a poll call (epoll_wait, poll, select and their variants) for descriptors, as an
 * event loop does. A select or poll over none is a sleep (CPython 3.10's time.sleep). */
bool blocked__polls(const struct blocked_sys *s);
/* True if futex(2)'s OP (its second argument) puts the caller to sleep on a word. */
bool blocked__futex_waits(uint64_t op);
/* Copies up to LEN bytes (BLOCKED_STACK_MAX at most) from ADDR in PID, without stopping it,
 * stopping at the first unreadable page; returns how many it got (0 if PID is gone). */
size_t blocked__read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);

#endif
