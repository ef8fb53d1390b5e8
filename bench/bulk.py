"""The bulk runner against the loop a user would write by hand: `asyncio.gather` over every
item with a semaphore of the same concurrency, both calling `await llm.chat(...)` on the
same client against a server with fixed latency."""

from __future__ import annotations

import asyncio
import functools
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from llm_context.testing import Reply

from .config import BenchConfig
from .sdk import MAX_TOKENS
from .server import ServerProcess
from .stats import median, ratio
from .subjects import Subject

__all__ = ["measure_bulk"]


def _messages(item: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Say hello to number {item}."}]


async def _gather(subject: Subject, items: list[int], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(item: int) -> object:
        async with gate:
            try:
                return await subject.llm.chat(_messages(item), max_output_tokens=MAX_TOKENS)
            except Exception as exc:  # what a careful hand-written loop keeps per item
                return exc

    await asyncio.gather(*(one(item) for item in items))


async def _runner(subject: Subject, items: list[int], concurrency: int, checkpoint: Any) -> None:
    run = await subject.llm.map(
        items,
        _messages,
        concurrency=concurrency,
        progress=False,
        checkpoint=checkpoint,
        max_output_tokens=MAX_TOKENS,
    )
    if run.failed():
        raise RuntimeError(f"the bulk run failed {len(run.failed())} items")


Go = Callable[[], Coroutine[Any, Any, None]]


def _timed(server: ServerProcess, reply: Reply, count: int, go: Go) -> float:
    server.script(reply, count)
    try:
        start = time.perf_counter()
        asyncio.run(go())
        return count / (time.perf_counter() - start)
    finally:
        server.clear()


def measure_bulk(server: ServerProcess, subject: Subject, config: BenchConfig) -> dict[str, Any]:
    """Items/s of the hand-written loop, the runner, and the runner with a SQLite checkpoint
    (each finished item committed), sides alternating over the repeats."""
    reply = Reply("Hello!", delay_s=config.async_latency_s)
    n, c = config.bulk_items, config.bulk_concurrency
    seen: dict[str, list[float]] = {"gather": [], "runner": [], "runner_checkpoint": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(config.bulk_repeats):
            # Items differ per repeat, so the checkpoint never answers from an earlier run.
            items = list(range(repeat * n, (repeat + 1) * n))
            path = Path(tmp) / f"run{repeat}.sqlite"
            sides: dict[str, Go] = {
                "gather": functools.partial(_gather, subject, items, c),
                "runner": functools.partial(_runner, subject, items, c, None),
                "runner_checkpoint": functools.partial(_runner, subject, items, c, path),
            }
            for name, go in list(sides.items())[:: -1 if repeat % 2 else 1]:
                seen[name].append(_timed(server, reply, n, go))
    gather, runner, saved = (median(seen[k]) for k in ("gather", "runner", "runner_checkpoint"))
    return {
        "provider": subject.provider,
        "items": n,
        "concurrency": c,
        "latency_ms": config.async_latency_s * 1000,
        "gather_items_s": round(gather, 1),
        "runner_items_s": round(runner, 1),
        "runner_checkpoint_items_s": round(saved, 1),
        "ratio": ratio(runner, gather),
        "checkpoint_ratio": ratio(saved, gather),
    }
