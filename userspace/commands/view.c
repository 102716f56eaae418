/* view.c - a small HTTP/1.1 server on 127.0.0.1 for the viewer: the embedded files and the
 * trace's three documents under a per-run secret path, one thread per connection, each closing. */
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
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/common.h"
#include "commands/graph.h"
#include "commands/report.h"
#include "export/view_timeline.h"

#define MAX_CONNS 16
#define HEAD_MAX 8192
#define HEAD_DEADLINE_MS 5000	/* the whole request head, however it trickles in */
#define SEND_DEADLINE_MS 60000	/* the whole response */
#define SLOW_HEAD_MS 1000	/* a head not whole after this may make room for a newcomer */
#define ACCEPT_POLL_MS 250
#define REFUSED_MAX 64		/* 503s waiting for their peer to read them */
#define REFUSED_LINGER_MS 1000
#define SECRET_BYTES 16
#define DOC_MAX (64u << 20)	/* the report or the graph, as JSON */

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
	char secret[2 * SECRET_BYTES + 1]; /* hex: the URL's first path segment */
	struct doc docs[DOC__COUNT];
	char *owned[DOC__COUNT];
};

/* A connection's phase: a thread still reading its head may be evicted for a newcomer. */
enum { CONN_HEAD, CONN_BUSY, CONN_EVICTED };

struct conn {
	pthread_t thread;
	int fd;
	bool used;
	atomic_bool done;
	atomic_int phase;
	uint64_t started; /* ms, CLOCK_MONOTONIC */
	const struct server *srv;
};

/* A connection refused with 503, kept until its peer has read the answer: closing a socket
 * with its request unread would send a reset instead. */
struct refused {
	int fd;
	uint64_t until;
};

/* ---- the documents ---- */

/* A document kept in memory, up to DOC_MAX bytes; what passes that is dropped and flagged. */
struct capped {
	char *data;
	size_t len, cap;
	bool over;
};

static ssize_t capped_write(void *cookie, const char *buf, size_t n)
{
	struct capped *c = cookie;

	if (c->over || n > DOC_MAX - c->len) {
		c->over = true;
		return (ssize_t)n; /* the writer goes on, to nothing: one message, from view */
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 65536;
		char *p;

		while (cap < c->len + n)
			cap *= 2;
		p = realloc(c->data, cap);
		if (!p)
			return -1;
		c->data = p;
		c->cap = cap;
	}
	memcpy(c->data + c->len, buf, n);
	c->len += n;
	return (ssize_t)n;
}

