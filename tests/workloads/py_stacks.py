# py_stacks.py - Python threads parked in known function chains, for the frame reader's tests.
# Prints its own ground truth as one JSON line, taken from the interpreter (sys._current_frames).
#
#   py_stacks.py [--timeout S] stacks   four named threads, each blocked in a distinct chain
#   py_stacks.py [--timeout S] spin N   N threads spinning in pure Python (one holds the GIL)
#
# Exits by itself after --timeout seconds (default 60) or when its parent is gone, so that a
# test that dies cannot leave it behind.
import gc
import json
import os
import sys
import threading
import time
import types

_started = threading.Barrier(1)  # replaced in main() with the right count
_release = threading.Event()      # never set: the threads stay where they are


def inner_sleep():
    time.sleep(3600)


def outer_sleep():
    inner_sleep()


def inner_wäit():  # a non-ASCII function name: a str of kind 1 (latin-1) in the code object
    _release.wait()


def outer_wait():
    inner_wäit()


class Holder:
    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()

    def blocked(self):
        self.lock.acquire()


def outer_lock(holder):
    holder.blocked()


class Parker:
    def __init__(self, block):
        if block:
            _release.wait()


def outer_init():
    # a call site warm enough to be specialized: 3.13 then enters __init__ through a shim frame
    for i in range(200):
        Parker(i == 199)


def spin():
    n = 0
    while True:
        n += 1


def parked(fn, *args):
    _started.wait()
    fn(*args)


def qualname(code):
    """co_qualname (3.11+); before it, the __qualname__ of the function that runs CODE."""
    if hasattr(code, "co_qualname"):
        return code.co_qualname
    for f in gc.get_referrers(code):
        if isinstance(f, types.FunctionType) and f.__code__ is code:
            return f.__qualname__
    return code.co_name


def frames_of(ident):
    """The thread's Python frames, innermost first, as the interpreter itself sees them."""
    out = []
    f = sys._current_frames().get(ident)
    while f is not None:
        code = f.f_code
        name = qualname(code)
        out.append({"func": name, "file": code.co_filename, "line": f.f_lineno})
        f = f.f_back
    return out


def settle(threads, want):
    """Waits until every thread's innermost frames are those it parks in (two of them: a thread
    still in the start barrier waits in Condition.wait too, called from Barrier._wait)."""
    for _ in range(500):
        if all([f["func"] for f in frames_of(t.ident)[:len(w)]] == w
               for t, w in zip(threads, want)):
            return
        time.sleep(0.01)


def main():
    global _started
    args = sys.argv[1:]
    timeout = 60.0
    if "--timeout" in args:
        at = args.index("--timeout")
        timeout = float(args[at + 1])
        del args[at:at + 2]
    mode = args[0] if args else "stacks"
    if mode == "spin":
        count = int(args[1])
        plan = [("spinner-%d" % i, spin, ()) for i in range(count)]
        want = [["spin"]] * count
    else:
        holder = Holder()
        plan = [("sleeper", outer_sleep, ()),
                ("wörker-ç", outer_wait, ()),    # latin-1 name
                ("锁-holder", outer_lock, (holder,)),  # UCS-2 name
                ("parker", outer_init, ())]
        want = [["inner_sleep"], ["Condition.wait", "Event.wait"], ["Holder.blocked"],
                ["Condition.wait", "Event.wait"]]
    _started = threading.Barrier(len(plan) + 1)
    threads = [threading.Thread(target=parked, args=(fn,) + args, name=name, daemon=True)
               for name, fn, args in plan]
    for t in threads:
        t.start()
    _started.wait()
    if mode != "spin":
        settle(threads, want)
    else:
        time.sleep(0.2)
    truth = {
        "pid": os.getpid(),
        "version": list(sys.version_info[:3]),
        "main_tid": threading.get_native_id(),
        "threads": [{"tid": t.native_id, "ident": t.ident, "name": t.name,
                     "frames": frames_of(t.ident)} for t in threads],
    }
    print(json.dumps(truth, ensure_ascii=False), flush=True)
    parent = os.getppid()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    main()
