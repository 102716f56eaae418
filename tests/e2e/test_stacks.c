/* test_stacks.c - end to end on how a wait's stack travels: a stack deeper than the 2 KiB
 * snapshot goes on along the frame pointers, which the BPF side walks itself; a wait on a call
 * path the collector has unwound before comes with the path's key, and gets the very stack that
 * copying it gives (LOCKSCOPE_PATHS=off copies every one). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "proc.h"

/* Records CMD launched, in contention mode with ENV; the report, and stderr in *ERR. */
static struct jp_value *record(const char *env, const char *cmd, const char *name, char **err)
{
	char trace[512], *out = NULL;
	struct jp_value *rep;
	int rc;

	snprintf(trace, sizeof(trace), "%s/%s.lsz", test_dir(), name);
	rc = shf(&out, err, "%s " LOCKSCOPE " record --mode contention -o %s -- %s", env, trace, cmd);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, *err);
	rep = report_json(trace);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	free(out);
	return rep;
}

/* The lock's waits, each with a stack: the stacks' counts add up to its contentions. */
static const struct jp_value *stacks_of_every_wait(const struct jp_value *lock)
{
	const struct jp_value *stacks = must_array(lock, "stacks");
	double n = 0;

	for (size_t i = 0; i < stacks->len; i++)
		n += jnum(&stacks->items[i], "count", 0);
	cr_assert_eq(n, jnum(lock, "contentions", -1), "%s: %.0f of %.0f waits have a stack",
		     jstr(lock, "name"), n, jnum(lock, "contentions", -1));
	return stacks;
}

/* deepwait's waits sit 40 frames of 256 bytes below deep_root: far past the snapshot. */
Test(stacks, deep_stack_goes_on_along_the_frame_pointers, .timeout = 60)
{
	char *err = NULL;
	struct jp_value *rep = record("", WORKLOAD("deepwait") " --rounds 20", "deep", &err);
	const struct jp_value *stacks;

	cr_assert_str_eq(jstr(rep, "locks.0.name"), "deep_lock");
	cr_assert_gt(jnum(rep, "locks.0.contentions", 0), 0);
	stacks = stacks_of_every_wait(jp_path(rep, "locks.0"));
	for (size_t i = 0; i < stacks->len; i++) {
		const struct jp_value *frames = jp_path(&stacks->items[i], "frames");

		cr_expect(names_function(frames, "deep_bottom") && names_function(frames, "deep_root"),
			  "stack %zu (%zu frames) does not reach from deep_bottom to deep_root: %s ... %s",
			  i, frames->len, frames->len ? frames->items[0].text : "",
			  frames->len ? frames->items[frames->len - 1].text : "");
		cr_expect_gt(frames->len, 40, "stack %zu has %zu frames", i, frames->len);
	}
	jp_free(rep);
	free(err);
}

/* The number of waits that came with their path's key, from the recorder's debug line. */
static long keyed_waits(const char *err)
{
	const char *line = err ? strstr(err, "waits came with their call path's key") : NULL;
	long n = -1;

	cr_assert_not_null(line, "no count of keyed waits: %.300s", err ? err : "");
	while (line > err && line[-1] != '\n')
		line--;
	sscanf(line, "lockscope: debug: %ld waits", &n);
	return n;
}

/* Each stack's frames, "frame|frame|...", sorted: the set a report gives for the lock. */
static char *stack_set(const struct jp_value *stacks)
{
	size_t cap = 65536, len = 0;
	char *set = calloc(1, cap), **lines = calloc(stacks->len, sizeof(*lines));

	cr_assert(set && lines);
	for (size_t i = 0; i < stacks->len; i++) {
		const struct jp_value *frames = jp_path(&stacks->items[i], "frames");

		lines[i] = calloc(1, 8192);
		for (size_t f = 0; frames && f < frames->len; f++)
			snprintf(lines[i] + strlen(lines[i]), 8192 - strlen(lines[i]), "%s|",
				 frames->items[f].text);
	}
	qsort(lines, stacks->len, sizeof(*lines), (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < stacks->len; i++) {
		len += snprintf(set + len, cap - len, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	return set;
}

/* contended's workers wait from one call path: after the first, the waits come keyed, and the
 * report's stacks are those of copying every stack. */
Test(stacks, keyed_call_paths_give_the_copied_stacks, .timeout = 90)
{
	char *err_keyed = NULL, *err_copied = NULL, *keyed, *copied;
	struct jp_value *a = record("LOCKSCOPE_DEBUG=1", WORKLOAD("contended") " --iters 400",
				    "keyed", &err_keyed);
	struct jp_value *b = record("LOCKSCOPE_DEBUG=1 LOCKSCOPE_PATHS=off",
				    WORKLOAD("contended") " --iters 400", "copied", &err_copied);

	cr_assert_str_eq(jstr(a, "locks.0.name"), "hot_lock");
	cr_assert_str_eq(jstr(b, "locks.0.name"), "hot_lock");
	cr_assert_gt(keyed_waits(err_keyed), jnum(a, "locks.0.contentions", 0) / 2,
		     "%ld of %.0f waits came keyed", keyed_waits(err_keyed),
		     jnum(a, "locks.0.contentions", 0));
	cr_assert_eq(keyed_waits(err_copied), 0);
	keyed = stack_set(stacks_of_every_wait(jp_path(a, "locks.0")));
	copied = stack_set(stacks_of_every_wait(jp_path(b, "locks.0")));
	cr_assert_str_eq(keyed, copied, "keyed:\n%s\ncopied:\n%s", keyed, copied);
	cr_assert_eq(jnum(a, "recording.counters.stacks: a call path's key the collector never gave",
			  -1), 0);
	free(keyed);
	free(copied);
	jp_free(a);
	jp_free(b);
	free(err_keyed);
	free(err_copied);
}
