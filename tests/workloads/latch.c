/* latch.c - a reader-writer latch of two futex words in one 8-byte block, as InnoDB's page
 * latches are (a writer word, and a reader count a writer waits to drain), in an anonymous
 * mapping as a buffer pool is: writers sleep on both words. Prints the latch's address. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct latch {
	_Atomic uint32_t writer;	/* 0 free, 1 taken, 2 taken with sleepers */
	_Atomic uint32_t readers;	/* readers inside; a writer sleeps until it is 0 */
};

static struct latch *latch;
static int iters = 400;

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void pause_us(long us)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};

	nanosleep(&ts, NULL);
}

__attribute__((noinline)) static void latch_wr_lock(struct latch *l)
{
	uint32_t r, zero = 0;

	if (!atomic_compare_exchange_strong(&l->writer, &zero, 1))
		while (atomic_exchange(&l->writer, 2) != 0)
			futex_wait(&l->writer, 2);
	/* then the readers already inside drain */
	while ((r = atomic_load(&l->readers)) != 0)
		futex_wait(&l->readers, r);
}

__attribute__((noinline)) static void latch_wr_unlock(struct latch *l)
{
	if (atomic_exchange(&l->writer, 0) == 2)
		futex_wake(&l->writer);
}

static void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < iters; i++) {
		latch_wr_lock(latch);
		pause_us(200);
		latch_wr_unlock(latch);
		pause_us(50);
	}
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < iters; i++) {
		/* readers enter while no writer holds the latch */
		while (atomic_load(&latch->writer))
			pause_us(20);
		atomic_fetch_add(&latch->readers, 1);
		pause_us(300);
		if (atomic_fetch_sub(&latch->readers, 1) == 1)
			futex_wake(&latch->readers);
		pause_us(100);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[6];
	char *pool;

	if (argc > 2 && !strcmp(argv[1], "--iters"))
		iters = atoi(argv[2]);
	pool = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pool == MAP_FAILED)
		return 1;
	latch = (struct latch *)(pool + 0x1698);	/* 8-aligned, inside a page of the pool */
	for (int i = 0; i < 6; i++)
		pthread_create(&tid[i], NULL, i < 4 ? writer : reader, NULL);
	for (int i = 0; i < 6; i++)
		pthread_join(tid[i], NULL);
	printf("{\"workload\": \"latch\", \"latch\": \"%p\", \"readers\": \"%p\"}\n", (void *)latch,
	       (void *)&latch->readers);
	return 0;
}
