"""A prompt too long for the model's window, as each of the seven providers answers it (its
real error body, through its real SDK, from the fake server): `LLMContextLengthError`, never
retried, with the SDK's error as its cause and no key in its text; `fallback_on:
[context_length]` moves the call to a profile with a larger window."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_context import (
    LLMBadRequestError,
    LLMContext,
    LLMContextLengthError,
    LLMServerError,
)
from llm_context.call.connection import Connection
from llm_context.clock import FakeClock
from llm_context.errors import is_context_length
from llm_context.testing import FakeProviderServer, Fault, Reply

from .conftest import built_providers

HELLO = [{"role": "user", "content": "Hi"}]


def _openai_shaped(message: str, kind: str, code: Any, param: Any = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# Each provider's answer to a prompt that does not fit, body and all, as it sends it.
BODIES: dict[str, Any] = {
    "openai": _openai_shaped(
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130512 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    ),
    "azure": _openai_shaped(
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9021 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    ),
    "anthropic": {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210432 tokens > 200000 maximum",
        },
        "request_id": "req_011CTooLong",
    },
    "google": {
        "error": {
            "code": 400,
            "message": "The input token count (1200000) exceeds the maximum number of tokens "
            "allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    },
    "openrouter": {
        "error": {
            "message": "This endpoint's maximum context length is 131072 tokens. However, you "
            "requested about 150311 tokens (150311 of text input). Please reduce the length "
            'of either one, or use the "middle-out" transform to compress your prompt '
            "automatically.",
            "code": 400,
            "metadata": {"provider_name": None},
        },
        "user_id": "user_2abc",
    },
    # LM Studio answers with a bare string under "error".
    "lmstudio": {
        "error": "The number of tokens to keep from the initial prompt is greater than the "
        "context length. Try to load the model with a larger context length, or provide a "
        "shorter input"
    },
    # Ollama's OpenAI-compatible endpoint: its error text in OpenAI's envelope.
    "ollama": _openai_shaped(
        "the input length exceeds the context length", "invalid_request_error", None
    ),
}


@pytest.mark.parametrize("provider", built_providers())
def test_each_providers_own_answer_is_a_context_length_error(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(400, body=BODIES[provider]))
    with pytest.raises(LLMContextLengthError) as info:
        ctx.llm(provider).chat_sync(HELLO)
    error = info.value
    assert isinstance(error, LLMBadRequestError)
    assert (error.status_code, error.provider, fake.served) == (400, provider, 1)  # no retry
    assert error.__cause__ is not None  # the SDK's own error, kept as the cause
    assert "test-key" not in str(error)


@pytest.mark.parametrize("provider", built_providers())
def test_a_stream_that_does_not_fit_fails_before_its_first_event(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(400, body=BODIES[provider]))
    with pytest.raises(LLMContextLengthError):
        "".join(ctx.llm(provider).stream_sync(HELLO))
    assert fake.served == 1


def test_llama_cpp_servers_error_type_alone_says_so(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    body = {
        "error": {
            "code": 400,
            "message": "request (5120 tokens) is larger than what the model can take",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 5120,
            "n_ctx": 4096,
        }
    }
    fake.script(Fault(400, body=body))
    with pytest.raises(LLMContextLengthError):
        ctx.llm("lmstudio").chat_sync(HELLO)


def test_a_key_echoed_in_the_answer_is_not_shown(ctx: LLMContext, fake: FakeProviderServer) -> None:
    text = "maximum context length exceeded for key test-key-openai"
    fake.script(Fault(400, body=_openai_shaped(text, "invalid_request_error", None)))
    with pytest.raises(LLMContextLengthError) as info:
        ctx.llm("openai").chat_sync(HELLO)
    assert "test-key-openai" not in str(info.value)


def test_other_errors_are_not_context_length(ctx: LLMContext, fake: FakeProviderServer) -> None:
    other = "max_tokens is too large: 90000. This model supports at most 16384 tokens."
    fake.script(Fault(400, body=_openai_shaped(other, "invalid_request_error", None)))
    with pytest.raises(LLMBadRequestError) as info:
        ctx.llm("openai").chat_sync(HELLO)
    assert not isinstance(info.value, LLMContextLengthError)
    # A server error mentioning the window stays a (retried) server error.
    fake.script(Fault(500, message="context length cache failed"), Reply("second try"))
    assert ctx.llm("openai").chat_sync(HELLO).text == "second try"


def test_the_table_reads_code_type_and_message() -> None:
    assert is_context_length(400, "Request too large.", code="context_length_exceeded")
    assert is_context_length(400, "too big", kind="exceed_context_size_error")
    assert is_context_length(413, "Prompt is too long: 10 tokens > 5 maximum")
    assert not is_context_length(429, "maximum context length")  # only 400, 413, 422
    assert not is_context_length(400, "Invalid value for temperature", code=400)


def test_an_adapters_own_bad_request_goes_through_the_table_too(
    ctx: LLMContext,
) -> None:
    """A stream's error event is raised by the adapter, not the SDK: the connection's guard
    classes it with the same table."""
    connection = Connection(ctx.llm("openai").profile)

    def stream_error_event() -> None:
        raise LLMBadRequestError(
            "openai stream error context_length_exceeded: Your input exceeds the context "
            "window of this model.",
            provider="openai",
            status_code=400,
        )

    with pytest.raises(LLMContextLengthError) as info:
        connection.guard(stream_error_event)
    assert type(info.value.__cause__) is LLMBadRequestError


def _windows(fake: FakeProviderServer, primary: str, **extra: Any) -> LLMContext:
    """`small` on `primary`'s provider falls back to `large` (a model with a larger window)."""
    profiles = fake.profiles(
        small={"provider": primary, "fallbacks": ["large"], **extra},
        large={"provider": "google", "model": "gemini-2.5-pro", "retry": {"max_attempts": 1}},
    )
    return LLMContext(profiles, clock=FakeClock())


