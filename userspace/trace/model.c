/* model.c - the metadata tables: each a growing array in order of first appearance, indexed by
 * key through a bytemap (key -> position), so that nothing is capped and nothing dropped. */
#include "trace/model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/demangle.h"
#include "util/json.h"
#include "trace/trace.h"

struct thread {
	uint32_t tid;
	uint32_t pid;	/* 0: not known */
	uint32_t parent;	/* the thread that created it; 0: not known */
	char *name;
};

struct process {
	uint32_t pid;
	char *comm, *cmdline; /* NULL where no PROCESS record said, or it said "" */
};

struct lock {
	uint64_t addr;
	uint8_t kind;
	char *name;
};

struct frame {
	uint32_t id;
	uint32_t line;
	uint64_t pc, offset;
	char *func, *file, *module; /* "" where unknown; func demangled, file as recorded */
	char *sysname;		    /* the linkage name: func before demangling */
	char *label;		    /* "func (file:line)", as model__frame_format() says it */
};

struct object {
	char *path, *build_id, *debug_file;
	uint8_t flags, via;
};

struct stack {
	uint32_t id;
	uint32_t nframes;
	uint32_t *frames;
};

/* One table: elements of SIZE bytes, and the index from key to position. */
struct table {
	void *items;
	size_t size, count, cap;
	struct bytemap *index;
};

struct model {
	struct table threads, locks, frames, stacks, processes;
	uint32_t first_pid;	/* the first process a THREAD record named */
	bool several;		/* THREAD records named another */
	struct object *objects;	/* by path, through objects_ix */
	size_t nobjects, objects_cap;
	struct bytemap *objects_ix;
};

static int table_init(struct table *t, size_t size)
{
	t->size = size;
	t->index = bytemap__new();
	return t->index ? 0 : -ENOMEM;
}

static void *table_find(const struct table *t, uint64_t key)
{
	const uint64_t *pos = bytemap__get_u64(t->index, key);

	return pos ? (char *)t->items + *pos * t->size : NULL;
}

/* The element for KEY; a new zeroed one if there was none. NULL if out of memory. */
static void *table_get(struct table *t, uint64_t key)
{
	void *item = table_find(t, key);

	if (item)
		return item;
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		void *n = realloc(t->items, cap * t->size);

		if (!n)
			return NULL;
		t->items = n;
		t->cap = cap;
	}
	if (bytemap__put_u64(t->index, key, t->count))
		return NULL;
	item = (char *)t->items + t->count++ * t->size;
	memset(item, 0, t->size);
	return item;
}

