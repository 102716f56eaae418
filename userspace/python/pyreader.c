/* pyreader.c - CPython's thread states, frames, code and str objects read out of a target's memory:
 * finding _PyRuntime (.dynsym plus load bias), the offsets per version, bounded walks. */
#include "python/pyreader.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_INTERPS 64
#define MAX_STR 1024		/* bytes of a name or file name kept; longer ones are cut */
#define MAX_LINETABLE (256 << 10)	/* a location table is ~1 byte per instruction */
#define MAX_DICT 8192		/* entries scanned in one dict: sys.modules, module globals */
#define MAX_SPAN 512		/* bytes of one thread state, frame or code object read at once */
#define MAX_WALK (2 * PY_MAX_FRAMES + 2)	/* frames visited: 3.12+ add C-stack shims */
#define CODE_SLOTS 1024		/* code objects cached, direct-mapped by address */
#define USER_TOP (1ULL << 47)	/* x86-64 and arm64 user space, 4-level page tables */
#define STR_PEEK 64		/* str data read together with the header, to save a read */

/* type flags, Include/object.h (3.11+) */
#define TPFLAGS_INLINE_VALUES (1UL << 2)	/* 3.13+ */
#define TPFLAGS_MANAGED_DICT (1UL << 4)

/* PyDictKeysObject, unchanged from 3.11 to 3.14 (not in the 3.13 debug offsets) */
#define DK_LOG2_SIZE 8
#define DK_LOG2_INDEX_BYTES 9
#define DK_KIND 10
#define DK_NENTRIES 24
#define DK_INDICES 32
#define DK_KIND_GENERAL 0	/* entries {hash, key, value}; else {key, value} */

/* 3.10's PyDictKeysObject: dk_size itself, entries always {hash, key, value}, indices as wide
 * as the size needs (Objects/dict-common.h) */
#define DK310_SIZE 8
#define DK310_NENTRIES 32
#define DK310_INDICES 40

#define FRAME_OWNED_BY_GENERATOR 1	/* 3.11 to 3.14 */

/* How an instance keeps its attributes, for threading.Thread._name. */
enum inst_dict {
	INST_DICT_310,		/* the dict at tp_dictoffset only */
	INST_DICT_311,		/* values at obj-32, dict at obj-24 */
	INST_DICT_312,		/* obj-24: the dict, or the values array tagged with its low bit */
	INST_INLINE_313,	/* dict at obj-24; values after tp_basicsize, 8-byte header */
};

/* Where one CPython version keeps what the reader needs: byte offsets, -1 where the version
 * has no such field. One row per minor version before 3.13; from 3.13 on the interpreter
 * publishes most of these in _Py_DebugOffsets and the row is built from them. */
struct py_layout {
	uint32_t minor;
	/* _PyRuntimeState */
	int32_t rt_interp_head;
	int32_t rt_gil;			/* the GIL's state embedded here (3.11), or -1 */
	/* PyInterpreterState */
	int32_t is_next, is_threads_head, is_modules;
	int32_t is_gil_ptr;		/* pointer to the GIL's state (3.12+), or -1 */
	/* struct _gil_runtime_state */
	int32_t gil_holder, gil_locked, gil_size;
	/* PyThreadState; ts_frame is inside the _PyCFrame at ts_cframe where there is one */
	int32_t ts_next, ts_interp, ts_cframe, ts_frame, ts_thread_id, ts_native_id;
	/* _PyInterpreterFrame */
	int32_t fr_code, fr_previous, fr_instr, fr_owner, fr_is_entry;
	int32_t fr_owner_shim;		/* owners from this value up are C-stack shims; 0: none */
	bool fr_code_tagged;		/* f_executable is a _PyStackRef (3.14): low bits tag */
	/* PyCodeObject; co_size is ob_size, the bytecode's length in 2-byte code units */
	int32_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno;
	int32_t co_code;		/* co_code_adaptive, where prev_instr/instr_ptr point */
	int32_t co_firsttraceable;	/* code units before the first traceable one (RESUME) */
	/* str, bytes, int, type, dict, module */
	int32_t str_length, str_state, str_ascii_data, str_compact_data;
	int32_t bytes_size, bytes_data;
	int32_t long_size, long_digits;
	bool long_tagged;		/* 3.12+: lv_tag = ndigits << 3 | sign */
	int32_t tp_name, tp_basicsize, tp_flags, tp_dictoffset, ht_cached_keys;
	int32_t dict_keys, dict_values, values_hdr;
	int32_t mod_dict;
	enum inst_dict inst_dict;
	/* 3.10: frames are PyFrameObjects, one run of the interpreter loop each; fr_instr is
	 * f_lasti, the instruction's index in code units; co_code points to a bytes object; the
	 * location table is the 3.10 format; dict keys have no log2 sizes; thread states have
	 * no native ids (ts_native_id -1). The rest reads the defining class's function for the
	 * qualified name that the code object lacks. */
	bool v310;
	int32_t rt_main_thread;		/* ident of the main thread; -1 after 3.10 */
	int32_t co_argcount, co_varnames, fr_localsplus, tp_dict, tp_mro, func_code,
		func_qualname, tuple_items;
	int32_t co_nlocals, co_cellvars, co_cell2arg;	/* an argument a closure uses */
};

/* 3.10: `ptype/o` in gdb over the debug info of the pyenv 3.10.13 build (libpython3.10.so.1.0). */
static const struct py_layout layout_310 = {
	.minor = 10,
	.rt_interp_head = 32, .rt_gil = 352,
	.is_next = 0, .is_threads_head = 8, .is_modules = 856, .is_gil_ptr = -1,
	.gil_holder = 8, .gil_locked = 16, .gil_size = 208,
	.ts_next = 8, .ts_interp = 16, .ts_cframe = -1, .ts_frame = 24,
	.ts_thread_id = 176, .ts_native_id = -1,
	.fr_code = 32, .fr_previous = 24, .fr_instr = 96, .fr_owner = -1, .fr_is_entry = -1,
	.fr_owner_shim = 0,
	.co_size = -1, .co_filename = 104, .co_name = 112, .co_qualname = -1,
	.co_linetable = 120, .co_firstlineno = 40, .co_code = 48, .co_firsttraceable = -1,
	.str_length = 16, .str_state = 32, .str_ascii_data = 48, .str_compact_data = 72,
	.bytes_size = 16, .bytes_data = 32,
	.long_size = 16, .long_digits = 24, .long_tagged = false,
	.tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
	.ht_cached_keys = -1,
	.dict_keys = 32, .dict_values = 40, .values_hdr = 0,
	.mod_dict = 16, .inst_dict = INST_DICT_310,
	.v310 = true, .rt_main_thread = 72,
	.co_argcount = 16, .co_varnames = 72, .fr_localsplus = 352, .tp_dict = 264, .tp_mro = 344,
	.func_code = 48, .func_qualname = 40, .tuple_items = 24,
	.co_nlocals = 28, .co_cellvars = 88, .co_cell2arg = 96,
};

/* 3.11: `ptype/o` in gdb over the debug info of the pyenv 3.11.7 build (libpython3.11.so.1.0).
 * Debian's static, stripped 3.11.2 has the same layout: the live tests read both. */
static const struct py_layout layout_311 = {
	.minor = 11,
	.rt_interp_head = 40, .rt_gil = 360,
	.is_next = 0, .is_threads_head = 16, .is_modules = 888, .is_gil_ptr = -1,
	.gil_holder = 8, .gil_locked = 16, .gil_size = 208,
	.ts_next = 8, .ts_interp = 16, .ts_cframe = 56, .ts_frame = 8,
	.ts_thread_id = 152, .ts_native_id = 160,
	.fr_code = 32, .fr_previous = 48, .fr_instr = 56, .fr_owner = 69, .fr_is_entry = 68,
	.fr_owner_shim = 0,
	.co_size = 16, .co_filename = 112, .co_name = 120, .co_qualname = 128,
	.co_linetable = 136, .co_firstlineno = 72, .co_code = 184, .co_firsttraceable = 168,
	.str_length = 16, .str_state = 32, .str_ascii_data = 48, .str_compact_data = 72,
	.bytes_size = 16, .bytes_data = 32,
	.long_size = 16, .long_digits = 24, .long_tagged = false,
	.tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
	.ht_cached_keys = 872,
	.dict_keys = 32, .dict_values = 40, .values_hdr = 0,
	.mod_dict = 16, .inst_dict = INST_DICT_311, .rt_main_thread = -1,
};

/* 3.12: the same, from the pyenv 3.12.1 build. The GIL moved into the interpreter state, the
 * C-stack shim frame (owner 3) replaced is_entry, PyASCIIObject lost wstr. */
static const struct py_layout layout_312 = {
	.minor = 12,
	.rt_interp_head = 40, .rt_gil = -1,
	.is_next = 0, .is_threads_head = 72, .is_modules = 944, .is_gil_ptr = 384,
	.gil_holder = 8, .gil_locked = 16, .gil_size = 208,
	.ts_next = 8, .ts_interp = 16, .ts_cframe = 56, .ts_frame = 0,
	.ts_thread_id = 136, .ts_native_id = 144,
	.fr_code = 0, .fr_previous = 8, .fr_instr = 56, .fr_owner = 70, .fr_is_entry = -1,
	.fr_owner_shim = 3,
	.co_size = 16, .co_filename = 112, .co_name = 120, .co_qualname = 128,
	.co_linetable = 136, .co_firstlineno = 68, .co_code = 192, .co_firsttraceable = 176,
	.str_length = 16, .str_state = 32, .str_ascii_data = 40, .str_compact_data = 56,
	.bytes_size = 16, .bytes_data = 32,
	.long_size = 16, .long_digits = 24, .long_tagged = true,
	.tp_name = 24, .tp_basicsize = 32, .tp_flags = 168, .tp_dictoffset = 288,
	.ht_cached_keys = 880,
	.dict_keys = 32, .dict_values = 40, .values_hdr = 0,
	.mod_dict = 16, .inst_dict = INST_DICT_312, .rt_main_thread = -1,
};

