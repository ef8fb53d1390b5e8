"""Token counts and model lists on every provider, through the real SDKs against the fake."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from llm_context import (
    LLMContext,
    LLMInputError,
    LLMRateLimitError,
    LLMServerError,
    LLMUnsupportedFeatureError,
    ModelInfo,
    TokenCount,
)
from llm_context.clock import FakeClock
from llm_context.metering import UsageRecord
from llm_context.providers.base import Feature
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, Fault
from llm_context.testing.wire_catalog import MODELS

from .conftest import PROVIDERS_BY_NAME, make_context
from .test_cli import one_line_error, profiles_file, run

__all__ = ["profiles_file"]  # a fixture, shared with the CLI tests

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "How many words are in this question?"},
]
WORDS = 9  # the fake counts whitespace-separated words of every text it is sent

EXACT = ["openai", "anthropic", "google"]
ESTIMATED = ["openrouter", "lmstudio", "ollama"]

# What each provider's default fake list reports for its first model.
FIRST_MODEL = {
    "openai": ModelInfo("gpt-4.1-mini", "openai", None, None, 1700000000),
    "azure": ModelInfo("gpt-4.1-mini", "azure", None, None, 1700000000),
    "anthropic": ModelInfo("claude-sonnet-4-6", "anthropic", 200000, 64000, 1759104000),
    "google": ModelInfo("gemini-2.5-flash", "google", 1048576, 65536, None),
    "openrouter": ModelInfo("openai/gpt-4.1-mini", "openrouter", 1047576, 32768, 1700000000),
    "lmstudio": ModelInfo("qwen2.5-7b-instruct", "lmstudio", None, None, None),
    "ollama": ModelInfo("llama3.2", "ollama", None, None, 1700000000),
}


def azure_v1(fake: FakeProviderServer) -> LLMContext:
    return LLMContext(fake.profiles(azure={"api_version": "v1"}))


# -- counting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", EXACT)
def test_exact_counts_come_from_the_provider(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    count = ctx.llm(provider).count_tokens_sync(MESSAGES)
    assert count == TokenCount(WORDS, exact=True)
    assert isinstance(count, TokenCount) and dataclasses.is_dataclass(count)
    (request,) = fake.requests
    assert request.endpoint == "count_tokens" and request.provider == provider


def test_azure_v1_counts_through_responses(fake: FakeProviderServer) -> None:
    with azure_v1(fake) as ctx:
        assert ctx.llm("azure").count_tokens_sync(MESSAGES) == TokenCount(WORDS, True)
    (request,) = fake.requests
    assert request.path == "/openai/v1/responses/input_tokens"
    assert request.json["model"] == "test-deployment"  # the profile's deployment


@pytest.mark.parametrize("provider", ["azure", *ESTIMATED])
def test_without_an_endpoint_the_count_is_an_estimate_and_nothing_is_sent(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    count = ctx.llm(provider).count_tokens_sync(MESSAGES, max_output_tokens=1000)
    assert not count.exact
    assert 0 < count.input_tokens < 100  # the reply's max_output_tokens is not input
    assert fake.requests == []


def test_the_registry_says_where_counts_are_exact() -> None:
    for name in PROVIDERS_BY_NAME:
        spec = spec_for(name)
        assert (Feature.TOKEN_COUNT in spec.features) == (name in (*EXACT, "azure"))
        assert Feature.MODEL_LIST in spec.features


def test_options_the_count_does_not_take_are_left_out(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    ctx.llm("openai").count_tokens_sync(MESSAGES, max_output_tokens=50, temperature=0.5)
    ctx.llm("anthropic").count_tokens_sync(MESSAGES, max_output_tokens=50, stop=["END"])
    openai_body, anthropic_body = (r.json for r in fake.requests)
    assert "max_output_tokens" not in openai_body and "temperature" not in openai_body
    assert "max_tokens" not in anthropic_body and "stop_sequences" not in anthropic_body
    assert anthropic_body["system"] == "Answer briefly."


def test_tools_are_counted_where_the_endpoint_takes_them(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    tool = {
        "type": "function",
        "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}},
    }
    ctx.llm("openai").count_tokens_sync(MESSAGES, tools=[tool])
    assert fake.requests[-1].json["tools"][0]["name"] == "lookup"
    # Gemini's Developer API counts contents only: with tools the count is not exact.
    assert not ctx.llm("google").count_tokens_sync(MESSAGES, tools=[tool]).exact


@pytest.mark.parametrize("provider", PROVIDERS_BY_NAME)
@pytest.mark.parametrize(
    ("messages", "opts"),
    [
        ([], {}),
        ([{"role": "wizard", "content": "hi"}], {}),
        ([{"role": "user", "content": [{"type": "nope"}]}], {}),
        (MESSAGES, {"output_format": "yaml"}),
        (MESSAGES, {"no_such_option": True}),
    ],
)
def test_bad_input_raises_as_chat_would_and_sends_nothing(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, messages: Any, opts: Any
) -> None:
    with pytest.raises((LLMInputError, LLMUnsupportedFeatureError, TypeError)):
        ctx.llm(provider).count_tokens_sync(messages, **opts)
    assert fake.requests == []


def test_counting_is_retried_and_metered(ctx: LLMContext, fake: FakeProviderServer) -> None:
    records: list[UsageRecord] = []
    ctx.meter.on_usage(records.append)
    fake.script(Fault(503))
    assert ctx.llm("anthropic").count_tokens_sync(MESSAGES).exact
    assert len(fake.requests) == 2
    (record,) = records
    assert record.operation == "count_tokens" and record.attempts == 2
    assert record.model == "claude-sonnet-4-6" and record.usage == {}


def test_a_failed_count_raises_our_error(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(*[Fault(429)] * 5)
    with pytest.raises(LLMRateLimitError):
        ctx.llm("google").count_tokens_sync(MESSAGES, retry={"max_attempts": 1})


def test_counting_takes_no_tpm_tokens(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    ctx = make_context(fake, clock=clock, rate_limit={"tpm": 10, "rpm": 100})
    for _ in range(5):  # far more than 10 tokens of text, and no wait
        ctx.llm("openai").count_tokens_sync(MESSAGES)
    stats = ctx.rate_limit_stats("openai")
    assert stats is not None and stats.requests == 5 and stats.window_tokens == 0
    assert clock.sleeps == []
    ctx.close()


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_async_count(ctx: LLMContext, fake: FakeProviderServer, provider: str) -> None:
    count = asyncio.run(ctx.llm(provider).count_tokens(MESSAGES))
    assert count == ctx.llm(provider).count_tokens_sync(MESSAGES)


def test_async_bad_input_sends_nothing(ctx: LLMContext, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMInputError):
        asyncio.run(ctx.llm("anthropic").count_tokens([]))
    assert fake.requests == []


# -- model lists -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS_BY_NAME)
def test_every_provider_lists_its_models(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    models = ctx.llm(provider).list_models_sync()
    key = "name" if provider == "google" else "id"
    assert [m.id for m in models] == [m[key] for m in MODELS[provider]]
    assert models[0] == FIRST_MODEL[provider]
    assert all(m.provider == provider for m in models)
    assert {(r.provider, r.endpoint) for r in fake.requests} == {(provider, "models")}


def test_azure_classic_lists_with_its_api_version(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    ctx.llm("azure").list_models_sync()
    (request,) = fake.requests
    assert request.path == "/openai/models" and request.query["api-version"] == "2024-10-21"


def test_azure_v1_lists_models(fake: FakeProviderServer) -> None:
    with azure_v1(fake) as ctx:
        assert ctx.llm("azure").list_models_sync()[0].id == "gpt-4.1-mini"
    assert fake.requests[0].path == "/openai/v1/models"


def test_pages_are_followed(ctx: LLMContext, fake: FakeProviderServer, monkeypatch: Any) -> None:
    # Small pages from the fake: the SDKs' iterators ask for the next until the end.
    from llm_context.testing import wire_catalog

    monkeypatch.setattr(wire_catalog, "_size", lambda raw, default: 1)
    assert len(ctx.llm("anthropic").list_models_sync()) == len(MODELS["anthropic"])
    assert len(ctx.llm("google").list_models_sync()) == len(MODELS["google"])
    assert len(fake.requests) == len(MODELS["anthropic"]) + len(MODELS["google"])


def test_listing_is_retried_metered_and_async(ctx: LLMContext, fake: FakeProviderServer) -> None:
    records: list[UsageRecord] = []
    ctx.meter.on_usage(records.append)
    fake.script(Fault(500))
    models = asyncio.run(ctx.llm("ollama").list_models())
    assert [m.id for m in models] == ["llama3.2", "nomic-embed-text"]
    (record,) = records
    assert record.operation == "models" and record.attempts == 2


def test_a_bad_retry_override_sends_nothing(ctx: LLMContext, fake: FakeProviderServer) -> None:
    with pytest.raises(LLMInputError):
        ctx.llm("openai").list_models_sync(retry={"nonsense": 1})
    assert fake.requests == []


# -- the command line ------------------------------------------------------------------------


def test_cli_models_lists_a_table(profiles_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "models", "-p", "anthropic")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["model", "context", "max", "output", "created"]
    assert lines[1].split() == ["claude-sonnet-4-6", "200000", "64000", "1759104000"]
    assert lines[3].split() == ["claude-haiku-4-5", "-", "-", "1759104000"]


def test_cli_models_json(profiles_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "models", "-p", "openrouter", "--json")
    assert status == 0
    first = json.loads(out)[0]
    assert first == dataclasses.asdict(FIRST_MODEL["openrouter"])


def test_cli_tokens_exact_and_estimated(
    profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "tokens", "-p", "google", "-s", "Be brief.", "one two three") == (
        0,
        "5\n",
        "",
    )
    status, out, _ = run(capsys, "tokens", "-p", "ollama", "one two three")
    assert status == 0 and out.startswith("~")
    status, out, _ = run(capsys, "tokens", "-p", "anthropic", "--json", "one two")
    assert json.loads(out) == {"input_tokens": 2, "exact": True}


def test_cli_tokens_errors_are_one_line(
    profiles_file: Path, fake: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "tokens", "-p", "openai", " ")
    assert status == 2 and "prompt is empty" in err
    fake.script(*[Fault(401)] * 3)
    status, _, err = run(capsys, "models", "-p", "openai")
    assert status == 4
    one_line_error(err, "LLMAuthenticationError")


# -- hostile replies -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", EXACT)
def test_a_count_reply_without_a_count_is_a_server_error(
    ctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(*[Fault(200, body={"input_tokens": "many", "totalTokens": -1})] * 3)
    with pytest.raises(LLMServerError, match="token count"):
        ctx.llm(provider).count_tokens_sync(MESSAGES, retry={"max_attempts": 1})


def test_unreadable_model_entries_are_skipped_and_odd_limits_are_unknown(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    data = [
        {"id": 42, "object": "model"},
        {"id": "ok", "object": "model", "context_length": "big", "created": -5},
    ]
    fake.script(Fault(200, body={"object": "list", "data": data}))
    assert ctx.llm("openrouter").list_models_sync() == [ModelInfo("ok", "openrouter")]
