"""The fake provider server, driven by the real `openai` SDK over loopback HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest
import yaml

from llm_context import LLMContext
from llm_context.providers.registry import Provider
from llm_context.testing import (
    FAST_RETRY,
    EmbeddingReply,
    Exchange,
    FakeProviderServer,
    Fault,
    ImageReply,
    Reply,
    Route,
    ToolCallReply,
    UsageReply,
    example_for_schema,
)
from llm_context.testing.defaults import TINY_PNG, hash_embedding
from llm_context.testing.wire_openai import error_body

pytest_plugins = ("llm_context.testing.pytest_plugin",)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake(shared_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    shared_server.clear()
    yield shared_server
    errors = shared_server.errors
    shared_server.clear()
    assert not errors, errors


def client(fake: FakeProviderServer, *, strict: bool = True, **kw: Any) -> openai.OpenAI:
    """The real SDK; strict validation proves every answer matches the SDK's own types."""
    return openai.OpenAI(
        api_key="test",
        base_url=fake.base_url("openai"),
        max_retries=0,
        _strict_response_validation=strict,
        **kw,
    )


def stream_events(fake: FakeProviderServer, **kw: Any) -> list[Any]:
    return list(client(fake).responses.create(model="gpt-4.1-mini", input="hi", stream=True, **kw))


# ---- Responses API: non-stream ---------------------------------------------------------


def test_default_text_echoes_the_last_user_message(fake: FakeProviderServer) -> None:
    response = client(fake).responses.create(
        model="gpt-4.1-mini",
        input=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    assert response.output_text == "Hello from the fake openai server. You said: second"
    assert response.status == "completed"
    assert response.model == "gpt-4.1-mini"


def test_scripted_text_model_and_usage(fake: FakeProviderServer) -> None:
    usage = UsageReply(input_tokens=7, output_tokens=5, reasoning_tokens=2, cached_input_tokens=3)
    fake.script(Reply("Hi there", model="gpt-x", usage=usage, reasoning="because"))
    response = client(fake).responses.create(model="gpt-4.1-mini", input="hello")
    assert response.output_text == "Hi there"
    assert response.model == "gpt-x"
    assert response.output[0].type == "reasoning"
    assert response.output[0].summary[0].text == "because"
    assert response.usage is not None
    assert response.usage.input_tokens == 7
    assert response.usage.output_tokens == 5
    assert response.usage.total_tokens == 12
    assert response.usage.output_tokens_details.reasoning_tokens == 2
    assert response.usage.input_tokens_details.cached_tokens == 3


def test_derived_output_tokens_count_words(fake: FakeProviderServer) -> None:
    fake.script(Reply("one two three"))
    response = client(fake).responses.create(model="m", input="x")
    assert response.usage is not None
    assert response.usage.output_tokens == 3


def test_tool_calls_non_stream(fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            tool_calls=(
                ToolCallReply("get_weather", {"city": "Paris"}, id="call_1"),
                ToolCallReply("get_time", {"tz": "UTC"}),
            )
        )
    )
    tools: Any = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        }
    ]
    response = client(fake).responses.create(model="m", input="weather?", tools=tools)
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_fake_1_1", "get_time", {"tz": "UTC"}),
    ]
    assert response.output_text == ""
    assert response.tools[0].type == "function"


