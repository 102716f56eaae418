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
	LS_EV_LOOP_SAMPLE,	/* a loop thread away from its poll call past the threshold */
	LS_EV_LOOP_BLOCK,	/* ... that has returned to it: the block's accounting */
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

/* Where a loop thread's time off CPU went during a gap between poll calls: the system call it
 * was switched out in, or its preemption. */
enum ls_off_class {
	LS_OFF_SLEEP,		/* nanosleep, clock_nanosleep */
	LS_OFF_LOCK,		/* futex, futex_waitv */
	LS_OFF_IO,		/* any other system call */
	LS_OFF_RUNQ,		/* preempted: runnable, waiting for a CPU */
	LS_OFF_OTHER,		/* asleep outside a system call (a page fault, a stop) */
	LS_OFF__COUNT
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

/* A loop thread's gap between poll calls (its return, then the next call): a block once it
 * reaches the threshold. SAMPLE: taken while the gap is still open, with the thread's user stack
 * if it was on CPU (the sampler's); off CPU, the collector reads the stack itself. BLOCK: at the
 * next poll call (ts), the whole gap; no stack. */
struct ls_ev_loop {
	struct ls_ev_hdr h;
	__u64 gap_start;	/* the poll call's return */
	__u64 on_ns;		/* on CPU in the gap, up to ts */
	__u64 off_ns[LS_OFF__COUNT];
	__u32 polls;		/* poll calls the thread had made (saturating) */
	__u32 on_cpu;		/* SAMPLE: 1 if taken on CPU (the stack is the sampler's) */
	struct ls_ev_stack st;	/* SAMPLE only */
};

/* A gap counts from a thread's LS_LOOP_MIN_POLLS-th poll call on: one that polled once or
 * twice (a worker waiting on a socket) is not an event loop. */
#define LS_LOOP_MIN_POLLS 3

/* A gap of the threshold is a block if the loop's own time in it (on CPU, or asleep in a call)
 * is a fifth of the threshold at least: on a loaded machine a well-behaved loop waits for a CPU
 * too, and that alone makes no block; a busy handler that gets a small share of a CPU does. */
#define LS_LOOP_OWN_DIV 5

/* A loop thread's state in the BPF `loops` map (key: tid), written by the thread's own events
 * only; userspace reads it to find loop threads blocked off CPU, or idle in their poll call. */
struct ls_loop_state {
	__u64 gap_start;	/* its last poll call's return; 0 while inside a poll call */
	__u64 poll_since;	/* when it entered the poll call it is in; 0 outside one */
	__u64 on_since;		/* when it last went on CPU; 0 while off */
	__u64 off_since;	/* when it left the CPU during the gap; 0 while on */
	__u64 on_ns;		/* on CPU in the gap, up to on_since */
	__u64 off_ns[LS_OFF__COUNT];	/* off CPU in the gap, up to off_since */
	__u64 sampled;		/* gap_start of the last gap the sampler took a stack in */
	__u64 user_ip, user_sp, user_bp;	/* its user registers when it last left the CPU
						 * in a gap: /proc has no bp, which CFI may need */
	__u64 ra_slot, ra, ra2_slot, ra2;	/* ... and the return addresses that full mode's
						 * return probes hid then (ls_ev_wait_begin) */
	__u32 off_class;	/* enum ls_off_class of the current stretch off CPU */
	__u32 polls;		/* poll calls seen (saturating) */
};

/* A target thread's futex call in progress, in the BPF `inflight` map (key: tid). Userspace
 * reads it to tell whether a wait it handles is still open. */
struct ls_inflight {
	__u64 uaddr;
	__u64 ts;		/* a wait: its WAIT_BEGIN's ts */
	__u32 op;
	__u32 is_wait;
};

_Static_assert(sizeof(struct ls_inflight) == 24, "ls_inflight layout");
_Static_assert(sizeof(struct ls_ev_hdr) == 16, "ls_ev_hdr layout");
_Static_assert(sizeof(struct ls_ev_wait_begin) == 16 + 8 + 8 + 24 + 8 + 48 + sizeof(struct ls_ev_stack),
	       "ls_ev_wait_begin layout");
_Static_assert(sizeof(struct ls_ev_wait_end) == 24, "ls_ev_wait_end layout");
_Static_assert(sizeof(struct ls_ev_wake) == 40, "ls_ev_wake layout");
_Static_assert(sizeof(struct ls_ev_stack) == 32 + 8 * LS_MAX_FP_FRAMES, "ls_ev_stack layout");
_Static_assert(sizeof(struct ls_ev_lock) == 40 + sizeof(struct ls_ev_stack), "ls_ev_lock layout");
_Static_assert(sizeof(struct ls_ev_thread) == 48, "ls_ev_thread layout");
_Static_assert(sizeof(struct ls_ev_loop) == 40 + 8 * LS_OFF__COUNT + sizeof(struct ls_ev_stack),
	       "ls_ev_loop layout");

_Static_assert(sizeof(struct ls_loop_state) == 112 + 8 * LS_OFF__COUNT, "ls_loop_state layout");

_Static_assert(sizeof(struct ls_loop_state) == 112 + 8 * LS_OFF__COUNT, "ls_loop_state layout");

#endif
