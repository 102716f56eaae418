/* e2e.h - small conveniences over the test JSON parser for the end-to-end tests: parse a
 * command's output, read numbers and strings by path. */
#ifndef LOCKSCOPE_TEST_E2E_H
#define LOCKSCOPE_TEST_E2E_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "jsonparse.h"

static inline struct jp_value *jparse(const char *text)
{
	char err[256];

	return text ? jp_parse(text, strlen(text), err, sizeof(err)) : NULL;
}

static inline double jnum(const struct jp_value *v, const char *path, double def)
{
	const struct jp_value *x = jp_path(v, path);

	return x && x->type == JP_NUMBER ? x->number : def;
}

static inline const char *jstr(const struct jp_value *v, const char *path)
{
	return jp_str(jp_path(v, path));
}

static inline bool jbool(const struct jp_value *v, const char *path)
{
	const struct jp_value *x = jp_path(v, path);

	return x && x->type == JP_BOOL && x->boolean;
}

/* A workload's own figures: the last JSON object of its stdout OUT. Caller frees. */
struct jp_value *ground_truth(const char *out);
/* WORKLOAD's figures in the file PATH of its stdout: its line {"workload": "WORKLOAD", ... */
struct jp_value *ground_truth_in(const char *path, const char *workload);
/* Starts CMD in the background (its stdout and stderr in the test directory's NAME.out and
 * NAME.err) and waits up to WAIT_S seconds for a line starting with NEEDLE on its stdout: that
 * line, parsed; the test fails without it. *PID: the process. Caller frees. */
struct jp_value *start_workload(const char *name, int wait_s, const char *cmd,
				const char *needle, pid_t *pid);
/* A test's init: orphans (a workload whose recorder died) come back to the test process, so
 * that e2e_kill_started() finds them. */
void e2e_adopt_orphans(void);
/* A test's fini: kills everything the test started, passed or not, and reaps it. */
void e2e_kill_started(void);
/* PID's exit status (128 + signal if killed), or -1 after TIMEOUT_S; then it is left to
 * e2e_kill_started(), so that a launched workload is not orphaned by killing its recorder. */
int e2e_wait_exit(pid_t pid, double timeout_s);
/* `lockscope report --json TRACE`, parsed; the test fails if it cannot be. Caller frees. */
struct jp_value *report_json(const char *trace);
/* The whole file; the test fails if it cannot be read. Caller frees. */
uint8_t *read_binary(const char *path, size_t *len);
/* `lockscope export --format perfetto` of TRACE (written beside it), decoded by the strict
 * decoder into *T (pf_free it); the test fails if either fails. */
struct pf_trace;
void perfetto_of(const char *trace, struct pf_trace *t);
/* `lockscope dump -p PID --json`, parsed; the test fails unless it exits 0 with the schema. */
struct jp_value *dump_json(pid_t pid);
/* The array at PATH; the test fails if there is none. Borrowed. */
const struct jp_value *must_array(const struct jp_value *v, const char *path);
/* FRAMES has a frame of FUNC: "func (file:line)" or "func+0x1a (module)". */
bool names_function(const struct jp_value *frames, const char *func);
/* NAMES is exactly the set {A, B}. */
bool is_pair(const struct jp_value *names, const char *a, const char *b);

#endif
