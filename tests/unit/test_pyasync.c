/* test_pyasync.c - asyncio tasks, with-block holders and cycles read from captured memory images:
 * the pages a snapshot of a real hung CPython touched, replayed whole, then damaged at random. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/json.h"
#include "jsonparse.h"
#include "proc.h"
#include "python/pyasync.h"

#define PAGE 4096ULL

static void adopt_orphans(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static void kill_started(void)
{
	kill_tree(getpid());
}

TestSuite(pyasync, .init = adopt_orphans, .fini = kill_started, .timeout = 120);

/* ---- captured images: the target's pages, as read ---- */

struct capture {
	pid_t pid;		/* nonzero while capturing: a page not held yet is read live */
	uint64_t *addrs;	/* page addresses, in the order first read */
	uint8_t *data;		/* PAGE bytes each */
	size_t n, cap;
	uint64_t *reads;	/* address << 16 | length of each read while capturing */
	size_t nreads, reads_cap;
};

static uint8_t *page_of(struct capture *c, uint64_t page)
{
	struct iovec local, remote;

	for (size_t i = 0; i < c->n; i++)
		if (c->addrs[i] == page)
			return c->data + i * PAGE;
	if (!c->pid)
		return NULL;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->addrs = realloc(c->addrs, c->cap * sizeof(*c->addrs));
		c->data = realloc(c->data, c->cap * PAGE);
		cr_assert(c->addrs && c->data);
	}
	local = (struct iovec){ c->data + c->n * PAGE, PAGE };
	remote = (struct iovec){ (void *)(uintptr_t)page, PAGE };
	if (process_vm_readv(c->pid, &local, 1, &remote, 1, 0) != (ssize_t)PAGE)
		return NULL;
	c->addrs[c->n] = page;
	return c->data + c->n++ * PAGE;
}

static int capture_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct capture *c = ctx;

	if (c->pid && len < 65536) {
		if (c->nreads == c->reads_cap) {
			c->reads_cap = c->reads_cap ? 2 * c->reads_cap : 1024;
			c->reads = realloc(c->reads, c->reads_cap * sizeof(*c->reads));
			cr_assert(c->reads);
		}
		c->reads[c->nreads++] = addr << 16 | len;
	}
	for (uint64_t at = addr; at < addr + len;) {
		uint64_t page = at & ~(PAGE - 1), n = page + PAGE - at;
		uint8_t *p = page_of(c, page);

		if (!p)
			return -EFAULT;
		if (n > addr + len - at)
			n = addr + len - at;
		memcpy((uint8_t *)buf + (at - addr), p + (at - page), n);
		at += n;
	}
	return 0;
}

/* ---- a snapshot as text, to compare runs ---- */

static void describe(const struct pyasync *a, char *buf, size_t len)
{
	size_t at = 0;

#define OUT(...) at += (size_t)snprintf(buf + at, at < len ? len - at : 0, __VA_ARGS__)
	for (size_t i = 0; i < a->ntasks; i++) {
		const struct pyasync_task *t = &a->tasks[i];

		OUT("task %s coro %s waits %d queued %d holds", t->name, t->coro, t->waits_for,
		    t->waits_queued);
		for (size_t j = 0; j < t->nholds; j++)
			OUT(" %s", a->locks[t->holds[j]].name);
		for (size_t j = 0; j < t->nframes; j++)
			OUT(" | %s", t->frames[j].text);
		OUT("\n");
	}
	for (size_t i = 0; i < a->nthreads; i++)
		OUT("thread %d waits %d holds %zu\n", a->threads[i].tid, a->threads[i].waits_for,
		    a->threads[i].nholds);
	for (size_t i = 0; i < a->nlocks; i++)
		OUT("lock %s %s\n", a->locks[i].kind, a->locks[i].name);
	for (size_t i = 0; i < a->ncycles; i++)
		OUT("cycle tasks=%d n=%zu\n", a->cycles[i].among_tasks, a->cycles[i].n);
#undef OUT
	cr_assert_lt(at, len);
}

