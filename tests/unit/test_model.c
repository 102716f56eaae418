/* test_model.c - the metadata tables: names that change, names that outlive their threads,
 * every form a frame can take, C++ names demangled, stacks, the mapped objects, and tables far
 * larger than their first allocation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/model.h"
#include "util/demangle.h"
#include "trace/trace.h"

static struct model *m;

static void setup(void)
{
	m = model__new();
	cr_assert(m);
}

static void teardown(void)
{
	model__free(m);
}

TestSuite(model, .init = setup, .fini = teardown);

static void thread(uint32_t tid, const char *name)
{
	struct ls_rec r = {.type = LS_REC_THREAD, .tid = tid};

	r.thread.name = name;
	cr_assert_eq(model__feed(m, &r), 0);
}

static void frame(uint32_t id, uint64_t pc, const char *func, const char *file, uint32_t line,
		  const char *module, uint64_t offset)
{
	struct ls_rec r = {.type = LS_REC_FRAME};

	r.frame.id = id;
	r.frame.pc = pc;
	r.frame.func = func;
	r.frame.file = file;
	r.frame.line = line;
	r.frame.module = module;
	r.frame.offset = offset;
	cr_assert_eq(model__feed(m, &r), 0);
}

static const char *format(uint32_t id)
{
	static char buf[256];

	model__frame_format(m, id, buf, sizeof(buf));
	return buf;
}

Test(model, threads_are_renamed_and_keep_their_names_after_exit)
{
	struct ls_rec exit = {.type = LS_REC_THREAD_EXIT, .tid = 11};
	const char *name;
	uint32_t tid;

	thread(10, "main");
	thread(11, "python3");
	thread(11, "worker-1");
	cr_assert_eq(model__feed(m, &exit), 0);
	cr_assert_str_eq(model__thread_name(m, 11), "worker-1");
	cr_assert_str_eq(model__thread_name(m, 10), "main");
	cr_assert_null(model__thread_name(m, 12));
	cr_assert(model__thread_at(m, 1, &tid, &name));
	cr_assert_eq(tid, 11);
	cr_assert_str_eq(name, "worker-1");
	cr_assert_not(model__thread_at(m, 2, &tid, &name));
}

Test(model, a_later_lock_record_replaces_the_name)
{
	struct ls_rec r = {.type = LS_REC_LOCK};
	uint8_t kind;

	r.lock.addr = 0x1000;
	r.lock.kind = LS_KIND_FUTEX;
	r.lock.name = "lock 0x1000";
	cr_assert_eq(model__feed(m, &r), 0);
	r.lock.kind = LS_KIND_MUTEX;
	r.lock.name = "queue_lock";
	cr_assert_eq(model__feed(m, &r), 0);
	cr_assert_str_eq(model__lock_name(m, 0x1000, &kind), "queue_lock");
	cr_assert_eq(kind, LS_KIND_MUTEX);
	cr_assert_null(model__lock_name(m, 0x2000, NULL));
}

Test(model, frames_in_every_form)
{
	frame(1, 0x401136, "lock_hot", "hot.c", 31, "hot", 0x16);
	frame(2, 0x4011a0, "worker", "", 0, "hot", 0x1a);
	frame(3, 0x4011a0, "worker", "hot.c", 0, "hot", 0x1a); /* a file without a line */
	frame(4, 0x4011a0, "worker", "", 0, "", 0x1a);
	frame(5, 0x7f00008f2a0, "", "", 0, "libc.so.6", 0x8f2a0);
	frame(6, 0x7f0000001234, "", "", 0, "", 0);
	cr_assert_str_eq(format(1), "lock_hot (hot.c:31)");
	cr_assert_str_eq(format(2), "worker+0x1a (hot)");
	cr_assert_str_eq(format(3), "worker+0x1a (hot)");
	cr_assert_str_eq(format(4), "worker+0x1a");
	cr_assert_str_eq(format(5), "libc.so.6+0x8f2a0");
	cr_assert_str_eq(format(6), "0x7f0000001234");
	cr_assert_str_eq(format(7), "?? (frame 7)");
	/* a frame id defined again takes the new definition */
	frame(1, 0x401136, "lock_cold", "cold.c", 7, "cold", 0);
	cr_assert_str_eq(format(1), "lock_cold (cold.c:7)");
}

