"""py_async_ordered.py - the tasks of py_async_deadlock.py, but both take the two asyncio.Locks in
the same order: contended, never deadlocked, and it finishes.

Prints {"workload", "pid", "tasks": [names]} as one JSON line when the tasks have started, runs
for --seconds N (default 3), then prints {"done": true, "rounds": N} and exits 0."""
import asyncio
import json
import os
import sys
import time

lock_a = asyncio.Lock()
lock_b = asyncio.Lock()
rounds = 0


async def transfer(end):
    global rounds
    while time.monotonic() < end:
        async with lock_a:
            await asyncio.sleep(0.002)
            async with lock_b:
                await asyncio.sleep(0.002)
                rounds += 1


async def main():
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3
    end = time.monotonic() + seconds
    names = ["a-to-b", "b-to-a"]
    tasks = [asyncio.create_task(transfer(end), name=n) for n in names]
    await asyncio.sleep(0)
    print(json.dumps({"workload": "py_async_ordered", "pid": os.getpid(), "tasks": names}),
          flush=True)
    await asyncio.gather(*tasks)
    print(json.dumps({"done": True, "rounds": rounds}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
