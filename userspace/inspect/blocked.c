/* blocked.c - finds the threads that were already waiting when we attached: a hung process makes
 * no new events, so its waits are read from /proc and its memory instead of from probes. */
#include "inspect/blocked.h"

#include <inttypes.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/common.h"
#include "bpf/events.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449	/* the same number on every architecture (Linux 5.16) */
#endif

#define FUTEX_CMD_MASK 0x7f	/* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
#define MIN_PAGE 4096
#define MAX_IOV (BLOCKED_STACK_MAX / MIN_PAGE + 2)

/* The first futex of futex_waitv(2)'s vector (uapi struct futex_waitv). */
struct waitv_entry {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

struct wait_list {
	struct blocked_wait *items;
	size_t n, cap;
};

int blocked__syscall_line(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t got;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, len - 1);
	if (got < 0)
		err = -errno;
	else
		buf[got] = '\0';
	close(fd);
	return err;
}

/* "NR 0xA1 .. 0xA6 0xSP 0xPC": a thread inside a system call; "running": on a CPU;
 * "-1 0xSP 0xPC": asleep outside any system call. */
int blocked__parse_syscall(const char *line, struct blocked_sys *s)
{
	unsigned long long a[8];
	int n;

	memset(s, 0, sizeof(*s));
	if (!strcmp(line, "running") || !strcmp(line, "running\n")) {
		s->state = BLOCKED_SYS_RUNNING;
		return 0;
	}
	n = sscanf(line, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &s->nr, &a[0], &a[1],
		   &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]);
	if (n == 3 && s->nr == -1) {
		s->state = BLOCKED_SYS_NONE;
		s->sp = a[0];
		s->ip = a[1];
		return 0;
	}
	if (n != 9 || s->nr < 0)
		return -EINVAL;
	s->state = BLOCKED_SYS_CALL;
	for (int i = 0; i < 6; i++)
		s->args[i] = a[i];
	s->sp = a[6];
	s->ip = a[7];
	return 0;
}

/* /proc/PID/mem, for where process_vm_readv(2) is filtered out (some seccomp profiles). */
static size_t read_mem_file(pid_t pid, uint64_t addr, uint8_t *buf, size_t len)
{
	size_t page = sysconf(_SC_PAGESIZE), done = 0;
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (done < len) {
		size_t want = page - (addr + done) % page;
		ssize_t got;

		if (want > len - done)
			want = len - done;
		got = pread(fd, buf + done, want, (off_t)(addr + done));
		if (got <= 0)
			break;
		done += got;
		if ((size_t)got < want)
			break;
	}
	close(fd);
	return done;
}

/* One remote iovec per page: process_vm_readv(2) never splits an iovec, so a read that runs
 * off the end of a mapping still yields the pages before it. */
size_t blocked__read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len}, remote[MAX_IOV];
	size_t page = sysconf(_SC_PAGESIZE), off = 0;
	int niov = 0;
	ssize_t got;

	if (len > BLOCKED_STACK_MAX)
		len = local.iov_len = BLOCKED_STACK_MAX;
	while (off < len && niov < MAX_IOV) {
		size_t piece = page - (addr + off) % page;

		if (piece > len - off)
			piece = len - off;
		remote[niov].iov_base = (void *)(uintptr_t)(addr + off);
		remote[niov++].iov_len = piece;
		off += piece;
	}
	got = process_vm_readv(pid, &local, 1, remote, niov, 0);
	if (got >= 0)
		return got;
	if (errno == ENOSYS || errno == EPERM)
		return read_mem_file(pid, addr, buf, len);
	return 0;	/* EFAULT: the first page is unmapped; ESRCH: the process is gone */
}

bool blocked__futex_waits(uint64_t op)
{
	uint32_t cmd = (uint32_t)op & FUTEX_CMD_MASK;

	/* FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2 */
	return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
}

/* Fills W's wait from the syscall's arguments; false if S is not a futex wait we can place. */
static bool wait_of(pid_t pid, const struct blocked_sys *s, struct blocked_wait *w)
{
	struct waitv_entry w0;
	uint32_t cmd;

	if (s->nr == SYS_futex_waitv) {
		if (s->args[1] < 1 ||
		    blocked__read_mem(pid, s->args[0], &w0, sizeof(w0)) != sizeof(w0))
			return false;
		w->fclass = LS_FUTEX_WAITV;
		w->uaddr = w0.uaddr;
		w->op = 0;
		w->val = (uint32_t)w0.val;
		return true;
	}
	if (s->nr != SYS_futex)
		return false;
	cmd = (uint32_t)s->args[1] & FUTEX_CMD_MASK;
	if (!blocked__futex_waits(s->args[1]))
		return false;
	w->fclass = cmd == 6 || cmd == 13 ? LS_FUTEX_LOCK_PI : LS_FUTEX_WAIT;
	w->uaddr = s->args[0];
	w->op = (uint32_t)s->args[1];
	w->val = (uint32_t)s->args[2];
	return true;
}

