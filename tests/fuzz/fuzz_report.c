/* fuzz_report.c - libFuzzer target: `lockscope report` (text, then JSON) on any bytes, through
 * the entry point main.c calls: every analysis the report runs sees what the reader yields. */
#include "fuzz.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size);
	struct report_opts text = {.json = false, .top = size % 3};
	struct report_opts json = {.json = true, .top = size % 5};

	fuzz_expect_status(report__run(path, &text));
	fuzz_expect_status(report__run(path, &json));
	return 0;
}
