/* rwreaders.c - readers of one rwlock that take it before and after other mutexes, in both
 * orders: no deadlock, since readers do not block readers. Prints its locks and threads as JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define READERS 4

/* Reader preference (glibc's default, made explicit): a reader is let in while others read even
 * if a writer waits, which is what makes the opposite orders below safe. */
static pthread_rwlock_t table_lock;
static pthread_mutex_t lock_x = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_y = PTHREAD_MUTEX_INITIALIZER;

static int rounds = 200, hold_us = 50;
static long table[16], stat_x, stat_y;
static pid_t tids[READERS], writer_tid;
static atomic_int ready;

static void sleep_us(int us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};

	nanosleep(&ts, NULL);
}

/* table_lock (read) then a mutex */
__attribute__((noinline)) static void read_then_x(void)
{
	pthread_rwlock_rdlock(&table_lock);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_x);
	stat_x += table[0];
	pthread_mutex_unlock(&lock_x);
	pthread_rwlock_unlock(&table_lock);
}

/* a mutex then table_lock (read): the opposite order */
__attribute__((noinline)) static void x_then_read(void)
{
	pthread_mutex_lock(&lock_x);
	sleep_us(hold_us);
	pthread_rwlock_rdlock(&table_lock);
	stat_x += table[1];
	pthread_rwlock_unlock(&table_lock);
	pthread_mutex_unlock(&lock_x);
}

__attribute__((noinline)) static void read_then_y(void)
{
	pthread_rwlock_rdlock(&table_lock);
	sleep_us(hold_us);
	pthread_mutex_lock(&lock_y);
	stat_y += table[2];
	pthread_mutex_unlock(&lock_y);
	pthread_rwlock_unlock(&table_lock);
}

__attribute__((noinline)) static void y_then_read(void)
{
	pthread_mutex_lock(&lock_y);
	sleep_us(hold_us);
	pthread_rwlock_rdlock(&table_lock);
	stat_y += table[3];
	pthread_rwlock_unlock(&table_lock);
	pthread_mutex_unlock(&lock_y);
}

/* A writer that takes nothing else while it writes: it adds no edge out of table_lock. */
__attribute__((noinline)) static void update_table(int r)
{
	pthread_rwlock_wrlock(&table_lock);
	table[r % 16]++;
	pthread_rwlock_unlock(&table_lock);
}

static void (*const reader_fn[READERS])(void) = {read_then_x, x_then_read, read_then_y,
						  y_then_read};

static void start_together(void)
{
	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < READERS + 1)
		sleep_us(100);
}

static void *reader(void *arg)
{
	int i = (int)(intptr_t)arg;
	char name[16];

	tids[i] = (pid_t)syscall(SYS_gettid);
	snprintf(name, sizeof(name), "reader-%d", i);
	pthread_setname_np(pthread_self(), name);
	start_together();
	for (int r = 0; r < rounds; r++)
		reader_fn[i]();
	return NULL;
}

static void *writer(void *arg)
{
	(void)arg;
	writer_tid = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "writer");
	start_together();
	for (int r = 0; r < rounds; r++) {
		update_table(r);
		sleep_us(hold_us * 4);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_rwlockattr_t ra;
	pthread_t t[READERS + 1];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: rwreaders [--rounds N]\n");
			return 1;
		}
	}
	if (rounds < 1)
		rounds = 1;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_READER_NP);
	pthread_rwlock_init(&table_lock, &ra);
	for (int i = 0; i < READERS; i++)
		pthread_create(&t[i], NULL, reader, (void *)(intptr_t)i);
	pthread_create(&t[READERS], NULL, writer, NULL);
	for (int i = 0; i < READERS + 1; i++)
		pthread_join(t[i], NULL);
	printf("{\"workload\": \"rwreaders\", \"table_lock\": \"%p\", \"lock_x\": \"%p\", "
	       "\"lock_y\": \"%p\", \"tids\": [%d, %d, %d, %d], \"writer_tid\": %d, "
	       "\"rounds\": %d}\n",
	       (void *)&table_lock, (void *)&lock_x, (void *)&lock_y, tids[0], tids[1], tids[2],
	       tids[3], writer_tid, rounds);
	return 0;
}
