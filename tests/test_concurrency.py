"""Many callers at once: 200 calls from 32 threads and 200 from asyncio tasks, while another
thread keeps rotating the profile's key and model with `llm_set_key`.

Every call must succeed on a consistent profile (the key the server saw belongs with the
model it saw, and is one that was set), and the shared rate limiter must hold its limits.
The rate is measured on the fake clock from the usage records' send times, in every
60-second window — never from wall-clock durations.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from llm_context import ChatResult
from llm_context.clock import FakeClock
from llm_context.limits.local import WINDOW_S
from llm_context.metering import UsageRecord
from llm_context.testing import FakeProviderServer

from .conftest import make_context

RPM = 40
MAX_CONCURRENCY = 6
THREADS = 32
SYNC_CALLS = 200
ASYNC_CALLS = 200
MODELS = ("gpt-4.1-mini", "gpt-4.1")


def key_for(i: int) -> str:
    return f"rotated-key-{i:04d}"


def model_for_key(key: str) -> str:
    return MODELS[int(key.rsplit("-", 1)[1]) % 2]


def test_threads_and_tasks_while_keys_rotate(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    ctx = make_context(
        fake, clock=clock, rate_limit={"rpm": RPM, "max_concurrency": MAX_CONCURRENCY}
    )
    ctx.llm_set_key("openai", model_for_key(key_for(0)), key_for(0), profile="openai")
    records: list[UsageRecord] = []
    ctx.on_usage(records.append)  # list.append is atomic: safe from every thread

    keys_set = [key_for(0)]
    stop = threading.Event()

    def rotate() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            key = key_for(i)
            ctx.llm_set_key("openai", model_for_key(key), key, profile="openai")
            keys_set.append(key)
            stop.wait(0.02)

    def sync_call(n: int) -> ChatResult:
        return ctx.llm("openai").chat_sync([{"role": "user", "content": f"sync call {n}"}])

    async def async_calls() -> list[ChatResult]:
        async def one(n: int) -> ChatResult:
            return await ctx.llm("openai").chat([{"role": "user", "content": f"async call {n}"}])

        return await asyncio.gather(*(one(n) for n in range(ASYNC_CALLS)))

    rotator = threading.Thread(target=rotate)
    rotator.start()
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            sync_futures = [pool.submit(sync_call, n) for n in range(SYNC_CALLS)]
            async_results = asyncio.run(async_calls())
            sync_results = [f.result(timeout=120) for f in sync_futures]
    finally:
        stop.set()
        rotator.join()

    # Every call succeeded, answered by the profile asked, with its own reply.
    for kind, results in (("sync", sync_results), ("async", async_results)):
        for n, result in enumerate(results):
            assert result.profile == "openai"
            assert result.text.endswith(f"{kind} call {n}"), result.text

    # The server saw only keys that were set, each with the model set alongside it.
    chats = fake.requests_for("chat")
    assert len(chats) == SYNC_CALLS + ASYNC_CALLS
    seen_keys = set()
    for request in chats:
        key = request.headers["authorization"].removeprefix("Bearer ")
        seen_keys.add(key)
        assert key in keys_set
        assert request.json["model"] == model_for_key(key)
    assert len(keys_set) > 1  # the rotation really happened during the calls

    # The limiter held: no 60 s window on the fake clock holds more than RPM sends.
    sent = sorted(r.sent_at for r in records if r.sent_at is not None)
    assert len(sent) == SYNC_CALLS + ASYNC_CALLS and all(r.error is None for r in records)
    start = 0
    for end, at in enumerate(sent):
        while sent[start] <= at - WINDOW_S:
            start += 1
        assert end - start + 1 <= RPM, f"{end - start + 1} sends in the minute ending {at}"
    # ... and it really throttled: 400 calls at 40 a minute span at least 9 minutes.
    assert sent[-1] - sent[0] >= (len(sent) // RPM - 1) * WINDOW_S
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None
    assert stats.requests == SYNC_CALLS + ASYNC_CALLS
    assert stats.peak_in_flight <= MAX_CONCURRENCY and stats.in_flight == 0
    ctx.close()
