/* lockscope.bpf.c - the kernel half of the recorder: futex waits and wakes of the target's
 * threads, their thread lifecycle; filter, timestamp, copy, emit. Judgement is userspace's. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* x86-64 system call numbers: the futex calls, ... */
#define NR_FUTEX 202
#define NR_FUTEX_WAITV 449
#define NR_FUTEX_WAKE 454	/* Linux 6.7 */
#define NR_FUTEX_WAIT 455
#define NR_FUTEX_REQUEUE 456

/* ... the calls an event loop waits in, and those whose sleep names a block's cause */
#define NR_POLL 7
#define NR_SELECT 23
#define NR_EPOLL_WAIT 232
#define NR_PSELECT6 270
#define NR_PPOLL 271
#define NR_EPOLL_PWAIT 281
#define NR_EPOLL_PWAIT2 441
#define NR_EPOLL_CREATE 213 /* ... and make an epoll instance */
#define NR_EPOLL_CREATE1 291
#define NR_NANOSLEEP 35
#define NR_CLOCK_NANOSLEEP 230

#define LS_XOL_SLOT_BYTES 128	/* UPROBE_XOL_SLOT_BYTES: a slot of the uprobe page */

#define FUTEX_CMD_MASK 0x7f	/* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
#define FUTEX_TID_MASK 0x3fffffff

const volatile bool capture_stacks = true;
/* Full mode's programs are loaded: a wait may be inside a probed lock call (`pending`). */
const volatile bool lock_probes = false;
/* Event-loop blocking: a gap between poll calls this long is a block; 0 tracks no loops. */
const volatile __u64 loop_threshold_ns = 0;
/* Processes the targets start become targets themselves (--children, a launched command). */
const volatile bool follow_children = false;

/* Processes (tgids) being recorded: those given, and those they start when followed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} rb SEC(".maps");

/* A target thread's futex call in progress (events.h), kept from one call to the next: a hash
 * map's update and delete at every call cost more than the call's whole record. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ls_inflight);
} inflight SEC(".maps");

/* Call paths the collector knows (events.h): the unwind rules of their frames, and their keys. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LS_RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct ls_frame_rule);
} frame_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LS_PATHS_MAX);
	__type(key, __u64);
	__type(value, __u8);
} paths SEC(".maps");

/* CPython threads of the targets: tid -> its PyThreadState's address; and where the innermost
 * frame is from there (events.h). Userspace fills both once it has found the interpreter. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} py_threads SEC(".maps");

struct ls_py_where py_where;
/* Bytes of Python frames a wait's record carries (events.h): none until userspace has set
 * py_where for a CPython target, then LS_WAIT_PY_SIZE. */
volatile __u32 wait_py_len;

/* Records with a stack are built here: too large for the BPF stack, and their size varies
 * with the stack snapshot, so they go out with bpf_ringbuf_output. */
struct scratch_buf {
	/* a record, then its snapshot right after it: the wait record is the larger of the two */
	__u8 raw[sizeof(struct ls_ev_wait_begin) + LS_STACK_SNAP];
};
_Static_assert(sizeof(struct ls_ev_lock) <= sizeof(struct ls_ev_wait_begin), "scratch size");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_buf);
} scratch SEC(".maps");

/* Full mode: a lock call in progress, from its entry probe to its return probe. */
struct pending_lock {
	__u64 addr;
	__u64 ts;
	__u64 ra_slot;		/* sp at entry: where the return address is */
	__u64 ra;		/* the return address, before the return probe replaces it */
	__u64 ra2_slot;		/* the same for a lock call nested in this one, while it runs */
	__u64 ra2;
	__u32 api;
	__u32 gen;		/* window_gen at entry: an older one is a call whose return the
				 * probes, detached meanwhile, may not have seen */
};

/* Full mode's window count, raised by userspace each time the probes go on. */
__u32 window_gen;

/* Set by userspace once every probe of a window is in, cleared before the first comes out: the
 * links insert and remove their breakpoints one by one, and a lock seen taken while its unlock
 * was not probed yet would stay held for the analyses. Lock events are sent only while it is
 * set, so each thread's events form one unbroken run of its lock calls per window. */
__u32 window_open;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pending_lock);
} pending SEC(".maps");

/* Threads of the targets that call poll functions: event loops, perhaps (events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ls_loop_state);
} loops SEC(".maps");

/* Auto mode's look before it probes: the user instruction addresses of the targets' threads
 * that a CPU-clock sample found running, counted. A full map counts no more addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} sampled_ips SEC(".maps");

/* Entries in `loops`: while there are none (a target with no event loop), context switches and
 * poll returns skip their lookups. */
__u32 nloops = 0;

/* Loop samples are built here: the sampler runs in interrupt context and may interrupt a
 * program building its record in `scratch`; sched_switch, which samples too, runs with
 * interrupts off. */
struct loop_scratch_buf {
	__u8 raw[sizeof(struct ls_ev_loop) + LS_LOOP_SNAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct loop_scratch_buf);
} loop_scratch SEC(".maps");
_Static_assert(sizeof(struct ls_ev_loop) <= sizeof(struct ls_ev_wait_begin), "scratch size");

/* Events that could not be handed to userspace (ring buffer full), per CPU. */
/* STAT_PROBE_*: uprobe hits, which the auto mode's budget prices. */
/* STAT_LOOPS_FULL: loop threads not tracked, the loops map being full. */
/* STAT_CHILD_PROCS: processes the targets started, which are not recorded (not followed, or the
 * targets map was full). */
/* STAT_TWO_WAIT_SETS: threads that looked like event loops until they waited in a second epoll
 * instance of their own (adopt_site), and are not taken for loops since. */
enum {
	STAT_LOST,
	STAT_INFLIGHT_FULL,
	STAT_PROBE_ENTRY,
	STAT_PROBE_RETURN,
	STAT_LOOPS_FULL,
	STAT_CHILD_PROCS,
	STAT_TWO_WAIT_SETS,
	STAT__COUNT
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);

	if (v)
		*v += 1;
}

/* Auto mode's guard: probe hits so far over all CPUs, and the count at which to wake the guard
 * (0: none), which userspace sets to where the probes would have spent its budget. */
__u64 probe_hits;
__u64 hit_alarm;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} alarm SEC(".maps");

static __always_inline void hit(__u32 stat)
{
	__u64 n, at;

	count(stat);
	n = __sync_fetch_and_add(&probe_hits, 1) + 1;
	at = hit_alarm;
	/* one wakeup per alarm set: the thread that moves it to 0 sends it */
	if (at && n >= at && __sync_val_compare_and_swap(&hit_alarm, at, 0) == at)
		bpf_ringbuf_output(&alarm, &n, sizeof(n), BPF_RB_FORCE_WAKEUP);
}

/* Events lost so far, over all CPUs. Lock events and wait begins carry its value, read before
 * their own reserve, so that a thread's event that follows one of its own lost events always
 * carries a larger value: the collector marks the loss in the stream right there (events.h). */
__u64 lost_total;

static __always_inline void lose(void)
{
	count(STAT_LOST);
	__sync_fetch_and_add(&lost_total, 1);
}

static __always_inline __u32 lost_now(void)
{
	return (__u32)lost_total;
}

