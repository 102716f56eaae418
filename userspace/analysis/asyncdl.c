/* asyncdl.c - deadlocks among asyncio tasks from TASK_WAIT records: a cycle's records follow each
 * other in its order, and it counts once the last one came. */
#include "analysis/asyncdl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/common.h"
#include "util/json.h"
#include "trace/model.h"
#include "trace/trace.h"

#define TEXT_FRAMES 16 /* frames shown per await chain */

struct asyncdl {
	struct asyncdl_found *found;
	size_t nfound, found_cap;
	struct asyncdl_found open;	/* the cycle being read: open.ntasks records so far */
	uint32_t open_cycle;		/* its id; 0: none */
	uint32_t stray_cycle;		/* the last cycle seen without its first record */
	uint64_t incomplete;		/* cycles whose records stopped short */
};

struct asyncdl *asyncdl__new(void)
{
	return calloc(1, sizeof(struct asyncdl));
}

static void found_free(struct asyncdl_found *f)
{
	for (uint32_t i = 0; i < f->ntasks; i++) {
		struct asyncdl_task *t = &f->tasks[i];

		free(t->name);
		free(t->coro);
		free(t->waits_for);
		for (uint32_t k = 0; k < t->nholds; k++)
			free(t->holds[k]);
		free(t->holds);
	}
	free(f->tasks);
	memset(f, 0, sizeof(*f));
}

void asyncdl__free(struct asyncdl *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nfound; i++)
		found_free(&a->found[i]);
	found_free(&a->open);
	free(a->found);
	free(a);
}

static void drop_open(struct asyncdl *a)
{
	if (a->open_cycle)
		a->incomplete++;
	found_free(&a->open);
	a->open_cycle = 0;
}

static int add_task(struct asyncdl_found *f, const struct ls_rec *rec)
{
	const struct ls_task_wait *w = &rec->task_wait;
	struct asyncdl_task *t;

	if (!f->tasks && !(f->tasks = calloc(w->ntasks, sizeof(*f->tasks))))
		return -ENOMEM;
	t = &f->tasks[f->ntasks++];
	t->tid = rec->tid;
	t->addr = w->task;
	t->stack_id = w->stack_id;
	t->name = strdup(w->name);
	t->coro = strdup(w->coro);
	t->waits_for = strdup(w->waits_for);
	t->holds = calloc(w->nholds ? w->nholds : 1, sizeof(*t->holds));
	if (!t->name || !t->coro || !t->waits_for || !t->holds)
		return -ENOMEM;
	for (; t->nholds < w->nholds; t->nholds++)
		if (!(t->holds[t->nholds] = strdup(w->holds[t->nholds])))
			return -ENOMEM;
	return 0;
}

int asyncdl__feed(struct asyncdl *a, const struct ls_rec *rec)
{
	const struct ls_task_wait *w = &rec->task_wait;
	int err;

	if (rec->type != LS_REC_TASK_WAIT)
		return 0;
	/* a record out of its cycle's order ends the cycle being read, cut short */
	if (a->open_cycle && (w->cycle != a->open_cycle || w->index != a->open.ntasks))
		drop_open(a);
	if (!a->open_cycle && w->index != 0) {
		a->incomplete += w->cycle != a->stray_cycle; /* counted once per cycle */
		a->stray_cycle = w->cycle;
		return 0;
	}
	a->open_cycle = w->cycle;
	err = add_task(&a->open, rec);
	if (err)
		return err;
	if (a->open.ntasks < w->ntasks)
		return 0;
	if (ls_reserve(&a->found, &a->found_cap, a->nfound + 1, sizeof(*a->found)))
		return -ENOMEM;
	a->open.detected_ns = rec->ts;
	a->found[a->nfound++] = a->open;
	memset(&a->open, 0, sizeof(a->open));
	a->open_cycle = 0;
	return 0;
}

size_t asyncdl__count(const struct asyncdl *a)
{
	return a->nfound;
}

const struct asyncdl_found *asyncdl__get(const struct asyncdl *a, size_t i)
{
	return i < a->nfound ? &a->found[i] : NULL;
}

uint64_t asyncdl__incomplete(const struct asyncdl *a)
{
	return a->incomplete + (a->open_cycle != 0);
}

/* ---- output ---- */

