"""py_lockwait.py - one threading.Lock, really contended: thread `holder` takes it in hold_it()
and sleeps 0.3 s holding it, 5 times; thread `waiter` asks for it in wants_it() each time just
after the holder took it (Events keep them in step), so every round the waiter blocks ~0.3 s.
Prints its ground truth as one JSON line on stdout: the threads' native ids and names, the exact
line in wants_it() where it waits for the lock, the time it measured waiting there.

    python3 tests/workloads/py_lockwait.py [--wait-signal] [--rounds N] [--hold-ms N]

A profiler should show a lock whose waits are in wants_it (py_lockwait.py:LINE), waited on by
the thread named `waiter`, and name it `locks[1]`: the lock is an item of a list, as locks made in
a comprehension are.
"""
import json
import os
import signal
import sys
import threading
import time

locks = [threading.Lock() for _ in range(3)]
taken = threading.Event()  # the holder has the lock: the waiter may ask for it now
done = threading.Event()   # the waiter had its turn: the holder may take the lock again
truth = {}


def hold_it(rounds, hold_s):
    for _ in range(rounds):
        with locks[1]:
            taken.set()
            time.sleep(hold_s)
        done.wait()
        done.clear()


def wants_it(rounds):
    waited = slow = 0
    for _ in range(rounds):
        taken.wait()
        taken.clear()
        t0 = time.monotonic_ns()
        line = sys._getframe().f_lineno; locks[1].acquire()  # noqa: E702 - the line is the truth
        dt = time.monotonic_ns() - t0
        locks[1].release()
        waited += dt
        slow += dt > 1_000_000
        done.set()
    truth.update(line=line, wait_ns=waited, slow_acquires=slow)


def run(fn, *args):
    truth.setdefault("threads", []).append(
        {"tid": threading.get_native_id(), "name": threading.current_thread().name})
    fn(*args)


def main():
    rounds, hold_ms, wait_signal = 5, 300, False
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--wait-signal":
            wait_signal = True
        elif a == "--rounds" and args:
            rounds = int(args.pop(0))
        elif a == "--hold-ms" and args:
            hold_ms = int(args.pop(0))
        else:
            print("usage: py_lockwait.py [--wait-signal] [--rounds N] [--hold-ms N]",
                  file=sys.stderr)
            return 1
    if wait_signal:
        # hold still until the recorder is attached: the test sends SIGUSR1
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        print(f"py_lockwait: pid {os.getpid()} waiting for SIGUSR1", file=sys.stderr,
              flush=True)
        signal.sigwait({signal.SIGUSR1})

    start = time.monotonic_ns()
    ts = [threading.Thread(target=run, args=(hold_it, rounds, hold_ms / 1000), name="holder"),
          threading.Thread(target=run, args=(wants_it, rounds), name="waiter")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    names = {t["name"]: t for t in truth["threads"]}
    print(json.dumps({
        "workload": "py_lockwait",
        "pid": os.getpid(),
        "python": sys.executable,
        "version": sys.version.split()[0],
        "threads": truth["threads"],
        "holder": names["holder"],
        "waiter": names["waiter"],
        "function": "wants_it",
        "file": os.path.basename(__file__),
        "line": truth["line"],
        "rounds": rounds,
        "wait_ns": truth["wait_ns"],
        "slow_acquires": truth["slow_acquires"],
        "elapsed_ns": time.monotonic_ns() - start,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
