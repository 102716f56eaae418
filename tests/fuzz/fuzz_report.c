/* fuzz_report.c - libFuzzer target: `lockscope report` (text, then JSON) on any bytes, through
 * the entry point main.c calls: every analysis the report runs sees what the reader yields, and
 * the JSON document must parse. */
#include "fuzz.h"
#include "commands/report.h"

struct call {
	const char *path;
	struct report_opts opts;
};

static int run(const void *arg)
{
	const struct call *c = arg;

	return report__run(c->path, &c->opts);
}

FUZZ_TARGET(report)
{
	const char *path = fuzz_file(data, size);
	struct call text = {path, {.json = false, .top = size % 3}};
	struct call json = {path, {.json = true, .top = size % 5}};

	fuzz_run(run, &text);
	fuzz_run_json(run, &json);
	return 0;
}
