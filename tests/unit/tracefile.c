/* tracefile.c - trace files from hand-made records, through the real writer, and commands
 * run with their output captured: what report and export tests stand on. */
#include "tracefile.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands/report.h"

void tf_open(struct tf *t, uint32_t pid, const char *comm, const char *cmdline, const char *mode)
{
	struct ls_trace_info info = {
	    .version = LS_TRACE_VERSION,
	    .pid = pid,
	    .comm = (char *)comm,
	    .cmdline = (char *)cmdline,
	    .mode = (char *)mode,
	};
	int fd;

	snprintf(t->path, sizeof(t->path), "/tmp/lockscope-test-XXXXXX");
	fd = mkstemp(t->path);
	cr_assert(fd >= 0);
	close(fd);
	unlink(t->path); /* a unique name; the writer would keep a file there as PATH.old */
	t->w = trace_writer__new(t->path, &info);
	cr_assert(t->w, "trace_writer__new: %s", strerror(errno));
}

void tf_add(struct tf *t, const struct ls_rec *rec)
{
	cr_assert_eq(trace_writer__append(t->w, rec), 0, "append of a %s record",
		     ls_rec_type_name(rec->type));
}

void tf_close(struct tf *t)
{
	cr_assert_eq(trace_writer__close(t->w), 0);
	t->w = NULL;
}

void tf_remove(struct tf *t)
{
	if (t->w)
		trace_writer__close(t->w);
	t->w = NULL;
	unlink(t->path);
}

void tf_thread(struct tf *t, uint64_t ts, uint32_t tid, const char *name)
{
	struct ls_rec r = {.type = LS_REC_THREAD, .ts = ts, .tid = tid};

	r.thread.name = name;
	tf_add(t, &r);
}

void tf_lock(struct tf *t, uint64_t ts, uint64_t addr, uint8_t kind, const char *name)
{
	struct ls_rec r = {.type = LS_REC_LOCK, .ts = ts};

	r.lock.addr = addr;
	r.lock.kind = kind;
	r.lock.name = name;
	tf_add(t, &r);
}

void tf_frame(struct tf *t, uint32_t id, uint64_t pc, const char *func, const char *file,
	      uint32_t line, const char *module, uint64_t offset)
{
	struct ls_rec r = {.type = LS_REC_FRAME};

	r.frame.id = id;
	r.frame.pc = pc;
	r.frame.func = func;
	r.frame.file = file;
	r.frame.line = line;
	r.frame.module = module;
	r.frame.offset = offset;
	tf_add(t, &r);
}

void tf_stack(struct tf *t, uint32_t id, uint32_t n, const uint32_t *frames)
{
	struct ls_rec r = {.type = LS_REC_STACK};

	r.stack.id = id;
	r.stack.nframes = n;
	r.stack.frames = frames;
	tf_add(t, &r);
}

void tf_begin(struct tf *t, uint64_t ts, uint32_t tid, uint64_t addr, uint8_t kind, uint32_t owner,
	      uint32_t stack_id)
{
	struct ls_rec r = {.type = LS_REC_WAIT_BEGIN, .ts = ts, .tid = tid};

	r.wait_begin.addr = addr;
	r.wait_begin.kind = kind;
	r.wait_begin.owner = owner;
	r.wait_begin.stack_id = stack_id;
	tf_add(t, &r);
}

void tf_end(struct tf *t, uint64_t ts, uint32_t tid, uint8_t result)
{
	struct ls_rec r = {.type = LS_REC_WAIT_END, .ts = ts, .tid = tid};

	r.wait_end.result = result;
	tf_add(t, &r);
}

void tf_wake(struct tf *t, uint64_t call_ts, uint64_t ts, uint32_t waker, uint32_t wakee,
	     uint64_t addr)
{
	struct ls_rec r = {.type = LS_REC_WAKE, .ts = ts, .tid = waker};

	r.wake.addr = addr;
	r.wake.wakee = wakee;
	r.wake.call_ts = call_ts;
	tf_add(t, &r);
}

void tf_lost(struct tf *t, uint64_t ts, uint64_t count)
{
	struct ls_rec r = {.type = LS_REC_LOST, .ts = ts};

	r.lost.count = count;
	tf_add(t, &r);
}

void tf_finish(struct tf *t, uint64_t duration_ns, uint64_t events, uint64_t lost)
{
	struct ls_rec r = {.type = LS_REC_END, .ts = duration_ns};

	r.end.duration_ns = duration_ns;
	r.end.events = events;
	r.end.lost = lost;
	tf_add(t, &r);
}

static char *slurp(FILE *f, size_t *len)
{
	long n;
	char *buf;

	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, n, f), (size_t)n);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void tf_capture(struct tf_run *run, int (*fn)(void *arg), void *arg)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int saved_out, saved_err;

	cr_assert(out && err);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	cr_assert(saved_out >= 0 && saved_err >= 0);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	run->status = fn(arg);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	run->out = slurp(out, &run->out_len);
	run->err = slurp(err, &run->err_len);
	fclose(out);
	fclose(err);
}

struct report_call {
	const char *path;
	const struct report_opts *opts;
};

static int call_report(void *arg)
{
	struct report_call *c = arg;

	return report__run(c->path, c->opts);
}

void tf_report(struct tf_run *run, const char *path, const struct report_opts *opts)
{
	struct report_call c = {path, opts};

	tf_capture(run, call_report, &c);
}

void tf_run_free(struct tf_run *run)
{
	free(run->out);
	free(run->err);
	run->out = run->err = NULL;
}
