/* blocked.h - threads of a process that were already asleep in a futex wait when we attached:
 * found from /proc/PID/task/TID/syscall, with their lock words and a copy of their user stack. */
#ifndef LOCKSCOPE_BLOCKED_H
#define LOCKSCOPE_BLOCKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BLOCKED_STACK_MAX 16384	/* bytes of user stack copied from sp */

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
/* True while W's thread still sleeps in the call blocked__scan() found: the same futex wait, at
 * the same place. */
bool blocked__still_waiting(pid_t pid, const struct blocked_wait *w);
/* Frees the array from blocked__scan() and its stacks. Accepts NULL. */
void blocked__free(struct blocked_wait *w, size_t n);

#endif
