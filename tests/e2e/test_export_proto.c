/* test_export_proto.c - pprof and Perfetto exports of a real recording, read back by the strict
 * decoder: the waiter's function is in the profile, and both agree with the report's waits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "proc.h"
#include "protodec.h"

/* Records the contended workload once for the tests here; returns the trace's path. */
static const char *recording(void)
{
	static char path[128];
	char *err = NULL;
	int rc;

	if (path[0])
		return path;
	snprintf(path, sizeof(path), "%s/proto.lsz", test_dir());
	rc = shf(NULL, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("contended") " --iters 500",
		 path);
	cr_assert_eq(rc, 0, "%s", err);
	free(err);
	return path;
}

/* The report's wait over every contended lock, and the top lock's (hot_lock: its name is
 * HOT, a copy the caller frees); its hold time in *HOLD, -1 where unknown. */
static double report_wait(const char *trace, double *hot, char **hot_name, double *hold)
{
	struct jp_value *rep = report_json(trace);
	const struct jp_value *locks = must_array(rep, "locks");
	double total = 0;

	cr_assert_gt(locks->len, 0, "no contended lock");
	for (size_t i = 0; i < locks->len; i++)
		total += jnum(&locks->items[i], "wait_ns", 0);
	*hot = jnum(rep, "locks.0.wait_ns", 0);
	*hot_name = strdup(jstr(rep, "locks.0.name"));
	*hold = jnum(rep, "locks.0.hold_ns", -1);
	jp_free(rep);
	return total;
}

/* True if the report's FRAMES ("func (file:line)", "func+0x1a (module)", "module+0x1a") name the
 * functions of sample S, in order. */
static bool same_stack(const struct jp_value *frames, const struct pp_sample *s)
{
	if (frames->len != s->nframes)
		return false;
	for (size_t i = 0; i < s->nframes; i++) {
		const char *text = frames->items[i].text;
		size_t n = strcspn(text, " +");

		/* a frame without a symbol is its whole text in both ("libc.so.6+0x8612b", as a
		 * libc without debug information gives) */
		if (!strcmp(text, s->frames[i]))
			continue;
		if (strlen(s->frames[i]) != n || strncmp(text, s->frames[i], n))
			return false;
	}
	return true;
}

/* Every stack of every lock in the report: the profile's samples with that lock and those
 * frames add up to its wait. */
static void check_stacks(const char *trace, const struct pp_profile *p)
{
	struct jp_value *rep = report_json(trace);
	const struct jp_value *locks = must_array(rep, "locks");
	size_t checked = 0;

	for (size_t i = 0; i < locks->len; i++) {
		const struct jp_value *stacks = jp_get(&locks->items[i], "stacks");
		const char *name = jstr(&locks->items[i], "name");

		for (size_t j = 0; stacks && j < stacks->len; j++) {
			const struct jp_value *frames = jp_get(&stacks->items[j], "frames");
			double sum = 0, want = jnum(&stacks->items[j], "wait_ns", -1);

			for (size_t k = 0; k < p->nsamples; k++)
				if (!strcmp(p->samples[k].lock, name) &&
				    same_stack(frames, &p->samples[k]))
					sum += p->samples[k].values[1];
			cr_assert_eq(sum, want, "%s, stack %zu: profile %.0f ns, report %.0f ns",
				     name, j, sum, want);
			checked++;
		}
	}
	cr_assert_gt(checked, 0, "the report has no stacks");
	jp_free(rep);
}

