/* export.h - `lockscope export`: one pass over a trace into an output format. The formats share
 * the reading, the model, the note on a cut trace and the removal of a half-written output. */
#ifndef LOCKSCOPE_EXPORT_H
#define LOCKSCOPE_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct ls_rec;
struct ls_trace_info;
struct model;

/* Whose stack a profile charges a wait to. */
enum export_by {
	EXPORT_BY_WAITER, /* where the waiting thread asked for the lock */
	EXPORT_BY_HOLDER, /* where the thread that held it took it (full mode) */
};

struct export_opts {
	const char *format; /* "chrome", "pprof", "perfetto", "speedscope" */
	const char *out;    /* "-": stdout; NULL: the format's default */
	enum export_by by;
};

/* What the driver knows while it reads, for the formats. The model is fed each record before
 * the format is. */
struct export_ctx {
	const char *path;
	const struct ls_trace_info *info;
	const struct export_opts *opts;
	const struct model *model;
	FILE *out;
	uint64_t records, last_ts;
	uint64_t lost; /* LOST records' sum, or END's count if larger */
	bool have_end;
	uint64_t end_duration;
};

struct export_format {
	const char *name;
	const char
	    *suffix; /* the default output: the trace's name with this suffix; NULL: stdout */
	void *(*new)(const struct export_ctx *ctx);	   /* NULL with errno */
	int (*feed)(void *self, const struct ls_rec *rec); /* 0 or -errno */
	/* Everything is read: END_TS is where waits still open end; COMPLETE and CUT say how the
	 * reading ended. Writes the rest of the output. 0 or -errno. */
	int (*finish)(void *self, uint64_t end_ts, bool complete, const char *cut);
	void (*free)(void *self);
};

extern const struct export_format export_chrome_format, export_pprof_format, export_perfetto_format,
    export_speedscope_format;

/* The format named NAME, or NULL. */
const struct export_format *export__format(const char *name);
/* Converts the trace at PATH as O says. Returns an exit status (enum ls_exit): 1 if PATH is not
 * a readable trace or the output cannot be created there; a cut trace is exported up to the
 * damage, with a note on stderr, and returns 0; 2 if memory or the output failed (a partial
 * output is then removed). */
int export__run(const char *path, const struct export_opts *o);

#endif