/* The layout of _Py_DebugOffsets itself changes with each minor version: the word index (of
 * uint64_t words from the start of _PyRuntime) of each field we use. 3.13 from the 3.13.0
 * build's debug info; 3.14 from its header (Include/internal/pycore_debug_offsets.h), not
 * tested here. The offsets inside are the interpreter's own. */
struct dbg_layout {
	uint32_t minor;
	uint8_t nwords;
	uint8_t version, free_threaded, rt_interp_head;
	uint8_t is_next, is_threads_head, is_modules, is_gil_ptr, is_gil, is_gil_locked;
	uint8_t is_gil_holder;
	uint8_t ts_next, ts_interp, ts_frame, ts_thread_id, ts_native_id;
	uint8_t fr_previous, fr_code, fr_instr, fr_owner;
	uint8_t co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_code;
	uint8_t tp_size, tp_name, tp_flags;
	uint8_t dict_keys, dict_values;
	uint8_t long_tag, long_digits;
	uint8_t bytes_size, bytes_data;
	uint8_t str_state, str_length, str_ascii_size;
};

static const struct dbg_layout dbg_layouts[] = {
	{ .minor = 13, .nwords = 73, .version = 1, .free_threaded = 2, .rt_interp_head = 5,
	  .is_next = 8, .is_threads_head = 9, .is_modules = 11, .is_gil_ptr = 14, .is_gil = 15,
	  .is_gil_locked = 17, .is_gil_holder = 18,
	  .ts_next = 21, .ts_interp = 22, .ts_frame = 23, .ts_thread_id = 24, .ts_native_id = 25,
	  .fr_previous = 29, .fr_code = 30, .fr_instr = 31, .fr_owner = 33,
	  .co_filename = 35, .co_name = 36, .co_qualname = 37, .co_linetable = 38,
	  .co_firstlineno = 39, .co_code = 43,
	  .tp_size = 46, .tp_name = 47, .tp_flags = 49, .dict_keys = 57, .dict_values = 58,
	  .long_tag = 62, .long_digits = 63, .bytes_size = 65, .bytes_data = 66,
	  .str_state = 68, .str_length = 69, .str_ascii_size = 70 },
	{ .minor = 14, .nwords = 95, .version = 1, .free_threaded = 2, .rt_interp_head = 5,
	  .is_next = 8, .is_threads_head = 9, .is_modules = 12, .is_gil_ptr = 15, .is_gil = 16,
	  .is_gil_locked = 18, .is_gil_holder = 19,
	  .ts_next = 24, .ts_interp = 25, .ts_frame = 26, .ts_thread_id = 27, .ts_native_id = 28,
	  .fr_previous = 32, .fr_code = 33, .fr_instr = 34, .fr_owner = 36,
	  .co_filename = 40, .co_name = 41, .co_qualname = 42, .co_linetable = 43,
	  .co_firstlineno = 44, .co_code = 48,
	  .tp_size = 52, .tp_name = 53, .tp_flags = 55, .dict_keys = 67, .dict_values = 68,
	  .long_tag = 72, .long_digits = 73, .bytes_size = 75, .bytes_data = 76,
	  .str_state = 78, .str_length = 79, .str_ascii_size = 80 },
};

/* One code object's names and location table, kept while its address holds the same object. */
struct code_entry {
	uint64_t addr;
	uint64_t filename, name, linetable;	/* a reused address shows other pointers here */
	int32_t firstlineno;
	uint64_t nbytes;			/* bytecode length */
	uint64_t traceable;			/* bytes before the first traceable instruction */
	char *func, *file;
	uint8_t *lt;				/* NULL if the table could not be read */
	uint32_t lt_len;
	bool qual_done;				/* 3.10: qualname_310() settled it */
	uint8_t qual_tries;			/* ... frames it asked without settling it */
	bool qual_module;			/* ... its module's classes asked */
};

struct ident_tid {
	uint64_t ident;
	pid_t tid;
};

struct pyreader {
	pid_t pid;			/* 0 for an image */
	int mem_fd;			/* /proc/PID/mem once process_vm_readv(2) was refused */
	py_read_fn read;
	void *ctx;
	uint64_t runtime;
	uint32_t version;
	bool debug_offsets;
	char *object;
	struct py_layout lay;
	size_t ts_span, fr_span, co_span;
	/* type objects verified by name, so that each is read once */
	uint64_t code_type, str_type, bytes_type, dict_type, long_type, func_type, tuple_type;
	uint64_t active_dict;			/* threading._active, once found */
	struct ident_tid *idents;		/* 3.10: native ids by thread ident */
	size_t nidents, idents_cap;
	bool idents_fresh;			/* looked up in this walk of the threads */
	struct code_entry *codes;		/* CODE_SLOTS */
	struct py_stats stats;
};

/* ---- small helpers ---- */

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static uint64_t get_u64(const uint8_t *b, int32_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static int32_t get_i32(const uint8_t *b, int32_t off)
{
	int32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static size_t span_of(const int32_t *offs, size_t n, size_t width)
{
	int32_t max = -1;

	for (size_t i = 0; i < n; i++)
		if (offs[i] > max)
			max = offs[i];
	return max < 0 ? 0 : (size_t)max + width;
}

static bool addr_ok(uint64_t a, size_t len)
{
	return a >= 4096 && a < USER_TOP && len <= USER_TOP - a;
}

/* Objects, thread states and frames are at least 8-aligned: anything else is a torn value. */
static bool ptr_ok(uint64_t p)
{
	return addr_ok(p, 8) && !(p & 7);
}

static char *dup_or(const char *s, const char *fallback)
{
	return strdup(s ? s : fallback);
}

/* ---- reading the target ---- */

static int live_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct pyreader *r = ctx;
	char path[64];
	ssize_t got;

	if (r->mem_fd < 0) {
		/* one remote iovec: the kernel never moves part of one, so this is all or none */
		struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };

		got = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
		if (got == (ssize_t)len)
			return 0;
		if (got >= 0 || (errno != ENOSYS && errno != EPERM))
			return got < 0 && errno == ESRCH ? -ESRCH : -EFAULT;
		/* seccomp profiles that filter process_vm_readv(2) leave /proc/PID/mem */
		snprintf(path, sizeof(path), "/proc/%d/mem", r->pid);
		r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->mem_fd < 0)
			return -errno;
	}
	got = pread(r->mem_fd, buf, len, (off_t)addr);
	if (got == (ssize_t)len)
		return 0;
	return got < 0 && errno == ESRCH ? -ESRCH : -EFAULT;
}

static int mem_read(struct pyreader *r, uint64_t addr, void *buf, size_t len)
{
	int err = addr_ok(addr, len) ? r->read(r->ctx, addr, buf, len) : -EFAULT;

	r->stats.reads++;
	if (err)
		r->stats.read_errors++;
	return err;
}

static int read_u64(struct pyreader *r, uint64_t addr, uint64_t *out)
{
	return mem_read(r, addr, out, sizeof(*out));
}

/* ---- objects ---- */

/* True if TYPE is the type named NAME. The first type that matches is cached in *CACHE, so a
 * walk reads each type's name once; a wild pointer costs one failed read. */
static bool type_is(struct pyreader *r, uint64_t type, uint64_t *cache, const char *name)
{
	char buf[16];
	uint64_t tp_name;
	size_t n = strlen(name) + 1;

	if (*cache)
		return type == *cache;
	if (!ptr_ok(type) || read_u64(r, type + r->lay.tp_name, &tp_name) ||
	    mem_read(r, tp_name, buf, n) || memcmp(buf, name, n))
		return false;
	*cache = type;
	return true;
}

static bool obj_is(struct pyreader *r, uint64_t obj, uint64_t *cache, const char *name)
{
	uint64_t type;

	return ptr_ok(obj) && !read_u64(r, obj + 8, &type) && type_is(r, type, cache, name);
}

