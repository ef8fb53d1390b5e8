"""Google Gemini: what reaches the wire, and what comes back.

Everything goes through the real `google-genai` SDK over HTTP to the fake server (which
checks turn order, function names, thought signatures and thinking config like the real
API does). Image URLs are fetched from the fake server's `/fake-assets/` route, on 127.0.0.1:
profiles that fetch them opt in with `extras.allow_private_image_urls`.
"""

from __future__ import annotations

import asyncio
import base64
import math
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from google.genai import types

from llm_context import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMClient,
    LLMConfigError,
    LLMContext,
    LLMInputError,
    LLMRateLimitError,
    LLMServerError,
    LLMStreamError,
    LLMUnsupportedFeatureError,
)
from llm_context.providers.google.fetch import MAX_IMAGE_BYTES, ImageFetcher
from llm_context.providers.google.ids import split_call_id
from llm_context.providers.google.reply import parse_response
from llm_context.testing import (
    EmbeddingReply,
    FakeProviderServer,
    Fault,
    ImageReply,
    Reply,
    ToolCallReply,
    UsageReply,
)
from llm_context.testing.defaults import IMAGE_ASSET_PATH, TINY_PNG, TINY_PNG_B64, hash_embedding
from llm_context.testing.wire_google import SIGNATURE_PREFIX

from .conftest import FAST_RETRY, GOOGLE_SPLITS_STREAM_ON, make_context

KEY = "test-key-google"
HELLO = [{"role": "user", "content": "Hello"}]
GEMINI_3 = "gemini-3-flash-preview"
PNG_DATA_URL = f"data:image/png;base64,{TINY_PNG_B64}"
WEATHER = {
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
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}


@pytest.fixture
def llm(ctx: LLMContext) -> LLMClient:
    return ctx.llm("google")


def opted_in(fake: FakeProviderServer, allow: object = True) -> LLMContext:
    """A context whose google profile may fetch images from the fake server (127.0.0.1)."""
    return make_context(fake, extras={"allow_private_image_urls": allow})


@pytest.fixture
def fetching(fake: FakeProviderServer) -> Iterator[LLMClient]:
    context = opted_in(fake)
    yield context.llm("google")
    context.close()


def image_turn(url: str, text: str = "Describe") -> dict[str, Any]:
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": url}]
    return {"role": "user", "content": content}


def asset_paths(fake: FakeProviderServer) -> list[str]:
    return [r.path for r in fake.requests_for("asset")]


def chat_bodies(fake: FakeProviderServer) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests_for("chat", "google")]


def last_chat(fake: FakeProviderServer) -> dict[str, Any]:
    bodies = chat_bodies(fake)
    assert bodies, "no generateContent request was sent"
    return bodies[-1]


def gen_config(fake: FakeProviderServer) -> dict[str, Any]:
    config: dict[str, Any] = last_chat(fake).get("generationConfig", {})
    return config


def b64bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "==")


def inline(part: dict[str, Any]) -> tuple[str, bytes]:
    blob = part["inlineData"]
    return blob.get("mimeType") or blob["mime_type"], b64bytes(blob["data"])


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/cat.png"


# ---- client and transport --------------------------------------------------------------


def test_key_goes_in_header_never_in_url(llm: LLMClient, fake: FakeProviderServer) -> None:
    llm.chat_sync(HELLO)
    request = fake.last_request
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert "key" not in request.query
    assert KEY not in request.path and KEY not in str(request.query)


def test_stream_uses_sse_endpoint(llm: LLMClient, fake: FakeProviderServer) -> None:
    llm.chat_stream_sync(HELLO)
    request = fake.last_request
    assert request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.query == {"alt": "sse"}
    assert request.headers["x-goog-api-key"] == KEY


@pytest.mark.xfail(
    bool(GOOGLE_SPLITS_STREAM_ON),
    reason="google-genai 2.x splits stream lines with str.splitlines()",
    strict=True,
)
def test_stream_text_with_unicode_line_separators(llm: LLMClient, fake: FakeProviderServer) -> None:
    text = "a\u2028b\x85c\u2029d"
    fake.script(Reply(deltas=(text,)))
    assert "".join(llm.stream_sync(HELLO)) == text


