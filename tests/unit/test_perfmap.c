/* test_perfmap.c - the perf map a JIT writes: V8's names split into function, file and line, and
 * lookups where code was replaced at the same addresses (the later line wins). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "inspect/perfmap.h"

Test(perfmap, v8_javascript_names_are_split)
{
	char line[] = "7f6f167cb340 838 JS:*busyHandler /srv/app/node_loop.js:21:21\n";
	char anon[] = "29150196258e 8c JS:~ /srv/app/a.js:3:5";
	char internal[] = "7f00 10 JS:^listOnTimeout node:internal/timers:524:20";
	char builtin[] = "18c4680 aa0 Builtin:RecordWriteSaveFP";
	struct perfmap_sym s;

	cr_assert_eq(perfmap__parse_line(line, &s), 0);
	cr_assert_eq(s.start, 0x7f6f167cb340);
	cr_assert_eq(s.size, 0x838);
	cr_assert_str_eq(s.func, "busyHandler");
	cr_assert_str_eq(s.file, "/srv/app/node_loop.js");
	cr_assert_eq(s.line, 21);
	cr_assert_eq(perfmap__parse_line(anon, &s), 0);
	cr_assert_str_eq(s.func, "(anonymous)");
	cr_assert_eq(s.line, 3);
	cr_assert_eq(perfmap__parse_line(internal, &s), 0);
	cr_assert_str_eq(s.func, "listOnTimeout");
	cr_assert_str_eq(s.file, "node:internal/timers");
	cr_assert_eq(s.line, 524);
	cr_assert_eq(perfmap__parse_line(builtin, &s), 0);
	cr_assert_str_eq(s.func, "Builtin:RecordWriteSaveFP");
	cr_assert_null(s.file);
	cr_assert_eq(s.line, 0);
}

Test(perfmap, bad_lines_are_refused)
{
	char none[] = "", nosize[] = "7f00 name", zero[] = "7f00 0 f", noname[] = "7f00 10 ",
	     text[] = "hello world again";
	struct perfmap_sym s;

	cr_assert_eq(perfmap__parse_line(none, &s), -EINVAL);
	cr_assert_eq(perfmap__parse_line(nosize, &s), -EINVAL);
	cr_assert_eq(perfmap__parse_line(zero, &s), -EINVAL);
	cr_assert_eq(perfmap__parse_line(noname, &s), -EINVAL);
	cr_assert_eq(perfmap__parse_line(text, &s), -EINVAL);
}

/* The map grows while it is read, its last line maybe half written; code replaced at an address
 * is named by the later line. */
Test(perfmap, read_as_it_grows_the_later_line_wins)
{
	char path[64];
	struct perfmap *pm = perfmap__new(getpid());
	const struct perfmap_sym *s;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	cr_assert_not_null(pm);
	cr_assert_eq(perfmap__refresh(pm), 0, "no map yet");
	cr_assert_null(perfmap__find(pm, 0x1000));
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("1000 100 JS:*old /a.js:1:1\n3000 10 JS:*third /a.js:9:1\n2000 10 JS:*half", f);
	fflush(f);
	cr_assert_eq(perfmap__refresh(pm), 1);
	cr_assert_str_eq(perfmap__find(pm, 0x1080)->func, "old");
	cr_assert_null(perfmap__find(pm, 0x2004), "a line not yet whole");
	cr_assert_null(perfmap__find(pm, 0x1100), "past the range");
	fputs(" /a.js:5:1\n1040 40 JS:*new /a.js:2:1\n", f);
	fclose(f);
	cr_assert_eq(perfmap__refresh(pm), 1);
	cr_assert_eq(perfmap__refresh(pm), 0, "nothing new");
	s = perfmap__find(pm, 0x2004);
	cr_assert(s && !strcmp(s->func, "half") && s->line == 5);
	cr_assert_str_eq(perfmap__find(pm, 0x1050)->func, "new");
	cr_assert_str_eq(perfmap__find(pm, 0x1010)->func, "old");
	cr_assert_str_eq(perfmap__find(pm, 0x10a0)->func, "old");
	cr_assert_str_eq(perfmap__find(pm, 0x3000)->func, "third");
	unlink(path);
	perfmap__free(pm);
}
