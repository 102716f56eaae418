/* export_chrome.c - streams trace records out as trace events: a wait becomes a slice when it
 * ends, a wake a slice on the waker and a flow into the wait it ended (the walk: timeline.c), a
 * hold (full mode) a slice, a deadlock an instant on each of its threads. */
#include "export/export_chrome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytemap.h"
#include "util/common.h"
#include "export/export.h"
#include "util/json.h"
#include "analysis/deadlock.h"
#include "analysis/loopblock.h"
#include "trace/model.h"
#include "analysis/timeline.h"
#include "trace/trace.h"

#define JSON_PRETTY 2 /* a line per member of the document and per event */
#define FLOW_CAT "wake"
#define HOLD_CAT "hold"
/* Holds of a thread whose slices it remembers, to tell one that would cross another (released
 * out of order) from one that nests. */
#define HOLDS_REMEMBERED 16
#define WAKE_NAME_MAX 1024
/* Room for an event's numbers and punctuation: what its cached and quoted texts leave. */
#define EVENT_MAX 384

/* A lock's texts: the beginning of its wait slices, and of its wakes' slices and flows (the
 * phase at HEAD_PH is set per event), up to the tid; its address as a JSON string. A LOCK record
 * that renames the lock drops the heads (NULL: to render). */
struct lock_text {
	char *wait_head, *wake_head, *hold_head;
	size_t wait_len, wake_len, hold_len;
	/* ,"lock":"<the whole description>" where the name is cut short; "" otherwise */
	char *detail;
	size_t detail_len;
	uint8_t wait_kind; /* an unnamed lock's label says the kind: the wait head's */
	uint8_t addr_len;  /* 0: a new item */
	char addr[24];
};

/* A stack as a JSON array; NULL to render, as after a STACK record that redefines it. */
struct stack_text {
	char *json;
	size_t len;
	uint64_t frames_gen; /* the frame definitions it was rendered with */
};

struct exporter {
	const struct export_ctx *ctx;
	const struct model *model;
	struct json_writer *w;
	struct timeline *tl;
	uint64_t next_flow_id;
	struct loopblock *loops;    /* event-loop blocks: slices once the whole trace is read */
	struct deadlock *deadlocks; /* deadlocks: instants once the whole trace is read */
	/* texts rendered once per lock and per stack, and copied into every event that needs
	 * them: a bytemap from the address or id to the position in the array */
	struct bytemap *lock_index, *stack_index;
	struct lock_text *lock_texts;
	struct stack_text *stack_texts;
	size_t nlocks, locks_cap, nstacks, stacks_cap;
	uint64_t frames_gen; /* counts FRAME records: any of them may change a stack's text */
	/* the last wait given, for the slice its wake's flow ends on */
	uint32_t wait_tid;
	uint64_t wait_begin, wait_end;
	/* per thread, the outermost hold slices given last, oldest first: one that starts inside
	 * one of them and ends past it would cross it */
	struct bytemap *hold_index;
	struct bytemap *pid_index; /* processes named, beside the trace's own */
	struct thread_holds {
		uint64_t begin[HOLDS_REMEMBERED], end[HOLDS_REMEMBERED];
		uint32_t n;
	} * thread_holds;
	size_t nthreads, threads_cap;
	uint64_t next_hold_id, holds_async;
	int deadlock_err;
};

static const char *result_name(uint8_t result)
{
	static const char *const names[] = {
	    [LS_WAIT_WOKEN] = "woken",	   [LS_WAIT_TIMEOUT] = "timeout",
	    [LS_WAIT_CHANGED] = "changed", [LS_WAIT_INTR] = "intr",
	    [LS_WAIT_ERROR] = "error",	   [LS_WAIT_UNFINISHED] = "unfinished",
	};

	if (result == TL_RESULT_EXITED)
		return "exited";
	return result < ARRAY_SIZE(names) ? names[result] : "unknown";
}

/* ---- rendering: into room the writer made for the event ---- */

