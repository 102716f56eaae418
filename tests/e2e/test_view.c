/* test_view.c - the viewer's server as another local user would try it, over real sockets: the
 * run's secret or 403, slow clients cut at one deadline and unable to starve it, 503 (not a
 * reset) to the overflow, a NUL answered at once. Under `make check` it runs the ASan build. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "trace/trace.h"

#define SLOTS 16 /* the server's connections */

static pid_t server = -1;
static unsigned int port;
static char secret[64];

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		cr_assert_eq(wait_for(server, 30), 0, "view did not end cleanly on SIGTERM");
	}
	server = -1;
}

TestSuite(view, .fini = stop_server);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A trace of a program that never waited: no slices for the timeline at all. */
static void idle_trace(const char *path)
{
	struct ls_trace_info info = {.version = LS_TRACE_VERSION,
				     .pid = 77,
				     .comm = "idle",
				     .cmdline = "./idle",
				     .mode = "contention"};
	struct ls_rec rec = {.type = LS_REC_THREAD, .tid = 77};
	struct trace_writer *w = trace_writer__new(path, &info);

	cr_assert_not_null(w);
	rec.thread.name = "idle";
	cr_assert_eq(trace_writer__append(w, &rec), 0);
	rec = (struct ls_rec){.type = LS_REC_END, .ts = 1000};
	rec.end.duration_ns = 1000000;
	cr_assert_eq(trace_writer__append(w, &rec), 0);
	cr_assert_eq(trace_writer__close(w), 0);
}

/* Starts `view` on TRACE and reads the port and the secret from the URL it prints. */
static void start_server(const char *trace)
{
	char cmd[512], err[256], *text, *url;

	snprintf(err, sizeof(err), "%s/view.err", test_dir());
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " view --port 0 %s", trace);
	server = spawn_bg(cmd, "/dev/null", err);
	cr_assert(wait_for_text(err, "/\n", 60), "view printed no URL");
	text = slurp(err);
	url = strstr(text, "http://127.0.0.1:");
	cr_assert_not_null(url, "%s", text);
	cr_assert_eq(sscanf(url, "http://127.0.0.1:%u/%63[0-9a-f]/", &port, secret), 2, "%s", text);
	cr_assert_eq(strlen(secret), 32, "a 128-bit secret: %s", text);
	free(text);
}

static int connect_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	return fd;
}

/* Reads the answer on FD until the server closes it, within TIMEOUT_S. The status, -1 if the
 * connection was reset or closed without one, -2 on timeout. *SECONDS: how long it took. */
static int answer(int fd, double timeout_s, double *seconds)
{
	double start = now(), end = start + timeout_s;
	char buf[4096], head[32] = "";
	size_t have = 0;
	int status = -1;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (now() >= end) {
			status = -2;
			break;
		}
		if (poll(&p, 1, (int)((end - now()) * 1000) + 1) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			if (n == 0 && have >= 12)
				sscanf(head, "HTTP/1.1 %d", &status);
			break;
		}
		for (ssize_t i = 0; i < n && have < sizeof(head) - 1; i++)
			head[have++] = buf[i];
	}
	if (seconds)
		*seconds = now() - start;
	close(fd);
	return status;
}

static int get(const char *target, double *seconds)
{
	char req[1024];
	int fd = connect_server();

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", target, port);
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	return answer(fd, 20, seconds);
}

Test(view, the_secret_is_needed_and_a_trace_without_waits_is_served, .timeout = 120)
{
	char trace[256], path[256];

	snprintf(trace, sizeof(trace), "%s/idle.lsz", test_dir());
	idle_trace(trace);
	start_server(trace);
	for (const char *const *p =
		 (const char *const[]){"/", "/data/report.json", "/data/timeline.bin",
				       "/data/graph.json", "/index.html", NULL};
	     *p; p++) {
		cr_assert_eq(get(*p, NULL), 403, "%s without the secret", *p);
		snprintf(path, sizeof(path), "/%s%s", secret, *p);
		cr_assert_eq(get(path, NULL), 200, "%s", path);
	}
	secret[31] = secret[31] == '0' ? '1' : '0';
	snprintf(path, sizeof(path), "/%s/data/report.json", secret);
	cr_assert_eq(get(path, NULL), 403, "a wrong secret");
	stop_server();
}

