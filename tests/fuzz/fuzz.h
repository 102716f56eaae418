/* fuzz.h - what the libFuzzer targets share: each input becomes a trace file (a memfd named by
 * its /proc/self/fd path) that the commands open as they open a user's; their stdout goes to a
 * second memfd, so that what they print can be checked (JSON must parse, strictly). */
#ifndef LOCKSCOPE_FUZZ_H
#define LOCKSCOPE_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonparse.h"

/* A target is libFuzzer's entry point; in test_unit, which replays the inputs committed under
 * tests/fuzz/regressions/NAME through the same code, each has a name of its own. */
#ifdef FUZZ_REPLAY
#define FUZZ_TARGET(name) int fuzz_target_##name(const uint8_t *data, size_t size)
FUZZ_TARGET(trace);
FUZZ_TARGET(report);
FUZZ_TARGET(graph);
FUZZ_TARGET(export);
FUZZ_TARGET(records);
FUZZ_TARGET(perfetto);
FUZZ_TARGET(pprof);
FUZZ_TARGET(timeline);
#else
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

/* The input as a file; the path stays valid until the next call. Aborts if the system
 * refuses. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("lockscope-fuzz-in", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	return path;
}

/* A command on any input exits 0 (read, perhaps up to damage) or 1 (not a readable trace);
 * 2 would mean memory or stdout failed, which a small input must not cause. */
static inline void fuzz_expect_status(int status)
{
	if (status != 0 && status != 1) {
		fprintf(stderr, "fuzz: exit status %d on a file of bad input\n", status);
		abort();
	}
}

/* Runs RUN(ARG) with stdout on a memfd and checks its exit status as above. What it printed is
 * in *OUT (*LEN bytes, valid until the next call); its exit status is returned. */
static inline int fuzz_run_out(int (*run)(const void *arg), const void *arg, const char **out,
			       size_t *len)
{
	static int fd = -1;
	static char *buf;
	struct stat st;
	int status;

	if (fd < 0) {
		fd = memfd_create("lockscope-fuzz-out", 0);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			abort();
	}
	if (ftruncate(STDOUT_FILENO, 0) || lseek(STDOUT_FILENO, 0, SEEK_SET))
		abort();
	status = run(arg);
	fuzz_expect_status(status);
	if (fflush(stdout) || fstat(STDOUT_FILENO, &st))
		abort();
	free(buf);
	buf = malloc(st.st_size + 1);
	if (!buf || pread(STDOUT_FILENO, buf, st.st_size, 0) != st.st_size)
		abort();
	buf[st.st_size] = '\0';
	*out = buf;
	*len = st.st_size;
	return status;
}

static inline void fuzz_run(int (*run)(const void *arg), const void *arg)
{
	const char *out;
	size_t len;

	fuzz_run_out(run, arg, &out, &len);
}

/* The same, for a command that prints JSON: on success, one valid JSON document. */
static inline void fuzz_run_json(int (*run)(const void *arg), const void *arg)
{
	struct jp_value *v;
	const char *out;
	char err[256];
	size_t len;

	if (fuzz_run_out(run, arg, &out, &len) != 0)
		return;
	v = jp_parse(out, len, err, sizeof(err));
	if (!v) {
		fprintf(stderr, "fuzz: invalid JSON (%s): %.400s\n", err, out);
		abort();
	}
	jp_free(v);
}

#endif