/* Appends code point C as UTF-8 to BUF (capacity CAP, at *LEN), dropping what does not fit. */
static void put_utf8(char *buf, size_t cap, size_t *len, uint32_t c)
{
	char tmp[4];
	size_t n;

	if ((c >= 0xd800 && c < 0xe000) || c > 0x10ffff)
		c = '?';	/* a lone surrogate or a torn value: not valid UTF-8 */
	if (c < 0x80) {
		tmp[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		tmp[0] = (char)(0xc0 | c >> 6);
		tmp[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		tmp[0] = (char)(0xe0 | c >> 12);
		tmp[1] = (char)(0x80 | (c >> 6 & 0x3f));
		tmp[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		tmp[0] = (char)(0xf0 | c >> 18);
		tmp[1] = (char)(0x80 | (c >> 12 & 0x3f));
		tmp[2] = (char)(0x80 | (c >> 6 & 0x3f));
		tmp[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	if (*len + n < cap) {
		memcpy(buf + *len, tmp, n);
		*len += n;
	}
}

/* The str object at ADDR as UTF-8 in BUF, cut to CAP - 1 bytes (CAP <= MAX_STR + 1). 0, or
 * -EINVAL if it is not a compact str (code names, file names and attribute names are). */
static int read_str(struct pyreader *r, uint64_t addr, char *buf, size_t cap)
{
	const struct py_layout *l = &r->lay;
	uint8_t hdr[128 + STR_PEEK], data[MAX_STR * 4];
	uint32_t state, kind;
	int64_t length;
	size_t off, n, have, out = 0;
	int err;

	if (!obj_is(r, addr, &r->str_type, "str"))
		return -EINVAL;
	/* header and the start of the data in one read; short strings need no second one */
	have = (size_t)l->str_compact_data + STR_PEEK;
	if (mem_read(r, addr, hdr, have)) {
		have = (size_t)l->str_ascii_data;	/* the smallest str: near a mapping's end */
		if ((err = mem_read(r, addr, hdr, have)))
			return err;
	}
	memcpy(&state, hdr + l->str_state, sizeof(state));
	memcpy(&length, hdr + l->str_length, sizeof(length));
	kind = state >> 2 & 7;
	/* no str is near 2^28 code points: a bigger length is a torn or wild object */
	if (!(state >> 5 & 1) || length < 0 || length > (1 << 28) ||
	    (kind != 1 && kind != 2 && kind != 4))
		return -EINVAL;
	off = state >> 6 & 1 ? (size_t)l->str_ascii_data : (size_t)l->str_compact_data;
	n = (size_t)(length < MAX_STR ? length : MAX_STR) * kind;
	if (off + n <= have)
		memcpy(data, hdr + off, n);
	else if ((err = mem_read(r, addr + off, data, n)))
		return err;
	for (size_t i = 0; i < n; i += kind) {
		uint32_t c = data[i];
		uint16_t c2;

		if (kind == 2) {
			memcpy(&c2, data + i, 2);
			c = c2;
		} else if (kind == 4) {
			memcpy(&c, data + i, 4);
		}
		put_utf8(buf, cap, &out, c);
	}
	buf[out] = '\0';
	return 0;
}

static bool str_equals(struct pyreader *r, uint64_t addr, const char *s)
{
	char buf[64];

	return !read_str(r, addr, buf, sizeof(buf)) && !strcmp(buf, s);
}

/* The bytes object at ADDR, up to MAX bytes, in a new buffer (*out, *len). 0 or -errno. */
static int read_bytes(struct pyreader *r, uint64_t addr, size_t max, uint8_t **out, uint32_t *len)
{
	int64_t size;
	int err;

	if (!obj_is(r, addr, &r->bytes_type, "bytes"))
		return -EINVAL;
	if ((err = mem_read(r, addr + r->lay.bytes_size, &size, sizeof(size))))
		return err;
	if (size < 0 || (uint64_t)size > max)
		return -E2BIG;
	*out = malloc(size ? (size_t)size : 1);
	if (!*out)
		return -ENOMEM;
	if ((err = mem_read(r, addr + r->lay.bytes_data, *out, (size_t)size))) {
		free(*out);
		*out = NULL;
		return err;
	}
	*len = (uint32_t)size;
	return 0;
}

/* The non-negative int object at ADDR that fits 64 bits (threading's thread idents). */
static int read_long(struct pyreader *r, uint64_t addr, uint64_t *out)
{
	const struct py_layout *l = &r->lay;
	uint32_t digits[3];
	int64_t size;
	uint64_t v = 0;
	size_t nd;
	int err;

	if (!obj_is(r, addr, &r->long_type, "int"))
		return -EINVAL;
	if ((err = mem_read(r, addr + l->long_size, &size, sizeof(size))))
		return err;
	if (l->long_tagged) {
		if ((size & 3) == 2)
			return -ERANGE;	/* negative */
		nd = (size & 3) == 1 ? 0 : (uint64_t)size >> 3;
	} else {
		if (size < 0)
			return -ERANGE;
		nd = (size_t)size;
	}
	if (nd > 3)
		return -ERANGE;
	if (nd && (err = mem_read(r, addr + l->long_digits, digits, nd * sizeof(digits[0]))))
		return err;
	for (size_t i = nd; i-- > 0;) {
		if (v >> 34)	/* 30-bit digits: the next shift would lose bits */
			return -ERANGE;
		v = v << 30 | (digits[i] & 0x3fffffff);
	}
	*out = v;
	return 0;
}

/* ---- dicts ---- */

struct dict_items {
	size_t n;
	uint64_t *keys, *values;	/* NULL where the slot is empty */
};

static void dict_items_free(struct dict_items *d)
{
	free(d->keys);
	free(d->values);
	memset(d, 0, sizeof(*d));
}

/* Where the entries of the keys object whose header is HDR start, their count and size. */
static int keys_shape(const struct pyreader *r, const uint8_t *hdr, uint64_t *entries, size_t *n,
		      size_t *esize)
{
	int64_t nent, size;

	if (r->lay.v310) {
		memcpy(&size, hdr + DK310_SIZE, sizeof(size));
		memcpy(&nent, hdr + DK310_NENTRIES, sizeof(nent));
		if (size < 8 || size > (1 << 30) || (size & (size - 1)) || nent < 0 ||
		    nent > MAX_DICT || nent > size)
			return -EINVAL;
		*entries = DK310_INDICES +
			   (uint64_t)size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : 4);
		*n = (size_t)nent;
		*esize = 24;
		return 0;
	}
	memcpy(&nent, hdr + DK_NENTRIES, sizeof(nent));
	if (hdr[DK_LOG2_SIZE] > 30 || hdr[DK_LOG2_INDEX_BYTES] < hdr[DK_LOG2_SIZE] ||
	    hdr[DK_LOG2_INDEX_BYTES] > hdr[DK_LOG2_SIZE] + 3 || hdr[DK_KIND] > 2 || nent < 0 ||
	    nent > MAX_DICT || nent > (int64_t)1 << hdr[DK_LOG2_SIZE])
		return -EINVAL;
	*entries = DK_INDICES + ((uint64_t)1 << hdr[DK_LOG2_INDEX_BYTES]);
	*n = (size_t)nent;
	*esize = hdr[DK_KIND] == DK_KIND_GENERAL ? 24 : 16;
	return 0;
}

/* The (key, value) pairs of the keys object at KEYS; values from VALUES (a split table's
 * values array) where that is not 0. 0 or -errno; bounded by MAX_DICT. */
static int keys_items(struct pyreader *r, uint64_t keys, uint64_t values, struct dict_items *d)
{
	uint8_t hdr[DK310_INDICES], *ents = NULL;
	uint64_t entries;
	size_t esize, n;
	int err;

	memset(d, 0, sizeof(*d));
	if (!ptr_ok(keys) || (err = mem_read(r, keys, hdr, sizeof(hdr))))
		return -EFAULT;
	if ((err = keys_shape(r, hdr, &entries, &n, &esize)))
		return err;
	d->keys = calloc(n + 1, sizeof(uint64_t));
	d->values = calloc(n + 1, sizeof(uint64_t));
	ents = malloc(n * esize + 1);
	err = -ENOMEM;
	if (!d->keys || !d->values || !ents)
		goto cleanup;
	err = mem_read(r, keys + entries, ents, n * esize);
	if (!err && values)
		err = mem_read(r, values + r->lay.values_hdr, d->values, n * sizeof(uint64_t));
	if (err)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = ents + i * esize + (esize == 24 ? 8 : 0);

		d->keys[i] = get_u64(e, 0);
		if (!values)
			d->values[i] = get_u64(e, 8);
	}
	d->n = n;
cleanup:
	free(ents);
	if (err)
		dict_items_free(d);
	return err;
}

static int dict_items(struct pyreader *r, uint64_t dict, struct dict_items *d)
{
	uint64_t keys, values;

	memset(d, 0, sizeof(*d));
	if (!obj_is(r, dict, &r->dict_type, "dict") ||
	    read_u64(r, dict + r->lay.dict_keys, &keys) ||
	    read_u64(r, dict + r->lay.dict_values, &values))
		return -EINVAL;
	return keys_items(r, keys, values, d);
}

/* The slot of the str key NAME in D: 0 with *IDX, or -ENOENT. */
static int items_find(struct pyreader *r, const struct dict_items *d, const char *name,
		      size_t *idx)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->keys[i] && str_equals(r, d->keys[i], name)) {
			*idx = i;
			return 0;
		}
	}
	return -ENOENT;
}

static int dict_find(struct pyreader *r, uint64_t dict, const char *name, uint64_t *val)
{
	struct dict_items d;
	size_t idx;
	int err = dict_items(r, dict, &d);

	if (!err)
		err = items_find(r, &d, name, &idx);
	if (!err)
		*val = d.values[idx];
	dict_items_free(&d);
	return err ? err : *val ? 0 : -ENOENT;
}

/* The attributes of an instance with a managed dict (3.11+): the dict before the object, or the
 * values of a split table (before the object in 3.11 and 3.12, after it in 3.13+), with the
 * type's shared keys. */
static int managed_items(struct pyreader *r, uint64_t obj, uint64_t type, uint64_t flags,
			 struct dict_items *d)
{
	const struct py_layout *l = &r->lay;
	uint64_t keys, pre[2];	/* pre[0] at obj-32, pre[1] at obj-24 */
	int64_t basic;
	uint8_t valid;

	memset(d, 0, sizeof(*d));
	if (read_u64(r, type + l->ht_cached_keys, &keys) || mem_read(r, obj - 32, pre, sizeof(pre)))
		return -EFAULT;
	if (l->inst_dict == INST_DICT_312 && (pre[1] & 1))	/* values - 1, tagged */
		return ptr_ok((pre[1] + 4) & ~7ULL) ? keys_items(r, keys, (pre[1] + 4) & ~7ULL, d)
						     : -EFAULT;
	if (pre[1])
		return dict_items(r, pre[1], d);
	if (l->inst_dict == INST_DICT_311)
		return ptr_ok(pre[0]) ? keys_items(r, keys, pre[0], d) : -EFAULT;
	if (l->inst_dict != INST_INLINE_313 || !(flags & TPFLAGS_INLINE_VALUES) ||
	    mem_read(r, type + l->tp_basicsize, &basic, sizeof(basic)) || basic <= 0 ||
	    basic > 4096 || mem_read(r, obj + basic + 3, &valid, 1) || !valid)
		return -ENOENT;
	return keys_items(r, keys, obj + basic, d);
}

/* The attributes of the object at OBJ (a plain Python class instance): its __dict__'s items. */
static int inst_items(struct pyreader *r, uint64_t obj, struct dict_items *d)
{
	const struct py_layout *l = &r->lay;
	uint64_t type, flags, dict;
	int64_t dictoff;

	memset(d, 0, sizeof(*d));
	if (!ptr_ok(obj) || read_u64(r, obj + 8, &type) || !ptr_ok(type) ||
	    read_u64(r, type + l->tp_flags, &flags))
		return -EFAULT;
	if (l->inst_dict != INST_DICT_310 && (flags & TPFLAGS_MANAGED_DICT))
		return managed_items(r, obj, type, flags, d);
	if (mem_read(r, type + l->tp_dictoffset, &dictoff, sizeof(dictoff)) || dictoff <= 0 ||
	    dictoff > 4096 || read_u64(r, obj + dictoff, &dict))
		return -ENOENT;
	return dict_items(r, dict, d);
}