@pytest.mark.parametrize("env_name", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_key_from_either_environment_variable(
    fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, env_name: str
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv(env_name, f"env-key-{env_name}")
    context = LLMContext(fake.profiles(google={"api_key": None, "retry": FAST_RETRY}))
    try:
        context.llm("google").chat_sync(HELLO)
    finally:
        context.close()
    assert fake.last_request.headers["x-goog-api-key"] == f"env-key-{env_name}"


def test_vertex_and_sdk_environment_settings_are_ignored(
    fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_GENAI_USE_ENTERPRISE", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "some-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1")
    monkeypatch.setenv("GOOGLE_GENAI_CLIENT_MODE", "replay")
    context = LLMContext(fake.profiles(google={"retry": FAST_RETRY}))
    try:
        assert context.llm("google").chat_sync(HELLO).text.startswith("Hello from the fake")
    finally:
        context.close()
    assert fake.last_request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert fake.last_request.headers["x-goog-api-key"] == KEY


def test_base_url_with_api_version_is_accepted(fake: FakeProviderServer) -> None:
    context = LLMContext(fake.profiles(google={"base_url": f"{fake.url}/v1beta/"}))
    try:
        llm = context.llm("google")
        llm.chat_sync(HELLO)
        assert fake.last_request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        llm.raw_sync(path="/models")
        assert fake.last_request.path == "/v1beta/models"
    finally:
        context.close()


def test_sdk_does_not_retry(fake: FakeProviderServer) -> None:
    context = LLMContext(fake.profiles(google={"retry": {"max_attempts": 1}}))
    fake.script(Fault(503), Reply("never"))
    try:
        with pytest.raises(LLMServerError):
            context.llm("google").chat_sync(HELLO)
    finally:
        context.close()
    assert len(fake.requests) == 1


def test_timeouts_reach_the_sdk_in_milliseconds(fake: FakeProviderServer, llm: LLMClient) -> None:
    llm.chat_sync(HELLO)  # the profile's 60 s
    assert fake.last_request.headers["x-server-timeout"] == "60"
    llm.chat_sync(HELLO, timeout=4.2)
    assert fake.last_request.headers["x-server-timeout"] == str(math.ceil(4.2))


def test_extra_body_is_merged_into_the_request(llm: LLMClient, fake: FakeProviderServer) -> None:
    llm.chat_sync(HELLO, temperature=0.3, extra_body={"generationConfig": {"seed": 7}})
    assert gen_config(fake)["seed"] == 7
    assert gen_config(fake)["temperature"] == 0.3


# ---- request shape ---------------------------------------------------------------------


CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": "Answer in English."},
    {"role": "user", "content": "First question."},
    {"role": "user", "content": [{"type": "text", "text": "And a second part."}]},
    {"role": "assistant", "content": "An answer."},
    {"role": "user", "content": "Thanks."},
]


def check_conversation(body: dict[str, Any]) -> None:
    system = body["systemInstruction"]["parts"]
    assert [p["text"] for p in system] == ["Be brief.", "Answer in English."]
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["text"] for p in contents[0]["parts"]] == ["First question.", "And a second part."]
    assert contents[1]["parts"] == [{"text": "An answer."}]
    assert "Be brief." not in str(contents)


def test_system_roles_and_merged_turns(llm: LLMClient, fake: FakeProviderServer) -> None:
    llm.chat_sync(CONVERSATION, max_output_tokens=50, temperature=0.5, top_p=0.9, stop=["END"])
    check_conversation(last_chat(fake))
    config = gen_config(fake)
    assert config["maxOutputTokens"] == 50
    assert config["temperature"] == 0.5
    assert config["topP"] == 0.9
    assert config["stopSequences"] == ["END"]


def test_system_roles_and_merged_turns_async(llm: LLMClient, fake: FakeProviderServer) -> None:
    async def main() -> None:
        await llm.chat(CONVERSATION)
        check_conversation(last_chat(fake))
        pieces = [d async for d in llm.stream(CONVERSATION)]
        assert "".join(pieces).startswith("Hello from the fake google server")
        check_conversation(last_chat(fake))

    asyncio.run(main())


def test_only_system_text_is_refused(llm: LLMClient, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMInputError):
        llm.chat_sync([{"role": "system", "content": "Be brief."}])
    assert fake.requests == []


def test_data_url_image_goes_inline(llm: LLMClient, fake: FakeProviderServer) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
    ]
    llm.chat_sync([{"role": "user", "content": content}])
    parts = last_chat(fake)["contents"][0]["parts"]
    assert parts[0] == {"text": "What is this?"}
    assert inline(parts[1]) == ("image/png", TINY_PNG)


def test_http_image_is_fetched_and_sent_inline(
    fetching: LLMClient, fake: FakeProviderServer
) -> None:
    url = f"{fake.url}/fake-assets/cat.png"
    content = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": url}]
    fetching.chat_sync([{"role": "user", "content": content}])
    fetches = fake.requests_for("asset")
    assert [r.path for r in fetches] == ["/fake-assets/cat.png"]
    assert "x-goog-api-key" not in fetches[0].headers  # the key goes to Google only
    parts = last_chat(fake)["contents"][0]["parts"]
    assert inline(parts[1]) == ("image/png", TINY_PNG)
    assert url not in fake.last_request.body.decode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("page.html", "not an image"),
        (f"size-{MAX_IMAGE_BYTES + 1}.png", "larger than 20 MB"),
        (f"stream-{MAX_IMAGE_BYTES + 1}.png", "larger than 20 MB"),
    ],
)
def test_bad_image_url_fails_before_any_model_call(
    fetching: LLMClient, fake: FakeProviderServer, name: str, expected: str
) -> None:
    url = f"{fake.url}/fake-assets/{name}?token=SECRET-TOKEN"
    content = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": url}]
    with pytest.raises(LLMInputError) as info:
        fetching.chat_sync([{"role": "user", "content": content}])
    assert expected in str(info.value)
    assert "SECRET-TOKEN" not in str(info.value)
    assert chat_bodies(fake) == []


