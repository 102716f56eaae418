/* test_pywait.c - where the names of a blocked thread's Python frames place its wait: frame
 * sequences captured from real CPython 3.11 to 3.13 threads blocked in each idiom. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "python/pywait.h"

#define PY310 "/root/.pyenv/versions/3.10.13/lib/python3.10/"
#define PY311 "/root/.pyenv/versions/3.11.7/lib/python3.11/"
#define DEB311 "/usr/lib/python3.11/"
#define PY312 "/root/.pyenv/versions/3.12.1/lib/python3.12/"
#define PY313 "/root/.pyenv/versions/3.13.0/lib/python3.13/"
#define APP "/work/app/worker.py"

/* "func@file", innermost first, into frames. */
static size_t frames_of(const char *const *spec, struct py_frame *out, size_t max)
{
	size_t n = 0;

	for (; spec[n] && n < max; n++) {
		static char funcs[32][128], files[32][256];
		const char *at = strchr(spec[n], '@');

		cr_assert_not_null(at, "%s", spec[n]);
		snprintf(funcs[n], sizeof(funcs[n]), "%.*s", (int)(at - spec[n]), spec[n]);
		snprintf(files[n], sizeof(files[n]), "%s", at + 1);
		out[n] = (struct py_frame){.func = funcs[n], .file = files[n], .line = 1};
	}
	return n;
}

static struct pywait_site site_of(const char *const *spec)
{
	struct py_frame frames[32];
	struct pywait_site s;
	size_t n = frames_of(spec, frames, 32);

	pywait__site(frames, n, &s);
	return s;
}

static void expect(const char *const *spec, enum pywait_kind kind, enum pywait_check check,
		   size_t api, size_t user)
{
	struct pywait_site s = site_of(spec);

	cr_expect_eq(s.kind, kind, "%s...: kind %s, want %s", spec[0], pywait__kind_name(s.kind),
		     pywait__kind_name(kind));
	cr_expect_eq(s.check, check, "%s...: check %d, want %d", spec[0], s.check, check);
	cr_expect_eq(s.api, api, "%s...: api frame %zu, want %zu", spec[0], s.api, api);
	cr_expect_eq(s.user, user, "%s...: user frame %zu, want %zu", spec[0], s.user, user);
}

Test(pywait, condition_wait_called_by_the_user_is_cond)
{
	const char *const f[] = {"Condition.wait@" PY311 "threading.py",
				 "idioms.<locals>.cond_waiter@" APP,
				 "Thread.run@" PY311 "threading.py", NULL};

	expect(f, PYWAIT_COND, PYWAIT_CHECK_WAITER, 0, 1);
}

Test(pywait, event_wait_is_event)
{
	const char *const f[] = {"Condition.wait@" DEB311 "threading.py",
				 "Event.wait@" DEB311 "threading.py", "event_waiter@" APP, NULL};

	expect(f, PYWAIT_EVENT, PYWAIT_CHECK_WAITER, 1, 2);
}

/* Thread.start waits for the new thread's _started Event, which the new thread's bootstrap
 * sets: the start handshake, on the Thread; the user's frame is past start (3.10 to 3.13 wait
 * the same way, captured from py_idioms.py's joiner and main) */
Test(pywait, thread_start_is_the_start_handshake)
{
	const char *const f[] = {"Condition.wait@" PY312 "threading.py",
				 "Event.wait@" PY312 "threading.py",
				 "Thread.start@" PY312 "threading.py", "main@" APP, NULL};
	const char *const joiner[] = {"Condition.wait@" PY310 "threading.py",
				      "Event.wait@" PY310 "threading.py",
				      "Thread.start@" PY310 "threading.py",
				      "joiner@" APP,
				      "Thread.run@" PY310 "threading.py",
				      "Thread._bootstrap_inner@" PY310 "threading.py",
				      "Thread._bootstrap@" PY310 "threading.py",
				      NULL};

	expect(f, PYWAIT_START, PYWAIT_CHECK_WAITER, 2, 3);
	expect(joiner, PYWAIT_START, PYWAIT_CHECK_WAITER, 2, 3);
	cr_expect_str_eq(pywait__kind_name(PYWAIT_START), "start");
}

/* An Event waited on anywhere else is an event, also one called from a method named start */
Test(pywait, only_threadings_start_is_a_start)
{
	const char *const f[] = {"Condition.wait@" PY311 "threading.py",
				 "Event.wait@" PY311 "threading.py", "Server.start@" APP, NULL};

	expect(f, PYWAIT_EVENT, PYWAIT_CHECK_WAITER, 1, 2);
}

Test(pywait, queue_get_put_join_are_queue)
{
	const char *const get[] = {"Condition.wait@" PY311 "threading.py",
				   "Queue.get@" PY311 "queue.py", "consumer@" APP, NULL};
	const char *const put[] = {"Condition.wait@" PY311 "threading.py",
				   "Queue.put@" PY311 "queue.py", "producer@" APP, NULL};
	const char *const join[] = {"Condition.wait@" PY312 "threading.py",
				    "Queue.join@" PY312 "queue.py", "main@" APP, NULL};

	expect(get, PYWAIT_QUEUE, PYWAIT_CHECK_WAITER, 1, 2);
	expect(put, PYWAIT_QUEUE, PYWAIT_CHECK_WAITER, 1, 2);
	expect(join, PYWAIT_QUEUE, PYWAIT_CHECK_WAITER, 1, 2);
}

