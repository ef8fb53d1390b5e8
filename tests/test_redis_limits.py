"""Rate limits shared by many processes through a real `redis-server` (started here on a
loopback port of its own; `make test` installs it), against the fake provider server.

The rate test scales the window (`LLM_CONTEXT_RATE_WINDOW_S`): `rpm` then counts requests
per that many seconds, so 4 workers x 150 calls at 300 a window take seconds, not minutes.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llm_context import LLMContext, LLMRateLimitBackendError
from llm_context.testing import FakeProviderServer, Reply
from llm_context.testing.redis_server import RedisServer, redis_server_available

from .redis_workers import HELLO, run_calls

pytestmark = pytest.mark.skipif(
    not redis_server_available(), reason="redis-server is not installed (`make test` installs it)"
)
WINDOW_S = 3.0
# A grant reaches the fake a few ms later, and CI has seen 30+ ms under load: arrivals in a
# window this much shorter than the limit's were all granted within one whole window.
JITTER_S = 0.5


@pytest.fixture
def redis_url() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def arrivals(fake: FakeProviderServer) -> Iterator[list[float]]:
    """The time each request reached the fake server."""
    times: list[float] = []
    lock = threading.Lock()

    def note(_request: Any) -> None:
        with lock:
            times.append(time.monotonic())

    fake.on_request = note
    yield times
    fake.on_request = None


def limited(fake: FakeProviderServer, url: str, **limits: Any) -> dict[str, Any]:
    rate_limit = {"group": "org", "backend": url, **limits}
    return fake.profiles(openai={"rate_limit": rate_limit})


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_four_processes_share_one_rate(
    fake: FakeProviderServer, redis_url: str, arrivals: list[float]
) -> None:
    profiles = limited(fake, redis_url, rpm=300)
    env = {"LLM_CONTEXT_RATE_WINDOW_S": str(WINDOW_S)}
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        done = pool.starmap(run_calls, [(profiles, 150, 8, env)] * 4)
    assert done == [150] * 4 and len(fake.requests) == 600  # every call made, each sent once
    # No window of the limit's length (less the arrival jitter) saw more than the limit. The
    # first request of each of the 32 threads opens its connection after its grant, so it
    # reaches the fake up to ~0.1 s late: those are left out of the count.
    steady = sorted(arrivals)[32:]
    assert most_in_any_window(steady, WINDOW_S - JITTER_S) <= 300
    assert max(arrivals) - min(arrivals) >= WINDOW_S  # 600 at 300 a window: it really waited


def test_concurrency_is_shared_and_a_killed_workers_leases_return(
    fake: FakeProviderServer, redis_url: str, arrivals: list[float]
) -> None:
    profiles = limited(fake, redis_url, max_concurrency=8, lease_ttl_s=1.0)
    fake.script(*[Reply("ok", delay_s=0.15) for _ in range(80)])
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        done = pool.starmap(run_calls, [(profiles, 20, 6, {})] * 4)
    assert done == [20] * 4
    # A request holds its slot for at least its 0.15 s answer: no 0.15 s saw more than 8.
    assert most_in_any_window(arrivals, 0.15) <= 8
    # A worker killed while holding 4 leases: they come back once their TTL runs out.
    fake.clear()
    fake.script(*[Reply("slow", delay_s=30) for _ in range(4)])
    victim = context.Process(target=run_calls, args=(profiles, 4, 4, {}))
    victim.start()
    deadline = time.monotonic() + 20
    while len(fake.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.requests) == 4
    victim.kill()
    victim.join(10)
    with LLMContext(profiles) as ctx:
        fake.script(*[Reply("fast") for _ in range(8)])
        llm = ctx.llm("openai")
        results: list[str] = []
        workers = [
            threading.Thread(target=lambda: results.append(llm.chat_sync(HELLO).text))
            for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(15)  # bounded: the dead worker's leases last 1 s
        assert results == ["fast"] * 8


def test_a_restarted_redis_loses_and_repeats_nothing(fake: FakeProviderServer) -> None:
    with RedisServer() as server:
        profiles = limited(fake, server.url, rpm=1000, max_concurrency=4, on_backend_error="wait")
        fake.script(*[Reply("ok", delay_s=0.01) for _ in range(60)])
        with LLMContext(profiles) as ctx:
            llm = ctx.llm("openai")
            texts: list[str] = []
            restart = threading.Timer(0.2, server.restart)
            restart.start()
            for _ in range(60):
                texts.append(llm.chat_sync(HELLO).text)
                time.sleep(0.01)
            restart.join()
    assert texts == ["ok"] * 60
    assert len(fake.requests) == 60  # every call sent once: none lost, none twice


def test_an_unreachable_backend_fails_or_falls_back_as_configured(
    fake: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    dead = RedisServer().url  # a free port nothing listens on
    with LLMContext(limited(fake, dead, rpm=10, on_backend_error="fail")) as ctx:
        with pytest.raises(LLMRateLimitBackendError, match=r"127\.0\.0\.1") as info:
            ctx.llm("openai").chat_sync(HELLO)
        assert "on_backend_error=fail" in str(info.value)
    assert fake.requests == []
    with (
        LLMContext(limited(fake, dead, rpm=10, on_backend_error="local")) as ctx,
        caplog.at_level(logging.WARNING, logger="llm_context"),
    ):
        assert ctx.llm("openai").chat_sync(HELLO).text
    assert any("limiting in this process only" in r.getMessage() for r in caplog.records)
    assert len(fake.requests) == 1


def test_the_backend_password_never_shows(fake: FakeProviderServer) -> None:
    dead = RedisServer().url.replace("redis://", "redis://:hunter2@")
    with LLMContext(limited(fake, dead, rpm=10, on_backend_error="fail")) as ctx:
        llm = ctx.llm("openai")
        assert "hunter2" not in repr(ctx.limiter_for(llm.profile))
        assert "hunter2" not in repr(llm.profile)
        with pytest.raises(LLMRateLimitBackendError) as info:
            llm.chat_sync(HELLO)
        assert "hunter2" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_usage_totals_shared_across_processes(fake: FakeProviderServer, redis_url: str) -> None:
    profiles = limited(fake, redis_url, rpm=1000)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        assert pool.starmap(run_calls, [(profiles, 5, 2, {})] * 2) == [5, 5]
    with LLMContext(profiles) as ctx:
        ctx.llm("openai").chat_sync(HELLO)
        mine = ctx.usage()
        shared = ctx.usage(scope="shared")
    assert mine.total.calls == 1
    assert shared.total.calls == 11  # two workers' 10 and this process's 1
    assert shared.by_profile["openai"].calls == 11
    assert shared.by_provider["openai"].input_tokens == 11 * mine.total.input_tokens
    assert set(shared.by_model) == set(mine.by_model)


def test_shared_usage_needs_a_backend(fake: FakeProviderServer) -> None:
    from llm_context import LLMConfigError

    with LLMContext(fake.profiles()) as ctx, pytest.raises(LLMConfigError, match="backend"):
        ctx.usage(scope="shared")


def test_the_script_wire_survives_a_script_flush_between_releases(redis_url: str) -> None:
    """A release written to a Redis that forgot the script is sent again, after the answer
    of the acquire written behind it is read: no answer is taken for another's."""
    import redis

    from llm_context.limits.wire import ScriptWire

    client = redis.Redis.from_url(redis_url)
    echo = "redis.call('INCR', KEYS[1]) return tonumber(ARGV[1])"
    wire = ScriptWire(client, {"count": echo})
    assert wire.call("count", ["n"], [7]) == 7
    wire.send("count", ["n"], [1])
    client.script_flush()
    wire.send("count", ["n"], [2])  # Redis answers this one with NOSCRIPT
    assert wire.call("count", ["n"], [3]) == 3
    wire.flush()
    assert int(client.get("n") or 0) == 4  # 7, 1, 2 (sent again) and 3: each ran once
    wire.close()
    client.close()


def test_the_wire_packs_commands_as_redis_py_does(redis_url: str) -> None:
    """The limiter's own packer writes the bytes redis-py's would, non-ASCII keys included."""
    import redis

    from llm_context.limits.wire import packed

    client = redis.Redis.from_url(redis_url)
    parts = ("EVALSHA", "a" * 40, 2, "llm_context:limit:ørg:grants", "k2", "id", 0, -1, 60000)
    conn = client.connection_pool.get_connection()
    try:
        assert packed(*parts) == b"".join(conn.pack_command(*parts))
    finally:
        client.connection_pool.release(conn)
        client.close()
