/* test_deadlock.c - the waits-for graph from hand-built waits and holds: cycles confirmed after
 * the delay and reported once, transient ones not, holders from ACQUIRE, at-attach waits,
 * exits, and the JSON, text and alert outputs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/deadlock.h"
#include "util/json.h"
#include "jsonparse.h"
#include "trace/model.h"
#include "recs.h"

#define LOCK_A 0x5581d2a0ull
#define LOCK_B 0x5581d2e0ull
#define LOCK_C 0x5581d320ull
#define CONDV 0x5581d400ull
#define T1 101
#define T2 102
#define T3 103
#define MS 1000000ull
#define CONFIRM (500 * MS)

static struct model *m;
static struct deadlock *dl;

static void feed(struct ls_rec r)
{
	cr_assert_eq(model__feed(m, &r), 0);
	cr_assert_eq(deadlock__feed(dl, &r), 0, "record type %d", r.type);
}

static void begin_full(uint64_t ts, uint32_t tid, uint64_t addr, uint8_t kind, uint32_t owner,
		       uint32_t stack, uint8_t flags)
{
	struct ls_rec r = wait_begin(ts, tid, addr, kind, owner, stack);

	r.wait_begin.flags = flags;
	feed(r);
}

static void begin(uint64_t ts, uint32_t tid, uint64_t addr, uint32_t owner, uint32_t stack)
{
	begin_full(ts, tid, addr, LS_KIND_MUTEX, owner, stack, 0);
}

static void end(uint64_t ts, uint32_t tid, uint8_t result)
{
	feed(wait_end(ts, tid, result));
}

static void acq(uint64_t ts, uint32_t tid, uint64_t addr)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .ts = ts, .tid = tid};

	r.acquire.addr = addr;
	r.acquire.kind = LS_KIND_MUTEX;
	feed(r);
}

static void rel(uint64_t ts, uint32_t tid, uint64_t addr)
{
	struct ls_rec r = {.type = LS_REC_RELEASE, .ts = ts, .tid = tid};

	r.release.addr = addr;
	feed(r);
}

static void simple(uint8_t type, uint64_t ts, uint32_t tid)
{
	feed((struct ls_rec){.type = type, .ts = ts, .tid = tid});
}

static void setup(void)
{
	static const uint32_t s1[] = {1, 3}, s2[] = {2, 3};
	struct ls_rec r = {.type = LS_REC_LOCK};

	m = model__new();
	dl = deadlock__new(CONFIRM);
	cr_assert(m && dl);
	r.lock.kind = LS_KIND_MUTEX;
	r.lock.addr = LOCK_A;
	r.lock.name = "lock_a";
	feed(r);
	r.lock.addr = LOCK_B;
	r.lock.name = "lock_b";
	feed(r);
	r = (struct ls_rec){.type = LS_REC_THREAD, .tid = T1};
	r.thread.name = "worker-1";
	feed(r);
	r.tid = T2;
	r.thread.name = "worker-2";
	feed(r);
	r = (struct ls_rec){.type = LS_REC_FRAME};
	r.frame.file = "t.c";
	r.frame.module = "t";
	r.frame.id = 1, r.frame.func = "take_b", r.frame.line = 11;
	feed(r);
	r.frame.id = 2, r.frame.func = "take_a", r.frame.line = 22;
	feed(r);
	r.frame.id = 3, r.frame.func = "worker", r.frame.line = 33;
	feed(r);
	r = (struct ls_rec){.type = LS_REC_STACK};
	r.stack.id = 1, r.stack.nframes = 2, r.stack.frames = s1;
	feed(r);
	r.stack.id = 2, r.stack.frames = s2;
	feed(r);
}

static void teardown(void)
{
	deadlock__free(dl);
	model__free(m);
}

TestSuite(deadlock, .init = setup, .fini = teardown);

struct seen {
	int calls;
	struct deadlock_found last;
	char alert[4096];
};

static void on_found(const struct deadlock_found *f, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->last = *f;
	deadlock__format_alert(f, m, s->alert, sizeof(s->alert));
}

static int check(uint64_t now, struct seen *s)
{
	int before = s->calls;

	cr_assert_eq(deadlock__check(dl, now, on_found, s), 0);
	return s->calls - before;
}

/* worker-1 holds lock_a and waits for lock_b (from 1 ms); worker-2 holds lock_b and waits for
 * lock_a (from 2 ms): the owners the lock words named. */
static void classic(void)
{
	begin(1 * MS, T1, LOCK_B, T2, 1);
	begin(2 * MS, T2, LOCK_A, T1, 2);
}