/* Waking the collector on every event costs the target a context switch per event on a small
 * machine (measured: +8% elapsed on a contended workload). The collector polls every 100 ms;
 * it is woken early only when the buffer fills. */
#define WAKEUP_BYTES (1 << 20)
/* Over it, one forced wakeup per CPU per interval, not one per event: each is an interrupt (a
 * trap to the hypervisor in a VM), and a collector that fell behind made the target pay one
 * per event. A collector that sleeps has drained the buffer: it is woken once it refills. */
#define WAKEUP_INTERVAL_NS 1000000

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_wakeup SEC(".maps");

static __always_inline __u64 wake_flag(void)
{
	__u32 zero = 0;
	__u64 now, *last;

	if (bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) <= WAKEUP_BYTES)
		return BPF_RB_NO_WAKEUP;
	last = bpf_map_lookup_elem(&last_wakeup, &zero);
	now = bpf_ktime_get_ns();
	if (last) {
		if (now - *last < WAKEUP_INTERVAL_NS)
			return BPF_RB_NO_WAKEUP;
		*last = now;
	}
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline bool is_target(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

/* The current thread's user registers, saved at its entry to the kernel. */
static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline void fill_hdr(struct ls_ev_hdr *h, __u32 type, __u32 tid)
{
	h->type = type;
	h->tid = tid;
	h->ts = bpf_ktime_get_ns();
}

static __always_inline bool is_wait_cmd(__u32 cmd)
{
	/* FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2 */
	return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
}

static __always_inline bool is_wake_cmd(__u32 cmd)
{
	/* FUTEX_WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, UNLOCK_PI, WAKE_BITSET, CMP_REQUEUE_PI */
	return cmd == 1 || cmd == 3 || cmd == 4 || cmd == 5 || cmd == 7 || cmd == 10 || cmd == 12;
}

/* Frame records farther above sp than this are not on the thread's stack. */
#define STACK_SPAN (8 << 20)

/* The frame-pointer chain from ST's bp, as the kernel's user callchain walk records it (ip, then
 * each record's return address; nfp in bytes), for the unwinder to go on past the snapshot. Only
 * records on the thread's stack, rising, are read, from the snapshot where it holds them: in code
 * built without frame pointers bp holds anything, and the kernel's walk (bpf_get_stack) faulted
 * on it, 5.5 us a wait in a VM here, against 0.1 us for this walk. */
static __always_inline void fp_walk(struct ls_ev_stack *st, const __u8 *snap, __u32 snap_len)
{
	__u64 rec = st->bp, low = st->sp, frame[2];
	int n = 1;

	st->fp[0] = st->ip;
	for (int i = 1; i < LS_MAX_FP_FRAMES; i++) {
		__u64 off = rec - st->sp;

		if (rec < low || off > STACK_SPAN || (rec & 7))
			break;
		if (off + sizeof(frame) <= snap_len && off <= LS_STACK_SNAP - sizeof(frame))
			__builtin_memcpy(frame, snap + off, sizeof(frame));
		else if (bpf_probe_read_user(frame, sizeof(frame), (void *)rec))
			break;
		st->fp[i] = frame[1];
		n = i + 1;
		low = rec + sizeof(frame);
		rec = frame[0];
	}
	st->nfp = n * sizeof(st->fp[0]);
}

/* The registers of REGS into ST and the user stack from sp into SNAP; the bytes copied. */
/* The instruction a thread is really at when its pc is in the kernel's uprobe page: stepping a
 * probed instruction out of line in a slot, which stands for the probed address; or entering
 * the return probes' trampoline, for the return address a return probe hid. Else PC. */
static __always_inline __u64 real_pc(__u64 pc)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct uprobe_task *u = BPF_CORE_READ(t, utask);
	struct return_instance *ri;
	__u64 xol, area;

	if (!u)
		return pc;
	xol = BPF_CORE_READ(u, xol_vaddr);
	if (xol && pc >= xol && pc < xol + LS_XOL_SLOT_BYTES)
		return BPF_CORE_READ(u, vaddr) + (pc - xol);
	area = BPF_CORE_READ(t, mm, uprobes_state.xol_area, vaddr);
	ri = BPF_CORE_READ(u, return_instances);
	/* at its first instruction only: further in, it has pushed registers */
	if (area && pc == area && ri)
		return BPF_CORE_READ(ri, orig_ret_vaddr);
	return pc;
}

static __always_inline __u32 snapshot(struct ls_ev_stack *st, __u8 *snap, struct pt_regs *regs)
{
	__u32 len = LS_STACK_SNAP, got = 0;

	st->ip = real_pc(BPF_CORE_READ(regs, ip));
	st->sp = BPF_CORE_READ(regs, sp);
	st->bp = BPF_CORE_READ(regs, bp);
	/* A read that crosses the top of the main thread's stack fails whole: try shorter ones. */
	for (int i = 0; i < 4 && !got; i++, len >>= 1)
		if (bpf_probe_read_user(snap, len, (void *)st->sp) == 0)
			got = len;
	st->snap_len = got;
	return got;
}

static __always_inline __u32 capture_stack(struct ls_ev_stack *st, __u8 *snap,
					   struct pt_regs *regs)
{
	__u32 got = snapshot(st, snap, regs);

	fp_walk(st, snap, got);
	return got;
}

/* A loop block's stack: up to LS_LOOP_SNAP bytes where the stack has them, after the wait's
 * usual copy (its frame-pointer walk reads the first LS_STACK_SNAP). */
static __always_inline __u32 capture_loop_stack(struct ls_ev_stack *st, __u8 *snap,
						struct pt_regs *regs)
{
	__u32 got = capture_stack(st, snap, regs), len = LS_LOOP_SNAP;

	if (got < LS_STACK_SNAP)
		return got;
	for (int i = 0; i < 3 && len > LS_STACK_SNAP; i++, len >>= 1)
		if (bpf_probe_read_user(snap, len, (void *)st->sp) == 0) {
			got = len;
			break;
		}
	st->snap_len = got;
	return got;
}

/* The word at ADDR, if the snapshot of ST (LEN bytes at SNAP) holds it. */
static __always_inline bool snap_word(const struct ls_ev_stack *st, const __u8 *snap, __u32 len,
				      __u64 addr, __u64 *val)
{
	__u64 off = addr - st->sp;

	if (addr < st->sp || len < 8 || off > len - 8 || off > LS_STACK_SNAP - 8)
		return false;
	__builtin_memcpy(val, snap + off, sizeof(*val));
	return true;
}

/* The key of the call path of the stack in ST and SNAP (LEN bytes), unwound with the rules the
 * collector gave for its frames, if the collector knows that path; else 0. The collector's
 * unwinder step by step (inspect/symbols.c), for the rules it could express (events.h). */
