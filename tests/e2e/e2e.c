/* e2e.c - what the end-to-end tests share: running `lockscope report --json` on a trace and
 * parsing it, with the failure said once. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "e2e.h"
#include "proc.h"

struct jp_value *report_json(const char *trace)
{
	char *out = NULL, *err = NULL;
	struct jp_value *r;
	int rc = shf(&out, &err, LOCKSCOPE " report --json %s", trace);

	cr_assert_eq(rc, 0, "report --json %s failed (%d): %s", trace, rc, err);
	r = jparse(out);
	cr_assert_not_null(r, "report --json is not valid JSON: %.300s", out);
	cr_assert_str_eq(jstr(r, "schema"), "lockscope.report/1");
	free(out);
	free(err);
	return r;
}
