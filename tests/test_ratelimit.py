"""Rate limits: rpm / tpm / max_concurrency per profile and per group, sync and async.

Time-based waits run on a FakeClock; concurrency waits are real blocking, observed through
events and counts, never through durations.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from llm_context import LLMContext
from llm_context.clock import FakeClock
from llm_context.ratelimit import (
    RateLimiter,
    RateLimiters,
    estimate_chat_tokens,
    estimate_text_tokens,
    strictest,
    tokens_used,
)
from llm_context.settings import RateLimitSettings
from llm_context.testing import FakeProviderServer, Reply, UsageReply

from .conftest import make_context

HELLO = [{"role": "user", "content": "Hello"}]


def limiter(clock: FakeClock, **limits: int) -> RateLimiter:
    return RateLimiter(RateLimitSettings(**limits), clock)  # type: ignore[arg-type]


def grant_times(rl: RateLimiter, clock: FakeClock, n: int, tokens: int = 0) -> list[float]:
    times = []
    for _ in range(n):
        permit = rl.acquire(tokens)
        times.append(permit.granted_at)
        permit.release()
    return times


# -- the limiter on its own --------------------------------------------------------------------


def test_rpm_waits_for_the_oldest_grant_to_leave_the_window(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, rpm=3)
    times = grant_times(rl, fake_clock, 7)
    assert times == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 120.0]
    assert fake_clock.sleeps == [60.0, 60.0]
    stats = rl.stats()
    assert stats.requests == 7 and stats.waits == 2 and stats.waited_s == 120.0


def test_rpm_is_a_sliding_window(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, rpm=2)
    rl.acquire().release()
    fake_clock.advance(30)
    rl.acquire().release()
    permit = rl.acquire()  # the first grant leaves at 60
    assert permit.granted_at == 60.0
    permit.release()
    assert rl.acquire().granted_at == 90.0


def test_tpm_counts_the_estimate_then_the_real_usage(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, tpm=100)
    first = rl.acquire(80)
    assert rl.stats().window_tokens == 80
    first.release(used_tokens=10)  # the reply was cheaper than feared
    assert rl.stats().window_tokens == 10
    second = rl.acquire(85)  # 10 + 85 fits
    assert second.granted_at == 0.0
    second.release(used_tokens=95)  # and this one dearer
    third = rl.acquire(10)  # 10 + 95 + 10 > 100: wait until the first grant leaves
    assert third.granted_at == 60.0
    assert fake_clock.sleeps == [60.0]


def test_a_request_larger_than_tpm_goes_alone(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, tpm=100)
    rl.acquire(30).release()
    big = rl.acquire(500)  # waits for an empty window, then goes (never stuck forever)
    assert big.granted_at == 60.0
    big.release()
    assert rl.acquire(10).granted_at == 120.0


def test_max_concurrency_blocks_until_a_release(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=2)
    a, b = rl.acquire(), rl.acquire()
    got: list[object] = []
    waiting = threading.Thread(target=lambda: got.append(rl.acquire()))
    waiting.start()
    waiting.join(timeout=0.2)
    assert waiting.is_alive() and got == []  # still blocked: no slot
    a.release()
    waiting.join(timeout=10)
    assert not waiting.is_alive() and len(got) == 1
    assert rl.stats().in_flight == 2 and rl.stats().peak_in_flight == 2
    b.release()
    a.release()  # releasing twice is harmless
    assert rl.stats().in_flight == 1
    assert fake_clock.sleeps == []


def test_many_threads_never_exceed_concurrency(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=3)
    inside = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(20):
            permit = rl.acquire()
            with lock:
                inside += 1
                most = max(most, inside)
            with lock:
                inside -= 1
            permit.release()

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert most <= 3 and rl.stats().requests == 320 and rl.stats().peak_in_flight <= 3


def test_async_waits_on_the_loop(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=1)

    async def main() -> list[str]:
        order: list[str] = []
        held = await rl.acquire_async()

        async def waiter() -> None:
            permit = await rl.acquire_async()
            order.append("waiter got it")
            permit.release()

        task = asyncio.create_task(waiter())
        for _ in range(5):
            await asyncio.sleep(0)  # the loop is free: other work runs while it waits
        order.append("loop still running")
        held.release()
        await task
        return order

    assert asyncio.run(main()) == ["loop still running", "waiter got it"]


def test_async_cancelled_waiter_leaves_no_trace(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=1)

    async def main() -> int:
        held = await rl.acquire_async()
        task = asyncio.create_task(rl.acquire_async())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held.release()
        again = await rl.acquire_async()
        again.release()
        return rl.stats().in_flight

    assert asyncio.run(main()) == 0


def test_async_rpm_wait_uses_the_clock(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, rpm=1)

    async def main() -> list[float]:
        times = []
        for _ in range(3):
            permit = await rl.acquire_async(5)
            times.append(permit.granted_at)
            permit.release()
        return times

    assert asyncio.run(main()) == [0.0, 60.0, 120.0]


def test_estimates() -> None:
    from llm_context.messages import normalize_messages
    from llm_context.request import ChatRequest

    assert estimate_text_tokens(["abcd", "abcde", ""]) == 1 + 2 + 0
    request = ChatRequest("m", normalize_messages([{"role": "user", "content": "x" * 40}]))
    assert estimate_chat_tokens(request) == 10
    from dataclasses import replace

    assert estimate_chat_tokens(replace(request, max_output_tokens=100)) == 110
    assert tokens_used({"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}) == 7
    assert tokens_used({"input_tokens": 3, "output_tokens": 4}) == 7
    assert tokens_used({}) is None and tokens_used(None) is None


def test_strictest_of_a_group() -> None:
    merged = strictest(
        [
            RateLimitSettings(rpm=10, tpm=None, max_concurrency=4, group="g"),
            RateLimitSettings(rpm=30, tpm=1000, max_concurrency=None, group="g"),
        ]
    )
    assert (merged.rpm, merged.tpm, merged.max_concurrency) == (10, 1000, 4)


def test_registry_shares_groups_and_survives_profile_changes(fake_clock: FakeClock) -> None:
    limiters = RateLimiters(fake_clock)
    a = limiters.for_profile("a", RateLimitSettings(rpm=10, group="shared"))
    b = limiters.for_profile("b", RateLimitSettings(rpm=5, group="shared"))
    c = limiters.for_profile("c", RateLimitSettings(rpm=5))
    assert a is b and a is not c and a is not None
    assert a.settings.rpm == 5  # the strictest member
    assert limiters.for_profile("d", RateLimitSettings()) is None
    again = limiters.for_profile("c", RateLimitSettings(rpm=7))
    assert again is c and c is not None and c.settings.rpm == 7
    # b leaves the group: the group's limit relaxes to a's.
    limiters.for_profile("b", RateLimitSettings(rpm=5))
    assert a.settings.rpm == 10


# -- through the client ------------------------------------------------------------------------


@pytest.fixture
def limited(fake: FakeProviderServer, fake_clock: FakeClock) -> Iterator[LLMContext]:
    ctx = make_context(fake, clock=fake_clock)
    yield ctx
    ctx.close()


def test_calls_wait_for_rpm_instead_of_failing(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"rpm": 2})
    llm = ctx.llm("openai")
    for _ in range(5):
        llm.chat_sync(HELLO)
    assert len(fake.requests) == 5
    assert fake_clock.sleeps == [60.0, 60.0]
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.requests == 5 and stats.waits == 2


def test_tpm_is_corrected_with_real_usage(fake: FakeProviderServer, fake_clock: FakeClock) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"tpm": 100})
    llm = ctx.llm("openai")
    fake.script(Reply("a", usage=UsageReply(input_tokens=60, output_tokens=30)), Reply("b"))
    llm.chat_sync(HELLO, max_output_tokens=5)  # estimated ~7, really 90
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.window_tokens == 90
    llm.chat_sync(HELLO, max_output_tokens=20)  # 90 + ~22 > 100: waits a minute
    assert fake_clock.sleeps == [60.0]


def test_retries_count_against_rpm(fake: FakeProviderServer, fake_clock: FakeClock) -> None:
    from llm_context.testing import Fault

    ctx = make_context(
        fake,
        clock=fake_clock,
        rate_limit={"rpm": 2},
        retry={"max_attempts": 3, "initial_backoff_s": 1.0, "jitter": False},
    )
    fake.script(Fault(503), Fault(503), Reply("third"))
    assert ctx.llm("openai").chat_sync(HELLO).text == "third"
    # backoff 1 s, then the third attempt waits for the window (60 s after the first).
    assert fake_clock.sleeps == [1.0, 2.0, 57.0]


def test_group_is_shared_across_profiles(fake: FakeProviderServer, fake_clock: FakeClock) -> None:
    ctx = LLMContext(
        fake.profiles(
            openai={"rate_limit": {"rpm": 3, "group": "team"}},
            azure={"rate_limit": {"rpm": 3, "group": "team"}},
        ),
        clock=fake_clock,
    )
    for name in ("openai", "azure", "openai", "azure"):
        ctx.llm(name).chat_sync(HELLO)
    assert fake_clock.sleeps == [60.0]  # the fourth call, whichever profile made it
    assert ctx.rate_limit_stats("openai") == ctx.rate_limit_stats("azure")


def test_limiter_state_survives_a_key_change(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"rpm": 2})
    ctx.llm("openai").chat_sync(HELLO)
    ctx.llm_set_key("openai", "gpt-4.1-mini", "rotated-key-1", profile="openai")
    ctx.llm("openai").chat_sync(HELLO)
    ctx.llm_set_key("openai", "gpt-4.1-mini", "rotated-key-2", profile="openai")
    ctx.llm("openai").chat_sync(HELLO)
    assert fake_clock.sleeps == [60.0]
    assert fake.requests[-1].headers["authorization"] == "Bearer rotated-key-2"


def test_async_waiters_hold_no_worker_thread(fake: FakeProviderServer) -> None:
    # Two workers; one concurrency slot on openai held by a slow call. If the three async
    # callers waiting for that slot each took a worker, the google call would have to wait
    # for the slow one; it finishes first because waiting happens on the event loop.
    ctx = LLMContext(fake.profiles(openai={"rate_limit": {"max_concurrency": 1}}), max_workers=2)
    fake.script(Reply("slow", delay_s=0.5))
    done: list[str] = []

    async def openai_call() -> None:
        result = await ctx.llm("openai").chat(HELLO)
        done.append(f"openai:{result.text[:4]}")

    async def google_call() -> None:
        await asyncio.sleep(0.05)  # after the others are queued on the limiter
        await ctx.llm("google").chat(HELLO)
        done.append("google")

    async def main() -> None:
        await asyncio.gather(*(openai_call() for _ in range(4)), google_call())

    asyncio.run(main())
    assert done[0] == "google" and done[1] == "openai:slow"
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.peak_in_flight == 1 and stats.requests == 4
    ctx.close()


def test_async_chat_waits_for_rpm_on_the_clock(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"rpm": 1})

    async def main() -> None:
        for _ in range(3):
            await ctx.llm("openai").chat(HELLO)

    asyncio.run(main())
    assert fake_clock.sleeps == [60.0, 60.0]


def test_a_stream_holds_its_slot_until_it_ends(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"max_concurrency": 1})
    llm = ctx.llm("openai")
    fake.script(Reply(deltas=("a", "b", "c")))
    stream = llm.stream_sync(HELLO)
    assert next(stream) == "a"
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.in_flight == 1
    stream.close()
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.in_flight == 0
    assert llm.chat_sync(HELLO).text  # the slot is free again


def test_a_cancelled_async_call_frees_its_slot_when_the_request_ends(
    fake: FakeProviderServer,
) -> None:
    # The request cannot be recalled from the pool thread: its slot stays taken until the
    # request is over, so the provider never sees more than max_concurrency at once.
    ctx = make_context(fake, rate_limit={"max_concurrency": 1})
    fake.script(Reply("slow", delay_s=0.3), Reply("next"))

    async def main() -> str:
        task = asyncio.create_task(ctx.llm("openai").chat(HELLO))
        while not fake.requests:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = ctx.rate_limit_stats("openai")
        assert stats is not None and stats.in_flight == 1  # still running in the pool
        result = await ctx.llm("openai").chat(HELLO)  # waits for the slot, then goes
        return result.text

    assert asyncio.run(main()) == "next"
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.in_flight == 0 and stats.peak_in_flight == 1
    ctx.close()
