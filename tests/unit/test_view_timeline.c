/* test_view_timeline.c - the viewer's columnar timeline: header, meta tables and columns of a
 * hand-made trace read back exactly; lanes sorted; a file that is no trace refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"
#include "tracefile.h"
#include "export/view_timeline.h"

#define PID 4242
#define W1 4243
#define W2 4244
#define HOT 0x5581d2a0ull

static struct tf trace;

static void teardown(void)
{
	tf_remove(&trace);
}

TestSuite(view_timeline, .fini = teardown);

struct doc {
	char *buf;
	size_t len;
	struct jp_value *meta;
	const unsigned char *cols;
};

static void build(struct doc *d)
{
	char why[128] = "", err[128];
	uint32_t head[3];

	cr_assert_eq(view_timeline__build(trace.path, &d->buf, &d->len, why, sizeof(why)), 0, "%s",
		     why);
	cr_assert(d->len > 16 && !memcmp(d->buf, "LSTL", 4));
	memcpy(head, d->buf + 4, sizeof(head));
	cr_assert_eq(head[0], 1);
	cr_assert_eq(head[1] % 8, 0, "the meta is padded to 8 bytes");
	cr_assert(16 + head[1] <= d->len);
	d->meta = jp_parse(d->buf + 16, head[1], err, sizeof(err));
	cr_assert_not_null(d->meta, "meta: %s", err);
	d->cols = (const unsigned char *)d->buf + 16 + head[1];
}

/* Element I of the column that starts COL bytes into the columns. */
static double f64_at(const struct doc *d, size_t col, size_t i)
{
	double v;

	memcpy(&v, d->cols + col + i * 8, 8);
	return v;
}

