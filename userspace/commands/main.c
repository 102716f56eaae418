/* main.c - command dispatch and option parsing; the only place that exits.
 * Each command returns an exit status: 0 ok, 1 bad usage or input, 2 the system refused. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/common.h"
#include "util/demangle.h"
#include "util/privs.h"
#include "export/export.h"
#include "commands/dump.h"
#include "commands/graph.h"
#include "commands/record.h"
#include "commands/report.h"
#include "commands/top.h"

#include "commands/view.h"

static volatile sig_atomic_t stop_requested;

/* The long option every command that shows names takes. */
#define NO_DEMANGLE 'N'

static const char usage_text[] =
	"usage: lockscope record [options] -p PID[,PID...]  (-p may be repeated: each adds)\n"
	"       lockscope record [options] -- CMD [ARGS...]  CMD and every process it starts\n"
	"           --children              with -p: their descendants too, present and future\n"
	"           -o, --output FILE       trace file (default: lockscope.lsz)\n"
	"           -d, --duration SECONDS  stop after this long (default: when the target exits)\n"
	"           --mode auto|contention|full  what to trace (default: auto)\n"
	"           --overhead-budget PCT   for auto (default 5)\n"
	"           --loop-threshold MS     event-loop blocking threshold (default 50)\n"
	"           --no-stacks             do not capture call stacks\n"
	"       lockscope report FILE [--json] [--top N]\n"
	"       lockscope view FILE [--port N]   browser viewer on 127.0.0.1 (default port 8737;\n"
	"                                        0: any free port)\n"
	"       lockscope graph FILE [--format dot|json]\n"
	"       lockscope top -p PID [-o FILE] [-i SECONDS]\n"
	"           live view, a frame every SECONDS (default 1); q quits; -o keeps the trace\n"
	"       lockscope export FILE [-o OUT] [--format chrome|pprof|perfetto]\n"
	"           chrome (default): JSON to stdout; pprof: FILE.pb.gz; perfetto: FILE.pftrace\n"
	"           --by waiter|holder      pprof: charge waits to the waiter's or holder's stack\n"
	"       lockscope dump -p PID [--json]\n"
	"       report, graph, export, view, top and dump show C++ names demangled;\n"
	"       --no-demangle shows them as the object files spell them\n";

static int usage(const char *what, const char *msg)
{
	if (msg)
		ls_err(what, "%s", msg);
	fputs(usage_text, stderr);
	return LS_EXIT_INPUT;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static bool parse_number(const char *s, double min, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return s[0] && !*end && !errno && *out >= min && *out <= max;
}

/* -p's argument into *PID: a process id, or a thread's, which stands for its process (said in a
 * note). One process per command: a second -p, or a list, is refused rather than half obeyed.
 * NULL, or what is wrong with ARG (in BUF). */
static const char *parse_pid(const char *cmd, const char *arg, pid_t *pid, char *buf, size_t len)
{
	pid_t tgid;
	double v;

	if (*pid || strchr(arg, ',')) {
		snprintf(buf, len, "%s: lockscope %s follows one process at a time",
			 *pid ? "-p given twice" : "-p wants one process id", cmd);
		return buf;
	}
	if (!parse_number(arg, 1, 4194304, &v) || v != (int)v)
		return "-p wants a process id";
	*pid = (pid_t)v;
	tgid = ls_tgid_of(*pid);
	if (tgid > 0 && tgid != *pid) {
		ls_note(cmd, "%d is a thread of process %d: taking process %d", *pid, tgid, tgid);
		*pid = tgid;
	}
	return NULL;
}

/* -p's argument for record: process ids separated by commas, each added to O (a thread's id
 * stands for its process; one given twice counts once). NULL, or what is wrong (in BUF). */
static const char *parse_pids(const char *arg, struct record_opts *o, char *buf, size_t len)
{
	char copy[4096], *save = NULL, *tok;

	if (!arg[0] || arg[0] == ',' || arg[strlen(arg) - 1] == ',' || strstr(arg, ",,"))
		return "-p wants process ids separated by commas";
	if (snprintf(copy, sizeof(copy), "%s", arg) >= (int)sizeof(copy))
		return "-p: the list is too long";
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		pid_t pid = 0;
		const char *bad = parse_pid("record", tok, &pid, buf, len);
		size_t i;

		if (bad)
			return bad;
		for (i = 0; i < o->npids && o->pids[i] != pid; i++)
			;
		if (i < o->npids)
			continue;
		if (o->npids == RECORD_MAX_PIDS) {
			snprintf(buf, len, "-p: at most %d processes (--children follows their "
				 "descendants)", RECORD_MAX_PIDS);
			return buf;
		}
		o->pids[o->npids++] = pid;
	}
	o->pid = o->pids[0];
	return NULL;
}

