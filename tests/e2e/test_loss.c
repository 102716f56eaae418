/* test_loss.c - end to end: every event a target makes is in the trace or counted as lost,
 * whatever the rate; at a modest rate none is lost. futex_rate counts its own futex waits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "proc.h"

/* Records futex_rate launched with ARGS; returns its ground truth and the report. */
static void record_rate(const char *name, const char *args, struct jp_value **gt,
			struct jp_value **rep)
{
	char trace[256], *out = NULL, *err = NULL;
	int rc;

	snprintf(trace, sizeof(trace), "%s/%s.lsz", test_dir(), name);
	rc = shf(&out, &err, LOCKSCOPE " record --mode contention -o %s -- " WORKLOAD("futex_rate")
		 " %s", trace, args);
	cr_assert_eq(rc, 0, "record failed (%d): %s", rc, err);
	cr_assert_not_null(strrchr(out, '{'), "no ground truth: %s", out);
	*gt = jparse(strrchr(out, '{'));
	cr_assert_not_null(*gt);
	*rep = report_json(trace);
	free(out);
	free(err);
}

/* Flat out, the ring buffer may overflow: what is missing must be counted, to the event. */
Test(loss, every_event_is_recorded_or_counted_lost, .timeout = 60)
{
	struct jp_value *gt, *rep;
	double made, events, lost;

	record_rate("flat_out", "--seconds 1", &gt, &rep);
	made = jnum(gt, "events", -1);
	events = jnum(rep, "recording.events", -1);
	lost = jnum(rep, "recording.lost_events", -1);
	cr_assert_gt(made, 10000, "the workload made too few events: %.0f", made);
	/* beyond the waits' begin and end: its threads' creation and exit */
	cr_assert_geq(events + lost, made, "%.0f recorded + %.0f lost < %.0f made", events, lost,
		      made);
	cr_assert_leq(events + lost, made + 16, "%.0f recorded + %.0f lost > %.0f made", events,
		      lost, made);
	jp_free(gt);
	jp_free(rep);
}

/* 40k events a second: none lost, and every wait is a contention of its thread's word. */
Test(loss, modest_rate_loses_nothing, .timeout = 60)
{
	struct jp_value *gt, *rep;
	const struct jp_value *locks;
	double waits = 0;

	record_rate("modest", "--seconds 1 --rate 20000", &gt, &rep);
	cr_assert_eq(jnum(rep, "recording.lost_events", -1), 0);
	locks = must_array(rep, "locks");
	cr_assert_eq(locks->len, 2, "locks: %zu, want one word per thread", locks->len);
	for (size_t i = 0; i < locks->len; i++)
		waits += jnum(&locks->items[i], "contentions", 0);
	cr_assert_eq(waits, jnum(gt, "waits", -1), "%.0f contentions, the workload waited %.0f times",
		     waits, jnum(gt, "waits", -1));
	jp_free(gt);
	jp_free(rep);
}
