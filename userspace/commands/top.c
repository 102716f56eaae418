/* top.c - the live view: records the target in contention mode, feeds each record to the
 * report's analyses (hotspots, deadlocks, loop blocks) and draws a frame every interval. */
#include "commands/top.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "analysis/asyncdl.h"
#include "util/bytemap.h"
#include "util/common.h"
#include "util/privs.h"
#include "analysis/deadlock.h"
#include "analysis/hotspots.h"
#include "analysis/loopblock.h"
#include "trace/model.h"
#include "commands/record.h"
#include "trace/trace.h"

#define TOP_LOCKS 10   /* locks listed */
#define TOP_WAITING 12 /* waiting threads listed */
#define NAME_COLS 28   /* a lock's name column on an 80-column screen */
#define NAME_COLS_MAX 100 /* on a wider one, or in a file */
#define LOCK_ROW_REST 51  /* a lock row past its name: the counts and times */
#define ALERT_LINES 16 /* lines of deadlock alerts shown */
#define SCREEN_COLS 79 /* a line's width, short of the terminal's 80 */
#define LOOP_ROWS 5    /* event-loop blocks listed: those in progress, then the last ones */
#define WRAP_INDENT "            "

/* A lock's waits that ended in the current interval. */
struct recent {
	uint64_t addr;
	uint64_t count, wait_ns;
};

struct top {
	const struct top_opts *o;
	FILE *out;
	bool tty; /* stdout: redraw in place; else frames one after another */
	bool raw; /* stdin is a terminal in our mode: saved holds its own */
	struct termios saved;
	struct model *model;
	struct hotspots *hs; /* since start; its finished waits also fill recent */
	struct deadlock *dl;
	struct loopblock *lb;
	struct recent *recent; /* this interval, per lock */
	size_t nrecent, recent_cap;
	struct bytemap *recent_ix; /* addr -> position in recent; a fresh map each interval */
	uint64_t records, lost;
	uint64_t next_frame, interval_ns, now;
	bool exited, quit;
	int err;
};

static int on_wait(void *arg, const struct hs_wait *w)
{
	struct top *t = arg;
	uint64_t key = w->addr;
	struct recent *r;

	if (ls_kind_signal(w->kind))
		return 0;
	r = bytemap__slot(t->recent_ix, &key, sizeof(key), &t->recent, &t->nrecent, &t->recent_cap,
			  sizeof(*t->recent));
	if (!r)
		return -ENOMEM;
	r->addr = w->addr;
	r->count++;
	r->wait_ns += w->end_ts - w->begin_ts;
	return 0;
}

/* Every record the trace gets: the model and the analyses see it as `report` would. */
static int sink(void *arg, const struct ls_rec *rec)
{
	struct top *t = arg;

	t->records++;
	if (rec->ts > t->now)
		t->now = rec->ts;
	if (rec->type == LS_REC_LOST)
		t->lost += rec->lost.count;
	if (rec->type == LS_REC_PROC_EXIT)
		t->exited = true;
	return model__feed(t->model, rec) ?: hotspots__feed(t->hs, t->model, rec) ?:
	       deadlock__feed(t->dl, rec) ?: loopblock__feed(t->lb, rec);
}

/* ---- the terminal ---- */

/* Keys without Enter, no echo; signals still come from Ctrl-C. */
static void term_raw(struct top *t)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved))
		return;
	raw = t->saved;
	raw.c_lflag &= ~(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
}

static void term_restore(struct top *t)
{
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	t->raw = false;
}

/* True once q was typed. */
static bool quit_key(struct top *t)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	char keys[64];
	ssize_t n;

	if (!t->raw)
		return false;
	while (poll(&p, 1, 0) == 1 && (n = read(STDIN_FILENO, keys, sizeof(keys))) > 0)
		if (memchr(keys, 'q', n) || memchr(keys, 'Q', n))
			return true;
	return false;
}

/* ---- a frame ---- */

