/* view_timeline.h - the viewer's timeline: the slices and flows of the timeline walk as columns
 * of numbers with string tables, so that a browser paints a million events without parsing them. */
#ifndef LOCKSCOPE_VIEW_TIMELINE_H
#define LOCKSCOPE_VIEW_TIMELINE_H

#include <stddef.h>

/* The document (schema lockscope.timeline/1), little-endian throughout. Holds are full mode's,
 * paired by holds.c.
 *   "LSTL", u32 version (1), u32 meta_len, u32 0;
 *   meta: JSON of meta_len bytes, padded with spaces to a multiple of 8;
 *   slices, sorted by lane (track, then row) and start, as columns, each padded to 8 bytes:
 *     f64 start_ns[n], f64 dur_ns[n], u32 lock[n], u32 stack[n], u32 owner[n],
 *     u8 row[n] (0 wait, 1 wake, 2 hold), u8 result[n] (enum ls_wait_result, 255 exited);
 *   flows: f64 from_ns[m], f64 to_ns[m], u32 from_track[m], u32 to_track[m], u32 lock[m].
 * meta: {"schema", "pid", "comm", "duration_ns", "complete", "cut", "slices": n, "flows": m,
 *   "tracks": [{"tid", "name"}], "locks": [{"addr", "name", "kind"}], "stacks": [[frames]]
 *   (stack 0 is the empty one), "lanes": [{"track", "row", "first", "count", "max_dur_ns"}]
 *   (rows as above), "lost": [{"track", "ts_ns", "count"}], "unpaired_waits",
 *   "wakes_without_flow"}. */

/* Reads the trace at PATH and builds the document into *OUT (malloc'd; the caller frees) of
 * *LEN bytes. A cut trace gives the part before the damage, as meta's "cut" says. 0, -ENOMEM,
 * or -EINVAL if PATH is not a readable trace (WHY, of WHYLEN bytes, then says why). */
int view_timeline__build(const char *path, char **out, size_t *len, char *why, size_t whylen);

#endif