#define HEAD_PH 7 /* {"ph":"X": where the phase is */
#define put_lit(p, lit) put(p, lit, sizeof(lit) - 1)

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
				    "31323334353637383940414243444546474849505152535455565758596061"
				    "62636465666768697071727374757677787980818283848586878889909192"
				    "93949596979899";
	uint64_t tens = 10;
	char *end = p + 1;
	uint32_t u;

	/* the digits are counted first, then written from the last, in pairs */
	for (; v >= tens && end < p + 20; tens *= 10)
		end++;
	p = end;
	for (; v > UINT32_MAX; v /= 100)
		memcpy(p -= 2, pairs + v % 100 * 2, 2);
	for (u = v; u >= 100; u /= 100)
		memcpy(p -= 2, pairs + u % 100 * 2, 2);
	if (u >= 10)
		memcpy(p - 2, pairs + u * 2, 2);
	else
		p[-1] = '0' + u;
	return end;
}

/* Microseconds with nanosecond precision, as the format counts time: 12345 ns is 12.345. */
static char *put_us(char *p, uint64_t ns)
{
	unsigned int frac;

	if (ns > INT64_MAX)
		ns = INT64_MAX;
	frac = ns % 1000;
	p = put_u64(p, ns / 1000);
	p[0] = '.';
	p[1] = '0' + frac / 100;
	p[2] = '0' + frac / 10 % 10;
	p[3] = '0' + frac % 10;
	return p + 4;
}

/* The process of thread TID: the trace's own where its THREAD records did not say. */
static uint32_t pid_of(const struct exporter *x, uint32_t tid)
{
	uint32_t pid = model__thread_pid(x->model, tid);

	return pid ? pid : x->ctx->info->pid;
}

/* What follows a head: the thread's process and the thread. */
static char *put_ids(char *p, const struct exporter *x, uint32_t tid)
{
	p = put_u64(p, pid_of(x, tid));
	p = put_lit(p, ",\"tid\":");
	return put_u64(p, tid);
}

/* What follows a slice's head: its process and thread, start and duration. */
static char *put_slice(char *p, const struct exporter *x, uint32_t tid, uint64_t ts, uint64_t dur)
{
	p = put_ids(p, x, tid);
	p = put_lit(p, ",\"ts\":");
	p = put_us(p, ts);
	p = put_lit(p, ",\"dur\":");
	return put_us(p, dur);
}

static char *put_quoted(char *p, const char *s)
{
	return p + json_quote(p, s, strlen(s));
}

/* The most that put_head() writes for NAME and CAT (beyond EVENT_MAX). */
static size_t head_max(const char *name, const char *cat)
{
	return JSON_QUOTED_MAX(strlen(name)) + (cat ? JSON_QUOTED_MAX(strlen(cat)) : 0);
}

/* What every event begins with: {"ph":PH,"name":NAME,"cat":CAT,"pid": (no cat where CAT is
 * NULL); the pid (put_ids), the tid and the rest are the caller's: a process's threads are
 * under its own pid. */
static char *put_head(char *p, char ph, const char *name, const char *cat)
{
	p = put_lit(p, "{\"ph\":\"");
	*p++ = ph;
	p = put_lit(p, "\",\"name\":");
	p = put_quoted(p, name);
	if (cat) {
		p = put_lit(p, ",\"cat\":");
		p = put_quoted(p, cat);
	}
	return put_lit(p, ",\"pid\":");
}

/* A head rendered once, in a new string (*LEN bytes); NULL if out of memory. */
static char *head_text(const struct exporter *x, const char *name, const char *cat, size_t *len)
{
	char *text = malloc(head_max(name, cat) + EVENT_MAX);

	if (text)
		*len = put_head(text, 'X', name, cat) - text;
	return text;
}

/* An event whose cached and quoted texts take at most MAX bytes (its numbers and punctuation
 * EVENT_MAX more): where to write it, or NULL after the writer's error. */
static char *event_begin(struct exporter *x, size_t max)
{
	return json_writer__raw_begin(x->w, max + EVENT_MAX);
}

