/* pycode.c - decodes a frame's bytecode (3.10 to 3.13: quickened forms undone by pyopcodes.h),
 * finds where jumps land, and the acquire() calls that completed on the way to its position. */
#include "python/pycode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "python/pyobj.h"
#include "python/pyopcodes.h"

#define NONE_OP 0xffff
#define MAX_CHAIN 4 /* attributes after a variable: `self.bank._lock` */

struct insn {
	uint32_t at;  /* code unit */
	uint16_t op;  /* base instruction; NONE_OP for one the tables do not know */
	uint32_t arg; /* with its EXTENDED_ARGs */
};

struct tables {
	const uint8_t *base, *caches, *jumps;
	const struct py_ops *ops;
};

static bool tables_of(uint32_t minor, struct tables *t)
{
	if (minor == 10)
		*t = (struct tables){py_base_10, py_caches_10, py_jumps_10, &py_ops_10};
	else if (minor == 11)
		*t = (struct tables){py_base_11, py_caches_11, py_jumps_11, &py_ops_11};
	else if (minor == 12)
		*t = (struct tables){py_base_12, py_caches_12, py_jumps_12, &py_ops_12};
	else if (minor == 13)
		*t = (struct tables){py_base_13, py_caches_13, py_jumps_13, &py_ops_13};
	else
		return false;
	return true;
}

/* The instructions of C, caches skipped; *N of them, in a new array. */
static struct insn *decode(const struct pyobj_code *c, const struct tables *t, size_t *n)
{
	struct insn *v = malloc((c->units + 1) * sizeof(*v));
	uint32_t ext = 0;

	*n = 0;
	for (size_t i = 0; v && i < c->units;) {
		uint8_t raw = c->bytes[2 * i], arg = c->bytes[2 * i + 1];
		uint16_t op = t->base[raw];

		/* no base: an opcode the tables do not know (3.10 has no CACHE: 0 is none) */
		if (!op && (raw || t->ops->cache))
			op = NONE_OP;
		if (op == t->ops->extended_arg) {
			ext = (ext | arg) << 8;
			i++;
			continue;
		}
		v[(*n)++] = (struct insn){(uint32_t)i, op, ext | arg};
		ext = 0;
		i += 1 + (op == NONE_OP ? 0 : t->caches[op]);
	}
	return v;
}

/* The last code unit at or before INDEX where a jump or an exception handler lands: the
 * straight line that INDEX is reached through starts there. The loop of an `await` (SEND and
 * its JUMP_BACKWARD_NO_INTERRUPT) is entered only through its start: its own landings do not
 * count. -1 if the table is malformed. */
static int64_t line_start(const struct pyobj_code *c, const struct tables *t, const struct insn *v,
			  size_t n, int64_t index)
{
	int64_t start = 0;

	for (size_t k = 0; k < n; k++) {
		const struct insn *x = &v[k];
		int64_t to;

		/* ... nor 3.12's way back from CLEANUP_THROW, the handler of a throw into the
		 * awaited object, to the await's END_SEND */
		if (x->op == NONE_OP || !t->jumps[x->op] || x->op == t->ops->send ||
		    x->op == t->ops->jump_backward_no_interrupt ||
		    (k && v[k - 1].op == t->ops->cleanup_throw))
			continue;
		if (t->jumps[x->op] == 3) /* 3.10's absolute jumps */
			to = x->arg;
		else
			to = (int64_t)x->at + 1 + t->caches[x->op] +
			     (t->jumps[x->op] == 2 ? -(int64_t)x->arg : (int64_t)x->arg);
		if (to <= index && to > start)
			start = to;
	}
	for (size_t i = 0; i < c->exclen;) {
		uint32_t s, size, target, depth;

		if (pyobj__exception_entry(c->exc, c->exclen, &i, &s, &size, &target, &depth))
			return -1;
		if (target <= index && target > start)
			start = target;
	}
	return start;
}

/* A variable and the attributes read from it: what a method is called on. */
struct chain {
	struct insn root;
	uint32_t attrs[MAX_CHAIN]; /* name indexes */
	size_t nattrs;
	uint32_t method; /* the name index of the method called on it */
};

