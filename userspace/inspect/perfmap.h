/* perfmap.h - names for a JIT's code from the map the runtime writes for perf (/tmp/perf-PID.map:
 * "START SIZE NAME" a line, as Node.js and V8 write with --perf-basic-prof), read as it grows. */
#ifndef LOCKSCOPE_PERFMAP_H
#define LOCKSCOPE_PERFMAP_H

#include <stdint.h>
#include <sys/types.h>

struct perfmap;

/* One code range, its name split where the runtime says more (V8's "JS:*name /path/app.js:9:21":
 * func "name", file "/path/app.js", line 9). Strings owned by the perfmap, valid until freed. */
struct perfmap_sym {
	uint64_t start, size;
	const char *func; /* "(anonymous)" for a JavaScript function without a name */
	const char *file; /* NULL where the line names none */
	int line;	  /* where the function begins; 0 if unknown */
};

/* For process PID (its map is /tmp/perf-PID.map, written by the process itself, so it must be a
 * regular file that PID's owner owns). NULL with errno on failure. The file need not exist yet. */
struct perfmap *perfmap__new(pid_t pid);
void perfmap__free(struct perfmap *pm); /* accepts NULL */

/* Reads the lines added to the file since the last call. 1 if any were, 0 if none (no file), or
 * -errno. */
int perfmap__refresh(struct perfmap *pm);

/* The range ADDR lies in, the last one written where code was replaced; NULL if none. */
const struct perfmap_sym *perfmap__find(const struct perfmap *pm, uint64_t addr);

/* Parses one line of a map into OUT (strings pointing into LINE, which is cut up). 0, or -EINVAL
 * for a line that is not "HEX HEX NAME". */
int perfmap__parse_line(char *line, struct perfmap_sym *out);

#endif
