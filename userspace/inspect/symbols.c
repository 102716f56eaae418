/* symbols.c - the symbolizer: the target's /proc/PID/maps, one cached ELF/DWARF view per mapped
 * object (symbols, lines, CFI, through libdwfl), and the CFI + frame-pointer stack unwinder. */
#include "inspect/symbols.h"
#include "inspect/debuginfo.h"
#include "inspect/perfmap.h"
#include "util/bytemap.h"
#include "util/common.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bpf/events.h"

/* x86-64 DWARF register numbers: the only registers the BPF side captures */
#define X86_RBP 6
#define X86_RSP 7
#define X86_RIP 16

#define ROW_CACHE_BITS 11	/* pc -> CFI rule cache; a hot process has a few hundred sites */
#define FRAME_CACHE_BITS 12	/* (pc, ra) -> resolved frame */
#define FP_ADDRS_MAX 128	/* kernel FP-chain records we try to re-derive from the snapshot */
#define BP_SEARCH_MAX 8192	/* bytes above sp searched for a frame record when rbp is unknown */
#define EXPR_STACK 8		/* CFI expressions are short: PLT and signal frames */

/* One ELF symbol, trimmed to what lookups need. */
struct sym_entry {
	uint64_t addr, size;
	const char *name;
	int pref;		/* among aliases at one address, the highest is shown */
};

struct sym_table {
	struct sym_entry *v;
	size_t n;
};

/* One address range of one compilation unit, for line lookups without .debug_aranges. */
struct cu_range {
	uint64_t lo, hi;
	Dwarf_Die die;
};

struct load_seg {
	uint64_t vaddr, memsz, offset, filesz;
	bool exec;
};

enum obj_state { OBJ_NEW, OBJ_LOADED, OBJ_FAILED };

/* A mapped file, keyed by device, inode and path. Lives until symbolizer__free, so the strings
 * handed out (names, files) stay valid across refreshes. Loaded on first use. */
struct sym_object {
	char *path;		/* as /proc/PID/maps shows it, " (deleted)" included */
	char *name;		/* basename, without " (deleted)" */
	const struct symbolizer *owner;	/* frees it; other symbolizers may borrow it */
	dev_t dev;
	ino_t ino;
	enum obj_state state;
	Dwfl *dwfl;		/* one per object: addresses are the ELF's own (bias 0) */
	Dwfl_Module *mod;
	const uint8_t *image;	/* the whole file, to check code bytes before return addresses */
	size_t image_len;
	struct load_seg *segs;
	int nsegs;
	bool syms_done, lines_done, eh_done, dbg_done;
	struct sym_table funcs, vars;
	char **owned;		/* symbol names we had to copy (version suffix cut) */
	size_t nowned;
	struct cu_range *cus;
	size_t ncus;
	Dwarf_Addr dwbias;
	Dwarf_CFI *eh, *dbg;
	Dwarf_Addr eh_bias, dbg_bias;
	char *file_path;	/* path without " (deleted)", for the debuglink search */
	struct bytemap *sources;	/* libdw's relative source name -> our absolute copy */
	struct debuginfo_req req;	/* its separate debug file: the module's userdata */
	bool info_done;		/* symbolizer__object looked for everything once */
	char build_id[2 * SYM_BUILD_ID_MAX + 1];
};

struct sym_map {
	uint64_t start, end, offset;
	char perms[5];
	const char *path;	/* points into symbolizer.maps_text */
	struct sym_object *obj;	/* NULL for anonymous memory, the previous object for its .bss */
	dev_t dev;		/* the mapped file's, as /proc/PID/maps gives them */
	ino_t ino;
	uint64_t bias;		/* runtime address - ELF vaddr, once bias_done and has_bias */
	bool exec, anon, bss, bias_done, has_bias;
};

/* How to recover one register (or the CFA) of the caller, from one CFI row. */
enum rule_kind {
	RULE_UNDEF,	/* not recoverable; for the return address: the outermost frame */
	RULE_SAME,	/* unchanged by this frame */
	RULE_AT_CFA,	/* saved at CFA + off */
	RULE_CFA_PLUS,	/* is CFA + off */
	RULE_REG,	/* is register reg + off (the usual CFA rule) */
	RULE_EXPR,	/* DWARF expression; ops live as long as the object's Dwarf_CFI */
};

struct rule {
	int64_t off;
	const Dwarf_Op *ops;
	uint32_t nops;
	uint16_t reg;
	uint8_t kind;
};

/* The CFI row for one lookup address, plus whether the address is believable as a frame. */
struct cfi_row {
	uint64_t addr;		/* pc, or pc - 1 for a return address (!exact) */
	bool used, exact;
	bool cfi;		/* rules below are valid */
	bool plausible;		/* exact, or the return address follows a call instruction */
	bool signal;		/* a signal trampoline: its caller's pc is exact */
	struct rule cfa, ra, bp;
};

struct frame_slot {
	uint64_t pc;
	bool used, ra;
	struct sym_frame f;
};

struct symbolizer {
	pid_t pid;
	uint64_t page_size;
	char *maps_text;
	struct sym_map *maps;
	size_t nmaps;
	struct sym_object **objs;	/* its own, and those borrowed from the lender */
	size_t nobjs, cap_objs;
	const struct symbolizer *lender;	/* outlives this one; NULL: none */
	struct sym_stats stats;
	struct debuginfo *debug;	/* where separate debug files are found */
	Dwfl_Callbacks callbacks;	/* every object's libdwfl session's */
	bool searching;			/* in bp_search() */
	struct perfmap *jit;		/* the target's perf map: names of JIT-compiled code */
	uint64_t jit_read_ns;		/* when it was last read */
	struct cfi_row rows[1u << ROW_CACHE_BITS];
	struct frame_slot frames[1u << FRAME_CACHE_BITS];
};

/* Register state of one frame while unwinding. sp and ip are always known. */
struct uw_frame {
	uint64_t ip, sp, bp;
	bool bp_ok;
	bool exact;		/* ip is no return address: innermost, or above a signal frame */
	uint64_t ra_slot;	/* where ip was read from; 0 if it was not read from memory */
};

enum uw_stop { UW_OK, UW_END, UW_SNAP, UW_CFI, UW_BAD, UW_NO_BP };

static enum uw_stop cfi_step(struct symbolizer *s, const struct unwind_input *in,
			     struct uw_frame *fr);

static size_t hash_slot(uint64_t key, unsigned int bits)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/* ---- /proc/PID/maps ---- */

static int read_whole(const char *path, char **out)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *grown;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t got;

	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto cleanup;
	}
	while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)got;
		if (cap - len > 1)
			continue;
		grown = realloc(buf, cap * 2);
		if (!grown) {
			err = -ENOMEM;
			goto cleanup;
		}
		buf = grown;
		cap *= 2;
	}
	if (got < 0)
		err = -errno;
cleanup:
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* Memory that belongs to no object: its locks are named by where they were taken. A memfd may
 * still hold an ELF (loaders that avoid the file system), so it keeps an object. */
static bool path_is_anon(const char *p)
{
	return !*p || !strcmp(p, "[heap]") || !strncmp(p, "[stack", 6) || !strncmp(p, "[anon", 5) ||
	       !strcmp(p, "/dev/zero (deleted)") || !strncmp(p, "/SYSV", 5) ||
	       !strncmp(p, "/memfd:", 7);
}

static int map_parse_line(char *line, struct sym_map *m, dev_t *dev, ino_t *ino)
{
	unsigned int maj, min;
	unsigned long long inode;
	int path_at = 0;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %llu %n", &m->start,
		   &m->end, m->perms, &m->offset, &maj, &min, &inode, &path_at) < 7)
		return -EINVAL;
	m->path = path_at ? line + path_at : "";
	*dev = makedev(maj, min);
	*ino = (ino_t)inode;
	return 0;
}

static struct sym_object *object_new(struct symbolizer *s, const char *path, dev_t dev, ino_t ino)
{
	struct sym_object *o = calloc(1, sizeof(*o)), **grown;
	const char *base = strrchr(path, '/');
	size_t len;

