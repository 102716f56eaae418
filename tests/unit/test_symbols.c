/* test_symbols.c - the symbolizer against this test process: names of code and data, anonymous
 * memory, and unwinding a stack built without frame pointers, whole, cut and garbled. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "inspect/symbols.h"

#define SNAP_LEN 2048
#define MAX_PCS 64

/* The chain functions must stay real frames, in order, with their own names: no inlining,
 * cloning (chain_c.isra.0), identical-code folding or tail calls; and no frame pointer whatever
 * the build flags, so only CFI can unwind them. chain_a_fp keeps one, like a caller built with
 * -fno-omit-frame-pointer above a libc built without. AddressSanitizer frames would take rbp. */
#ifdef __clang__
#define CHAIN_FN __attribute__((noinline, disable_tail_calls, no_sanitize_address))
#define CHAIN_FN_FP CHAIN_FN
#else
#define CHAIN_FN                                                                                   \
	__attribute__((noipa, no_sanitize_address, optimize("omit-frame-pointer")))
#define CHAIN_FN_FP                                                                                \
	__attribute__((noipa, no_sanitize_address, optimize("no-omit-frame-pointer")))
#endif

/* What the BPF side would capture at the syscall. */
struct capture {
	uint64_t ip, sp, bp;
	uint8_t snap[SNAP_LEN];
};

