"""Built-in web search and citations on every provider, through the real SDKs against the
fake server: each provider that has web search sends its own tool spelling and returns the
same normalised citations (spans into the answer, non-ASCII text before them included) from
chat, text streams and event streams; the others raise before sending.
"""

from __future__ import annotations

from typing import Any

import pytest

from llm_context import (
    CitationAdded,
    Completed,
    Feature,
    LLMContext,
    LLMInputError,
    LLMUnsupportedFeatureError,
    TextDelta,
)
from llm_context.testing import CitationReply, FakeProviderServer, Reply, SearchReply

from .conftest import FAST_RETRY, built_providers
from .test_features import has

ANSWER = "Ærø — 東京 😀 aside, Oslo has 709,000 people and Bergen 291,000."
OSLO = ANSWER.index("Oslo has 709,000 people")
BERGEN = ANSWER.index("Bergen 291,000")
CITATIONS = (
    CitationReply("https://ssb.example/oslo", "Oslo in figures", OSLO, OSLO + 23, "Oslo: 709,037"),
    CitationReply(
        "https://ssb.example/bergen", "Bergen in figures", BERGEN, BERGEN + 14, "Bergen: 291,189"
    ),
)
SEARCHED = Reply(
    ANSWER,
    citations=CITATIONS,
    searches=(SearchReply("population Oslo Bergen", (("https://ssb.example/oslo", "Oslo"),)),),
)
ASK = [{"role": "user", "content": "How many people live in Oslo and Bergen?"}]
# Each wire's spelling of the search tool: a value that must appear in the request body.
TOOL_SPELLING = {
    "openai": "web_search",
    "azure": "web_search",
    "anthropic": "web_search_20250305",
    "google": "googleSearch",
    "openrouter": "web",
}


def context(fake: FakeProviderServer) -> LLMContext:
    """The seven profiles; Azure on its v1 (Responses) API, the one with web search."""
    per: dict[str, Any] = {name: {"retry": FAST_RETRY} for name in built_providers()}
    per["azure"] = {**per["azure"], "api_version": "v1"}
    return LLMContext(fake.profiles(**per))


@pytest.fixture
def sctx(fake: FakeProviderServer) -> Any:
    with context(fake) as ctx:
        yield ctx


def spans(citations: Any) -> list[tuple[str | None, str | None, int | None, int | None]]:
    return [(c.url, c.title, c.start, c.end) for c in citations]


WANTED = [(c.url, c.title, c.start, c.end) for c in CITATIONS]


