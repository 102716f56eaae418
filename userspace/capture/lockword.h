/* lockword.h - where a futex word sits in the glibc lock object around it: condition variables
 * and rwlocks wait on words inside them, and one object must be one lock, keyed by its start. */
#ifndef LOCKSCOPE_LOCKWORD_H
#define LOCKSCOPE_LOCKWORD_H

#include <stdint.h>

#include "trace/trace.h"

/* The lock call a wait was made in, as its stack says. */
enum lockword_call {
	LOCKWORD_LOCK = 0, /* a lock or wait call: pthread_cond_*wait, pthread_rwlock_*lock */
	LOCKWORD_WAKE,	   /* pthread_cond_signal, pthread_cond_broadcast */
	LOCKWORD_DESTROY,  /* pthread_cond_destroy */
};

/* The start of the object whose futex word UADDR a wait of KIND (COND, RWLOCK, SEM, FUTEX),
 * made in CALL and expecting VAL, is on; UADDR itself for a mutex or a word of unknown place. */
uint64_t lockword_object(uint64_t uaddr, enum ls_lock_kind kind, enum lockword_call call,
			 uint32_t val);

#endif