Test(model, null_strings_read_as_unknown)
{
	struct ls_rec r = {.type = LS_REC_FRAME};

	r.frame.id = 1;
	r.frame.pc = 0xabc;
	cr_assert_eq(model__feed(m, &r), 0);
	cr_assert_str_eq(format(1), "0xabc");
	thread(5, NULL);
	cr_assert_str_eq(model__thread_name(m, 5), "");
}

Test(model, stacks_by_id)
{
	static const uint32_t frames[] = {3, 2, 1};
	struct ls_rec r = {.type = LS_REC_STACK};
	const uint32_t *got;

	r.stack.id = 9;
	r.stack.nframes = 3;
	r.stack.frames = frames;
	cr_assert_eq(model__feed(m, &r), 0);
	cr_assert_eq(model__stack(m, 9, &got), 3);
	cr_assert_eq(got[0], 3);
	cr_assert_eq(got[2], 1);
	cr_assert_eq(model__stack(m, 0, &got), 0);
	cr_assert_null(got);
	cr_assert_eq(model__stack(m, 10, &got), 0);
}

/* A long stack keeps its innermost frames and every frame that matters: the program's own and
 * Python's, never cut for the interpreter's and the C library's frames between them, which
 * are counted instead. */
static char *stack_text(const uint32_t *frames, uint32_t n, uint32_t max)
{
	struct ls_rec r = {.type = LS_REC_STACK};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	r.stack.id = 7;
	r.stack.nframes = n;
	r.stack.frames = frames;
	cr_assert_eq(model__feed(m, &r), 0);
	model__stack_text(m, 7, "  ", max, out);
	fclose(out);
	return text;
}

Test(model, long_stacks_elide_the_machinery_not_the_program)
{
	uint32_t frames[40], n = 0;
	char *text;

	frame(1, 0x10, "__futex_abstimed_wait_common", "futex-internal.c", 57, "libc.so.6", 0);
	frame(2, 0x20, "PyThread_acquire_lock_timed", "thread_pthread.h", 497,
	      "libpython3.11.so.1.0", 0);
	frame(3, 0x30, "_PyEval_EvalFrameDefault", "ceval.c", 1, "libpython3.11.so.1.0", 0);
	frame(4, 0x40, "transfer", "bank.py", 21, "python", 0);
	frame(5, 0x50, "take_gil", "ceval_gil.c", 9, "python3.11", 0);
	frame(6, 0x60, "worker", "app.c", 40, "app", 0);
	frames[n++] = 1;
	for (int i = 0; i < 12; i++)
		frames[n++] = 2;
	frames[n++] = 4;
	for (int i = 0; i < 12; i++)
		frames[n++] = i % 2 ? 3 : 5;
	frames[n++] = 6;
	frames[n++] = 2;
	text = stack_text(frames, n, 8);
	cr_assert(strstr(text, "  __futex_abstimed_wait_common (futex-internal.c:57)\n"
			       "  PyThread_acquire_lock_timed (thread_pthread.h:497)\n"
			       "  PyThread_acquire_lock_timed (thread_pthread.h:497)\n"
			       "  ... 10 library frames\n"
			       "  transfer (bank.py:21)\n"
			       "  ... 12 library frames\n"
			       "  worker (app.c:40)\n"
			       "  ... 1 library frames\n"),
		  "%s", text);
	free(text);
	/* short enough: every frame, as it is */
	text = stack_text(frames, 4, 8);
	cr_assert_str_eq(text, "  __futex_abstimed_wait_common (futex-internal.c:57)\n"
			       "  PyThread_acquire_lock_timed (thread_pthread.h:497)\n"
			       "  PyThread_acquire_lock_timed (thread_pthread.h:497)\n"
			       "  PyThread_acquire_lock_timed (thread_pthread.h:497)\n");
	free(text);
	/* more frames that matter than room: the innermost ones, and a count */
	for (uint32_t i = 0; i < 20; i++)
		frames[i] = 4;
	text = stack_text(frames, 20, 8);
	cr_assert(strstr(text, "  transfer (bank.py:21)\n  ... 12 more frames\n"), "%s", text);
	free(text);
}

/* A stack cut short ends with a frame that says why: printed as it is, last, however many frames
 * before it are left out; a thread without a stack is "(no stack)" alone. */
