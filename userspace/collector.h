/* collector.h - turns the BPF side's raw events into trace records while the target lives:
 * unwinds and names stacks, names locks, classifies waits, interns threads, frames and stacks. */
#ifndef LOCKSCOPE_COLLECTOR_H
#define LOCKSCOPE_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ls_rec;
struct trace_writer;
struct collector;

/* For process PID, writing to W (borrowed). START_MONO: the BPF clock at the start of
 * recording; timestamps are stored relative to it. NULL with errno on failure. */
struct collector *collector__new(pid_t pid, struct trace_writer *w, uint64_t start_mono);
void collector__free(struct collector *c);	/* accepts NULL */

/* Every record written is also handed to FN (live analyses); its return is passed up. */
void collector__set_sink(struct collector *c, int (*fn)(void *arg, const struct ls_rec *rec),
			 void *arg);

/* Reads the memory map afresh and loads the objects' symbols and CFI (slow: DWARF). Done by
 * collector__attach_snapshot unless done before: an attach does it before the target's events
 * flow, so that none pile up meanwhile. 0 or -errno. */
int collector__load_objects(struct collector *c);
/* Records the memory map and the threads that exist now. 0 or -errno. */
int collector__attach_snapshot(struct collector *c);
/* One event from the ring buffer. 0, or -errno if the trace could not be written. A malformed
 * event is counted (collector__bad_events) and skipped. */
int collector__handle(struct collector *c, const void *data, size_t size);
/* Re-reads the target's memory map (new objects, late mappings). 0 or -errno. */
int collector__refresh(struct collector *c);
/* Kernel-side losses reported by the BPF counters: stored as a LOST record. */
int collector__lost(struct collector *c, uint64_t count);
/* Full mode's lock/unlock tracing was switched on or off: a WINDOW record. */
int collector__window(struct collector *c, bool on);
/* The target ended: PROC_EXIT with its exit code (as from waitpid, or -1 unknown). */
int collector__proc_exit(struct collector *c, int code);

/* The file holding CPython's runtime (the executable or libpython) once the target is seen to
 * run CPython, else NULL. Borrowed. */
const char *collector__python_object(const struct collector *c);

uint64_t collector__events(const struct collector *c);
uint64_t collector__lost_total(const struct collector *c);
uint64_t collector__bad_events(const struct collector *c);
/* The last timestamp stored, relative to the start. */
uint64_t collector__last_ts(const struct collector *c);

#endif
