/* e2e.c - what the end-to-end tests share: starting workloads, reading their ground truth and
 * killing them after the test; running `lockscope report --json` on a trace (or `dump --json`)
 * and parsing it, with the failure said once; finding the interpreters. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"
#include "protodec.h"

struct jp_value *ground_truth(const char *out)
{
	struct jp_value *gt;
	const char *line;

	cr_assert_not_null(out);
	line = strrchr(out, '{');
	cr_assert_not_null(line, "workload printed no ground truth: %s", out);
	gt = jparse(line);
	cr_assert_not_null(gt, "workload's ground truth is not JSON: %s", line);
	return gt;
}

/* The workload's last line on stdout, in the file PATH, as JSON. */
struct jp_value *ground_truth_in(const char *path, const char *workload)
{
	char *out = slurp(path), needle[64];
	struct jp_value *gt;
	const char *line;

	cr_assert_not_null(out, "no output from the workload in %s", path);
	snprintf(needle, sizeof(needle), "{\"workload\": \"%s\"", workload);
	line = strstr(out, needle);
	cr_assert_not_null(line, "%s printed no ground truth: %s", workload, out);
	gt = jparse(line);
	cr_assert_not_null(gt, "%s's ground truth is not JSON: %s", workload, line);
	free(out);
	return gt;
}

struct jp_value *start_workload(const char *name, int wait_s, const char *cmd,
				const char *needle, pid_t *pid)
{
	char out[256], err[256], *text, *line;
	struct jp_value *gt;

	snprintf(out, sizeof(out), "%s/%s.out", test_dir(), name);
	snprintf(err, sizeof(err), "%s/%s.err", test_dir(), name);
	*pid = spawn_bg(cmd, out, err);
	cr_assert_gt(*pid, 0);
	cr_assert(wait_for_text(out, needle, wait_s), "%s printed no ground truth: %s", cmd,
		  slurp(err));
	text = slurp(out);
	line = strstr(text, needle);
	line[strcspn(line, "\n")] = '\0';
	gt = jparse(line);
	cr_assert_not_null(gt, "the ground truth is not JSON: %s", line);
	free(text);
	return gt;
}

/* `lockscope ARGS`, which must exit 0 with a JSON document of SCHEMA on stdout. */
static struct jp_value *command_json(const char *args, const char *schema)
{
	char *out = NULL, *err = NULL;
	struct jp_value *r;
	int rc = shf(&out, &err, LOCKSCOPE " %s", args);

	cr_assert_eq(rc, 0, "%s failed (%d): %s", args, rc, err);
	r = jparse(out);
	cr_assert_not_null(r, "%s is not valid JSON: %.300s", args, out);
	cr_assert_str_eq(jstr(r, "schema"), schema);
	free(out);
	free(err);
	return r;
}

struct jp_value *report_json(const char *trace)
{
	char args[4200];

	snprintf(args, sizeof(args), "report --json %s", trace);
	return command_json(args, "lockscope.report/1");
}

/* The whole file; the test fails if it cannot be read. Caller frees. */
uint8_t *read_binary(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;

	cr_assert(f, "%s was not written", path);
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	rewind(f);
	data = malloc(*len + 1);
	cr_assert_eq(fread(data, 1, *len, f), *len);
	fclose(f);
	return data;
}

void perfetto_of(const char *trace, struct pf_trace *t)
{
	char out[512], err[256], *stderr_text = NULL;
	uint8_t *data;
	size_t len;

	snprintf(out, sizeof(out), "%s.pftrace", trace);
	cr_assert_eq(
	    shf(NULL, &stderr_text, LOCKSCOPE " export --format perfetto -o %s %s", out, trace), 0,
	    "%s", stderr_text);
	free(stderr_text);
	data = read_binary(out, &len);
	cr_assert_eq(pf_decode(data, len, t, err, sizeof(err)), 0, "%s", err);
	free(data);
}

struct jp_value *dump_json(pid_t pid)
{
	char args[64];

	snprintf(args, sizeof(args), "dump -p %d --json", pid);
	return command_json(args, "lockscope.dump/1");
}

const struct jp_value *must_array(const struct jp_value *v, const char *path)
{
	const struct jp_value *a = jp_path(v, path);

	cr_assert_not_null(a, "no %s", path);
	cr_assert_eq(a->type, JP_ARRAY, "%s is not an array", path);
	return a;
}

bool names_function(const struct jp_value *frames, const char *func)
{
	size_t n = strlen(func);

	for (size_t i = 0; frames && frames->type == JP_ARRAY && i < frames->len; i++) {
		const char *f = jp_str(&frames->items[i]);

		if (f && !strncmp(f, func, n) && (f[n] == ' ' || f[n] == '+' || f[n] == '\0'))
			return true;
	}
	return false;
}

bool is_pair(const struct jp_value *names, const char *a, const char *b)
{
	const char *x, *y;

	if (!names || names->type != JP_ARRAY || names->len != 2)
		return false;
	x = jp_str(&names->items[0]);
	y = jp_str(&names->items[1]);
	return x && y && ((!strcmp(x, a) && !strcmp(y, b)) || (!strcmp(x, b) && !strcmp(y, a)));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void e2e_adopt_orphans(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
}

void e2e_kill_started(void)
{
	double end = now_s() + 5;

	kill_tree(getpid());
	while (now_s() < end) {
		pid_t r = waitpid(-1, NULL, WNOHANG);

		if (r < 0 && errno == ECHILD)
			break;
		if (r <= 0)
			usleep(10000);
	}
}

int e2e_wait_exit(pid_t pid, double timeout_s)
{
	double end = now_s() + timeout_s;
	int st;

	while (now_s() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		usleep(10000);
	}
	return -1;
}