/* Instance attribute NAME of the object at OBJ. */
static int inst_attr(struct pyreader *r, uint64_t obj, const char *name, uint64_t *val)
{
	struct dict_items d;
	size_t idx;
	int err = inst_items(r, obj, &d);

	if (!err)
		err = items_find(r, &d, name, &idx);
	if (!err)
		*val = d.values[idx];
	dict_items_free(&d);
	return err ? err : *val ? 0 : -ENOENT;
}

/* ---- code objects and lines ---- */

static int scan_varint(const uint8_t *p, size_t len, size_t *i, uint32_t *out)
{
	uint32_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		if (*i >= len || shift > 24)
			return -1;
		b = p[(*i)++];
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = v;
	return 0;
}

/* The line delta an entry carries (Objects/locations.md): -2 on a malformed entry. */
static int entry_delta(const uint8_t *t, size_t len, size_t at, int *delta)
{
	int code = t[at] >> 3 & 15;
	size_t i = at + 1;
	uint32_t u;

	if (code == 13 || code == 14) {	/* no columns / long form: a signed varint */
		if (scan_varint(t, len, &i, &u))
			return -2;
		*delta = u & 1 ? -(int)(u >> 1) : (int)(u >> 1);
	} else {
		*delta = code >= 10 && code <= 12 ? code - 10 : 0;	/* one-line forms */
	}
	return 0;
}

int pyreader__linetable_line(const uint8_t *t, size_t len, int firstlineno, int addrq)
{
	int line = firstlineno, ar_line = -1, delta;
	long end = 0;
	size_t at = 0;

	if (addrq < 0)
		return firstlineno;
	while (end <= addrq) {
		if (at >= len || !(t[at] & 0x80))
			return -2;
		if (entry_delta(t, len, at, &delta))
			return -2;
		line += delta;
		ar_line = (t[at] >> 3) == 0x1f ? -1 : line;	/* code 15: no location */
		end += ((t[at] & 7) + 1) * 2;
		do
			at++;
		while (at < len && !(t[at] & 0x80));
	}
	return ar_line;
}

/* 3.10's table (Objects/lnotab_notes.txt): byte pairs (bytecode delta, signed line delta), a
 * line delta of -128 for no line; ranges of no bytes are skipped, as PyCode_Addr2Line does. */
int pyreader__linetable310_line(const uint8_t *t, size_t len, int firstlineno, int addrq)
{
	int line = firstlineno, ar_line = -1;
	long start = -1, end = 0;
	size_t at = 0;

	if (addrq < 0)
		return firstlineno;
	while (end <= addrq) {
		do {
			if (at + 2 > len)
				return -2;
			start = end;
			end += t[at];
			if ((int8_t)t[at + 1] == -128) {
				ar_line = -1;
			} else {
				line += (int8_t)t[at + 1];
				ar_line = line;
			}
			at += 2;
		} while (start == end);
	}
	return ar_line;
}

static void code_entry_clear(struct code_entry *c)
{
	free(c->func);
	free(c->file);
	free(c->lt);
	memset(c, 0, sizeof(*c));
}

static int code_entry_fill(struct pyreader *r, struct code_entry *c)
{
	char buf[MAX_STR + 1];

	if (read_str(r, c->name, buf, sizeof(buf)))
		strcpy(buf, "?");
	c->func = strdup(buf);
	if (read_str(r, c->filename, buf, sizeof(buf)))
		strcpy(buf, "?");
	c->file = strdup(buf);
	if (!c->func || !c->file)
		return -ENOMEM;
	if (read_bytes(r, c->linetable, MAX_LINETABLE, &c->lt, &c->lt_len) == -ENOMEM)
		return -ENOMEM;
	return 0;
}

/* The code object at ADDR, from the cache while the object there is still the same one.
 * NULL if ADDR holds no code object (*err 0) or on ENOMEM (*err -ENOMEM). */
static struct code_entry *code_get(struct pyreader *r, uint64_t addr, int *err)
{
	const struct py_layout *l = &r->lay;
	uint8_t hdr[MAX_SPAN];
	struct code_entry *c = &r->codes[(addr >> 4) % CODE_SLOTS], key = { .addr = addr };
	int64_t units;

	*err = 0;
	if (!ptr_ok(addr) || mem_read(r, addr, hdr, r->co_span) ||
	    !type_is(r, get_u64(hdr, 8), &r->code_type, "code"))
		return NULL;
	key.filename = get_u64(hdr, l->co_filename);
	key.name = get_u64(hdr, l->co_qualname >= 0 ? l->co_qualname : l->co_name);
	key.linetable = get_u64(hdr, l->co_linetable);
	key.firstlineno = get_i32(hdr, l->co_firstlineno);
	if (l->v310) {	/* the bytecode is a bytes object of its own */
		if (mem_read(r, get_u64(hdr, l->co_code) + l->bytes_size, &units, sizeof(units)))
			units = 0;
		units /= 2;
	} else {
		memcpy(&units, hdr + l->co_size, sizeof(units));
	}
	key.nbytes = units > 0 && units < (1 << 26) ? (uint64_t)units * 2 : 0;
	units = l->co_firsttraceable >= 0 ? get_i32(hdr, l->co_firsttraceable) : 0;
	/* may pass the end: 3.13's _Py_InitCleanup is never traceable */
	key.traceable = units > 0 && units < (1 << 26) ? (uint64_t)units * 2 : 0;
	if (c->addr == addr && c->filename == key.filename && c->name == key.name &&
	    c->linetable == key.linetable && c->firstlineno == key.firstlineno &&
	    c->nbytes == key.nbytes && c->traceable == key.traceable)
		return c;
	code_entry_clear(c);
	*c = key;
	if ((*err = code_entry_fill(r, c))) {
		code_entry_clear(c);
		return NULL;
	}
	return c;
}

/* The byte offset in C's bytecode of the instruction the frame FR (its bytes) is at: from the
 * instruction pointer, or 3.10's f_lasti (an index; -1 before the first instruction). -2: the
 * frame has not run an instruction yet; anything else out of the code: a torn value. */
static int64_t frame_offset(const struct pyreader *r, const struct code_entry *c,
			    const uint8_t *fr)
{
	if (r->lay.v310)
		return (int64_t)get_i32(fr, r->lay.fr_instr) * 2;
	return (int64_t)(get_u64(fr, r->lay.fr_instr) - (c->addr + r->lay.co_code));
}

/* A frame CPython itself leaves out of tracebacks and sys._current_frames: pushed but its
 * prologue not run yet, or 3.13's trampoline into a specialized __init__ (_Py_InitCleanup). An
 * instruction pointer far below the code is torn, not incomplete: the frame stays. */
static bool frame_incomplete(const struct pyreader *r, const struct code_entry *c, int64_t off,
			     int owner)
{
	/* 3.10 shows a frame that has not started at its first line */
	return !r->lay.v310 && owner != FRAME_OWNED_BY_GENERATOR && off >= -2 &&
	       off < (int64_t)c->traceable;
}

/* The line of the instruction at byte offset OFF in code C; *exact false where the first line
 * stands in. */
static int code_line(const struct pyreader *r, const struct code_entry *c, int64_t off,
		     bool *exact)
{
	int line;

	*exact = true;
	if (off == -2)	/* 3.10, 3.11: a frame that has not run an instruction yet */
		return c->firstlineno;
	if (off >= 0 && (uint64_t)off < c->nbytes && !(off & 1) && c->lt) {
		if (r->lay.v310)
			line = pyreader__linetable310_line(c->lt, c->lt_len, c->firstlineno,
							   (int)off);
		else
			line = pyreader__linetable_line(c->lt, c->lt_len, c->firstlineno,
							(int)off);
		if (line > 0)
			return line;
	}
	*exact = false;
	return c->firstlineno > 0 ? c->firstlineno : 0;
}

/* ---- frames and threads ---- */

#define MAX_MRO 64
#define QUAL_TRIES 8	/* 3.10: frames asked for a method's class, at most */

/* The function in class KLASS's dict under NAME whose code is CODE (also behind a classmethod
 * or staticmethod), or 0. */
static uint64_t class_function(struct pyreader *r, uint64_t klass, const char *name, uint64_t code)
{
	const struct py_layout *l = &r->lay;
	uint64_t dict, f, fcode;
	char type[16];

	if (!ptr_ok(klass) || read_u64(r, klass + l->tp_dict, &dict) ||
	    dict_find(r, dict, name, &f))
		return 0;
	if (!obj_is(r, f, &r->func_type, "function")) {
		uint64_t t, tn;

		/* classmethod and staticmethod keep the function just after the header */
		if (!ptr_ok(f) || read_u64(r, f + 8, &t) || !ptr_ok(t) ||
		    read_u64(r, t + l->tp_name, &tn) || mem_read(r, tn, type, sizeof(type)) ||
		    (strncmp(type, "classmethod", 12) && strncmp(type, "staticmethod", 13)) ||
		    read_u64(r, f + 16, &f) || !obj_is(r, f, &r->func_type, "function"))
			return 0;
	}
	return !read_u64(r, f + l->func_code, &fcode) && fcode == code ? f : 0;
}

/* 3.10's code objects carry no qualified name, where later versions' frames show
 * "Thread.join": for a method (first argument self or cls), it is the __qualname__ of the
 * function with this code in the first class of the instance's MRO that has one. Looked up once
 * per code object, in its first frame; co_name stays where that finds nothing. */
/* 3.10 moves an argument that a closure uses (self in Barrier._wait's lambda) into a cell,
 * co_cell2arg says which, and empties its slot: the first argument from its cell, or 0. */
static uint64_t cell_arg0(struct pyreader *r, uint64_t code, uint64_t frame)
{
	const struct py_layout *l = &r->lay;
	uint64_t map, cells, cell, val;
	int64_t ncells, arg[8];
	int32_t nlocals;

	if (read_u64(r, code + l->co_cell2arg, &map) || !ptr_ok(map) ||
	    read_u64(r, code + l->co_cellvars, &cells) ||
	    mem_read(r, cells + l->bytes_size, &ncells, sizeof(ncells)) || ncells < 1 ||
	    mem_read(r, code + l->co_nlocals, &nlocals, sizeof(nlocals)) || nlocals < 0)
		return 0;
	if (ncells > 8)
		ncells = 8;
	if (mem_read(r, map, arg, (size_t)ncells * sizeof(arg[0])))
		return 0;
	for (int64_t j = 0; j < ncells; j++)
		if (!arg[j] &&
		    !read_u64(r, frame + l->fr_localsplus + 8 * (uint64_t)(nlocals + j), &cell) &&
		    ptr_ok(cell) && !read_u64(r, cell + 16, &val))	/* PyCellObject.ob_ref */
			return val;
	return 0;
}

