"""Azure OpenAI: deployment URLs, api-version, `api-key` / Entra ID auth, and the v1 API.

Through the real `openai.AzureOpenAI` (classic) and `openai.OpenAI` (v1) clients against
the fake server; the fake profile's endpoint is the server's root.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from llm_context import LLMBadRequestError, LLMConfigError, LLMContext, LLMUnsupportedFeatureError
from llm_context.testing import FakeProviderServer, Fault, Reply, ToolCallReply, UsageReply

from .conftest import FAST_RETRY

HELLO = [{"role": "user", "content": "Hello"}]
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
DEPLOYED = "/openai/deployments/test-deployment/chat/completions"


@pytest.fixture(autouse=True)
def _no_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The adapter falls back to these; a developer's own settings must not leak into tests.
    for name in ("AZURE_OPENAI_DEPLOYMENT", "OPENAI_API_VERSION", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def azure_context(fake: FakeProviderServer, **changes: Any) -> LLMContext:
    """A context whose `azure` profile is the fake's, with `changes` merged in."""
    return LLMContext(fake.profiles(azure={"retry": FAST_RETRY, **changes}))


@pytest.fixture
def azure(fake: FakeProviderServer) -> Iterator[LLMContext]:
    with azure_context(fake, embed_model="embed-dep", image_model="image-dep") as context:
        yield context


def sent(fake: FakeProviderServer) -> dict[str, Any]:
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


# ---- classic deployment path -----------------------------------------------------------


def test_chat_goes_to_the_deployment_with_api_version_and_key(
    azure: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("hi"))
    result = azure.llm("azure").chat_sync(
        [{"role": "developer", "content": "Be brief."}, *HELLO],
        max_output_tokens=50,
        reasoning_effort="max",
        stop=["END"],
    )
    assert result.text == "hi"
    request = fake.last_request
    assert (request.path, request.query) == (DEPLOYED, {"api-version": "2024-10-21"})
    assert request.headers["api-key"] == "test-key-azure"
    assert "authorization" not in request.headers
    body = sent(fake)
    # The seed system dropped both of these on Azure (PROVIDERS.md).
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert body["reasoning_effort"] == "xhigh"
    assert body["stop"] == ["END"]
    assert body["model"] == "test-deployment"
    assert body["messages"][0] == {"role": "developer", "content": "Be brief."}


