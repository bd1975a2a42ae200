#!/usr/bin/env python3
"""delayproxy.py LISTEN_PORT TARGET_PORT DELAY_MS: a TCP proxy on loopback
that delays every byte DELAY_MS each way (a round trip of 2 * DELAY_MS), in
order: a stand-in for netem where the kernel has no sch_netem. Latency only,
no bandwidth limit. Prints "ready" once it listens."""
import asyncio
import sys
import time


async def pipe(reader, writer, delay):
    """Copies reader to writer, each chunk written delay seconds after it came."""
    queue = asyncio.Queue()

    async def drain():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.ensure_future(drain())
    while True:
        data = await reader.read(1 << 16)
        await queue.put((time.monotonic() + delay, data))
        if not data:
            break
    await task


async def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    delay = float(sys.argv[3]) / 1000

    async def handle(creader, cwriter):
        sreader, swriter = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(creader, swriter, delay),
                             pipe(sreader, cwriter, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    await server.serve_forever()


asyncio.run(main())
