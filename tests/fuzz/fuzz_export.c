/* fuzz_export.c - libFuzzer target: `lockscope export --format chrome` on any bytes, through the
 * entry point main.c calls, writing to stdout (which fuzz_file() points at /dev/null). */
#include "export_chrome.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_expect_status(export_chrome__run(fuzz_file(data, size), "-"));
	return 0;
}
