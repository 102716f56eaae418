/* test_pyreader.c - the CPython frame reader: live, on every interpreter on the machine, against
 * the truth a workload prints about itself; and on hand-built memory images, whole and damaged. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jsonparse.h"
#include "memimage.h"
#include "proc.h"
#include "python/pyreader.h"

#define WORKLOAD_PY "tests/workloads/py_stacks.py"
#define MAX_CHILDREN 4

/* ---- live targets ---- */

static pid_t children[MAX_CHILDREN];

/* Every Python process a test started dies with the test, whatever happened to it. */
static void reap_children(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	}
}

TestSuite(pyreader, .fini = reap_children);

struct live {
	pid_t pid;
	struct jp_value *truth;
};

/* Reads one line from FD within TIMEOUT_MS. */
static char *read_line(int fd, int timeout_ms)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	while (buf && n < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		got = read(fd, buf + n, cap - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
		if (memchr(buf, '\n', n)) {
			buf[n] = '\0';
			*strchr(buf, '\n') = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/* Starts PYTHON on the workload with ARG1 ARG2 and reads the truth it prints. */
static void live_start(struct live *lv, const char *python, const char *arg1, const char *arg2)
{
	const char *argv[] = { python, WORKLOAD_PY, "--timeout", "60", arg1, arg2, NULL };
	char err[128], *line;
	int fds[2], slot = 0;
	pid_t pid;

	while (slot < MAX_CHILDREN && children[slot])
		slot++;
	cr_assert_lt(slot, MAX_CHILDREN);
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* a test that crashes takes it along */
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(python, (char *const *)argv);
		_exit(127);
	}
	children[slot] = pid;
	close(fds[1]);
	line = read_line(fds[0], 20000);
	close(fds[0]);
	cr_assert(line, "%s %s: no ground truth printed", python, WORKLOAD_PY);
	lv->pid = pid;
	lv->truth = jp_parse(line, strlen(line), err, sizeof(err));
	cr_assert(lv->truth, "%s: %s", err, line);
	free(line);
}

static void live_stop(struct live *lv)
{
	jp_free(lv->truth);
	reap_children();
}

static struct pyreader *live_reader(const struct live *lv)
{
	char why[256] = "";
	struct pyreader *r = pyreader__open(lv->pid, why, sizeof(why));

	cr_assert(r, "pyreader__open(%d): %s: %s", lv->pid, strerror(errno), why);
	return r;
}

/* python3 as PATH finds it, resolved past pyenv's shim to the interpreter it runs. */
static const char *path_python3(char *buf, size_t len)
{
	FILE *p = popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null", "r");
	bool ok = p && fgets(buf, (int)len, p) && buf[0] == '/';

	if (p)
		pclose(p);
	if (!ok)
		return NULL;
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static const struct py_thread *by_tid(const struct py_thread *v, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].tid == tid)
			return &v[i];
	return NULL;
}

/* The thread's stack, names, files and lines, as the interpreter reported them itself. */
static void check_thread(const struct py_thread *t, const struct jp_value *want)
{
	const struct jp_value *frames = jp_get(want, "frames");
	const char *name = jp_str(jp_get(want, "name"));

	cr_assert(t, "thread %s not found", name);
	cr_expect_str_eq(t->name ? t->name : "(none)", name);
	cr_expect_not(t->truncated);
	cr_assert_eq(t->nframes, frames->len, "%s: %zu frames, want %zu", name, t->nframes,
		     frames->len);
	for (size_t i = 0; i < t->nframes; i++) {
		const struct py_frame *f = &t->frames[i];
		const struct jp_value *w = jp_at(frames, i);
		uint64_t line;
		char text[1024];

		cr_assert(jp_uint(jp_get(w, "line"), &line));
		snprintf(text, sizeof(text), "%s (%s:%d)", jp_str(jp_get(w, "func")),
			 strrchr(jp_str(jp_get(w, "file")), '/') + 1, (int)line);
		cr_expect_str_eq(f->func, jp_str(jp_get(w, "func")), "%s frame %zu", name, i);
		cr_expect_str_eq(f->file, jp_str(jp_get(w, "file")), "%s frame %zu", name, i);
		cr_expect_eq(f->line, (int)line, "%s frame %zu: %s: line %d, want %d", name, i,
			     f->func, f->line, (int)line);
		cr_expect(f->line_exact);
		cr_expect_str_eq(f->text, text);
	}
}

/* Three threads parked in known chains: every frame, line and name as the truth says. */
static void check_stacks(const char *python, bool want_libpython)
{
	const struct jp_value *threads;
	struct py_thread *v, one;
	struct pyreader *r;
	struct py_info info;
	struct py_stats st;
	struct live lv;
	uint64_t tid;
	size_t n;

	live_start(&lv, python, "stacks", NULL);
	r = live_reader(&lv);
	pyreader__info(r, &info);
	cr_log_info("%s: CPython %x, _PyRuntime 0x%lx in %s%s", python, info.version,
		    (unsigned long)info.runtime, info.object,
		    info.debug_offsets ? " (debug offsets)" : "");
	cr_expect_eq(strstr(info.object, "libpython") != NULL, want_libpython, "%s", info.object);
	cr_assert_eq(pyreader__threads(r, &v, &n), 0);
	threads = jp_get(lv.truth, "threads");
	cr_assert_eq(n, threads->len + 1, "%zu threads, want %zu", n, threads->len + 1);
	for (size_t i = 0; i < threads->len; i++) {
		cr_assert(jp_uint(jp_get(jp_at(threads, i), "tid"), &tid));
		check_thread(by_tid(v, n, (pid_t)tid), jp_at(threads, i));
	}
	cr_assert(jp_uint(jp_get(lv.truth, "main_tid"), &tid));
	cr_assert(by_tid(v, n, (pid_t)tid));
	cr_assert_geq(by_tid(v, n, (pid_t)tid)->nframes, 1);
	cr_expect_str_eq(by_tid(v, n, (pid_t)tid)->name, "MainThread");
	cr_expect_str_eq(by_tid(v, n, (pid_t)tid)->frames[0].func, "main");
	/* one thread alone, as the recorder asks for a waiter's stack */
	cr_assert(jp_uint(jp_get(jp_at(threads, 1), "tid"), &tid));
	cr_assert_eq(pyreader__thread(r, (pid_t)tid, &one), 0);
	check_thread(&one, jp_at(threads, 1));
	pyreader__thread_clear(&one);
	cr_expect_eq(pyreader__thread(r, 1, &one), -ENOENT);
	pyreader__stats(r, &st);
	cr_expect_eq(st.frames_skipped + st.lines_inexact + st.stacks_truncated, 0);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	live_stop(&lv);
}

/* True if the interpreter at PY is linked against a shared libpython. */
static bool has_libpython(const char *py)
{
	char cmd[600], out[16] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ldd '%s' 2>/dev/null | grep -c libpython", py);
	p = popen(cmd, "r");
	if (!p)
		return false;
	if (!fgets(out, sizeof(out), p))
		out[0] = '\0';
	pclose(p);
	return atoi(out) > 0;
}

Test(pyreader, stacks_of_python3_on_path, .timeout = 60)
{
	char buf[512];
	const char *py = path_python3(buf, sizeof(buf));

	if (!py)
		cr_assert_fail("no python3 on PATH (make deps installs it)");
	check_stacks(py, has_libpython(py));
}

Test(pyreader, stacks_of_debian_311_static_and_stripped, .timeout = 60)
{
	struct live lv;
	struct pyreader *r;
	struct py_info info;
	const struct jp_value *ver;

	if (access("/usr/bin/python3.11", X_OK))
		cr_assert_fail("no /usr/bin/python3.11 (Debian 12's python3)");
	check_stacks("/usr/bin/python3.11", false);
	/* the version comes from Py_Version in the stripped binary: 3.11.x like the table row */
	live_start(&lv, "/usr/bin/python3.11", "stacks", NULL);
	r = live_reader(&lv);
	pyreader__info(r, &info);
	ver = jp_get(lv.truth, "version");
	cr_expect_eq(info.version >> 16, 0x030bu);
	cr_expect_eq((info.version >> 8 & 0xff), (unsigned)jp_at(ver, 2)->number);
	cr_expect_str_eq(info.object, "/usr/bin/python3.11");
	pyreader__free(r);
	live_stop(&lv);
}

static void check_stacks_any(const struct test_python *py)
{
	check_stacks(py->path, has_libpython(py->path));
}

/* Every interpreter under test (tests/support: pyenv's 3.10 to 3.13 and Debian's 3.11 here)
 * must read exactly. */
Test(pyreader, stacks_of_every_interpreter_under_test, .timeout = 120)
{
	on_every_python(check_stacks_any);
}

/* _PyRuntime's address and size, found independently with readelf and the target's maps. */
static void runtime_by_readelf(pid_t pid, const char *object, uint64_t *addr, uint64_t *size)
{
	char cmd[1024], line[512], path[600];
	unsigned long value = 0, sz = 0, start, off;
	bool exec_type = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "readelf -W --dyn-syms '%s' | awk '$8 == \"_PyRuntime\" {print $2, $3}'; "
		 "readelf -h '%s' | grep -c 'EXEC (Executable'", object, object);
	p = popen(cmd, "r");
	cr_assert(p);
	cr_assert(fgets(line, sizeof(line), p));
	cr_assert_eq(sscanf(line, "%lx %li", &value, &sz), 2, "%s", line);
	cr_assert(fgets(line, sizeof(line), p));
	exec_type = atoi(line) > 0;
	pclose(p);
	*addr = value;
	*size = sz;
	if (exec_type)
		return;
	/* a shared object: its first PT_LOAD is at vaddr 0 and file offset 0 */
	snprintf(cmd, sizeof(cmd), "/proc/%d/maps", pid);
	p = fopen(cmd, "r");
	cr_assert(p);
	while (fgets(line, sizeof(line), p)) {
		if (sscanf(line, "%lx-%*x %*s %lx %*s %*s %599s", &start, &off, path) == 3 &&
		    !strcmp(path, object) && off == 0) {
			*addr += start;
			break;
		}
	}
	fclose(p);
}