Test(export_proto, pprof_of_a_real_recording, .timeout = 90)
{
	const char *trace = recording();
	char out[160], err[256], *stderr_text = NULL, *hot_name;
	struct pp_profile p;
	uint8_t *gz, *raw;
	size_t len, rawlen;
	double total = 0, hot, want, hold;
	bool waiter = false;

	/* no -o: the trace's name with .pb.gz */
	cr_assert_eq(shf(NULL, &stderr_text, LOCKSCOPE " export --format pprof %s", trace), 0, "%s",
		     stderr_text);
	free(stderr_text);
	snprintf(out, sizeof(out), "%s/proto.pb.gz", test_dir());
	gz = read_binary(out, &len);
	cr_assert_eq(pd_gunzip(gz, len, &raw, &rawlen), 0, "not gzip");
	cr_assert_eq(pp_decode(raw, rawlen, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(p.types[1], "delay");
	want = report_wait(trace, &hot, &hot_name, &hold);
	for (size_t i = 0; i < p.nsamples; i++) {
		total += p.samples[i].values[1];
		for (size_t j = 0; j < p.samples[i].nframes; j++)
			waiter |= !strcmp(p.samples[i].frames[j], "update_shared_state") &&
				  !strcmp(p.samples[i].lock, hot_name);
	}
	cr_assert(waiter, "no sample of %s has update_shared_state in its stack", hot_name);
	cr_assert_gt(hot, 0);
	cr_assert_eq(total, want, "profile delay %.0f ns, report %.0f ns", total, want);
	check_stacks(trace, &p);
	pp_free(&p);
	free(hot_name);
	free(gz);
	free(raw);
}

Test(export_proto, perfetto_of_a_real_recording, .timeout = 90)
{
	const char *trace = recording();
	char out[160], err[256], *stderr_text = NULL, *hot_name;
	struct pf_trace t;
	uint8_t *data;
	size_t len, workers = 0, flows = 0, ends = 0;
	double hot_ns = 0, hot, hold, held_ns = 0;

	snprintf(out, sizeof(out), "%s/proto.pftrace", test_dir());
	cr_assert_eq(
	    shf(NULL, &stderr_text, LOCKSCOPE " export --format perfetto -o %s %s", out, trace), 0,
	    "%s", stderr_text);
	free(stderr_text);
	data = read_binary(out, &len);
	cr_assert_eq(pf_decode(data, len, &t, err, sizeof(err)), 0, "%s", err);
	report_wait(trace, &hot, &hot_name, &hold);
	for (size_t i = 0; i < t.ntracks; i++) {
		workers += t.tracks[i].name && !strncmp(t.tracks[i].name, "worker-", 7);
		/* described once, with its own name, not first with the process's */
		cr_assert_eq(t.tracks[i].described, 1, "track %s described %u times",
			     t.tracks[i].name, t.tracks[i].described);
	}
	cr_assert_eq(workers, 4, "thread tracks named worker-N: %zu", workers);
	/* a slice begins and ends next to each other in the stream (the decoder checked) */
	for (size_t i = 0; i + 1 < t.nevents; i++) {
		const struct pf_event *b = &t.events[i];

		flows += b->flow != 0;
		ends += b->terminating_flow != 0;
		if (b->type == PF_BEGIN && !strcmp(b->name, hot_name) &&
		    !strcmp(b->category, "hold"))
			held_ns += t.events[i + 1].ts - b->ts;
		else if (b->type == PF_BEGIN && !strcmp(b->name, hot_name))
			hot_ns += t.events[i + 1].ts - b->ts;
	}
	cr_assert_gt(ends, 10, "no flows end in waits");
	cr_assert_geq(flows, ends);
	cr_assert_eq(hot_ns, hot, "slices %.0f ns, report %.0f ns", hot_ns, hot);
	/* auto mode's windows of full mode: the hold slices are the report's holds */
	cr_assert_gt(hold, 0, "the recording has no holds");
	cr_assert_eq(held_ns, hold, "hold slices %.0f ns, report %.0f ns", held_ns, hold);
	pf_free(&t);
	free(hot_name);
	free(data);
}

Test(export_proto, bad_formats_and_options_say_what, .timeout = 30)
{
	char *err = NULL;

	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " export %s --format svg", recording()), 1);
	cr_assert(
	    strstr(err,
		   "lockscope: export: --format wants chrome, pprof, perfetto or speedscope\n"),
	    "%s", err);
	free(err);
	cr_assert_eq(shf(NULL, &err, LOCKSCOPE " export %s --by holder -o -", recording()), 1);
	cr_assert(strstr(err, "lockscope: export: --by is for --format pprof\n"), "%s", err);
	free(err);
	cr_assert_eq(
	    shf(NULL, &err, LOCKSCOPE " export %s --format pprof --by nobody", recording()), 1);
	free(err);
}

