/* outfile.c - output files made private and whole: a 0600 temporary beside the target, renamed
 * over it when complete, the file it replaces kept as NAME.old; devices and stdout as they are. */
#include "util/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define TMP_SUFFIX ".tmp.XXXXXX"
#define OLD_SUFFIX ".old"

struct outfile {
	char *name; /* as given; NULL for a scratch file */
	char *tmp;  /* the temporary's path while it has one; NULL when written in place */
	int fd;
	FILE *stream;
	bool is_stdout;
	bool published;
};

/* PATH with SUFFIX appended, in a new string. */
static char *with_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path), s = strlen(suffix);
	char *p = malloc(n + s + 1);

	if (p) {
		memcpy(p, path, n);
		memcpy(p + n, suffix, s + 1);
	}
	return p;
}

/* A symlink is followed only where nobody else can have planted it: /proc/self/fd/N (the
 * process's own open files), or a link to a device or a FIFO in a directory no other user can
 * write to (/dev/stdout). One in /tmp, or one pointing at a file, is replaced, not followed. */
static bool follow_link(const char *path)
{
	char *copy = strdup(path), *parent;
	struct stat st, dir;
	struct statfs fs;
	bool ok;

	if (!copy)
		return false;
	parent = dirname(copy);
	ok = !stat(path, &st) && !S_ISDIR(st.st_mode) && !statfs(parent, &fs) &&
	     (fs.f_type == PROC_SUPER_MAGIC || ((S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) &&
						!stat(parent, &dir) && !(dir.st_mode & S_IWOTH)));
	free(copy);
	return ok;
}

/* An anonymous file under $TMPDIR (or /tmp): nothing left behind, whatever happens. */
static int open_scratch(void)
{
	const char *dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
	char *tmp;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd < 0 ? -errno : fd;
	/* a file system without O_TMPFILE: a named temporary, unlinked at once */
	tmp = with_suffix(dir, "/lockscope-XXXXXX");
	if (!tmp)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmp);
	else
		fd = -errno;
	free(tmp);
	return fd;
}

/* How PATH is to be written: 1 directly (a device, a FIFO, a link to one), 0 through a
 * temporary, or a negative errno. */
static int direct(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISLNK(st.st_mode))
		return follow_link(path);
	return !S_ISREG(st.st_mode);
}

struct outfile *outfile__open(const char *path)
{
	struct outfile *f = calloc(1, sizeof(*f));
	int ret = -ENOMEM, how;

	if (!f)
		goto cleanup;
	f->fd = -1;
	if (!path) {
		f->fd = ret = open_scratch();
		if (ret < 0)
			goto cleanup;
		return f;
	}
	f->name = strdup(path);
	if (!f->name)
		goto cleanup;
	if (!strcmp(path, "-")) {
		f->fd = STDOUT_FILENO;
		f->stream = stdout;
		f->is_stdout = true;
		return f;
	}
	how = ret = direct(path);
	if (how < 0)
		goto cleanup;
	if (how) {
		/* no O_CREAT: the device, FIFO or open file is there, and not ours to replace */
		f->fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
		ret = f->fd < 0 ? -errno : 0;
		if (ret)
			goto cleanup;
		return f;
	}
	ret = -ENOMEM;
	f->tmp = with_suffix(path, TMP_SUFFIX);
	if (!f->tmp)
		goto cleanup;
	/* mkostemp: O_CREAT | O_EXCL, mode 0600 */
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		ret = -errno;
		free(f->tmp); /* not ours: whatever is at that name now, it stays */
		f->tmp = NULL;
		goto cleanup;
	}
	return f;
cleanup:
	outfile__close(f, false);
	errno = -ret;
	return NULL;
}

int outfile__fd(const struct outfile *f)
{
	return f->fd;
}

FILE *outfile__stream(struct outfile *f)
{
	if (!f->stream)
		f->stream = fdopen(f->fd, "w");
	return f->stream;
}

const char *outfile__name(const struct outfile *f)
{
	return f->name;
}

int outfile__publish(struct outfile *f)
{
	char *old;
	struct stat st;
	int ret = 0;

	if (!f->tmp || f->published)
		return 0;
	old = with_suffix(f->name, OLD_SUFFIX);
	if (!old)
		return -ENOMEM;
	/* rename never follows a symlink: a link at NAME is kept as the link it is */
	if (!lstat(f->name, &st) && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
	    rename(f->name, old))
		ret = -errno;
	if (!ret && rename(f->tmp, f->name))
		ret = -errno;
	free(old);
	if (!ret)
		f->published = true;
	return ret;
}

/* Flushes and closes the stream or the fd. 0 or the first negative errno. */
static int close_fd(struct outfile *f, bool sync)
{
	int ret = 0;

	if (f->is_stdout)
		return fflush(stdout) || ferror(stdout) ? -(errno ? errno : EIO) : 0;
	if (f->stream && fflush(f->stream))
		ret = -errno;
	if (!ret && f->stream && ferror(f->stream))
		ret = -EIO;
	/* a file put in place must be on disk before its name is: no empty trace after a crash */
	if (!ret && sync && f->fd >= 0 && fsync(f->fd) && errno != EINVAL)
		ret = -errno;
	if (f->stream) {
		if (fclose(f->stream) && !ret)
			ret = -errno;
	} else if (f->fd >= 0 && close(f->fd) && !ret) {
		ret = -errno; /* some file systems (NFS) report a failed write only here */
	}
	f->stream = NULL;
	f->fd = -1;
	return ret;
}

int outfile__close(struct outfile *f, bool keep)
{
	int ret;

	if (!f)
		return 0;
	ret = close_fd(f, keep && f->tmp);
	if (keep && !ret)
		ret = outfile__publish(f);
	if ((!keep || ret) && f->tmp && !f->published)
		unlink(f->tmp);
	free(f->tmp);
	free(f->name);
	free(f);
	return ret;
}