/* Ends the event that began at START; P is past its last byte. 0, or the writer's error. */
static int event_end(struct exporter *x, const char *start, const char *p)
{
	json_writer__raw_end(x->w, p - start);
	return json_writer__error(x->w);
}

/* ---- cached texts ---- */

/* A lock's name for a slice, in a new string: LABEL up to " first ..." ("heap 0x5581d2a0 first
 * taken in f (x.c:3)" is "heap 0x5581d2a0"); where that cut something, *DETAIL (malloc'd) is
 * the whole label as an arg, ,"lock":"...". NULL if out of memory. */
static char *short_name(const char *label, char **detail, size_t *detail_len)
{
	const char *cut = strstr(label, " first ");

	*detail = NULL;
	*detail_len = 0;
	if (cut) {
		*detail = malloc(sizeof(",\"lock\":") + JSON_QUOTED_MAX(strlen(label)));
		if (!*detail)
			return NULL;
		memcpy(*detail, ",\"lock\":", 8);
		*detail_len = 8 + json_quote(*detail + 8, label, strlen(label));
	}
	return strndup(label, cut ? (size_t)(cut - label) : strlen(label));
}

/* ADDR's texts, the wake head rendered; the wait head too where WAIT_KIND is a kind (not -1).
 * NULL if out of memory. */
static const struct lock_text *lock_text(struct exporter *x, uint64_t addr, int wait_kind)
{
	struct lock_text *l = bytemap__slot(x->lock_index, &addr, sizeof(addr), &x->lock_texts,
					    &x->nlocks, &x->locks_cap, sizeof(*x->lock_texts));
	char name[WAKE_NAME_MAX], fallback[64];

	if (!l)
		return NULL;
	if (!l->addr_len)
		l->addr_len = snprintf(l->addr, sizeof(l->addr), "\"0x%" PRIx64 "\"", addr);
	if (!l->wake_head) {
		const char *label = model__lock_label(x->model, addr, LS_KIND_FUTEX, fallback,
						      sizeof(fallback));
		char *lock, *held;

		free(l->detail);
		lock = short_name(label, &l->detail, &l->detail_len);
		if (!lock)
			return NULL;
		/* names longer than a recorder writes are cut, the same way at both ends of a flow */
		snprintf(name, sizeof(name), "wake %s", lock);
		l->wake_head = head_text(x, name, FLOW_CAT, &l->wake_len);
		held = malloc(strlen(lock) + sizeof(" held"));
		if (held)
			strcat(strcpy(held, lock), " held");
		l->hold_head = held ? head_text(x, held, HOLD_CAT, &l->hold_len) : NULL;
		free(lock);
		free(held);
		if (!l->wake_head || !l->hold_head)
			return NULL;
	}
	if (wait_kind >= 0 && (!l->wait_head || l->wait_kind != wait_kind)) {
		char *detail, *lock;
		size_t detail_len;

		free(l->wait_head);
		l->wait_kind = wait_kind;
		lock = short_name(model__lock_label(x->model, addr, wait_kind, fallback,
						    sizeof(fallback)),
				  &detail, &detail_len);
		free(detail); /* the same as the wake's: the LOCK record's name */
		l->wait_head = lock ? head_text(x, lock, ls_kind_name(wait_kind), &l->wait_len) : NULL;
		free(lock);
		if (!l->wait_head)
			return NULL;
	}
	return l;
}

/* A LOCK record named ADDR anew: its heads are rendered again when next used. */
static void lock_renamed(struct exporter *x, uint64_t addr)
{
	const uint64_t *pos = bytemap__get_u64(x->lock_index, addr);
	struct lock_text *l;

	if (!pos)
		return;
	l = &x->lock_texts[*pos];
	free(l->wait_head);
	free(l->wake_head);
	free(l->hold_head);
	free(l->detail);
	l->wait_head = l->wake_head = l->hold_head = l->detail = NULL;
	l->detail_len = 0;
}