static void check_gil_in_runtime(const char *python)
{
	struct pyreader *r;
	struct py_info info;
	struct live lv;
	uint64_t lo, hi, rt, rt_size;

	live_start(&lv, python, "stacks", NULL);
	r = live_reader(&lv);
	pyreader__info(r, &info);
	runtime_by_readelf(lv.pid, info.object, &rt, &rt_size);
	cr_expect_eq(info.runtime, rt, "runtime 0x%lx, readelf says 0x%lx",
		     (unsigned long)info.runtime, (unsigned long)rt);
	cr_assert_eq(pyreader__gil(r, &lo, &hi), 0);
	cr_expect(lo >= rt && hi <= rt + rt_size && lo < hi,
		  "GIL [0x%lx, 0x%lx) outside _PyRuntime", (unsigned long)lo, (unsigned long)hi);
	cr_expect_eq(hi - lo, 208);	/* struct _gil_runtime_state, 3.10 to 3.13 */
	pyreader__free(r);
	live_stop(&lv);
}

/* 3.10 and 3.11 embed the GIL in _PyRuntime; 3.12+ in the main interpreter's state, which
 * _PyRuntime embeds in turn. */
static void check_gil_in_runtime_any(const struct test_python *py)
{
	check_gil_in_runtime(py->path);
}

Test(pyreader, gil_lies_inside_pyruntime, .timeout = 90)
{
	on_every_python(check_gil_in_runtime_any);
}

/* One thread spinning in pure Python holds the GIL whenever we look, and its stack, read
 * while it runs, stays whole. */
