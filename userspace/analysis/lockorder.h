/* lockorder.h - the lock-order graph of full mode: edge A->B when a thread takes B while holding
 * A, and the cycles of that graph that could deadlock (potential deadlocks), or are gated. */
#ifndef LOCKSCOPE_LOCKORDER_H
#define LOCKSCOPE_LOCKORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_rec;
struct model;
struct json_writer;
struct lockorder;

#define LOCKORDER_MAX_CYCLES 64 /* cycles kept per list (reported, suppressed) */
#define LOCKORDER_MAX_LEN 8	/* locks in the longest cycle searched for */

/* A lock identity: an address between its first acquisition and its DESTROY. A reused address
 * is a new node with a higher generation. Nodes are numbered in order of first acquisition. */
struct lo_node {
	uint64_t addr;
	uint8_t kind;	     /* enum ls_lock_kind, as its first ACQUIRE said */
	uint32_t generation; /* 0 for the address's first identity */
	bool python;	     /* a CPython lock (LS_ACQ_PY): any thread may release it */
	/* ... seen used as a signal: released by a thread that did not hold it while another
	 * did, or taken again by its holder (it is not reentrant: someone released it between).
	 * Holding it is no ownership, so it orders nothing: its edges close no cycle. */
	bool signal;
};

/* One edge: TO was taken while FROM was held. Arrays are owned by the lockorder. */
struct lo_edge {
	uint32_t from, to;    /* node numbers */
	uint64_t count;	      /* occurrences */
	const uint32_t *tids; /* the threads that took it, ascending */
	uint32_t ntids;
	uint32_t first_tid; /* the thread of the first occurrence */
	uint32_t stack_id;  /* where TO was taken, first occurrence; 0: none */
	uint64_t first_ts;
	bool try_only;	  /* every occurrence a trylock: never blocks, closes no cycle */
	bool to_shared;	  /* TO always taken for reading */
	bool from_shared; /* FROM always held for reading */
	bool waited_only; /* only ever seen as a lock call waiting, never returning */
	/* the locks held exclusively besides FROM at every occurrence, ascending: gate candidates
	 */
	const uint32_t *guards;
	uint32_t nguards;
	bool signal;	    /* after finish: from or to a signal node (lo_node.signal) */
	bool in_cycle;	    /* after finish: on a reported cycle */
	bool in_suppressed; /* after finish: on a suppressed cycle */
};

/* An elementary cycle: edges[i] goes from lock i to lock i+1, the last back to lock 0. */
struct lo_cycle {
	const uint32_t *edges; /* edge numbers */
	uint32_t len;
	uint32_t guard; /* suppressed cycles: the gate lock's node */
};

/* What the search for cycles left out; every count here is shown in the output. */
struct lo_omitted {
	/* cycles through an rwlock only ever held for reading there: readers do not block */
	uint64_t readers_only;
	uint64_t over_cap;   /* cycles beyond LOCKORDER_MAX_CYCLES */
	bool length_limited; /* paths were cut at LOCKORDER_MAX_LEN locks */
	uint64_t signal_edges; /* edges from or to a lock used as a signal: left out */
	bool budget_spent;   /* the search stopped at its step budget */
};

/* NULL with errno on failure. */
struct lockorder *lockorder__new(void);
void lockorder__free(struct lockorder *lo); /* accepts NULL */

/* Feeds one record, in trace order: ACQUIRE, RELEASE, DESTROY, WINDOW, LOST, THREAD_EXIT,
 * PROC_EXIT, and WAIT_BEGIN on a mutex (a lock call that may never return, as in a deadlock,
 * still orders the locks it was called under); the rest is ignored. 0, -ENOMEM, or -EINVAL
 * after finish. */
int lockorder__feed(struct lockorder *lo, const struct ls_rec *rec);
/* Finds the cycles. Nothing may be fed after. 0 or -ENOMEM. */
int lockorder__finish(struct lockorder *lo);

/* The graph, in order of first appearance. Borrowed; valid until lockorder__free(). */
size_t lockorder__node_count(const struct lockorder *lo);
const struct lo_node *lockorder__node(const struct lockorder *lo, size_t i);
size_t lockorder__edge_count(const struct lockorder *lo);
const struct lo_edge *lockorder__edge(const struct lockorder *lo, size_t i);
/* After finish: potential deadlocks (SUPPRESSED false) or gated cycles (true), shortest first. */
size_t lockorder__cycle_count(const struct lockorder *lo, bool suppressed);
const struct lo_cycle *lockorder__cycle(const struct lockorder *lo, bool suppressed, size_t i);
const struct lo_omitted *lockorder__omitted(const struct lockorder *lo);

/* Node I's name: the model's, else "0x..." of its address; a reused address's later identities
 * get " #2", " #3". Returns BUF. */
const char *lockorder__node_name(const struct lockorder *lo, const struct model *m, uint32_t i,
				 char *buf, size_t len);

/* Edges to or from the interpreter's own locks (LS_KIND_INTERNAL as M names them), but for
 * those on a cycle that has a lock of the program's, and cycles of its locks alone: left out
 * of the lists below, counted. After finish. */
size_t lockorder__internal_edges(const struct lockorder *lo, const struct model *m);
size_t lockorder__internal_cycles(const struct lockorder *lo, const struct model *m);
/* C has a lock of the program's: listed. */
bool lockorder__cycle_listed(const struct lockorder *lo, const struct model *m,
			     const struct lo_cycle *c);
/* E is listed: no signal's, and between the program's locks or on a cycle of them. */
bool lockorder__listed(const struct lockorder *lo, const struct model *m, const struct lo_edge *e);
/* Writes the contract's "lock_order" value, exactly: {"edges", "cycles", "suppressed"}. What the
 * cycle search left out is in lockorder__omitted() and the text. */
void lockorder__json(const struct lockorder *lo, const struct model *m, struct json_writer *w);
/* Writes the "Potential deadlocks (lock-order cycles)" section for people. */
void lockorder__text(const struct lockorder *lo, const struct model *m, FILE *out);

#endif
