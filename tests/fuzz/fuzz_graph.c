/* fuzz_graph.c - libFuzzer target: `lockscope graph` as dot and as JSON on any bytes, through
 * the entry point main.c calls. */
#include "fuzz.h"
#include "graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size);

	fuzz_expect_status(graph__run(path, "dot"));
	fuzz_expect_status(graph__run(path, "json"));
	return 0;
}