static void check_gil_holder(const char *python)
{
	struct py_thread *v;
	struct pyreader *r;
	struct live lv;
	uint64_t tid;
	size_t n;
	int held = 0, samples = 40;

	live_start(&lv, python, "spin", "1");
	r = live_reader(&lv);
	cr_assert(jp_uint(jp_get(jp_at(jp_get(lv.truth, "threads"), 0), "tid"), &tid));
	for (int i = 0; i < samples; i++) {
		const struct py_thread *spinner;
		int holders = 0;

		cr_assert_eq(pyreader__threads(r, &v, &n), 0);
		spinner = by_tid(v, n, (pid_t)tid);
		cr_assert(spinner);
		cr_assert_geq(spinner->nframes, 2);
		cr_expect_str_eq(spinner->frames[0].func, "spin");
		cr_expect_str_eq(spinner->frames[1].func, "parked");
		for (size_t j = 0; j < n; j++)
			holders += v[j].holds_gil;
		cr_expect_leq(holders, 1);
		held += spinner->holds_gil;
		pyreader__threads_free(v, n);
		usleep(10000);
	}
	/* the main thread takes the GIL for a moment twice a second */
	cr_expect_geq(held, samples * 3 / 4, "%s: spinner held the GIL in %d of %d samples",
		      python, held, samples);
	pyreader__free(r);
	live_stop(&lv);
}

static void check_gil_holder_any(const struct test_python *py)
{
	check_gil_holder(py->path);
}

Test(pyreader, a_spinning_thread_holds_the_gil, .timeout = 90)
{
	on_every_python(check_gil_holder_any);
}

/* Two spinners take turns: the one without the GIL waits on a futex word, which must lie in
 * the GIL's range, so that the recorder can name the lock. */
static void check_gil_futex(const char *python)
{
	struct pyreader *r;
	struct live lv;
	uint64_t lo, hi, tids[2];
	int seen = 0;

	live_start(&lv, python, "spin", "2");
	r = live_reader(&lv);
	cr_assert_eq(pyreader__gil(r, &lo, &hi), 0);
	for (int i = 0; i < 2; i++)
		cr_assert(jp_uint(jp_get(jp_at(jp_get(lv.truth, "threads"), i), "tid"), &tids[i]));
	for (int tries = 0; tries < 2000 && seen < 4; tries++) {
		for (int i = 0; i < 2; i++) {
			char path[64], line[256];
			unsigned long nr, addr;
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", lv.pid,
				 (int)tids[i]);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (fgets(line, sizeof(line), f) &&
			    sscanf(line, "%lu %lx", &nr, &addr) == 2 && nr == 202 /* futex */) {
				cr_expect(addr >= lo && addr < hi,
					  "futex 0x%lx outside the GIL [0x%lx, 0x%lx)", addr,
					  (unsigned long)lo, (unsigned long)hi);
				seen++;
			}
			fclose(f);
		}
		usleep(1000);
	}
	cr_expect_geq(seen, 4, "%s: saw %d futex waits", python, seen);
	pyreader__free(r);
	live_stop(&lv);
}

static void check_gil_futex_any(const struct test_python *py)
{
	check_gil_futex(py->path);
}

Test(pyreader, threads_waiting_for_the_gil_wait_inside_its_range, .timeout = 90)
{
	on_every_python(check_gil_futex_any);
}

Test(pyreader, a_process_that_is_not_python_is_refused)
{
	char why[256] = "";

	cr_assert_null(pyreader__open(getpid(), why, sizeof(why)));
	cr_expect_eq(errno, ENOENT);
	cr_expect(strstr(why, "no _PyRuntime"), "%s", why);
	cr_assert_null(pyreader__new(0x3ffffff0));	/* above pid_max */
	cr_expect_eq(errno, ESRCH);
}

/* ---- memory images ---- */

/* Where a synthetic interpreter keeps things: the real 3.11 layout (from gdb, independent of
 * the reader's table), or an invented one that only debug offsets can describe. */
struct tlay {
	int rt_size, rt_head, rt_gil;			/* rt_gil -1: the GIL is the interp's */
	int is_size, is_next, is_head, is_gil_ptr, is_gil;
	int gil_holder, gil_locked;
	int ts_size, ts_next, ts_interp, ts_cframe, cf_frame, ts_frame, ts_tid, ts_native;
	int fr_size, fr_code, fr_prev, fr_instr, fr_owner, fr_is_entry;
	int co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code;
	int co_firsttraceable;
	int str_len, str_state, str_data, bytes_size, bytes_data, tp_name;
};

static const struct tlay tlay_311 = {
	.rt_size = 600, .rt_head = 40, .rt_gil = 360,
	.is_size = 900, .is_next = 0, .is_head = 16, .is_gil_ptr = -1,
	.gil_holder = 8, .gil_locked = 16,
	.ts_size = 360, .ts_next = 8, .ts_interp = 16, .ts_cframe = 56, .cf_frame = 8,
	.ts_tid = 152, .ts_native = 160,
	.fr_size = 80, .fr_code = 32, .fr_prev = 48, .fr_instr = 56, .fr_owner = 69,
	.fr_is_entry = 68,
	.co_size = 16, .co_filename = 112, .co_name = 120, .co_qualname = 128,
	.co_linetable = 136, .co_firstlineno = 72, .co_code = 184, .co_firsttraceable = 168,
	.str_len = 16, .str_state = 32, .str_data = 48, .bytes_size = 16, .bytes_data = 32,
	.tp_name = 24,
};

