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

#include "jsonparse.h"
#include "proc.h"
#include "pyasync.h"

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
	char cmd[512], out[256], why[256] = "";
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

Test(pyasync, captured_asyncio_deadlock_replays_and_survives_damage)
{
	replay_then_damage(python3_path(), "tests/workloads/py_async_deadlock.py", true);
}

Test(pyasync, captured_thread_deadlock_replays_and_survives_damage)
{
	replay_then_damage("/usr/bin/python3.11", "tests/workloads/py_deadlock.py", false);
}

/* An image of a version whose object layouts are unknown: refused with a reason. */
static int empty_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	memset(buf, 0, len);
	return 0;
}

Test(pyasync, other_versions_are_refused_with_a_reason)
{
	struct pyreader *r = pyreader__new_image(empty_read, NULL, 0x100000, 0x030c01f0, NULL, 0);
	struct pyasync *a = (struct pyasync *)1;
	char why[256] = "";

	cr_assert_not_null(r);
	cr_expect_eq(pyasync__read(r, NULL, 0, NULL, 0, &a, why, sizeof(why)), -ENOTSUP);
	cr_expect_null(a);
	cr_expect(strstr(why, "3.12") && strstr(why, "3.11 supported"), "why: %s", why);
	pyreader__free(r);
}