/* FN's output in memory, as one document. 0, or FN's exit status, or 2 (then said here). */
static int capture(char **data, size_t *len, int (*fn)(const char *path, FILE *out),
		   const char *path, const char *what)
{
	struct capped c = {0};
	FILE *f = fopencookie(&c, "w", (cookie_io_functions_t){.write = capped_write});
	int ret;

	if (!f) {
		ls_err("view", "out of memory");
		return LS_EXIT_SYSTEM;
	}
	ret = fn(path, f);
	if (fclose(f) && !ret) {
		ls_err("view", "%s: out of memory", path);
		ret = LS_EXIT_SYSTEM;
	}
	/* a trace whose report passes this would not open in a browser either; a crafted one
	 * (a deep stack of long names on every lock) must not take gigabytes to find out */
	if (!ret && c.over) {
		ls_err("view", "%s: its %s passes %u MiB, more than the viewer holds (`lockscope %s` "
		       "reads it)", path, what, DOC_MAX >> 20, what);
		ret = LS_EXIT_SYSTEM;
	}
	*data = c.data;
	*len = c.len;
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
	ret = capture(&s->owned[DOC_REPORT], &lens[DOC_REPORT], report_to, path, "report");
	if (!ret)
		ret = capture(&s->owned[DOC_GRAPH], &lens[DOC_GRAPH], graph_to, path, "graph");
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

/* Compares without an early exit: how long it takes says nothing of the secret. */
static bool same_secret(const char *a, const char *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return diff == 0;
}

/* What TARGET names, in *D. 0, or the HTTP status that refuses it: 400 for any target that is
 * not a plain absolute path (no "..", no percent-encoding, no backslash, no "//"), 403 for one
 * outside the secret's path ("/SECRET/..."), 404 for a path outside the whitelist. */
static int resolve(const struct server *s, char *target, struct doc *d)
{
	size_t n = strlen(s->secret);
	char *q = strchr(target, '?');
	const char *name;

	if (q)
		*q = '\0';
	if (target[0] != '/' || target[1] == '/' || strstr(target, "..") || strchr(target, '%') ||
	    strchr(target, '\\'))
		return 400;
	if (strlen(target) < n + 2 || !same_secret(target + 1, s->secret, n) || target[n + 1] != '/')
		return 403;
	target += n + 1;
	name = target[1] ? target + 1 : "index.html";
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
static bool host_ok(unsigned int port, const char *head)
{
	char want[2][40];
	const char *h = head;

	snprintf(want[0], sizeof(want[0]), "127.0.0.1:%u", port);
	snprintf(want[1], sizeof(want[1]), "localhost:%u", port);
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

/* The request line must be exactly METHOD SP TARGET SP VERSION: nothing cut or left over. */
static bool request_line(const char *buf, size_t len, struct view_request *req)
{
	char line[HEAD_MAX], version[16];

	if (len && buf[len - 1] == '\r')
		len--;
	if (len >= sizeof(line))
		return false;
	memcpy(line, buf, len);
	line[len] = '\0';
	return sscanf(line, "%7s %1023s %15s", req->method, req->target, version) == 3 &&
	       len == strlen(req->method) + strlen(req->target) + strlen(version) + 2 &&
	       !strncmp(version, "HTTP/1.", 7);
}

int view__parse_head(const char *buf, size_t len, unsigned int port, struct view_request *req)
{
	const char *eol, *end;

	/* a NUL has no place in a head: answered now, not when the rest never comes */
	if (memchr(buf, '\0', len))
		return 400;
	eol = memchr(buf, '\n', len);
	if (eol && !request_line(buf, eol - buf, req))
		return 400;
	end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		end = memmem(buf, len, "\n\n", 2);
	if (!end)
		return len >= HEAD_MAX - 1 ? 431 : 0;
	if (!host_ok(port, buf))
		return 400;
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
		return 405;
	return 200;
}

static uint64_t now_ms(void)
{
	return ls_mono_ns() / 1000000;
}

/* Waits up to DEADLINE (ms, CLOCK_MONOTONIC) for EVENTS on FD. True if they came. */
static bool wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		uint64_t now = now_ms();
		int n;

		if (now >= deadline)
			return false;
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0;
	}
}

static int send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(fd, POLLOUT, deadline))
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond(int fd, int status, const struct doc *d, bool head_only, uint64_t deadline)
{
	static const struct {
		int code;
		const char *text;
	} reasons[] = {{200, "OK"},
		       {400, "Bad Request"},
		       {403, "Forbidden"},
		       {404, "Not Found"},
		       {405, "Method Not Allowed"},
		       {431, "Request Header Fields Too Large"},
		       {503, "Service Unavailable"}};
	const char *reason = "Error", *type = d ? d->type : NULL, *body = d ? d->data : NULL;
	size_t len = d ? d->len : 0;
	char head[640], msg[64];
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
	/* no Referer: the secret in the page's address stays in it */
	n = snprintf(
	    head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'\r\n"
	    "Connection: close\r\n\r\n",
	    status, reason, type, len);
	if (send_all(fd, head, (size_t)n, deadline) == 0 && !head_only)
		send_all(fd, body, len, deadline);
}

/* Reads the head until it is whole or shows itself malformed, within one deadline for all of
 * it (a client that sends a byte at a time gets no more time than one that sends nothing);
 * then answers, unless the connection was evicted meanwhile. */
