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
/* The `python3` that PATH finds, resolved past a pyenv shim to the real ELF interpreter (a
 * shell script is not what must be read or recorded); "" if there is none. Static storage. */
const char *python3_path(void);
/* The newest pyenv build of 3.MINOR (in $PYENV_ROOT or ~/.pyenv) into BUF, or NULL. */
const char *pyenv_python(int minor, char *buf, size_t len);
/* Number of lines in S. */
int count_lines(const char *s);

#endif
