"""The client and context: results, raw HTTP (through `responses`), config errors, secrets."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import pickle
import subprocess
import sys
from typing import Any

import pytest
import responses

from llm_context import (
    ChatResult,
    LLMAuthenticationError,
    LLMConfigError,
    LLMContext,
    LLMInputError,
    LLMRateLimitError,
    LLMUnsupportedFeatureError,
    Provider,
)
from llm_context.testing import FakeProviderServer, Reply
from llm_context.testing.defaults import TINY_PNG

HELLO = [{"role": "user", "content": "Hello"}]
SECRET = "sk-proj-SUPERSECRETKEY1234567890abcdef"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_chat_result_is_a_real_two_tuple() -> None:
    result = ChatResult("hi", {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3})
    text, usage = result
    assert (text, usage) == ("hi", result.usage) and len(result) == 2
    assert isinstance(result, tuple) and result == ("hi", usage)
    with pytest.raises(AttributeError):
        result.text = "other"  # type: ignore[misc]
    assert result.replace(text="bye").text == "bye"
    assert pickle.loads(pickle.dumps(result)) == result


def test_import_loads_no_provider_sdk() -> None:
    """Nor an optional extra (redis, tqdm, opentelemetry) or what only the bulk runner needs
    (sqlite3)."""
    code = (
        "import sys, llm_context\n"
        "bad = [m for m in ('openai', 'anthropic', 'google.genai', 'requests', 'httpx2', "
        "'redis', 'tqdm', 'sqlite3', 'opentelemetry') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_sync_stack_loads_no_asyncio_tenacity_or_yaml() -> None:
    # asyncio (with ssl), tenacity and yaml cost ~50 ms of import: only their users pay it.
    code = (
        "import sys\n"
        "from llm_context import LLMContext, context\n"
        "ctx = LLMContext({'profiles': {'p': {'provider': 'openai', 'model': 'gpt-4.1-nano'}}})\n"
        "ctx.llm('p')\n"
        "print(','.join(m for m in ('asyncio', 'ssl', 'tenacity', 'yaml', 'difflib') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_runtime_profile_and_overrides(fake: FakeProviderServer) -> None:
    ctx = LLMContext({"profiles": {}})
    llm = ctx.llm(
        "mine",
        provider=Provider.OPENAI,
        model="gpt-4.1-nano",
        base_url=fake.base_url("openai"),
        api_key="k1",
    )
    fake.script(Reply("hello"))
    assert llm.chat_sync(HELLO).text == "hello"
    assert fake.last_request.json["model"] == "gpt-4.1-nano"
    rotated = ctx.llm_set_key("openai", "gpt-4.1-nano", "k2", profile="mine")
    fake.script(Reply("again"))
    rotated.chat_sync(HELLO)
    assert fake.last_request.headers["authorization"] == "Bearer k2"


def test_config_errors_are_clear() -> None:
    ctx = LLMContext({"profiles": {}})
    with pytest.raises(LLMConfigError, match="unknown provider 'gpt'"):
        ctx.llm("x", provider="gpt", model="m")
    with pytest.raises(LLMConfigError, match="no_such"):
        ctx.llm("no_such")


def test_missing_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    ctx = LLMContext({"profiles": {"c": {"provider": "anthropic", "model": "claude-x"}}})
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY"):
        ctx.llm("c").chat_sync(HELLO)


def test_missing_model_for_local_provider() -> None:
    ctx = LLMContext({"profiles": {"local": {"provider": "ollama"}}})
    with pytest.raises(LLMConfigError, match="model"):
        ctx.llm("local").chat_sync(HELLO)


def test_key_never_in_repr_or_errors(fake: FakeProviderServer) -> None:
    from llm_context.testing import Fault

    ctx = LLMContext(
        {
            "profiles": {
                "p": {
                    "provider": "openai",
                    "base_url": fake.base_url("openai"),
                    "api_key": SECRET,
                    "retry": {"max_attempts": 1},
                }
            }
        }
    )
    llm = ctx.llm("p")
    assert SECRET not in repr(llm) and SECRET not in repr(llm.profile)
    assert SECRET not in repr(ctx)
    fake.script(Fault(401, message=f"Incorrect API key provided: {SECRET}"))
    with pytest.raises(LLMAuthenticationError) as info:
        llm.chat_sync(HELLO)
    assert SECRET not in str(info.value)
    for linked in (info.value.__cause__, info.value.__context__):
        assert linked is None or SECRET not in str(linked)


def test_async_calls_run_concurrently_in_the_pool(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(*[Reply(f"r{i}", delay_s=0.05) for i in range(8)])
    llm = ctx.llm("openai")

    async def main() -> list[str]:
        results = await asyncio.gather(*(llm.chat(HELLO) for _ in range(8)))
        return sorted(r.text for r in results)

    assert asyncio.run(main()) == sorted(f"r{i}" for i in range(8))


def test_sync_coroutine_callback_is_rejected(ctx: LLMContext, fake: FakeProviderServer) -> None:
    async def on_delta(delta: str) -> None:
        pass

    with pytest.raises(LLMInputError, match="await"):
        ctx.llm("openai").chat_stream_sync(HELLO, on_delta=on_delta)
    assert fake.requests == []


def test_stream_closed_early_releases_connection(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply(deltas=tuple("abcdef")), Reply("next"))
    llm = ctx.llm("openai")
    with llm.stream_sync(HELLO) as stream:
        assert next(stream) == "a"
    assert llm.chat_sync(HELLO).text == "next"


# -- raw() through `requests`, mocked with `responses` ---------------------------------------


@responses.activate
def test_raw_uses_base_url_and_auth() -> None:
    responses.add(responses.GET, "https://api.openai.com/v1/models", json={"data": [{"id": "m"}]})
    ctx = LLMContext({"profiles": {"o": {"provider": "openai", "api_key": "k-raw"}}})
    data = ctx.llm("o").raw_sync(method="GET", path="/models")
    assert data == {"data": [{"id": "m"}]}
    assert responses.calls[0].request.headers["Authorization"] == "Bearer k-raw"
    full = ctx.llm("o").raw_sync(path="models", return_response=True)
    assert full.status_code == 200


@responses.activate
def test_raw_errors_map_and_redact() -> None:
    responses.add(
        responses.POST,
        "https://api.openai.com/v1/things",
        status=429,
        headers={"Retry-After": "3"},
        json={"error": {"message": f"slow down {SECRET}"}},
    )
    ctx = LLMContext(
        {"profiles": {"o": {"provider": "openai", "api_key": SECRET, "retry": {"max_attempts": 1}}}}
    )
    with pytest.raises(LLMRateLimitError) as info:
        ctx.llm("o").raw_sync(method="POST", path="/things", json={"a": 1})
    assert info.value.retry_after == 3.0 and info.value.status_code == 429
    assert SECRET not in str(info.value)
    assert responses.calls[0].request.body == b'{"a": 1}'


def test_raw_input_errors() -> None:
    ctx = LLMContext({"profiles": {"o": {"provider": "openai", "api_key": "k"}}})
    llm = ctx.llm("o")
    bad: list[dict[str, Any]] = [
        {"path": "/a", "url": "https://x"},
        {},
        {"method": "BREW", "path": "/a"},
        {"url": "ftp://x"},
    ]
    for kwargs in bad:
        with pytest.raises(LLMInputError):
            llm.raw_sync(**kwargs)


def test_adapter_not_built_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_context.providers import registry

    spec = registry.PROVIDERS[Provider.OPENAI]
    fake_spec = dataclasses.replace(spec, adapter="llm_context.providers.nope:X")
    monkeypatch.setitem(registry.PROVIDERS, Provider.OPENAI, fake_spec)
    ctx = LLMContext({"profiles": {"o": {"provider": "openai", "api_key": "k"}}})
    with pytest.raises(LLMUnsupportedFeatureError, match="openai"):
        ctx.llm("o").chat_sync(HELLO)


def test_json_emulated_by_instruction_when_allowed(
    fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider without native JSON output: raise, or (when allowed) instruct and validate."""
    import dataclasses
    import logging

    from llm_context import Feature, LLMOutputError
    from llm_context.providers import registry

    spec = registry.PROVIDERS[Provider.OPENAI]
    no_json = spec.features - {Feature.JSON_SCHEMA, Feature.JSON_OBJECT}
    monkeypatch.setitem(
        registry.PROVIDERS, Provider.OPENAI, dataclasses.replace(spec, features=no_json)
    )
    ctx = LLMContext(fake.profiles())
    llm = ctx.llm("openai")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    with pytest.raises(LLMUnsupportedFeatureError, match="JSON schema output"):
        llm.chat_sync(HELLO, output_format="json_schema", json_schema=schema)
    assert fake.requests == []
    fake.script(Reply('```json\n{"n": 7}\n```'), Reply('{"n": "seven"}'))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        result = llm.chat_sync(
            HELLO, output_format="json_schema", json_schema=schema, fail_on_unsupported=False
        )
    assert result.parsed == {"n": 7}
    body = fake.last_request.json
    assert "text" not in body  # no native format was sent...
    assert "JSON Schema" in body["input"][0]["content"]  # ...the instruction was
    assert "instruction" in caplog.text
    with pytest.raises(LLMOutputError):  # and the reply is still validated
        llm.chat_sync(
            HELLO, output_format="json_schema", json_schema=schema, fail_on_unsupported=False
        )