#define TPFLAGS_TYPE_SUBCLASS (1ull << 31)	/* Py_TPFLAGS_TYPE_SUBCLASS: a class */

/* The function of code C found in a class of its own module (the one in sys.modules whose
 * __file__ is C's co_filename), or 0: for a method whose frames never showed their instance
 * (each one seen only as it was, gone since). Top-level classes only. */
static uint64_t module_class_function(struct pyreader *r, const struct code_entry *c)
{
	const struct py_layout *l = &r->lay;
	struct dict_items mods = { 0 }, d = { 0 };
	uint64_t modules, md, file, type, flags, found = 0;

	if (pyreader__modules(r, &modules) || dict_items(r, modules, &mods))
		return 0;
	for (size_t i = 0; i < mods.n; i++) {
		if (!mods.values[i] || !ptr_ok(mods.values[i]) ||
		    read_u64(r, mods.values[i] + l->mod_dict, &md) ||
		    dict_find(r, md, "__file__", &file) || !str_equals(r, file, c->file))
			continue;
		if (dict_items(r, md, &d))
			break;
		for (size_t k = 0; k < d.n && !found; k++)
			if (d.values[k] && ptr_ok(d.values[k]) &&
			    !read_u64(r, d.values[k] + 8, &type) && ptr_ok(type) &&
			    !read_u64(r, type + l->tp_flags, &flags) &&
			    (flags & TPFLAGS_TYPE_SUBCLASS))
				found = class_function(r, d.values[k], c->func, c->addr);
		dict_items_free(&d);
		break;
	}
	dict_items_free(&mods);
	return found;
}

static int qualname_310(struct pyreader *r, struct code_entry *c, uint64_t frame)
{
	const struct py_layout *l = &r->lay;
	uint64_t varnames, arg0, self, klass, mro, items[MAX_MRO], f, qual;
	char buf[MAX_STR + 1];
	int32_t argc;
	int64_t n;

	if (c->qual_done || c->qual_tries >= QUAL_TRIES)
		return 0;
	/* the code alone says whether it is a method: settled once read */
	if (mem_read(r, c->addr + l->co_argcount, &argc, sizeof(argc)) ||
	    read_u64(r, c->addr + l->co_varnames, &varnames) ||
	    !obj_is(r, varnames, &r->tuple_type, "tuple") ||
	    read_u64(r, varnames + l->tuple_items, &arg0))
		return 0;
	if (argc < 1 || (!str_equals(r, arg0, "self") && !str_equals(r, arg0, "cls"))) {
		c->qual_done = true;
		return 0;
	}
	/* the instance comes from this frame, which may not tell: one seen as it was (gone
	 * since, its memory another frame's), or whose argument is not set yet. Another frame
	 * of the same code is asked next, a few times at most: a wrong instance's classes
	 * hold no function of this code, so it names nothing, but it must not settle it. */
	c->qual_tries++;
	if (read_u64(r, frame + l->fr_localsplus, &self) ||
	    (!self && (self = cell_arg0(r, c->addr, frame)) == 0) || !ptr_ok(self))
		goto module;
	if (str_equals(r, arg0, "self")) {
		if (read_u64(r, self + 8, &klass))
			goto module;
	} else {
		klass = self;
	}
	if (!ptr_ok(klass) || read_u64(r, klass + l->tp_mro, &mro) ||
	    !obj_is(r, mro, &r->tuple_type, "tuple") ||
	    mem_read(r, mro + l->bytes_size, &n, sizeof(n)) || n < 1 || n > MAX_MRO ||
	    mem_read(r, mro + l->tuple_items, items, (size_t)n * 8))
		goto module;
	for (int64_t i = 0; i < n; i++)
		if ((f = class_function(r, items[i], c->func, c->addr)))
			goto found;
module:
	/* the frame could not tell (its self unset, or another object's: a frame seen as it
	 * was, its memory reused since): the classes of the code's module can, asked once */
	if (c->qual_module)
		return 0;
	c->qual_module = true;
	if (!(f = module_class_function(r, c)))
		return 0;
found:
	if (read_u64(r, f + l->func_qualname, &qual) || read_str(r, qual, buf, sizeof(buf)))
		return 0;
	free(c->func);
	c->func = strdup(buf);
	c->qual_done = true;
	return c->func ? 0 : -ENOMEM;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int frame_push(struct py_thread *t, size_t *cap, const struct code_entry *c, int line,
		      bool exact, bool entry)
{
	struct py_frame *f;
	size_t need = t->nframes + 1;

	if (need > *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		void *p = realloc(t->frames, ncap * sizeof(*t->frames));

		if (!p)
			return -ENOMEM;
		t->frames = p;
		*cap = ncap;
	}
	f = &t->frames[t->nframes];
	memset(f, 0, sizeof(*f));
	f->func = dup_or(c->func, "?");
	f->file = dup_or(c->file, "?");
	f->line = line;
	f->line_exact = exact;
	f->entry = entry;
	if (!f->func || !f->file ||
	    (line > 0 ? asprintf(&f->text, "%s (%s:%d)", f->func, base_name(f->file), line)
		      : asprintf(&f->text, "%s (%s)", f->func, base_name(f->file))) < 0) {
		free(f->func);
		free(f->file);
		return -ENOMEM;
	}
	t->nframes++;
	return 0;
}

static bool seen_before(const uint64_t *seen, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i] == v)
			return true;
	return false;
}

/* Python frames from FRAME outwards into T. The thread runs on while we read: a chain that
 * breaks, loops or runs too deep cuts the stack (t->truncated), it is not an error. */
static int walk_frames(struct pyreader *r, uint64_t frame, struct py_thread *t)
{
	const struct py_layout *l = &r->lay;
	uint64_t seen[MAX_WALK];
	uint8_t fr[MAX_SPAN];
	size_t cap = 0, steps;
	int err;

	for (steps = 0; frame; steps++) {
		struct code_entry *c;
		uint64_t code, here;
		int64_t off;
		int line, owner;
		bool exact, entry;

		if (steps == MAX_WALK || t->nframes == PY_MAX_FRAMES || !ptr_ok(frame) ||
		    seen_before(seen, steps, frame) || mem_read(r, frame, fr, r->fr_span)) {
			t->truncated = true;
			break;
		}
		seen[steps] = frame;
		here = frame;
		owner = l->fr_owner >= 0 ? (int8_t)fr[l->fr_owner] : 0;
		code = get_u64(fr, l->fr_code) & (l->fr_code_tagged ? ~7ULL : ~0ULL);
		frame = get_u64(fr, l->fr_previous);
		if (l->fr_owner_shim && owner >= l->fr_owner_shim) {
			/* the C stack's entry frame: the frame inside it began this run */
			if (t->nframes)
				t->frames[t->nframes - 1].entry = true;
			continue;
		}
		c = code_get(r, code, &err);
		if (!c) {
			if (err)
				return err;
			r->stats.frames_skipped++;
			continue;
		}
		off = frame_offset(r, c, fr);
		if (frame_incomplete(r, c, off, owner))
			continue;
		if (l->v310 && (err = qualname_310(r, c, here)))
			return err;
		line = code_line(r, c, off, &exact);
		r->stats.lines_inexact += !exact;
		/* 3.10 runs the interpreter loop once per Python frame */
		entry = l->v310 || (l->fr_is_entry >= 0 && fr[l->fr_is_entry]);
		err = frame_push(t, &cap, c, line, exact, entry);
		if (err)
			return err;
		t->frames[t->nframes - 1].addr = here;
	}
	r->stats.stacks_truncated += t->truncated;
	return 0;
}

/* The GIL's state: embedded in _PyRuntime (3.11) or pointed to by the interpreter (3.12+). */
static int gil_addr(struct pyreader *r, uint64_t interp, uint64_t *gil)
{
	const struct py_layout *l = &r->lay;
	int err;

	if (l->rt_gil >= 0) {
		*gil = r->runtime + l->rt_gil;
		return 0;
	}
	if (!interp && (err = read_u64(r, r->runtime + l->rt_interp_head, &interp)))
		return err;
	if (!interp)
		return -EAGAIN;
	if (!ptr_ok(interp) || (err = read_u64(r, interp + l->is_gil_ptr, gil)))
		return -EFAULT;
	return ptr_ok(*gil) ? 0 : -EAGAIN;
}

/* The thread state holding the GIL, or 0: `locked` and `last_holder`, as take_gil sets them. */
static uint64_t gil_holder(struct pyreader *r, uint64_t interp)
{
	uint64_t gil, holder;
	int32_t locked;

	if (gil_addr(r, interp, &gil) ||
	    mem_read(r, gil + r->lay.gil_locked, &locked, sizeof(locked)) || !locked ||
	    read_u64(r, gil + r->lay.gil_holder, &holder))
		return 0;
	return holder;
}

/* The innermost frame of the thread state in TS (its bytes). */
static uint64_t thread_frame(struct pyreader *r, const uint8_t *ts)
{
	const struct py_layout *l = &r->lay;
	uint64_t cframe, frame = 0;

	if (l->ts_cframe < 0)
		return get_u64(ts, l->ts_frame);
	cframe = get_u64(ts, l->ts_cframe);
	if (!ptr_ok(cframe) || read_u64(r, cframe + l->ts_frame, &frame))
		return 0;
	return frame;
}

struct thread_list {
	struct py_thread *v;
	size_t n, cap;
	pid_t only;		/* nonzero: keep this native thread only */
};

static uint64_t active_dict(struct pyreader *r, uint64_t interp);

