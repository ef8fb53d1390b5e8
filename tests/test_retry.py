"""The retry policy: what is retried, how long it waits, the budget, per-call overrides, logs.

Waits are asserted on a FakeClock: the suite never sleeps for a backoff.
"""

from __future__ import annotations

import asyncio
import email.utils
import gc
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_context import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMContext,
    LLMInputError,
    LLMRateLimitError,
    LLMServerError,
)
from llm_context.call.retry import RetryPolicy, backoff_s, check_retry_override, is_retryable
from llm_context.call.steps import run_sync
from llm_context.clock import FakeClock
from llm_context.config.settings import RetrySettings
from llm_context.errors import LLMConnectionError, LLMTimeoutError, error_for_status
from llm_context.testing import FakeProviderServer, Fault, Reply

from .conftest import make_context

HELLO = [{"role": "user", "content": "Hello"}]
STEADY = {"max_attempts": 3, "initial_backoff_s": 0.5, "max_backoff_s": 20.0, "jitter": False}
SECRET = "sk-test-SECRETSECRETSECRET0123"


@pytest.fixture
def steady(fake: FakeProviderServer, fake_clock: FakeClock) -> Iterator[LLMContext]:
    """Profiles with a predictable policy (no jitter) waiting on the fake clock."""
    context = make_context(fake, clock=fake_clock, retry=STEADY)
    yield context
    context.close()


# -- the policy on its own -------------------------------------------------------------------


