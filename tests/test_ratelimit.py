"""Rate limits: rpm / tpm / max_concurrency per profile and per group, sync and async.

Time-based waits run on a FakeClock; concurrency waits are real blocking, observed through
events and counts, never through durations.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from llm_context import LLMContext
from llm_context.clock import FakeClock
from llm_context.config.settings import RateLimitSettings
from llm_context.errors import LLMInputError
from llm_context.limits.estimate import estimate_chat_tokens, estimate_text_tokens, tokens_used
from llm_context.limits.local import RateLimiter
from llm_context.limits.pool import RateLimiters, strictest
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


def test_async_waiters_are_served_in_arrival_order(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=2)

    async def main() -> list[int]:
        order: list[int] = []
        held = [await rl.acquire_async(), await rl.acquire_async()]

        async def waiter(i: int) -> None:
            permit = await rl.acquire_async()
            order.append(i)
            await asyncio.sleep(0)
            permit.release()

        tasks = []
        for i in range(10):
            tasks.append(asyncio.create_task(waiter(i)))
            await asyncio.sleep(0)  # task i queues before task i + 1 starts
        for permit in held:
            permit.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == list(range(10))


def test_threads_are_served_in_arrival_order(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=1)
    held = rl.acquire()
    order: list[int] = []

    def worker(i: int) -> None:
        permit = rl.acquire()
        order.append(i)
        permit.release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for i, thread in enumerate(threads):
        thread.start()
        while len(rl._queue) < i + 1:  # thread i queues before thread i + 1 starts
            time.sleep(0.001)
    held.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(6))
    assert rl.stats().requests == 7 and rl.stats().waits == 6 and rl.stats().in_flight == 0


def test_a_large_request_at_the_head_is_not_overtaken(fake_clock: FakeClock) -> None:
    # Strict FIFO: a small request that would fit now waits behind a large one queued first,
    # so a large request is never starved by a stream of small ones.
    rl = limiter(fake_clock, tpm=100)

    async def main() -> list[tuple[str, float]]:
        rl.acquire(90).release()
        got: list[tuple[str, float]] = []

        async def ask(name: str, tokens: int) -> None:
            permit = await rl.acquire_async(tokens)
            got.append((name, permit.granted_at))
            permit.release()

        big = asyncio.create_task(ask("big", 50))
        await asyncio.sleep(0)
        await asyncio.gather(big, ask("small", 5))
        return got

    assert asyncio.run(main()) == [("big", 60.0), ("small", 60.0)]


def test_only_the_head_of_the_queue_watches_the_clock(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, rpm=2)

    async def main() -> list[float]:
        async def ask() -> float:
            permit = await rl.acquire_async()
            permit.release()
            return permit.granted_at

        return list(await asyncio.gather(*(ask() for _ in range(6))))

    assert asyncio.run(main()) == [0.0, 0.0, 60.0, 60.0, 120.0, 120.0]
    assert fake_clock.sleeps == [60.0, 60.0]  # one timer per wait, not one per waiter


@pytest.mark.parametrize("limits", [{"max_concurrency": 4}, {"max_concurrency": 4, "tpm": 10**9}])
def test_wakeups_grow_linearly_with_requests(fake_clock: FakeClock, limits: dict[str, int]) -> None:
    # A release wakes only the waiter it can admit: checks and wake-ups per request stay
    # constant however many wait (waking every waiter on each release made them quadratic).
    def run(n: int) -> tuple[int, int]:
        rl = limiter(fake_clock, **limits)

        async def task() -> None:
            permit = await rl.acquire_async(10)
            await asyncio.sleep(0)
            permit.release(10)

        async def main() -> None:
            await asyncio.gather(*(task() for _ in range(n)))

        asyncio.run(main())
        assert rl.stats().requests == n and rl.stats().peak_in_flight == 4
        return rl._checks, rl._wakeups

    for n in (100, 400, 1600):
        checks, wakeups = run(n)
        assert wakeups <= n and checks <= 3 * n, (n, checks, wakeups)


def test_thread_wakeups_grow_linearly_with_requests(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=2, tpm=10**9)

    def work() -> None:
        for _ in range(25):
            rl.acquire(1).release(1)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert rl.stats().requests == 400 and rl.stats().peak_in_flight <= 2
    assert rl._wakeups <= 400 and rl._checks <= 3 * 400


def test_the_running_token_total_follows_grants_settlements_and_the_window(
    fake_clock: FakeClock,
) -> None:
    rl = limiter(fake_clock, tpm=1000)
    early = rl.acquire(80)
    fake_clock.advance(30)
    late = rl.acquire(40)
    assert rl.stats().window_tokens == 120
    fake_clock.advance(31)  # `early` has left the window; settling it changes nothing there
    early.release(used_tokens=500)
    assert rl.stats().window_tokens == 40
    late.release(used_tokens=7)
    assert rl.stats().window_tokens == 7
    fake_clock.advance(30)
    assert rl.stats().window_tokens == 0


def test_a_handed_over_slot_returns_when_its_waiter_is_cancelled(fake_clock: FakeClock) -> None:
    rl = limiter(fake_clock, max_concurrency=1)

    async def main() -> int:
        held = await rl.acquire_async()
        task = asyncio.create_task(rl.acquire_async())
        await asyncio.sleep(0)
        held.release()  # the slot goes to the waiting task...
        task.cancel()  # ...which is cancelled before it could take it
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rl.stats().in_flight == 0
        again = await rl.acquire_async()
        again.release()
        return rl.stats().in_flight

    assert asyncio.run(main()) == 0


def test_a_thread_holding_every_slot_is_refused_not_blocked(fake_clock: FakeClock) -> None:
    rl = RateLimiter(RateLimitSettings(max_concurrency=2), fake_clock, name="claude")
    first, second = rl.acquire(), rl.acquire()
    with pytest.raises(LLMInputError, match=r"profile 'claude'.*max_concurrency=2"):
        rl.acquire()
    # Another thread may wait for them: these two slots can still be freed.
    got: list[object] = []
    other = threading.Thread(target=lambda: got.append(rl.acquire()))
    other.start()
    first.release()
    other.join(timeout=10)
    assert got and rl.stats().in_flight == 2
    second.release()
    rl.acquire().release()  # one slot held (by the other thread's grant), one free


def test_estimates() -> None:
    from llm_context.contract.messages import normalize_messages
    from llm_context.contract.request import ChatRequest

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
    for name in ("openai", "google"):  # SDK imports and clients first: they take ~0.8 s each
        ctx.llm(name).chat_sync(HELLO)
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
    assert stats is not None and stats.peak_in_flight == 1 and stats.requests == 5
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


def test_a_call_inside_its_own_stream_is_refused_instead_of_hanging(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"max_concurrency": 1})
    llm = ctx.llm("openai")
    fake.script(Reply(deltas=("a", "b")), Reply("after"))
    deltas = []
    for delta in llm.stream_sync(HELLO):
        deltas.append(delta)
        if len(deltas) == 1:
            with pytest.raises(LLMInputError, match=r"profile 'openai'.*max_concurrency=1"):
                llm.chat_sync(HELLO)  # only this thread's open stream could free the slot
    assert deltas == ["a", "b"] and len(fake.requests) == 1  # nothing sent for the refused call
    assert llm.chat_sync(HELLO).text == "after"  # the stream ended: its slot is free


def test_an_async_call_inside_its_own_stream_is_refused(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"max_concurrency": 1})
    llm = ctx.llm("openai")
    # The relay reads ahead in the pool: the stall keeps the stream (and its slot) open.
    fake.script(Reply(deltas=("a", "b"), stall_after=1, stall_s=0.5), Reply("after"))

    async def main() -> list[str]:
        deltas = []
        async for delta in llm.stream(HELLO):
            deltas.append(delta)
            if len(deltas) == 1:
                with pytest.raises(LLMInputError, match="asyncio task"):
                    await llm.chat(HELLO)
        deltas.append((await llm.chat(HELLO)).text)
        return deltas

    assert asyncio.run(main()) == ["a", "b", "after"]
    ctx.close()


def test_a_call_inside_a_stream_goes_when_a_slot_is_left(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, rate_limit={"max_concurrency": 2})
    llm = ctx.llm("openai")
    fake.script(Reply(deltas=("a", "b")), Reply("inner"))
    out = []
    for delta in llm.stream_sync(HELLO):
        out.append(delta)
        if len(out) == 1:
            out.append(llm.chat_sync(HELLO).text)
    assert out == ["a", "inner", "b"]
