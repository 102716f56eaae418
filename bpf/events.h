/* events.h - the records that the BPF programs send to the collector through the ring buffer.
 * The only header that both the BPF side and userspace include; sizes are asserted on both sides. */
#ifndef LOCKSCOPE_EVENTS_H
#define LOCKSCOPE_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define LS_EVENTS_VERSION 2	/* 2: a wait's Python frames only for a CPython target */

#define LS_MAX_FP_FRAMES 48	/* frame-pointer chain from bpf_get_stack */
#define LS_STACK_SNAP 2048	/* bytes of user stack copied from sp, for CFI unwinding */
#define LS_LOOP_SNAP 16384	/* ... for a loop block's stack: rare, and a blocked handler may be
				 * deep under frames of kilobytes (redis' debugCommand) */
#define LS_COMM_LEN 16

enum ls_ev_type {
	LS_EV_WAIT_BEGIN = 1,	/* a target thread entered a futex wait */
	LS_EV_WAIT_END,		/* ... and returned from it */
	LS_EV_WAKE,		/* a target thread woke another target thread through a futex */
	LS_EV_THREAD_NEW,	/* clone of a thread in the target (or a new process, followed) */
	LS_EV_THREAD_EXIT,	/* a target thread exited */
	LS_EV_COMM,		/* a target thread renamed itself */
	LS_EV_ACQUIRE,		/* full mode: a lock call returned with the lock taken */
	LS_EV_RELEASE,		/* full mode: an unlock call began */
	LS_EV_DESTROY,		/* full mode: a lock was destroyed */
	LS_EV_LOOP_SAMPLE,	/* a loop thread away from its poll call past the threshold */
	LS_EV_LOOP_BLOCK,	/* ... that has returned to it: the block's accounting */
	LS_EV_WAIT_END_UNSEEN,	/* a futex call returned that began before the probes went in
				 * (struct ls_ev_wait_end): it may end a wait found at attach */
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

#define LS_PY_FRAMES 16	/* Python frames a wait carries */

/* CPython: a thread's innermost Python frames when it began to wait, read by the BPF side from
 * its thread state. The frames are described later, after the thread may have moved on: these
 * say where it waited. n 0: not known (no CPython, or a thread not found yet). */
struct ls_py_stack {
	__u32 n;
	__u32 pad;
	__u64 more;			/* the frame after the last one here; 0: the chain ends */
	__u64 frame[LS_PY_FRAMES];
	__u64 code[LS_PY_FRAMES];	/* f_code, f_executable */
	__u64 instr[LS_PY_FRAMES];	/* the word at the instruction pointer (3.10: f_lasti) */
	__u8 owner[LS_PY_FRAMES];	/* 3.11+: who owns the frame (C-stack shims are not shown) */
};

/* Where a CPython thread's innermost frame is, from its thread state (the BPF `py_threads` map,
 * tid -> the PyThreadState's address): userspace sets it once it has read the interpreter. */
struct ls_py_where {
	__s32 cframe;	/* offset of the pointer to the _PyCFrame holding the frame pointer
			 * (3.11, 3.12), or -1: the thread state holds it */
	__u32 frame;	/* offset of the innermost frame's pointer there */
	__u32 instr;	/* offset of the instruction pointer in the frame (3.10: f_lasti) */
	__u32 on;		/* nonzero once set */
	__u32 prev, code;	/* offsets in a frame: the next frame out, the code object */
	__s32 owner;		/* ... and the owner byte, or -1 (3.10) */
	__u32 pad2;
	/* a thread not in the map yet is looked for in the main interpreter's list of thread
	 * states: the one whose ident (pthread_self(), the thread pointer) is the thread's */
	__u64 main;		/* address of _PyRuntime's pointer to the main interpreter */
	__u32 threads;		/* offset of its thread list's head in an interpreter */
	__u32 ts_next, ts_ident;	/* offsets in a thread state */
	__u32 pad;
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
#define LS_CLS_ON_CPU LS_OFF__COUNT	/* a loop sample's class: running */

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
	__u16 words_ok;
	/* bytes of py: sizeof(struct ls_py_stack) for a CPython target, else 0, and the record
	 * goes on with st where py would be (everything after py moves up by its size) */
	__u16 py_len;
	__u32 fclass;		/* enum ls_futex_class */
	/* In full mode a lock call's return probe replaces its return address on the stack with
	 * the kernel's trampoline; the entry probe kept the original: the unwinder puts it back. */
	__u64 ra_slot;		/* where the return address lives; 0: nothing to patch */
	__u64 ra;		/* ... and what it was */
	__u64 ra2_slot;		/* ... and of a probed call nested in it (CPython's lock runs */
	__u64 ra2;		/* sem_clockwait), hidden the same way */
	__u64 call_lock;	/* full mode: the lock of the lock call this wait is in; 0: none */
	__u32 call_api;		/* ... and its enum ls_api */
	__u32 lost;		/* events lost so far (low 32 bits), read before this one was
				 * reserved: see ls_ev_lock */
	__u64 path;		/* the key of a call path the collector knows, sent in place of the
				 * stack (st.snap_len and st.nfp are then 0); 0: none */
	struct ls_py_stack py;
	struct ls_ev_stack st;
};

/* A wait that came with its call path's key ends before its frame-pointer chain; one without
 * Python frames (py_len 0) is shorter by LS_WAIT_PY_SIZE. */
#define LS_WAIT_KEYED_SIZE (offsetof(struct ls_ev_wait_begin, st) + offsetof(struct ls_ev_stack, fp))
#define LS_WAIT_PY_SIZE ((__u16)sizeof(struct ls_py_stack))

/* A lock call of full mode. ACQUIRE carries the stack where the lock was taken. */
struct ls_ev_lock {
	struct ls_ev_hdr h;
	__u64 addr;		/* the lock (mutex, rwlock, sem; the mutex for COND) */
	__u64 call_ts;		/* ACQUIRE: when the lock call began */
	__u32 api;		/* enum ls_api with its flags */
	/* Events lost so far over all CPUs (low 32 bits), read before this event was reserved.
	 * A thread whose own event was lost since its previous lock event or wait begin carries
	 * a larger value in its next one: the collector marks the loss in the stream before the
	 * first event carrying a new value, so no held lock outlives its lost release there. */
	__u32 lost;
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
	__u32 new_proc;		/* LS_EV_THREAD_NEW: a new process's first thread (followed) */
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
	__u16 on_cpu;		/* SAMPLE: 1 if BPF took the stack, the thread on CPU (the
				 * sampler's, or as it left the CPU); 0: the recorder read it */
	__u16 cls;		/* SAMPLE: where the thread was: enum ls_off_class off CPU (or
				 * leaving it), LS_CLS_ON_CPU on it */
	__u64 ra_slot, ra, ra2_slot, ra2;	/* SAMPLE on CPU: the return addresses that full
						 * mode's return probes hid (ls_ev_wait_begin) */
	struct ls_ev_stack st;	/* SAMPLE only */
};

/* Call paths: a wait's stack is copied once per call path. Once the collector has unwound a
 * wait's stack, it gives the BPF side the rule of each of its frames (in the `frame_rules` array,
 * at ls_rule_slot() of the frame's pc) and the path's key (ls_path_mix() over its pcs, innermost
 * first, in the `paths` map). A later wait whose snapshot the BPF side unwinds with those rules
 * to a key in `paths` goes out with the key in place of its 2 KiB: the same frames, exactly (but
 * for a 64-bit hash collision), without their copy and unwinding. */
#define LS_RULE_SLOTS 8192	/* a power of two */
#define LS_PATHS_MAX 16384
#define LS_PATH_MAX_FRAMES 32	/* deeper paths are not keyed: their stacks are always copied */

enum ls_rule_flags {
	LS_RULE_USED = 1,
	LS_RULE_EXACT = 2,	/* pc is the innermost frame's (not a return address) */
	LS_RULE_END = 4,	/* the outermost frame: no return address */
	LS_RULE_CFA_BP = 8,	/* the CFA is bp + cfa_off, else sp + cfa_off */
	LS_RULE_BP_SAVED = 16,	/* the caller's bp is at CFA + bp_off, else it is this frame's */
	LS_RULE_BP_LOST = 32,	/* ... or it is not known */
};

/* How to go from a frame at pc to its caller: its return address is at CFA - 8. */
struct ls_frame_rule {
	__u64 pc;
	__s32 cfa_off;
	__s16 bp_off;
	__u8 flags;		/* enum ls_rule_flags */
	__u8 pad;
};

static inline __u32 ls_rule_slot(__u64 pc, __u32 exact)
{
	return (__u32)(((pc ^ exact) * 0x9e3779b97f4a7c15ull) >> 51) & (LS_RULE_SLOTS - 1);
}

#define LS_PATH_SEED 0xcbf29ce484222325ull

static inline __u64 ls_path_mix(__u64 h, __u64 pc)
{
	h = (h ^ pc) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/* A target thread's futex call, in the BPF `inflight` map (key: tid) from its entry to its
 * return: userspace reads it to tell the waits it saw begin from those already under way. */
enum { LS_INFLIGHT_NONE, LS_INFLIGHT_WAIT, LS_INFLIGHT_WAKE };

struct ls_inflight {
	__u64 uaddr;
	__u64 ts;		/* the call's entry: a wait's WAIT_BEGIN has the same ts */
	__u32 op;
	__u32 state;		/* LS_INFLIGHT_*: NONE between calls (the entry is kept) */
};

/* An event loop multiplexes: it waits in epoll_wait on an epoll instance, or in poll or select
 * over two descriptors or more, and keeps returning to that same poll site (the same epoll
 * instance; for poll and select, any such call). A thread waiting on one descriptor (a
 * connection's worker, a socket with a timeout) is no loop, and a loop's call elsewhere is a
 * wait inside its iteration. A gap counts from the LS_LOOP_MIN_POLLS-th call at the site on. */
#define LS_LOOP_MIN_POLLS 3
/* A loop's poll site: the epoll instance's struct file, or this for poll and select. */
#define LS_SITE_POLL 1ull

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
	__u64 site;		/* its poll site (LS_SITE_POLL, or an epoll instance) */
	__s32 site_fd;		/* ... the epoll instance's descriptor; -1 for LS_SITE_POLL */
	__u32 off_class;	/* enum ls_off_class of the current stretch off CPU */
	__u32 polls;		/* poll calls at its site seen (saturating) */
	__s32 gap_epfd;		/* the epoll instance it made in the current gap; -1: none */
	__u32 not_loop;		/* 1: it waits in two epoll instances of its own, not a loop */
	__u32 pad;
};

/* A target thread's futex call in progress, in the BPF `inflight` map (key: tid). Userspace
 * reads it to tell whether a wait it handles is still open. */
_Static_assert(sizeof(struct ls_ev_hdr) == 16, "ls_ev_hdr layout");
_Static_assert(sizeof(struct ls_ev_wait_begin) == 16 + 8 + 8 + 24 + 8 + 56 +
		       sizeof(struct ls_py_stack) + sizeof(struct ls_ev_stack),
	       "ls_ev_wait_begin layout");
_Static_assert(sizeof(struct ls_py_where) == 56, "ls_py_where layout");
_Static_assert(sizeof(struct ls_py_stack) == 16 + 25 * LS_PY_FRAMES, "ls_py_stack layout");
_Static_assert(sizeof(struct ls_ev_wait_end) == 24, "ls_ev_wait_end layout");
_Static_assert(sizeof(struct ls_ev_wake) == 40, "ls_ev_wake layout");
_Static_assert(sizeof(struct ls_ev_stack) == 32 + 8 * LS_MAX_FP_FRAMES, "ls_ev_stack layout");
_Static_assert(sizeof(struct ls_ev_lock) == 40 + sizeof(struct ls_ev_stack), "ls_ev_lock layout");
_Static_assert(sizeof(struct ls_ev_thread) == 48, "ls_ev_thread layout");
_Static_assert(sizeof(struct ls_ev_loop) == 72 + 8 * LS_OFF__COUNT + sizeof(struct ls_ev_stack),
	       "ls_ev_loop layout");

_Static_assert(sizeof(struct ls_loop_state) == 136 + 8 * LS_OFF__COUNT, "ls_loop_state layout");
_Static_assert(sizeof(struct ls_inflight) == 24, "ls_inflight layout");
_Static_assert(sizeof(struct ls_frame_rule) == 16, "ls_frame_rule layout");
_Static_assert(LS_RULE_SLOTS == 1 << 13, "ls_rule_slot takes 13 bits");

#endif
