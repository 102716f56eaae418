/* probes.c - attaches full mode's programs to the lock API through BPF_LINK_CREATE with
 * BPF_TRACE_UPROBE_MULTI: one link per program, one grace period to detach them all. */
#include "capture/probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <pthread.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/common.h"
#include "util/privs.h"
#include "bpf/events.h"
#include "lockscope.skel.h"

#define UPROBE_MULTI_RETURN 1	/* BPF_F_UPROBE_MULTI_RETURN */

enum role { ROLE_LOCK, ROLE_UNLOCK, ROLE_DESTROY };

struct func {
	const char *name;
	uint32_t api;
	enum role role;
};

static const struct func funcs[] = {
	{"pthread_mutex_lock", LS_API_MUTEX, ROLE_LOCK},
	{"pthread_mutex_trylock", LS_API_MUTEX | LS_API_TRY, ROLE_LOCK},
	{"pthread_mutex_timedlock", LS_API_MUTEX | LS_API_TIMED, ROLE_LOCK},
	{"pthread_mutex_clocklock", LS_API_MUTEX | LS_API_TIMED, ROLE_LOCK},
	{"pthread_rwlock_rdlock", LS_API_RWLOCK | LS_API_SHARED, ROLE_LOCK},
	{"pthread_rwlock_tryrdlock", LS_API_RWLOCK | LS_API_SHARED | LS_API_TRY, ROLE_LOCK},
	{"pthread_rwlock_timedrdlock", LS_API_RWLOCK | LS_API_SHARED | LS_API_TIMED, ROLE_LOCK},
	{"pthread_rwlock_clockrdlock", LS_API_RWLOCK | LS_API_SHARED | LS_API_TIMED, ROLE_LOCK},
	{"pthread_rwlock_wrlock", LS_API_RWLOCK, ROLE_LOCK},
	{"pthread_rwlock_trywrlock", LS_API_RWLOCK | LS_API_TRY, ROLE_LOCK},
	{"pthread_rwlock_timedwrlock", LS_API_RWLOCK | LS_API_TIMED, ROLE_LOCK},
	{"pthread_rwlock_clockwrlock", LS_API_RWLOCK | LS_API_TIMED, ROLE_LOCK},
	{"sem_wait", LS_API_SEM, ROLE_LOCK},
	{"sem_trywait", LS_API_SEM | LS_API_TRY, ROLE_LOCK},
	{"sem_timedwait", LS_API_SEM | LS_API_TIMED, ROLE_LOCK},
	{"sem_clockwait", LS_API_SEM | LS_API_TIMED, ROLE_LOCK},
	{"pthread_cond_wait", LS_API_COND, ROLE_LOCK},
	{"pthread_cond_timedwait", LS_API_COND | LS_API_TIMED, ROLE_LOCK},
	{"pthread_cond_clockwait", LS_API_COND | LS_API_TIMED, ROLE_LOCK},
	{"pthread_mutex_unlock", LS_API_MUTEX | LS_API_UNLOCK, ROLE_UNLOCK},
	{"pthread_rwlock_unlock", LS_API_RWLOCK | LS_API_UNLOCK, ROLE_UNLOCK},
	{"sem_post", LS_API_SEM | LS_API_UNLOCK, ROLE_UNLOCK},
	{"pthread_mutex_destroy", LS_API_MUTEX | LS_API_DESTROY, ROLE_DESTROY},
	{"pthread_rwlock_destroy", LS_API_RWLOCK | LS_API_DESTROY, ROLE_DESTROY},
	{"sem_destroy", LS_API_SEM | LS_API_DESTROY, ROLE_DESTROY},
};

/* CPython's own lock (threading.Lock, RLock, the locks behind Thread.join): a semaphore with
 * no owner word, so its holders come from these calls. The release first: a link puts its
 * probes in in the order of its offsets, and CPython's are put in while the C library's run
 * (lock_probes__add_python), so that every take seen has its release seen. */