/* 3.10's thread idents and threading.Thread._native_id, from threading._active. */
static void idents_refresh(struct pyreader *r, uint64_t interp)
{
	struct dict_items d = { 0 };
	uint64_t active = active_dict(r, interp), id, tid;

	r->idents_fresh = true;
	r->nidents = 0;
	if (!active || dict_items(r, active, &d))
		return;
	for (size_t i = 0; i < d.n; i++) {
		if (!d.keys[i] || read_long(r, d.keys[i], &id) ||
		    inst_attr(r, d.values[i], "_native_id", &tid) || read_long(r, tid, &tid) ||
		    !tid || tid > INT_MAX)
			continue;
		if (r->nidents == r->idents_cap) {
			size_t ncap = r->idents_cap ? 2 * r->idents_cap : 16;
			void *p = realloc(r->idents, ncap * sizeof(*r->idents));

			if (!p)
				break;
			r->idents = p;
			r->idents_cap = ncap;
		}
		r->idents[r->nidents++] = (struct ident_tid){ id, (pid_t)tid };
	}
	dict_items_free(&d);
}

/* Whether thread TID of the target still runs (an image's threads are taken to). */
static bool tid_alive(const struct pyreader *r, pid_t tid)
{
	return !r->pid || syscall(SYS_tgkill, r->pid, tid, 0) == 0 || errno != ESRCH;
}

/* The native id of the thread whose ident is IDENT. 3.10's thread states do not record it: the
 * main thread's is the process id, the others' are threading.Thread._native_id, found by
 * ident in threading._active (read again, once per walk, for an ident not known). A thread
 * that ended leaves its ident to the next one (pthread_t is the address of its descriptor,
 * reused): a known ident whose thread is gone is read again too, lest a new thread get the
 * native id of an old one. 0 if unknown. */
static pid_t native_id(struct pyreader *r, uint64_t interp, const uint8_t *ts)
{
	const struct py_layout *l = &r->lay;
	uint64_t ident = get_u64(ts, l->ts_thread_id), main_ident;

	if (l->ts_native_id >= 0)
		return (pid_t)get_u64(ts, l->ts_native_id);
	if (r->pid && !read_u64(r, r->runtime + l->rt_main_thread, &main_ident) &&
	    ident == main_ident)
		return r->pid;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->nidents; i++)
			if (r->idents[i].ident == ident &&
			    (r->idents_fresh || tid_alive(r, r->idents[i].tid)))
				return r->idents[i].tid;
		if (r->idents_fresh)
			break;
		idents_refresh(r, interp);
	}
	return 0;
}