Test(deadlock, crossed_waits_confirmed_after_the_delay_and_reported_once)
{
	const struct deadlock_found *f;
	struct seen s = {0};

	classic();
	cr_assert_eq(check(2 * MS + CONFIRM - 1, &s), 0, "not yet sure");
	cr_assert_eq(deadlock__count(dl), 0);
	cr_assert_eq(check(2 * MS + CONFIRM, &s), 1);
	cr_assert_eq(check(3 * MS + CONFIRM, &s), 0, "once only");
	cr_assert_eq(check(9000 * MS, &s), 0, "once only");

	cr_assert_eq(deadlock__count(dl), 1);
	f = deadlock__get(dl, 0);
	cr_assert_eq(f->nthreads, 2);
	cr_assert_eq(f->formed_ns, 2 * MS);
	cr_assert_eq(f->detected_ns, 2 * MS + CONFIRM);
	cr_assert_eq(f->threads[0].tid, T1);
	cr_assert_eq(f->locks[0], LOCK_B);
	cr_assert_eq(f->threads[0].waits_for, LOCK_B);
	cr_assert_eq(f->threads[0].nholds, 1);
	cr_assert_eq(f->threads[0].holds[0], LOCK_A);
	cr_assert_eq(f->threads[0].stack_id, 1);
	cr_assert_eq(f->threads[0].since_ns, 1 * MS);
	cr_assert_eq(f->threads[1].tid, T2);
	cr_assert_eq(f->locks[1], LOCK_A);
	cr_assert_eq(f->threads[1].holds[0], LOCK_B);
	cr_assert_eq(f->threads[1].stack_id, 2);
	cr_assert_eq(s.last.detected_ns, f->detected_ns);
}

Test(deadlock, a_transient_cycle_is_nothing)
{
	struct seen s = {0};

	classic();
	end(2 * MS + CONFIRM - 1, T1, LS_WAIT_WOKEN); /* the owner was stale: it moved on */
	cr_assert_eq(check(9000 * MS, &s), 0);
	cr_assert_eq(deadlock__count(dl), 0);
}

Test(deadlock, a_deadlock_broken_later_is_still_found)
{
	struct seen s = {0};

	classic();
	simple(LS_REC_THREAD, 2 * MS + CONFIRM + 5, T3); /* time passes */
	end(3000 * MS, T1, LS_WAIT_TIMEOUT);		 /* a timed lock gave up */
	end(3001 * MS, T2, LS_WAIT_WOKEN);
	cr_assert_eq(check(9000 * MS, &s), 1);
	cr_assert_eq(deadlock__get(dl, 0)->detected_ns, 2 * MS + CONFIRM);
}

Test(deadlock, a_cycle_formed_too_close_to_the_end_is_not_confirmed)
{
	struct seen s = {0};

	classic();
	cr_assert_eq(check(100 * MS, &s), 0);
	cr_assert_eq(deadlock__count(dl), 0);
}

Test(deadlock, holders_come_from_acquire_when_the_owner_is_unknown)
{
	const struct deadlock_found *f;
	struct seen s = {0};

	acq(1 * MS, T1, LOCK_A);
	acq(1 * MS, T2, LOCK_B);
	begin(3 * MS, T1, LOCK_B, 0, 1);
	begin(4 * MS, T2, LOCK_A, 0, 2);
	cr_assert_eq(check(4 * MS + CONFIRM, &s), 1);
	f = deadlock__get(dl, 0);
	cr_assert_eq(f->threads[0].tid, T1);
	cr_assert_eq(f->threads[0].holds[0], LOCK_A);
	cr_assert_eq(f->threads[1].holds[0], LOCK_B);
}

/* Attached to a hung CPython: the holders come from open `with` blocks, not from a probe. The
 * deadlock is found the same way and says which holds were deduced. */
Test(deadlock, inferred_holders_make_an_inferred_deadlock)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .tid = T1};
	const struct deadlock_found *f;
	struct seen s = {0};

	r.acquire.addr = LOCK_A;
	r.acquire.kind = LS_KIND_MUTEX;
	r.acquire.flags = LS_ACQ_INFERRED;
	feed(r);
	acq(0, T2, LOCK_B);
	begin_full(0, T1, LOCK_B, LS_KIND_MUTEX, 0, 1, LS_WAIT_AT_ATTACH);
	begin_full(0, T2, LOCK_A, LS_KIND_MUTEX, 0, 2, LS_WAIT_AT_ATTACH);
	cr_assert_eq(check(CONFIRM, &s), 1);
	f = deadlock__get(dl, 0);
	cr_assert(f->inferred);
	cr_assert(f->threads[0].holds_inferred, "T1's lock_a came from its frames");
	cr_assert_not(f->threads[1].holds_inferred, "T2's lock_b was seen taken");
	cr_assert(strstr(s.alert, "holds lock_a (inferred from its frames), waits for"),
		  "%s", s.alert);
}

