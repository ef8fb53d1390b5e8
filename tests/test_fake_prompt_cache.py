"""The fake server's prompt caching, seen through the bare SDKs: scripted cache counts in each
wire's own fields (streamed and not), and the prompt cache behind unscripted replies."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from llm_context.testing import FakeProviderServer, Reply, UsageReply
from llm_context.testing.prompt_cache import PromptCache, anthropic_prefix

SYSTEM = "You are a careful assistant who answers in one short sentence. " * 10
MARK = {"type": "ephemeral"}
TOOL = {"name": "lookup", "description": "Look a word up.", "input_schema": {"type": "object"}}


def claude(fake: FakeProviderServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="k",
        base_url=fake.base_url("anthropic"),
        max_retries=0,
        _strict_response_validation=True,
    )


def gpt(fake: FakeProviderServer, provider: str = "openai") -> openai.OpenAI:
    return openai.OpenAI(
        api_key="k",
        base_url=fake.base_url(provider),
        max_retries=0,
        _strict_response_validation=True,
    )


def ask_claude(
    fake: FakeProviderServer, question: str, *, system: str = SYSTEM, marked: bool = True, **kw: Any
) -> Any:
    block: dict[str, Any] = {"type": "text", "text": system}
    if marked:
        block["cache_control"] = MARK
    return claude(fake).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        system=[block],  # type: ignore[list-item]
        messages=[{"role": "user", "content": question}],
        **kw,
    )


def cache_counts(usage: Any) -> tuple[int, int, int]:
    """Anthropic usage as (uncached input, cache reads, cache writes)."""
    return usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens


# ---- scripted counts, in each wire's fields ------------------------------------------------


SCRIPTED = UsageReply(
    input_tokens=100, output_tokens=5, cached_input_tokens=50, cache_write_tokens=30
)


def test_anthropic_reports_scripted_reads_and_writes_beside_the_rest(
    fake: FakeProviderServer,
) -> None:
    fake.script(Reply("hi", usage=SCRIPTED))
    assert cache_counts(ask_claude(fake, "One").usage) == (20, 50, 30)


def test_anthropic_stream_reports_them_at_start_and_end(fake: FakeProviderServer) -> None:
    fake.script(Reply("hi there", usage=SCRIPTED))
    events = list(ask_claude(fake, "One", stream=True))
    start = next(e for e in events if e.type == "message_start").message.usage
    end = next(e for e in events if e.type == "message_delta").usage
    assert cache_counts(start) == (20, 50, 30)
    assert (end.input_tokens, end.cache_read_input_tokens) == (20, 50)
    assert (end.cache_creation_input_tokens, end.output_tokens) == (30, 5)


def test_anthropic_counts_never_go_negative(fake: FakeProviderServer) -> None:
    usage = UsageReply(
        input_tokens=10, output_tokens=1, cached_input_tokens=8, cache_write_tokens=5
    )
    fake.script(Reply("hi", usage=usage))
    assert cache_counts(ask_claude(fake, "One").usage) == (0, 8, 2)


def chat(fake: FakeProviderServer, content: Any, *, stream: bool = False) -> Any:
    """One Chat Completions call at the OpenRouter mount; its usage."""
    client = gpt(fake, "openrouter")
    messages: Any = [{"role": "user", "content": content}]
    if not stream:
        return client.chat.completions.create(model="anthropic/claude", messages=messages).usage
    chunks = client.chat.completions.create(
        model="anthropic/claude",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    return [c.usage for c in chunks if c.usage is not None][-1]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_reports_openrouters_write_field(fake: FakeProviderServer, stream: bool) -> None:
    fake.script(Reply("hi", usage=SCRIPTED), Reply("hi", usage=UsageReply(input_tokens=9)))
    usage = chat(fake, "One", stream=stream)
    assert usage.prompt_tokens == 100
    details = usage.prompt_tokens_details
    assert (details.cached_tokens, details.cache_write_tokens) == (50, 30)
    details = chat(fake, "One", stream=stream).prompt_tokens_details
    assert details.cached_tokens == 0 and details.cache_write_tokens is None  # not known


@pytest.mark.parametrize("stream", [False, True])
def test_responses_reports_reads_and_writes(fake: FakeProviderServer, stream: bool) -> None:
    fake.script(Reply("hi", usage=SCRIPTED))
    client = gpt(fake)
    if stream:
        events = list(client.responses.create(model="gpt-5.6", input="One", stream=True))
        usage = next(e for e in events if e.type == "response.completed").response.usage
    else:
        usage = client.responses.create(model="gpt-5.6", input="One").usage
    assert usage is not None and usage.input_tokens == 100
    details = usage.input_tokens_details
    assert (details.cached_tokens, details.cache_write_tokens) == (50, 30)


# ---- the prompt cache behind unscripted replies -------------------------------------------


def test_anthropic_writes_then_reads_the_marked_prefix(fake: FakeProviderServer) -> None:
    _, read, written = cache_counts(ask_claude(fake, "One").usage)
    assert read == 0 and written > 0
    rest, read_again, written_again = cache_counts(ask_claude(fake, "Two").usage)
    assert (read_again, written_again) == (written, 0) and rest > 0


def test_anthropic_stream_reads_what_a_plain_call_wrote(fake: FakeProviderServer) -> None:
    written = ask_claude(fake, "One").usage.cache_creation_input_tokens
    events = list(ask_claude(fake, "Two", stream=True))
    start = next(e for e in events if e.type == "message_start").message.usage
    end = next(e for e in events if e.type == "message_delta").usage
    assert start.cache_read_input_tokens == end.cache_read_input_tokens == written
    assert start.cache_creation_input_tokens == end.cache_creation_input_tokens == 0


def test_a_changed_prefix_misses_and_clear_forgets(fake: FakeProviderServer) -> None:
    written = ask_claude(fake, "One").usage.cache_creation_input_tokens
    _, read, written_changed = cache_counts(
        ask_claude(fake, "One", system=SYSTEM + "Be brief.").usage
    )
    assert read == 0 and written_changed > written
    fake.clear()
    _, read, written_again = cache_counts(ask_claude(fake, "One").usage)
    assert (read, written_again) == (0, written)


def test_without_markers_usage_is_as_before(fake: FakeProviderServer) -> None:
    plain = ask_claude(fake, "One", marked=False).usage
    assert plain.cache_read_input_tokens == plain.cache_creation_input_tokens == 0
    ask_claude(fake, "One")  # a marked call caches the same system text
    again = ask_claude(fake, "One", marked=False).usage
    assert cache_counts(again) == cache_counts(plain)


def test_a_marked_tool_is_read_when_only_the_system_changed(fake: FakeProviderServer) -> None:
    tools: Any = [{**TOOL, "cache_control": MARK}]
    first = ask_claude(fake, "One", tools=tools).usage
    changed = ask_claude(fake, "One", system="Another system text entirely.", tools=tools).usage
    assert 0 < changed.cache_read_input_tokens < first.cache_creation_input_tokens
    assert changed.cache_creation_input_tokens > 0  # the system block after the tool is new


def test_chat_parts_with_cache_control_write_then_read(fake: FakeProviderServer) -> None:
    def parts(question: str) -> list[dict[str, Any]]:
        marked = {"type": "text", "text": SYSTEM, "cache_control": MARK}
        return [marked, {"type": "text", "text": question}]

    first = chat(fake, parts("One")).prompt_tokens_details
    assert first.cached_tokens == 0 and (first.cache_write_tokens or 0) > 0
    second = chat(fake, parts("Two"), stream=True).prompt_tokens_details
    assert (second.cached_tokens, second.cache_write_tokens) == (first.cache_write_tokens, 0)
    plain = chat(fake, SYSTEM).prompt_tokens_details  # string content carries no marker
    assert plain.cached_tokens == 0 and plain.cache_write_tokens is None


def responses(fake: FakeProviderServer, question: str, **kw: Any) -> Any:
    items: Any = [
        {"role": "developer", "content": SYSTEM},
        {"role": "user", "content": question},
    ]
    usage = gpt(fake).responses.create(model="gpt-4.1-mini", input=items, **kw).usage
    assert usage is not None
    return usage


def test_responses_cache_by_prompt_cache_key(fake: FakeProviderServer) -> None:
    first = responses(fake, "One", prompt_cache_key="tenant-1")
    assert first.input_tokens_details.cached_tokens == 0
    second = responses(fake, "Two", prompt_cache_key="tenant-1")
    assert 0 < second.input_tokens_details.cached_tokens <= second.input_tokens
    assert second.input_tokens_details.cache_write_tokens == 0  # OpenAI reports no writes here
    other_key = responses(fake, "Two", prompt_cache_key="tenant-2")
    assert other_key.input_tokens_details.cached_tokens == 0
    assert responses(fake, "Two").input_tokens_details.cached_tokens == 0  # no key: no cache


def test_the_cache_by_itself() -> None:
    cache = PromptCache()
    body: dict[str, Any] = {
        "system": [{"type": "text", "text": "a b c", "cache_control": MARK}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "d e"}]}],
    }
    assert cache.usage(anthropic_prefix({"messages": body["messages"]})) is None
    first = cache.usage(anthropic_prefix(body))
    assert first is not None and first.cached_input_tokens == 0
    assert first.cache_write_tokens is not None
    assert first.input_tokens >= first.cache_write_tokens > 0
    second = cache.usage(anthropic_prefix(body))
    assert second is not None
    assert (second.cached_input_tokens, second.cache_write_tokens) == (first.cache_write_tokens, 0)
    assert cache.usage(anthropic_prefix(body), reports_writes=False) is not None
    cache.clear()
    third = cache.usage(anthropic_prefix(body), reports_writes=False)
    assert third is not None and (third.cached_input_tokens, third.cache_write_tokens) == (0, None)