def test_image_url_errors_fail_before_any_model_call(
    fetching: LLMClient, fake: FakeProviderServer
) -> None:
    fake.script(Fault(404))
    content = [{"type": "image_url", "image_url": f"{fake.url}/fake-assets/gone.png"}]
    with pytest.raises(LLMInputError, match="HTTP 404"):
        fetching.chat_sync([{"role": "user", "content": content}])
    refused = refused_url()
    with pytest.raises(LLMInputError, match="could not fetch"):
        fetching.chat_sync(
            [{"role": "user", "content": [{"type": "image_url", "image_url": refused}]}]
        )
    assert chat_bodies(fake) == []


def test_retried_call_fetches_the_image_once(fetching: LLMClient, fake: FakeProviderServer) -> None:
    # IMAGE_ASSET_PATH consumes no scripted item: the faults are for generateContent.
    fake.script(Fault(503, retry_after="0"), Fault(503, retry_after="0"), Reply("a"))
    assert fetching.chat_sync([image_turn(fake.url + IMAGE_ASSET_PATH)]).text == "a"
    assert len(chat_bodies(fake)) == 3
    assert asset_paths(fake) == [IMAGE_ASSET_PATH]
    assert all(inline(b["contents"][0]["parts"][1])[1] == TINY_PNG for b in chat_bodies(fake))


def test_later_turns_reuse_the_fetched_image(fetching: LLMClient, fake: FakeProviderServer) -> None:
    url = f"{fake.url}/fake-assets/cat.png"
    messages = [image_turn(url)]
    fetching.chat_sync(messages)
    messages += [{"role": "assistant", "content": "A cat."}, image_turn(url, "And now?")]
    fetching.chat_sync(messages)
    assert asset_paths(fake) == ["/fake-assets/cat.png"]
    contents = last_chat(fake)["contents"]
    assert inline(contents[0]["parts"][1]) == inline(contents[2]["parts"][1])


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "10.1.2.3",
        "169.254.169.254",
        "224.0.0.1",
    ],
)
def test_non_public_image_hosts_are_refused_by_default(
    llm: LLMClient, fake: FakeProviderServer, host: str
) -> None:
    url = f"http://{host}:{fake.port}/fake-assets/cat.png"
    with pytest.raises(LLMInputError, match=r"extras\.allow_private_image_urls") as info:
        llm.chat_sync([image_turn(url)])
    assert "non-public address" in str(info.value)
    assert fake.requests == []  # nothing fetched, nothing sent to the model


def test_redirect_to_a_private_address_is_refused(fake: FakeProviderServer) -> None:
    # 127.0.0.1 is allowed, 0.0.0.0 (which reaches the same server on Linux) is not.
    context = opted_in(fake, ["127.0.0.1/32"])
    hop = f"http://0.0.0.0:{fake.port}/fake-assets/cat.png"
    url = f"{fake.url}/fake-assets/redirect?to={hop}"
    with pytest.raises(LLMInputError, match=r"extras\.allow_private_image_urls") as info:
        context.llm("google").chat_sync([image_turn(url)])
    assert "0.0.0.0" in str(info.value)
    assert asset_paths(fake) == ["/fake-assets/redirect"]
    assert chat_bodies(fake) == []
    context.close()


def test_redirects_are_followed_and_bounded(fetching: LLMClient, fake: FakeProviderServer) -> None:
    hop = f"http://0.0.0.0:{fake.port}/fake-assets/dog.png"
    fetching.chat_sync([image_turn(f"{fake.url}/fake-assets/redirect?to={hop}")])
    assert asset_paths(fake) == ["/fake-assets/redirect", "/fake-assets/dog.png"]
    assert inline(last_chat(fake)["contents"][0]["parts"][1]) == ("image/png", TINY_PNG)
    fake.clear()
    with pytest.raises(LLMInputError, match="more than 5 redirects"):
        fetching.chat_sync([image_turn(f"{fake.url}/fake-assets/redirect")])  # to itself
    assert asset_paths(fake) == ["/fake-assets/redirect"] * 6
    assert chat_bodies(fake) == []


def test_allowed_networks_and_host_header(fake: FakeProviderServer) -> None:
    context = opted_in(fake, ["127.0.0.0/8", "::1"])
    url = f"http://localhost:{fake.port}/fake-assets/cat.png"
    context.llm("google").chat_sync([image_turn(url)])
    (fetch,) = fake.requests_for("asset")
    assert fetch.headers["host"] == f"localhost:{fake.port}"  # connected to the checked address
    context.close()


