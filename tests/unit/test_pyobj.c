/* test_pyobj.c - the remote object readers on hand-built CPython 3.11 memory images: sets, weak
 * sets, deques, sequences, methods, coroutine frames, exception tables; whole and damaged. A
 * 3.10 frame's locals and bytecode (python/pycode.c's reading of them). */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memimage.h"
#include "python/pycode.h"
#include "python/pyobj.h"
#include "python/pywait.h"

#define UNMAPPED 0x7f0000001000ULL
#define V311 0x030b07f0
#define V310 0x030a0df0

/* An image with a 3.11 reader over it and the type objects made so far. */
struct oimg {
	struct image m;
	struct pyreader *r;
	uint64_t none;		/* the None object */
	const char *names[64];	/* type objects, one per name: the reader caches them */
	uint64_t types[64];
	size_t ntypes;
};

/* A type object named NAME (tp_name at 24; tp_flags 168 and tp_dictoffset 288 zero). */
static uint64_t mk_type(struct oimg *im, const char *name)
{
	uint64_t t = img_alloc(&im->m, 400), s = img_alloc(&im->m, strlen(name) + 1);

	put(&im->m, s, name, strlen(name) + 1);
	put64(&im->m, t + 24, s);
	return t;
}

static uint64_t type_named(struct oimg *im, const char *name)
{
	for (size_t i = 0; i < im->ntypes; i++)
		if (!strcmp(im->names[i], name))
			return im->types[i];
	cr_assert_lt(im->ntypes, 64);
	im->names[im->ntypes] = name;
	return im->types[im->ntypes++] = mk_type(im, name);
}

static uint64_t get_type(const struct oimg *im, uint64_t obj)
{
	uint64_t v;

	memcpy(&v, im->m.mem + (obj + 8 - IMG_BASE), sizeof(v));
	return v;
}

/* An object of the type named TYPE, SIZE bytes. */
static uint64_t mk_obj(struct oimg *im, const char *type, size_t size)
{
	uint64_t t = type_named(im, type), o = img_alloc(&im->m, size);

	put64(&im->m, o, 1);
	put64(&im->m, o + 8, t);
	return o;
}

/* A compact ASCII str: length at 16, state at 32, data at 48. */
static uint64_t mk_str(struct oimg *im, const char *s)
{
	uint64_t o = mk_obj(im, "str", 48 + strlen(s) + 1);

	put64(&im->m, o + 16, strlen(s));
	put32(&im->m, o + 32, 1 << 2 | 1 << 5 | 1 << 6);	/* kind 1, compact, ascii */
	put(&im->m, o + 48, s, strlen(s) + 1);
	return o;
}

/* A combined dict of str keys (3.11: keys object at 32, no values array). */
static uint64_t mk_dict(struct oimg *im, const char *const *keys, const uint64_t *values,
			size_t n)
{
	uint64_t d = mk_obj(im, "dict", 48), k = img_alloc(&im->m, 32 + 8 + 16 * n);

	put8(&im->m, k + 8, 3);		/* dk_log2_size: 8 slots */
	put8(&im->m, k + 9, 3);		/* dk_log2_index_bytes: 8 one-byte indices */
	put8(&im->m, k + 10, 1);		/* DICT_KEYS_UNICODE: entries {key, value} */
	put64(&im->m, k + 24, n);		/* dk_nentries */
	for (size_t i = 0; i < n; i++) {
		put64(&im->m, k + 40 + 16 * i, mk_str(im, keys[i]));
		put64(&im->m, k + 48 + 16 * i, values[i]);
	}
	put64(&im->m, d + 32, k);
	return d;
}

static void image_init_as(struct oimg *im, uint32_t version)
{
	uint64_t runtime;
	char why[256] = "";

	memset(im, 0, sizeof(*im));
	im->m.mem = calloc(1, IMG_SIZE);
	cr_assert(im->m.mem);
	im->m.next = IMG_BASE + 4096;
	runtime = img_alloc(&im->m, 4096);	/* no debug offsets there: the 3.11 table is used */
	im->r = pyreader__new_image(image_read, &im->m, runtime, version, why, sizeof(why));
	cr_assert(im->r, "pyreader__new_image: %s", why);
	im->none = mk_obj(im, "NoneType", 16);
}

static void image_init(struct oimg *im)
{
	image_init_as(im, V311);
}

static void image_fini(struct oimg *im)
{
	pyreader__free(im->r);
	free(im->m.mem);
}

/* ---- sets ---- */

/* A set of NKEYS keys in its 8-entry small table, one more slot deleted (dummy, hash -1). */
static uint64_t mk_set(struct oimg *im, const uint64_t *keys, size_t nkeys)
{
	uint64_t s = mk_obj(im, "set", 200), dummy = mk_obj(im, "<dummy key> type", 16);

	put64(&im->m, s + 24, nkeys);		/* used */
	put64(&im->m, s + 32, 7);			/* mask */
	put64(&im->m, s + 40, s + 64);		/* table = smalltable */
	for (size_t i = 0; i < nkeys; i++) {
		put64(&im->m, s + 64 + 16 * (2 * i), keys[i]);
		put64(&im->m, s + 72 + 16 * (2 * i), 1000 + i);
	}
	put64(&im->m, s + 64 + 16 * 7, dummy);
	put64(&im->m, s + 72 + 16 * 7, UINT64_MAX);
	return s;
}

