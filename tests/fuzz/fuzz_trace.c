/* fuzz_trace.c - libFuzzer target: the trace reader on any bytes. Every record it yields must be
 * whole (strings terminated, stack frames in bounds) and its end state consistent. */
#include <string.h>

#include "fuzz.h"
#include "trace.h"

static volatile size_t sink;

/* Reads every byte the record lends, so that ASan sees a pointer past its chunk. */
static void touch(const struct ls_rec *rec)
{
	switch (rec->type) {
	case LS_REC_THREAD:
		sink += strlen(rec->thread.name);
		break;
	case LS_REC_LOCK:
		sink += strlen(rec->lock.name);
		break;
	case LS_REC_FRAME:
		sink += strlen(rec->frame.func) + strlen(rec->frame.file) +
			strlen(rec->frame.module);
		break;
	case LS_REC_STACK:
		for (uint32_t i = 0; i < rec->stack.nframes; i++)
			sink += rec->stack.frames[i];
		break;
	case LS_REC_MAPPING:
		sink += strlen(rec->mapping.perms) + strlen(rec->mapping.path);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ls_trace_info *info;
	struct trace_reader *r;
	struct ls_rec rec;
	char err[256] = "";
	int ret;

	r = trace_reader__open(fuzz_file(data, size), err, sizeof(err));
	if (!r) {
		if (!err[0] || strchr(err, '\n'))
			abort(); /* a refusal always says why, in one line */
		return 0;
	}
	info = trace_reader__info(r);
	sink += strlen(info->comm) + strlen(info->cmdline) + strlen(info->mode);
	while ((ret = trace_reader__next(r, &rec)) == 1)
		touch(&rec);
	/* an early stop says why; a clean end does not; both stay where they are */
	if ((ret < 0) != (trace_reader__error(r) != NULL))
		abort();
	if (trace_reader__next(r, &rec) != ret)
		abort();
	trace_reader__free(r);
	return 0;
}
