/* pyobj.c - CPython containers, methods, coroutines and frame value stacks read from a target's
 * memory over pyreader__read(): the object layouts per version, bounded and checked walks. */
#include "python/pyobj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_TOP (1ULL << 47)
#define MAX_TABLE (1 << 20)		/* entries of one set's hash table */
#define MAX_EXC_TABLE (64 << 10)	/* bytes of one code object's exception table */
#define DEQUE_BLOCK 64			/* items per deque block (Modules/_collectionsmodule.c) */

/* Where one CPython version keeps the fields read here; byte offsets. From `ptype/o` in gdb over
 * the debug info of the pyenv 3.11.7 build (libpython3.11.so.1.0 and _asyncio's module); the
 * live tests check them on Debian's 3.11.2 as well. */
struct obj_layout {
	uint32_t minor;
	int32_t tp_name, var_size, tuple_items, list_items;
	int32_t set_used, set_mask, set_table;
	int32_t wr_object;
	int32_t dq_left, dq_right, dq_lidx, dq_ridx, blk_data, blk_right;
	int32_t meth_func, meth_self, cfunc_ml, cfunc_self, func_globals, func_name;
	int32_t gen_qualname, gen_state, gen_iframe;
	int8_t gen_created, gen_suspended, gen_running;	/* enum _framestate values */
	int8_t gen_suspended_in;	/* 3.13: suspended in an await or yield from; else 0 */
	int32_t fr_globals, fr_code, fr_instr, fr_stacktop, fr_localsplus;
	int32_t co_size, co_exceptiontable, co_stacksize, co_nlocalsplus, co_code;
	int32_t co_localsplusnames, co_names;
	int32_t futiter_future;
	int32_t tp_dict, cell_ref;
	int32_t lock_word, lock_locked, rlock_owner, rlock_count;
	uint8_t op_resume, op_resume_alt;	/* RESUME and its specialized/instrumented twin */
	uint8_t op_resume_alt2;		/* 3.13 has two twins: RESUME_CHECK, INSTRUMENTED */
	uint8_t op_yield, op_yield_alt;		/* YIELD_VALUE, and its instrumented twin */
	uint8_t op_before_with;			/* BEFORE_WITH (3.10: SETUP_WITH) */
	bool resume_at_yield;		/* 3.13: a suspended frame's instr_ptr is at the RESUME
					 * after its yield, not at the yield */
	/* 3.10: frames are PyFrameObjects with a block stack; a generator points to its frame.
	 * fr_instr is f_lasti (an index), fr_stacktop f_stackdepth (valid while suspended),
	 * co_code a pointer to the bytecode's bytes, co_nlocalsplus co_nlocals. */
	bool v310;
	int32_t gen_frame_ptr, fr_state, fr_valuestack, fr_iblock, fr_blockstack;
	int32_t co_varnames, co_cellvars, co_freevars;	/* the names of its locals, cells, frees */
	uint8_t op_yield_from;
	/* 3.13: Thread.join waits on the _ThreadHandle's PyEvent: its ThreadHandle, the event's
	 * byte in it; 0 before 3.13 */
	int32_t th_handle, th_exiting;
};

/* Containers, weak references, methods, functions, cells and the _thread module's locks (lockobject, rlockobject; _queue's simplequeueobject keeps its
 * PyThread_type_lock at the same place): the same in 3.10 to 3.13. */
#define CONTAINERS_311_312 \
	.tp_name = 24, .var_size = 16, .tuple_items = 24, .list_items = 24, \
	.set_used = 24, .set_mask = 32, .set_table = 40, \
	.wr_object = 16, \
	.dq_left = 24, .dq_right = 32, .dq_lidx = 40, .dq_ridx = 48, .blk_data = 8, \
	.blk_right = 520, \
	.meth_func = 16, .meth_self = 24, .cfunc_ml = 16, .cfunc_self = 24, .func_globals = 16, \
	.func_name = 32, .futiter_future = 16, \
	.tp_dict = 264, .cell_ref = 16, \
	.lock_word = 16, .lock_locked = 32, .rlock_owner = 24, .rlock_count = 32

/* 3.10: from the pyenv 3.10.13 build (libpython3.10.so.1.0 and _asyncio's module, dis.opmap). */
static const struct obj_layout layout_310 = {
	.minor = 10,
	CONTAINERS_311_312,
	.gen_qualname = 48, .gen_state = -1, .gen_iframe = -1,
	.gen_created = -2, .gen_suspended = -1, .gen_running = 0,
	.fr_globals = 48, .fr_code = 32, .fr_instr = 96, .fr_stacktop = 80, .fr_localsplus = 352,
	.co_size = -1, .co_exceptiontable = -1, .co_stacksize = 32, .co_nlocalsplus = 28,
	.co_code = 48, .co_names = 64, .co_localsplusnames = -1,
	.co_varnames = 72, .co_freevars = 80, .co_cellvars = 88,
	.op_before_with = 143,
	.v310 = true, .gen_frame_ptr = 16, .fr_state = 108, .fr_valuestack = 64, .fr_iblock = 104,
	.fr_blockstack = 112, .op_yield_from = 72,
};

