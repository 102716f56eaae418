/* guard.c - auto mode's guard thread: the probes' account drawn at every BPF alarm, and the
 * probes taken out when it is overdrawn; the main loop only reads what it did. */
#include "capture/guard.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "capture/probes.h"
#include "util/common.h"
#include "bpf/events.h"	/* the skeleton names its types */
#include "lockscope.skel.h"

/* Without an alarm the account is still drawn this often: the target's CPU time alone moves
 * nothing that could overdraw it, so this only bounds how stale the credit gets. */
#define IDLE_CHECK_MS 50

struct guard {
	struct lockscope_bpf *skel;
	struct lock_probes *probes;
	pid_t pid;
	struct budget budget;
	pthread_t thread;
	bool started;
	int epfd, stopfd;
	struct ring_buffer *alarms;
	pthread_mutex_t mu;	/* the probes, and everything below */
	bool armed;		/* the probes are in and the account open */
	struct budget_account account;
	uint64_t hits0, cpu0;	/* at the last draw */
	bool tripped;
	uint64_t tripped_at;
	bool stop;
};

static int on_alarm(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;	/* the wakeup is the message */
}

/* Draws what the probes cost since the last draw; takes them out if that overdraws. Under mu. */
static void draw(struct guard *g)
{
	uint64_t hits = g->skel->bss->probe_hits, cpu = ls_process_cpu_ns(g->pid);
	double price = g->budget.entry_ns > g->budget.return_ns ? g->budget.entry_ns
								: g->budget.return_ns;
	double cost = (double)(hits - g->hits0) * price;

	if (!cpu)	/* gone */
		cpu = g->cpu0;
	g->hits0 = hits;
	if (budget__spend(&g->budget, &g->account, cost, (double)(cpu - g->cpu0))) {
		g->cpu0 = cpu;
		g->skel->bss->hit_alarm = hits + budget__hits_left(&g->budget, &g->account);
		return;
	}
	g->skel->bss->hit_alarm = 0;
	g->tripped_at = ls_mono_ns();	/* no lock event is sent past this (window_open) */
	lock_probes__detach(g->probes);
	g->armed = false;
	g->tripped = true;
}

static void *run(void *arg)
{
	struct guard *g = arg;
	struct epoll_event ev[2];

	for (;;) {
		int n = epoll_wait(g->epfd, ev, 2, IDLE_CHECK_MS);

		ring_buffer__consume(g->alarms);
		pthread_mutex_lock(&g->mu);
		if (g->stop) {
			pthread_mutex_unlock(&g->mu);
			return NULL;
		}
		if (g->armed && n >= 0)
			draw(g);
		pthread_mutex_unlock(&g->mu);
	}
}

struct guard *guard__new(struct lockscope_bpf *skel, struct lock_probes *p, pid_t pid,
			 const struct budget *b)
{
	struct guard *g = calloc(1, sizeof(*g));
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	if (!g)
		return NULL;
	*g = (struct guard){.skel = skel, .probes = p, .pid = pid, .budget = *b, .epfd = -1,
			    .stopfd = -1};
	pthread_mutex_init(&g->mu, NULL);
	g->alarms = ring_buffer__new(bpf_map__fd(skel->maps.alarm), on_alarm, g, NULL);
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	g->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = !g->alarms || g->epfd < 0 || g->stopfd < 0 ? -errno : 0;
	if (!err && (epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->stopfd, &ev) ||
		     epoll_ctl(g->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(g->alarms), &ev)))
		err = -errno;
	if (!err)
		err = -pthread_create(&g->thread, NULL, run, g);
	g->started = !err;
	if (err) {
		guard__free(g);
		errno = -err;
		return NULL;
	}
	return g;
}

void guard__free(struct guard *g)
{
	uint64_t one = 1;

	if (!g)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_mutex_unlock(&g->mu);
		if (write(g->stopfd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(g->thread);
		pthread_join(g->thread, NULL);
	}
	ring_buffer__free(g->alarms);
	if (g->epfd >= 0)
		close(g->epfd);
	if (g->stopfd >= 0)
		close(g->stopfd);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

int guard__attach(struct guard *g, double credit, double cap)
{
	int err;

	pthread_mutex_lock(&g->mu);
	/* counted from before the attach: its first probes trap as soon as each link is in */
	g->hits0 = g->skel->bss->probe_hits;
	g->cpu0 = ls_process_cpu_ns(g->pid);
	budget__open(&g->budget, &g->account, credit, cap);
	g->skel->bss->hit_alarm = g->hits0 + budget__hits_left(&g->budget, &g->account);
	err = lock_probes__attach(g->probes);
	g->armed = !err;
	if (err)
		g->skel->bss->hit_alarm = 0;
	pthread_mutex_unlock(&g->mu);
	return err;
}

void guard__detach(struct guard *g)
{
	pthread_mutex_lock(&g->mu);
	g->skel->bss->hit_alarm = 0;
	if (g->armed)
		lock_probes__detach(g->probes);
	g->armed = false;
	pthread_mutex_unlock(&g->mu);
}

bool guard__tripped(struct guard *g, uint64_t *at)
{
	bool t;

	pthread_mutex_lock(&g->mu);
	t = g->tripped;
	*at = g->tripped_at;
	g->tripped = false;
	pthread_mutex_unlock(&g->mu);
	return t;
}

int guard__add_python(struct guard *g, const char *object)
{
	int err;

	pthread_mutex_lock(&g->mu);
	err = lock_probes__add_python(g->probes, object);
	pthread_mutex_unlock(&g->mu);
	return err;
}