static int cmp_wait(const void *pa, const void *pb)
{
	const struct hs_lock *a = *(const struct hs_lock *const *)pa;
	const struct hs_lock *b = *(const struct hs_lock *const *)pb;

	if (a->wait_ns != b->wait_ns)
		return a->wait_ns < b->wait_ns ? 1 : -1;
	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static const struct recent *recent_of(const struct top *t, uint64_t addr)
{
	const uint64_t *pos = bytemap__get_u64(t->recent_ix, addr);

	return pos ? &t->recent[*pos] : NULL;
}

/* NAME cut to fit WIDTH columns, scrubbed of control characters. The cut is in the middle: a
 * described lock's start says where it lies, its end where it was first seen ("heap 0x5581d2a0
 * ..worker (hot.c:31)"), and a variable's `#2` stays. */
static const char *fit(const char *name, int width, char *buf, size_t len)
{
	size_t n, head;

	snprintf(buf, len, "%s", name);
	ls_scrub(buf);
	n = strlen(buf);
	if ((int)n > width && width > 4) {
		head = (size_t)(width - 2) / 2;
		buf[head] = buf[head + 1] = '.';
		memmove(buf + head + 2, buf + n - (width - 2 - head), width - 2 - head + 1);
	}
	return buf;
}

/* The lock name column: as wide as the terminal allows; in a file, as the longest name shown. */
static int name_cols(const struct top *t, const struct hs_lock **locks, size_t n)
{
	struct winsize ws;
	char label[NAME_COLS_MAX + 1];
	int w = NAME_COLS;

	if (t->tty) {
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || ws.ws_col <= SCREEN_COLS + 1)
			return NAME_COLS;
		w = ws.ws_col - 1 - LOCK_ROW_REST;
		return w > NAME_COLS_MAX ? NAME_COLS_MAX : w;
	}
	for (size_t i = 0; i < n && i < TOP_LOCKS; i++) {
		int len = (int)strlen(model__lock_label(t->model, locks[i]->addr, locks[i]->kind,
							label, sizeof(label)));
		if (len > w)
			w = len > NAME_COLS_MAX ? NAME_COLS_MAX : len;
	}
	return w;
}

static void draw_locks(struct top *t, FILE *f)
{
	const struct hs_lock *l, **locks = NULL;
	size_t n = 0, cap = 0;
	char name[NAME_COLS_MAX + 8], label[NAME_COLS_MAX + 64], recent_wait[24], total_wait[24];
	int cols;

	for (size_t i = 0; (l = hotspots__lock_at(t->hs, i)); i++) {
		if (l->other)
			continue;
		if (ls_reserve(&locks, &cap, n + 1, sizeof(*locks)))
			break;
		locks[n++] = l;
	}
	if (n > 1)
		qsort(locks, n, sizeof(*locks), cmp_wait);
	cols = name_cols(t, locks, n);
	fprintf(f, "%-*s %17s %30s\n", cols, "", "-- last second --",
		"--------- since start --------");
	fprintf(f, "%-*s %6s %10s %8s %10s %10s\n", cols, "lock", "waits", "wait", "waits", "wait",
		"max wait");
	for (size_t i = 0; i < n && i < TOP_LOCKS; i++) {
		const struct recent *r = recent_of(t, locks[i]->addr);

		fit(model__lock_label(t->model, locks[i]->addr, locks[i]->kind, label,
				      sizeof(label)),
		    cols, name, sizeof(name));
		fprintf(f, "%-*s %6" PRIu64 " %10s %8" PRIu64 " %10s %10s\n", cols, name,
			r ? r->count : 0, ls_human_ns(r ? r->wait_ns : 0, recent_wait, 24),
			locks[i]->count, ls_human_ns(locks[i]->wait_ns, total_wait, 24),
			ls_human_ns(locks[i]->max_wait_ns, label, sizeof(label)));
	}
	if (!n)
		fputs("(no contention yet)\n", f);
	else if (n > TOP_LOCKS)
		fprintf(f, "(%zu more locks)\n", n - TOP_LOCKS);
	free(locks);
}

