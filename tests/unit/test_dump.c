/* test_dump.c - the pure parts of `dump`: /proc/PID/task/TID/syscall lines, what a thread is
 * doing, and the snapshot model (waits, holders, deadlocks) written as the contract's JSON. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "inspect/blocked.h"
#include "jsonparse.h"
#include "inspect/snapshot.h"
#include "trace/trace.h"

#define T1 101
#define T2 102
#define T3 103
#define LOCK_A 0x5000
#define LOCK_B 0x5040
#define PYLOCK_A 0x7f0010
#define PYLOCK_B 0x7f0050

/* ---- /proc lines ---- */

Test(dump, parses_a_thread_asleep_in_a_system_call)
{
	struct blocked_sys s;

	cr_assert_eq(blocked__parse_syscall("202 0x55d0c0de4100 0x80 0x2 0x0 0x0 0x0 "
					    "0x7ffc1234abc8 0x7f12345678ab\n",
					    &s),
		     0);
	cr_assert_eq(s.state, BLOCKED_SYS_CALL);
	cr_assert_eq(s.nr, 202);
	cr_assert_eq(s.args[0], 0x55d0c0de4100ull);
	cr_assert_eq(s.args[1], 0x80);
	cr_assert_eq(s.args[2], 2);
	cr_assert_eq(s.sp, 0x7ffc1234abc8ull);
	cr_assert_eq(s.ip, 0x7f12345678abull);
}

Test(dump, parses_running_and_outside_any_call)
{
	struct blocked_sys s;

	cr_assert_eq(blocked__parse_syscall("running\n", &s), 0);
	cr_assert_eq(s.state, BLOCKED_SYS_RUNNING);
	cr_assert_eq(s.sp, 0);
	cr_assert_eq(blocked__parse_syscall("-1 0x7ffc00001000 0x401136\n", &s), 0);
	cr_assert_eq(s.state, BLOCKED_SYS_NONE);
	cr_assert_eq(s.sp, 0x7ffc00001000ull);
	cr_assert_eq(s.ip, 0x401136);
}

Test(dump, rejects_lines_of_no_known_form)
{
	struct blocked_sys s;

	cr_assert_eq(blocked__parse_syscall("", &s), -EINVAL);
	cr_assert_eq(blocked__parse_syscall("runnin", &s), -EINVAL);
	cr_assert_eq(blocked__parse_syscall("202 0x1 0x2", &s), -EINVAL);
	cr_assert_eq(blocked__parse_syscall("-5 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8", &s), -EINVAL);
}

Test(dump, says_what_a_thread_does)
{
	char buf[32];

	cr_assert_str_eq(snapshot__doing(SYS_futex, 0x80, buf, sizeof(buf)), "futex wait");
	cr_assert_str_eq(snapshot__doing(SYS_futex, 0x81, buf, sizeof(buf)), "futex");
	cr_assert_str_eq(snapshot__doing(449, 0, buf, sizeof(buf)), "futex wait");
	cr_assert_str_eq(snapshot__doing(SYS_clock_nanosleep, 0, buf, sizeof(buf)),
			 "clock_nanosleep");
	cr_assert_str_eq(snapshot__doing(SYS_epoll_wait, 0, buf, sizeof(buf)), "epoll_wait");
	cr_assert_str_eq(snapshot__doing(SNAPSHOT_RUNNING, 0, buf, sizeof(buf)), "running");
	cr_assert_str_eq(snapshot__doing(SNAPSHOT_NO_CALL, 0, buf, sizeof(buf)), "");
	cr_assert_str_eq(snapshot__doing(9999, 0, buf, sizeof(buf)), "syscall 9999");
	cr_assert_str_eq(snapshot__state_name('S'), "sleeping");
	cr_assert_str_eq(snapshot__state_name('R'), "running");
	cr_assert_str_eq(snapshot__state_name('D'), "disk sleep");
	cr_assert_str_eq(snapshot__state_name('?'), "unknown");
}

/* ---- the model ---- */

static struct snapshot *snap;

static void feed(struct ls_rec r)
{
	cr_assert_eq(snapshot__feed(snap, &r), 0);
}

static void name_thread(uint32_t tid, const char *name)
{
	feed((struct ls_rec){.type = LS_REC_THREAD, .tid = tid, .thread = {.name = name}});
}

