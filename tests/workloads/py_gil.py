"""py_gil.py - four CPU-bound Python threads that run no faster than one: they spend their time
waiting for the GIL. Prints its ground truth as one JSON line on stdout: the threads' native ids
and names, the lines of the function that burns the CPU, and its own elapsed time.

    python3 tests/workloads/py_gil.py [--wait-signal] [--threads N] [--iters N]

A profiler should show the GIL (kind gil) as the top lock, all the cpu-N threads among its
waiters, and the waits in burn (py_gil.py:N) with N one of burn's lines.
"""
import inspect
import json
import os
import signal
import sys
import threading
import time

THREADS = 4
# A fixed amount of work, not a time: about 1.5 s in all for the four threads on one GIL.
ITERS = 8_500_000


def burn(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


def worker(go, out, slot):
    out[slot] = {"tid": threading.get_native_id(), "name": threading.current_thread().name}
    go.wait()
    burn(ITERS)


def main():
    global ITERS
    threads, wait_signal = THREADS, False
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--wait-signal":
            wait_signal = True
        elif a == "--threads" and args:
            threads = int(args.pop(0))
        elif a == "--iters" and args:
            ITERS = int(args.pop(0))
        else:
            print("usage: py_gil.py [--wait-signal] [--threads N] [--iters N]", file=sys.stderr)
            return 1
    if wait_signal:
        # hold still until the recorder is attached: the test sends SIGUSR1
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        print(f"py_gil: pid {os.getpid()} waiting for SIGUSR1", file=sys.stderr, flush=True)
        signal.sigwait({signal.SIGUSR1})

    lines, first = inspect.getsourcelines(burn)
    go, out = threading.Event(), [None] * threads
    start = time.monotonic_ns()
    ts = [threading.Thread(target=worker, args=(go, out, i), name=f"cpu-{i}")
          for i in range(threads)]
    for t in ts:
        t.start()
    go.set()  # all started: they burn at the same time
    for t in ts:
        t.join()
    elapsed = time.monotonic_ns() - start
    print(json.dumps({
        "workload": "py_gil",
        "pid": os.getpid(),
        "python": sys.executable,
        "version": sys.version.split()[0],
        "threads": out,
        "function": "burn",
        "file": os.path.basename(__file__),
        "first_line": first,
        "last_line": first + len(lines) - 1,
        "iters": ITERS,
        "elapsed_ns": elapsed,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