static bool chain_eq(const struct chain *a, const struct chain *b)
{
	return a->root.op == b->root.op && a->root.arg == b->root.arg && a->nattrs == b->nattrs &&
	       !memcmp(a->attrs, b->attrs, a->nattrs * sizeof(a->attrs[0]));
}

struct reader {
	struct pyreader *r;
	uint64_t frame;
	const struct pyobj_code *c;
	const struct tables *t;
	const struct insn *v;
	size_t n;
};

/* Name IDX of the code is NAME; any name where NAME is NULL. */
static bool name_is(const struct reader *rd, uint32_t idx, const char *name)
{
	char buf[32];

	if (!name)
		return idx < rd->c->nnames;
	return idx < rd->c->nnames && !pyreader__str(rd->r, rd->c->names[idx], buf, sizeof(buf)) &&
	       !strcmp(buf, name);
}

static bool is_root(const struct tables *t, uint16_t op)
{
	return op == t->ops->load_global || op == t->ops->load_name || op == t->ops->load_fast ||
	       op == t->ops->load_fast_check || op == t->ops->load_deref;
}

static bool is_call(const struct tables *t, uint16_t op)
{
	return op == t->ops->call || op == t->ops->call_method || op == t->ops->call_kw ||
	       op == t->ops->call_function_kw;
}

/* At V[K]: `ROOT(.attr)*.METHOD(args)` (any method where METHOD is NULL, its name index in
 * CH->method): *CH and the call's argument count in *NARGS; *END is the index of the call.
 * False if V[K] starts no such call. How a method is loaded and called:
 * - 3.10: LOAD_METHOD, CALL_METHOD; with keywords LOAD_ATTR and CALL_FUNCTION_KW;
 * - 3.11: LOAD_METHOD, PRECALL, CALL (KW_NAMES before it with keywords);
 * - 3.12: LOAD_ATTR with arg & 1 (its name is arg >> 1, as for every LOAD_ATTR), CALL;
 * - 3.13: the same, CALL_KW with keywords. */
static bool method_call(const struct reader *rd, size_t k, const char *method, struct chain *ch,
			uint32_t *nargs, size_t *end)
{
	const struct tables *t = rd->t;
	bool attr_bit = rd->c->minor >= 12, as_attr = false;
	uint32_t name;
	size_t i = k + 1;

	if (!is_root(t, rd->v[k].op))
		return false;
	*ch = (struct chain){.root = rd->v[k]};
	for (; i < rd->n && rd->v[i].op == t->ops->load_attr; i++) {
		if (attr_bit && (rd->v[i].arg & 1))
			break; /* the method load */
		if (ch->nattrs == MAX_CHAIN)
			return false;
		ch->attrs[ch->nattrs++] = attr_bit ? rd->v[i].arg >> 1 : rd->v[i].arg;
	}
	if (i >= rd->n)
		return false;
	if (rd->v[i].op == t->ops->load_method) {
		name = rd->v[i++].arg;
	} else if (attr_bit && rd->v[i].op == t->ops->load_attr) {
		name = rd->v[i++].arg >> 1;
	} else if (!attr_bit && t->ops->call_function_kw < 256 && ch->nattrs) {
		name = ch->attrs[--ch->nattrs]; /* 3.10 with keywords: the last attribute */
		as_attr = true;
	} else {
		return false;
	}
	if (!name_is(rd, name, method))
		return false;
	ch->method = name;
	/* its arguments: constants or simple loads, then the call */
	for (; i < rd->n && !is_call(t, rd->v[i].op); i++)
		if (rd->v[i].op != t->ops->load_const && rd->v[i].op != t->ops->precall &&
		    rd->v[i].op != t->ops->kw_names && !is_root(t, rd->v[i].op))
			return false;
	if (i >= rd->n || as_attr != (rd->v[i].op == t->ops->call_function_kw))
		return false;
	*nargs = rd->v[i].arg;
	*end = i;
	return true;
}

/* After the acquire call at V[CALL]: the index of the instruction that shows it took the lock
 * (POP_TOP of a blocking acquire, the conditional jump of `if X.acquire(...)`, the POP_TOP
 * after an `await`), or 0 if nothing shows it did. */
