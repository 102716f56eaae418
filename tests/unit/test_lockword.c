/* test_lockword.c - every futex word of a glibc condition variable and rwlock leads back to
 * the object's start; mutexes, semaphores and unknown words keep their place. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/lockword.h"

/* The layout lockword.c assumes is the one this libc's headers declare. */
Test(lockword, condition_variable_words_lead_to_its_start)
{
	pthread_cond_t c;
	uint64_t base = (uintptr_t)&c;
	const struct __pthread_cond_s *d = &c.__data;

	cr_assert_eq(lockword_object((uintptr_t)&d->__g_signals[0], LS_KIND_COND, LOCKWORD_LOCK, 0),
		     base);
	cr_assert_eq(lockword_object((uintptr_t)&d->__g_signals[1], LS_KIND_COND, LOCKWORD_LOCK, 0),
		     base);
	cr_assert_eq(lockword_object((uintptr_t)&d->__g_refs[0], LS_KIND_COND, LOCKWORD_WAKE, 3),
		     base);
	cr_assert_eq(lockword_object((uintptr_t)&d->__g_refs[1], LS_KIND_COND, LOCKWORD_WAKE, 5),
		     base);
	cr_assert_eq(lockword_object((uintptr_t)&d->__wrefs, LS_KIND_COND, LOCKWORD_DESTROY, 8),
		     base);
}

Test(lockword, rwlock_words_lead_to_its_start)
{
	pthread_rwlock_t rw;
	uint64_t base = (uintptr_t)&rw;
	const struct __pthread_rwlock_arch_t *d = &rw.__data;

	/* readers wait on __readers expecting a value with RWAITING (4) set */
	cr_assert_eq(
	    lockword_object((uintptr_t)&d->__readers, LS_KIND_RWLOCK, LOCKWORD_LOCK, 4 | 8), base);
	cr_assert_eq(
	    lockword_object((uintptr_t)&d->__wrphase_futex, LS_KIND_RWLOCK, LOCKWORD_LOCK, 3),
	    base);
	cr_assert_eq(
	    lockword_object((uintptr_t)&d->__writers_futex, LS_KIND_RWLOCK, LOCKWORD_LOCK, 3),
	    base);
}

Test(lockword, mutexes_semaphores_keep_their_word)
{
	pthread_mutex_t mu;
	sem_t sem;

	cr_assert_eq(lockword_object((uintptr_t)&mu, LS_KIND_MUTEX, LOCKWORD_LOCK, 2),
		     (uintptr_t)&mu);
	cr_assert_eq(lockword_object((uintptr_t)&sem, LS_KIND_SEM, LOCKWORD_LOCK, 0),
		     (uintptr_t)&sem);
	cr_assert_eq(lockword_object(0x7f0000001004, LS_KIND_GIL, LOCKWORD_LOCK, 0),
		     0x7f0000001004);
}

Test(lockword, unknown_words_of_one_8_byte_block_are_one_lock)
{
	/* a writer word and a reader count beside it (InnoDB's latches) */
	cr_assert_eq(lockword_object(0x7f0000001000, LS_KIND_FUTEX, LOCKWORD_LOCK, 1),
		     0x7f0000001000);
	cr_assert_eq(lockword_object(0x7f0000001004, LS_KIND_FUTEX, LOCKWORD_LOCK, 1),
		     0x7f0000001000);
	cr_assert_eq(lockword_object(0x7f0000001008, LS_KIND_FUTEX, LOCKWORD_LOCK, 1),
		     0x7f0000001008);
}
