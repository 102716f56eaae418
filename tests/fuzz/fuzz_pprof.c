/* fuzz_pprof.c - libFuzzer target: `lockscope export --format pprof --by holder` on any bytes,
 * to stdout; what it writes must inflate to a profile the strict decoder accepts whole. */
#include <stdlib.h>

#include "export/export.h"
#include "fuzz.h"
#include "protodec.h"

static int run(const void *path)
{
	struct export_opts o = {.format = "pprof", .out = "-", .by = EXPORT_BY_HOLDER};

	return export__run(path, &o);
}

FUZZ_TARGET(pprof)
{
	struct pp_profile p = {0};
	const char *out;
	uint8_t *raw;
	char err[256];
	size_t len, rawlen;

	if (fuzz_run_out(run, fuzz_file(data, size), &out, &len) != 0)
		return 0;
	if (pd_gunzip((const uint8_t *)out, len, &raw, &rawlen)) {
		fprintf(stderr, "fuzz: the profile is not gzip\n");
		abort();
	}
	if (pp_decode(raw, rawlen, &p, err, sizeof(err))) {
		fprintf(stderr, "fuzz: a profile the decoder refuses: %s\n", err);
		abort();
	}
	pp_free(&p);
	free(raw);
	return 0;
}