/* Offsets no CPython has, published through a 3.13-format _Py_DebugOffsets. */
static const struct tlay tlay_dbg = {
	.rt_size = 800, .rt_head = 640, .rt_gil = -1,
	.is_size = 400, .is_next = 8, .is_head = 24, .is_gil_ptr = 40, .is_gil = 64,
	.gil_holder = 8, .gil_locked = 16,
	.ts_size = 200, .ts_next = 16, .ts_interp = 24, .ts_cframe = -1, .ts_frame = 40,
	.ts_tid = 48, .ts_native = 56,
	.fr_size = 96, .fr_code = 16, .fr_prev = 0, .fr_instr = 32, .fr_owner = 44,
	.fr_is_entry = -1,
	.co_size = 16, .co_filename = 120, .co_name = 128, .co_qualname = 136,
	.co_linetable = 144, .co_firstlineno = 100, .co_code = 208, .co_firsttraceable = 192,
	.str_len = 16, .str_state = 32, .str_data = 40, .bytes_size = 16, .bytes_data = 32,
	.tp_name = 24,
};

struct builder {
	struct image *im;
	const struct tlay *l;
	uint64_t code_type, str_type, bytes_type, none_type;
};

static uint64_t b_cstr(struct builder *b, const char *s)
{
	uint64_t a = img_alloc(b->im, strlen(s) + 1);

	put(b->im, a, s, strlen(s) + 1);
	return a;
}

static uint64_t b_type(struct builder *b, const char *name)
{
	uint64_t t = img_alloc(b->im, 416);

	put64(b->im, t + b->l->tp_name, b_cstr(b, name));
	return t;
}

static uint64_t b_str(struct builder *b, const char *s)
{
	const struct tlay *l = b->l;
	uint64_t o = img_alloc(b->im, (size_t)l->str_data + strlen(s) + 1);

	put64(b->im, o + 8, b->str_type);
	put64(b->im, o + l->str_len, strlen(s));
	put32(b->im, o + l->str_state, 1 << 2 | 1 << 5 | 1 << 6 | 1 << 7);	/* ASCII, compact */
	put(b->im, o + l->str_data, s, strlen(s) + 1);
	return o;
}

static uint64_t b_bytes(struct builder *b, const uint8_t *data, size_t len)
{
	uint64_t o = img_alloc(b->im, (size_t)b->l->bytes_data + len + 1);

	put64(b->im, o + 8, b->bytes_type);
	put64(b->im, o + b->l->bytes_size, len);
	put(b->im, o + b->l->bytes_data, data, len);
	return o;
}

/* A code object of 8 code units, every one on line LINE (one "no column" entry). */
static uint64_t b_code(struct builder *b, const char *func, const char *file, int first, int line)
{
	const struct tlay *l = b->l;
	uint8_t lt[] = { 0x80 | 13 << 3 | 7, (uint8_t)((line - first) << 1) };
	uint64_t co = img_alloc(b->im, (size_t)l->co_code + 16);

	put64(b->im, co + 8, b->code_type);
	put64(b->im, co + l->co_size, 8);
	put64(b->im, co + l->co_filename, b_str(b, file));
	put64(b->im, co + l->co_name, b_str(b, "short-name"));
	put64(b->im, co + l->co_qualname, b_str(b, func));
	put64(b->im, co + l->co_linetable, b_bytes(b, lt, sizeof(lt)));
	put32(b->im, co + l->co_firstlineno, (uint32_t)first);
	return co;
}

static uint64_t b_frame(struct builder *b, uint64_t code, uint64_t prev, int unit, int owner)
{
	const struct tlay *l = b->l;
	uint64_t f = img_alloc(b->im, (size_t)l->fr_size);

	put64(b->im, f + l->fr_code, code);
	put64(b->im, f + l->fr_prev, prev);
	put64(b->im, f + l->fr_instr, code + l->co_code + 2 * unit);
	put8(b->im, f + l->fr_owner, (uint8_t)owner);
	return f;
}

struct scene {
	struct image im;
	uint64_t runtime, interp, ts, frames[3], codes[3], gil;
};

/* The 3.13-format _Py_DebugOffsets words, at the indices the real 3.13.0 has them. */
static void put_debug_offsets(struct scene *s, const struct tlay *l, uint64_t version)
{
	static const struct {
		int word;
		int off;
	} words[] = {
		{ 3, 800 }, { 5, 640 }, { 6, 400 }, { 8, 8 }, { 9, 24 }, { 11, 200 }, { 14, 40 },
		{ 15, 64 }, { 17, 64 + 16 }, { 18, 64 + 8 }, { 19, 200 }, { 21, 16 }, { 22, 24 },
		{ 23, 40 }, { 24, 48 }, { 25, 56 }, { 28, 96 }, { 29, 0 }, { 30, 16 }, { 31, 32 },
		{ 33, 44 }, { 34, 216 }, { 35, 120 }, { 36, 128 }, { 37, 136 }, { 38, 144 },
		{ 39, 100 }, { 43, 208 }, { 46, 416 }, { 47, 24 }, { 49, 168 }, { 57, 32 },
		{ 58, 40 }, { 62, 16 }, { 63, 24 }, { 65, 16 }, { 66, 32 }, { 68, 32 },
		{ 69, 16 }, { 70, 40 },
	};

	cr_assert_eq(l, &tlay_dbg);
	put(&s->im, s->runtime, "xdebugpy", 8);
	put64(&s->im, s->runtime + 8, version);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		put64(&s->im, s->runtime + 8 * words[i].word, (uint64_t)words[i].off);
}