static void draw_waiting(struct top *t, FILE *f)
{
	struct hs_wait w[64];
	size_t n = hotspots__open_waits(t->hs, w, ARRAY_SIZE(w)), shown = 0;
	char who[64], lock[64], holder[64], since[24], name[32];

	fputs("\nwaiting now\n", f);
	for (size_t i = 0; i < n && i < ARRAY_SIZE(w); i++) {
		if (ls_kind_signal(w[i].kind))
			continue;
		if (shown++ >= TOP_WAITING)
			continue;
		fit(model__thread_label(t->model, w[i].tid, true, who, sizeof(who)), 20, name,
		    sizeof(name));
		fprintf(f, "  %-20s on %-18s ", name,
			fit(model__lock_label(t->model, w[i].addr, w[i].kind, lock, sizeof(lock)),
			    18, holder, sizeof(holder)));
		fit(w[i].owner ? model__thread_label(t->model, w[i].owner, true, who, sizeof(who))
			       : "?",
		    16, name, sizeof(name));
		fprintf(f, "held by %-16s %9s\n", name,
			ls_human_ns(t->now > w[i].begin_ts ? t->now - w[i].begin_ts : 0, since,
				    sizeof(since)));
	}
	if (!shown)
		fputs("  (no thread is waiting for a lock)\n", f);
	else if (shown > TOP_WAITING)
		fprintf(f, "  (%zu more threads)\n", shown - TOP_WAITING);
}

/* The deadlocks found so far, as `record` alerts them, wrapped to the screen. */
/* One alert, its long lines going on under themselves, indented, broken at a space; *LINES
 * counts what the screen has room for. */
static void draw_alert(const char *text, FILE *f, int *lines)
{
	const char *p = text;

	while (*p && *lines < ALERT_LINES) {
		size_t len = strcspn(p, "\n");
		int width = SCREEN_COLS;

		for (size_t done = 0; done < len && *lines < ALERT_LINES; (*lines)++) {
			int n = len - done < (size_t)width ? (int)(len - done) : width;
			int cut = n;

			while (done + n < len && cut > 1 && p[done + cut] != ' ')
				cut--;
			n = cut > 1 ? cut : n;
			fprintf(f, "%s%.*s\n", done ? WRAP_INDENT : "", n, p + done);
			done += n + (done + n < len && p[done + n] == ' ');
			width = SCREEN_COLS - (int)strlen(WRAP_INDENT);
		}
		p += len + (p[len] == '\n');
	}
}

/* Deadlocks among threads, then among asyncio tasks (record's check of idle loops). */
static void draw_deadlocks(struct top *t, FILE *f)
{
	const struct asyncdl *tasks = deadlock__tasks(t->dl);
	size_t nthreads = deadlock__count(t->dl), ntasks = tasks ? asyncdl__count(tasks) : 0;
	char text[8192];
	int lines = 0;

	if (nthreads + ntasks)
		fputc('\n', f);
	for (size_t i = 0; i < nthreads && lines < ALERT_LINES; i++)
		if (deadlock__format_alert(deadlock__get(t->dl, i), t->model, text,
					   sizeof(text)) > 0)
			draw_alert(text, f, &lines);
	for (size_t i = 0; i < ntasks && lines < ALERT_LINES; i++)
		if (asyncdl__format_alert(asyncdl__get(tasks, i), t->model, text, sizeof(text)) > 0)
			draw_alert(text, f, &lines);
}

static void draw_loop_block(struct top *t, const struct loop_block *b, FILE *f)
{
	char who[64], culprit[160];

	fprintf(f, "  %8.1f ms  %-5s  %-7s %s  %s\n", b->duration_ns / 1e6,
		loopblock__cause_name(b->cause), b->open ? "now" : "",
		model__thread_label(t->model, b->tid, true, who, sizeof(who)),
		model__stack_culprit(t->model, b->stack_id, culprit, sizeof(culprit)));
}

