/* fuzz_records.c - libFuzzer target: records as a fuzzer makes them, past the file's framing. The
 * input (a record count, u16 little-endian, then raw records) becomes a well-formed trace of one
 * chunk (lsz.h); report (text and JSON), graph (JSON) and export read it, and their JSON must
 * parse. Insertions and deletions reach the decoder and every analysis, which a mutated .lsz
 * rarely does: its sizes would no longer hold. */
#include <string.h>

#include "export/export_chrome.h"
#include "fuzz.h"
#include "commands/graph.h"
#include "lsz.h"
#include "commands/report.h"
#include "trace/trace.h"

static uint8_t *file;		 /* the file header, then room for a chunk */
static size_t header_len, file_cap;

/* The header of a full-mode trace, from the real writer. */
static void make_header(void)
{
	struct ls_trace_info info = {.version = LS_TRACE_VERSION, .pid = 100, .comm = "app",
				     .cmdline = "/usr/bin/app", .mode = "full"};
	int fd = memfd_create("lockscope-fuzz-header", 0);
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (fd < 0 || trace_writer__close(trace_writer__new(path, &info)) || fstat(fd, &st))
		abort();
	header_len = st.st_size;
	file = malloc(header_len);
	if (!file || pread(fd, file, header_len, 0) != (ssize_t)header_len)
		abort();
	close(fd);
}

static const char *records_file(const uint8_t *data, size_t size)
{
	size_t raw = size - 2, need, fsize;
	uint8_t *frame;

	if (!file)
		make_header();
	need = header_len + LSZ_CHUNK_HDR + lsz_frame_bound(raw);
	if (need > file_cap) {
		file = realloc(file, need);
		if (!file)
			abort();
		file_cap = need;
	}
	frame = file + header_len + LSZ_CHUNK_HDR;
	fsize = lsz_stored_frame(frame, data + 2, raw);
	lsz_chunk_header(file + header_len, 1, data[0] | data[1] << 8, raw, frame, fsize, 0);
	return fuzz_file(file, header_len + LSZ_CHUNK_HDR + fsize);
}

static int report_text(const void *path)
{
	return report__run(path, &(struct report_opts){.json = false});
}

static int report_json(const void *path)
{
	return report__run(path, &(struct report_opts){.json = true});
}

static int graph_json(const void *path)
{
	return graph__run(path, "json");
}

static int export_chrome(const void *path)
{
	return export_chrome__run(path, "-");
}

FUZZ_TARGET(records)
{
	static int (*const json_cmds[])(const void *path) = {report_json, graph_json,
							     export_chrome};
	const char *path;

	if (size < 2)
		return 0;
	path = records_file(data, size);
	fuzz_run(report_text, path);
	for (size_t i = 0; i < sizeof(json_cmds) / sizeof(json_cmds[0]); i++)
		fuzz_run_json(json_cmds[i], path);
	return 0;
}
