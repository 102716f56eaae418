/* perfmap.c - a JIT's perf map, read incrementally (the runtime only appends to it) and kept
 * sorted by address; where code was replaced at one address, the later line wins. */
#include "inspect/perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/common.h"

#define LINE_MAX_LEN 4096     /* a longer line is no name a person reads: dropped */
#define READ_MAX (256u << 20) /* bytes read from one map in all: a bound on memory */
#define BACK_SCAN 64	      /* ranges before ADDR's that may still cover it */

struct pm_entry {
	struct perfmap_sym sym;
	uint64_t seq; /* its line's order in the file */
	char *text;   /* the line, cut up: sym's strings */
};

struct perfmap {
	pid_t pid;
	char path[64];
	off_t offset; /* read up to here: whole lines */
	struct pm_entry *v;
	size_t n, cap;
	uint64_t seq;
	uint64_t dropped; /* lines that were not "HEX HEX NAME" or too long */
};

struct perfmap *perfmap__new(pid_t pid)
{
	struct perfmap *pm = calloc(1, sizeof(*pm));

	if (!pm) {
		errno = ENOMEM;
		return NULL;
	}
	pm->pid = pid;
	snprintf(pm->path, sizeof(pm->path), "/tmp/perf-%d.map", (int)pid);
	return pm;
}

void perfmap__free(struct perfmap *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < pm->n; i++)
		free(pm->v[i].text);
	free(pm->v);
	free(pm);
}

static const char *const js_prefixes[] = {"JS:", "Function:", "LazyCompile:", "Script:"};

/* V8's JavaScript names: a tier mark (* optimized, ~ interpreted, ^ baseline, + maglev), the
 * function's name (empty when anonymous), a space, then where it begins: "file:line:col". */
static void parse_js(char *name, struct perfmap_sym *out)
{
	char *sp, *colon;

	if (*name && strchr("*~^+", *name))
		name++;
	out->func = name;
	sp = strrchr(name, ' ');
	if (!sp)
		return;
	*sp = '\0';
	out->file = sp + 1;
	if (!name[0])
		out->func = "(anonymous)";
	/* "file:line:col" or "file:line"; a file may have colons of its own ("node:fs") */
	for (int k = 0; k < 2 && (colon = strrchr(out->file, ':')); k++) {
		char *end;
		long v = strtol(colon + 1, &end, 10);

		if (end == colon + 1 || *end)
			break;
		*colon = '\0';
		out->line = (int)v;
	}
}

int perfmap__parse_line(char *line, struct perfmap_sym *out)
{
	char *end, *name;

	memset(out, 0, sizeof(*out));
	errno = 0;
	out->start = strtoull(line, &end, 16);
	if (end == line || *end != ' ' || errno)
		return -EINVAL;
	line = end + 1;
	out->size = strtoull(line, &end, 16);
	if (end == line || *end != ' ' || errno || !out->size)
		return -EINVAL;
	name = ls_rtrim(end + 1);
	if (!name[0])
		return -EINVAL;
	out->func = name;
	for (size_t i = 0; i < sizeof(js_prefixes) / sizeof(*js_prefixes); i++) {
		size_t len = strlen(js_prefixes[i]);

		if (!strncmp(name, js_prefixes[i], len)) {
			parse_js(name + len, out);
			break;
		}
	}
	return 0;
}

static int add_line(struct perfmap *pm, const char *line, size_t len)
{
	struct pm_entry *e;
	char *text;

	if (len >= LINE_MAX_LEN) {
		pm->dropped++;
		return 0;
	}
	text = strndup(line, len);
	if (!text || ls_reserve(&pm->v, &pm->cap, pm->n + 1, sizeof(*pm->v))) {
		free(text);
		return -ENOMEM;
	}
	e = &pm->v[pm->n];
	if (perfmap__parse_line(text, &e->sym)) {
		free(text);
		pm->dropped++;
		return 0;
	}
	e->text = text;
	e->seq = pm->seq++;
	pm->n++;
	return 0;
}

static int by_start(const void *pa, const void *pb)
{
	const struct pm_entry *a = pa, *b = pb;

	if (a->sym.start != b->sym.start)
		return a->sym.start < b->sym.start ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The map is the target's own file in a world-writable directory: no link, a regular file that
 * the target's owner owns. */
static int open_map(const struct perfmap *pm)
{
	char proc[32];
	struct stat st, owner;
	int fd;

	snprintf(proc, sizeof(proc), "/proc/%d", (int)pm->pid);
	if (stat(proc, &owner))
		return -errno;
	fd = open(pm->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != owner.st_uid) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int perfmap__refresh(struct perfmap *pm)
{
	size_t before = pm->n, have = 0, cap = 0;
	char *buf = NULL;
	int fd, err = 0;
	ssize_t got;

	if (pm->offset >= (off_t)READ_MAX)
		return 0;
	fd = open_map(pm);
	if (fd < 0)
		return fd == -ENOENT || fd == -EPERM || fd == -ELOOP ? 0 : fd;
	for (;;) {
		if (have + 65536 > cap) {
			char *nb = realloc(buf, cap = have + 65536 * 2);

			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
		}
		got = pread(fd, buf + have, cap - have, pm->offset + (off_t)have);
		if (got < 0) {
			err = -errno;
			goto cleanup;
		}
		have += (size_t)got;
		if (!got || pm->offset + (off_t)have >= (off_t)READ_MAX)
			break;
	}
	/* whole lines only: the runtime may be writing the last one */
	for (size_t at = 0; at < have;) {
		char *nl = memchr(buf + at, '\n', have - at);

		if (!nl)
			break;
		err = add_line(pm, buf + at, (size_t)(nl - (buf + at)));
		if (err)
			goto cleanup;
		pm->offset += nl + 1 - (buf + at);
		at = (size_t)(nl + 1 - buf);
	}
	if (pm->n > before)
		qsort(pm->v, pm->n, sizeof(*pm->v), by_start);
cleanup:
	free(buf);
	close(fd);
	return err ? err : pm->n > before;
}

const struct perfmap_sym *perfmap__find(const struct perfmap *pm, uint64_t addr)
{
	const struct pm_entry *best = NULL;
	size_t lo = 0, hi = pm->n;

	/* the first range starting past ADDR */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->v[mid].sym.start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i-- > 0 && k < BACK_SCAN; k++) {
		const struct pm_entry *e = &pm->v[i];

		if (addr - e->sym.start < e->sym.size && (!best || e->seq > best->seq))
			best = e;
	}
	return best ? &best->sym : NULL;
}