Test(model, a_cut_stack_says_so_last)
{
	uint32_t frames[20];
	char *text;

	frame(1, 0x40, "deep", "d.c", 4, "app", 0);
	frame(2, LS_CUT_PC_BASE + 6, "…cut: too many frames", "", 0, "", 0);
	for (uint32_t i = 0; i < 19; i++)
		frames[i] = 1;
	frames[19] = 2;
	cr_assert_not(model__stack_cut(m, 7));
	text = stack_text(frames, 20, 8);
	cr_assert(model__stack_cut(m, 7));
	cr_assert(strstr(text, "  deep (d.c:4)\n  ... 11 more frames\n  …cut: too many frames\n"),
		  "%s", text);
	free(text);
	text = stack_text(frames + 17, 3, 8);
	cr_assert_str_eq(text, "  deep (d.c:4)\n  deep (d.c:4)\n  …cut: too many frames\n");
	free(text);
	text = NULL;
	{
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		model__stack_text(m, 0, "  ", 8, out);
		fclose(out);
	}
	cr_assert_str_eq(text, "  (no stack)\n");
	free(text);
}

/* A Python program's frame deep under the standard library's and installed packages', under
 * asyncio's dispatch: the library middle is counted, the program's frame shown. */
Test(model, long_stacks_elide_python_libraries_not_the_program)
{
	uint32_t frames[40], n = 0;
	char *text;

	frame(7, 0x70, "__poll", "poll.c", 29, "libc.so.6", 0);
	frame(8, 0x80, "SocketIO.readinto", "socket.py", 706, "python-lib", 0);
	frame(9, 0x90, "HTTPResponse.begin", "client.py", 325, "python-lib", 0);
	frame(10, 0xa0, "fetch_profile", "app.py", 17, "python", 0);
	frame(11, 0xb0, "Handle._run", "events.py", 80, "python-lib", 0);
	frame(12, 0xc0, "get", "api.py", 73, "python-lib", 0);
	for (uint32_t id = 7; id <= 9; id++)
		frames[n++] = id;
	for (int i = 0; i < 8; i++)
		frames[n++] = i % 2 ? 9 : 12;
	frames[n++] = 10;
	for (int i = 0; i < 6; i++)
		frames[n++] = 11;
	text = stack_text(frames, n, 6);
	cr_assert_str_eq(text, "  __poll (poll.c:29)\n"
			       "  SocketIO.readinto (socket.py:706)\n"
			       "  HTTPResponse.begin (client.py:325)\n"
			       "  ... 8 library frames\n"
			       "  fetch_profile (app.py:17)\n"
			       "  ... 6 library frames\n");
	free(text);
}

/* A Node.js handler under V8's and libuv's frames, above Node's own JavaScript: the same. */
Test(model, long_stacks_elide_node_internals_not_the_program)
{
	uint32_t frames[40], n = 0;
	char *text;

	frame(20, 0x200, "epoll_pwait", "epoll_pwait.c", 40, "libc.so.6", 0);
	frame(21, 0x210, "uv__io_poll", "linux.c", 1368, "node", 0);
	frame(22, 0x220, "uv_run", "core.c", 447, "node", 0);
	frame(23, 0x230, "node::SyncProcessRunner::Spawn", "", 0, "node", 0);
	frame(24, 0x240, "execSync", "node:child_process", 954, "js-lib", 0);
	frame(25, 0x250, "syncHandler", "/srv/app.js", 29, "js", 0);
	frame(26, 0x260, "listOnTimeout", "internal/timers", 524, "js-lib", 0);
	frame(27, 0x270, "Builtins_JSEntry", "", 0, "node", 0);
	for (uint32_t id = 20; id <= 25; id++)
		frames[n++] = id;
	for (uint32_t id = 26; id <= 27; id++)
		frames[n++] = id;
	text = stack_text(frames, n, 6);
	cr_assert_str_eq(text, "  epoll_pwait (epoll_pwait.c:40)\n"
			       "  uv__io_poll (linux.c:1368)\n"
			       "  uv_run (core.c:447)\n"
			       "  ... 2 library frames\n"
			       "  syncHandler (app.js:29)\n"
			       "  ... 2 library frames\n");
	free(text);
}

/* A stack as JSON text: each frame's label quoted and escaped, one never defined as "?? (frame
 * N)"; [] for no stack and for an unknown id. */