def test_finish_reason_length_is_incomplete(fake: FakeProviderServer) -> None:
    fake.script(Reply("trunc", finish_reason="length"))
    response = client(fake).responses.create(model="m", input="x", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 16


def test_json_schema_default_is_a_valid_instance(fake: FakeProviderServer) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["a", "b"]},
        },
        "required": ["name", "tags", "kind"],
        "additionalProperties": False,
    }
    text: Any = {"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}}
    response = client(fake).responses.create(model="m", input="x", text=text)
    parsed = json.loads(response.output_text)
    jsonschema.validate(parsed, schema)
    assert parsed["kind"] == "a"


def test_json_object_default(fake: FakeProviderServer) -> None:
    text: Any = {"format": {"type": "json_object"}}
    response = client(fake).responses.create(model="m", input="json please", text=text)
    assert json.loads(response.output_text)["ok"] is True


def test_reply_json_helper(fake: FakeProviderServer) -> None:
    fake.script(Reply.json({"a": [1, 2]}))
    response = client(fake).responses.create(model="m", input="x")
    assert json.loads(response.output_text) == {"a": [1, 2]}


# ---- Responses API: streaming ----------------------------------------------------------


def test_stream_event_order_and_completion(fake: FakeProviderServer) -> None:
    fake.script(Reply("Hello big world"))
    events = stream_events(fake)
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(d.delta for d in deltas) == "Hello big world"
    assert {d.item_id for d in deltas} == {"msg_fake_1"}
    final = events[-1].response
    assert final.output_text == "Hello big world"
    assert final.usage.output_tokens == 3


def test_stream_explicit_deltas(fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("He", "llo")))
    deltas = [e.delta for e in stream_events(fake) if e.type == "response.output_text.delta"]
    assert deltas == ["He", "llo"]


def test_stream_tool_call_arguments_arrive_in_fragments(fake: FakeProviderServer) -> None:
    fake.script(Reply("Let me check.", tool_calls=(ToolCallReply("lookup", {"q": "x" * 10}),)))
    events = stream_events(fake)
    fragments = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(fragments) >= 2
    assert json.loads("".join(fragments)) == {"q": "x" * 10}
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"q": "x" * 10}
    added = [e.item.type for e in events if e.type == "response.output_item.added"]
    assert added == ["message", "function_call"]
    assert events[-1].type == "response.completed"


def test_stream_reasoning_summary(fake: FakeProviderServer) -> None:
    fake.script(Reply("Answer", reasoning="Think it through"))
    events = stream_events(fake)
    summary = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(summary) == "Think it through"
    assert events[-1].response.output[0].type == "reasoning"


def test_stream_incomplete_terminal_event(fake: FakeProviderServer) -> None:
    fake.script(Reply("cut short", finish_reason="length"))
    events = stream_events(fake)
    assert events[-1].type == "response.incomplete"


def test_cut_stream_has_no_terminal_event_and_keeps_the_connection(
    fake: FakeProviderServer,
) -> None:
    fake.script(Reply("a b c d e", cut_after=2), Reply("next"))
    sdk = client(fake)
    events = list(sdk.responses.create(model="m", input="x", stream=True))
    types = [e.type for e in events]
    assert types.count("response.output_text.delta") == 2
    assert "response.completed" not in types
    assert sdk.responses.create(model="m", input="x").output_text == "next"


def test_cut_applies_to_tool_only_streams(fake: FakeProviderServer) -> None:
    fake.script(Reply.tool_call("f", {"a": 1}, cut_after=0))
    types = [e.type for e in stream_events(fake)]
    assert types == ["response.created", "response.in_progress"]


def test_stall_pauses_the_stream(fake: FakeProviderServer) -> None:
    fake.script(Reply("a b c", stall_after=1, stall_s=0.15))
    stream = client(fake).responses.create(model="m", input="x", stream=True)
    stamps = [(e.type, time.monotonic()) for e in stream]
    deltas = [t for kind, t in stamps if kind == "response.output_text.delta"]
    assert deltas[1] - deltas[0] >= 0.12
    assert stamps[-1][0] == "response.completed"


def test_stall_longer_than_the_read_timeout(fake: FakeProviderServer) -> None:
    fake.script(Reply("a b c", stall_after=1, stall_s=0.5))
    stream = client(fake, timeout=0.1).responses.create(model="m", input="x", stream=True)
    with pytest.raises(openai.APITimeoutError):
        list(stream)


