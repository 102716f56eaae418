/* test_cli.c - the command line a person meets first: every command's --help, --version, help,
 * the manual page as man renders it, bash completion, and `make install`/`uninstall`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proc.h"

static const char *const commands[] = {"record", "report", "graph", "export",
				       "view",	 "top",	   "dump",  "help"};

Test(cli, every_command_has_its_own_help)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *flags[] = {"--help", "-h"};

		for (int f = 0; f < 2; f++) {
			char *out = NULL, *err = NULL, want[64];
			int rc = shf(&out, &err, LOCKSCOPE " %s %s", commands[i], flags[f]);

			snprintf(want, sizeof(want), "usage: lockscope %s", commands[i]);
			cr_assert_eq(rc, 0, "%s %s: exit %d: %s", commands[i], flags[f], rc, err);
			cr_assert(strstr(out, want), "%s %s: not its usage: %s", commands[i],
				  flags[f], out);
			cr_assert_str_empty(err, "%s %s wrote on stderr: %s", commands[i], flags[f],
					    err);
			free(out);
			free(err);
		}
	}
}

Test(cli, version_and_help)
{
	char *out = NULL, *err = NULL;

	cr_assert_eq(sh(LOCKSCOPE " --version", &out, &err), 0, "%s", err);
	cr_assert(!strncmp(out, "lockscope ", 10) && strstr(out, "trace format"), "%s", out);
	free(out);
	cr_assert_eq(sh(LOCKSCOPE " help", &out, NULL), 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		cr_assert(strstr(out, commands[i]), "help does not name %s: %s", commands[i], out);
	free(out);
	/* help COMMAND is COMMAND --help */
	char *a = NULL, *b = NULL;

	cr_assert_eq(sh(LOCKSCOPE " help export", &a, NULL), 0);
	cr_assert_eq(sh(LOCKSCOPE " export --help", &b, NULL), 0);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	free(err);
	err = NULL;
	cr_assert_eq(sh(LOCKSCOPE " help frobnicate", NULL, &err), 1);
	cr_assert(strstr(err, "lockscope: help: no command frobnicate"), "%s", err);
	free(err);
}

/* man renders the page without a warning from groff, with a section per command and the exit
 * status. */
Test(cli, man_page_renders)
{
	char *out = NULL, *err = NULL;
	int rc = sh("MANWIDTH=80 man --warnings=all -l build/lockscope.1", &out, &err);

	cr_assert_eq(rc, 0, "man: %d %s", rc, err);
	cr_assert_str_empty(err, "man warns: %s", err);
	/* justified lines get their spaces doubled, alternately from the left and from the right
	 * (so depending on what comes before): one space each */
	for (char *r = out, *w = out; (*w = *r); r++)
		w += !(*r == ' ' && r[1] == ' ');
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char head[32];

		snprintf(head, sizeof(head), "\n%s\n", commands[i]);
		for (char *p = head; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		cr_assert(strstr(out, head), "no section %s", head + 1);
	}
	cr_assert(strstr(out, "EXIT STATUS") && strstr(out, "The system refused"), "%s", out);
	cr_assert(!strstr(out, "@VERSION@"), "the version is not filled in");
	free(out);
	free(err);
}

/* The completion offers the commands, a command's options and an option's values. */
Test(cli, bash_completion)
{
	char *out = NULL, *err = NULL;
	int rc =
	    sh("bash -c '. doc/lockscope.bash; "
	       "COMP_WORDS=(lockscope re); COMP_CWORD=1; _lockscope; echo \"${COMPREPLY[*]}\"; "
	       "COMP_WORDS=(lockscope export --f); COMP_CWORD=2; _lockscope; "
	       "echo \"${COMPREPLY[*]}\"; "
	       "COMP_WORDS=(lockscope export x.lsz --format p); COMP_CWORD=4; _lockscope; "
	       "echo \"${COMPREPLY[*]}\"'",
	       &out, &err);

	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_str_eq(out, "record report\n--format\npprof perfetto\n");
	free(out);
	free(err);
}

