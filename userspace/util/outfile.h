/* outfile.h - how every file lockscope writes comes to be: created 0600 under a temporary name
 * beside its target, never through a symlink, and put in place only once it is whole. */
#ifndef LOCKSCOPE_OUTFILE_H
#define LOCKSCOPE_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

/*
 * An output file's life: outfile__open() creates "NAME.tmp.XXXXXX" beside NAME (mode 0600,
 * O_EXCL: never an existing file, never through a symlink); the caller writes to its fd or its
 * stream; outfile__close(f, true) puts it at NAME, an existing NAME (a file, or a symlink, which
 * is never followed) being kept as NAME.old, as perf does; outfile__close(f, false) removes the
 * temporary and leaves NAME as it was. A writer that must leave a readable file behind even when
 * it is killed (record) calls outfile__publish() once its output is worth keeping: the file is
 * put at NAME then, and writing goes on in place.
 *
 * Not every NAME is a file to replace: "-" is standard output; a character device or FIFO
 * (/dev/null, a named pipe), or anything under /dev/ or /proc/ (/dev/stdout, /proc/self/fd/1),
 * is opened as it is and written directly. NULL is an anonymous temporary file (O_TMPFILE under
 * $TMPDIR or /tmp) that never gets a name: a scratch file that nothing leaves behind.
 */
struct outfile;

/* Opens the output for PATH as above. NULL with errno on failure (EISDIR for a directory). */
struct outfile *outfile__open(const char *path);
/* The file descriptor to write to; it stays the outfile's. */
int outfile__fd(const struct outfile *f);
/* A stdio stream on the fd, made on first call and owned by F (closed by outfile__close). NULL
 * with errno if it cannot be made. */
FILE *outfile__stream(struct outfile *f);
/* The name it is for, as given ("-" for standard output; NULL for a scratch file). */
const char *outfile__name(const struct outfile *f);
/* Puts the file at its name now (keeping an existing one as NAME.old); what is written later
 * lands there too. Does nothing for outputs that have no temporary. 0 or a negative errno. */
int outfile__publish(struct outfile *f);
/* Finishes the output. KEEP: flushes the stream, syncs the file and puts it at its name; on any
 * failure the temporary is removed and NAME left as it was (unless published already). !KEEP:
 * removes the temporary (a published file stays: it was put there to survive). Frees F; returns
 * 0 or the first negative errno. Accepts NULL. */
int outfile__close(struct outfile *f, bool keep);

#endif