/* Barrier.wait -> Barrier._wait -> Condition.wait_for -> Condition.wait */
Test(pywait, barrier_wait_is_barrier_through_wait_for)
{
	const char *const f[] = {"Condition.wait@" PY311 "threading.py",
				 "Condition.wait_for@" PY311 "threading.py",
				 "Barrier._wait@" PY311 "threading.py",
				 "Barrier.wait@" PY311 "threading.py",
				 "party@" APP,
				 NULL};

	expect(f, PYWAIT_BARRIER, PYWAIT_CHECK_WAITER, 2, 4);
}

Test(pywait, semaphore_acquire_is_a_signal)
{
	const char *const f[] = {"Condition.wait@" PY311 "threading.py",
				 "Semaphore.acquire@" PY311 "threading.py", "signal_waiter@" APP,
				 NULL};

	expect(f, PYWAIT_SIGNAL, PYWAIT_CHECK_WAITER, 1, 2);
}

/* concurrent.futures' Future.result waits on its own Condition: a condition wait, named in
 * _base.py's frame, where the Condition is self._condition */
Test(pywait, future_result_is_cond)
{
	const char *const f[] = {"Condition.wait@" PY311 "threading.py",
				 "Future.result@" PY311 "concurrent/futures/_base.py", "main@" APP,
				 NULL};

	expect(f, PYWAIT_COND, PYWAIT_CHECK_WAITER, 0, 1);
}

Test(pywait, thread_join_is_join)
{
	const char *const f[] = {"Thread._wait_for_tstate_lock@" PY311 "threading.py",
				 "Thread.join@" PY311 "threading.py", "main@" APP, NULL};

	expect(f, PYWAIT_JOIN, PYWAIT_CHECK_TSTATE, 0, 2);
}

/* 3.13 joins in C from Thread.join itself (self._handle.join()): parked on the waiter's own
 * semaphore, confirmed by the handle's exit event */
Test(pywait, thread_join_313_is_join_confirmed_by_its_handle)
{
	const char *const f[] = {"Thread.join@" PY313 "threading.py",
				 "idioms.<locals>.joiner@" APP, "Thread.run@" PY313 "threading.py",
				 NULL};

	expect(f, PYWAIT_JOIN, PYWAIT_CHECK_HANDLE, 0, 1);
}

/* threading's registry locks, taken as a joined thread is marked stopped (3.11's Thread._stop:
 * _shutdown_locks_lock) or a started one entered (Thread.start: _active_limbo_lock), are the
 * user's join or start, not contention of the program's; a lock taken in threading.py outside
 * them (Condition.__enter__ of the user's Condition) stays contention */
Test(pywait, threadings_own_locks_under_join_and_start_are_the_join_and_start)
{
	const char *const stop[] = {"Thread._stop@" PY311 "threading.py",
				    "Thread._wait_for_tstate_lock@" PY311 "threading.py",
				    "Thread.join@" PY311 "threading.py", "<module>@" APP, NULL};
	const char *const start[] = {"Thread.start@" DEB311 "threading.py", "main@" APP,
				     "<module>@" APP, NULL};
	const char *const user_with[] = {"Condition.__enter__@" PY312 "threading.py",
					 "Thread.start@" APP, NULL};

	expect(stop, PYWAIT_JOIN, PYWAIT_CHECK_MACHINERY, 2, 3);
	expect(start, PYWAIT_START, PYWAIT_CHECK_MACHINERY, 0, 1);
	expect(user_with, PYWAIT_LOCK, PYWAIT_CHECK_OBJECT, 0, 1);
}

/* An idle ThreadPoolExecutor worker sleeps in SimpleQueue.get, which is C: the frame that
 * called it holds the queue, and the objects say whether it is a queue or a lock. */
Test(pywait, a_call_into_c_is_confirmed_by_its_object)
{
	const char *const pool[] = {"_worker@" PY311 "concurrent/futures/thread.py",
				    "Thread.run@" PY311 "threading.py", NULL};
	const char *const with[] = {"transfer_a_to_b@" APP, "Thread.run@" PY311 "threading.py",
				    NULL};

	expect(pool, PYWAIT_LOCK, PYWAIT_CHECK_OBJECT, 0, 0);
	expect(with, PYWAIT_LOCK, PYWAIT_CHECK_OBJECT, 0, 0);
}

/* `with cond:` blocks in Condition.__enter__ on the Condition's lock: contention, named where
 * the user's frame refers to it */
Test(pywait, entering_a_condition_is_contention_on_its_lock)
{
	const char *const f[] = {"Condition.__enter__@" PY311 "threading.py", "notify@" APP, NULL};

	expect(f, PYWAIT_LOCK, PYWAIT_CHECK_OBJECT, 0, 1);
}

/* A file named like the standard library's, elsewhere, is the user's own */
Test(pywait, only_the_standard_files_count)
{
	const char *const f[] = {"Condition.wait@/work/app/mythreading.py",
				 "Event.wait@" PY311 "threading.py", NULL};

	expect(f, PYWAIT_LOCK, PYWAIT_CHECK_OBJECT, 0, 0);
}

Test(pywait, kinds_have_names)
{
	cr_expect_str_eq(pywait__kind_name(PYWAIT_QUEUE), "queue");
	cr_expect_str_eq(pywait__kind_name(PYWAIT_SIGNAL), "signal");
	cr_expect_str_eq(pywait__kind_name(99), "unknown");
}
