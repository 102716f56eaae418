/* lockword.c - glibc's x86-64 lock layouts (2.25 to 2.40; Debian 12 ships 2.36), as far as
 * telling a futex word's object from the word: the offsets of the words each call waits on. */
#include "capture/lockword.h"

/*
 * pthread_cond_t (48 bytes, 8-aligned): __wseq 0, __g1_start 8, __g_refs[2] 16, __g_size[2] 24,
 * __g1_orig_size 32, __wrefs 36, __g_signals[2] 40. Waiters sleep on __g_signals[g], so one
 * condition variable is two futex words; a signaller switching groups sleeps on __g_refs[g],
 * and pthread_cond_destroy on __wrefs.
 * pthread_rwlock_t (56 bytes, 8-aligned): __readers 0, __writers 4, __wrphase_futex 8,
 * __writers_futex 12. Readers sleep on __readers while writers are preferred (expecting a
 * value with PTHREAD_RWLOCK_RWAITING, 4, set), and readers and writers on __wrphase_futex and
 * __writers_futex, always expecting 1 | PTHREAD_RWLOCK_FUTEX_USED.
 * sem_t: the value's word is the first; a mutex's __lock is its first word.
 */
#define COND_G_REFS 16
#define COND_WREFS 36
#define COND_G_SIGNALS 40
#define RWLOCK_WRPHASE 8
#define RWLOCK_FUTEX_WAIT_VAL 3u /* 1 | PTHREAD_RWLOCK_FUTEX_USED */

/* The word pair [at, at + 8) starting 8-aligned at offset AT holds UADDR: the object's start. */
static uint64_t pair_base(uint64_t uaddr, uint64_t at)
{
	return (uaddr & ~7ull) - at;
}

uint64_t lockword_object(uint64_t uaddr, enum ls_lock_kind kind, enum lockword_call call,
			 uint32_t val)
{
	switch (kind) {
	case LS_KIND_COND:
		if (call == LOCKWORD_WAKE)
			return pair_base(uaddr, COND_G_REFS);
		if (call == LOCKWORD_DESTROY)
			return uaddr - COND_WREFS;
		return pair_base(uaddr, COND_G_SIGNALS);
	case LS_KIND_RWLOCK:
		return val == RWLOCK_FUTEX_WAIT_VAL ? pair_base(uaddr, RWLOCK_WRPHASE) : uaddr;
	case LS_KIND_FUTEX:
		/* a futex word of no known API: two 32-bit words of one 8-byte block belong
		 * to one object (a reader count beside a writer word, as in InnoDB's latches) */
		return uaddr & ~7ull;
	default:
		return uaddr;
	}
}
