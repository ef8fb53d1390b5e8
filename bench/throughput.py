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

__all__ = ["AsyncCall", "measure_throughput", "requests_per_second", "timed_run"]

AsyncCall = Callable[[], Awaitable[object]]
MakeAsync = Callable[[], tuple[AsyncCall, Callable[[], Awaitable[None]]]]
"""Builds, inside the event loop, one side's async call and its closer."""


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


async def timed_run(
    server: ServerProcess,
    make: MakeAsync,
    total: int,
    concurrency: int,
    reply: Reply,
) -> float:
    """Requests/s of one timed run in the running event loop, after a warm-up round at the
    same concurrency."""
    call, close = make()
    try:
        server.script(reply, concurrency + total)
        await _drive(call, concurrency, concurrency)  # connections and threads ready
        return await _drive(call, total, concurrency)
    finally:
        await close()
        server.clear()


def requests_per_second(
    server: ServerProcess,
    make: MakeAsync,
    total: int,
    concurrency: int,
    reply: Reply,
) -> float:
    """`timed_run` in a fresh event loop."""
    return asyncio.run(timed_run(server, make, total, concurrency, reply))


def _ours(subject: Subject) -> MakeAsync:
    async def nothing() -> None:
        return None

    return lambda: (subject.acall, nothing)


def _pool_floor(subject: Subject) -> MakeAsync:
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


def _sides(
    server: ServerProcess,
    sides: dict[str, MakeAsync],
    calls: Callable[[int], int],
    concurrency: tuple[int, ...],
    repeats: int,
    reply: Reply,
) -> dict[int, dict[str, list[float]]]:
    """Requests/s of each side at each concurrency, one figure per repeat; within a repeat
    the sides run back to back, their order alternating from repeat to repeat."""
    seen: dict[int, dict[str, list[float]]] = {c: {k: [] for k in sides} for c in concurrency}
    for repeat in range(repeats):
        for c in concurrency:
            order = list(sides.items())[:: -1 if repeat % 2 else 1]
            for name, make in order:
                seen[c][name].append(requests_per_second(server, make, calls(c), c, reply))
    return seen


def _paired_ratio(top: list[float], bottom: list[float]) -> float:
    """The median of the per-repeat ratios: load that comes and goes between repeats hits
    both sides of one repeat alike, where a ratio of medians would mix repeats."""
    return round(median([a / b for a, b in zip(top, bottom, strict=True) if b > 0]), 3)


def _against_floor(server: ServerProcess, subject: Subject, config: BenchConfig) -> dict[str, Any]:
    """A fast server (20 ms): ours, the native async client, and the design's floor (the
    bare sync SDK in a thread pool of our size under asyncio)."""
    reply = Reply("Hello! How can I help you today?", delay_s=config.async_latency_s)
    sides = {"ours": _ours(subject), "sdk": subject.sdk.make_async, "floor": _pool_floor(subject)}
    found = _sides(
        server,
        sides,
        lambda c: config.async_calls,
        config.async_concurrency,
        config.async_repeats,
        reply,
    )
    out: dict[str, Any] = {"calls": config.async_calls, "latency_ms": config.async_latency_s * 1000}
    for c, rps in found.items():
        out[f"c{c}"] = {
            "ours_rps": round(median(rps["ours"]), 1),
            "sdk_rps": round(median(rps["sdk"]), 1),
            "pool_floor_rps": round(median(rps["floor"]), 1),
            "ratio": _paired_ratio(rps["ours"], rps["sdk"]),
            # Our time per call over the floor's (the floor's requests/s over ours).
            "pool_ratio": _paired_ratio(rps["floor"], rps["ours"]),
        }
    return out


def _provider_like(server: ServerProcess, subject: Subject, config: BenchConfig) -> dict[str, Any]:
    """A provider-like latency (200 ms): our throughput against the native async client's,
    with at least two rounds of calls at each concurrency. The floor runs too: where it
    trails the native client, the gap is the thread-pool design's, not our code's."""
    reply = Reply("Hello!", delay_s=config.provider_latency_s)
    sides = {"ours": _ours(subject), "sdk": subject.sdk.make_async, "floor": _pool_floor(subject)}

    def calls(c: int) -> int:
        return max(config.provider_calls, 2 * c)

    found = _sides(
        server, sides, calls, config.provider_concurrency, config.provider_repeats, reply
    )
    out: dict[str, Any] = {"latency_ms": config.provider_latency_s * 1000}
    for c, rps in found.items():
        out[f"c{c}"] = {
            "calls": calls(c),
            "ours_rps": round(median(rps["ours"]), 1),
            "sdk_rps": round(median(rps["sdk"]), 1),
            "pool_floor_rps": round(median(rps["floor"]), 1),
            "ratio": _paired_ratio(rps["ours"], rps["sdk"]),
            "floor_ratio": _paired_ratio(rps["floor"], rps["sdk"]),
            "pool_ratio": _paired_ratio(rps["floor"], rps["ours"]),
        }
    return out


def measure_throughput(
    server: ServerProcess, subjects: list[Subject], config: BenchConfig
) -> dict[str, Any]:
    """Requests/s against the floor on every provider (20 ms); against the native client at
    a provider-like latency (200 ms) and at high concurrency (500 ms); and our requests/s
    per thread-pool size."""
    first = subjects[0]
    floor = {s.provider: _against_floor(server, s, config) for s in subjects}
    out: dict[str, Any] = {"provider": first.provider, **floor[first.provider]}
    out["by_provider"] = floor
    out["provider_like"] = _provider_like(server, first, config)
    reply = Reply("Hello! How can I help you today?", delay_s=config.async_latency_s)
    sweep: dict[str, dict[str, float]] = {}
    for size in config.pool_sizes:
        with _sized(server, first, size) as sized:
            sweep[str(size)] = {
                f"c{c}": round(
                    requests_per_second(server, _ours(sized), config.async_calls, c, reply), 1
                )
                for c in config.async_concurrency
            }
    out["pool_sweep_rps"] = sweep
    out["slow"] = _slow(server, first, config)
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
    sdk = requests_per_second(server, subject.sdk.make_async, calls, c, reply)
    with _sized(server, subject, None) as default:
        ours = requests_per_second(server, _ours(default), calls, c, reply)
    with _sized(server, subject, c) as wide:
        ours_wide = requests_per_second(server, _ours(wide), calls, c, reply)
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
