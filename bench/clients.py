"""The HTTP load the benchmarks share: a closed loop of keep-alive connections, bounded phases,
and the latency probe that shows whether a server's event loop is free."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import aiohttp

REQUEST_TIMEOUT = 30.0
PROBE_INTERVAL = 0.05
PROBE_IDLE_SAMPLES = 100
PROBE_MAX_SAMPLES = 20_000

Item = TypeVar("Item")
Result = TypeVar("Result")


async def closed_loop(
    items: Iterable[Item],
    connections: int,
    send: Callable[[aiohttp.ClientSession, Item], Awaitable[None]],
    phase_timeout: float,
    request_timeout: float = REQUEST_TIMEOUT,
) -> float:
    """``connections`` keep-alive connections, each sending its next item as soon as the previous
    one is answered, so a slow server is seen as latency and as fewer items per second. Returns
    the seconds the sending took."""
    pending = iter(items)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def sender() -> None:
            for item in pending:
                await send(session, item)

        started = time.perf_counter()
        senders = [asyncio.create_task(sender()) for _ in range(connections)]
        await run_bounded(senders, phase_timeout)
        return time.perf_counter() - started


async def run_bounded(tasks: list[asyncio.Task], timeout: float) -> None:
    """Wait at most ``timeout``. Plain tasks, not gather(): on Ctrl-C asyncio.run cancels and
    collects them quietly."""
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        raise TimeoutError(f"{len(pending)} senders were not done after {timeout:.0f} s")
    for task in done:
        task.result()


async def probe(url: str, samples: int, done: asyncio.Event | None = None) -> list[float]:
    """Latencies of ``GET url``, one at a time every PROBE_INTERVAL, until ``done`` is set."""
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while len(latencies) < samples and not (done and done.is_set()):
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def probed(work: Awaitable[Result], url: str) -> tuple[Result, list[float]]:
    """``work`` with the probe of ``url`` running alongside, for as long as it runs."""
    done = asyncio.Event()
    probing = asyncio.create_task(probe(url, PROBE_MAX_SAMPLES, done))
    try:
        result = await work
    finally:
        done.set()
    return result, await probing