static int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"duration", required_argument, NULL, 'd'},
		{"pid", required_argument, NULL, 'p'},
		{"mode", required_argument, NULL, 'm'},
		{"overhead-budget", required_argument, NULL, 'b'},
		{"loop-threshold", required_argument, NULL, 'l'},
		{"no-stacks", no_argument, NULL, 'S'},
		{"children", no_argument, NULL, 'C'},
		{NULL, 0, NULL, 0},
	};
	struct record_opts o = {.output = "lockscope.lsz", .overhead_budget = 5,
				.loop_threshold_ms = 50};
	struct sigaction sa = {.sa_handler = on_signal};
	double v;
	const char *bad;
	char why[128];
	int c;

	while ((c = getopt_long(argc, argv, "+o:d:p:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.output = optarg;
			break;
		case 'd':
			if (!parse_number(optarg, 0.001, 1e9, &o.duration))
				return usage("record", "-d wants a positive number of seconds");
			break;
		case 'p':
			if ((bad = parse_pids(optarg, &o, why, sizeof(why))))
				return usage("record", bad);
			break;
		case 'C':
			o.children = true;
			break;
		case 'm':
			if (!strcmp(optarg, "auto"))
				o.mode = RECORD_AUTO;
			else if (!strcmp(optarg, "contention"))
				o.mode = RECORD_CONTENTION;
			else if (!strcmp(optarg, "full"))
				o.mode = RECORD_FULL;
			else
				return usage("record", "--mode wants auto, contention or full");
			break;
		case 'b':
			if (!parse_number(optarg, 0.01, 100, &o.overhead_budget))
				return usage("record", "--overhead-budget wants a percentage");
			break;
		case 'l':
			if (!parse_number(optarg, 1, 3600000, &v))
				return usage("record", "--loop-threshold wants milliseconds");
			o.loop_threshold_ms = (unsigned)v;
			break;
		case 'S':
			o.no_stacks = true;
			break;
		default:
			return usage("record", NULL);
		}
	}
	if (optind < argc)
		o.cmd = &argv[optind];
	if (!o.cmd == !o.pid)
		return usage("record", "give either -p PID or -- CMD");
	if (o.cmd && o.children)	/* a launched command is followed anyway */
		o.children = false;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return record__run(&o, (volatile const int *)&stop_requested);
}

static int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"top", required_argument, NULL, 't'},
		{"no-demangle", no_argument, NULL, NO_DEMANGLE},
		{NULL, 0, NULL, 0},
	};
	struct report_opts o = {.top = 0};
	double v;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 't':
			if (!parse_number(optarg, 1, 1e9, &v) || v != (int)v)
				return usage("report", "--top wants a positive count");
			o.top = (int)v;
			break;
		case NO_DEMANGLE:
			ls_no_demangle = true;
			break;
		default:
			return usage("report", NULL);
		}
	}
	if (optind != argc - 1)
		return usage("report", "give one trace file");
	return report__run(argv[optind], &o);
}

static int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"format", required_argument, NULL, 'f'},
		{"by", required_argument, NULL, 'b'},
		{"no-demangle", no_argument, NULL, NO_DEMANGLE},
		{NULL, 0, NULL, 0},
	};
	struct export_opts o = {.format = "chrome"};
	int c;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out = optarg;
			break;
		case 'f':
			if (!export__format(optarg))
				return usage("export", "--format wants chrome, pprof or perfetto");
			o.format = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "waiter") && strcmp(optarg, "holder"))
				return usage("export", "--by wants waiter or holder");
			o.by = strcmp(optarg, "holder") ? EXPORT_BY_WAITER : EXPORT_BY_HOLDER;
			break;
		case NO_DEMANGLE:
			ls_no_demangle = true;
			break;
		default:
			return usage("export", NULL);
		}
	}
	if (optind != argc - 1)
		return usage("export", "give one trace file");
	if (o.by == EXPORT_BY_HOLDER && strcmp(o.format, "pprof"))
		return usage("export", "--by is for --format pprof");
	return export__run(argv[optind], &o);
}