/* Event loops blocked now, then the last blocks that ended, newest first. */
static void draw_loops(struct top *t, FILE *f)
{
	struct loop_block now[LOOP_ROWS];
	size_t open = loopblock__in_progress(t->lb, t->now, now, LOOP_ROWS);
	size_t over = loopblock__count(t->lb), shown = 0;

	if (!open && !over)
		return;
	fprintf(f, "\nevent-loop blocks: %zu over%s\n", over, open ? ", blocked now:" : "");
	for (size_t i = 0; i < open; i++, shown++)
		draw_loop_block(t, &now[i], f);
	for (size_t i = over; i > 0 && shown < LOOP_ROWS; i--, shown++)
		draw_loop_block(t, loopblock__get(t->lb, i - 1), f);
}

static void draw(struct top *t)
{
	char *text = NULL, dur[24];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	fprintf(f, "lockscope top: pid %d, %s, %" PRIu64 " records, %" PRIu64 " lost%s\n",
		t->o->pid, ls_human_ns(t->now, dur, sizeof(dur)), t->records, t->lost,
		t->raw ? "; q quits" : "");
	draw_locks(t, f);
	draw_waiting(t, f);
	draw_loops(t, f);
	draw_deadlocks(t, f);
	if (fclose(f) == 0) {
		/* home, clear: the frame replaces the last; in a file, a blank line parts them */
		fprintf(t->out, "%s%s%s", t->tty ? "\033[H\033[2J" : "", text, t->tty ? "" : "\n");
		fflush(t->out);
	}
	free(text);
}

/* A new interval: what ended in the last one is forgotten. */
static int next_interval(struct top *t)
{
	bytemap__free(t->recent_ix);
	t->recent_ix = bytemap__new();
	t->nrecent = 0;
	return t->recent_ix ? 0 : -ENOMEM;
}

static int tick(void *arg, uint64_t now_ts)
{
	struct top *t = arg;

	if (now_ts > t->now)
		t->now = now_ts;
	/* a deadlocked target makes no events: its clock is ours */
	if (deadlock__check(t->dl, now_ts, NULL, NULL))
		t->err = -ENOMEM;
	if (quit_key(t))
		t->quit = true;
	if (!t->quit && now_ts >= t->next_frame) {
		draw(t);
		t->next_frame = now_ts + t->interval_ns;
		if (next_interval(t))
			t->err = -ENOMEM;
	}
	return t->quit || t->err;
}

int top__run(const struct top_opts *o, volatile const int *stop)
{
	enum ls_target_state state;
	char why[256];
	struct record_opts ro = {.pid = o->pid,
				 .pids = {o->pid},
				 .npids = 1,
				 .output = o->output,
				 .mode = RECORD_CONTENTION,
				 .loop_threshold_ms = 50,
				 .sink = sink,
				 .tick = tick,
				 .quiet = true};
	struct top t = {.o = o, .out = stdout, .interval_ns = o->interval * 1e9};
	int rc = LS_EXIT_SYSTEM;

	state = ls_target_state(o->pid);
	if (state != LS_TARGET_OK) {
		ls_err("top", "%s", ls_target_why(o->pid, state, "show", why, sizeof(why)));
		return LS_EXIT_SYSTEM;
	}
	ro.live_arg = &t;
	t.model = model__new();
	t.hs = hotspots__new();
	t.dl = deadlock__new(DEADLOCK_CONFIRM_NS);
	t.lb = loopblock__new();
	t.recent_ix = bytemap__new();
	if (!t.model || !t.hs || !t.dl || !t.lb || !t.recent_ix) {
		ls_err("top", "out of memory");
		goto cleanup;
	}
	hotspots__on_wait(t.hs, on_wait, &t);
	t.tty = isatty(STDOUT_FILENO);
	term_raw(&t);
	rc = record__run(&ro, stop);
	term_restore(&t);
	if (t.err) {
		ls_err("top", "out of memory");
		rc = LS_EXIT_SYSTEM;
	}
	if (rc)
		goto cleanup;
	if (!t.tty || t.exited)
		draw(&t); /* the last interval, which no tick showed */
	if (t.exited)
		fprintf(t.out, "lockscope: top: process %d exited\n", o->pid);
cleanup:
	term_restore(&t);
	deadlock__free(t.dl);
	loopblock__free(t.lb);
	hotspots__free(t.hs);
	bytemap__free(t.recent_ix);
	free(t.recent);
	model__free(t.model);
	return rc;
}