static size_t taken_at(const struct reader *rd, size_t call, uint32_t nargs, bool asyncio)
{
	const struct tables *t = rd->t;
	size_t i = call + 1;

	if (i >= rd->n)
		return 0;
	if (rd->v[i].op == t->ops->pop_top)
		return nargs ? 0 : i;	      /* with arguments it may have given up */
	if (rd->v[i].op == t->ops->to_bool) { /* 3.13 converts the result before testing it */
		if (++i >= rd->n)
			return 0;
		return rd->v[i].op == t->ops->pop_jump_if_false ? i : 0;
	}
	if (rd->v[i].op == t->ops->pop_jump_if_false ||
	    rd->v[i].op == t->ops->pop_jump_forward_if_false)
		return i; /* the straight line goes on where it returned true */
	if (!asyncio || nargs || rd->v[i].op != t->ops->get_awaitable)
		return 0;
	/* await: LOAD_CONST None, SEND, YIELD_VALUE, RESUME, JUMP_BACKWARD_NO_INTERRUPT,
	 * (3.12, 3.13) END_SEND, or 3.10's YIELD_FROM, then the result: dropped */
	for (i++; i < rd->n; i++) {
		uint16_t op = rd->v[i].op;

		if (op == t->ops->pop_top)
			return i;
		if (op != t->ops->load_const && op != t->ops->send && op != t->ops->yield_value &&
		    op != t->ops->resume && op != t->ops->jump_backward_no_interrupt &&
		    op != t->ops->end_send && op != t->ops->yield_from)
			return 0;
	}
	return 0;
}

/* The object a chain names now. 0 if it cannot be read. */
static uint64_t chain_value(const struct reader *rd, const struct chain *ch)
{
	const struct tables *t = rd->t;
	uint64_t obj = 0, globals, *vals = NULL, *names = NULL, dict;
	char name[128];
	size_t n = 0;
	uint32_t idx;

	if (ch->root.op == t->ops->load_global || ch->root.op == t->ops->load_name) {
		/* 3.11 on: LOAD_GLOBAL's arg is name << 1 | a NULL pushed first */
		idx = ch->root.op == t->ops->load_global && rd->c->minor >= 11 ? ch->root.arg >> 1
									       : ch->root.arg;
		if (idx >= rd->c->nnames ||
		    pyreader__str(rd->r, rd->c->names[idx], name, sizeof(name)) ||
		    pyobj__frame_globals(rd->r, rd->frame, &globals) ||
		    pyreader__dict_get(rd->r, globals, name, &obj))
			return 0;
	} else if (!pyobj__frame_locals(rd->r, rd->frame, &vals, &names, &n)) {
		idx = ch->root.arg + (ch->root.op == t->ops->load_deref ? rd->c->deref_base : 0);
		obj = idx < n ? vals[idx] : 0; /* a cell's value for DEREF */
		free(vals);
		free(names);
	}
	for (size_t i = 0; obj && i < ch->nattrs; i++) {
		uint64_t next = 0;

		if (ch->attrs[i] >= rd->c->nnames ||
		    pyreader__str(rd->r, rd->c->names[ch->attrs[i]], name, sizeof(name)))
			return 0;
		if (pyreader__attr(rd->r, obj, name, &next) &&
		    (pyobj__type_dict(rd->r, obj, &dict, NULL, 0) ||
		     pyreader__dict_get(rd->r, dict, name, &next)))
			return 0;
		obj = next;
	}
	return obj;
}

