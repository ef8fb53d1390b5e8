"""Anthropic's web_search server tool and citations, Gemini's Google Search grounding: the
details tests/test_search.py leaves out. Through the real SDKs against the fake server:
the exact tool spelling beside function tools, a search that is never a tool call (in chat,
text streams and event streams), the server blocks (and signed thinking) going back with the
next turn from a streamed reply too, document citations in a stream, grounding with a thought
part before the answer; and the grounding reader itself on metadata the fake never sends.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types

from llm_context import (
    CitationAdded,
    LLMContext,
    LLMUnsupportedFeatureError,
    ToolCallStarted,
    file_part,
)
from llm_context.providers.google.grounding import grounding_citations
from llm_context.providers.google.reply import StreamParser
from llm_context.testing import (
    CitationReply,
    FakeProviderServer,
    Reply,
    SearchReply,
    ToolCallReply,
)

ANSWER = "Ærø — 東京 first; then Oslo has 709,000 people, and Bergen 291,000."
OSLO = ANSWER.index("Oslo has 709,000 people")
BERGEN = ANSWER.index("Bergen 291,000")
CITATIONS = (
    CitationReply("https://ssb.example/oslo", "Oslo", OSLO, OSLO + 23, "Oslo: 709,037"),
    CitationReply("https://ssb.example/bergen", "Bergen", BERGEN, BERGEN + 14, "Bergen: 291,189"),
)
SEARCH = SearchReply("population Oslo Bergen", (("https://ssb.example/oslo", "Oslo"),))
SEARCHED = Reply(ANSWER, citations=CITATIONS, searches=(SEARCH,))
WANTED = [(c.url, c.title, c.start, c.end) for c in CITATIONS]
SPANS = ["Oslo has 709,000 people", "Bergen 291,000"]
ASK = [{"role": "user", "content": "How many people live in Oslo and Bergen?"}]
LOOKUP = {
    "name": "lookup",
    "description": "Look a city up.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def spans(citations: Any) -> list[tuple[str | None, str | None, int | None, int | None]]:
    return [(c.url, c.title, c.start, c.end) for c in citations]


def same_everywhere(llm: Any, fake: FakeProviderServer, reply: Reply, **kw: Any) -> Any:
    """chat, text stream and event stream give the same citations; the chat result."""
    fake.script(reply, reply, reply)
    result = llm.chat_sync(ASK, **kw)
    assert spans(result.citations) == WANTED
    assert [c.span(result.text) for c in result.citations] == SPANS
    stream = llm.stream_sync(ASK, **kw)
    assert "".join(stream) == result.text
    assert spans(stream.result.citations) == WANTED
    events = list(llm.events_sync(ASK, **kw))
    assert spans(e.citation for e in events if isinstance(e, CitationAdded)) == WANTED
    return result


# -- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_search_tool_sits_beside_function_tools(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("ok"))
    search = {"type": "web_search", "max_uses": 3, "allowed_domains": ["ssb.example"]}
    ctx.llm("anthropic").chat_sync(ASK, tools=[LOOKUP], builtin_tools=[search])
    tools = fake.last_request.json["tools"]
    assert [t.get("name") for t in tools] == ["lookup", "web_search"]
    assert tools[1] == {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 3,
        "allowed_domains": ["ssb.example"],
    }


def test_anthropic_search_is_never_a_tool_call(ctx: LLMContext, fake: FakeProviderServer) -> None:
    """The server_tool_use block streams its query as input_json_delta, like a tool_use: only
    the function tool's call may come out, in every mode."""
    call = ToolCallReply("lookup", {"city": "Oslo"}, id="toolu_lookup")
    reply = Reply(ANSWER, citations=CITATIONS, searches=(SEARCH,), tool_calls=(call,))
    claude = ctx.llm("anthropic")
    kw: dict[str, Any] = {"tools": [LOOKUP], "builtin_tools": ["web_search"]}
    result = same_everywhere(claude, fake, reply, **kw)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("toolu_lookup", "lookup", {"city": "Oslo"})
    ]
    fake.script(reply, reply)
    stream = claude.stream_sync(ASK, **kw)
    "".join(stream)
    assert stream.result.tool_calls == result.tool_calls
    events = list(claude.events_sync(ASK, **kw))
    assert [e.name for e in events if isinstance(e, ToolCallStarted)] == ["lookup"]


