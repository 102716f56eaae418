/* fuzz_perfetto.c - libFuzzer target: `lockscope export --format perfetto` on any bytes, to
 * stdout; what it writes must be a Trace the strict Perfetto decoder accepts whole. */
#include "export/export.h"
#include "fuzz.h"
#include "protodec.h"

static int run(const void *path)
{
	struct export_opts o = {.format = "perfetto", .out = "-"};

	return export__run(path, &o);
}

FUZZ_TARGET(perfetto)
{
	struct pf_trace t = {0};
	const char *out;
	char err[256];
	size_t len;

	if (fuzz_run_out(run, fuzz_file(data, size), &out, &len) != 0)
		return 0;
	if (pf_decode((const uint8_t *)out, len, &t, err, sizeof(err))) {
		fprintf(stderr, "fuzz: a Perfetto trace the decoder refuses: %s\n", err);
		abort();
	}
	pf_free(&t);
	return 0;
}