static int cmd_graph(int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"no-demangle", no_argument, NULL, NO_DEMANGLE},
		{NULL, 0, NULL, 0},
	};
	const char *format = "dot";
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == NO_DEMANGLE) {
			ls_no_demangle = true;
			continue;
		}
		if (c != 'f')
			return usage("graph", NULL);
		if (strcmp(optarg, "dot") && strcmp(optarg, "json"))
			return usage("graph", "--format wants dot or json");
		format = optarg;
	}
	if (optind != argc - 1)
		return usage("graph", "give one trace file");
	return graph__run(argv[optind], format);
}

static int cmd_top(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"output", required_argument, NULL, 'o'},
		{"interval", required_argument, NULL, 'i'},
		{"no-demangle", no_argument, NULL, NO_DEMANGLE},
		{NULL, 0, NULL, 0},
	};
	struct top_opts o = {.interval = 1};
	struct sigaction sa = {.sa_handler = on_signal};
	const char *bad;
	char why[128];
	int c;

	while ((c = getopt_long(argc, argv, "p:o:i:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((bad = parse_pid("top", optarg, &o.pid, why, sizeof(why))))
				return usage("top", bad);
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'i':
			if (!parse_number(optarg, 0.1, 3600, &o.interval))
				return usage("top", "-i wants seconds, 0.1 to 3600");
			break;
		case NO_DEMANGLE:
			ls_no_demangle = true;
			break;
		default:
			return usage("top", NULL);
		}
	}
	if (!o.pid || optind != argc)
		return usage("top", "give -p PID");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return top__run(&o, (volatile const int *)&stop_requested);
}

static int cmd_view(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'P'},
		{"no-demangle", no_argument, NULL, NO_DEMANGLE},
		{NULL, 0, NULL, 0},
	};
	/* no SA_RESTART: the signal must end the server's wait for connections */
	struct sigaction sa = {.sa_handler = on_signal};
	unsigned int port = VIEW_DEFAULT_PORT;
	double v;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == NO_DEMANGLE) {
			ls_no_demangle = true;
			continue;
		}
		if (c != 'P')
			return usage("view", NULL);
		if (!parse_number(optarg, 0, 65535, &v) || v != (int)v)
			return usage("view", "--port wants a port number (0: any free port)");
		port = (unsigned int)v;
	}
	if (optind != argc - 1)
		return usage("view", "give one trace file");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return view__run(argv[optind], port, (volatile const int *)&stop_requested);
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"no-demangle", no_argument, NULL, NO_DEMANGLE},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	pid_t pid = 0;
	const char *bad;
	char why[128];
	int c;

	while ((c = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((bad = parse_pid("dump", optarg, &pid, why, sizeof(why))))
				return usage("dump", bad);
			break;
		case 'j':
			json = true;
			break;
		case NO_DEMANGLE:
			ls_no_demangle = true;
			break;
		default:
			return usage("dump", NULL);
		}
	}
	if (!pid || optind != argc)
		return usage("dump", "give -p PID");
	return dump__run(pid, json);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
		{"record", cmd_record},
		{"report", cmd_report},
		{"export", cmd_export},
		{"graph", cmd_graph},
		{"top", cmd_top},
		{"view", cmd_view},
		{"dump", cmd_dump},
	};

	/* a setuid (or setgid) lockscope would read any process and write any file for whoever
	 * runs it: file capabilities are the way to let others record (README, Permissions).
	 * Nothing runs with the borrowed identity, exit handlers included. */
	if (ls_privs_borrowed()) {
		ls_err("refused", "this copy runs setuid or setgid (real and effective user or "
		       "group differ): give a copy file capabilities instead (README, Permissions)");
		_exit(LS_EXIT_SYSTEM);
	}
	if (argc < 2)
		return usage("usage", "give a command");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, stdout);
		return LS_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			optind = 1;
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	return usage("usage", "unknown command");
}