def test_json_schema_is_native_and_strict(azure: LLMContext, fake: FakeProviderServer) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    fake.script(Reply.json({"city": "Oslo"}))
    result = azure.llm("azure").chat_sync(HELLO, output_format="json_schema", json_schema=schema)
    assert result.parsed == {"city": "Oslo"}
    response_format = sent(fake)["response_format"]
    assert response_format == {
        "type": "json_schema",
        "json_schema": {
            "name": "output",
            "schema": {
                "type": "object",
                "properties": {"city": {"type": ["string", "null"]}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def test_a_per_call_model_names_another_deployment(
    azure: LLMContext, fake: FakeProviderServer
) -> None:
    llm = azure.llm("azure")
    llm.chat_sync(HELLO, model="gpt-4.1-mini")  # the profile's own model: its deployment
    assert fake.last_request.path == DEPLOYED
    llm.chat_sync(HELLO, model="other-dep")
    assert fake.last_request.path == "/openai/deployments/other-dep/chat/completions"


def test_without_a_deployment_the_model_is_the_deployment(fake: FakeProviderServer) -> None:
    with azure_context(fake, azure_deployment=None, model="gpt-5-mini") as context:
        context.llm("azure").chat_sync(HELLO)
    assert fake.last_request.path == "/openai/deployments/gpt-5-mini/chat/completions"


def test_stream_with_usage_and_tools(azure: LLMContext, fake: FakeProviderServer) -> None:
    usage = UsageReply(input_tokens=5, output_tokens=4, reasoning_tokens=2)
    calls = (ToolCallReply("a", {"x": 1}, "c1"), ToolCallReply("b", {"y": 2}, "c2"))
    fake.script(Reply(deltas=("Work", "ing"), tool_calls=calls, usage=usage))
    tools = [{"name": "a"}, {"name": "b"}]
    stream = azure.llm("azure").stream_sync(HELLO, tools=tools)
    assert list(stream) == ["Work", "ing"]
    result = stream.result
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("c1", "a", {"x": 1}),
        ("c2", "b", {"y": 2}),
    ]
    assert result.usage["reasoning_tokens"] == 2 and result.usage["total_tokens"] == 9
    assert fake.last_request.path == DEPLOYED
    assert sent(fake)["stream_options"] == {"include_usage": True}


def test_async_chat_and_stream(azure: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("one"), Reply(deltas=("t", "wo")))
    llm = azure.llm("azure")

    async def main() -> tuple[str, list[str]]:
        reply = await llm.chat(HELLO)
        return reply.text, [d async for d in llm.stream(HELLO)]

    assert asyncio.run(main()) == ("one", ["t", "wo"])
    assert [r.path for r in fake.requests_for("chat", "azure")] == [DEPLOYED, DEPLOYED]


def test_embeddings_use_the_embed_deployment(azure: LLMContext, fake: FakeProviderServer) -> None:
    result = azure.llm("azure").embed_sync(["a", "b"])
    assert len(result) == 2
    request = fake.last_request
    assert request.path == "/openai/deployments/embed-dep/embeddings"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "test-key-azure"


def test_images_with_an_image_api_version(fake: FakeProviderServer) -> None:
    extras = {"azure_api_version": "2025-04-01-preview"}
    with azure_context(fake, image_model="image-dep", extras=extras) as context:
        llm = context.llm("azure")
        image = llm.generate_image_sync("a cat", size="1024x1024")
        assert image.first.to_bytes().startswith(b"\x89PNG")
        request = fake.last_request
        assert request.path == "/openai/deployments/image-dep/images/generations"
        assert request.query == {"api-version": "2025-04-01-preview"}
        edited = llm.generate_image_sync("a hat", input_images=[base64.b64decode(PNG_1PX)])
        assert edited.first.to_bytes().startswith(b"\x89PNG")
        assert fake.last_request.path == "/openai/deployments/image-dep/images/edits"
        assert fake.last_request.query == {"api-version": "2025-04-01-preview"}
        llm.chat_sync(HELLO)  # chat keeps the profile's api_version
        assert fake.last_request.query == {"api-version": "2024-10-21"}


def test_raw_uses_the_api_key_header_and_version(
    azure: LLMContext, fake: FakeProviderServer
) -> None:
    body = {"model": "test-deployment", "messages": HELLO}
    reply = azure.llm("azure").raw_sync(
        method="POST", path="/deployments/test-deployment/chat/completions", json=body
    )
    assert reply["object"] == "chat.completion"
    request = fake.last_request
    assert (request.path, request.query) == (DEPLOYED, {"api-version": "2024-10-21"})
    assert request.headers["api-key"] == "test-key-azure"


def test_errors_map_and_hide_the_key(azure: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Fault(404, message="The API deployment for this resource does not exist."))
    with pytest.raises(LLMBadRequestError) as info:
        azure.llm("azure").chat_sync(HELLO)
    assert (info.value.status_code, info.value.provider) == (404, "azure")
    assert "deployment" in str(info.value) and "test-key-azure" not in str(info.value)


def test_the_fake_demands_an_api_version(fake: FakeProviderServer) -> None:
    client = openai.OpenAI(base_url=f"{fake.url}/openai/deployments/d", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="api-version"):
        client.chat.completions.create(model="d", messages=[{"role": "user", "content": "x"}])


def test_endpoint_given_with_the_openai_suffix(fake: FakeProviderServer) -> None:
    with azure_context(fake, base_url=f"{fake.url}/openai/") as context:
        context.llm("azure").chat_sync(HELLO)
    assert fake.last_request.path == DEPLOYED


# ---- Entra ID --------------------------------------------------------------------------


def test_entra_id_token_replaces_the_key(fake: FakeProviderServer) -> None:
    extras = {"azure_ad_token": "entra-token"}
    with azure_context(fake, extras=extras) as context:
        context.llm("azure").chat_sync(HELLO)
    headers = fake.last_request.headers
    assert headers["authorization"] == "Bearer entra-token"
    assert "api-key" not in headers


def test_entra_id_token_provider_is_called_per_request(fake: FakeProviderServer) -> None:
    issued: list[str] = []

    def token() -> str:
        issued.append(f"tok-{len(issued)}")
        return issued[-1]

    with azure_context(fake, api_key=None, extras={"azure_ad_token_provider": token}) as context:
        llm = context.llm("azure")
        llm.chat_sync(HELLO)
        llm.chat_sync(HELLO)
    assert fake.last_request.headers["authorization"] == f"Bearer {issued[-1]}"
    assert len(issued) >= 2


def test_no_credentials_names_what_to_set(fake: FakeProviderServer) -> None:
    with (
        azure_context(fake, api_key=None) as context,
        pytest.raises(LLMConfigError, match="AZURE_OPENAI_API_KEY") as info,
    ):
        context.llm("azure").chat_sync(HELLO)
    assert "azure_ad_token" in str(info.value)
    assert fake.requests == []


# ---- the v1 API ------------------------------------------------------------------------


@pytest.fixture
def azure_v1(fake: FakeProviderServer) -> Iterator[LLMContext]:
    with azure_context(fake, api_version="v1", embed_model="embed-dep") as context:
        yield context


def test_v1_chat_uses_the_responses_api(azure_v1: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("from v1"))
    result = azure_v1.llm("azure").chat_sync(HELLO, max_output_tokens=40, reasoning_effort="low")
    assert result.text == "from v1"
    request = fake.last_request
    assert (request.path, request.query) == ("/openai/v1/responses", {})
    assert request.headers["authorization"] == "Bearer test-key-azure"
    body = sent(fake)
    assert body["model"] == "test-deployment"
    assert body["max_output_tokens"] == 40
    assert body["reasoning"]["effort"] == "low"


def test_v1_streams_and_embeds(azure_v1: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=("v", "1")))
    llm = azure_v1.llm("azure")
    stream = llm.stream_sync(HELLO)
    assert list(stream) == ["v", "1"] and stream.result.finish_reason == "stop"
    assert fake.last_request.path == "/openai/v1/responses"
    assert len(llm.embed_sync(["a"])) == 1
    assert fake.last_request.path == "/openai/v1/embeddings"
    assert sent(fake)["model"] == "embed-dep"


def test_v1_has_no_stop_sequences(azure_v1: LLMContext, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMUnsupportedFeatureError, match="stop"):
        azure_v1.llm("azure").chat_sync(HELLO, stop=["END"])
    assert fake.requests == []


def test_v1_raw_base_has_no_api_version(azure_v1: LLMContext, fake: FakeProviderServer) -> None:
    assert azure_v1.llm("azure").raw_sync(path="/models")["object"] == "list"
    request = fake.last_request
    assert (request.path, request.query) == ("/openai/v1/models", {})
    assert request.headers["api-key"] == "test-key-azure"