/* Every index in A points into its arrays, every string is there. */
static void check_consistent(const struct pyasync *a)
{
	for (size_t i = 0; i < a->nlocks; i++)
		cr_assert(a->locks[i].name && a->locks[i].kind);
	for (size_t i = 0; i < a->ntasks; i++) {
		const struct pyasync_task *t = &a->tasks[i];

		cr_assert(t->name && t->coro && t->nframes <= PYASYNC_MAX_CHAIN);
		cr_assert(t->waits_for >= -1 && t->waits_for < (int)a->nlocks);
		for (size_t j = 0; j < t->nholds; j++)
			cr_assert_lt(t->holds[j], a->nlocks);
		for (size_t j = 0; j < t->nframes; j++)
			cr_assert(t->frames[j].text);
	}
	for (size_t i = 0; i < a->nthreads; i++) {
		cr_assert(a->threads[i].waits_for >= -1 && a->threads[i].waits_for < (int)a->nlocks);
		for (size_t j = 0; j < a->threads[i].nholds; j++)
			cr_assert_lt(a->threads[i].holds[j], a->nlocks);
	}
	for (size_t i = 0; i < a->ncycles; i++) {
		const struct pyasync_cycle *c = &a->cycles[i];

		cr_assert(c->n >= 1 && c->n <= PYASYNC_MAX_CYCLE);
		for (size_t j = 0; j < c->n; j++) {
			cr_assert_lt(c->members[j], c->among_tasks ? a->ntasks : a->nthreads);
			cr_assert_lt(c->locks[j], a->nlocks);
		}
	}
}

/* Threads, then the snapshot, from the image behind CAP: 0 or the first error. */
static int read_all(struct capture *cap, uint64_t runtime, uint32_t version, struct pyasync **out)
{
	struct pyreader *r = pyreader__new_image(capture_read, cap, runtime, version, NULL, 0);
	struct py_thread *th = NULL;
	size_t nth = 0;
	int err;

	*out = NULL;
	if (!r)
		return -errno;
	err = pyreader__threads(r, &th, &nth);
	if (!err)
		err = pyasync__read(r, th, nth, NULL, 0, out, NULL, 0);
	pyreader__threads_free(th, nth);
	pyreader__free(r);
	return err;
}

/* Runs SCRIPT under INTERP until it prints its truth and hangs, captures what one snapshot
 * reads, kills it; the snapshot's description into DESC. */
static void capture_hung(const char *interp, const char *script, struct capture *cap,
			 uint64_t *runtime, uint32_t *version, char *desc, size_t len)
{
	char cmd[4608], out[256], why[256] = "";
	struct pyasync *a;
	struct pyreader *live;
	struct py_info info;
	pid_t pid;

	snprintf(out, sizeof(out), "%s/capture.out", test_dir());
	snprintf(cmd, sizeof(cmd), "%s %s", interp, script);
	pid = spawn_bg(cmd, out, "/dev/null");
	cr_assert(wait_for_text(out, "\"workload\"", 30), "%s printed no ground truth", cmd);
	usleep(200000);
	live = pyreader__open(pid, why, sizeof(why));
	cr_assert(live, "pyreader__open: %s", why);
	pyreader__info(live, &info);
	pyreader__free(live);
	*runtime = info.runtime;
	*version = info.version;
	memset(cap, 0, sizeof(*cap));
	cap->pid = pid;
	cr_assert_eq(read_all(cap, *runtime, *version, &a), 0);
	describe(a, desc, len);
	pyasync__free(a);
	kill(pid, SIGKILL);
	cap->pid = 0;
}

static void replay_then_damage(const char *interp, const char *script, bool among_tasks)
{
	static char first[1 << 16], again[1 << 16];
	struct capture cap, bad;
	struct pyasync *a;
	uint64_t runtime;
	uint32_t version;
	unsigned seed = 4242;
	int partial = 0, whole = 0;

	capture_hung(interp, script, &cap, &runtime, &version, first, sizeof(first));
	cr_assert(strstr(first, among_tasks ? "cycle tasks=1 n=2" : "cycle tasks=0 n=2"),
		  "no deadlock in the live capture:\n%s", first);
	cr_assert(!among_tasks || strstr(first, "queued 1"), "no wait queued:\n%s", first);
	/* the image alone gives the same snapshot */
	cr_assert_eq(read_all(&cap, runtime, version, &a), 0);
	describe(a, again, sizeof(again));
	pyasync__free(a);
	cr_assert_str_eq(again, first);
	/* damaged: an error or a partial snapshot that holds together, never a crash */
	bad = cap;
	bad.data = malloc(cap.n * PAGE);
	for (int iter = 0; iter < 300; iter++) {
		memcpy(bad.data, cap.data, cap.n * PAGE);
		/* in the bytes the snapshot read: links, counts, type pointers, names */
		for (int k = 0; k < 1 + iter % 8; k++) {
			uint64_t rd = cap.reads[(size_t)rand_r(&seed) % cap.nreads], val;
			uint64_t at = (rd >> 16) + (uint64_t)rand_r(&seed) % ((rd & 0xffff) + 1);
			uint8_t *p;

			at &= ~7ULL;
			switch (rand_r(&seed) % 4) {
			case 0:
				val = 0;
				break;
			case 1:
				val = (uint64_t)rand_r(&seed) << 33 ^ rand_r(&seed);
				break;
			case 2:	/* a pointer to something else that was read */
				val = cap.reads[(size_t)rand_r(&seed) % cap.nreads] >> 16;
				break;
			default:	/* a small count or index gone wrong */
				val = (uint64_t)(rand_r(&seed) % 70) - 2;
				break;
			}
			p = page_of(&bad, at & ~(PAGE - 1));
			if (p && (at & (PAGE - 1)) <= PAGE - 8)
				memcpy(p + (at & (PAGE - 1)), &val, sizeof(val));
		}
		if (read_all(&bad, runtime, version, &a) == 0) {
			check_consistent(a);
			whole += a->ncycles > 0;	/* the deadlock still found */
			partial++;
			pyasync__free(a);
		}
	}
	/* most damage leaves a partial snapshot; some of it breaks the cycle */
	cr_expect_gt(partial, 100, "%d of 300 damaged images gave a snapshot", partial);
	cr_expect_lt(whole, partial, "no damage ever changed the result");
	free(bad.data);
	free(cap.addrs);
	free(cap.data);
	free(cap.reads);
}

