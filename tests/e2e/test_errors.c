/* test_errors.c - bad input and refusals: one line on stderr that says what and where, and the
 * contract's exit status (1 bad usage or input, 2 the system refused); never a crash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

static void expect(int want_rc, const char *needle, const char *cmd)
{
	char *err = NULL;
	int rc = sh(cmd, NULL, &err);

	cr_assert_eq(rc, want_rc, "%s: exit %d, want %d: %s", cmd, rc, want_rc, err);
	cr_assert(strstr(err, needle), "%s: stderr lacks \"%s\": %s", cmd, needle, err);
	cr_assert(strncmp(err, "lockscope: ", 11) == 0, "%s: %s", cmd, err);
	free(err);
}

static void expect_one_line(int want_rc, const char *needle, const char *cmd)
{
	char *err = NULL;

	expect(want_rc, needle, cmd);
	sh(cmd, NULL, &err);
	cr_assert_eq(count_lines(err), 1, "%s: not one line: %s", cmd, err);
	free(err);
}

Test(errors, report_on_random_bytes)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "head -c 100000 /dev/urandom > %s/random.lsz && "
		 LOCKSCOPE " report %s/random.lsz", test_dir(), test_dir());
	expect_one_line(1, "random.lsz", cmd);
	snprintf(cmd, sizeof(cmd), ": > %s/empty.lsz && " LOCKSCOPE " report %s/empty.lsz",
		 test_dir(), test_dir());
	expect_one_line(1, "empty.lsz", cmd);
	expect_one_line(1, "/nonexistent.lsz", LOCKSCOPE " report /nonexistent.lsz");
}

Test(errors, report_on_a_cut_trace_reports_what_is_there, .timeout = 60)
{
	char cmd[1024], *out = NULL, *err = NULL;
	int rc;

	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s/full.lsz -- " WORKLOAD("contended")
		 " --iters 3000 && size=$(stat -c %%s %s/full.lsz) && "
		 "head -c $((size * 2 / 3)) %s/full.lsz > %s/cut.lsz",
		 test_dir(), test_dir(), test_dir(), test_dir());
	cr_assert_eq(sh(cmd, NULL, &err), 0, "%s", err);
	free(err);
	rc = shf(&out, &err, LOCKSCOPE " report %s/cut.lsz", test_dir());
	cr_assert_eq(rc, 0, "report on a cut file: %d %s", rc, err);
	cr_assert(strstr(err, "cut"), "no note that the file is cut: %s", err);
	cr_assert(strstr(out, "hot_lock"), "the cut file's contention is not reported: %s", out);
	free(out);
	free(err);
}

Test(errors, record_refusals_name_what_is_missing)
{
	expect_one_line(2, "no such process", LOCKSCOPE " record -p 4000000 -o /tmp/x.lsz");
	expect_one_line(2, "BTF", "LOCKSCOPE_BTF=/nonexistent " LOCKSCOPE
			" record -o /tmp/x.lsz -- /bin/true");
	expect_one_line(2, "not permitted", "setpriv --reuid=65534 --regid=65534 --clear-groups "
			"--inh-caps=-all " LOCKSCOPE " record -o /tmp/x.lsz -- /bin/true");
	expect_one_line(1, "/nonexistent-command", LOCKSCOPE
			" record -o /tmp/x.lsz -- /nonexistent-command");
}

Test(errors, bad_usage_exits_1_with_usage)
{
	expect(1, "usage:", LOCKSCOPE);
	expect(1, "usage:", LOCKSCOPE " frobnicate");
	expect(1, "usage:", LOCKSCOPE " record");
	expect(1, "usage:", LOCKSCOPE " record -p 1 -- /bin/true");
	expect(1, "usage:", LOCKSCOPE " record -d -3 -- /bin/true");
	expect(1, "usage:", LOCKSCOPE " report");
	expect(1, "usage:", LOCKSCOPE " export x.lsz --format svg");
}