/* Stack ID as a JSON array, or NULL if out of memory. */
static const struct stack_text *stack_text(struct exporter *x, uint32_t id)
{
	uint64_t key = id;
	struct stack_text *s = bytemap__slot(x->stack_index, &key, sizeof(key), &x->stack_texts,
					     &x->nstacks, &x->stacks_cap, sizeof(*x->stack_texts));

	if (!s)
		return NULL;
	if (!s->json || s->frames_gen != x->frames_gen) {
		free(s->json);
		s->json = model__stack_json_text(x->model, id, &s->len);
		s->frames_gen = x->frames_gen;
		if (!s->json)
			return NULL;
	}
	return s;
}

/* The records that change what a cached text says. */
static void texts_feed(struct exporter *x, const struct ls_rec *rec)
{
	const uint64_t *pos;

	switch (rec->type) {
	case LS_REC_LOCK:
		lock_renamed(x, rec->lock.addr);
		break;
	case LS_REC_FRAME:
		x->frames_gen++;
		break;
	case LS_REC_STACK:
		pos = bytemap__get_u64(x->stack_index, rec->stack.id);
		if (pos) {
			free(x->stack_texts[*pos].json);
			x->stack_texts[*pos].json = NULL;
		}
		break;
	default:
		break;
	}
}

/* ---- events ---- */

static int metadata(struct exporter *x, const char *what, uint32_t tid, const char *name)
{
	size_t max = head_max(what, NULL) + JSON_QUOTED_MAX(strlen(name));
	char *start = event_begin(x, max), *p = start;

	if (!p)
		return json_writer__error(x->w);
	p = put_head(p, 'M', what, NULL);
	p = put_ids(p, x, tid);
	p = put_lit(p, ",\"args\":{\"name\":");
	p = put_quoted(p, name);
	p = put_lit(p, "}}");
	return event_end(x, start, p);
}

/* A thread's name; before the first thread of a process other than the trace's own, the name of
 * that process (its command, else its main thread's name), so each process is its own group of
 * tracks. */
static int on_thread_name(void *arg, uint32_t tid, const char *name)
{
	struct exporter *x = arg;
	uint32_t pid = pid_of(x, tid);
	const char *pname;
	int err;

	if (pid != x->ctx->info->pid && !bytemap__get_u64(x->pid_index, pid)) {
		if (bytemap__put_u64(x->pid_index, pid, 1))
			return -ENOMEM;
		pname = model__process_name(x->model, pid);
		if ((err = metadata(x, "process_name", pid, pname ? pname : "")))
			return err;
	}
	return metadata(x, "thread_name", tid, name);
}

/* A slice of lock L up to its args' first member: HEAD (L's wait head or wake head), the thread
 * and times, and "args":{"addr":... */
static char *put_lock_slice(char *p, const struct exporter *x, const char *head, size_t head_len,
			    const struct lock_text *l, uint32_t tid, uint64_t ts, uint64_t dur)
{
	p = put(p, head, head_len);
	p = put_slice(p, x, tid, ts, dur);
	p = put_lit(p, ",\"args\":{\"addr\":");
	p = put(p, l->addr, l->addr_len);
	return put(p, l->detail ? l->detail : "", l->detail_len);
}

/* The slice of a wait. */
static int on_wait(void *arg, const struct tl_wait *t)
{
	struct exporter *x = arg;
	const struct lock_text *l = lock_text(x, t->addr, t->kind);
	const struct stack_text *s = stack_text(x, t->stack_id);
	char *start, *p;

	if (!l || !s)
		return -ENOMEM;
	x->wait_tid = t->tid;
	x->wait_begin = t->begin_ts;
	x->wait_end = t->end_ts;
	p = start = event_begin(x, l->wait_len + l->detail_len + s->len);
	if (!p)
		return json_writer__error(x->w);
	p = put_lock_slice(p, x, l->wait_head, l->wait_len, l, t->tid, t->begin_ts,
			   t->end_ts - t->begin_ts);
	p = put_lit(p, ",\"owner\":");
	p = t->owner ? put_u64(p, t->owner) : put_lit(p, "null");
	p = put_lit(p, ",\"result\":\"");
	p = put(p, result_name(t->result), strlen(result_name(t->result)));
	p = put_lit(p, "\",\"stack\":");
	p = put(p, s->json, s->len);
	p = put_lit(p, "}}");
	return event_end(x, start, p);
}