static const struct obj_layout layout_311 = {
	.minor = 11,
	CONTAINERS_311_312,
	.gen_qualname = 40, .gen_state = 75, .gen_iframe = 80,
	.gen_created = -2, .gen_suspended = -1, .gen_running = 0,
	.fr_globals = 8, .fr_code = 32, .fr_instr = 56, .fr_stacktop = 64, .fr_localsplus = 72,
	.co_size = 16, .co_exceptiontable = 40, .co_stacksize = 68, .co_nlocalsplus = 76,
	.co_code = 184, .co_names = 32, .co_localsplusnames = 96,
	.op_resume = 151, .op_resume_alt = 150, .op_resume_alt2 = 150,	/* RESUME_QUICK */
	.op_yield = 86, .op_yield_alt = 86, .op_before_with = 53,
};

/* 3.12: the same from the pyenv 3.12.1 build. The code object left the generator for its
 * frame, f_code moved to the frame's start, RESUME's twin is INSTRUMENTED_RESUME. */
static const struct obj_layout layout_312 = {
	.minor = 12,
	CONTAINERS_311_312,
	.gen_qualname = 32, .gen_state = 67, .gen_iframe = 72,
	.gen_created = -2, .gen_suspended = -1, .gen_running = 0,
	.fr_globals = 24, .fr_code = 0, .fr_instr = 56, .fr_stacktop = 64, .fr_localsplus = 72,
	.co_size = 16, .co_exceptiontable = 40, .co_stacksize = 64, .co_nlocalsplus = 72,
	.co_code = 192, .co_names = 32, .co_localsplusnames = 96,
	.op_resume = 151, .op_resume_alt = 240, .op_resume_alt2 = 240,
	.op_yield = 150, .op_yield_alt = 243, .op_before_with = 53,
};

/* 3.13: from the pyenv 3.13.0 build (dis.opmap and _opcode for the numbers). Only the code
 * object's bytecode moved; generator states gained FRAME_SUSPENDED_YIELD_FROM, a suspended
 * frame's instr_ptr is at the RESUME its yield returns to, and the opcodes were renumbered. */
static const struct obj_layout layout_313 = {
	.minor = 13,
	CONTAINERS_311_312,
	.gen_qualname = 32, .gen_state = 67, .gen_iframe = 72,
	.gen_created = -3, .gen_suspended = -2, .gen_suspended_in = -1, .gen_running = 0,
	.fr_globals = 24, .fr_code = 0, .fr_instr = 56, .fr_stacktop = 64, .fr_localsplus = 72,
	.co_size = 16, .co_exceptiontable = 40, .co_stacksize = 64, .co_nlocalsplus = 72,
	.co_code = 200, .co_names = 32, .co_localsplusnames = 96,
	.op_resume = 149, .op_resume_alt = 207, .op_resume_alt2 = 236,
	.op_yield = 118, .op_yield_alt = 241, .op_before_with = 2,
	.resume_at_yield = true,
	.th_handle = 16, .th_exiting = 57,
};

/* 3.14 turned _thread.lock into a PyMutex, the frame's code into a tagged f_executable and the
 * task registry into per-thread lists: it needs its own rows, not guesses. */
static const struct obj_layout *layout_of(struct pyreader *r)
{
	struct py_info info;

	pyreader__info(r, &info);
	switch (info.version >> 16) {
	case 0x030a:
		return &layout_310;
	case 0x030b:
		return &layout_311;
	case 0x030c:
		return &layout_312;
	case 0x030d:
		return &layout_313;
	default:
		return NULL;
	}
}

int pyobj__supported(struct pyreader *r, char *why, size_t why_len)
{
	struct py_info info;

	if (layout_of(r))
		return 0;
	pyreader__info(r, &info);
	if (why && why_len)
		snprintf(why, why_len, "CPython %u.%u: no object layouts for asyncio tasks and "
			 "with-blocks (3.10 to 3.13 supported)", info.version >> 24,
			 info.version >> 16 & 0xff);
	return -ENOTSUP;
}

static bool ptr_ok(uint64_t p)
{
	return p >= 4096 && p < USER_TOP && !(p & 7);
}

static int rd(struct pyreader *r, uint64_t addr, void *buf, size_t len)
{
	return pyreader__read(r, addr, buf, len);
}

static int rd_ptr(struct pyreader *r, uint64_t addr, uint64_t *out)
{
	return rd(r, addr, out, sizeof(*out));
}

/* N pointers at ADDR into a new array. */
static int rd_ptrs(struct pyreader *r, uint64_t addr, size_t n, uint64_t **out)
{
	int err;

	*out = calloc(n + 1, sizeof(uint64_t));
	if (!*out)
		return -ENOMEM;
	if (n && (err = rd(r, addr, *out, n * sizeof(uint64_t)))) {
		free(*out);
		*out = NULL;
		return err;
	}
	return 0;
}

static void fail_clear(int err, uint64_t **arr, size_t *n)
{
	if (!err)
		return;
	free(*arr);
	*arr = NULL;
	*n = 0;
}

/* A NUL-terminated C string at ADDR into BUF, cut to CAP - 1; a short read near the end of a
 * mapping retries smaller. */
static int rd_cstr(struct pyreader *r, uint64_t addr, char *buf, size_t cap)
{
	size_t want = cap - 1;

	if (!cap)
		return -EINVAL;
	while (rd(r, addr, buf, want)) {
		if (want <= 8)
			return -EFAULT;
		want /= 2;
	}
	buf[want] = '\0';
	return 0;
}

