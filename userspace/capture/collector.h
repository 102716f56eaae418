/* collector.h - turns the BPF side's raw events into trace records while the target lives:
 * unwinds and names stacks, names locks, classifies waits, interns threads, frames and stacks. */
#ifndef LOCKSCOPE_COLLECTOR_H
#define LOCKSCOPE_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct blocked_wait;
struct py_frame;
struct ls_rec;
struct ls_loop_state;
struct trace_writer;
struct collector;

/* For process PID, writing to W (borrowed; NULL: records go to the sink alone). START_MONO:
 * the BPF clock at the start of recording; timestamps are stored relative to it. NULL with
 * errno on failure. */
struct collector *collector__new(pid_t pid, struct trace_writer *w, uint64_t start_mono);
void collector__free(struct collector *c);	/* accepts NULL */
/* Several processes in one trace: C takes its frame and stack ids from WITH's space, borrows the
 * objects WITH has loaded (WITH outlives C and has loaded its own objects already), and
 * PROC_INDEX (1..LS_PROC_KEY_MAX) tags its private lock addresses. */
void collector__share_ids(struct collector *c, struct collector *with, uint32_t proc_index);
/* The process C records. */
pid_t collector__tgid(const struct collector *c);

/* From now on a stack cut short ends with a frame "…cut: <why>" (pc LS_CUT_PC_BASE + enum
 * sym_cut): a snapshot shows each stack whole or marked. */
void collector__mark_cuts(struct collector *c);

/* Every record written is also handed to FN (live analyses); its return is passed up. */
void collector__set_sink(struct collector *c, int (*fn)(void *arg, const struct ls_rec *rec),
			 void *arg);

/* Looks for CPython in the target if it has not been found yet: for a few seconds after an exec,
 * at most every 5 ms; NOW: at once, and for a few seconds from now. */
void collector__python_look(struct collector *c, bool now);
/* Is it looking (not found yet, an exec not long ago)? The run loop then wakes as often. */
bool collector__python_looking(const struct collector *c);
/* FN(ARG, TID, TSTATE) is told each CPython thread's state as the collector finds it (again
 * when it changes): the BPF side reads the thread's innermost frame from there at each wait
 * (events.h), so that the wait's Python line is the one it waited on. */
void collector__set_python_threads(struct collector *c,
				   void (*fn)(void *arg, uint32_t tid, uint64_t tstate), void *arg);
/* FN(ARG, TID) says whether the probes saw TID's current futex call begin; threads it names
 * are left out of the attach snapshot's waits "already blocked when recording began". */
void collector__set_wait_seen(struct collector *c, bool (*fn)(void *arg, uint32_t tid),
			      void *arg);
/* The BPF maps `frame_rules` and `paths` (fds, borrowed): from now on the collector gives the
 * BPF side the call paths of the waits' stacks it unwinds, and later waits on a known path come
 * with its key in place of a stack (events.h). */
void collector__set_paths(struct collector *c, int rules_fd, int paths_fd);
/* Waits that came with a call path's key in place of their stack. */
uint64_t collector__path_waits(const struct collector *c);
/* FN(ARG, TID, UADDR, TS) says whether TID's futex wait on UADDR that began at TS (the BPF
 * clock) is still open: the Python frames read for it are then its own. Without it, they are
 * taken to be. */
void collector__set_wait_open(struct collector *c,
			      bool (*fn)(void *arg, uint32_t tid, uint64_t uaddr, uint64_t ts),
			      void *arg);
/* Reads the memory map afresh and loads the objects' symbols and CFI (slow: DWARF). Done by
 * collector__attach_snapshot unless done before: an attach does it before the target's events
 * flow, so that none pile up meanwhile. 0 or -errno. */
int collector__load_objects(struct collector *c);
/* Records the memory map and the threads that exist now. 0 or -errno. */
int collector__attach_snapshot(struct collector *c);
/* Records the process's command (comm and cmdline, read now) where it changed since the last
 * time: done when the process is first seen, and again when its leader is renamed (an exec).
 * 0 or -errno. */
int collector__describe(struct collector *c);
/* One event from the ring buffer. 0, or -errno if the trace could not be written. A malformed
 * event is counted (collector__bad_events) and skipped. */
int collector__handle(struct collector *c, const void *data, size_t size);
/* A thread already asleep in a futex wait (from blocked__read_thread): a WAIT_BEGIN that
 * began before the recording, named and with its stack, as collector__attach_snapshot writes
 * for each such thread. 0 or -errno. */
