/* tracefile.h - test support for commands that read trace files: build a small .lsz from
 * hand-made records, and run a command with its stdout and stderr captured. */
#ifndef LOCKSCOPE_TEST_TRACEFILE_H
#define LOCKSCOPE_TEST_TRACEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "trace/trace.h"

struct tf {
	struct trace_writer *w;
	char path[64]; /* a temporary file, removed by tf_remove() */
};

/* Creates a trace for pid PID, comm COMM, in MODE. Asserts on failure. */
void tf_open(struct tf *t, uint32_t pid, const char *comm, const char *cmdline, const char *mode);
void tf_add(struct tf *t, const struct ls_rec *rec);
void tf_close(struct tf *t);
void tf_remove(struct tf *t);

void tf_thread(struct tf *t, uint64_t ts, uint32_t tid, const char *name);
void tf_lock(struct tf *t, uint64_t ts, uint64_t addr, uint8_t kind, const char *name);
void tf_frame(struct tf *t, uint32_t id, uint64_t pc, const char *func, const char *file,
	      uint32_t line, const char *module, uint64_t offset);
void tf_stack(struct tf *t, uint32_t id, uint32_t n, const uint32_t *frames);
void tf_begin(struct tf *t, uint64_t ts, uint32_t tid, uint64_t addr, uint8_t kind, uint32_t owner,
	      uint32_t stack_id);
void tf_end(struct tf *t, uint64_t ts, uint32_t tid, uint8_t result);
void tf_wake(struct tf *t, uint64_t call_ts, uint64_t ts, uint32_t waker, uint32_t wakee,
	     uint64_t addr);
void tf_lost(struct tf *t, uint64_t ts, uint64_t count);
void tf_finish(struct tf *t, uint64_t duration_ns, uint64_t events, uint64_t lost);

/* What a command printed and returned. */
struct tf_run {
	int status;
	char *out, *err; /* NUL-terminated, freed by tf_run_free() */
	size_t out_len, err_len;
};

/* Runs FN(ARG) with fds 1 and 2 redirected to temporary files, and collects them. */
void tf_capture(struct tf_run *run, int (*fn)(void *arg), void *arg);
void tf_run_free(struct tf_run *run);
/* Runs `report` of PATH with OPTS, captured. */
struct report_opts;
void tf_report(struct tf_run *run, const char *path, const struct report_opts *opts);

#endif