pthread_mutex_t sym_test_global_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t hot_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialised_table[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
/* larger than the file's last page: its tail is the anonymous mapping after the object */
static char big_bss[1 << 20];

/* Other frames' stack memory, redzones included: not for AddressSanitizer to check, and a
 * volatile loop so the compiler does not turn it into an intercepted memcpy. */
__attribute__((noinline, no_sanitize_address)) static void copy_stack(uint8_t *dst, uint64_t src)
{
	const volatile uint64_t *from = (const volatile uint64_t *)(uintptr_t)src;

	for (size_t i = 0; i < SNAP_LEN / sizeof(uint64_t); i++) {
		uint64_t v = from[i];

		memcpy(dst + i * sizeof(v), &v, sizeof(v));
	}
}

CHAIN_FN static int chain_c(struct capture *cap, int depth)
{
	volatile int pad;
	uint64_t ip, sp, bp;

	pad = depth;
	/* one asm: ip, sp and bp of the same instant, as at a syscall entry */
	__asm__ volatile("lea 0(%%rip), %0\n\t"
			 "mov %%rsp, %1\n\t"
			 "mov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	cap->ip = ip;
	cap->sp = sp;
	cap->bp = bp;
	copy_stack(cap->snap, sp);
	return pad + 1;
}

CHAIN_FN static int chain_b(struct capture *cap, int depth)
{
	volatile int pad;
	int r;

	pad = depth;
	r = chain_c(cap, depth + 1);
	return r + pad;
}

CHAIN_FN_FP static int chain_b_fp(struct capture *cap, int depth)
{
	volatile int pad;
	int r;

	pad = depth;
	r = chain_c(cap, depth + 1);
	return r * 5 + pad;
}

/* Calls NEXT through a pointer: return addresses after indirect calls must pass as well. */
CHAIN_FN static int chain_a(struct capture *cap, int depth, int (*next)(struct capture *, int))
{
	volatile int pad;
	int r;

	pad = depth;
	r = next(cap, depth + 1);
	return r * 2 + pad;
}

CHAIN_FN_FP static int chain_a_fp(struct capture *cap, int depth)
{
	volatile int pad;
	int r;

	pad = depth;
	r = chain_b(cap, depth + 1);
	return r * 3 + pad;
}

CHAIN_FN_FP static int chain_top_fp(struct capture *cap, int depth)
{
	volatile int pad;
	int r;

	pad = depth;
	r = chain_a(cap, depth + 1, chain_b_fp);
	return r * 7 + pad;
}

static const int line_target_line = __LINE__ + 2;
__attribute__((noinline)) int sym_test_line_target(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 7 + 1;
}

static struct symbolizer *self_symbolizer(void)
{
	struct symbolizer *s = symbolizer__new(getpid());

	cr_assert_not_null(s, "symbolizer__new: %s", strerror(errno));
	return s;
}

static struct capture *capture_new(void)
{
	struct capture *cap = calloc(1, sizeof(*cap));

	cr_assert_not_null(cap);
	return cap;
}

static struct unwind_input input_of(const struct capture *cap, uint32_t len, const uint64_t *fp,
				    int nfp)
{
	return (struct unwind_input){ .ip = cap->ip, .sp = cap->sp, .bp = cap->bp, .fp = fp,
				      .nfp = nfp, .snap = cap->snap, .snap_len = len };
}

static const char *func_of(struct symbolizer *s, uint64_t pc, bool ra)
{
	struct sym_frame f;

	if (symbolizer__frame(s, pc, ra, &f) || !f.func)
		return "?";
	return f.func;
}

static void log_frames(struct symbolizer *s, const char *what, const uint64_t *pcs, int n)
{
	for (int i = 0; i < n; i++) {
		struct sym_frame f = { 0 };

		symbolizer__frame(s, pcs[i], i > 0, &f);
		cr_log_info("%s #%d %#llx %s+%#llx %s:%d (%s)", what, i, (unsigned long long)pcs[i],
			    f.func ? f.func : "?", (unsigned long long)f.func_off,
			    f.file ? f.file : "?", f.line, f.module ? f.module : "?");
	}
}

static void expect_frames(struct symbolizer *s, const uint64_t *pcs, int n, const char **names,
			  int nnames)
{
	cr_assert_geq(n, nnames, "%d frames, expected at least %d", n, nnames);
	for (int i = 0; i < nnames; i++)
		cr_expect_str_eq(func_of(s, pcs[i], i > 0), names[i], "frame %d", i);
}

/* Where the return address VALUE sits in the snapshot, as an offset from sp. */
static uint32_t slot_of(const struct capture *cap, uint64_t value)
{
	for (uint32_t off = 0; off + 8 <= SNAP_LEN; off += 8) {
		uint64_t v;

		memcpy(&v, cap->snap + off, sizeof(v));
		if (v == value)
			return off;
	}
	cr_assert_fail("return address %#llx not in the snapshot", (unsigned long long)value);
	return 0;
}

/* The chain the kernel's perf_callchain_user would produce from the snapshot's frame records. */
static int kernel_fp_chain(const struct capture *cap, uint64_t *fp, int max)
{
	uint64_t rec = cap->bp;
	int n = 0;

	fp[n++] = cap->ip;
	while (n < max && rec >= cap->sp && rec + 16 <= cap->sp + SNAP_LEN) {
		memcpy(&fp[n++], cap->snap + (rec - cap->sp) + 8, 8);
		memcpy(&rec, cap->snap + (rec - cap->sp), 8);
	}
	return n;
}

Test(symbols, new_fails_for_missing_process)
{
	errno = 0;
	cr_assert_null(symbolizer__new(INT32_MAX));
	cr_assert_eq(errno, ESRCH);
	symbolizer__free(NULL);
}

Test(symbols, global_and_static_mutexes_by_name)
{
	struct symbolizer *s = self_symbolizer();
	const char *name = NULL;
	uint64_t off = 99;

	cr_assert_eq(symbolizer__data(s, (uintptr_t)&sym_test_global_lock, &name, &off), 0);
	cr_expect_str_eq(name, "sym_test_global_lock");
	cr_expect_eq(off, 0);
	cr_assert_eq(symbolizer__data(s, (uintptr_t)&hot_lock, &name, &off), 0);
	cr_expect_str_eq(name, "hot_lock");
	cr_expect_eq(off, 0);
	/* inside the variable: the __owner field of a mutex, say */
	cr_assert_eq(symbolizer__data(s, (uintptr_t)&hot_lock + 8, &name, &off), 0);
	cr_expect_str_eq(name, "hot_lock");
	cr_expect_eq(off, 8);
	cr_assert_eq(symbolizer__data(s, (uintptr_t)&initialised_table[3], &name, &off), 0);
	cr_expect_str_eq(name, "initialised_table");
	cr_expect_eq(off, 3 * sizeof(int));
	cr_expect_not(symbolizer__is_anon(s, (uintptr_t)&hot_lock));
	cr_expect_not(symbolizer__is_anon(s, (uintptr_t)&initialised_table));
	symbolizer__free(s);
}

Test(symbols, variable_in_bss_tail)
{
	struct symbolizer *s = self_symbolizer();
	uint64_t addr = (uintptr_t)&big_bss[sizeof(big_bss) - 16];
	const char *name = NULL;
	uint64_t off = 0;

	big_bss[sizeof(big_bss) - 16] = 1;
	cr_assert_eq(symbolizer__data(s, addr, &name, &off), 0);
	cr_expect_str_eq(name, "big_bss");
	cr_expect_eq(off, sizeof(big_bss) - 16);
	cr_expect_not(symbolizer__is_anon(s, addr));
	symbolizer__free(s);
}

Test(symbols, function_name_file_and_line)
{
	struct symbolizer *s = self_symbolizer();
	uint64_t pc = (uintptr_t)&sym_test_line_target;
	struct sym_frame f;

	cr_assert_eq(sym_test_line_target(1), 8);
	cr_assert_eq(symbolizer__frame(s, pc, false, &f), 0);
	cr_assert_not_null(f.func);
	cr_expect_str_eq(f.func, "sym_test_line_target");
	cr_expect_eq(f.func_off, 0);
	cr_assert_not_null(f.file, "no line info: is the test built with -g?");
	/* the full path: the unit's directory joined to a relative name from the line table */
	cr_expect_eq(f.file[0], '/', "%s", f.file);
	cr_expect(strstr(f.file, "/tests/unit/test_symbols.c") &&
		      !strcmp(strstr(f.file, "/tests/unit/test_symbols.c"), "/tests/unit/test_symbols.c"),
		  "%s", f.file);
	cr_expect(f.line >= line_target_line && f.line <= line_target_line + 2, "line %d, want %d",
		  f.line, line_target_line);
	cr_assert_not_null(f.module);
	/* the same answer again, from the cache */
	cr_assert_eq(symbolizer__frame(s, pc, false, &f), 0);
	cr_expect_str_eq(f.func, "sym_test_line_target");
	symbolizer__free(s);
}

Test(symbols, libc_function)
{
	struct symbolizer *s = self_symbolizer();
	/* from libc itself: the default scope may find a sanitizer's interceptor first */
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	uint64_t pc = libc ? (uintptr_t)dlsym(libc, "pthread_mutex_lock") : 0;
	struct sym_frame f;

	cr_assert_neq(pc, 0);
	dlclose(libc);
	cr_assert_eq(symbolizer__frame(s, pc + 4, false, &f), 0);
	cr_assert_not_null(f.func);
	cr_expect_str_eq(f.func, "pthread_mutex_lock");
	cr_expect_eq(f.func_off, 4);
	cr_assert_not_null(f.module);
	cr_expect_str_eq(f.module, "libc.so.6");
	cr_log_info("pthread_mutex_lock+4: %s:%d (file:line need libc6-dbg)", f.file ? f.file : "?",
		    f.line);
	symbolizer__free(s);
}

/* Calls libc's sem_post through this binary's PLT, and chain_c directly. */
CHAIN_FN static int calls_out(sem_t *sem, struct capture *cap)
{
	return sem_post(sem) + chain_c(cap, 0);
}

/* The function a call before a return address calls through the PLT is named by the slot's
 * relocation (libc's tail calls leave no frame of their own); a direct call names nothing. The
 * candidate return addresses: after each e8 byte in calls_out's first bytes. */
Test(symbols, callee_through_the_plt)
{
	struct symbolizer *s = self_symbolizer();
	const uint8_t *code = (const uint8_t *)(uintptr_t)calls_out;
	struct capture cap;
	size_t plt = 0, other = 0;
	sem_t sem;

	cr_assert_eq(sem_init(&sem, 0, 0), 0);
	cr_assert_geq(calls_out(&sem, &cap), 0);
	for (size_t i = 0; i < 64; i++) {
		const char *callee;

		if (code[i] != 0xe8)
			continue;
		callee = symbolizer__callee(s, (uintptr_t)(code + i + 5));
		if (callee && !strcmp(callee, "sem_post"))
			plt++;
		else if (callee)
			other++;
	}
	cr_expect_eq(plt, 1);
	cr_expect_eq(other, 0);
	cr_expect_null(symbolizer__callee(s, (uintptr_t)code));
	sem_destroy(&sem);
	symbolizer__free(s);
}

Test(symbols, heap_and_stack_are_anonymous)
{
	struct symbolizer *s;
	char *small = malloc(64), *big = malloc(8 << 20);
	int local = 0;
	const char *name;
	uint64_t off;

	cr_assert(small && big);
	s = self_symbolizer();	/* after the allocations: the maps must show them */
	cr_expect(symbolizer__is_anon(s, (uintptr_t)small));
	cr_expect(symbolizer__is_anon(s, (uintptr_t)big));
	cr_expect(symbolizer__is_anon(s, (uintptr_t)&local));
	cr_expect_eq(symbolizer__data(s, (uintptr_t)small, &name, &off), -ENOENT);
	cr_expect_not(symbolizer__is_anon(s, 0));
	cr_expect_eq(symbolizer__frame(s, 0, false, &(struct sym_frame){ 0 }), -ENOENT);
	symbolizer__free(s);
	free(small);
	free(big);
}

static int region_test_static = 1;

/* What names a lock no symbol covers: the kind of memory it lies in. */
Test(symbols, regions_say_what_memory_an_address_is_in)
{
	struct symbolizer *s;
	char *small = malloc(64), *big = malloc(8 << 20);
	void *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct sym_region rg;
	int local = 0;

	cr_assert(small && big && shared != MAP_FAILED);
	s = self_symbolizer();
	symbolizer__region(s, (uintptr_t)small, &rg);
	/* glibc's main arena is [heap]; a sanitizer's allocator maps its own */
	cr_expect(!strcmp(rg.kind, "heap") || !strcmp(rg.kind, "anon mapping"), "%s", rg.kind);
	symbolizer__region(s, (uintptr_t)big, &rg);
	cr_expect_str_eq(rg.kind, "anon mapping");
	symbolizer__region(s, (uintptr_t)shared, &rg);
	cr_expect_str_eq(rg.kind, "shm");
	symbolizer__region(s, (uintptr_t)&local, &rg);
	cr_expect(!strcmp(rg.kind, "stack") || !strcmp(rg.kind, "anon mapping"), "%s", rg.kind);
	symbolizer__region(s, (uintptr_t)&region_test_static, &rg);
	cr_expect_str_eq(rg.kind, "image");
	cr_expect_str_eq(rg.module, "test_unit");
	cr_expect_neq(rg.vaddr, 0);
	symbolizer__region(s, 8, &rg);
	cr_expect_str_eq(rg.kind, "unmapped");
	symbolizer__free(s);
	munmap(shared, 4096);
	free(small);
	free(big);
}

/* The test binary itself, as the report's objects list it. */
Test(symbols, object_info_of_the_test_binary)
{
	struct symbolizer *s = self_symbolizer();
	struct sym_object_info info;

	cr_assert_eq(symbolizer__object(s, (uintptr_t)&symbolizer__new, &info), 0);
	cr_expect(info.readable);
	cr_expect(info.symtab, "built with its symbol table");
	cr_expect(info.lines, "built with -g");
	cr_expect(strstr(info.path, "test_unit") != NULL, "%s", info.path);
	cr_expect_eq(strlen(info.build_id), 40, "build id %s", info.build_id);
	cr_expect_null(info.debug_file, "its own DWARF: no separate file");
	cr_expect_eq(symbolizer__object(s, 8, &info), -ENOENT);
	symbolizer__free(s);
}

Test(symbols, mappings_iterate)
{
	struct symbolizer *s = self_symbolizer();
	struct sym_mapping m;
	bool libc = false;
	int i = 0;

	for (; symbolizer__mapping(s, i, &m); i++) {
		cr_assert_lt(m.start, m.end);
		libc |= strstr(m.path, "libc.so.6") && m.perms[2] == 'x';
	}
	cr_expect_gt(i, 5);
	cr_expect(libc);
	cr_expect_not(symbolizer__mapping(s, -1, &m));
	symbolizer__free(s);
}

Test(symbols, unwind_without_frame_pointers)
{
	static const char *names[] = { "chain_c", "chain_b", "chain_a",
				       "symbols_unwind_without_frame_pointers_impl" };
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t pcs[MAX_PCS], fp[1];
	struct unwind_input in;
	struct sym_stats st;
	int n, r;

	r = chain_a(cap, 0, chain_b);
	cr_assert_eq(r, 8);
	/* an FP chain of the ip alone: any caller found comes from CFI */
	fp[0] = cap->ip;
	in = input_of(cap, SNAP_LEN, fp, 1);
	n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
	cr_assert_eq(pcs[0], cap->ip);
	log_frames(s, "no-fp", pcs, n);
	expect_frames(s, pcs, n, names, 4);
	symbolizer__stats(s, &st);
	cr_expect_geq(st.cfi_frames, 3);
	cr_expect_eq(st.fp_frames, 0);
	symbolizer__free(s);
	free(cap);
}

Test(symbols, unwind_respects_max)
{
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t pcs[MAX_PCS];
	struct unwind_input in;

	chain_a(cap, 0, chain_b);
	in = input_of(cap, SNAP_LEN, NULL, 0);
	cr_expect_eq(symbolizer__unwind(s, &in, pcs, 2), 2);
	cr_expect_eq(symbolizer__unwind(s, &in, pcs, 1), 1);
	cr_expect_eq(symbolizer__unwind(s, &in, pcs, 0), 0);
	symbolizer__free(s);
	free(cap);
}

/* chain_b_fp keeps a frame record, chain_c and chain_a do not: the kernel's FP chain starts at
 * chain_b_fp's record, so it holds chain_a's return address and goes on from chain_top_fp's
 * record. With the snapshot cut inside chain_a's frame, the walk must join the chain at chain_a's
 * return address, which both read from the same slot. */
Test(symbols, unwind_joins_fp_chain_by_pc)
{
	static const char *names[] = { "chain_c", "chain_b_fp", "chain_a", "chain_top_fp",
				       "symbols_unwind_joins_fp_chain_by_pc_impl" };
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t full[MAX_PCS], pcs[MAX_PCS], fp[MAX_PCS];
	struct unwind_input in;
	struct sym_stats before, st;
	int n, nfp, j = 1;

	chain_top_fp(cap, 0);
	in = input_of(cap, SNAP_LEN, NULL, 0);
	n = symbolizer__unwind(s, &in, full, MAX_PCS);
	expect_frames(s, full, n, names, 5);
	nfp = kernel_fp_chain(cap, fp, MAX_PCS);
	while (j < nfp && fp[j] != full[2])
		j++;
	if (j == nfp)
		cr_assert_fail("this build's chain_c uses rbp: no FP chain to join (build with gcc, as the Makefile does)");
	in = input_of(cap, slot_of(cap, full[2]) + 8, fp, nfp);
	symbolizer__stats(s, &before);
	n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
	symbolizer__stats(s, &st);
	cr_expect_eq(st.spliced - before.spliced, 1);
	cr_expect_eq(st.cut_snapshot - before.cut_snapshot, 1);
	cr_assert_geq(n, 4);
	cr_expect_arr_eq(pcs, full, 3 * sizeof(*pcs));
	/* chain_top_fp is in the FP chain only if chain_a keeps a frame record too (-O0 builds) */
	if (pcs[3] == full[3])
		cr_expect(n >= 5 && pcs[4] == full[4]);
	else
		cr_expect_eq(pcs[3], full[4]);
	symbolizer__free(s);
	free(cap);
}

/* chain_a_fp keeps a frame pointer, chain_b and chain_c do not: the kernel's FP chain starts at
 * chain_a_fp's record and skips chain_b and chain_a_fp themselves. With the snapshot cut inside
 * chain_a_fp's frame, the walk must join the chain by rbp. */
Test(symbols, unwind_joins_fp_chain_by_rbp)
{
	static const char *names[] = { "chain_c", "chain_b", "chain_a_fp",
				       "symbols_unwind_joins_fp_chain_by_rbp_impl" };
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t full[MAX_PCS], pcs[MAX_PCS], fp[MAX_PCS];
	struct unwind_input in;
	struct sym_stats before, st;
	int n, nfp;

	chain_a_fp(cap, 0);
	in = input_of(cap, SNAP_LEN, NULL, 0);
	n = symbolizer__unwind(s, &in, full, MAX_PCS);
	expect_frames(s, full, n, names, 4);
	nfp = kernel_fp_chain(cap, fp, MAX_PCS);
	if (nfp < 2 || fp[1] != full[3])
		cr_assert_fail("this build's chain_b or chain_c uses rbp: no FP chain to join (build with gcc)");
	in = input_of(cap, slot_of(cap, full[2]) + 8, fp, nfp);
	symbolizer__stats(s, &before);
	n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
	expect_frames(s, pcs, n, names, 4);
	symbolizer__stats(s, &st);
	cr_expect_eq(st.spliced - before.spliced, 1);
	cr_expect_eq(st.cfi_frames - before.cfi_frames, 2);
	symbolizer__free(s);
	free(cap);
}

/* A thread read from /proc has no rbp (passed as 0): chain_a_fp's CFA rests on it, and its
 * frame record is found above sp, so the walk goes on to the test's own frame, as with rbp; not
 * through a stale record that an earlier call left in the frame's padding (under ASan, one of
 * Criterion's, which unwound on through ten frames long gone). */
Test(symbols, unwind_finds_an_unknown_rbp_by_its_frame_record)
{
	static const char *names[] = { "chain_c", "chain_b", "chain_a_fp",
				       "symbols_unwind_finds_an_unknown_rbp_by_its_frame_record_impl" };
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t full[MAX_PCS], pcs[MAX_PCS];
	struct unwind_input in;
	struct sym_stats st;
	enum sym_cut cut;
	int n, m;

	chain_a_fp(cap, 0);
	in = input_of(cap, SNAP_LEN, NULL, 0);
	n = symbolizer__unwind(s, &in, full, MAX_PCS);
	expect_frames(s, full, n, names, 4);
	in.bp = 0;
	m = symbolizer__unwind_cut(s, &in, pcs, MAX_PCS, &cut);
	log_frames(s, "no-bp", pcs, m);
	expect_frames(s, pcs, m, names, 4);
	cr_expect_eq(m, n);
	cr_expect_eq(memcmp(pcs, full, n * sizeof(*pcs)), 0);
	symbolizer__stats(s, &st);
	cr_expect_geq(st.bp_found, 1);
	/* the record out of the snapshot: cut there, and said so */
	in = input_of(cap, slot_of(cap, full[2]) + 8, NULL, 0);
	in.bp = 0;
	m = symbolizer__unwind_cut(s, &in, pcs, MAX_PCS, &cut);
	cr_expect_eq(m, 3);
	cr_expect_neq(cut, SYM_WHOLE);
	cr_expect_str_eq(symbolizer__cut_why(cut), "frame base register unknown");
	symbolizer__free(s);
	free(cap);
}

Test(symbols, unwind_truncated_snapshot)
{
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t pcs[MAX_PCS], fp[1];
	struct unwind_input in;
	int n;

	chain_a(cap, 0, chain_b);
	fp[0] = cap->ip;
	in = input_of(cap, 64, fp, 1);
	n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
	cr_assert_geq(n, 1);
	cr_expect_eq(pcs[0], cap->ip);
	cr_expect_str_eq(func_of(s, pcs[0], false), "chain_c");
	/* no snapshot at all */
	in = input_of(cap, 0, NULL, 0);
	in.snap = NULL;
	cr_expect_eq(symbolizer__unwind(s, &in, pcs, MAX_PCS), 1);
	symbolizer__free(s);
	free(cap);
}

static void fill_random(void *buf, size_t len, unsigned int *seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rand_r(seed);
}

/* Random snapshots, with a real ip and sp and with random ones, and random FP chains: no crash,
 * at least the ip, nothing outside executable code. */
Test(symbols, unwind_garbage_does_not_crash)
{
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t pcs[MAX_PCS], fp[16], real_ip, real_sp;
	struct unwind_input in;
	unsigned int seed = 12345;
	struct sym_mapping m;
	int n;

	chain_a(cap, 0, chain_b);
	real_ip = cap->ip;
	real_sp = cap->sp;
	for (int round = 0; round < 2000; round++) {
		fill_random(cap, sizeof(*cap), &seed);
		fill_random(fp, sizeof(fp), &seed);
		if (round % 2) {
			cap->ip = real_ip;
			cap->sp = real_sp;
			fp[0] = real_ip;
		}
		in = input_of(cap, (uint32_t)rand_r(&seed) % (SNAP_LEN + 1), fp,
			      rand_r(&seed) % 17);
		n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
		cr_assert(n >= 1 && n <= MAX_PCS);
		cr_assert_eq(pcs[0], cap->ip);
		for (int i = 1; i < n; i++) {
			bool code = false;

			for (int k = 0; symbolizer__mapping(s, k, &m); k++)
				code |= pcs[i] - 1 >= m.start && pcs[i] - 1 < m.end &&
					m.perms[2] == 'x';
			cr_assert(code, "frame %d: %#llx is not code", i,
				  (unsigned long long)pcs[i]);
		}
	}
	symbolizer__free(s);
	free(cap);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Not a pass/fail bound (sanitizers, loaded CI machines): the number goes to the log. */
Test(symbols, warm_unwind_and_symbolise_cost)
{
	struct symbolizer *s = self_symbolizer();
	struct capture *cap = capture_new();
	uint64_t pcs[MAX_PCS], fp[1];
	struct unwind_input in;
	struct sym_frame f;
	int n = 0, iters = 100000;
	double t0, cold, warm;

	chain_a(cap, 0, chain_b);
	fp[0] = cap->ip;
	in = input_of(cap, SNAP_LEN, fp, 1);
	t0 = now_us();
	n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
	for (int i = 0; i < n; i++)
		symbolizer__frame(s, pcs[i], i > 0, &f);
	cold = now_us() - t0;
	t0 = now_us();
	for (int k = 0; k < iters; k++) {
		n = symbolizer__unwind(s, &in, pcs, MAX_PCS);
		for (int i = 0; i < n; i++)
			symbolizer__frame(s, pcs[i], i > 0, &f);
	}
	warm = (now_us() - t0) / iters;
	cr_log_info("unwind + symbolise, %d frames: first %.0f us, warm %.3f us", n, cold, warm);
	cr_expect_geq(n, 4);
	symbolizer__free(s);
	free(cap);
}

/* A return address into code lies in a file's mapping; the uprobes trampoline (a special
 * mapping), the heap and the stack do not: only those are patched with a hidden return
 * address. */
Test(symbols, return_addresses_into_code_are_in_files)
{
	struct symbolizer *s;
	char *heap = malloc(64);
	int local = 0;

	cr_assert(heap);
	s = self_symbolizer();
	cr_expect(symbolizer__in_file(s, (uintptr_t)&symbolizer__new));
	cr_expect(symbolizer__in_file(s, (uintptr_t)&malloc));
	cr_expect_not(symbolizer__in_file(s, (uintptr_t)heap));
	cr_expect_not(symbolizer__in_file(s, (uintptr_t)&local));
	cr_expect_not(symbolizer__in_file(s, 0x7fffffffe000ull));	/* above any mapping here */
	cr_expect_not(symbolizer__in_file(s, 0));
	symbolizer__free(s);
	free(heap);
}