@pytest.mark.parametrize("provider", built_providers())
def test_web_search_and_citations_on_every_provider(
    sctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    llm = sctx.llm(provider)
    if not has(provider, Feature.WEB_SEARCH):
        with pytest.raises(LLMUnsupportedFeatureError) as info:
            llm.chat_sync(ASK, builtin_tools=["web_search"])
        assert info.value.feature == Feature.WEB_SEARCH.value
        assert fake.served == 0
        return
    fake.script(SEARCHED, SEARCHED, SEARCHED)
    result = llm.chat_sync(ASK, builtin_tools=["web_search"])
    assert TOOL_SPELLING[provider] in fake.last_request.body.decode()
    assert result.text == ANSWER
    assert spans(result.citations) == WANTED
    assert [result.text[c.start : c.end] for c in result.citations if c.start is not None] == [
        "Oslo has 709,000 people",
        "Bergen 291,000",
    ]
    stream = llm.stream_sync(ASK, builtin_tools=["web_search"])
    assert "".join(stream) == ANSWER
    assert spans(stream.result.citations) == WANTED
    events = list(llm.events_sync(ASK, builtin_tools=["web_search"]))
    added = [e.citation for e in events if isinstance(e, CitationAdded)]
    assert spans(added) == WANTED
    final = events[-1]
    assert isinstance(final, Completed) and spans(final.result.citations) == WANTED
    # A citation is shown after the text it points into.
    first = next(i for i, e in enumerate(events) if isinstance(e, CitationAdded))
    shown = "".join(e.text for e in events[:first] if isinstance(e, TextDelta))
    assert len(shown) >= CITATIONS[0].end


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_allowed_domains_reach_the_wire(
    sctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("ok"))
    tool = {"type": "web_search", "allowed_domains": ["ssb.example"], "max_uses": 2}
    sctx.llm(provider).chat_sync(ASK, builtin_tools=[tool])
    assert "ssb.example" in fake.last_request.body.decode()


def test_a_bad_builtin_tool_is_refused_before_sending(
    sctx: LLMContext, fake: FakeProviderServer
) -> None:
    for tools, message in (
        (["code_interpreter"], "unknown built-in tool 'code_interpreter'"),
        ([{"type": "web_search", "max_uses": 0}], r"max_uses must be an int >= 1"),
        ([{"type": "web_search", "allowed_domains": ["https://x.example/a"]}], "a domain like"),
        (["web_search", "web_search"], "names a tool twice"),
        ("web_search", "must be a list"),
    ):
        with pytest.raises(LLMInputError, match=message):
            sctx.llm("openai").chat_sync(ASK, builtin_tools=tools)
    assert fake.served == 0


def test_azure_dated_api_has_no_web_search(fake: FakeProviderServer) -> None:
    with (
        LLMContext(fake.profiles()) as ctx,  # the default: a dated api_version
        pytest.raises(LLMUnsupportedFeatureError, match="web search"),
    ):
        ctx.llm("azure").chat_sync(ASK, builtin_tools=["web_search"])
    assert fake.served == 0


def test_reasoning_summary_is_asked_for_without_effort(
    sctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("42", reasoning="First part."))
    result = sctx.llm("openai").chat_sync(ASK, model="o4-mini", reasoning_summary="detailed")
    assert fake.last_request.json["reasoning"] == {"summary": "detailed"}
    assert result.reasoning == "First part."
    with pytest.raises(LLMInputError, match="reasoning_summary must be one of"):
        sctx.llm("openai").chat_sync(ASK, model="o4-mini", reasoning_summary="long")


def test_anthropic_search_blocks_go_back_with_the_next_turn(
    sctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(SEARCHED, Reply("You are welcome."))
    claude = sctx.llm("anthropic")
    first = claude.chat_sync(ASK, builtin_tools=["web_search"])
    assert first.tool_calls == ()  # the provider ran the search: nothing for us to run
    follow = [*ASK, first.to_message(), {"role": "user", "content": "Thanks"}]
    claude.chat_sync(follow, builtin_tools=["web_search"])
    turn = fake.last_request.json["messages"][1]
    kinds = [block["type"] for block in turn["content"]]
    assert kinds[:2] == ["server_tool_use", "web_search_tool_result"]
    assert turn["content"][0]["input"] == {"query": "population Oslo Bergen"}


def test_anthropic_document_citations_are_asked_for(
    sctx: LLMContext, fake: FakeProviderServer
) -> None:
    from llm_context import file_part

    answer = "Revenue grew 12% in Q3."
    cited = CitationReply("", "", 0, len(answer), "Q3 revenue: +12%")
    fake.script(Reply(answer, citations=(cited,)), Reply("Plain."))
    part = file_part(b"%PDF-1.4\n%%EOF\n", filename="r.pdf", citations=True)
    result = sctx.llm("anthropic").chat_sync([{"role": "user", "content": ["Summarise", part]}])
    document = fake.last_request.json["messages"][0]["content"][1]
    assert document["citations"] == {"enabled": True}
    (citation,) = result.citations
    assert (citation.url, citation.title, citation.cited_text) == (
        None,
        "r.pdf",
        "Q3 revenue: +12%",
    )
    assert (citation.start, citation.end) == (0, len(answer))
    assert citation.location == {
        "type": "char_location",
        "document_index": 0,
        "start_char_index": 0,
        "end_char_index": len("Q3 revenue: +12%"),
    }
    # Elsewhere citations on documents are refused, or dropped with a warning when asked.
    with pytest.raises(LLMUnsupportedFeatureError, match="document citations"):
        sctx.llm("openai").chat_sync([{"role": "user", "content": ["Summarise", part]}])
    sctx.llm("openai").chat_sync(
        [{"role": "user", "content": ["Summarise", part]}], fail_on_unsupported=False
    )
    assert "citations" not in fake.last_request.body.decode()


def test_gemini_search_with_function_tools_needs_gemini_3(
    sctx: LLMContext, fake: FakeProviderServer
) -> None:
    tool = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
    gemini = sctx.llm("google")
    with pytest.raises(LLMUnsupportedFeatureError, match="web search with function tools"):
        gemini.chat_sync(ASK, tools=[tool], builtin_tools=["web_search"])
    assert fake.served == 0
    fake.script(Reply("ok"))
    gemini.chat_sync(ASK, tools=[tool], builtin_tools=["web_search"], model="gemini-3-pro")
    tools = fake.last_request.json["tools"]
    assert {"googleSearch": {}} in tools and any("functionDeclarations" in t for t in tools)


def test_gemini_thoughts_are_asked_for_by_reasoning_summary(
    sctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("42", reasoning="Thinking."))
    result = sctx.llm("google").chat_sync(ASK, reasoning_summary="auto")
    config = fake.last_request.json["generationConfig"]
    # The SDK's own spelling of the field (its versions differ).
    assert list(config["thinkingConfig"].values()) == [True]
    assert result.reasoning == "Thinking."