static __always_inline __u64 known_path(const struct ls_ev_stack *st, const __u8 *snap, __u32 len)
{
	__u64 pc = st->ip, sp = st->sp, bp = st->bp, h = LS_PATH_SEED;
	__u32 exact = LS_RULE_EXACT;
	bool bp_ok = true, end = false;

	for (int d = 0; d < LS_PATH_MAX_FRAMES && !end; d++) {
		__u32 slot = ls_rule_slot(pc, exact);
		struct ls_frame_rule *r = bpf_map_lookup_elem(&frame_rules, &slot);
		__u64 cfa, ra, saved;

		if (!r || r->pc != pc || (r->flags & (LS_RULE_USED | LS_RULE_EXACT)) !=
		    (LS_RULE_USED | exact))
			return 0;
		h = ls_path_mix(h, pc);
		if (r->flags & LS_RULE_END) {
			end = true;
			break;
		}
		if ((r->flags & LS_RULE_CFA_BP) && !bp_ok)
			return 0;
		cfa = (r->flags & LS_RULE_CFA_BP ? bp : sp) + (__s64)r->cfa_off;
		if (cfa <= sp || !snap_word(st, snap, len, cfa - 8, &ra))
			return 0;
		if (r->flags & LS_RULE_BP_SAVED) {
			bp_ok = snap_word(st, snap, len, cfa + (__s64)r->bp_off, &saved);
			bp = bp_ok ? saved : 0;
		} else if (r->flags & LS_RULE_BP_LOST) {
			bp_ok = false;
		}
		end = ra == 0;
		sp = cfa;
		pc = ra;
		exact = 0;
	}
	if (!end)
		return 0;
	h = h ? h : 1;
	return bpf_map_lookup_elem(&paths, &h) ? h : 0;
}

static __always_inline void output_woken(void *rec, __u64 fixed, __u32 snap_len, __u64 flags)
{
	__u64 size = fixed + snap_len;

	if (size > sizeof(struct scratch_buf))
		size = sizeof(struct scratch_buf);
	if (bpf_ringbuf_output(&rb, rec, size, flags))
		lose();
}

static __always_inline void output(void *rec, __u64 fixed, __u32 snap_len)
{
	output_woken(rec, fixed, snap_len, wake_flag());
}

/* A CPython target's lock waits, but for the GIL's: the collector learns what each is (a lock,
 * or a signal such as Condition.wait) from the thread's Python frames, read while it waits, so
 * it is woken for them at once; at most once per CPU per PY_WAKE_INTERVAL_NS, since one wakeup
 * drains the buffer. Set by userspace once it has found the interpreter and its GIL. */
volatile __u32 py_wake;
volatile __u64 py_gil_lo, py_gil_hi;
#define PY_WAKE_INTERVAL_NS 500000

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_py_wakeup SEC(".maps");

static __always_inline __u64 wait_wake_flag(__u64 uaddr)
{
	__u32 zero = 0;
	__u64 now, *last;

	if (!py_wake || (uaddr >= py_gil_lo && uaddr < py_gil_hi))
		return wake_flag();
	last = bpf_map_lookup_elem(&last_py_wakeup, &zero);
	now = bpf_ktime_get_ns();
	if (!last || now - *last < PY_WAKE_INTERVAL_NS)
		return wake_flag();
	*last = now;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline struct scratch_buf *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

#define PY_MAX_WALK 64	/* thread states looked at for a thread not in py_threads yet */
#define PY_WALK_AGAIN_NS 1000000	/* a thread not found is looked for again after this */

/* TID's thread state: from the map, or (a thread that began since userspace last looked) found
 * in the interpreter's list by its ident, glibc's pthread_self(), which is x86-64's fs base.
 * The list runs newest first, and a thread starting a thread makes the new one's state with its
 * own ident until the new thread takes it over: the last match is the thread's own. A thread
 * not found (no Python, or its state not bound to it yet) is kept as an odd value, the time of
 * the look, and looked for again at most every PY_WALK_AGAIN_NS. */
static __always_inline __u64 py_tstate(__u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 *known = bpf_map_lookup_elem(&py_threads, &tid);
	__u64 self, interp = 0, ts = 0, ident, found = 0, now = bpf_ktime_get_ns();

	if (known && (!(*known & 1) || now - *known < PY_WALK_AGAIN_NS))
		return *known & 1 ? 0 : *known;
	self = BPF_CORE_READ(task, thread.fsbase);
	if (!bpf_probe_read_user(&interp, sizeof(interp), (void *)py_where.main) && interp)
		bpf_probe_read_user(&ts, sizeof(ts), (void *)(interp + py_where.threads));
	for (int i = 0; i < PY_MAX_WALK && ts; i++) {
		if (bpf_probe_read_user(&ident, sizeof(ident), (void *)(ts + py_where.ts_ident)))
			break;
		if (ident == self)
			found = ts;
		if (bpf_probe_read_user(&ts, sizeof(ts), (void *)(ts + py_where.ts_next)))
			break;
	}
	if (!found)
		now |= 1;
	bpf_map_update_elem(&py_threads, &tid, found ? &found : &now, BPF_ANY);
	return found;
}

/* A CPython thread's innermost Python frames now, from its thread state: each one's code object,
 * instruction pointer and owner, read while the thread still waits in them, so that the wait's
 * Python stack is told later as it was then. */
static __always_inline void py_frames_now(__u32 tid, struct ls_py_stack *py)
{
	__u64 p, frame = 0;
	__u32 n = 0;

	/* a record without Python frames has its stack here: left to it (wait_py_len is set
	 * once py_where is) */
	if (!wait_py_len)
		return;
	py->n = 0;
	py->more = 0;
	if (!py_where.on)
		return;
	p = py_tstate(tid);
	if (!p)
		return;
	if (py_where.cframe >= 0 &&
	    bpf_probe_read_user(&p, sizeof(p), (void *)(p + py_where.cframe)))
		return;
	if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(p + py_where.frame)))
		return;
	for (int i = 0; i < LS_PY_FRAMES && frame; i++) {
		py->frame[i] = frame;
		py->owner[i] = 0;
		if (bpf_probe_read_user(&py->code[i], sizeof(py->code[i]),
					(void *)(frame + py_where.code)) ||
		    bpf_probe_read_user(&py->instr[i], sizeof(py->instr[i]),
					(void *)(frame + py_where.instr))) {
			frame = 0;
			break;
		}
		if (py_where.owner >= 0)
			bpf_probe_read_user(&py->owner[i], 1, (void *)(frame + py_where.owner));
		n = i + 1;
		if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(frame + py_where.prev)))
			frame = 0;
	}
	py->n = n;
	py->more = frame;
}