static const struct func py_funcs[] = {
	{"PyThread_release_lock", LS_API_MUTEX | LS_API_PY | LS_API_UNLOCK, ROLE_UNLOCK},
	{"PyThread_acquire_lock_timed", LS_API_MUTEX | LS_API_PY, ROLE_LOCK},
};

#define NFUNCS ARRAY_SIZE(funcs)

/* One link: a program on a set of offsets of the library. */
struct link_set {
	int fd;
	uint32_t cnt;
	uint64_t offsets[NFUNCS];
	uint64_t cookies[NFUNCS];
};

/* Two links: every entry probe shares one program, every return probe the other. */
enum { L_ENTRY, L_RETURN, L__COUNT };

/* One probed object: the C library, or CPython's. */
struct probed_lib {
	char path[PATH_MAX + 32];	/* as a path this process can open */
	char shown[PATH_MAX];		/* as the target names it */
	struct link_set links[L__COUNT];
};

struct lock_probes {
	struct lockscope_bpf *skel;
	pid_t pid;		/* read through: /proc/PID/maps, /proc/PID/root */
	pid_t tgid;		/* probed: the kernel filters uprobe links by process */
	struct probed_lib libs[2];	/* libc; CPython's once found */
	int nlibs;
	int nfound;
	bool attached;
};

/* The attr of BPF_LINK_CREATE for uprobe_multi, as Linux 6.6+ lays it out. */
struct uprobe_multi_attr {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid;
};