int pyobj__type_name(struct pyreader *r, uint64_t obj, char *buf, size_t cap)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t type, name;

	if (!l)
		return -ENOTSUP;
	if (!ptr_ok(obj) || rd_ptr(r, obj + 8, &type) || !ptr_ok(type) ||
	    rd_ptr(r, type + l->tp_name, &name) || name < 4096)
		return -EFAULT;
	return rd_cstr(r, name, buf, cap);
}

bool pyobj__is(struct pyreader *r, uint64_t obj, const char *name)
{
	char buf[64];

	return !pyobj__type_name(r, obj, buf, sizeof(buf)) && !strcmp(buf, name);
}

static int rd_size(struct pyreader *r, uint64_t addr, int64_t max, size_t *out)
{
	int64_t v;
	int err = rd(r, addr, &v, sizeof(v));

	if (err)
		return err;
	if (v < 0 || v > max)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

int pyobj__seq_items(struct pyreader *r, uint64_t obj, uint64_t **items, size_t *n)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t base;
	int err;

	*items = NULL;
	*n = 0;
	if (!l)
		return -ENOTSUP;
	if ((err = rd_size(r, obj + l->var_size, PYOBJ_MAX_ITEMS, n)))
		return err;
	if (pyobj__is(r, obj, "tuple"))
		base = obj + l->tuple_items;
	else if (!pyobj__is(r, obj, "list"))
		err = -EINVAL;
	else if (!(err = rd_ptr(r, obj + l->list_items, &base)) && *n && !ptr_ok(base))
		err = -EFAULT;
	if (!err)
		err = rd_ptrs(r, base, *n, items);
	fail_clear(err, items, n);
	return err;
}

int pyobj__set_items(struct pyreader *r, uint64_t set, uint64_t **keys, size_t *n)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t table, *ents = NULL;
	size_t mask, used;
	int err;

	*keys = NULL;
	*n = 0;
	if (!l)
		return -ENOTSUP;
	if (!pyobj__is(r, set, "set") && !pyobj__is(r, set, "frozenset"))
		return -EINVAL;
	if ((err = rd_size(r, set + l->set_mask, MAX_TABLE - 1, &mask)) ||
	    (err = rd_size(r, set + l->set_used, PYOBJ_MAX_ITEMS, &used)) ||
	    (err = rd_ptr(r, set + l->set_table, &table)))
		return err;
	if ((mask & (mask + 1)) || used > mask + 1 || !ptr_ok(table))
		return -EINVAL;
	/* setentry {key, hash}: empty slots have no key, deleted ones the dummy with hash -1 */
	if ((err = rd_ptrs(r, table, 2 * (mask + 1), &ents)))
		return err;
	*keys = calloc(used + 1, sizeof(uint64_t));
	err = *keys ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i <= mask; i++) {
		if (!ents[2 * i] || ents[2 * i + 1] == UINT64_MAX)
			continue;
		if (*n == used) {
			err = -EINVAL;	/* more keys than `used` says: torn or damaged */
			break;
		}
		(*keys)[(*n)++] = ents[2 * i];
	}
	free(ents);
	fail_clear(err, keys, n);
	return err;
}

int pyobj__weakref_target(struct pyreader *r, uint64_t ref, uint64_t *obj)
{
	const struct obj_layout *l = layout_of(r);
	char name[64];
	int err;

	if (!l)
		return -ENOTSUP;
	if ((err = pyobj__type_name(r, ref, name, sizeof(name))))
		return err;
	/* weakref.ref and its subclasses (WeakSet's are plain refs, WeakValueDictionary's not) */
	if (strcmp(name, "weakref") && strcmp(name, "weakref.ReferenceType") &&
	    strcmp(name, "KeyedRef"))
		return -EINVAL;
	if ((err = rd_ptr(r, ref + l->wr_object, obj)))
		return err;
	/* a dead reference points at None */
	if (!ptr_ok(*obj) || pyobj__is(r, *obj, "NoneType"))
		return -ENOENT;
	return 0;
}

