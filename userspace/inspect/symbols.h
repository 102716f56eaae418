/* symbols.h - names for a live target's addresses: code addresses to function (file:line),
 * data addresses to the global or static variable that contains them, and user stacks
 * unwound from what the BPF side copied at a syscall (registers, a stack snapshot, the
 * frame-pointer chain). Everything is read while the target's objects are still mapped. */
#ifndef LOCKSCOPE_SYMBOLS_H
#define LOCKSCOPE_SYMBOLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct symbolizer;

/* One resolved code address. Strings are owned by the symbolizer and live as long as it. */
struct sym_frame {
	const char *func;	/* demangled where possible; NULL if unknown */
	uint64_t func_off;	/* pc - start of func */
	const char *file;	/* source file, its path as the line table gives it (absolute where
				 * the compiler recorded its directory); NULL if no debug info */
	int line;		/* 0 if unknown */
	const char *module;	/* basename of the mapped object ("libc.so.6"), NULL if unmapped */
	uint64_t mod_off;	/* pc's file offset-relative address in module */
};

/* What the BPF side captured at a syscall entry, to unwind from. Borrowed. */
struct unwind_input {
	uint64_t ip, sp, bp;
	const uint64_t *fp;	/* frame-pointer chain: fp[0] == ip, then return addresses */
	int nfp;
	const uint8_t *snap;	/* copy of user memory [sp, sp + snap_len) */
	uint32_t snap_len;
};

/* For process PID. NULL with errno on failure (no such process: ESRCH). */
struct symbolizer *symbolizer__new(pid_t pid);
/* The same, borrowing the objects LENDER has loaded (same file, same inode) rather than loading
 * them again: a forked child's are its parent's. LENDER must outlive the new symbolizer. */
struct symbolizer *symbolizer__new_sharing(pid_t pid, const struct symbolizer *lender);
void symbolizer__free(struct symbolizer *s);	/* accepts NULL */

/* Re-reads /proc/PID/maps (new objects mapped by dlopen, new thread stacks). 0 or -errno. */
int symbolizer__refresh(struct symbolizer *s);

/* Resolves a code address. RA: pc is a return address (look up pc - 1 for the line).
 * 0 on success (some fields may still be unknown), -ENOENT if pc is in no mapping. */
int symbolizer__frame(struct symbolizer *s, uint64_t pc, bool ra, struct sym_frame *out);

/* The function that the call before return address RA calls through a PLT stub or a GOT slot
 * (another object's export, by its dynamic symbol: "sem_wait"), where a tail call in that object
 * leaves no frame of its own. NULL for a direct call within the object, or code not readable. */
const char *symbolizer__callee(struct symbolizer *s, uint64_t ra);

/* The variable whose storage contains ADDR (from .symtab, else .dynsym, of the mapped object).
 * On success *name is owned by the symbolizer and *off is addr - symbol start. -ENOENT if none. */
int symbolizer__data(struct symbolizer *s, uint64_t addr, const char **name, uint64_t *off);

/* True if ADDR lies in a mapping of a file (as of the last refresh): a return address into code,
 * not the uprobes trampoline that a return probe puts in its place. */
bool symbolizer__in_file(const struct symbolizer *s, uint64_t addr);
/* True if ADDR lies in the target's heap or an anonymous mapping (not in a mapped object). */
bool symbolizer__is_anon(struct symbolizer *s, uint64_t addr);

#define SYM_BUILD_ID_MAX 64	/* bytes; GNU build IDs are 20 */

/* What one mapped object can name, once every place for its debug info was searched. Strings
 * borrowed from S. */
struct sym_object_info {
	const char *path;	/* as the memory map names it */
	const char *build_id;	/* lowercase hex, "" if it has none */
	const char *debug_file;	/* the separate debug file in use; NULL if none */
	int via;		/* how that was found: enum debuginfo_via (debuginfo.h) */
	bool readable;		/* an x86-64 ELF we could open; the rest is false if not */
	bool symtab;		/* a full symbol table (.symtab, its own or its debug file's) */
	bool dynsym;		/* ... or at least the dynamic symbols: exported functions */
	bool lines;		/* DWARF line tables: source files and lines */
};

/* Loads all the object mapped at ADDR has: symbols and DWARF, which searches for its separate
 * debug file (and may download it from debuginfod). -ENOENT if ADDR is in no mapped file. */
int symbolizer__object(struct symbolizer *s, uint64_t addr, struct sym_object_info *out);