/* One interpreter, one thread (TID 4242) holding the GIL, in inner <- middle <- <module>. */
static void scene_build(struct scene *s, const struct tlay *l)
{
	struct builder b = { .im = &s->im, .l = l };
	uint64_t shim = 0;

	s->im.mem = calloc(1, IMG_SIZE);
	s->im.next = IMG_BASE + 0x1000;
	s->runtime = img_alloc(&s->im, (size_t)l->rt_size);
	s->interp = img_alloc(&s->im, (size_t)l->is_size);
	s->ts = img_alloc(&s->im, (size_t)l->ts_size);
	b.code_type = b_type(&b, "code");
	b.str_type = b_type(&b, "str");
	b.bytes_type = b_type(&b, "bytes");
	s->codes[0] = b_code(&b, "inner", "/src/a.py", 10, 12);
	s->codes[1] = b_code(&b, "Klass.middle", "/src/b.py", 20, 25);
	s->codes[2] = b_code(&b, "<module>", "main.py", 1, 3);
	if (l->fr_is_entry < 0)		/* 3.12+: a C-stack shim frame marks the entry */
		shim = b_frame(&b, b_str(&b, "not code"), 0, 0, 3);
	s->frames[2] = b_frame(&b, s->codes[2], shim, 3, 0);
	s->frames[1] = b_frame(&b, s->codes[1], s->frames[2], 5, 0);
	s->frames[0] = b_frame(&b, s->codes[0], s->frames[1], 2, 0);
	if (l->fr_is_entry < 0) {
		/* 3.13's trampoline into __init__: code that is never traceable, hidden */
		uint64_t init = b_code(&b, "__init__", "__init__", 0, 0);

		put32(&s->im, init + l->co_firsttraceable, 4);
		put64(&s->im, s->frames[0] + l->fr_prev, b_frame(&b, init, s->frames[1], 1, 0));
	}
	if (l->fr_is_entry >= 0)
		put8(&s->im, s->frames[2] + l->fr_is_entry, 1);
	put64(&s->im, s->runtime + l->rt_head, s->interp);
	put64(&s->im, s->interp + l->is_head, s->ts);
	put64(&s->im, s->ts + l->ts_interp, s->interp);
	put64(&s->im, s->ts + l->ts_tid, 0x7f0000001000);
	put64(&s->im, s->ts + l->ts_native, 4242);
	if (l->ts_cframe >= 0) {
		uint64_t cf = img_alloc(&s->im, 24);

		put64(&s->im, s->ts + l->ts_cframe, cf);
		put64(&s->im, cf + l->cf_frame, s->frames[0]);
	} else {
		put64(&s->im, s->ts + l->ts_frame, s->frames[0]);
	}
	if (l->rt_gil >= 0) {
		s->gil = s->runtime + l->rt_gil;
	} else {
		s->gil = s->interp + l->is_gil;
		put64(&s->im, s->interp + l->is_gil_ptr, s->gil);
	}
	put32(&s->im, s->gil + l->gil_locked, 1);
	put64(&s->im, s->gil + l->gil_holder, s->ts);
}

static void scene_free(struct scene *s)
{
	free(s->im.mem);
}

static struct pyreader *scene_reader(struct scene *s, uint32_t version)
{
	char why[256] = "";
	struct pyreader *r = pyreader__new_image(image_read, &s->im, s->runtime, version, why,
						 sizeof(why));

	cr_assert(r, "pyreader__new_image: %s: %s", strerror(errno), why);
	return r;
}

/* Reads the scene's threads: returns the one thread (there must be one). */
static struct py_thread *scene_threads(struct pyreader *r, size_t *n)
{
	struct py_thread *v;

	cr_assert_eq(pyreader__threads(r, &v, n), 0);
	return v;
}

static void expect_whole_stack(const struct py_thread *t, bool entry_on_outer)
{
	cr_assert_eq(t->nframes, 3);
	cr_expect_eq(t->tid, 4242);
	cr_expect_eq(t->ident, 0x7f0000001000);
	cr_expect(t->holds_gil);
	cr_expect_not(t->truncated);
	cr_expect_null(t->name);
	cr_expect_str_eq(t->frames[0].text, "inner (a.py:12)");
	cr_expect_str_eq(t->frames[0].file, "/src/a.py");
	cr_expect_str_eq(t->frames[1].text, "Klass.middle (b.py:25)");
	cr_expect_str_eq(t->frames[2].text, "<module> (main.py:3)");
	cr_expect_not(t->frames[0].entry);
	cr_expect_not(t->frames[1].entry);
	cr_expect_eq(t->frames[2].entry, entry_on_outer);
	for (int i = 0; i < 3; i++)
		cr_expect(t->frames[i].line_exact);
}

Test(pyreader, image_311_whole_chain)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v, one;
	uint64_t lo, hi;
	size_t n;

	scene_build(&s, &tlay_311);
	r = scene_reader(&s, 0x030b07f0);
	v = scene_threads(r, &n);
	cr_assert_eq(n, 1);
	expect_whole_stack(&v[0], true);
	pyreader__threads_free(v, n);
	cr_assert_eq(pyreader__gil(r, &lo, &hi), 0);
	cr_expect_eq(lo, s.runtime + 360);
	cr_expect_eq(hi, s.runtime + 360 + 208);
	cr_assert_eq(pyreader__thread(r, 4242, &one), 0);
	cr_expect_eq(one.nframes, 3);
	pyreader__thread_clear(&one);
	cr_expect_eq(pyreader__thread(r, 4243, &one), -ENOENT);
	/* the GIL released: nobody holds it */
	put32(&s.im, s.gil + 16, 0);
	v = scene_threads(r, &n);
	cr_expect_not(v[0].holds_gil);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

/* A thread starting another makes the new one's state with its own ident and native id (3.11),
 * at the head of the list, until the new thread runs: the starting thread is the older state,
 * with its own frames, not the newborn's. */
Test(pyreader, image_newborn_state_with_its_starters_ident_is_not_the_starter)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v, one;
	uint64_t born;
	size_t n;

	scene_build(&s, &tlay_311);
	born = img_alloc(&s.im, (size_t)tlay_311.ts_size);
	put64(&s.im, born + tlay_311.ts_interp, s.interp);
	put64(&s.im, born + tlay_311.ts_tid, 0x7f0000001000);
	put64(&s.im, born + tlay_311.ts_native, 4242);
	put64(&s.im, born + tlay_311.ts_next, s.ts);
	put64(&s.im, s.interp + tlay_311.is_head, born);
	r = scene_reader(&s, 0x030b07f0);
	v = scene_threads(r, &n);
	cr_assert_eq(n, 1, "the newborn is left out: %zu threads", n);
	expect_whole_stack(&v[0], true);
	pyreader__threads_free(v, n);
	cr_assert_eq(pyreader__thread(r, 4242, &one), 0);
	cr_expect_eq(one.tstate, s.ts);
	cr_expect_eq(one.nframes, 3);
	pyreader__thread_clear(&one);
	pyreader__free(r);
	scene_free(&s);
}

