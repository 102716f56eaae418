"""py_async_idle.py - a healthy idle event loop: an asyncio server waiting for clients, and a
ticker task that holds an asyncio.Lock while it sleeps. Nothing is deadlocked.

Prints its ground truth as one JSON line (pid, port, the tasks' names, the lock the ticker holds
by variable name, and the ticker's function), then serves until killed."""
import asyncio
import json
import os

state_lock = asyncio.Lock()


async def handle(reader, writer):
    writer.close()


async def tick():
    while True:
        async with state_lock:
            await asyncio.sleep(0.5)
        await asyncio.sleep(0)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    serving = asyncio.create_task(server.serve_forever(), name="server")
    ticker = asyncio.create_task(tick(), name="ticker")
    await asyncio.sleep(0.1)
    print(json.dumps({"workload": "py_async_idle", "pid": os.getpid(), "port": port,
                      "tasks": ["server", "ticker"], "ticker": {"function": "tick",
                                                                 "holds": "state_lock"}}),
          flush=True)
    await asyncio.gather(serving, ticker)


if __name__ == "__main__":
    asyncio.run(main())
