/* debuginfo.h - finding an object's separate debug file as distributions install it: by build
 * ID in a .build-id tree, by its .gnu_debuglink name, and from debuginfod servers. */
#ifndef LOCKSCOPE_DEBUGINFO_H
#define LOCKSCOPE_DEBUGINFO_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <sys/types.h>

/* Where separate debug files are looked for, for one target process. */
struct debuginfo;

/* How an object's separate debug file was found. */
enum debuginfo_via {
	DEBUGINFO_NONE = 0,   /* not looked for (the object carries its own), or not found */
	DEBUGINFO_BUILD_ID,   /* DIR/.build-id/xx/yyyy.debug in a debug directory */
	DEBUGINFO_DEBUGLINK,  /* .gnu_debuglink: beside the object, in .debug/, or DIR/objdir */
	DEBUGINFO_DEBUGINFOD, /* downloaded, or taken from the debuginfod client's cache */
};

/* One object's search: what the find callback needs, and what it found. The module's userdata
 * (dwfl_module_info) must point to it. */
struct debuginfo_req {
	struct debuginfo *d;
	const char *path; /* the object's path in the target's file system */
	const char *name; /* its basename, for messages */
	ino_t ino;	  /* the object itself, which a debuglink search must not take */
	dev_t dev;
	enum debuginfo_via via;
	bool searched; /* libdwfl asks again for the symbol table after the DWARF */
};

/* For the process PID (its root directory holds the objects). The debug directories are
 * $LOCKSCOPE_DEBUGINFO_PATH (colon-separated) before /usr/lib/debug; debuginfod is asked where
 * $DEBUGINFOD_URLS names servers. NULL with errno on failure. */
struct debuginfo *debuginfo__new(pid_t pid);
void debuginfo__free(struct debuginfo *d); /* accepts NULL */

/* The Dwfl_Callbacks.debuginfo_path the standard build-ID search reads: the same directories. */
char **debuginfo__path(struct debuginfo *d);

/* A Dwfl_Callbacks.find_debuginfo: build ID, then debuglink, then debuginfod. */
int debuginfo__find(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
		    char **debuginfo_file_name);

#endif
