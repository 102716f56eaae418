# py_loop.py - asyncio event loops, blocked or not, for the loop-blocking tests. Prints its own
# ground truth: one line per block, "block CAUSE FUNCTION START_NS DURATION_NS" (CLOCK_MONOTONIC,
# measured inside the handler), then "done BLOCKS".
#
#   py_loop.py block   heartbeats every 10 ms; the loop is blocked twice by time.sleep(0.2) in
#                      sleepy_handler, twice by ~0.2 s of Python work in busy_handler, then by
#                      network calls that set a timeout, against a slow server on a thread of its
#                      own (0.2 s per answer): urlopen(url, timeout=5) in fetch_profile, a socket
#                      with settimeout in read_reply. Both wait in poll() on their one socket.
#                      Their block lines end with the line of the blocking call.
#   py_loop.py ok      a busy but well-behaved loop: thousands of short callbacks and heartbeats,
#                      no callback longer than a millisecond or so
#   py_loop.py stuck   blocked at 0.3 s by time.sleep(60) in stuck_handler, after printing
#                      "stuck START_NS": for a recording that ends during the block
#   py_loop.py stuck signal   the same, once SIGUSR1 comes (it prints "ready" first)
import asyncio
import signal
import socket
import sys
import threading
import time

BLOCK_NS = 200_000_000
blocks = 0


def report(cause, func, t0, line=0):
    global blocks
    blocks += 1
    print(f"block {cause} {func} {t0} {time.monotonic_ns() - t0} {line}", flush=True)


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


def start_slow_server():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    threading.Thread(target=slow_server, args=(listener,), daemon=True).start()
    return listener.getsockname()[1]


async def blocked():
    port = start_slow_server()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(0.01, stop))
    handlers = (sleepy_handler, busy_handler, sleepy_handler, busy_handler)
    for i, at in enumerate((0.3, 0.7, 1.1, 1.5)):
        loop.call_later(at, handlers[i])
    loop.call_later(1.9, fetch_profile, port)
    loop.call_later(2.3, read_reply, port)
    await asyncio.sleep(2.7)
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


SLOW_S = 0.2


def slow_server(listener):
    # one connection at a time: reads the request, answers 0.2 s later (blocking calls: no poll)
    while True:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data and b"\n" not in data[-1:]:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            time.sleep(SLOW_S)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")


def fetch_profile(port):
    import urllib.request  # imported by main() already

    t0 = time.monotonic_ns()
    line = sys._getframe().f_lineno + 1
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/profile", timeout=5) as r:
        r.read()
    report("io", "fetch_profile", t0, line)


def read_reply(port):
    t0 = time.monotonic_ns()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(5)
        s.sendall(b"ping\n")
        line = sys._getframe().f_lineno + 1
        s.recv(4096)
    report("io", "read_reply", t0, line)


async def stuck():
    loop = asyncio.get_running_loop()
    if sys.argv[2:] == ["signal"]:
        loop.add_signal_handler(signal.SIGUSR1, stuck_handler)
        print("ready", flush=True)
    else:
        loop.call_later(0.3, stuck_handler)
    await heartbeat(0.01, asyncio.Event())


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "block"
    if mode == "block":
        # imported here: urllib's imports slow the start of the other modes, which must block
        # early in a short recording. Its first urlopen builds its opener (an SSL context: tens
        # of ms in libcrypto), which would be part of fetch_profile's block: built now.
        import urllib.request

        urllib.request.install_opener(urllib.request.build_opener())
    runs = {"block": blocked, "ok": well_behaved, "stuck": stuck}
    asyncio.run(runs[mode]())
    print(f"done {blocks}", flush=True)


if __name__ == "__main__":
    main()