static bool is_file(const char *dir, const char *path, mode_t mode)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", dir, path);
	return !stat(p, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0777) == mode;
}

/* make install lays out the binary, the page and the completion under DESTDIR+PREFIX; make
 * uninstall takes them away again. */
Test(cli, make_install_and_uninstall, .timeout = 120)
{
	char *out = NULL, *err = NULL;
	const char *d = test_dir();
	int rc = shf(&out, &err, "make -s install DESTDIR=%s PREFIX=/opt/ls", d);

	cr_assert_eq(rc, 0, "make install: %s", err);
	cr_assert(is_file(d, "/opt/ls/bin/lockscope", 0755));
	cr_assert(is_file(d, "/opt/ls/share/man/man1/lockscope.1", 0644));
	cr_assert(is_file(d, "/opt/ls/share/bash-completion/completions/lockscope", 0644));
	free(out);
	free(err);
	rc = shf(&out, &err, "%s/opt/ls/bin/lockscope --version", d);
	cr_assert_eq(rc, 0, "the installed binary: %s", err);
	free(out);
	free(err);
	rc = shf(&out, &err,
		 "make -s uninstall DESTDIR=%s PREFIX=/opt/ls && "
		 "find %s/opt -type f | wc -l",
		 d, d);
	cr_assert_eq(rc, 0, "make uninstall: %s", err);
	cr_assert_str_eq(out, "0\n", "files left after uninstall");
	free(out);
	free(err);
}

/* On a terminal (a pty made by script), record keeps one status line up to date: time, events,
 * losses, full mode's share and the deadlocks found, each redraw erasing the last; alerts and
 * the closing line start on an erased line. On a pipe, none of it. */
Test(cli, record_status_line_on_a_terminal_only, .timeout = 60)
{
	char *out = NULL, *err = NULL;
	double last = -1;
	int lines = 0, before = 0, after = 0;
	int rc =
	    shf(&out, &err,
		"script -qec '" LOCKSCOPE
		" record -d 3 -o %s/t.lsz -- " WORKLOAD("deadlock") " --delay-ms 300' /dev/null",
		test_dir());

	cr_assert_eq(rc, 0, "record on a pty: %d %s %s", rc, out, err);
	for (char *p = strstr(out, "\r\033[Klockscope: "); p;
	     p = strstr(p + 1, "\r\033[Klockscope: ")) {
		double s;
		unsigned long long events, lost;
		unsigned pct;
		char tail[32] = "";

		if (sscanf(p + 15, "%lf s, %llu events, %llu lost, full mode %u%%, %31[^\r\n{]", &s,
			   &events, &lost, &pct, tail) < 5)
			continue;
		cr_assert_geq(s, last, "elapsed went back: %s", out);
		cr_assert(pct <= 100);
		last = s;
		lines++;
		before += !strncmp(tail, "no deadlock", 11) && !after;
		after += !strncmp(tail, "1 DEADLOCK", 10);
	}
	cr_assert_geq(lines, 5, "fewer than 5 status lines in 3 s: %s", out);
	cr_assert(before > 0 && after > 0, "the deadlock is not counted on the status line: %s",
		  out);
	cr_assert(strstr(out, "\r\033[Klockscope: DEADLOCK: threads"), "the alert mixes with it");
	cr_assert(strstr(out, "\r\033[Klockscope: record: "), "the last line mixes with it");
	free(out);
	free(err);

	/* a pipe: the start and end lines only, no redraws */
	rc = shf(&out, &err,
		 LOCKSCOPE " record -d 1 -o %s/p.lsz -- " WORKLOAD("contended") " --iters 500",
		 test_dir());
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(!strchr(err, '\r') && !strchr(err, '\033'), "a status line on a pipe: %s", err);
	free(out);
	free(err);
}
