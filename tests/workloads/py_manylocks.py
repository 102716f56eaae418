"""py_manylocks.py - a Python program with hundreds of locks, as a viewer has to show them: a bank
of accounts, each with its own threading.Lock, transfers that take two of them in account order
(no cycle), short-lived batch locks whose addresses the allocator reuses, a vault that every
teller takes at once when they start (contended every run), and one lock-order inversion: audit() takes ledger then journal, post() journal then ledger, in two threads at
different moments (a deadlock the program can have, not one it has here).

    python3 tests/workloads/py_manylocks.py [--accounts N] [--threads N] [--transfers N]

Prints its ground truth as one JSON line: the number of accounts, threads and transfers, and the
native thread ids that took ledger then journal (audit) and journal then ledger (post).
"""
import json
import random
import sys
import threading
import time


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


ACCOUNTS = arg("--accounts", 200)
THREADS = arg("--threads", 4)
TRANSFERS = arg("--transfers", 3000)

ledger = threading.Lock()
journal = threading.Lock()
vault = threading.Lock()
opening = threading.Barrier(THREADS)
balances = [100] * ACCOUNTS
accounts = [threading.Lock() for _ in range(ACCOUNTS)]
inversion_done = threading.Event()
truth = {}


def transfer(rng):
    a, b = sorted(rng.sample(range(ACCOUNTS), 2))
    with accounts[a]:
        with accounts[b]:
            balances[a] -= 1
            balances[b] += 1


def batch(rng):
    # a lock per batch, dropped after it: the next batch's lock may reuse its address
    batch_lock = threading.Lock()
    with batch_lock:
        with accounts[rng.randrange(ACCOUNTS)]:
            pass


def audit():
    truth["audit_tid"] = threading.get_native_id()
    with ledger:
        with journal:
            time.sleep(0.002)


def post():
    truth["post_tid"] = threading.get_native_id()
    with journal:
        with ledger:
            time.sleep(0.002)


def worker(seed):
    rng = random.Random(seed)
    opening.wait()
    with vault:  # all tellers at once: the others wait while one holds it
        time.sleep(0.005)
    for i in range(TRANSFERS):
        transfer(rng)
        if i % 50 == 0:
            batch(rng)
    if seed == 0:
        audit()
        inversion_done.set()
    elif seed == 1:
        inversion_done.wait()  # never at the same time as audit(): no deadlock here
        post()


threads = [threading.Thread(target=worker, args=(i,), name=f"teller-{i}") for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert sum(balances) == 100 * ACCOUNTS
print(json.dumps({"workload": "py_manylocks", "accounts": ACCOUNTS, "threads": THREADS,
                  "transfers": TRANSFERS, **truth}))
