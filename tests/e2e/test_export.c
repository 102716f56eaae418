/* test_export.c - the Chrome export of a real recording obeys the Trace Event Format's rules
 * (fields per phase, matched flows, named threads, microseconds) and agrees with the report. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "proc.h"

static bool has_num(const struct jp_value *ev, const char *k)
{
	const struct jp_value *v = jp_get(ev, k);

	return v && v->type == JP_NUMBER;
}

Test(export, chrome_trace_of_a_real_recording, .timeout = 60)
{
	char cmd[1024], *out = NULL, *err = NULL, *text;
	struct jp_value *doc, *rep;
	const struct jp_value *evs;
	double wait_us = 0, flows_s = 0, flows_f = 0;
	size_t named = 0;
	int rc;

	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record -o %s/exp.lsz -- " WORKLOAD(
		     "contended") " --iters 500 && echo old > %s/exp.json && " LOCKSCOPE
				  " export %s/exp.lsz",
		 test_dir(), test_dir(), test_dir());
	rc = sh(cmd, NULL, &err);
	cr_assert_eq(rc, 0, "%s", err);
	free(err);
	/* no -o: the trace's name with .json; what was there is kept as .old */
	text = slurp(strcat(strcpy(cmd, test_dir()), "/exp.json.old"));
	cr_assert_str_eq(text, "old\n", "the earlier file is not kept as exp.json.old");
	free(text);
	text = slurp(strcat(strcpy(cmd, test_dir()), "/exp.json"));
	cr_assert_not_null(text);
	/* -o - writes the same to stdout */
	cr_assert_eq(shf(&out, NULL, LOCKSCOPE " export %s/exp.lsz -o -", test_dir()), 0);
	cr_assert_str_eq(out, text, "-o - is not the same export");
	free(out);
	out = NULL;
	doc = jparse(text);
	cr_assert_not_null(doc, "the export is not JSON");
	evs = jp_get(doc, "traceEvents");
	cr_assert(evs && evs->type == JP_ARRAY && evs->len > 100);

	/* every tid that has events has a thread_name; flows s/f pair up by (cat, name, id) */
	int tids[4096] = {0}, ntids = 0, named_tids[4096] = {0}, nnamed = 0;
	for (size_t i = 0; i < evs->len; i++) {
		const struct jp_value *ev = &evs->items[i];
		const char *ph = jstr(ev, "ph");

		cr_assert_not_null(ph, "event %zu has no ph", i);
		cr_assert(has_num(ev, "pid") && has_num(ev, "tid"), "event %zu: pid/tid", i);
		if (!strcmp(ph, "M")) {
			if (!strcmp(jstr(ev, "name"), "thread_name") && nnamed < 4096)
				named_tids[nnamed++] = jnum(ev, "tid", 0);
			continue;
		}
		cr_assert(has_num(ev, "ts"), "event %zu (%s) has no ts", i, ph);
		cr_assert_not_null(jstr(ev, "name"), "event %zu has no name", i);
		if (ntids < 4096)
			tids[ntids++] = jnum(ev, "tid", 0);
		if (!strcmp(ph, "X")) {
			cr_assert(has_num(ev, "dur") && jnum(ev, "dur", -1) >= 0, "X %zu dur", i);
			if (!strcmp(jstr(ev, "name"), "hot_lock"))
				wait_us += jnum(ev, "dur", 0);
		} else if (!strcmp(ph, "s") || !strcmp(ph, "f")) {
			cr_assert_not_null(jp_get(ev, "id"), "flow %zu has no id", i);
			cr_assert_not_null(jstr(ev, "cat"), "flow %zu has no cat", i);
			if (ph[0] == 's')
				flows_s++;
			else
				flows_f++;
		}
	}
	for (int i = 0; i < ntids; i++) {
		bool found = false;

		for (int j = 0; j < nnamed && !found; j++)
			found = tids[i] == named_tids[j];
		named += found;
	}
	cr_assert_eq(named, (size_t)ntids, "threads without a thread_name");
	cr_assert_gt(flows_s, 10, "no wake flows");
	cr_assert_eq(flows_s, flows_f, "unpaired flows: %f starts, %f ends", flows_s, flows_f);
	/* each start has its end: same id, cat and name, on another thread, not earlier */
	for (size_t i = 0; i < evs->len; i++) {
		const struct jp_value *s = &evs->items[i];
		bool paired = false;

		if (strcmp(jstr(s, "ph"), "s"))
			continue;
		for (size_t j = 0; j < evs->len && !paired; j++) {
			const struct jp_value *f = &evs->items[j];

			paired = !strcmp(jstr(f, "ph"), "f") &&
				 jnum(f, "id", -1) == jnum(s, "id", -2) &&
				 !strcmp(jstr(f, "cat"), jstr(s, "cat")) &&
				 !strcmp(jstr(f, "name"), jstr(s, "name")) &&
				 jnum(f, "ts", 0) >= jnum(s, "ts", 0) &&
				 jnum(f, "tid", 0) != jnum(s, "tid", 0);
		}
		cr_assert(paired, "flow start %zu (id %.0f) has no matching end", i,
			  jnum(s, "id", -1));
	}

	/* both ends of every flow lie on a slice of the flow's category that starts at the same
	 * time on the same thread: where Chrome DevTools' trace model binds them */
	for (size_t i = 0; i < evs->len; i++) {
		const struct jp_value *fl = &evs->items[i];
		bool bound = false;

		if (strcmp(jstr(fl, "ph"), "s") && strcmp(jstr(fl, "ph"), "f"))
			continue;
		for (size_t j = 0; j < evs->len && !bound; j++) {
			const struct jp_value *sl = &evs->items[j];

			bound = !strcmp(jstr(sl, "ph"), "X") &&
				jnum(sl, "ts", -1) == jnum(fl, "ts", -2) &&
				jnum(sl, "tid", -1) == jnum(fl, "tid", -2) && jstr(sl, "cat") &&
				!strcmp(jstr(sl, "cat"), jstr(fl, "cat"));
		}
		cr_assert(bound, "flow %s %zu (id %.0f) starts no slice of its category",
			  jstr(fl, "ph"), i, jnum(fl, "id", -1));
	}

	/* ts and dur are microseconds: the hot_lock slices add up to the report's wait */
	rep = NULL;
	cr_assert_eq(shf(&out, NULL, LOCKSCOPE " report --json %s/exp.lsz", test_dir()), 0);
	rep = jparse(out);
	cr_assert_not_null(rep);
	cr_assert_lt(fabs(wait_us * 1000 - jnum(rep, "locks.0.wait_ns", 0)),
		     0.01 * jnum(rep, "locks.0.wait_ns", 0) + 1000, "slices %f us vs report %f ns",
		     wait_us, jnum(rep, "locks.0.wait_ns", 0));
	jp_free(rep);
	jp_free(doc);
	free(text);
	free(out);
}