Test(pyreader, image_debug_offsets_are_used_instead_of_a_table)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v;
	struct py_info info;
	uint64_t lo, hi;
	size_t n;

	scene_build(&s, &tlay_dbg);
	put_debug_offsets(&s, &tlay_dbg, 0x030d01f0);
	r = scene_reader(&s, 0);
	pyreader__info(r, &info);
	cr_expect(info.debug_offsets);
	cr_expect_eq(info.version, 0x030d01f0);
	v = scene_threads(r, &n);
	cr_assert_eq(n, 1);
	expect_whole_stack(&v[0], true);	/* the shim frame marks <module> as the entry */
	pyreader__threads_free(v, n);
	cr_assert_eq(pyreader__gil(r, &lo, &hi), 0);
	cr_expect_eq(lo, s.interp + 64);
	cr_expect_eq(hi, s.interp + 64 + 208);
	pyreader__free(r);
	scene_free(&s);
}

Test(pyreader, image_unsupported_versions_are_refused_with_a_reason)
{
	struct scene s;
	char why[256];

	scene_build(&s, &tlay_311);
	cr_expect_null(pyreader__new_image(image_read, &s.im, s.runtime, 0x03091200, why,
					   sizeof(why)));
	cr_expect_eq(errno, ENOTSUP);
	cr_expect(strstr(why, "3.9"), "%s", why);
	cr_expect_null(pyreader__new_image(image_read, &s.im, s.runtime, 0x030d00f0, why,
					   sizeof(why)));	/* 3.13 without its cookie */
	cr_expect_eq(errno, ENOTSUP);
	cr_expect_null(pyreader__new_image(image_read, &s.im, 0xdead0000, 0x030b07f0, why,
					   sizeof(why)));
	cr_expect_eq(errno, EFAULT);
	scene_free(&s);

	scene_build(&s, &tlay_dbg);
	put_debug_offsets(&s, &tlay_dbg, 0x030f00a0);	/* 3.15: its layout is not known */
	cr_expect_null(pyreader__new_image(image_read, &s.im, s.runtime, 0, why, sizeof(why)));
	cr_expect_eq(errno, ENOTSUP);
	cr_expect(strstr(why, "3.15"), "%s", why);
	put_debug_offsets(&s, &tlay_dbg, 0x030d00f0);
	put64(&s.im, s.runtime + 16, 1);	/* free-threaded */
	cr_expect_null(pyreader__new_image(image_read, &s.im, s.runtime, 0, why, sizeof(why)));
	cr_expect_eq(errno, ENOTSUP);
	put64(&s.im, s.runtime + 16, 0);
	put64(&s.im, s.runtime + 8 * 30, 1ULL << 40);	/* a wild offset */
	cr_expect_null(pyreader__new_image(image_read, &s.im, s.runtime, 0, why, sizeof(why)));
	cr_expect_eq(errno, EINVAL);
	scene_free(&s);
}

Test(pyreader, image_incomplete_frames_are_left_out_as_cpython_does)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v;
	struct py_stats st;
	size_t n;

	scene_build(&s, &tlay_311);
	/* middle has not reached its first traceable instruction: not yet a frame to show */
	put32(&s.im, s.codes[1] + tlay_311.co_firsttraceable, 6);
	r = scene_reader(&s, 0x030b07f0);
	v = scene_threads(r, &n);
	cr_assert_eq(v[0].nframes, 2);
	cr_expect_str_eq(v[0].frames[1].text, "<module> (main.py:3)");
	pyreader__stats(r, &st);
	cr_expect_eq(st.frames_skipped, 0);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	/* ... unless a generator owns it, */
	put8(&s.im, s.frames[1] + tlay_311.fr_owner, 1);
	r = scene_reader(&s, 0x030b07f0);
	v = scene_threads(r, &n);
	cr_expect_eq(v[0].nframes, 3);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	/* ... or its instruction pointer is torn far below its code */
	put8(&s.im, s.frames[1] + tlay_311.fr_owner, 0);
	put64(&s.im, s.frames[1] + tlay_311.fr_instr, s.codes[1]);
	r = scene_reader(&s, 0x030b07f0);
	v = scene_threads(r, &n);
	cr_assert_eq(v[0].nframes, 3);
	cr_expect_str_eq(v[0].frames[1].text, "Klass.middle (b.py:20)");
	cr_expect_not(v[0].frames[1].line_exact);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

/* Reads the 3.11 scene after DAMAGE and returns its one thread's stack. */
static struct py_thread *damaged(struct scene *s, struct pyreader **r, size_t *n)
{
	*r = scene_reader(s, 0x030b07f0);
	return scene_threads(*r, n);
}