int pyobj__weakset_items(struct pyreader *r, uint64_t weakset, uint64_t **objs, size_t *n,
			 size_t *dead)
{
	uint64_t data, *refs = NULL;
	size_t nrefs = 0;
	int err;

	*objs = NULL;
	*n = 0;
	if ((err = pyreader__attr(r, weakset, "data", &data)) ||
	    (err = pyobj__set_items(r, data, &refs, &nrefs)))
		return err == -ENOENT ? -EINVAL : err;
	*objs = calloc(nrefs + 1, sizeof(uint64_t));
	if (!*objs) {
		free(refs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nrefs; i++) {
		if (!pyobj__weakref_target(r, refs[i], &(*objs)[*n]))
			(*n)++;
		else if (dead)
			(*dead)++;
	}
	free(refs);
	return 0;
}

int pyobj__deque_items(struct pyreader *r, uint64_t deque, uint64_t **items, size_t *n)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t block, right, blk[DEQUE_BLOCK + 2];
	int64_t lidx, ridx;
	size_t size, got = 0;
	bool at_right = false;
	int err;

	*items = NULL;
	*n = 0;
	if (!l)
		return -ENOTSUP;
	if (!pyobj__is(r, deque, "collections.deque"))
		return -EINVAL;
	if ((err = rd_size(r, deque + l->var_size, PYOBJ_MAX_ITEMS, &size)) ||
	    (err = rd_ptr(r, deque + l->dq_left, &block)) ||
	    (err = rd_ptr(r, deque + l->dq_right, &right)) ||
	    (err = rd(r, deque + l->dq_lidx, &lidx, sizeof(lidx))) ||
	    (err = rd(r, deque + l->dq_ridx, &ridx, sizeof(ridx))))
		return err;
	/* an empty deque has rightindex = leftindex - 1, perhaps -1 */
	if (lidx < 0 || lidx >= DEQUE_BLOCK || ridx < -1 || ridx >= DEQUE_BLOCK)
		return -EINVAL;
	*items = calloc(size + 1, sizeof(uint64_t));
	if (!*items)
		return -ENOMEM;
	/* each block but the last holds from lidx (0 after the first) to its end */
	for (size_t blocks = 0; got < size && !at_right; blocks++) {
		int64_t end = block == right ? ridx + 1 : DEQUE_BLOCK;

		if (blocks > size / DEQUE_BLOCK + 1 || !ptr_ok(block) ||
		    (err = rd(r, block, blk, sizeof(blk)))) {
			err = err ? err : -EINVAL;
			break;
		}
		for (int64_t i = lidx; i < end && got < size; i++)
			(*items)[got++] = blk[l->blk_data / 8 + i];
		at_right = block == right;
		block = blk[l->blk_right / 8];
		lidx = 0;
	}
	/* ob_size items, and the last of them in the rightmost block at rightindex */
	if (!err && (got != size || (size && !at_right)))
		err = -EINVAL;
	*n = got;
	fail_clear(err, items, n);
	return err;
}

static int func_name(struct pyreader *r, uint64_t func, char *name, size_t cap)
{
	uint64_t s;
	int err = rd_ptr(r, func + layout_of(r)->func_name, &s);

	return err ? err : pyreader__str(r, s, name, cap);
}

int pyobj__method(struct pyreader *r, uint64_t obj, uint64_t *self, uint64_t *func, char *name,
		  size_t cap)
{
	const struct obj_layout *l = layout_of(r);
	char type[64];
	uint64_t ml, s;
	int err;

	if (!l)
		return -ENOTSUP;
	if ((err = pyobj__type_name(r, obj, type, sizeof(type))))
		return err;
	if (!strcmp(type, "method")) {
		if ((err = rd_ptr(r, obj + l->meth_func, func)) ||
		    (err = rd_ptr(r, obj + l->meth_self, self)))
			return err;
		if (!pyobj__is(r, *func, "function"))
			return -EINVAL;
		return func_name(r, *func, name, cap);
	}
	if (strcmp(type, "builtin_function_or_method"))
		return -EINVAL;
	*func = 0;
	if ((err = rd_ptr(r, obj + l->cfunc_self, self)) ||
	    (err = rd_ptr(r, obj + l->cfunc_ml, &ml)))
		return err;
	/* PyMethodDef.ml_name first; a module function's self is its module */
	if (!ptr_ok(*self) || !ptr_ok(ml) || rd_ptr(r, ml, &s))
		return -EINVAL;
	return rd_cstr(r, s, name, cap);
}

int pyobj__func_module(struct pyreader *r, uint64_t func, char *buf, size_t cap)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t globals, name;
	int err;

	if (!l)
		return -ENOTSUP;
	if (!pyobj__is(r, func, "function"))
		return -EINVAL;
	if ((err = rd_ptr(r, func + l->func_globals, &globals)) ||
	    (err = pyreader__dict_get(r, globals, "__name__", &name)))
		return err;
	return pyreader__str(r, name, buf, cap);
}

int pyobj__gen_frame(struct pyreader *r, uint64_t gen, uint64_t *frame,
		     enum pyobj_gen_state *state, char *name, size_t cap)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t qualname;
	int8_t st;
	int err;

	if (!l)
		return -ENOTSUP;
	if (!pyobj__is(r, gen, "coroutine") && !pyobj__is(r, gen, "generator"))
		return -EINVAL;
	if (l->v310) {	/* the frame object's state; no frame once it finished */
		if ((err = rd_ptr(r, gen + l->gen_frame_ptr, frame)))
			return err;
		st = 1;	/* FRAME_RETURNED */
		if (*frame && (!ptr_ok(*frame) || (err = rd(r, *frame + l->fr_state, &st, 1))))
			return err ? err : -EINVAL;
	} else {
		if ((err = rd(r, gen + l->gen_state, &st, 1)))
			return err;
		*frame = gen + l->gen_iframe;
	}
	if (st == l->gen_created)
		*state = PYOBJ_GEN_CREATED;
	else if (st == l->gen_suspended || (l->gen_suspended_in && st == l->gen_suspended_in))
		*state = PYOBJ_GEN_SUSPENDED;
	else if (st == l->gen_running)
		*state = PYOBJ_GEN_RUNNING;
	else
		*state = PYOBJ_GEN_DONE;
	if (name && (rd_ptr(r, gen + l->gen_qualname, &qualname) ||
		     pyreader__str(r, qualname, name, cap)))
		snprintf(name, cap, "?");
	return 0;
}

/* The code object of FRAME and the fields of it read here. */
struct code_info {
	uint64_t code, instr;
	int64_t index;		/* of the current instruction, in code units; <0 before the first */
	int32_t stacksize, nlocalsplus;
};

/* 3.10: f_lasti is the index of the instruction executing or last executed (-1 before the
 * first); the bytecode is a bytes object; the value stack's base is f_valuestack. */
