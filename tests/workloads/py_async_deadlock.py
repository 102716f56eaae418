"""py_async_deadlock.py - two asyncio tasks take two asyncio.Locks in opposite order and hang.

Prints its ground truth as one JSON line (pid; each task's name, coroutine function, the lock it
holds and the lock it waits for, by variable name, and the line of the `async with` where it
waits), then deadlocks for good. With --explicit the tasks take the locks with
`await lock.acquire()` and let them go with release(), no `async with`."""
import asyncio
import json
import os
import sys

lock_a = asyncio.Lock()
lock_b = asyncio.Lock()
truth = {}


class Both:
    """Both tasks hold their first lock: asyncio.Barrier(2), which 3.10 lacks."""

    def __init__(self):
        self.arrived = 0
        self.all_in = asyncio.Event()

    async def wait(self):
        self.arrived += 1
        if self.arrived == 2:
            self.all_in.set()
        await self.all_in.wait()


async def transfer_a_to_b(both):
    async with lock_a:
        await both.wait()
        truth["a-to-b"] = {"holds": "lock_a", "waits_for": "lock_b",
                           "line": sys._getframe().f_lineno + 1}
        async with lock_b:
            pass


async def transfer_b_to_a(both):
    async with lock_b:
        await both.wait()
        truth["b-to-a"] = {"holds": "lock_b", "waits_for": "lock_a",
                           "line": sys._getframe().f_lineno + 1}
        async with lock_a:
            pass


async def explicit_a_to_b(both):
    await lock_a.acquire()
    try:
        await both.wait()
        truth["a-to-b"] = {"holds": "lock_a", "waits_for": "lock_b",
                           "line": sys._getframe().f_lineno + 1}
        await lock_b.acquire()
        lock_b.release()
    finally:
        lock_a.release()


async def explicit_b_to_a(both):
    await lock_b.acquire()
    try:
        await both.wait()
        truth["b-to-a"] = {"holds": "lock_b", "waits_for": "lock_a",
                           "line": sys._getframe().f_lineno + 1}
        await lock_a.acquire()
        lock_a.release()
    finally:
        lock_b.release()


async def main():
    both = Both()
    explicit = "--explicit" in sys.argv
    tasks = [asyncio.create_task((explicit_a_to_b if explicit else transfer_a_to_b)(both),
                                 name="a-to-b"),
             asyncio.create_task((explicit_b_to_a if explicit else transfer_b_to_a)(both),
                                 name="b-to-a")]
    while len(truth) < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    print(json.dumps({"workload": "py_async_deadlock", "pid": os.getpid(),
                      "tasks": [dict(name=n, function=("explicit_" if explicit else "transfer_")
                                     + n.replace("-", "_"),
                                     **truth[n]) for n in ("a-to-b", "b-to-a")]}),
          flush=True)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main())
