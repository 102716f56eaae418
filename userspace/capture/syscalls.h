/* syscalls.h - how the recorder sees the system calls it traces (futex calls, and the poll calls
 * of event loops): which of the BPF side's program flavours to load, and what it takes. */
#ifndef LOCKSCOPE_SYSCALLS_H
#define LOCKSCOPE_SYSCALLS_H

#include <stdbool.h>
#include <stddef.h>

struct lockscope_bpf;

/* Cheapest first. TRACEPOINT: the per-call syscalls:sys_enter_NAME/sys_exit_NAME tracepoints:
 * no program runs for another call (the kernel's syscall path takes its slower, tracing branch
 * for all of them meanwhile). RAW: the raw sys_enter/sys_exit tracepoints, whose programs run
 * for every system call of the machine (+40 ns each, measured). */
enum sc_flavour { SC_TRACEPOINT, SC_RAW, SC__COUNT };

/* The flavour LOCKSCOPE_SYSCALLS forces (tracepoint, raw), SC__COUNT if none; -EINVAL for
 * another value. */
int syscalls__forced(void);

/* Sets which of SKEL's system call programs load for FLAVOUR (the opened skeleton, before its
 * load): the futex calls, and the poll calls too if LOOPS; each where this kernel has it. BTF:
 * the raw flavour as tp_btf rather than raw_tp. The tracepoint flavour mounts tracefs where it
 * is not. 0, or -ENOENT when the kernel lacks what FLAVOUR needs (*WHY then says what). */
int syscalls__select(struct lockscope_bpf *skel, enum sc_flavour flavour, bool loops, bool btf,
		     char *why, size_t why_len);

/* "syscall tracepoints", "tp_btf sys_enter", "raw_tp sys_enter": for the user. */
const char *syscalls__name(enum sc_flavour flavour, bool btf);

#endif
