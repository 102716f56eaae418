/* demangle.h - C++ names as people read them (_ZN4bank6Ledger4postEl: bank::Ledger::post(long)),
 * through libstdc++'s demangler; and --no-demangle, the option that keeps linkage names. */
#ifndef LOCKSCOPE_DEMANGLE_H
#define LOCKSCOPE_DEMANGLE_H

#include <stdbool.h>

/* The command line's --no-demangle: every name is shown as the object file spells it. */
extern bool ls_no_demangle;

/* NAME demangled in a new string (the caller frees), or NULL if NAME is no mangled C++ name,
 * demangling is off, or memory ran out. */
char *ls_demangle(const char *name);

/* TEXT with every mangled name in it demangled ("heap 0x55.. first taken in _ZN1a1bEv+0x4
 * (app)"): a new string (the caller frees), or NULL if nothing in it changed. */
char *ls_demangle_text(const char *text);

#endif
