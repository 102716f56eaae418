/* graph.h - `lockscope graph`: the lock-order graph of a trace, with its potential deadlocks
 * marked, as Graphviz dot or as JSON (schema lockscope.graph/1). */
#ifndef LOCKSCOPE_GRAPH_H
#define LOCKSCOPE_GRAPH_H

#include <stdio.h>

/* Writes the lock-order graph of the trace at PATH to stdout in FORMAT, "dot" (also for NULL)
 * or "json". Returns an exit status (enum ls_exit): 1 for an unknown format or a file that is
 * not a readable trace; a cut or damaged trace is graphed up to the damage, with a note on
 * stderr, and returns 0; 2 if memory or stdout failed. */
int graph__run(const char *path, const char *format);
/* The same, to OUT (borrowed, flushed, not closed). */
int graph__write(const char *path, const char *format, FILE *out);

#endif
