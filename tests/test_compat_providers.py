"""OpenRouter, LM Studio and Ollama: what reaches the Chat Completions wire, and what comes back.

Everything goes through the real `openai` SDK over HTTP to the fake server; each provider's
profile points at its own mount (`/openrouter/v1`, `/lmstudio/v1`, `/ollama/v1`).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import openai
import pytest

from llm_context import (
    LLMBadRequestError,
    LLMConnectionError,
    LLMContext,
    LLMStreamError,
    LLMUnsupportedFeatureError,
)
from llm_context.testing import FakeProviderServer, Fault, Reply, ToolCallReply, UsageReply

from .conftest import FAST_RETRY

COMPAT = ["openrouter", "lmstudio", "ollama"]
LOCAL = ["lmstudio", "ollama"]
HELLO = [{"role": "user", "content": "Hello"}]
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER = {
    "name": "weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TIME = {"name": "time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}


def sent(fake: FakeProviderServer) -> dict[str, Any]:
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


def chat_requests(fake: FakeProviderServer, provider: str) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests_for("chat", provider)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- request shape ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", COMPAT)
def test_messages_and_options_reach_the_wire(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("ok"))
    ctx.llm(provider).chat_sync(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "Metric units."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG_1PX}", "detail": "low"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        max_output_tokens=77,
        temperature=0.2,
        top_p=0.5,
        stop=["END"],
        tools=[WEATHER],
        tool_choice="weather",
        parallel_tool_calls=False,
    )
    request = fake.last_request
    assert request.path == f"/{provider}/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer test-key-{provider}"
    body = sent(fake)
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "system", "content": "Metric units."},  # local templates know no "developer"
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG_1PX}", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert body["max_tokens"] == 77 and "max_completion_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.2, 0.5, ["END"])
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather for a city",
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert body["parallel_tool_calls"] is False
    assert "stream" not in body and "stream_options" not in body


@pytest.mark.parametrize("provider", COMPAT)
def test_strict_tool_goes_in_strict_form_and_others_unchanged(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("ok"), Reply("again"))
    tools = [{**WEATHER, "strict": True}, {**TIME, "strict": False}]
    ctx.llm(provider).chat_sync(HELLO, tools=tools)
    strict, loose = (t["function"] for t in sent(fake)["tools"])
    assert strict["strict"] is True
    assert strict["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": ["string", "null"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    assert loose == {"name": "time", "description": "", "parameters": TIME["parameters"]} | {
        "strict": False
    }
    ctx.llm(provider).chat_sync(HELLO, tools=tools)  # the same form on the next request
    assert sent(fake)["tools"][0]["function"]["parameters"] == strict["parameters"]


@pytest.mark.parametrize("provider", COMPAT)
def test_json_schema_goes_as_response_format(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fake.script(Reply.json({"n": 3}))
    result = ctx.llm(provider).chat_sync(
        HELLO, output_format="json_schema", json_schema=schema, schema_name="count"
    )
    assert result.parsed == {"n": 3}
    response_format = sent(fake)["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "count"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("openrouter", "json_object"), ("ollama", "json_object"), ("lmstudio", "json_schema")],
)
def test_json_object_output(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, kind: str
) -> None:
    # LM Studio rejects json_object (the fake does too): an open object schema goes instead.
    fake.script(Reply.json({"a": 1}))
    result = ctx.llm(provider).chat_sync(HELLO, output_format="json_object")
    assert result.parsed == {"a": 1}
    response_format = sent(fake)["response_format"]
    assert response_format["type"] == kind
    if kind == "json_schema":
        assert response_format["json_schema"]["schema"] == {"type": "object"}
        assert response_format["json_schema"]["strict"] is False


def test_lmstudio_fake_rejects_json_object(fake: FakeProviderServer) -> None:
    client = openai.OpenAI(base_url=fake.base_url("lmstudio"), api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="json_schema"):
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )


def test_openrouter_attribution_headers_and_reasoning(fake: FakeProviderServer) -> None:
    profiles = fake.profiles(
        openrouter={"extras": {"http_referer": "https://app.example", "x_title": "My App"}}
    )
    with LLMContext(profiles) as ctx:
        llm = ctx.llm("openrouter")
        llm.chat_sync(HELLO, reasoning_effort="max")
        headers = fake.last_request.headers
        assert headers["http-referer"] == "https://app.example"
        assert headers["x-title"] == "My App"
        body = sent(fake)
        assert body["reasoning"] == {"effort": "xhigh"}
        assert "reasoning_effort" not in body
        raw = llm.raw_sync(path="/models")
        assert raw["object"] == "list"
        headers = fake.last_request.headers
        assert fake.last_request.path == "/openrouter/v1/models"
        assert headers["authorization"] == "Bearer test-key-openrouter"
        assert headers["x-title"] == "My App"


@pytest.mark.parametrize(
    ("effort", "sent_effort"),
    [("minimal", "low"), ("medium", "medium"), ("max", "high"), ("none", "none")],
)
def test_ollama_reasoning_effort(
    ctx: LLMContext, fake: FakeProviderServer, effort: str, sent_effort: str
) -> None:
    ctx.llm("ollama").chat_sync(HELLO, reasoning_effort=effort)
    body = sent(fake)
    assert body["reasoning_effort"] == sent_effort
    assert "reasoning" not in body


def test_lmstudio_has_no_reasoning_effort(ctx: LLMContext, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMUnsupportedFeatureError, match="reasoning"):
        ctx.llm("lmstudio").chat_sync(HELLO, reasoning_effort="high")
    assert fake.requests == []


def test_ollama_takes_images_only_as_data_urls(ctx: LLMContext, fake: FakeProviderServer) -> None:
    remote = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        }
    ]
    with pytest.raises(LLMUnsupportedFeatureError, match="data: URL"):
        ctx.llm("ollama").chat_sync(remote)
    assert fake.requests == []
    ctx.llm("openrouter").chat_sync(remote)  # OpenRouter fetches URLs itself
    assert sent(fake)["messages"][0]["content"][0]["image_url"] == {
        "url": "https://example.com/a.png"
    }


def test_images_in_system_messages_are_refused(ctx: LLMContext, fake: FakeProviderServer) -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}}
    with pytest.raises(LLMUnsupportedFeatureError, match="system"):
        ctx.llm("openrouter").chat_sync([{"role": "system", "content": [image]}, *HELLO])
    assert fake.requests == []


# ---- replies ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", COMPAT)
def test_reply_parsing(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    usage = UsageReply(
        input_tokens=40, output_tokens=12, reasoning_tokens=5, cached_input_tokens=30
    )
    fake.script(Reply("cut sh", finish_reason="length", reasoning="thinking", usage=usage))
    result = ctx.llm(provider).chat_sync(HELLO)
    assert result.text == "cut sh"
    assert result.finish_reason == "length"
    assert result.reasoning == "thinking"
    assert result.usage == {
        "input_tokens": 40,
        "output_tokens": 12,
        "total_tokens": 52,
        "reasoning_tokens": 5,
        "cached_input_tokens": 30,
    }


@pytest.mark.parametrize("provider", COMPAT)
def test_tool_calls_come_back_normalised(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(
        Reply(
            tool_calls=(
                ToolCallReply("weather", {"city": "Oslo"}, "c1"),
                ToolCallReply("time", {"tz": "CET"}, "c2"),
            )
        )
    )
    result = ctx.llm(provider).chat_sync(HELLO, tools=[WEATHER, TIME])
    assert result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("c1", "weather", {"city": "Oslo"}),
        ("c2", "time", {"tz": "CET"}),
    ]


@pytest.mark.parametrize("provider", COMPAT)
def test_content_filter_finish(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Reply("", finish_reason="content_filter"))
    assert ctx.llm(provider).chat_sync(HELLO).finish_reason == "content_filter"


@pytest.mark.parametrize("provider", COMPAT)
def test_errors_map_with_status(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Fault(404, message="model 'nope' not found"))
    with pytest.raises(LLMBadRequestError) as info:
        ctx.llm(provider).chat_sync(HELLO, model="nope")
    assert info.value.status_code == 404 and info.value.provider == provider
    assert "not found" in str(info.value)
    assert f"test-key-{provider}" not in str(info.value)


# ---- streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", COMPAT)
def test_stream_order_usage_and_reasoning(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    usage = UsageReply(input_tokens=7, output_tokens=3, cached_input_tokens=2)
    fake.script(Reply(deltas=("Hel", "lo", " world"), reasoning="hmm, yes", usage=usage))
    stream = ctx.llm(provider).stream_sync(HELLO)
    assert list(stream) == ["Hel", "lo", " world"]
    result = stream.result
    assert result.text == "Hello world"
    assert result.reasoning == "hmm, yes"
    assert result.finish_reason == "stop"
    assert result.usage == {
        "input_tokens": 7,
        "output_tokens": 3,
        "total_tokens": 10,
        "reasoning_tokens": 0,
        "cached_input_tokens": 2,
    }
    body = sent(fake)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider", COMPAT)
def test_async_stream_and_chat(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    fake.script(Reply(deltas=("a", "b")), Reply("done"))
    llm = ctx.llm(provider)

    async def main() -> tuple[list[str], str, str]:
        stream = llm.stream(HELLO)
        pieces = [d async for d in stream]
        reply = await llm.chat(HELLO)
        return pieces, stream.result.text, reply.text

    assert asyncio.run(main()) == (["a", "b"], "ab", "done")


@pytest.mark.parametrize("provider", COMPAT)
def test_parallel_streamed_tool_calls_keep_their_index(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    # any-llm PR #970 folded every fragment into index 0: two calls must stay two calls.
    calls = (
        ToolCallReply("weather", {"city": "Oslo", "days": 3}, "call_a"),
        ToolCallReply("time", {"tz": "Europe/Oslo"}, "call_b"),
    )
    fake.script(Reply("Checking.", tool_calls=calls))
    result = ctx.llm(provider).chat_stream_sync(HELLO, tools=[WEATHER, TIME])
    assert result.text == "Checking."
    assert result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_a", "weather", {"city": "Oslo", "days": 3}),
        ("call_b", "time", {"tz": "Europe/Oslo"}),
    ]


@pytest.mark.parametrize("provider", COMPAT)
def test_stream_options_rejection_falls_back_once(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    # LiteLLM #23847: some servers refuse stream_options; ask again without it, once.
    fake.script(
        Fault(400, message="Unrecognized request argument supplied: stream_options"),
        Reply(deltas=("no ", "usage")),
    )
    result = ctx.llm(provider).chat_stream_sync(HELLO)
    assert result.text == "no usage"
    assert result.usage == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    first, second = chat_requests(fake, provider)
    assert first["stream_options"] == {"include_usage": True}
    assert "stream_options" not in second and second["stream"] is True


@pytest.mark.parametrize("provider", COMPAT)
def test_other_stream_400s_are_not_retried(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Fault(400, message="messages: too long"))
    with pytest.raises(LLMBadRequestError, match="too long"):
        ctx.llm(provider).chat_stream_sync(HELLO)
    assert len(chat_requests(fake, provider)) == 1


@pytest.mark.parametrize("provider", COMPAT)
def test_cut_stream_raises_with_partial_text(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply(deltas=("one ", "two ", "three"), cut_after=2))
    with pytest.raises(LLMStreamError) as info:
        ctx.llm(provider).chat_stream_sync(HELLO)
    assert info.value.partial_text == "one two "
    assert len(chat_requests(fake, provider)) == 1  # text reached the caller: never retried


# ---- local servers ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", LOCAL)
def test_connection_refused_names_the_local_address(provider: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    profile = {"provider": provider, "model": "m", "base_url": url, "retry": {"max_attempts": 1}}
    with (
        LLMContext({"profiles": {"local": profile}}) as ctx,
        pytest.raises(LLMConnectionError) as info,
    ):
        ctx.llm("local").chat_sync(HELLO)
    message = str(info.value)
    assert url in message and "running" in message


def test_connection_refused_on_a_remote_provider_is_plain() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1"
    profile = {
        "provider": "openrouter",
        "base_url": url,
        "api_key": "k",
        "retry": {"max_attempts": 1},
    }
    with (
        LLMContext({"profiles": {"r": profile}}) as ctx,
        pytest.raises(LLMConnectionError, match="could not reach openrouter"),
    ):
        ctx.llm("r").chat_sync(HELLO)


def test_ollama_host_bare_host_port(
    fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{fake.port}")
    profile = {"provider": "ollama", "model": "llama3.2", "retry": FAST_RETRY}
    with LLMContext({"profiles": {"local": profile}}) as ctx:
        llm = ctx.llm("local")
        assert llm.chat_sync(HELLO).text
        assert fake.last_request.path == "/v1/chat/completions"  # http://HOST:PORT/v1
        assert llm.embed_sync("x").vectors
        assert fake.last_request.path == "/v1/embeddings"
        assert sent(fake)["model"] == "nomic-embed-text"


@pytest.mark.parametrize("provider", ["openrouter", *LOCAL])
def test_image_generation_is_unsupported(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    with pytest.raises(LLMUnsupportedFeatureError, match="image generation"):
        ctx.llm(provider).generate_image_sync("a cat", model="any")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openrouter", "openai/text-embedding-3-small"),
        ("lmstudio", "text-embedding-nomic-embed-text-v1.5"),
        ("ollama", "nomic-embed-text"),
    ],
)
def test_embeddings(ctx: LLMContext, fake: FakeProviderServer, provider: str, model: str) -> None:
    result = ctx.llm(provider).embed_sync(["a", "b"], dimensions=4)
    assert [len(v) for v in result] == [4, 4]
    assert fake.last_request.path == f"/{provider}/v1/embeddings"
    assert sent(fake)["model"] == model and sent(fake)["dimensions"] == 4


def test_keyless_local_raw_sends_no_authorization(fake: FakeProviderServer) -> None:
    profile = {"provider": "lmstudio", "model": "m", "base_url": fake.base_url("lmstudio")}
    with LLMContext({"profiles": {"local": profile}}) as ctx:
        assert ctx.llm("local").raw_sync(path="/models")["object"] == "list"
    assert fake.last_request.path == "/lmstudio/v1/models"
    assert "authorization" not in fake.last_request.headers


# ---- the fake's wire, under the SDK's strict validation --------------------------------


def test_fake_chat_completions_validate_strictly(fake: FakeProviderServer) -> None:
    client = openai.OpenAI(
        base_url=fake.base_url("ollama"),
        api_key="k",
        max_retries=0,
        _strict_response_validation=True,
    )
    calls = (ToolCallReply("weather", {"city": "Oslo"}),)
    fake.script(Reply("hi", tool_calls=calls), Reply("hi there", tool_calls=calls))
    messages: Any = [{"role": "user", "content": "x"}]
    completion = client.chat.completions.create(model="m", messages=messages)
    assert completion.choices[0].message.content == "hi"
    chunks = list(
        client.chat.completions.create(
            model="m", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
