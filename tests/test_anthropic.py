"""Anthropic specifics: what reaches the Messages API wire, and what comes back.

Everything goes through the real `anthropic` SDK over HTTP to the fake server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from llm_context import (
    Feature,
    LLMAuthenticationError,
    LLMContext,
    LLMInputError,
    LLMRateLimitError,
    LLMServerError,
    LLMStreamError,
    LLMUnsupportedFeatureError,
)
from llm_context.contract.request import EmbedRequest, ImageRequest
from llm_context.providers.anthropic.reply import finish_reason, parse_usage
from llm_context.providers.registry import spec_for
from llm_context.testing import (
    Exchange,
    FakeProviderServer,
    Fault,
    Reply,
    Route,
    ToolCallReply,
    UsageReply,
    wire_anthropic,
)
from llm_context.testing import server as fake_server_module
from llm_context.testing.defaults import DEFAULT_JSON_OBJECT
from llm_context.testing.routing import json_stream_flag

from .conftest import FAST_RETRY

MODEL = "claude-haiku-4-5"  # a current model of the budget-thinking family
KEY = "test-key-anthropic"
HELLO = [{"role": "user", "content": "Hello"}]
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
DATA_URL = f"data:image/png;base64,{PNG_1PX}"
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"name": "time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def profiles(fake: FakeProviderServer, **anthropic_profile: Any) -> dict[str, Any]:
    settings = {"model": MODEL, "retry": FAST_RETRY, **anthropic_profile}
    return fake.profiles(anthropic=settings)


@pytest.fixture
def ctx(fake: FakeProviderServer) -> Iterator[LLMContext]:
    context = LLMContext(profiles(fake))
    yield context
    context.close()


def sent(fake: FakeProviderServer) -> dict[str, Any]:
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


def sdk(fake: FakeProviderServer) -> anthropic.Anthropic:
    """The bare SDK with strict response validation: proves the wire matches its types."""
    return anthropic.Anthropic(
        api_key=KEY,
        base_url=fake.base_url("anthropic"),
        max_retries=0,
        _strict_response_validation=True,
    )


# ---- request shape -----------------------------------------------------------------------


def test_system_is_top_level_and_turns_alternate(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": "Look:"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "image_url", "image_url": {"url": DATA_URL}},
                ],
            },
            {"role": "assistant", "content": "Seen."},
            {"role": "assistant", "content": "Anything else?"},
            {"role": "user", "content": "No."},
        ]
    )
    body = sent(fake)
    assert body["system"] == "Be terse.\n\nUse metric units."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Seen."},
                {"type": "text", "text": "Anything else?"},
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": "No."}]},
    ]
    assert body["max_tokens"] == 4096  # required by the API: our default
    for absent in ("thinking", "output_config", "tools", "tool_choice", "stop_sequences"):
        assert absent not in body
    headers = fake.last_request.headers
    assert headers["authorization"] == f"Bearer {KEY}"  # how SDK 2.x sends the key
    assert headers["anthropic-version"] == "2026-10-21"


def test_options_reach_the_wire(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(
        HELLO,
        max_output_tokens=321,
        stop=["END", "STOP"],
        extra_body={"metadata": {"x": 1}},
        timeout=7.5,
    )
    assert fake.last_request.headers["x-stainless-read-timeout"] == "7.5"
    body = sent(fake)
    assert body["max_tokens"] == 321
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["metadata"] == {"x": 1}


def test_image_in_a_system_message_is_refused(ctx: LLMContext, fake: FakeProviderServer) -> None:
    system = {"role": "system", "content": [{"type": "image_url", "image_url": {"url": DATA_URL}}]}
    with pytest.raises(LLMUnsupportedFeatureError, match="system message"):
        ctx.llm("anthropic").chat_sync([system, *HELLO])
    assert fake.requests == []


def test_sampling_is_gone_in_api_version_2026_10_21(
    ctx: LLMContext, fake: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm = ctx.llm("anthropic")
    assert Feature.SAMPLING not in spec_for("anthropic").features
    with pytest.raises(LLMUnsupportedFeatureError, match="temperature"):
        llm.chat_sync(HELLO, temperature=0.2)
    assert fake.requests == []
    fake.script(Reply("ok"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        llm.chat_sync(HELLO, temperature=0.2, top_p=0.9, fail_on_unsupported=False)
    assert "temperature" not in sent(fake) and "top_p" not in sent(fake)
    assert "drop" in caplog.text


# ---- thinking per model family -------------------------------------------------------------

ADAPTIVE = {"type": "adaptive", "display": "summarized"}


@pytest.mark.parametrize(
    ("model", "effort", "max_out", "thinking", "effort_sent", "max_tokens"),
    [
        # Claude 4.5 and older: budget_tokens, always below max_tokens.
        (MODEL, "high", None, {"type": "enabled", "budget_tokens": 16384}, None, 20480),
        (MODEL, "minimal", None, {"type": "enabled", "budget_tokens": 1024}, None, 5120),
        (MODEL, "max", 8000, {"type": "enabled", "budget_tokens": 4000}, None, 8000),
        (MODEL, "low", 1500, {"type": "enabled", "budget_tokens": 1024}, None, 1500),
        (
            "claude-3-7-sonnet-latest",
            "medium",
            None,
            {"type": "enabled", "budget_tokens": 8192},
            None,
            12288,
        ),
        (MODEL, "none", None, {"type": "disabled"}, None, 4096),
        # Opus / Sonnet 4.6: adaptive + effort, no "xhigh"; "none" is disabled.
        ("claude-sonnet-4-6", "high", None, ADAPTIVE, "high", 16384),
        ("claude-opus-4-6", "xhigh", None, ADAPTIVE, "max", 16384),
        ("claude-opus-4-6", "minimal", 900, ADAPTIVE, "low", 900),
        ("claude-sonnet-4-6", "none", None, {"type": "disabled"}, None, 4096),
        # Opus 4.7 / 4.8: adaptive only; off means leaving `thinking` out.
        ("claude-opus-4-7", "xhigh", None, ADAPTIVE, "xhigh", 16384),
        ("claude-opus-4-8", "none", None, None, None, 4096),
        # Claude 5: adaptive and on by default, so a bigger default max_tokens.
        ("claude-sonnet-5", None, None, None, None, 16384),
        ("claude-opus-5-5", "max", None, ADAPTIVE, "max", 16384),
        ("claude-sonnet-5", "none", None, {"type": "disabled"}, None, 4096),
        # Fable / Mythos always think: "none" becomes the lowest effort.
        ("claude-fable-5-2", "none", None, ADAPTIVE, "low", 16384),
        pytest.param(
            *("claude-mythos-preview", "xhigh", None, ADAPTIVE, "max", 16384),
            marks=pytest.mark.filterwarnings("ignore:The model 'claude-mythos-preview'"),
        ),
        # A model we do not know yet is taken to be like the newest family.
        ("claude-nova-7", "medium", None, ADAPTIVE, "medium", 16384),
    ],
)
def test_thinking_config_per_model_family(
    ctx: LLMContext,
    fake: FakeProviderServer,
    model: str,
    effort: Any,
    max_out: int | None,
    thinking: dict[str, Any] | None,
    effort_sent: str | None,
    max_tokens: int,
) -> None:
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(
        HELLO, model=model, reasoning_effort=effort, max_output_tokens=max_out
    )
    body = sent(fake)
    assert body["model"] == model
    assert body.get("thinking") == thinking
    assert body.get("output_config", {}).get("effort") == effort_sent
    assert body["max_tokens"] == max_tokens
    if thinking and "budget_tokens" in thinking:
        assert 1024 <= thinking["budget_tokens"] < body["max_tokens"]


def test_always_thinking_model_warns_on_none(
    ctx: LLMContext, fake: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(Reply("ok"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        ctx.llm("anthropic").chat_sync(HELLO, model="claude-mythos-5", reasoning_effort="none")
    assert "always thinks" in caplog.text


def test_thinking_conflicts_are_refused_before_sending(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    llm = ctx.llm("anthropic")
    with pytest.raises(LLMInputError, match="max_output_tokens=1000"):
        llm.chat_sync(HELLO, reasoning_effort="low", max_output_tokens=1000)
    with pytest.raises(LLMUnsupportedFeatureError, match="forced tool_choice"):
        llm.chat_sync(HELLO, reasoning_effort="high", tools=[WEATHER], tool_choice="required")
    assert fake.requests == []
    fake.script(Reply.tool_call("weather", {"city": "Oslo"}))
    # Forcing a tool is fine when thinking is off.
    call = llm.chat_sync(HELLO, reasoning_effort="none", tools=[WEATHER], tool_choice="weather")
    assert call.tool_calls[0].name == "weather"


def test_models_without_thinking_or_structured_output(ctx: LLMContext) -> None:
    spec = spec_for("anthropic")
    assert Feature.REASONING not in spec.features_for("claude-3-5-haiku-latest")
    assert Feature.REASONING in spec.features_for("claude-3-7-sonnet-latest")
    assert Feature.JSON_SCHEMA not in spec.features_for("claude-sonnet-4-20250514")
    assert Feature.JSON_SCHEMA in spec.features_for("claude-opus-4-1")
    with pytest.raises(LLMUnsupportedFeatureError):
        ctx.llm("anthropic").chat_sync(
            HELLO, model="claude-3-5-haiku-latest", reasoning_effort="low"
        )


# ---- tools ---------------------------------------------------------------------------------


def test_tool_round_trip_with_two_parallel_calls(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("anthropic")
    fake.script(
        Reply(
            "Checking both.",
            tool_calls=(
                ToolCallReply("weather", {"city": "Oslo"}),
                ToolCallReply("time", {"tz": "Europe/Oslo"}, id="toolu_custom"),
            ),
        ),
        Reply("Sunny, and it is noon."),
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Oslo?"}]
    first = llm.chat_sync(messages, tools=[WEATHER, TIME])
    assert first.text == "Checking both."
    assert first.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("weather", {"city": "Oslo"}),
        ("time", {"tz": "Europe/Oslo"}),
    ]
    assert first.tool_calls[1].id == "toolu_custom"
    assert sent(fake)["tools"] == [
        {
            "name": "weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "description": "Weather for a city",
        },
        {
            "name": "time",
            "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    ]
    weather_id, time_id = (c.id for c in first.tool_calls)
    messages += [
        {
            "role": "assistant",
            "content": first.text,
            "tool_calls": [c.to_message_dict() for c in first.tool_calls],
        },
        {"role": "tool", "tool_call_id": weather_id, "content": "18C and sunny"},
        {"role": "tool", "tool_call_id": time_id, "content": "12:00"},
        {"role": "user", "content": "Thanks!"},
    ]
    second = llm.chat_sync(messages, tools=[WEATHER, TIME])
    assert second.text == "Sunny, and it is noon."
    turns = sent(fake)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": weather_id, "name": "weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": time_id, "name": "time", "input": {"tz": "Europe/Oslo"}},
    ]
    # Both results in ONE user turn, first, followed by the user's text.
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": weather_id, "content": "18C and sunny"},
        {"type": "tool_result", "tool_use_id": time_id, "content": "12:00"},
        {"type": "text", "text": "Thanks!"},
    ]


def test_tool_results_open_their_user_turn(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"))
    call = {"id": "toolu_1", "type": "function", "function": {"name": "time", "arguments": "{}"}}
    ctx.llm("anthropic").chat_sync(
        [
            {"role": "user", "content": "Time?"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "user", "content": [{"type": "text", "text": ""}, "Hurry."]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": ""},
        ],
        tools=[TIME],
    )
    last = sent(fake)["messages"][-1]
    assert last["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1"},  # an empty result has no content
        {"type": "text", "text": "Hurry."},  # the empty text part is no block (a 400)
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ("any", None, {"type": "any"}),
        ("time", None, {"type": "tool", "name": "time"}),
        (
            {"type": "function", "function": {"name": "weather"}},
            False,
            {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_tool_choice_variants(
    ctx: LLMContext, fake: FakeProviderServer, choice: Any, parallel: Any, expected: Any
) -> None:
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(
        HELLO, tools=[WEATHER, TIME], tool_choice=choice, parallel_tool_calls=parallel
    )
    assert sent(fake).get("tool_choice") == expected


def test_strict_tool_gets_a_closed_schema(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(HELLO, tools=[{**TIME, "strict": True}])
    (tool,) = sent(fake)["tools"]
    assert tool["strict"] is True
    assert tool["input_schema"]["additionalProperties"] is False


# ---- structured output ---------------------------------------------------------------------


def test_json_schema_goes_to_output_config(ctx: LLMContext, fake: FakeProviderServer) -> None:
    # Nothing scripted: the fake answers an instance of the schema it received.
    result = ctx.llm("anthropic").chat_sync(
        HELLO, output_format="json_schema", json_schema=PERSON, reasoning_effort="low"
    )
    assert set(result.parsed) == {"name", "age"}
    config = sent(fake)["output_config"]
    assert config["format"]["type"] == "json_schema"
    schema = config["format"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "age"]
    # Unsupported constraints move into the description (the SDK's transform); the client
    # still validates against the schema as given.
    assert "maxLength" not in schema["properties"]["name"]
    assert "maxLength: 20" in schema["properties"]["name"]["description"]
    assert "effort" not in config  # a budget-thinking model: effort is the budget
    assert sent(fake)["thinking"]["type"] == "enabled"


def test_json_object_is_asked_for_in_the_system_prompt(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    result = ctx.llm("anthropic").chat_sync(
        [{"role": "system", "content": "Be brief."}, *HELLO], output_format="json"
    )
    assert result.parsed == DEFAULT_JSON_OBJECT
    body = sent(fake)
    assert "output_config" not in body  # no JSON mode; an open schema would be refused
    assert body["system"].startswith("Be brief.\n\nReply with a single JSON object")


# ---- replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scripted", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter")],
)
def test_finish_reasons(
    ctx: LLMContext, fake: FakeProviderServer, scripted: Any, expected: str
) -> None:
    fake.script(Reply("text", finish_reason=scripted))
    assert ctx.llm("anthropic").chat_sync(HELLO).finish_reason == expected


def test_finish_reason_table() -> None:
    assert finish_reason("end_turn") == finish_reason("stop_sequence") == "stop"
    assert finish_reason("max_tokens") == "length"
    assert finish_reason("model_context_window_exceeded") == "length"
    assert finish_reason("pause_turn") == "length"
    assert finish_reason("tool_use") == "tool_calls"
    assert finish_reason("refusal") == "content_filter"
    assert finish_reason("something_new") == "something_new"
    assert finish_reason(None) is None


def test_reply_with_thinking_and_cached_usage(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            "answer",
            reasoning="step by step",
            usage=UsageReply(
                input_tokens=50, output_tokens=30, reasoning_tokens=20, cached_input_tokens=40
            ),
        )
    )
    result = ctx.llm("anthropic").chat_sync(HELLO, reasoning_effort="low")
    assert result.text == "answer"
    assert result.reasoning == "step by step"
    # The wire said input_tokens=10 + cache_read_input_tokens=40: the prompt is 50.
    assert result.raw.usage.input_tokens == 10
    assert result.raw.usage.cache_read_input_tokens == 40
    assert result.usage == {
        "input_tokens": 50,
        "output_tokens": 30,
        "total_tokens": 80,
        "reasoning_tokens": 20,
        "cached_input_tokens": 40,
        "cache_write_tokens": 0,
    }
    assert result.model == MODEL


def test_usage_counts_cache_writes_into_the_prompt_once() -> None:
    usage = anthropic.types.Usage(
        input_tokens=5,
        output_tokens=7,
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
    )
    assert parse_usage(usage) == {
        "input_tokens": 125,
        "output_tokens": 7,
        "total_tokens": 132,
        "cached_input_tokens": 100,
        "cache_write_tokens": 20,
    }
    # A stream's last usage (output only) falls back to the first one for the rest.
    last = anthropic.types.MessageDeltaUsage(output_tokens=9)
    assert parse_usage(last, usage)["total_tokens"] == 134


# ---- streaming -----------------------------------------------------------------------------


def test_stream_keeps_thinking_out_of_text(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            deltas=("4", "2"),
            reasoning="six times seven",
            usage=UsageReply(input_tokens=30, output_tokens=12, cached_input_tokens=25),
        )
    )
    seen: list[str] = []
    result = ctx.llm("anthropic").chat_stream_sync(
        HELLO, on_delta=seen.append, model="claude-opus-4-7", reasoning_effort="high"
    )
    assert seen == ["4", "2"]
    assert result.text == "42"
    assert result.reasoning == "six times seven"
    assert result.finish_reason == "stop"
    assert result.model == "claude-opus-4-7"
    # Input usage arrived in message_start, output usage in message_delta.
    assert result.usage == {
        "input_tokens": 30,
        "output_tokens": 12,
        "total_tokens": 42,
        "cached_input_tokens": 25,
        "cache_write_tokens": 0,
    }
    assert sent(fake)["stream"] is True


def test_streamed_parallel_tool_calls_stay_apart(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            "Let me look.",
            tool_calls=(
                ToolCallReply("weather", {"city": "Oslo"}),
                ToolCallReply("weather", {"city": "Lima"}),
                ToolCallReply("time", {}),
            ),
        )
    )
    result = ctx.llm("anthropic").chat_stream_sync(HELLO, tools=[WEATHER, TIME])
    assert result.text == "Let me look."
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("weather", {"city": "Oslo"}),
        ("weather", {"city": "Lima"}),
        ("time", {}),
    ]
    assert len({c.id for c in result.tool_calls}) == 3
    assert all(c.id.startswith("toolu_") for c in result.tool_calls)
    assert result.finish_reason == "tool_calls"


# ---- signed thinking carried into the next turn ----------------------------------------------

CHECK_OSLO = (
    Reply(
        "Let me check.",
        reasoning="I need the weather.",
        tool_calls=(ToolCallReply("weather", {"city": "Oslo"}, id="toolu_1"),),
    ),
    Reply("Sunny in Oslo."),
)
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}
OSLO = [{"role": "user", "content": "Weather in Oslo?"}]
SUNNY = {"role": "tool", "tool_call_id": "toolu_1", "content": "18C and sunny"}


def ask(llm: Any, messages: list[dict[str, Any]], stream: bool) -> Any:
    """One turn with thinking on (budget form on MODEL), streamed or not."""
    chat = llm.chat_stream_sync if stream else llm.chat_sync
    return chat(messages, tools=[WEATHER], reasoning_effort="low")


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_thinking_blocks_travel_to_the_next_turn(
    ctx: LLMContext, fake: FakeProviderServer, stream: bool
) -> None:
    llm = ctx.llm("anthropic")
    fake.script(*CHECK_OSLO)
    first = ask(llm, list(OSLO), stream)
    block = {"type": "thinking", "thinking": "I need the weather.", "signature": "sig_fake_1"}
    assert first.reasoning == "I need the weather."
    assert first.provider_state == {"anthropic": {"thinking": [block]}}
    messages = [*OSLO, first.to_message(), SUNNY]
    assert ask(llm, messages, stream).text == "Sunny in Oslo."
    turns = sent(fake)["messages"]
    # Unchanged and first: before the text and the tool_use it led to.
    assert turns[1] == {
        "role": "assistant",
        "content": [block, {"type": "text", "text": "Let me check."}, TOOL_USE],
    }
    assert json.loads(json.dumps(first.to_message())) == first.to_message()  # JSON-able


def test_dropping_the_thinking_is_the_apis_400(fake: FakeProviderServer) -> None:
    """The rule the adapter works around, as the fake (like the API) enforces it."""
    turns: Any = [
        *OSLO,
        {"role": "assistant", "content": [TOOL_USE]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    ]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking`"):
        sdk(fake).messages.create(model=MODEL, max_tokens=2048, messages=turns, thinking=thinking)
    fake.script(Reply("Sunny in Oslo."))
    message = sdk(fake).messages.create(model=MODEL, max_tokens=2048, messages=turns)
    assert message.content[0].type == "text"


def assert_sent_without_thinking(
    fake: FakeProviderServer, caplog: pytest.LogCaptureFixture, expected: Any
) -> None:
    body = sent(fake)
    assert body.get("thinking") == expected
    assert "output_config" not in body
    assert body["max_tokens"] == 4096  # the no-thinking room, not budget + answer
    warnings = [
        r for r in caplog.records if r.name == "llm_context" and "without thinking" in r.message
    ]
    assert len(warnings) == 1
    assert "no Anthropic thinking blocks" in warnings[0].getMessage()
    assert not fake.errors


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_hand_built_tool_turn_is_sent_without_thinking(
    ctx: LLMContext, fake: FakeProviderServer, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    """A hand-built assistant turn lost the signed thinking: the API refuses it with thinking
    on, so that request goes without thinking (and says so) instead of failing."""
    llm = ctx.llm("anthropic")
    fake.script(*CHECK_OSLO)
    first = ask(llm, list(OSLO), stream)
    by_hand = {
        "role": "assistant",
        "content": first.text,
        "tool_calls": [c.to_message_dict() for c in first.tool_calls],
    }
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        assert ask(llm, [*OSLO, by_hand, SUNNY], stream).text == "Sunny in Oslo."
    assert sent(fake)["messages"][1]["content"][0]["type"] == "text"
    assert_sent_without_thinking(fake, caplog, {"type": "disabled"})
    # A later user turn answers no tool calls: thinking is back on.
    fake.script(Reply("ok"))
    ask(llm, [*OSLO, by_hand, SUNNY, {"role": "assistant", "content": "Sunny."}, *HELLO], stream)
    assert sent(fake)["thinking"]["type"] == "enabled"


def test_tool_history_from_openai_continues_on_anthropic(
    ctx: LLMContext, fake: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Same code, different provider: an OpenAI reply's to_message() carries no Anthropic
    thinking, so the continuation goes without thinking."""
    fake.script(Reply(reasoning="hmm", tool_calls=(ToolCallReply("weather", {"city": "Oslo"}),)))
    first = ctx.llm("openai").chat_sync(OSLO, tools=[WEATHER])
    (call,) = first.tool_calls
    result = {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}
    fake.script(Reply("Sunny in Oslo."))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        reply = ctx.llm("anthropic").chat_sync(
            [*OSLO, first.to_message(), result], tools=[WEATHER], reasoning_effort="high"
        )
    assert reply.text == "Sunny in Oslo."
    assert sent(fake)["messages"][1]["content"][0]["id"] == call.id
    assert_sent_without_thinking(fake, caplog, {"type": "disabled"})