/* Begins an event on the wake head of L, with phase PH, on thread TID. */
static char *put_wake_head(char *p, const struct exporter *x, const struct lock_text *l, char ph,
			   uint32_t tid)
{
	put(p, l->wake_head, l->wake_len);
	p[HEAD_PH] = ph;
	return put_ids(p + l->wake_len, x, tid);
}

/* One end of a flow: PH 's' on the waker at its wake call, 'f' on the woken thread at the
 * wakeup, bound to the slice it ends in. */
static int flow_end(struct exporter *x, const struct lock_text *l, char ph, uint32_t tid,
		    uint64_t ts, uint64_t id)
{
	char *start = event_begin(x, l->wake_len), *p = start;

	if (!p)
		return json_writer__error(x->w);
	p = put_wake_head(p, x, l, ph, tid);
	if (ph == 'f')
		p = put_lit(p, ",\"bp\":\"e\"");
	p = put_lit(p, ",\"ts\":");
	p = put_us(p, ts);
	p = put_lit(p, ",\"id\":");
	p = put_u64(p, id);
	p = put_lit(p, "}");
	return event_end(x, start, p);
}

/* The woken thread's part of a wake: a slice in the wake's category from the wakeup to the end
 * of the wait it lies in (the wait just given), which the flow's end binds to. Chrome DevTools'
 * trace model binds a flow's end only to a slice of its category that starts at its time. */
static int woken_slice(struct exporter *x, const struct lock_text *l, const struct tl_flow *f)
{
	uint64_t end = f->wake_ts;
	char *start, *p;

	if (x->wait_tid == f->woken && x->wait_begin <= f->wake_ts && f->wake_ts <= x->wait_end)
		end = x->wait_end;
	p = start = event_begin(x, l->wake_len + l->detail_len);
	if (!p)
		return json_writer__error(x->w);
	p = put_lock_slice(p, x, l->wake_head, l->wake_len, l, f->woken, f->wake_ts, end - f->wake_ts);
	p = put_lit(p, ",\"waker\":");
	p = put_u64(p, f->waker);
	p = put_lit(p, "}}");
	return event_end(x, start, p);
}

/* The flow of the wake that ended a wait: from the waker's wake slice, at the wake call, to
 * the slice on the woken thread at the wakeup. Numbered in the order written. */
static int on_flow(void *arg, const struct tl_flow *f)
{
	struct exporter *x = arg;
	const struct lock_text *l = lock_text(x, f->addr, -1);
	uint64_t id = ++x->next_flow_id;

	if (!l)
		return -ENOMEM;
	return flow_end(x, l, 's', f->waker, f->call_ts, id) ?: woken_slice(x, l, f) ?:
	       flow_end(x, l, 'f', f->woken, f->wake_ts, id);
}

/* A slice on the waker for its wake call. */
static int on_wake(void *arg, const struct tl_wake *k)
{
	struct exporter *x = arg;
	const struct lock_text *l = lock_text(x, k->addr, -1);
	char *start, *p;

	if (!l)
		return -ENOMEM;
	p = start = event_begin(x, l->wake_len + l->detail_len);
	if (!p)
		return json_writer__error(x->w);
	p = put_lock_slice(p, x, l->wake_head, l->wake_len, l, k->waker, k->call_ts,
			   k->ts - k->call_ts);
	p = put_lit(p, ",\"wakee\":");
	p = put_u64(p, k->wakee);
	p = put_lit(p, "}}");
	return event_end(x, start, p);
}

/* Whether a hold slice [BEGIN, END] on thread H would cross one given before (they come in
 * the order of their ends): it starts inside one and, ending later, ends past it. Remembers
 * it otherwise; the slices it encloses are forgotten, as what starts inside them starts inside
 * it too. */
