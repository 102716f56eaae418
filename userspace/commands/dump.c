/* dump.c - reads a live process into a snapshot: threads asleep in a system call from /proc and
 * their memory, without stopping them; running threads each stopped alone, just to copy its
 * registers and stack. The collector names, unwinds and splices Python frames, as for record. */
#include "commands/dump.h"

#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inspect/blocked.h"
#include "capture/collector.h"
#include "util/common.h"
#include "util/privs.h"
#include "python/pyasync.h"
#include "inspect/snapshot.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same number on every architecture (Linux 5.16) */
#endif

#define LINE_MAX_LEN 256
#define STABLE_TRIES 3 /* reads of a thread that keeps moving before it counts as running */

struct switch_count {
	pid_t tid;
	uint64_t n;
};

struct reader {
	pid_t pid;
	struct snapshot *s;
	struct collector *c;
	uint8_t *stack; /* BLOCKED_STACK_MAX bytes of scratch */
	pid_t *running; /* threads on a CPU: stopped one at a time at the end */
	size_t nrunning, running_cap;
	struct switch_count *before; /* every thread's switches before anything was read */
	size_t nbefore, before_cap;
	uint32_t gone, missing, stopped;
	uint64_t stopped_ns;
};

/* The state letter of /proc/PID/task/TID/stat; 0 if the thread is gone. */
static char read_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p, state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %c", &state);
	fclose(f);
	return state;
}

static bool gone_err(int err)
{
	return err == -ENOENT || err == -ESRCH;
}

/* How often TID has been switched out (voluntary_ctxt_switches + nonvoluntary_ctxt_switches
 * of its status); UINT64_MAX if unreadable. A thread that sleeps in one wait is switched out
 * once: the same count before and after a read of it says that it slept throughout. */
static uint64_t switches(pid_t pid, pid_t tid)
{
	char path[64], line[128];
	unsigned long long v;
	uint64_t sum = 0;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1) {
			sum += v;
			found++;
		}
	fclose(f);
	return found == 2 ? sum : UINT64_MAX;
}

static bool slept_since(pid_t pid, pid_t tid, uint64_t before)
{
	return before != UINT64_MAX && switches(pid, tid) == before;
}

/* TID slept throughout since before anything was read. */
static bool steady(const struct reader *r, pid_t tid)
{
	for (size_t k = 0; k < r->nbefore; k++)
		if (r->before[k].tid == tid)
			return slept_since(r->pid, tid, r->before[k].n);
	return false;
}

/* Copies TID's stack while it sleeps in a system call (or outside one, stopped): it was not
 * switched in meanwhile, so the copy is of that one sleep. 1: copied into R->stack with *SYS
 * and *LEN; 0: the thread runs (or keeps moving); -ESRCH gone; -EACCES/-EPERM. */
static int copy_sleeping(struct reader *r, pid_t tid, struct blocked_sys *sys, size_t *len)
{
	char line[LINE_MAX_LEN], after[LINE_MAX_LEN];
	int err;

	for (int i = 0; i < STABLE_TRIES; i++) {
		uint64_t before = switches(r->pid, tid);

		err = blocked__syscall_line(r->pid, tid, line, sizeof(line));
		if (err)
			return gone_err(err) ? -ESRCH : err;
		if (blocked__parse_syscall(line, sys) || sys->state == BLOCKED_SYS_RUNNING)
			return 0;
		*len = blocked__read_mem(r->pid, sys->sp, r->stack, BLOCKED_STACK_MAX);
		/* the same line, and no switch: it did not run meanwhile (a thread woken and
		 * running has not been switched out yet, but its line says "running") */
		err = blocked__syscall_line(r->pid, tid, after, sizeof(after));
		if (err)
			return gone_err(err) ? -ESRCH : err;
		if (!strcmp(line, after) && slept_since(r->pid, tid, before))
			return 1;
	}
	return 0;
}

/* Reads TID's futex wait afresh, through the collector as at attach: the read of it that
 * the collector made first may be of an earlier wait. 1: read; 0: it no longer waits (or
 * keeps moving); -errno. */
static int reread_wait(struct reader *r, pid_t tid)
{
	struct blocked_wait w;

	for (int i = 0; i < STABLE_TRIES; i++) {
		uint64_t before = switches(r->pid, tid);
		int got = blocked__read_thread(r->pid, tid, &w);
		bool same;

		if (got <= 0)
			return got;
		same = slept_since(r->pid, tid, before);
		if (same)
			got = collector__blocked_wait(r->c, &w);
		free(w.stack);
		if (same)
			return got < 0 ? got : 1;
	}
	return 0;
}

