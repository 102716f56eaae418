/* fuzz_graph.c - libFuzzer target: `lockscope graph` as dot and as JSON on any bytes, through
 * the entry point main.c calls; the JSON must parse. */
#include "fuzz.h"
#include "commands/graph.h"

struct call {
	const char *path, *format;
};

static int run(const void *arg)
{
	const struct call *c = arg;

	return graph__run(c->path, c->format);
}

FUZZ_TARGET(graph)
{
	const char *path = fuzz_file(data, size);
	struct call dot = {path, "dot"}, json = {path, "json"};

	fuzz_run(run, &dot);
	fuzz_run_json(run, &json);
	return 0;
}