static void name_lock(uint64_t addr, uint8_t kind, const char *name)
{
	feed((struct ls_rec){.type = LS_REC_LOCK, .lock = {addr, kind, name}});
}

/* Stack ID of one frame FUNC (FILE:LINE). */
static void one_frame_stack(uint32_t id, const char *func, const char *file, uint32_t line)
{
	uint32_t frames[1] = {id};

	feed((struct ls_rec){.type = LS_REC_FRAME,
			     .frame = {.id = id,
				       .pc = 0x1000 + id,
				       .func = func,
				       .file = file,
				       .line = line,
				       .module = "t"}});
	feed((struct ls_rec){.type = LS_REC_STACK, .stack = {id, 1, frames}});
}

static void wait_begin(uint32_t tid, uint64_t addr, uint32_t owner, uint32_t stack_id)
{
	struct ls_rec r = {.type = LS_REC_WAIT_BEGIN, .tid = tid};

	r.wait_begin.addr = addr;
	r.wait_begin.owner = owner;
	r.wait_begin.stack_id = stack_id;
	r.wait_begin.kind = LS_KIND_MUTEX;
	r.wait_begin.flags = LS_WAIT_AT_ATTACH;
	feed(r);
}

static void setup(void)
{
	snap = snapshot__new(100, "bank", "./bank --fast");
	cr_assert_not_null(snap);
	name_thread(T1, "a-to-b");
	name_thread(T2, "b-to-a");
	name_lock(LOCK_A, LS_KIND_MUTEX, "lock_a");
	name_lock(LOCK_B, LS_KIND_MUTEX, "lock_b");
	one_frame_stack(1, "transfer_a_to_b", "bank.c", 41);
	one_frame_stack(2, "transfer_b_to_a", "bank.c", 52);
	one_frame_stack(3, "burn", "bank.c", 60);
}

static void teardown(void)
{
	snapshot__free(snap);
}

/* The C deadlock: each thread waits for the mutex whose owner field names the other. */
static void c_deadlock(void)
{
	wait_begin(T2, LOCK_A, T1, 2);
	wait_begin(T1, LOCK_B, T2, 1);
	cr_assert_eq(snapshot__thread(snap, T1, 'S', SYS_futex, 0x80, 0, false, "a-to-b"), 0);
	cr_assert_eq(snapshot__thread(snap, T2, 'S', SYS_futex, 0x80, 0, false, "b-to-a"), 0);
	cr_assert_eq(snapshot__thread(snap, T3, 'R', SNAPSHOT_RUNNING, 0, 3, true, "spinner"), 0);
	snapshot__set_stopped(snap, 1, 400000);
}

static struct jp_value *as_json(void)
{
	char *text = NULL, err[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct jp_value *doc;

	cr_assert_not_null(f);
	cr_assert_eq(snapshot__json(snap, f), 0);
	fclose(f);
	doc = jp_parse(text, len, err, sizeof(err));
	cr_assert_not_null(doc, "not JSON: %s\n%s", err, text);
	free(text);
	return doc;
}

static char *as_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	snapshot__text(snap, f);
	fclose(f);
	return text;
}

