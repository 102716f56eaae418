/* view.c - a small HTTP/1.1 server on 127.0.0.1 for the viewer: the embedded files and the
 * trace's three documents, nothing else, one thread per connection, every response closing it. */
#include "commands/view.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/common.h"
#include "commands/graph.h"
#include "commands/report.h"
#include "export/view_timeline.h"

#define MAX_CONNS 16
#define HEAD_MAX 8192
#define RECV_TIMEOUT_S 5
#define SEND_TIMEOUT_S 60
#define ACCEPT_POLL_MS 250

/* A response body the server owns or borrows, and what it is. */
struct doc {
	const char *name; /* the path after "/" */
	const char *type;
	const char *data;
	size_t len;
};

enum { DOC_REPORT, DOC_GRAPH, DOC_TIMELINE, DOC__COUNT };

struct server {
	unsigned int port;
	struct doc docs[DOC__COUNT];
	char *owned[DOC__COUNT];
};

struct conn {
	pthread_t thread;
	int fd;
	bool used;
	atomic_bool done;
	const struct server *srv;
};

/* ---- the documents ---- */

/* FN's output to a memory stream, as one document. 0, or FN's exit status, or 2. */
static int capture(char **data, size_t *len, int (*fn)(const char *path, FILE *out),
		   const char *path)
{
	FILE *f = open_memstream(data, len);
	int ret;

	if (!f)
		return LS_EXIT_SYSTEM;
	ret = fn(path, f);
	if (fclose(f) && !ret)
		ret = LS_EXIT_SYSTEM;
	return ret;
}

static int report_to(const char *path, FILE *out)
{
	struct report_opts o = {.json = true, .out = out};

	return report__run(path, &o);
}

static int graph_to(const char *path, FILE *out)
{
	return graph__write(path, "json", out);
}

/* Reads the trace three times, once per document, with the code the other commands use. */
static int prepare(struct server *s, const char *path)
{
	static const struct {
		const char *name, *type;
	} kinds[DOC__COUNT] = {
	    [DOC_REPORT] = {"data/report.json", "application/json"},
	    [DOC_GRAPH] = {"data/graph.json", "application/json"},
	    [DOC_TIMELINE] = {"data/timeline.bin", "application/octet-stream"},
	};
	size_t lens[DOC__COUNT] = {0};
	char why[256] = "";
	int ret, err;

	err = view_timeline__build(path, &s->owned[DOC_TIMELINE], &lens[DOC_TIMELINE], why,
				   sizeof(why));
	if (err == -EINVAL) {
		ls_err("view", "%s: %s", path, why);
		return LS_EXIT_INPUT;
	}
	if (err) {
		ls_err("view", "%s: %s", path, strerror(-err));
		return LS_EXIT_SYSTEM;
	}
	ret = capture(&s->owned[DOC_REPORT], &lens[DOC_REPORT], report_to, path);
	if (!ret)
		ret = capture(&s->owned[DOC_GRAPH], &lens[DOC_GRAPH], graph_to, path);
	if (ret)
		return ret;
	for (int i = 0; i < DOC__COUNT; i++)
		s->docs[i] = (struct doc){.name = kinds[i].name,
					  .type = kinds[i].type,
					  .data = s->owned[i],
					  .len = lens[i]};
	return 0;
}

/* ---- requests ---- */

static const char *asset_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot && !strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (dot && !strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (dot && !strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	return "application/octet-stream";
}

/* What TARGET names, in *D. 0, or the HTTP status that refuses it: 400 for any target that is
 * not a plain absolute path (no "..", no percent-encoding, no backslash, no "//"), 404 for a
 * path outside the whitelist. */
static int resolve(const struct server *s, char *target, struct doc *d)
{
	char *q = strchr(target, '?');
	const char *name;

	if (q)
		*q = '\0';
	if (target[0] != '/' || target[1] == '/' || strstr(target, "..") || strchr(target, '%') ||
	    strchr(target, '\\'))
		return 400;
	name = target[0] && target[1] ? target + 1 : "index.html";
	for (int i = 0; i < DOC__COUNT; i++) {
		if (!strcmp(name, s->docs[i].name)) {
			*d = s->docs[i];
			return 0;
		}
	}
	for (size_t i = 0; i < view_assets_count; i++) {
		if (!strcmp(name, view_assets[i].name)) {
			*d = (struct doc){.name = view_assets[i].name,
					  .type = asset_type(view_assets[i].name),
					  .data = (const char *)view_assets[i].data,
					  .len = view_assets[i].len};
			return 0;
		}
	}
	return 404;
}

/* The Host header must name this server: a page elsewhere that rebinds its own name to
 * 127.0.0.1 must not read the trace. */
static bool host_ok(const struct server *s, const char *head)
{
	char want[2][40];
	const char *h = head;

	snprintf(want[0], sizeof(want[0]), "127.0.0.1:%u", s->port);
	snprintf(want[1], sizeof(want[1]), "localhost:%u", s->port);
	while ((h = strchr(h, '\n'))) {
		size_t n;

		h++;
		if (strncasecmp(h, "host:", 5))
			continue;
		h += 5;
		h += strspn(h, " \t");
		n = strcspn(h, " \t\r\n");
		for (int i = 0; i < 2; i++)
			if (n == strlen(want[i]) && !strncmp(h, want[i], n))
				return true;
		return false;
	}
	return false;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond(int fd, int status, const char *type, const char *body, size_t len,
		    bool head_only)
{
	static const struct {
		int code;
		const char *text;
	} reasons[] = {{200, "OK"},
		       {400, "Bad Request"},
		       {404, "Not Found"},
		       {405, "Method Not Allowed"},
		       {431, "Request Header Fields Too Large"},
		       {503, "Service Unavailable"}};
	const char *reason = "Error";
	char head[512], msg[64];
	int n;

	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++)
		if (reasons[i].code == status)
			reason = reasons[i].text;
	if (status != 200) {
		snprintf(msg, sizeof(msg), "%d %s\n", status, reason);
		type = "text/plain; charset=utf-8";
		body = msg;
		len = strlen(msg);
	}
	n = snprintf(
	    head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	    "Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'\r\n"
	    "Connection: close\r\n\r\n",
	    status, reason, type, len);
	if (send_all(fd, head, (size_t)n) == 0 && !head_only)
		send_all(fd, body, len);
}

/* Reads the request head, up to the blank line. Its length, or -1 if the peer went away or
 * took too long, or 0 if it is too large. */
static ssize_t read_head(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap - 1) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return (ssize_t)len;
	}
	return 0;
}

