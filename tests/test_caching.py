"""Prompt caching on every provider, through the real SDKs against the fake server: explicit
`cache_control` markers reach the wires that have them and raise (or, asked, are stripped
with a warning) elsewhere; `cache="auto"` places markers or sends `prompt_cache_key`; usage
reports cache reads and writes inside `input_tokens`, and cost bills each at its rate.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llm_context import Feature, LLMContext, LLMInputError, LLMUnsupportedFeatureError
from llm_context.config.settings import Pricing
from llm_context.metering import cost_of
from llm_context.testing import FakeProviderServer, Reply, UsageReply

from .conftest import FAST_RETRY, built_providers
from .test_features import has, values_of

# A model of each provider that takes cache markers where the provider has any.
MARKER_MODELS = {
    "openai": "gpt-5.6",
    "azure": "gpt-5.6",
    "anthropic": "claude-sonnet-4-6",
    "openrouter": "anthropic/claude-sonnet-4.6",
}
# Where each wire carries a marker.
MARKER_KEYS = {"cache_control", "prompt_cache_breakpoint"}
LONG_SYSTEM = "You are a careful assistant. " * 40
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


def context(fake: FakeProviderServer, **overrides: Any) -> LLMContext:
    """The seven profiles; Azure on its v1 (Responses) API, the one with cache breakpoints."""
    per: dict[str, Any] = {name: {"retry": FAST_RETRY, **overrides} for name in built_providers()}
    per["azure"] = {**per.get("azure", {}), "api_version": "v1"}
    return LLMContext(fake.profiles(**per))


@pytest.fixture
def cctx(fake: FakeProviderServer) -> Any:
    with context(fake) as ctx:
        yield ctx


def model_of(provider: str) -> str | None:
    return MARKER_MODELS.get(provider)


def marked_messages() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "A long document to keep", "cache_control": {}},
                {"type": "text", "text": "What does it say?"},
            ],
        },
    ]


def markers(body: Any) -> list[Any]:
    return values_of(body, MARKER_KEYS)


def marked_texts(node: Any) -> list[str]:
    """The text of every block that carries a marker, in body order."""
    found: list[str] = []
    if isinstance(node, dict):
        if MARKER_KEYS & node.keys() and isinstance(node.get("text"), str):
            found.append(node["text"])
        for value in node.values():
            found += marked_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += marked_texts(value)
    return found


@pytest.mark.parametrize("provider", built_providers())
def test_explicit_markers_reach_the_wire_or_raise_before_sending(
    cctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = cctx.llm(provider)
    model = model_of(provider)
    options = {"model": model} if model else {}
    if not has(provider, Feature.CACHE_MARKERS, model or llm.runtime.model("chat")):
        with pytest.raises(LLMUnsupportedFeatureError) as info:
            llm.chat_sync(marked_messages(), **options)
        assert info.value.feature == Feature.CACHE_MARKERS.value
        assert fake.served == 0
        return
    fake.script(Reply("cached"))
    assert llm.chat_sync(marked_messages(), **options).text == "cached"
    body = fake.last_request.json
    wanted = {"mode": "explicit"} if provider in ("openai", "azure") else {"type": "ephemeral"}
    assert markers(body) == [wanted, wanted]
    # Each marker sits on the block that ends its cached prefix, not on the one after it.
    assert sorted(marked_texts(body)) == ["A long document to keep", LONG_SYSTEM]


@pytest.mark.parametrize("provider", built_providers())
def test_unsupported_markers_are_stripped_with_a_warning_when_asked(
    cctx: LLMContext, fake: FakeProviderServer, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    llm = cctx.llm(provider)
    if has(provider, Feature.CACHE_MARKERS, llm.runtime.model("chat")):
        pytest.skip(f"{provider}'s default model takes markers")
    fake.script(Reply("sent"))
    with caplog.at_level(logging.WARNING, logger="llm_context"):
        result = llm.chat_sync(marked_messages(), fail_on_unsupported=False)
    assert result.text == "sent"
    assert markers(fake.last_request.json) == []
    assert any("prompt cache markers" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("provider", "model", "wire_key"),
    [
        ("anthropic", None, "cache_control"),
        ("openai", "gpt-5.6", None),
        ("openrouter", "anthropic/claude-sonnet-4.6", None),
    ],
)
def test_a_tool_marker(
    cctx: LLMContext, fake: FakeProviderServer, provider: str, model: str | None, wire_key: str
) -> None:
    """Anthropic caches up to a tool; the others have no marker there and say where to put
    one instead."""
    tool = {**TOOL, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    options = {"model": model} if model else {}
    messages = [{"role": "user", "content": "Hi"}]
    if wire_key is None:
        with pytest.raises(LLMUnsupportedFeatureError, match="Mark the system message"):
            cctx.llm(provider).chat_sync(messages, tools=[tool], **options)
        assert fake.served == 0
        return
    fake.script(Reply("ok"))
    cctx.llm(provider).chat_sync(messages, tools=[tool], **options)
    assert fake.last_request.json["tools"][-1][wire_key] == {"type": "ephemeral", "ttl": "1h"}


def test_ttls_map_to_each_providers_lifetimes(cctx: LLMContext, fake: FakeProviderServer) -> None:
    messages = [{"role": "user", "content": "Hi", "cache_control": {"ttl": "12h"}}]
    fake.script(Reply("a"), Reply("b"))
    cctx.llm("anthropic").chat_sync(messages)
    assert markers(fake.last_request.json) == [{"type": "ephemeral", "ttl": "1h"}]
    cctx.llm("openai").chat_sync(messages, model="gpt-5.6")
    assert markers(fake.last_request.json) == [{"mode": "explicit", "ttl": "12h"}]


def test_more_than_four_markers_is_refused_before_sending(
    cctx: LLMContext, fake: FakeProviderServer
) -> None:
    parts = [{"type": "text", "text": f"part {i}", "cache_control": {}} for i in range(5)]
    with pytest.raises(LLMInputError, match=r"5 cache_control markers.*at most 4"):
        cctx.llm("anthropic").chat_sync([{"role": "user", "content": parts}])
    assert fake.served == 0


@pytest.mark.parametrize(
    ("cache_control", "message"),
    [
        ("yes", r"messages\[0\]\.content\[0\]\.cache_control must be"),
        ({"type": "persistent"}, r"cache_control\.type must be 'ephemeral'"),
        ({"ttl": "2d"}, r"cache_control\.ttl must be one of 5m, 30m, 1h, 12h"),
        ({"type": "ephemeral", "scope": "org"}, r"unknown key\(s\) 'scope'"),
    ],
)
def test_a_bad_marker_names_its_place(
    cctx: LLMContext, fake: FakeProviderServer, cache_control: Any, message: str
) -> None:
    content = [{"type": "text", "text": "Hi", "cache_control": cache_control}]
    with pytest.raises(LLMInputError, match=message):
        cctx.llm("anthropic").chat_sync([{"role": "user", "content": content}])
    assert fake.served == 0


def test_unknown_keys_in_text_and_image_parts_are_refused(
    cctx: LLMContext, fake: FakeProviderServer
) -> None:
    for part in (
        {"type": "text", "text": "Hi", "cache": True},
        {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}, "detail": "low"},
    ):
        with pytest.raises(LLMInputError, match=r"messages\[0\]\.content\[0\]: unknown key"):
            cctx.llm("openai").chat_sync([{"role": "user", "content": [part]}])
    assert fake.served == 0


def test_a_marker_on_an_empty_message_is_refused(cctx: LLMContext) -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": None, "cache_control": {}},
    ]
    with pytest.raises(LLMInputError, match=r"messages\[1\]: cache_control on a message without"):
        cctx.llm("anthropic").chat_sync(messages)


def conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": LONG_SYSTEM},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
    ]


def test_auto_places_markers_where_they_pay_off_on_anthropic(
    cctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("ok"))
    cctx.llm("anthropic").chat_sync(conversation(), tools=[TOOL], cache="auto")
    body = fake.last_request.json
    assert body["system"] == [
        {"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    first, _, last = body["messages"]
    # Where the previous call ended (read now) and where this one ends (read next time).
    assert first["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert last["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert len(markers(body)) == 4


def test_auto_counts_the_callers_own_markers_within_four(
    cctx: LLMContext, fake: FakeProviderServer
) -> None:
    messages = conversation()
    messages[1]["cache_control"] = {"ttl": "1h"}
    messages[2]["cache_control"] = {}
    fake.script(Reply("ok"))
    cctx.llm("anthropic").chat_sync(messages, tools=[TOOL], cache="auto")
    body = fake.last_request.json
    assert len(markers(body)) == 4
    assert "cache_control" not in body["tools"][-1]  # the least worth: left out
    assert body["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_auto_on_openrouter_marks_messages_of_models_that_take_markers(
    cctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("a"), Reply("b"))
    llm = cctx.llm("openrouter")
    llm.chat_sync(conversation(), tools=[TOOL], cache="auto", model="anthropic/claude-sonnet-4.6")
    body = fake.last_request.json
    assert len(markers(body)) == 3  # system, first question, last question; not the tools
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    llm.chat_sync(conversation(), cache="auto")  # openai/...: cached by prefix, no markers
    assert markers(fake.last_request.json) == []


@pytest.mark.parametrize("provider", built_providers())
def test_auto_is_safe_on_every_provider(
    cctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    """`cache="auto"` never fails: it does what the provider has, or nothing."""
    fake.script(Reply("plain"), Reply("auto"))
    llm = cctx.llm(provider)
    llm.chat_sync(conversation())
    plain = fake.last_request.json
    assert llm.chat_sync(conversation(), cache="auto").text == "auto"
    auto = fake.last_request.json
    spec_auto = llm.runtime.profile.spec.auto_cache
    if spec_auto == "cache_key":
        assert auto.pop("prompt_cache_key") == f"llm-context:{provider}"
    elif spec_auto == "markers":
        assert markers(auto)
        return
    assert auto == plain


def test_cache_key_is_the_callers_when_given(cctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("a"), Reply("b"))
    cctx.llm("openai").chat_sync(conversation(), cache="auto", cache_key="tenant-42")
    assert fake.last_request.json["prompt_cache_key"] == "tenant-42"
    cctx.llm("openai").chat_sync(conversation(), cache_key="tenant-42")  # sent without auto too
    assert fake.last_request.json["prompt_cache_key"] == "tenant-42"
    with pytest.raises(LLMInputError, match="cache_key must be a string of 1 to 64"):
        cctx.llm("openai").chat_sync(conversation(), cache_key="x" * 65)
    with pytest.raises(LLMInputError, match="cache must be 'off' or 'auto'"):
        cctx.llm("openai").chat_sync(conversation(), cache=True)


def test_the_profile_field_sets_the_default(fake: FakeProviderServer) -> None:
    with LLMContext(fake.profiles(anthropic={"cache": "auto"})) as ctx:
        fake.script(Reply("a"), Reply("b"))
        ctx.llm("anthropic").chat_sync(conversation())
        assert len(markers(fake.last_request.json)) == 3
        ctx.llm("anthropic").chat_sync(conversation(), cache="off")
        assert markers(fake.last_request.json) == []


# ---- usage and cost ------------------------------------------------------------------------

# Which providers report cache writes on their wire (Gemini reports reads only).
WRITES = {"openai", "azure", "anthropic", "openrouter", "lmstudio", "ollama"}


@pytest.mark.parametrize("provider", built_providers())
@pytest.mark.parametrize("stream", [False, True])
def test_usage_reports_cache_reads_and_writes_inside_the_input(
    ctx: LLMContext, fake: FakeProviderServer, provider: str, stream: bool
) -> None:
    usage = UsageReply(input_tokens=100, output_tokens=5, cached_input_tokens=60)
    writes = UsageReply(input_tokens=100, output_tokens=5, cache_write_tokens=30)
    fake.script(Reply("read", usage=usage), Reply("write", usage=writes))
    llm = ctx.llm(provider)

    def call(messages: list[dict[str, Any]]) -> Any:
        if not stream:
            return llm.chat_sync(messages)
        handle = llm.stream_sync(messages)
        list(handle)
        return handle.result

    read = call([{"role": "user", "content": "Hi"}]).usage
    assert read["input_tokens"] == 100 and read["total_tokens"] == 105
    assert read["cached_input_tokens"] == 60
    written = call([{"role": "user", "content": "Hi"}]).usage
    assert written["input_tokens"] == 100
    assert written.get("cache_write_tokens") == (30 if provider in WRITES else None)


def test_cost_bills_reads_and_writes_at_their_rates_and_never_twice() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 0, "cached_input_tokens": 600}
    usage["cache_write_tokens"] = 300
    priced = Pricing(3.0, 15.0, cached_input_per_million=0.3, cache_write_per_million=3.75)
    cost = cost_of(usage, priced)
    assert cost == pytest.approx((100 * 3.0 + 600 * 0.3 + 300 * 3.75) / 1e6)
    assert cost_of(usage, Pricing(3.0, 15.0)) == pytest.approx(1000 * 3.0 / 1e6)


def test_metering_totals_sum_cache_writes(fake: FakeProviderServer) -> None:
    with LLMContext(fake.profiles()) as ctx:
        usage = UsageReply(input_tokens=50, output_tokens=2, cache_write_tokens=40)
        fake.script(Reply("a", usage=usage), Reply("b", usage=usage))
        ctx.llm("anthropic").chat_sync([{"role": "user", "content": "Hi"}])
        ctx.llm("anthropic").chat_sync([{"role": "user", "content": "Hi"}])
        assert ctx.usage().total.cache_write_tokens == 80


# ---- the fake's prompt cache: a second call reads what the first wrote ---------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", None), ("openai", None), ("openrouter", "anthropic/claude-sonnet-4.6")],
)
def test_a_second_call_with_auto_reads_the_cache(
    cctx: LLMContext, fake: FakeProviderServer, provider: str, model: str | None
) -> None:
    llm = cctx.llm(provider)
    options: dict[str, Any] = {"cache": "auto", **({"model": model} if model else {})}
    messages = [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "One"}]
    first = llm.chat_sync(messages, **options).usage
    assert first.get("cached_input_tokens", 0) == 0
    messages[-1]["content"] = "Two"  # the same system text, another question
    second = llm.chat_sync(messages, **options).usage
    assert 0 < second["cached_input_tokens"] <= second["input_tokens"]
    without = llm.chat_sync(messages, model=model) if model else llm.chat_sync(messages)
    assert without.usage.get("cached_input_tokens", 0) == 0  # no markers, no key: no caching


def test_the_fakes_cache_writes_first_misses_a_changed_prefix_and_forgets_on_clear(
    cctx: LLMContext, fake: FakeProviderServer
) -> None:
    claude = cctx.llm("anthropic")
    system = {"role": "system", "content": LONG_SYSTEM, "cache_control": {}}
    first = claude.chat_sync([system, {"role": "user", "content": "One"}]).usage
    assert first["cached_input_tokens"] == 0 and first["cache_write_tokens"] > 0
    again = claude.chat_sync([system, {"role": "user", "content": "Two"}]).usage
    assert again["cached_input_tokens"] == first["cache_write_tokens"]
    assert again["cache_write_tokens"] == 0
    changed = {**system, "content": LONG_SYSTEM + " Be brief."}
    missed = claude.chat_sync([changed, {"role": "user", "content": "Two"}]).usage
    assert missed["cached_input_tokens"] == 0 and missed["cache_write_tokens"] > 0
    fake.clear()
    forgotten = claude.chat_sync([system, {"role": "user", "content": "Two"}]).usage
    assert forgotten["cached_input_tokens"] == 0