@pytest.mark.parametrize("value", ["yes please", 3, ["not-a-network"]])
def test_bad_allow_private_setting_is_a_config_error(
    fake: FakeProviderServer, value: object
) -> None:
    context = opted_in(fake, value)
    with pytest.raises(LLMConfigError, match="allow_private_image_urls"):
        context.llm("google").chat_sync(HELLO)
    context.close()


def test_image_cache_is_bounded(fake: FakeProviderServer) -> None:
    fetcher = ImageFetcher(allow_private=True, cache_entries=2, cache_bytes=300)
    urls = [f"{fake.url}/fake-assets/size-{n}.png" for n in (100, 101, 102, 250)]
    for url in urls[:3]:
        fetcher.fetch(url)
    fetcher.fetch(urls[2])  # cached
    fetcher.fetch(urls[0])  # evicted by count: fetched again
    fetcher.fetch(urls[3])  # 250 + 100 bytes > 300: evicts everything else
    fetcher.fetch(urls[2])
    fetcher.close()
    assert asset_paths(fake) == [
        f"/fake-assets/size-{n}.png" for n in (100, 101, 102, 100, 250, 102)
    ]


def test_tools_use_parameters_json_schema(llm: LLMClient, fake: FakeProviderServer) -> None:
    schema = {
        "type": "object",
        "properties": {"place": {"$ref": "#/$defs/Place"}},
        "required": ["place"],
        "additionalProperties": False,
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
    tool = {"name": "lookup", "description": "Find a place", "parameters": schema}
    llm.chat_sync(HELLO, tools=[tool, WEATHER])
    (declarations,) = [t["functionDeclarations"] for t in last_chat(fake)["tools"]]
    first = declarations[0]
    assert first["name"] == "lookup" and first["description"] == "Find a place"
    assert (first.get("parametersJsonSchema") or first["parameters_json_schema"]) == schema
    assert "parameters" not in first
    assert declarations[1]["name"] == "get_weather"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_time", {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_modes(
    llm: LLMClient, fake: FakeProviderServer, choice: Any, expected: dict[str, Any]
) -> None:
    llm.chat_sync(HELLO, tools=[WEATHER, TIME], tool_choice=choice)
    assert last_chat(fake)["toolConfig"]["functionCallingConfig"] == expected


def test_parallel_tool_calls_false_is_unsupported(llm: LLMClient, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMUnsupportedFeatureError, match="parallel_tool_calls"):
        llm.chat_sync(HELLO, tools=[WEATHER], parallel_tool_calls=False)
    assert fake.requests == []


def budget(tokens: int) -> dict[str, Any]:
    return {"thinkingbudget": tokens, "includethoughts": True}


def level(name: str) -> dict[str, Any]:
    return {"thinkinglevel": name, "includethoughts": True}


def thinking(fake: FakeProviderServer) -> dict[str, Any]:
    config = gen_config(fake)["thinkingConfig"]
    return {k.replace("_", "").lower(): v for k, v in config.items()}


@pytest.mark.parametrize(
    ("model", "effort", "max_tokens", "expected"),
    [
        ("gemini-2.5-flash", "high", None, budget(16384)),
        ("gemini-2.5-flash", "high", 2000, budget(1000)),  # half of max_output_tokens
        ("gemini-2.5-flash-lite", "low", 600, budget(512)),  # but never below the minimum
        ("gemini-2.5-flash", "none", None, {"thinkingbudget": 0, "includethoughts": False}),
        ("gemini-2.5-flash-lite", "minimal", None, budget(512)),
        ("gemini-2.5-pro", "none", None, budget(128)),  # Pro cannot switch thinking off
        ("gemini-2.5-pro", "max", None, budget(32768)),
        (GEMINI_3, "low", None, level("LOW")),
        (GEMINI_3, "none", None, level("MINIMAL")),
        ("gemini-3-pro-preview", "medium", None, level("HIGH")),
        ("gemini-3-pro-preview", "minimal", None, level("LOW")),
    ],
)
def test_thinking_config_per_family(
    llm: LLMClient,
    fake: FakeProviderServer,
    model: str,
    effort: str,
    max_tokens: int | None,
    expected: dict[str, Any],
) -> None:
    llm.chat_sync(HELLO, model=model, reasoning_effort=effort, max_output_tokens=max_tokens)
    assert thinking(fake) == expected
    assert fake.last_request.path == f"/v1beta/models/{model}:generateContent"


def test_no_thinking_config_without_effort(llm: LLMClient, fake: FakeProviderServer) -> None:
    llm.chat_sync(HELLO)
    assert "thinkingConfig" not in gen_config(fake)


def test_models_that_cannot_think_refuse_effort(llm: LLMClient, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMUnsupportedFeatureError):
        llm.chat_sync(HELLO, model="gemini-2.0-flash", reasoning_effort="low")
    assert fake.requests == []


