"""The circuit breaker, through the real SDKs against the fake server: it opens after
`failures` transient failures in the window, fails fast without sending (or goes to the
fallbacks), lets one probe through after the cooldown, and closes or re-opens on its
outcome; in-process on the context's clock, and shared through a real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_context import LLMContext, LLMProviderUnavailableError, LLMServerError
from llm_context.clock import FakeClock
from llm_context.testing import FakeProviderServer, Fault, Reply
from llm_context.testing.redis_server import RedisServer, redis_server_available

HELLO = [{"role": "user", "content": "Hi"}]
BREAKER = {"failures": 3, "window_s": 30, "cooldown_s": 10}
NO_RETRY = {"max_attempts": 1}


def context(fake: FakeProviderServer, clock: FakeClock | None = None, **openai: Any) -> LLMContext:
    profiles = fake.profiles(openai={"retry": NO_RETRY, "breaker": BREAKER, **openai})
    return LLMContext(profiles, clock=clock)


def fail(llm: Any, fake: FakeProviderServer, times: int) -> None:
    for _ in range(times):
        fake.script(Fault(503))
        with pytest.raises(LLMServerError):
            llm.chat_sync(HELLO)


def test_open_fail_fast_half_open_close(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock) as ctx:
        llm = ctx.llm("openai")
        fail(llm, fake, 3)
        sent = len(fake.requests)
        with pytest.raises(LLMProviderUnavailableError, match="circuit breaker"):
            llm.chat_sync(HELLO)
        assert len(fake.requests) == sent  # failed fast: nothing sent
        clock.advance(10)
        fake.script(Reply("probe ok"))
        assert llm.chat_sync(HELLO).text == "probe ok"  # the half-open probe
        fake.script(Reply("closed again"))
        assert llm.chat_sync(HELLO).text == "closed again"


def test_a_failed_probe_reopens_and_old_failures_leave_the_window(
    fake: FakeProviderServer,
) -> None:
    clock = FakeClock()
    with context(fake, clock) as ctx:
        llm = ctx.llm("openai")
        fail(llm, fake, 2)
        clock.advance(31)  # those two left the window
        fail(llm, fake, 2)
        fake.script(Reply("still closed"))
        assert llm.chat_sync(HELLO).text == "still closed"
        fail(llm, fake, 3)
        clock.advance(10)
        fail(llm, fake, 1)  # the probe failed
        with pytest.raises(LLMProviderUnavailableError):
            llm.chat_sync(HELLO)  # open for another cooldown


def test_a_callers_error_is_no_failure(fake: FakeProviderServer) -> None:
    with context(fake, FakeClock()) as ctx:
        llm = ctx.llm("openai")
        for _ in range(5):
            fake.script(Fault(400, message="bad request"))
            with pytest.raises(Exception, match="400"):
                llm.chat_sync(HELLO)
        fake.script(Reply("up"))
        assert llm.chat_sync(HELLO).text == "up"


def test_an_open_breaker_goes_to_the_fallbacks(fake: FakeProviderServer) -> None:
    with context(fake, FakeClock(), fallbacks=["anthropic"]) as ctx:
        llm = ctx.llm("openai")
        for _ in range(3):
            fake.script(Fault(503), Reply("fallback answered"))
            assert llm.chat_sync(HELLO).profile == "anthropic"
        sent = len(fake.requests)
        fake.script(Reply("straight to the fallback"))
        result = llm.chat_sync(HELLO)
        assert (result.profile, len(fake.requests)) == ("anthropic", sent + 1)


def test_async_calls_share_the_breaker(fake: FakeProviderServer) -> None:
    async def main(llm: Any) -> None:
        for _ in range(3):
            fake.script(Fault(503))
            with pytest.raises(LLMServerError):
                await llm.chat(HELLO)
        with pytest.raises(LLMProviderUnavailableError):
            await llm.chat(HELLO)

    with context(fake, FakeClock()) as ctx:
        asyncio.run(main(ctx.llm("openai")))
        with pytest.raises(LLMProviderUnavailableError):
            ctx.llm("openai").chat_sync(HELLO)


@pytest.mark.skipif(not redis_server_available(), reason="redis-server is not installed")
def test_the_breaker_is_shared_through_redis(fake: FakeProviderServer) -> None:
    """Two contexts share nothing in memory: only Redis carries the breaker from one to the
    other, as it does between worker processes."""
    with RedisServer() as server:
        shared = {"rate_limit": {"rpm": 1000, "backend": server.url}}
        fast = {**BREAKER, "cooldown_s": 0.3}
        with (
            context(fake, **shared, breaker=fast) as one,
            context(fake, **shared, breaker=fast) as two,
        ):
            fail(one.llm("openai"), fake, 3)
            sent = len(fake.requests)
            with pytest.raises(LLMProviderUnavailableError):
                two.llm("openai").chat_sync(HELLO)
            assert len(fake.requests) == sent
            import time

            time.sleep(0.35)  # the cooldown, on the Redis server's clock
            fake.script(Reply("probe from two"))
            assert two.llm("openai").chat_sync(HELLO).text == "probe from two"
            fake.script(Reply("closed for one too"))
            assert one.llm("openai").chat_sync(HELLO).text == "closed for one too"


def test_streams_fail_fast_and_probe_too(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock) as ctx:
        llm = ctx.llm("openai")
        for _ in range(3):
            fake.script(Fault(503))
            with pytest.raises(LLMServerError):
                "".join(llm.stream_sync(HELLO))
        with pytest.raises(LLMProviderUnavailableError):
            "".join(llm.stream_sync(HELLO))
        assert fake.served == 3
        clock.advance(10)
        fake.script(Reply(deltas=("probe", " streamed")))
        assert "".join(llm.stream_sync(HELLO)) == "probe streamed"


def test_async_open_breaker_goes_to_the_fallbacks(fake: FakeProviderServer) -> None:
    async def main(llm: Any) -> list[str]:
        profiles = []
        for _ in range(3):
            fake.script(Fault(503), Reply("fallback"))
            profiles.append((await llm.chat(HELLO)).profile)
        served = fake.served
        fake.script(Reply("straight there"))
        result = await llm.chat(HELLO)
        assert fake.served == served + 1  # the open primary was not asked
        return [*profiles, result.profile]

    with context(fake, FakeClock(), fallbacks=["anthropic"]) as ctx:
        assert asyncio.run(main(ctx.llm("openai"))) == ["anthropic"] * 4


def test_one_probe_at_a_time_and_a_lost_probe_expires() -> None:
    import threading

    from llm_context.call.breaker import LocalBreakerStore
    from llm_context.config.settings import BreakerSettings

    settings = BreakerSettings(failures=2, window_s=30, cooldown_s=10)
    clock = FakeClock()
    store = LocalBreakerStore(clock)
    store.failed(settings)
    store.failed(settings)
    assert store.admit(settings) == "open"
    clock.advance(10)
    verdicts: list[str] = []
    threads = [
        threading.Thread(target=lambda: verdicts.append(store.admit(settings))) for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(verdicts) == ["open"] * 15 + ["probe"]
    clock.advance(10)  # the probe never reported back (its caller was cancelled)
    assert store.admit(settings) == "probe"
    store.succeeded()
    assert store.admit(settings) == "closed"


def test_a_cancelled_probe_does_not_keep_the_breaker_open(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock) as ctx:
        llm = ctx.llm("openai")
        fail(llm, fake, 3)
        clock.advance(10)

        async def cancelled_probe() -> None:
            fake.script(Reply("slow", delay_s=1))
            task = asyncio.ensure_future(llm.chat(HELLO))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(cancelled_probe())
        with pytest.raises(LLMProviderUnavailableError):
            llm.chat_sync(HELLO)  # the probe is still out
        clock.advance(10)
        fake.script(Reply("next probe"))
        assert llm.chat_sync(HELLO).text == "next probe"