def test_anthropic_streamed_search_goes_back_with_thinking(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    reply = Reply(ANSWER, reasoning="Search first.", citations=CITATIONS, searches=(SEARCH,))
    fake.script(reply, Reply("Glad to help."))
    claude = ctx.llm("anthropic")
    kw: dict[str, Any] = {"builtin_tools": ["web_search"], "reasoning_effort": "low"}
    stream = claude.stream_sync(ASK, **kw)
    assert "".join(stream) == ANSWER
    first = stream.result
    assert first.tool_calls == () and first.reasoning == "Search first."
    claude.chat_sync([*ASK, first.to_message(), {"role": "user", "content": "Thanks"}], **kw)
    content = fake.last_request.json["messages"][1]["content"]
    assert [b["type"] for b in content[:3]] == [
        "thinking",
        "server_tool_use",
        "web_search_tool_result",
    ]
    use, found = content[1], content[2]
    assert use["name"] == "web_search" and use["input"] == {"query": SEARCH.query}
    assert found["tool_use_id"] == use["id"]
    assert [(r["url"], r["title"]) for r in found["content"]] == list(SEARCH.results)
    assert "".join(b["text"] for b in content if b["type"] == "text") == ANSWER


def test_anthropic_document_citations_in_a_stream(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    answer = "Ærø first. Revenue grew 12% in Q3."
    at = answer.index("Revenue")
    cited = CitationReply("", "", at, len(answer), "Q3 revenue: +12%")
    reply = Reply(answer, citations=(cited,))
    fake.script(reply, reply)
    part = file_part(b"%PDF-1.4\n%%EOF\n", filename="r.pdf", citations=True)
    ask = [{"role": "user", "content": ["Summarise", part]}]
    claude = ctx.llm("anthropic")
    result = claude.chat_sync(ask)
    added = [e.citation for e in claude.events_sync(ask) if isinstance(e, CitationAdded)]
    assert fake.last_request.json["messages"][0]["content"][1]["citations"] == {"enabled": True}
    assert added == list(result.citations)
    (citation,) = added
    assert (citation.url, citation.title, citation.cited_text) == (None, "r.pdf", cited.cited_text)
    assert citation.span(answer) == "Revenue grew 12% in Q3."
    assert citation.location["type"] == "char_location"


# -- Gemini ------------------------------------------------------------------------------------


def test_gemini_citations_after_a_thought_part(ctx: LLMContext, fake: FakeProviderServer) -> None:
    """The thought part comes first (partIndex 1 points at the answer) and is not answer text."""
    reply = Reply(ANSWER, reasoning="Thinking it over.", citations=CITATIONS, searches=(SEARCH,))
    gemini = ctx.llm("google")
    result = same_everywhere(
        gemini, fake, reply, builtin_tools=["web_search"], reasoning_summary="auto"
    )
    assert result.reasoning == "Thinking it over." and result.text == ANSWER
    assert {"googleSearch": {}} in fake.last_request.json["tools"]


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "models/gemini-2.5-pro"])
def test_gemini_2_refuses_search_with_function_tools_in_every_mode(
    ctx: LLMContext, fake: FakeProviderServer, model: str
) -> None:
    gemini = ctx.llm("google")
    kw: dict[str, Any] = {"tools": [LOOKUP], "builtin_tools": ["web_search"], "model": model}
    with pytest.raises(LLMUnsupportedFeatureError) as info:
        gemini.chat_sync(ASK, **kw)
    assert (info.value.provider, info.value.feature) == ("google", "web search with function tools")
    with pytest.raises(LLMUnsupportedFeatureError):
        "".join(gemini.stream_sync(ASK, **kw))
    with pytest.raises(LLMUnsupportedFeatureError):
        list(gemini.events_sync(ASK, **kw))
    assert fake.served == 0


