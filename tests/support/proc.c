/* proc.c - process helpers for the e2e tests: everything runs for real, output is captured
 * to files and read back; timeouts kill what hangs so that a test fails instead of stalling. */
#include "proc.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0, got;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

const char *test_dir(void)
{
	static char dir[64];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/lockscope-test.XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int sh(const char *cmd, char **out, char **err)
{
	char o[128], e[128], *full;
	int st;

	snprintf(o, sizeof(o), "%s/sh.out", test_dir());
	snprintf(e, sizeof(e), "%s/sh.err", test_dir());
	if (asprintf(&full, "(%s) >%s 2>%s </dev/null", cmd, o, e) < 0)
		abort();
	st = system(full);
	free(full);
	if (out)
		*out = slurp(o);
	if (err)
		*err = slurp(e);
	return status_of(st);
}

int shf(char **out, char **err, const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	rc = sh(cmd, out, err);
	free(cmd);
	return rc;
}

pid_t spawn_bg(const char *cmd, const char *out_path, const char *err_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *full;

		if (asprintf(&full, "exec %s >%s 2>%s </dev/null", cmd, out_path, err_path) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", full, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int wait_for(pid_t pid, double timeout_s)
{
	double end = now_s() + timeout_s;
	int st;

	while (now_s() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return status_of(st);
		if (r < 0)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

bool wait_for_text(const char *path, const char *needle, double timeout_s)
{
	double end = now_s() + timeout_s;

	while (now_s() < end) {
		char *s = slurp(path);
		bool found = s && strstr(s, needle);

		free(s);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

void kill_tree(pid_t pid)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		pid_t child = atoi(de->d_name);

		if (child > 0 && parent_of(child) == pid)
			kill_tree(child);
	}
	if (d)
		closedir(d);
	if (pid != getpid())	/* kill_tree(getpid()): every descendant, not the test itself */
		kill(pid, SIGKILL);
}

void stop_server_pid(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		if (wait_for(*pid, 30) < 0)
			kill_tree(*pid);
	}
	*pid = 0;
}

const char *python3_path(void)
{
	static char path[4096];
	char *out = NULL;

	if (!path[0] && sh("python3 -c 'import os, sys; print(os.path.realpath(sys.executable))'",
			   &out, NULL) == 0 && out) {
		snprintf(path, sizeof(path), "%s", out);
		path[strcspn(path, "\n")] = '\0';
	}
	free(out);
	return path;
}

/* The newest pyenv build of 3.MINOR, or NULL. */
const char *pyenv_python(int minor, char *buf, size_t len)
{
	const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");
	char pattern[512];
	glob_t g;

	if (root)
		snprintf(pattern, sizeof(pattern), "%s/versions/3.%d.*/bin/python3.%d", root, minor,
			 minor);
	else
		snprintf(pattern, sizeof(pattern), "%s/.pyenv/versions/3.%d.*/bin/python3.%d",
			 home ? home : "/root", minor, minor);
	if (glob(pattern, 0, NULL, &g) || !g.gl_pathc)
		return NULL;
	snprintf(buf, len, "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	return buf;
}

/* ---- the interpreters under test ---- */

#define MAX_PYTHONS 16

static struct test_python pythons[MAX_PYTHONS];
static size_t npythons;
static char missing[1024];
static bool pythons_found;

/* 3.MINOR of the interpreter at PATH: from its file name (python3.12), else by asking it. */
static int python_minor(const char *path)
{
	const char *base = strrchr(path, '/');
	char *out = NULL;
	int minor = -1;

	base = base ? base + 1 : path;
	if (sscanf(base, "python3.%d", &minor) == 1 && minor >= 0)
		return minor;
	if (shf(&out, NULL, "'%s' -c 'import sys; print(sys.version_info[1] if "
		"sys.version_info[0] == 3 else -1)'", path) == 0 && out)
		minor = atoi(out);
	else
		minor = -1;
	free(out);
	return minor;
}

static void missing_add(const char *what)
{
	size_t used = strlen(missing);

	snprintf(missing + used, sizeof(missing) - used, "%s%s", used ? ", " : "", what);
}

/* Adds PATH (if there is such an executable and it is not in the list yet) as LABEL; WHAT
 * names it in the missing line otherwise. */
static void python_add(const char *path, const char *label, const char *what)
{
	char real[4096];
	struct test_python *p;

	if (!path || !path[0] || access(path, X_OK) || !realpath(path, real)) {
		missing_add(what);
		return;
	}
	for (size_t i = 0; i < npythons; i++)
		if (!strcmp(pythons[i].path, real))
			return;
	if (npythons == MAX_PYTHONS)
		return;
	p = &pythons[npythons++];
	snprintf(p->path, sizeof(p->path), "%s", real);
	p->minor = python_minor(real);
	if (label)
		snprintf(p->label, sizeof(p->label), "3.%d (%s)", p->minor, label);
	else
		snprintf(p->label, sizeof(p->label), "3.%d (%.50s)", p->minor, real);
}

static void pythons_find(void)
{
	const char *env = getenv("LOCKSCOPE_TEST_PYTHONS");
	char buf[4096], what[64];
	const char *py3;

	pythons_found = true;
	if (env) {
		char *list = strdup(env), *save = NULL;

		for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
			python_add(p, NULL, p);
		free(list);
		return;
	}
	python_add(pyenv_python(10, buf, sizeof(buf)), "pyenv", "pyenv 3.10");
	/* pyenv's 3.11 is the python3 of these machines; a bare Debian's is Debian's own */
	py3 = python3_path();
	if (!py3[0] || !strcmp(py3, "/usr/bin/python3.11") || python_minor(py3) != 11)
		py3 = pyenv_python(11, buf, sizeof(buf));
	python_add(py3, "pyenv", "pyenv 3.11");
	for (int minor = 12; minor <= 13; minor++) {
		snprintf(what, sizeof(what), "pyenv 3.%d", minor);
		python_add(pyenv_python(minor, buf, sizeof(buf)), "pyenv", what);
	}
	python_add("/usr/bin/python3.11", "Debian", "Debian's /usr/bin/python3.11");
}

size_t test_pythons(const struct test_python **list)
{
	if (!pythons_found)
		pythons_find();
	*list = pythons;
	return npythons;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level > 0)	/* everything under the test directory, not itself */
		remove(path);
	return 0;
}

void on_every_python(void (*check)(const struct test_python *py))
{
	const struct test_python *py;
	size_t n = test_pythons(&py);

	cr_assert_gt(n, 0, "no CPython interpreter to test (%s)", test_pythons_missing());
	for (size_t i = 0; i < n; i++) {
		double end;

		cr_log_info("on CPython %s: %s", py[i].label, py[i].path);
		check(&py[i]);
		kill_tree(getpid());
		for (end = now_s() + 5; now_s() < end;) {
			pid_t r = waitpid(-1, NULL, WNOHANG);

			if (r < 0)
				break;	/* no children left */
			if (r == 0)
				usleep(10000);
		}
		/* the next run's files start empty: a waiter for a line must not find the last's */
		nftw(test_dir(), remove_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

const char *test_pythons_missing(void)
{
	if (!pythons_found)
		pythons_find();
	return missing;
}