	if (!o)
		return NULL;
	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 10 && !strcmp(base + len - 10, " (deleted)"))
		len -= 10;
	o->path = strdup(path);
	o->name = strndup(base, len);
	o->file_path = strndup(path, strlen(path) - (strlen(base) - len));
	o->owner = s;
	o->dev = dev;
	o->ino = ino;
	/* only files (and the vdso, see vdso_open) can be opened; [heap] and friends keep just
	 * their name */
	o->state = path[0] == '/' || !strcmp(path, "[vdso]") ? OBJ_NEW : OBJ_FAILED;
	if (s->nobjs == s->cap_objs) {
		grown = realloc(s->objs, (s->cap_objs * 2 + 16) * sizeof(*grown));
		if (grown) {
			s->objs = grown;
			s->cap_objs = s->cap_objs * 2 + 16;
		}
	}
	if (!o->path || !o->name || !o->file_path || s->nobjs == s->cap_objs) {
		free(o->path);
		free(o->name);
		free(o->file_path);
		free(o);
		return NULL;
	}
	s->objs[s->nobjs++] = o;
	return o;
}

static bool object_is(const struct sym_object *o, const char *path, dev_t dev, ino_t ino)
{
	return o->dev == dev && o->ino == ino && !strcmp(o->path, path);
}

static struct sym_object *object_get(struct symbolizer *s, const struct sym_map *prev,
				     const char *path, dev_t dev, ino_t ino)
{
	/* an object's mappings are adjacent: check the previous one before scanning */
	if (prev && prev->obj && object_is(prev->obj, path, dev, ino))
		return prev->obj;
	for (size_t i = 0; i < s->nobjs; i++)
		if (object_is(s->objs[i], path, dev, ino))
			return s->objs[i];
	/* the lender's, once loaded (loading takes the loader's callbacks: those must last) */
	for (size_t i = 0; s->lender && i < s->lender->nobjs; i++) {
		struct sym_object *o = s->lender->objs[i], **grown;

		if (o->state == OBJ_NEW || !object_is(o, path, dev, ino))
			continue;
		if (s->nobjs == s->cap_objs) {
			grown = realloc(s->objs, (s->cap_objs * 2 + 8) * sizeof(*grown));
			if (!grown)
				return NULL;
			s->objs = grown;
			s->cap_objs = s->cap_objs * 2 + 8;
		}
		s->objs[s->nobjs++] = o;
		return o;
	}
	return object_new(s, path, dev, ino);
}

static int map_attach(struct symbolizer *s, struct sym_map *m, const struct sym_map *prev,
		      dev_t dev, ino_t ino)
{
	m->exec = m->perms[2] == 'x';
	m->anon = path_is_anon(m->path);
	if (!m->path[0]) {
		/* .bss past the file's last page is an anonymous mapping right after the object */
		if (prev && prev->obj && !prev->bss && prev->end == m->start &&
		    prev->obj->path[0] == '/') {
			m->obj = prev->obj;
			m->bss = true;
		}
		return 0;
	}
	if (m->anon && strncmp(m->path, "/memfd:", 7))
		return 0;
	m->obj = object_get(s, prev, m->path, dev, ino);
	return m->obj ? 0 : -ENOMEM;
}

static int maps_parse(struct symbolizer *s, char *text, struct sym_map **out, size_t *nout)
{
	size_t cap = 1, n = 0;
	struct sym_map *maps;
	char *line, *next;
	dev_t dev;
	ino_t ino;

	for (const char *p = text; (p = strchr(p, '\n')); p++)
		cap++;
	maps = calloc(cap, sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	for (line = text; *line && n < cap; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (map_parse_line(line, &maps[n], &dev, &ino))
			continue;
		maps[n].dev = dev;
		maps[n].ino = ino;
		if (map_attach(s, &maps[n], n ? &maps[n - 1] : NULL, dev, ino)) {
			free(maps);
			return -ENOMEM;
		}
		n++;
	}
	*out = maps;
	*nout = n;
	return 0;
}

static struct sym_map *map_find(const struct symbolizer *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < s->maps[mid].start)
			hi = mid;
		else if (addr >= s->maps[mid].end)
			lo = mid + 1;
		else
			return &s->maps[mid];
	}
	return NULL;
}

/* ---- objects: opening and loading ---- */

/* A thread stopped on a CPU is often inside the vdso (clock_gettime), which has no file. The
 * target's is the kernel's, the same image as ours (x86-64 processes of one kernel): a copy of
 * ours in a memfd stands in for it. */
static int vdso_open(char *file, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);
	size_t len;
	int fd;

	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return -1;
	len = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	fd = memfd_create("vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, eh, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	snprintf(file, size, "/proc/self/fd/%d", fd);
	return fd;
}

/* The file behind a mapping. Through /proc/PID/root first, so paths resolve in the target's
 * mount namespace (containers), checked by inode against replaced files; else through
 * map_files, which also reaches deleted files but needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE. */
static int object_open(const struct symbolizer *s, const struct sym_object *o,
		       const struct sym_map *m, char *file, size_t size)
{
	size_t len = strlen(o->path);
	struct stat st;
	int fd;

	if (!strcmp(o->path, "[vdso]"))
		return vdso_open(file, size);
	if (len > 10 && !strcmp(o->path + len - 10, " (deleted)"))
		len -= 10;
	snprintf(file, size, "/proc/%d/root%.*s", (int)s->pid, (int)len, o->path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == o->ino)
		return fd;
	if (fd >= 0)
		close(fd);
	snprintf(file, size, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)s->pid, m->start,
		 m->end);
	return open(file, O_RDONLY | O_CLOEXEC);
}

static int object_read_segs(struct sym_object *o, Elf *elf)
{
	GElf_Phdr ph;
	size_t n;

	if (elf_getphdrnum(elf, &n) != 0)
		return -EINVAL;
	o->segs = calloc(n ? n : 1, sizeof(*o->segs));
	if (!o->segs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		o->segs[o->nsegs++] = (struct load_seg){
			.vaddr = ph.p_vaddr,
			.memsz = ph.p_memsz,
			.offset = ph.p_offset,
			.filesz = ph.p_filesz,
			.exec = ph.p_flags & PF_X,
		};
	}
	return 0;
}