/* The Perfetto export of the trace at TRACE (written beside it), decoded and checked. */
/* The thread that track UUID belongs to (itself or its parent's): 0 if none. */
static uint32_t track_tid(const struct pf_trace *t, uint64_t uuid)
{
	for (int depth = 0; depth < 2; depth++)
		for (size_t i = 0; i < t->ntracks; i++)
			if (t->tracks[i].uuid == uuid) {
				if (t->tracks[i].tid)
					return t->tracks[i].tid;
				uuid = t->tracks[i].parent;
				break;
			}
	return 0;
}

/* A deadlock is an instant on each of its threads; event-loop blocks are slices on a track
 * under the loop's thread, the report's blocks one for one. */
Test(export_proto, perfetto_marks_deadlocks_and_loop_blocks, .timeout = 90)
{
	char trace[512], *out = NULL, *err = NULL;
	struct jp_value *truth, *rep;
	const struct jp_value *blocks;
	struct pf_trace t;
	size_t k = 0;
	int marks = 0;

	snprintf(trace, sizeof(trace), "%s/dl.lsz", test_dir());
	cr_assert_eq(shf(&out, &err, LOCKSCOPE " record -d 2 -o %s -- " WORKLOAD("deadlock"), trace),
		     0, "%s", err);
	truth = jparse(strchr(out, '{'));
	cr_assert_not_null(truth, "no ground truth: %s", out);
	perfetto_of(trace, &t);
	for (size_t i = 0; i < t.nevents; i++) {
		const struct pf_event *e = &t.events[i];
		uint32_t tid = track_tid(&t, e->track);

		if (!e->category || strcmp(e->category, "deadlock"))
			continue;
		cr_assert_eq(e->type, PF_INSTANT);
		cr_assert_str_eq(e->name, "DEADLOCK");
		marks |= (tid == jnum(truth, "tid_a_to_b", -1)) | (tid == jnum(truth, "tid_b_to_a", -1))
							     << 1;
	}
	cr_assert_eq(marks, 3, "not both threads of the deadlock have an instant");
	pf_free(&t);
	jp_free(truth);
	free(out);
	free(err);

	snprintf(trace, sizeof(trace), "%s/loop.lsz", test_dir());
	cr_assert_eq(shf(&out, &err, LOCKSCOPE " record -o %s -- " WORKLOAD("epoll_loop"), trace), 0,
		     "%s", err);
	rep = report_json(trace);
	blocks = jp_get(rep, "loop_blocks");
	cr_assert(blocks && blocks->len >= 4, "the loop's blocks are not in the report");
	perfetto_of(trace, &t);
	for (size_t i = 0; i + 1 < t.nevents; i++) {
		const struct pf_event *e = &t.events[i];
		const struct jp_value *b = &blocks->items[k];
		char name[64];

		if (e->type != PF_BEGIN || !e->category || strcmp(e->category, "loop_block"))
			continue;
		cr_assert_lt(k, blocks->len, "more loop_block slices than blocks");
		snprintf(name, sizeof(name), "loop blocked (%s)", jstr(b, "cause"));
		cr_expect_str_eq(e->name, name);
		cr_expect_eq(track_tid(&t, e->track), jnum(b, "tid", -1));
		/* the decoder put each slice's end right after its begin */
		cr_expect_eq(t.events[i + 1].ts - e->ts, jnum(b, "duration_ns", -1));
		k++;
	}
	cr_assert_eq(k, blocks->len, "%zu loop_block slices for %zu blocks", k, blocks->len);
	pf_free(&t);
	jp_free(rep);
	free(out);
	free(err);
}