Test(pyreader, image_cycle_in_previous_cuts_the_stack)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v;
	struct py_stats st;
	size_t n;

	scene_build(&s, &tlay_311);
	put64(&s.im, s.frames[2] + tlay_311.fr_prev, s.frames[0]);
	v = damaged(&s, &r, &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(v[0].nframes, 3);
	cr_expect(v[0].truncated);
	pyreader__stats(r, &st);
	cr_expect_eq(st.stacks_truncated, 1);
	pyreader__threads_free(v, n);
	pyreader__free(r);

	put64(&s.im, s.frames[0] + tlay_311.fr_prev, s.frames[0]);	/* a frame its own caller */
	v = damaged(&s, &r, &n);
	cr_expect_eq(v[0].nframes, 1);
	cr_expect(v[0].truncated);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

Test(pyreader, image_wild_and_misaligned_pointers_cut_or_skip)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v;
	struct py_stats st;
	size_t n;

	scene_build(&s, &tlay_311);
	put64(&s.im, s.frames[1] + tlay_311.fr_prev, 0x7fffdead0000);	/* unmapped */
	v = damaged(&s, &r, &n);
	cr_expect_eq(v[0].nframes, 2);
	cr_expect(v[0].truncated);
	pyreader__threads_free(v, n);
	pyreader__free(r);

	put64(&s.im, s.frames[1] + tlay_311.fr_prev, s.frames[2] + 3);	/* misaligned */
	v = damaged(&s, &r, &n);
	cr_expect_eq(v[0].nframes, 2);
	cr_expect(v[0].truncated);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	put64(&s.im, s.frames[1] + tlay_311.fr_prev, s.frames[2]);

	/* a frame whose code is not a code object is left out, the walk goes on */
	put64(&s.im, s.frames[1] + tlay_311.fr_code, s.interp);
	v = damaged(&s, &r, &n);
	cr_expect_eq(v[0].nframes, 2);
	cr_expect_not(v[0].truncated);
	cr_expect_str_eq(v[0].frames[1].text, "<module> (main.py:3)");
	pyreader__stats(r, &st);
	cr_expect_eq(st.frames_skipped, 1);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	put64(&s.im, s.frames[1] + tlay_311.fr_code, 0x12345678abcdef00);	/* not user space */
	v = damaged(&s, &r, &n);
	cr_expect_eq(v[0].nframes, 2);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

Test(pyreader, image_absurd_lengths_give_placeholders_not_crashes)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v;
	uint64_t name, lt;
	size_t n;

	scene_build(&s, &tlay_311);
	name = get64(&s.im, s.codes[0] + tlay_311.co_qualname);
	put64(&s.im, name + tlay_311.str_len, 1ULL << 40);
	lt = get64(&s.im, s.codes[1] + tlay_311.co_linetable);
	put64(&s.im, lt + tlay_311.bytes_size, 1ULL << 40);
	v = damaged(&s, &r, &n);
	cr_assert_eq(v[0].nframes, 3);
	cr_expect_str_eq(v[0].frames[0].text, "? (a.py:12)");
	cr_expect_str_eq(v[0].frames[1].text, "Klass.middle (b.py:20)");	/* first line */
	cr_expect_not(v[0].frames[1].line_exact);
	pyreader__threads_free(v, n);
	pyreader__free(r);

	/* an instruction pointer outside its code: the first line, marked inexact */
	put64(&s.im, s.frames[2] + tlay_311.fr_instr, s.codes[2] + 4096);
	v = damaged(&s, &r, &n);
	cr_expect_str_eq(v[0].frames[2].text, "<module> (main.py:1)");
	cr_expect_not(v[0].frames[2].line_exact);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

Test(pyreader, image_deep_stack_is_cut_at_the_limit)
{
	struct scene s;
	struct builder b = { .l = &tlay_311 };
	struct pyreader *r;
	struct py_thread *v;
	uint64_t f;
	size_t n;

	scene_build(&s, &tlay_311);
	b.im = &s.im;
	f = s.frames[0];
	for (int i = 0; i < PY_MAX_FRAMES + 40; i++)	/* deeper recursion into inner */
		f = b_frame(&b, s.codes[0], f, 1, 0);
	put64(&s.im, get64(&s.im, s.ts + tlay_311.ts_cframe) + tlay_311.cf_frame, f);
	v = damaged(&s, &r, &n);
	cr_expect_eq(v[0].nframes, PY_MAX_FRAMES);
	cr_expect(v[0].truncated);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

Test(pyreader, image_looping_or_foreign_thread_list_is_cut)
{
	struct scene s;
	struct pyreader *r;
	struct py_thread *v;
	struct py_stats st;
	size_t n;

	scene_build(&s, &tlay_311);
	put64(&s.im, s.ts + tlay_311.ts_next, s.ts);
	v = damaged(&s, &r, &n);
	cr_expect_eq(n, 1);
	pyreader__stats(r, &st);
	cr_expect_eq(st.thread_lists_cut, 1);
	pyreader__threads_free(v, n);
	pyreader__free(r);

	put64(&s.im, s.ts + tlay_311.ts_interp, s.runtime);	/* not this interpreter's */
	v = damaged(&s, &r, &n);
	cr_expect_eq(n, 0);
	pyreader__threads_free(v, n);
	pyreader__free(r);

	put64(&s.im, s.interp + tlay_311.is_next, s.interp);	/* interpreters loop too */
	put64(&s.im, s.ts + tlay_311.ts_interp, s.interp);
	v = damaged(&s, &r, &n);
	cr_expect_eq(n, 1);
	pyreader__threads_free(v, n);
	pyreader__free(r);

	put64(&s.im, s.runtime + tlay_311.rt_head, 0);	/* not initialised: no threads */
	v = damaged(&s, &r, &n);
	cr_expect_eq(n, 0);
	pyreader__threads_free(v, n);
	pyreader__free(r);
	scene_free(&s);
}

/* Random damage anywhere in the image: every read ends, nothing crashes (run it under ASan). */
Test(pyreader, image_random_damage_never_crashes, .timeout = 60)
{
	struct scene s;
	uint8_t *pristine;
	unsigned seed = 12345;

	for (int round = 0; round < 2; round++) {
		const struct tlay *l = round ? &tlay_dbg : &tlay_311;

		scene_build(&s, l);
		if (round)
			put_debug_offsets(&s, l, 0x030d00f0);
		pristine = malloc(IMG_SIZE);
		memcpy(pristine, s.im.mem, IMG_SIZE);
		for (int iter = 0; iter < 400; iter++) {
			struct pyreader *r;
			struct py_thread *v;
			uint64_t span = s.im.next - s.runtime, lo, hi;
			size_t n;

			memcpy(s.im.mem, pristine, IMG_SIZE);
			for (int k = 0; k < 1 + iter % 16; k++) {
				uint64_t at = s.runtime + (rand_r(&seed) % span & ~7ULL);
				uint64_t val;

				/* skip the debug offsets: their damage is checked at open */
				if (round && at < s.runtime + 73 * 8)
					continue;
				switch (rand_r(&seed) % 4) {
				case 0:		/* a cut link */
					val = 0;
					break;
				case 1:		/* anything */
					val = (uint64_t)rand_r(&seed) << 33 ^ rand_r(&seed);
					break;
				case 2:		/* a pointer to the wrong object */
					val = s.runtime + (rand_r(&seed) % span & ~7ULL);
					break;
				default:	/* ... or into the middle of one */
					val = s.runtime + rand_r(&seed) % span;
					break;
				}
				put64(&s.im, at, val);
			}
			r = pyreader__new_image(image_read, &s.im, s.runtime,
						round ? 0 : 0x030b07f0, NULL, 0);
			if (!r)
				continue;
			if (pyreader__threads(r, &v, &n) == 0) {
				for (size_t i = 0; i < n; i++) {
					cr_assert_leq(v[i].nframes, PY_MAX_FRAMES);
					for (size_t j = 0; j < v[i].nframes; j++)
						cr_assert(v[i].frames[j].text);
				}
				pyreader__threads_free(v, n);
			}
			pyreader__gil(r, &lo, &hi);
			pyreader__free(r);
		}
		free(pristine);
		scene_free(&s);
	}
}

/* ---- the location table ---- */

Test(pyreader, linetable_of_the_310_format)
{
	/* first line 10: pairs of (bytes, line delta); an empty range still moves the line, -128
	 * is no line */
	static const uint8_t t[] = {
		4, 1,		/* [0, 4): 11 */
		0, 2,		/* empty: 13 from here */
		6, 0,		/* [4, 10): 13 */
		2, 0x80,	/* [10, 12): no line */
		4, 0xfd,	/* [12, 16): -3, 10 */
		254, 5,		/* [16, 270): 15 */
	};
	/* what CPython 3.10's own co_lines() says of `def f(x): if x: y = 1 <blank> return y;
	 * for i in range(3): x += i; return x` on line 1 */
	static const uint8_t real[] = { 4, 1, 4, 1, 4, 2, 12, 1, 10, 1, 4, 1 };
	static const struct {
		int addrq, line;
	} want[] = {
		{ -2, 10 }, { 0, 11 }, { 2, 11 }, { 4, 13 }, { 8, 13 }, { 10, -1 }, { 12, 10 },
		{ 14, 10 }, { 16, 15 }, { 268, 15 }, { 270, -2 },
	}, want_real[] = {
		{ 0, 2 }, { 2, 2 }, { 4, 3 }, { 8, 5 }, { 12, 6 }, { 22, 6 }, { 24, 7 }, { 32, 7 },
		{ 34, 8 }, { 36, 8 }, { 38, -2 },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int line = pyreader__linetable310_line(t, sizeof(t), 10, want[i].addrq);

		cr_expect_eq(line, want[i].line, "addrq %d: line %d, want %d", want[i].addrq, line,
			     want[i].line);
	}
	for (size_t i = 0; i < sizeof(want_real) / sizeof(want_real[0]); i++) {
		int line = pyreader__linetable310_line(real, sizeof(real), 1, want_real[i].addrq);

		cr_expect_eq(line, want_real[i].line, "addrq %d: line %d, want %d",
			     want_real[i].addrq, line, want_real[i].line);
	}
	/* a table cut inside a pair is malformed, not a line */
	cr_expect_eq(pyreader__linetable310_line(t, 1, 10, 0), -2);
	cr_expect_eq(pyreader__linetable310_line(NULL, 0, 10, 0), -2);
}

Test(pyreader, linetable_forms_of_the_311_format)
{
	/* first line 10; the entries cover code units 0-1, 2, 3-5, 6, 7, 8, 9 */
	static const uint8_t t[] = {
		0x80 | 13 << 3 | 1, 0x02,		/* no columns, +1: line 11 */
		0x80 | 0 << 3 | 0, 0x00,		/* short form: same line */
		0x80 | 11 << 3 | 2, 0x04, 0x08,		/* one-line form, +1: line 12 */
		0x80 | 15 << 3 | 0,			/* no location */
		0x80 | 14 << 3 | 0, 0x0a, 0x00, 0x01, 0x01,	/* long form, +5: line 17 */
		0x80 | 13 << 3 | 0, 0x07,		/* -3: line 14 */
		0x80 | 13 << 3 | 0, 0x48, 0x03,		/* +100, a two-byte varint: line 114 */
	};
	static const struct {
		int addrq, line;
	} want[] = {
		{ -2, 10 }, { 0, 11 }, { 2, 11 }, { 4, 11 }, { 6, 12 }, { 10, 12 }, { 12, -1 },
		{ 14, 17 }, { 16, 14 }, { 18, 114 }, { 20, -2 },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int line = pyreader__linetable_line(t, sizeof(t), 10, want[i].addrq);

		cr_expect_eq(line, want[i].line, "addrq %d: line %d, want %d", want[i].addrq, line,
			     want[i].line);
	}
	/* cut inside a varint, or an entry without its start bit: malformed, not a line */
	cr_expect_eq(pyreader__linetable_line(t, sizeof(t) - 1, 10, 18), -2);
	cr_expect_eq(pyreader__linetable_line((const uint8_t[]){ 0x48, 0x03 }, 2, 10, 0), -2);
	cr_expect_eq(pyreader__linetable_line((const uint8_t[]){ 0xe8, 0xff, 0xff, 0xff, 0xff,
								 0xff, 0xff, 0xff },
					      8, 10, 0),
		     -2);
	cr_expect_eq(pyreader__linetable_line(NULL, 0, 10, 0), -2);
}
