/* privs.h - what lockscope may do and to whom: the capabilities recording needs, checked as
 * capabilities; a refusal to run setuid; and what a process that cannot be read really is. */
#ifndef LOCKSCOPE_PRIVS_H
#define LOCKSCOPE_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether this process runs with another user's or group's identity (a setuid or setgid
 * binary): then it must not run at all, since it would read any process's memory and write
 * any file for whoever starts it. */
bool ls_privs_borrowed(void);

/* Recording's capabilities: CAP_BPF, CAP_PERFMON (or CAP_SYS_ADMIN in their place, as the
 * kernel takes it) and CAP_SYS_PTRACE, in the effective set. 0 if all are there; else -EPERM
 * and the missing ones in MISSING ("CAP_BPF, CAP_PERFMON"). */
int ls_privs_record(char *missing, size_t len);

/* Whether CAP_SYS_PTRACE is effective: what reading other users' processes needs. */
bool ls_privs_ptrace(void);

/* What PID is, when it is not a process lockscope can record or dump. */
enum ls_target_state {
	LS_TARGET_OK = 0,
	LS_TARGET_GONE,	    /* no such process */
	LS_TARGET_KTHREAD,  /* a kernel thread: no user memory, no user locks */
	LS_TARGET_ZOMBIE,   /* exited, not yet reaped by its parent */
	LS_TARGET_DENIED,   /* the kernel will not let this process read it */
	LS_TARGET_NOT_OURS, /* another user's: its threads' files in /proc are that user's alone
			     * (mode 0400), which takes CAP_DAC_READ_SEARCH to read */
};

/* What PID is, from /proc/PID/stat; whether it may be read, by opening /proc/PID/maps (which
 * asks the kernel the question reading its memory does) and /proc/PID/syscall (where blocked
 * threads are found); opening them touches nothing. */
enum ls_target_state ls_target_state(pid_t pid);

/* The process thread ID belongs to (its Tgid); 0 if there is no such thread. A thread id is a
 * name in /proc of its own, not listed but there to open. */
pid_t ls_tgid_of(pid_t id);

/* The thread to read process PID through (/proc/ID/maps, /proc/ID/mem, process_vm_readv): PID
 * itself, or, where its leader called pthread_exit (a zombie, without memory, whose threads live
 * on), one of its live threads. */
pid_t ls_process_reader(pid_t pid);

/* One line on why PID cannot be recorded or dumped (VERB: "record", "dump"), in BUF, for
 * people: "process 2 (kthreadd) is a kernel thread: nothing to record". Returns BUF. */
const char *ls_target_why(pid_t pid, enum ls_target_state state, const char *verb, char *buf,
			  size_t len);

#endif
