/* asyncdl.h - deadlocks among asyncio tasks as `record` found them in the live target (TASK_WAIT
 * records): gathered from the trace for the report, the live alert and the deadlocks array. */
#ifndef LOCKSCOPE_ASYNCDL_H
#define LOCKSCOPE_ASYNCDL_H

#include <stdint.h>
#include <stdio.h>

struct json_writer;
struct ls_rec;
struct model;
struct asyncdl;

struct asyncdl_task {
	uint32_t tid;		/* the thread running its event loop */
	uint64_t addr;		/* the task object */
	char *name, *coro;
	char *waits_for;	/* the lock it waits for, held by the next task */
	char **holds;		/* inferred from its open `async with` blocks */
	uint32_t nholds;
	uint32_t stack_id;	/* its await chain, innermost first; 0: none */
};

/* One deadlock: tasks[i] waits for tasks[i].waits_for, which tasks[(i + 1) % ntasks] holds. */
struct asyncdl_found {
	uint32_t ntasks;
	struct asyncdl_task *tasks;
	uint64_t detected_ns;	/* when `record` found it */
};

struct asyncdl *asyncdl__new(void);	/* NULL with errno on failure */
void asyncdl__free(struct asyncdl *a);	/* accepts NULL */

/* Feeds one record in trace order (only TASK_WAIT matters): a deadlock counts once all its
 * tasks' records came. 0 or -ENOMEM. */
int asyncdl__feed(struct asyncdl *a, const struct ls_rec *rec);

/* The complete deadlocks, in trace order; and cycles the trace cut short (counted, not shown). */
size_t asyncdl__count(const struct asyncdl *a);
const struct asyncdl_found *asyncdl__get(const struct asyncdl *a, size_t i);
uint64_t asyncdl__incomplete(const struct asyncdl *a);

/* Writes each deadlock as one member of the contract's "deadlocks" array (the caller opens and
 * closes it): {"locks", "tasks": [{"tid", "name", "coro", "holds", "waits_for", "stack"}],
 * "detected_ns", "inferred": true}. */
void asyncdl__json(const struct asyncdl *a, const struct model *m, struct json_writer *w);
/* Writes the "Asyncio deadlocks" section for people; nothing when there are none. */
void asyncdl__text(const struct asyncdl *a, const struct model *m, FILE *out);
/* Formats one deadlock as an alert for stderr: "lockscope: ASYNCIO DEADLOCK: tasks ... on locks
 * ...", then each task with its await chain, indented; ends with a newline. Returns what
 * snprintf would, or -1 without memory. */
int asyncdl__format_alert(const struct asyncdl_found *f, const struct model *m, char *buf,
			  size_t len);

#endif