static int frame_code_310(struct pyreader *r, uint64_t frame, struct code_info *ci)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t bytes;
	int32_t lasti;
	size_t len;
	int err = 0;

	if (!ptr_ok(frame) || (err = rd_ptr(r, frame + l->fr_code, &ci->code)) ||
	    (err = rd(r, frame + l->fr_instr, &lasti, sizeof(lasti))))
		return err ? err : -EFAULT;
	if (!pyobj__is(r, ci->code, "code"))
		return -EINVAL;
	if ((err = rd_ptr(r, ci->code + l->co_code, &bytes)) ||
	    (err = rd_size(r, bytes + l->var_size, 1 << 27, &len)) ||
	    (err = rd(r, ci->code + l->co_stacksize, &ci->stacksize, 4)) ||
	    (err = rd(r, ci->code + l->co_nlocalsplus, &ci->nlocalsplus, 4)))
		return err;
	if (ci->stacksize < 0 || ci->stacksize > PYOBJ_MAX_STACK || ci->nlocalsplus < 0 ||
	    ci->nlocalsplus > PYOBJ_MAX_STACK || lasti < -1 || (size_t)lasti >= len / 2 + !len)
		return -EINVAL;
	ci->index = lasti;
	ci->instr = bytes + 32 + 2 * (uint64_t)(lasti < 0 ? 0 : lasti);	/* ob_sval */
	return 0;
}

static int frame_code(struct pyreader *r, uint64_t frame, struct code_info *ci)
{
	const struct obj_layout *l = layout_of(r);
	size_t units;
	int err = 0;

	if (!l)
		return -ENOTSUP;
	if (l->v310)
		return frame_code_310(r, frame, ci);
	if (!ptr_ok(frame) || (err = rd_ptr(r, frame + l->fr_code, &ci->code)) ||
	    (err = rd_ptr(r, frame + l->fr_instr, &ci->instr)))
		return err ? err : -EFAULT;
	if (!pyobj__is(r, ci->code, "code"))
		return -EINVAL;
	if ((err = rd_size(r, ci->code + l->co_size, 1 << 26, &units)) ||
	    (err = rd(r, ci->code + l->co_stacksize, &ci->stacksize, 4)) ||
	    (err = rd(r, ci->code + l->co_nlocalsplus, &ci->nlocalsplus, 4)))
		return err;
	if (ci->stacksize < 0 || ci->stacksize > PYOBJ_MAX_STACK || ci->nlocalsplus < 0 ||
	    ci->nlocalsplus > PYOBJ_MAX_STACK)
		return -EINVAL;
	/* prev_instr: the instruction executing or last executed, one before the code at start */
	ci->index = ((int64_t)ci->instr - (int64_t)(ci->code + l->co_code)) / 2;
	if (ci->index >= (int64_t)units || ci->index < -1)
		return -EINVAL;
	return 0;
}

/* 3.10's _PyGen_yf: suspended in YIELD_FROM, f_lasti one before it (so that resuming runs it
 * again), the awaited object on top of f_stackdepth slots of the value stack. */
static int frame_awaits_310(struct pyreader *r, uint64_t frame, const struct code_info *ci,
			    uint64_t *obj)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t base;
	uint8_t next;
	int32_t depth;
	int err = 0;

	if (ci->index < 0 || (err = rd(r, ci->instr + 2, &next, 1)))
		return err ? err : -ENOENT;
	if (next != l->op_yield_from)
		return -ENOENT;
	if ((err = rd(r, frame + l->fr_stacktop, &depth, sizeof(depth))) ||
	    (err = rd_ptr(r, frame + l->fr_valuestack, &base)))
		return err;
	if (depth < 1 || depth > ci->stacksize || !ptr_ok(base))
		return -ENOENT;
	return rd_ptr(r, base + 8 * (uint64_t)(depth - 1), obj);
}

int pyobj__frame_awaits(struct pyreader *r, uint64_t frame, uint64_t *obj)
{
	const struct obj_layout *l = layout_of(r);
	struct code_info ci;
	uint8_t next[2];
	int32_t top;
	int err;

	if ((err = frame_code(r, frame, &ci)))
		return err;
	if (l->v310)
		return frame_awaits_310(r, frame, &ci, obj);
	if ((err = rd(r, frame + l->fr_stacktop, &top, sizeof(top))))
		return err;
	if (top <= ci.nlocalsplus || top > ci.nlocalsplus + ci.stacksize)
		return -ENOENT;
	/* suspended in SEND/YIELD_VALUE of an await or yield from: RESUME with oparg >= 2 next
	 * (3.13: at it; its oparg's low bits say where it resumes, RESUME_AFTER_YIELD_FROM up) */
	if (ci.index < 0 || (err = rd(r, ci.instr + (l->resume_at_yield ? 0 : 2), next,
				      sizeof(next))))
		return err ? err : -ENOENT;
	if ((next[0] != l->op_resume && next[0] != l->op_resume_alt &&
	     next[0] != l->op_resume_alt2) || (next[1] & 3) < 2)
		return -ENOENT;
	return rd_ptr(r, frame + l->fr_localsplus + 8 * (uint64_t)(top - 1), obj);
}

