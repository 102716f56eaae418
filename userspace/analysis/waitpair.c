/* waitpair.c - one open wait per thread, closed by its end, its thread's exit or the trace's.
 * Memory grows with the threads that wait, never with the trace's length. */
#include "analysis/waitpair.h"

#include <errno.h>
#include <stdlib.h>

#include "util/bytemap.h"
#include "trace/trace.h"

struct waitpair {
	struct wp_wait *threads;
	size_t nthreads, threads_cap;
	struct bytemap *by_tid;	/* tid -> position in threads */
	uint64_t unpaired;
	waitpair_fn closed;
	void *arg;
};

struct waitpair *waitpair__new(waitpair_fn closed, void *arg)
{
	struct waitpair *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->closed = closed;
	p->arg = arg;
	p->by_tid = bytemap__new();
	if (!p->by_tid) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void waitpair__free(struct waitpair *p)
{
	if (!p)
		return;
	bytemap__free(p->by_tid);
	free(p->threads);
	free(p);
}

static struct wp_wait *find(const struct waitpair *p, uint32_t tid)
{
	const uint64_t *pos = bytemap__get_u64(p->by_tid, tid);

	return pos ? &p->threads[*pos] : NULL;
}

static int close_wait(struct waitpair *p, struct wp_wait *w, uint64_t end_ts, uint8_t result)
{
	w->open = false;
	w->end_ts = end_ts > w->begin_ts ? end_ts : w->begin_ts;
	w->result = result;
	return p->closed(p->arg, w, w - p->threads);
}

static int wait_begin(struct waitpair *p, const struct ls_rec *rec)
{
	uint64_t key = rec->tid;
	struct wp_wait *w = bytemap__slot(p->by_tid, &key, sizeof(key), &p->threads, &p->nthreads,
					  &p->threads_cap, sizeof(*p->threads));

	if (!w)
		return -ENOMEM;
	/* the END of the wait before was lost: its length is unknown, so it is not counted */
	p->unpaired += w->open;
	*w = (struct wp_wait){.tid = rec->tid,
			      .owner = rec->wait_begin.owner,
			      .stack_id = rec->wait_begin.stack_id,
			      .kind = rec->wait_begin.kind,
			      .open = true,
			      .addr = rec->wait_begin.addr,
			      .begin_ts = rec->ts};
	return 0;
}

/* An end without its begin counts as unpaired; an exit without a wait is just an exit. */
static int wait_end(struct waitpair *p, const struct ls_rec *rec, uint8_t result)
{
	struct wp_wait *w = find(p, rec->tid);

	if (!w || !w->open) {
		p->unpaired += result != WP_RESULT_EXITED;
		return 0;
	}
	return close_wait(p, w, rec->ts, result);
}

static int close_all(struct waitpair *p, uint64_t ts, uint8_t result)
{
	for (size_t i = 0; i < p->nthreads; i++) {
		if (p->threads[i].open) {
			int err = close_wait(p, &p->threads[i], ts, result);

			if (err)
				return err;
		}
	}
	return 0;
}

int waitpair__feed(struct waitpair *p, const struct ls_rec *rec)
{
	switch (rec->type) {
	case LS_REC_WAIT_BEGIN:
		return wait_begin(p, rec);
	case LS_REC_WAIT_END:
		return wait_end(p, rec, rec->wait_end.result);
	case LS_REC_THREAD_EXIT:
		return wait_end(p, rec, WP_RESULT_EXITED);
	case LS_REC_PROC_EXIT:
		return close_all(p, rec->ts, WP_RESULT_EXITED);
	default:
		return 0;
	}
}

int waitpair__finish(struct waitpair *p, uint64_t end_ts)
{
	return close_all(p, end_ts, LS_WAIT_UNFINISHED);
}

const struct wp_wait *waitpair__open(const struct waitpair *p, uint32_t tid)
{
	const struct wp_wait *w = find(p, tid);

	return w && w->open ? w : NULL;
}

const struct wp_wait *waitpair__thread(const struct waitpair *p, size_t i)
{
	return i < p->nthreads ? &p->threads[i] : NULL;
}

uint64_t waitpair__unpaired(const struct waitpair *p)
{
	return p->unpaired;
}