static int object_load_elf(const struct symbolizer *s, struct sym_object *o,
			   const struct sym_map *m)
{
	char file[PATH_MAX + 64];
	GElf_Ehdr eh;
	Dwarf_Addr bias;
	void **userdata;
	Elf *elf;
	int fd = object_open(s, o, m, file, sizeof(file));

	if (fd < 0)
		return -ENOENT;
	o->dwfl = dwfl_begin(&s->callbacks);
	if (!o->dwfl) {
		close(fd);
		return -ENOMEM;
	}
	dwfl_report_begin(o->dwfl);
	/* ELF vaddrs as module addresses (bias 0): one object serves every mapping of it */
	o->mod = dwfl_report_elf(o->dwfl, o->name, file, fd, 0, true);
	if (!o->mod)
		close(fd);	/* consumed only on success */
	if (dwfl_report_end(o->dwfl, NULL, NULL) != 0 || !o->mod)
		return -ENOENT;
	o->req = (struct debuginfo_req){.d = s->debug, .path = o->file_path, .name = o->name,
					.ino = o->ino, .dev = o->dev};
	dwfl_module_info(o->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	*userdata = &o->req;
	elf = dwfl_module_getelf(o->mod, &bias);
	if (!elf || !gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		return -ENOENT;
	o->image = (const uint8_t *)elf_rawfile(elf, &o->image_len);
	return object_read_segs(o, elf);
}

static int object_load(struct symbolizer *s, struct sym_object *o, const struct sym_map *m)
{
	if (o->state != OBJ_NEW)
		return o->state == OBJ_LOADED ? 0 : -ENOENT;
	/* one attempt: an unreadable or foreign file stays so */
	if (object_load_elf(s, o, m)) {
		o->state = OBJ_FAILED;
		s->stats.objects_unreadable++;
		return -ENOENT;
	}
	o->state = OBJ_LOADED;
	return 0;
}

static const struct load_seg *seg_containing(const struct sym_object *o, uint64_t vaddr,
					     bool file_backed)
{
	for (int i = 0; i < o->nsegs; i++) {
		const struct load_seg *g = &o->segs[i];

		if (vaddr - g->vaddr < (file_backed ? g->filesz : g->memsz))
			return g;
	}
	return NULL;
}

/* The PT_LOAD a mapping comes from: the one holding its file offset, and among segments that
 * share a page at their boundary, the one with matching execute permission. */
static const struct load_seg *seg_of_map(const struct symbolizer *s, const struct sym_object *o,
					 const struct sym_map *m)
{
	const struct load_seg *any = NULL;

	for (int i = 0; i < o->nsegs; i++) {
		const struct load_seg *g = &o->segs[i];

		if (m->offset < (g->offset & ~(s->page_size - 1)) ||
		    m->offset >= g->offset + g->filesz)
			continue;
		if (g->exec == m->exec)
			return g;
		any = any ? any : g;
	}
	return any;
}

/* Loads the object behind M if needed and works out M's load bias. */
static bool map_bias(struct symbolizer *s, struct sym_map *m)
{
	const struct load_seg *g;

	if (m->bias_done)
		return m->has_bias;
	m->bias_done = true;
	if (m->bss) {
		/* maps_parse only marks .bss right after a file mapping of the same object */
		m->has_bias = map_bias(s, m - 1);
		m->bias = m[-1].bias;
		return m->has_bias;
	}
	if (!m->obj || object_load(s, m->obj, m))
		return false;
	g = seg_of_map(s, m->obj, m);
	if (!g)
		return false;
	/* file offset x is at runtime address x - p_offset + p_vaddr + bias */
	m->bias = m->start - m->offset + g->offset - g->vaddr;
	m->has_bias = true;
	return true;
}

/* True if ADDR in M is part of its object's image (a loaded segment, .bss included). */
static bool map_covers(struct symbolizer *s, struct sym_map *m, uint64_t addr)
{
	return map_bias(s, m) && seg_containing(m->obj, addr - m->bias, false);
}

/* ---- symbols ---- */

static int sym_pref(unsigned char info, const char *name)
{
	int bind = GELF_ST_BIND(info), under = 0;

	while (name[under] == '_' && under < 15)
		under++;
	/* pthread_mutex_lock over __pthread_mutex_lock; globals over weak over local aliases */
	return (bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0) * 16 - under;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym_entry *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->pref != y->pref)
		return y->pref - x->pref;
	/* internal aliases embed the public name: __GI___lll_lock_wait for __lll_lock_wait */
	if (strlen(x->name) != strlen(y->name))
		return strlen(x->name) < strlen(y->name) ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Executables' .symtab name versioned references "stdout@GLIBC_2.2.5": keep the name only. */
static const char *sym_name(struct sym_object *o, const char *name)
{
	const char *at = strchr(name, '@');
	char **grown, *copy;

	if (!at || at == name)
		return name;
	grown = realloc(o->owned, (o->nowned + 1) * sizeof(*grown));
	if (!grown)
		return name;
	o->owned = grown;
	copy = strndup(name, (size_t)(at - name));
	if (!copy)
		return name;
	o->owned[o->nowned++] = copy;
	return copy;
}

/* Sorts by address and keeps the preferred alias at each address. */
static void sym_table_finish(struct sym_table *t)
{
	size_t out = 0;

	if (!t->n)
		return;
	qsort(t->v, t->n, sizeof(*t->v), sym_cmp);
	for (size_t i = 1; i < t->n; i++) {
		if (t->v[i].addr == t->v[out].addr) {
			if (!t->v[out].size)
				t->v[out].size = t->v[i].size;
			continue;
		}
		t->v[++out] = t->v[i];
	}
	t->n = out + 1;
}

static void sym_add(struct sym_object *o, struct sym_table *t, const GElf_Sym *sym, uint64_t addr,
		    const char *name)
{
	t->v[t->n++] = (struct sym_entry){
		.addr = addr,
		.size = sym->st_size,
		.name = sym_name(o, name),
		.pref = sym_pref(sym->st_info, name),
	};
}

/* Functions and variables from the best table libdwfl finds: .symtab of the file or of its
 * separate debug file, else .dynsym (plus a MiniDebugInfo .symtab if there is one). */
static void syms_load(struct sym_object *o)
{
	int n = dwfl_module_getsymtab(o->mod);
	GElf_Sym sym;
	GElf_Addr addr;
	GElf_Word shndx;
	const char *name;

	o->syms_done = true;
	if (n <= 0)
		return;
	o->funcs.v = calloc((size_t)n, sizeof(*o->funcs.v));
	o->vars.v = calloc((size_t)n, sizeof(*o->vars.v));
	if (!o->funcs.v || !o->vars.v)
		return;
	for (int i = 0; i < n; i++) {
		name = dwfl_module_getsym_info(o->mod, i, &sym, &addr, &shndx, NULL, NULL);
		if (!name || !*name || shndx == SHN_UNDEF || shndx == SHN_ABS)
			continue;
		switch (GELF_ST_TYPE(sym.st_info)) {
		case STT_FUNC:
		case STT_GNU_IFUNC:
			sym_add(o, &o->funcs, &sym, addr, name);
			break;
		case STT_OBJECT:
		case STT_COMMON:	/* STT_TLS values are TLS-block offsets, not addresses */
			sym_add(o, &o->vars, &sym, addr, name);
			break;
		}
	}
	sym_table_finish(&o->funcs);
	sym_table_finish(&o->vars);
}

/* The symbol whose [addr, addr + size) holds VADDR; a size-0 symbol only at its address. */
static const struct sym_entry *sym_find(struct sym_object *o, bool func, uint64_t vaddr)
{
	const struct sym_table *t;
	size_t lo = 0, hi;

	if (!o->syms_done)
		syms_load(o);
	t = func ? &o->funcs : &o->vars;
	hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->v[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* a few steps back: a nested symbol may end before VADDR while its container does not */
	for (size_t i = lo; i > 0 && lo - i < 4; i--) {
		const struct sym_entry *e = &t->v[i - 1];

		if (vaddr - e->addr < e->size || vaddr == e->addr)
			return e;
	}
	return NULL;
}

/* ---- source lines ---- */

static int cu_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cu_add(struct sym_object *o, size_t *cap, const Dwarf_Die *die, uint64_t lo, uint64_t hi)
{
	struct cu_range *grown;

	if (o->ncus == *cap) {
		grown = realloc(o->cus, (*cap * 2 + 64) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		o->cus = grown;
		*cap = *cap * 2 + 64;
	}
	o->cus[o->ncus++] = (struct cu_range){ .lo = lo, .hi = hi, .die = *die };
	return 0;
}

/* The address ranges of every compilation unit, from the units themselves: libdw 0.188 finds a
 * unit by .debug_aranges only, which clang and rustc do not emit by default. */
static void lines_load(struct sym_object *o)
{
	Dwarf *dw = dwfl_module_getdwarf(o->mod, &o->dwbias);
	Dwarf_CU *cu = NULL;
	Dwarf_Die die;
	Dwarf_Addr base, lo, hi;
	uint8_t type;
	size_t cap = 0;

	o->lines_done = true;
	if (!dw)
		return;
	while (dwarf_get_units(dw, cu, &cu, NULL, &type, &die, NULL) == 0) {
		ptrdiff_t off = 0;

		if (type != DW_UT_compile && type != DW_UT_partial && type != DW_UT_skeleton)
			continue;
		while ((off = dwarf_ranges(&die, off, &base, &lo, &hi)) > 0)
			if (lo < hi && cu_add(o, &cap, &die, lo, hi))
				return;
	}
	if (o->ncus)
		qsort(o->cus, o->ncus, sizeof(*o->cus), cu_cmp);
}

/* FILE as an absolute path: a relative name (a build run from its tree, "src/app.c") is
 * relative to the unit's DW_AT_comp_dir. The copy lives as long as the object. */
static const char *source_path(struct sym_object *o, Dwarf_Die *cu, const char *file)
{
	Dwarf_Attribute attr;
	const char *dir;
	uint64_t *known;
	char *full;

	if (file[0] == '/' || !dwarf_attr_integrate(cu, DW_AT_comp_dir, &attr) ||
	    !(dir = dwarf_formstring(&attr)) || dir[0] != '/')
		return file;
	if (!o->sources && !(o->sources = bytemap__new()))
		return file;
	/* libdw's strings stay put while the Dwarf lives: their address is the key */
	known = bytemap__get_u64(o->sources, (uintptr_t)file);
	if (known)
		return (const char *)(uintptr_t)*known;
	if (asprintf(&full, "%s/%s", dir, file) < 0)
		return file;
	if (bytemap__put_u64(o->sources, (uintptr_t)file, (uintptr_t)full)) {
		free(full);
		return file;
	}
	return full;
}

static void free_source(uint64_t val, void *arg)
{
	(void)arg;
	free((char *)(uintptr_t)val);
}

static void line_find(struct sym_object *o, uint64_t vaddr, struct sym_frame *f)
{
	uint64_t a;
	size_t lo = 0, hi;
	Dwarf_Line *line;

	if (!o->lines_done)
		lines_load(o);
	a = vaddr - o->dwbias;
	hi = o->ncus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->cus[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i > 0 && lo - i < 4; i--) {
		struct cu_range *c = &o->cus[i - 1];
		const char *file;

		if (a >= c->hi)
			continue;
		line = dwarf_getsrc_die(&c->die, a);
		file = line ? dwarf_linesrc(line, NULL, NULL) : NULL;
		if (!file || dwarf_lineno(line, &f->line) != 0)
			continue;
		f->file = source_path(o, &c->die, file);
		return;
	}
}

/* ---- names for addresses ---- */

#define JIT_REREAD_NS 20000000ull /* a miss rereads the perf map at most this often */

/* Code in anonymous memory: a JIT's. Its name, if the runtime wrote a perf map; the map grows as
 * code is compiled, so a miss reads what was added (not more often than JIT_REREAD_NS). A
 * JavaScript function of the program's files (a path, a file:// URL) is module "js", one of
 * Node.js' own ("node:fs", "internal/timers") "js-lib"; other code the runtime generated (V8's
 * stubs, regular expressions) "jit". */
static const struct perfmap_sym *jit_find(struct symbolizer *s, uint64_t a)
{
	const struct perfmap_sym *e = perfmap__find(s->jit, a);
	uint64_t now;

	if (e)
		return e;
	now = ls_mono_ns();
	if (now - s->jit_read_ns < JIT_REREAD_NS)
		return NULL;
	s->jit_read_ns = now;
	return perfmap__refresh(s->jit) > 0 ? perfmap__find(s->jit, a) : NULL;
}

/* A code range the memory map read last may not hold yet: the perf map says it is code. */
static bool jit_resolve(struct symbolizer *s, uint64_t a, uint64_t pc, struct sym_frame *out)
{
	const struct perfmap_sym *e = jit_find(s, a);

	if (!e)
		return false;
	out->func = e->func;
	out->func_off = pc - e->start;
	out->file = e->file;
	out->line = e->line;
	out->module = !e->file				 ? "jit"
		      : e->file[0] == '/' || !strncmp(e->file, "file://", 7) ? "js"
									     : "js-lib";
	return true;
}

static int frame_resolve(struct symbolizer *s, uint64_t pc, bool ra, struct sym_frame *out)
{
	/* a return address may be one past its function's end (a call to a noreturn function) */
	uint64_t a = ra ? pc - 1 : pc, vaddr;
	struct sym_map *m = map_find(s, a);
	const struct sym_entry *e;

	memset(out, 0, sizeof(*out));
	if (!m)
		return jit_resolve(s, a, pc, out) ? 0 : -ENOENT;
	out->mod_off = pc - m->start + m->offset;
	if (!m->obj) {
		if (m->exec && m->anon)
			jit_resolve(s, a, pc, out);
		return 0;
	}
	out->module = m->obj->name;
	if (!map_bias(s, m))
		return 0;
	vaddr = a - m->bias;
	out->mod_off = pc - m->bias;
	e = sym_find(m->obj, true, vaddr);
	if (e) {
		out->func = e->name;
		out->func_off = pc - m->bias - e->addr;
	}
	line_find(m->obj, vaddr, out);
	return 0;
}

int symbolizer__frame(struct symbolizer *s, uint64_t pc, bool ra, struct sym_frame *out)
{
	struct frame_slot *slot = &s->frames[hash_slot(pc ^ ra, FRAME_CACHE_BITS)];
	int err;

	if (slot->used && slot->pc == pc && slot->ra == ra) {
		*out = slot->f;
		return 0;
	}
	err = frame_resolve(s, pc, ra, out);
	if (err)
		return err;
	/* JIT code unnamed yet may be named once the runtime writes its perf map line */
	if (!out->func && !out->module)
		return 0;
	*slot = (struct frame_slot){ .pc = pc, .used = true, .ra = ra, .f = *out };
	return 0;
}

int symbolizer__data(struct symbolizer *s, uint64_t addr, const char **name, uint64_t *off)
{
	struct sym_map *m = map_find(s, addr);
	const struct sym_entry *e;

	if (!m || !m->obj || !map_bias(s, m))
		return -ENOENT;
	e = sym_find(m->obj, false, addr - m->bias);
	if (!e)
		return -ENOENT;
	*name = e->name;
	*off = addr - m->bias - e->addr;
	return 0;
}

bool symbolizer__in_file(const struct symbolizer *s, uint64_t addr)
{
	const struct sym_map *m = map_find(s, addr);

	return m && m->path[0] == '/';
}

bool symbolizer__is_anon(struct symbolizer *s, uint64_t addr)
{
	struct sym_map *m = map_find(s, addr);

	return m && m->anon && !(m->obj && map_covers(s, m, addr));
}

static bool has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while (elf && (scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB && sh.sh_size)
			return true;
	return false;
}

int symbolizer__object(struct symbolizer *s, uint64_t addr, struct sym_object_info *out)
{
	struct sym_map *m = map_find(s, addr);
	struct sym_object *o = m ? m->obj : NULL;
	const unsigned char *id;
	const char *debug = NULL;
	GElf_Addr id_at;
	Dwarf_Addr bias;
	Dwarf *dw;
	int n;

	if (!o || o->path[0] != '/')
		return -ENOENT;
	*out = (struct sym_object_info){.path = o->path, .build_id = o->build_id};
	if (!map_bias(s, m))
		return 0;
	out->readable = true;
	if (!o->syms_done)
		syms_load(o);
	/* the line tables' unit ranges too: the first stack must not pay for them */
	if (!o->lines_done)
		lines_load(o);
	dw = dwfl_module_getdwarf(o->mod, &bias);
	if (!o->info_done) {
		n = dwfl_module_build_id(o->mod, &id, &id_at);
		for (int i = 0; i < n && i < SYM_BUILD_ID_MAX; i++)
			snprintf(o->build_id + 2 * i, 3, "%02x", id[i]);
		o->info_done = true;
	}
	dwfl_module_info(o->mod, NULL, NULL, NULL, NULL, NULL, NULL, &debug);
	if (o->req.via != DEBUGINFO_NONE) {
		out->debug_file = debug;
		out->via = o->req.via;
	}
	out->symtab = has_symtab(dwfl_module_getelf(o->mod, &bias)) ||
		      (dw && has_symtab(dwarf_getelf(dw)));
	out->dynsym = o->funcs.n > 0;
	out->lines = dw != NULL;
	return 0;
}

static const char *region_kind(const struct sym_map *m)
{
	const char *p = m->path;

	if (!strcmp(p, "[heap]"))
		return "heap";
	if (!strncmp(p, "[stack", 6))
		return "stack";
	if (!strncmp(p, "/SYSV", 5) || !strncmp(p, "/dev/shm/", 9) || !strncmp(p, "/memfd:", 7) ||
	    !strcmp(p, "/dev/zero (deleted)") || (!*p && m->perms[3] == 's'))
		return "shm";
	if (!*p || !strncmp(p, "[anon", 5))
		return "anon mapping";
	return p[0] == '/' ? "file" : "anon mapping";
}

void symbolizer__region(struct symbolizer *s, uint64_t addr, struct sym_region *out)
{
	struct sym_map *m = map_find(s, addr);

	*out = (struct sym_region){.kind = "unmapped"};
	if (!m)
		return;
	if (m->obj && map_covers(s, m, addr)) {
		out->kind = "image";
		out->module = m->obj->name;
		out->vaddr = addr - m->bias;
		return;
	}
	out->kind = region_kind(m);
}

bool symbolizer__shared(struct symbolizer *s, uint64_t addr, struct sym_shared *out)
{
	struct sym_map *m = map_find(s, addr);

	if (!m || m->perms[3] != 's')
		return false;
	out->dev = (uint64_t)m->dev;
	out->ino = (uint64_t)m->ino;
	out->offset = m->offset + (addr - m->start);
	out->path = m->path;
	return true;
}

/* ---- CFI rows ---- */

/* Bytes before RA end in a call: e8 rel32, or ff /2 with any ModRM operand. Return addresses
 * from the frame-pointer chain or from a garbage snapshot rarely do, real ones always. */
static unsigned int modrm_len(const uint8_t *m, unsigned int avail)
{
	unsigned int mod = m[0] >> 6, rm = m[0] & 7, len = 1;

	if (mod == 3)
		return 1;
	if (rm == 4) {
		if (avail < 2)
			return 0;
		len++;
		if (mod == 0 && (m[1] & 7) == 5)
			len += 4;
	} else if (mod == 0 && rm == 5) {
		len += 4;	/* rip-relative */
	}
	return len + (mod == 1 ? 1 : mod == 2 ? 4 : 0);
}

static bool x86_call_before(const uint8_t *ra, unsigned int avail)
{
	if (avail >= 5 && ra[-5] == 0xe8)
		return true;
	for (unsigned int k = 2; k <= 7 && k <= avail; k++) {
		const uint8_t *p = ra - k;

		if (p[0] == 0xff && ((p[1] >> 3) & 7) == 2 && 1 + modrm_len(p + 1, k - 1) == k)
			return true;
	}
	return false;
}

static bool follows_call(const struct sym_object *o, uint64_t ra_vaddr)
{
	const struct load_seg *g = seg_containing(o, ra_vaddr - 1, true);
	uint64_t before, off;

	if (!g || !g->exec)
		return false;
	before = ra_vaddr - g->vaddr;
	off = g->offset + before;
	if (!o->image || off > o->image_len)
		return true;	/* cannot read the code: cannot judge */
	return x86_call_before(o->image + off, before < 7 ? (unsigned int)before : 7);
}

/* The target of the direct call (e8 rel32) that return address RA follows, as a runtime address;
 * false for an indirect call or code we cannot read. */
static bool direct_call_target(const struct symbolizer *s, uint64_t ra, uint64_t *target)
{
	const struct sym_map *m = map_find(s, ra - 1);
	const struct load_seg *g;
	uint64_t vaddr, off;
	int32_t rel;

	if (!m || !m->obj || !m->exec || !m->has_bias)
		return false;
	vaddr = ra - m->bias;
	g = seg_containing(m->obj, vaddr - 1, true);
	if (!g || !g->exec || vaddr - g->vaddr < 5)
		return false;
	off = g->offset + (vaddr - g->vaddr);
	if (!m->obj->image || off > m->obj->image_len || m->obj->image[off - 5] != 0xe8)
		return false;
	memcpy(&rel, m->obj->image + off - 4, sizeof(rel));
	*target = ra + (uint64_t)(int64_t)rel;
	return true;
}

/* The bytes of O at its address VADDR, LEN of them in one PT_LOAD's file image; NULL if not. */
static const uint8_t *image_at(const struct sym_object *o, uint64_t vaddr, uint64_t len)
{
	const struct load_seg *g = seg_containing(o, vaddr, true);
	uint64_t off;

	if (!g || !o->image || vaddr - g->vaddr + len > g->filesz)
		return NULL;
	off = g->offset + (vaddr - g->vaddr);
	return off + len <= o->image_len ? o->image + off : NULL;
}

/* The symbol that the relocation of O's GOT slot SLOT (its address) binds: a function another
 * object exports, as .rela.plt (JUMP_SLOT) or .rela.dyn (GLOB_DAT) names it. */
static const char *got_slot_symbol(const struct sym_object *o, uint64_t slot)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(o->mod, &bias);
	Elf_Scn *scn = NULL;
	GElf_Shdr sh, lsh;

	while (elf && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		Elf_Scn *link;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize ||
		    !(link = elf_getscn(elf, sh.sh_link)) || !gelf_getshdr(link, &lsh) ||
		    lsh.sh_type != SHT_DYNSYM || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			GElf_Sym sym;
			Elf_Data *syms;

			if (!gelf_getrela(data, (int)i, &r) || r.r_offset != slot)
				continue;
			syms = elf_getdata(link, NULL);
			if (!syms || !GELF_R_SYM(r.r_info) ||
			    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
				return NULL;
			return elf_strptr(elf, lsh.sh_link, sym.st_name);
		}
	}
	return NULL;
}

const char *symbolizer__callee(struct symbolizer *s, uint64_t ra)
{
	struct sym_map *m = map_find(s, ra - 1);
	static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
	const uint8_t *call, *stub;
	uint64_t vaddr, target;
	unsigned int k;
	int32_t rel;

	if (!m || !m->obj || !m->exec || !map_bias(s, m) || m->obj->state != OBJ_LOADED)
		return NULL;
	vaddr = ra - m->bias;
	/* call *slot(%rip): ff 15 disp32 */
	if ((call = image_at(m->obj, vaddr - 6, 6)) && call[0] == 0xff && call[1] == 0x15) {
		memcpy(&rel, call + 2, sizeof(rel));
		return got_slot_symbol(m->obj, vaddr + (uint64_t)(int64_t)rel);
	}
	/* call stub: e8 rel32 to a PLT entry, which jumps through its slot with ff 25 disp32
	 * (after endbr64 and a bnd prefix in .plt.sec) */
	if (!direct_call_target(s, ra, &target))
		return NULL;
	target -= m->bias;
	if (!(stub = image_at(m->obj, target, 16)))
		return NULL;
	k = !memcmp(stub, endbr64, sizeof(endbr64)) ? sizeof(endbr64) : 0;
	k += k && stub[k] == 0xf2;	/* bnd */
	if (stub[k] != 0xff || stub[k + 1] != 0x25)
		return NULL;
	memcpy(&rel, stub + k + 2, sizeof(rel));
	return got_slot_symbol(m->obj, target + k + 6 + (uint64_t)(int64_t)rel);
}

static Dwarf_Frame *cfi_frame(struct sym_object *o, uint64_t vaddr)
{
	Dwarf_Frame *f = NULL;

	if (!o->eh_done) {
		o->eh_done = true;
		o->eh = dwfl_module_eh_cfi(o->mod, &o->eh_bias);
	}
	if (o->eh && dwarf_cfi_addrframe(o->eh, vaddr - o->eh_bias, &f) == 0)
		return f;
	/* .debug_frame only where .eh_frame has no entry: it may mean loading the debug file */
	if (!o->dbg_done) {
		o->dbg_done = true;
		o->dbg = dwfl_module_dwarf_cfi(o->mod, &o->dbg_bias);
	}
	if (o->dbg && dwarf_cfi_addrframe(o->dbg, vaddr - o->dbg_bias, &f) == 0)
		return f;
	return NULL;
}

static int reg_rule(Dwarf_Frame *f, int regno, struct rule *r)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;

	if (dwarf_frame_register(f, regno, mem, &ops, &nops) != 0)
		return -EINVAL;
	*r = (struct rule){ .kind = ops ? RULE_UNDEF : RULE_SAME };
	if (!nops)
		return 0;
	if (ops != mem) {
		/* DW_CFA_expression: interned in the Dwarf_CFI, which lives with the object */
		*r = (struct rule){ .kind = RULE_EXPR, .ops = ops, .nops = (uint32_t)nops };
		return 0;
	}
	/* libdw's own encodings: regx N; or call_frame_cfa [plus_uconst N] [stack_value] */
	if (ops[0].atom == DW_OP_regx) {
		*r = (struct rule){ .kind = RULE_REG, .reg = (uint16_t)ops[0].number };
		return 0;
	}
	if (ops[0].atom != DW_OP_call_frame_cfa)
		return -EINVAL;
	r->off = nops > 1 && ops[1].atom == DW_OP_plus_uconst ? (int64_t)ops[1].number : 0;
	r->kind = ops[nops - 1].atom == DW_OP_stack_value ? RULE_CFA_PLUS : RULE_AT_CFA;
	return 0;
}

static int row_rules(Dwarf_Frame *f, struct cfi_row *row)
{
	Dwarf_Op *ops;
	size_t nops;
	int ra_reg = dwarf_frame_info(f, NULL, NULL, &row->signal);

	if (ra_reg < 0 || dwarf_frame_cfa(f, &ops, &nops) != 0 || !nops)
		return -EINVAL;
	if (nops == 1 && ops[0].atom == DW_OP_bregx) {
		/* the def_cfa op points into F, which is freed: keep register and offset only */
		row->cfa = (struct rule){ .kind = RULE_REG, .reg = (uint16_t)ops[0].number,
					  .off = (int64_t)ops[0].number2 };
	} else {
		row->cfa = (struct rule){ .kind = RULE_EXPR, .ops = ops, .nops = (uint32_t)nops };
	}
	if (reg_rule(f, ra_reg, &row->ra) || reg_rule(f, X86_RBP, &row->bp))
		return -EINVAL;
	return 0;
}

static void row_fill(struct symbolizer *s, struct sym_map *m, struct cfi_row *row)
{
	uint64_t vaddr;
	Dwarf_Frame *f;

	row->plausible = true;	/* code we cannot read (JIT, [vdso]) is taken on trust */
	if (!map_bias(s, m))
		return;
	vaddr = row->addr - m->bias;
	if (!row->exact)
		row->plausible = follows_call(m->obj, vaddr + 1);
	f = cfi_frame(m->obj, vaddr);
	if (!f)
		return;
	row->cfi = row_rules(f, row) == 0;
	/* glibc starts __restore_rt's FDE one byte early so pc - 1 finds it; no call there */
	row->plausible |= row->signal;
	free(f);
}

/* The cached row for PC; NULL if PC is in no executable mapping. */
static const struct cfi_row *row_get(struct symbolizer *s, uint64_t pc, bool exact)
{
	uint64_t addr = exact ? pc : pc - 1;
	struct cfi_row *row = &s->rows[hash_slot(addr ^ exact, ROW_CACHE_BITS)];
	struct sym_map *m;
	bool code;

	if (row->used && row->addr == addr && row->exact == exact)
		return row;
	m = map_find(s, addr);
	code = m && m->exec;
	/* or code a JIT made after the memory map was read, or while its pages were not executable */
	if (!code && ((m && !m->anon) || !jit_find(s, addr)))
		return NULL;
	*row = (struct cfi_row){ .addr = addr, .used = true, .exact = exact };
	/* JIT code: plausible on trust, without CFI */
	if (code)
		row_fill(s, m, row);
	else
		row->plausible = true;
	return row;
}

/* ---- the unwinder ---- */

/* Memory is known only inside the snapshot [sp, sp + snap_len) taken at the syscall. */
static bool snap_read(const struct unwind_input *in, uint64_t addr, uint64_t *val)
{
	uint64_t off = addr - in->sp;

	if (!in->snap || addr < in->sp || off > in->snap_len || in->snap_len - off < sizeof(*val))
		return false;
	memcpy(val, in->snap + off, sizeof(*val));
	return true;
}

static bool reg_value(const struct uw_frame *fr, unsigned int regno, uint64_t *val)
{
	switch (regno) {
	case X86_RIP:
		*val = fr->ip;
		return true;
	case X86_RSP:
		*val = fr->sp;
		return true;
	case X86_RBP:
		*val = fr->bp;
		return fr->bp_ok;
	}
	return false;
}

static bool expr_binop(uint8_t atom, uint64_t a, uint64_t b, uint64_t *res)
{
	switch (atom) {
	case DW_OP_plus: *res = a + b; break;
	case DW_OP_minus: *res = a - b; break;
	case DW_OP_mul: *res = a * b; break;
	case DW_OP_and: *res = a & b; break;
	case DW_OP_or: *res = a | b; break;
	case DW_OP_xor: *res = a ^ b; break;
	case DW_OP_shl: *res = b < 64 ? a << b : 0; break;
	case DW_OP_shr: *res = b < 64 ? a >> b : 0; break;
	case DW_OP_ge: *res = (int64_t)a >= (int64_t)b; break;
	case DW_OP_gt: *res = (int64_t)a > (int64_t)b; break;
	case DW_OP_le: *res = (int64_t)a <= (int64_t)b; break;
	case DW_OP_lt: *res = (int64_t)a < (int64_t)b; break;
	case DW_OP_eq: *res = a == b; break;
	case DW_OP_ne: *res = a != b; break;
	default: return false;
	}
	return true;
}

/* One operation that pushes a value; false if OP is not one or needs what we do not know. */
static bool expr_push(const Dwarf_Op *op, const struct uw_frame *fr, const uint64_t *cfa,
		      uint64_t *val)
{
	if (op->atom >= DW_OP_lit0 && op->atom <= DW_OP_lit31) {
		*val = op->atom - DW_OP_lit0;
		return true;
	}
	if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
		if (!reg_value(fr, op->atom - DW_OP_breg0, val))
			return false;
		*val += op->number;
		return true;
	}
	switch (op->atom) {
	case DW_OP_bregx:
		if (!reg_value(fr, (unsigned int)op->number, val))
			return false;
		*val += op->number2;
		return true;
	case DW_OP_const1u: case DW_OP_const1s: case DW_OP_const2u: case DW_OP_const2s:
	case DW_OP_const4u: case DW_OP_const4s: case DW_OP_const8u: case DW_OP_const8s:
	case DW_OP_constu: case DW_OP_consts:
		*val = op->number;
		return true;
	case DW_OP_call_frame_cfa:
		*val = cfa ? *cfa : 0;
		return cfa != NULL;
	}
	return false;
}

/* Evaluates the expression forms CFI uses in practice (PLT entries, signal frames): constants,
 * registers, arithmetic, comparisons, deref from the snapshot. No branches. */
static enum uw_stop expr_eval(const struct rule *r, const struct uw_frame *fr,
			      const struct unwind_input *in, const uint64_t *cfa, uint64_t *val,
			      bool *is_value)
{
	uint64_t st[EXPR_STACK];
	int n = 0;

	*is_value = false;
	for (uint32_t i = 0; i < r->nops; i++) {
		const Dwarf_Op *op = &r->ops[i];

		if (n < EXPR_STACK && expr_push(op, fr, cfa, &st[n])) {
			n++;
		} else if (op->atom == DW_OP_stack_value) {
			*is_value = true;
		} else if (op->atom == DW_OP_plus_uconst && n >= 1) {
			st[n - 1] += op->number;
		} else if (op->atom == DW_OP_deref && n >= 1) {
			if (!snap_read(in, st[n - 1], &st[n - 1]))
				return UW_SNAP;
		} else if (n >= 2 && expr_binop(op->atom, st[n - 2], st[n - 1], &st[n - 2])) {
			n--;
		} else if (op->atom != DW_OP_nop) {
			return UW_CFI;
		}
	}
	if (!n)
		return UW_CFI;
	*val = st[n - 1];
	return UW_OK;
}

/* The caller's value of register REGNO under rule R. *SLOT gets where it was saved, if it was. */
static enum uw_stop rule_apply(const struct rule *r, const struct uw_frame *fr, unsigned int regno,
			       const struct unwind_input *in, uint64_t cfa, uint64_t *val,
			       uint64_t *slot)
{
	enum uw_stop st;
	bool is_value;

	*slot = 0;
	switch (r->kind) {
	case RULE_UNDEF:
		return UW_END;
	case RULE_SAME:
		return reg_value(fr, regno, val) ? UW_OK : UW_CFI;
	case RULE_CFA_PLUS:
		*val = cfa + (uint64_t)r->off;
		return UW_OK;
	case RULE_REG:
		if (!reg_value(fr, r->reg, val))
			return UW_CFI;
		*val += (uint64_t)r->off;
		return UW_OK;
	case RULE_AT_CFA:
		*slot = cfa + (uint64_t)r->off;
		return snap_read(in, *slot, val) ? UW_OK : UW_SNAP;
	}
	st = expr_eval(r, fr, in, &cfa, val, &is_value);
	if (st != UW_OK || is_value)
		return st;
	*slot = *val;
	return snap_read(in, *slot, val) ? UW_OK : UW_SNAP;
}

static enum uw_stop cfa_compute(const struct rule *r, const struct uw_frame *fr,
				const struct unwind_input *in, uint64_t *cfa)
{
	bool is_value;

	if (r->kind == RULE_REG) {
		if (!reg_value(fr, r->reg, cfa))
			return UW_CFI;
		*cfa += (uint64_t)r->off;
		return UW_OK;
	}
	return expr_eval(r, fr, in, NULL, cfa, &is_value);
}

/* Replaces FR by its caller's frame under ROW, or says why it cannot. */
static enum uw_stop row_step(struct symbolizer *s, const struct unwind_input *in,
			     const struct cfi_row *row, struct uw_frame *fr)
{
	const struct cfi_row *up;
	struct uw_frame next = { 0 };
	enum uw_stop st;
	uint64_t cfa, bp_slot;

	st = cfa_compute(&row->cfa, fr, in, &cfa);
	if (st != UW_OK)
		return st;
	/* the CFA is the caller's sp before the call: above this frame, or the stack is bad */
	if (cfa <= fr->sp)
		return UW_BAD;
	st = rule_apply(&row->ra, fr, X86_RIP, in, cfa, &next.ip, &next.ra_slot);
	if (st != UW_OK)
		return st;
	if (!next.ip)
		return UW_END;
	next.sp = cfa;
	next.exact = row->signal;
	next.bp_ok = rule_apply(&row->bp, fr, X86_RBP, in, cfa, &next.bp, &bp_slot) == UW_OK;
	up = row_get(s, next.ip, next.exact);
	if (!up || !up->plausible)
		return UW_BAD;
	*fr = next;
	return UW_OK;
}

/* RA follows a direct call to the function IP is in (IP_IS_RA: IP is a return address): the
 * evidence that a frame record found by search is this frame's caller's, and not one left in the
 * frame's padding by an earlier call. Calls through a pointer or a PLT stub, and functions
 * without a symbol, give none. */
static bool calls_here(struct symbolizer *s, uint64_t ra, uint64_t ip, bool ip_is_ra)
{
	struct sym_frame here;
	uint64_t target;

	return direct_call_target(s, ra, &target) &&
	       !symbolizer__frame(s, ip, ip_is_ra, &here) && here.func &&
	       target == ip - here.func_off;
}

/* A frame whose CFA is rbp-based, entered with rbp unknown: a thread read asleep in a system
 * call, from /proc, has no rbp, and the syscall wrapper in libc keeps its caller's. Its frame
 * record (saved rbp, return address) lies above sp: the lowest slot from which this frame
 * unwinds, to a return address after a direct call to this very function, and its caller's
 * frame to no bad return address, is taken as rbp. Stale records of earlier calls fill frames'
 * padding and unwind as well as a live one (through frames long gone): without that call as
 * evidence, the stack is cut there, and says so. */
static bool bp_search(struct symbolizer *s, const struct unwind_input *in,
		      const struct cfi_row *row, struct uw_frame *fr)
{
	uint64_t from = (fr->sp + 7) & ~7ull, end = in->sp + in->snap_len;

	if (end - from > BP_SEARCH_MAX)
		end = from + BP_SEARCH_MAX;
	for (uint64_t a = from; a + 16 <= end; a += 8) {
		struct uw_frame up = *fr;
		enum uw_stop st;

		up.bp = a;
		up.bp_ok = true;
		if (row_step(s, in, row, &up) != UW_OK || !calls_here(s, up.ip, fr->ip, !fr->exact))
			continue;
		/* the caller's own step may need more than the copy holds, not a bad address */
		st = cfi_step(s, in, &up);
		if (st == UW_BAD)
			continue;
		fr->bp = a;
		fr->bp_ok = true;
		s->stats.bp_found++;
		return true;
	}
	return false;
}

/* Where the return address of the innermost frame at PC is, in code without CFI that a symbol
 * covers: at sp + *OFF if its function has no frame record (yet) there: it does not begin with
 * push %rbp; mov %rsp,%rbp (a stub that makes no frame, as V8's inline-cache builtins), or PC is
 * before that; false if it has one, or the code cannot be read. */
static bool ra_at_sp(struct symbolizer *s, uint64_t pc, uint64_t *off)
{
	static const uint8_t prologue[] = {0x55, 0x48, 0x89, 0xe5};
	struct sym_map *m = map_find(s, pc);
	const struct sym_entry *e;
	const struct load_seg *g;
	uint64_t at, fo;

	if (!m || !m->obj || !map_bias(s, m) || !(e = sym_find(m->obj, true, pc - m->bias)))
		return false;
	at = pc - m->bias - e->addr;
	g = seg_containing(m->obj, e->addr, true);
	if (!g || !m->obj->image)
		return false;
	fo = g->offset + (e->addr - g->vaddr);
	if (fo + sizeof(prologue) > m->obj->image_len)
		return false;
	if (memcmp(m->obj->image + fo, prologue, sizeof(prologue))) {
		*off = 0;
		return true;
	}
	if (at >= sizeof(prologue))
		return false;
	*off = at ? 8 : 0;	/* after push %rbp: the return address is above it */
	return true;
}

/* A frame without CFI, as JIT-compiled code is (V8's keeps a frame record at rbp, as its own
 * stack walks need): the caller from that record, if it is in the copy, above sp, and returns
 * after a call; for the innermost frame in a function that makes no record, from sp. Else
 * UW_CFI, and the kernel's frame-pointer chain may go on from there. */
static enum uw_stop fp_step(struct symbolizer *s, const struct unwind_input *in,
			    struct uw_frame *fr)
{
	struct uw_frame next = { .bp_ok = true };
	const struct cfi_row *up;
	uint64_t off;

	if (fr->exact && ra_at_sp(s, fr->ip, &off) && snap_read(in, fr->sp + off, &next.ip) &&
	    next.ip) {
		next.sp = fr->sp + off + 8;
		next.ra_slot = fr->sp + off;
		next.bp = fr->bp;
		next.bp_ok = fr->bp_ok;
		up = row_get(s, next.ip, false);
		if (up && up->plausible) {
			*fr = next;
			s->stats.jit_frames++;
			return UW_OK;
		}
		next = (struct uw_frame){ .bp_ok = true };
	}
	if (!fr->bp_ok || fr->bp < fr->sp || fr->bp & 7 || !snap_read(in, fr->bp, &next.bp) ||
	    !snap_read(in, fr->bp + 8, &next.ip) || !next.ip)
		return UW_CFI;
	next.sp = fr->bp + 16;
	next.ra_slot = fr->bp + 8;
	up = row_get(s, next.ip, false);
	if (!up || !up->plausible)
		return UW_CFI;
	*fr = next;
	s->stats.jit_frames++;
	return UW_OK;
}

/* Replaces FR by its caller's frame, or says why it cannot. */
static enum uw_stop cfi_step(struct symbolizer *s, const struct unwind_input *in,
			     struct uw_frame *fr)
{
	const struct cfi_row *row = row_get(s, fr->ip, fr->exact);

	if (!row)
		return UW_BAD;
	if (!row->cfi)
		return s->searching ? UW_CFI : fp_step(s, in, fr);
	if (!fr->bp_ok && row->cfa.kind == RULE_REG && row->cfa.reg == X86_RBP) {
		bool found;

		/* not within a search: it tries each slot two frames deep, once */
		if (s->searching)
			return UW_NO_BP;
		s->searching = true;
		found = bp_search(s, in, row, fr);
		s->searching = false;
		if (!found)
			return UW_NO_BP;
	}
	return row_step(s, in, row, fr);
}

/* The frame records of the kernel's frame-pointer walk, redone over the snapshot: addrs[k] is
 * the record fp[k + 1] was read from (at addrs[k] + 8), or 0 where the snapshot does not reach. */
static void fp_chain_addrs(const struct unwind_input *in, uint64_t *addrs)
{
	uint64_t rec = in->bp, ra;

	memset(addrs, 0, FP_ADDRS_MAX * sizeof(*addrs));
	for (int k = 0; k < FP_ADDRS_MAX && k + 1 < in->nfp; k++) {
		if (!snap_read(in, rec + 8, &ra)) {
			addrs[k] = rec;	/* the kernel read on past the snapshot from here */
			return;
		}
		if (ra != in->fp[k + 1])
			return;	/* the snapshot and the chain disagree: trust no address */
		addrs[k] = rec;
		if (!snap_read(in, rec, &rec))
			return;
	}
}

/* Where the FP chain goes on from the CFI walk's last frame: index j such that fp[j + 1] is
 * that frame's caller, or -1. By pc: the chain holds the last return address we found (and
 * read it from the same stack slot, where we can tell). By rbp: the frame's rbp, pointing
 * above its sp, is one of the chain's frame records. With nothing unwound, the chain alone. */
static int fp_splice_at(const struct unwind_input *in, const struct uw_frame *fr, uint64_t last,
			int n)
{
	uint64_t addrs[FP_ADDRS_MAX];

	if (n == 1)
		return 0;
	fp_chain_addrs(in, addrs);
	for (int j = 1; j < in->nfp; j++) {
		if (in->fp[j] != last)
			continue;
		if (j - 1 < FP_ADDRS_MAX && addrs[j - 1] && fr->ra_slot &&
		    addrs[j - 1] + 8 != fr->ra_slot)
			continue;	/* same pc, other frame: recursion */
		return j;
	}
	if (!fr->bp_ok || fr->bp < fr->sp)
		return -1;
	for (int j = 0; j < in->nfp && j < FP_ADDRS_MAX; j++)
		if (addrs[j] && addrs[j] == fr->bp)
			return j;
	return -1;
}

static int fp_continue(struct symbolizer *s, const struct unwind_input *in,
		       const struct uw_frame *fr, uint64_t *pcs, int n, int max)
{
	const struct cfi_row *row;
	int j;

	if (!in->fp || in->nfp < 1)
		return n;
	j = fp_splice_at(in, fr, pcs[n - 1], n);
	/* CFI frames are right as far as they go; an FP chain we cannot join may not be */
	if (j < 0)
		return n;
	if (n > 1)
		s->stats.spliced++;
	else
		s->stats.fp_only++;
	for (int k = j + 1; k < in->nfp && n < max; k++) {
		row = in->fp[k] ? row_get(s, in->fp[k], false) : NULL;
		if (!row || !row->plausible) {
			s->stats.fp_rejected += in->fp[k] != 0;
			break;
		}
		pcs[n++] = in->fp[k];
		s->stats.fp_frames++;
	}
	return n;
}

static enum sym_cut count_stop(struct sym_stats *st, enum uw_stop why)
{
	switch (why) {
	case UW_SNAP: st->cut_snapshot++; return SYM_CUT_SNAPSHOT;
	case UW_CFI: st->cut_cfi++; return SYM_CUT_CFI;
	case UW_BAD: st->cut_bad++; return SYM_CUT_BAD;
	case UW_NO_BP: st->cut_no_bp++; return SYM_CUT_NO_BP;
	default: return SYM_WHOLE;
	}
}

/* The kernel's return-probe trampoline: a return probe puts it in place of its function's return
 * address, which only the kernel then knows (the caller puts back those it has: unwind_input's
 * snapshot). Past it nothing is known: the stack is cut there, and counted. */
static bool is_trampoline(const struct symbolizer *s, uint64_t pc)
{
	const struct sym_map *m = map_find(s, pc);

	return m && !strcmp(m->path, "[uprobes]");
}

int symbolizer__unwind_cut(struct symbolizer *s, const struct unwind_input *in, uint64_t *pcs,
			   int max, enum sym_cut *cut)
{
	/* rbp 0 is no frame's base: the caller did not know it (a thread read from /proc) */
	struct uw_frame fr = { .ip = in->ip, .sp = in->sp, .bp = in->bp, .bp_ok = in->bp != 0,
			       .exact = true };
	enum uw_stop why = UW_OK;
	int n = 1, m;

	*cut = SYM_WHOLE;
	if (max < 1)
		return 0;
	s->stats.unwinds++;
	/* in the uprobe page where BPF could not tell what it stands for: nothing to show */
	if (is_trampoline(s, in->ip)) {
		s->stats.cut_trampoline++;
		return 0;
	}
	pcs[0] = in->ip;
	while (n < max && (why = cfi_step(s, in, &fr)) == UW_OK) {
		if (is_trampoline(s, fr.ip)) {
			s->stats.cut_trampoline++;
			s->stats.cfi_frames += (uint64_t)(n - 1);
			*cut = SYM_CUT_TRAMPOLINE;
			return n;
		}
		pcs[n++] = fr.ip;
	}
	s->stats.cfi_frames += (uint64_t)(n - 1);
	if (n == max) {
		*cut = SYM_CUT_DEPTH;
		return n;
	}
	if (why == UW_END)
		return n;
	*cut = count_stop(&s->stats, why);
	m = fp_continue(s, in, &fr, pcs, n, max);
	/* the frame-pointer chain ends at its outermost frame or at code built without one */
	if (m > n)
		*cut = m == max ? SYM_CUT_DEPTH : SYM_CUT_FP;
	return m;
}

int symbolizer__unwind(struct symbolizer *s, const struct unwind_input *in, uint64_t *pcs, int max)
{
	enum sym_cut cut;

	return symbolizer__unwind_cut(s, in, pcs, max, &cut);
}

const char *symbolizer__cut_why(enum sym_cut cut)
{
	static const char *const why[] = {
		[SYM_WHOLE] = "",
		[SYM_CUT_SNAPSHOT] = "the stack copy ends here",
		[SYM_CUT_CFI] = "no unwind info for this frame",
		[SYM_CUT_BAD] = "a bad return address",
		[SYM_CUT_NO_BP] = "frame base register unknown",
		[SYM_CUT_TRAMPOLINE] = "a return probe hides the caller",
		[SYM_CUT_DEPTH] = "too many frames",
		[SYM_CUT_FP] = "end of the frame-pointer chain",
	};

	return cut < sizeof(why) / sizeof(*why) ? why[cut] : "?";
}

bool symbolizer__frame_rule(struct symbolizer *s, uint64_t pc, bool exact,
			    struct ls_frame_rule *out)
{
	const struct cfi_row *row = row_get(s, pc, exact);

	if (!row || !row->cfi || !row->plausible || row->signal)
		return false;
	*out = (struct ls_frame_rule){ .pc = pc, .flags = LS_RULE_USED | (exact ? LS_RULE_EXACT : 0) };
	if (row->ra.kind == RULE_UNDEF) {
		out->flags |= LS_RULE_END;
		return true;
	}
	if (row->ra.kind != RULE_AT_CFA || row->ra.off != -8 || row->cfa.kind != RULE_REG ||
	    (row->cfa.reg != X86_RSP && row->cfa.reg != X86_RBP) || row->cfa.off != (int32_t)row->cfa.off)
		return false;
	out->cfa_off = (int32_t)row->cfa.off;
	out->flags |= row->cfa.reg == X86_RBP ? LS_RULE_CFA_BP : 0;
	switch (row->bp.kind) {
	case RULE_SAME:
		return true;
	case RULE_UNDEF:
		out->flags |= LS_RULE_BP_LOST;
		return true;
	case RULE_AT_CFA:
		if (row->bp.off != (int16_t)row->bp.off)
			return false;
		out->bp_off = (int16_t)row->bp.off;
		out->flags |= LS_RULE_BP_SAVED;
		return true;
	default:
		return false;
	}
}

/* ---- lifetime ---- */

static void caches_flush(struct symbolizer *s)
{
	memset(s->rows, 0, sizeof(s->rows));
	memset(s->frames, 0, sizeof(s->frames));
}

int symbolizer__refresh(struct symbolizer *s)
{
	char path[64];
	char *text = NULL;
	struct sym_map *maps = NULL;
	size_t n = 0;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	err = read_whole(path, &text);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = maps_parse(s, text, &maps, &n);
	if (!err && n == 0)
		err = -ESRCH;	/* a zombie's map reads empty: keep what it had when it lived */
	if (err) {
		free(maps);
		free(text);
		return err;
	}
	free(s->maps);
	free(s->maps_text);
	s->maps = maps;
	s->nmaps = n;
	s->maps_text = text;
	/* cached rows and frames are keyed by runtime address, which may now mean another object */
	caches_flush(s);
	return 0;
}

struct symbolizer *symbolizer__new(pid_t pid)
{
	return symbolizer__new_sharing(pid, NULL);
}

struct symbolizer *symbolizer__new_sharing(pid_t pid, const struct symbolizer *lender)
{
	struct symbolizer *s;
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOSYS;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->pid = pid;
	s->lender = lender;
	s->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	s->debug = debuginfo__new(pid);
	s->jit = perfmap__new(pid);
	if (!s->debug || !s->jit) {
		debuginfo__free(s->debug);
		perfmap__free(s->jit);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->callbacks = (Dwfl_Callbacks){
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = debuginfo__find,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = debuginfo__path(s->debug),
	};
	err = symbolizer__refresh(s);
	if (err) {
		symbolizer__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

static void object_free(struct sym_object *o)
{
	if (o->dwfl)
		dwfl_end(o->dwfl);
	for (size_t i = 0; i < o->nowned; i++)
		free(o->owned[i]);
	free(o->owned);
	free(o->funcs.v);
	free(o->vars.v);
	free(o->cus);
	free(o->segs);
	free(o->path);
	free(o->name);
	free(o->file_path);
	if (o->sources)
		bytemap__each(o->sources, free_source, NULL);
	bytemap__free(o->sources);
	free(o);
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nobjs; i++)
		if (s->objs[i]->owner == s)
			object_free(s->objs[i]);
	free(s->objs);
	free(s->maps);
	free(s->maps_text);
	debuginfo__free(s->debug);
	perfmap__free(s->jit);
	free(s);
}

bool symbolizer__mapping(const struct symbolizer *s, int idx, struct sym_mapping *out)
{
	const struct sym_map *m;

	if (idx < 0 || (size_t)idx >= s->nmaps)
		return false;
	m = &s->maps[idx];
	*out = (struct sym_mapping){
		.start = m->start,
		.end = m->end,
		.offset = m->offset,
		.perms = m->perms,
		.path = m->path,
	};
	return true;
}

void symbolizer__stats(const struct symbolizer *s, struct sym_stats *out)
{
	*out = s->stats;
}
