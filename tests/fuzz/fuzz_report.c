/* fuzz_report.c - libFuzzer target: `lockscope report` (text, then JSON) on any bytes, through
 * the entry point main.c calls: every analysis the report runs sees what the reader yields, and
 * the JSON document must parse. */
#include "fuzz.h"
#include "report.h"

struct call {
	const char *path;
	struct report_opts opts;
};

static int run(const void *arg)
{
	const struct call *c = arg;

	return report__run(c->path, &c->opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size), *out;
	struct call text = {path, {.json = false, .top = size % 3}};
	struct call json = {path, {.json = true, .top = size % 5}};
	size_t len;

	fuzz_run(run, &text, &out, &len);
	fuzz_expect_json(fuzz_run(run, &json, &out, &len), out, len);
	return 0;
}