static bool hold_crosses(struct thread_holds *h, uint64_t begin, uint64_t end)
{
	while (h->n && h->begin[h->n - 1] >= begin)
		h->n--;
	if (h->n && h->end[h->n - 1] > begin && h->end[h->n - 1] < end)
		return true;
	if (h->n == HOLDS_REMEMBERED) {
		memmove(h->begin, h->begin + 1, sizeof(h->begin) - sizeof(h->begin[0]));
		memmove(h->end, h->end + 1, sizeof(h->end) - sizeof(h->end[0]));
		h->n--;
	}
	h->begin[h->n] = begin;
	h->end[h->n++] = end;
	return false;
}

/* One end of a hold that crosses another on its thread: an async slice ('b', 'e'), which
 * needs no nesting, on a track of its own. */
static int hold_async(struct exporter *x, const struct lock_text *l, char ph, uint32_t tid,
		      uint64_t ts, uint64_t id)
{
	char *start = event_begin(x, l->hold_len + l->detail_len), *p = start;

	if (!p)
		return json_writer__error(x->w);
	p = put(p, l->hold_head, l->hold_len);
	p[HEAD_PH] = ph;
	p = put_ids(p, x, tid);
	p = put_lit(p, ",\"ts\":");
	p = put_us(p, ts);
	p = put_lit(p, ",\"id\":");
	p = put_u64(p, id);
	if (ph == 'b') {
		p = put_lit(p, ",\"args\":{\"addr\":");
		p = put(p, l->addr, l->addr_len);
		p = put(p, l->detail ? l->detail : "", l->detail_len);
		p = put_lit(p, "}");
	}
	p = put_lit(p, "}");
	return event_end(x, start, p);
}

/* A hold (full mode): a slice "<lock> held" on its thread, nested with its waits and other
 * holds; one released out of order, which would cross another, is an async slice. */
static int on_hold(void *arg, uint32_t tid, uint64_t addr, uint64_t begin_ts, uint64_t end_ts)
{
	struct exporter *x = arg;
	uint64_t key = tid, id;
	const struct lock_text *l = lock_text(x, addr, -1);
	struct thread_holds *h =
	    bytemap__slot(x->hold_index, &key, sizeof(key), &x->thread_holds, &x->nthreads,
			  &x->threads_cap, sizeof(*x->thread_holds));
	char *start, *p;

	if (!l || !h)
		return -ENOMEM;
	if (hold_crosses(h, begin_ts, end_ts)) {
		id = ++x->next_hold_id;
		x->holds_async++;
		return hold_async(x, l, 'b', tid, begin_ts, id)
			   ?: hold_async(x, l, 'e', tid, end_ts, id);
	}
	p = start = event_begin(x, l->hold_len + l->detail_len);
	if (!p)
		return json_writer__error(x->w);
	p = put_lock_slice(p, x, l->hold_head, l->hold_len, l, tid, begin_ts, end_ts - begin_ts);
	p = put_lit(p, "}}");
	return event_end(x, start, p);
}

static int on_lost(void *arg, uint32_t tid, uint64_t ts, uint64_t count)
{
	struct exporter *x = arg;
	char name[48], *start, *p;

	snprintf(name, sizeof(name), "lost %" PRIu64 " events", count);
	p = start = event_begin(x, head_max(name, "lost"));
	if (!p)
		return json_writer__error(x->w);
	p = put_head(p, 'i', name, "lost");
	p = put_ids(p, x, tid);
	p = put_lit(p, ",\"ts\":");
	p = put_us(p, ts);
	p = put_lit(p, ",\"s\":\"p\"}");
	return event_end(x, start, p);
}

/* A slice per event-loop block on its loop thread's track: cat "loop_block", the cause in its
 * name and args, with the stack taken while it lasted. */