def test_json_schema_output(llm: LLMClient, fake: FakeProviderServer) -> None:
    schema = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}},
        "required": ["item"],
        "additionalProperties": False,
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            }
        },
    }
    result = llm.chat_sync(HELLO, output_format="json_schema", json_schema=schema)
    config = gen_config(fake)
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert "responseSchema" not in config
    assert set(result.parsed["item"]) == {"name"}


def test_json_object_output_sets_mime_type_only(llm: LLMClient, fake: FakeProviderServer) -> None:
    result = llm.chat_sync(HELLO, output_format="json_object")
    config = gen_config(fake)
    assert config["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in config
    assert isinstance(result.parsed, dict)


# ---- tool round trips ------------------------------------------------------------------


def assistant_turn(result: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": result.text or None,
        "tool_calls": [c.to_message_dict() for c in result.tool_calls],
    }


def test_tool_round_trip_maps_results_back_by_name(
    llm: LLMClient, fake: FakeProviderServer
) -> None:
    fake.script(
        Reply(
            tool_calls=(
                ToolCallReply("get_weather", {"city": "Oslo"}),
                ToolCallReply("get_time", {}),
            )
        ),
        Reply("Sunny, and it is noon."),
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time?"}]
    first = llm.chat_sync(messages, tools=[WEATHER, TIME])
    assert first.finish_reason == "tool_calls"
    weather, clock = first.tool_calls
    assert (weather.name, weather.arguments) == ("get_weather", {"city": "Oslo"})
    assert clock.name == "get_time"
    assert weather.id != clock.id
    # Stable: the same reply always yields the same ids.
    assert parse_response(first.raw).tool_calls == first.tool_calls
    messages.append(assistant_turn(first))
    # Results in the other order: Gemini matches them by name.
    messages.append({"role": "tool", "tool_call_id": clock.id, "content": "12:00"})
    messages.append({"role": "tool", "tool_call_id": weather.id, "content": '{"sky": "sunny"}'})
    second = llm.chat_sync(messages, tools=[WEATHER, TIME])
    assert second.text == "Sunny, and it is noon."
    contents = last_chat(fake)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    calls = [p["functionCall"] for p in contents[1]["parts"]]
    assert [(c["name"], c["args"]) for c in calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_time", {}),
    ]
    assert all("id" not in c for c in calls)  # minted ids never reach Google
    answers = [p["functionResponse"] for p in contents[2]["parts"]]  # ONE user turn
    assert answers == [
        {"name": "get_time", "response": {"result": "12:00"}},
        {"name": "get_weather", "response": {"sky": "sunny"}},
    ]


def test_api_call_ids_are_kept_and_sent_back(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Reply.tool_call("get_weather", {"city": "Lima"}, id="fc-api-7"), Reply("Warm."))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather?"}]
    first = llm.chat_sync(messages, tools=[WEATHER])
    (call,) = first.tool_calls
    assert split_call_id(call.id)[0] == "fc-api-7"
    messages += [assistant_turn(first), {"role": "tool", "tool_call_id": call.id, "content": "25C"}]
    llm.chat_sync(messages, tools=[WEATHER])
    contents = last_chat(fake)["contents"]
    assert contents[1]["parts"][0]["functionCall"]["id"] == "fc-api-7"
    assert contents[2]["parts"][0]["functionResponse"] == {
        "id": "fc-api-7",
        "name": "get_weather",
        "response": {"result": "25C"},
    }


def test_gemini_3_thought_signature_round_trip(llm: LLMClient, fake: FakeProviderServer) -> None:
    model = GEMINI_3
    fake.script(Reply.tool_call("get_weather", {"city": "Rome"}), Reply("Mild."))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather?"}]
    first = llm.chat_sync(messages, model=model, tools=[WEATHER])
    (call,) = first.tool_calls
    signature = split_call_id(call.id)[1]
    assert signature is not None and signature.startswith(SIGNATURE_PREFIX)
    messages += [assistant_turn(first), {"role": "tool", "tool_call_id": call.id, "content": "20C"}]
    assert llm.chat_sync(messages, model=model, tools=[WEATHER]).text == "Mild."
    part = last_chat(fake)["contents"][1]["parts"][0]
    assert b64bytes(part["thoughtSignature"]) == signature


def test_gemini_3_history_without_signatures_is_accepted(
    llm: LLMClient, fake: FakeProviderServer
) -> None:
    # A conversation started on another provider: its call ids carry no signature.
    messages = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "cold"},
    ]
    fake.script(Reply("Cold."))
    assert llm.chat_sync(messages, model=GEMINI_3, tools=[WEATHER]).text == "Cold."
    part = last_chat(fake)["contents"][1]["parts"][0]
    assert b64bytes(part["thoughtSignature"]) == b"skip_thought_signature_validator"
    assert part["functionCall"]["id"] == "call_abc"


