/* fuzz_graph.c - libFuzzer target: `lockscope graph` as dot and as JSON on any bytes, through
 * the entry point main.c calls; the JSON must parse. */
#include "fuzz.h"
#include "graph.h"

struct call {
	const char *path, *format;
};

static int run(const void *arg)
{
	const struct call *c = arg;

	return graph__run(c->path, c->format);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size), *out;
	struct call dot = {path, "dot"}, json = {path, "json"};
	size_t len;

	fuzz_run(run, &dot, &out, &len);
	fuzz_expect_json(fuzz_run(run, &json, &out, &len), out, len);
	return 0;
}
