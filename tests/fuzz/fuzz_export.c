/* fuzz_export.c - libFuzzer target: `lockscope export --format chrome` on any bytes, through
 * the entry point main.c calls, to stdout; the Trace Event JSON must parse. */
#include "export_chrome.h"
#include "fuzz.h"

static int run(const void *path)
{
	return export_chrome__run(path, "-");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *out;
	size_t len;

	fuzz_expect_json(fuzz_run(run, fuzz_file(data, size), &out, &len), out, len);
	return 0;
}
