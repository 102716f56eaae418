/* test_outfile.c - output files: private (0600), put in place only when whole, the old one kept
 * as NAME.old, never written through a symlink, devices and stdout written as they are. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/outfile.h"

static char dir[64], path[128], old[160];

static void setup(void)
{
	strcpy(dir, "/tmp/lockscope-test-outfile-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.lsz", dir);
	snprintf(old, sizeof(old), "%s.old", path);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(outfile, .init = setup, .fini = teardown);

static void put(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void expect_text(const char *p, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(p, "r");
	size_t n;

	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	cr_assert_str_eq(buf, want, "%s", p);
}

/* Files in the directory: the temporaries must all be gone. */
static size_t entries(void)
{
	char pattern[96];
	glob_t g;
	size_t n;

	snprintf(pattern, sizeof(pattern), "%s/*", dir);
	if (glob(pattern, GLOB_PERIOD, NULL, &g))
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n - 2; /* . and .. */
}

static void write_text(struct outfile *f, const char *text)
{
	cr_assert_eq(write(outfile__fd(f), text, strlen(text)), (ssize_t)strlen(text));
}

Test(outfile, a_new_file_is_private_and_appears_only_when_closed)
{
	struct outfile *f = outfile__open(path);
	struct stat st;

	umask(022);
	cr_assert_not_null(f, "%s", strerror(errno));
	write_text(f, "trace");
	cr_assert_eq(access(path, F_OK), -1, "in place before it is whole");
	cr_assert_eq(entries(), 1, "the temporary is beside its target");
	cr_assert_eq(outfile__close(f, true), 0);
	expect_text(path, "trace");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	cr_assert_eq(entries(), 1);
}

Test(outfile, an_existing_file_is_kept_as_old)
{
	struct outfile *f;

	put(path, "first");
	f = outfile__open(path);
	cr_assert_not_null(f);
	write_text(f, "second");
	cr_assert_eq(outfile__close(f, true), 0);
	expect_text(path, "second");
	expect_text(old, "first");
	/* once more: the last one is the old one now */
	f = outfile__open(path);
	write_text(f, "third");
	cr_assert_eq(outfile__close(f, true), 0);
	expect_text(path, "third");
	expect_text(old, "second");
	cr_assert_eq(entries(), 2);
}

Test(outfile, a_failed_output_leaves_the_existing_file_and_no_temporary)
{
	struct outfile *f;

	put(path, "good");
	f = outfile__open(path);
	cr_assert_not_null(f);
	write_text(f, "half");
	cr_assert_eq(outfile__close(f, false), 0);
	expect_text(path, "good");
	cr_assert_eq(access(old, F_OK), -1);
	cr_assert_eq(entries(), 1);
}

Test(outfile, a_symlink_at_the_name_is_replaced_not_followed)
{
	char victim[160];
	struct outfile *f;
	struct stat st;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put(victim, "secret");
	cr_assert_eq(symlink(victim, path), 0);
	f = outfile__open(path);
	cr_assert_not_null(f);
	write_text(f, "trace");
	cr_assert_eq(outfile__close(f, true), 0);
	expect_text(victim, "secret");
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	expect_text(path, "trace");
	cr_assert_eq(lstat(old, &st), 0, "the link is kept as NAME.old");
	cr_assert(S_ISLNK(st.st_mode));
}

Test(outfile, a_published_file_is_in_place_while_written_and_stays_on_failure)
{
	struct outfile *f;

	put(path, "old");
	f = outfile__open(path);
	cr_assert_not_null(f);
	write_text(f, "head ");
	cr_assert_eq(outfile__publish(f), 0);
	expect_text(path, "head ");
	expect_text(old, "old");
	write_text(f, "more");
	cr_assert_eq(outfile__publish(f), 0, "a second publish does nothing");
	cr_assert_eq(outfile__close(f, false), 0);
	expect_text(path, "head more");
	cr_assert_eq(entries(), 2);
}

Test(outfile, devices_stdout_and_scratch_are_written_as_they_are)
{
	struct outfile *f;
	struct stat st;

	f = outfile__open("/dev/null");
	cr_assert_not_null(f);
	cr_assert_str_eq(outfile__name(f), "/dev/null");
	write_text(f, "x");
	cr_assert_eq(outfile__close(f, true), 0);
	cr_assert_eq(stat("/dev/null", &st), 0);
	cr_assert(S_ISCHR(st.st_mode));
	cr_assert_eq(access("/dev/null.old", F_OK), -1);

	f = outfile__open("-");
	cr_assert_not_null(f);
	cr_assert_eq(outfile__fd(f), STDOUT_FILENO);
	cr_assert_eq(outfile__stream(f), stdout);
	cr_assert_eq(outfile__close(f, true), 0);
	cr_assert_eq(fcntl(STDOUT_FILENO, F_GETFD), 0, "stdout stays open");

	f = outfile__open(NULL);
	cr_assert_not_null(f, "%s", strerror(errno));
	write_text(f, "scratch");
	cr_assert_eq(outfile__publish(f), 0);
	cr_assert_eq(outfile__close(f, true), 0);
}

Test(outfile, a_directory_or_a_missing_directory_is_refused)
{
	char missing[160];

	cr_assert_null(outfile__open(dir));
	cr_assert_eq(errno, EISDIR);
	snprintf(missing, sizeof(missing), "%s/no/such", dir);
	cr_assert_null(outfile__open(missing));
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(entries(), 0);
}

/* A full device reports the failure at close: nothing is put anywhere. */
Test(outfile, a_stream_that_cannot_be_written_fails_at_close)
{
	struct outfile *f;
	FILE *s;

	f = outfile__open("/dev/full");
	cr_assert_not_null(f);
	s = outfile__stream(f);
	cr_assert_not_null(s);
	fputs("x", s);
	cr_assert_eq(outfile__close(f, true), -ENOSPC);
}