static void replay_async(const struct test_python *py)
{
	replay_then_damage(py->path, "tests/workloads/py_async_deadlock.py", true);
}

static void replay_threads(const struct test_python *py)
{
	replay_then_damage(py->path, "tests/workloads/py_deadlock.py", false);
}

/* On every interpreter under test: each version's object layouts meet the damage. */
Test(pyasync, captured_asyncio_deadlock_replays_and_survives_damage, .timeout = 120)
{
	on_every_python(replay_async);
}

Test(pyasync, captured_thread_deadlock_replays_and_survives_damage, .timeout = 120)
{
	on_every_python(replay_threads);
}

/* A 3.14 runtime that publishes its _Py_DebugOffsets (all zero but the cookie and the version)
 * over zeros everywhere else. */
static int runtime_314_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const uint64_t base = 0x100000, head[2] = { 0x7970677562656478ULL /* "xdebugpy" */,
						    0x030e00f0 };

	memset(buf, 0, len);
	for (size_t i = 0; i < len; i++)
		if (addr + i >= base && addr + i < base + sizeof(head))
			((uint8_t *)buf)[i] = ((const uint8_t *)head)[addr + i - base];
	return 0;
}

/* A version whose object layouts are unknown here: refused with a reason. */
Test(pyasync, other_versions_are_refused_with_a_reason)
{
	struct pyreader *r = pyreader__new_image(runtime_314_read, NULL, 0x100000, 0, NULL, 0);
	struct pyasync *a = (struct pyasync *)1;
	char why[256] = "";

	cr_assert_not_null(r);
	cr_expect_eq(pyasync__read(r, NULL, 0, NULL, 0, &a, why, sizeof(why)), -ENOTSUP);
	cr_expect_null(a);
	cr_expect(strstr(why, "3.14") && strstr(why, "3.10 to 3.13 supported"), "why: %s", why);
	pyreader__free(r);
}

/* ---- the dump's JSON, from a snapshot built by hand ---- */

/* Two tasks in a cycle over two locks, and a thread holding a third lock. */
struct hand {
	struct pyasync a;
	struct pyasync_lock locks[3];
	struct pyasync_task tasks[2];
	struct pyasync_thread thread;
	struct pyasync_cycle cycle;
	struct py_frame frames[2][2];
	size_t holds[2], thread_holds, members[2], cycle_locks[2];
};

static void hand_build(struct hand *h)
{
	static const char *const names[] = { "lock_a", "lock_b", "threading.Lock 0x10 first taken "
					     "in work (w.py:3)" };

	memset(h, 0, sizeof(*h));
	for (int i = 0; i < 3; i++)
		h->locks[i] = (struct pyasync_lock){ .addr = 0x10 + i, .asyncio = i < 2,
						     .kind = "asyncio.Lock",
						     .name = (char *)names[i] };
	for (int i = 0; i < 2; i++) {
		h->frames[i][0].text = "Lock.acquire (locks.py:114)";
		h->frames[i][1].text = i ? "b_to_a (app.py:30)" : "a_to_b (app.py:21)";
		h->holds[i] = (size_t)i;
		h->tasks[i] = (struct pyasync_task){ .tid = 77, .name = i ? "b-to-a" : "a-to-b",
						     .coro = i ? "b_to_a" : "a_to_b",
						     .frames = h->frames[i], .nframes = 2,
						     .waits_for = !i, .holds = &h->holds[i],
						     .nholds = 1 };
		h->members[i] = (size_t)i;
		h->cycle_locks[i] = (size_t)!i;
	}
	h->thread = (struct pyasync_thread){ .tid = 78, .waits_for = -1,
					     .holds = &h->thread_holds, .nholds = 1 };
	h->thread_holds = 2;
	h->cycle = (struct pyasync_cycle){ .among_tasks = true, .n = 2, .members = h->members,
					   .locks = h->cycle_locks };
	h->a = (struct pyasync){ .locks = h->locks, .nlocks = 3, .tasks = h->tasks, .ntasks = 2,
				 .threads = &h->thread, .nthreads = 1, .cycles = &h->cycle,
				 .ncycles = 1 };
}

