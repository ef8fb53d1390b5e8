"""Web search, citations and reasoning summaries on the OpenAI family, through the real SDKs
against the fake server: the Responses wire (OpenAI, Azure's v1 API) and the Chat
Completions wire (OpenRouter's web plugin; Azure's dated API, LM Studio and Ollama have no
search and refuse it before sending). Citations are the same from chat, text streams and
event streams; malformed annotations never raise a foreign exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llm_context import (
    CitationAdded,
    Completed,
    Feature,
    LLMBadRequestError,
    LLMContext,
    LLMServerError,
    LLMUnsupportedFeatureError,
    ReasoningDelta,
    TextDelta,
)
from llm_context.providers.openai import chat_completions, responses_reply
from llm_context.providers.openai.citations import annotation_citations, url_citation
from llm_context.testing import FakeProviderServer, Reply

from .conftest import FAST_RETRY
from .test_search import ANSWER, ASK, CITATIONS, SEARCHED

SEARCH = SEARCHED.searches[0]
WANTED = [(c.url, c.title, c.start, c.end) for c in CITATIONS]
LOOKUP = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
SEARCHING = ["openai", "azure", "openrouter"]


@pytest.fixture
def sctx(fake: FakeProviderServer) -> Iterator[LLMContext]:
    """Every profile, Azure on its v1 (Responses) API: the one with web search."""
    per: dict[str, Any] = {
        name: {"retry": FAST_RETRY} for name in ("openai", "openrouter", "lmstudio", "ollama")
    }
    per["azure"] = {"retry": FAST_RETRY, "api_version": "v1"}
    with LLMContext(fake.profiles(**per)) as ctx:
        yield ctx


def spans(citations: Any) -> list[tuple[str | None, str | None, int | None, int | None]]:
    return [(c.url, c.title, c.start, c.end) for c in citations]


# -- the request -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_responses_sends_the_web_search_tool_beside_function_tools(
    sctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(Reply("ok"), Reply("ok"))
    llm = sctx.llm(provider)
    llm.chat_sync(ASK, tools=[LOOKUP], builtin_tools=["web_search"])
    tools = fake.last_request.json["tools"]
    assert [t["type"] for t in tools] == ["function", "web_search"]
    assert tools[1] == {"type": "web_search"}
    assert fake.last_request.path.endswith("/v1/responses")
    # allowed_domains become filters; max_uses has no Responses spelling and is not sent.
    tool = {"type": "web_search", "allowed_domains": ["ssb.example", "nav.example"], "max_uses": 2}
    llm.chat_sync(ASK, builtin_tools=[tool])
    assert fake.last_request.json["tools"] == [
        {"type": "web_search", "filters": {"allowed_domains": ["ssb.example", "nav.example"]}}
    ]


def test_openrouter_sends_the_web_plugin(sctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply("ok"), Reply("ok"))
    llm = sctx.llm("openrouter")
    llm.chat_sync(ASK, tools=[LOOKUP], builtin_tools=["web_search"])
    body = fake.last_request.json
    assert body["plugins"] == [{"id": "web"}]
    assert [t["type"] for t in body["tools"]] == ["function"]
    llm.chat_sync(ASK, builtin_tools=[{"type": "web_search", "max_uses": 3}])
    assert fake.last_request.json["plugins"] == [{"id": "web", "max_results": 3}]


@pytest.mark.parametrize("provider", ["azure_dated", "lmstudio", "ollama"])
@pytest.mark.parametrize("mode", ["chat", "stream", "events"])
def test_no_web_search_raises_before_sending(
    fake: FakeProviderServer, provider: str, mode: str
) -> None:
    name = "azure" if provider == "azure_dated" else provider
    with LLMContext(fake.profiles()) as ctx:  # Azure on its default, dated api_version
        llm = ctx.llm(name)
        with pytest.raises(LLMUnsupportedFeatureError) as info:
            if mode == "chat":
                llm.chat_sync(ASK, builtin_tools=["web_search"])
            elif mode == "stream":
                "".join(llm.stream_sync(ASK, builtin_tools=["web_search"]))
            else:
                list(llm.events_sync(ASK, builtin_tools=["web_search"]))
    assert info.value.feature == Feature.WEB_SEARCH.value
    assert info.value.provider == name
    assert fake.served == 0 and fake.requests == []


@pytest.mark.parametrize("provider", ["openai", "openrouter"])
def test_the_fake_refuses_a_scripted_search_nobody_asked_for(
    sctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(SEARCHED)
    with pytest.raises(LLMBadRequestError, match="searches the web"):
        sctx.llm(provider).chat_sync(ASK)


# -- citations -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", SEARCHING)
def test_citations_agree_in_chat_streams_and_events(
    sctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(SEARCHED, SEARCHED, SEARCHED)
    llm = sctx.llm(provider)
    result = llm.chat_sync(ASK, builtin_tools=["web_search"])
    assert result.text == ANSWER
    assert spans(result.citations) == WANTED
    assert [result.text[c.start : c.end] for c in result.citations if c.start is not None] == [
        "Oslo has 709,000 people",
        "Bergen 291,000",
    ]
    # Responses sends no passage; OpenRouter's `content` is the cited text.
    passages = [c.cited_text for c in result.citations]
    wanted_passages = [c.cited_text for c in CITATIONS]
    assert passages == (wanted_passages if provider == "openrouter" else [None, None])

    stream = llm.stream_sync(ASK, builtin_tools=["web_search"])
    assert "".join(stream) == ANSWER
    assert stream.result.citations == result.citations

    events = list(llm.events_sync(ASK, builtin_tools=["web_search"]))
    added = [e.citation for e in events if isinstance(e, CitationAdded)]
    assert tuple(added) == result.citations
    final = events[-1]
    assert isinstance(final, Completed) and final.result.citations == result.citations
    shown = ""  # each citation comes once the text it points into has been shown
    for event in events:
        if isinstance(event, TextDelta):
            shown += event.text
        elif isinstance(event, CitationAdded):
            assert event.citation.end is not None and len(shown) >= event.citation.end


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_responses_citations_follow_the_delta_that_completes_them(
    sctx: LLMContext, fake: FakeProviderServer, provider: str
) -> None:
    fake.script(SEARCHED)
    events = list(sctx.llm(provider).events_sync(ASK, builtin_tools=["web_search"]))
    for index, event in enumerate(events):
        if isinstance(event, CitationAdded):
            deltas = [e.text for e in events[:index] if isinstance(e, TextDelta)]
            assert event.citation.end is not None
            assert len("".join(deltas)) >= event.citation.end > len("".join(deltas[:-1]))


def test_a_search_with_a_function_call(sctx: LLMContext, fake: FakeProviderServer) -> None:
    from llm_context.testing import ToolCallReply

    reply = Reply(
        ANSWER,
        citations=CITATIONS,
        searches=(SEARCH,),
        tool_calls=(ToolCallReply("lookup", {"city": "Oslo"}),),
    )
    fake.script(reply, reply)
    llm = sctx.llm("openai")
    result = llm.chat_sync(ASK, tools=[LOOKUP], builtin_tools=["web_search"])
    assert [c.name for c in result.tool_calls] == ["lookup"]
    assert spans(result.citations) == WANTED
    stream = llm.stream_sync(ASK, tools=[LOOKUP], builtin_tools=["web_search"])
    assert "".join(stream) == ANSWER
    assert [(c.name, c.arguments) for c in stream.result.tool_calls] == [
        ("lookup", {"city": "Oslo"})
    ]
    assert stream.result.citations == result.citations


# -- reasoning summaries ---------------------------------------------------------------------


def test_reasoning_summary_parts_are_paragraphs(sctx: LLMContext, fake: FakeProviderServer) -> None:
    thought = "First I look up Oslo.\n\nThen Bergen.\n\nBoth are Norwegian cities."
    fake.script(*[Reply("42", reasoning=thought)] * 3)
    llm = sctx.llm("openai")
    result = llm.chat_sync(ASK, model="o4-mini", reasoning_effort="low")
    assert len(result.raw.output[0].summary) == 3  # three summary parts on the wire
    assert result.reasoning == thought
    stream = llm.stream_sync(ASK, model="o4-mini", reasoning_effort="low")
    assert "".join(stream) == "42"
    assert stream.result.reasoning == thought
    events = list(llm.events_sync(ASK, model="o4-mini", reasoning_effort="low"))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == thought


@pytest.mark.parametrize(
    ("options", "wanted"),
    [
        ({"reasoning_summary": "concise"}, {"summary": "concise"}),
        ({"reasoning_effort": "low"}, {"effort": "low", "summary": "auto"}),
        (
            {"reasoning_effort": "high", "reasoning_summary": "detailed"},
            {"effort": "high", "summary": "detailed"},
        ),
        ({}, None),
    ],
)
def test_the_reasoning_object(
    sctx: LLMContext, fake: FakeProviderServer, options: dict[str, Any], wanted: Any
) -> None:
    fake.script(Reply("42", reasoning="Because."))
    result = sctx.llm("openai").chat_sync(ASK, model="o4-mini", **options)
    assert fake.last_request.json.get("reasoning") == wanted
    assert result.reasoning == "Because."


# -- malformed annotations -------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [
        None,
        "url_citation",
        {"type": "file_citation", "file_id": "f", "index": 0},
        {"type": "url_citation", "url": 7, "title": "t", "start_index": 0, "end_index": 1},
        {"type": "url_citation", "url": None},
    ],
)
def test_a_malformed_responses_annotation_is_left_out(annotation: Any) -> None:
    assert url_citation(annotation, 0, 10) is None


def test_a_responses_annotation_with_bad_fields_keeps_its_url() -> None:
    odd = {"type": "url_citation", "url": "https://x.example", "title": 3}
    for start, end in (("0", 4), (0, 40), (5, 2), (-1, 2), (True, 2), (None, None)):
        found = url_citation({**odd, "start_index": start, "end_index": end}, 0, 10)
        assert found is not None
        assert (found.url, found.title, found.start, found.end) == (
            "https://x.example",
            None,
            None,
            None,
        )
    # Indexes within a later part are moved by the text before it, and checked against it.
    good = {**odd, "start_index": 1, "end_index": 3}
    found = url_citation(good, 5, 10)
    assert found is not None and (found.start, found.end) == (6, 8)
    assert url_citation({**odd, "start_index": 1, "end_index": 9}, 5, 10).start is None  # type: ignore[union-attr]


def test_malformed_chat_annotations_are_left_out() -> None:
    class Holder:
        def __init__(self, annotations: Any) -> None:
            self.annotations = annotations

    bad = [
        None,
        "x",
        {"type": "url_citation"},
        {"type": "url_citation", "url_citation": {"url": ["no"]}},
        {"type": "other", "url_citation": {"url": "https://x.example"}},
    ]
    assert list(annotation_citations(Holder(bad), 10)) == []
    good = {"url": "https://x.example", "title": None, "content": 5, "start_index": 2}
    (found,) = annotation_citations(Holder([{"type": "url_citation", "url_citation": good}]), 10)
    assert (found.url, found.title, found.cited_text, found.start, found.end) == (
        "https://x.example",
        None,
        None,
        None,
        None,
    )


def _response(output: list[dict[str, Any]]) -> Any:
    from openai.types.responses import Response

    return Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 0,
            "model": "gpt-4.1",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "status": "completed",
        }
    )


def _message(text: str, annotations: list[Any], ident: str = "msg_1") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": annotations}
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }


def test_a_later_output_text_part_counts_from_its_start() -> None:
    cite = {"type": "url_citation", "url": "https://x.example", "title": "X"}
    response = _response(
        [
            _message("Før søk. ", []),
            {
                "id": "ws_1",
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": "x"},
            },
            _message("Oslo is big.", [{**cite, "start_index": 0, "end_index": 4}], "msg_2"),
        ]
    )
    result = responses_reply.parse_response(response)
    assert result.text == "Før søk. Oslo is big."
    (citation,) = result.citations
    assert (citation.start, citation.end) == (9, 13)
    assert result.text[citation.start : citation.end] == "Oslo"


def test_annotations_of_the_wrong_type_raise_our_error_or_are_dropped() -> None:
    response = _response([_message("Hello", [])])
    response.output[0].content[0].annotations = 5  # what a broken server could send
    with pytest.raises(LLMServerError):
        responses_reply.parse_response(response)
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Hello"},
                }
            ],
        }
    )
    completion.choices[0].message.annotations = 5  # type: ignore[assignment]
    with pytest.raises(LLMServerError):
        chat_completions.parse_response(completion, "openrouter")