static void handle(struct conn *c)
{
	uint64_t deadline = c->started + HEAD_DEADLINE_MS;
	struct view_request req = {"", ""};
	char buf[HEAD_MAX];
	struct doc d = {0};
	int status = 0, head = CONN_HEAD;
	size_t len = 0;

	while (!status) {
		ssize_t n;

		if (!wait_fd(c->fd, POLLIN, deadline))
			return;
		n = recv(c->fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		status = view__parse_head(buf, len, c->srv->port, &req);
	}
	if (!atomic_compare_exchange_strong(&c->phase, &head, CONN_BUSY))
		return;
	if (status == 200)
		status = resolve(c->srv, req.target, &d) ?: 200;
	respond(c->fd, status, &d, !strcmp(req.method, "HEAD"), now_ms() + SEND_DEADLINE_MS);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	handle(c);
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

/* All slots busy: the connection that has spent longest on its head, if that is over
 * SLOW_HEAD_MS, gives up its slot; a browser sends its head at once. NULL if none. */
static struct conn *evict(struct conn *conns)
{
	uint64_t now = now_ms();
	struct conn *old = NULL;
	int head = CONN_HEAD;

	for (int i = 0; i < MAX_CONNS; i++)
		if (atomic_load(&conns[i].phase) == CONN_HEAD &&
		    now - conns[i].started >= SLOW_HEAD_MS &&
		    (!old || conns[i].started < old->started))
			old = &conns[i];
	if (!old || !atomic_compare_exchange_strong(&old->phase, &head, CONN_EVICTED))
		return NULL;
	conn_reap(old, true);
	return old;
}

/* Answers 503 and keeps FD until its peer has read it (or a second passes). */
static void refuse(struct refused *r, size_t *n, int fd)
{
	respond(fd, 503, NULL, false, now_ms());
	shutdown(fd, SHUT_WR);
	if (*n == REFUSED_MAX) {
		close(fd);
		return;
	}
	r[(*n)++] = (struct refused){.fd = fd, .until = now_ms() + REFUSED_LINGER_MS};
}

/* Reads and drops what refused peers sent; closes those that are done or had their time. */
static void refused_drain(struct refused *r, size_t *n)
{
	char sink[4096];

	for (size_t i = 0; i < *n;) {
		ssize_t got;

		while ((got = recv(r[i].fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
			;
		if ((got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || got == 0 ||
		    now_ms() >= r[i].until) {
			close(r[i].fd);
			r[i] = r[--*n];
			continue;
		}
		i++;
	}
}

static void conn_start(const struct server *s, struct conn *conns, struct refused *refused,
		       size_t *nrefused, int fd)
{
	struct conn *c = NULL;

	for (int i = 0; i < MAX_CONNS && !c; i++)
		if (!conns[i].used)
			c = &conns[i];
	if (!c)
		c = evict(conns);
	if (c) {
		c->fd = fd;
		c->used = true;
		c->srv = s;
		c->started = now_ms();
		atomic_store(&c->done, false);
		atomic_store(&c->phase, CONN_HEAD);
		if (!pthread_create(&c->thread, NULL, conn_main, c))
			return;
		c->used = false;
		atomic_store(&c->phase, CONN_BUSY);
	}
	refuse(refused, nrefused, fd);
}

static void serve(const struct server *s, int lfd, volatile const int *stop)
{
	struct conn conns[MAX_CONNS] = {0};
	struct refused refused[REFUSED_MAX];
	size_t nrefused = 0;
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	int fd;

	for (int i = 0; i < MAX_CONNS; i++)
		atomic_init(&conns[i].phase, CONN_BUSY);
	while (!*stop) {
		for (int i = 0; i < MAX_CONNS; i++)
			conn_reap(&conns[i], false);
		refused_drain(refused, &nrefused);
		if (poll(&p, 1, nrefused ? 50 : ACCEPT_POLL_MS) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			conn_start(s, conns, refused, &nrefused, fd);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conn_reap(&conns[i], true);
	while (nrefused)
		close(refused[--nrefused].fd);
}

/* The secret: 128 random bits, in hex. */
static int make_secret(char *out)
{
	uint8_t raw[SECRET_BYTES];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -errno;
	for (int i = 0; i < SECRET_BYTES; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
	return 0;
}

int view__run(const char *path, unsigned int port, volatile const int *stop)
{
	struct server s = {0};
	int ret, lfd = -1;

	ret = prepare(&s, path);
	if (ret)
		goto cleanup;
	ret = make_secret(s.secret);
	if (ret) {
		ls_err("view", "no random secret for the address: %s", strerror(-ret));
		ret = LS_EXIT_SYSTEM;
		goto cleanup;
	}
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
	/* the secret in the address is what lets a browser in: other users' processes can reach
	 * 127.0.0.1 too, but cannot read this line */
	ls_note("view", "http://127.0.0.1:%u/%s/", s.port, s.secret);
	serve(&s, lfd, stop);
cleanup:
	if (lfd >= 0)
		close(lfd);
	for (int i = 0; i < DOC__COUNT; i++)
		free(s.owned[i]);
	return ret;
}