static int push_running(struct reader *r, pid_t tid)
{
	if (ls_reserve(&r->running, &r->running_cap, r->nrunning + 1, sizeof(*r->running)))
		return -ENOMEM;
	r->running[r->nrunning++] = tid;
	return 0;
}

static bool in_futex_wait(const struct blocked_sys *sys)
{
	return sys->state == BLOCKED_SYS_CALL &&
	       ((sys->nr == SYS_futex && blocked__futex_waits(sys->args[1])) ||
		sys->nr == SYS_futex_waitv);
}

/* A sleeping thread's wait: the collector's read where the thread has slept since before it,
 * else a fresh one. 1: TID has its wait; 0: it waits on no futex now; -errno. */
static int wait_of(struct reader *r, pid_t tid, const struct blocked_sys *sys)
{
	const struct snapshot_thread *known = snapshot__find(r->s, tid);

	if (!in_futex_wait(sys))
		return 0;
	if (known && known->waiting && steady(r, tid))
		return 1;
	return reread_wait(r, tid);
}

/* What reading a thread found. */
enum {
	READ_RUNNING = 0, /* on a CPU (or moving too fast to read): to be stopped */
	READ_WAITING,	  /* asleep in a futex wait, read as the collector reads one */
	READ_ASLEEP,	  /* asleep elsewhere, its stack copied */
};

/* One thread: its state, what it sleeps in, its wait and its stack; a running one is only
 * listed here, to be stopped once every sleeping one has been read. */
static int read_thread(void *arg, pid_t tid)
{
	struct reader *r = arg;
	char comm[64], what[64], state = read_state(r->pid, tid);
	struct blocked_sys sys;
	uint32_t id = 0;
	size_t len = 0;
	long nr;
	int err;

	if (!state) {
		r->gone++;
		return 0;
	}
	snprintf(what, sizeof(what), "task/%d/comm", tid);
	ls_read_proc(r->pid, what, comm, sizeof(comm), false);
	if (state == 'Z' || state == 'X')
		return snapshot__thread(r->s, tid, state, SNAPSHOT_NO_CALL, 0, 0, false, comm);
	err = copy_sleeping(r, tid, &sys, &len); /* 1: asleep, 0: running */
	if (err == 1) {
		err = wait_of(r, tid, &sys);
		if (err >= 0)
			err = err ? READ_WAITING : READ_ASLEEP;
	}
	if (err == -ESRCH || err == -ENOENT) {
		r->gone++;
		return 0;
	}
	if (err < 0)
		return err;
	if (err != READ_WAITING) /* whatever the collector read of a futex wait is over */
		snapshot__drop_wait(r->s, tid);
	if (err == READ_RUNNING)
		return push_running(r, tid)
			   ?: snapshot__thread(r->s, tid, state, SNAPSHOT_RUNNING, 0, 0, false,
					       comm);
	if (err == READ_ASLEEP && len) {
		err = collector__thread_stack(r->c, tid, sys.ip, sys.sp, 0, r->stack, len, &id);
		if (err)
			return err;
	}
	nr = sys.state == BLOCKED_SYS_CALL ? sys.nr : SNAPSHOT_NO_CALL;
	err = snapshot__thread(r->s, tid, state, nr, sys.args[1], id, false, comm);
	r->missing += !err && !snapshot__find(r->s, tid)->stack_id;
	return err;
}

struct regs {
	uint64_t ip, sp, bp;
};

static int get_regs(pid_t tid, struct regs *out)
{
#if defined(__x86_64__)
	struct user_regs_struct u;
	struct iovec iov = {.iov_base = &u, .iov_len = sizeof(u)};

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov))
		return -errno;
	*out = (struct regs){u.rip, u.rsp, u.rbp};
	return 0;
#else
#error "dump reads registers of x86-64 only, as symbols.c unwinds x86-64 only"
#endif
}

/* Stops TID alone (PTRACE_SEIZE + PTRACE_INTERRUPT: no signal the program could see), copies
 * its registers, stack and Python frames, and lets it go. *LEN: bytes copied; *NS: how long it
 * was stopped (from the interrupt to the detach). 0, -ESRCH if it exited, or -errno (-EPERM:
 * another tracer holds it). */