Test(pyobj, set_keys_without_empty_and_deleted_slots)
{
	const uint64_t want[] = { 0x30000000, 0x30000010, 0x30000020 };
	struct oimg im;
	uint64_t *keys, s;
	size_t n;

	image_init(&im);
	s = mk_set(&im, want, 3);
	cr_assert_eq(pyobj__set_items(im.r, s, &keys, &n), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(keys[i], want[i]);
	free(keys);
	image_fini(&im);
}

Test(pyobj, damaged_sets_give_errors)
{
	const uint64_t k[] = { 0x30000000, 0x30000010, 0x30000020 };
	struct oimg im;
	uint64_t *keys = (uint64_t *)1, s;
	size_t n = 9;

	image_init(&im);
	s = mk_set(&im, k, 3);
	put64(&im.m, s + 32, 6);	/* a mask that is not 2^k - 1 */
	cr_expect_eq(pyobj__set_items(im.r, s, &keys, &n), -EINVAL);
	cr_expect(!keys && !n);
	put64(&im.m, s + 32, (1ULL << 40) - 1);	/* a table no set has */
	cr_expect_eq(pyobj__set_items(im.r, s, &keys, &n), -EINVAL);
	put64(&im.m, s + 32, 7);
	put64(&im.m, s + 24, 1);	/* fewer in use than the table holds */
	cr_expect_eq(pyobj__set_items(im.r, s, &keys, &n), -EINVAL);
	put64(&im.m, s + 24, 3);
	put64(&im.m, s + 40, UNMAPPED);
	cr_expect_eq(pyobj__set_items(im.r, s, &keys, &n), -EFAULT);
	put64(&im.m, s + 8, UNMAPPED);	/* no type */
	cr_expect_eq(pyobj__set_items(im.r, s, &keys, &n), -EINVAL);
	cr_expect_eq(pyobj__set_items(im.r, UNMAPPED, &keys, &n), -EINVAL);
	image_fini(&im);
}

/* ---- weak references and WeakSet ---- */

static uint64_t mk_ref(struct oimg *im, uint64_t target)
{
	uint64_t w = mk_obj(im, "weakref", 64);

	put64(&im->m, w + 16, target);
	return w;
}

Test(pyobj, weakset_members_are_the_live_referents)
{
	struct oimg im;
	uint64_t live, refs[2], data, inst, dict, *objs, got;
	const char *key = "data";
	size_t n, dead = 0;

	image_init(&im);
	live = mk_obj(&im, "_asyncio.Task", 176);
	refs[0] = mk_ref(&im, live);
	refs[1] = mk_ref(&im, im.none);	/* dead */
	data = mk_set(&im, refs, 2);
	dict = mk_dict(&im, &key, &data, 1);
	inst = mk_obj(&im, "WeakSet", 48);	/* a class with its __dict__ at 16 */
	put64(&im.m, get_type(&im, inst) + 288, 16);
	put64(&im.m, inst + 16, dict);
	cr_assert_eq(pyobj__weakref_target(im.r, refs[0], &got), 0);
	cr_expect_eq(got, live);
	cr_expect_eq(pyobj__weakref_target(im.r, refs[1], &got), -ENOENT);
	cr_expect_eq(pyobj__weakref_target(im.r, live, &got), -EINVAL);
	cr_assert_eq(pyobj__weakset_items(im.r, inst, &objs, &n, &dead), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(objs[0], live);
	cr_expect_eq(dead, 1);
	free(objs);
	/* a WeakSet without its data attribute */
	put64(&im.m, inst + 16, mk_dict(&im, &key, &data, 0));
	cr_expect_eq(pyobj__weakset_items(im.r, inst, &objs, &n, NULL), -EINVAL);
	image_fini(&im);
}

/* ---- deques ---- */

/* A deque of N items (item i is 0x40000000 + 8 i) starting at index LIDX of its first block. */
static uint64_t mk_deque(struct oimg *im, size_t n, int lidx, uint64_t *blocks, size_t *nblocks)
{
	uint64_t d = mk_obj(im, "collections.deque", 216), prev = 0, b = 0;
	size_t i = 0;
	int at = lidx;

	*nblocks = 0;
	put64(&im->m, d + 16, n);
	put64(&im->m, d + 40, (uint64_t)lidx);
	do {
		b = img_alloc(&im->m, 528);
		blocks[(*nblocks)++] = b;
		put64(&im->m, b, prev);
		if (prev)
			put64(&im->m, prev + 520, b);
		else
			put64(&im->m, d + 24, b);
		for (; at < 64 && i < n; at++, i++)
			put64(&im->m, b + 8 + 8 * at, 0x40000000 + 8 * i);
		prev = b;
		if (i < n)
			at = 0;
	} while (i < n);
	put64(&im->m, d + 32, b);
	put64(&im->m, d + 48, (uint64_t)(int64_t)(at - 1));
	return d;
}

Test(pyobj, deque_items_across_blocks_in_order)
{
	struct oimg im;
	uint64_t blocks[8], *items, d;
	size_t nb, n;

	image_init(&im);
	d = mk_deque(&im, 130, 60, blocks, &nb);
	cr_assert_eq(nb, 3);
	cr_assert_eq(pyobj__deque_items(im.r, d, &items, &n), 0);
	cr_assert_eq(n, 130);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(items[i], 0x40000000 + 8 * i, "item %zu", i);
	free(items);
	d = mk_deque(&im, 0, 32, blocks, &nb);	/* empty: rightindex = leftindex - 1 */
	cr_assert_eq(pyobj__deque_items(im.r, d, &items, &n), 0);
	cr_expect_eq(n, 0);
	free(items);
	image_fini(&im);
}

Test(pyobj, damaged_deques_give_errors)
{
	struct oimg im;
	uint64_t blocks[8], *items, d;
	size_t nb, n;

	image_init(&im);
	d = mk_deque(&im, 130, 60, blocks, &nb);
	put64(&im.m, blocks[1] + 520, blocks[1]);	/* a block that links to itself */
	cr_expect_eq(pyobj__deque_items(im.r, d, &items, &n), -EINVAL);
	cr_expect(!items && !n);
	put64(&im.m, blocks[1] + 520, UNMAPPED);
	cr_expect_eq(pyobj__deque_items(im.r, d, &items, &n), -EFAULT);
	put64(&im.m, blocks[1] + 520, blocks[2]);
	put64(&im.m, d + 16, 200);	/* more items than the blocks hold */
	cr_expect_eq(pyobj__deque_items(im.r, d, &items, &n), -EINVAL);
	put64(&im.m, d + 16, (uint64_t)-5);
	cr_expect_eq(pyobj__deque_items(im.r, d, &items, &n), -EINVAL);
	put64(&im.m, d + 16, 130);
	put64(&im.m, d + 40, 64);		/* an index past a block */
	cr_expect_eq(pyobj__deque_items(im.r, d, &items, &n), -EINVAL);
	image_fini(&im);
}

/* ---- sequences, methods ---- */

Test(pyobj, tuples_and_lists)
{
	struct oimg im;
	uint64_t t, l, arr, *items;
	size_t n;

	image_init(&im);
	t = mk_obj(&im, "tuple", 48);
	put64(&im.m, t + 16, 3);
	for (int i = 0; i < 3; i++)
		put64(&im.m, t + 24 + 8 * i, 0x50000000 + i);
	cr_assert_eq(pyobj__seq_items(im.r, t, &items, &n), 0);
	cr_expect(n == 3 && items[2] == 0x50000002);
	free(items);
	l = mk_obj(&im, "list", 40);
	arr = img_alloc(&im.m, 16);
	put64(&im.m, l + 16, 2);
	put64(&im.m, l + 24, arr);
	put64(&im.m, arr + 8, 0x60000000);
	cr_assert_eq(pyobj__seq_items(im.r, l, &items, &n), 0);
	cr_expect(n == 2 && items[1] == 0x60000000);
	free(items);
	put64(&im.m, l + 24, UNMAPPED);
	cr_expect_eq(pyobj__seq_items(im.r, l, &items, &n), -EFAULT);
	put64(&im.m, l + 16, (uint64_t)-1);
	cr_expect_eq(pyobj__seq_items(im.r, l, &items, &n), -EINVAL);
	cr_expect_eq(pyobj__seq_items(im.r, im.none, &items, &n), -EINVAL);
	image_fini(&im);
}

Test(pyobj, bound_methods_python_and_builtin)
{
	const char *key = "__name__";
	struct oimg im;
	uint64_t lock, func, meth, mod, cfunc, def, name_c, self, f;
	char name[32], module[32];

	image_init(&im);
	lock = mk_obj(&im, "Lock", 64);
	mod = mk_str(&im, "asyncio.locks");
	func = mk_obj(&im, "function", 136);
	put64(&im.m, func + 16, mk_dict(&im, &key, &mod, 1));	/* func_globals */
	put64(&im.m, func + 32, mk_str(&im, "__aexit__"));	/* func_name */
	meth = mk_obj(&im, "method", 48);
	put64(&im.m, meth + 16, func);
	put64(&im.m, meth + 24, lock);
	cr_assert_eq(pyobj__method(im.r, meth, &self, &f, name, sizeof(name)), 0);
	cr_expect(self == lock && f == func && !strcmp(name, "__aexit__"));
	cr_assert_eq(pyobj__func_module(im.r, f, module, sizeof(module)), 0);
	cr_expect_str_eq(module, "asyncio.locks");
	/* a builtin bound to a _thread.lock: PyMethodDef's ml_name */
	cfunc = mk_obj(&im, "builtin_function_or_method", 56);
	def = img_alloc(&im.m, 32);
	name_c = img_alloc(&im.m, 16);
	put(&im.m, name_c, "__exit__", 9);
	put64(&im.m, def, name_c);
	put64(&im.m, cfunc + 16, def);
	put64(&im.m, cfunc + 24, lock);
	cr_assert_eq(pyobj__method(im.r, cfunc, &self, &f, name, sizeof(name)), 0);
	cr_expect(self == lock && f == 0 && !strcmp(name, "__exit__"));
	put64(&im.m, cfunc + 24, 0);	/* a builtin without self */
	cr_expect_eq(pyobj__method(im.r, cfunc, &self, &f, name, sizeof(name)), -EINVAL);
	put64(&im.m, meth + 16, lock);	/* a method whose function is not one */
	cr_expect_eq(pyobj__method(im.r, meth, &self, &f, name, sizeof(name)), -EINVAL);
	cr_expect_eq(pyobj__method(im.r, lock, &self, &f, name, sizeof(name)), -EINVAL);
	image_fini(&im);
}

/* ---- coroutine frames ---- */

/* co_exceptiontable of
 *	def f():
 *	    with la:
 *	        x = 1
 *	        with lb:
 *	            pass
 * from CPython 3.11: (start, end) -> depth, in bytes: (16, 36) 1, (36, 38) 2, (40, 64) 1,
 * (64, 72) 4, (72, 78) 1, (78, 80) 4, (80, 86) 1, (112, 120) 3, (126, 128) 3. */
static const uint8_t exc_table_311[] = {
	136, 10, 56, 3, 146, 1, 32, 5, 148, 12, 56, 3, 160, 4, 36, 9, 164, 3, 56, 3,
	167, 1, 36, 9, 168, 3, 56, 3, 184, 4, 60, 7, 191, 1, 60, 7,
};

Test(pyobj, exception_table_depths_as_cpython_finds_them)
{
	static const struct {
		uint32_t byte;
		int err;
		uint32_t depth;
	} cases[] = {
		{ 14, -ENOENT, 0 },	/* BEFORE_WITH la: no block open yet */
		{ 16, 0, 1 }, { 34, 0, 1 },	/* in `with la`, at BEFORE_WITH lb */
		{ 36, 0, 2 }, { 40, 0, 1 }, { 66, 0, 4 }, { 84, 0, 1 },
		{ 90, -ENOENT, 0 },	/* after the block */
		{ 126, 0, 3 }, { 128, -ENOENT, 0 }, { 4000, -ENOENT, 0 },
	};
	uint8_t bad[sizeof(exc_table_311)];
	uint32_t depth;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		depth = 0;
		cr_expect_eq(pyobj__exception_depth(exc_table_311, sizeof(exc_table_311),
						    cases[i].byte / 2, &depth),
			     cases[i].err, "byte %u", cases[i].byte);
		cr_expect_eq(depth, cases[i].depth, "byte %u", cases[i].byte);
	}
	/* an entry that does not start with bit 7, a varint that runs off the end */
	memcpy(bad, exc_table_311, sizeof(bad));
	bad[4] = 18;
	cr_expect_eq(pyobj__exception_depth(bad, sizeof(bad), 60, &depth), -EINVAL);
	cr_expect_eq(pyobj__exception_depth(exc_table_311, 2, 60, &depth), -EINVAL);
	bad[4] = 146;
	bad[sizeof(bad) - 1] = 64 | 7;
	cr_expect_eq(pyobj__exception_depth(bad, sizeof(bad), 90, &depth), -EINVAL);
	cr_expect_eq(pyobj__exception_depth(NULL, 0, 0, &depth), -ENOENT);
}

/* A suspended coroutine whose frame is at instruction 9 (a YIELD_VALUE, RESUME 3 next), inside
 * one `async with` (exception depth 1): locals [l0, l1], stack [exit, awaited]. */
struct coro_scene {
	uint64_t coro, frame, code, table, l0, exitm, awaited;
};

static void mk_coro(struct oimg *im, struct coro_scene *s)
{
	const uint8_t et[] = { 128 | 0, 12, 20, 3 };	/* units 0-11 -> depth 1 */
	uint64_t bytes;

	s->code = mk_obj(im, "code", 184 + 2 * 12);
	put64(&im->m, s->code + 16, 12);	/* 12 code units */
	put32(&im->m, s->code + 68, 4);	/* co_stacksize */
	put32(&im->m, s->code + 76, 2);	/* co_nlocalsplus */
	bytes = mk_obj(im, "bytes", 32 + sizeof(et));
	put64(&im->m, bytes + 16, sizeof(et));
	put(&im->m, bytes + 32, et, sizeof(et));
	put64(&im->m, s->code + 40, bytes);
	put8(&im->m, s->code + 184 + 18, 86);	/* YIELD_VALUE */
	put8(&im->m, s->code + 184 + 20, 151);	/* RESUME */
	put8(&im->m, s->code + 184 + 21, 3);
	s->coro = mk_obj(im, "coroutine", 80 + 72 + 6 * 8);
	put64(&im->m, s->coro + 40, mk_str(im, "transfer"));	/* qualname */
	put8(&im->m, s->coro + 75, (uint8_t)-1);		/* FRAME_SUSPENDED */
	s->frame = s->coro + 80;
	put64(&im->m, s->frame + 32, s->code);
	put64(&im->m, s->frame + 56, s->code + 184 + 18);
	put32(&im->m, s->frame + 64, 4);			/* stacktop: 2 locals + 2 */
	s->l0 = mk_obj(im, "Lock", 64);
	s->exitm = mk_obj(im, "method", 48);
	s->awaited = mk_obj(im, "coroutine", 160);
	put64(&im->m, s->frame + 72, s->l0);
	put64(&im->m, s->frame + 88, s->exitm);
	put64(&im->m, s->frame + 96, s->awaited);
}

Test(pyobj, suspended_coroutine_frame_stack_and_awaited)
{
	struct oimg im;
	struct coro_scene s;
	struct pyobj_stack st;
	enum pyobj_gen_state state;
	uint64_t frame, obj;
	char name[32];

	image_init(&im);
	mk_coro(&im, &s);
	cr_assert_eq(pyobj__gen_frame(im.r, s.coro, &frame, &state, name, sizeof(name)), 0);
	cr_expect(frame == s.frame && state == PYOBJ_GEN_SUSPENDED && !strcmp(name, "transfer"));
	cr_assert_eq(pyobj__frame_awaits(im.r, frame, &obj), 0);
	cr_expect_eq(obj, s.awaited);
	cr_assert_eq(pyobj__frame_stack(im.r, frame, &st), 0);
	cr_expect(st.nlive == 1 && st.live[0] == s.exitm && st.next == s.awaited);
	cr_expect_eq(st.opcode, 86);
	pyobj__frame_stack_clear(&st);
	cr_assert_eq(pyobj__frame_local(im.r, frame, 0, &obj), 0);
	cr_expect_eq(obj, s.l0);
	cr_expect_eq(pyobj__frame_local(im.r, frame, 1, &obj), -ENOENT);
	cr_expect_eq(pyobj__frame_local(im.r, frame, 2, &obj), -ERANGE);
	cr_expect_eq(pyobj__gen_frame(im.r, s.l0, &frame, &state, NULL, 0), -EINVAL);
	image_fini(&im);
}

Test(pyobj, damaged_coroutine_frames_give_errors)
{
	struct oimg im;
	struct coro_scene s;
	struct pyobj_stack st;
	uint64_t obj;

	image_init(&im);
	mk_coro(&im, &s);
	put32(&im.m, s.frame + 64, 99);	/* stacktop past the stack */
	cr_expect_eq(pyobj__frame_awaits(im.r, s.frame, &obj), -ENOENT);
	put32(&im.m, s.frame + 64, 2);	/* nothing on the stack */
	cr_expect_eq(pyobj__frame_awaits(im.r, s.frame, &obj), -ENOENT);
	put32(&im.m, s.frame + 64, 4);
	put8(&im.m, s.code + 184 + 21, 0);	/* RESUME 0: not suspended in an await */
	cr_expect_eq(pyobj__frame_awaits(im.r, s.frame, &obj), -ENOENT);
	put64(&im.m, s.frame + 56, s.code + 184 + 4000);	/* an instruction outside the code */
	cr_expect_eq(pyobj__frame_stack(im.r, s.frame, &st), -EINVAL);
	cr_expect(!st.live && !st.nlive);
	put64(&im.m, s.frame + 56, s.code + 184 + 18);
	put32(&im.m, s.code + 68, 1 << 30);	/* co_stacksize */
	cr_expect_eq(pyobj__frame_stack(im.r, s.frame, &st), -EINVAL);
	put32(&im.m, s.code + 68, 0);		/* a depth deeper than the stack */
	cr_expect_eq(pyobj__frame_stack(im.r, s.frame, &st), -EINVAL);
	put32(&im.m, s.code + 68, 4);
	put64(&im.m, s.code + 40, UNMAPPED);	/* no exception table */
	cr_expect_eq(pyobj__frame_stack(im.r, s.frame, &st), -EINVAL);
	put64(&im.m, s.frame + 32, s.l0);		/* not a code object */
	cr_expect_eq(pyobj__frame_stack(im.r, s.frame, &st), -EINVAL);
	cr_expect_eq(pyobj__frame_awaits(im.r, s.frame, &obj), -EINVAL);
	cr_expect_eq(pyobj__frame_stack(im.r, UNMAPPED, &st), -EFAULT);
	image_fini(&im);
}

Test(pyobj, versions_without_layouts_are_refused)
{
	struct oimg im;
	struct pyreader *r314;
	uint64_t rt;
	char why[200] = "", type[32];

	image_init(&im);
	rt = img_alloc(&im.m, 1024);	/* 3.14's debug offsets: the cookie, the version */
	put(&im.m, rt, "xdebugpy", 8);
	put64(&im.m, rt + 8, 0x030e00f0);
	r314 = pyreader__new_image(image_read, &im.m, rt, 0, why, sizeof(why));
	cr_assert(r314, "%s", why);
	cr_expect_eq(pyobj__supported(r314, why, sizeof(why)), -ENOTSUP);
	cr_expect(strstr(why, "3.14"), "%s", why);
	cr_expect_eq(pyobj__type_name(r314, im.none, type, sizeof(type)), -ENOTSUP);
	cr_expect_eq(pyobj__supported(im.r, NULL, 0), 0);
	pyreader__free(r314);
	image_fini(&im);
}

/* ---- 3.10 frames ---- */

static uint64_t mk_tuple(struct oimg *im, const uint64_t *items, size_t n)
{
	uint64_t t = mk_obj(im, "tuple", 24 + 8 * n + 8);

	put64(&im->m, t + 16, n);
	for (size_t i = 0; i < n; i++)
		put64(&im->m, t + 24 + 8 * i, items[i]);
	return t;
}

/* `def run(self, lock): lock.acquire(); return (lambda: self)` compiled by 3.10: self is a cell
 * variable, so its argument slot is emptied and its cell follows the two locals. The frame is
 * at instruction LASTI. */
struct f310 {
	uint64_t frame, code, self, lock;
};

static void mk_310(struct oimg *im, int32_t lasti, struct f310 *f)
{
	/* LOAD_FAST 1, LOAD_METHOD 0, CALL_METHOD 0, POP_TOP, LOAD_CONST 0, RETURN_VALUE */
	static const uint8_t code[] = {124, 1, 160, 0, 161, 0, 1, 0, 100, 0, 83, 0};
	uint64_t bytes = mk_obj(im, "bytes", 32 + sizeof(code) + 1), cell;
	uint64_t varnames[2] = {mk_str(im, "self"), mk_str(im, "lock")}, names[1];

	put64(&im->m, bytes + 16, sizeof(code));
	put(&im->m, bytes + 32, code, sizeof(code));
	names[0] = mk_str(im, "acquire");
	f->code = mk_obj(im, "code", 176);
	put32(&im->m, f->code + 16, 2);			/* co_argcount */
	put32(&im->m, f->code + 28, 2);			/* co_nlocals */
	put32(&im->m, f->code + 32, 4);			/* co_stacksize */
	put64(&im->m, f->code + 48, bytes);		/* co_code */
	put64(&im->m, f->code + 64, mk_tuple(im, names, 1));
	put64(&im->m, f->code + 72, mk_tuple(im, varnames, 2));
	put64(&im->m, f->code + 80, mk_tuple(im, NULL, 0));	/* co_freevars */
	put64(&im->m, f->code + 88, mk_tuple(im, varnames, 1));	/* co_cellvars: self */
	f->self = mk_obj(im, "Worker", 32);
	f->lock = mk_obj(im, "_thread.lock", 40);
	cell = mk_obj(im, "cell", 24);
	put64(&im->m, cell + 16, f->self);
	f->frame = mk_obj(im, "frame", 352 + 3 * 8);
	put64(&im->m, f->frame + 32, f->code);		/* f_code */
	put32(&im->m, f->frame + 96, (uint32_t)lasti);	/* f_lasti, in code units */
	put64(&im->m, f->frame + 352, 0);		/* self: moved into its cell */
	put64(&im->m, f->frame + 360, f->lock);
	put64(&im->m, f->frame + 368, cell);
}

Test(pyobj, frame_locals_310_an_argument_in_its_cell)
{
	uint64_t *vals = NULL, *names = NULL;
	struct oimg im;
	struct f310 f;
	char name[16];
	size_t n = 0;

	image_init_as(&im, V310);
	mk_310(&im, 4, &f);
	cr_assert_eq(pyobj__frame_locals(im.r, f.frame, &vals, &names, &n), 0);
	cr_assert_eq(n, 3, "locals, then cells: %zu", n);
	cr_expect_eq(vals[0], f.self, "self is read from its cell");
	cr_expect_eq(vals[1], f.lock);
	cr_expect_eq(vals[2], f.self);
	cr_expect(!pyreader__str(im.r, names[1], name, sizeof(name)) && !strcmp(name, "lock"));
	free(vals);
	free(names);
	image_fini(&im);
}

Test(pyobj, bytecode_310_acquire_that_returned_and_the_call_being_made)
{
	struct oimg im;
	struct f310 f;
	uint64_t held[4], obj = 0;
	char method[16] = "";

	image_init_as(&im, V310);
	mk_310(&im, 4, &f);	/* past `lock.acquire()` and its POP_TOP */
	cr_expect_eq(pycode__acquired(im.r, f.frame, false, held, 4), 1);
	cr_expect_eq(held[0], f.lock);
	cr_expect_eq(pycode__calling(im.r, f.frame, &obj, method, sizeof(method)), -ENOENT);
	put32(&im.m, f.frame + 96, 2);	/* in CALL_METHOD: acquiring, not holding */
	cr_expect_eq(pycode__acquired(im.r, f.frame, false, held, 4), 0);
	cr_expect_eq(pycode__calling(im.r, f.frame, &obj, method, sizeof(method)), 0);
	cr_expect_eq(obj, f.lock);
	cr_expect_str_eq(method, "acquire");
	image_fini(&im);
}

/* ---- a wait told by its frames as they were when it began (the frames are gone since) ---- */

/* A 3.10 code object of CODE (LEN bytes) naming NAME: no frame refers to it any more. */
static uint64_t mk_code_310(struct oimg *im, const uint8_t *code, size_t len, const char *name)
{
	uint64_t bytes = mk_obj(im, "bytes", 32 + len + 1), c, names[1] = {mk_str(im, name)};
	uint64_t varnames[2] = {mk_str(im, "self"), mk_str(im, "waiter")};

	put64(&im->m, bytes + 16, len);
	put(&im->m, bytes + 32, code, len);
	c = mk_obj(im, "code", 176);
	put32(&im->m, c + 16, 2);	/* co_argcount */
	put32(&im->m, c + 28, 2);	/* co_nlocals */
	put32(&im->m, c + 32, 4);	/* co_stacksize */
	put64(&im->m, c + 48, bytes);
	put64(&im->m, c + 64, mk_tuple(im, names, 1));
	put64(&im->m, c + 72, mk_tuple(im, varnames, 2));
	put64(&im->m, c + 80, mk_tuple(im, NULL, 0));
	put64(&im->m, c + 88, mk_tuple(im, NULL, 0));
	return c;
}

#define TH310 "/root/.pyenv/versions/3.10.13/lib/python3.10/threading.py"

/* Captured from 3.10 py_idioms.py's main thread in Thread.start, the handshake read too late
 * to confirm in the objects: Condition.wait's `waiter.acquire()` (a plain local's acquire) is
 * the start handshake; its `self._acquire_restore(state)` (an RLock's, in C) is contention on
 * the Condition's own lock, and a frame past its call proves nothing. */
Test(pywait_as_was, the_call_in_progress_tells_a_waiter_from_the_conditions_lock)
{
	/* LOAD_FAST 1 (waiter), LOAD_METHOD 0, CALL_METHOD 0, POP_TOP, LOAD_CONST 0, RETURN */
	static const uint8_t waiter[] = {124, 1, 160, 0, 161, 0, 1, 0, 100, 0, 83, 0};
	/* LOAD_FAST 0 (self), LOAD_METHOD 0, LOAD_FAST 1, CALL_METHOD 1, POP_TOP, ... */
	static const uint8_t restore[] = {124, 0, 160, 0, 124, 1, 161, 1, 1, 0, 100, 0, 83, 0};
	struct py_frame f[4] = {
	    {.func = "Condition.wait", .file = TH310},
	    {.func = "Event.wait", .file = TH310},
	    {.func = "Thread.start", .file = TH310},
	    {.func = "idioms", .file = "/work/tests/workloads/py_idioms.py"},
	};
	uint64_t code[4] = {0}, instr[4] = {0};
	struct pywait out;
	struct oimg im;

	image_init_as(&im, V310);
	code[0] = mk_code_310(&im, waiter, sizeof(waiter), "acquire");
	instr[0] = 2;	/* f_lasti: in CALL_METHOD */
	cr_assert_eq(pywait__classify_as_was(im.r, f, code, instr, 4, &out), 0);
	cr_expect_eq(out.kind, PYWAIT_START, "kind %s", pywait__kind_name(out.kind));
	cr_expect_eq(out.object, 0, "no object: the frames are gone");
	/* the same call under Event.wait alone: the event */
	cr_assert_eq(pywait__classify_as_was(im.r, f, code, instr, 2, &out), 0);
	cr_expect_eq(out.kind, PYWAIT_EVENT);
	instr[0] = 3;	/* past it (POP_TOP): no call in progress */
	cr_assert_eq(pywait__classify_as_was(im.r, f, code, instr, 4, &out), 0);
	cr_expect_eq(out.kind, PYWAIT_UNKNOWN);
	instr[0] = 99;	/* outside the code: another code's frame since */
	cr_assert_eq(pywait__classify_as_was(im.r, f, code, instr, 4, &out), 0);
	cr_expect_eq(out.kind, PYWAIT_UNKNOWN);
	code[0] = mk_code_310(&im, restore, sizeof(restore), "_acquire_restore");
	instr[0] = 3;	/* in CALL_METHOD 1 */
	cr_assert_eq(pywait__classify_as_was(im.r, f, code, instr, 4, &out), 0);
	cr_expect_eq(out.kind, PYWAIT_UNKNOWN, "the Condition's own lock is no handshake");
	/* a wait in the user's own code is never placed without its objects */
	code[0] = mk_code_310(&im, waiter, sizeof(waiter), "acquire");
	instr[0] = 2;
	cr_assert_eq(pywait__classify_as_was(im.r, &f[3], code, instr, 1, &out), 0);
	cr_expect_eq(out.kind, PYWAIT_UNKNOWN);
	image_fini(&im);
}

/* A 3.10 dict of str keys: keys object at 32; its dk_size at 8, dk_nentries at 32, one-byte
 * indices from 40, then {hash, key, value} entries. */
static uint64_t mk_dict_310(struct oimg *im, const char *key, uint64_t value)
{
	uint64_t d = mk_obj(im, "dict", 48), k = img_alloc(&im->m, 48 + 24);

	put64(&im->m, k + 8, 8);
	put64(&im->m, k + 32, 1);
	put8(&im->m, k + 40, 0);
	for (int i = 1; i < 8; i++)
		put8(&im->m, k + 40 + i, 0xff);	/* DKIX_EMPTY */
	put64(&im->m, k + 48 + 8, mk_str(im, key));
	put64(&im->m, k + 48 + 16, value);
	put64(&im->m, d + 16, 1);
	put64(&im->m, d + 32, k);
	return d;
}

/* 3.10 code objects have no qualified name: a method's comes from its instance's class, read
 * in a frame of it. A frame that cannot tell (seen as it was, gone since: its self slot
 * cleared) must not settle the name for good: a later live frame of the same code names it
 * (else every Condition.wait read after one handshake read too late was plain "wait", and
 * no wait was placed as a Condition's). */
Test(pyobj, qualname_310_is_not_settled_by_a_frame_gone)
{
	static const uint8_t code[] = {124, 0, 83, 0};	/* LOAD_FAST 0, RETURN_VALUE */
	uint64_t bytes, co, func, klass, self, dead, live, varnames[1], mro[1];
	struct py_frame f;
	struct oimg im;

	image_init_as(&im, V310);
	bytes = mk_obj(&im, "bytes", 32 + sizeof(code) + 1);
	put64(&im.m, bytes + 16, sizeof(code));
	put(&im.m, bytes + 32, code, sizeof(code));
	varnames[0] = mk_str(&im, "self");
	co = mk_obj(&im, "code", 176);
	put32(&im.m, co + 16, 1);			/* co_argcount */
	put32(&im.m, co + 28, 1);			/* co_nlocals */
	put32(&im.m, co + 40, 300);			/* co_firstlineno */
	put64(&im.m, co + 48, bytes);
	put64(&im.m, co + 72, mk_tuple(&im, varnames, 1));
	put64(&im.m, co + 80, mk_tuple(&im, NULL, 0));
	put64(&im.m, co + 88, mk_tuple(&im, NULL, 0));
	put64(&im.m, co + 104, mk_str(&im, "/usr/lib/python3.10/threading.py"));
	put64(&im.m, co + 112, mk_str(&im, "wait"));
	func = mk_obj(&im, "function", 160);
	put64(&im.m, func + 40, mk_str(&im, "Condition.wait"));	/* func_qualname */
	put64(&im.m, func + 48, co);				/* func_code */
	klass = mk_obj(&im, "type", 400);
	put64(&im.m, klass + 24, mk_str(&im, "Condition") + 48);	/* tp_name */
	put64(&im.m, klass + 264, mk_dict_310(&im, "wait", func));	/* tp_dict */
	mro[0] = klass;
	put64(&im.m, klass + 344, mk_tuple(&im, mro, 1));		/* tp_mro */
	self = img_alloc(&im.m, 32);
	put64(&im.m, self, 1);
	put64(&im.m, self + 8, klass);
	dead = mk_obj(&im, "frame", 352 + 8);
	put64(&im.m, dead + 32, co);
	put64(&im.m, dead + 352, 0);	/* returned: its locals cleared */
	live = mk_obj(&im, "frame", 352 + 8);
	put64(&im.m, live + 32, co);
	put64(&im.m, live + 352, self);
	cr_assert_eq(pyreader__frame_as(im.r, dead, co, 0, 0, &f), 0);
	cr_expect_str_eq(f.func, "wait", "no instance: the bare name, for now");
	pyreader__frame_clear(&f);
	cr_assert_eq(pyreader__frame_as(im.r, live, co, 0, 0, &f), 0);
	cr_expect_str_eq(f.func, "Condition.wait", "the next frame with its self names it");
	pyreader__frame_clear(&f);
	put64(&im.m, live + 352, 0);
	cr_assert_eq(pyreader__frame_as(im.r, live, co, 0, 0, &f), 0);
	cr_expect_str_eq(f.func, "Condition.wait", "settled once found");
	pyreader__frame_clear(&f);
	image_fini(&im);
}