def test_fake_rejects_gemini_3_calls_without_signature(
    llm: LLMClient, fake: FakeProviderServer
) -> None:
    """The control for the two tests above: the fake does check signatures."""
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {}}}]},
        ]
    }
    with pytest.raises(LLMBadRequestError, match="thought_signature"):
        llm.raw_sync(method="POST", path=f"/models/{GEMINI_3}:generateContent", json=body)


# ---- replies ---------------------------------------------------------------------------


def test_reply_text_reasoning_and_usage(llm: LLMClient, fake: FakeProviderServer) -> None:
    usage = UsageReply(input_tokens=11, output_tokens=9, reasoning_tokens=4, cached_input_tokens=3)
    fake.script(Reply("The answer.", reasoning="Think first.", usage=usage))
    result = llm.chat_sync(HELLO, reasoning_effort="low")
    assert result.text == "The answer."
    assert result.reasoning == "Think first."
    assert result.usage == {
        "input_tokens": 11,
        "output_tokens": 9,  # candidates 5 + thoughts 4, as OpenAI counts reasoning
        "total_tokens": 20,
        "reasoning_tokens": 4,
        "cached_input_tokens": 3,
    }
    assert result.model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply("cut", finish_reason="length"), "length"),
        (Reply("", finish_reason="content_filter"), "content_filter"),
        (Reply("done"), "stop"),
        (Reply.tool_call("get_weather", {"city": "Oslo"}), "tool_calls"),
    ],
)
def test_finish_reasons(
    llm: LLMClient, fake: FakeProviderServer, reply: Reply, expected: str
) -> None:
    fake.script(reply, reply)
    assert llm.chat_sync(HELLO, tools=[WEATHER]).finish_reason == expected
    assert llm.chat_stream_sync(HELLO, tools=[WEATHER]).finish_reason == expected


BLOCKED = {
    "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
    "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    "modelVersion": "gemini-2.5-flash",
}


def test_blocked_prompt_is_a_content_filter_result(
    llm: LLMClient, fake: FakeProviderServer
) -> None:
    fake.script(Fault(200, body=BLOCKED), Fault(200, body=BLOCKED))
    result = llm.chat_sync(HELLO)
    assert (result.text, result.finish_reason) == ("", "content_filter")
    assert result.usage["input_tokens"] == 8
    streamed = llm.chat_stream_sync(HELLO)
    assert (streamed.text, streamed.finish_reason) == ("", "content_filter")


def test_malformed_function_call_finish(llm: LLMClient, fake: FakeProviderServer) -> None:
    body = {"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}]}
    fake.script(Fault(200, body=body))
    assert llm.chat_sync(HELLO, tools=[WEATHER]).finish_reason == "error"


# ---- streaming -------------------------------------------------------------------------


def test_stream_keeps_thoughts_out_of_text(llm: LLMClient, fake: FakeProviderServer) -> None:
    usage = UsageReply(input_tokens=5, output_tokens=7, reasoning_tokens=3)
    fake.script(Reply(deltas=("Par", "is."), reasoning="The capital is Paris.", usage=usage))
    seen: list[str] = []
    result = llm.chat_stream_sync(HELLO, reasoning_effort="medium", on_delta=seen.append)
    assert seen == ["Par", "is."]
    assert result.text == "Paris."
    assert result.reasoning == "The capital is Paris."
    assert result.usage["output_tokens"] == 7 and result.usage["reasoning_tokens"] == 3
    assert result.finish_reason == "stop"


def test_stream_tool_calls_arrive_whole(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(
        Reply(
            "Checking.",
            tool_calls=(
                ToolCallReply("get_weather", {"city": "Oslo"}),
                ToolCallReply("get_time", {}, id="fc-2"),
            ),
        )
    )
    events = list(llm.adapter().stream(llm.runtime.plan(HELLO, tools=[WEATHER, TIME]).request))
    deltas = [e for e in events if type(e).__name__ == "ToolCallChunk"]
    assert [(d.index, d.name, d.arguments) for d in deltas] == [
        (0, "get_weather", '{"city": "Oslo"}'),
        (1, "get_time", "{}"),
    ]
    assert type(events[-1]).__name__ == "StreamEnd"
    assert events[-1].finish_reason == "tool_calls"
    assert split_call_id(deltas[1].id or "")[0] == "fc-2"


def test_stream_async(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("a", "b")))

    async def main() -> tuple[list[str], Any]:
        seen: list[str] = []
        result = await llm.chat_stream(HELLO, on_delta=seen.append)
        return seen, result

    seen, result = asyncio.run(main())
    assert seen == ["a", "b"] and result.text == "ab"


def test_cut_stream_raises(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("one ", "two ", "three"), cut_after=2))
    with pytest.raises(LLMStreamError) as info:
        llm.chat_stream_sync(HELLO)
    assert info.value.partial_text == "one two "


def test_stream_cut_before_output_is_retried(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("x",), cut_after=0), Reply(deltas=("ok",)))
    assert llm.chat_stream_sync(HELLO).text == "ok"
    assert len(chat_bodies(fake)) == 2