HAND_BUILT = [
    *OSLO,
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "weather", "arguments": "{}"},
            }
        ],
    },
    SUNNY,
]


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("claude-opus-5", None, {"type": "disabled"}),  # thinks by default: said off
        ("claude-opus-4-7", "low", None),  # off is said by leaving `thinking` out
    ],
)
def test_unsigned_tool_turn_off_switch_per_model(
    fake: FakeProviderServer,
    caplog: pytest.LogCaptureFixture,
    model: str,
    effort: Any,
    expected: Any,
) -> None:
    fake.script(Reply("ok"))
    with (
        LLMContext(profiles(fake, model=model)) as context,
        caplog.at_level(logging.WARNING, logger="llm_context"),
    ):
        context.llm("anthropic").chat_sync(HAND_BUILT, tools=[WEATHER], reasoning_effort=effort)
    assert_sent_without_thinking(fake, caplog, expected)


def test_forced_tool_choice_is_allowed_once_thinking_is_off(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(
        HAND_BUILT, tools=[WEATHER], tool_choice="required", reasoning_effort="low"
    )
    assert sent(fake)["thinking"] == {"type": "disabled"}
    assert sent(fake)["tool_choice"] == {"type": "any"}


def test_always_thinking_model_refuses_an_unsigned_tool_turn(fake: FakeProviderServer) -> None:
    with LLMContext(profiles(fake, model="claude-mythos-preview")) as context:
        llm = context.llm("anthropic")
        with pytest.raises(LLMInputError, match=r"always thinks.*to_message"):
            llm.chat_sync(HAND_BUILT, tools=[WEATHER])
    assert fake.requests == []


def _redacting(exchange: Exchange) -> None:
    """The scripted reply with its thinking redacted (a Reply cannot script that)."""
    reply = exchange.scripted(Reply) or Reply("ok")
    blocks = wire_anthropic.reply_blocks(exchange, reply)
    if blocks[0]["type"] == "thinking":
        blocks[0] = {"type": "redacted_thinking", "data": "ENCRYPTED=="}
    wire_anthropic.respond(exchange, reply, blocks)


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_redacted_thinking_passes_through(stream: bool) -> None:
    route = Route(
        "POST",
        r"/v1/messages",
        "anthropic",
        "chat",
        _redacting,
        wire_anthropic.error_body,
        streams=json_stream_flag,
    )
    with FakeProviderServer(routes=(route,)) as server, LLMContext(profiles(server)) as context:
        server.script(*CHECK_OSLO)
        llm = context.llm("anthropic")
        first = ask(llm, list(OSLO), stream)
        redacted = {"type": "redacted_thinking", "data": "ENCRYPTED=="}
        assert first.reasoning is None
        assert first.provider_state == {"anthropic": {"thinking": [redacted]}}
        assert ask(llm, [*OSLO, first.to_message(), SUNNY], stream).text == "Sunny in Oslo."
        body = server.last_request.json
        assert body["messages"][1]["content"][0] == redacted
        assert not server.errors


def test_other_providers_state_is_ignored(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"))
    call = {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    assistant = {"role": "assistant", "tool_calls": [call], "provider_state": {"google": [1]}}
    ctx.llm("anthropic").chat_sync([*OSLO, assistant, SUNNY], tools=[WEATHER])
    assert sent(fake)["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}
    ]


@pytest.mark.parametrize(
    "state",
    [
        "not a dict",
        {"thinking": "not a list"},
        {"thinking": ["not a dict"]},
        {"thinking": [{"type": "thinking", "thinking": "no signature"}]},
        {"thinking": [{"type": "thinking", "thinking": "t", "signature": 7}]},
        {"thinking": [{"type": "redacted_thinking"}]},
        {"thinking": [{"type": "text", "text": "not thinking"}]},
    ],
)
def test_malformed_provider_state_is_refused_before_sending(
    ctx: LLMContext, fake: FakeProviderServer, state: Any
) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    assistant = {"role": "assistant", "tool_calls": [call], "provider_state": {"anthropic": state}}
    with pytest.raises(LLMInputError, match=r"messages\[1\]\.provider_state\['anthropic'\]"):
        ask(ctx.llm("anthropic"), [*OSLO, assistant, SUNNY], False)
    assert fake.requests == []


def test_cut_stream_raises_with_partial_text(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("Hel", "lo ", "wor", "ld"), cut_after=2, reasoning="hmm"))
    seen: list[str] = []
    with pytest.raises(LLMStreamError) as info:
        ctx.llm("anthropic").chat_stream_sync(HELLO, on_delta=seen.append)
    assert info.value.partial_text == "Hello "
    assert seen == ["Hel", "lo "]
    assert len(fake.requests) == 1


def test_async_chat_and_stream(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("one"), Reply(deltas=("t", "wo"), reasoning="think"))
    llm = ctx.llm("anthropic")

    async def main() -> tuple[str, list[str], str | None]:
        first = await llm.chat(HELLO)
        stream = llm.stream(HELLO, reasoning_effort="low")
        pieces = [d async for d in stream]
        return first.text, pieces, stream.result.reasoning

    assert asyncio.run(main()) == ("one", ["t", "wo"], "think")


# An `error` event in the middle of a 200 stream: the fake's wire has no script item for it,
# so this test server answers with text deltas and then the event (`cut_after` = when).


def _error_mid_stream(exchange: Exchange) -> None:
    reply = exchange.scripted(Reply)
    if reply is None or reply.cut_after is None or not exchange.request.stream:
        wire_anthropic.messages(exchange)
        return
    exchange.start_sse()
    message = {
        "id": "msg_err",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    exchange.send_sse({"type": "message_start", "message": message}, event="message_start")
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    exchange.send_sse(start, event="content_block_start")
    for piece in reply.text_deltas[: reply.cut_after]:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        }
        exchange.send_sse(delta, event="content_block_delta")
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    exchange.send_sse(error, event="error")
    exchange.end_sse()


@pytest.fixture
def error_fake() -> Iterator[FakeProviderServer]:
    route = Route(
        "POST",
        r"/v1/messages",
        "anthropic",
        "chat",
        _error_mid_stream,
        wire_anthropic.error_body,
        streams=lambda request: (
            isinstance(request.json, dict) and request.json.get("stream") is True
        ),
    )
    with FakeProviderServer(routes=(route, *fake_server_module.ROUTES)) as server:
        yield server
        assert not server.errors


def test_error_event_mid_stream_is_a_stream_error(error_fake: FakeProviderServer) -> None:
    context = LLMContext(profiles(error_fake))
    error_fake.script(Reply(deltas=("Hel", "lo ", "there"), cut_after=2))
    seen: list[str] = []
    with pytest.raises(LLMStreamError) as info:
        context.llm("anthropic").chat_stream_sync(HELLO, on_delta=seen.append)
    assert info.value.partial_text == "Hello " and seen == ["Hel", "lo "]
    assert isinstance(info.value.__cause__, LLMServerError)
    assert "overloaded_error" in str(info.value)
    assert len(error_fake.requests) == 1  # text had reached the caller: never retried
    context.close()


def test_error_event_before_any_text_is_retried(error_fake: FakeProviderServer) -> None:
    context = LLMContext(profiles(error_fake))
    error_fake.script(Reply(deltas=("x",), cut_after=0), Reply(deltas=("fine",)))
    assert context.llm("anthropic").chat_stream_sync(HELLO).text == "fine"
    assert len(error_fake.requests) == 2
    context.close()


# ---- errors ----------------------------------------------------------------------------------


def test_auth_error_names_no_key(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Fault(401, message=f"invalid x-api-key {KEY}"))
    with pytest.raises(LLMAuthenticationError) as info:
        ctx.llm("anthropic").chat_sync(HELLO)
    assert info.value.status_code == 401
    assert info.value.provider == "anthropic"
    assert info.value.request_id
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert len(fake.requests) == 1


def test_overloaded_529_carries_retry_after(fake: FakeProviderServer) -> None:
    context = LLMContext(profiles(fake, retry={"max_attempts": 1}))
    fake.script(Fault(529, retry_after="7"))
    with pytest.raises(LLMServerError) as info:
        context.llm("anthropic").chat_sync(HELLO)
    assert info.value.status_code == 529
    assert info.value.retry_after == 7.0
    assert fake.last_request.provider == "anthropic"
    context.close()


def test_overloaded_and_rate_limited_are_retried(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Fault(529, retry_after="0"), Fault(429, retry_after="0"), Reply("third"))
    assert ctx.llm("anthropic").chat_sync(HELLO).text == "third"
    assert len(fake.requests) == 3


def test_rate_limit_error_body_is_anthropic_shaped(fake: FakeProviderServer) -> None:
    fake.script(Fault(429, message="slow down", retry_after="2"))
    with pytest.raises(anthropic.RateLimitError) as info:
        sdk(fake).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert info.value.type == "rate_limit_error"
    assert info.value.api_message == "slow down"
    context = LLMContext(profiles(fake, retry={"max_attempts": 1}))
    fake.script(Fault(429, retry_after="2"))
    with pytest.raises(LLMRateLimitError) as ours:
        context.llm("anthropic").chat_sync(HELLO)
    assert ours.value.retry_after == 2.0
    context.close()


# ---- what Anthropic does not have, raw(), the client --------------------------------------


def test_no_embeddings_or_image_generation(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("anthropic")
    with pytest.raises(LLMUnsupportedFeatureError):
        llm.embed_sync(["x"], model="any")
    with pytest.raises(LLMUnsupportedFeatureError):
        llm.generate_image_sync("a cat", model="any")
    adapter = llm.adapter()
    with pytest.raises(LLMUnsupportedFeatureError, match="embeddings"):
        adapter.embed(EmbedRequest("any", ("x",)))
    with pytest.raises(LLMUnsupportedFeatureError, match="image generation"):
        adapter.generate_image(ImageRequest("any", "a cat"))
    assert fake.requests == []


def test_raw_sends_api_key_and_version(fake: FakeProviderServer) -> None:
    context = LLMContext(profiles(fake, headers={"x-team": "blue"}))
    reply = context.llm("anthropic").raw_sync(
        method="POST", path="/v1/messages/count_tokens", json={"model": MODEL, "messages": HELLO}
    )
    assert reply == {"input_tokens": 1}
    request = fake.last_request
    assert request.path == "/v1/messages/count_tokens"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2026-10-21"
    assert request.headers["x-team"] == "blue"
    context.close()


def test_one_sdk_client_per_profile(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("a"), Reply("b"))
    llm = ctx.llm("anthropic")
    llm.chat_sync(HELLO)
    client = llm.adapter().client
    llm.chat_sync(HELLO)
    assert llm.adapter().client is client
    assert client.max_retries == 0


def test_multi_turn_conversation_with_images(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("anthropic")
    fake.script(Reply("A red pixel."), Reply("Also an image from the web."))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You describe images."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": DATA_URL}},
            ],
        },
    ]
    first = llm.chat_sync(messages)
    messages += [
        {"role": "assistant", "content": first.text},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": "https://example.com/b.jpg"},
                {"type": "text", "text": "And this?"},
            ],
        },
    ]

    async def second_turn() -> str:
        return (await llm.chat(messages)).text

    assert asyncio.run(second_turn()) == "Also an image from the web."
    body = sent(fake)
    assert body["system"] == "You describe images."
    turns = body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": PNG_1PX,
    }
    assert turns[1]["content"] == [{"type": "text", "text": "A red pixel."}]
    assert turns[2]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/b.jpg"}},
        {"type": "text", "text": "And this?"},
    ]