int blocked__read_thread(pid_t pid, pid_t tid, struct blocked_wait *w)
{
	char before[256], after[256];
	struct blocked_sys s;
	int err;

	memset(w, 0, sizeof(*w));
	err = blocked__syscall_line(pid, tid, before, sizeof(before));
	if (err == -EACCES || err == -EPERM)
		return err;
	if (err || blocked__parse_syscall(before, &s) || s.state != BLOCKED_SYS_CALL ||
	    !wait_of(pid, &s, w))
		return 0;
	w->tid = tid;
	w->ip = s.ip;
	w->sp = s.sp;
	w->words_ok = blocked__read_mem(pid, w->uaddr, w->words, sizeof(w->words)) ==
		      sizeof(w->words);
	if (!w->words_ok)
		memset(w->words, 0, sizeof(w->words));
	w->stack = malloc(BLOCKED_STACK_MAX);
	if (!w->stack)
		return -ENOMEM;
	w->stack_len = blocked__read_mem(pid, s.sp, w->stack, BLOCKED_STACK_MAX);
	/* still the same wait at the same place: the words and the stack are not torn */
	err = blocked__syscall_line(pid, tid, after, sizeof(after));
	if (err || strcmp(before, after)) {
		free(w->stack);
		w->stack = NULL;
		return err == -EACCES || err == -EPERM ? err : 0;
	}
	if (w->stack_len == 0) {
		free(w->stack);
		w->stack = NULL;
	} else if (w->stack_len < BLOCKED_STACK_MAX) {
		uint8_t *fit = realloc(w->stack, w->stack_len);

		if (fit)
			w->stack = fit;
	}
	return 1;
}

bool blocked__polls(const struct blocked_sys *s)
{
	if (s->state != BLOCKED_SYS_CALL)
		return false;
	switch (s->nr) {
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
#endif
	case SYS_epoll_pwait:
	case 441:	/* epoll_pwait2, the same on every architecture (Linux 5.11) */
		return true;
#ifdef SYS_select
	case SYS_select:
#endif
	case SYS_pselect6:
		return s->args[0] != 0;		/* nfds */
#ifdef SYS_poll
	case SYS_poll:
#endif
	case SYS_ppoll:
		return s->args[1] != 0;		/* nfds */
	default:
		return false;
	}
}

int blocked__thread_stack(pid_t pid, pid_t tid, bool *polls, uint64_t *ip, uint64_t *sp,
			  uint8_t *buf, size_t *len)
{
	char before[256], after[256];
	struct blocked_sys s;
	int err = blocked__syscall_line(pid, tid, before, sizeof(before));

	if (err == -EACCES || err == -EPERM)
		return err;
	/* "-1 0xSP 0xPC": off CPU outside a system call (preempted): its user registers too */
	if (err || blocked__parse_syscall(before, &s) || s.state == BLOCKED_SYS_RUNNING)
		return 0;
	*polls = blocked__polls(&s);
	*ip = s.ip;
	*sp = s.sp;
	*len = blocked__read_mem(pid, s.sp, buf, *len);
	err = blocked__syscall_line(pid, tid, after, sizeof(after));
	if (err == -EACCES || err == -EPERM)
		return err;
	return !err && !strcmp(before, after) && *len;
}

bool blocked__still_waiting(pid_t pid, const struct blocked_wait *w)
{
	struct blocked_wait now = {0};
	struct blocked_sys s;
	char line[256];

	return !blocked__syscall_line(pid, w->tid, line, sizeof(line)) &&
	       !blocked__parse_syscall(line, &s) && s.state == BLOCKED_SYS_CALL &&
	       wait_of(pid, &s, &now) && now.uaddr == w->uaddr && now.op == w->op &&
	       s.sp == w->sp && s.ip == w->ip;
}

static int list_push(struct wait_list *l, const struct blocked_wait *w)
{
	if (ls_reserve(&l->items, &l->cap, l->n + 1, sizeof(*l->items)))
		return -ENOMEM;
	l->items[l->n++] = *w;
	return 0;
}

static int by_tid(const void *a, const void *b)
{
	const struct blocked_wait *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

struct scan {
	pid_t pid;
	struct wait_list list;
};

static int scan_thread(void *arg, pid_t tid)
{
	struct scan *sc = arg;
	struct blocked_wait w;
	int err = blocked__read_thread(sc->pid, tid, &w);

	if (err != 1)
		return err < 0 ? err : 0;
	err = list_push(&sc->list, &w);
	if (err)
		free(w.stack);
	return err;
}

int blocked__scan(pid_t pid, struct blocked_wait **out, size_t *n)
{
	struct scan sc = {.pid = pid};
	int err = ls_each_thread(pid, scan_thread, &sc);

	*out = NULL;
	*n = 0;
	if (err) {
		blocked__free(sc.list.items, sc.list.n);
		return err == -ENOENT ? -ESRCH : err;
	}
	if (sc.list.n)
		qsort(sc.list.items, sc.list.n, sizeof(*sc.list.items), by_tid);
	*out = sc.list.items;
	*n = sc.list.n;
	return 0;
}

void blocked__free(struct blocked_wait *w, size_t n)
{
	if (!w)
		return;
	for (size_t i = 0; i < n; i++)
		free(w[i].stack);
	free(w);
}