Test(model, stack_as_json_text)
{
	static const uint32_t frames[] = {1, 7};
	struct ls_rec r = {.type = LS_REC_STACK};
	size_t len;
	char *text;

	frame(1, 0x1000, "f\"q\x01", "a.c", 3, "m", 0);
	r.stack.id = 4;
	r.stack.nframes = 2;
	r.stack.frames = frames;
	cr_assert_eq(model__feed(m, &r), 0);
	text = model__stack_json_text(m, 4, &len);
	cr_assert(text);
	cr_assert_eq(len, strlen("[\"f\\\"q\\u0001 (a.c:3)\",\"?? (frame 7)\"]"));
	cr_assert_eq(memcmp(text, "[\"f\\\"q\\u0001 (a.c:3)\",\"?? (frame 7)\"]", len), 0, "%.*s",
		     (int)len, text);
	free(text);
	text = model__stack_json_text(m, 0, &len);
	cr_assert(text && len == 2 && memcmp(text, "[]", 2) == 0);
	free(text);
	text = model__stack_json_text(m, 5, &len);
	cr_assert(text && len == 2 && memcmp(text, "[]", 2) == 0);
	free(text);
}

Test(model, tables_grow_without_dropping)
{
	char name[32];

	for (uint32_t tid = 1; tid <= 20000; tid++) {
		snprintf(name, sizeof(name), "t%u", tid);
		thread(tid, name);
	}
	for (uint32_t tid = 1; tid <= 20000; tid += 997) {
		snprintf(name, sizeof(name), "t%u", tid);
		cr_assert_str_eq(model__thread_name(m, tid), name);
	}
	for (uint32_t id = 1; id <= 5000; id++)
		frame(id, id, "", "", 0, "", 0);
	cr_assert_str_eq(format(4321), "0x10e1");
}

Test(model, free_accepts_null)
{
	model__free(NULL);
}

static void lock(uint64_t addr, const char *name)
{
	struct ls_rec r = {.type = LS_REC_LOCK};

	r.lock.addr = addr;
	r.lock.kind = LS_KIND_MUTEX;
	r.lock.name = name;
	cr_assert_eq(model__feed(m, &r), 0);
}

Test(model, cpp_names_are_demangled_and_linkage_names_kept)
{
	struct model_frame f;

	frame(1, 0x401136, "_ZN4bank6Ledger4postEl", "/src/bank/ledger.cpp", 22, "ledger", 0x16);
	frame(2, 0x401200, "_Z16tc_acquire_tableP3THDP11TDC_element", "", 0, "mariadbd", 0x54);
	frame(3, 0x401300, "_Z3foov.cold", "", 0, "app", 0x4);
	frame(4, 0x401400, "_Znot_mangled", "", 0, "app", 0x4);	/* no valid mangling */
	cr_assert_str_eq(format(1), "bank::Ledger::post(long) (ledger.cpp:22)");
	cr_assert_str_eq(format(2), "tc_acquire_table(THD*, TDC_element*)+0x54 (mariadbd)");
	cr_assert_str_eq(format(3), "foo() [clone .cold]+0x4 (app)");
	cr_assert_str_eq(format(4), "_Znot_mangled+0x4 (app)");
	cr_assert(model__frame_parts(m, 1, &f));
	cr_assert_str_eq(f.func, "bank::Ledger::post(long)");
	cr_assert_str_eq(f.sysname, "_ZN4bank6Ledger4postEl");
	cr_assert_str_eq(f.file, "/src/bank/ledger.cpp", "the full path stays for exports");
	cr_assert_eq(f.pc, 0x401136);
	/* lock names: a variable, a member, and a function in a description */
	lock(0x10, "_ZL6ledger");
	lock(0x20, "_ZN4bank11audit_mutexE+0x8");
	lock(0x30, "heap 0x5581d2a0 first taken in _ZN4bank6Ledger4postEl+0x54 (ledger)");
	lock(0x40, "heap 0x5581d2a0 first taken in main (x.c:3)");
	cr_assert_str_eq(model__lock_name(m, 0x10, NULL), "ledger");
	cr_assert_str_eq(model__lock_name(m, 0x20, NULL), "bank::audit_mutex+0x8");
	cr_assert_str_eq(model__lock_name(m, 0x30, NULL),
			 "heap 0x5581d2a0 first taken in bank::Ledger::post(long)+0x54 (ledger)");
	cr_assert_str_eq(model__lock_name(m, 0x40, NULL),
			 "heap 0x5581d2a0 first taken in main (x.c:3)");
}

Test(model, no_demangle_keeps_linkage_names)
{
	ls_no_demangle = true;
	frame(1, 0x401136, "_ZN4bank6Ledger4postEl", "ledger.cpp", 22, "ledger", 0x16);
	lock(0x10, "_ZL6ledger");
	ls_no_demangle = false;
	cr_assert_str_eq(format(1), "_ZN4bank6Ledger4postEl (ledger.cpp:22)");
	cr_assert_str_eq(model__lock_name(m, 0x10, NULL), "_ZL6ledger");
}

