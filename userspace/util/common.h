/* common.h - exit statuses of the commands and the one-line error format users see.
 * Commands return an exit status; everything below them returns 0 or a negative errno. */
#ifndef LOCKSCOPE_COMMON_H
#define LOCKSCOPE_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum ls_exit {
	LS_EXIT_OK = 0,
	LS_EXIT_INPUT = 1,	/* bad usage or bad input */
	LS_EXIT_SYSTEM = 2,	/* the system refused: no such PID, not permitted, missing feature */
};

/* Prints "lockscope: WHAT: MESSAGE\n" on stderr, as one line; errno is left as it was. */
void ls_err(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for notes that are not errors ("lockscope: report: app.lsz: file is cut ..."). */
#define ls_note ls_err

/* A status line kept at the foot of a terminal (stderr): ls_status(LINE) draws LINE over the
 * last one, cut to the terminal's width so that it never wraps; ls_err() erases it before its
 * message, and the next ls_status() draws it again below; ls_status(NULL) erases it. Only for
 * a terminal: the caller checks isatty(). */
void ls_status(const char *line);
/* Erases the status line if one is shown, before other output to stderr. */
void ls_status_clear(void);

/* The exit status for a file that cannot be opened or created with errno ERR: a bad path is the
 * user's to fix (1); the rest (a full disk, no permission) is the system refusing (2). */
int ls_path_status(int err);

/* CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads, so BPF and userspace times
 * compare. */
uint64_t ls_mono_ns(void);

/* CPU time PID has used, in ns, over all its threads: the process CPU clock, which counts the
 * running threads' time up to now (schedstat lags by up to a tick, as much as a short stretch
 * lasts). 0 if the process is gone. */
uint64_t ls_process_cpu_ns(pid_t pid);

/* Makes room for NEED elements of SIZE bytes in the array *ITEMS (a pointer to a pointer) of
 * capacity *CAP, doubling. 0 or -ENOMEM; on failure the array is unchanged. */
int ls_reserve(void *items, size_t *cap, size_t need, size_t size);

/* Nanoseconds for people: "850 ns", "12.35 us", "3.20 ms", "2.001 s" in BUF; returns BUF. */
const char *ls_human_ns(uint64_t ns, char *buf, size_t len);

/* /proc/PID/WHAT ("comm", "cmdline") into BUF as one line: ARGS turns the NULs between
 * arguments into spaces, and drops the padding after the last one (a process title that
 * redis or PostgreSQL rewrote keeps the old length in spaces). "" if it cannot be read. */
void ls_read_proc(pid_t pid, const char *what, char *buf, size_t len, bool args);

/* Cuts S's trailing white space (spaces, tabs, newlines) in place; returns S. */
char *ls_rtrim(char *s);

/* Calls FN for every thread of PID (/proc/PID/task), until it returns non-zero: 0, FN's return,
 * or -errno if the threads cannot be listed (-ENOENT: no such process). */
int ls_each_thread(pid_t pid, int (*fn)(void *arg, pid_t tid), void *arg);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
