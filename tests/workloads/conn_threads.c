/* conn_threads.c - a thread-per-connection server driven by its own client threads: no event loop
 * is ever blocked. The server's main thread polls its two listening sockets (TCP and a Unix
 * socket) and starts a thread per connection; that thread waits for each request in poll() on its
 * one socket with a timeout, then works on it for 120 ms (a sleep, or CPU), and when the client
 * leaves, parks on a condition variable for a while, as a thread cache does. Prints
 * "requests N" (requests served) and "done 0": it makes no loop block. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WORK_NS 120000000ull
#define CLIENTS 3
#define REQUESTS 4

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cond = PTHREAD_COND_INITIALIZER;
static atomic_int served, finished;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000l};

	nanosleep(&d, NULL);
}

/* Waits in poll() on its one socket, works, answers; then parks 300 ms, like a cached thread. */
static void *connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct timespec until;
	char req;

	while (poll(&p, 1, 5000) == 1 && read(fd, &req, 1) == 1) {
		uint64_t t0 = now_ns();
		volatile uint64_t n = 0;

		if (req == 's')
			sleep_ms(WORK_NS / 1000000);
		else
			while (now_ns() - t0 < WORK_NS)
				n++;
		atomic_fetch_add(&served, 1);
		if (write(fd, &req, 1) != 1)
			break;
	}
	close(fd);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 300000000l;
	if (until.tv_nsec >= 1000000000l) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000l;
	}
	pthread_mutex_lock(&cache_lock);
	while (pthread_cond_timedwait(&cache_cond, &cache_lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&cache_lock);
	return NULL;
}

/* A client: one connection, REQUESTS requests, alternately sleep and CPU, 20 ms apart. Blocking
 * send and receive: no poll. */
static void *client(void *arg)
{
	const struct sockaddr_in *addr = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char c;

	if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof(*addr))) {
		perror("conn_threads: connect");
		exit(1);
	}
	for (int i = 0; i < REQUESTS; i++) {
		c = i % 2 ? 'c' : 's';
		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
			perror("conn_threads: request");
			exit(1);
		}
		sleep_ms(20);
	}
	close(fd);
	atomic_fetch_add(&finished, 1);
	return NULL;
}

static int listen_on(int domain, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(domain, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, addr, len) || listen(fd, 16)) {
		perror("conn_threads: listen");
		exit(1);
	}
	return fd;
}

int main(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(in);
	struct pollfd lfd[2];
	pthread_t clients[CLIENTS], t;

	/* an abstract Unix socket: nothing left behind in the file system */
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "conn_threads.%d", (int)getpid());
	lfd[0] = (struct pollfd){.fd = listen_on(AF_INET, (struct sockaddr *)&in, sizeof(in)),
				 .events = POLLIN};
	lfd[1] = (struct pollfd){.fd = listen_on(AF_UNIX, (struct sockaddr *)&un, sizeof(un)),
				 .events = POLLIN};
	getsockname(lfd[0].fd, (struct sockaddr *)&in, &len);
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&clients[i], NULL, client, &in);
	/* the server's loop: its one job is to hand connections to their threads */
	while (atomic_load(&finished) < CLIENTS) {
		if (poll(lfd, 2, 50) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			int fd = lfd[i].revents & POLLIN ? accept(lfd[i].fd, NULL, NULL) : -1;

			if (fd >= 0 &&
			    pthread_create(&t, NULL, connection, (void *)(intptr_t)fd) == 0)
				pthread_detach(t);
		}
	}
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(clients[i], NULL);
	sleep_ms(400); /* the connection threads park, then leave */
	printf("requests %d\ndone 0\n", atomic_load(&served));
	return 0;
}