static int thread_add(struct pyreader *r, struct thread_list *list, const uint8_t *ts,
		      uint64_t holder, uint64_t tstate)
{
	const struct py_layout *l = &r->lay;
	struct py_thread *t;
	pid_t tid = native_id(r, get_u64(ts, l->ts_interp), ts);

	if (list->only && tid != list->only)
		return 0;
	if (list->n == list->cap) {
		size_t ncap = list->cap ? list->cap * 2 : 8;
		void *p = realloc(list->v, ncap * sizeof(*list->v));

		if (!p)
			return -ENOMEM;
		list->v = p;
		list->cap = ncap;
	}
	t = &list->v[list->n++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->ident = get_u64(ts, l->ts_thread_id);
	t->tstate = tstate;
	t->holds_gil = holder && holder == tstate;
	return walk_frames(r, thread_frame(r, ts), t);
}

/* The threads of interpreter INTERP, from the head of its list. */
static int interp_threads(struct pyreader *r, uint64_t interp, struct thread_list *list)
{
	const struct py_layout *l = &r->lay;
	uint64_t tstate, holder = gil_holder(r, interp), *seen, *idents;
	uint8_t ts[MAX_SPAN];
	size_t n = 0, first = list->n;
	int err = 0;

	if (read_u64(r, interp + l->is_threads_head, &tstate))
		return -EFAULT;
	seen = malloc(PY_MAX_THREADS * sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	idents = malloc(PY_MAX_THREADS * sizeof(*idents));
	if (!idents) {
		free(seen);
		return -ENOMEM;
	}
	while (tstate && !err) {
		if (n == PY_MAX_THREADS || !ptr_ok(tstate) || seen_before(seen, n, tstate) ||
		    mem_read(r, tstate, ts, r->ts_span) || get_u64(ts, l->ts_interp) != interp) {
			r->stats.thread_lists_cut++;
			break;
		}
		idents[n] = get_u64(ts, l->ts_thread_id);
		seen[n++] = tstate;
		err = thread_add(r, list, ts, holder, tstate);
		tstate = get_u64(ts, l->ts_next);
	}
	/* 3.10 and 3.11: a thread that starts another makes the new one's state with its own
	 * ident, which the new thread replaces once it runs. The list runs newest first: a state
	 * whose ident an older one has too is such a newborn, not the thread the ident names
	 * (taken for it, the starting thread's waits would show the newborn's frames). */
	for (size_t i = first; !err && i < list->n;) {
		size_t p = 0;
		bool newborn = false;

		while (p < n && seen[p] != list->v[i].tstate)
			p++;
		for (size_t q = p + 1; q < n && !newborn; q++)
			newborn = idents[q] && idents[q] == list->v[i].ident;
		if (!newborn) {
			i++;
			continue;
		}
		pyreader__thread_clear(&list->v[i]);
		memmove(&list->v[i], &list->v[i + 1], (list->n - i - 1) * sizeof(*list->v));
		list->n--;
	}
	free(seen);
	free(idents);
	return err;
}

/* threading._active, the dict from thread ident to Thread: found once through sys.modules,
 * then kept (threading.py never rebinds it). 0 while threading is not imported. */
static uint64_t active_dict(struct pyreader *r, uint64_t interp)
{
	const struct py_layout *l = &r->lay;
	uint64_t modules, mod, globals, active;

	if (r->active_dict && obj_is(r, r->active_dict, &r->dict_type, "dict"))
		return r->active_dict;
	r->active_dict = 0;
	if (read_u64(r, interp + l->is_modules, &modules) ||
	    dict_find(r, modules, "threading", &mod) || !ptr_ok(mod) ||
	    read_u64(r, mod + l->mod_dict, &globals) || dict_find(r, globals, "_active", &active) ||
	    !obj_is(r, active, &r->dict_type, "dict"))
		return 0;
	r->active_dict = active;
	return active;
}

/* Names from threading.Thread._name, for the threads of the main interpreter INTERP. */
static int thread_names(struct pyreader *r, uint64_t interp, struct py_thread *v, size_t n)
{
	struct dict_items d = { 0 };
	uint64_t active = active_dict(r, interp);
	int err = 0;

	if (active && dict_items(r, active, &d))
		active = 0;
	for (size_t i = 0; active && i < d.n && !err; i++) {
		uint64_t ident, name;
		char buf[MAX_STR + 1];

		if (!d.keys[i] || read_long(r, d.keys[i], &ident))
			continue;
		for (size_t j = 0; j < n; j++) {
			if (v[j].ident != ident || v[j].name ||
			    inst_attr(r, d.values[i], "_name", &name) ||
			    read_str(r, name, buf, sizeof(buf)))
				continue;
			v[j].name = strdup(buf);
			if (!v[j].name)
				err = -ENOMEM;
		}
	}
	dict_items_free(&d);
	for (size_t j = 0; j < n; j++)
		r->stats.names_unknown += !v[j].name;
	return err;
}

static int collect(struct pyreader *r, struct thread_list *list)
{
	uint64_t interp, main_interp = 0, seen[MAX_INTERPS];
	size_t n = 0, main_end = 0;
	int err;

	r->idents_fresh = false;
	if ((err = read_u64(r, r->runtime + r->lay.rt_interp_head, &interp)))
		return err;
	/* newest first: the main interpreter, the one threading runs in, is the last */
	while (interp) {
		if (n == MAX_INTERPS || !ptr_ok(interp) || seen_before(seen, n, interp)) {
			r->stats.thread_lists_cut++;
			break;
		}
		seen[n++] = interp;
		main_interp = interp;
		main_end = list->n;
		if ((err = interp_threads(r, interp, list)))
			return err;
		if (read_u64(r, interp + r->lay.is_next, &interp)) {
			r->stats.thread_lists_cut++;
			break;
		}
	}
	if (!main_interp)
		return 0;
	return thread_names(r, main_interp, list->v + main_end, list->n - main_end);
}

void pyreader__thread_clear(struct py_thread *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nframes; i++)
		pyreader__frame_clear(&t->frames[i]);
	free(t->frames);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

void pyreader__threads_free(struct py_thread *threads, size_t n)
{
	for (size_t i = 0; threads && i < n; i++)
		pyreader__thread_clear(&threads[i]);
	free(threads);
}

int pyreader__threads(struct pyreader *r, struct py_thread **out, size_t *n)
{
	struct thread_list list = { 0 };
	int err = collect(r, &list);

	if (err) {
		pyreader__threads_free(list.v, list.n);
		*out = NULL;
		*n = 0;
		return err;
	}
	*out = list.v;
	*n = list.n;
	return 0;
}

int pyreader__thread(struct pyreader *r, pid_t tid, struct py_thread *out)
{
	struct thread_list list = { .only = tid };
	int err = tid > 0 ? collect(r, &list) : -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!err && !list.n)
		err = -ENOENT;
	if (!err) {
		*out = list.v[0];
		list.v[0] = (struct py_thread){ 0 };
	}
	pyreader__threads_free(list.v, list.n);
	return err;
}

int pyreader__gil(struct pyreader *r, uint64_t *lo, uint64_t *hi)
{
	uint64_t gil;
	int err = gil_addr(r, 0, &gil);

	if (err)
		return err;
	*lo = gil;
	*hi = gil + (uint64_t)r->lay.gil_size;
	return 0;
}

void pyreader__info(const struct pyreader *r, struct py_info *out)
{
	out->version = r->version;
	out->runtime = r->runtime;
	out->debug_offsets = r->debug_offsets;
	out->object = r->object ? r->object : "";
}

void pyreader__stats(const struct pyreader *r, struct py_stats *out)
{
	*out = r->stats;
}

/* ---- versions ---- */

/* Builds the layout from the interpreter's _Py_DebugOffsets (3.13+). The fields it does not
 * publish (dict keys, heap type slots, the GIL's size) are the same as in 3.12. */
static int layout_from_debug(struct pyreader *r, char *why, size_t why_len)
{
	uint64_t w[128];
	const struct dbg_layout *d = NULL;
	struct py_layout *l = &r->lay;
	uint32_t minor;
	int err;

	if ((err = mem_read(r, r->runtime, w, 2 * sizeof(w[0]))))
		return err;
	minor = w[1] >> 16 & 0xff;
	for (size_t i = 0; i < sizeof(dbg_layouts) / sizeof(dbg_layouts[0]); i++)
		if (dbg_layouts[i].minor == minor && w[1] >> 24 == 3)
			d = &dbg_layouts[i];
	if (!d) {
		say(why, why_len, "CPython %u.%u is not supported (unknown _Py_DebugOffsets)",
		    (unsigned)(w[1] >> 24), minor);
		return -ENOTSUP;
	}
	if ((err = mem_read(r, r->runtime, w, d->nwords * sizeof(w[0]))))
		return err;
	if (w[d->free_threaded]) {
		say(why, why_len, "CPython 3.%u free-threaded is not supported", minor);
		return -ENOTSUP;
	}
	*l = layout_312;
	l->minor = minor;
	r->version = (uint32_t)w[d->version];
	l->rt_interp_head = (int32_t)w[d->rt_interp_head];
	l->is_next = (int32_t)w[d->is_next];
	l->is_threads_head = (int32_t)w[d->is_threads_head];
	l->is_modules = (int32_t)w[d->is_modules];
	l->is_gil_ptr = (int32_t)w[d->is_gil_ptr];
	/* the GIL fields are published relative to the interpreter's own _gil */
	l->gil_locked = (int32_t)(w[d->is_gil_locked] - w[d->is_gil]);
	l->gil_holder = (int32_t)(w[d->is_gil_holder] - w[d->is_gil]);
	l->ts_cframe = -1;	/* 3.13 dropped _PyCFrame: current_frame is in the thread state */
	l->ts_next = (int32_t)w[d->ts_next];
	l->ts_interp = (int32_t)w[d->ts_interp];
	l->ts_frame = (int32_t)w[d->ts_frame];
	l->ts_thread_id = (int32_t)w[d->ts_thread_id];
	l->ts_native_id = (int32_t)w[d->ts_native_id];
	l->fr_previous = (int32_t)w[d->fr_previous];
	l->fr_code = (int32_t)w[d->fr_code];
	l->fr_instr = (int32_t)w[d->fr_instr];
	l->fr_owner = (int32_t)w[d->fr_owner];
	l->fr_code_tagged = minor >= 14;
	l->co_filename = (int32_t)w[d->co_filename];
	l->co_name = (int32_t)w[d->co_name];
	l->co_qualname = (int32_t)w[d->co_qualname];
	l->co_linetable = (int32_t)w[d->co_linetable];
	l->co_firstlineno = (int32_t)w[d->co_firstlineno];
	l->co_code = (int32_t)w[d->co_code];
	/* not published; just before co_extra and co_code_adaptive (3.13.0 debug info) */
	l->co_firsttraceable = l->co_code - 16;
	l->co_size = (int32_t)w[d->bytes_size];	/* ob_size of every PyVarObject */
	l->tp_name = (int32_t)w[d->tp_name];
	l->tp_flags = (int32_t)w[d->tp_flags];
	/* PyHeapTypeObject: the type, then as_async, as_number, as_mapping, as_sequence,
	 * as_buffer, ht_name, ht_slots, ht_qualname: 464 bytes from 3.11 to 3.14 */
	l->ht_cached_keys = (int32_t)(w[d->tp_size] + 464);
	l->dict_keys = (int32_t)w[d->dict_keys];
	l->dict_values = (int32_t)w[d->dict_values];
	l->values_hdr = 8;	/* 3.13 PyDictValues: capacity, size, embedded, valid, padding */
	l->long_size = (int32_t)w[d->long_tag];
	l->long_digits = (int32_t)w[d->long_digits];
	l->bytes_size = (int32_t)w[d->bytes_size];
	l->bytes_data = (int32_t)w[d->bytes_data];
	l->str_state = (int32_t)w[d->str_state];
	l->str_length = (int32_t)w[d->str_length];
	l->str_ascii_data = (int32_t)w[d->str_ascii_size];
	l->str_compact_data = (int32_t)w[d->str_ascii_size] + 16;	/* utf8_length, utf8 */
	l->inst_dict = INST_INLINE_313;
	for (size_t i = 3; i < d->nwords; i++) {
		if (w[i] > (1 << 20)) {
			say(why, why_len, "CPython 3.%u: _Py_DebugOffsets word %zu is implausible",
			    minor, i);
			return -EINVAL;
		}
	}
	r->debug_offsets = true;
	return 0;
}

static int layout_select(struct pyreader *r, char *why, size_t why_len)
{
	char cookie[8];
	uint32_t major = r->version >> 24, minor = r->version >> 16 & 0xff;
	int err;

	if ((err = mem_read(r, r->runtime, cookie, sizeof(cookie)))) {
		say(why, why_len, "_PyRuntime at 0x%" PRIx64 " is unreadable", r->runtime);
		return err;
	}
	if (!memcmp(cookie, "xdebugpy", 8))
		return layout_from_debug(r, why, why_len);
	if (major == 3 && minor == 10)
		r->lay = layout_310;
	else if (major == 3 && minor == 11)
		r->lay = layout_311;
	else if (major == 3 && minor == 12)
		r->lay = layout_312;
	if (r->lay.minor)
		return 0;
	if (!r->version)
		say(why, why_len, "no _Py_DebugOffsets at _PyRuntime and no version given");
	else
		say(why, why_len, "CPython %u.%u is not supported", major, minor);
	return -ENOTSUP;
}

static int spans_compute(struct pyreader *r, char *why, size_t why_len)
{
	const struct py_layout *l = &r->lay;
	int32_t ts[] = { l->ts_next, l->ts_interp, l->ts_cframe, l->ts_thread_id,
			 l->ts_native_id, l->ts_cframe < 0 ? l->ts_frame : -1 };
	int32_t fr[] = { l->fr_code, l->fr_previous, l->fr_instr, l->fr_owner, l->fr_is_entry };
	int32_t co[] = { 8, l->co_size, l->co_filename, l->co_name, l->co_qualname,
			 l->co_linetable, l->co_firstlineno, l->co_firsttraceable };

	r->ts_span = span_of(ts, sizeof(ts) / sizeof(ts[0]), 8);
	r->fr_span = span_of(fr, sizeof(fr) / sizeof(fr[0]), 8);
	r->co_span = span_of(co, sizeof(co) / sizeof(co[0]), 8);
	if (r->ts_span > MAX_SPAN || r->fr_span > MAX_SPAN || r->co_span > MAX_SPAN ||
	    l->str_compact_data > 128 || l->str_state < 0 || l->str_length < 0) {
		say(why, why_len, "CPython 3.%u: implausible struct offsets", l->minor);
		return -EINVAL;
	}
	return 0;
}

static struct pyreader *reader_alloc(void)
{
	struct pyreader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->mem_fd = -1;
	r->codes = calloc(CODE_SLOTS, sizeof(*r->codes));
	if (!r->codes) {
		free(r);
		return NULL;
	}
	return r;
}

static int reader_setup(struct pyreader *r, char *why, size_t why_len)
{
	int err = layout_select(r, why, why_len);

	return err ? err : spans_compute(r, why, why_len);
}

struct pyreader *pyreader__new_image(py_read_fn read, void *ctx, uint64_t runtime,
				     uint32_t version, char *why, size_t why_len)
{
	struct pyreader *r = reader_alloc();
	int err;

	if (!r)
		return NULL;
	r->read = read;
	r->ctx = ctx;
	r->runtime = runtime;
	r->version = version;
	err = reader_setup(r, why, why_len);
	if (err) {
		pyreader__free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

void pyreader__free(struct pyreader *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->codes && i < CODE_SLOTS; i++)
		code_entry_clear(&r->codes[i]);
	free(r->codes);
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	free(r->idents);
	free(r->object);
	free(r);
}

/* ---- finding _PyRuntime in a live process ---- */

struct elf_found {
	uint64_t runtime, version;	/* symbol values, 0 if absent */
	GElf_Phdr loads[16];
	int nloads;
};

static void elf_scan_syms(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_found *f)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	for (size_t i = 0; data && i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) || !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name)
			continue;
		if (!strcmp(name, "_PyRuntime"))
			f->runtime = sym.st_value;
		else if (!strcmp(name, "Py_Version"))
			f->version = sym.st_value;
	}
}

/* _PyRuntime and Py_Version from the dynamic symbols (every CPython exports them), else from
 * .symtab; and the PT_LOAD headers for the load bias. */
static int elf_lookup(const char *path, struct elf_found *f)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	size_t nph;
	int fd, err = -ENOENT;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64 ||
	    elf_getphdrnum(elf, &nph))
		goto cleanup;
	for (size_t i = 0; i < nph && f->nloads < 16; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			f->loads[f->nloads++] = ph;
	}
	for (int pass = 0; pass < 2 && !f->runtime; pass++) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) &&
			    sh.sh_type == (pass ? SHT_SYMTAB : SHT_DYNSYM))
				elf_scan_syms(elf, scn, &sh, f);
		}
	}
	err = f->runtime ? 0 : -ENOENT;
cleanup:
	elf_end(elf);
	close(fd);
	return err;
}

struct mapping {
	uint64_t start, offset;
	char path[PATH_MAX];
};