def test_gemini_3_takes_search_with_function_tools(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    call = ToolCallReply("lookup", {"city": "Oslo"})
    fake.script(Reply(ANSWER, citations=CITATIONS, tool_calls=(call,)))
    result = ctx.llm("google").chat_sync(
        ASK, tools=[LOOKUP], builtin_tools=["web_search"], model="gemini-3-flash-preview"
    )
    tools = fake.last_request.json["tools"]
    assert {"googleSearch": {}} in tools and any("functionDeclarations" in t for t in tools)
    assert [c.name for c in result.tool_calls] == ["lookup"]
    assert spans(result.citations) == WANTED


def test_gemini_reasoning_summary_alone_asks_for_thoughts(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply("42", reasoning="Thinking."))
    ctx.llm("google").chat_sync(ASK, model="gemini-3-pro-preview", reasoning_summary="auto")
    thinking = fake.last_request.json["generationConfig"]["thinkingConfig"]
    assert list(thinking.values()) == [True]  # no level or budget: the model's own effort


# -- the grounding reader, on metadata the fake never sends -------------------------------------


def _metadata(*supports: tuple[dict[str, Any], list[int]]) -> types.GroundingMetadata:
    return types.GroundingMetadata(
        grounding_chunks=[
            types.GroundingChunk(web=types.GroundingChunkWeb(uri="https://a.example", title="A")),
            types.GroundingChunk(web=types.GroundingChunkWeb(uri="https://b.example", title="B")),
        ],
        grounding_supports=[
            types.GroundingSupport(segment=types.Segment(**seg), grounding_chunk_indices=idx)
            for seg, idx in supports
        ],
    )


def test_grounding_counts_bytes_per_part_and_falls_back_to_the_segment_text() -> None:
    first, second = "東京 é. ", "Ærø is small. Oslo is big."
    answer = first + second
    parts = [(first, 0), ("", len(first)), (second, len(first))]  # part 1: a call, no text
    oslo = second.index("Oslo")
    byte = len(second[:oslo].encode())
    metadata = _metadata(
        # Part 2's bytes: both chunks support it.
        (
            {"part_index": 2, "start_index": byte, "end_index": byte + 12, "text": "Oslo is big."},
            [0, 1],
        ),
        # Indexes that do not match their text: found by the text.
        ({"part_index": 0, "start_index": 0, "end_index": 3, "text": "Ærø is small."}, [1]),
        # Neither fits: the source stays, without a span.
        ({"start_index": 90, "end_index": 99, "text": "not in the answer"}, [0]),
        # A chunk index out of range is left out.
        ({"part_index": 0, "start_index": 0, "end_index": 6, "text": "東京"}, [7]),
    )
    found = list(grounding_citations(metadata, answer, parts))
    assert [(c.url, c.span(answer)) for c in found] == [
        ("https://a.example", "Oslo is big."),
        ("https://b.example", "Oslo is big."),
        ("https://b.example", "Ærø is small."),
        ("https://a.example", None),
    ]
    assert all(c.cited_text is None for c in found)


def test_a_gemini_stream_keeps_the_latest_grounding() -> None:
    """Grounding may come on an earlier chunk than the finish reason (and grow): the latest
    non-empty one is read once, before the end, with offsets into the whole answer."""

    def chunk(text: str, *, grounding: Any = None, finish: str | None = None) -> Any:
        candidate = types.Candidate(
            content=types.Content(role="model", parts=[types.Part(text=text)]),
            grounding_metadata=grounding,
            finish_reason=finish,
        )
        return types.GenerateContentResponse(candidates=[candidate])

    head, tail = "Ærø — 東京, ", "Oslo is big."
    tail_at = len(head.encode())
    early = _metadata(({"start_index": 0, "end_index": 3, "text": "Ærø"}, [0]))
    full = _metadata(
        ({"start_index": 0, "end_index": 3, "text": "Ærø"}, [0]),
        ({"start_index": tail_at, "end_index": tail_at + 12, "text": tail}, [1]),
    )
    parser = StreamParser()
    events = [
        *parser.feed(chunk(head, grounding=early)),
        *parser.feed(chunk(tail, grounding=full)),
        *parser.feed(chunk("", finish="STOP")),
    ]
    added = [e.citation for e in events if isinstance(e, CitationAdded)]
    answer = head + tail
    assert [(c.url, c.span(answer)) for c in added] == [
        ("https://a.example", "Ærø"),
        ("https://b.example", tail),
    ]
    assert type(events[-1]).__name__ == "StreamEnd"