/* {"tasks": pyasync__json_tasks, "deadlocks": pyasync__json_cycles}, parsed. */
static struct jp_value *hand_json(const struct hand *h, const struct py_thread *pt, size_t npt)
{
	struct json_writer *w;
	struct jp_value *v;
	char *buf = NULL, err[128];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert(f);
	w = json_writer__new(f, 0);
	json_writer__object_begin(w);
	json_writer__key(w, "tasks");
	pyasync__json_tasks(&h->a, w);
	json_writer__key(w, "deadlocks");
	json_writer__array_begin(w);
	pyasync__json_cycles(&h->a, pt, npt, false, w);
	json_writer__array_end(w);
	json_writer__object_end(w);
	cr_assert_eq(json_writer__finish(w), 0);
	json_writer__free(w);
	fclose(f);
	v = jp_parse(buf, len, err, sizeof(err));
	cr_assert(v, "%s: %s", err, buf);
	free(buf);
	return v;
}

Test(pyasync, json_of_tasks_and_cycles_follows_the_dump_contract)
{
	struct hand h;
	struct jp_value *v;
	const struct jp_value *t, *d;

	hand_build(&h);
	v = hand_json(&h, NULL, 0);
	t = jp_at(jp_get(v, "tasks"), 1);
	cr_expect_str_eq(jp_str(jp_get(t, "name")), "b-to-a");
	cr_expect_str_eq(jp_str(jp_get(t, "coro")), "b_to_a");
	cr_expect_str_eq(jp_str(jp_get(t, "waits_for")), "lock_a");
	cr_expect_str_eq(jp_str(jp_at(jp_get(t, "holds"), 0)), "lock_b");
	cr_expect_str_eq(jp_str(jp_at(jp_get(t, "stack"), 1)), "b_to_a (app.py:30)");
	cr_expect_eq(jp_get(t, "tid")->number, 77);
	d = jp_at(jp_get(v, "deadlocks"), 0);
	cr_expect_str_eq(jp_str(jp_at(jp_get(d, "locks"), 0)), "lock_b");
	cr_expect_str_eq(jp_str(jp_path(d, "tasks.0.name")), "a-to-b");
	cr_expect_eq(jp_get(d, "inferred")->type, JP_BOOL);
	cr_expect(jp_get(d, "inferred")->boolean);
	cr_expect_null(jp_get(d, "threads"));
	cr_expect_eq(jp_get(v, "deadlocks")->len, 1);
	cr_expect_eq(pyasync__thread(&h.a, 78), &h.thread);
	cr_expect_null(pyasync__thread(&h.a, 77));
	jp_free(v);
}

Test(pyasync, json_of_a_thread_cycle_names_threads_from_the_reader)
{
	struct hand h;
	struct pyasync_thread th[2];
	struct py_thread pt[2] = { { .tid = 5, .name = "a-to-b" }, { .tid = 6, .name = "b-to-a" } };
	size_t holds[2] = { 0, 1 };
	struct jp_value *v;
	const struct jp_value *d;

	hand_build(&h);
	for (int i = 0; i < 2; i++) {
		th[i] = (struct pyasync_thread){ .tid = 5 + i, .waits_for = !i, .holds = &holds[i],
						 .nholds = 1 };
		pt[i].frames = h.frames[i];
		pt[i].nframes = 2;
	}
	h.a.threads = th;
	h.a.nthreads = 2;
	h.cycle.among_tasks = false;
	v = hand_json(&h, pt, 2);
	d = jp_path(v, "deadlocks.0");
	cr_expect_str_eq(jp_str(jp_path(d, "threads.1.name")), "b-to-a");
	cr_expect_str_eq(jp_str(jp_path(d, "threads.1.waits_for")), "lock_a");
	cr_expect_str_eq(jp_str(jp_path(d, "threads.0.holds.0")), "lock_a");
	cr_expect_str_eq(jp_str(jp_path(d, "threads.0.stack.0")), "Lock.acquire (locks.py:114)");
	cr_expect_null(jp_get(d, "tasks"));
	jp_free(v);
}
