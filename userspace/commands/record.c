/* record.c - the recorder's lifecycle: start or find the target, load and attach the BPF
 * programs, stream their events through the collector into the trace, finish cleanly. */
#include "commands/record.h"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/asyncdl.h"
#include "capture/asyncwatch.h"
#include "capture/budget.h"
#include "capture/collector.h"
#include "analysis/deadlock.h"
#include "capture/entrystop.h"
#include "capture/guard.h"
#include "bpf/events.h"
#include "trace/model.h"
#include "util/common.h"
#include "util/privs.h"
#include "lockscope.skel.h"
#include "capture/lookahead.h"
#include "capture/loopwatch.h"
#include "capture/probes.h"
#include "capture/procset.h"
#include "capture/syscalls.h"
#include "python/pyreader.h"
#include "trace/trace.h"

#define FLUSH_NS 1000000000ull	/* a SIGKILLed recorder loses at most this much */
#define POLL_MS 100
#define STATUS_NS 250000000ull	/* the status line on a terminal is redrawn this often */
/* The longest the run loop spends handling events at one go: under a flood that the collector
 * cannot keep up with, it still stops on time and on signals (the ring buffer then fills, and
 * the BPF side counts what it loses) */
#define CONSUME_NS 250000000ull
#define LOOP_POLL_MS 10		/* with an event loop seen: a sleeping block is seen this soon */
#define PY_LOOK_POLL_MS 5	/* while the collector looks for CPython after an exec */
#define WINDOW_NS 2000000000ull		/* auto mode re-prices its probes every window */
#define MIN_ON_NS 50000000ull		/* the shortest stretch of full mode worth attaching */
#define FIRST_ON_NS 5000000ull		/* auto: the first stretch, which prices the probes */
#define LOOK_NS 50000000ull		/* auto: the look at the target before a stretch on */
#define BTF_PATH "/sys/kernel/btf/vmlinux"
/* the counter that says full mode saw nothing: the target's lock calls are its own */
#define UNPROBED "lock calls not probed: the target does not use the system's C library"
/* ... nor in a process whose main thread has exited: uprobe links match its memory, now gone */
#define UNRECORDED_CHILDREN "child processes not recorded (without --children)"
/* ... and those started while followed, gone before they could be read */
#define UNREAD_CHILDREN "child processes not recorded: gone before they could be read"
#define UNPROBED_LEADER "lock calls not probed: the process's main thread has exited"

struct recorder {
	const struct record_opts *o;
	uint32_t children0;	/* child processes the target had when recording began */
	pid_t pid;		/* the thread to read the process through (ls_process_reader) */
	bool launched;
	int go_fd;		/* write end: releases the launched child into exec */
	int exec_err_fd;	/* read end: whether it is armed to stop at entry, then errno from
				 * a failed exec, EOF on success */
	struct entrystop entry;	/* a launched command held at its entry point */
	int pidfd;
	bool exited;
	int exit_code;
	struct lockscope_bpf *skel;
	const char *attach_kind;	/* how system calls are traced (syscalls.h) */
	struct ring_buffer *rb;
	struct trace_writer *w;
	struct collector *col;		/* the first process's */
	struct procset *procs;		/* every process's, the first's included */
	int pidfds[RECORD_MAX_PIDS];	/* the processes given to -p: recording ends with them */
	uint64_t start_mono;
	uint64_t lost_seen;
	int err;		/* first error from the event callback */
	uint64_t consume_until;	/* the event callback hands back control after this; 0: never */
	uint32_t consumed;
	bool discard;		/* calibrating: events of lockscope's own thread are dropped */
	bool uprobes_loaded;	/* the full-mode programs passed the verifier */
	struct lock_probes *probes;	/* full and auto modes */
	struct budget budget;
	uint64_t phase_start, phase_end;	/* auto: the current on or off stretch */
	uint64_t hits0[2], cpu0;		/* auto: counters at the start of an on stretch */
	uint64_t on_ns;				/* time full mode was on */
	uint64_t on_since;			/* when the probes went on */
	uint64_t next_on_len;			/* auto: the next on stretch */
	double pair_ns;				/* auto: an unprobed lock/unlock pair */
	struct lookahead *look;			/* auto: sampling the target before a stretch on */
	uint64_t look_end;
	bool look_failed;			/* ... the sampler cannot attach: no looks */
	bool told_off;				/* auto: said once why full mode stays off */
	uint64_t skipped;			/* auto: stretches on skipped, probes too dear */
	struct guard *guard;			/* auto: takes the probes out past the budget */
	uint64_t cpu_off;			/* auto: the target's CPU time when they came out */
	uint64_t stretches, cut;		/* auto: stretches on, and those the guard cut */
	bool window_pending;			/* probes in before a launched command runs: its
						 * window begins in the trace at its release */
	bool python_probed;			/* CPython's lock calls are probed too */
	struct model *model;		/* live analyses: names, and ... */
	struct deadlock *deadlock;	/* ... the waits-for graph, for alerts while recording */
	struct loopwatch *loops;	/* event loops: the busy-block sampler, blocks off CPU */
	int nloops;			/* ... the loop threads it saw last */
	struct asyncwatch *asyncwatch;	/* idle event loops whose tasks deadlocked */
	uint64_t infer_next, infer_at, infer_sig;	/* holders read from frames: when */
	bool status;			/* stderr is a terminal: a live status line on it */
	uint64_t next_status;		/* ... redrawn then */
	unsigned deadlocks;		/* deadlocks alerted so far */
};

static const char *const mode_names[] = {"auto", "contention", "full"};

