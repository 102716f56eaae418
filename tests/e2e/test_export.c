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

	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s/exp.lsz -- " WORKLOAD("contended")
		 " --iters 500 && echo old > %s/exp.json && " LOCKSCOPE " export %s/exp.lsz",
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

			paired = !strcmp(jstr(f, "ph"), "f") && jnum(f, "id", -1) == jnum(s, "id", -2) &&
				 !strcmp(jstr(f, "cat"), jstr(s, "cat")) &&
				 !strcmp(jstr(f, "name"), jstr(s, "name")) &&
				 jnum(f, "ts", 0) >= jnum(s, "ts", 0) &&
				 jnum(f, "tid", 0) != jnum(s, "tid", 0);
		}
		cr_assert(paired, "flow start %zu (id %.0f) has no matching end", i,
			  jnum(s, "id", -1));
	}

	/* ts and dur are microseconds: the hot_lock slices add up to the report's wait */
	rep = NULL;
	cr_assert_eq(shf(&out, NULL, LOCKSCOPE " report --json %s/exp.lsz", test_dir()), 0);
	rep = jparse(out);
	cr_assert_not_null(rep);
	cr_assert_lt(fabs(wait_us * 1000 - jnum(rep, "locks.0.wait_ns", 0)),
		     0.01 * jnum(rep, "locks.0.wait_ns", 0) + 1000,
		     "slices %f us vs report %f ns", wait_us, jnum(rep, "locks.0.wait_ns", 0));
	jp_free(rep);
	jp_free(doc);
	free(text);
	free(out);
}