static __always_inline void emit_wait_begin(__u32 tid, __u64 now, __u64 uaddr, __u32 op,
					    __u32 val, __u32 fclass)
{
	struct scratch_buf *s = get_scratch();
	struct ls_ev_wait_begin *ev;
	struct ls_ev_stack *st;
	__u32 snap_len = 0, keep;

	if (!s)
		return;
	ev = (struct ls_ev_wait_begin *)s->raw;
	/* the Python frames only where the target runs CPython: st moves up in their place. One
	 * value in a range, not a branch: the paths after it are verified once (the raw
	 * sys_enter program holds every system call's, near the verifier's limit) */
	keep = wait_py_len & LS_WAIT_PY_SIZE;	/* 0 or all: bounded for the verifier */
	st = (struct ls_ev_stack *)((__u8 *)&ev->py + keep);
	ev->py_len = keep;
	ev->h.type = LS_EV_WAIT_BEGIN;
	ev->h.tid = tid;
	ev->h.ts = now;
	ev->uaddr = uaddr;
	ev->op = op;
	ev->val = val;
	ev->fclass = fclass;
	ev->words_ok = bpf_probe_read_user(ev->words, sizeof(ev->words), (void *)uaddr) == 0;
	ev->ra_slot = 0;
	ev->ra = 0;
	ev->ra2_slot = 0;
	ev->ra2 = 0;
	ev->call_lock = 0;
	ev->call_api = 0;
	ev->lost = lost_now();	/* before bpf_ringbuf_output reserves */
	ev->path = 0;
	py_frames_now(tid, &ev->py);
	if (lock_probes) {
		struct pending_lock *p = bpf_map_lookup_elem(&pending, &tid);

		/* waiting inside a probed lock call: its hidden return addresses, even of a call
		 * begun in an earlier window (its trampoline stays on the stack; userspace checks
		 * that it does); the lock, only for one of this window */
		if (p) {
			ev->ra_slot = p->ra_slot;
			ev->ra = p->ra;
			ev->ra2_slot = p->ra2_slot;
			ev->ra2 = p->ra2;
			if (p->gen == window_gen && window_open) {
				ev->call_lock = p->addr;
				ev->call_api = p->api;
			}
		}
	}
	st->nfp = 0;
	st->snap_len = 0;
	st->ip = 0;
	if (capture_stacks) {
		__u8 *snap = (__u8 *)(st + 1);

		snap_len = snapshot(st, snap, user_regs());
		/* a path through a probed call has a trampoline for a return address: not keyed */
		if (!ev->ra_slot && !ev->ra2_slot)
			ev->path = known_path(st, snap, snap_len);
		if (ev->path) {
			st->snap_len = 0;
			output_woken(s, LS_WAIT_KEYED_SIZE - LS_WAIT_PY_SIZE + keep, 0,
				     wait_wake_flag(uaddr));
			return;
		}
		fp_walk(st, snap, snap_len);
	}
	output_woken(s, sizeof(*ev) - LS_WAIT_PY_SIZE + keep, snap_len, wait_wake_flag(uaddr));
}

/* TID entered a futex call (STATE: LS_INFLIGHT_WAIT or _WAKE) at NOW: written in place in the
 * entry its earlier calls left. */
static __always_inline void track(__u32 tid, __u64 now, __u64 uaddr, __u32 op, __u32 state)
{
	struct ls_inflight *in = bpf_map_lookup_elem(&inflight, &tid);
	struct ls_inflight fresh = {.uaddr = uaddr, .ts = now, .op = op, .state = state};

	if (in) {
		in->uaddr = uaddr;
		in->ts = now;
		in->op = op;
		in->state = state;
	} else if (bpf_map_update_elem(&inflight, &tid, &fresh, BPF_NOEXIST)) {
		count(STAT_INFLIGHT_FULL);
	}
}

/* ---- event-loop blocking: gaps between a loop thread's poll calls (events.h) ---- */

/* A system call's arguments at its entry. */
struct sc_args {
	__u64 a[6];
};

/* A select or poll over no descriptors is a sleep, not a loop's wait: CPython 3.10's time.sleep
 * is select(0, NULL, NULL, NULL, &timeout). A0, A1: the call's first two arguments. */
static __always_inline bool no_fds(long nr, __u64 a0, __u64 a1)
{
	if (nr == NR_SELECT || nr == NR_PSELECT6)
		return a0 == 0;
	if (nr == NR_POLL || nr == NR_PPOLL)
		return a1 == 0;
	return false;
}

/* Does system call NR make an epoll instance (traced with the poll calls, adopt_site)? */
static __always_inline bool is_epoll_create(long nr)
{
	return (nr == NR_EPOLL_CREATE || nr == NR_EPOLL_CREATE1) && loop_threshold_ns != 0;
}

/* Is system call NR one an event loop may wait in? */
static __always_inline bool is_poll_call(long nr)
{
	switch (nr) {
	case NR_SELECT:
	case NR_PSELECT6:
	case NR_POLL:
	case NR_PPOLL:
	case NR_EPOLL_WAIT:
	case NR_EPOLL_PWAIT:
	case NR_EPOLL_PWAIT2:
		return loop_threshold_ns != 0;
	default:
		return false;
	}
}

/* select's fd sets, counted a word at a time in a bpf_loop callback: verified once, not once
 * per word and call site (the raw sys_enter program holds every system call's path) */
struct fds_count {
	const void *set;
	__u64 nfds;
	__u32 n;
};

static long count_fds_word(__u32 i, void *data)
{
	struct fds_count *c = data;
	__u64 w, left;

	if (c->n >= 2 || (__u64)i * 64 >= c->nfds)
		return 1;
	if (bpf_probe_read_user(&w, sizeof(w), c->set + i * 8))
		return 1;
	left = c->nfds - (__u64)i * 64;
	if (left < 64)
		w &= (1ull << left) - 1;
	if (w)
		c->n += (w & (w - 1)) ? 2 : 1;
	return 0;
}

/* Adds to *N the descriptors in select's fd set at SET (of NFDS descriptors), up to two: the
 * words of FD_SETSIZE at most. */
static __always_inline void count_fds(const void *set, __u64 nfds, __u32 *n)
{
	struct fds_count c = {.set = set, .nfds = nfds, .n = *n};

	if (!set)
		return;
	bpf_loop(16, count_fds_word, &c, 0);
	*n = c.n;
}

/* The struct file of the current thread's descriptor FD; 0 if none. */
static __always_inline __u64 fd_file(__s32 fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	__u64 f = 0;

	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), fds + fd);
	return f;
}

/* The poll site (events.h) of poll call NR with arguments A, or 0 if it does not multiplex:
 * poll or select over fewer than two descriptors (a socket's timeout, CPython's sleep). */
static __always_inline __u64 poll_site(long nr, const struct sc_args *a)
{
	__u32 n = 0;

	switch (nr) {
	case NR_POLL:
	case NR_PPOLL:
		return a->a[1] >= 2 ? LS_SITE_POLL : 0;
	case NR_SELECT:
	case NR_PSELECT6:
		count_fds((const void *)a->a[1], a->a[0], &n);
		count_fds((const void *)a->a[2], a->a[0], &n);
		count_fds((const void *)a->a[3], a->a[0], &n);
		return n >= 2 ? LS_SITE_POLL : 0;
	default:
		return fd_file((__s32)a->a[0]);
	}
}

/* Is the gap up to NOW a block (events.h), the thread on CPU? */
static __always_inline bool past_threshold(const struct ls_loop_state *s, __u64 now)
{
	__u64 gap = now - s->gap_start, runq = s->off_ns[LS_OFF_RUNQ];

	return s->gap_start && s->polls >= LS_LOOP_MIN_POLLS && gap >= loop_threshold_ns &&
	       gap > runq && gap - runq >= loop_threshold_ns / LS_LOOP_OWN_DIV;
}