def test_backoff_is_exponential_and_capped() -> None:
    settings = RetrySettings(initial_backoff_s=1.0, max_backoff_s=5.0, jitter=False)
    rng = random.Random(0)
    assert [backoff_s(n, None, settings, rng) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_between_half_and_full_wait() -> None:
    settings = RetrySettings(initial_backoff_s=1.0, max_backoff_s=100.0, jitter=True)
    rng = random.Random(7)
    for attempt in range(1, 6):
        waits = {backoff_s(attempt, None, settings, rng) for _ in range(50)}
        full = 2.0 ** (attempt - 1)
        assert all(full / 2 <= w <= full for w in waits)
        assert len(waits) > 1  # really random


def test_retry_after_hint_wins_and_is_capped() -> None:
    settings = RetrySettings(initial_backoff_s=1.0, max_backoff_s=10.0, jitter=True)
    rng = random.Random(1)
    assert backoff_s(1, LLMRateLimitError("x", retry_after=3.0), settings, rng) == 3.0
    assert backoff_s(1, LLMRateLimitError("x", retry_after=0.0), settings, rng) == 0.0
    assert backoff_s(4, LLMRateLimitError("x", retry_after=300.0), settings, rng) == 10.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retryable(status: int) -> None:
    assert is_retryable(error_for_status(status)("x", status_code=status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_caller_statuses_are_not(status: int) -> None:
    assert not is_retryable(error_for_status(status)("x", status_code=status))


def test_timeouts_and_connection_errors_are_retryable() -> None:
    assert is_retryable(LLMTimeoutError("t")) and is_retryable(LLMConnectionError("c"))
    assert not is_retryable(LLMInputError("bad")) and not is_retryable(ValueError("x"))


def _failing_flow(errors: list[BaseException], calls: list[int]) -> Any:
    def attempt(number: int) -> Any:
        calls.append(number)
        if errors:
            raise errors.pop(0)
        return "done"
        yield  # a flow with no steps of its own

    return attempt


def test_the_wait_checked_against_the_budget_is_the_wait_slept() -> None:
    # Jittered waits for attempts 1..4 are ~[0.5-1], [1-2], [2-4]: the budget of 3.2 s must
    # stop the flow exactly when the sum of the waits really slept would pass it.
    for seed in range(30):
        clock = FakeClock()
        settings = RetrySettings(max_attempts=10, max_wait_s=3.2, initial_backoff_s=1.0)
        policy = RetryPolicy(settings, "openai", rng=random.Random(seed))
        errors: list[BaseException] = [LLMServerError("boom") for _ in range(10)]
        calls: list[int] = []
        with pytest.raises(LLMServerError):
            run_sync(policy.steps(_failing_flow(errors, calls)), clock)
        assert clock.slept <= 3.2
        assert len(clock.sleeps) == len(calls) - 1
        # And the next wait (not taken) would have passed the budget: replaying the same
        # random sequence gives the wait that was refused.
        rng = random.Random(seed)
        planned = [backoff_s(n, None, settings, rng) for n in range(1, len(calls) + 1)]
        assert planned[: len(clock.sleeps)] == clock.sleeps
        assert sum(planned) > 3.2


def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    settings = RetrySettings(max_attempts=4, initial_backoff_s=1.0, jitter=False)
    calls: list[int] = []
    errors: list[BaseException] = [LLMServerError("x") for _ in range(10)]
    with pytest.raises(LLMServerError):
        run_sync(RetryPolicy(settings, "openai").steps(_failing_flow(errors, calls)), clock)
    assert calls == [1, 2, 3, 4]
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_a_non_retryable_error_is_raised_at_once() -> None:
    clock = FakeClock()
    calls: list[int] = []
    flow = RetryPolicy(RetrySettings(), "openai").steps(
        _failing_flow([LLMAuthenticationError("no")], calls)
    )
    with pytest.raises(LLMAuthenticationError):
        run_sync(flow, clock)
    assert calls == [1] and clock.sleeps == []


def test_one_attempt_allowed_raises_the_retryable_error_itself() -> None:
    clock = FakeClock()
    calls: list[int] = []
    error = LLMServerError("busy")
    flow = RetryPolicy(RetrySettings(max_attempts=1), "openai").steps(_failing_flow([error], calls))
    with pytest.raises(LLMServerError) as raised:
        run_sync(flow, clock)
    assert raised.value is error
    assert calls == [1] and clock.sleeps == []


def test_a_first_attempt_that_succeeds_leaves_no_cyclic_garbage() -> None:
    # Cycles would make the garbage collector run (and pause the process) every few dozen calls.
    policy = RetryPolicy(RetrySettings(), "openai")
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            assert run_sync(policy.steps(_failing_flow([], [])), FakeClock()) == "done"
        assert gc.collect() < 50  # < 1 object a call (the old path left 20); room for other threads
    finally:
        gc.enable()


def test_override_is_checked() -> None:
    assert check_retry_override({"max_attempts": 2}) == {"max_attempts": 2}
    assert check_retry_override(None) == {}
    assert check_retry_override(RetrySettings(max_attempts=9))["max_attempts"] == 9
    for bad in ({"max_attempts": 0}, {"tries": 3}, {"jitter": "yes"}, {"max_wait_s": -1}, 5):
        with pytest.raises(LLMInputError):
            check_retry_override(bad)


# -- through the real SDK and the fake server ------------------------------------------------


def test_503_then_success_waits_the_backoff(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    fake.script(Fault(503), Fault(503), Reply("third time"))
    assert steady.llm("openai").chat_sync(HELLO).text == "third time"
    assert len(fake.requests) == 3
    assert fake_clock.sleeps == [0.5, 1.0]


def test_retry_after_seconds_date_and_ms(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    when = email.utils.formatdate(time.time() + 8, usegmt=True)
    fake.script(
        Fault(429, retry_after="3"),
        Fault(429, retry_after_ms="1250"),
        Reply("ok"),
        Fault(503, retry_after=when),
        Reply("ok again"),
    )
    llm = steady.llm("openai")
    assert llm.chat_sync(HELLO, retry={"max_attempts": 3}).text == "ok"
    assert fake_clock.sleeps == [3.0, 1.25]
    fake_clock.clear()
    assert llm.chat_sync(HELLO).text == "ok again"
    [waited] = fake_clock.sleeps
    assert 5.0 < waited <= 8.0  # an HTTP date: seconds from now until then


def test_retry_after_is_capped_by_the_profile(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_backoff_s": 2.0})
    fake.script(Fault(429, retry_after="30"), Reply("ok"))
    assert ctx.llm("openai").chat_sync(HELLO).text == "ok"
    assert fake_clock.sleeps == [2.0]


def test_total_wait_budget_stops_early(fake: FakeProviderServer, fake_clock: FakeClock) -> None:
    ctx = make_context(
        fake, clock=fake_clock, retry={**STEADY, "max_attempts": 10, "max_wait_s": 4.0}
    )
    fake.script(*[Fault(503) for _ in range(10)])
    with pytest.raises(LLMServerError):
        ctx.llm("openai").chat_sync(HELLO)
    assert fake_clock.sleeps == [0.5, 1.0, 2.0]  # the next, 4.0, would pass 4 s in total
    assert len(fake.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_caller_errors_are_sent_once(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, status: int
) -> None:
    fake.script(Fault(status), Reply("never"))
    with pytest.raises((LLMBadRequestError, LLMAuthenticationError)) as info:
        steady.llm("openai").chat_sync(HELLO)
    assert info.value.status_code == status
    assert len(fake.requests) == 1 and fake_clock.sleeps == []


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_errors_are_retried(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, status: int
) -> None:
    fake.script(Fault(status), Reply("recovered"))
    assert steady.llm("openai").chat_sync(HELLO).text == "recovered"
    assert len(fake.requests) == 2 and fake_clock.sleeps == [0.5]


def test_per_call_override_on_every_operation(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    llm = steady.llm("openai")
    once = {"max_attempts": 1}
    operations: list[Callable[[], object]] = [
        lambda: llm.chat_sync(HELLO, retry=once),
        lambda: llm.chat_stream_sync(HELLO, retry=once),
        lambda: llm.embed_sync(["a"], retry=once),
        lambda: llm.generate_image_sync("a cat", retry=once),
        lambda: llm.raw_sync(path="/models", retry=once),
    ]
    for operation in operations:
        fake.clear()
        fake.script(Fault(503), Reply("unused"))
        with pytest.raises(LLMServerError):
            operation()
        assert len(fake.requests) == 1
    assert fake_clock.sleeps == []
    fake.clear()
    fake.script(Fault(503), Fault(503), Fault(503), Reply("fourth"))
    assert llm.chat_sync(HELLO, retry={"max_attempts": 4, "initial_backoff_s": 2}).text == "fourth"
    assert fake_clock.sleeps == [2.0, 4.0, 8.0]


def test_bad_override_sends_nothing(steady: LLMContext, fake: FakeProviderServer) -> None:
    llm = steady.llm("openai")
    with pytest.raises(LLMInputError, match="retry"):
        llm.chat_sync(HELLO, retry={"attempts": 2})
    with pytest.raises(LLMInputError, match="retry"):
        llm.embed_sync("x", retry={"max_attempts": 0})
    with pytest.raises(LLMInputError, match="retry"):
        llm.raw_sync(path="/models", retry="often")  # type: ignore[arg-type]
    assert fake.requests == []


def test_raw_and_embed_and_images_retry(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    llm = steady.llm("openai")
    fake.script(Fault(502))
    assert "data" in llm.raw_sync(path="/models")
    fake.script(Fault(429, retry_after="1"))
    assert len(llm.embed_sync(["a", "b"])) == 2
    fake.script(Fault(500))
    assert len(llm.generate_image_sync("a cat")) == 1
    assert fake_clock.sleeps == [0.5, 1.0, 0.5]
    assert len(fake.requests) == 6


def test_async_waits_on_the_clock_too(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    fake.script(Fault(503), Reply("async ok"))

    async def main() -> str:
        return (await steady.llm("openai").chat(HELLO)).text

    assert asyncio.run(main()) == "async ok"
    assert fake_clock.sleeps == [0.5]


def test_each_retry_is_logged_without_key_or_prompt(
    fake: FakeProviderServer, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY, api_key=SECRET)
    prompt = "my very private prompt"
    fake.script(Fault(429, retry_after="2", message=f"slow down {SECRET}"), Reply("ok"))
    with caplog.at_level(logging.DEBUG):
        ctx.llm("openai").chat_sync([{"role": "user", "content": prompt}])
    retries = [r for r in caplog.records if r.name == "llm_context" and "retrying" in r.message]
    assert len(retries) == 1
    message = retries[0].getMessage()
    assert "openai" in message and "429" in message and "2.00s" in message
    for record in caplog.records:
        text = record.getMessage() + str(record.args) + str(record.exc_info or "")
        assert SECRET not in text and prompt not in text
