"""py_mplock.py - one multiprocessing.Lock (a semaphore in shared memory) contended by worker
processes: each takes it ROUNDS times and holds it HOLD_MS, measuring how long it waited.

    python3 tests/workloads/py_mplock.py GO_FILE [--procs N] [--rounds N] [--hold-ms N]

Prints {"workload": "py_mplock-ready", "pid"} once started, waits for GO_FILE to exist, starts
the workers (fork), and prints its ground truth when they are done: the workers' pids and the
time they spent waiting for the lock, in total.
"""
import json
import multiprocessing as mp
import os
import sys
import time


def worker(lock, rounds, hold_s, waited):
    total = 0
    for _ in range(rounds):
        t0 = time.monotonic_ns()
        lock.acquire()
        total += time.monotonic_ns() - t0
        time.sleep(hold_s)
        lock.release()
    waited.put(total)


def main():
    args = sys.argv[1:]
    go = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    procs = int(opts.get("--procs", 3))
    rounds = int(opts.get("--rounds", 100))
    hold_s = int(opts.get("--hold-ms", 2)) / 1000
    print(json.dumps({"workload": "py_mplock-ready", "pid": os.getpid()}), flush=True)
    while not os.path.exists(go):
        time.sleep(0.01)
    mp.set_start_method("fork")
    lock = mp.Lock()
    waited = mp.Queue()
    ps = [mp.Process(target=worker, args=(lock, rounds, hold_s, waited)) for _ in range(procs)]
    for p in ps:
        p.start()
    total = sum(waited.get() for _ in ps)
    for p in ps:
        p.join()
    print(json.dumps({"workload": "py_mplock", "pids": [p.pid for p in ps],
                      "lock_wait_ns": total}), flush=True)


if __name__ == "__main__":
    main()