/* The load bias of the object mapped at M: the PT_LOAD that holds M's file offset. */
static int load_bias(const struct elf_found *f, const struct mapping *m, uint64_t *bias)
{
	for (int i = 0; i < f->nloads; i++) {
		const GElf_Phdr *ph = &f->loads[i];

		if (m->offset >= (ph->p_offset & ~0xfffULL) &&
		    m->offset < ph->p_offset + ph->p_filesz) {
			*bias = m->start - m->offset + ph->p_offset - ph->p_vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

static bool is_candidate(const char *path, const char *exe)
{
	return !strcmp(path, exe) || !strncmp(base_name(path), "libpython", 9);
}

/* _PyRuntime in the object mapped at M, if it exports it: into R (runtime, version, object).
 * Opened through /proc/PID/root so that a target in another mount namespace works, and a
 * deleted executable through /proc/PID/exe. */
static int try_object(struct pyreader *r, const struct mapping *m, bool is_exe)
{
	char full[PATH_MAX + 64];
	struct elf_found f;
	uint64_t bias, version = 0;

	snprintf(full, sizeof(full), "/proc/%d/root%s", r->pid, m->path);
	if (elf_lookup(full, &f) && elf_lookup(m->path, &f)) {
		snprintf(full, sizeof(full), "/proc/%d/exe", r->pid);
		if (!is_exe || elf_lookup(full, &f))
			return -ENOENT;
	}
	if (load_bias(&f, m, &bias))
		return -ENOENT;
	/* Py_Version (3.11+) is const data: read from memory, it needs no file offsets */
	if (f.version && read_u64(r, bias + f.version, &version))
		version = 0;
	r->runtime = bias + f.runtime;
	r->version = (uint32_t)version;
	r->object = strdup(m->path);
	return r->object ? 0 : -ENOMEM;
}

/* The CPython version a file name says ("python3.11", "libpython3.11.so.1.0"): 0 if none. */
static uint32_t name_version(const char *path)
{
	const char *p = strstr(base_name(path), "python");
	unsigned major, minor;

	if (p && sscanf(p, "python%u.%u", &major, &minor) == 2 && major < 256 && minor < 256)
		return major << 24 | minor << 16;
	return 0;
}

/* The executable, or a mapped libpython, that exports _PyRuntime. CPython before 3.7 has no
 * _PyRuntime: one that its file name gives away is named in WHY, ENOTSUP. */
static int find_runtime(struct pyreader *r, char *why, size_t why_len)
{
	char path[64], exe[PATH_MAX] = "", line[PATH_MAX + 128];
	struct mapping m, last = { 0 };
	uint32_t old = 0;
	int err = -ENOENT;
	ssize_t len;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/exe", r->pid);
	len = readlink(path, exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/maps", r->pid);
	maps = fopen(path, "re");
	if (!maps) {
		err = errno == ENOENT ? -ESRCH : -errno;
		say(why, why_len, "%s: %s", path, strerror(-err));
		return err;
	}
	while (err == -ENOENT && fgets(line, sizeof(line), maps)) {
		if (sscanf(line, "%" SCNx64 "-%*x %*s %" SCNx64 " %*s %*s %4095[^\n]", &m.start,
			   &m.offset, m.path) != 3 || m.path[0] != '/' ||
		    !is_candidate(m.path, exe) || !strcmp(m.path, last.path))
			continue;
		last = m;	/* an object's mappings are adjacent: try each object once */
		err = try_object(r, &m, !strcmp(m.path, exe));
		if (err == -ENOENT && name_version(m.path) && name_version(m.path) < 0x03070000)
			old = name_version(m.path);
	}
	fclose(maps);
	if (err == -ENOENT && old) {
		say(why, why_len, "CPython %u.%u is not supported", old >> 24, old >> 16 & 0xff);
		return -ENOTSUP;
	}
	if (err == -ENOENT)
		say(why, why_len, "pid %d: no _PyRuntime in the executable or a libpython: "
		    "not CPython, or libpython not loaded yet", r->pid);
	return err;
}

/* 3.10 and older export no Py_Version: then the file name says the version ("python3.11",
 * "libpython3.11.so.1.0"); a layout that wants more than that reads the debug offsets. */
static void version_from_name(struct pyreader *r)
{
	if (!r->version)
		r->version = name_version(r->object);
}

struct pyreader *pyreader__open(pid_t pid, char *why, size_t why_len)
{
	struct pyreader *r;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	r = reader_alloc();
	if (!r)
		return NULL;
	r->pid = pid;
	r->read = live_read;
	r->ctx = r;
	err = find_runtime(r, why, why_len);
	if (!err) {
		version_from_name(r);
		err = reader_setup(r, why, why_len);
	}
	if (err) {
		if (err == -EFAULT && kill(pid, 0) && errno == ESRCH)
			err = -ESRCH;	/* it exited while we looked */
		pyreader__free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

struct pyreader *pyreader__new(pid_t pid)
{
	return pyreader__open(pid, NULL, 0);
}

/* ---- for the object readers ---- */

int pyreader__read(struct pyreader *r, uint64_t addr, void *buf, size_t len)
{
	return mem_read(r, addr, buf, len);
}

int pyreader__str(struct pyreader *r, uint64_t obj, char *buf, size_t cap)
{
	if (!cap || cap > MAX_STR + 1)
		return -EINVAL;
	return read_str(r, obj, buf, cap);
}

int pyreader__dict_get(struct pyreader *r, uint64_t dict, const char *key, uint64_t *val)
{
	return dict_find(r, dict, key, val);
}

int pyreader__dict_items(struct pyreader *r, uint64_t dict, uint64_t **keys, uint64_t **values,
			 size_t *n)
{
	struct dict_items d;
	int err = dict_items(r, dict, &d);

	*keys = err ? NULL : d.keys;
	*values = err ? NULL : d.values;
	*n = err ? 0 : d.n;
	return err;
}

int pyreader__bytes(struct pyreader *r, uint64_t obj, size_t max, uint8_t **out, uint32_t *len)
{
	*out = NULL;
	*len = 0;
	return read_bytes(r, obj, max, out, len);
}

int pyreader__long(struct pyreader *r, uint64_t obj, uint64_t *out)
{
	return read_long(r, obj, out);
}

int pyreader__attr(struct pyreader *r, uint64_t obj, const char *name, uint64_t *val)
{
	return inst_attr(r, obj, name, val);
}

int pyreader__attr_items(struct pyreader *r, uint64_t obj, uint64_t **names, uint64_t **values,
			 size_t *n)
{
	struct dict_items d;
	int err = inst_items(r, obj, &d);

	*names = err ? NULL : d.keys;
	*values = err ? NULL : d.values;
	*n = err ? 0 : d.n;
	return err;
}

int pyreader__modules(struct pyreader *r, uint64_t *dict)
{
	uint64_t interp, main_interp = 0;
	int err;

	if ((err = read_u64(r, r->runtime + r->lay.rt_interp_head, &interp)))
		return err;
	/* newest first: the main interpreter is the last */
	for (int n = 0; interp && n < MAX_INTERPS; n++) {
		main_interp = interp;
		if (!ptr_ok(interp) || read_u64(r, interp + r->lay.is_next, &interp))
			return -EFAULT;
	}
	if (!main_interp)
		return -EAGAIN;
	if ((err = read_u64(r, main_interp + r->lay.is_modules, dict)))
		return err;
	return obj_is(r, *dict, &r->dict_type, "dict") ? 0 : -EAGAIN;
}

void pyreader__frame_clear(struct py_frame *f)
{
	if (!f)
		return;
	free(f->func);
	free(f->file);
	free(f->text);
	memset(f, 0, sizeof(*f));
}

void pyreader__frame_where(const struct pyreader *r, struct py_where *out)
{
	const struct py_layout *l = &r->lay;

	out->cframe = l->ts_cframe;
	out->frame = (uint32_t)l->ts_frame;
	out->instr = (uint32_t)l->fr_instr;
	out->prev = (uint32_t)l->fr_previous;
	out->code = (uint32_t)l->fr_code;
	out->owner = l->fr_owner;
	/* struct pyinterpreters {mutex, head, main, ...}, 3.10 to 3.14 */
	out->main = r->runtime + (uint64_t)l->rt_interp_head + 8;
	out->threads = (uint32_t)l->is_threads_head;
	out->ts_next = (uint32_t)l->ts_next;
	out->ts_ident = (uint32_t)l->ts_thread_id;
}

/* FR: the frame's bytes, as they are or were; AS_WAS: they were, the instruction must lie in
 * the code (else the frame was reused since) and frames CPython does not show are refused. */
static int frame_describe(struct pyreader *r, uint64_t frame, const uint8_t *fr, bool as_was,
			  struct py_frame *out)
{
	const struct py_layout *l = &r->lay;
	struct py_thread one = { 0 };
	struct code_entry *c;
	int owner = l->fr_owner >= 0 ? (int8_t)fr[l->fr_owner] : 0;
	size_t cap = 0;
	int64_t off;
	bool exact;
	int line, err;

	memset(out, 0, sizeof(*out));
	if (as_was && l->fr_owner_shim && owner >= l->fr_owner_shim)
		return -ENOENT;
	c = code_get(r, get_u64(fr, l->fr_code) & (l->fr_code_tagged ? ~7ULL : ~0ULL), &err);
	if (!c)
		return err ? err : -EINVAL;
	off = frame_offset(r, c, fr);
	if (as_was && (off < -2 || off >= (int64_t)c->nbytes || (off & 1)))
		return -ESTALE;
	if (as_was && frame_incomplete(r, c, off, owner))
		return -ENOENT;
	if (l->v310 && (err = qualname_310(r, c, frame)))
		return err;
	line = code_line(r, c, off, &exact);
	r->stats.lines_inexact += !exact;
	if ((err = frame_push(&one, &cap, c, line, exact, false)))
		return err;
	*out = one.frames[0];
	out->addr = frame;
	free(one.frames);
	return 0;
}

int pyreader__frame(struct pyreader *r, uint64_t frame, struct py_frame *out)
{
	uint8_t fr[MAX_SPAN];

	memset(out, 0, sizeof(*out));
	if (!ptr_ok(frame) || mem_read(r, frame, fr, r->fr_span))
		return -EFAULT;
	return frame_describe(r, frame, fr, false, out);
}

int pyreader__frame_as(struct pyreader *r, uint64_t frame, uint64_t code, uint64_t instr,
		       int owner, struct py_frame *out)
{
	const struct py_layout *l = &r->lay;
	uint8_t fr[MAX_SPAN] = { 0 };

	memset(out, 0, sizeof(*out));
	if (!ptr_ok(frame))
		return -EFAULT;
	/* the frame's bytes as they were, from what was read of them */
	memcpy(fr + l->fr_code, &code, sizeof(code));
	memcpy(fr + l->fr_instr, &instr, sizeof(instr));
	if (l->fr_owner >= 0)
		fr[l->fr_owner] = (uint8_t)owner;
	return frame_describe(r, frame, fr, true, out);
}
