/* main.c - command dispatch and option parsing; the only place that exits.
 * Each command returns an exit status: 0 ok, 1 bad usage or input, 2 the system refused. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands/dump.h"
#include "commands/graph.h"
#include "commands/record.h"
#include "commands/report.h"
#include "commands/top.h"
#include "commands/view.h"
#include "export/export.h"
#include "trace/trace.h"
#include "util/common.h"
#include "util/demangle.h"
#include "util/privs.h"

#ifndef LOCKSCOPE_VERSION
#define LOCKSCOPE_VERSION "unknown"
#endif

static volatile sig_atomic_t stop_requested;

/* The long option every command that shows names takes. */
#define NO_DEMANGLE 'N'

/* Each command's usage: `lockscope COMMAND --help` prints it on stdout, a usage error on stderr
 * under the error's line; `lockscope help` prints them all. The man page (doc/lockscope.1) says
 * the same at length. */
static const struct {
	const char *name, *text;
} usages[] = {
    {"record",
     "usage: lockscope record [options] -p PID[,PID...]\n"
     "       lockscope record [options] -- CMD [ARGS...]\n"
     "  record lock contention in running processes, or in a command it launches and every\n"
     "  process that command starts\n"
     "  -p, --pid PID[,PID...]  attach to these processes (all their threads); -p may be\n"
     "                          repeated: each adds\n"
     "  --children              with -p: their descendants too, present and future\n"
     "  -o, --output FILE       trace file (default: lockscope.lsz; an existing one is kept\n"
     "                          as FILE.old)\n"
     "  -d, --duration SECONDS  stop after this long (default: when the target exits)\n"
     "  --mode auto|contention|full\n"
     "                          what to trace (default: auto, full mode within the budget)\n"
     "  --overhead-budget PCT   for auto (default 5)\n"
     "  --loop-threshold MS     event-loop blocking threshold (default 50)\n"
     "  --no-stacks             do not capture call stacks\n"
     "  on a terminal, a status line shows the time, the events, losses, full mode's\n"
     "  share of the time and deadlocks found while recording\n"},
    {"report", "usage: lockscope report FILE [--json] [--top N] [--no-demangle]\n"
	       "  hotspots, lock order, deadlocks and event-loop blocks of a trace\n"
	       "  --json                  one JSON object (schema lockscope.report/1)\n"
	       "  --top N                 the N locks with the most waiting\n"},
    {"graph", "usage: lockscope graph FILE [--format dot|json] [--no-demangle]\n"
	      "  the lock-order graph: an edge A -> B where a thread took B while holding A\n"
	      "  --format dot|json       Graphviz (default) or JSON\n"},
    {"export",
     "usage: lockscope export FILE [-o OUT|-]\n"
     "                        [--format chrome|pprof|perfetto|speedscope]\n"
     "                        [--by waiter|holder] [--no-demangle]\n"
     "  the trace in another tool's format, written to a file named after the trace:\n"
     "  chrome (default): FILE.json (Perfetto UI, chrome://tracing, DevTools);\n"
     "  pprof: FILE.pb.gz (go tool pprof); perfetto: FILE.pftrace (Perfetto UI);\n"
     "  speedscope: FILE.speedscope.json (each thread's lock waits as a flame graph)\n"
     "  -o, --output OUT        write OUT instead (- for stdout); an existing file is kept\n"
     "                          as OUT.old\n"
     "  --by waiter|holder      pprof: charge waits to the waiter's or holder's stack\n"},
    {"view", "usage: lockscope view FILE [--port N] [--no-demangle]\n"
	     "  serve the browser viewer on 127.0.0.1, at a URL with a per-run secret\n"
	     "  --port N                the port (default 8737; 0: any free port)\n"},
    {"top", "usage: lockscope top -p PID [-o FILE] [-i SECONDS] [--no-demangle]\n"
	    "  live view of contention in a running process; q quits\n"
	    "  -p, --pid PID           the process\n"
	    "  -i, --interval SECONDS  a frame every SECONDS (default 1)\n"
	    "  -o, --output FILE       keep the trace in FILE\n"},
    {"dump",
     "usage: lockscope dump -p PID [--json] [--no-demangle]\n"
     "  one snapshot of a live (perhaps hung) process: every thread's stack, what it waits\n"
     "  on and who holds that, deadlocks, asyncio tasks\n"
     "  -p, --pid PID           the process\n"
     "  --json                  one JSON object (schema lockscope.dump/1)\n"},
    {"help", "usage: lockscope help [COMMAND]\n"
	     "  this summary, or one command's usage\n"},
};