# ---- the wire, read by the bare SDK with strict validation -----------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "Be nice."}],
        [{"role": "user", "content": [{"type": "text", "text": ""}]}],
        [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "  \n "}],
    ],
    ids=["system-only", "empty-text", "whitespace-only"],
)
def test_no_content_to_send_is_refused_before_sending(
    ctx: LLMContext, fake: FakeProviderServer, messages: list[dict[str, Any]]
) -> None:
    # The shared message check or, for text the API counts as none, the adapter's own.
    with pytest.raises(LLMInputError):
        ctx.llm("anthropic").chat_sync(messages)
    assert fake.requests == []


def test_whitespace_only_text_blocks_are_left_out(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("ok"))
    messages = [*HELLO, {"role": "assistant", "content": " "}, {"role": "user", "content": "Hi"}]
    ctx.llm("anthropic").chat_sync(messages)
    assert sent(fake)["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "Hi"}],
        }
    ]


@pytest.mark.parametrize(
    ("turns", "error"),
    [
        ([], "messages: at least one message is required"),
        (
            [{"role": "user", "content": [{"type": "text", "text": " "}]}],
            "messages.0.content.0: text content blocks must contain non-whitespace text",
        ),
    ],
)
def test_wire_refuses_empty_content_like_the_api(
    fake: FakeProviderServer, turns: Any, error: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk(fake).messages.create(model=MODEL, max_tokens=10, messages=turns)
    assert info.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": error},
    }