static __always_inline void emit_loop(void *ctx, __u32 type, __u32 tid,
				      const struct ls_loop_state *s, __u64 now, __u16 cls)
{
	void *buf_map = type == LS_EV_LOOP_SAMPLE ? (void *)&loop_scratch : (void *)&scratch;
	__u32 zero = 0, snap_len = 0;
	__u8 *b = bpf_map_lookup_elem(buf_map, &zero);
	struct ls_ev_loop *ev;
	__u64 size;

	if (!b)
		return;
	ev = (struct ls_ev_loop *)b;
	ev->h.type = type;
	ev->h.tid = tid;
	ev->h.ts = now;
	ev->gap_start = s->gap_start;
	ev->on_ns = s->on_ns + (s->on_since ? now - s->on_since : 0);
	for (int i = 0; i < LS_OFF__COUNT; i++)
		ev->off_ns[i] = s->off_ns[i];
	ev->polls = s->polls;
	ev->on_cpu = type == LS_EV_LOOP_SAMPLE;
	ev->cls = cls;
	__builtin_memset(&ev->ra_slot, 0, 4 * sizeof(__u64));
	if (ev->on_cpu) {	/* inside a probed lock call: the return addresses its probe hid */
		struct pending_lock *p = bpf_map_lookup_elem(&pending, &tid);

		/* ra_slot, ra, ra2_slot, ra2 follow each other in both */
		if (p)
			__builtin_memcpy(&ev->ra_slot, &p->ra_slot, 4 * sizeof(__u64));
	}
	ev->st.nfp = 0;
	ev->st.snap_len = 0;
	ev->st.ip = 0;
	if (type == LS_EV_LOOP_BLOCK) {
		output(b, offsetof(struct ls_ev_loop, st), 0);
		return;
	}
	if (capture_stacks) {
		snap_len = capture_loop_stack(&ev->st, b + sizeof(*ev), user_regs());
	}
	size = sizeof(*ev) + snap_len;
	if (size > sizeof(struct loop_scratch_buf))
		size = sizeof(struct loop_scratch_buf);
	/* the collector reads the thread's Python frames while the block lasts: wake it now */
	if (bpf_ringbuf_output(&rb, b, size, BPF_RB_FORCE_WAKEUP))
		lose();
}

/* A loop thread calls poll at SITE, other than its own: a wait inside its iteration, unless the
 * loop is gone (its epoll instance closed) or never was one (too few calls at its site yet), or
 * its site is poll's and SITE an epoll instance: the thread's loop is then SITE's, and the gap
 * no block. Returns whether SITE became its site.
 * An epoll instance that the thread did not make in this gap is a second wait set it keeps, as
 * PostgreSQL's backends keep one for their client and one for their latch (a row lock's wait):
 * a thread that waits in two of its own does not keep returning to one site, and is not an event
 * loop; it is not taken for one again (not_loop). An instance made in the gap (a blocking call's
 * own selector) is a wait inside the iteration like any other. */
static __always_inline bool adopt_site(struct ls_loop_state *s, __u64 site, __s32 fd)
{
	if (s->polls >= LS_LOOP_MIN_POLLS && site == LS_SITE_POLL)
		return false;
	if (s->polls >= LS_LOOP_MIN_POLLS && s->site != LS_SITE_POLL &&
	    fd_file(s->site_fd) == s->site) {
		if (site != LS_SITE_POLL && fd != s->gap_epfd) {
			s->not_loop = 1;
			s->polls = 0;
			s->gap_start = 0;
			count(STAT_TWO_WAIT_SETS);
		}
		return false;
	}
	s->site = site;
	s->site_fd = fd;
	s->polls = 0;
	s->gap_start = 0;
	return true;
}

/* A target thread enters poll call NR (arguments A): at its loop's site, the gap since its last
 * call there ends (a block if long); elsewhere, a wait like any other (events.h). */
static __always_inline void on_poll_enter(void *ctx, __u64 pid_tgid, long nr,
					  const struct sc_args *a)
{
	__u32 tid = (__u32)pid_tgid;
	/* a thread in `loops` is a target's: a loop's poll call pays one lookup */
	struct ls_loop_state *s = bpf_map_lookup_elem(&loops, &tid);
	__s32 fd = -1;
	__u64 now, site;

	if (s ? s->not_loop : !is_target(pid_tgid >> 32))
		return;
	site = poll_site(nr, a);
	if (!site)
		return;
	if (site != LS_SITE_POLL)
		fd = (__s32)a->a[0];
	now = bpf_ktime_get_ns();
	if (!s) {
		struct ls_loop_state fresh = {
		    .poll_since = now, .polls = 1, .site = site, .site_fd = fd, .gap_epfd = -1};

		if (bpf_map_update_elem(&loops, &tid, &fresh, BPF_NOEXIST))
			count(STAT_LOOPS_FULL);
		else
			__sync_fetch_and_add(&nloops, 1);
		return;
	}
	if (s->site != site && !adopt_site(s, site, fd))
		return;
	if (past_threshold(s, now))
		emit_loop(ctx, LS_EV_LOOP_BLOCK, tid, s, now, 0);
	s->gap_start = 0;
	s->poll_since = now;
	if (s->polls < 0xffffffff)
		s->polls++;
}

/* ... and returns from it: a gap begins, on CPU. */
static __always_inline int on_poll_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ls_loop_state *s;
	__u64 now;

	if (!nloops)
		return 0;
	s = bpf_map_lookup_elem(&loops, &tid);
	if (!s || !s->poll_since)	/* a call elsewhere than at its site */
		return 0;
	now = bpf_ktime_get_ns();
	s->gap_start = now;
	s->gap_epfd = -1;
	s->poll_since = 0;
	s->on_since = now;
	s->off_since = 0;
	s->on_ns = 0;
	for (int i = 0; i < LS_OFF__COUNT; i++)
		s->off_ns[i] = 0;
	return 0;
}

/* A thread made an epoll instance, descriptor FD: for a loop thread in a gap, its own selector
 * (adopt_site). */
static __always_inline void on_epoll_create(long fd)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ls_loop_state *s;

	if (!nloops || fd < 0)
		return;
	s = bpf_map_lookup_elem(&loops, &tid);
	if (s && s->gap_start)
		s->gap_epfd = (__s32)fd;
}

/* Where a loop thread leaving the CPU in a gap was: its user registers (the collector unwinds
 * from them if it stays away long), and the class of what it waits in. */
static __always_inline __u32 off_class(struct ls_loop_state *s, unsigned int prev_state)
{
	/* at sched_switch, current is the task leaving the CPU */
	struct pt_regs *regs = user_regs();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_lock *p = lock_probes ? bpf_map_lookup_elem(&pending, &tid) : NULL;
	long nr;

	s->user_ip = BPF_CORE_READ(regs, ip);
	s->user_sp = BPF_CORE_READ(regs, sp);
	s->user_bp = BPF_CORE_READ(regs, bp);
	s->ra_slot = p ? p->ra_slot : 0;
	s->ra = p ? p->ra : 0;
	s->ra2_slot = p ? p->ra2_slot : 0;
	s->ra2 = p ? p->ra2 : 0;
	/* still runnable (TASK_RUNNING): preempted, whether in the kernel or on its way back to
	 * user mode (which the tracepoint's preempt flag does not count) */
	if (prev_state == 0)
		return LS_OFF_RUNQ;
	/* its syscall, if it is in one */
	nr = BPF_CORE_READ(regs, orig_ax);
	if (nr == NR_NANOSLEEP || nr == NR_CLOCK_NANOSLEEP ||
	    no_fds(nr, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si)))
		return LS_OFF_SLEEP;
	if (nr == NR_FUTEX || nr == NR_FUTEX_WAITV || nr == NR_FUTEX_WAIT)
		return LS_OFF_LOCK;
	return nr >= 0 ? LS_OFF_IO : LS_OFF_OTHER;
}

