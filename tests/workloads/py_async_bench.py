"""py_async_bench.py - an asyncio program for overhead measurements: many short callbacks and
task switches, an asyncio.Lock the tasks contend for, a threading.Lock taken in callbacks, and
an executor thread handing results back to the loop. Prints one JSON line with its own
elapsed time (start-up not counted) and how much it did.

    python3 tests/workloads/py_async_bench.py [--tasks N] [--iters N]

The work is proportional to tasks * iters.
"""
import asyncio
import json
import sys
import threading
import time

TASKS = 50
ITERS = 2000


async def worker(alock, tlock, counts, slot, iters):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = [0]

    def callback():
        with tlock:
            counts["callbacks"] += 1
        left[0] -= 1
        if left[0] == 0 and not done.done():
            done.set_result(None)

    for i in range(iters):
        await asyncio.sleep(0)
        if i % 10 == 0:
            async with alock:
                counts["locked"] += 1
                await asyncio.sleep(0)
        if i % 50 == 0:
            left[0] = 3
            done = loop.create_future()
            for _ in range(3):
                loop.call_soon(callback)
            await done
        if i % 500 == 0:
            counts["executor"] += await loop.run_in_executor(None, sum, range(100))
    counts["iters"] += iters
    return slot


async def main(tasks, iters):
    alock, tlock = asyncio.Lock(), threading.Lock()
    counts = {"iters": 0, "locked": 0, "callbacks": 0, "executor": 0}
    start = time.monotonic_ns()
    await asyncio.gather(*(worker(alock, tlock, counts, i, iters) for i in range(tasks)))
    counts["elapsed_ns"] = time.monotonic_ns() - start
    return counts


def parse(args):
    tasks, iters = TASKS, ITERS
    while args:
        a = args.pop(0)
        if a == "--tasks" and args:
            tasks = int(args.pop(0))
        elif a == "--iters" and args:
            iters = int(args.pop(0))
        else:
            print("usage: py_async_bench.py [--tasks N] [--iters N]", file=sys.stderr)
            sys.exit(1)
    return tasks, iters


if __name__ == "__main__":
    tasks, iters = parse(sys.argv[1:])
    out = asyncio.run(main(tasks, iters))
    out.update({"workload": "py_async_bench", "tasks": tasks, "iters_per_task": iters})
    print(json.dumps(out))
