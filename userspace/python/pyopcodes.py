"""pyopcodes.py - writes pyopcodes.h, CPython's bytecode tables for python/pycode.c, from the
interpreters' own opcode modules:

    for v in 3.10 3.11 3.12 3.13; do python$v userspace/python/pyopcodes.py; done > /tmp/ops
    and put that between the head and the end of pyopcodes.h (its struct py_ops and guard)

Per version: each opcode's base instruction (specialised and quickened forms undone; 3.10 has
none), the inline cache entries after a base instruction (3.11 on), and how base instructions
jump: 1 forward and 2 backward from the next instruction, 3 to the code unit in their argument
(3.10's absolute jumps)."""
import dis
import opcode
import sys

minor = sys.version_info[1]
names = getattr(dis, "_all_opname", opcode.opname)  # 3.10: opname alone
known = {i for i, n in enumerate(names) if not n.startswith("<")}
deopt = getattr(dis, "_deoptop", lambda i: i)
base = [deopt(i) if i in known else 0 for i in range(256)]
entries = getattr(opcode, "_inline_cache_entries", [])
if isinstance(entries, dict):  # 3.13: by name
    caches = [entries.get(opcode.opname[i], 0) if i in known else 0 for i in range(256)]
else:
    caches = [entries[i] if i < len(entries) else 0 for i in range(256)]
jumps = [0] * 256
for op in (o for o in opcode.hasjrel if o < 256):
    jumps[op] = 2 if "JUMP_BACKWARD" in opcode.opname[op] else 1
for op in (o for o in getattr(opcode, "hasjabs", []) if o < 256):
    jumps[op] = 3


def row(name, values):
    print("static const uint8_t %s_%d[256] = {" % (name, minor))
    for i in range(0, 256, 16):
        print("\t" + ", ".join("%d" % v for v in values[i:i + 16]) + ",")
    print("};")


row("py_base", base)
row("py_caches", caches)
row("py_jumps", jumps)
names = ["CACHE", "POP_TOP", "NOP", "EXTENDED_ARG", "LOAD_GLOBAL", "LOAD_FAST", "LOAD_DEREF",
         "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD", "PRECALL", "CALL", "KW_NAMES", "LOAD_CONST",
         "GET_AWAITABLE", "SEND", "JUMP_BACKWARD_NO_INTERRUPT", "LOAD_FAST_CHECK",
         "POP_JUMP_IF_FALSE", "POP_JUMP_FORWARD_IF_FALSE", "RESUME", "YIELD_VALUE",
         "END_SEND", "RETURN_VALUE", "LOAD_CLOSURE", "COPY_FREE_VARS", "MAKE_CELL",
         "CLEANUP_THROW", "CALL_METHOD", "CALL_KW", "CALL_FUNCTION_KW", "TO_BOOL",
         "YIELD_FROM"]
print("static const struct py_ops py_ops_%d = {" % minor)
for n in names:
    print("\t.%s = %d," % (n.lower(), opcode.opmap.get(n, 256)))
print("};")
