"""`make bench-peers`: llm_context beside LiteLLM, any-llm and aisuite, in one run.

Run in `.venv-peers` (the Makefile builds it: this project plus the peers; never the
project's own virtualenv). Every library talks to the same fake server on loopback through
the same `openai` SDK, retries off, and each is compared with the raw SDK call it wraps,
measured in the same run in alternating blocks: llm_context with `responses.create` (its
OpenAI adapter's API), the peers with `chat.completions.create` (theirs). The measures are
those of `make bench`: per-call time at zero latency, a 200-delta stream (total and first
delta), and async requests/s at concurrency 50 with 20 ms latency against the native
`AsyncOpenAI`. Writes `bench/peers.json` and prints a Markdown table for
docs/performance.md. A peer that is not installed is reported as such, not skipped quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_context.testing import Reply

from .report import machine
from .sdk import RawSDK, raw_sdk
from .server import ServerProcess
from .stats import median, paired, ratio
from .streams import first_mark
from .throughput import timed_run

__all__ = ["PEERS_PATH", "PeersConfig", "measure_peers", "render_peers"]

PEERS_PATH = Path(__file__).resolve().parent / "peers.json"
DISTRIBUTIONS = {"llm_context": "llm-context-sdk", "any-llm": "any-llm-sdk"}


@dataclass(frozen=True)
class PeersConfig:
    """Sizes: `full()` takes about five minutes on 2 cores; `smoke()` a few seconds."""

    call_warmup: int = 30
    call_samples: int = 300
    call_block: int = 25
    stream_deltas: int = 200
    stream_warmup: int = 3
    stream_samples: int = 24
    async_calls: int = 600
    async_latency_s: float = 0.02
    async_concurrency: int = 50
    async_repeats: int = 3

    @classmethod
    def full(cls) -> PeersConfig:
        return cls()

    @classmethod
    def smoke(cls) -> PeersConfig:
        return cls(1, 4, 2, 5, 1, 2, 8, 0.001, 2, 1)


@dataclass(frozen=True)
class Side:
    """One library and the raw SDK call it wraps."""

    name: str
    api: str
    lib: RawSDK
    raw: RawSDK


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _ours(profile: dict[str, Any], context: Any) -> RawSDK:
    """llm_context the way its docs show: `context.llm(...).chat_sync(...)`, `chat_stream_sync`
    and `await chat(...)`."""
    from .subjects import Subject

    subject = Subject("openai", context.llm("openai"), raw_sdk("openai", profile))

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        async def nothing() -> None:
            return None

        return subject.acall, nothing

    return RawSDK(subject.call, subject.stream, make_async, None, lambda: None)


def _sides(server: ServerProcess, context: Any) -> tuple[list[Side], dict[str, str]]:
    from .peer_clients import PEERS, peer, raw_chat_completions

    profile = server.profile("openai")
    sides = [Side("llm_context", "responses", _ours(profile, context), raw_sdk("openai", profile))]
    missing: dict[str, str] = {}
    for name in PEERS:
        try:
            lib = peer(name, profile)
        except ImportError as exc:
            missing[name] = f"not installed ({exc.name}): run `make bench-peers`"
            continue
        sides.append(Side(name, "chat.completions", lib, raw_chat_completions(profile)))
    return sides, missing


def _same_body(server: ServerProcess, side: Side) -> bool | str:
    server.clear()
    side.raw.call()
    side.lib.call()
    bodies = server.bodies()
    server.clear()
    if len(bodies) != 2:
        return f"expected 2 requests, the server saw {len(bodies)}"
    theirs, ours = bodies
    keys = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
    return True if not keys else "; ".join(f"{k}: {ours.get(k)!r}" for k in keys)


def _untimed_result(call: Callable[[], object]) -> Callable[[], None]:
    """`call`, its reply dropped (`paired` reads a returned value as a stream's mark)."""

    def run() -> None:
        call()

    return run


def _measure(server: ServerProcess, side: Side, config: PeersConfig) -> dict[str, Any]:
    server.clear()
    call = paired(
        _untimed_result(side.lib.call),
        _untimed_result(side.raw.call),
        samples=config.call_samples,
        block=config.call_block,
        warmup=config.call_warmup,
    )
    deltas = Reply(deltas=tuple(f"word{i} " for i in range(config.stream_deltas)))
    stream = paired(
        first_mark(side.lib.stream),
        first_mark(side.raw.stream),
        samples=config.stream_samples,
        block=max(1, config.stream_samples // 8),
        warmup=config.stream_warmup,
        before=lambda n: server.script(deltas, n),
    )
    server.clear()
    slow = Reply("Hello! How can I help you today?", delay_s=config.async_latency_s)
    c = config.async_concurrency

    async def runs() -> dict[str, list[float]]:
        # One event loop for every run, as in an app: a library caching its async client
        # (LiteLLM does) keeps it, and is not charged for a new loop each time.
        seen: dict[str, list[float]] = {"lib": [], "native": []}
        for repeat in range(config.async_repeats):
            order = [("lib", side.lib.make_async), ("native", side.raw.make_async)]
            for key, make in order[:: -1 if repeat % 2 else 1]:
                seen[key].append(await timed_run(server, make, config.async_calls, c, slow))
        return seen

    seen = asyncio.run(runs())
    lib_rps, native_rps = median(seen["lib"]), median(seen["native"])
    return {
        "version": _version(side.name),
        "api": side.api,
        "same_body": _same_body(server, side),
        "call_ms": call.ours_ms,
        "sdk_call_ms": call.theirs_ms,
        "call_ratio": call.ratio,
        "stream_ms": stream.ours_ms,
        "sdk_stream_ms": stream.theirs_ms,
        "stream_ratio": stream.ratio,
        "first_delta_ratio": stream.first_ratio,
        "async_rps": round(lib_rps, 1),
        "native_async_rps": round(native_rps, 1),
        "async_ratio": ratio(lib_rps, native_rps),
    }


def measure_peers(config: PeersConfig) -> dict[str, Any]:
    """Every installed library's figures, and the ones missing."""
    from llm_context import LLMContext

    with ServerProcess() as server, LLMContext(server.profiles) as context:
        sides, missing = _sides(server, context)
        try:
            libraries = {side.name: _measure(server, side, config) for side in sides}
        finally:
            for side in sides:
                side.lib.close()
                side.raw.close()
    return {
        "machine": machine(),
        "openai_sdk": _version("openai"),
        "async": {"calls": config.async_calls, "concurrency": config.async_concurrency},
        "latency_ms": config.async_latency_s * 1000,
        "libraries": libraries,
        "missing": missing,
    }


def render_peers(result: dict[str, Any]) -> str:
    """The Markdown table docs/performance.md carries."""
    lines = [
        "| library | API | per call | stream (200 deltas) | first delta | async c50, 20 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in result["libraries"].items():
        lines.append(
            f"| {name} {v['version']} | `{v['api']}` | {v['call_ratio']:.2f}x "
            f"({v['call_ms']:.2f} vs {v['sdk_call_ms']:.2f} ms) | {v['stream_ratio']:.2f}x | "
            f"{v['first_delta_ratio']:.2f}x | {v['async_ratio']:.2f}x of native "
            f"({v['async_rps']:.0f} vs {v['native_async_rps']:.0f} req/s) |"
        )
    for name, why in result["missing"].items():
        lines.append(f"| {name} | {why} | | | | |")
    notes = [
        f"- {name} sends more than the raw call: {v['same_body']}"
        for name, v in result["libraries"].items()
        if v["same_body"] is not True
    ]
    return "\n".join([*lines, *(["", *notes] if notes else [])])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=PEERS_PATH)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # peers' deprecation chatter is not the measure
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    # Peers that leave async clients open have them closed after their loop: not the measure.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    result = measure_peers(PeersConfig.smoke() if args.quick else PeersConfig.full())
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["machine"], f"openai {result['openai_sdk']}", sep="; ")
    print(render_peers(result))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