# ---- errors ----------------------------------------------------------------------------


@pytest.fixture
def once(fake: FakeProviderServer) -> Iterator[LLMClient]:
    context = LLMContext(fake.profiles(google={"retry": {"max_attempts": 1}}))
    yield context.llm("google")
    context.close()


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_with_retry_after_header(
    once: LLMClient, fake: FakeProviderServer, stream: bool
) -> None:
    fake.script(Fault(429, retry_after="3"))
    with pytest.raises(LLMRateLimitError) as info:
        (once.chat_stream_sync if stream else once.chat_sync)(HELLO)
    assert info.value.retry_after == 3.0
    assert info.value.status_code == 429 and info.value.provider == "google"


def test_rate_limit_with_google_retry_info(once: LLMClient, fake: FakeProviderServer) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
        }
    }
    fake.script(Fault(429, body=body))
    with pytest.raises(LLMRateLimitError) as info:
        once.chat_sync(HELLO)
    assert info.value.retry_after == 37.0
    assert "Resource has been exhausted" in str(info.value)


def test_bad_request_and_forbidden(once: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Fault(400, message="* GenerateContentRequest.contents: bad"))
    with pytest.raises(LLMBadRequestError, match="contents: bad") as bad:
        once.chat_sync(HELLO)
    assert bad.value.status_code == 400
    fake.script(Fault(403, message=f"API key not valid: {KEY}. Please pass a valid API key."))
    with pytest.raises(LLMAuthenticationError) as denied:
        once.chat_sync(HELLO)
    assert denied.value.status_code == 403
    assert KEY not in str(denied.value)


def test_google_error_body_reaches_the_message(once: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Fault(404, message="models/nope is not found for API version v1beta"))
    with pytest.raises(LLMBadRequestError, match="models/nope is not found"):
        once.chat_sync(HELLO, model="nope")
    assert fake.last_request.path == "/v1beta/models/nope:generateContent"


def test_malformed_replies_are_server_errors(once: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Fault(200, malformed=True), Fault(200, malformed=True))
    with pytest.raises(LLMServerError, match="could not be read"):
        once.chat_sync(HELLO)
    with pytest.raises(LLMServerError, match="could not be read"):
        once.chat_stream_sync(HELLO)


# ---- embeddings ------------------------------------------------------------------------


def test_embeddings_batched_in_order_with_dimensions(
    llm: LLMClient, fake: FakeProviderServer
) -> None:
    texts = [f"text number {i}" for i in range(205)]
    result = llm.embed_sync(texts, dimensions=16)
    assert result.vectors == [hash_embedding(t, 16) for t in texts]
    batches = fake.requests_for("embeddings")
    assert [r.path for r in batches] == [
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    ] * 3
    assert [len(r.json["requests"]) for r in batches] == [100, 100, 5]
    first = batches[0].json["requests"][0]
    assert first["outputDimensionality"] == 16
    assert first["content"]["parts"] == [{"text": "text number 0"}]
    # google-genai 2.x (the newest on Python 3.10) drops the reply's usageMetadata.
    sdk_reads_usage = "usage_metadata" in types.EmbedContentResponse.model_fields
    assert result.usage["input_tokens"] == (3 * 205 if sdk_reads_usage else 0)
    assert all(r.headers["x-goog-api-key"] == KEY for r in batches)


def test_embeddings_multimodal_model_one_vector_per_text(
    llm: LLMClient, fake: FakeProviderServer
) -> None:
    # The SDK would merge bare strings into one content for this model: one vector for all.
    texts = ["alpha", "beta", "gamma"]
    result = llm.embed_sync(texts, model="gemini-embedding-2")
    assert result.vectors == [hash_embedding(t) for t in texts]
    assert len(fake.last_request.json["requests"]) == 3


