/* test_view.c - the viewer server's request parser, on heads as they arrive: whole, partial,
 * malformed (answered as soon as it shows, a NUL at once), too large, from elsewhere. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "commands/view.h"

#define PORT 8737

static int parse(const char *head, size_t len, struct view_request *req)
{
	char buf[16384];

	cr_assert_lt(len, sizeof(buf));
	memcpy(buf, head, len);
	buf[len] = '\0';
	return view__parse_head(buf, len, PORT, req);
}

static int parse_str(const char *head, struct view_request *req)
{
	return parse(head, strlen(head), req);
}

Test(view, a_whole_head_is_parsed)
{
	struct view_request req;

	cr_assert_eq(parse_str("GET /k/data/report.json HTTP/1.1\r\nHost: 127.0.0.1:8737\r\n"
			       "Accept: */*\r\n\r\n",
			       &req),
		     200);
	cr_assert_str_eq(req.method, "GET");
	cr_assert_str_eq(req.target, "/k/data/report.json");
	cr_assert_eq(parse_str("HEAD / HTTP/1.0\nhost: localhost:8737\n\n", &req), 200);
	cr_assert_str_eq(req.method, "HEAD");
}

Test(view, a_partial_head_waits_for_more)
{
	struct view_request req;

	cr_assert_eq(parse_str("", &req), 0);
	cr_assert_eq(parse_str("GET /index.ht", &req), 0);
	cr_assert_eq(parse_str("GET / HTTP/1.1\r\nHost: 127.0.0.1:8737\r\n", &req), 0);
}

Test(view, a_malformed_head_is_answered_at_once)
{
	struct view_request req;

	/* a NUL anywhere, even before the head is whole */
	cr_assert_eq(parse("GET /\0 HTTP/1.1", 15, &req), 400);
	cr_assert_eq(parse("\0", 1, &req), 400);
	/* a bad request line, as soon as its line ends */
	cr_assert_eq(parse_str("GET / HTTP/1.1 extra\r\n", &req), 400);
	cr_assert_eq(parse_str("GET  / HTTP/1.1\r\n", &req), 400);
	cr_assert_eq(parse_str("GET / FTP/1.1\r\n", &req), 400);
	cr_assert_eq(parse_str("GET /\r\n", &req), 400);
	cr_assert_eq(parse_str("\r\n", &req), 400);
	char line[1200] = "GET /";

	memset(line + 5, 'a', 1100);
	strcpy(line + 1105, " HTTP/1.1\r\n");
	cr_assert_eq(parse_str(line, &req), 400, "a target too long for the server");
}

Test(view, a_head_from_elsewhere_or_not_a_get_is_refused)
{
	struct view_request req;

	cr_assert_eq(parse_str("GET / HTTP/1.1\r\n\r\n", &req), 400, "no Host");
	cr_assert_eq(parse_str("GET / HTTP/1.1\r\nHost: attacker.example\r\n\r\n", &req), 400);
	cr_assert_eq(parse_str("GET / HTTP/1.1\r\nHost: 127.0.0.1:9999\r\n\r\n", &req), 400);
	cr_assert_eq(parse_str("POST / HTTP/1.1\r\nHost: 127.0.0.1:8737\r\n\r\n", &req), 405);
}

Test(view, a_head_that_never_ends_is_too_large)
{
	static char head[8192];
	struct view_request req;
	size_t n;

	n = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n");
	while (n + 12 < sizeof(head) - 1)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "X-Pad: 1\r\n");
	memset(head + n, 'x', sizeof(head) - 1 - n);
	cr_assert_eq(parse(head, sizeof(head) - 1, &req), 431);
	cr_assert_eq(parse(head, sizeof(head) - 200, &req), 0, "not full yet");
}