/* On-CPU and off-CPU time of loop threads in their gaps. Runs at every context switch of the
 * machine: nothing but two lookups unless a loop thread is involved, none while there is none. */
static __always_inline int on_switch(void *ctx, struct task_struct *next, unsigned int prev_state)
{
	/* at sched_switch, current is still the task leaving the CPU */
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ls_loop_state *s;
	__u64 now = 0;

	if (!loop_threshold_ns || !nloops)
		return 0;
	s = bpf_map_lookup_elem(&loops, &tid);
	if (s && s->on_since) {
		now = bpf_ktime_get_ns();
		if (s->gap_start)
			s->on_ns += now - s->on_since;
		s->on_since = 0;
	}
	if (s && now && s->gap_start) {
		/* a block leaving the CPU (preempted, or blocking after work): its stack now,
		 * while current is still the thread */
		__u32 cls = off_class(s, prev_state);

		if (s->sampled != s->gap_start && past_threshold(s, now)) {
			s->sampled = s->gap_start;
			emit_loop(ctx, LS_EV_LOOP_SAMPLE, tid, s, now, cls);
		}
		s->off_since = now;
		s->off_class = cls;
	}
	tid = BPF_CORE_READ(next, pid);
	s = bpf_map_lookup_elem(&loops, &tid);
	if (s) {
		if (!now)
			now = bpf_ktime_get_ns();
		if (s->gap_start && s->off_since) {
			__u32 c = s->off_class;

			if (c < LS_OFF__COUNT)
				s->off_ns[c] += now - s->off_since;
		}
		s->off_since = 0;
		s->on_since = now;
	}
	return 0;
}

/* A loop thread on CPU when the sampler fires, away from its poll call past the threshold:
 * a busy block in progress. Its stack, once per gap. */
SEC("perf_event")
int loop_sampler(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ls_loop_state *s;
	__u64 now;

	if (!loop_threshold_ns || !nloops || !tid)
		return 0;
	s = bpf_map_lookup_elem(&loops, &tid);
	if (!s || s->sampled == s->gap_start)
		return 0;
	now = bpf_ktime_get_ns();
	if (!past_threshold(s, now))
		return 0;
	s->sampled = s->gap_start;
	emit_loop(ctx, LS_EV_LOOP_SAMPLE, tid, s, now, LS_CLS_ON_CPU);
	return 0;
}

SEC("perf_event")
int ip_sampler(struct bpf_perf_event_data *ctx)
{
	__u64 ip = 0, one = 1, *n;

	if (!is_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* in the kernel (a syscall, a fault) the sample counts as the target's time at address 0:
	 * a lock call's cost in the kernel is a wait's, not the call rate the probes would pay */
	if ((*(volatile __u64 *)&ctx->regs.cs & 3) == 3)	/* the context is read whole */
		ip = ctx->regs.ip;
	n = bpf_map_lookup_elem(&sampled_ips, &ip);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&sampled_ips, &ip, &one, BPF_NOEXIST);
	return 0;
}

/* ---- system calls: the futex calls and, for event loops, the poll calls; no other ----
 * Each traced call has a program at its entry and one at its return, on its own
 * syscalls:sys_enter_NAME/sys_exit_NAME tracepoints: other calls run no program. Where those
 * cannot attach, the raw sys_enter/sys_exit tracepoints, which run for every system call. */

#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_PRIVATE 128	/* FUTEX_PRIVATE_FLAG, FUTEX2_PRIVATE */

/* A target thread's futex call: a wait is emitted and tracked to its return, a wake tracked
 * for sched_waking to name its waker. */
static __always_inline void futex_enter(__u32 tid, long nr, const struct sc_args *a)
{
	struct futex_waitv w0 = {};
	__u64 now = bpf_ktime_get_ns();
	__u32 op, cmd;

	switch (nr) {
	case NR_FUTEX:	/* futex(uaddr, op, val, ...) */
		op = (__u32)a->a[1];
		cmd = op & FUTEX_CMD_MASK;
		if (is_wait_cmd(cmd)) {
			emit_wait_begin(tid, now, a->a[0], op, (__u32)a->a[2],
					cmd == 6 || cmd == 13 ? LS_FUTEX_LOCK_PI : LS_FUTEX_WAIT);
			track(tid, now, a->a[0], op, LS_INFLIGHT_WAIT);
		} else if (is_wake_cmd(cmd)) {
			track(tid, now, a->a[0], op, LS_INFLIGHT_WAKE);
		}
		return;
	case NR_FUTEX_WAITV:	/* futex_waitv(waiters, nr, ...): the first futex names the wait */
		bpf_probe_read_user(&w0, sizeof(w0), (void *)a->a[0]);
		emit_wait_begin(tid, now, w0.uaddr, 0, (__u32)w0.val, LS_FUTEX_WAITV);
		track(tid, now, w0.uaddr, 0, LS_INFLIGHT_WAIT);
		return;
	/* futex2 calls (Linux 6.7), stored as the futex ops they match */
	case NR_FUTEX_WAIT:	/* futex_wait(uaddr, val, mask, flags, ...) */
		op = FUTEX_WAIT_BITSET | (a->a[3] & FUTEX_PRIVATE);
		emit_wait_begin(tid, now, a->a[0], op, (__u32)a->a[1], LS_FUTEX_WAIT);
		track(tid, now, a->a[0], op, LS_INFLIGHT_WAIT);
		return;
	case NR_FUTEX_WAKE:	/* futex_wake(uaddr, mask, nr, flags) */
		track(tid, now, a->a[0], FUTEX_WAKE_BITSET | (a->a[3] & FUTEX_PRIVATE),
		      LS_INFLIGHT_WAKE);
		return;
	case NR_FUTEX_REQUEUE:	/* futex_requeue(waiters[2], flags, nr_wake, nr_requeue) */
		bpf_probe_read_user(&w0, sizeof(w0), (void *)a->a[0]);
		track(tid, now, w0.uaddr, FUTEX_CMP_REQUEUE | (w0.flags & FUTEX_PRIVATE),
		      LS_INFLIGHT_WAKE);
		return;
	}
}

static __always_inline void futex_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct ls_inflight *in = bpf_map_lookup_elem(&inflight, &tid);
	struct ls_ev_wait_end *ev;

	/* no entry: a call that began before the probes went in. Its return ends the wait the
	 * attach snapshot found the thread in, if it found one: userspace judges. */
	if (!in && !is_target(pid_tgid >> 32))
		return;
	if (in && in->state != LS_INFLIGHT_WAIT) {
		in->state = LS_INFLIGHT_NONE;
		return;
	}
	ev = bpf_ringbuf_reserve(&rb, sizeof(*ev), 0);
	if (ev) {
		fill_hdr(&ev->h, in ? LS_EV_WAIT_END : LS_EV_WAIT_END_UNSEEN, tid);
		ev->ret = ret;
		bpf_ringbuf_submit(ev, wake_flag());
	} else {
		lose();
	}
	if (in)
		in->state = LS_INFLIGHT_NONE;
}

static __always_inline bool is_futex(long nr)
{
	return nr == NR_FUTEX || nr == NR_FUTEX_WAITV || nr == NR_FUTEX_WAIT ||
	       nr == NR_FUTEX_WAKE || nr == NR_FUTEX_REQUEUE;
}