/* The report's lock LOCK in REP (report --json), or NULL. */
static const struct jp_value *report_lock(const struct jp_value *rep, const char *lock)
{
	const struct jp_value *locks = jp_get(rep, "locks");

	for (size_t i = 0; locks && i < locks->len; i++)
		if (!strcmp(jstr(&locks->items[i], "name"), lock))
			return &locks->items[i];
	return NULL;
}

/* Full mode: every hold is a slice "<lock> held" (cat hold); hot_lock's add up to the report's
 * hold time. Slices are named with the lock's short name, never its whole description. */
Test(export, chrome_holds_in_full_mode, .timeout = 60)
{
	char *out = NULL, *err = NULL, *text, path[512];
	struct jp_value *doc, *rep;
	const struct jp_value *evs, *hot;
	double hold_us = 0;
	size_t holds = 0;

	cr_assert_eq(shf(NULL, &err,
			 LOCKSCOPE " record --mode full -o %s/h.lsz -- " WORKLOAD(
			     "contended") " --iters 300 && " LOCKSCOPE " export %s/h.lsz",
			 test_dir(), test_dir()),
		     0, "%s", err);
	free(err);
	snprintf(path, sizeof(path), "%s/h.json", test_dir());
	text = slurp(path);
	doc = jparse(text);
	cr_assert_not_null(doc);
	evs = jp_get(doc, "traceEvents");
	for (size_t i = 0; i < evs->len; i++) {
		const struct jp_value *ev = &evs->items[i];
		const char *name = jstr(ev, "name"), *cat = jstr(ev, "cat");

		cr_assert(!strstr(name, " first "), "a slice named with the description: %s", name);
		if (!cat || strcmp(cat, "hold"))
			continue;
		cr_assert_str_eq(jstr(ev, "ph"), "X", "a hold that is not a slice");
		if (!strcmp(name, "hot_lock held")) {
			hold_us += jnum(ev, "dur", 0);
			holds++;
		}
	}
	cr_assert_eq(shf(&out, NULL, LOCKSCOPE " report --json %s/h.lsz", test_dir()), 0);
	rep = jparse(out);
	hot = report_lock(rep, "hot_lock");
	cr_assert_not_null(hot, "no hot_lock in the report: %s", out);
	cr_assert_eq(holds, (size_t)jnum(hot, "acquisitions", -1),
		     "%zu hold slices, %.0f acquisitions", holds, jnum(hot, "acquisitions", -1));
	cr_assert_lt(fabs(hold_us * 1000 - jnum(hot, "hold_ns", 0)), 1000.0 + holds,
		     "hold slices %.3f us, report %.0f ns", hold_us, jnum(hot, "hold_ns", 0));
	jp_free(rep);
	jp_free(doc);
	free(text);
	free(out);
}