static int stop_and_copy(struct reader *r, pid_t tid, struct regs *regs, size_t *len, uint64_t *ns)
{
	int err = 0, st, sig = 0;
	uint64_t t0;

	*len = 0;
	*ns = 0;
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		return -errno;
	t0 = ls_mono_ns(); /* seizing does not stop it; the interrupt does */
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) || waitpid(tid, &st, __WALL) != tid) {
		err = -errno;
		goto detach;
	}
	if (!WIFSTOPPED(st)) {
		*ns = ls_mono_ns() - t0;
		return -ESRCH; /* it exited: nothing is left to detach from */
	}
	/* a signal that arrived meanwhile stopped it first: it is handed back on detach */
	if (st >> 16 != PTRACE_EVENT_STOP)
		sig = WSTOPSIG(st);
	err = get_regs(tid, regs);
	if (!err)
		*len = blocked__read_mem(r->pid, regs->sp, r->stack, BLOCKED_STACK_MAX);
	/* its Python frames of the same instant as its native ones */
	if (!err)
		err = collector__python_pin(r->c, tid);
detach:
	ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
	*ns = ls_mono_ns() - t0;
	return err == -ESRCH || err == -ECHILD ? -ESRCH : err;
}

static int read_running(struct reader *r, pid_t tid)
{
	struct regs regs = {0};
	uint32_t id = 0;
	uint64_t ns;
	size_t len;
	int err = stop_and_copy(r, tid, &regs, &len, &ns);

	r->stopped_ns += ns;
	if (err == -ESRCH) {
		r->gone++;
		return 0;
	}
	if (err) {
		r->missing++; /* not ours to stop: its stack stays unknown */
		return 0;
	}
	r->stopped++;
	if (len)
		err = collector__thread_stack(r->c, tid, regs.ip, regs.sp, regs.bp, r->stack, len,
					      &id);
	r->missing += !id;
	return err ?: snapshot__thread(r->s, tid, 'R', SNAPSHOT_RUNNING, 0, id, true, NULL);
}

static int read_threads(struct reader *r)
{
	int err = ls_each_thread(r->pid, read_thread, r);

	/* the sleeping ones first: the stops come last, each as short as it can be; on a busy
	 * machine the scheduler's delay in running us again is most of a stop, so we ask it to
	 * favour us meanwhile (where we may) */
	int nice = getpriority(PRIO_PROCESS, 0);

	if (r->nrunning)
		setpriority(PRIO_PROCESS, 0, -20);
	for (size_t i = 0; !err && i < r->nrunning; i++)
		err = read_running(r, r->running[i]);
	if (r->nrunning)
		setpriority(PRIO_PROCESS, 0, nice);
	return err;
}

static int count_before(void *arg, pid_t tid)
{
	struct reader *r = arg;

	if (ls_reserve(&r->before, &r->before_cap, r->nbefore + 1, sizeof(*r->before)))
		return -ENOMEM;
	r->before[r->nbefore++] = (struct switch_count){tid, switches(r->pid, tid)};
	return 0;
}

/* Threads that ran (or appeared) while the dump read: their waits may be torn from each
 * other's, so they close no deadlock. */
static void mark_moved(struct reader *r)
{
	for (size_t i = 0; i < snapshot__count(r->s); i++) {
		pid_t tid = snapshot__get(r->s, i)->tid;

		if (!steady(r, tid))
			snapshot__moved(r->s, tid);
	}
}

/* CPython's GIL records its holder: the thread it names holds the lock its waiters wait on
 * (a thread that holds the GIL while it waits for a lock is half of a classic deadlock). */
static int gil_holder(struct reader *r)
{
	uint64_t addr;
	pid_t tid;
	int err = collector__gil(r->c, &addr, &tid);

	if (err == -ENOENT)
		return 0; /* not CPython */
	if (err == -ESRCH)
		return err;
	if (err || !tid || !snapshot__find(r->s, tid))
		return 0; /* unreadable for now: the holder stays unknown */
	return snapshot__add_holder(r->s, tid, addr, false);
}

/* A CPython target's asyncio tasks, their await chains and the asyncio locks they hold (from
 * open `async with` blocks) and wait for; the threads' `with` holders came in as records. */