/* Entry of system call NR: nothing but the target check for other processes' calls. */
static __always_inline int sc_enter(void *ctx, long nr, const struct sc_args *a)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (is_poll_call(nr))
		on_poll_enter(ctx, pid_tgid, nr, a);
	else if (is_futex(nr) && is_target(pid_tgid >> 32))
		futex_enter((__u32)pid_tgid, nr, a);
	return 0;
}

/* Return of system call NR; REGS: the caller's registers, its arguments still in them. Target
 * threads have state to find; another process's futex return costs a target check more. */
static __always_inline int sc_exit(long nr, struct pt_regs *regs, long ret)
{
	if (is_futex(nr))
		futex_exit(ret);
	else if (is_poll_call(nr))
		on_poll_exit();
	else if (is_epoll_create(nr))
		on_epoll_create(ret);
	return 0;
}

/* The syscalls tracepoints' records (the tracefs format files of events/syscalls); declared here, not
 * taken from vmlinux.h, whose CO-RE relocations the verifier refuses on a context pointer. */
struct sc_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sc_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

/* The programs of system call NAME (number NR). */
#define LS_SYSCALL(name, nr)                                                                       \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                                \
	int sc_enter_##name(struct sc_enter_ctx *ctx)                                              \
	{                                                                                          \
		struct sc_args a;                                                                  \
                                                                                                   \
		for (int i = 0; i < 6; i++)                                                        \
			a.a[i] = ctx->args[i];                                                     \
		return sc_enter(ctx, nr, &a);                                                      \
	}                                                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int sc_exit_##name(struct sc_exit_ctx *ctx)                                                \
	{                                                                                          \
		return sc_exit(nr, user_regs(), ctx->ret);                                         \
	}

LS_SYSCALL(futex, NR_FUTEX)
LS_SYSCALL(futex_waitv, NR_FUTEX_WAITV)
LS_SYSCALL(futex_wait, NR_FUTEX_WAIT)
LS_SYSCALL(futex_wake, NR_FUTEX_WAKE)
LS_SYSCALL(futex_requeue, NR_FUTEX_REQUEUE)
LS_SYSCALL(poll, NR_POLL)
LS_SYSCALL(select, NR_SELECT)
LS_SYSCALL(epoll_wait, NR_EPOLL_WAIT)
LS_SYSCALL(pselect6, NR_PSELECT6)
LS_SYSCALL(ppoll, NR_PPOLL)
LS_SYSCALL(epoll_pwait, NR_EPOLL_PWAIT)
LS_SYSCALL(epoll_pwait2, NR_EPOLL_PWAIT2)
LS_SYSCALL(epoll_create, NR_EPOLL_CREATE)
LS_SYSCALL(epoll_create1, NR_EPOLL_CREATE1)

/* The raw sys_enter/sys_exit tracepoints, tp_btf or raw_tp: every system call of the machine
 * runs them, and they pick the traced ones by number. */
static __always_inline bool traced(long nr)
{
	return is_futex(nr) || is_poll_call(nr) || is_epoll_create(nr);
}

static __always_inline int raw_enter(void *ctx, struct pt_regs *regs, long nr)
{
	struct sc_args a;

	if (!traced(nr))
		return 0;
	a.a[0] = BPF_CORE_READ(regs, di);
	a.a[1] = BPF_CORE_READ(regs, si);
	a.a[2] = BPF_CORE_READ(regs, dx);
	a.a[3] = BPF_CORE_READ(regs, r10);
	a.a[4] = 0;	/* no call traced reads these */
	a.a[5] = 0;
	return sc_enter(ctx, nr, &a);
}

static __always_inline int raw_exit(struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);

	return traced(nr) ? sc_exit(nr, regs, ret) : 0;
}

/* Runs in the waker's context (unlike sched_wakeup), so current is the thread that woke. */
static __always_inline int on_waking(struct task_struct *p)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ls_inflight *in = bpf_map_lookup_elem(&inflight, &tid);
	struct ls_ev_wake *ev;

	if (!in || in->state != LS_INFLIGHT_WAKE || !is_target(BPF_CORE_READ(p, tgid)))
		return 0;
	ev = bpf_ringbuf_reserve(&rb, sizeof(*ev), 0);
	if (!ev) {
		lose();
		return 0;
	}
	fill_hdr(&ev->h, LS_EV_WAKE, tid);
	ev->uaddr = in->uaddr;
	ev->call_ts = in->ts;
	ev->wakee = BPF_CORE_READ(p, pid);
	ev->op = in->op;
	bpf_ringbuf_submit(ev, wake_flag());
	return 0;
}

static __always_inline void emit_thread(__u32 type, struct task_struct *t, __u32 parent,
					__s32 code, bool group_dead, bool new_proc, const char *comm)
{
	struct ls_ev_thread *ev = bpf_ringbuf_reserve(&rb, sizeof(*ev), 0);

	if (!ev) {
		lose();
		return;
	}
	fill_hdr(&ev->h, type, BPF_CORE_READ(t, pid));
	ev->parent = parent;
	ev->exit_code = code;
	ev->group_dead = group_dead;
	ev->new_proc = new_proc;
	if (comm)
		bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), comm);
	else
		BPF_CORE_READ_STR_INTO(&ev->comm, t, comm);
	bpf_ringbuf_submit(ev, wake_flag());
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = BPF_CORE_READ(child, tgid);

	__u8 one = 1;
	long err;

	/* threads of a target; new processes are followed where asked, else counted */
	if (!is_target(BPF_CORE_READ(parent, tgid)))
		return 0;
	if (tgid == BPF_CORE_READ(parent, tgid)) {
		emit_thread(LS_EV_THREAD_NEW, child, BPF_CORE_READ(parent, pid), 0, false, false,
			    NULL);
		return 0;
	}
	err = follow_children ? bpf_map_update_elem(&targets, &tgid, &one, BPF_NOEXIST) : -1;
	if (!err)
		emit_thread(LS_EV_THREAD_NEW, child, BPF_CORE_READ(parent, pid), 0, false, true,
			    NULL);
	else if (err != -17)	/* -EEXIST: userspace has added it already (at attach) */
		count(STAT_CHILD_PROCS);
	return 0;
}

static __always_inline int on_exit(struct task_struct *p, bool group_dead)
{
	__u32 tid = BPF_CORE_READ(p, pid);

	if (!is_target(BPF_CORE_READ(p, tgid)))
		return 0;
	bpf_map_delete_elem(&inflight, &tid);
	if (py_where.on)
		bpf_map_delete_elem(&py_threads, &tid);
	if (nloops && bpf_map_delete_elem(&loops, &tid) == 0)
		__sync_fetch_and_add(&nloops, -1);
	emit_thread(LS_EV_THREAD_EXIT, p, 0, BPF_CORE_READ(p, exit_code), group_dead, false,
		    NULL);
	/* a followed process is gone: its tgid may be another's soon */
	if (group_dead && follow_children) {
		__u32 tgid = BPF_CORE_READ(p, tgid);

		bpf_map_delete_elem(&targets, &tgid);
	}
	return 0;
}

static __always_inline int on_rename(struct task_struct *t, const char *comm)
{
	if (is_target(BPF_CORE_READ(t, tgid)))
		emit_thread(LS_EV_COMM, t, 0, 0, false, false, comm);
	return 0;
}

