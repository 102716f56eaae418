/* fuzz_trace.c - libFuzzer target: the trace reader on any bytes. Every record it yields must be
 * whole (strings terminated, stack frames in bounds), one the writer accepts and reads back the
 * same (the reader yields nothing a writer could not have written), its end state consistent. */
#include <string.h>

#include "fuzz.h"
#include "trace/trace.h"

static bool str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/* Same record, field by field: every string is read, so ASan sees one that runs off its chunk. */
static bool rec_equal(const struct ls_rec *a, const struct ls_rec *b)
{
	if (a->type != b->type || a->ts != b->ts || a->tid != b->tid)
		return false;
	switch (a->type) {
	case LS_REC_THREAD:
		return str_eq(a->thread.name, b->thread.name) &&
		       a->thread.parent == b->thread.parent;
	case LS_REC_LOCK:
		return str_eq(a->lock.name, b->lock.name) && a->lock.addr == b->lock.addr &&
		       a->lock.kind == b->lock.kind;
	case LS_REC_FRAME:
		return str_eq(a->frame.func, b->frame.func) && str_eq(a->frame.file, b->frame.file) &&
		       str_eq(a->frame.module, b->frame.module) && a->frame.id == b->frame.id &&
		       a->frame.pc == b->frame.pc && a->frame.line == b->frame.line &&
		       a->frame.offset == b->frame.offset;
	case LS_REC_STACK:
		return a->stack.id == b->stack.id && a->stack.nframes == b->stack.nframes &&
		       !memcmp(a->stack.frames, b->stack.frames,
			       a->stack.nframes * sizeof(*a->stack.frames));
	case LS_REC_MAPPING:
		return str_eq(a->mapping.perms, b->mapping.perms) &&
		       str_eq(a->mapping.path, b->mapping.path) &&
		       a->mapping.start == b->mapping.start && a->mapping.end == b->mapping.end &&
		       a->mapping.offset == b->mapping.offset;
	case LS_REC_COUNTER:
		return str_eq(a->counter.name, b->counter.name) &&
		       a->counter.value == b->counter.value;
	case LS_REC_OBJECT:
		return str_eq(a->object.path, b->object.path) &&
		       str_eq(a->object.build_id, b->object.build_id) &&
		       str_eq(a->object.debug_file, b->object.debug_file) &&
		       a->object.flags == b->object.flags && a->object.via == b->object.via;
	case LS_REC_PROCESS:
		return str_eq(a->process.comm, b->process.comm) &&
		       str_eq(a->process.cmdline, b->process.cmdline);
	case LS_REC_LOOP_SAMPLE:
	case LS_REC_LOOP_BLOCK:
		return !memcmp(&a->loop, &b->loop, sizeof(a->loop));
	case LS_REC_TASK_WAIT:
		if (a->task_wait.nholds != b->task_wait.nholds)
			return false;
		for (uint32_t i = 0; i < a->task_wait.nholds; i++)
			if (!str_eq(a->task_wait.holds[i], b->task_wait.holds[i]))
				return false;
		return a->task_wait.cycle == b->task_wait.cycle &&
		       a->task_wait.ntasks == b->task_wait.ntasks &&
		       a->task_wait.index == b->task_wait.index &&
		       a->task_wait.task == b->task_wait.task &&
		       a->task_wait.stack_id == b->task_wait.stack_id &&
		       str_eq(a->task_wait.name, b->task_wait.name) &&
		       str_eq(a->task_wait.coro, b->task_wait.coro) &&
		       str_eq(a->task_wait.waits_for, b->task_wait.waits_for);
	default: /* the rest holds no pointers: the union compares as the reader zeroed it */
		return !memcmp(&a->wait_begin, &b->wait_begin, sizeof(a->wait_begin)) &&
		       !memcmp(&a->acquire, &b->acquire, sizeof(a->acquire)) &&
		       !memcmp(&a->end, &b->end, sizeof(a->end));
	}
}

/* The path of a scratch file for the writer. */
static const char *scratch_path(void)
{
	static char path[64];

	if (!path[0]) {
		int fd = memfd_create("lockscope-fuzz-rewrite", 0);

		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	return path;
}

/* Writes what PATH yields (N records) to a new trace, then reads both in step. */
static void rewrite_and_compare(const char *path, uint32_t n)
{
	struct trace_reader *orig = trace_reader__open(path, NULL, 0), *copy;
	struct trace_writer *w;
	struct ls_rec a, b;

	if (!orig || !(w = trace_writer__new(scratch_path(), trace_reader__info(orig))))
		abort();
	for (uint32_t i = 0; i < n; i++)
		if (trace_reader__next(orig, &a) != 1 || trace_writer__append(w, &a))
			abort(); /* a record read that the writer refuses */
	if (trace_writer__close(w))
		abort();
	trace_reader__free(orig);
	orig = trace_reader__open(path, NULL, 0);
	copy = trace_reader__open(scratch_path(), NULL, 0);
	if (!orig || !copy)
		abort();
	for (uint32_t i = 0; i < n; i++)
		if (trace_reader__next(orig, &a) != 1 || trace_reader__next(copy, &b) != 1 ||
		    !rec_equal(&a, &b))
			abort();
	if (trace_reader__next(copy, &b) != 0)
		abort();
	trace_reader__free(orig);
	trace_reader__free(copy);
}

FUZZ_TARGET(trace)
{
	const char *path = fuzz_file(data, size);
	const struct ls_trace_info *info;
	struct trace_reader *r;
	struct ls_rec rec;
	char err[256] = "";
	uint32_t n = 0;
	int ret;

	r = trace_reader__open(path, err, sizeof(err));
	if (!r) {
		if (!err[0] || strchr(err, '\n'))
			abort(); /* a refusal always says why, in one line */
		return 0;
	}
	info = trace_reader__info(r);
	if (strlen(info->comm) + strlen(info->cmdline) + strlen(info->mode) > 3 << 20)
		abort();
	while ((ret = trace_reader__next(r, &rec)) == 1)
		n++;
	/* an early stop says why; a clean end does not; both stay where they are */
	if ((ret < 0) != (trace_reader__error(r) != NULL))
		abort();
	if (trace_reader__next(r, &rec) != ret)
		abort();
	trace_reader__free(r);
	rewrite_and_compare(path, n);
	return 0;
}