Test(model, objects_by_path_in_order)
{
	struct ls_rec r = {.type = LS_REC_OBJECT};
	struct model_object o;

	r.object.path = "/usr/bin/app";
	r.object.build_id = "4c53";
	r.object.flags = LS_OBJ_READABLE;
	cr_assert_eq(model__feed(m, &r), 0);
	r.object.path = "/usr/lib/libc.so.6";
	r.object.build_id = "93ac";
	r.object.debug_file = "/usr/lib/debug/.build-id/93/ac.debug";
	r.object.flags = LS_OBJ_READABLE | LS_OBJ_SYMTAB | LS_OBJ_LINES;
	r.object.via = LS_VIA_BUILD_ID;
	cr_assert_eq(model__feed(m, &r), 0);
	cr_assert(model__object(m, "/usr/lib/libc.so.6", &o));
	cr_assert_str_eq(o.build_id, "93ac");
	cr_assert_eq(o.via, LS_VIA_BUILD_ID);
	cr_assert(model__object_at(m, 0, &o));
	cr_assert_str_eq(o.path, "/usr/bin/app");
	cr_assert_str_eq(o.debug_file, "");
	cr_assert(model__object_at(m, 1, &o));
	cr_assert_not(model__object_at(m, 2, &o));
	cr_assert_not(model__object(m, "/usr/bin/other", &o));
}

static void process(uint32_t pid, const char *comm, const char *cmdline)
{
	struct ls_rec r = {.type = LS_REC_PROCESS, .tid = pid};

	r.process.comm = comm;
	r.process.cmdline = cmdline;
	cr_assert_eq(model__feed(m, &r), 0);
}

/* A process's command: the last PROCESS record's (an exec replaces it), "" read as not known. */
Test(model, processes_by_their_last_command)
{
	const char *comm, *cmdline;
	char buf[64];

	cr_assert_not(model__process(m, 40, &comm, &cmdline));
	cr_assert_null(comm);
	cr_assert_null(cmdline);
	cr_assert_str_eq(model__process_label(m, 40, buf, sizeof(buf)), "40");
	process(40, "python3", "python3 app.py");
	cr_assert(model__process(m, 40, &comm, &cmdline));
	cr_assert_str_eq(comm, "python3");
	cr_assert_str_eq(cmdline, "python3 app.py");
	process(40, "sh", "");
	cr_assert(model__process(m, 40, &comm, &cmdline));
	cr_assert_str_eq(comm, "sh");
	cr_assert_null(cmdline);
	cr_assert_str_eq(model__process_label(m, 40, buf, sizeof(buf)), "sh 40");
	process(41, "a\033[2Jb", NULL); /* scrubbed for a terminal */
	cr_assert_str_eq(model__process_label(m, 41, buf, sizeof(buf)), "a?[2Jb 41");
	cr_assert_str_eq(model__process_label(NULL, 41, buf, sizeof(buf)), "41");
}

static void thread_of(uint32_t tid, uint32_t pid, const char *name)
{
	struct ls_rec r = {.type = LS_REC_THREAD, .tid = tid};

	r.thread.name = name;
	r.thread.pid = pid;
	cr_assert_eq(model__feed(m, &r), 0);
}

/* A thread says its process once the trace has several, not before. */
Test(model, threads_say_their_process_where_there_are_several)
{
	char buf[128];

	thread_of(40, 40, "main");
	thread_of(41, 40, "worker");
	cr_assert_not(model__several_processes(m));
	cr_assert_str_eq(model__thread_label_of(m, 41, buf, sizeof(buf)), "41 (worker)");
	thread_of(50, 50, "main");
	process(50, "python3", "python3 -c pass");
	cr_assert(model__several_processes(m));
	cr_assert_str_eq(model__thread_label_of(m, 41, buf, sizeof(buf)), "41 (worker) of 40");
	cr_assert_str_eq(model__thread_label_of(m, 50, buf, sizeof(buf)),
			 "50 (main) of python3 50");
	cr_assert_str_eq(model__thread_label_of(m, 77, buf, sizeof(buf)), "77");
	/* cut, not overrun */
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(strlen(model__thread_label_of(m, 50, buf, 14)), 13);
	cr_assert_eq(buf[14], 'x');
}
