"""py_deadlock.py - two threads take two threading.Locks in opposite order and hang forever.

Prints its ground truth (thread ids and names, which lock each holds and waits for by variable
name, the line where each blocks) as one JSON line, then deadlocks. Options: --delay-ms N before
starting; --explicit: the locks are taken with acquire() and let go with release(), no `with`;
--rlock: they are threading.RLocks."""
import json
import sys
import threading
import time

lock_a = threading.RLock() if "--rlock" in sys.argv else threading.Lock()
lock_b = threading.RLock() if "--rlock" in sys.argv else threading.Lock()
both_hold = threading.Barrier(2)
truth = {}


def transfer_a_to_b():
    with lock_a:
        both_hold.wait()
        truth["a-to-b"] = {"tid": threading.get_native_id(), "line": sys._getframe().f_lineno + 1}
        with lock_b:
            pass


def transfer_b_to_a():
    with lock_b:
        both_hold.wait()
        truth["b-to-a"] = {"tid": threading.get_native_id(), "line": sys._getframe().f_lineno + 1}
        with lock_a:
            pass


def explicit_a_to_b():
    lock_a.acquire()
    try:
        both_hold.wait()
        truth["a-to-b"] = {"tid": threading.get_native_id(), "line": sys._getframe().f_lineno + 1}
        lock_b.acquire()
        lock_b.release()
    finally:
        lock_a.release()


def explicit_b_to_a():
    lock_b.acquire()
    try:
        both_hold.wait()
        truth["b-to-a"] = {"tid": threading.get_native_id(), "line": sys._getframe().f_lineno + 1}
        lock_a.acquire()
        lock_a.release()
    finally:
        lock_b.release()


def main():
    if "--delay-ms" in sys.argv:
        time.sleep(int(sys.argv[sys.argv.index("--delay-ms") + 1]) / 1000)
    prefix = "explicit_" if "--explicit" in sys.argv else "transfer_"
    threads = [threading.Thread(target=globals()[prefix + "a_to_b"], name="a-to-b"),
               threading.Thread(target=globals()[prefix + "b_to_a"], name="b-to-a")]
    for t in threads:
        t.start()
    while len(truth) < 2:
        time.sleep(0.01)
    print(json.dumps({"workload": "py_deadlock", "pid": threading.get_native_id(),
                      "threads": [dict(name=n, function=prefix + n.replace("-", "_"),
                                       holds="lock_" + n[0], waits_for="lock_" + n[-1],
                                       **truth[n]) for n in ("a-to-b", "b-to-a")]}),
          flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
