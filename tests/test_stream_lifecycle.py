"""A stream's life after the happy path: closed mid-read, cancelled, abandoned, iterated again,
and a server that keeps the body open after the terminal event.

Waits are failure guards only (`asyncio.wait_for(..., GUARD_S)`, `thread.join(GUARD_S)`):
every stall below lasts far longer than a guard, so a stream that waits for it fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_context import LLMContext, UsageRecord
from llm_context.errors import LLMError
from llm_context.testing import FakeProviderServer, Fault, Reply

from .conftest import FAST_RETRY, PROVIDERS_BY_NAME

HELLO = [{"role": "user", "content": "hi"}]
GUARD_S = 5.0  # a hang detector: nothing below needs more than milliseconds
STALL_S = 30.0  # far past any guard
# Providers whose SDK exposes its HTTP response, so a blocked read can be broken at once
# (google-genai hides it: its worker stops at the next chunk; see providers/common.py).
BREAKABLE = ["openai", "azure", "anthropic", "openrouter", "ollama"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    """A server of this module's own: its stalled handlers outlive the tests that stop them."""
    with FakeProviderServer() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    server.clear()
    yield server
    server.clear()


def one_slot(fake: FakeProviderServer) -> LLMContext:
    """Every profile on `fake` with one concurrent call: a stream still holding its slot
    makes the next call wait (here: for the stall, past the guard)."""
    limits = {"retry": FAST_RETRY, "rate_limit": {"max_concurrency": 1}}
    per_profile: dict[str, Any] = {name: limits for name in PROVIDERS_BY_NAME}
    return LLMContext(fake.profiles(**per_profile))


def records(ctx: LLMContext) -> list[UsageRecord]:
    seen: list[UsageRecord] = []
    ctx.on_usage(seen.append)
    return seen


@pytest.mark.parametrize("provider", BREAKABLE)
def test_aclose_during_a_stall_returns_and_frees_the_slot(
    fake: FakeProviderServer, provider: str
) -> None:
    ctx = one_slot(fake)
    llm = ctx.llm(provider)
    seen = records(ctx)
    fake.script(Reply("one two three", stall_after=1, stall_s=STALL_S), Reply("next"))

    async def main() -> tuple[list[str], str]:
        got = []
        async with llm.stream(HELLO) as stream:
            async for delta in stream:
                got.append(delta)
                break  # the worker is now blocked in the stall
        return got, (await llm.chat(HELLO)).text  # waits for the slot if the stream kept it

    assert asyncio.run(asyncio.wait_for(main(), GUARD_S)) == (["one "], "next")
    assert ctx.rate_limit_stats(provider).in_flight == 0  # type: ignore[union-attr]
    # The stopped stream is metered as stopped, not as a failure.
    assert [(r.operation, r.error) for r in seen] == [("stream", None), ("chat", None)]
    ctx.close()


def test_a_cancelled_stream_task_ends_at_once_without_an_error(fake: FakeProviderServer) -> None:
    ctx = one_slot(fake)
    llm = ctx.llm("openai")
    fake.script(Reply("one two three", stall_after=1, stall_s=STALL_S), Reply("next"))

    async def main() -> str:
        first = asyncio.Event()

        async def consume() -> None:
            async with llm.stream(HELLO) as stream:
                async for _ in stream:
                    first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        # `asyncio.wait` does not cancel what it waits for: a task stuck in its cleanup is seen.
        await asyncio.wait({task}, timeout=GUARD_S)
        assert task.cancelled()  # the cancellation, not the broken read's error
        return (await llm.chat(HELLO)).text

    assert asyncio.run(asyncio.wait_for(main(), GUARD_S)) == "next"
    ctx.close()


def test_an_abandoned_async_for_stops_its_worker_and_frees_the_slot(
    fake: FakeProviderServer,
) -> None:
    ctx = one_slot(fake)
    llm = ctx.llm("openai")
    fake.script(Reply("one two three", stall_after=1, stall_s=STALL_S), Reply("next"))

    async def main() -> str:
        async for _ in llm.stream(HELLO):  # no `async with`: nobody closes it
            break
        gc.collect()  # CPython has already dropped it; other interpreters collect here
        return (await llm.chat(HELLO)).text

    assert asyncio.run(asyncio.wait_for(main(), GUARD_S)) == "next"
    ctx.close()


def test_iterating_a_finished_sync_stream_again_keeps_its_result(
    fake: FakeProviderServer,
) -> None:
    ctx = one_slot(fake)
    fake.script(Reply("hello there"))
    stream = ctx.llm("openai").stream_sync(HELLO)
    assert list(stream) == ["hello ", "there"]
    assert list(stream) == []
    assert stream.until_done().text == stream.result.text == "hello there"
    ctx.close()