@responses.activate
def test_raw_sends_the_key_only_to_the_provider() -> None:
    responses.add(responses.GET, "https://blob.example.net/img.png", body=b"PNG")
    responses.add(responses.GET, "https://api.openai.com/v1/files/x", json={"ok": True})
    responses.add(
        responses.GET,
        "https://api.openai.com/v1/moved",
        status=302,
        headers={"Location": "https://blob.example.net/img.png"},
    )
    ctx = LLMContext({"profiles": {"o": {"provider": "openai", "api_key": "k-raw"}}})
    llm = ctx.llm("o")
    assert llm.raw_sync(url="https://blob.example.net/img.png") == "PNG"
    assert "Authorization" not in responses.calls[-1].request.headers
    assert llm.raw_sync(url="https://api.openai.com/v1/files/x") == {"ok": True}
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer k-raw"
    moved = llm.raw_sync(path="/moved", return_response=True)
    assert moved.status_code == 302  # not followed: the key header would go along
    assert len(responses.calls) == 3


def test_empty_model_and_stop_are_rejected(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("openai")
    with pytest.raises(LLMInputError, match="model"):
        llm.chat_sync(HELLO, model="")
    with pytest.raises(LLMInputError, match="stop"):
        ctx.llm("anthropic").chat_sync(HELLO, stop="")
    assert fake.requests == []


def test_input_images_as_data_urls(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("openai")
    bad = {
        "data:image/png;base64,abc": "not valid base64",
        "data:image/png,%89PNG": "must look like",
        "data:text/plain;base64,aGk=": "must look like",
    }
    for url, message in bad.items():
        with pytest.raises(LLMInputError, match=rf"input_images\[1\]: .*{message}"):
            llm.generate_image_sync("edit", input_images=[TINY_PNG, url])
    assert fake.requests == []
    webp = b"RIFF\x0c\x00\x00\x00WEBPVP8 "  # the signature is what counts
    llm.generate_image_sync("edit", input_images=[f"data:image/webp;base64,{b64(webp)}"])
    [sent] = fake.requests
    image = {"filename": "image0.webp", "content_type": "image/webp", "size": len(webp)}
    assert sent.json["image[]"] == image


def test_validate_json_false_never_raises(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("not json at all"))
    result = ctx.llm("openai").chat_sync(HELLO, output_format="json_object", validate_json=False)
    assert result.text == "not json at all" and result.parsed is None


def test_unchanged_override_keeps_the_client_and_close_reaches_replaced_ones(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    first = ctx.llm("openai", model="gpt-4.1-mini")
    first.adapter()
    assert ctx.llm("openai", model="gpt-4.1-mini") is first  # nothing changed: same client
    second = ctx.llm("openai", model="gpt-4.1")
    assert second is not first
    sdk = first.adapter().client  # type: ignore[attr-defined]
    assert not sdk.is_closed()
    ctx.close()
    assert sdk.is_closed()


def test_switching_provider_drops_provider_bound_headers() -> None:
    ctx = LLMContext(
        {"profiles": {"p": {"provider": "openai", "api_key": "k", "headers": {"X-Proxy": "1"}}}}
    )
    assert ctx.llm("p").profile.headers == {"X-Proxy": "1"}
    switched = ctx.llm_set_key("anthropic", "claude-sonnet-4-6", "k2", profile="p")
    assert dict(switched.profile.headers) == {}


def test_every_public_name_resolves_lazily() -> None:
    code = (
        "import sys, llm_context\n"
        "assert 'llm_context.client' not in sys.modules\n"
        "missing = [n for n in llm_context.__all__ if getattr(llm_context, n, None) is None]\n"
        "print(missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
