/* proc.h - running the lockscope binary and workloads from tests: foreground with captured
 * output, or in the background with output to files; reading whole files. */
#ifndef LOCKSCOPE_TEST_PROC_H
#define LOCKSCOPE_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The Makefile names the binary of the test's own build: `make check` runs ASan's. */
#ifndef TEST_LOCKSCOPE
#define TEST_LOCKSCOPE "build/lockscope"
#endif
#ifndef TEST_WORKLOADS
#define TEST_WORKLOADS "build/workloads"
#endif
#define LOCKSCOPE TEST_LOCKSCOPE
#define WORKLOAD(name) TEST_WORKLOADS "/" name

/* Runs CMD with /bin/sh; stdout and stderr go to malloc'd strings (caller frees; NULL ok).
 * Returns the exit status, or 128+signal. */
int sh(const char *cmd, char **out, char **err);
/* printf-style sh() with output captured. */
int shf(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Starts CMD (via /bin/sh -c "exec CMD") in the background with stdout/stderr to files. */
pid_t spawn_bg(const char *cmd, const char *out_path, const char *err_path);
/* Waits for PID up to TIMEOUT_S; exit status, 128+signal, or -1 on timeout (then kills it). */
int wait_for(pid_t pid, double timeout_s);
/* Polls PATH until it contains NEEDLE or TIMEOUT_S passes. */
bool wait_for_text(const char *path, const char *needle, double timeout_s);
/* The whole file as a string (caller frees), or NULL. */
char *slurp(const char *path);
/* A fresh directory under /tmp for one test (caller need not remove it). */
const char *test_dir(void);
/* SIGKILLs PID's descendants, deepest first, then PID itself unless it is the caller. */
void kill_tree(pid_t pid);
/* Stops the server *PID (0: none) started by spawn_bg(): SIGTERM, 30 s to exit, then
 * kill_tree(). *PID is 0 after. */
void stop_server_pid(pid_t *pid);
/* The `python3` that PATH finds, resolved past a pyenv shim to the real ELF interpreter (a
 * shell script is not what must be read or recorded); "" if there is none. Static storage. */
const char *python3_path(void);
/* The newest pyenv build of 3.MINOR (in $PYENV_ROOT or ~/.pyenv) into BUF, or NULL. */
const char *pyenv_python(int minor, char *buf, size_t len);
/* One CPython interpreter the tests run on. */
struct test_python {
	char path[4096];	/* the ELF interpreter, resolved past symlinks and pyenv shims */
	int minor;		/* CPython 3.MINOR */
	char label[64];		/* "3.12 (pyenv)", "3.11 (Debian)": for messages */
};

/* The CPython interpreters to test, each once: pyenv's 3.10, 3.11 (the `python3` that PATH
 * finds, resolved to its ELF), 3.12 and 3.13 under $PYENV_ROOT (or ~/.pyenv), and Debian's
 * /usr/bin/python3.11; those that are there. LOCKSCOPE_TEST_PYTHONS (colon-separated paths)
 * replaces the list. *LIST is static storage. */
size_t test_pythons(const struct test_python **list);
/* One line naming the interpreters of the list that test_pythons() could not find ("" when
 * none is missing). Static storage. */
const char *test_pythons_missing(void);
/* Runs CHECK on every interpreter of test_pythons() (none at all fails the test), and kills
 * and reaps what each run left behind, and empties test_dir(), before the next. */
void on_every_python(void (*check)(const struct test_python *py));
/* The environment variable that makes a missing interpreter a failure (set by .ci/run). */
#define TEST_REQUIRE_PYTHONS "LOCKSCOPE_REQUIRE_PYTHONS"

/* Number of lines in S. */
int count_lines(const char *s);

#endif