static void json_task(const struct model *m, const struct asyncdl_task *t, struct json_writer *w)
{
	json_writer__object_begin(w);
	json_writer__key(w, "tid");
	json_writer__u64(w, t->tid);
	json_writer__key(w, "name");
	json_writer__string(w, t->name);
	json_writer__key(w, "coro");
	json_writer__string(w, t->coro);
	json_writer__key(w, "holds");
	json_writer__array_begin(w);
	for (uint32_t i = 0; i < t->nholds; i++)
		json_writer__string(w, t->holds[i]);
	json_writer__array_end(w);
	json_writer__key(w, "waits_for");
	json_writer__string(w, t->waits_for);
	json_writer__key(w, "stack");
	model__stack_json(m, t->stack_id, w);
	json_writer__object_end(w);
}

void asyncdl__json(const struct asyncdl *a, const struct model *m, struct json_writer *w)
{
	for (size_t i = 0; i < a->nfound; i++) {
		const struct asyncdl_found *f = &a->found[i];

		json_writer__object_begin(w);
		json_writer__key(w, "locks");
		json_writer__array_begin(w);
		for (uint32_t k = 0; k < f->ntasks; k++)
			json_writer__string(w, f->tasks[k].waits_for);
		json_writer__array_end(w);
		json_writer__key(w, "tasks");
		json_writer__array_begin(w);
		for (uint32_t k = 0; k < f->ntasks; k++)
			json_task(m, &f->tasks[k], w);
		json_writer__array_end(w);
		json_writer__key(w, "detected_ns");
		json_writer__u64(w, f->detected_ns);
		/* asyncio locks record no owner: holders come from open `async with` blocks */
		json_writer__key(w, "inferred");
		json_writer__bool(w, true);
		json_writer__object_end(w);
	}
}

/* A string of the target's, copied to be scrubbed and cut to BUF's size. */
static const char *clean(const char *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s", s);
	return ls_scrub(buf);
}

static void text_locks(const struct asyncdl_found *f, FILE *out)
{
	char buf[512];

	for (uint32_t i = 0; i < f->ntasks; i++)
		fprintf(out, "%s%s", i ? ", " : "", clean(f->tasks[i].waits_for, buf, sizeof(buf)));
}

/* Each task: its coroutine and loop thread, what it holds and waits for, its await chain. */
static void text_tasks(const struct model *m, const struct asyncdl_found *f, FILE *out)
{
	char name[256], coro[256], who[128], buf[512];

	for (uint32_t i = 0; i < f->ntasks; i++) {
		const struct asyncdl_task *t = &f->tasks[i];

		fprintf(out, "    task %s (%s, loop thread %s) holds ",
			clean(t->name, name, sizeof(name)), clean(t->coro, coro, sizeof(coro)),
			model__thread_label_of(m, t->tid, who, sizeof(who)));
		for (uint32_t k = 0; k < t->nholds; k++)
			fprintf(out, "%s%s", k ? ", " : "", clean(t->holds[k], buf, sizeof(buf)));
		fputs(t->nholds ? " (inferred from its frames)" : "no lock seen",
		      out);
		fprintf(out, ", waits for %s\n", clean(t->waits_for, buf, sizeof(buf)));
		model__stack_text(m, t->stack_id, "        ", TEXT_FRAMES, out);
	}
}

void asyncdl__text(const struct asyncdl *a, const struct model *m, FILE *out)
{
	if (!a->nfound && !asyncdl__incomplete(a))
		return;
	fprintf(out, "Asyncio deadlocks: %zu\n\n", a->nfound);
	for (size_t i = 0; i < a->nfound; i++) {
		const struct asyncdl_found *f = &a->found[i];

		fprintf(out, "  ASYNCIO DEADLOCK: %u %s, locks ", f->ntasks,
			f->ntasks == 1 ? "task" : "tasks");
		text_locks(f, out);
		fprintf(out, " (loop idle in its poll call, found at %.3f s)\n",
			f->detected_ns / 1e9);
		text_tasks(m, f, out);
		fputc('\n', out);
	}
	if (asyncdl__incomplete(a))
		fprintf(out, "  %llu more cut short in the trace: not shown\n\n",
			(unsigned long long)asyncdl__incomplete(a));
}

int asyncdl__format_alert(const struct asyncdl_found *f, const struct model *m, char *buf,
			  size_t len)
{
	char *text = NULL, name[256];
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	int ret = -1;

	if (!out)
		return -1;
	fputs("lockscope: ASYNCIO DEADLOCK: tasks ", out);
	for (uint32_t i = 0; i < f->ntasks; i++)
		fprintf(out, "%s%s", i ? ", " : "", clean(f->tasks[i].name, name, sizeof(name)));
	fputs(" on locks ", out);
	text_locks(f, out);
	fputc('\n', out);
	text_tasks(m, f, out);
	if (fclose(out) == 0)
		ret = snprintf(buf, len, "%s", text);
	free(text);
	return ret;
}