static int read_asyncio(struct reader *r)
{
	struct pyreader *py = collector__pyreader(r->c);
	struct pyasync_futex *fw;
	struct py_thread *th = NULL;
	struct pyasync *a = NULL;
	size_t nth = 0, nfw = 0;
	char why[256];
	int err;

	if (!py)
		return 0;
	fw = calloc(snapshot__count(r->s) + 1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	for (size_t i = 0; i < snapshot__count(r->s); i++) {
		const struct snapshot_thread *t = snapshot__get(r->s, i);

		if (t->waiting)
			fw[nfw++] = (struct pyasync_futex){t->tid, t->wait_addr};
	}
	err = pyreader__threads(py, &th, &nth);
	if (!err)
		err = pyasync__read(py, th, nth, fw, nfw, &a, why, sizeof(why));
	free(fw);
	if (err == -ENOTSUP)
		ls_note("dump", "asyncio tasks not read: %s", why);
	if (err) {
		pyreader__threads_free(th, nth);
		return err == -ESRCH || err == -ENOMEM ? err : 0;	/* the threads stand alone */
	}
	snapshot__set_asyncio(r->s, a, th, nth);
	return 0;
}

static bool process_gone(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return access(path, F_OK) && errno == ENOENT;
}

int dump__read(pid_t pid, struct snapshot *s)
{
	struct reader r = {.pid = pid, .s = s};
	int err;

	r.stack = malloc(BLOCKED_STACK_MAX);
	r.c = collector__new(pid, NULL, ls_mono_ns());
	if (!r.stack || !r.c) {
		err = r.stack ? -errno : -ENOMEM;
		goto cleanup;
	}
	collector__set_sink(r.c, snapshot__feed, s);
	collector__mark_cuts(r.c);
	err = ls_each_thread(pid, count_before, &r);
	/* names, the memory map, CPython, and every thread asleep in a futex wait with its
	 * lock word and stack: what record reads when it attaches */
	if (!err)
		err = collector__attach_snapshot(r.c);
	if (!err)
		err = read_threads(&r);
	if (!err)
		err = gil_holder(&r);
	/* holders that no owner field names (threading.Lock: a bare sem_t) came with the
	 * attach snapshot, inferred from the `with` blocks open in Python frames; asyncio
	 * tasks are read here, while the collector's CPython reader is open */
	if (!err)
		err = read_asyncio(&r);
	if (!err && process_gone(pid))
		err = -ESRCH;
	if (!err)
		mark_moved(&r);
	snapshot__set_stopped(s, r.stopped, r.stopped_ns);
	snapshot__count_lost(s, r.gone, r.missing);
cleanup:
	collector__free(r.c);
	free(r.before);
	free(r.running);
	free(r.stack);
	return err == -ENOENT ? -ESRCH : err;
}

int dump__run(pid_t pid, bool json)
{
	char comm[64], cmdline[4096], why[256];
	enum ls_target_state state;
	struct snapshot *s = NULL;
	int err, ret = LS_EXIT_SYSTEM;
	pid_t via;

	state = ls_target_state(pid);
	if (state != LS_TARGET_OK) {
		ls_err("dump", "%s", ls_target_why(pid, state, "dump", why, sizeof(why)));
		return LS_EXIT_SYSTEM;
	}
	/* a leader gone (pthread_exit) took its view of the memory with it: read through a thread */
	via = ls_process_reader(pid);
	ls_read_proc(pid, "comm", comm, sizeof(comm), false);
	ls_read_proc(via, "cmdline", cmdline, sizeof(cmdline), true);
	s = snapshot__new(pid, comm, cmdline);
	if (!s) {
		ls_err("dump", "%s", strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	err = dump__read(via, s);
	if (!err)
		err = snapshot__analyse(s);
	if (err == -ESRCH)
		ls_err("dump", "process %d exited during the dump", pid);
	else if (err == -EPERM || err == -EACCES)
		ls_err("dump", "%s", ls_target_why(pid, LS_TARGET_DENIED, "dump", why, sizeof(why)));
	else if (err)
		ls_err("dump", "process %d: %s", pid, strerror(-err));
	if (err)
		goto cleanup;
	if (json) {
		err = snapshot__json(s, stdout);
	} else {
		snapshot__text(s, stdout);
		err = fflush(stdout) ? -errno : 0;
	}
	if (err)
		ls_err("dump", "standard output: %s", strerror(-err));
	else
		ret = LS_EXIT_OK;
cleanup:
	snapshot__free(s);
	return ret;
}
