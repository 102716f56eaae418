/* condwait.c - many threads waiting on two condition variables, one static and one on the
 * heap, woken by pthread_cond_signal and pthread_cond_broadcast in turns: each is one object
 * whichever of its futex words a thread sleeps on. Prints their addresses as JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;	/* static: named by symbol */

/* The heap one, in a struct whose other members come first: its address is not the struct's. */
struct board {
	pthread_mutex_t lock;
	long posted, taken;
	pthread_cond_t changed;
};

static struct board *board;
static int threads = 8, rounds = 200;
static long queued, done;

static void *consumer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&queue_lock);
		while (!queued && !done)
			pthread_cond_wait(&queue_ready, &queue_lock);
		if (!queued && done) {
			pthread_mutex_unlock(&queue_lock);
			break;
		}
		queued--;
		pthread_mutex_unlock(&queue_lock);
		/* then wait for the next post on the board */
		pthread_mutex_lock(&board->lock);
		long seen = board->posted;

		while (board->posted == seen && !done)
			pthread_cond_wait(&board->changed, &board->lock);
		board->taken++;
		pthread_mutex_unlock(&board->lock);
	}
	return NULL;
}

static void pause_us(long us)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	pthread_t tid[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: condwait [--threads N] [--rounds N]\n");
			return 1;
		}
	}
	if (threads < 1 || threads > 64)
		threads = 8;
	board = calloc(1, sizeof(*board));
	pthread_mutex_init(&board->lock, NULL);
	pthread_cond_init(&board->changed, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, consumer, NULL);
	for (int r = 0; r < rounds; r++) {
		pthread_mutex_lock(&queue_lock);
		queued += threads;
		/* both calls: a broadcast wakes every waiter, signals one each */
		if (r % 2)
			pthread_cond_broadcast(&queue_ready);
		else
			for (int i = 0; i < threads; i++)
				pthread_cond_signal(&queue_ready);
		pthread_mutex_unlock(&queue_lock);
		pause_us(500);
		pthread_mutex_lock(&board->lock);
		board->posted++;
		if (r % 2)
			pthread_cond_signal(&board->changed);
		pthread_cond_broadcast(&board->changed);
		pthread_mutex_unlock(&board->lock);
		pause_us(500);
	}
	pthread_mutex_lock(&queue_lock);
	done = 1;
	pthread_cond_broadcast(&queue_ready);
	pthread_mutex_unlock(&queue_lock);
	pthread_mutex_lock(&board->lock);
	done = 1;
	pthread_cond_broadcast(&board->changed);
	pthread_mutex_unlock(&board->lock);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	printf("{\"workload\": \"condwait\", \"queue_ready\": \"%p\", \"board_changed\": \"%p\", "
	       "\"queue_lock\": \"%p\", \"board_lock\": \"%p\", \"taken\": %ld}\n",
	       (void *)&queue_ready, (void *)&board->changed, (void *)&queue_lock,
	       (void *)&board->lock, board->taken);
	return 0;
}
