"""Per-call overhead, sync: `chat_sync` against the same request made with the raw SDK, on a
zero-latency server and on one that waits a fixed time before every answer."""

from __future__ import annotations

from typing import Any

from llm_context.testing import Reply

from .config import BenchConfig
from .connections import connects_per_call
from .server import ServerProcess
from .stats import paired
from .subjects import Subject

__all__ = ["measure_overhead"]


def _call(fn: Any) -> Any:
    def run() -> None:
        fn()

    return run


def measure_overhead(
    server: ServerProcess, subjects: list[Subject], config: BenchConfig
) -> dict[str, Any]:
    """Per provider: median ms per call of both sides and the ratio, in both modes."""
    slow = Reply("Hello! How can I help you today?", delay_s=config.latency_s)
    out: dict[str, Any] = {}
    for subject in subjects:
        server.clear()
        zero = paired(
            _call(subject.call),
            _call(subject.sdk.call),
            samples=config.call_samples,
            block=config.call_block,
            warmup=config.call_warmup,
        )
        latency = paired(
            _call(subject.call),
            _call(subject.sdk.call),
            samples=config.latency_samples,
            block=config.call_block,
            warmup=2,
            before=lambda n: server.script(slow, n),
        )
        server.clear()
        connects = {
            "ours": connects_per_call(subject.call, config.connection_calls),
            "sdk": connects_per_call(subject.sdk.call, config.connection_calls),
        }
        out[subject.provider] = {
            "ours_ms": zero.ours_ms,
            "sdk_ms": zero.theirs_ms,
            "added_ms": round(zero.ours_ms - zero.theirs_ms, 4),
            "ratio": zero.ratio,
            "latency_ms": config.latency_s * 1000,
            "latency_ours_ms": latency.ours_ms,
            "latency_sdk_ms": latency.theirs_ms,
            "latency_ratio": latency.ratio,
            "connects_per_call": connects,
        }
    return out
