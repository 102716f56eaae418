/* events.h - the records that the BPF programs send to the collector through the ring buffer.
 * The only header that both the BPF side and userspace include; sizes are asserted on both sides. */
#ifndef LOCKSCOPE_EVENTS_H
#define LOCKSCOPE_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define LS_EVENTS_VERSION 1

#define LS_MAX_FP_FRAMES 48	/* frame-pointer chain from bpf_get_stack */
#define LS_STACK_SNAP 2048	/* bytes of user stack copied from sp, for CFI unwinding */
#define LS_COMM_LEN 16

enum ls_ev_type {
	LS_EV_WAIT_BEGIN = 1,	/* a target thread entered a futex wait */
	LS_EV_WAIT_END,		/* ... and returned from it */
	LS_EV_WAKE,		/* a target thread woke another target thread through a futex */
	LS_EV_THREAD_NEW,	/* clone of a thread in the target */
	LS_EV_THREAD_EXIT,	/* a target thread exited */
	LS_EV_COMM,		/* a target thread renamed itself */
	LS_EV_ACQUIRE,		/* full mode: a lock call returned with the lock taken */
	LS_EV_RELEASE,		/* full mode: an unlock call began */
	LS_EV_DESTROY,		/* full mode: a lock was destroyed */
};

/* The lock API a uprobe sits on, and how it was called: the probe's attach cookie. */
enum ls_api {
	LS_API_MUTEX = 1,
	LS_API_RWLOCK,
	LS_API_SEM,
	LS_API_COND,		/* pthread_cond_*wait: releases its mutex, retakes it on return */
	LS_API__MASK = 0xff,
	LS_API_TRY = 1 << 8,
	LS_API_SHARED = 1 << 9,
	LS_API_TIMED = 1 << 10,
	LS_API_UNLOCK = 1 << 12,	/* the probe is on an unlock call */
	LS_API_DESTROY = 1 << 13,	/* ... on a destroy call */
	LS_API_PY = 1 << 14,		/* CPython's lock: taken when the call returns 1 */
};

/* Futex operation classes, as the recorder stores them (the raw op is kept too). */
enum ls_futex_class {
	LS_FUTEX_WAIT = 1,	/* FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI */
	LS_FUTEX_LOCK_PI,	/* FUTEX_LOCK_PI, FUTEX_LOCK_PI2: the word holds the owner's TID */
	LS_FUTEX_WAITV,		/* futex_waitv(2): the first futex of the vector */
};

/* Where a thread was: registers at the probe, the frame-pointer chain, and a copy of the user
 * stack from sp. The record is followed by snap_len bytes of stack (LS_STACK_SNAP at most) and
 * is sized to what was copied. */
struct ls_ev_stack {
	__u64 ip, sp, bp;
	__s32 nfp;		/* bytes in fp[] (bpf_get_stack's return), or a negative error */
	__u32 snap_len;
	__u64 fp[LS_MAX_FP_FRAMES];
};

struct ls_ev_hdr {
	__u32 type;
	__u32 tid;
	__u64 ts;		/* bpf_ktime_get_ns() */
};

/* The mutex words at the futex address, read at wait begin: glibc's pthread_mutex_t starts
 * with __lock, __count, __owner, __nusers, __kind (x86-64). Userspace judges whether they
 * really are a mutex; BPF only copies. */
struct ls_ev_wait_begin {
	struct ls_ev_hdr h;
	__u64 uaddr;
	__u32 op;		/* raw futex op */
	__u32 val;		/* expected value (FUTEX_WAIT*) */
	__u32 words[6];		/* 24 bytes at uaddr; zero if unreadable */
	__u32 words_ok;
	__u32 fclass;		/* enum ls_futex_class */
	/* In full mode a lock call's return probe replaces its return address on the stack with
	 * the kernel's trampoline; the entry probe kept the original: the unwinder puts it back. */
	__u64 ra_slot;		/* where the return address lives; 0: nothing to patch */
	__u64 ra;		/* ... and what it was */
	__u64 ra2_slot;		/* ... and of a probed call nested in it (CPython's lock runs */
	__u64 ra2;		/* sem_clockwait), hidden the same way */
	__u64 call_lock;	/* full mode: the lock of the lock call this wait is in; 0: none */
	__u32 call_api;		/* ... and its enum ls_api */
	__u32 pad;
	struct ls_ev_stack st;
};

/* A lock call of full mode. ACQUIRE carries the stack where the lock was taken. */
struct ls_ev_lock {
	struct ls_ev_hdr h;
	__u64 addr;		/* the lock (mutex, rwlock, sem; the mutex for COND) */
	__u64 call_ts;		/* ACQUIRE: when the lock call began */
	__u32 api;		/* enum ls_api with its flags */
	__u32 pad;
	struct ls_ev_stack st;	/* ACQUIRE only: RELEASE and DESTROY end before it */
};

struct ls_ev_wait_end {
	struct ls_ev_hdr h;
	__s64 ret;		/* syscall return: 0 woken, -ETIMEDOUT, -EAGAIN, -EINTR, ... */
};

struct ls_ev_wake {
	struct ls_ev_hdr h;	/* tid: the waker; ts: when the wakee was woken */
	__u64 uaddr;
	__u64 call_ts;		/* when the waker entered its futex wake call */
	__u32 wakee;
	__u32 op;
};

struct ls_ev_thread {
	struct ls_ev_hdr h;	/* tid: the new, exiting or renamed thread */
	__u32 parent;		/* LS_EV_THREAD_NEW: the creating thread */
	__s32 exit_code;	/* LS_EV_THREAD_EXIT */
	__u32 group_dead;	/* LS_EV_THREAD_EXIT: the last thread, the process is gone */
	__u32 pad;
	char comm[LS_COMM_LEN];
};

_Static_assert(sizeof(struct ls_ev_hdr) == 16, "ls_ev_hdr layout");
_Static_assert(sizeof(struct ls_ev_wait_begin) == 16 + 8 + 8 + 24 + 8 + 48 + sizeof(struct ls_ev_stack),
	       "ls_ev_wait_begin layout");
_Static_assert(sizeof(struct ls_ev_wait_end) == 24, "ls_ev_wait_end layout");
_Static_assert(sizeof(struct ls_ev_wake) == 40, "ls_ev_wake layout");
_Static_assert(sizeof(struct ls_ev_stack) == 32 + 8 * LS_MAX_FP_FRAMES, "ls_ev_stack layout");
_Static_assert(sizeof(struct ls_ev_lock) == 40 + sizeof(struct ls_ev_stack), "ls_ev_lock layout");
_Static_assert(sizeof(struct ls_ev_thread) == 48, "ls_ev_thread layout");

#endif
