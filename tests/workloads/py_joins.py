"""py_joins.py - starts THREADS threads at once, each working a little then sleeping, and joins
them one after the other: waits for threads' ends only, no lock contended but the GIL.

    python3 tests/workloads/py_joins.py [--threads N] [--sleep-ms N]

Prints its ground truth when done: the main thread's tid and the time it spent in join()."""
import json
import sys
import threading
import time


def work(sleep_s):
    total = 0
    for i in range(200000):
        total += i
    time.sleep(sleep_s)


def main():
    args = sys.argv[1:]
    opts = dict(zip(args[::2], args[1::2]))
    n = int(opts.get("--threads", 3))
    sleep_s = int(opts.get("--sleep-ms", 50)) / 1000
    threads = [threading.Thread(target=work, args=(sleep_s,)) for _ in range(n)]
    for t in threads:
        t.start()
    t0 = time.monotonic_ns()
    for t in threads:
        t.join()
    print(json.dumps({"workload": "py_joins", "tid": threading.get_native_id(),
                      "join_ns": time.monotonic_ns() - t0}), flush=True)


if __name__ == "__main__":
    main()
