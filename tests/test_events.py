"""The public event stream on every provider, through the real SDKs against the fake server:
the same scripted reply gives the same sequence of typed events on all seven, ending with the
`ChatResult` that `chat_sync` returns; text streams, `.partial` and the callbacks are views
of that one stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from llm_context import (
    ChatEvent,
    Completed,
    LLMContext,
    LLMInputError,
    LLMStreamError,
    PartialObject,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStarted,
    UsageReported,
)
from llm_context.testing import FakeProviderServer, Fault, Reply, ToolCallReply

from .conftest import built_providers

# A model of each provider that thinks, where the provider has one.
THINKING_MODELS = {"openai": "o4-mini", "azure": "o4-mini"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASK = [{"role": "user", "content": "Weather in Oslo and Bergen?"}]


def thinking_reply() -> Reply:
    return Reply(
        deltas=("Let me ", "check ", "both."),
        reasoning="Two cities, two calls.",
        tool_calls=(
            ToolCallReply("get_weather", {"city": "Oslo"}, id="call_a"),
            ToolCallReply("get_weather", {"city": "Bergen"}, id="call_b"),
        ),
    )


def options(provider: str) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "tools": [WEATHER],
        "reasoning_effort": "low",
        "fail_on_unsupported": False,  # LM Studio takes no effort: dropped, with a warning
    }
    if provider in THINKING_MODELS:
        opts["model"] = THINKING_MODELS[provider]
    return opts


def shape(events: list[ChatEvent]) -> list[str]:
    """The event kinds in order, a run of one kind counted once."""
    return [kind for kind, _ in itertools.groupby(type(e).__name__ for e in events)]


@pytest.mark.parametrize("provider", built_providers())
def test_the_same_reply_gives_the_same_events_on_every_provider(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(thinking_reply(), thinking_reply())
    llm = ctx.llm(provider)
    events = list(llm.events_sync(ASK, **options(provider)))
    body = [e for e in events if type(e) is not ReasoningDelta]
    if not any(type(e) is ReasoningDelta for e in events):
        # Only where the wire has nowhere to put thinking: LM Studio takes no effort, Azure's
        # dated (Chat Completions) API returns no reasoning.
        assert provider in ("lmstudio", "azure"), shape(events)
    assert shape(body) == [
        "TextDelta",
        # Each call: started, its arguments in pieces, done; the second after the first.
        "ToolCallStarted",
        "ToolCallDelta",
        "ToolCallDone",
        "ToolCallStarted",
        "ToolCallDelta",
        "ToolCallDone",
        "UsageReported",
        "Completed",
    ]
    if any(type(e) is ReasoningDelta for e in events):
        assert shape(events)[0] == "ReasoningDelta"
    result = events[-1].result if isinstance(events[-1], Completed) else None
    assert result is not None
    # The deltas are the result, piece by piece.
    assert "".join(e.text for e in events if type(e) is TextDelta) == result.text
    thinking = "".join(e.text for e in events if type(e) is ReasoningDelta)
    assert thinking == (result.reasoning or "")
    started = [e for e in events if type(e) is ToolCallStarted]
    done = [e.call for e in events if type(e) is ToolCallDone]
    assert [(s.id, s.name) for s in started] == [(c.id, c.name) for c in result.tool_calls]
    assert done == list(result.tool_calls)
    assert [c.arguments for c in done] == [{"city": "Oslo"}, {"city": "Bergen"}]
    for call in done:  # the deltas of a call join into its arguments
        pieces = "".join(
            e.arguments_delta for e in events if type(e) is ToolCallDelta and e.id == call.id
        )
        assert json.loads(pieces) == call.arguments
    usage = next(e.usage for e in events if type(e) is UsageReported)
    assert usage == result.usage
    # And the same reply asked for without streaming gives the same result (Gemini's call
    # ids carry the reply's own thought signature).
    chat = llm.chat_sync(ASK, **options(provider))
    assert (chat.text, chat.reasoning) == (result.text, result.reasoning)
    assert [(c.name, c.arguments) for c in chat.tool_calls] == [
        (c.name, c.arguments) for c in result.tool_calls
    ]


@pytest.mark.parametrize("provider", built_providers())
def test_json_output_streams_partial_objects_that_only_grow(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    final = {"city": "Oslo", "country": "Norway", "landmarks": ["Holmenkollen", "Opera"]}
    text = json.dumps(final)
    deltas = tuple(text[i : i + 7] for i in range(0, len(text), 7))
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "country": {"type": "string"},
            "landmarks": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "country", "landmarks"],
    }
    fake.script(Reply(deltas=deltas), Reply(deltas=deltas))
    llm = ctx.llm(provider)
    opts = {"output_format": "json_schema", "json_schema": schema}
    events = list(llm.events_sync([{"role": "user", "content": "Oslo?"}], **opts))
    partials = [e.value for e in events if type(e) is PartialObject]
    assert len(partials) > 3 and partials[-1] == final
    for before, after in itertools.pairwise(partials):
        for key, value in before.items():  # nothing shown is taken back
            assert key in after
            if isinstance(value, str):
                assert after[key].startswith(value)
    assert isinstance(events[-1], Completed) and events[-1].result.parsed == final
    # The text stream keeps the latest in `.partial`.
    stream = llm.stream_sync([{"role": "user", "content": "Oslo?"}], **opts)
    assert stream.partial is None
    first = next(stream)
    assert first == deltas[0]
    seen = [stream.partial for _ in stream]
    assert stream.partial == final == stream.result.parsed
    assert seen and all(p is None or isinstance(p, dict) for p in seen)


def test_no_partial_objects_without_json_output(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=('{"a": ', "1}")))
    events = list(ctx.llm("openai").events_sync(ASK))
    assert not any(type(e) is PartialObject for e in events)


def test_callbacks_get_text_reasoning_and_whole_tool_calls(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(thinking_reply())
    text: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    result = ctx.llm("anthropic").chat_stream_sync(
        ASK,
        on_delta=text.append,
        on_reasoning_delta=thinking.append,
        on_tool_call=calls.append,
        **options("anthropic"),
    )
    assert "".join(text) == result.text and len(text) == 3
    assert "".join(thinking) == result.reasoning == "Two cities, two calls."
    assert calls == list(result.tool_calls) and len(calls) == 2


def test_the_blocking_api_refuses_coroutine_callbacks_before_sending(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    async def on_tool_call(call: ToolCall) -> None:
        pass

    with pytest.raises(LLMInputError, match="on_tool_call is a coroutine function"):
        ctx.llm("openai").chat_stream_sync(ASK, on_tool_call=on_tool_call)
    assert fake.served == 0


def test_async_events_and_callbacks(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(thinking_reply(), thinking_reply())

    async def main() -> tuple[list[ChatEvent], list[str], list[ToolCall]]:
        llm = ctx.llm("google")
        events = [e async for e in llm.events(ASK, **options("google"))]
        thinking: list[str] = []
        calls: list[ToolCall] = []

        async def on_tool_call(call: ToolCall) -> None:
            await asyncio.sleep(0)
            calls.append(call)

        await llm.chat_stream(
            ASK, on_reasoning_delta=thinking.append, on_tool_call=on_tool_call, **options("google")
        )
        return events, thinking, calls

    events, thinking, calls = asyncio.run(main())
    assert isinstance(events[-1], Completed)
    assert [c.arguments for c in calls] == [{"city": "Oslo"}, {"city": "Bergen"}]
    assert "".join(thinking) == events[-1].result.reasoning


def test_a_failure_before_the_first_event_is_retried(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Fault(503), Reply(deltas=("fine",)))
    events = list(ctx.llm("openrouter").events_sync(ASK))
    assert [e.text for e in events if type(e) is TextDelta] == ["fine"]
    assert fake.served == 2


def test_a_stream_cut_after_events_raises_with_the_text_so_far(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply(deltas=("one ", "two ", "three"), cut_after=2))
    seen: list[ChatEvent] = []
    with pytest.raises(LLMStreamError) as info:
        for event in ctx.llm("anthropic").events_sync(ASK):
            seen.append(event)
    assert info.value.partial_text == "one two "
    assert [e.text for e in seen if type(e) is TextDelta] == ["one ", "two "]
    assert fake.served == 1  # shown events are never sent twice


def test_stopping_early_closes_and_meters_the_stream(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply(deltas=("a", "b", "c")))
    with ctx.llm("openai").events_sync(ASK) as events:
        first = next(events)
    assert first == TextDelta("a")
    assert ctx.usage().total.calls == 1