static int loop_slice(struct exporter *x, const struct loop_block *b)
{
	const char *cause = loopblock__cause_name(b->cause);
	const struct stack_text *s = stack_text(x, b->stack_id);
	char name[64], *start, *p;

	if (!s)
		return -ENOMEM;
	snprintf(name, sizeof(name), "loop blocked (%s)", cause);
	p = start =
	    event_begin(x, head_max(name, "loop_block") + JSON_QUOTED_MAX(strlen(cause)) + s->len);
	if (!p)
		return json_writer__error(x->w);
	p = put_head(p, 'X', name, "loop_block");
	p = put_slice(p, x, b->tid, b->start_ns, b->duration_ns);
	p = put_lit(p, ",\"args\":{\"cause\":");
	p = put_quoted(p, cause);
	p = put_lit(p, ",\"on_cpu_ns\":");
	p = put_u64(p, b->on_cpu_ns);
	p = b->open ? put_lit(p, ",\"open\":true") : put_lit(p, ",\"open\":false");
	p = put_lit(p, ",\"stack\":");
	p = put(p, s->json, s->len);
	p = put_lit(p, "}}");
	return event_end(x, start, p);
}

static int loop_slices(struct exporter *x, uint64_t end_ts)
{
	int err = loopblock__finish(x->loops, end_ts);

	for (size_t i = 0; !err && i < loopblock__count(x->loops); i++) {
		const struct loop_block *b = loopblock__get(x->loops, i);

		err = timeline__name(x->tl, b->tid) ?: loop_slice(x, b);
	}
	return err;
}

/* A deadlock: an instant "DEADLOCK" (cat "deadlock") on each of its threads when it was
 * certain, with the lock the thread waits for and the deadlock as the report gives it. */
static void deadlock_instants(const struct deadlock_found *f, struct exporter *x)
{
	struct json_writer *w = x->w;
	char bare[32];

	for (uint32_t i = 0; i < f->nthreads; i++) {
		const struct deadlock_thread *t = &f->threads[i];

		if (timeline__name(x->tl, t->tid))
			x->deadlock_err = -ENOMEM;
		json_writer__object_begin(w);
		json_writer__key(w, "ph");
		json_writer__string(w, "i");
		json_writer__key(w, "name");
		json_writer__string(w, "DEADLOCK");
		json_writer__key(w, "cat");
		json_writer__string(w, "deadlock");
		json_writer__key(w, "s");
		json_writer__string(w, "t");
		json_writer__key(w, "pid");
		json_writer__u64(w, pid_of(x, t->tid));
		json_writer__key(w, "tid");
		json_writer__u64(w, t->tid);
		json_writer__key(w, "ts");
		json_writer__double(w, f->detected_ns / 1e3);
		json_writer__key(w, "args");
		json_writer__object_begin(w);
		json_writer__key(w, "waits_for");
		json_writer__string(w, model__lock_label(x->model, t->waits_for, MODEL_NO_KIND, bare,
							 sizeof(bare)));
		json_writer__key(w, "deadlock");
		deadlock__found_json(f, x->model, w);
		json_writer__object_end(w);
		json_writer__object_end(w);
	}
}

static const struct timeline_ops chrome_ops = {
    .thread_name = on_thread_name,
    .wait = on_wait,
    .wake = on_wake,
    .flow = on_flow,
    .lost = on_lost,
    .hold = on_hold,
};

static void other_data(struct exporter *x, bool complete, const char *cut)
{
	const struct export_ctx *c = x->ctx;
	struct json_writer *w = x->w;

	json_writer__key(w, "otherData");
	json_writer__object_begin(w);
	json_writer__key(w, "tool");
	json_writer__string(w, "lockscope");
	json_writer__key(w, "pid");
	json_writer__u64(w, c->info->pid);
	json_writer__key(w, "comm");
	json_writer__string(w, c->info->comm ? c->info->comm : "");
	json_writer__key(w, "cmdline");
	json_writer__string(w, c->info->cmdline ? c->info->cmdline : "");
	json_writer__key(w, "mode");
	json_writer__string(w, c->info->mode ? c->info->mode : "");
	json_writer__key(w, "duration_ns");
	json_writer__u64(w, c->have_end ? c->end_duration : c->last_ts);
	json_writer__key(w, "lost_events");
	json_writer__u64(w, c->lost);
	json_writer__key(w, "unpaired_waits");
	json_writer__u64(w, timeline__unpaired(x->tl));
	json_writer__key(w, "wakes_without_flow");
	json_writer__u64(w, timeline__flows_dropped(x->tl));
	json_writer__key(w, "holds_out_of_order");
	json_writer__u64(w, x->holds_async);
	json_writer__key(w, "complete");
	json_writer__bool(w, complete);
	if (cut) {
		json_writer__key(w, "incomplete");
		json_writer__string(w, cut);
	}
	json_writer__object_end(w);
}