/* speedscope's own format: a profile per thread, each sample a stack root first with the lock
 * innermost, weighted by the time waited; the weights add up to the report's waits, per thread
 * and per lock, and frames are named as the report names them, with nothing appended. */
Test(export, speedscope_profiles_add_up_to_the_report, .timeout = 60)
{
	char *out = NULL, *err = NULL, *text, path[512];
	struct jp_value *doc, *rep;
	const struct jp_value *frames, *profiles, *hot, *waiters;
	double total = 0;

	cr_assert_eq(shf(NULL, &err,
			 LOCKSCOPE " record -o %s/ss.lsz -- " WORKLOAD(
			     "contended") " --iters 300 && " LOCKSCOPE
					  " export --format speedscope %s/ss.lsz",
			 test_dir(), test_dir()),
		     0, "%s", err);
	free(err);
	snprintf(path, sizeof(path), "%s/ss.speedscope.json", test_dir());
	text = slurp(path);
	cr_assert_not_null(text, "no ss.speedscope.json");
	doc = jparse(text);
	cr_assert_not_null(doc, "not JSON");
	cr_assert_str_eq(jstr(doc, "$schema"),
			 "https://www.speedscope.app/file-format-schema.json");
	cr_assert_eq(shf(&out, NULL, LOCKSCOPE " report --json %s/ss.lsz", test_dir()), 0);
	rep = jparse(out);
	hot = report_lock(rep, "hot_lock");
	cr_assert_not_null(hot, "no hot_lock in the report: %s", out);
	waiters = jp_get(hot, "waiters");
	frames = jp_path(doc, "shared.frames");
	profiles = jp_get(doc, "profiles");
	cr_assert(frames && frames->len > 3 && profiles && profiles->len >= 2, "%s", text);
	for (size_t i = 0; i < frames->len; i++)
		cr_assert(!strchr(jstr(&frames->items[i], "name"), '{'),
			  "a frame with arguments: %s", jstr(&frames->items[i], "name"));
	for (size_t p = 0; p < profiles->len; p++) {
		const struct jp_value *pr = &profiles->items[p], *smp = jp_get(pr, "samples"),
				      *w = jp_get(pr, "weights");
		const char *name = jstr(pr, "name"), *paren = strrchr(name, '(');
		double sum = 0, hot_ns = 0, want = -1;
		long tid = paren ? strtol(paren + 1, NULL, 10) : 0;

		cr_assert_str_eq(jstr(pr, "type"), "sampled");
		cr_assert_str_eq(jstr(pr, "unit"), "nanoseconds");
		cr_assert(smp && w && smp->len == w->len && smp->len > 0, "%s", name);
		for (size_t i = 0; i < smp->len; i++) {
			const struct jp_value *st = &smp->items[i];
			const struct jp_value *leaf =
			    &frames->items[(size_t)st->items[st->len - 1].number];
			const struct jp_value *root = &frames->items[(size_t)st->items[0].number];

			sum += w->items[i].number;
			cr_assert(strstr(jstr(leaf, "file"), "(waited for)"),
				  "the innermost frame is "
				  "not the lock: %s",
				  jstr(leaf, "name"));
			/* the thread's first frame: libc's clone3, by its address where libc has
			 * no symbol for it (no debug info) */
			cr_assert(!strcmp(jstr(root, "name"), "clone3") ||
				      !strncmp(jstr(root, "name"), "libc.so.6+0x", 12),
				  "not root first: %s", jstr(root, "name"));
			if (!strcmp(jstr(leaf, "name"), "hot_lock"))
				hot_ns += w->items[i].number;
		}
		cr_assert_eq(sum, jnum(pr, "endValue", -1), "%s: weights %.0f, endValue %.0f", name,
			     sum, jnum(pr, "endValue", -1));
		for (size_t i = 0; i < waiters->len; i++)
			if (jnum(&waiters->items[i], "tid", 0) == tid)
				want = jnum(&waiters->items[i], "wait_ns", 0);
		cr_assert_eq(hot_ns, want, "%s: %.0f ns on hot_lock, the report %.0f", name, hot_ns,
			     want);
		total += hot_ns;
	}
	cr_assert_eq(total, jnum(hot, "wait_ns", -1), "%.0f ns, the report %.0f", total,
		     jnum(hot, "wait_ns", -1));
	jp_free(rep);
	jp_free(doc);
	free(text);
	free(out);
}

