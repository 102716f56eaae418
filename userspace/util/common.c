/* common.c - the one-line error format shared by every command, and small helpers they share. */
#include "util/common.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

void ls_err(const char *what, const char *fmt, ...)
{
	int saved = errno; /* callers say what failed, then act on errno */
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one line, whatever the message held */
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	ls_status_clear();
	fprintf(stderr, "lockscope: %s: %s\n", what, buf);
	errno = saved;
}

static bool status_shown;

void ls_status_clear(void)
{
	if (!status_shown)
		return;
	fputs("\r\033[K", stderr);
	status_shown = false;
}

void ls_status(const char *line)
{
	int saved = errno;
	struct winsize ws;
	int width = 80;

	if (!line) {
		ls_status_clear();
		return;
	}
	if (!ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 1)
		width = ws.ws_col;
	/* a line that wrapped could not be drawn over: one column short of the width */
	fprintf(stderr, "\r\033[K%.*s", width - 1, line);
	fflush(stderr);
	status_shown = true;
	errno = saved;
}

int ls_reserve(void *items, size_t *cap, size_t need, size_t size)
{
	void **p = items, *n;
	size_t c = *cap ? *cap : 8;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*p, c * size);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = c;
	return 0;
}

uint64_t ls_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t ls_process_cpu_ns(pid_t pid)
{
	struct timespec ts;
	clockid_t clock;

	if (clock_getcpuclockid(pid, &clock) || clock_gettime(clock, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

const char *ls_human_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.3f s", ns / 1e9);
	return buf;
}

void ls_read_proc(pid_t pid, const char *what, char *buf, size_t len, bool args)
{
	char path[64];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n' || (args && buf[i] == '\0' && i + 1 < n))
			buf[i] = args && buf[i] == '\0' ? ' ' : '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	if (args)
		ls_rtrim(buf);
}

char *ls_rtrim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static pid_t parse_tid(const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(name, &end, 10);
	return errno || end == name || *end || v <= 0 || v > INT32_MAX ? 0 : (pid_t)v;
}

int ls_each_thread(pid_t pid, int (*fn)(void *arg, pid_t tid), void *arg)
{
	struct dirent *de;
	char path[64];
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir))) {
		pid_t tid = parse_tid(de->d_name);

		if (tid)
			err = fn(arg, tid);
	}
	closedir(dir);
	return err;
}

int ls_path_status(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
	case ELOOP:
		return LS_EXIT_INPUT;
	default:
		return LS_EXIT_SYSTEM;
	}
}
