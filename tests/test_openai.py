"""OpenAI specifics: what reaches the Responses API wire, embeddings batching, images."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from llm_context import LLMContext, LLMUnsupportedFeatureError
from llm_context.streams.events import TextDelta
from llm_context.testing import FakeProviderServer, Reply, UsageReply

PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
HELLO = [{"role": "user", "content": "Hello"}]


def sent(fake: FakeProviderServer) -> dict[str, Any]:
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


def test_messages_map_to_input_items(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"))
    ctx.llm("openai").chat_sync(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Use metric units."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG_1PX}", "detail": "low"},
                    },
                ],
            },
            {"role": "assistant", "content": "Seen."},
            {"role": "user", "content": "And?"},
        ]
    )
    items = sent(fake)["input"]
    assert items[0] == {"role": "system", "content": "Be terse."}
    assert items[1] == {"role": "developer", "content": "Use metric units."}
    assert items[2]["content"] == [
        {"type": "input_text", "text": "Look:"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_1PX}", "detail": "low"},
    ]
    assert items[3] == {"role": "assistant", "content": "Seen."}
    assert fake.last_request.headers["authorization"] == "Bearer test-key-openai"


def test_options_reach_the_wire(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"), Reply("ok"))
    llm = ctx.llm("openai")
    llm.chat_sync(HELLO, max_output_tokens=321, temperature=0.3, top_p=0.9)
    body = sent(fake)
    assert body["max_output_tokens"] == 321
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert "reasoning" not in body
    llm.chat_sync(HELLO, model="o4-mini", reasoning_effort="max")
    body = sent(fake)
    assert body["model"] == "o4-mini"
    assert body["reasoning"]["effort"] == "xhigh"  # the API's highest


def test_tools_and_round_trip_items(ctx: LLMContext, fake: FakeProviderServer) -> None:
    tool = {
        "name": "lookup",
        "description": "Find a thing",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        "strict": True,
    }
    fake.script(Reply("ok"))
    ctx.llm("openai").chat_sync(
        [
            {"role": "user", "content": "find x"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
        tools=[tool],
        tool_choice="lookup",
        parallel_tool_calls=False,
    )
    body = sent(fake)
    (spec,) = body["tools"]
    assert spec["strict"] is True
    assert spec["parameters"]["additionalProperties"] is False  # strict transform applied
    assert spec["parameters"]["required"] == ["q"]
    assert body["tool_choice"] == {"type": "function", "name": "lookup"}
    assert body["parallel_tool_calls"] is False
    assert body["input"][1] == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": '{"q":"x"}',
    }
    assert body["input"][2] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "found",
    }


def test_json_schema_is_strict_on_the_wire(ctx: LLMContext, fake: FakeProviderServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    ctx.llm("openai").chat_sync(
        HELLO, output_format="json_schema", json_schema=schema, schema_name="thing"
    )
    fmt = sent(fake)["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "thing" and fmt["strict"] is True
    assert fmt["schema"]["required"] == ["a"]
    assert fmt["schema"]["additionalProperties"] is False
    ctx.llm("openai").chat_sync(HELLO, output_format="json_object")
    assert sent(fake)["text"]["format"] == {"type": "json_object"}


def test_reasoning_and_cached_usage(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            "answer",
            reasoning="step by step",
            usage=UsageReply(
                input_tokens=50, output_tokens=30, reasoning_tokens=20, cached_input_tokens=40
            ),
        )
    )
    result = ctx.llm("openai").chat_sync(HELLO, model="o4-mini", reasoning_effort="low")
    assert result.text == "answer"
    assert result.reasoning == "step by step"
    assert result.usage == {
        "input_tokens": 50,
        "output_tokens": 30,
        "total_tokens": 80,
        "reasoning_tokens": 20,
        "cached_input_tokens": 40,
        "cache_write_tokens": 0,
    }


def test_streamed_reasoning_stays_out_of_text(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("4", "2"), reasoning="thinking..."))
    seen: list[str] = []
    result = ctx.llm("openai").chat_stream_sync(
        HELLO, on_delta=seen.append, model="o4-mini", reasoning_effort="low"
    )
    assert seen == ["4", "2"]
    assert result.reasoning == "thinking..."


def test_model_level_gaps(
    ctx: LLMContext, fake: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm = ctx.llm("openai")
    with pytest.raises(LLMUnsupportedFeatureError, match="temperature"):
        llm.chat_sync(HELLO, model="o3", temperature=0.5)
    with pytest.raises(LLMUnsupportedFeatureError, match="stop sequences"):
        llm.chat_sync(HELLO, stop=["END"])
    assert fake.requests == []
    fake.script(Reply("ok"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        llm.chat_sync(HELLO, model="o3", temperature=0.5, fail_on_unsupported=False)
    assert "temperature" not in sent(fake)
    assert "drop" in caplog.text


def test_embeddings_batch_over_the_limit_in_order(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    texts = [f"text {i}" for i in range(2050)]
    result = ctx.llm("openai").embed_sync(texts, dimensions=4)
    batches = fake.requests_for("embeddings")
    assert [len(r.json["input"]) for r in batches] == [2048, 2]
    assert len(result) == 2050 and all(len(v) == 4 for v in result)
    again = ctx.llm("openai").embed_sync(["text 2049", "text 0"], dimensions=4)
    assert again[0] == result[2049] and again[1] == result[0]
    assert batches[0].json["dimensions"] == 4


def test_image_generate_and_edit(ctx: LLMContext, fake: FakeProviderServer, tmp_path: Any) -> None:
    llm = ctx.llm("openai")
    result = llm.generate_image_sync("a fox", n=2, size="1024x1024")
    assert len(result) == 2
    body = sent(fake)
    assert body["prompt"] == "a fox" and body["n"] == 2 and body["model"] == "gpt-image-1"
    out = result.first.save(tmp_path / "fox.png")
    assert out.read_bytes().startswith(b"\x89PNG")
    source = tmp_path / "in.png"
    source.write_bytes(base64.b64decode(PNG_1PX))
    llm.generate_image_sync("add a hat", input_images=[source])
    edit = fake.last_request
    assert edit.path.endswith("/images/edits")
    assert edit.json["prompt"] == "add a hat"
    assert "in.png" in edit.body.decode("latin-1")


def test_one_sdk_client_per_profile(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("a"), Reply("b"))
    llm = ctx.llm("openai")
    llm.chat_sync(HELLO)
    adapter = llm.adapter()
    assert ctx.llm("openai") is llm
    ctx.llm("openai").chat_sync(HELLO)
    assert llm.adapter() is adapter
    changed = ctx.llm("openai", model="gpt-4.1")
    assert changed is not llm and changed.profile.model == "gpt-4.1"


def test_stream_parser_refusal_and_error_codes() -> None:
    """Pure-function checks of events the fake does not send: refusals and error codes."""
    from types import SimpleNamespace as NS

    from llm_context import LLMBadRequestError, LLMRateLimitError
    from llm_context.providers.openai.responses_reply import parse_event

    refusal = NS(type="refusal", refusal="I can't help with that.")
    response = NS(
        status="completed",
        output=[NS(type="message", content=[refusal])],
        usage=None,
        model="gpt-4.1-mini",
    )
    events = [NS(type="response.refusal.delta", delta="I can't help with that.")]
    events.append(NS(type="response.completed", response=response))
    parsed = [e for event in events for e in parse_event(event)]
    assert parsed[0] == TextDelta("I can't help with that.")
    assert parsed[-1].finish_reason == "content_filter"  # type: ignore[union-attr]
    with pytest.raises(LLMRateLimitError) as info:
        list(parse_event(NS(type="error", code="rate_limit_exceeded", message="slow down")))
    assert info.value.status_code == 429
    with pytest.raises(LLMBadRequestError):
        list(parse_event(NS(type="error", code="invalid_prompt", message="no")))