static uint64_t realtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!getenv("LOCKSCOPE_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Forks the command, held before exec until the probes are in place, and then at its entry
 * point until the recorder has loaded the symbols of what it mapped. */
static int launch(struct recorder *r)
{
	int go[2], errp[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		ls_err("record", "pipe: %s", strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	pid = fork();
	if (pid < 0) {
		ls_err("record", "fork: %s", strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	if (pid == 0) {
		char c;
		int e;

		close(go[1]);
		close(errp[0]);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* the recorder gave up before starting us */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		e = entrystop__arm() == 0;
		if (write(errp[1], &e, sizeof(e)) != sizeof(e))
			_exit(127);
		execvp(r->o->cmd[0], r->o->cmd);
		e = errno;
		if (write(errp[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(errp[1]);
	r->pid = pid;
	r->launched = true;
	r->go_fd = go[1];
	r->exec_err_fd = errp[0];
	return LS_EXIT_OK;
}

/* Exec closes our pipe before the ELF loader has mapped the program, and the dynamic loader
 * maps the libraries after that: names read earlier would miss them. Waits (briefly) until
 * the program's own text and the C library's are mapped, or the program is seen to be static. */
static void wait_for_libraries(pid_t pid)
{
	char maps[64], link[64], exe[PATH_MAX], line[PATH_MAX + 128];
	ssize_t n;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	for (int i = 0; i < 200; i++, usleep(1000)) {
		bool text = false, libc = false, ld = false;
		FILE *f;

		n = readlink(link, exe, sizeof(exe) - 1);
		f = fopen(maps, "re");
		if (n <= 0 || !f) {
			if (f)
				fclose(f);
			return;	/* gone */
		}
		exe[n] = '\0';
		while (fgets(line, sizeof(line), f)) {
			bool x = strstr(line, " r-xp ") != NULL;

			text |= x && strstr(line, exe);
			libc |= x && (strstr(line, "/libc.so") || strstr(line, "/libc-"));
			ld |= strstr(line, "/ld-linux") != NULL;
		}
		fclose(f);
		if (text && (libc || (!ld && i > 10)))	/* linked, or static */
			return;
	}
}

static void child_ended(struct recorder *r, int status)
{
	r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->exited = true;
}

/* Tells the BPF side, once the collector has found CPython, where the thread states are and
 * where one keeps its innermost frame: from then on a CPython thread's waits say which Python
 * frame they were in and at which instruction (events.h). False until then. */
static bool python_where(struct recorder *r)
{
	struct pyreader *py = r->col ? collector__pyreader(r->col) : NULL;
	struct ls_py_where *w;
	struct py_where pw;

	if (!r->skel || !r->skel->bss)
		return false;
	w = &r->skel->bss->py_where;
	if (w->on)
		return true;
	if (!py)
		return false;
	pyreader__frame_where(py, &pw);
	*w = (struct ls_py_where){.cframe = pw.cframe, .frame = pw.frame, .instr = pw.instr,
				  .prev = pw.prev, .code = pw.code, .owner = pw.owner,
				  .main = pw.main, .threads = pw.threads, .ts_next = pw.ts_next,
				  .ts_ident = pw.ts_ident};
	__atomic_store_n(&w->on, 1, __ATOMIC_RELEASE);
	/* from now on a wait's record carries its Python frames (events.h) */
	__atomic_store_n(&r->skel->bss->wait_py_len, LS_WAIT_PY_SIZE, __ATOMIC_RELEASE);
	return true;
}

/* A CPython thread's state, found by the collector (the BPF side finds most itself). */
static void python_thread(void *arg, uint32_t tid, uint64_t tstate)
{
	struct recorder *r = arg;

	/* a full map leaves the thread's waits to be read late, as before */
	if (python_where(r))
		bpf_map__update_elem(r->skel->maps.py_threads, &tid, sizeof(tid), &tstate,
				     sizeof(tstate), BPF_ANY);
}

/* Lets the launched command exec and run to its entry point, where its objects are loaded
 * before any of its code runs; then lets it go. */
static int release_child(struct recorder *r)
{
	int e = 0, armed = 0, status, err;
	ssize_t n;

	if (write(r->go_fd, "g", 1) != 1) {
		ls_err("record", "cannot start %s: %s", r->o->cmd[0], strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	close(r->go_fd);
	r->go_fd = -1;
	n = read(r->exec_err_fd, &armed, sizeof(armed));
	if (n == sizeof(armed))
		n = read(r->exec_err_fd, &e, sizeof(e));	/* EOF: exec succeeded (close-on-exec) */
	close(r->exec_err_fd);
	r->exec_err_fd = -1;
	if (n == sizeof(e)) {
		ls_err("record", "%s: %s", r->o->cmd[0], strerror(e));
		waitpid(r->pid, NULL, 0);
		r->exited = true;
		return e == ENOENT || e == EACCES ? LS_EXIT_INPUT : LS_EXIT_SYSTEM;
	}
	err = armed ? entrystop__hold(&r->entry, r->pid, &status) : -EPERM;
	if (err == -ECHILD) {
		child_ended(r, status);	/* before its first instruction: the loader failed */
		return LS_EXIT_OK;
	}
	if (err)
		wait_for_libraries(r->pid);
	r->err = collector__load_objects(r->col);
	/* the loader has mapped libpython: its waits carry their Python frames from the first */
	collector__python_look(r->col, true);
	python_where(r);
	entrystop__release(&r->entry);
	return LS_EXIT_OK;
}

/* Did the probes see TID enter the futex call it is in now? The attach snapshot's filter. A
 * launched command runs only once the probes are in: every wait it makes has its own event. */
static bool wait_seen(void *arg, uint32_t tid)
{
	struct recorder *r = arg;
	struct ls_inflight in;

	if (r->launched)
		return true;
	return !bpf_map__lookup_elem(r->skel->maps.inflight, &tid, sizeof(tid), &in, sizeof(in), 0) &&
	       in.state == LS_INFLIGHT_WAIT;
}

/* Is TID's futex wait on UADDR that began at TS still open? The BPF side keeps each thread's
 * futex call in progress, stamped with its WAIT_BEGIN's time. */
static bool wait_open(void *arg, uint32_t tid, uint64_t uaddr, uint64_t ts)
{
	struct recorder *r = arg;
	struct ls_inflight in;

	return bpf_map__value_size(r->skel->maps.inflight) == sizeof(in) &&
	       !bpf_map__lookup_elem(r->skel->maps.inflight, &tid, sizeof(tid), &in, sizeof(in), 0) &&
	       in.state == LS_INFLIGHT_WAIT && in.uaddr == uaddr && in.ts == ts;
}

static int event_cb(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	int err;

	/* calibrating: lockscope's own events go, an attached target's stay */
	if (r->discard && size >= sizeof(struct ls_ev_hdr) &&
	    ((const struct ls_ev_hdr *)data)->tid == (__u32)getpid())
		return 0;
	err = procset__handle(r->procs, data, size);

	if (err && !r->err)
		r->err = err;
	/* this event is consumed either way: libbpf stops after it (run_loop) */
	if (r->consume_until && ++r->consumed % 64 == 0 && ls_mono_ns() > r->consume_until)
		return -EAGAIN;
	return 0;	/* keep consuming: a trace error is reported once, at the end */
}

enum { STAT_LOST, STAT_INFLIGHT_FULL, STAT_PROBE_ENTRY, STAT_PROBE_RETURN, STAT_LOOPS_FULL,
       STAT_CHILD_PROCS, STAT_TWO_WAIT_SETS };	/* as in BPF */

/* Live analyses see every record the trace gets: the same code as `report`. */
static int live_sink(void *arg, const struct ls_rec *rec)
{
	struct recorder *r = arg;

	return model__feed(r->model, rec) ?: deadlock__feed(r->deadlock, rec) ?:
	       (r->o->sink ? r->o->sink(r->o->live_arg, rec) : 0);
}

static void alert(const struct deadlock_found *f, void *arg)
{
	struct recorder *r = arg;
	char buf[16384];

	r->deadlocks++;
	if (!r->o->quiet && deadlock__format_alert(f, r->model, buf, sizeof(buf)) > 0) {
		ls_status_clear();
		fputs(buf, stderr);
	}
}

/* Lock waits this long whose holder no probe saw (auto mode's probes were off, or CPython's
 * lock calls had not been probed yet): the holders are read from the waiting threads' frames,
 * as on attach. A deadlock's threads stay put; the look is made again when the set of such
 * waits changes, or after INFER_AGAIN_NS. */
#define INFER_AFTER_NS 200000000ull
#define INFER_EVERY_NS 100000000ull
#define INFER_AGAIN_NS 2000000000ull
#define INFER_MAX 64

static void infer_holders(struct recorder *r, uint64_t now)
{
	uint32_t tids[INFER_MAX];
	uint64_t addrs[INFER_MAX], sig = 1469598103934665603ull;
	size_t n, found;
	int err;

	if (!collector__pyreader(r->col) || now < r->infer_next)
		return;
	r->infer_next = now + INFER_EVERY_NS;
	n = deadlock__unheld_waits(r->deadlock, now - r->start_mono, INFER_AFTER_NS, tids, addrs,
				   INFER_MAX);
	if (!n)
		return;
	for (size_t i = 0; i < n && i < INFER_MAX; i++)
		sig = (sig ^ tids[i] ^ addrs[i] << 17) * 1099511628211ull;
	if (sig == r->infer_sig && now < r->infer_at + INFER_AGAIN_NS)
		return;
	r->infer_sig = sig;
	r->infer_at = now;
	err = collector__infer_deadlocks(r->col, &found);
	if (err && !r->err)
		r->err = err;
}

static void check_deadlocks(struct recorder *r, uint64_t now)
{
	infer_holders(r, now);
	/* a deadlocked target makes no events: its clock is ours */
	deadlock__check(r->deadlock, now - r->start_mono, alert, r);
}

/* CPython targets: a loop idle in its poll call while its tasks wait for each other's asyncio
 * locks. The records go through the live analyses; the alert is made from what they got. */
static void check_asyncio(struct recorder *r, uint64_t now)
{
	const struct asyncdl *tasks = deadlock__tasks(r->deadlock);
	unsigned found = 0;
	char buf[16384];
	size_t n;
	int err;

	err = asyncwatch__check(r->asyncwatch, r->col, now, r->start_mono, &found);
	if (err && !r->err)
		r->err = err;
	n = asyncdl__count(tasks);
	r->deadlocks += found;
	for (size_t i = n > found ? n - found : 0; !r->o->quiet && i < n; i++)
		if (asyncdl__format_alert(asyncdl__get(tasks, i), r->model, buf, sizeof(buf)) > 0) {
			ls_status_clear();
			fputs(buf, stderr);
		}
}

static uint64_t bpf_stat(struct recorder *r, __u32 key)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t total = 0;

	if (ncpu <= 0)
		return 0;
	uint64_t vals[ncpu];

	if (bpf_map__lookup_elem(r->skel->maps.stats, &key, sizeof(key), vals,
				 sizeof(uint64_t) * ncpu, 0))
		return 0;
	for (int i = 0; i < ncpu; i++)
		total += vals[i];
	return total;
}

/* Picks the tracepoint flavour, and whether the full-mode uprobes are loaded at all. */
/* Full mode's programs: none, multi-uprobe ones (Linux 6.6), or also the session one (6.13). */
enum { UPROBES_NONE, UPROBES_MULTI, UPROBES_SESSION };

static void autoload(struct lockscope_bpf *skel, bool btf, int uprobes)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, skel->obj) {
		enum bpf_prog_type t = bpf_program__type(p);

		if (t == BPF_PROG_TYPE_PERF_EVENT) {
			bpf_program__set_autoload(p, true);	/* the samplers */
		} else if (p == skel->progs.lock_session) {
			bpf_program__set_autoload(p, uprobes == UPROBES_SESSION);
			bpf_program__set_expected_attach_type(p, LS_TRACE_UPROBE_SESSION);
		} else if (t == BPF_PROG_TYPE_KPROBE) {
			bpf_program__set_autoload(p, uprobes != UPROBES_NONE);
			bpf_program__set_expected_attach_type(p, LS_TRACE_UPROBE_MULTI);
		} else {
			bpf_program__set_autoload(p, (t == BPF_PROG_TYPE_TRACING) == btf);
		}
	}
}

/* The ways to trace, in order of preference: how system calls are seen (syscalls.h), and the
 * other tracepoints as tp_btf programs (BTF-typed) or else as their raw_tp twins. */
static const struct {
	enum sc_flavour sc;
	bool btf;
} ways[] = {
	{SC_TRACEPOINT, true}, {SC_RAW, true}, {SC_TRACEPOINT, false}, {SC_RAW, false},
};

/* Opens, loads and attaches the programs of WAY; with the full-mode uprobe programs where the
 * kernel takes them (uprobe sessions: Linux 6.13; multi-uprobe links: 6.6), else without. */
static int load_way(struct recorder *r, int way, char *why, size_t why_len)
{
	bool want_uprobes = r->o->mode != RECORD_CONTENTION;
	/* the path of kernels without uprobe sessions, taken on request to test it here */
	bool no_sessions = getenv("LOCKSCOPE_UPROBES") && !strcmp(getenv("LOCKSCOPE_UPROBES"),
								   "multi");
	int err = 0;
	__u8 one = 1;
	__u32 tgid = r->pid;

	for (int uprobes = want_uprobes ? UPROBES_SESSION : UPROBES_NONE; uprobes >= UPROBES_NONE;
	     uprobes--) {
		if (no_sessions && uprobes == UPROBES_SESSION)
			continue;
		r->skel = lockscope_bpf__open();
		if (!r->skel)
			return -errno;
		r->skel->rodata->capture_stacks = !r->o->no_stacks;
		r->skel->rodata->lock_probes = uprobes != UPROBES_NONE;
		r->skel->rodata->loop_threshold_ns = r->o->loop_threshold_ms * 1000000ull;
		r->skel->rodata->follow_children = r->o->children || r->launched;
		autoload(r->skel, ways[way].btf, uprobes);
		err = syscalls__select(r->skel, ways[way].sc, r->o->loop_threshold_ms != 0,
				       ways[way].btf, why, why_len);
		if (err) {	/* the kernel lacks what this way needs */
			lockscope_bpf__destroy(r->skel);
			r->skel = NULL;
			return err;
		}
		err = lockscope_bpf__load(r->skel);
		/* an attached process becomes a target once its objects are loaded (record__run) */
		if (!err && r->launched)
			err = bpf_map__update_elem(r->skel->maps.targets, &tgid, sizeof(tgid), &one,
						   sizeof(one), BPF_ANY);
		if (!err)
			err = lockscope_bpf__attach(r->skel);
		if (!err) {
			r->attach_kind = syscalls__name(ways[way].sc, ways[way].btf);
			r->uprobes_loaded = uprobes != UPROBES_NONE;
			return 0;
		}
		lockscope_bpf__destroy(r->skel);
		r->skel = NULL;
		if (err == -EPERM)
			break;	/* the same refusal awaits without uprobes */
	}
	return err;
}

static int open_bpf(struct recorder *r)
{
	int forced = syscalls__forced(), err = -ENOENT;
	char why[256] = "";

	if (forced < 0) {
		ls_err("record", "LOCKSCOPE_SYSCALLS: %s is neither tracepoint nor raw",
		       getenv("LOCKSCOPE_SYSCALLS"));
		return LS_EXIT_INPUT;
	}
	for (size_t w = 0; w < ARRAY_SIZE(ways); w++) {
		if (forced != SC__COUNT && ways[w].sc != (enum sc_flavour)forced)
			continue;
		err = load_way(r, w, why, sizeof(why));
		if (!err)
			return LS_EXIT_OK;
		if (err == -EPERM)
			break;	/* the same refusal awaits the fallback */
	}
	if (err == -EPERM)
		ls_err("record", "not permitted to load BPF programs (%s): the kernel refused them "
		       "despite CAP_BPF and CAP_PERFMON", strerror(-err));
	else if (forced != SC__COUNT && why[0])
		ls_err("record", "LOCKSCOPE_SYSCALLS=%s: %s", getenv("LOCKSCOPE_SYSCALLS"), why);
	else
		ls_err("record", "the kernel refused the BPF programs (%s): lockscope needs BPF "
		       "ring buffers, BTF and raw tracepoints (Linux 5.8 or later)", strerror(-err));
	return LS_EXIT_SYSTEM;
}

/* Prices a probe hit with the whole path a target's hit takes: lockscope is a target for the
 * while, and what it records of itself is thrown away. */
static int calibrate(struct recorder *r, double *entry_ns, double *return_ns)
{
	__u32 self = getpid();
	__u8 one = 1;
	int err;

	err = bpf_map__update_elem(r->skel->maps.targets, &self, sizeof(self), &one, sizeof(one),
				   BPF_ANY);
	if (err)
		return err;
	err = lock_probes__calibrate(r->skel, entry_ns, return_ns);
	bpf_map__delete_elem(r->skel->maps.targets, &self, sizeof(self), 0);
	r->discard = true;
	ring_buffer__consume(r->rb);
	r->discard = false;
	return err;
}

/* Full and auto modes: finds the lock API, prices a probe hit (auto); full mode attaches (before
 * a launched command runs its first instruction). Auto falls back to contention mode. */
static int setup_full(struct recorder *r)
{
	bool full = r->o->mode == RECORD_FULL;
	double entry_ns = 0, return_ns = 0;
	char why[512] = "the kernel refused multi-uprobe links (Linux 6.6 or later)";
	int err = -EOPNOTSUPP;

	if (r->o->mode == RECORD_CONTENTION)
		return LS_EXIT_OK;
	if (!r->launched && r->pid != r->o->pid) {
		ls_note("record", "%s mode: the main thread of process %d has exited, and the "
			"kernel matches lock-call probes by its memory: recording contention only",
			mode_names[r->o->mode], r->o->pid);
		collector__count(r->col, UNPROBED_LEADER, 1);
		return LS_EXIT_OK;
	}
	if (r->uprobes_loaded) {
		r->probes = lock_probes__new(r->skel, r->pid, r->launched, why, sizeof(why));
		/* no C library to probe (a static or musl binary): nothing the system refused */
		if (!r->probes && errno == ENOENT) {
			ls_note("record", "%s mode: %s: its lock calls cannot be probed; recording "
				"contention only", mode_names[r->o->mode], why);
			collector__count(r->col, UNPROBED, 1);
			return LS_EXIT_OK;
		}
	}
	if (r->probes && !full)
		r->pair_ns = lock_probes__pair_ns();
	if (r->probes && !full && (err = calibrate(r, &entry_ns, &return_ns)))
		snprintf(why, sizeof(why), "cannot price a uprobe hit: %s", strerror(-err));
	/* auto attaches in its first window, once the target's objects are loaded */
	else if (r->probes && (!full || !(err = lock_probes__attach(r->probes))))
		goto attached;
	else if (r->probes)
		snprintf(why, sizeof(why), "attaching to %.300s: %s", lock_probes__library(r->probes),
			 strerror(-err));
	lock_probes__free(r->probes);
	r->probes = NULL;
	if (full) {
		ls_err("record", "full mode: %s", why);
		return LS_EXIT_SYSTEM;
	}
	ls_note("record", "auto mode: full mode unavailable (%s); recording contention only", why);
	return LS_EXIT_OK;
attached:
	budget__init(&r->budget, r->o->overhead_budget, entry_ns, return_ns);
	if (getenv("LOCKSCOPE_DEBUG") && !full)
		fprintf(stderr, "lockscope: debug: a probe hit costs %.1f us at entry, %.1f us at "
			"return\n", entry_ns / 1e3, return_ns / 1e3);
	if (!full && !(r->guard = guard__new(r->skel, r->probes, r->pid, &r->budget))) {
		ls_err("record", "auto mode: %s", strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	return LS_EXIT_OK;
}

static int check_system(const struct record_opts *o)
{
	const char *btf = getenv("LOCKSCOPE_BTF") ? getenv("LOCKSCOPE_BTF") : BTF_PATH;
	enum ls_target_state state;
	char missing[64], why[256];

	if (access(btf, R_OK)) {
		ls_err("record", "the kernel lacks BTF (%s: %s): lockscope needs a kernel built with "
		       "CONFIG_DEBUG_INFO_BTF", btf, strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	if (ls_privs_record(missing, sizeof(missing))) {
		ls_err("record", "not permitted: recording needs CAP_BPF, CAP_PERFMON and "
		       "CAP_SYS_PTRACE, or root (missing: %s)", missing);
		return LS_EXIT_SYSTEM;
	}
	/* before any probe is loaded: what cannot be recorded says what it is */
	for (size_t i = 0; i < o->npids; i++) {
		if ((state = ls_target_state(o->pids[i])) != LS_TARGET_OK) {
			ls_err("record", "%s",
			       ls_target_why(o->pids[i], state, "record", why, sizeof(why)));
			return LS_EXIT_SYSTEM;
		}
	}
	return LS_EXIT_OK;
}

/* Every process's collector: its callbacks. */
static void setup_collector(void *arg, struct collector *c)
{
	struct recorder *r = arg;

	collector__set_python_threads(c, python_thread, r);
	collector__set_sink(c, live_sink, r);
	collector__set_wait_seen(c, wait_seen, r);
	/* every wait's stack copied and unwound, as a check of the keyed paths */
	if (!getenv("LOCKSCOPE_PATHS") || strcmp(getenv("LOCKSCOPE_PATHS"), "off"))
		collector__set_paths(c, bpf_map__fd(r->skel->maps.frame_rules),
				     bpf_map__fd(r->skel->maps.paths));
	collector__set_wait_open(c, wait_open, r);
}

static const char *out_name(const struct recorder *r)
{
	return r->o->output ? r->o->output : "scratch trace";
}

static int open_trace(struct recorder *r)
{
	char comm[64], cmdline[4096];
	struct ls_trace_info info = {.version = LS_TRACE_VERSION,
				     .pid = r->launched ? r->pid : r->o->pid,
				     .mode = (char *)mode_names[r->o->mode], .comm = comm,
				     .cmdline = cmdline};

	if (r->launched) {
		snprintf(comm, sizeof(comm), "%.15s", strrchr(r->o->cmd[0], '/') ?
			 strrchr(r->o->cmd[0], '/') + 1 : r->o->cmd[0]);
		cmdline[0] = '\0';
		for (char **a = r->o->cmd; *a; a++)
			snprintf(cmdline + strlen(cmdline), sizeof(cmdline) - strlen(cmdline),
				 "%s%s", a == r->o->cmd ? "" : " ", *a);
	} else {
		ls_read_proc(r->pid, "comm", comm, sizeof(comm), false);
		ls_read_proc(r->pid, "cmdline", cmdline, sizeof(cmdline), true);
	}
	r->start_mono = ls_mono_ns();
	info.start_mono_ns = r->start_mono;
	info.start_realtime_ns = realtime_now();
	r->w = trace_writer__new(r->o->output, &info);
	if (!r->w) {
		ls_err("record", "%s: %s", out_name(r), strerror(errno));
		return ls_path_status(errno);
	}
	r->col = collector__new(r->pid, r->w, r->start_mono);
	if (!r->col) {
		ls_err("record", "cannot read process %d: %s", r->pid, strerror(errno));
		return LS_EXIT_SYSTEM;
	}
	r->model = model__new();
	r->deadlock = deadlock__new(DEADLOCK_CONFIRM_NS);
	r->asyncwatch = asyncwatch__new(r->pid, r->o->loop_threshold_ms * 1000000ull);
	r->procs = procset__new(r->col, r->w, r->start_mono, setup_collector, r);
	if (!r->model || !r->deadlock || !r->asyncwatch || !r->procs) {
		ls_err("record", "out of memory");
		return LS_EXIT_SYSTEM;
	}
	setup_collector(r, r->col);
	return LS_EXIT_OK;
}

/* Have the processes given to -p after the first ended? */
static bool others_gone(const struct recorder *r)
{
	for (size_t i = 1; i < r->o->npids; i++) {
		struct pollfd p = {.fd = r->pidfds[i], .events = POLLIN};

		if (r->pidfds[i] >= 0 ? poll(&p, 1, 0) == 0 : !kill(r->o->pids[i], 0))
			return false;
	}
	return true;
}

/* Has the target ended (a launched command; every process given to -p)? Reaps a launched
 * child, keeping its status. */
static bool target_gone(struct recorder *r)
{
	struct pollfd p = {.fd = r->pidfd, .events = POLLIN};
	int status;

	if (r->exited)
		return true;
	if (r->launched) {
		if (waitpid(r->pid, &status, WNOHANG) != r->pid)
			return false;
		child_ended(r, status);
		return true;
	}
	if ((r->pidfd >= 0 ? poll(&p, 1, 0) == 1 : kill(r->pid, 0) && errno == ESRCH) &&
	    others_gone(r)) {
		r->exit_code = -1;
		r->exited = true;
	}
	return r->exited;
}

/* Calls FN(ARG, CHILD) for every child process of PID alive now (their PPid is PID), until one
 * returns non-zero: that is returned. */
static int each_child(pid_t pid, int (*fn)(void *arg, pid_t child), void *arg)
{
	char path[64], buf[512], *p;
	struct dirent *de;
	int ppid, err = 0;
	DIR *d = opendir("/proc");
	FILE *f;

	while (!err && d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		/* "pid (comm) S ppid ...": comm may hold ") " itself */
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == pid && atoi(de->d_name) != pid)
			err = fn(arg, atoi(de->d_name));
		fclose(f);
	}
	if (d)
		closedir(d);
	return err;
}

static int count_child(void *arg, pid_t child)
{
	(void)child;
	++*(uint32_t *)arg;
	return 0;
}

/* Child processes of PID alive now. */
static uint32_t children_of(pid_t pid)
{
	uint32_t n = 0;

	each_child(pid, count_child, &n);
	return n;
}

/* The processes the targets had when recording began and those they started since, not
 * followed (or past the BPF side's room). */
static uint64_t children_unrecorded(struct recorder *r)
{
	return r->children0 + bpf_stat(r, STAT_CHILD_PROCS);
}

/* The events of every process's collector. */
static uint64_t all_events(const struct recorder *r)
{
	uint64_t n = 0;
	struct collector *c;

	for (size_t i = 0; (c = procset__at(r->procs, i)); i++)
		n += collector__events(c);
	return n;
}

/* LAST: the recording ends; the losses no event has placed in the stream yet go at its end. */
static void flush(struct recorder *r, bool last)
{
	if (last) {
		r->lost_seen = bpf_stat(r, STAT_LOST);
		collector__lost(r->col, r->lost_seen);
	}
	for (size_t i = 0; procset__at(r->procs, i); i++)
		collector__counters(procset__at(r->procs, i));
	if (r->o->children || r->launched) {
		collector__count(r->col, UNREAD_CHILDREN, procset__unread(r->procs));
		collector__count(r->col, "events dropped: their process was gone before it could be "
				 "read", procset__dropped(r->procs));
		collector__count(r->col, "events of threads whose process was not known (given to "
				 "the first)", procset__unplaced(r->procs));
	}
	if (r->o->loop_threshold_ms)
		collector__count(r->col, "loops: threads waiting in two epoll instances, not loops",
				 bpf_stat(r, STAT_TWO_WAIT_SETS));
	if (r->probes)
		collector__count(r->col, "lock calls untracked: in-flight table full",
				 bpf_stat(r, STAT_INFLIGHT_FULL));
	if (r->probes && r->o->mode == RECORD_AUTO) {
		collector__count(r->col, "auto mode: full-mode stretches skipped, probes too dear",
				 r->skipped);
		collector__count(r->col, "auto mode: full-mode stretches cut short by the budget",
				 r->cut);
	}
	if (last)
		collector__count(r->col, UNRECORDED_CHILDREN, children_unrecorded(r));
	if (!r->err)
		r->err = trace_writer__flush(r->w);
}

/* The probes are out since AT: the stretch on ends there, in the trace too. */
static void probes_out(struct recorder *r, uint64_t at)
{
	r->phase_start = at;
	r->on_ns += at - r->on_since;
	r->cpu_off = ls_process_cpu_ns(r->pid);
	ring_buffer__consume(r->rb);	/* the window's events precede its end */
	collector__window(r->col, false, at);
}

/* Switches full mode's probes on or off and marks it in the trace: held-lock state does not
 * carry across an off stretch. Lock calls left pending by an off stretch (their return went
 * unseen) are told apart by the window count, raised here. Auto mode's guard opens the
 * probes' account with CREDIT ns of probe cost. */
static void window(struct recorder *r, bool on, double credit)
{
	uint64_t before = ls_mono_ns();

	if (on) {
		double slack = r->budget.share * BUDGET_SLACK_CPU_NS;

		r->skel->bss->window_gen++;	/* calls pending from before are stale */
		/* the time to attach counts as on: probes trap as soon as each link is in */
		if (r->guard ? guard__attach(r->guard, credit + slack, credit + slack)
			     : lock_probes__attach(r->probes))
			return;	/* stay off; the next window tries again */
		r->hits0[0] = bpf_stat(r, STAT_PROBE_ENTRY);
		r->hits0[1] = bpf_stat(r, STAT_PROBE_RETURN);
		r->cpu0 = ls_process_cpu_ns(r->pid);
		r->phase_start = before;
		r->on_since = before;
		r->stretches++;
		r->window_pending = r->launched && r->go_fd >= 0;
		if (!r->window_pending)
			collector__window(r->col, true, before);
	} else {
		/* ... and so does the time to detach: they trap until their link is gone */
		if (r->guard)
			guard__detach(r->guard);
		else
			lock_probes__detach(r->probes);
		probes_out(r, ls_mono_ns());
	}
	if (getenv("LOCKSCOPE_DEBUG"))
		fprintf(stderr, "lockscope: debug: probes %s in %.1f ms\n", on ? "on" : "off",
			(ls_mono_ns() - before) / 1e6);
}

/* A target seen to run CPython gets its lock calls probed too, beside the C library's: at once
 * where those are in (no window edge: none of the target's lock calls go unseen meanwhile), else
 * from auto mode's next stretch on. */
static void probe_python(struct recorder *r)
{
	const char *object;
	uint64_t lo, hi;

	collector__python_look(r->col, false);
	python_where(r);
	/* its lock waits, but for the GIL's, wake the collector: their frames say what they are */
	if (!r->skel->bss->py_wake && !collector__gil_range(r->col, &lo, &hi)) {
		r->skel->bss->py_gil_lo = lo;
		r->skel->bss->py_gil_hi = hi;
		r->skel->bss->py_wake = 1;
	}
	if (!r->probes || r->python_probed || !(object = collector__python_object(r->col)))
		return;
	r->python_probed = true;
	if (r->guard ? guard__add_python(r->guard, object) : lock_probes__add_python(r->probes,
											   object))
		ls_note("record", "%s: CPython's lock calls cannot be probed", object);
}

/* X rounded to two significant digits: 21818 -> 22000 */
static double two_digits(double x)
{
	double scale = 1;

	while (x / scale >= 100)
		scale *= 10;
	return (double)(uint64_t)(x / scale + 0.5) * scale;
}

static bool is_lock(void *arg, uint64_t ip)
{
	struct recorder *r = arg;

	return ip && lock_probes__is_lock_function(r->probes, collector__function(r->col, ip));
}

/* Auto mode looks before each stretch on: where the target's threads ran for LOOK_NS. Time in
 * the lock functions predicts what the probes would cost; probes that would cost too much to be
 * worth it (budget__worth) stay off without a stretch on to price them, which for a program
 * making tens of millions of lock calls a second would cost more than the whole budget. True
 * while the look goes on, or when it says to stay off. */
static bool look_first(struct recorder *r, uint64_t now)
{
	uint64_t samples, in_lock;
	char why[256];
	double g;

	if (r->look_failed)
		return false;
	if (!r->look) {
		r->look = lookahead__start(r->skel->progs.ip_sampler,
					   bpf_map__fd(r->skel->maps.sampled_ips), why, sizeof(why));
		r->look_failed = !r->look;
		r->look_end = now + LOOK_NS;
		if (r->look_failed && !r->o->quiet)
			ls_note("record", "auto mode: prices its probes by trying them (%s)", why);
		return !r->look_failed;
	}
	if (now < r->look_end)
		return true;
	lookahead__count(r->look, is_lock, r, &samples, &in_lock);
	lookahead__free(r->look);
	r->look = NULL;
	g = budget__predict(&r->budget, samples, in_lock, r->pair_ns);
	if (getenv("LOCKSCOPE_DEBUG"))
		fprintf(stderr, "lockscope: debug: look: %llu of %llu samples in lock functions, "
			"predicted cost %.3g\n", (unsigned long long)in_lock,
			(unsigned long long)samples, g);
	if (budget__worth(&r->budget, g))
		return false;
	r->phase_end = now + WINDOW_NS;
	r->skipped++;
	if (!r->told_off && !r->o->quiet)
		ls_note("record", "auto mode: lock calls take %.0f%% of the target's CPU time; "
			"probed, it would run ~%.0f times slower: full mode off until a look finds "
			"lock calls cheaper (every %.0f s)", 100.0 * in_lock / samples,
			two_digits(1 + g), WINDOW_NS / 1e9);
	r->told_off = true;
	return true;
}

/* Auto mode: after each stretch with the probes on, price what they cost and decide how long
 * to leave them off so that the target loses at most the budget. */
static void auto_tick(struct recorder *r, uint64_t now)
{
	uint64_t on_len, e, ret, cpu, cut_at = 0;
	bool cut;
	double d;

	if (!r->probes || r->o->mode != RECORD_AUTO)
		return;
	cut = r->guard && guard__tripped(r->guard, &cut_at);
	if (!cut && now < r->phase_end)
		return;
	if (!cut && !lock_probes__attached(r->probes)) {
		uint64_t cpu_now = ls_process_cpu_ns(r->pid);

		if (look_first(r, now))
			return;
		/* a planned stretch may spend what the target's work earned while off */
		window(r, true, r->budget.share * (double)(cpu_now > r->cpu_off ?
							    cpu_now - r->cpu_off : 0));
		r->phase_end = ls_mono_ns() + r->next_on_len;	/* measured once all are in */
		return;
	}
	if (cut) {
		now = cut_at;
		r->cut++;
	}
	on_len = now - r->phase_start;
	e = bpf_stat(r, STAT_PROBE_ENTRY) - r->hits0[0];
	ret = bpf_stat(r, STAT_PROBE_RETURN) - r->hits0[1];
	cpu = ls_process_cpu_ns(r->pid) - r->cpu0;
	d = budget__update(&r->budget, e, ret, cpu, on_len);
	if (getenv("LOCKSCOPE_DEBUG"))
		fprintf(stderr, "lockscope: debug: %llu + %llu hits, cost %.3g, duty %.3g\n",
			(unsigned long long)e, (unsigned long long)ret, r->budget.last_cost, d);
	if (!budget__worth(&r->budget, r->budget.last_cost)) {
		if (!r->told_off && !r->o->quiet)
			ls_note("record", "auto mode: its probes cost %.1fx the target's own CPU time: "
				"full mode off until a look finds lock calls cheaper (every %.0f s)",
				r->budget.last_cost, WINDOW_NS / 1e9);
		r->told_off = true;
		r->skipped++;
		if (cut)
			probes_out(r, cut_at);
		else
			window(r, false, 0);	/* off until the next look */
		r->phase_end = r->phase_start + WINDOW_NS;
		return;
	}
	if (cut) {	/* the budget spent before the stretch's end: off, then as planned */
		probes_out(r, cut_at);
		d = d < 0.999 ? d : 0.5;
	} else if (d >= 0.999) {	/* cheap: stay on, price it again next window */
		r->phase_start = now;
		r->hits0[0] += e;
		r->hits0[1] += ret;
		r->cpu0 += cpu;
		r->phase_end = now + WINDOW_NS;
		return;
	} else {
		window(r, false, 0);
	}
	/* off long enough that the whole stretch on, attach and detach included, is a share d */
	on_len = r->phase_start - r->on_since;
	r->next_on_len = d * WINDOW_NS > MIN_ON_NS ? d * WINDOW_NS : MIN_ON_NS;
	r->phase_end = r->phase_start + (uint64_t)(on_len * (1 - d) / d);
}

/* The launched command does not use the C library whose lock calls are probed (a static or
 * musl binary): its lock calls cannot be seen. Says so, in the trace too, and records the
 * contention mode's view, rather than full mode's coverage of nothing. */
static void unprobeable(struct recorder *r)
{
	if (!r->o->quiet)
		ls_note("record", "%s does not use %s (a static or musl binary?): its lock calls "
			"cannot be probed; recording contention only", r->o->cmd[0],
			lock_probes__library(r->probes));
	guard__free(r->guard);
	r->guard = NULL;
	r->window_pending = false;	/* no window in the trace: nothing was probed */
	lock_probes__detach(r->probes);
	r->on_ns = 0;
	collector__count(r->col, UNPROBED, 1);
	lock_probes__free(r->probes);
	r->probes = NULL;
}

static void stop_child(struct recorder *r)
{
	if (!r->launched || target_gone(r))
		return;
	kill(r->pid, SIGTERM);
	for (int i = 0; i < 50 && !target_gone(r); i++)
		usleep(20000);
}

static int loop_off_cpu(void *arg, uint32_t tid, const struct ls_loop_state *st, uint64_t now)
{
	struct recorder *r = arg;

	struct collector *c = procset__of(r->procs, tid);

	return c ? collector__loop_off_cpu(c, bpf_map__fd(r->skel->maps.loops), tid, st, now,
					   !r->o->no_stacks)
		 : 0;
}

/* Event loops: the sampler takes the stacks of busy blocks; those of sleeping ones are read
 * here, while they last. */
static int watch_loops(struct recorder *r)
{
	if (!r->o->loop_threshold_ms)
		return LS_EXIT_OK;
	r->loops = loopwatch__new(bpf_map__fd(r->skel->maps.loops), r->skel->progs.loop_sampler,
				  r->o->loop_threshold_ms * 1000000ull);
	if (!r->loops) {
		ls_err("record", "out of memory");
		return LS_EXIT_SYSTEM;
	}
	return LS_EXIT_OK;
}

/* How long the run loop may wait for events: auto mode's stretches and looks end on time. */
static int poll_ms(const struct recorder *r)
{
	uint64_t now = ls_mono_ns(), end = r->look ? r->look_end : r->phase_end;
	int ms = r->nloops ? LOOP_POLL_MS : POLL_MS;

	if (r->probes && r->o->mode == RECORD_AUTO && end > now && end - now < ms * 1000000ull)
		ms = (int)((end - now + 999999) / 1000000);
	else if (r->probes && r->o->mode == RECORD_AUTO && end <= now)
		ms = 1;
	/* a program that exec'd (a pyenv shim, a wrapper script) may be CPython by now: found
	 * before its program's first lines run, their waits carry their Python frames */
	if (r->col && collector__python_looking(r->col) && ms > PY_LOOK_POLL_MS)
		ms = PY_LOOK_POLL_MS;
	return ms;
}

/* The live status line: time recorded, events, losses, full mode's share, deadlocks. */
static void show_status(struct recorder *r, uint64_t now)
{
	uint64_t elapsed = now - r->start_mono, on = r->on_ns;
	char line[256];
	int n;

	if (r->probes && lock_probes__attached(r->probes) && now > r->on_since)
		on += now - r->on_since;
	n = snprintf(line, sizeof(line), "lockscope: %.1f s, %llu events, %llu lost",
		     elapsed / 1e9, (unsigned long long)collector__events(r->col),
		     (unsigned long long)bpf_stat(r, STAT_LOST));
	if (r->probes)
		n += snprintf(line + n, sizeof(line) - n, ", full mode %.0f%%",
			      100.0 * on / (elapsed ? elapsed : 1));
	if (r->deadlocks)
		snprintf(line + n, sizeof(line) - n, ", %u DEADLOCK%s", r->deadlocks,
			 r->deadlocks > 1 ? "S" : "");
	else
		snprintf(line + n, sizeof(line) - n, ", no deadlock");
	ls_status(line);
}

static int run_loop(struct recorder *r, volatile const int *stop)
{
	uint64_t deadline = r->o->duration > 0 ? r->start_mono + r->o->duration * 1e9 : 0;
	uint64_t next_flush = ls_mono_ns() + FLUSH_NS;

	while (!*stop && !r->err) {
		/* events come without wakeups (BPF_RB_NO_WAKEUP) unless the buffer fills: poll
		 * only waits; what arrived meanwhile must be consumed explicitly */
		int n, ms = poll_ms(r);
		uint64_t now;

		r->consume_until = ls_mono_ns() + ms * 1000000ull + CONSUME_NS;
		n = ring_buffer__poll(r->rb, ms);
		r->consume_until = ls_mono_ns() + CONSUME_NS;
		if (n >= 0 || n == -EINTR)
			n = ring_buffer__consume(r->rb);
		r->consume_until = 0;	/* finish() reads what is left, all of it */
		if (n == -EAGAIN)
			n = 0;
		now = ls_mono_ns();
		if (r->loops && !r->err) {
			char why[256] = "";

			r->nloops = loopwatch__scan(r->loops, now, loop_off_cpu, r, why, sizeof(why));
			r->err = r->nloops < 0 ? r->nloops : 0;
			if (why[0])
				ls_note("record", "event loops: busy blocks get no stack (%s)", why);
		}
		if (n < 0 && n != -EINTR) {
			ls_err("record", "reading the ring buffer: %s", strerror(-n));
			return LS_EXIT_SYSTEM;
		}
		if (target_gone(r))
			break;
		if (deadline && now >= deadline)
			break;
		probe_python(r);
		auto_tick(r, now);
		check_deadlocks(r, now);
		check_asyncio(r, now);
		if (r->o->tick && r->o->tick(r->o->live_arg, now - r->start_mono))
			break;
		if (r->status && now >= r->next_status) {
			show_status(r, now);
			r->next_status = now + STATUS_NS;
		}
		if (now >= next_flush) {
			/* dlopen, late mappings: names stay right */
			for (size_t i = 0; procset__at(r->procs, i); i++)
				collector__refresh(procset__at(r->procs, i));
			flush(r, false);
			next_flush = now + FLUSH_NS;
		}
	}
	return LS_EXIT_OK;
}

static int finish(struct recorder *r)
{
	struct ls_rec end = {.type = LS_REC_END};
	bool behind;
	int err;

	/* named while the target's objects are still mapped; a target that floods the recorder
	 * still gets its trace finished (what was left is said) */
	r->consume_until = ls_mono_ns() + 4 * CONSUME_NS;
	behind = ring_buffer__consume(r->rb) == -EAGAIN;
	r->consume_until = 0;
	stop_child(r);
	if (r->probes && lock_probes__attached(r->probes))
		window(r, false, 0);
	r->consume_until = ls_mono_ns() + 4 * CONSUME_NS;
	behind |= ring_buffer__consume(r->rb) == -EAGAIN;	/* what the kernel still holds */
	r->consume_until = 0;
	if (behind)
		collector__count(r->col, "recording ended with events not read: the recorder fell "
				 "behind the targets", 1);
	if (target_gone(r))
		collector__proc_exit(r->col, r->exit_code);
	check_deadlocks(r, ls_mono_ns());
	flush(r, true);
	end.ts = collector__last_ts(r->col);
	end.end.duration_ns = ls_mono_ns() - r->start_mono;
	end.end.events = all_events(r);
	end.end.lost = r->lost_seen;
	trace_writer__append(r->w, &end);
	err = trace_writer__close(r->w);
	r->w = NULL;
	if (r->err || err) {
		ls_err("record", "%s: %s", out_name(r), strerror(-(r->err ? r->err : err)));
		return LS_EXIT_SYSTEM;
	}
	if (getenv("LOCKSCOPE_DEBUG"))
		fprintf(stderr, "lockscope: debug: %llu waits came with their call path's key\n",
			(unsigned long long)collector__path_waits(r->col));
	ls_status(NULL);
	if (r->o->quiet)
		return LS_EXIT_OK;
	fprintf(stderr, "lockscope: record: %llu events (%llu lost) in %.1f s written to %s",
		(unsigned long long)all_events(r), (unsigned long long)r->lost_seen,
		end.end.duration_ns / 1e9, r->o->output);
	if (r->probes)
		fprintf(stderr, "; full mode %.0f%% of the time", 100.0 * r->on_ns /
			(end.end.duration_ns ? end.end.duration_ns : 1));
	if (r->guard)
		fprintf(stderr, " (%llu stretches, %llu cut short by the %g%% budget)",
			(unsigned long long)r->stretches, (unsigned long long)r->cut,
			r->o->overhead_budget);
	fputc('\n', stderr);
	if (r->probes && procset__at(r->procs, 1))
		ls_note("record", "lock calls were probed in process %d only: the other processes "
			"were recorded at the futex level", (int)collector__tgid(r->col));
	if (children_unrecorded(r))
		ls_note("record", "%llu child processes were not recorded: use --children",
			(unsigned long long)children_unrecorded(r));
	if (procset__unread(r->procs))
		ls_note("record", "%llu child processes were gone before they could be read: not "
			"recorded", (unsigned long long)procset__unread(r->procs));
	return LS_EXIT_OK;
}

/* ", 4243, 4250" for the processes given after the first. */
static const char *others_text(const struct recorder *r, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 1; i < r->o->npids; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), ", %d", (int)r->o->pids[i]);
	return buf;
}

static int add_process(struct recorder *r, pid_t pid);

/* Adds CHILD and its descendants, parents before their children. */
static int add_descendants(void *arg, pid_t child)
{
	struct recorder *r = arg;

	return add_process(r, child) ?: each_child(child, add_descendants, r);
}

/* One more process to record from now on: its collector, its objects, a target of the BPF side.
 * One gone meanwhile is left out (a descendant), or refused (one given to -p). */
static int add_process(struct recorder *r, pid_t pid)
{
	struct collector *c = procset__add(r->procs, pid, ls_process_reader(pid));
	__u32 tgid = pid;
	__u8 one = 1;

	if (!c)
		return errno == ESRCH || errno == ENOENT ? 0 : -errno;
	return bpf_map__update_elem(r->skel->maps.targets, &tgid, sizeof(tgid), &one, sizeof(one),
				    BPF_ANY);
}

/* The other processes given to -p, and with --children every descendant of them all. */
static int add_processes(struct recorder *r)
{
	int err = 0;

	for (size_t i = 1; !err && i < r->o->npids; i++) {
		err = add_process(r, r->o->pids[i]);
		if (!err && !procset__at(r->procs, i))
			err = -ESRCH;
	}
	for (size_t i = 0; !err && r->o->children && i < r->o->npids; i++)
		err = each_child(r->o->pids[i], add_descendants, r);
	return err;
}

int record__run(const struct record_opts *o, volatile const int *stop)
{
	struct recorder r = {.o = o, .pid = o->pid, .go_fd = -1, .exec_err_fd = -1, .pidfd = -1};
	__u32 tgid = o->pid;
	char others[256];
	__u8 one = 1;
	int rc;

	for (size_t i = 0; i < RECORD_MAX_PIDS; i++)
		r.pidfds[i] = -1;
	for (size_t i = 1; i < o->npids; i++)
		r.pidfds[i] = syscall(SYS_pidfd_open, o->pids[i], 0);

	libbpf_set_print(libbpf_quiet);
	rc = check_system(o);
	if (rc)
		return rc;
	if (o->cmd && (rc = launch(&r)))
		return rc;
	if (!r.launched) {
		/* a leader that called pthread_exit has no memory left to read: a thread has */
		r.pid = ls_process_reader(o->pid);
		r.pidfd = syscall(SYS_pidfd_open, o->pid, 0);
	}
	rc = open_bpf(&r);
	if (!rc)
		rc = open_trace(&r);
	if (rc)
		goto cleanup;
	r.rb = ring_buffer__new(bpf_map__fd(r.skel->maps.rb), event_cb, &r, NULL);
	if (!r.rb) {
		ls_err("record", "ring buffer: %s", strerror(errno));
		rc = LS_EXIT_SYSTEM;
		goto cleanup;
	}
	rc = setup_full(&r) ?: watch_loops(&r);
	if (rc)
		goto cleanup;
	/* full, and auto on a launched command: probed from the first instruction, so that a
	 * short program's lock order is seen whole. Auto's guard holds that first stretch to the
	 * budget's slack, and the run loop prices it from the command's release on */
	if (r.probes && (o->mode == RECORD_FULL || r.launched))
		window(&r, true, 0);
	r.next_on_len = FIRST_ON_NS;
	r.phase_end = 0;
	/* a launched command is snapshot once it has exec'd, an attached process right away */
	if (r.launched && (rc = release_child(&r)))
		goto cleanup;
	if (r.launched && r.probes && !r.exited && !lock_probes__target_uses(r.probes))
		unprobeable(&r);
	if (r.window_pending)
		collector__window(r.col, true, ls_mono_ns());
	r.window_pending = false;
	if (r.launched && r.probes && o->mode == RECORD_AUTO && lock_probes__attached(r.probes)) {
		r.phase_start = ls_mono_ns();
		r.on_since = r.phase_start;	/* held at its entry until now: nothing to probe */
		r.hits0[0] = bpf_stat(&r, STAT_PROBE_ENTRY);
		r.hits0[1] = bpf_stat(&r, STAT_PROBE_RETURN);
		r.cpu0 = ls_process_cpu_ns(r.pid);
		/* priced by the guard alone: a program done within the budget's slack (most unit
		 * tests and tools) is probed whole, a lock-heavy one cut after a few hundred hits */
		r.phase_end = r.phase_start + WINDOW_NS;
	}
	/* events of a running process flow from here on: loading DWARF while they pile up in
	 * the ring buffer would lose them at high rates (a launched one's are loaded at entry) */
	/* its children from here on are counted as they fork */
	if (!r.launched && !o->children)
		for (size_t i = 0; i < o->npids; i++)
			r.children0 += children_of(o->pids[i]);
	if (!r.launched)
		r.err = collector__load_objects(r.col) ?: bpf_map__update_elem(
		    r.skel->maps.targets, &tgid, sizeof(tgid), &one, sizeof(one), BPF_ANY);
	if (!r.err && !r.launched)
		r.err = add_processes(&r);
	/* an attached process's first stretch on precedes the snapshot: holders the snapshot
	 * infers must not be forgotten at a window's edge right after it */
	if (!r.err && !r.launched && r.probes && o->mode == RECORD_AUTO) {
		window(&r, true, 0);
		r.phase_end = ls_mono_ns() + FIRST_ON_NS;	/* measured once all are in */
	}
	r.err = r.err ?: collector__describe(r.col);
	if (!r.exited)
		r.err = r.err ?: collector__attach_snapshot(r.col);
	for (size_t i = 1; !r.err && procset__at(r.procs, i); i++)
		r.err = collector__attach_snapshot(procset__at(r.procs, i));
	if (r.err) {
		ls_err("record", "process %d: %s", r.pid, strerror(-r.err));
		rc = LS_EXIT_SYSTEM;
		goto cleanup;
	}
	/* recording has begun: from here on the trace is at its name, so that a recorder killed
	 * by SIGKILL leaves it readable; a recording refused before left what was there alone */
	r.err = trace_writer__publish(r.w);
	if (r.err) {
		ls_err("record", "%s: %s", out_name(&r), strerror(-r.err));
		rc = ls_path_status(-r.err);
		goto cleanup;
	}
	if (!o->quiet)
		fprintf(stderr, "lockscope: recording %s %d%s%s (%s mode%s, %s); Ctrl-C to stop\n",
			r.launched ? "command, pid" : o->npids > 1 ? "pids" : "pid",
			(int)(r.launched ? r.pid : (pid_t)tgid),
			others_text(&r, others, sizeof(others)),
			r.launched || o->children ? " and the processes it starts" : "",
			mode_names[o->mode], r.probes ? ", lock API probed" : "", r.attach_kind);
	r.status = !o->quiet && isatty(STDERR_FILENO);
	rc = run_loop(&r, stop);
	if (!rc)
		rc = finish(&r);
cleanup:
	ls_status(NULL);
	entrystop__release(&r.entry);
	if (r.launched && !r.exited) {
		if (r.go_fd >= 0)
			close(r.go_fd);	/* the child exits without exec */
		stop_child(&r);
	}
	trace_writer__discard(r.w);	/* a recording that did not finish (one published stays) */
	lookahead__free(r.look);
	guard__free(r.guard);
	lock_probes__free(r.probes);
	loopwatch__free(r.loops);
	ring_buffer__free(r.rb);
	procset__free(r.procs);
	collector__free(r.col);
	deadlock__free(r.deadlock);
	asyncwatch__free(r.asyncwatch);
	model__free(r.model);
	lockscope_bpf__destroy(r.skel);
	if (r.pidfd >= 0)
		close(r.pidfd);
	for (size_t i = 1; i < o->npids; i++)
		if (r.pidfds[i] >= 0)
			close(r.pidfds[i]);
	if (r.exec_err_fd >= 0)
		close(r.exec_err_fd);
	return rc;
}
