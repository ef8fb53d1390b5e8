"""`fallback_on` and the context-length error, through the real SDKs against the fake server:
a listed error goes to the fallbacks at once (no retry wait on the primary first); a prompt
too long for the window is `LLMContextLengthError` on every provider."""

from __future__ import annotations

from typing import Any

import pytest

from llm_context import LLMContext, LLMContextLengthError, LLMRateLimitError
from llm_context.clock import FakeClock
from llm_context.testing import FakeProviderServer, Fault, Reply

from .conftest import FAST_RETRY, built_providers

HELLO = [{"role": "user", "content": "Hi"}]
# How each provider says the prompt does not fit (the message of its own error body).
TOO_LONG = {
    "openai": "This model's maximum context length is 128000 tokens. However, your messages "
    "resulted in 130512 tokens. Please reduce the length of the messages.",
    "azure": "This model's maximum context length is 128000 tokens.",
    "anthropic": "prompt is too long: 210432 tokens > 200000 maximum",
    "google": "The input token count (1200000) exceeds the maximum number of tokens allowed "
    "(1048576).",
    "openrouter": "This endpoint's maximum context length is 131072 tokens.",
    "lmstudio": "The number of tokens to keep from the initial prompt is greater than the "
    "context length",
    "ollama": "input length exceeds the context length (n_ctx 4096)",
}


def context(fake: FakeProviderServer, clock: FakeClock, **primary: Any) -> LLMContext:
    retry = {**FAST_RETRY, "max_attempts": 3, "max_backoff_s": 60, "max_wait_s": 120}
    profiles = fake.profiles(
        openai={"retry": retry, "fallbacks": ["anthropic"], **primary},
        anthropic={"retry": {**FAST_RETRY, "max_attempts": 1}},
    )
    return LLMContext(profiles, clock=clock)


@pytest.mark.parametrize("provider", built_providers())
def test_a_prompt_too_long_is_a_context_length_error_everywhere(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(400, message=TOO_LONG[provider]))
    with pytest.raises(LLMContextLengthError) as info:
        ctx.llm(provider).chat_sync(HELLO)
    assert info.value.status_code == 400 and len(fake.requests) == 1  # never retried


def test_openais_error_code_alone_says_context_length(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    body = {
        "error": {
            "message": "Request too large.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
            "param": "messages",
        }
    }
    fake.script(Fault(400, body=body))
    with pytest.raises(LLMContextLengthError):
        ctx.llm("openai").chat_sync(HELLO)


def test_fallback_on_rate_limit_does_not_wait_out_the_primary(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock, fallback_on=["rate_limit"]) as ctx:
        fake.script(Fault(429, retry_after="20"), Reply("from the fallback"))
        result = ctx.llm("openai").chat_sync(HELLO)
    assert (result.text, result.profile) == ("from the fallback", "anthropic")
    assert clock.sleeps == []  # no 20 s Retry-After was waited on the primary


def test_without_fallback_on_the_primary_retries_first(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock) as ctx:
        fake.script(Fault(429, retry_after="20"), Reply("primary, second try"))
        result = ctx.llm("openai").chat_sync(HELLO)
    assert (result.text, result.profile) == ("primary, second try", "openai")
    assert clock.sleeps == [20.0]


def test_an_unlisted_error_still_retries(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock, fallback_on=["context_length"]) as ctx:
        fake.script(Fault(503), Reply("primary again"))
        assert ctx.llm("openai").chat_sync(HELLO).profile == "openai"
    assert len(clock.sleeps) == 1


def test_context_length_moves_to_a_larger_window(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    with context(fake, clock, fallback_on=["context_length"]) as ctx:
        fake.script(Fault(400, message=TOO_LONG["openai"]), Reply("read it all"))
        result = ctx.llm("openai").chat_sync(HELLO)
        assert (result.text, result.profile) == ("read it all", "anthropic")
    with context(fake, clock) as ctx:  # not listed: the caller's error, as before
        fake.script(Fault(400, message=TOO_LONG["openai"]))
        with pytest.raises(LLMContextLengthError):
            ctx.llm("openai").chat_sync(HELLO)


def test_fallback_on_in_streams_and_async(fake: FakeProviderServer) -> None:
    import asyncio

    clock = FakeClock()
    with context(fake, clock, fallback_on=["rate_limit", "overloaded"]) as ctx:
        llm = ctx.llm("openai")
        fake.script(Fault(529), Reply(deltas=("streamed", " elsewhere")))
        stream = llm.stream_sync(HELLO)
        assert "".join(stream) == "streamed elsewhere"
        assert stream.result.profile == "anthropic"
        fake.script(Fault(429, retry_after="30"), Reply("async fallback"))
        result = asyncio.run(llm.chat(HELLO))
        assert result.profile == "anthropic"
        fake.script(Fault(429, retry_after="30"), Fault(429, retry_after="30"))
        with pytest.raises(LLMRateLimitError) as info:
            llm.chat_sync(HELLO)  # the fallback failed too: the primary's error, at once
        assert len(info.value.fallback_errors) == 1
    assert clock.sleeps == []