/* ---- full mode: uprobes on the lock API; the attach cookie says which API and how ---- */

static __always_inline void emit_lock(__u32 type, __u32 tid, __u64 addr, __u32 api)
{
	__u32 lost = lost_now();	/* before the reserve */
	struct ls_ev_lock *ev = bpf_ringbuf_reserve(&rb, offsetof(struct ls_ev_lock, st), 0);

	if (!ev) {
		lose();
		return;
	}
	fill_hdr(&ev->h, type, tid);
	ev->addr = addr;
	ev->call_ts = 0;
	ev->api = api;
	ev->lost = lost;
	bpf_ringbuf_submit(ev, wake_flag());
}

/* Entry of a lock call (and of pthread_cond_*wait, which releases its mutex here), and of
 * unlock and destroy calls. 0 if the call's return is wanted, 1 if not (what a session's entry
 * returns: its return probe runs only on 0). */
static __always_inline int on_lock_entry(struct pt_regs *ctx, void *lock, void *mutex)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, api = (__u32)bpf_get_attach_cookie(ctx);
	struct pending_lock p = {.addr = (__u64)lock, .ts = bpf_ktime_get_ns(), .api = api,
				 .gen = window_gen};

	p.ra_slot = PT_REGS_SP(ctx);
	if (bpf_probe_read_user(&p.ra, sizeof(p.ra), (void *)p.ra_slot))
		p.ra_slot = 0;

	hit(STAT_PROBE_ENTRY);
	if (!is_target(pid_tgid >> 32))
		return 1;
	/* unlocks and destroys share this program (one link to detach): one event, no return */
	if (api & (LS_API_UNLOCK | LS_API_DESTROY)) {
		if (window_open)
			emit_lock(api & LS_API_UNLOCK ? LS_EV_RELEASE : LS_EV_DESTROY, tid, p.addr,
				  api);
		return 1;
	}
	if ((api & LS_API__MASK) == LS_API_COND) {
		p.addr = (__u64)mutex;
		if (window_open)
			emit_lock(LS_EV_RELEASE, tid, p.addr, LS_API_MUTEX);
	}
	/* a lock call made inside another (CPython's lock runs sem_clockwait) is the outer
	 * call's business: the outer one stays pending, and keeps the nested one's return
	 * address, which its return probe hides too */
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_NOEXIST)) {
		struct pending_lock *outer = bpf_map_lookup_elem(&pending, &tid);

		if (!outer) {
			count(STAT_INFLIGHT_FULL);
			return 1;
		}
		if (outer->gen != p.gen) {	/* left by an earlier window: not an outer call */
			*outer = p;
			return 0;
		}
		outer->ra2_slot = p.ra_slot;
		outer->ra2 = p.ra;
	}
	return 0;
}

/* Return of a lock call: the lock is held if it returned 0 (a condition wait always retakes
 * its mutex, timed out or not). */
static __always_inline int on_lock_return(struct pt_regs *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_lock *p = bpf_map_lookup_elem(&pending, &tid);
	struct scratch_buf *s;
	struct ls_ev_lock *ev;
	__u32 snap_len = 0;

	hit(STAT_PROBE_RETURN);
	if (!p)
		return 0;
	if (p->gen != window_gen) {	/* a call begun in an earlier window: not this one's */
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	/* the return of a call nested in the pending one: not ours to close */
	if (p->api != (__u32)bpf_get_attach_cookie(ctx)) {
		p->ra2_slot = 0;
		return 0;
	}
	if ((p->api & LS_API_PY) ? ret != 1 : ret != 0 && (p->api & LS_API__MASK) != LS_API_COND)
		goto out;
	if (!window_open)
		goto out;
	s = get_scratch();
	if (!s)
		goto out;
	ev = (struct ls_ev_lock *)s->raw;
	fill_hdr(&ev->h, LS_EV_ACQUIRE, tid);
	ev->addr = p->addr;
	ev->call_ts = p->ts;
	ev->api = p->api;
	ev->lost = lost_now();	/* before bpf_ringbuf_output reserves */
	ev->st.nfp = 0;
	ev->st.snap_len = 0;
	ev->st.ip = 0;
	/* at the return probe, ip and sp are the caller's: the stack starts where it took it */
	if (capture_stacks)
		snap_len = capture_stack(&ev->st, s->raw + sizeof(*ev), ctx);
	output(s, sizeof(*ev), snap_len);
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(lock_entry, void *lock, void *mutex)
{
	on_lock_entry(ctx, lock, mutex);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(lock_return, long ret)
{
	return on_lock_return(ctx, ret);
}

/* Entry and return in one program on one link, where the kernel has uprobe sessions (Linux
 * 6.13): closing the link takes every breakpoint out at once, where closing an entry link and
 * a return link one after the other leaves the entry probes trapping through a grace period.
 * At the entry the instruction pointer is the function's address; at the return, the caller's. */
SEC("uprobe")
int BPF_KPROBE(lock_session, void *lock, void *mutex)
{
	if (PT_REGS_IP(ctx) != bpf_get_func_ip(ctx))
		return on_lock_return(ctx, PT_REGS_RC(ctx));
	return on_lock_entry(ctx, lock, mutex);
}

/* tp_btf programs (BTF-typed, preferred) and raw_tp twins (fallback for kernels whose
 * tp_btf attach is refused). The bodies are shared; only the section differs. */
#define LS_PROGS(kind, sfx)                                                                        \
	SEC(kind "/sys_enter")                                                                     \
	int BPF_PROG(sys_enter_##sfx, struct pt_regs *regs, long id)                               \
	{                                                                                          \
		return raw_enter(ctx, regs, id);                                                   \
	}                                                                                          \
	SEC(kind "/sys_exit")                                                                      \
	int BPF_PROG(sys_exit_##sfx, struct pt_regs *regs, long ret)                               \
	{                                                                                          \
		return raw_exit(regs, ret);                                                        \
	}                                                                                          \
	SEC(kind "/sched_waking")                                                                  \
	int BPF_PROG(sched_waking_##sfx, struct task_struct *p)                                    \
	{                                                                                          \
		return on_waking(p);                                                               \
	}                                                                                          \
	SEC(kind "/sched_switch")                                                                  \
	int BPF_PROG(sched_switch_##sfx, bool preempt, struct task_struct *prev,                   \
		     struct task_struct *next, unsigned int prev_state)                            \
	{                                                                                          \
		return on_switch(ctx, next, prev_state);                                           \
	}                                                                                          \
	SEC(kind "/sched_process_fork")                                                            \
	int BPF_PROG(fork_##sfx, struct task_struct *parent, struct task_struct *child)            \
	{                                                                                          \
		return on_fork(parent, child);                                                     \
	}                                                                                          \
	SEC(kind "/sched_process_exit")                                                            \
	int BPF_PROG(exit_##sfx, struct task_struct *p, bool group_dead)                           \
	{                                                                                          \
		return on_exit(p, group_dead);                                                     \
	}                                                                                          \
	SEC(kind "/task_rename")                                                                   \
	int BPF_PROG(rename_##sfx, struct task_struct *t, const char *comm)                        \
	{                                                                                          \
		return on_rename(t, comm);                                                         \
	}

LS_PROGS("tp_btf", btf)
LS_PROGS("raw_tp", raw)
