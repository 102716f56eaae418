/* model.h - the trace's metadata as analyses see it: thread names, lock names, stack frames and
 * stacks, fed from the records that carry them, and the one way every output prints them. */
#ifndef LOCKSCOPE_MODEL_H
#define LOCKSCOPE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_rec;
struct json_writer;
struct model;

/* NULL with errno on failure. */
struct model *model__new(void);
void model__free(struct model *m); /* accepts NULL */

/* Takes what it keeps from THREAD, PROCESS, LOCK, FRAME, STACK and OBJECT records (copied); ignores
 * the rest. C++ names in functions and lock names are demangled here (see util/demangle.h). A later
 * record for the same thread, address or id replaces the earlier one; threads that exit keep their
 * names. 0 or -ENOMEM. */
int model__feed(struct model *m, const struct ls_rec *rec);

/* The thread's last name, or NULL if no THREAD record named it. Borrowed. */
const char *model__thread_name(const struct model *m, uint32_t tid);
/* The process of the thread, as its THREAD records gave it; 0 if not known. */
uint32_t model__thread_pid(const struct model *m, uint32_t tid);
/* Process PID's command as its last PROCESS record gave it: *COMM and *CMDLINE borrowed, NULL
 * where not known. False if no PROCESS record named PID (traces before format 3, mostly). */
bool model__process(const struct model *m, uint32_t pid, const char **comm, const char **cmdline);
/* Process PID's name for a track of its own: its command, else its main thread's name; NULL
 * where neither is known. Borrowed. */
const char *model__process_name(const struct model *m, uint32_t pid);
/* The thread that created TID (for a process's first thread, the one that forked it); 0 if not
 * known (present when recording began). */
uint32_t model__thread_parent(const struct model *m, uint32_t tid);
/* The I-th thread in order of first appearance; false past the end. *NAME is borrowed. */
bool model__thread_at(const struct model *m, size_t i, uint32_t *tid, const char **name);

/* The name the last LOCK record for ADDR gave, and its kind (if KIND is not NULL); NULL if
 * no LOCK record named ADDR. Borrowed. */
const char *model__lock_name(const struct model *m, uint64_t addr, uint8_t *kind);

/* Formats frame ID as "func (file:line)" where file and line are known, else "func+0x1a
 * (module)", else "module+0x1234", else "0x7f..."; "?? (frame N)" for an id never defined.
 * Returns what snprintf returns. */
int model__frame_format(const struct model *m, uint32_t id, char *buf, size_t len);
/* A frame's parts: strings "" where unknown (borrowed), line and pc 0 where unknown. FUNC is
 * demangled (unless --no-demangle), SYSNAME as the object names it; FILE is the source file's
 * full path where the trace has it (basenames in traces of older lockscopes). */
struct model_frame {
	const char *func, *sysname, *file, *module;
	uint32_t line;
	uint64_t pc;		/* the address in the target (native frames) */
};
/* Frame ID's parts in *OUT; false for an id never defined. */
bool model__frame_parts(const struct model *m, uint32_t id, struct model_frame *out);
/* The I-th frame defined, in order of first appearance; false past the end. */
bool model__frame_at(const struct model *m, size_t i, struct model_frame *out);
/* A mapped object as its OBJECT record describes it. Strings borrowed, "" where unknown. */
struct model_object {
	const char *path, *build_id, *debug_file;
	uint8_t flags;		/* LS_OBJ_* */
	uint8_t via;		/* enum ls_obj_via */
};
/* The I-th object, in order of first appearance; false past the end. */
bool model__object_at(const struct model *m, size_t i, struct model_object *out);
/* The object at PATH (as the memory map names it); false if no OBJECT record named it. */
bool model__object(const struct model *m, const char *path, struct model_object *out);
/* The frame ids of stack ID, innermost first, in *FRAMES (borrowed); 0 if ID is unknown. */
uint32_t model__stack(const struct model *m, uint32_t id, const uint32_t **frames);
/* Stack ID ends with a frame that says it was cut short (LS_CUT_PC_BASE). */
bool model__stack_cut(const struct model *m, uint32_t id);
/* Writes stack ID as a JSON array of formatted frames ([] for 0 or an unknown id); a stack whose
 * JSON would pass LS_STACK_JSON_MAX ends with "... N more frames" in place of the frames past
 * that. */
void model__stack_json(const struct model *m, uint32_t id, struct json_writer *w);
/* The same array as JSON text without spaces, in a new string of *LEN bytes (not
 * NUL-terminated; the caller frees it). NULL if out of memory. */
char *model__stack_json_text(const struct model *m, uint32_t id, size_t *len);

/* ---- labels for people and JSON, one form for every command. M may be NULL: nothing is named
 * then, as in a trace without LOCK, THREAD or STACK records. ---- */

/* Text goes to terminals, and the target chose every name in it: control characters, which could
 * be escape sequences, become '?'. Returns S. */
char *ls_scrub(char *s);

#define MODEL_NO_KIND (-1)
/* ADDR's name from the last LOCK record (borrowed), else "<kind> 0x<addr>" in BUF, or the bare
 * "0x<addr>" where KIND is MODEL_NO_KIND; 32 bytes hold any of them. Not scrubbed: JSON takes the
 * name as it is, text copies it to scrub it. */
const char *model__lock_label(const struct model *m, uint64_t addr, int kind, char *buf,
			      size_t len);
/* "4243 (worker-1)", or "worker-1 (4243)" if NAME_FIRST; the bare tid where no THREAD record
 * named the thread. Written to BUF and scrubbed; returns BUF. */
const char *model__thread_label(const struct model *m, uint32_t tid, bool name_first, char *buf,
				size_t len);
/* THREAD records named threads of more than one process. */
bool model__several_processes(const struct model *m);
/* "4243 (worker-1)" as model__thread_label() writes it, and where the trace is of several
 * processes, the thread's: "4243 (worker-1) of python3 4240". Scrubbed, in BUF; returns BUF. */
const char *model__thread_label_of(const struct model *m, uint32_t tid, char *buf, size_t len);
/* "python3 4240": process PID by its command name as its PROCESS record gave it, then its pid;
 * the bare pid where no record named it. Written to BUF and scrubbed; returns BUF. */
const char *model__process_label(const struct model *m, uint32_t pid, char *buf, size_t len);
/* The frame of stack ID that names the culprit: its innermost one outside the C library, the
 * interpreter and Python's libraries (the program's own), else its innermost; formatted and
 * scrubbed into BUF. Returns BUF; "(no stack)" where ID has no frames. */
const char *model__stack_culprit(const struct model *m, uint32_t id, char *buf, size_t len);
/* Writes stack ID as lines of INDENT and a scrubbed frame, innermost first, at most MAX_FRAMES of
 * them and then how many more; "(no stack)" for id 0, which no stack has, and "(stack N is not in
 * the trace)" for an id no STACK record defined. */
void model__stack_text(const struct model *m, uint32_t id, const char *indent, uint32_t max_frames,
		       FILE *out);

#endif