/* A deadlock: an instant on each of its threads, with the lock it holds and the one it waits
 * for, as the workload says it set them up. */
Test(export, chrome_marks_deadlocks, .timeout = 60)
{
	char *out = NULL, *err = NULL, *text, path[512];
	struct jp_value *doc, *truth;
	const struct jp_value *evs;
	int marks = 0;

	cr_assert_eq(shf(&out, &err,
			 LOCKSCOPE " record -d 2 -o %s/d.lsz -- " WORKLOAD(
			     "deadlock") " && " LOCKSCOPE " export %s/d.lsz",
			 test_dir(), test_dir()),
		     0, "%s", err);
	truth = jparse(strchr(out, '{'));
	cr_assert_not_null(truth, "no ground truth: %s", out);
	snprintf(path, sizeof(path), "%s/d.json", test_dir());
	text = slurp(path);
	doc = jparse(text);
	evs = jp_get(doc, "traceEvents");
	for (size_t i = 0; i < evs->len; i++) {
		const struct jp_value *ev = &evs->items[i];

		if (!jstr(ev, "cat") || strcmp(jstr(ev, "cat"), "deadlock"))
			continue;
		cr_assert_str_eq(jstr(ev, "ph"), "i");
		cr_assert_str_eq(jstr(ev, "name"), "DEADLOCK");
		for (int t = 0; t < 2; t++) {
			char key[32];

			snprintf(key, sizeof(key), "threads.%d.tid", t);
			if (jnum(ev, "tid", -1) != jnum(truth, key, -2))
				continue;
			snprintf(key, sizeof(key), "threads.%d.holds", t);
			/* the report's form of the deadlock: this thread's entry holds that lock */
			bool first = jnum(ev, "args.deadlock.threads.0.tid", 0) == jnum(ev, "tid", -1);

			cr_assert_str_eq(jstr(ev, first ? "args.deadlock.threads.0.holds.0"
							: "args.deadlock.threads.1.holds.0"),
					 jstr(truth, key));
			snprintf(key, sizeof(key), "threads.%d.waits_for", t);
			cr_assert_str_eq(jstr(ev, "args.waits_for"), jstr(truth, key));
			marks |= 1 << t;
		}
	}
	cr_assert_eq(marks, 3, "not both threads of the deadlock are marked");
	jp_free(doc);
	jp_free(truth);
	free(text);
	free(out);
	free(err);
}