uint64_t pyobj__future_of(struct pyreader *r, uint64_t obj)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t fut;

	if (l && pyobj__is(r, obj, "_asyncio.FutureIter") &&
	    !rd_ptr(r, obj + l->futiter_future, &fut) && ptr_ok(fut))
		return fut;
	return obj;
}

static int varint_be(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
	uint32_t v;

	if (*i >= len)
		return -EINVAL;
	v = t[*i] & 63;
	while (t[(*i)++] & 64) {
		if (*i >= len || v >> 24)
			return -EINVAL;
		v = v << 6 | (t[*i] & 63);
	}
	*out = v;
	return 0;
}

/* Objects/exception_handling_notes.txt: entries of start, size, target, depth << 1 | lasti,
 * each a big-endian varint of 6-bit chunks; the first byte of an entry has bit 7 set. */
int pyobj__exception_entry(const uint8_t *table, size_t len, size_t *i, uint32_t *start,
			   uint32_t *size, uint32_t *target, uint32_t *depth_lasti)
{
	if (*i >= len || !(table[*i] & 128))
		return -EINVAL;
	if (varint_be(table, len, i, start) || varint_be(table, len, i, size) ||
	    varint_be(table, len, i, target) || varint_be(table, len, i, depth_lasti))
		return -EINVAL;
	return 0;
}

/* The entries do not overlap: the one that covers an instruction is its innermost handler. */
int pyobj__exception_depth(const uint8_t *table, size_t len, uint32_t index, uint32_t *depth)
{
	size_t i = 0;

	while (i < len) {
		uint32_t start, size, target, dl;

		if (pyobj__exception_entry(table, len, &i, &start, &size, &target, &dl))
			return -EINVAL;
		if (start > index)
			return -ENOENT;
		if (index < start + size) {
			*depth = dl >> 1;
			return 0;
		}
	}
	return -ENOENT;
}

void pyobj__frame_stack_clear(struct pyobj_stack *s)
{
	if (!s)
		return;
	free(s->live);
	memset(s, 0, sizeof(*s));
}

/* 3.10 keeps its open blocks in the frame: SETUP_WITH (and SETUP_ASYNC_WITH) set one up with
 * the value stack's level just above the bound __exit__ it pushed; the innermost block's level
 * bounds the slots sure to be live. */
static int frame_stack_310(struct pyreader *r, uint64_t frame, const struct code_info *ci,
			   struct pyobj_stack *out)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t base;
	int32_t iblock, level = 0;
	int err;

	if ((err = rd(r, frame + l->fr_iblock, &iblock, sizeof(iblock))) ||
	    (err = rd_ptr(r, frame + l->fr_valuestack, &base)))
		return err;
	if (iblock < 0 || iblock > 20 || !ptr_ok(base))	/* CO_MAXBLOCKS */
		return -EINVAL;
	/* PyTryBlock {b_type, b_handler, b_level}: 12 bytes */
	if (iblock && (err = rd(r, frame + l->fr_blockstack + 12 * (uint64_t)(iblock - 1) + 8,
				&level, sizeof(level))))
		return err;
	if (level < 0 || level > ci->stacksize)
		return -EINVAL;
	out->entering_with = out->opcode == l->op_before_with;
	if ((err = rd_ptrs(r, base, (size_t)level, &out->live)))
		return err;
	out->nlive = (size_t)level;
	if (level < ci->stacksize && rd_ptr(r, base + 8 * (uint64_t)level, &out->next))
		out->next = 0;
	return 0;
}

int pyobj__frame_stack(struct pyreader *r, uint64_t frame, struct pyobj_stack *out)
{
	const struct obj_layout *l = layout_of(r);
	struct code_info ci;
	uint64_t table, base;
	uint8_t *et = NULL;
	uint32_t etlen, depth = 0;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = frame_code(r, frame, &ci)))
		return err;
	if (ci.index >= 0 && (err = rd(r, ci.instr, &out->opcode, 1)))
		return err;
	if (l->v310)
		return frame_stack_310(r, frame, &ci, out);
	if ((err = rd_ptr(r, ci.code + l->co_exceptiontable, &table)) ||
	    (err = pyreader__bytes(r, table, MAX_EXC_TABLE, &et, &etlen)))
		return err;
	/* suspended at a yield: 3.12 covers the yield alone with a handler that also unwinds what
	 * the await itself pushed (an `async with` still being entered): the RESUME after it
	 * is where the frame goes on, inside the blocks that are open (3.13 is at it already) */
	if (out->opcode == l->op_yield || out->opcode == l->op_yield_alt)
		ci.index++;
	out->entering_with = out->opcode == l->op_before_with;
	if (ci.index >= 0)
		err = pyobj__exception_depth(et, etlen, (uint32_t)ci.index, &depth);
	free(et);
	if (err == -ENOENT)
		err = 0;	/* no handler: no block open, nothing on the stack for sure */
	if (err)
		return err;
	if (depth > (uint32_t)ci.stacksize)
		return -EINVAL;
	base = frame + l->fr_localsplus + 8 * (uint64_t)ci.nlocalsplus;
	if ((err = rd_ptrs(r, base, depth, &out->live)))
		return err;
	out->nlive = depth;
	if (depth < (uint32_t)ci.stacksize && rd_ptr(r, base + 8 * (uint64_t)depth, &out->next))
		out->next = 0;
	return 0;
}