/* Where ADDR lies, to name memory that no symbol covers. Strings borrowed from S. */
struct sym_region {
	const char *kind;	/* "heap", "stack", "anon mapping" (private anonymous memory; thread
				 * stacks too), "shm" (shared memory: SysV, /dev/shm, memfd, shared
				 * anonymous), "file" (a mapped file outside any object's image),
				 * "image" (an object's data, .bss included), "unmapped" */
	const char *module;	/* image: the object's basename */
	uint64_t vaddr;		/* image: ADDR as an address of the object's own (its ELF vaddr) */
};
void symbolizer__region(struct symbolizer *s, uint64_t addr, struct sym_region *out);

/* Memory that ADDR shares with other processes (a MAP_SHARED mapping): the mapped file, as the
 * kernel keys a shared futex by it, and ADDR's offset in that file. False for private memory or
 * an address outside the map of the last refresh. PATH borrowed ("" for shared anonymous). */
struct sym_shared {
	uint64_t dev, ino, offset;
	const char *path;
};
bool symbolizer__shared(struct symbolizer *s, uint64_t addr, struct sym_shared *out);

/* Unwinds IN into PCS (innermost first: pcs[0] = ip, then return addresses), at most MAX.
 * Uses the DWARF CFI (.eh_frame/.debug_frame) of each object over the snapshot, and continues
 * with the frame-pointer chain where the snapshot ends. Returns the number of pcs (>= 1). */
int symbolizer__unwind(struct symbolizer *s, const struct unwind_input *in, uint64_t *pcs, int max);

/* Why an unwind stopped before the outermost frame (whose return address CFI leaves undefined). */
enum sym_cut {
	SYM_WHOLE,		/* reached the outermost frame */
	SYM_CUT_SNAPSHOT,	/* needed memory past the stack copy */
	SYM_CUT_CFI,		/* a pc without CFI, or a rule on a register not known */
	SYM_CUT_BAD,		/* a return address that does not follow a call */
	SYM_CUT_NO_BP,		/* an rbp-based frame, rbp unknown and its frame record not found */
	SYM_CUT_TRAMPOLINE,	/* a return probe's trampoline */
	SYM_CUT_DEPTH,		/* MAX frames */
	SYM_CUT_FP,		/* continued along the frame-pointer chain: its end is not known to
				 * be the outermost frame */
};
/* symbolizer__unwind(), and *CUT says whether and why the stack stops short. An unknown rbp is
 * passed as 0 (no frame has base 0): rbp-based frames then have theirs searched for. */
int symbolizer__unwind_cut(struct symbolizer *s, const struct unwind_input *in, uint64_t *pcs,
			   int max, enum sym_cut *cut);
/* "the stack copy ends here", ...; "" for SYM_WHOLE. Static storage. */
const char *symbolizer__cut_why(enum sym_cut cut);

/* How the unwinder goes from the frame at PC (EXACT: the innermost frame's, else a return
 * address) to its caller, where its CFI says so in a form the BPF side applies: the CFA at sp or
 * bp plus an offset, the return address at CFA - 8, bp kept, lost or saved in the frame, or no
 * caller at all (events.h: struct ls_frame_rule). False for any other frame. */
struct ls_frame_rule;
bool symbolizer__frame_rule(struct symbolizer *s, uint64_t pc, bool exact,
			    struct ls_frame_rule *out);

/* Iterates the mappings of the last refresh: returns false past the end. Strings borrowed. */
struct sym_mapping {
	uint64_t start, end, offset;
	const char *perms;
	const char *path;	/* "" for anonymous */
};
bool symbolizer__mapping(const struct symbolizer *s, int idx, struct sym_mapping *out);

/* How stacks were recovered since symbolizer__new, for the report: every cut stack is counted. */
struct sym_stats {
	uint64_t unwinds;		/* symbolizer__unwind calls */
	uint64_t cfi_frames;		/* frames found with CFI over the snapshot */
	uint64_t fp_frames;		/* frames taken from the frame-pointer chain */
	uint64_t jit_frames;		/* callers of code without CFI (JIT) by its frame record */
	uint64_t spliced;		/* CFI walks continued with the FP chain */
	uint64_t fp_only;		/* stacks that are the FP chain alone: no CFI caller */
	uint64_t cut_snapshot;		/* CFI walks that needed memory past the snapshot */
	uint64_t cut_cfi;		/* ... a pc without CFI, or a rule on an unknown register */
	uint64_t cut_bad;		/* ... a caller pc that is not after a call: bad stack */
	uint64_t cut_trampoline;	/* ... a return probe's trampoline whose return address
					 * was not known */
	uint64_t cut_no_bp;		/* ... an rbp-based frame whose rbp was unknown, not found */
	uint64_t bp_found;		/* unknown rbp found by its frame record above sp */
	uint64_t fp_rejected;		/* FP-chain entries dropped as not a return address */
	uint64_t objects_unreadable;	/* mapped files that could not be read as x86-64 ELF */
};
void symbolizer__stats(const struct symbolizer *s, struct sym_stats *out);

#endif
