/* test_fuzz.c - the fuzzers' committed corpus (tests/fuzz/corpus/NAME) and every input one
 * crashed on (tests/fuzz/regressions/NAME), replayed through fuzz target NAME itself: its checks
 * (exit status, JSON that parses, records that round-trip) abort on a regression, and
 * `make check` adds ASan's and UBSan's. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "lsz.h"

static const char *const dirs[] = {"tests/fuzz/corpus", "tests/fuzz/regressions"};

/* CHECKSUMS: the target's inputs are trace files, whose checksums a fuzz build skips: each is
 * replayed as it is, then with its checksums made to hold, to reach what the fuzzer reached. */
static const struct {
	const char *name;
	int (*run)(const uint8_t *data, size_t size);
	bool checksums;
} targets[] = {
	{"fuzz_trace", fuzz_target_trace, true},   {"fuzz_report", fuzz_target_report, true},
	{"fuzz_graph", fuzz_target_graph, true},   {"fuzz_export", fuzz_target_export, true},
	{"fuzz_records", fuzz_target_records, false},
	{"fuzz_perfetto", fuzz_target_perfetto, true}, {"fuzz_pprof", fuzz_target_pprof, true},
	{"fuzz_timeline", fuzz_target_timeline, true},
};

/* Replays every file of DIR through RUN; the number replayed. */
static int replay_dir(const char *dir, int (*run)(const uint8_t *data, size_t size),
		      bool checksums)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d))) {
		char path[512];
		size_t len;
		uint8_t *data;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "rb");
		cr_assert(f, "%s", path);
		data = malloc(1 << 20);
		len = fread(data, 1, 1 << 20, f);
		fclose(f);
		cr_assert_lt(len, (size_t)1 << 20, "%s: larger than a regression input should be", path);
		/* the log holds the last input's name and output: after a crash, the culprit's */
		cr_assert(!ftruncate(STDERR_FILENO, 0) && !lseek(STDERR_FILENO, 0, SEEK_SET));
		dprintf(STDERR_FILENO, "replaying %s\n", path);
		run(data, len);
		if (checksums) {
			lsz_fix_checksums(data, len);
			run(data, len);
		}
		free(data);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

Test(fuzz, committed_inputs_replay_cleanly_through_every_target)
{
	char log[64];
	int fd;

	/* the commands' notes on these inputs would flood the output: stderr goes to a log */
	snprintf(log, sizeof(log), "/tmp/lockscope-fuzz-replay.%d.log", (int)getpid());
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0 && dup2(fd, STDERR_FILENO) >= 0, "%s", log);
	close(fd);
	cr_log_info("replay log (after a crash: the input and the report): %s", log);
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		char dir[256];
		int n = 0;

		for (size_t j = 0; j < sizeof(dirs) / sizeof(dirs[0]); j++) {
			snprintf(dir, sizeof(dir), "%s/%s", dirs[j], targets[i].name);
			n += replay_dir(dir, targets[i].run, targets[i].checksums);
		}
		cr_assert_gt(n, 0, "no committed inputs for %s", targets[i].name);
	}
	unlink(log);
}
