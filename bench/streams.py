"""Streaming: a long stream through `chat_stream_sync`, and through the typed event stream
(`events_sync`), each against the SDK's own stream; total time and time to the first delta."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from llm_context.testing import Reply

from .config import BenchConfig
from .connections import connects_per_call
from .sdk import DeltaSink
from .server import ServerProcess
from .stats import paired
from .subjects import Subject

__all__ = ["first_mark", "measure_streams"]


def first_mark(stream: Callable[[DeltaSink], None]) -> Callable[[], float | None]:
    """A call that drains one stream and returns when its first delta arrived."""

    def run() -> float | None:
        marks: list[float] = []

        def on_delta(text: str) -> None:
            if not marks:
                marks.append(time.perf_counter())

        stream(on_delta)
        return marks[0] if marks else None

    return run


def _connects(
    server: ServerProcess, reply: Reply, stream: Callable[[DeltaSink], None], calls: int
) -> float:
    def call() -> None:
        server.script(reply, 1)
        stream(lambda text: None)

    return connects_per_call(call, calls)


def measure_streams(
    server: ServerProcess, subjects: list[Subject], config: BenchConfig
) -> dict[str, Any]:
    """Per provider: median total and first-delta ms of both sides, and the ratios."""
    reply = Reply(deltas=tuple(f"word{i} " for i in range(config.stream_deltas)))
    out: dict[str, Any] = {}
    for subject in subjects:
        server.clear()

        def against_sdk(ours: Callable[[DeltaSink], None], subject: Subject = subject) -> Any:
            return paired(
                first_mark(ours),
                first_mark(subject.sdk.stream),
                samples=config.stream_samples,
                block=max(1, config.stream_samples // 8),
                warmup=config.stream_warmup,
                before=lambda n: server.script(reply, n),
            )

        result = against_sdk(subject.stream)
        server.clear()
        events = against_sdk(subject.events)
        server.clear()
        connects = {
            side: _connects(server, reply, stream, config.connection_calls)
            for side, stream in (("ours", subject.stream), ("sdk", subject.sdk.stream))
        }
        server.clear()
        out[subject.provider] = {
            "deltas": config.stream_deltas,
            "ours_ms": result.ours_ms,
            "sdk_ms": result.theirs_ms,
            "ratio": result.ratio,
            "first_delta_ratio": result.first_ratio,
            "events_ms": events.ours_ms,
            "events_ratio": events.ratio,
            "connects_per_call": connects,
        }
    return out
