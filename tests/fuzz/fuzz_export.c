/* fuzz_export.c - libFuzzer target: `lockscope export --format chrome` on any bytes, through
 * the entry point main.c calls, to stdout; the Trace Event JSON must parse. */
#include "export/export_chrome.h"
#include "fuzz.h"

static int run(const void *path)
{
	return export_chrome__run(path, "-");
}

FUZZ_TARGET(export)
{
	fuzz_run_json(run, fuzz_file(data, size));
	return 0;
}