static void chrome_free(void *self)
{
	struct exporter *x = self;

	if (!x)
		return;
	json_writer__free(x->w);
	timeline__free(x->tl);
	loopblock__free(x->loops);
	deadlock__free(x->deadlocks);
	for (size_t i = 0; i < x->nlocks; i++) {
		free(x->lock_texts[i].wait_head);
		free(x->lock_texts[i].wake_head);
		free(x->lock_texts[i].hold_head);
		free(x->lock_texts[i].detail);
	}
	for (size_t i = 0; i < x->nstacks; i++)
		free(x->stack_texts[i].json);
	bytemap__free(x->lock_index);
	bytemap__free(x->stack_index);
	bytemap__free(x->hold_index);
	bytemap__free(x->pid_index);
	free(x->thread_holds);
	free(x->lock_texts);
	free(x->stack_texts);
	free(x);
}

/* Starts the document: the events array opens with the process's name. */
static void *chrome_new(const struct export_ctx *ctx)
{
	struct exporter *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->ctx = ctx;
	x->model = ctx->model;
	x->w = json_writer__new(ctx->out, JSON_PRETTY);
	x->tl = timeline__new(ctx->model, ctx->info->pid, &chrome_ops, x);
	x->loops = loopblock__new();
	x->deadlocks = deadlock__new(DEADLOCK_CONFIRM_NS);
	x->lock_index = bytemap__new();
	x->stack_index = bytemap__new();
	x->hold_index = bytemap__new();
	x->pid_index = bytemap__new();
	if (!x->w || !x->tl || !x->loops || !x->deadlocks || !x->lock_index || !x->stack_index ||
	    !x->hold_index || !x->pid_index) {
		chrome_free(x);
		errno = ENOMEM;
		return NULL;
	}
	json_writer__object_begin(x->w);
	json_writer__key(x->w, "traceEvents");
	json_writer__array_begin(x->w);
	/* an error sticks in the writer: the first feed returns it */
	metadata(x, "process_name", ctx->info->pid, ctx->info->comm ? ctx->info->comm : "");
	return x;
}

static int chrome_feed(void *self, const struct ls_rec *rec)
{
	struct exporter *x = self;

	texts_feed(x, rec);
	return timeline__feed(x->tl, rec) ?: loopblock__feed(x->loops, rec) ?:
	       deadlock__feed(x->deadlocks, rec) ?: json_writer__error(x->w);
}

static int chrome_finish(void *self, uint64_t end_ts, bool complete, const char *cut)
{
	struct exporter *x = self;
	struct json_writer *w = x->w;
	int err = timeline__finish(x->tl, end_ts) ?: loop_slices(x, end_ts) ?:
		  deadlock__check(x->deadlocks, end_ts, NULL, NULL);

	for (size_t i = 0; !err && i < deadlock__count(x->deadlocks); i++)
		deadlock_instants(deadlock__get(x->deadlocks, i), x);
	err = err ?: x->deadlock_err;
	if (err)
		return err;
	json_writer__array_end(w);
	json_writer__key(w, "displayTimeUnit");
	json_writer__string(w, "ns");
	other_data(x, complete, cut);
	json_writer__object_end(w);
	return json_writer__finish(w);
}

const struct export_format export_chrome_format = {
    .name = "chrome",
    .suffix = ".json",
    .new = chrome_new,
    .feed = chrome_feed,
    .finish = chrome_finish,
    .free = chrome_free,
};

int export_chrome__run(const char *path, const char *out_path)
{
	struct export_opts o = {.format = "chrome", .out = out_path};

	return export__run(path, &o);
}
