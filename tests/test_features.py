"""The same user-level tests for every provider: switching a profile keeps every line working.

Parametrised over each provider whose adapter exists; what a provider lacks (from its
registry spec) is asserted to raise `LLMUnsupportedFeatureError` with nothing sent. These
tests back the provider-by-feature table in the docs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from llm_context import (
    Feature,
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMContext,
    LLMInputError,
    LLMOutputError,
    LLMStreamError,
    LLMUnsupportedFeatureError,
)
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, Fault, Reply, ToolCallReply, UsageReply

from .conftest import built_providers

PROVIDERS = built_providers()
pytestmark = pytest.mark.parametrize("provider", PROVIDERS)

HELLO = [{"role": "user", "content": "Hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
# A PDF and a WAV clip (their checks and wire shapes: test_features_media.py).
PDF_B64 = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
PDF_PART = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}"}}
WAV_B64 = base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28).decode()
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}}
# A model per provider that takes reasoning_effort (the fake profiles' defaults may not).
REASONING_MODELS = {"openai": "o4-mini", "azure": "o4-mini"}


class Person(pydantic.BaseModel):
    name: str
    age: int


def has(provider: str, feature: Feature, model: str | None = None) -> bool:
    spec = spec_for(provider)
    return feature in (spec.features_for(model) if model else spec.features)


def values_of(node: Any, keys: set[str]) -> list[Any]:
    """Every value stored under one of `keys`, anywhere in a JSON body."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in keys]
        return found + [x for v in node.values() for x in values_of(v, keys)]
    if isinstance(node, list):
        return [x for v in node for x in values_of(v, keys)]
    return []


def chat_requests(fake: FakeProviderServer) -> list[Any]:
    return fake.requests_for("chat")


# -- chat --------------------------------------------------------------------------------


def test_chat_returns_text_and_normalised_usage(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("Hi there!", usage=UsageReply(input_tokens=12, output_tokens=5)))
    text, usage = ctx.llm(provider).chat_sync(HELLO)
    assert text == "Hi there!"
    assert usage["input_tokens"] == 12
    assert usage["output_tokens"] == 5
    assert usage["total_tokens"] == 17
    assert len(fake.requests) == 1


def test_chat_result_details(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Reply("Cut short", finish_reason="length"))
    result = ctx.llm(provider).chat_sync(HELLO, max_output_tokens=5)
    assert result.finish_reason == "length"
    # Each wire names the limit its own way; it must be there, set to 5.
    limits = {"max_output_tokens", "maxOutputTokens", "max_tokens", "max_completion_tokens"}
    assert 5 in values_of(fake.last_request.json, limits)
    assert result.profile == provider
    assert result.raw is not None
    assert result.tool_calls == ()
    fake.script(Reply("Done"))
    assert ctx.llm(provider).chat_sync(HELLO).finish_reason == "stop"


def test_chat_async_matches_sync(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Reply("one"), Reply("two"))
    llm = ctx.llm(provider)

    async def main() -> list[str]:
        first = await llm.chat(HELLO)
        second = await llm.complete("Hello again")
        return [first.text, second.text]

    assert asyncio.run(main()) == ["one", "two"]


def test_system_and_image_input_are_sent(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("A red pixel"))
    messages = [
        {"role": "system", "content": "You describe images."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
            ],
        },
    ]
    assert ctx.llm(provider).chat_sync(messages).text == "A red pixel"
    body = fake.last_request.body.decode()
    assert "You describe images." in body
    assert PNG_1PX in body