/* A NUL in the request line is an answer now, not after the head's deadline. */
Test(view, a_malformed_request_is_answered_at_once, .timeout = 120)
{
	char trace[256];
	double took;
	int fd;

	snprintf(trace, sizeof(trace), "%s/idle.lsz", test_dir());
	idle_trace(trace);
	start_server(trace);
	fd = connect_server();
	cr_assert_eq(send(fd, "GET /\0 HTTP/1.1", 15, MSG_NOSIGNAL), 15);
	cr_assert_eq(answer(fd, 20, &took), 400);
	cr_assert_lt(took, 1.0, "answered after %.2f s", took);
	fd = connect_server();
	cr_assert_eq(send(fd, "BAD LINE\r\n", 10, MSG_NOSIGNAL), 10);
	cr_assert_eq(answer(fd, 20, &took), 400);
	cr_assert_lt(took, 1.0, "answered after %.2f s", took);
	stop_server();
}

/* Sixteen clients that send their heads a byte at a time hold every connection: a seventeenth,
 * a browser's, is served all the same, promptly; and each slow one is cut at the head's
 * deadline (5 s for the whole head), not kept as long as it keeps sending. */
Test(view, slow_clients_do_not_starve_it, .timeout = 120)
{
	const char *head = "GET / HTTP/1.1\r\nHost: 127.0.0.1:";
	int slow[SLOTS], closed = 0;
	char trace[256], path[256];
	double start, took;

	snprintf(trace, sizeof(trace), "%s/idle.lsz", test_dir());
	idle_trace(trace);
	start_server(trace);
	start = now();
	for (int i = 0; i < SLOTS; i++)
		slow[i] = connect_server();
	/* 2 s of a byte per 100 ms on each */
	for (int step = 0; step < 20; step++) {
		for (int i = 0; i < SLOTS; i++)
			send(slow[i], head + step % 10, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		usleep(100000);
	}
	snprintf(path, sizeof(path), "/%s/data/report.json", secret);
	cr_assert_eq(get(path, &took), 200, "a browser was refused behind slow clients");
	cr_assert_lt(took, 1.0, "served after %.2f s", took);
	/* the slow ones keep trickling: each is cut within the head's deadline */
	while (now() - start < 9 && closed < SLOTS) {
		closed = 0;
		for (int i = 0; i < SLOTS; i++) {
			char c;
			ssize_t n;

			if (slow[i] < 0) {
				closed++;
				continue;
			}
			send(slow[i], "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			n = recv(slow[i], &c, 1, MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
				close(slow[i]);
				slow[i] = -1;
				closed++;
			}
		}
		usleep(200000);
	}
	cr_assert_eq(closed, SLOTS, "slow clients still held after %.1f s", now() - start);
	cr_assert_lt(now() - start, 7.5, "slow clients cut only after %.1f s", now() - start);
	stop_server();
}

/* Every connection taken by clients too new to be evicted: the next one gets a 503 it can read,
 * not a reset; once they are gone, requests are served again. */
Test(view, the_overflow_gets_503, .timeout = 120)
{
	char trace[256], path[256];
	int held[SLOTS + 4], refused = 0, served = 0;

	snprintf(trace, sizeof(trace), "%s/idle.lsz", test_dir());
	idle_trace(trace);
	start_server(trace);
	snprintf(path, sizeof(path), "/%s/", secret);
	for (int i = 0; i < SLOTS + 4; i++)
		held[i] = connect_server();
	/* the ones past the slots are answered 503 and closed; give the server a moment to
	 * take them all before the held ones are let go */
	usleep(300000);
	for (int i = 0; i < SLOTS + 4; i++) {
		struct pollfd p = {.fd = held[i], .events = POLLIN};

		if (poll(&p, 1, 0) == 1) {
			int st = answer(held[i], 5, NULL);

			cr_assert_eq(st, 503, "an overflowing client got %d (-1: reset)", st);
			refused++;
		} else {
			close(held[i]);
		}
	}
	cr_assert_eq(refused, 4, "%d of the %d overflowing clients were answered 503", refused, 4);
	for (int i = 0; i < 20 && !served; i++) {
		served = get(path, NULL) == 200;
		usleep(100000);
	}
	cr_assert(served, "not served once the connections were let go");
	stop_server();
}