static int link_create(int prog_fd, const char *path, const struct link_set *ls, bool ret,
		       pid_t pid, uint32_t attach_type)
{
	union bpf_attr attr;
	struct uprobe_multi_attr *a = (void *)&attr;

	_Static_assert(sizeof(struct uprobe_multi_attr) <= sizeof(union bpf_attr), "attr size");
	memset(&attr, 0, sizeof(attr));
	a->prog_fd = prog_fd;
	a->attach_type = attach_type;
	a->path = (uint64_t)(uintptr_t)path;
	a->offsets = (uint64_t)(uintptr_t)ls->offsets;
	a->cookies = (uint64_t)(uintptr_t)ls->cookies;
	a->cnt = ls->cnt;
	a->multi_flags = ret ? UPROBE_MULTI_RETURN : 0;
	a->pid = pid;
	return syscall(SYS_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
}

/* The file offset of a virtual address, through the PT_LOAD segment that holds it. */
static uint64_t file_offset(Elf *e, uint64_t vaddr)
{
	size_t n;

	if (elf_getphdrnum(e, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
		    vaddr < ph.p_vaddr + ph.p_filesz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

/* Offsets of FUNCS in .dynsym. glibc exports some twice (pthread_cond_wait@GLIBC_2.2.5 and
 * @@GLIBC_2.3.2), which libbpf 1.1 refuses as ambiguous: the default version is the one
 * whose .gnu.version entry is not hidden. */
static int find_offsets(const char *path, const struct func *fs, size_t nfs, uint64_t *offs)
{
	Elf_Scn *scn = NULL, *dynsym = NULL, *versym = NULL;
	Elf_Data *syms, *vers = NULL;
	GElf_Shdr sh, symsh;
	int fd, found = 0;
	Elf *e;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ, NULL);
	while (e && (scn = elf_nextscn(e, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
		else if (sh.sh_type == SHT_GNU_versym)
			versym = scn;
	}
	if (!dynsym || !gelf_getshdr(dynsym, &symsh) || !symsh.sh_entsize)
		goto out;
	syms = elf_getdata(dynsym, NULL);
	if (versym)
		vers = elf_getdata(versym, NULL);
	for (size_t i = 0; syms && i < symsh.sh_size / symsh.sh_entsize; i++) {
		GElf_Sym s;
		GElf_Versym v = 0;
		const char *name;

		if (!gelf_getsym(syms, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || !s.st_value)
			continue;
		if (vers && gelf_getversym(vers, i, &v) && (v & 0x8000))
			continue;	/* a hidden, older version */
		name = elf_strptr(e, symsh.sh_link, s.st_name);
		for (size_t f = 0; name && f < nfs; f++) {
			if (!offs[f] && !strcmp(name, fs[f].name)) {
				offs[f] = file_offset(e, s.st_value);
				found += offs[f] != 0;
			}
		}
	}
out:
	if (e)
		elf_end(e);
	close(fd);
	return found;
}

/* The C library mapped in PID: its path as the target sees it. */
static bool find_libc(pid_t pid, char *shown, size_t len)
{
	char maps[64], line[PATH_MAX + 128];
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/'), *base;

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		base = strrchr(path, '/') + 1;
		if (!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5)) {
			snprintf(shown, len, "%s", path);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void fill_links(struct lock_probes *p, struct probed_lib *lib, const struct func *fs,
		       size_t nfs, const uint64_t *offs)
{
	for (size_t f = 0; f < nfs; f++) {
		int which[2] = {-1, -1};

		if (!offs[f])
			continue;
		p->nfound++;
		which[0] = L_ENTRY;
		if (fs[f].role == ROLE_LOCK)
			which[1] = L_RETURN;
		for (int k = 0; k < 2 && which[k] >= 0; k++) {
			struct link_set *ls = &lib->links[which[k]];

			ls->offsets[ls->cnt] = offs[f];
			ls->cookies[ls->cnt++] = fs[f].api;
		}
	}
}

static void lib_init(struct probed_lib *lib)
{
	for (int i = 0; i < L__COUNT; i++)
		lib->links[i].fd = -1;
}

struct lock_probes *lock_probes__new(struct lockscope_bpf *skel, pid_t pid, bool launched,
				     char *why, size_t why_len)
{
	struct lock_probes *p = calloc(1, sizeof(*p));
	uint64_t offs[NFUNCS] = {0};

	if (!p)
		return NULL;
	struct probed_lib *lib = &p->libs[0];

	p->skel = skel;
	p->pid = pid;
	p->tgid = ls_tgid_of(pid) ?: pid;
	lib_init(lib);
	/* a command not yet exec'd has lockscope's own map: its C library is the system's */
	if (!find_libc(launched ? getpid() : pid, lib->shown, sizeof(lib->shown))) {
		snprintf(why, why_len, "process %d has no C library mapped (statically linked?)", pid);
		goto fail;
	}
	snprintf(lib->path, sizeof(lib->path), "/proc/%d/root%s", launched ? getpid() : pid,
		 lib->shown);
	if (find_offsets(lib->path, funcs, NFUNCS, offs) <= 0) {
		snprintf(why, why_len, "%s: no pthread lock functions found", lib->shown);
		goto fail;
	}
	fill_links(p, lib, funcs, NFUNCS, offs);
	p->nlibs = 1;
	return p;
fail:
	free(p);
	errno = ENOENT;
	return NULL;
}

bool lock_probes__target_uses(const struct lock_probes *p)
{
	char shown[PATH_MAX];

	return find_libc(p->pid, shown, sizeof(shown)) && !strcmp(shown, p->libs[0].shown);
}

/* With uprobe sessions, the entry link's offsets get the session program, and there is no
 * return link: its entry asks for the return only of lock calls. Without, a library put in
 * while events flow (LIVE) gets its return probes first: a call whose entry is seen has its
 * return seen. */
static int lib_attach(struct lock_probes *p, struct probed_lib *lib, bool live)
{
	int session = bpf_program__fd(p->skel->progs.lock_session);
	const struct bpf_program *progs[L__COUNT] = {p->skel->progs.lock_entry,
						     p->skel->progs.lock_return};
	int n = session >= 0 ? 1 : L__COUNT;

	for (int k = 0; k < n; k++) {
		int i = live && n == L__COUNT ? n - 1 - k : k;
		struct link_set *ls = &lib->links[i];

		if (!ls->cnt || ls->fd >= 0)
			continue;
		if (session >= 0)
			ls->fd = link_create(session, lib->path, ls, false, p->tgid,
					     LS_TRACE_UPROBE_SESSION);
		else
			ls->fd = link_create(bpf_program__fd(progs[i]), lib->path, ls,
					     i == L_RETURN, p->tgid, LS_TRACE_UPROBE_MULTI);
		if (ls->fd < 0)
			return -errno;
	}
	return 0;
}

int lock_probes__attach(struct lock_probes *p)
{
	int err = 0;

	if (p->attached)
		return 0;
	for (int l = 0; l < p->nlibs && !err; l++)
		err = lib_attach(p, &p->libs[l], false);
	if (err) {
		lock_probes__detach(p);
		return err;
	}
	p->attached = true;
	p->skel->bss->window_open = 1;	/* every breakpoint is in: events may go (BPF) */
	return 0;
}

static void *close_link(void *fd)
{
	close((int)(intptr_t)fd);
	return NULL;
}

/* Each close waits for a grace period (~50 ms here) while its probes still trap: the links of
 * one kind are closed in parallel so that the target pays for one. The return probes go first:
 * a call entered while only they remain gets the trampoline in place of its return address
 * with no entry probe to keep the original, and a wait in it would have its stack cut there. */
void lock_probes__detach(struct lock_probes *p)
{
	static const int order[L__COUNT] = {L_RETURN, L_ENTRY};

	p->skel->bss->window_open = 0;	/* before the first breakpoint comes out */

	for (int o = 0; o < L__COUNT; o++) {
		pthread_t th[2];
		bool started[2] = {false};

		for (int l = 0; l < p->nlibs; l++) {
			struct link_set *ls = &p->libs[l].links[order[o]];

			if (ls->fd < 0)
				continue;
			started[l] = pthread_create(&th[l], NULL, close_link,
						    (void *)(intptr_t)ls->fd) == 0;
			if (!started[l])
				close(ls->fd);
			ls->fd = -1;
		}
		for (int l = 0; l < 2; l++)
			if (started[l])
				pthread_join(th[l], NULL);
	}
	p->attached = false;
}

bool lock_probes__attached(const struct lock_probes *p)
{
	return p->attached;
}

int lock_probes__add_python(struct lock_probes *p, const char *object)
{
	struct probed_lib *lib = &p->libs[1];
	uint64_t offs[ARRAY_SIZE(py_funcs)] = {0};
	int found;

	if (p->nlibs > 1)
		return 0;
	lib_init(lib);
	snprintf(lib->shown, sizeof(lib->shown), "%s", object);
	snprintf(lib->path, sizeof(lib->path), "/proc/%d/root%s", p->pid, object);
	if (find_offsets(lib->path, py_funcs, ARRAY_SIZE(py_funcs), offs) <= 0)
		return -ENOENT;
	found = p->nfound;
	fill_links(p, lib, py_funcs, ARRAY_SIZE(py_funcs), offs);
	/* probes in already: CPython's go in beside them, its release before its take, so that
	 * no lock call of the target goes unseen meanwhile (taking the others out for it left a
	 * blind stretch of tens of ms, as long as a short program's whole run) */
	if (p->attached) {
		int err = lib_attach(p, lib, true);

		if (err) {
			for (int i = 0; i < L__COUNT; i++)
				if (lib->links[i].fd >= 0) {
					close(lib->links[i].fd);
					lib->links[i].fd = -1;
				}
			p->nfound = found;
			return err;
		}
	}
	p->nlibs = 2;
	return 0;
}

const char *lock_probes__library(const struct lock_probes *p)
{
	return p->libs[0].shown;
}

int lock_probes__count(const struct lock_probes *p)
{
	return p->nfound;
}

static bool named_in(const char *func, const struct func *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(func, f[i].name))
			return true;
	return false;
}

bool lock_probes__is_lock_function(const struct lock_probes *p, const char *func)
{
	return func && (named_in(func, funcs, NFUNCS) ||
			(p->nlibs > 1 && named_in(func, py_funcs, ARRAY_SIZE(py_funcs))));
}

double lock_probes__pair_ns(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	int n = 200000;
	uint64_t t0 = ls_mono_ns();

	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&m);
		__asm__ volatile("" ::: "memory");
		pthread_mutex_unlock(&m);
	}
	return (double)(ls_mono_ns() - t0) / n;
}

void lock_probes__free(struct lock_probes *p)
{
	if (!p)
		return;
	lock_probes__detach(p);
	free(p);
}

/* ---- calibration: what a hit costs here ---- */

__attribute__((noinline)) int lockscope_calibration_target(int x)
{
	__asm__ volatile("" : "+r"(x));	/* keep the call and its body */
	return x + 1;
}

static double time_calls(int n)
{
	double t0 = (double)ls_mono_ns();
	int x = 0;

	for (int i = 0; i < n; i++)
		x = lockscope_calibration_target(x);
	return ((double)ls_mono_ns() - t0) / n;
}

/* The file offset of our own calibration target, from our memory map. */
static uint64_t self_offset(char *path, size_t len)
{
	uintptr_t want = (uintptr_t)lockscope_calibration_target;
	char line[PATH_MAX + 128];
	uint64_t off = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && !off && fgets(line, sizeof(line), f)) {
		unsigned long start, end, moff;
		char *p = strchr(line, '/');

		if (sscanf(line, "%lx-%lx %*s %lx", &start, &end, &moff) == 3 && want >= start &&
		    want < end && p) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(path, len, "%s", p);
			off = want - start + moff;
		}
	}
	if (f)
		fclose(f);
	return off;
}

int lock_probes__calibrate(struct lockscope_bpf *skel, double *entry_ns, double *return_ns)
{
	struct link_set ls = {.cnt = 1, .cookies = {LS_API_MUTEX | LS_API_UNLOCK}};
	char path[PATH_MAX];
	double base, unlock_cost, lock_cost = 0;
	int fd[2] = {-1, -1}, n = 2000, err = 0;

	ls.offsets[0] = self_offset(path, sizeof(path));
	if (!ls.offsets[0])
		return -ENOENT;
	skel->bss->window_open = 1;	/* a hit's whole path: the record emitted too */
	base = time_calls(n * 10);
	/* an unlock: one entry hit that emits a record */
	fd[0] = link_create(bpf_program__fd(skel->progs.lock_entry), path, &ls, false, getpid(),
			    LS_TRACE_UPROBE_MULTI);
	if (fd[0] < 0) {
		err = -errno;
		skel->bss->window_open = 0;
		return err;
	}
	unlock_cost = time_calls(n) - base;
	close(fd[0]);
	ls.cookies[0] = LS_API_MUTEX;
	/* a lock: an entry hit and a return hit that copies the stack and emits a record */
	fd[0] = link_create(bpf_program__fd(skel->progs.lock_entry), path, &ls, false, getpid(),
			    LS_TRACE_UPROBE_MULTI);
	fd[1] = link_create(bpf_program__fd(skel->progs.lock_return), path, &ls, true, getpid(),
			    LS_TRACE_UPROBE_MULTI);
	if (fd[0] < 0 || fd[1] < 0)
		err = -errno;
	else
		lock_cost = time_calls(n) - base;
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	skel->bss->window_open = 0;
	if (err)
		return err;
	*entry_ns = unlock_cost > 1 ? unlock_cost : 1;
	*return_ns = lock_cost - *entry_ns > 1 ? lock_cost - *entry_ns : 1;
	return 0;
}
