"""py_idioms.py - threads that wait a lot without any lock contention: the signalling idioms of
Python's standard library, each built on a CPython lock acquired twice (the second acquire
waits for another thread's release). A profiler must list these waits apart from contention,
with what each is, and find no deadlock and no lock-order cycle among them.

    python3 tests/workloads/py_idioms.py [--wait-signal] [--scale X] [--delay-ms N]

Idioms, each in its own thread (named after it) that waits nowhere else and measures its wait:
  cond      Condition.wait, notified 0.30 s later
  event     Event.wait, set 0.40 s later
  queue     Queue.get of a consumer, the producer puts 0.50 s later
  barrier   Barrier(2).wait, the other party arrives 0.35 s later
  signal    Semaphore(0).acquire, released 0.45 s later
  join      Thread.join of a thread that sleeps 0.55 s
  pool      two ThreadPoolExecutor workers idle on their work queue for ~0.6 s
Prints its ground truth as one JSON line: per idiom the waiting thread's native id, the kind
a profiler should give it, the variable that refers to what it waits on and the nanoseconds it
measured waiting.
"""
import concurrent.futures
import json
import os
import queue
import signal
import sys
import threading
import time

truth = []
truth_lock = threading.Lock()


def note(kind, obj, wait_ns, tid=None):
    with truth_lock:
        truth.append({"kind": kind, "object": obj, "tid": tid or threading.get_native_id(),
                      "name": threading.current_thread().name, "wait_ns": wait_ns})


def idioms(scale):
    cond = threading.Condition()
    event = threading.Event()
    q = queue.Queue()
    barrier = threading.Barrier(2)
    sem = threading.Semaphore(0)

    def cond_waiter():
        with cond:
            t0 = time.monotonic_ns()
            cond.wait()
            note("cond", "cond", time.monotonic_ns() - t0)

    def event_waiter():
        t0 = time.monotonic_ns()
        event.wait()
        note("event", "event", time.monotonic_ns() - t0)

    def consumer():
        t0 = time.monotonic_ns()
        q.get()
        note("queue", "q", time.monotonic_ns() - t0)

    def barrier_party():
        t0 = time.monotonic_ns()
        barrier.wait()
        note("barrier", "barrier", time.monotonic_ns() - t0)

    def signal_waiter():
        t0 = time.monotonic_ns()
        sem.acquire()
        note("signal", "sem", time.monotonic_ns() - t0)

    def sleeper():
        time.sleep(0.55 * scale)

    def joiner():
        t = threading.Thread(target=sleeper, name="sleeper")
        t.start()
        t0 = time.monotonic_ns()
        t.join()
        note("join", "thread %d (sleeper)" % t.native_id, time.monotonic_ns() - t0)

    threads = [threading.Thread(target=f, name=f.__name__.replace("_", "-"))
               for f in (cond_waiter, event_waiter, consumer, barrier_party, signal_waiter,
                         joiner)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # each idiom thread waits by now, and waits only there
    start = time.monotonic()
    for at, act in sorted([(0.30, lambda: notify(cond)), (0.40, event.set),
                           (0.50, lambda: q.put(1)), (0.35, barrier.wait),
                           (0.45, sem.release)], key=lambda x: x[0]):
        time.sleep(max(0, start + at * scale - time.monotonic()))
        act()
    for t in threads:
        t.join()


def notify(cond):
    with cond:
        cond.notify()


def pool(scale):
    both = threading.Barrier(2)  # both tasks run at once: two workers

    def task():
        both.wait()
        return threading.get_native_id()

    ex = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool")
    futs = [ex.submit(task) for _ in range(2)]
    tids = [f.result() for f in futs]
    idle_from = time.monotonic_ns()
    time.sleep(0.6 * scale)
    idle_ns = time.monotonic_ns() - idle_from
    ex.shutdown(wait=True)
    for tid in set(tids):
        note("queue", "work_queue", idle_ns, tid=tid)


def main():
    scale = 1.0
    args = sys.argv[1:]
    if "--scale" in args:
        scale = float(args[args.index("--scale") + 1])
    if "--delay-ms" in args:
        time.sleep(int(args[args.index("--delay-ms") + 1]) / 1000)
    if "--wait-signal" in args:
        got = threading.Event()
        signal.signal(signal.SIGUSR1, lambda *_: got.set())
        print("waiting for SIGUSR1", file=sys.stderr, flush=True)
        while not got.wait(0.05):
            pass
    t0 = time.monotonic_ns()
    idioms(scale)
    pool(scale)
    print(json.dumps({"workload": "py_idioms", "pid": os.getpid(),
                      "elapsed_ns": time.monotonic_ns() - t0, "waits": truth}), flush=True)


if __name__ == "__main__":
    main()
