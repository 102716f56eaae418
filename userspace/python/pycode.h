/* pycode.h - what a CPython frame's bytecode proves that it holds: locks taken by an acquire()
 * call that returned, with no jump into the code between that call and where the frame is. */
#ifndef LOCKSCOPE_PYCODE_H
#define LOCKSCOPE_PYCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "python/pyreader.h"

#define PYCODE_MAX_HOLDS 16 /* acquisitions of one frame looked at */

/* The objects that FRAME took with a call that completed, and released with no call since:
 * `X.acquire()` as a statement (a blocking acquire returns only with the lock), the true branch
 * of `if X.acquire(...):`, or where ASYNCIO, `await X.acquire()`; X a variable of the frame or
 * an attribute of one (`self._lock`), evaluated now. Only where every way to the frame's
 * current instruction passes through that call: no jump (nor exception handler) lands between
 * them, so that the call was made on the way there. Up to MAX of them into OUT; returns how
 * many: 0 where the bytecode shows none, or cannot be read (a version without tables here,
 * instructions it does not know). Each still needs the lock's own state to agree (locked). */
size_t pycode__acquired(struct pyreader *r, uint64_t frame, bool asyncio, uint64_t *out,
			size_t max);

/* The object whose method FRAME calls now, where its current instruction is the call of
 * `X.method(args)` (X a variable or an attribute of one, args constants or variables): *OBJ
 * and the method's name into METHOD (CAP bytes). -ENOENT where it is no such call, or the
 * bytecode cannot be read as above. */
int pycode__calling(struct pyreader *r, uint64_t frame, uint64_t *obj, char *method,
		    size_t cap);

/* The call a frame was making when it was seen, from what was read of it then: its code object
 * CODE and the word at its instruction pointer INSTR (pyobj__code_as). Where that is the call
 * of `X.method(args)` as above: the method's name into METHOD (CAP bytes), and *ON_LOCAL whether
 * X is a plain local variable of the frame (no attribute of it). -ENOENT otherwise. The frame
 * itself may be gone: only its code is read. */
int pycode__call_as(struct pyreader *r, uint64_t code, uint64_t instr, char *method, size_t cap,
		    bool *on_local);

#endif