def test_bad_input_sends_nothing(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    llm = ctx.llm(provider)
    bad_calls: list[Callable[[], Any]] = [
        lambda: llm.chat_sync([]),
        lambda: llm.chat_sync([{"role": "wizard", "content": "hi"}]),
        lambda: llm.chat_sync(HELLO, output_format="json_schema"),
        lambda: llm.chat_sync(HELLO, output_format="json_schema", json_schema={"type": 5}),
        lambda: llm.chat_sync(HELLO, temperature=7),
        lambda: llm.chat_sync(HELLO, tools=[{"function": {}}]),
        lambda: llm.chat_sync(HELLO, bogus_option=1),
    ]
    for call in bad_calls:
        with pytest.raises(LLMInputError):
            call()
    assert fake.requests == []


# -- streaming ---------------------------------------------------------------------------


def test_stream_delivers_deltas_in_order(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    deltas = ("The ", "quick ", "brown ", "fox")
    fake.script(Reply(deltas=deltas, usage=UsageReply(input_tokens=7, output_tokens=4)))
    seen: list[str] = []
    result = ctx.llm(provider).chat_stream_sync(HELLO, on_delta=seen.append)
    assert "".join(seen) == "The quick brown fox"
    assert result.text == "The quick brown fox"
    assert result.usage["input_tokens"] == 7
    assert result.usage["output_tokens"] == 4
    assert result.finish_reason == "stop"
    assert fake.last_request.stream


def test_stream_iterator_and_result(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply(deltas=("a", "b", "c")))
    stream = ctx.llm(provider).stream_sync(HELLO)
    assert "".join(stream) == "abc"
    assert stream.result.text == "abc"


def test_async_stream_with_coroutine_callback(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply(deltas=("x", "y", "z")), Reply(deltas=("1", "2")))
    llm = ctx.llm(provider)

    async def main() -> tuple[list[str], str, list[str]]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []

        async def on_delta(delta: str) -> None:
            assert asyncio.get_running_loop() is loop  # delivered on the caller's loop
            seen.append(delta)

        result = await llm.chat_stream(HELLO, on_delta=on_delta)
        pieces = [d async for d in llm.stream(HELLO)]
        return seen, result.text, pieces

    seen, text, pieces = asyncio.run(main())
    assert seen == ["x", "y", "z"] and text == "xyz"
    assert pieces == ["1", "2"]


def test_cut_stream_raises_with_partial_text(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply(deltas=("Hel", "lo ", "wor", "ld"), cut_after=2))
    seen: list[str] = []
    with pytest.raises(LLMStreamError) as info:
        ctx.llm(provider).chat_stream_sync(HELLO, on_delta=seen.append)
    assert info.value.partial_text == "Hello "
    assert seen == ["Hel", "lo "]
    assert len(chat_requests(fake)) == 1  # text had reached the caller: never retried


# -- tools -------------------------------------------------------------------------------


def test_tool_call_round_trip(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    llm = ctx.llm(provider)
    fake.script(Reply.tool_call("get_weather", {"city": "Oslo"}), Reply("Sunny in Oslo."))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = llm.chat_sync(messages, tools=[WEATHER_TOOL])
    assert first.finish_reason == "tool_calls"
    (call,) = first.tool_calls
    assert call.name == "get_weather" and call.arguments == {"city": "Oslo"}
    assert call.id
    messages.append(
        {
            "role": "assistant",
            "content": first.text or None,
            "tool_calls": [c.to_message_dict() for c in first.tool_calls],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"})
    second = llm.chat_sync(messages, tools=[WEATHER_TOOL])
    assert second.text == "Sunny in Oslo."
    body = fake.last_request.body.decode()
    assert "18C and sunny" in body and "get_weather" in body


def test_parallel_tool_calls_stream(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(
        Reply(
            tool_calls=(
                ToolCallReply("get_weather", {"city": "Oslo"}),
                ToolCallReply("get_weather", {"city": "Lima"}),
            )
        )
    )
    result = ctx.llm(provider).chat_stream_sync(HELLO, tools=[WEATHER_TOOL])
    assert [c.arguments["city"] for c in result.tool_calls] == ["Oslo", "Lima"]
    assert len({c.id for c in result.tool_calls}) == 2
    assert result.finish_reason == "tool_calls"


def test_tool_choice_named_and_required(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply.tool_call("get_weather", {"city": "Oslo"}), Reply.tool_call("get_weather"))
    llm = ctx.llm(provider)
    assert llm.chat_sync(HELLO, tools=[WEATHER_TOOL], tool_choice="get_weather").tool_calls
    assert llm.chat_sync(HELLO, tools=[WEATHER_TOOL], tool_choice="required").tool_calls


# -- structured output -------------------------------------------------------------------


def test_json_schema_output_is_parsed(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply.json({"name": "Ada", "age": 36}), Reply.json({"name": "Alan", "age": 41}))
    llm = ctx.llm(provider)
    result = llm.chat_sync(HELLO, output_format="json_schema", json_schema=PERSON)
    assert result.parsed == {"name": "Ada", "age": 36}
    assert result.text == '{"name": "Ada", "age": 36}'
    typed = llm.chat_sync(HELLO, output_format="json_schema", json_schema=Person)
    assert typed.parsed == Person(name="Alan", age=41)


def test_json_schema_default_reply_validates(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    # Nothing scripted: the fake answers an instance of the schema the request carried, so
    # this fails unless the schema actually reached the wire.
    result = ctx.llm(provider).chat_sync(HELLO, output_format="json_schema", json_schema=PERSON)
    assert set(result.parsed) == {"name", "age"}


def test_json_object_output(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Reply.json({"answer": 42}))
    result = ctx.llm(provider).chat_sync(HELLO, output_format="json_object")
    assert result.parsed == {"answer": 42}


def test_invalid_json_raises_output_error(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply.json({"name": "Ada", "age": "old"}))
    with pytest.raises(LLMOutputError) as info:
        ctx.llm(provider).chat_sync(HELLO, output_format="json_schema", json_schema=PERSON)
    assert '"old"' in info.value.text
    assert any("age" in error for error in info.value.errors)


def test_repair_attempt_fixes_invalid_json(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(
        Reply("not json", usage=UsageReply(input_tokens=10, output_tokens=2)),
        Reply.json({"name": "Ada", "age": 36}, usage=UsageReply(input_tokens=20, output_tokens=8)),
    )
    result = ctx.llm(provider).chat_sync(
        HELLO, output_format="json_schema", json_schema=PERSON, repair_attempts=1
    )
    assert result.parsed == {"name": "Ada", "age": 36}
    assert result.usage["input_tokens"] == 30 and result.usage["output_tokens"] == 10
    assert "not json" in fake.last_request.body.decode()  # the bad reply was shown back


# -- errors ------------------------------------------------------------------------------


def test_auth_error_is_mapped_and_not_retried(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(401, message="invalid key test-key-" + provider))
    with pytest.raises(LLMAuthenticationError) as info:
        ctx.llm(provider).chat_sync(HELLO)
    assert info.value.status_code == 401
    assert info.value.provider == provider
    assert f"test-key-{provider}" not in str(info.value)
    assert len(fake.requests) == 1


def test_bad_request_not_retried(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Fault(400, message="bad things"), Reply("never"))
    with pytest.raises(LLMBadRequestError) as info:
        ctx.llm(provider).chat_sync(HELLO)
    assert "bad things" in str(info.value)
    assert len(fake.requests) == 1


def test_server_error_then_success_is_retried(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(503), Fault(429, retry_after="0"), Reply("third time lucky"))
    assert ctx.llm(provider).chat_sync(HELLO).text == "third time lucky"
    assert len(fake.requests) == 3


# -- features a provider may lack ----------------------------------------------------------


def test_reasoning_effort(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    llm = ctx.llm(provider)
    model = REASONING_MODELS.get(provider, llm.profile.model)
    if has(provider, Feature.REASONING, model):
        fake.script(Reply("thought hard", reasoning="Let me think."))
        result = llm.chat_sync(HELLO, model=model, reasoning_effort="high", max_output_tokens=2000)
        assert result.text == "thought hard"
        return
    with pytest.raises(LLMUnsupportedFeatureError) as info:
        llm.chat_sync(HELLO, model=model, reasoning_effort="high")
    assert info.value.provider == provider
    assert fake.requests == []
    fake.script(Reply("ok"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        assert llm.chat_sync(HELLO, reasoning_effort="high", fail_on_unsupported=False).text == "ok"
    assert "reasoning" in caplog.text


def test_embeddings(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    llm = ctx.llm(provider)
    if not has(provider, Feature.EMBED):
        for kwargs in ({}, {"model": "any-model"}):  # unsupported, not "no default model"
            with pytest.raises(LLMUnsupportedFeatureError):
                llm.embed_sync(["a"], **kwargs)
        assert fake.requests == []
        return
    result = llm.embed_sync(["alpha", "beta", "alpha"])
    assert len(result) == 3
    assert result[0] == result[2] != result[1]  # deterministic per text, order kept
    assert all(isinstance(x, float) for x in result[0])


def test_image_generation(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    llm = ctx.llm(provider)
    if not has(provider, Feature.IMAGE_GENERATION):
        for kwargs in ({}, {"model": "any-model"}):  # unsupported, not "no default model"
            with pytest.raises(LLMUnsupportedFeatureError):
                llm.generate_image_sync("a cat", **kwargs)
        assert fake.requests == []
        return
    result = llm.generate_image_sync("a cat")
    assert result.first.to_bytes().startswith(b"\x89PNG")


def test_image_edit(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    llm = ctx.llm(provider)
    png = base64.b64decode(PNG_1PX)
    if not has(provider, Feature.IMAGE_EDIT):
        for kwargs in ({}, {"model": "any-model"}):
            with pytest.raises(LLMUnsupportedFeatureError):
                llm.generate_image_sync("a hat", input_images=[png], **kwargs)
        assert fake.requests == []
        return
    result = llm.generate_image_sync("add a hat", input_images=[png])
    assert result.first.to_bytes().startswith(b"\x89PNG")


def test_unsupported_features_raise_before_sending(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    """Every feature the registry says a provider lacks raises, naming provider and feature."""
    llm = ctx.llm(provider)
    model = llm.profile.model or "m"
    attempts: dict[Feature, Callable[[], Any]] = {
        Feature.TOOLS: lambda: llm.chat_sync(HELLO, tools=[WEATHER_TOOL]),
        Feature.JSON_SCHEMA: lambda: llm.chat_sync(
            HELLO, output_format="json_schema", json_schema=PERSON
        ),
        Feature.STOP: lambda: llm.chat_sync(HELLO, stop=["END"]),
        Feature.SAMPLING: lambda: llm.chat_sync(HELLO, temperature=0.2),
        Feature.EMBED: lambda: llm.embed_sync(["x"], model="m"),
        Feature.IMAGE_GENERATION: lambda: llm.generate_image_sync("x", model="m"),
        Feature.DOCUMENTS: lambda: llm.chat_sync([{"role": "user", "content": [PDF_PART]}]),
        Feature.AUDIO: lambda: llm.chat_sync([{"role": "user", "content": [AUDIO_PART]}]),
        Feature.BATCH: lambda: llm.batch_sync([{"custom_id": "q", "messages": HELLO}]),
    }
    lacking = [f for f in attempts if not has(provider, f, model)]
    for feature in lacking:
        with pytest.raises(LLMUnsupportedFeatureError) as info:
            attempts[feature]()
        assert info.value.provider == provider
        assert info.value.feature == feature.value
    assert fake.requests == []