static void handle(const struct server *s, int fd)
{
	char buf[HEAD_MAX], method[8], target[1024], version[16];
	struct doc d = {0};
	ssize_t n = read_head(fd, buf, sizeof(buf));
	int status;

	if (n < 0)
		return;
	if (n == 0) {
		respond(fd, 431, NULL, NULL, 0, false);
		return;
	}
	/* the request line must be exactly METHOD SP TARGET SP VERSION: nothing cut or left over */
	if (sscanf(buf, "%7s %1023s %15s", method, target, version) != 3 ||
	    strcspn(buf, "\r\n") != strlen(method) + strlen(target) + strlen(version) + 2 ||
	    strncmp(version, "HTTP/1.", 7) || !host_ok(s, buf)) {
		respond(fd, 400, NULL, NULL, 0, false);
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		respond(fd, 405, NULL, NULL, 0, false);
		return;
	}
	status = resolve(s, target, &d);
	respond(fd, status ? status : 200, d.type, d.data, d.len, !strcmp(method, "HEAD"));
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	handle(c->srv, c->fd);
	shutdown(c->fd, SHUT_WR);
	atomic_store(&c->done, true);
	return NULL;
}

/* ---- the listening loop ---- */

static int listen_loopback(unsigned int port, unsigned int *bound)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

static void conn_reap(struct conn *c, bool force)
{
	if (!c->used || (!force && !atomic_load(&c->done)))
		return;
	if (force)
		shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->thread, NULL);
	close(c->fd);
	c->used = false;
}

static void conn_start(const struct server *s, struct conn *conns, int fd)
{
	struct timeval rcv = {.tv_sec = RECV_TIMEOUT_S}, snd = {.tv_sec = SEND_TIMEOUT_S};
	struct conn *c = NULL;

	for (int i = 0; i < MAX_CONNS && !c; i++)
		if (!conns[i].used)
			c = &conns[i];
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	if (c) {
		*c = (struct conn){.fd = fd, .used = true, .srv = s};
		if (!pthread_create(&c->thread, NULL, conn_main, c))
			return;
		c->used = false;
	}
	respond(fd, 503, NULL, NULL, 0, false);
	close(fd);
}

static void serve(const struct server *s, int lfd, volatile const int *stop)
{
	struct conn conns[MAX_CONNS] = {0};
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	int fd;

	while (!*stop) {
		for (int i = 0; i < MAX_CONNS; i++)
			conn_reap(&conns[i], false);
		if (poll(&p, 1, ACCEPT_POLL_MS) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			conn_start(s, conns, fd);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conn_reap(&conns[i], true);
}

int view__run(const char *path, unsigned int port, volatile const int *stop)
{
	struct server s = {0};
	int ret, lfd = -1;

	ret = prepare(&s, path);
	if (ret)
		goto cleanup;
	lfd = listen_loopback(port, &s.port);
	if (lfd < 0) {
		if (lfd == -EADDRINUSE)
			ls_err("view", "127.0.0.1:%u is in use (--port 0 takes any free port)",
			       port);
		else
			ls_err("view", "cannot listen on 127.0.0.1:%u: %s", port, strerror(-lfd));
		ret = LS_EXIT_SYSTEM;
		goto cleanup;
	}
	ls_note("view", "http://127.0.0.1:%u/", s.port);
	serve(&s, lfd, stop);
cleanup:
	if (lfd >= 0)
		close(lfd);
	for (int i = 0; i < DOC__COUNT; i++)
		free(s.owned[i]);
	return ret;
}