size_t pycode__acquired(struct pyreader *r, uint64_t frame, bool asyncio, uint64_t *out, size_t max)
{
	struct pyobj_code c;
	struct tables t;
	struct reader rd = {.r = r, .frame = frame, .c = &c, .t = &t};
	struct chain held[PYCODE_MAX_HOLDS], ch;
	struct insn *v = NULL;
	size_t nheld = 0, found = 0, n = 0, first, end;
	uint32_t nargs;
	int64_t start;

	if (pyobj__frame_code(r, frame, &c))
		return 0;
	if (!tables_of(c.minor, &t) || c.index <= 0 || !(v = decode(&c, &t, &n)))
		goto out;
	rd.v = v;
	rd.n = n;
	start = line_start(&c, &t, v, n, c.index);
	if (start < 0)
		goto out;
	for (first = 0; first < n && v[first].at < (uint64_t)start; first++)
		;
	/* the straight line up to the current instruction: every instruction known */
	for (size_t k = first; k < n && v[k].at < (uint64_t)c.index; k++)
		if (v[k].op == NONE_OP)
			goto out;
	for (size_t k = first; k < n && v[k].at < (uint64_t)c.index; k++) {
		size_t taken;

		if (method_call(&rd, k, "release", &ch, &nargs, &end)) {
			for (size_t h = 0; h < nheld; h++)
				if (chain_eq(&held[h], &ch))
					held[h--] = held[--nheld];
			continue;
		}
		if (!method_call(&rd, k, "acquire", &ch, &nargs, &end) ||
		    !(taken = taken_at(&rd, end, nargs, asyncio)) || v[taken].at >= c.index)
			continue;
		if (nheld < PYCODE_MAX_HOLDS)
			held[nheld++] = ch;
		k = taken;
	}
	for (size_t h = 0; h < nheld && found < max; h++)
		if ((out[found] = chain_value(&rd, &held[h])))
			found++;
out:
	free(v);
	pyobj__code_clear(&c);
	return found;
}

/* RD's code decoded into RD (its tables T), where it is past its first instruction: the array
 * to free, or NULL. */
static struct insn *decode_at(struct reader *rd, struct tables *t)
{
	struct insn *v;

	if (!tables_of(rd->c->minor, t) || rd->c->index <= 0 || !(v = decode(rd->c, t, &rd->n)))
		return NULL;
	rd->v = v;
	return v;
}

/* The call RD's code makes at its current instruction, where it is `X.method(args)`: its chain
 * into *CH. -ENOENT where it is no such call, or the bytecode cannot be read. */
static int call_at(const struct reader *rd, struct chain *ch)
{
	const struct pyobj_code *c = rd->c;
	const struct insn *v = rd->v;
	size_t n = rd->n, at, end;
	uint32_t nargs;
	int64_t start;

	for (at = 0; at < n && v[at].at < (uint64_t)c->index; at++)
		;
	if (at == n || v[at].at != (uint64_t)c->index || !is_call(rd->t, v[at].op) ||
	    (start = line_start(c, rd->t, v, n, c->index)) < 0)
		return -ENOENT;
	/* the innermost call that ends there: its receiver is loaded last */
	for (size_t k = at; k-- > 0 && v[k].at >= (uint64_t)start;) {
		if (v[k].op == NONE_OP)
			break;
		if (method_call(rd, k, NULL, ch, &nargs, &end) && end == at)
			return ch->method < c->nnames ? 0 : -ENOENT;
	}
	return -ENOENT;
}

int pycode__calling(struct pyreader *r, uint64_t frame, uint64_t *obj, char *method, size_t cap)
{
	struct pyobj_code c;
	struct tables t;
	struct reader rd = {.r = r, .frame = frame, .c = &c, .t = &t};
	struct insn *v = NULL;
	struct chain ch;
	int err;

	*obj = 0;
	if ((err = pyobj__frame_code(r, frame, &c)))
		return err;
	err = -ENOENT;
	if (!(v = decode_at(&rd, &t)))
		goto out;
	if (call_at(&rd, &ch) || pyreader__str(r, c.names[ch.method], method, cap) ||
	    !(*obj = chain_value(&rd, &ch)))
		goto out;
	err = 0;
out:
	free(v);
	pyobj__code_clear(&c);
	return err;
}

int pycode__call_as(struct pyreader *r, uint64_t code, uint64_t instr, char *method, size_t cap,
		    bool *on_local)
{
	struct pyobj_code c;
	struct tables t;
	struct reader rd = {.r = r, .c = &c, .t = &t};
	struct insn *v = NULL;
	struct chain ch;
	int err;

	*on_local = false;
	if ((err = pyobj__code_as(r, code, instr, &c)))
		return err;
	err = -ENOENT;
	if (!(v = decode_at(&rd, &t)))
		goto out;
	if (call_at(&rd, &ch) || pyreader__str(r, c.names[ch.method], method, cap))
		goto out;
	*on_local =
	    !ch.nattrs && (ch.root.op == t.ops->load_fast || ch.root.op == t.ops->load_fast_check);
	err = 0;
out:
	free(v);
	pyobj__code_clear(&c);
	return err;
}