static const char general_text[] =
    "lockscope: a lock-contention profiler for Linux programs\n"
    "usage: lockscope COMMAND [options]   (lockscope COMMAND --help: its options)\n"
    "  record   record a running process (-p PID) or a command it launches (-- CMD)\n"
    "  report   hotspots, lock order, deadlocks, event-loop blocks of a trace\n"
    "  graph    the lock-order graph (dot or JSON)\n"
    "  export   the trace for Perfetto, chrome://tracing, speedscope or go tool pprof\n"
    "  view     the browser viewer\n"
    "  top      live view of a running process\n"
    "  dump     one snapshot of a live process: stacks, waits, holders, deadlocks\n"
    "  help     this summary, or a command's usage\n"
    "  --version\n"
    "report, graph, export, view, top and dump show C++ names demangled; --no-demangle shows\n"
    "them as the object files spell them. Exit status: 0 ok, 1 bad usage or input, 2 the\n"
    "system refused. More: man lockscope.\n";

static const char *usage_of(const char *cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(usages); i++)
		if (!strcmp(usages[i].name, cmd))
			return usages[i].text;
	return general_text;
}

/* A usage error in command WHAT: MSG on a line, then the command's usage, on stderr. */
static int usage(const char *what, const char *msg)
{
	if (msg)
		ls_err(what, "%s", msg);
	fputs(usage_of(what), stderr);
	return LS_EXIT_INPUT;
}

/* COMMAND --help: its usage on stdout. */
static int help(const char *what)
{
	fputs(usage_of(what), stdout);
	return fflush(stdout) ? LS_EXIT_SYSTEM : LS_EXIT_OK;
}

/* Every command takes -h and --help. */
#define HELP_OPTION                                                                                \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct record_opts o = {
	    .output = "lockscope.lsz", .overhead_budget = 5, .loop_threshold_ms = 50};
	struct sigaction sa = {.sa_handler = on_signal};
	double v;
	const char *bad;
	char why[128];
	int c;

	while ((c = getopt_long(argc, argv, "+o:d:p:h", opts, NULL)) != -1) {
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
		case 'h':
			return help("record");
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct report_opts o = {.top = 0};
	double v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
		case 'h':
			return help("report");
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct export_opts o = {.format = "chrome"};
	int c;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.out = optarg;
			break;
		case 'f':
			if (!export__format(optarg))
				return usage(
				    "export",
				    "--format wants chrome, pprof, perfetto or speedscope");
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
		case 'h':
			return help("export");
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	const char *format = "dot";
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == NO_DEMANGLE) {
			ls_no_demangle = true;
			continue;
		}
		if (c == 'h')
			return help("graph");
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	struct top_opts o = {.interval = 1};
	struct sigaction sa = {.sa_handler = on_signal};
	const char *bad;
	char why[128];
	int c;

	while ((c = getopt_long(argc, argv, "p:o:i:h", opts, NULL)) != -1) {
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
		case 'h':
			return help("top");
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	/* no SA_RESTART: the signal must end the server's wait for connections */
	struct sigaction sa = {.sa_handler = on_signal};
	unsigned int port = VIEW_DEFAULT_PORT;
	double v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == NO_DEMANGLE) {
			ls_no_demangle = true;
			continue;
		}
		if (c == 'h')
			return help("view");
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
	    HELP_OPTION,
	    {NULL, 0, NULL, 0},
	};
	bool json = false;
	pid_t pid = 0;
	const char *bad;
	char why[128];
	int c;

	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
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
		case 'h':
			return help("dump");
		default:
			return usage("dump", NULL);
		}
	}
	if (!pid || optind != argc)
		return usage("dump", "give -p PID");
	return dump__run(pid, json);
}

/* help [COMMAND]: the summary, or COMMAND's usage; an unknown COMMAND is bad usage. */
static int cmd_help(int argc, char **argv)
{
	if (argc > 2)
		return usage("help", "give at most one command");
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return help("help");
	if (argc == 2 && usage_of(argv[1]) == general_text) {
		ls_err("help", "no command %s", argv[1]);
		fputs(general_text, stderr);
		return LS_EXIT_INPUT;
	}
	return help(argc == 2 ? argv[1] : "");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
	    {"record", cmd_record}, {"report", cmd_report}, {"export", cmd_export},
	    {"graph", cmd_graph},   {"top", cmd_top},	    {"view", cmd_view},
	    {"dump", cmd_dump},
	};

	/* a setuid (or setgid) lockscope would read any process and write any file for whoever
	 * runs it: file capabilities are the way to let others record (README, Permissions).
	 * Nothing runs with the borrowed identity, exit handlers included. */
	if (ls_privs_borrowed()) {
		ls_err(
		    "refused",
		    "this copy runs setuid or setgid (real and effective user or "
		    "group differ): give a copy file capabilities instead (README, Permissions)");
		_exit(LS_EXIT_SYSTEM);
	}
	if (argc < 2)
		return usage("usage", "give a command");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return help("");
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("lockscope %s (trace format %d)\n", LOCKSCOPE_VERSION, LS_TRACE_VERSION);
		return fflush(stdout) ? LS_EXIT_SYSTEM : LS_EXIT_OK;
	}
	if (!strcmp(argv[1], "help"))
		return cmd_help(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			optind = 1;
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	ls_err("usage", "unknown command %s", argv[1]);
	fputs(general_text, stderr);
	return LS_EXIT_INPUT;
}