@pytest.mark.parametrize("api", ["stream_sync", "events_sync"])
def test_a_sync_stream_opens_when_read_and_never_after_a_close(
    fake: FakeProviderServer, api: str
) -> None:
    ctx = one_slot(fake)
    fake.script(Reply("hello there"))
    llm = ctx.llm("openai")
    unread = getattr(llm, api)(HELLO)
    assert fake.requests == []  # made, not read: nothing sent
    unread.close()
    assert list(unread) == [] and fake.requests == []  # closed unread: never opens
    with pytest.raises(LLMError, match="not finished"):
        _ = unread.result
    read = getattr(llm, api)(HELLO)
    assert read.until_done().text == "hello there"
    assert len(fake.requests) == 1
    ctx.close()


@pytest.mark.parametrize("provider", sorted(PROVIDERS_BY_NAME))
def test_an_adapter_stream_closed_unread_sends_nothing(
    fake: FakeProviderServer, provider: str
) -> None:
    ctx = one_slot(fake)
    llm = ctx.llm(provider)
    events = llm.adapter().stream(llm.runtime.plan(HELLO).request)
    events.close()  # never read: no request, so no connection left checked out
    assert fake.requests == []
    ctx.close()


def test_a_sync_stream_that_fails_to_open_is_not_opened_again(
    fake: FakeProviderServer,
) -> None:
    ctx = one_slot(fake)
    fake.script(Fault(400, message="bad request"))
    stream = ctx.llm("openai").stream_sync(HELLO)
    with pytest.raises(LLMError, match="bad request"):
        next(stream)
    assert list(stream) == []  # the failed open is the stream's end, not a second request
    assert len(fake.requests) == 1
    ctx.close()


def test_iterating_a_finished_async_stream_again_ends_at_once(fake: FakeProviderServer) -> None:
    ctx = one_slot(fake)
    fake.script(Reply("hello there"))

    async def main() -> tuple[list[str], list[str], str]:
        stream = ctx.llm("openai").stream(HELLO)
        first = [d async for d in stream]
        again = [d async for d in stream]
        return first, again, (await stream.until_done()).text

    outcome = asyncio.run(asyncio.wait_for(main(), GUARD_S))
    assert outcome == (["hello ", "there"], [], "hello there")
    ctx.close()


def test_a_closed_async_stream_yields_nothing_more_and_has_no_result(
    fake: FakeProviderServer,
) -> None:
    ctx = one_slot(fake)
    fake.script(Reply("one two three", stall_after=1, stall_s=STALL_S))

    async def main() -> list[str]:
        stream = ctx.llm("openai").stream(HELLO)
        got = [await stream.__anext__()]
        await stream.aclose()
        got += [d async for d in stream]
        with pytest.raises(LLMError, match="not finished"):
            _ = stream.result
        return got

    assert asyncio.run(asyncio.wait_for(main(), GUARD_S)) == ["one "]
    ctx.close()


# -- a server that keeps the body open after the terminal event ---------------------------


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def anthropic_events() -> list[str]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude"}
    start: dict[str, Any] = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    return [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {**start, "usage": {"input_tokens": 3, "output_tokens": 0}},
            },
        ),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hello"},
            },
        ),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 1},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]


def google_events() -> list[str]:
    text = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}}]}
    last = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
    }
    return [f"data: {json.dumps(text)}\r\n\r\n", f"data: {json.dumps(last)}\r\n\r\n"]


class HoldingServer:
    """Answers every request with `events` as a chunked SSE body, then holds the body open
    (no terminating chunk) until the test ends."""

    def __init__(self, events: Callable[[], list[str]]) -> None:
        self.events = events
        self.release = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            while len(body) < int(length.group(1) if length else 0):
                body += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            for event in self.events():
                chunk = event.encode()
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.release.wait(STALL_S)  # the body stays open past the terminal event
            with contextlib.suppress(OSError):  # the client has hung up
                conn.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self.release.set()
        self.sock.close()


@pytest.mark.parametrize(
    ("provider", "model", "events"),
    [
        ("anthropic", "claude-sonnet-4-6", anthropic_events),
        ("google", "gemini-2.5-flash", google_events),
    ],
)
def test_a_body_held_open_after_the_terminal_event_does_not_delay_the_result(
    provider: str, model: str, events: Callable[[], list[str]]
) -> None:
    server = HoldingServer(events)
    profile = {
        "provider": provider,
        "model": model,
        "api_key": "k",
        "base_url": f"http://127.0.0.1:{server.port}",
        "timeout": STALL_S,
        "retry": {"max_attempts": 1},
    }
    ctx = LLMContext({"profiles": {"default": profile}})
    outcome: list[object] = []

    def run() -> None:
        try:
            stream = ctx.llm().stream_sync(HELLO)
            outcome.append((list(stream), stream.result.text))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    try:
        worker.start()
        worker.join(GUARD_S)
        assert outcome == [(["Hello"], "Hello")]
    finally:
        server.close()
        ctx.close()