static uint32_t u32_at(const struct doc *d, size_t col, size_t i)
{
	uint32_t v;

	memcpy(&v, d->cols + col + i * 4, 4);
	return v;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

Test(view_timeline, columns_tables_and_lanes)
{
	static const uint32_t frames[] = {1};
	struct doc d = {0};
	uint64_t n, m;

	tf_open(&trace, PID, "hot", "./hot", "contention");
	tf_thread(&trace, 0, W1, "worker-1");
	tf_thread(&trace, 0, W2, "worker-2");
	tf_lock(&trace, 0, HOT, LS_KIND_MUTEX, "hot_lock");
	tf_frame(&trace, 1, 0x1000, "worker", "hot.c", 31, "hot", 0x10);
	tf_stack(&trace, 7, 1, frames);
	/* W2's later wait ends first: the columns sort each lane by start */
	tf_begin(&trace, 1000, W1, HOT, LS_KIND_MUTEX, W2, 7);
	tf_begin(&trace, 1500, W2, HOT, LS_KIND_MUTEX, W1, 0);
	tf_end(&trace, 1800, W2, LS_WAIT_TIMEOUT);
	tf_wake(&trace, 2000, 2100, W2, W1, HOT);
	tf_end(&trace, 2200, W1, LS_WAIT_WOKEN);
	tf_begin(&trace, 500, W1, HOT, LS_KIND_MUTEX, 0, 0); /* out of order in the file */
	tf_end(&trace, 600, W1, LS_WAIT_WOKEN);
	/* full mode: W1 holds the lock from 2300 to 2600 */
	tf_add(&trace, &(struct ls_rec){.type = LS_REC_WINDOW, .ts = 2250, .window.on = 1});
	tf_add(&trace, &(struct ls_rec){.type = LS_REC_ACQUIRE,
					.ts = 2300,
					.tid = W1,
					.acquire = {.addr = HOT, .kind = LS_KIND_MUTEX}});
	tf_add(&trace, &(struct ls_rec){
			   .type = LS_REC_RELEASE, .ts = 2600, .tid = W1, .release.addr = HOT});
	tf_finish(&trace, 5000, 9, 0);
	tf_close(&trace);
	build(&d);

	cr_assert_str_eq(jp_str(jp_path(d.meta, "schema")), "lockscope.timeline/1");
	cr_assert(jp_uint(jp_path(d.meta, "slices"), &n) && n == 5, "3 waits, a wake, a hold");
	cr_assert(jp_uint(jp_path(d.meta, "flows"), &m) && m == 1);
	cr_assert_str_eq(jp_str(jp_path(d.meta, "tracks.0.name")), "worker-1");
	cr_assert_str_eq(jp_str(jp_path(d.meta, "tracks.1.name")), "worker-2");
	cr_assert_str_eq(jp_str(jp_path(d.meta, "locks.0.name")), "hot_lock");
	cr_assert_str_eq(jp_str(jp_path(d.meta, "locks.0.kind")), "mutex");
	cr_assert_str_eq(jp_str(jp_path(d.meta, "stacks.1.0")), "worker (hot.c:31)");
	cr_assert_eq(jp_path(d.meta, "stacks.0")->len, 0, "stack 0 is the empty one");

	/* lanes: W1's waits, W1's hold, W2's wait, W2's wake */
	const struct jp_value *lanes = jp_path(d.meta, "lanes");
	uint64_t v;
	cr_assert_eq(lanes->len, 4);
	cr_assert(jp_uint(jp_path(d.meta, "lanes.0.count"), &v) && v == 2);
	cr_assert(jp_uint(jp_path(d.meta, "lanes.0.max_dur_ns"), &v) && v == 1200);
	cr_assert(jp_uint(jp_path(d.meta, "lanes.1.row"), &v) && v == 2);
	cr_assert(jp_uint(jp_path(d.meta, "lanes.3.row"), &v) && v == 1);
	cr_assert(jp_uint(jp_path(d.meta, "lanes.3.track"), &v) && v == 1);

	size_t start = 0, dur = start + n * 8, lock = dur + n * 8, stack = lock + pad8(n * 4);
	size_t owner = stack + pad8(n * 4), row = owner + pad8(n * 4), result = row + pad8(n);
	size_t from = result + pad8(n), to = from + m * 8, from_track = to + m * 8;
	size_t to_track = from_track + pad8(m * 4), flock = to_track + pad8(m * 4);

	cr_assert_eq(f64_at(&d, start, 0), 500);
	cr_assert_eq(f64_at(&d, start, 1), 1000);
	cr_assert_eq(f64_at(&d, dur, 1), 1200);
	cr_assert_eq(u32_at(&d, stack, 1), 1);
	cr_assert_eq(u32_at(&d, owner, 1), W2);
	cr_assert_eq(f64_at(&d, start, 2), 2300);
	cr_assert_eq(f64_at(&d, dur, 2), 300);
	cr_assert_eq(d.cols[row + 2], 2, "the hold is on the hold row");
	cr_assert_eq(f64_at(&d, start, 3), 1500);
	cr_assert_eq(d.cols[result + 3], LS_WAIT_TIMEOUT);
	cr_assert_eq(d.cols[row + 4], 1, "the wake call is on the wake row");
	cr_assert_eq(f64_at(&d, start, 4), 2000);
	cr_assert_eq(f64_at(&d, dur, 4), 100);
	cr_assert_eq(u32_at(&d, lock, 4), 0);
	cr_assert_eq(f64_at(&d, from, 0), 2000);
	cr_assert_eq(f64_at(&d, to, 0), 2100);
	cr_assert_eq(u32_at(&d, from_track, 0), 1);
	cr_assert_eq(u32_at(&d, to_track, 0), 0);
	cr_assert_eq(u32_at(&d, flock, 0), 0);
	cr_assert_eq((size_t)(d.cols - (const unsigned char *)d.buf) + flock + pad8(m * 4), d.len,
		     "the columns end the document");
	jp_free(d.meta);
	free(d.buf);
}

Test(view_timeline, refuses_a_file_that_is_no_trace)
{
	char why[128] = "", *buf = (char *)1;
	size_t len = 1;

	cr_assert_eq(view_timeline__build("/dev/null", &buf, &len, why, sizeof(why)), -EINVAL);
	cr_assert(why[0], "says why");
	cr_assert_null(buf);
	cr_assert_eq(len, 0);
}

/* A trace without a single wait (a program that never contended) has no slices: the document is
 * still whole, with empty columns (the sort of no slices once handed qsort a NULL array). */
Test(view_timeline, a_trace_without_waits)
{
	struct doc d = {0};

	tf_open(&trace, PID, "idle", "./idle", "contention");
	tf_thread(&trace, 0, PID, "idle");
	tf_finish(&trace, 1000000, 0, 0);
	tf_close(&trace);
	build(&d);
	cr_assert_eq(jp_get(d.meta, "slices")->type, JP_NUMBER);
	cr_assert_str_eq(jp_get(d.meta, "slices")->text, "0");
	cr_assert_str_eq(jp_get(d.meta, "flows")->text, "0");
	jp_free(d.meta);
	free(d.buf);
}