def test_delay_before_answering(fake: FakeProviderServer) -> None:
    fake.script(Reply("slow", delay_s=0.1))
    started = time.monotonic()
    client(fake).responses.create(model="m", input="x")
    assert time.monotonic() - started >= 0.09


# ---- embeddings ------------------------------------------------------------------------


def test_embeddings_float(fake: FakeProviderServer) -> None:
    result = client(fake).embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 8
    assert result.data[0].embedding == hash_embedding("a")
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens == 2


def test_embeddings_default_base64_path_matches_float(fake: FakeProviderServer) -> None:
    # The SDK asks for base64 when no format is given and decodes it itself (not strictly
    # valid against its own List[float] type, hence strict=False here).
    result = client(fake, strict=False).embeddings.create(model="m", input="hello", dimensions=16)
    assert fake.last_request.json["encoding_format"] == "base64"
    assert result.data[0].embedding == hash_embedding("hello", 16)


def test_embeddings_scripted_vectors(fake: FakeProviderServer) -> None:
    fake.script(EmbeddingReply(vectors=[[1.0, 0.0]], input_tokens=42))
    result = client(fake).embeddings.create(model="m", input="x", encoding_format="float")
    assert result.data[0].embedding == [1.0, 0.0]
    assert result.usage.total_tokens == 42


def test_embeddings_reject_empty_input(fake: FakeProviderServer) -> None:
    with pytest.raises(openai.BadRequestError):
        client(fake).embeddings.create(model="m", input=[], encoding_format="float")


# ---- images ----------------------------------------------------------------------------


def test_image_generation_returns_png_base64(fake: FakeProviderServer) -> None:
    result = client(fake).images.generate(model="gpt-image-1", prompt="a cat", n=2)
    assert result.data is not None and len(result.data) == 2
    assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
    assert fake.last_request.endpoint == "images"


def test_image_generation_url_is_served_offline(fake: FakeProviderServer) -> None:
    fake.script(ImageReply(revised_prompt="a fluffy cat"))
    result = client(fake).images.generate(prompt="a cat", response_format="url")
    assert result.data is not None and result.data[0].url is not None
    assert result.data[0].revised_prompt == "a fluffy cat"
    with urllib.request.urlopen(result.data[0].url) as answer:
        assert answer.read() == TINY_PNG


def test_image_edit_multipart_is_recorded(fake: FakeProviderServer) -> None:
    fake.script(ImageReply(b64_images=["QUJD"]))
    picture = b"\x89PNG\r\n\x1a\n--binary\r\n\r\n"  # CRLFs and dashes inside the file
    result = client(fake).images.edit(
        image=("cat.png", picture, "image/png"), prompt="add a hat", n=1
    )
    assert result.data is not None and result.data[0].b64_json == "QUJD"
    form = fake.last_request.json
    assert fake.last_request.endpoint == "image_edits"
    assert form["prompt"] == "add a hat"
    assert form["n"] == "1"
    assert form["image"] == {
        "filename": "cat.png",
        "content_type": "image/png",
        "size": len(picture),
    }


# ---- faults ----------------------------------------------------------------------------


def test_rate_limit_with_retry_after(fake: FakeProviderServer) -> None:
    fake.script(Fault(429, retry_after=2, retry_after_ms="1500", message="slow down"))
    with pytest.raises(openai.RateLimitError) as caught:
        client(fake).responses.create(model="m", input="x")
    error = caught.value
    assert error.response.headers["retry-after"] == "2"
    assert error.response.headers["retry-after-ms"] == "1500"
    assert error.code == "rate_limit_exceeded"
    assert error.request_id == fake.last_request.request_id
    assert "slow down" in str(error)


def test_fault_with_custom_body_and_headers(fake: FakeProviderServer) -> None:
    fake.script(Fault(401, body={"error": {"message": "bad key"}}, headers={"x-extra": "1"}))
    with pytest.raises(openai.AuthenticationError) as caught:
        client(fake).responses.create(model="m", input="x")
    assert caught.value.response.headers["x-extra"] == "1"
    assert caught.value.body == {"message": "bad key"}