Test(deadlock, acquire_holders_win_over_a_stale_owner)
{
	struct seen s = {0};

	acq(1 * MS, T1, LOCK_A);
	acq(1 * MS, T2, LOCK_B);
	rel(2 * MS, T2, LOCK_B);
	acq(2 * MS, T3, LOCK_B);
	begin(3 * MS, T1, LOCK_B, T2, 1); /* the word said worker-2; worker-3 has it */
	begin(4 * MS, T2, LOCK_A, 0, 2);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

Test(deadlock, waits_open_at_attach_count_from_zero)
{
	const struct deadlock_found *f;
	struct seen s = {0};

	begin_full(0, T1, LOCK_B, LS_KIND_MUTEX, T2, 1, LS_WAIT_AT_ATTACH);
	begin_full(0, T2, LOCK_A, LS_KIND_MUTEX, T1, 2, LS_WAIT_AT_ATTACH);
	cr_assert_eq(check(CONFIRM - 1, &s), 0);
	cr_assert_eq(check(CONFIRM, &s), 1);
	f = deadlock__get(dl, 0);
	cr_assert_eq(f->detected_ns, CONFIRM);
	cr_assert(f->threads[0].at_attach && f->threads[1].at_attach);
	cr_assert_eq(f->threads[0].since_ns, 0);
}

Test(deadlock, thread_exit_breaks_the_cycle)
{
	struct seen s = {0};

	classic();
	simple(LS_REC_THREAD_EXIT, 100 * MS, T2);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

Test(deadlock, process_exit_ends_every_wait)
{
	struct seen s = {0};

	classic();
	simple(LS_REC_PROC_EXIT, 100 * MS, 0);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

Test(deadlock, a_thread_seen_running_is_not_waiting)
{
	struct seen s = {0};

	classic();
	acq(100 * MS, T1, LOCK_C); /* its WAIT_END was lost, but it runs */
	cr_assert_eq(check(9000 * MS, &s), 0);
}

Test(deadlock, a_restarted_wait_keeps_its_start)
{
	struct seen s = {0};

	classic();
	end(300 * MS, T1, LS_WAIT_INTR); /* a signal; the lock call waits again */
	begin(301 * MS, T1, LOCK_B, T2, 1);
	cr_assert_eq(check(2 * MS + CONFIRM, &s), 1);
	cr_assert_eq(deadlock__get(dl, 0)->threads[0].since_ns, 1 * MS);
}

Test(deadlock, three_threads_in_a_ring)
{
	const struct deadlock_found *f;
	struct seen s = {0};

	begin(1 * MS, T3, LOCK_A, T1, 0);
	begin(2 * MS, T2, LOCK_C, T3, 0);
	begin(3 * MS, T1, LOCK_B, T2, 0);
	cr_assert_eq(check(3 * MS + CONFIRM, &s), 1);
	f = deadlock__get(dl, 0);
	cr_assert_eq(f->nthreads, 3);
	cr_assert_eq(f->threads[0].tid, T1, "lowest tid first");
	cr_assert_eq(f->threads[1].tid, T2);
	cr_assert_eq(f->threads[2].tid, T3);
	cr_assert_eq(f->threads[2].holds[0], LOCK_C);
	cr_assert_eq(f->threads[0].holds[0], LOCK_A);
}

/* A thread alone is never a deadlock between threads: an idle pool worker holds (per the
 * probes) the SimpleQueue lock its last get() took and waits on it again, for a put() from
 * another thread to release it; a mutex relocked by its owner is a bug, not a cycle. */
Test(deadlock, a_thread_waiting_on_its_own_lock_is_no_deadlock)
{
	struct seen s = {0};

	begin(1 * MS, T1, LOCK_A, T1, 1);
	cr_assert_eq(check(9000 * MS, &s), 0);
	acq(9001 * MS, T2, LOCK_B);
	begin(9002 * MS, T2, LOCK_B, 0, 2);
	cr_assert_eq(check(19000 * MS, &s), 0);
	cr_assert_eq(deadlock__count(dl), 0);
}

Test(deadlock, condition_waits_wait_for_no_holder)
{
	struct seen s = {0};

	begin(1 * MS, T1, LOCK_B, T2, 1);
	begin_full(2 * MS, T2, CONDV, LS_KIND_COND, T1, 2, 0);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

/* CPython's signalling waits (Event.wait, Queue.get, Barrier.wait, Semaphore.acquire,
 * Thread.join) wait for another thread to signal, not for a holder: even where the probes saw
 * the waiting thread's peer take the lock-like object they wait on, no cycle closes. */
Test(deadlock, signalling_waits_close_no_cycle)
{
	static const uint8_t kinds[] = {LS_KIND_EVENT, LS_KIND_QUEUE, LS_KIND_BARRIER,
					LS_KIND_SIGNAL, LS_KIND_JOIN, LS_KIND_COND,
					LS_KIND_UNPLACED};

	for (size_t i = 0; i < sizeof(kinds); i++) {
		struct seen s = {0};
		uint64_t t0 = i * 20000 * MS;

		acq(t0 + 1 * MS, T1, LOCK_A);
		acq(t0 + 1 * MS, T2, LOCK_B);
		begin(t0 + 2 * MS, T1, LOCK_B, 0, 1);
		begin_full(t0 + 3 * MS, T2, LOCK_A, kinds[i], 0, 2, 0);
		cr_assert_eq(check(t0 + 9000 * MS, &s), 0, "kind %s closed a cycle",
			     ls_kind_name(kinds[i]));
		end(t0 + 9001 * MS, T1, LS_WAIT_WOKEN);
		end(t0 + 9001 * MS, T2, LS_WAIT_WOKEN);
		rel(t0 + 9002 * MS, T1, LOCK_A);
		rel(t0 + 9002 * MS, T2, LOCK_B);
	}
	cr_assert_eq(deadlock__count(dl), 0);
}

static void acq_flags(uint64_t ts, uint64_t call_ts, uint32_t tid, uint64_t addr, uint8_t flags)
{
	struct ls_rec r = {.type = LS_REC_ACQUIRE, .ts = ts, .tid = tid};

	r.acquire.addr = addr;
	r.acquire.kind = LS_KIND_MUTEX;
	r.acquire.flags = flags;
	r.acquire.call_ts = call_ts;
	feed(r);
}

/* A CPython lock released by a thread that does not hold it while another does is a signal:
 * its "holder" is waited for by no one, even where a wait on it went unclassified. */
Test(deadlock, a_python_lock_used_as_a_signal_has_no_holder)
{
	struct seen s = {0};

	acq_flags(1 * MS, 1 * MS, T1, LOCK_A, LS_ACQ_PY);
	rel(2 * MS, T2, LOCK_A);
	acq(3 * MS, T2, LOCK_B);
	begin(4 * MS, T1, LOCK_B, 0, 1);
	begin(5 * MS, T2, LOCK_A, 0, 2);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

/* ... as is one taken again by its holder in a call begun after its last taking returned: a
 * `_thread.lock` is not reentrant, so another thread released it meanwhile, unseen. */
Test(deadlock, a_python_lock_taken_twice_by_its_holder_is_a_signal)
{
	struct seen s = {0};

	acq_flags(1 * MS, 1 * MS, T1, LOCK_A, LS_ACQ_PY);
	acq_flags(3 * MS, 2 * MS, T1, LOCK_A, LS_ACQ_PY);
	acq(3 * MS, T2, LOCK_B);
	begin(4 * MS, T1, LOCK_B, 0, 1);
	begin(5 * MS, T2, LOCK_A, 0, 2);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

/* Holders inferred from frames while recording close the cycle of waits already open, found
 * by the next check or the end of the trace, with no later record needed. */
Test(deadlock, inferred_holders_close_open_waits)
{
	struct seen s = {0};

	begin(1 * MS, T1, LOCK_B, 0, 1);
	begin(2 * MS, T2, LOCK_A, 0, 2);
	acq_flags(300 * MS, 0, T1, LOCK_A, LS_ACQ_INFERRED | LS_ACQ_PY);
	acq_flags(300 * MS, 0, T2, LOCK_B, LS_ACQ_INFERRED | LS_ACQ_PY);
	simple(LS_REC_PROC_EXIT, 2000 * MS, 0);
	cr_assert_eq(deadlock__count(dl), 1, "the cycle stood from 2 ms to the end");
	cr_assert(deadlock__get(dl, 0)->inferred);
	cr_assert_eq(check(3000 * MS, &s), 1);
}

/* A thread whose inferred hold was read while it was blocked runs again: what it held may be
 * released unseen from then on, so it holds nothing the frames showed. */
Test(deadlock, inferred_holds_end_when_their_thread_runs)
{
	struct seen s = {0};

	acq_flags(0, 0, T1, LOCK_A, LS_ACQ_INFERRED | LS_ACQ_PY);
	begin_full(0, T1, LOCK_C, LS_KIND_MUTEX, 0, 1, LS_WAIT_AT_ATTACH);
	end(1 * MS, T1, LS_WAIT_WOKEN);
	acq(2 * MS, T2, LOCK_B);
	begin(3 * MS, T1, LOCK_B, 0, 1);
	begin(4 * MS, T2, LOCK_A, 0, 2);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

Test(deadlock, chains_without_a_cycle_are_nothing)
{
	struct seen s = {0};

	begin(1 * MS, T1, LOCK_B, T2, 1);
	begin(2 * MS, T2, LOCK_A, T3, 2);
	cr_assert_eq(check(9000 * MS, &s), 0);
}

Test(deadlock, json_matches_the_contract)
{
	char *text = NULL, err[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json_writer *w = json_writer__new(f, 2);
	struct jp_value *doc;
	uint64_t v;

	classic();
	cr_assert_eq(deadlock__check(dl, 9000 * MS, NULL, NULL), 0);
	cr_assert(f && w);
	deadlock__json(dl, m, w);
	cr_assert_eq(json_writer__finish(w), 0);
	json_writer__free(w);
	fclose(f);
	doc = jp_parse(text, len, err, sizeof(err));
	cr_assert(doc, "not JSON: %s\n%s", err, text);
	cr_assert_eq(doc->type, JP_ARRAY);
	cr_assert_eq(doc->len, 1);
	cr_assert_str_eq(jp_str(jp_path(doc, "0.locks.0")), "lock_b");
	cr_assert_str_eq(jp_str(jp_path(doc, "0.locks.1")), "lock_a");
	cr_assert(jp_uint(jp_path(doc, "0.threads.0.tid"), &v) && v == T1);
	cr_assert_str_eq(jp_str(jp_path(doc, "0.threads.0.name")), "worker-1");
	cr_assert_str_eq(jp_str(jp_path(doc, "0.threads.0.holds.0")), "lock_a");
	cr_assert_str_eq(jp_str(jp_path(doc, "0.threads.0.waits_for")), "lock_b");
	cr_assert_str_eq(jp_str(jp_path(doc, "0.threads.0.stack.0")), "take_b (t.c:11)");
	cr_assert_str_eq(jp_str(jp_path(doc, "0.threads.0.stack.1")), "worker (t.c:33)");
	cr_assert_str_eq(jp_str(jp_path(doc, "0.threads.1.waits_for")), "lock_a");
	cr_assert(jp_uint(jp_path(doc, "0.detected_ns"), &v) && v == 2 * MS + CONFIRM);
	cr_assert_eq(jp_path(doc, "0.inferred")->type, JP_BOOL);
	cr_assert_not(jp_path(doc, "0.inferred")->boolean, "every hold was seen taken");
	jp_free(doc);
	free(text);
}

Test(deadlock, text_and_alert_name_threads_and_locks)
{
	struct seen s = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	classic();
	cr_assert_eq(check(9000 * MS, &s), 1);
	cr_assert(!strncmp(s.alert,
			   "lockscope: DEADLOCK: threads 101 (worker-1), 102 (worker-2) on locks "
			   "lock_b, lock_a\n",
			   strcspn(s.alert, "\n") + 1),
		  "%s", s.alert);
	cr_assert(strstr(s.alert, "thread 102 (worker-2) holds lock_b, waits for lock_a\n"), "%s",
		  s.alert);
	cr_assert(strstr(s.alert, "\n        take_b (t.c:11)\n"), "%s", s.alert);

	deadlock__text(dl, m, f);
	fclose(f);
	cr_assert(strstr(text, "DEADLOCK: 2 threads, locks lock_b, lock_a"), "%s", text);
	cr_assert(strstr(text, "thread 101 (worker-1) holds lock_a, waits for lock_b\n"), "%s",
		  text);
	cr_assert(strstr(text, "thread 102 (worker-2) holds lock_b, waits for lock_a\n"), "%s",
		  text);
	cr_assert(strstr(text, "take_a (t.c:22)"), "%s", text);
	free(text);
}

Test(deadlock, alert_truncates_like_snprintf)
{
	struct seen s = {0};
	char small[16];
	int need;

	classic();
	cr_assert_eq(check(9000 * MS, &s), 1);
	need = deadlock__format_alert(deadlock__get(dl, 0), m, small, sizeof(small));
	cr_assert_eq((size_t)need, strlen(s.alert));
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	deadlock__free(NULL);
}

Test(deadlock, no_deadlocks_says_so)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	deadlock__text(dl, m, f);
	fclose(f);
	cr_assert_str_eq(text, "No deadlocks.\n\n");
	free(text);
}