@pytest.mark.parametrize("provider", built_providers())
def test_fallback_on_context_length_moves_to_a_larger_window(
    fake: FakeProviderServer, provider: str
) -> None:
    with _windows(fake, provider, fallback_on=["context_length"]) as ctx:
        fake.script(Fault(400, body=BODIES[provider]), Reply("read it all"))
        result = ctx.llm("small").chat_sync(HELLO)
    assert (result.text, result.profile, fake.served) == ("read it all", "large", 2)


def test_without_context_length_listed_it_stays_the_callers_error(
    fake: FakeProviderServer,
) -> None:
    with _windows(fake, "anthropic", fallback_on=["rate_limit"]) as ctx:
        fake.script(Fault(400, body=BODIES["anthropic"]))
        with pytest.raises(LLMContextLengthError) as info:
            ctx.llm("small").chat_sync(HELLO)
    assert fake.served == 1 and info.value.fallback_errors == ()


def test_async_and_streams_move_to_the_larger_window(fake: FakeProviderServer) -> None:
    with _windows(fake, "openai", fallback_on=["context_length"]) as ctx:
        llm = ctx.llm("small")
        fake.script(Fault(400, body=BODIES["openai"]), Reply("async, larger window"))
        assert asyncio.run(llm.chat(HELLO)).profile == "large"
        fake.script(Fault(400, body=BODIES["openai"]), Reply(deltas=("streamed", " there")))
        stream = llm.stream_sync(HELLO)
        assert "".join(stream) == "streamed there" and stream.result.profile == "large"

        async def streamed() -> str:
            fake.script(Fault(400, body=BODIES["openai"]), Reply(deltas=("async", " stream")))
            return "".join([delta async for delta in llm.stream(HELLO)])

        assert asyncio.run(streamed()) == "async stream"
        # The larger window failing too: the primary's error, with the fallback's attached.
        fake.script(Fault(400, body=BODIES["openai"]), Fault(503))
        with pytest.raises(LLMContextLengthError) as info:
            llm.chat_sync(HELLO)
        assert [type(e) for e in info.value.fallback_errors] == [LLMServerError]
