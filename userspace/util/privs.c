/* privs.c - capabilities read with capget(2), the setuid refusal, and the states of a process
 * (kernel thread, zombie, protected) that make it impossible to read, told as they are. */
#include "util/privs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/common.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */

bool ls_privs_borrowed(void)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) || getresgid(&rgid, &egid, &sgid))
		return true;
	return ruid != euid || rgid != egid;
}

/* The effective capability set, as 64 bits. 0 if it cannot be read. */
static uint64_t effective(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {{0}};

	if (syscall(SYS_capget, &h, d))
		return 0;
	return d[0].effective | (uint64_t)d[1].effective << 32;
}

static bool has(uint64_t set, int cap)
{
	return set >> cap & 1;
}

int ls_privs_record(char *missing, size_t len)
{
	uint64_t eff = effective();
	/* the kernel's bpf_capable() and perfmon_capable() take CAP_SYS_ADMIN for either */
	bool admin = has(eff, CAP_SYS_ADMIN);
	const struct {
		int cap;
		const char *name;
		bool ok;
	} need[] = {
	    {CAP_BPF, "CAP_BPF", admin},
	    {CAP_PERFMON, "CAP_PERFMON", admin},
	    {CAP_SYS_PTRACE, "CAP_SYS_PTRACE", false},
	};
	size_t n = 0;

	if (len)
		missing[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		if (need[i].ok || has(eff, need[i].cap))
			continue;
		if (n < len)
			n += snprintf(missing + n, len - n, "%s%s", n ? ", " : "", need[i].name);
	}
	return n ? -EPERM : 0;
}

bool ls_privs_ptrace(void)
{
	return has(effective(), CAP_SYS_PTRACE);
}

pid_t ls_tgid_of(pid_t id)
{
	char path[40], line[128];
	pid_t tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)id);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && sscanf(line, "Tgid: %d", &tgid) != 1)
		;
	fclose(f);
	return tgid;
}

/* The state letter of /proc/PID/task/TID/stat; 0 if unreadable. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p, state = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p)
		sscanf(p + 1, " %c", &state);
	return state;
}

struct live_search {
	pid_t pid, found;
};

static int live_thread(void *arg, pid_t tid)
{
	struct live_search *ls = arg;
	char st = thread_state(ls->pid, tid);

	if (st && st != 'Z' && st != 'X') {
		ls->found = tid;
		return 1;
	}
	return 0;
}

pid_t ls_process_reader(pid_t pid)
{
	struct live_search ls = {pid, 0};
	char st = thread_state(pid, pid);

	if (st != 'Z' && st != 'X')
		return pid;
	ls_each_thread(pid, live_thread, &ls);
	return ls.found ? ls.found : pid;
}

enum ls_target_state ls_target_state(pid_t pid)
{
	char path[32], buf[512], *p, state;
	unsigned long flags;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return LS_TARGET_GONE;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return LS_TARGET_GONE;
	buf[n] = '\0';
	/* "pid (comm) S ppid pgrp session tty tpgid flags ...": comm may hold ") " itself */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return LS_TARGET_GONE;
	if (flags & PF_KTHREAD)
		return LS_TARGET_KTHREAD;
	if ((state == 'Z' || state == 'X') && ls_process_reader(pid) != pid)
		return ls_target_state(ls_process_reader(pid));	/* its threads live on */
	if (state == 'Z' || state == 'X')
		return LS_TARGET_ZOMBIE;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? LS_TARGET_GONE : LS_TARGET_DENIED;
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? LS_TARGET_GONE : LS_TARGET_NOT_OURS;
	close(fd);
	return LS_TARGET_OK;
}

/* "user alice" or "uid 1234": who owns PID. */
static const char *owner(pid_t pid, char *buf, size_t len)
{
	char path[32];
	struct passwd *pw;
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st))
		return "another user";
	pw = getpwuid(st.st_uid);
	if (pw)
		snprintf(buf, len, "user %s", pw->pw_name);
	else
		snprintf(buf, len, "uid %u", (unsigned int)st.st_uid);
	return buf;
}

const char *ls_target_why(pid_t pid, enum ls_target_state state, const char *verb, char *buf,
			  size_t len)
{
	char comm[64], who[96], user[64];

	ls_read_proc(pid, "comm", comm, sizeof(comm), false);
	for (char *p = comm; *p; p++) /* the process chose its name: no escape sequences */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (comm[0])
		snprintf(who, sizeof(who), "process %d (%s)", (int)pid, comm);
	else
		snprintf(who, sizeof(who), "process %d", (int)pid);
	if (state == LS_TARGET_GONE)
		snprintf(buf, len, "no such process: %d", (int)pid);
	else if (state == LS_TARGET_KTHREAD)
		snprintf(buf, len, "%s is a kernel thread: nothing to %s", who, verb);
	else if (state == LS_TARGET_ZOMBIE)
		snprintf(buf, len, "%s exited (zombie): nothing to %s", who, verb);
	else if (state == LS_TARGET_NOT_OURS)
		snprintf(buf, len,
			 "%s belongs to %s: reading its threads (/proc/%d/task/*/syscall, "
			 "mode 0400) needs CAP_DAC_READ_SEARCH as well, or root",
			 who, owner(pid, user, sizeof(user)), (int)pid);
	else if (!ls_privs_ptrace())
		snprintf(buf, len, "not permitted to read %s: that needs CAP_SYS_PTRACE (or root)",
			 who);
	else if (pid == 1)
		snprintf(buf, len,
			 "%s is a protected init: the kernel refuses to let it be read, even "
			 "with CAP_SYS_PTRACE",
			 who);
	else
		snprintf(buf, len,
			 "not permitted to read %s: the kernel refuses it even with "
			 "CAP_SYS_PTRACE (a security policy protects it)",
			 who);
	return buf;
}
