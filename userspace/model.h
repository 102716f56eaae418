/* model.h - the trace's metadata as analyses see it: thread names, lock names, stack frames and
 * stacks, fed from the records that carry them, and the contract's way of printing a frame. */
#ifndef LOCKSCOPE_MODEL_H
#define LOCKSCOPE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ls_rec;
struct json_writer;
struct model;

/* NULL with errno on failure. */
struct model *model__new(void);
void model__free(struct model *m); /* accepts NULL */

/* Takes what it keeps from THREAD, LOCK, FRAME and STACK records (copied); ignores the rest.
 * A later record for the same thread, address or id replaces the earlier one; threads that
 * exit keep their names. 0 or -ENOMEM. */
int model__feed(struct model *m, const struct ls_rec *rec);

/* The thread's last name, or NULL if no THREAD record named it. Borrowed. */
const char *model__thread_name(const struct model *m, uint32_t tid);
/* The I-th thread in order of first appearance; false past the end. *NAME is borrowed. */
bool model__thread_at(const struct model *m, size_t i, uint32_t *tid, const char **name);

/* The name the last LOCK record for ADDR gave, and its kind (if KIND is not NULL); NULL if
 * no LOCK record named ADDR. Borrowed. */
const char *model__lock_name(const struct model *m, uint64_t addr, uint8_t *kind);

/* Formats frame ID as "func (file:line)" where file and line are known, else "func+0x1a
 * (module)", else "module+0x1234", else "0x7f..."; "?? (frame N)" for an id never defined.
 * Returns what snprintf returns. */
int model__frame_format(const struct model *m, uint32_t id, char *buf, size_t len);
/* The frame ids of stack ID, innermost first, in *FRAMES (borrowed); 0 if ID is unknown. */
uint32_t model__stack(const struct model *m, uint32_t id, const uint32_t **frames);
/* Writes stack ID as a JSON array of formatted frames ([] for 0 or an unknown id). */
void model__stack_json(const struct model *m, uint32_t id, struct json_writer *w);

#endif