def test_embeddings_scripted_and_async(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(EmbeddingReply(vectors=[[1.0, 0.0], [0.0, 1.0]]))
    result = asyncio.run(llm.embed(["a", "b"]))
    assert result.vectors == [[1.0, 0.0], [0.0, 1.0]]


# ---- images ----------------------------------------------------------------------------


def test_imagen_generation_via_predict(llm: LLMClient, fake: FakeProviderServer) -> None:
    result = llm.generate_image_sync(
        "a lighthouse", model="imagen-4.0-generate-001", n=2, size="1792x1008"
    )
    assert [img.to_bytes() for img in result] == [TINY_PNG, TINY_PNG]
    request = fake.last_request
    assert request.path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert request.headers["x-goog-api-key"] == KEY
    assert request.json == {
        "instances": [{"prompt": "a lighthouse"}],
        "parameters": {"sampleCount": 2, "aspectRatio": "16:9"},
    }


def test_imagen_filtered_and_edit(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Fault(200, body={"predictions": [{"raiFilteredReason": "people are blocked"}]}))
    with pytest.raises(LLMBadRequestError, match="people are blocked"):
        llm.generate_image_sync("a crowd", model="imagen-4.0-generate-001")
    fake.clear()
    with pytest.raises(LLMUnsupportedFeatureError):
        llm.generate_image_sync("a hat", model="imagen-4.0-generate-001", input_images=[TINY_PNG])
    assert fake.requests == []


def test_gemini_image_generation(llm: LLMClient, fake: FakeProviderServer) -> None:
    other = base64.b64encode(TINY_PNG + b"x").decode()
    fake.script(ImageReply(b64_images=[TINY_PNG_B64]), ImageReply(b64_images=[other]))
    result = llm.generate_image_sync("a fox", n=2, size="1024x1024", quality="high")
    assert [img.b64_json for img in result] == [TINY_PNG_B64, other]
    assert result.usage["output_tokens"] == 2 * 1290
    requests = chat_bodies(fake)
    assert len(requests) == 2
    assert fake.last_request.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    config = requests[0]["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
    assert requests[0]["contents"] == [{"role": "user", "parts": [{"text": "a fox"}]}]


def test_gemini_image_edit_sends_images_inline(llm: LLMClient, fake: FakeProviderServer) -> None:
    async def main() -> Any:
        return await llm.generate_image("add a hat", input_images=[TINY_PNG, PNG_DATA_URL])

    result = asyncio.run(main())
    assert result.first.to_bytes() == TINY_PNG
    parts = last_chat(fake)["contents"][0]["parts"]
    assert parts[0] == {"text": "add a hat"}
    assert [inline(p) for p in parts[1:]] == [("image/png", TINY_PNG)] * 2


def test_image_options_are_checked(llm: LLMClient, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMInputError, match="aspect ratio"):
        llm.generate_image_sync("x", size="1000x333")
    with pytest.raises(LLMInputError, match="quality"):
        llm.generate_image_sync("x", quality="ultra")
    assert fake.requests == []


def test_image_reply_without_image(llm: LLMClient, fake: FakeProviderServer) -> None:
    fake.script(Reply("I cannot draw that.", finish_reason="content_filter"))
    with pytest.raises(LLMBadRequestError, match="without an image"):
        llm.generate_image_sync("x")


# ---- raw -------------------------------------------------------------------------------


def test_raw_uses_versioned_base_and_key_header(llm: LLMClient, fake: FakeProviderServer) -> None:
    models = llm.raw_sync(path="/models")
    assert "models/gemini-2.5-flash" in [m["name"] for m in models["models"]]
    request = fake.last_request
    assert request.path == "/v1beta/models"
    assert request.headers["x-goog-api-key"] == KEY
    assert "key" not in request.query
    assert llm.raw_sync(path="models/gemini-2.5-pro")["name"] == "models/gemini-2.5-pro"


# ---- a whole conversation --------------------------------------------------------------


def test_multi_turn_conversation_with_images_and_tools(
    fetching: LLMClient, fake: FakeProviderServer
) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a travel assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Where is this, and what is the weather there?"},
                {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
            ],
        },
    ]
    call = ToolCallReply("get_weather", {"city": "Oslo"})
    fake.script(Reply("It looks like Oslo.", tool_calls=(call,)))
    first = fetching.chat_sync(messages, tools=[WEATHER])
    assert first.text == "It looks like Oslo." and first.finish_reason == "tool_calls"
    messages.append(assistant_turn(first))
    call_id = first.tool_calls[0].id
    messages.append({"role": "tool", "tool_call_id": call_id, "content": "-3C, snow"})
    fake.script(Reply(deltas=("Oslo: ", "-3C ", "and snow.")))
    second = fetching.chat_stream_sync(messages, tools=[WEATHER])
    assert second.text == "Oslo: -3C and snow."
    messages.append({"role": "assistant", "content": second.text})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this one?"},
                {"type": "image_url", "image_url": f"{fake.url}/fake-assets/second.png"},
            ],
        }
    )
    other_png = base64.b64encode(TINY_PNG + b"2").decode()
    fake.script(ImageReply(b64_images=[other_png]), Reply("That is Bergen."))
    third = fetching.chat_sync(messages, tools=[WEATHER])
    assert third.text == "That is Bergen."
    body = last_chat(fake)
    assert body["systemInstruction"]["parts"] == [{"text": "You are a travel assistant."}]
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert inline(contents[0]["parts"][1]) == ("image/png", TINY_PNG)
    assert contents[1]["parts"][0] == {"text": "It looks like Oslo."}
    assert contents[1]["parts"][1]["functionCall"]["name"] == "get_weather"
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"result": "-3C, snow"}}}
    ]
    assert contents[3]["parts"] == [{"text": "Oslo: -3C and snow."}]
    assert contents[4]["parts"][0] == {"text": "And this one?"}
    assert inline(contents[4]["parts"][1]) == ("image/png", TINY_PNG + b"2")