Test(dump, json_of_a_c_deadlock_follows_the_contract, .init = setup, .fini = teardown)
{
	struct jp_value *doc;
	uint64_t v;

	c_deadlock();
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert_str_eq(jp_str(jp_get(doc, "schema")), "lockscope.dump/1");
	cr_assert(jp_uint(jp_path(doc, "target.pid"), &v) && v == 100);
	cr_assert_str_eq(jp_str(jp_path(doc, "target.comm")), "bank");
	cr_assert_str_eq(jp_str(jp_path(doc, "target.cmdline")), "./bank --fast");
	cr_assert(jp_uint(jp_get(doc, "stopped_ns"), &v) && v == 400000);
	cr_assert_eq(jp_get(doc, "threads")->len, 3);
	/* in tid order, whatever order they came in */
	cr_assert(jp_uint(jp_path(doc, "threads.0.tid"), &v) && v == T1);
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.name")), "a-to-b");
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.state")), "sleeping");
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.syscall")), "futex wait");
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.waits_for")), "lock_b");
	cr_assert(jp_uint(jp_path(doc, "threads.0.waits_for_owner"), &v) && v == T2);
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.holds.0")), "lock_a");
	cr_assert_eq(jp_path(doc, "threads.0.holds")->len, 1);
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.stack.0")), "transfer_a_to_b (bank.c:41)");
	/* a running thread: stopped for its stack, waiting for nothing, holding nothing */
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.2.name")), "spinner");
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.2.state")), "running");
	cr_assert_eq(jp_path(doc, "threads.2.syscall")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "threads.2.waits_for")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "threads.2.holds")->len, 0);
	cr_assert_eq(jp_path(doc, "threads.2.stopped")->type, JP_BOOL);
	cr_assert(jp_path(doc, "threads.2.stopped")->boolean);
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.2.stack.0")), "burn (bank.c:60)");
	cr_assert_eq(jp_get(doc, "tasks")->type, JP_ARRAY);
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 1);
	cr_assert_eq(jp_path(doc, "deadlocks.0.locks")->len, 2);
	cr_assert_eq(jp_path(doc, "deadlocks.0.threads")->len, 2);
	cr_assert(jp_uint(jp_path(doc, "deadlocks.0.threads.0.tid"), &v) && v == T1);
	cr_assert_str_eq(jp_str(jp_path(doc, "deadlocks.0.threads.0.holds.0")), "lock_a");
	cr_assert_str_eq(jp_str(jp_path(doc, "deadlocks.0.threads.1.waits_for")), "lock_a");
	cr_assert_eq(jp_path(doc, "deadlocks.0.inferred")->type, JP_BOOL);
	cr_assert(!jp_path(doc, "deadlocks.0.inferred")->boolean);
	jp_free(doc);
}

Test(dump, text_has_each_thread_the_deadlock_and_the_stop, .init = setup, .fini = teardown)
{
	char *text;

	c_deadlock();
	cr_assert_eq(snapshot__analyse(snap), 0);
	text = as_text();
	cr_assert(strstr(text, "thread 101 (a-to-b): sleeping in futex wait\n"), "%s", text);
	cr_assert(strstr(text, "  waits for lock_b (mutex), held by thread 102 (b-to-a)\n"), "%s",
		  text);
	cr_assert(strstr(text, "  holds lock_a\n"), "%s", text);
	cr_assert(strstr(text, "    transfer_a_to_b (bank.c:41)\n"), "%s", text);
	cr_assert(strstr(text, "thread 103 (spinner): running (stopped to read its stack)\n"), "%s",
		  text);
	cr_assert(strstr(text, "DEADLOCK: 2 threads, locks lock_b, lock_a\n"), "%s", text);
	cr_assert(strstr(text, "\nstopped 0.400 ms (1 running thread"), "%s", text);
	free(text);
}

/* Python locks record no owner: the waits are known, the holders are not, and no cycle can
 * be seen until something names them. */
static void python_waits(void)
{
	name_lock(PYLOCK_A, LS_KIND_MUTEX, "heap 0x7f0010 first waited on in f (x.py:3)");
	wait_begin(T1, PYLOCK_B, 0, 1);
	wait_begin(T2, PYLOCK_A, 0, 2);
	cr_assert_eq(snapshot__thread(snap, T1, 'S', SYS_futex, 0x80, 0, false, NULL), 0);
	cr_assert_eq(snapshot__thread(snap, T2, 'S', SYS_futex, 0x80, 0, false, NULL), 0);
}

Test(dump, waits_without_an_owner_leave_the_holder_unknown, .init = setup, .fini = teardown)
{
	struct jp_value *doc;
	char *text;

	python_waits();
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.waits_for")), "mutex 0x7f0050");
	cr_assert_eq(jp_path(doc, "threads.0.waits_for_owner")->type, JP_NULL);
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.1.waits_for")),
			 "heap 0x7f0010 first waited on in f (x.py:3)");
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 0);
	jp_free(doc);
	text = as_text();
	cr_assert(strstr(text, ", holder unknown\n"), "%s", text);
	cr_assert(strstr(text, "No deadlocks."), "%s", text);
	free(text);
}

