/* syscalls.c - picks the BPF programs that trace system calls: one flavour (syscalls.h), and in
 * it only the calls this kernel has and this recording needs. */
#include "capture/syscalls.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "util/common.h"
#include "bpf/events.h"	/* the skeleton names its types */
#include "lockscope.skel.h"

/* The calls lockscope traces; LOOP: an event loop's poll call, traced only to find loops. */
static const struct {
	const char *name;
	bool loop;
} calls[] = {
	{"futex", false},	{"futex_waitv", false},	 {"futex_wait", false},
	{"futex_wake", false},	{"futex_requeue", false}, {"poll", true},
	{"select", true},	{"epoll_wait", true},	 {"pselect6", true},
	{"ppoll", true},	{"epoll_pwait", true},	 {"epoll_pwait2", true},
	{"epoll_create", true}, {"epoll_create1", true}, /* for adopt_site (BPF) */
};

/* Section names of the tracepoint flavour's programs, before the call's name. */
static const char *const prefixes[] = {"tracepoint/syscalls/sys_enter_",
				       "tracepoint/syscalls/sys_exit_"};

#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"	/* libbpf prefers it where it exists */

int syscalls__forced(void)
{
	static const char *const names[SC__COUNT] = {"tracepoint", "raw"};
	const char *want = getenv("LOCKSCOPE_SYSCALLS");

	if (!want || !*want)
		return SC__COUNT;
	for (int f = 0; f < SC__COUNT; f++)
		if (!strcmp(want, names[f]))
			return f;
	return -EINVAL;
}

const char *syscalls__name(enum sc_flavour flavour, bool btf)
{
	if (flavour == SC_TRACEPOINT)
		return "syscall tracepoints";
	return btf ? "tp_btf sys_enter" : "raw_tp sys_enter";
}

/* The traced call a tracepoint program is for (by its section name), or -1. */
static int call_of(const struct bpf_program *p)
{
	const char *sec = bpf_program__section_name(p);

	for (size_t k = 0; k < ARRAY_SIZE(prefixes); k++) {
		size_t n = strlen(prefixes[k]);

		if (strncmp(sec, prefixes[k], n))
			continue;
		for (size_t c = 0; c < ARRAY_SIZE(calls); c++)
			if (!strcmp(sec + n, calls[c].name))
				return (int)c;
	}
	return -1;
}

/* The tracefs directory of system call events, tracefs mounted where it is not. */
static int tracefs_events(char *dir, size_t len, char *why, size_t why_len)
{
	bool debugfs = access(DEBUGFS_TRACING, F_OK) == 0;

	snprintf(dir, len, "%s/events/syscalls", debugfs ? DEBUGFS_TRACING : TRACEFS);
	if (access(dir, F_OK) == 0)
		return 0;
	if (!debugfs && mount("nodev", TRACEFS, "tracefs", 0, NULL) == 0 && access(dir, F_OK) == 0)
		return 0;
	snprintf(why, why_len, "no syscall tracepoints (%s: %s)", dir, strerror(errno));
	return -ENOENT;
}

static bool is_raw(const struct lockscope_bpf *skel, const struct bpf_program *p, bool btf)
{
	if (btf)
		return p == skel->progs.sys_enter_btf || p == skel->progs.sys_exit_btf;
	return p == skel->progs.sys_enter_raw || p == skel->progs.sys_exit_raw;
}

int syscalls__select(struct lockscope_bpf *skel, enum sc_flavour flavour, bool loops, bool btf,
		     char *why, size_t why_len)
{
	bool want[ARRAY_SIZE(calls)] = {false};
	char events[256], path[512];
	struct bpf_program *p;
	int err;

	if (flavour == SC_TRACEPOINT) {
		err = tracefs_events(events, sizeof(events), why, why_len);
		if (err)
			return err;
		for (size_t c = 0; c < ARRAY_SIZE(calls); c++) {
			snprintf(path, sizeof(path), "%s/sys_enter_%s", events, calls[c].name);
			want[c] = (loops || !calls[c].loop) && access(path, F_OK) == 0;
		}
		if (!want[0]) {
			snprintf(why, why_len, "the kernel has no syscalls:sys_enter_futex tracepoint");
			return -ENOENT;
		}
	}
	bpf_object__for_each_program(p, skel->obj) {
		int c = call_of(p);

		if (c >= 0)
			bpf_program__set_autoload(p, want[c]);
		else if (is_raw(skel, p, true) || is_raw(skel, p, false))
			bpf_program__set_autoload(p, flavour == SC_RAW && is_raw(skel, p, btf));
	}
	return 0;
}
