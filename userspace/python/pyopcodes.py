"""pyopcodes.py - writes pyopcodes.h, CPython's bytecode tables for python/pycode.c, from the
interpreters' own opcode modules:

    python3.11 userspace/python/pyopcodes.py > /tmp/311 && python3.12 userspace/python/pyopcodes.py > /tmp/312
    and put them between the head and the end of pyopcodes.h (its struct py_ops and guard)

Per version: each opcode's base instruction (specialised and quickened forms undone), the
inline cache entries after a base instruction, and which base instructions jump relatively
(backwards for JUMP_BACKWARD*)."""
import dis
import opcode
import sys

minor = sys.version_info[1]
known = {i for i, n in enumerate(dis._all_opname) if not n.startswith("<")}
base = [dis._deoptop(i) if i in known else 0 for i in range(256)]
caches = opcode._inline_cache_entries
jumps = [0] * 256
for op in (o for o in opcode.hasjrel if o < 256):
    jumps[op] = 2 if "JUMP_BACKWARD" in opcode.opname[op] else 1


def row(name, values):
    print("static const uint8_t %s_%d[256] = {" % (name, minor))
    for i in range(0, 256, 16):
        print("\t" + ", ".join("%d" % v for v in values[i:i + 16]) + ",")
    print("};")


row("py_base", base)
row("py_caches", [caches[i] if i < len(caches) else 0 for i in range(256)])
row("py_jumps", jumps)
names = ["CACHE", "POP_TOP", "NOP", "EXTENDED_ARG", "LOAD_GLOBAL", "LOAD_FAST", "LOAD_DEREF",
         "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD", "PRECALL", "CALL", "KW_NAMES", "LOAD_CONST",
         "GET_AWAITABLE", "SEND", "JUMP_BACKWARD_NO_INTERRUPT", "LOAD_FAST_CHECK",
         "POP_JUMP_IF_FALSE", "POP_JUMP_FORWARD_IF_FALSE", "RESUME", "YIELD_VALUE",
         "END_SEND", "RETURN_VALUE", "LOAD_CLOSURE", "COPY_FREE_VARS", "MAKE_CELL",
         "CLEANUP_THROW"]
print("static const struct py_ops py_ops_%d = {" % minor)
for n in names:
    print("\t.%s = %d," % (n.lower(), opcode.opmap.get(n, 256)))
print("};")