int pyobj__frame_mark(struct pyreader *r, uint64_t frame, uint64_t *mark)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t instr;
	int32_t top;
	int err;

	if (!l)
		return -ENOTSUP;
	if (!ptr_ok(frame) || (err = rd_ptr(r, frame + l->fr_instr, &instr)) ||
	    (err = rd(r, frame + l->fr_stacktop, &top, sizeof(top))))
		return -EFAULT;
	*mark = instr ^ (uint64_t)(uint32_t)top << 48;
	return 0;
}

int pyobj__frame_local(struct pyreader *r, uint64_t frame, size_t i, uint64_t *val)
{
	const struct obj_layout *l = layout_of(r);
	struct code_info ci;
	int err;

	if ((err = frame_code(r, frame, &ci)))
		return err;
	if (i >= (size_t)ci.nlocalsplus)
		return -ERANGE;
	if ((err = rd_ptr(r, frame + l->fr_localsplus + 8 * (uint64_t)i, val)))
		return err;
	return *val ? 0 : -ENOENT;
}

int pyobj__frame_globals(struct pyreader *r, uint64_t frame, uint64_t *globals)
{
	const struct obj_layout *l = layout_of(r);
	int err;

	if (!l)
		return -ENOTSUP;
	if (!ptr_ok(frame) || (err = rd_ptr(r, frame + l->fr_globals, globals)))
		return -EFAULT;
	return pyobj__is(r, *globals, "dict") ? 0 : -EINVAL;
}

static bool same_str(struct pyreader *r, uint64_t a, uint64_t b)
{
	char sa[128], sb[128];

	return a == b || (!pyreader__str(r, a, sa, sizeof(sa)) &&
			  !pyreader__str(r, b, sb, sizeof(sb)) && !strcmp(sa, sb));
}

/* 3.10's f_localsplus holds co_varnames, then co_cellvars' cells, then co_freevars' cells:
 * their names in that order, into a new array. */
static int names_310(struct pyreader *r, uint64_t code, uint64_t **out, size_t *n)
{
	const struct obj_layout *l = layout_of(r);
	const int32_t at[] = {l->co_varnames, l->co_cellvars, l->co_freevars};
	uint64_t tuple, *part = NULL, *all;
	size_t np = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		if ((err = rd_ptr(r, code + at[k], &tuple)) ||
		    (err = pyobj__seq_items(r, tuple, &part, &np)))
			break;
		all = realloc(*out, (*n + np + 1) * sizeof(uint64_t));
		if (!all) {
			err = -ENOMEM;
			free(part);
			break;
		}
		memcpy(all + *n, part, np * sizeof(uint64_t));
		*out = all;
		*n += np;
		free(part);
	}
	fail_clear(err, out, n);
	return err;
}

int pyobj__frame_locals(struct pyreader *r, uint64_t frame, uint64_t **values, uint64_t **names,
			size_t *n)
{
	const struct obj_layout *l = layout_of(r);
	struct code_info ci;
	uint64_t tuple, *nm = NULL;
	size_t nn = 0;
	int err;

	*values = *names = NULL;
	*n = 0;
	if ((err = frame_code(r, frame, &ci)))
		return err;
	if (l->v310)
		err = names_310(r, ci.code, &nm, &nn);
	else if (!(err = rd_ptr(r, ci.code + l->co_localsplusnames, &tuple)))
		err = pyobj__seq_items(r, tuple, &nm, &nn);
	if (err)
		return err;
	/* 3.10: co_nlocals locals, then the cells and free variables */
	if (l->v310 ? nn < (size_t)ci.nlocalsplus || nn > PYOBJ_MAX_STACK
		    : nn != (size_t)ci.nlocalsplus) {
		free(nm);
		return -EINVAL;
	}
	if ((err = rd_ptrs(r, frame + l->fr_localsplus, nn, values))) {
		free(nm);
		return err;
	}
	/* a cell variable's slot holds its cell (MAKE_CELL, COPY_FREE_VARS): the value is inside */
	for (size_t i = 0; i < nn; i++) {
		uint64_t ref;

		if ((*values)[i] && pyobj__is(r, (*values)[i], "cell") &&
		    !rd_ptr(r, (*values)[i] + l->cell_ref, &ref))
			(*values)[i] = ref;
	}
	/* 3.10 moves an argument that a closure uses into its cell and empties its slot */
	for (size_t i = 0; l->v310 && i < (size_t)ci.nlocalsplus; i++)
		for (size_t j = ci.nlocalsplus; !(*values)[i] && j < nn; j++)
			if (same_str(r, nm[i], nm[j]))
				(*values)[i] = (*values)[j];
	*names = nm;
	*n = nn;
	return 0;
}

int pyobj__lock_word(struct pyreader *r, uint64_t obj, uint64_t *word, const char **type)
{
	/* a multiprocessing lock's SemLock holds its sem_t * where a lock holds its own */
	static const char *const types[] = {"_thread.lock", "_thread.RLock", "_queue.SimpleQueue",
					    "_multiprocessing.SemLock"};
	const struct obj_layout *l = layout_of(r);
	char name[32];
	int err;

	if (!l)
		return -ENOTSUP;
	if ((err = pyobj__type_name(r, obj, name, sizeof(name))))
		return err;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(name, types[i]))
			continue;
		if ((err = rd_ptr(r, obj + l->lock_word, word)))
			return err;
		if (type)
			*type = types[i];
		return ptr_ok(*word) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