def test_server_error_body_shape(fake: FakeProviderServer) -> None:
    fake.script(Fault(503))
    with pytest.raises(openai.InternalServerError) as caught:
        client(fake).responses.create(model="m", input="x")
    assert caught.value.type == "server_error"
    assert error_body(503, "m") == {
        "error": {"message": "m", "type": "server_error", "param": None, "code": None}
    }


def test_reset_is_a_connection_error(fake: FakeProviderServer) -> None:
    fake.script(Fault(reset=True))
    with pytest.raises(openai.APIConnectionError):
        client(fake).responses.create(model="m", input="x")


def test_malformed_json_raises(fake: FakeProviderServer) -> None:
    fake.script(Fault(malformed=True))
    with pytest.raises(ValueError):  # the SDK surfaces json.JSONDecodeError as is
        client(fake).responses.create(model="m", input="x")


def test_malformed_stream_raises(fake: FakeProviderServer) -> None:
    fake.script(Fault(malformed=True))
    with pytest.raises(ValueError):
        stream_events(fake)
    assert fake.last_request.stream is True


def test_fault_applies_to_any_endpoint(fake: FakeProviderServer) -> None:
    fake.script(Fault(400, message="bad input"))
    with pytest.raises(openai.BadRequestError, match="bad input"):
        client(fake).embeddings.create(model="m", input="x", encoding_format="float")


# ---- script queue and recording --------------------------------------------------------


def test_fifo_across_endpoints(fake: FakeProviderServer) -> None:
    fake.script(Reply("one"), EmbeddingReply(vectors=[[0.5]]), Reply("three"))
    assert fake.pending == 3
    sdk = client(fake)
    assert sdk.responses.create(model="m", input="x").output_text == "one"
    embedded = sdk.embeddings.create(model="m", input="x", encoding_format="float")
    assert embedded.data[0].embedding == [0.5]
    assert sdk.responses.create(model="m", input="x").output_text == "three"
    assert (fake.pending, fake.served) == (0, 3)
    assert sdk.responses.create(model="m", input="y").output_text.startswith("Hello from")


def test_mistyped_script_item_is_a_500_that_says_so(fake: FakeProviderServer) -> None:
    fake.script(Reply("meant for chat"))
    with pytest.raises(openai.InternalServerError, match="scripted Reply cannot answer"):
        client(fake).embeddings.create(model="m", input="x", encoding_format="float")
    assert fake.pending == 0


def test_script_rejects_other_types(fake: FakeProviderServer) -> None:
    with pytest.raises(TypeError):
        fake.script("hello")  # type: ignore[arg-type]


def test_recording_headers_json_query_and_request_id(fake: FakeProviderServer) -> None:
    raw = client(fake).responses.with_raw_response.create(
        model="m",
        input="x",
        extra_headers={"X-Custom": "yes"},
        extra_query={"trace": "1"},
    )
    seen = fake.last_request
    assert (seen.method, seen.path, seen.provider, seen.endpoint) == (
        "POST",
        "/v1/responses",
        "openai",
        "chat",
    )
    assert seen.headers["authorization"] == "Bearer test"
    assert seen.headers["x-custom"] == "yes"
    assert seen.query == {"trace": "1"}
    assert seen.json == {"model": "m", "input": "x"}
    assert json.loads(seen.body) == seen.json
    assert seen.stream is False
    assert raw.headers["x-request-id"] == seen.request_id
    assert fake.requests_for("chat") == [seen]
    assert fake.requests_for("embeddings") == []


def test_clear_and_last_request(fake: FakeProviderServer) -> None:
    fake.script(Reply("x"), Reply("y"))
    with pytest.raises(openai.InternalServerError):
        client(fake).models.list()  # a Fault-only endpoint: the Reply does not fit
    fake.clear()
    assert (fake.requests, fake.pending, fake.served) == ([], 0, 0)
    with pytest.raises(LookupError):
        _ = fake.last_request


