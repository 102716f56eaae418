"""py_stale.py - waits for one threading.Lock whose Python line is known for sure, amid waits on
other lines of the same critical section: frames read at the wrong moment show a later line.

Two `worker` threads take one threading.Lock in turns, `with lock:` on the line marked LOCK below,
the only line where that lock is ever waited for. Holding it they sleep a moment (the line marked
SLEEP) and burn some CPU (BURN): there they wait for the GIL, which a third thread, `spinner`,
keeps busy. Prints its ground truth as one JSON line: pid, threads, the function and the lines.

    python3 tests/workloads/py_stale.py [--rounds N]
"""
import json
import os
import sys
import threading
import time

lock = threading.Lock()
stop = threading.Event()
truth = {"threads": []}


def burn(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


def worker(rounds):
    truth["threads"].append({"tid": threading.get_native_id(),
                             "name": threading.current_thread().name})
    for _ in range(rounds):
        with lock:  # LOCK
            time.sleep(0.001)  # SLEEP
            burn(3000)  # BURN


def spinner():
    while not stop.is_set():
        burn(1000)


def marked(tag):
    with open(__file__, encoding="utf-8") as f:
        return [i + 1 for i, text in enumerate(f) if text.rstrip().endswith("# " + tag)][0]


def main():
    rounds = 150
    if sys.argv[1:2] == ["--rounds"]:
        rounds = int(sys.argv[2])
    start = time.monotonic_ns()
    spin = threading.Thread(target=spinner, name="spinner")
    spin.start()
    workers = [threading.Thread(target=worker, args=(rounds,), name=f"worker-{i}")
               for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    spin.join()
    print(json.dumps({"workload": "py_stale", "pid": os.getpid(), "threads": truth["threads"],
                      "function": "worker", "file": os.path.basename(__file__),
                      "lock_line": marked("LOCK"), "later_lines": [marked("SLEEP"),
                                                                   marked("BURN")],
                      "elapsed_ns": time.monotonic_ns() - start}), flush=True)


if __name__ == "__main__":
    main()