int pyobj__lock_state(struct pyreader *r, uint64_t obj, bool *locked, uint64_t *owner)
{
	const struct obj_layout *l = layout_of(r);
	const char *type;
	uint64_t word, count;
	uint8_t c;
	int err;

	*owner = 0;
	if ((err = pyobj__lock_word(r, obj, &word, &type)))
		return err;
	if (!strcmp(type, "_thread.lock")) {
		if ((err = rd(r, obj + l->lock_locked, &c, 1)))
			return err;
		*locked = c != 0;
		return 0;
	}
	if (strcmp(type, "_thread.RLock"))
		return -EINVAL;
	if ((err = rd_ptr(r, obj + l->rlock_owner, owner)) ||
	    (err = rd_ptr(r, obj + l->rlock_count, &count)))
		return err;
	*locked = count > 0;
	if (!*locked)
		*owner = 0;
	return 0;
}

int pyobj__type_dict(struct pyreader *r, uint64_t obj, uint64_t *dict, char *name, size_t cap)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t type, tn;
	int err;

	if (!l)
		return -ENOTSUP;
	if ((err = rd_ptr(r, obj + 8, &type)) || !ptr_ok(type) ||
	    (err = rd_ptr(r, type + l->tp_dict, dict)))
		return err ? err : -EFAULT;
	if (!pyobj__is(r, *dict, "dict"))
		return -EINVAL;
	if (!name)
		return 0;
	if ((err = rd_ptr(r, type + l->tp_name, &tn)))
		return err;
	return rd_cstr(r, tn, name, cap);
}

#define MAX_CODE_UNITS (1 << 16)	/* code units of one code object read */

void pyobj__code_clear(struct pyobj_code *c)
{
	if (!c)
		return;
	free(c->bytes);
	free(c->names);
	free(c->exc);
	memset(c, 0, sizeof(*c));
}

/* The bytecode of the code object CI->code, positioned at CI->index, into OUT. */
static int code_read(struct pyreader *r, const struct code_info *ci, struct pyobj_code *out)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t names, table, bytes = 0;
	size_t units;
	int err;

	/* 3.10: the bytecode is a bytes object (its ob_sval at 32), cells follow the locals */
	if (l->v310 && ((err = rd_ptr(r, ci->code + l->co_code, &bytes)) ||
			(err = rd_size(r, bytes + l->var_size, 2 * MAX_CODE_UNITS, &units))))
		return err;
	if (l->v310)
		units /= 2;
	else if ((err = rd_size(r, ci->code + l->co_size, MAX_CODE_UNITS, &units)))
		return err;
	out->code = ci->code;
	out->index = ci->index;
	out->minor = l->minor;
	out->units = units;
	out->deref_base = l->v310 ? (uint32_t)ci->nlocalsplus : 0;
	out->bytes = malloc(2 * units + 1);
	if (!out->bytes)
		return -ENOMEM;
	err = rd(r, l->v310 ? bytes + 32 : ci->code + l->co_code, out->bytes, 2 * units);
	err = err ?: rd_ptr(r, ci->code + l->co_names, &names);
	err = err ?: pyobj__seq_items(r, names, &out->names, &out->nnames);
	if (!l->v310) {
		err = err ?: rd_ptr(r, ci->code + l->co_exceptiontable, &table);
		err = err ?: pyreader__bytes(r, table, MAX_EXC_TABLE, &out->exc, &out->exclen);
	}
	if (!err && (out->index < -1 || out->index >= (int64_t)units))
		err = -ESTALE;
	if (err)
		pyobj__code_clear(out);
	return err;
}

int pyobj__frame_code(struct pyreader *r, uint64_t frame, struct pyobj_code *out)
{
	struct code_info ci;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = frame_code(r, frame, &ci)))
		return err;
	return code_read(r, &ci, out);
}

int pyobj__code_as(struct pyreader *r, uint64_t code, uint64_t instr, struct pyobj_code *out)
{
	const struct obj_layout *l = layout_of(r);
	struct code_info ci = {.code = code};

	memset(out, 0, sizeof(*out));
	if (!l)
		return -ENOTSUP;
	if (!pyobj__is(r, code, "code"))
		return -EINVAL;
	/* what frame_code reads from a live frame, from the words read of it then */
	ci.index = l->v310 ? (int32_t)(uint32_t)instr
			   : ((int64_t)instr - (int64_t)(code + l->co_code)) / 2;
	if (l->v310 && rd(r, code + l->co_nlocalsplus, &ci.nlocalsplus, 4))
		return -EFAULT;
	return code_read(r, &ci, out);
}

bool pyobj__parks(struct pyreader *r)
{
	const struct obj_layout *l = layout_of(r);

	return l && l->minor >= 13;
}

int pyobj__handle_exited(struct pyreader *r, uint64_t handle, bool *exited)
{
	const struct obj_layout *l = layout_of(r);
	uint64_t th;
	uint8_t v;
	int err;

	if (!l || !l->th_handle)
		return -ENOTSUP;
	if (!pyobj__is(r, handle, "_thread._ThreadHandle"))
		return -EINVAL;
	if ((err = rd_ptr(r, handle + l->th_handle, &th)) || !ptr_ok(th) ||
	    (err = rd(r, th + l->th_exiting, &v, 1)))
		return err ? err : -EFAULT;
	/* PyEvent: 1 once set; 0 unset, 2 unset with a waiter parked on it */
	*exited = v == 1;
	return 0;
}
