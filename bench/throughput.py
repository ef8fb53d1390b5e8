"""Async throughput: many `await chat(...)` calls at fixed concurrency against a server with
fixed latency, vs the SDK's native async client and vs the design's floor (the bare sync
SDK call run in a thread pool of our default size under asyncio); and a sweep of our
thread-pool size."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from llm_context import LLMContext
from llm_context.context import DEFAULT_MAX_WORKERS
from llm_context.testing import Reply

from .config import BenchConfig
from .server import ServerProcess
from .stats import median, ratio
from .subjects import Subject

__all__ = ["measure_throughput"]

AsyncCall = Callable[[], Awaitable[object]]


async def _drive(call: AsyncCall, total: int, concurrency: int) -> float:
    """Requests per second for `total` calls made by `concurrency` workers."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


def _rps(
    server: ServerProcess,
    make: Callable[[], tuple[AsyncCall, Callable[[], Awaitable[None]]]],
    total: int,
    concurrency: int,
    reply: Reply,
) -> float:
    """One timed run in a fresh event loop, after a warm-up round at the same concurrency."""

    async def run() -> float:
        call, close = make()
        try:
            server.script(reply, concurrency + total)
            await _drive(call, concurrency, concurrency)  # connections and threads ready
            return await _drive(call, total, concurrency)
        finally:
            await close()

    try:
        return asyncio.run(run())
    finally:
        server.clear()


def _ours(subject: Subject) -> Callable[[], tuple[AsyncCall, Callable[[], Awaitable[None]]]]:
    async def nothing() -> None:
        return None

    return lambda: (subject.acall, nothing)


def _pool_floor(subject: Subject) -> Callable[[], tuple[AsyncCall, Callable[[], Awaitable[None]]]]:
    """The bare sync SDK call in a thread pool under asyncio: what async costs by design."""

    def make() -> tuple[AsyncCall, Callable[[], Awaitable[None]]]:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(DEFAULT_MAX_WORKERS)
        loop = asyncio.get_running_loop()

        async def call() -> object:
            return await loop.run_in_executor(pool, subject.sdk.call)

        async def close() -> None:
            pool.shutdown(wait=False)

        return call, close

    return make


def measure_throughput(
    server: ServerProcess, subject: Subject, config: BenchConfig
) -> dict[str, Any]:
    """Requests/s of both sides at each concurrency (median of repeats, sides alternating),
    and our requests/s per thread-pool size at each concurrency."""
    reply = Reply("Hello! How can I help you today?", delay_s=config.async_latency_s)
    ours: dict[int, list[float]] = {c: [] for c in config.async_concurrency}
    native: dict[int, list[float]] = {c: [] for c in config.async_concurrency}
    floor: dict[int, list[float]] = {c: [] for c in config.async_concurrency}
    for repeat in range(config.async_repeats):
        for c in config.async_concurrency:
            sides = [
                (ours, _ours(subject)),
                (native, subject.sdk.make_async),
                (floor, _pool_floor(subject)),
            ]
            for store, make in sides[:: -1 if repeat % 2 else 1]:
                store[c].append(_rps(server, make, config.async_calls, c, reply))
    out: dict[str, Any] = {
        "provider": subject.provider,
        "calls": config.async_calls,
        "latency_ms": config.async_latency_s * 1000,
    }
    for c in config.async_concurrency:
        out[f"c{c}"] = {
            "ours_rps": round(median(ours[c]), 1),
            "sdk_rps": round(median(native[c]), 1),
            "pool_floor_rps": round(median(floor[c]), 1),
            "ratio": ratio(median(ours[c]), median(native[c])),
            # Our time per call over the floor's (the floor's requests/s over ours).
            "pool_ratio": ratio(median(floor[c]), median(ours[c])),
        }
    sweep: dict[str, dict[str, float]] = {}
    for size in config.pool_sizes:
        with _sized(server, subject, size) as sized:
            sweep[str(size)] = {
                f"c{c}": round(_rps(server, _ours(sized), config.async_calls, c, reply), 1)
                for c in config.async_concurrency
            }
    out["pool_sweep_rps"] = sweep
    out["slow"] = _slow(server, subject, config)
    return out


@contextlib.contextmanager
def _sized(server: ServerProcess, subject: Subject, workers: int | None) -> Iterator[Subject]:
    """`subject` on a context of its own with `workers` threads (None: the default)."""
    with LLMContext(server.profiles, max_workers=workers) as context:
        yield Subject(subject.provider, context.llm(subject.provider), subject.sdk)


def _slow(server: ServerProcess, subject: Subject, config: BenchConfig) -> dict[str, Any]:
    """At a provider-like latency the thread pool bounds the calls in flight: requests/s of
    the native client, ours with the default pool, and ours with one thread per caller."""
    reply = Reply("Hello!", delay_s=config.slow_latency_s)
    calls, c = config.slow_calls, config.slow_concurrency
    sdk = _rps(server, subject.sdk.make_async, calls, c, reply)
    with _sized(server, subject, None) as default:
        ours = _rps(server, _ours(default), calls, c, reply)
    with _sized(server, subject, c) as wide:
        ours_wide = _rps(server, _ours(wide), calls, c, reply)
    return {
        "default_pool": DEFAULT_MAX_WORKERS,
        "latency_ms": config.slow_latency_s * 1000,
        "calls": calls,
        "concurrency": c,
        "sdk_rps": round(sdk, 1),
        "ours_default_pool_rps": round(ours, 1),
        f"ours_{c}_workers_rps": round(ours_wide, 1),
        "ratio_default_pool": ratio(ours, sdk),
        f"ratio_{c}_workers": ratio(ours_wide, sdk),
    }
