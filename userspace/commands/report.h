/* report.h - `lockscope report`: reads a trace once, feeds every analysis, and prints what they
 * found, as aligned text for people or as the contract's `report --json` document. */
#ifndef LOCKSCOPE_REPORT_H
#define LOCKSCOPE_REPORT_H

#include <stdbool.h>
#include <stdio.h>

struct report_opts {
	bool json; /* the contract's JSON document instead of text */
	int top;   /* locks to list; <= 0: 10 in text, all in JSON */
	FILE *out; /* where the JSON document goes; NULL: stdout */
};

/* Reports on the trace at PATH to stdout. Returns an exit status (enum ls_exit): 1 if PATH is
 * not a readable trace; a cut or damaged trace is reported up to the damage, with a note on
 * stderr, and returns 0; 2 if memory or stdout failed. */
int report__run(const char *path, const struct report_opts *opts);

#endif
