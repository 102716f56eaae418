/* export.c - the export driver: opens the trace and the output, feeds the model and the format
 * every record in order, closes what is still open at the end, reports a cut trace. */
#include "export/export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/outfile.h"
#include "trace/model.h"
#include "trace/trace.h"

const struct export_format *export__format(const char *name)
{
	static const struct export_format *const formats[] = {
	    &export_chrome_format, &export_pprof_format, &export_perfetto_format,
	    &export_speedscope_format};

	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if (!strcmp(formats[i]->name, name))
			return formats[i];
	return NULL;
}

static void count(struct export_ctx *x, const struct ls_rec *rec)
{
	x->records++;
	if (rec->ts > x->last_ts)
		x->last_ts = rec->ts;
	if (rec->type == LS_REC_LOST) {
		x->lost += rec->lost.count;
	} else if (rec->type == LS_REC_END) {
		x->have_end = true;
		x->end_duration = rec->end.duration_ns;
		if (rec->end.lost > x->lost)
			x->lost = rec->end.lost;
	}
}

/* Reads the trace into the format. 0, -ENOMEM, or the output's error. */
static int convert(struct export_ctx *x, struct model *m, const struct export_format *f, void *self,
		   struct trace_reader *r)
{
	const char *cut = NULL;
	struct ls_rec rec;
	uint64_t end_ts;
	bool complete;
	int ret = 0, err = 0;

	while (!err && (ret = trace_reader__next(r, &rec)) > 0) {
		count(x, &rec);
		err = model__feed(m, &rec) ?: f->feed(self, &rec);
	}
	if (err)
		return err;
	if (ret < 0)
		cut = trace_reader__error(r) ? trace_reader__error(r) : strerror(-ret);
	complete = ret == 0 && trace_reader__complete(r);
	/* a wait open at the end is shown to the end: a deadlocked thread's wait must show */
	end_ts = x->have_end && x->end_duration > x->last_ts ? x->end_duration : x->last_ts;
	err = f->finish(self, end_ts, complete, cut);
	if (!err && !complete) {
		char upto[32];

		snprintf(upto, sizeof(upto), "%.3f s", x->last_ts / 1e9);
		if (cut)
			ls_note("export", "%s: %s; exported the %" PRIu64 " records before it (%s)",
				x->path, cut, x->records, upto);
		else
			ls_note("export",
				"%s: file is cut: no end record (recording did not "
				"finish); exported the %" PRIu64 " records read (%s)",
				x->path, x->records, upto);
	}
	return err;
}

/* The trace's name with SUFFIX instead of its .lsz: app.lsz -> app.pb.gz. Caller frees. */
static char *default_out(const char *path, const char *suffix)
{
	size_t n = strlen(path);
	char *out;

	if (n > 4 && !strcmp(path + n - 4, ".lsz"))
		n -= 4;
	out = malloc(n + strlen(suffix) + 1);
	if (out) {
		memcpy(out, path, n);
		strcpy(out + n, suffix);
	}
	return out;
}

int export__run(const char *path, const struct export_opts *o)
{
	const struct export_format *f = export__format(o->format);
	struct export_ctx x = {.path = path, .opts = o};
	char *owned = NULL, why[256] = "";
	const char *out_path = o->out;
	struct trace_reader *r;
	struct model *m = NULL;
	void *self = NULL;
	struct outfile *out = NULL;
	bool to_stdout = false;
	int ret = LS_EXIT_SYSTEM, err = -ENOMEM;

	if (!f) {
		ls_err("export", "no format %s", o->format);
		return LS_EXIT_INPUT;
	}
	r = trace_reader__open(path, why, sizeof(why));
	if (!r) {
		ls_err("export", "%s: %s", path, why[0] ? why : strerror(errno));
		return errno == ENOMEM ? LS_EXIT_SYSTEM : LS_EXIT_INPUT;
	}
	x.info = trace_reader__info(r);
	if (!out_path)
		out_path = f->suffix ? (owned = default_out(path, f->suffix)) : "-";
	if (!out_path)
		goto cleanup;
	to_stdout = strcmp(out_path, "-") == 0;
	/* private, and put in place only when whole: a failed export leaves what was there */
	out = outfile__open(out_path);
	x.out = out ? outfile__stream(out) : NULL;
	if (!x.out) {
		ls_err("export", "%s: %s", out_path, strerror(errno));
		ret = ls_path_status(errno);
		err = 0;
		goto cleanup;
	}
	x.model = m = model__new();
	if (!m || !(self = f->new (&x)))
		goto cleanup;
	err = convert(&x, m, f, self, r);
	if (!err)
		ret = LS_EXIT_OK;
cleanup:
	if (err == -ENOMEM)
		ls_err("export", "%s: out of memory", path);
	else if (err)
		ls_err("export", "%s: cannot write: %s", to_stdout ? "stdout" : out_path,
		       strerror(-err));
	/* a half-written file would look like a valid export to the next tool: it is not kept */
	err = outfile__close(out, ret == LS_EXIT_OK);
	if (err && ret == LS_EXIT_OK) {
		ls_err("export", "%s: cannot write: %s", to_stdout ? "stdout" : out_path,
		       strerror(-err));
		ret = LS_EXIT_SYSTEM;
	}
	if (self)
		f->free(self);
	model__free(m);
	trace_reader__free(r);
	free(owned);
	return ret;
}
