/* fuzz.h - what the libFuzzer targets share: each input becomes a trace file (a memfd named by
 * its /proc/self/fd path) that the commands open as they open a user's, and the contract check. */
#ifndef LOCKSCOPE_FUZZ_H
#define LOCKSCOPE_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The input as a file; the path stays valid until the next call. Commands print to stdout:
 * that goes to /dev/null, out of the fuzzer's way. Aborts if the system refuses. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		int null = open("/dev/null", O_WRONLY);

		fd = memfd_create("lockscope-fuzz", 0);
		if (fd < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
			abort();
		close(null);
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

#endif