def test_chat_and_stream_report_the_same_usage(ctx: LLMContext, fake: FakeProviderServer) -> None:
    usage = UsageReply(
        input_tokens=100, output_tokens=30, reasoning_tokens=5, cached_input_tokens=40
    )
    reply = Reply("Hello there", reasoning="think", usage=usage)
    fake.script(reply, reply)
    llm = ctx.llm("anthropic")
    chat = llm.chat_sync(HELLO, reasoning_effort="low")
    stream = llm.stream_sync(HELLO, reasoning_effort="low")
    list(stream)
    expected = {
        "input_tokens": 100,
        "output_tokens": 30,
        "total_tokens": 130,
        "reasoning_tokens": 5,
        "cached_input_tokens": 40,
        "cache_write_tokens": 0,
    }
    assert chat.usage == stream.result.usage == expected


def test_wire_message_parses_strictly(fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            "Hi",
            reasoning="think",
            tool_calls=(ToolCallReply("time", {"tz": "UTC"}),),
            usage=UsageReply(input_tokens=9, cached_input_tokens=4, reasoning_tokens=2),
        )
    )
    message = sdk(fake).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 5 and message.usage.cache_read_input_tokens == 4
    assert message.usage.output_tokens_details is not None
    assert message.id.startswith("msg_") and message.content[2].id.startswith("toolu_")


def test_wire_stream_event_sequence(fake: FakeProviderServer) -> None:
    fake.script(Reply("a b", reasoning="x", tool_calls=(ToolCallReply("time", {"tz": "UTC"}),)))
    events = list(
        sdk(fake).messages.create(model=MODEL, max_tokens=10, messages=HELLO, stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert deltas == [
        "thinking_delta",
        "signature_delta",
        "text_delta",
        "text_delta",
        "input_json_delta",
        "input_json_delta",
        "input_json_delta",
    ]
    starts = [e.index for e in events if e.type == "content_block_start"]
    stops = [e.index for e in events if e.type == "content_block_stop"]
    assert starts == stops == [0, 1, 2]
    pieces = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert json.loads("".join(pieces)) == {"tz": "UTC"}


def test_wire_default_reply_echoes_the_user(fake: FakeProviderServer) -> None:
    message = sdk(fake).messages.create(
        model=MODEL,
        max_tokens=10,
        messages=[{"role": "user", "content": [{"type": "text", "text": "ping"}]}],
    )
    assert message.content[0].text == "Hello from the fake anthropic server. You said: ping"
    assert fake.last_request.provider == "anthropic"