int collector__blocked_wait(struct collector *c, const struct blocked_wait *bw);
/* The stack of thread TID from its registers and LEN bytes of its user stack copied from SP
 * (a thread asleep in a system call, or stopped): unwound, named, with Python frames spliced in
 * where it runs the interpreter loop. FRAME and STACK records precede its use; *ID is the
 * stack's id, 0 if there is none. 0 or -errno. */
int collector__thread_stack(struct collector *c, pid_t tid, uint64_t ip, uint64_t sp,
			    uint64_t bp, const void *snap, size_t len, uint32_t *id);
/* Reads TID's Python stack now, while the thread is stopped, for the next
 * collector__thread_stack of TID to splice in, however much later that comes. Nothing for a
 * target that does not run CPython. 0 or -errno. */
int collector__python_pin(struct collector *c, pid_t tid);
/* CPython targets: the GIL's address as WAIT_BEGIN records name it, and the thread that holds
 * it now (*HOLDER 0: none, or one the interpreter has not given a native id). 0; -ENOENT if
 * the target runs no CPython; -errno if its threads cannot be read. */
int collector__gil(struct collector *c, uint64_t *addr, pid_t *holder);
/* CPython targets: the GIL's words [*LO, *HI). 0, or -ENOENT until the GIL is found. */
int collector__gil_range(const struct collector *c, uint64_t *lo, uint64_t *hi);
/* Loop thread TID, its state ST read from the BPF side at NOW (BPF clock), is blocked off CPU
 * past the threshold: stored as a LOOP_SAMPLE, with its stack if STACK, read from /proc and its
 * memory (no probe runs for a sleeping thread), if LOOPS_FD (the BPF `loops` map) still has it
 * in that gap once read. 1 once stored, 0 when it is not off CPU (any more), or -errno. */
int collector__loop_off_cpu(struct collector *c, int loops_fd, uint32_t tid,
			    const struct ls_loop_state *st, uint64_t now, bool stack);
/* An asyncio task's await chain FRAMES (N of them, innermost first, from pyasync.h): its FRAME
 * records and STACK record when new, labelled like the Python frames of thread stacks. *ID is
 * the stack's id, 0 for an empty chain. 0 or -errno. */
int collector__task_stack(struct collector *c, const struct py_frame *frames, size_t n,
			  uint32_t *id);
/* A TASK_WAIT record (record.c's finding, its ts relative to the start): written and handed
 * to the sink like the collector's own, its loop thread named first. 0 or -errno. */
int collector__task_wait(struct collector *c, const struct ls_rec *rec);
/* CPython targets whose threads wait for locks that no probe saw taken: reads who holds them
 * from the threads' frames (open `with` blocks), as at attach, and writes the holds of each
 * deadlock among threads found there (twice: it holds still) as inferred ACQUIRE records,
 * the locks named after their variables. *FOUND: how many deadlocks. 0 or -errno. */
int collector__infer_deadlocks(struct collector *c, size_t *found);
/* Re-reads the target's memory map (new objects, late mappings). 0 or -errno. */
int collector__refresh(struct collector *c);
/* Kernel-side losses: TOTAL is the BPF counters' count so far. Events place most of them in the
 * stream themselves, where they happened (events.h); what they have not placed yet is stored
 * now as a LOST record. Call it only once no more events will come (at the end): a loss placed
 * early would let a lock whose release it was outlive its reset. */
int collector__lost(struct collector *c, uint64_t total);
/* A loss counter's running total NAME (a string constant), written as a COUNTER record when it
 * changed since the last one. 0, -ENOSPC past 32 names, or -errno from the writer. */
int collector__count(struct collector *c, const char *name, uint64_t value);
/* The collector's own loss counters (unwinder, CPython reader, malformed events): the same. */
int collector__counters(struct collector *c);
/* Full mode's lock/unlock tracing was switched on or off at AT (ls_mono_ns): a WINDOW record. */
int collector__window(struct collector *c, bool on, uint64_t at);
/* The target ended: PROC_EXIT with its exit code (as from waitpid, or -1 unknown). */
int collector__proc_exit(struct collector *c, int code);

/* The file holding CPython's runtime (the executable or libpython) once the target is seen to
 * run CPython, else NULL. Borrowed. */
const char *collector__python_object(const struct collector *c);

/* The name of the function of the target's that holds the instruction at IP; NULL if unknown.
 * Valid until the collector next reads the target's objects. */
const char *collector__function(struct collector *c, uint64_t ip);

/* The CPython reader of a target seen to run CPython, else NULL. Borrowed. */
struct pyreader *collector__pyreader(const struct collector *c);

uint64_t collector__events(const struct collector *c);
uint64_t collector__lost_total(const struct collector *c);
uint64_t collector__bad_events(const struct collector *c);
/* The last timestamp stored, relative to the start. */
uint64_t collector__last_ts(const struct collector *c);

#endif