def test_models_list(fake: FakeProviderServer) -> None:
    models = client(fake).models.list()
    assert "gpt-4.1-mini" in [m.id for m in models.data]
    assert client(fake).models.retrieve("any-model").id == "any-model"


def test_unknown_path_is_404_naming_it(fake: FakeProviderServer) -> None:
    fake.script(Reply("kept"))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(fake.url + "/v1/nope")
    assert caught.value.code == 404
    body = json.loads(caught.value.read())
    assert "/v1/nope" in body["error"]["message"]
    assert fake.pending == 1  # an unrouted request consumes nothing
    assert fake.last_request.endpoint == "unknown"


def test_keep_alive_reuses_one_connection(fake: FakeProviderServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port)
    body = json.dumps({"model": "m", "input": "x", "stream": True})
    conn.request("POST", "/v1/responses", body, {"content-type": "application/json"})
    first = conn.getresponse()
    assert first.getheader("transfer-encoding") == "chunked"
    assert b"response.completed" in first.read()
    sock = conn.sock
    conn.request("GET", "/v1/models")
    assert conn.getresponse().status == 200
    assert conn.sock is sock
    conn.close()


def test_concurrent_requests_are_all_recorded(fake: FakeProviderServer) -> None:
    sdk = client(fake)

    def call(i: int) -> None:
        sdk.embeddings.create(model="m", input=f"t{i}", encoding_format="float")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.requests_for("embeddings")) == 16
    assert len({r.request_id for r in fake.requests}) == 16


# ---- addresses, profiles, plug-in routes -----------------------------------------------


def test_base_urls_and_profiles_cover_every_provider(fake: FakeProviderServer) -> None:
    profiles = fake.profiles(anthropic={"model": "claude-x"})
    assert set(profiles["profiles"]) == {p.value for p in Provider}
    assert profiles["default_profile"] == "openai"
    assert profiles["profiles"]["anthropic"]["model"] == "claude-x"
    azure = profiles["profiles"]["azure"]
    assert (azure["azure_deployment"], azure["api_version"]) == ("test-deployment", "2024-10-21")
    assert profiles["profiles"]["ollama"]["api_key"] == "test-key-ollama"
    assert fake.base_url("openai") == fake.url + "/v1"
    assert fake.base_url("anthropic") == fake.url
    with pytest.raises(ValueError):
        fake.base_url("nope")
    with pytest.raises(ValueError):
        fake.profiles(nope={})


def test_profiles_by_your_own_names(fake: FakeProviderServer) -> None:
    doc = fake.profiles("claude", claude={"provider": "anthropic"}, local={"provider": "ollama"})
    assert doc["default_profile"] == "claude"
    claude = doc["profiles"]["claude"]
    assert claude == doc["profiles"]["anthropic"]  # the provider's fake URL, key and model
    assert doc["profiles"]["local"]["base_url"] == fake.base_url("ollama")
    fake.script(Reply("Bonjour"))
    with LLMContext(doc) as ctx:
        assert ctx.llm().complete_sync("Hello").text == "Bonjour"
    assert fake.last_request.provider == "anthropic"
    assert "test-key-anthropic" in " ".join(fake.last_request.headers.values())