Test(dump, inferred_holders_close_the_cycle_and_say_so, .init = setup, .fini = teardown)
{
	struct jp_value *doc;
	uint64_t v;

	python_waits();
	cr_assert_eq(snapshot__add_holder(snap, T1, PYLOCK_A, true), 0);
	cr_assert_eq(snapshot__add_holder(snap, T2, PYLOCK_B, true), 0);
	cr_assert_eq(snapshot__add_holder(snap, T2, PYLOCK_B, true), 0); /* once */
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert(jp_uint(jp_path(doc, "threads.0.waits_for_owner"), &v) && v == T2);
	cr_assert(jp_path(doc, "threads.0.owner_inferred")->boolean);
	cr_assert_eq(jp_path(doc, "threads.1.holds")->len, 1);
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 1);
	cr_assert(jp_path(doc, "deadlocks.0.inferred")->boolean);
	jp_free(doc);
}

Test(dump, a_wait_dropped_leaves_no_edge, .init = setup, .fini = teardown)
{
	struct jp_value *doc;

	c_deadlock();
	snapshot__drop_wait(snap, T2); /* it moved on while being read */
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert_eq(jp_path(doc, "threads.1.waits_for")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "threads.1.stack")->len, 0);
	/* T1's wait still names T2 as lock_b's owner */
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.1.holds.0")), "lock_b");
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 0);
	jp_free(doc);
}

Test(dump, an_owner_outside_the_process_holds_nothing, .init = setup, .fini = teardown)
{
	struct jp_value *doc;

	wait_begin(T1, LOCK_B, 4242, 1); /* a stale or foreign owner field */
	cr_assert_eq(snapshot__thread(snap, T1, 'S', SYS_futex, 0x80, 0, false, NULL), 0);
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert_eq(jp_path(doc, "threads.0.waits_for_owner")->type, JP_NULL);
	jp_free(doc);
}

Test(dump, a_thread_that_ran_meanwhile_closes_no_deadlock, .init = setup, .fini = teardown)
{
	struct jp_value *doc;
	uint64_t v;

	c_deadlock();
	snapshot__moved(snap, T2); /* its wait and owner were read at another moment */
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 0);
	/* what each waits for, and the owners the words named, are still shown */
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.1.waits_for")), "lock_a");
	cr_assert(jp_uint(jp_path(doc, "threads.1.waits_for_owner"), &v) && v == T1);
	cr_assert(jp_path(doc, "threads.1.ran_during_dump")->boolean);
	cr_assert(!jp_path(doc, "threads.0.ran_during_dump")->boolean);
	jp_free(doc);
}

/* Shown as held by itself, but no deadlock between threads: a CPython lock's holder may wait
 * on it for another thread to release it (a signal), and one thread is no cycle. */
Test(dump, a_thread_waiting_for_a_lock_it_holds_is_shown_not_a_deadlock, .init = setup,
     .fini = teardown)
{
	struct jp_value *doc;
	char *text;
	uint64_t v;

	wait_begin(T1, LOCK_A, T1, 1); /* relocking a default mutex it already holds */
	cr_assert_eq(snapshot__thread(snap, T1, 'S', SYS_futex, 0x80, 0, false, NULL), 0);
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert(jp_uint(jp_path(doc, "threads.0.waits_for_owner"), &v) && v == T1);
	cr_assert_str_eq(jp_str(jp_path(doc, "threads.0.holds.0")), "lock_a");
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 0);
	jp_free(doc);
	text = as_text();
	cr_assert(strstr(text, "  waits for lock_a (mutex), held by itself\n"), "%s", text);
	free(text);
}

Test(dump, a_moved_thread_never_holds_what_it_waits_for, .init = setup, .fini = teardown)
{
	struct jp_value *doc;

	/* the GIL's holder read after the thread's wait: it had taken the GIL meanwhile */
	name_lock(0x9000, LS_KIND_GIL, "GIL");
	wait_begin(T1, 0x9000, 0, 1);
	cr_assert_eq(snapshot__thread(snap, T1, 'S', SYS_futex, 0x80, 0, false, NULL), 0);
	cr_assert_eq(snapshot__add_holder(snap, T1, 0x9000, false), 0);
	snapshot__moved(snap, T1);
	cr_assert_eq(snapshot__analyse(snap), 0);
	doc = as_json();
	cr_assert_eq(jp_path(doc, "threads.0.waits_for_owner")->type, JP_NULL);
	cr_assert_eq(jp_path(doc, "threads.0.holds")->len, 0);
	cr_assert_eq(jp_get(doc, "deadlocks")->len, 0);
	jp_free(doc);
}
