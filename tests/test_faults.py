"""Fault injection through the fake server, for every provider whose adapter exists.

Each fault is played to the real SDK over real HTTP: the test asserts the outcome, the
requests the server saw and the waits (on a FakeClock: nothing here sleeps for a backoff).
Timeouts are real (they are the SDK's), but kept to a tenth of a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest

from llm_context import (
    Feature,
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMContext,
    LLMOutputError,
    LLMRateLimitError,
    LLMServerError,
    LLMStreamError,
    LLMTimeoutError,
)
from llm_context.clock import FakeClock
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, Fault, Reply

from .conftest import built_providers, make_context

PROVIDERS = built_providers()
HELLO = [{"role": "user", "content": "Hello"}]
STEADY = {"max_attempts": 3, "initial_backoff_s": 0.5, "max_backoff_s": 20.0, "jitter": False}
TINY_TIMEOUT = 0.1
SLOW_S = 0.4  # well past the timeout; the server's late answer goes nowhere
SECRET = "sk-fault-SECRET0123456789abcdef"


@pytest.fixture
def steady(fake: FakeProviderServer, fake_clock: FakeClock) -> Iterator[LLMContext]:
    context = make_context(fake, clock=fake_clock, retry=STEADY)
    yield context
    context.close()


def has(provider: str, feature: Feature) -> bool:
    return feature in spec_for(provider).features


providers = pytest.mark.parametrize("provider", PROVIDERS)


# -- status codes ------------------------------------------------------------------------------


@providers
def test_429_with_retry_after(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(429, retry_after="7"), Reply("after the pause"))
    assert steady.llm(provider).chat_sync(HELLO).text == "after the pause"
    assert len(fake.requests) == 2
    assert fake_clock.sleeps == [7.0]


@providers
def test_429_without_retry_after_backs_off(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(429), Fault(429), Fault(429))
    with pytest.raises(LLMRateLimitError) as info:
        steady.llm(provider).chat_sync(HELLO)
    assert info.value.status_code == 429 and info.value.provider == provider
    assert len(fake.requests) == 3
    assert fake_clock.sleeps == [0.5, 1.0]


@providers
def test_503_then_success(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(503), Reply("back up"))
    result = steady.llm(provider).chat_sync(HELLO)
    assert result.text == "back up" and result.profile == provider
    assert len(fake.requests) == 2
    assert fake_clock.sleeps == [0.5]


@providers
def test_sdk_retries_are_off(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    # With our policy at one attempt, the server must see exactly one request per call:
    # any SDK-level retry would show up here as a second one.
    llm = steady.llm(provider)
    once = {"max_attempts": 1}
    calls: list[Callable[[], object]] = [
        lambda: llm.chat_sync(HELLO, retry=once),
        lambda: llm.chat_stream_sync(HELLO, retry=once),
    ]
    if has(provider, Feature.EMBED):
        calls.append(lambda: llm.embed_sync("x", retry=once))
    for call in calls:
        fake.clear()
        fake.script(Fault(503), Fault(503), Reply("unused"))
        with pytest.raises(LLMServerError):
            call()
        assert len(fake.requests) == 1
    assert fake_clock.sleeps == []


@providers
def test_400_is_not_retried(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(400, message="messages: bad shape"), Reply("never"))
    with pytest.raises(LLMBadRequestError, match="bad shape") as info:
        steady.llm(provider).chat_sync(HELLO)
    assert info.value.status_code == 400
    assert len(fake.requests) == 1 and fake_clock.sleeps == []


@providers
def test_401_is_not_retried_and_hides_the_key(
    fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY, api_key=SECRET)
    fake.script(Fault(401, message=f"Incorrect API key provided: {SECRET}"), Reply("never"))
    with pytest.raises(LLMAuthenticationError) as info:
        ctx.llm(provider).chat_sync(HELLO)
    assert len(fake.requests) == 1 and fake_clock.sleeps == []
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    cause = info.value.__cause__
    assert cause is None or SECRET not in str(cause)


# -- the network -------------------------------------------------------------------------------


@providers
def test_connection_reset_is_retried(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(reset=True), Reply("reconnected"))
    assert steady.llm(provider).chat_sync(HELLO).text == "reconnected"
    assert len(fake.requests) == 2 and fake_clock.sleeps == [0.5]
    fake.clear()
    fake.script(*[Fault(reset=True) for _ in range(3)])
    with pytest.raises(LLMConnectionError):
        steady.llm(provider).chat_sync(HELLO)
    assert len(fake.requests) == 3


@providers
def test_slow_reply_times_out_per_call(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Reply("late", delay_s=SLOW_S), Reply("late", delay_s=SLOW_S))
    with pytest.raises(LLMTimeoutError):
        steady.llm(provider).chat_sync(HELLO, timeout=TINY_TIMEOUT, retry={"max_attempts": 2})
    assert len(fake.requests) == 2
    assert fake_clock.sleeps == [0.5]


@providers
def test_slow_reply_times_out_per_profile(
    fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    ctx = make_context(
        fake, clock=fake_clock, retry={**STEADY, "max_attempts": 1}, timeout=TINY_TIMEOUT
    )
    fake.script(Reply("late", delay_s=SLOW_S), Reply("in time"))
    with pytest.raises(LLMTimeoutError):
        ctx.llm(provider).chat_sync(HELLO)
    assert ctx.llm(provider).chat_sync(HELLO).text == "in time"


@providers
def test_slow_embedding_times_out(
    steady: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    if not has(provider, Feature.EMBED):
        pytest.skip(f"{provider} has no embeddings")
    from llm_context.testing import EmbeddingReply

    fake.script(EmbeddingReply(delay_s=SLOW_S))
    with pytest.raises(LLMTimeoutError):
        steady.llm(provider).embed_sync("x", timeout=TINY_TIMEOUT, retry={"max_attempts": 1})
    assert len(fake.requests) == 1


@providers
def test_slow_image_times_out(steady: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    if not has(provider, Feature.IMAGE_GENERATION):
        pytest.skip(f"{provider} has no image generation")
    from llm_context.testing import ImageReply

    fake.script(ImageReply(delay_s=SLOW_S), ImageReply())
    with pytest.raises(LLMTimeoutError):
        steady.llm(provider).generate_image_sync(
            "a cat", timeout=TINY_TIMEOUT, retry={"max_attempts": 1}
        )
    assert len(steady.llm(provider).generate_image_sync("a cat")) == 1
    assert len(fake.requests) == 2


# -- bodies ------------------------------------------------------------------------------------


@providers
def test_malformed_json_body_is_a_retryable_server_error(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(malformed=True), Reply("well formed"))
    assert steady.llm(provider).chat_sync(HELLO).text == "well formed"
    assert len(fake.requests) == 2 and fake_clock.sleeps == [0.5]
    fake.clear()
    fake.script(Fault(malformed=True))
    with pytest.raises(LLMServerError, match="could not be read"):
        steady.llm(provider).chat_sync(HELLO, retry={"max_attempts": 1})


@providers
def test_empty_reply(steady: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Reply(""), Reply(""))
    result = steady.llm(provider).chat_sync(HELLO)
    assert result.text == "" and result.finish_reason == "stop"
    stream = steady.llm(provider).stream_sync(HELLO)
    assert list(stream) == []
    assert stream.result.text == "" and stream.result.finish_reason == "stop"
    assert len(fake.requests) == 2


@providers
def test_empty_reply_for_json_is_an_output_error_not_retried(
    steady: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply(""), Reply("{}"))
    with pytest.raises(LLMOutputError):
        steady.llm(provider).chat_sync(
            HELLO, output_format="json_schema", json_schema={"type": "object"}
        )
    assert len(fake.requests) == 1


# -- streams -----------------------------------------------------------------------------------


@providers
def test_stream_cut_after_n_deltas(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Reply(deltas=("one ", "two ", "three ", "four"), cut_after=2), Reply("unused"))
    received: list[str] = []
    with pytest.raises(LLMStreamError) as info:
        for delta in steady.llm(provider).stream_sync(HELLO):
            received.append(delta)
    assert received == ["one ", "two "]
    assert info.value.partial_text == "one two "
    assert len(fake.requests) == 1 and fake_clock.sleeps == []


@providers
def test_stream_cut_before_any_delta_is_retried(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Reply("lost", cut_after=0), Fault(503), Reply(deltas=("whole ", "answer")))
    received = list(steady.llm(provider).stream_sync(HELLO))
    assert received == ["whole ", "answer"]
    assert len(fake.requests) == 3 and fake_clock.sleeps == [0.5, 1.0]


@providers
def test_stream_silent_after_a_delta_keeps_the_partial_text(
    steady: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply(deltas=("first ", "second"), stall_after=1, stall_s=SLOW_S))
    received: list[str] = []
    with pytest.raises(LLMStreamError) as info:
        for delta in steady.llm(provider).stream_sync(HELLO, timeout=TINY_TIMEOUT):
            received.append(delta)
    assert received == ["first "] and info.value.partial_text == "first "
    assert isinstance(info.value.__cause__, LLMTimeoutError)
    assert len(fake.requests) == 1


@providers
def test_stream_silent_before_any_delta_is_retried(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Reply(deltas=("never",), stall_after=0, stall_s=SLOW_S), Reply("fresh"))
    assert list(steady.llm(provider).stream_sync(HELLO, timeout=TINY_TIMEOUT)) == ["fresh"]
    assert len(fake.requests) == 2 and fake_clock.sleeps == [0.5]


@providers
def test_async_stream_retries_on_the_loop_and_cuts_alike(
    steady: LLMContext, fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    fake.script(Fault(429, retry_after="2"), Reply(deltas=("a", "b", "c"), cut_after=2))
    received: list[str] = []

    async def main() -> None:
        async for delta in steady.llm(provider).stream(HELLO):
            received.append(delta)

    with pytest.raises(LLMStreamError) as info:
        asyncio.run(main())
    assert received == ["a", "b"] and info.value.partial_text == "ab"
    assert fake_clock.sleeps == [2.0] and len(fake.requests) == 2


@providers
def test_stream_malformed_event_is_retried_before_output(
    steady: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(malformed=True), Reply("clean"))
    assert "".join(steady.llm(provider).stream_sync(HELLO)) == "clean"
    assert len(fake.requests) == 2


# -- fallbacks ---------------------------------------------------------------------------------


def _fallback_pair(provider: str) -> str:
    """Another built provider to fall back to."""
    others = [p for p in PROVIDERS if p != provider]
    return others[0] if others else provider


@providers
def test_fallback_after_retries_run_out(
    fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    backup = _fallback_pair(provider)
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_attempts": 2})
    ctx.profiles.update(provider, fallbacks=[backup])
    fake.script(Fault(503), Fault(503), Reply("from the backup"))
    result = ctx.llm(provider).chat_sync(HELLO)
    assert result.text == "from the backup" and result.profile == backup
    assert [r.provider for r in fake.requests] == [provider, provider, backup]


@providers
def test_no_fallback_on_a_callers_error(
    fake: FakeProviderServer, fake_clock: FakeClock, provider: str
) -> None:
    backup = _fallback_pair(provider)
    ctx = make_context(fake, clock=fake_clock, retry=STEADY)
    ctx.profiles.update(provider, fallbacks=[backup])
    for fault in (Fault(400), Fault(401), Fault(404), Fault(422)):
        fake.clear()
        fake.script(fault, Reply("never"))
        with pytest.raises((LLMBadRequestError, LLMAuthenticationError)):
            ctx.llm(provider).chat_sync(HELLO)
        assert len(fake.requests) == 1


def test_no_fallback_on_output_or_input_errors(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY)
    ctx.profiles.update("openai", fallbacks=["anthropic"])
    fake.script(Reply("not json"), Reply("{}"))
    with pytest.raises(LLMOutputError):
        ctx.llm("openai").chat_sync(
            HELLO, output_format="json_schema", json_schema={"type": "object"}
        )
    assert len(fake.requests) == 1
    with pytest.raises(LLMBadRequestError):
        ctx.llm("openai").chat_sync([])
    assert len(fake.requests) == 1


def test_fallback_chain_in_order_and_primary_error_when_all_fail(
    fake: FakeProviderServer, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_attempts": 1})
    ctx.profiles.update("openai", fallbacks=["anthropic", "google"])
    fake.script(Fault(429), Fault(reset=True), Reply("third profile"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        result = ctx.llm("openai").chat_sync(HELLO)
    assert result.profile == "google" and result.text == "third profile"
    assert [r.provider for r in fake.requests] == ["openai", "anthropic", "google"]
    assert sum("falling back" in r.getMessage() for r in caplog.records) == 2
    fake.clear()
    fake.script(Fault(503), Fault(500), Fault(502))
    with pytest.raises(LLMServerError) as info:
        ctx.llm("openai").chat_sync(HELLO)
    assert info.value.provider == "openai" and info.value.status_code == 503
    behind = info.value.fallback_errors  # type: ignore[attr-defined]
    assert [(e.provider, e.status_code) for e in behind] == [("anthropic", 500), ("google", 502)]


def test_a_fallbacks_own_fault_moves_on_to_the_next(
    fake: FakeProviderServer, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A revoked key on the first fallback is that fallback's failure, not the caller's.
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_attempts": 1})
    ctx.profiles.update("openai", fallbacks=["anthropic", "google"])
    fake.script(Fault(503), Fault(401, message="fallback key revoked"), Reply("google here"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        assert ctx.llm("openai").chat_sync(HELLO).profile == "google"
    assert [r.provider for r in fake.requests] == ["openai", "anthropic", "google"]
    assert any("LLMAuthenticationError" in r.getMessage() for r in caplog.records)
    fake.clear()
    fake.script(Fault(503, message="primary down"), Fault(401), Fault(400))
    with pytest.raises(LLMServerError) as info:
        ctx.llm("openai").chat_sync(HELLO)
    assert info.value.provider == "openai" and "primary down" in str(info.value)
    behind = info.value.fallback_errors  # type: ignore[attr-defined]
    assert [type(e) for e in behind] == [LLMAuthenticationError, LLMBadRequestError]
    # Streams: the same before the first delta.
    fake.clear()
    fake.script(Fault(503), Fault(403), Reply(deltas=("from ", "google")))
    stream = ctx.llm("openai").stream_sync(HELLO)
    assert list(stream) == ["from ", "google"] and stream.result.profile == "google"


def test_fallback_validates_for_its_own_provider(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    # Anthropic has no sampling parameters: with temperature set it is skipped, Google serves.
    assert not has("anthropic", Feature.SAMPLING) and has("google", Feature.SAMPLING)
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_attempts": 1})
    ctx.profiles.update("openai", fallbacks=["anthropic", "google"])
    fake.script(Fault(503), Reply("google here"))
    result = ctx.llm("openai").chat_sync(HELLO, temperature=0.2, model="gpt-4.1")
    assert result.profile == "google"
    assert [r.provider for r in fake.requests] == ["openai", "google"]
    # The per-call model was the primary's: the fallback used its own.
    assert "gpt-4.1" not in fake.requests[1].path + fake.requests[1].body.decode()


def test_fallback_without_a_key_is_skipped(
    fake: FakeProviderServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    profiles = fake.profiles(
        openai={"retry": {"max_attempts": 1}, "fallbacks": ["anthropic", "google"]},
        anthropic={"api_key": None},
    )
    ctx = LLMContext(profiles, clock=fake_clock)
    fake.script(Fault(503), Reply("google here"))
    assert ctx.llm("openai").chat_sync(HELLO).profile == "google"
    assert [r.provider for r in fake.requests] == ["openai", "google"]


def test_stream_falls_back_only_before_the_first_delta(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_attempts": 1})
    ctx.profiles.update("openai", fallbacks=["anthropic"])
    fake.script(Fault(503), Reply(deltas=("from ", "backup")))
    stream = ctx.llm("openai").stream_sync(HELLO)
    assert list(stream) == ["from ", "backup"]
    assert stream.result.profile == "anthropic"
    fake.clear()
    fake.script(Reply(deltas=("a", "b"), cut_after=1), Reply("never"))
    with pytest.raises(LLMStreamError):
        list(ctx.llm("openai").stream_sync(HELLO))
    assert len(fake.requests) == 1


def test_async_fallback(fake: FakeProviderServer, fake_clock: FakeClock) -> None:
    ctx = make_context(fake, clock=fake_clock, retry={**STEADY, "max_attempts": 2})
    ctx.profiles.update("anthropic", fallbacks=["openai"])
    fake.script(Fault(529), Fault(529), Reply("openai answers"))

    async def main() -> str | None:
        return (await ctx.llm("anthropic").chat(HELLO)).profile

    assert asyncio.run(main()) == "openai"
    assert fake_clock.sleeps == [0.5]


# -- secrets -----------------------------------------------------------------------------------


@providers
def test_echoed_keys_never_surface(
    fake: FakeProviderServer,
    fake_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    provider: str,
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY, api_key=SECRET)
    echoes = [
        Fault(429, message=f"key {SECRET} is over quota"),
        Fault(500, message=f"upstream said Authorization: Bearer {SECRET}"),
        Fault(400, message=f"bad request for https://x.test/v1?key={SECRET}"),
    ]
    fake.script(*echoes)
    llm = ctx.llm(provider)
    with caplog.at_level(logging.DEBUG), pytest.raises(LLMBadRequestError) as info:
        llm.chat_sync(HELLO)
    texts = [str(info.value), repr(info.value), repr(llm), repr(llm.profile), repr(ctx)]
    texts += [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if SECRET in t]


def test_plain_http_to_a_remote_host_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    ctx = LLMContext(
        {
            "profiles": {
                "remote": {
                    "provider": "openai",
                    "api_key": SECRET,
                    "base_url": "http://llm.example.invalid/v1",
                    "retry": {"max_attempts": 1},
                    "timeout": 0.5,
                },
                "local": {
                    "provider": "openai",
                    "api_key": SECRET,
                    "base_url": "http://127.0.0.1:9/v1",
                    "retry": {"max_attempts": 1},
                },
            }
        }
    )
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        for _ in range(2):
            ctx.llm("remote").adapter()
            ctx.llm("local").adapter()
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1
    assert "llm.example.invalid" in warnings[0] and SECRET not in warnings[0]
