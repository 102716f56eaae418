/* view.h - `lockscope view`: serves the browser viewer and one trace, converted to the report,
 * graph and timeline documents when it starts, on 127.0.0.1 only, until it is told to stop. */
#ifndef LOCKSCOPE_VIEW_H
#define LOCKSCOPE_VIEW_H

#include <stddef.h>

#define VIEW_DEFAULT_PORT 8737

/* One of the viewer's files, embedded at build time (build/view_assets.c); the table is the
 * whole whitelist of files the server hands out. */
struct view_asset {
	const char *name; /* "index.html", "timeline.js": no directories */
	const unsigned char *data;
	size_t len;
};

extern const struct view_asset view_assets[];
extern const size_t view_assets_count;

/* What a request asks for: the parts of its request line. */
struct view_request {
	char method[8];
	char target[1024];
};

/* Parses a request head as it arrives: BUF holds the LEN bytes read so far, then a NUL. 0 while
 * more is needed; else the status to answer: 200 (*REQ filled) when the head is whole and well
 * formed, 400 as soon as it shows itself malformed (a NUL, a bad request line, a Host that is
 * not this server on PORT), 405 for a method other than GET and HEAD, 431 when it fills the
 * server's buffer without ending. */
int view__parse_head(const char *buf, size_t len, unsigned int port, struct view_request *req);

/* Serves the trace at PATH on 127.0.0.1:PORT (0: any free port), under a path that holds a
 * secret made for this run (any other path gets 403), printing the URL on stderr,
 * until *STOP becomes non-zero (the caller's signal handler sets it; signals must interrupt
 * system calls). Returns an exit status (enum ls_exit): 1 if PATH is not a readable trace, 2 if
 * the port cannot be had or memory ran out. */
int view__run(const char *path, unsigned int port, volatile const int *stop);

#endif
