/* fuzz_timeline.c - libFuzzer target: the viewer's timeline document (what `lockscope view`
 * serves as data/timeline.bin) built from any bytes: refused as no trace, or a document whose
 * header holds and whose meta is JSON that parses, its columns inside it. */
#include <errno.h>
#include <string.h>

#include "export/view_timeline.h"
#include "fuzz.h"

FUZZ_TARGET(timeline)
{
	char why[256], err[256], *doc = NULL;
	struct jp_value *meta;
	uint32_t head[3];
	size_t len = 0;
	int ret = view_timeline__build(fuzz_file(data, size), &doc, &len, why, sizeof(why));

	if (ret == -EINVAL)
		return 0;
	if (ret) {
		fprintf(stderr, "fuzz: timeline: %s\n", strerror(-ret));
		abort();
	}
	if (len < 16 || memcmp(doc, "LSTL", 4))
		abort();
	memcpy(head, doc + 4, sizeof(head));
	if (head[0] != 1 || head[1] % 8 || 16 + (size_t)head[1] > len)
		abort();
	meta = jp_parse(doc + 16, head[1], err, sizeof(err));
	if (!meta) {
		fprintf(stderr, "fuzz: timeline meta is not JSON (%s)\n", err);
		abort();
	}
	jp_free(meta);
	free(doc);
	return 0;
}