def test_profiles_overrides_and_provider_members(fake: FakeProviderServer) -> None:
    doc = fake.profiles(
        anthropic={"model": "claude-x"},
        haiku={"provider": Provider.ANTHROPIC, "model": "claude-haiku-4-5"},
        openai={"provider": "google"},  # a provider-named profile may use another provider
    )
    profiles = doc["profiles"]
    assert profiles["anthropic"]["model"] == "claude-x"
    assert (profiles["haiku"]["provider"], profiles["haiku"]["model"]) == (
        "anthropic",
        "claude-haiku-4-5",
    )
    assert (profiles["openai"]["provider"], profiles["openai"]["base_url"]) == (
        "google",
        fake.base_url("google"),
    )
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc  # plain data: writes as a profiles.yaml


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"claude": {}}, ValueError, "'claude' is not a provider"),
        ({"claude": {"provider": "anthropics"}}, ValueError, "'anthropics' is not a provider"),
        ({"claude": "anthropic"}, TypeError, "as a mapping"),
        ({"default_profile": "claude"}, ValueError, "default_profile 'claude'"),
    ],
)
def test_profiles_mistakes_are_named(
    fake: FakeProviderServer, kwargs: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        fake.profiles(**kwargs)


def test_profiles_retry_at_once_unless_asked_not_to(fake: FakeProviderServer) -> None:
    fast = fake.profiles(openai={"retry": {"max_attempts": 5}})["profiles"]
    assert fast["openai"]["retry"] == {"max_attempts": 5}  # your own retry settings win
    assert fast["google"]["retry"] == FAST_RETRY
    slow = fake.profiles(fast_retries=False)["profiles"]
    assert all("retry" not in profile for profile in slow.values())
    with LLMContext(fake.profiles()) as ctx:
        retry = ctx.profiles.get("openai").retry
    assert (retry.initial_backoff_s, retry.max_backoff_s) == (0.001, 0.001)


def test_env_points_profiles_without_url_or_key_here(
    fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fake.env()
    assert env["OPENAI_BASE_URL"] == fake.base_url("openai")
    assert env["ANTHROPIC_BASE_URL"] == fake.base_url("anthropic")
    assert env["ANTHROPIC_API_KEY"] == "test-key-anthropic"
    assert env["AZURE_OPENAI_DEPLOYMENT"] == "test-deployment"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bare = {
        "default_profile": "claude",
        "profiles": {
            "claude": {"provider": "anthropic", "model": "claude-sonnet-4-6"},
            "gemini": {"provider": "google", "model": "gemini-2.5-flash"},
            "local": {"provider": "ollama", "model": "llama3.2"},
        },
    }
    fake.script(Reply("one"), Reply("two"), Reply("three"))
    with LLMContext(bare) as ctx:
        texts = [ctx.llm(name).complete_sync("Hi").text for name in ("claude", "gemini", "local")]
    assert texts == ["one", "two", "three"]
    assert [r.provider for r in fake.requests] == ["anthropic", "google", "ollama"]


def test_mounted_providers_share_routes_but_are_recorded_apart(fake: FakeProviderServer) -> None:
    sdk = openai.OpenAI(api_key="k", base_url=fake.base_url("openrouter"), max_retries=0)
    sdk.models.list()
    seen = fake.last_request
    assert (seen.provider, seen.path) == ("openrouter", "/openrouter/v1/models")


def test_a_wire_module_plugs_in_with_routes() -> None:
    def echo(exchange: Exchange) -> None:
        reply = exchange.scripted(Reply) or Reply(f"default for {exchange.params['name']}")
        if exchange.request.stream:
            exchange.start_sse()
            for delta in exchange.paced_deltas(reply):
                exchange.send_sse({"text": delta})
            exchange.send_sse("[DONE]")
            exchange.end_sse()
        else:
            exchange.send_json({"text": reply.full_text})

    def crash(exchange: Exchange) -> None:
        exchange.start_sse()
        exchange.send_sse("buffered, never sent")
        raise RuntimeError("boom")

    def err(status: int, message: str) -> Any:
        return {"oops": message}

    routes = (
        Route(
            "POST",
            r"/echo/(?P<name>\w+)",
            "custom",
            "chat",
            echo,
            err,
            streams=lambda r: r.query.get("stream") == "1",
        ),
        Route("GET", r"/crash", "custom", "chat", crash, err),
    )
    with FakeProviderServer(routes=routes) as fake:
        conn = http.client.HTTPConnection("127.0.0.1", fake.port)
        conn.request("POST", "/echo/bob", b"{}")
        assert json.loads(conn.getresponse().read()) == {"text": "default for bob"}
        fake.script(Reply("a b c", cut_after=2), Fault(418, message="teapot"))
        conn.request("POST", "/echo/bob?stream=1", b"{}")
        streamed = conn.getresponse().read().decode()
        assert streamed.count("data: ") == 2 and "[DONE]" not in streamed
        conn.request("POST", "/echo/bob", b"{}")
        answer = conn.getresponse()
        assert (answer.status, json.loads(answer.read())) == (418, {"oops": "teapot"})
        conn.request("GET", "/crash")
        crashed = conn.getresponse()
        assert crashed.status == 500 and b"handler crashed" in crashed.read()
        assert "boom" in fake.errors[0]


def test_record_limit_keeps_the_newest() -> None:
    with FakeProviderServer(record_limit=2) as fake:
        sdk = client(fake)
        for _ in range(3):
            sdk.models.list()
        assert [r.request_id for r in fake.requests] == ["req_fake_2", "req_fake_3"]


def test_pytest_plugin_fixture(fake_llm: FakeProviderServer) -> None:
    assert fake_llm.url.startswith("http://127.0.0.1:")
    assert client(fake_llm).models.list().data


def test_importing_the_package_pulls_in_neither_pytest_nor_sdks() -> None:
    code = (
        "import sys, llm_context.testing; "
        "bad = {'pytest', 'openai', 'anthropic', 'google.genai'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- example_for_schema ----------------------------------------------------------------

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "integer", "minimum": 5, "maximum": 9},
    {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.25},
    {"type": "integer", "exclusiveMaximum": -3},
    {"type": "boolean"},
    {"type": "null"},
    {"type": ["null", "string"]},
    {"enum": ["red", "green"]},
    {"const": 42},
    {"type": "string", "minLength": 12, "format": "email"},
    {"type": "string", "format": "date-time"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3},
    {"type": "array", "items": {"type": "string"}, "maxItems": 0},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]},
    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"oneOf": [{"type": "object", "properties": {"a": {"const": 1}}, "required": ["a"]}]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    {
        "type": "object",
        "properties": {
            "user": {"$ref": "#/$defs/User"},
            "status": {"type": "string", "enum": ["ok", "fail"]},
            "scores": {"type": "array", "items": {"type": "number", "minimum": 1}},
        },
        "required": ["user", "status", "scores"],
        "additionalProperties": False,
        "$defs": {
            "User": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer", "minimum": 0},
                    "email": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]},
                },
                "required": ["name", "age", "email"],
                "additionalProperties": False,
            }
        },
    },
    {
        "$ref": "#/definitions/Node",
        "definitions": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
                    "parent": {"$ref": "#/definitions/Node"},
                },
                "required": ["value", "children"],
            }
        },
    },
    {"type": "object", "required": ["anything"]},
    {"type": "object", "properties": {"x": {"type": "integer", "default": 3}}},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: json.dumps(s)[:40])
def test_example_for_schema_validates(schema: dict[str, Any]) -> None:
    instance = example_for_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_example_for_schema_is_readable() -> None:
    example = example_for_schema(SCHEMAS[17])
    assert example["user"] == {"name": "example", "age": 0, "email": "user@example.com"}
    assert example["scores"] == [1]
    assert example_for_schema(SCHEMAS[18]) == {"value": 0, "children": []}


def test_example_for_schema_rejects_the_impossible() -> None:
    with pytest.raises(ValueError):
        example_for_schema(False)
    with pytest.raises(ValueError):
        example_for_schema({"$ref": "https://example.com/schema.json"})


def test_static_asset_does_not_take_scripted_items() -> None:
    import urllib.request

    with FakeProviderServer() as fake:
        fake.script(Reply("for the chat call"))
        with urllib.request.urlopen(f"{fake.url}/fake/image.png") as response:
            assert response.read().startswith(b"\x89PNG")
        assert fake.pending == 1