struct model *model__new(void)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (table_init(&m->threads, sizeof(struct thread)) ||
	    table_init(&m->locks, sizeof(struct lock)) ||
	    table_init(&m->frames, sizeof(struct frame)) ||
	    table_init(&m->stacks, sizeof(struct stack)) ||
	    table_init(&m->processes, sizeof(struct process)) ||
	    !(m->objects_ix = bytemap__new())) {
		model__free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

static void free_frame(struct frame *f)
{
	free(f->func);
	free(f->sysname);
	free(f->file);
	free(f->module);
	free(f->label);
}

/* The file's name without its directories: the trace keeps the full path where it has it. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int frame_text(const struct frame *f, char *buf, size_t len)
{
	if (f->pc >= LS_CUT_PC_BASE)
		return snprintf(buf, len, "%s", f->func);
	if (f->func[0] && f->file[0] && f->line)
		return snprintf(buf, len, "%s (%s:%" PRIu32 ")", f->func, base_name(f->file),
				f->line);
	if (f->func[0] && f->module[0])
		return snprintf(buf, len, "%s+0x%" PRIx64 " (%s)", f->func, f->offset, f->module);
	if (f->func[0])
		return snprintf(buf, len, "%s+0x%" PRIx64, f->func, f->offset);
	if (f->module[0])
		return snprintf(buf, len, "%s+0x%" PRIx64, f->module, f->offset);
	return snprintf(buf, len, "0x%" PRIx64, f->pc);
}

void model__free(struct model *m)
{
	struct thread *threads;
	struct lock *locks;
	struct frame *frames;
	struct stack *stacks;
	struct process *procs;

	if (!m)
		return;
	procs = m->processes.items;
	for (size_t i = 0; i < m->processes.count; i++) {
		free(procs[i].comm);
		free(procs[i].cmdline);
	}
	free(m->processes.items);
	bytemap__free(m->processes.index);
	threads = m->threads.items;
	for (size_t i = 0; i < m->threads.count; i++)
		free(threads[i].name);
	locks = m->locks.items;
	for (size_t i = 0; i < m->locks.count; i++)
		free(locks[i].name);
	frames = m->frames.items;
	for (size_t i = 0; i < m->frames.count; i++)
		free_frame(&frames[i]);
	stacks = m->stacks.items;
	for (size_t i = 0; i < m->stacks.count; i++)
		free(stacks[i].frames);
	for (size_t i = 0; i < m->nobjects; i++) {
		free(m->objects[i].path);
		free(m->objects[i].build_id);
		free(m->objects[i].debug_file);
	}
	free(m->objects);
	bytemap__free(m->objects_ix);
	free(m->threads.items);
	free(m->locks.items);
	free(m->frames.items);
	free(m->stacks.items);
	bytemap__free(m->threads.index);
	bytemap__free(m->locks.index);
	bytemap__free(m->frames.index);
	bytemap__free(m->stacks.index);
	free(m);
}

/* Replaces *DST with a copy of SRC (NULL read as ""). 0 or -ENOMEM, *DST unchanged then. */
static int set_string(char **dst, const char *src)
{
	char *copy = strdup(src ? src : "");

	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int feed_thread(struct model *m, const struct ls_rec *rec)
{
	struct thread *t = table_get(&m->threads, rec->tid);

	if (!t)
		return -ENOMEM;
	t->tid = rec->tid;
	if (rec->thread.pid) {
		t->pid = rec->thread.pid;
		m->first_pid = m->first_pid ?: rec->thread.pid;
		m->several |= rec->thread.pid != m->first_pid;
	}
	if (rec->thread.parent)
		t->parent = rec->thread.parent;
	return set_string(&t->name, rec->thread.name);
}

static int feed_lock(struct model *m, const struct ls_rec *rec)
{
	struct lock *l = table_get(&m->locks, rec->lock.addr);
	char *readable;
	int err;

	if (!l)
		return -ENOMEM;
	l->addr = rec->lock.addr;
	l->kind = rec->lock.kind;
	/* a name made of a C++ variable, or of the function that first took the lock */
	readable = ls_demangle_text(rec->lock.name);
	err = set_string(&l->name, readable ? readable : rec->lock.name);
	free(readable);
	return err;
}

static int feed_frame(struct model *m, const struct ls_rec *rec)
{
	struct frame n = {
	    .id = rec->frame.id,
	    .line = rec->frame.line,
	    .pc = rec->frame.pc,
	    .offset = rec->frame.offset,
	};
	struct frame *f;

	int len;

	if (set_string(&n.sysname, rec->frame.func) || set_string(&n.file, rec->frame.file) ||
	    set_string(&n.module, rec->frame.module))
		goto nomem;
	n.func = ls_demangle(n.sysname);
	if (!n.func && set_string(&n.func, n.sysname))
		goto nomem;
	/* formatted once: every stack that holds the frame prints it, once per event */
	len = frame_text(&n, NULL, 0);
	if (len < 0 || !(n.label = malloc(len + 1)))
		goto nomem;
	frame_text(&n, n.label, len + 1);
	f = table_get(&m->frames, rec->frame.id);
	if (!f)
		goto nomem;
	free_frame(f);
	*f = n;
	return 0;
nomem:
	free_frame(&n);
	return -ENOMEM;
}

static int feed_stack(struct model *m, const struct ls_rec *rec)
{
	uint32_t n = rec->stack.frames ? rec->stack.nframes : 0;
	uint32_t *frames = malloc((n ? n : 1) * sizeof(*frames));
	struct stack *s;

	if (!frames)
		return -ENOMEM;
	if (n)
		memcpy(frames, rec->stack.frames, n * sizeof(*frames));
	s = table_get(&m->stacks, rec->stack.id);
	if (!s) {
		free(frames);
		return -ENOMEM;
	}
	free(s->frames);
	s->id = rec->stack.id;
	s->nframes = n;
	s->frames = frames;
	return 0;
}

static int feed_object(struct model *m, const struct ls_rec *rec)
{
	const char *path = rec->object.path ? rec->object.path : "";
	struct object *o = bytemap__slot(m->objects_ix, path, strlen(path), &m->objects,
					 &m->nobjects, &m->objects_cap, sizeof(*m->objects));

	if (!o)
		return -ENOMEM;
	o->flags = rec->object.flags;
	o->via = rec->object.via;
	if (set_string(&o->path, path) || set_string(&o->build_id, rec->object.build_id) ||
	    set_string(&o->debug_file, rec->object.debug_file))
		return -ENOMEM;
	return 0;
}

/* "" is what the recorder writes where it could not read: kept as not known. */
static int set_known(char **dst, const char *src)
{
	if (src && src[0])
		return set_string(dst, src);
	free(*dst);
	*dst = NULL;
	return 0;
}

static int feed_process(struct model *m, const struct ls_rec *rec)
{
	struct process *p = table_get(&m->processes, rec->tid);

	if (!p)
		return -ENOMEM;
	p->pid = rec->tid;
	return set_known(&p->comm, rec->process.comm)
		   ?: set_known(&p->cmdline, rec->process.cmdline);
}

int model__feed(struct model *m, const struct ls_rec *rec)
{
	switch (rec->type) {
	case LS_REC_THREAD:
		return feed_thread(m, rec);
	case LS_REC_LOCK:
		return feed_lock(m, rec);
	case LS_REC_FRAME:
		return feed_frame(m, rec);
	case LS_REC_STACK:
		return feed_stack(m, rec);
	case LS_REC_OBJECT:
		return feed_object(m, rec);
	case LS_REC_PROCESS:
		return feed_process(m, rec);
	default:
		return 0;
	}
}

const char *model__thread_name(const struct model *m, uint32_t tid)
{
	const struct thread *t = table_find(&m->threads, tid);

	return t ? t->name : NULL;
}

uint32_t model__thread_pid(const struct model *m, uint32_t tid)
{
	const struct thread *t = table_find(&m->threads, tid);

	return t ? t->pid : 0;
}

bool model__process(const struct model *m, uint32_t pid, const char **comm, const char **cmdline)
{
	const struct process *p = table_find(&m->processes, pid);

	*comm = p ? p->comm : NULL;
	*cmdline = p ? p->cmdline : NULL;
	return p;
}

const char *model__process_name(const struct model *m, uint32_t pid)
{
	const char *comm, *cmdline;

	model__process(m, pid, &comm, &cmdline);
	return comm ?: model__thread_name(m, pid);
}

uint32_t model__thread_parent(const struct model *m, uint32_t tid)
{
	const struct thread *t = table_find(&m->threads, tid);

	return t ? t->parent : 0;
}

bool model__thread_at(const struct model *m, size_t i, uint32_t *tid, const char **name)
{
	const struct thread *t;

	if (i >= m->threads.count)
		return false;
	t = (const struct thread *)m->threads.items + i;
	*tid = t->tid;
	*name = t->name;
	return true;
}

const char *model__lock_name(const struct model *m, uint64_t addr, uint8_t *kind)
{
	const struct lock *l = table_find(&m->locks, addr);

	if (l && kind)
		*kind = l->kind;
	return l ? l->name : NULL;
}

int model__frame_format(const struct model *m, uint32_t id, char *buf, size_t len)
{
	const struct frame *f = table_find(&m->frames, id);

	if (!f)
		return snprintf(buf, len, "?? (frame %" PRIu32 ")", id);
	return snprintf(buf, len, "%s", f->label);
}

bool model__frame_parts(const struct model *m, uint32_t id, struct model_frame *out)
{
	const struct frame *f = table_find(&m->frames, id);

	if (!f)
		return false;
	*out = (struct model_frame){.func = f->func, .sysname = f->sysname, .file = f->file,
				    .module = f->module, .line = f->line, .pc = f->pc};
	return true;
}

bool model__frame_at(const struct model *m, size_t i, struct model_frame *out)
{
	if (i >= m->frames.count)
		return false;
	return model__frame_parts(m, ((const struct frame *)m->frames.items)[i].id, out);
}

static void object_out(const struct object *o, struct model_object *out)
{
	*out = (struct model_object){.path = o->path, .build_id = o->build_id,
				     .debug_file = o->debug_file, .flags = o->flags, .via = o->via};
}

bool model__object_at(const struct model *m, size_t i, struct model_object *out)
{
	if (i >= m->nobjects)
		return false;
	object_out(&m->objects[i], out);
	return true;
}

bool model__object(const struct model *m, const char *path, struct model_object *out)
{
	const uint64_t *i = bytemap__get(m->objects_ix, path, strlen(path));

	if (!i)
		return false;
	object_out(&m->objects[*i], out);
	return true;
}

uint32_t model__stack(const struct model *m, uint32_t id, const uint32_t **frames)
{
	const struct stack *s = id ? table_find(&m->stacks, id) : NULL;

	*frames = s ? s->frames : NULL;
	return s ? s->nframes : 0;
}

#define UNKNOWN_LABEL_MAX 48 /* "?? (frame 4294967295)" */

/* Frame ID's label: its own, else "?? (frame N)" in UNKNOWN (UNKNOWN_LABEL_MAX bytes). */
static const char *frame_label(const struct model *m, uint32_t id, char *unknown)
{
	const struct frame *f = table_find(&m->frames, id);

	if (f)
		return f->label;
	model__frame_format(m, id, unknown, UNKNOWN_LABEL_MAX);
	return unknown;
}

/* How many of a stack's frames its JSON holds: all that fit in LS_STACK_JSON_MAX bytes of JSON
 * (a genuine stack of 127 native frames takes ~15 KiB), the rest told by one last string, "...
 * N more frames". Every stack printed is printed whole otherwise, once per lock, edge or event
 * that has it: a crafted trace of one deep stack of long names must not make that gigabytes. */
#define MORE_MAX 40 /* "... 4294967295 more frames" */

static uint32_t frames_shown(const struct model *m, const uint32_t *frames, uint32_t n)
{
	char unknown[UNKNOWN_LABEL_MAX];
	size_t total = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		/* escaped as JSON escapes it: a label of control bytes is six times its length */
		total += json_quoted_bound(frame_label(m, frames[i], unknown));
		if (total > LS_STACK_JSON_MAX)
			break;
	}
	return i;
}

static void more_frames(char *buf, uint32_t n)
{
	snprintf(buf, MORE_MAX, "... %" PRIu32 " more frames", n);
}

void model__stack_json(const struct model *m, uint32_t id, struct json_writer *w)
{
	const uint32_t *frames;
	uint32_t n = model__stack(m, id, &frames), shown = frames_shown(m, frames, n);
	char unknown[UNKNOWN_LABEL_MAX], more[MORE_MAX];

	json_writer__array_begin(w);
	for (uint32_t i = 0; i < shown; i++)
		json_writer__string(w, frame_label(m, frames[i], unknown));
	if (shown < n) {
		more_frames(more, n - shown);
		json_writer__string(w, more);
	}
	json_writer__array_end(w);
}

char *model__stack_json_text(const struct model *m, uint32_t id, size_t *len)
{
	const uint32_t *frames;
	uint32_t n = model__stack(m, id, &frames), shown = frames_shown(m, frames, n);
	size_t max = 2 + JSON_QUOTED_MAX(MORE_MAX) + 1;
	char unknown[UNKNOWN_LABEL_MAX], more[MORE_MAX], *text, *p;

	for (uint32_t i = 0; i < shown; i++)
		max += JSON_QUOTED_MAX(strlen(frame_label(m, frames[i], unknown))) + 1;
	p = text = malloc(max);
	if (!text)
		return NULL;
	*p++ = '[';
	for (uint32_t i = 0; i <= shown && i < n; i++) {
		const char *label = frame_label(m, frames[i], unknown);

		if (i == shown) {
			more_frames(more, n - shown);
			label = more;
		}
		if (i)
			*p++ = ',';
		p += json_quote(p, label, strlen(label));
	}
	*p++ = ']';
	*len = p - text;
	return text;
}

char *ls_scrub(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

const char *model__lock_label(const struct model *m, uint64_t addr, int kind, char *buf, size_t len)
{
	const char *name = m ? model__lock_name(m, addr, NULL) : NULL;

	if (name && name[0])
		return name;
	if (kind == MODEL_NO_KIND)
		snprintf(buf, len, "0x%" PRIx64, addr);
	else
		snprintf(buf, len, "%s 0x%" PRIx64, ls_kind_name(kind), addr);
	return buf;
}

const char *model__thread_label(const struct model *m, uint32_t tid, bool name_first, char *buf,
				size_t len)
{
	const char *name = m ? model__thread_name(m, tid) : NULL;

	if (!name || !name[0])
		snprintf(buf, len, "%" PRIu32, tid);
	else if (name_first)
		snprintf(buf, len, "%s (%" PRIu32 ")", name, tid);
	else
		snprintf(buf, len, "%" PRIu32 " (%s)", tid, name);
	return ls_scrub(buf);
}

bool model__several_processes(const struct model *m)
{
	return m && m->several;
}

const char *model__thread_label_of(const struct model *m, uint32_t tid, char *buf, size_t len)
{
	uint32_t pid = m && m->several ? model__thread_pid(m, tid) : 0;
	size_t n;

	model__thread_label(m, tid, false, buf, len);
	n = strlen(buf);
	if (pid && n + 4 < len) {
		memcpy(buf + n, " of ", 4);
		model__process_label(m, pid, buf + n + 4, len - n - 4);
	}
	return buf;
}

const char *model__process_label(const struct model *m, uint32_t pid, char *buf, size_t len)
{
	const char *comm = NULL, *cmdline;

	if (m)
		model__process(m, pid, &comm, &cmdline);
	if (comm)
		snprintf(buf, len, "%s %" PRIu32, comm, pid);
	else
		snprintf(buf, len, "%" PRIu32, pid);
	return ls_scrub(buf);
}

/* The machinery between the frames that matter: the C library's and the interpreter's own
 * native frames (its executable or libpython; node, libnode, libuv), Python frames of the
 * standard library or of installed packages (module "python-lib": asyncio's dispatch, urllib
 * under a call) and Node.js' own JavaScript ("js-lib", "jit"); not the program's own code
 * (module "python", "js"). */
static bool machinery(const struct model *m, uint32_t id)
{
	struct model_frame f;
	const char *mod;

	if (!model__frame_parts(m, id, &f))
		return false;
	mod = f.module;
	return !strncmp(mod, "libc.so", 7) || !strncmp(mod, "libpthread", 10) ||
	       !strncmp(mod, "ld-linux", 8) || !strncmp(mod, "libpython", 9) ||
	       (!strncmp(mod, "python", 6) && mod[6]) || !strcmp(mod, "node") ||
	       !strncmp(mod, "libnode.so", 10) || !strncmp(mod, "libuv.so", 8) ||
	       !strcmp(mod, "js-lib") || !strcmp(mod, "jit");
}

const char *model__stack_culprit(const struct model *m, uint32_t id, char *buf, size_t len)
{
	const uint32_t *frames;
	uint32_t n = m ? model__stack(m, id, &frames) : 0, i = 0;

	if (!n) {
		snprintf(buf, len, "(no stack)");
		return buf;
	}
	while (i < n && machinery(m, frames[i]))
		i++;
	model__frame_format(m, frames[i < n ? i : 0], buf, len);
	return ls_scrub(buf);
}

#define STACK_HEAD 3 /* innermost frames always shown: where the thread waits */

/* A stack longer than MAX_FRAMES keeps its innermost frames and every frame that matters (up
 * to MAX_FRAMES of them); each run of machinery between them is one line that counts it, so
 * that the program's own frames are never cut for the library's. */
bool model__stack_cut(const struct model *m, uint32_t id)
{
	const uint32_t *frames;
	uint32_t n = m ? model__stack(m, id, &frames) : 0;
	struct model_frame f;

	return n && model__frame_parts(m, frames[n - 1], &f) && f.pc >= LS_CUT_PC_BASE;
}

void model__stack_text(const struct model *m, uint32_t id, const char *indent, uint32_t max_frames,
		       FILE *out)
{
	const uint32_t *frames = NULL;
	uint32_t n = m ? model__stack(m, id, &frames) : 0, shown = 0, skipped = 0, i;
	char buf[512]; /* a longer frame is cut: a line for people, not a record */
	bool cut = model__stack_cut(m, id);

	/* a cut stack's last line says so, however many frames are left out before it */
	n -= cut;
	for (i = 0; i < n && shown < max_frames; i++) {
		if (n > max_frames && i >= STACK_HEAD && machinery(m, frames[i])) {
			skipped++;
			continue;
		}
		if (skipped)
			fprintf(out, "%s... %" PRIu32 " library frames\n", indent,
				skipped);
		skipped = 0;
		model__frame_format(m, frames[i], buf, sizeof(buf));
		fprintf(out, "%s%s\n", indent, ls_scrub(buf));
		shown++;
	}
	if (i < n)
		fprintf(out, "%s... %" PRIu32 " more frames\n", indent, n - i + skipped);
	else if (skipped)
		fprintf(out, "%s... %" PRIu32 " library frames\n", indent,
			skipped);
	else if (!n && !id)
		fprintf(out, "%s(no stack)\n", indent);
	else if (!n && !cut)
		fprintf(out, "%s(stack %" PRIu32 " is not in the trace)\n", indent, id);
	if (cut) {
		model__frame_format(m, frames[n], buf, sizeof(buf));
		fprintf(out, "%s%s\n", indent, ls_scrub(buf));
	}
}
