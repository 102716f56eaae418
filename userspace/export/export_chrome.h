/* export_chrome.h - `lockscope export --format chrome`: the trace as the Trace Event Format's
 * JSON Object Format, for Perfetto UI and chrome://tracing, written while the trace is read. */
#ifndef LOCKSCOPE_EXPORT_CHROME_H
#define LOCKSCOPE_EXPORT_CHROME_H

/* Converts the trace at PATH into OUT_PATH ("-": stdout). One track per thread; a complete
 * event per wait, named after its lock; flows from waker to woken. Returns an exit status
 * (enum ls_exit): 1 if PATH is not a readable trace or OUT_PATH cannot be created there; a cut
 * trace is exported up to the damage, with a note on stderr, and returns 0; 2 if memory or
 * the output failed (a partial OUT_PATH is then removed). */
int export_chrome__run(const char *path, const char *out_path);

#endif
