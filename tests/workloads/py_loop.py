# py_loop.py - asyncio event loops, blocked or not, for the loop-blocking tests. Prints its own
# ground truth: one line per block, "block CAUSE FUNCTION START_NS DURATION_NS" (CLOCK_MONOTONIC,
# measured inside the handler), then "done BLOCKS".
#
#   py_loop.py block   heartbeats every 10 ms; the loop is blocked twice by time.sleep(0.2) in
#                      sleepy_handler and twice by ~0.2 s of Python work in busy_handler
#   py_loop.py ok      a busy but well-behaved loop: thousands of short callbacks and heartbeats,
#                      no callback longer than a millisecond or so
#   py_loop.py stuck   blocked at 0.3 s by time.sleep(60) in stuck_handler, after printing
#                      "stuck START_NS": for a recording that ends during the block
import asyncio
import sys
import time

BLOCK_NS = 200_000_000
blocks = 0


def report(cause, func, t0):
    global blocks
    blocks += 1
    print(f"block {cause} {func} {t0} {time.monotonic_ns() - t0}", flush=True)


def sleepy_handler():
    t0 = time.monotonic_ns()
    time.sleep(BLOCK_NS / 1e9)
    report("sleep", "sleepy_handler", t0)


def stuck_handler():
    print(f"stuck {time.monotonic_ns()}", flush=True)
    time.sleep(60)


def busy_handler():
    t0 = time.monotonic_ns()
    n = 0
    while time.monotonic_ns() - t0 < BLOCK_NS:  # the vDSO clock: no system call
        for _ in range(2000):  # Python work between the clock reads
            n += 1
    report("cpu", "busy_handler", t0)


async def heartbeat(period, stop):
    while not stop.is_set():
        await asyncio.sleep(period)


def chatter(loop, stop, left):
    # a short callback that schedules the next: the loop is busy, never blocked
    sum(range(200))
    if left and not stop.is_set():
        loop.call_soon(chatter, loop, stop, left - 1)


async def blocked():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(0.01, stop))
    for i, at in enumerate((0.3, 0.7, 1.1, 1.5)):
        loop.call_later(at, sleepy_handler if i % 2 == 0 else busy_handler)
    await asyncio.sleep(1.9)
    stop.set()
    await beat


async def well_behaved():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    beats = [asyncio.create_task(heartbeat(0.001 * (i + 1), stop)) for i in range(4)]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        for _ in range(20):
            loop.call_soon(chatter, loop, stop, 50)
        await asyncio.sleep(0.002)
    stop.set()
    await asyncio.gather(*beats)


async def stuck():
    asyncio.get_running_loop().call_later(0.3, stuck_handler)
    await heartbeat(0.01, asyncio.Event())


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "block"
    runs = {"block": blocked, "ok": well_behaved, "stuck": stuck}
    asyncio.run(runs[mode]())
    print(f"done {blocks}", flush=True)


if __name__ == "__main__":
    main()
