/* debuginfo.c - the find_debuginfo callback of the symbolizer's libdwfl sessions: a .build-id
 * tree, the .gnu_debuglink places GDB and elfutils search, then libdebuginfod with progress. */
#include "inspect/debuginfo.h"

#include <elfutils/debuginfod.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/common.h"

#define SYSTEM_DEBUG_DIR "/usr/lib/debug"
/* A server that has sent nothing after this long is not answering: without it, libdebuginfod
 * waits DEBUGINFOD_TIMEOUT (90 s by default) for each object, while events pile up. */
#define FIRST_BYTE_NS (10 * 1000000000ull)
#define PROGRESS_EVERY_NS 250000000ull

struct debuginfo {
	pid_t pid;
	char *path;		   /* "DIR:DIR:...", for libdwfl's build-ID search */
	char root[32];		   /* "/proc/PID/root": the target's file system */
	debuginfod_client *client; /* made on first use, where DEBUGINFOD_URLS is set */
	bool client_off;	   /* a server failed: not asked again */
	bool tty;		   /* stderr is a terminal: progress on one line */
	/* the download in progress */
	const char *name;
	uint64_t started, last_shown;
	bool shown, gave_up;
	long got;
};

/* True if the target sees the file system we do: its debug files are then ours. */
static bool same_root(const char *root)
{
	struct stat a, b;

	return stat(root, &a) == 0 && stat("/", &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

struct debuginfo *debuginfo__new(pid_t pid)
{
	struct debuginfo *d = calloc(1, sizeof(*d));
	const char *user = getenv("LOCKSCOPE_DEBUGINFO_PATH");
	size_t len;

	if (!d)
		return NULL;
	d->pid = pid;
	snprintf(d->root, sizeof(d->root), "/proc/%d/root", (int)pid);
	len = (user ? strlen(user) : 0) + 2 * sizeof(d->root) + 2 * sizeof(SYSTEM_DEBUG_DIR) + 4;
	d->path = malloc(len);
	if (!d->path) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	snprintf(d->path, len, "%s%s%s", user && *user ? user : "", user && *user ? ":" : "",
		 SYSTEM_DEBUG_DIR);
	/* a target in a container has its distribution's debug files in its own root */
	if (!same_root(d->root)) {
		strcat(d->path, ":");
		strcat(d->path, d->root);
		strcat(d->path, SYSTEM_DEBUG_DIR);
	}
	d->tty = isatty(STDERR_FILENO);
	return d;
}

void debuginfo__free(struct debuginfo *d)
{
	if (!d)
		return;
	if (d->client)
		debuginfod_end(d->client);
	free(d->path);
	free(d);
}

char **debuginfo__path(struct debuginfo *d)
{
	return &d->path;
}

/* ---- .gnu_debuglink ---- */

static uint32_t file_crc(int fd)
{
	uint8_t buf[65536];
	uLong crc = crc32(0, NULL, 0);
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crc = crc32(crc, buf, (uInt)n);
	return (uint32_t)crc;
}

/* FILE is the object's debug file: by build ID where the object has one, else by the CRC its
 * .gnu_debuglink records; and it is not the object itself. */
static bool debug_file_matches(const struct debuginfo_req *q, int fd, const uint8_t *id, int idlen,
			       uint32_t crc)
{
	struct stat st;
	const void *got;
	bool ok = false;
	Elf *elf;

	if (fstat(fd, &st) || (st.st_ino == q->ino && st.st_dev == q->dev))
		return false;
	if (idlen <= 0)
		return file_crc(fd) == crc;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf) {
		ok = dwelf_elf_gnu_build_id(elf, &got) == idlen && !memcmp(got, id, idlen);
		elf_end(elf);
	}
	return ok;
}

/* Where GDB and elfutils look for a debuglink NAME of an object in DIR: DIR/NAME,
 * DIR/.debug/NAME, and DEBUGDIR/DIR/NAME for each debug directory. */
static int find_debuglink(struct debuginfo_req *q, Dwfl_Module *mod, const char *link, uint32_t crc,
			  char **found)
{
	const unsigned char *id = NULL;
	GElf_Addr id_at;
	int idlen = dwfl_module_build_id(mod, &id, &id_at);
	const char *slash = strrchr(q->path, '/');
	char dir[PATH_MAX], cand[PATH_MAX + 256], *dirs, *save = NULL;
	int fd = -1;

	if (!link || !*link || strchr(link, '/') || !slash || !q->d)
		return -1;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - q->path), q->path);
	for (int i = 0; i < 2; i++) {
		snprintf(cand, sizeof(cand), "%s%s/%s%s", q->d->root, dir, i ? ".debug/" : "",
			 link);
		fd = open(cand, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && debug_file_matches(q, fd, id, idlen, crc))
			goto found;
		if (fd >= 0)
			close(fd);
	}
	dirs = strdup(q->d->path);
	for (char *x = dirs ? strtok_r(dirs, ":", &save) : NULL; x;
	     x = strtok_r(NULL, ":", &save)) {
		if (x[0] != '/')
			continue;
		snprintf(cand, sizeof(cand), "%s%s/%s", x, dir, link);
		fd = open(cand, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && debug_file_matches(q, fd, id, idlen, crc)) {
			free(dirs);
			goto found;
		}
		if (fd >= 0)
			close(fd);
	}
	free(dirs);
	return -1;
found:
	lseek(fd, 0, SEEK_SET);
	*found = strdup(cand);
	return fd;
}

/* ---- debuginfod ---- */

/* "1.2 MB in 3.4 s" */
static const char *amount(const struct debuginfo *d, char *buf, size_t len)
{
	double s = (ls_mono_ns() - d->started) / 1e9;

	if (d->got >= 1048576)
		snprintf(buf, len, "%.1f MB in %.1f s", d->got / 1048576.0, s);
	else
		snprintf(buf, len, "%ld KB in %.1f s", (d->got + 1023) / 1024, s);
	return buf;
}

/* On a terminal, the download's progress overwrites itself on one line. */
static void show_progress(const struct debuginfo *d)
{
	char got[64];

	if (d->tty)
		fprintf(stderr, "\rlockscope: debuginfod: %s: %s ", d->name,
			amount(d, got, sizeof(got)));
}

/* libdebuginfod calls it about once a second while it waits or downloads (not for files it
 * has cached). Until a server sends the file, GOT counts calls, not bytes, and no URL is known.
 * Non-zero gives up. */
static int on_progress(debuginfod_client *c, long got, long total)
{
	struct debuginfo *d = debuginfod_get_user_data(c);
	const char *url = debuginfod_get_url(c);
	uint64_t now = ls_mono_ns();

	(void)total;
	if (url && got > 0)
		d->got = got;
	/* a quick answer (a file the server has not) is no news */
	if (!d->shown && (url || now - d->started >= 1000000000ull)) {
		fprintf(stderr, "lockscope: debuginfod: fetching debug info for %s from %s\n",
			d->name, url ? url : getenv("DEBUGINFOD_URLS"));
		d->shown = true;
	}
	if (now - d->last_shown >= PROGRESS_EVERY_NS) {
		show_progress(d);
		d->last_shown = now;
	}
	d->gave_up = !url && now - d->started > FIRST_BYTE_NS && !getenv("DEBUGINFOD_TIMEOUT");
	return d->gave_up;
}

static int find_debuginfod(struct debuginfo_req *q, Dwfl_Module *mod, char **found)
{
	struct debuginfo *d = q->d;
	const char *urls = getenv("DEBUGINFOD_URLS");
	const unsigned char *id = NULL;
	GElf_Addr id_at;
	int idlen = dwfl_module_build_id(mod, &id, &id_at), fd;
	char got[64];

	if (!d || !urls || !*urls || d->client_off || idlen <= 0)
		return -1;
	if (!d->client) {
		d->client = debuginfod_begin();
		if (!d->client) {
			d->client_off = true;
			return -1;
		}
		debuginfod_set_user_data(d->client, d);
		debuginfod_set_progressfn(d->client, on_progress);
	}
	d->name = q->name;
	d->started = d->last_shown = ls_mono_ns();
	d->shown = d->gave_up = false;
	d->got = 0;
	fd = debuginfod_find_debuginfo(d->client, id, idlen, found);
	if (d->tty && d->shown)
		fputc('\r', stderr);
	if (fd >= 0 && d->shown)
		ls_note("debuginfod", "%s: done, %s", d->name, amount(d, got, sizeof(got)));
	else if (fd == -ENOENT && d->shown && !d->gave_up)
		ls_note("debuginfod", "%s: not on the server", d->name);
	/* a server that fails (unreachable, too slow) fails for the next object too */
	if (fd < 0 && (fd != -ENOENT || d->gave_up)) {
		ls_note("debuginfod", "%s: %s; not asked again during this run", d->name,
			d->gave_up ? "no answer in 10 s" : strerror(-fd));
		d->client_off = true;
	}
	return fd >= 0 ? fd : -1;
}

int debuginfo__find(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
		    char **debuginfo_file_name)
{
	struct debuginfo_req *q = *userdata;
	int fd;

	if (q && q->searched) {
		errno = 0;
		return -1;
	}
	if (q)
		q->searched = true;
	fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					  debuglink_crc, debuginfo_file_name);
	if (fd >= 0 || !q) {
		if (q && fd >= 0)
			q->via = DEBUGINFO_BUILD_ID;
		return fd;
	}
	fd = find_debuglink(q, mod, debuglink_file, debuglink_crc, debuginfo_file_name);
	if (fd >= 0) {
		q->via = DEBUGINFO_DEBUGLINK;
		return fd;
	}
	fd = find_debuginfod(q, mod, debuginfo_file_name);
	if (fd >= 0)
		q->via = DEBUGINFO_DEBUGINFOD;
	errno = 0; /* not found: no error to report */
	return fd;
}
