"""OpenAI Responses API, the reply side: a `Response` -> `ChatResult`, and one stream's events
-> ours (`StreamParser`, which keeps what citations need: where each text part starts).

Citations are `url_citation` annotations on `output_text` parts, their indexes counted within
that part: the part's start in the joined answer is added. Reasoning summaries arrive as
parts (paragraphs), joined by a blank line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...contract.citations import Citation
from ...contract.events import CitationAdded
from ...contract.results import ChatResult, Usage, make_usage
from ...contract.tools import ToolCall, parse_arguments
from ...errors import LLMServerError, error_for_status
from ...streams.events import (
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
    ToolCallEnd,
)
from ..registry import Provider
from ..shared.reply_checks import (
    expect,
    optional_str,
    reading,
    required_list,
    tokens,
    validated,
)
from .citations import url_citation

__all__ = [
    "INCOMPLETE_REASONS",
    "STREAM_ERROR_STATUS",
    "StreamParser",
    "finish_reason",
    "parse_body",
    "parse_event",
    "parse_response",
    "parse_usage",
]

PROVIDER = Provider.OPENAI.value

# An `error` event's code -> the HTTP status it stands for (unknown codes: the caller's).
STREAM_ERROR_STATUS = {"": 500, "server_error": 500, "rate_limit_exceeded": 429}

# Why a response stopped early -> our finish reason.
INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}

PARAGRAPH = "\n\n"  # between reasoning summary parts


def parse_usage(usage: Any) -> Usage:
    """The reply's usage; a count missing or of the wrong type is unknown."""
    if usage is None:
        return make_usage()
    inp = getattr(usage, "input_tokens_details", None)
    out = getattr(usage, "output_tokens_details", None)
    return make_usage(
        tokens(usage, "input_tokens"),
        tokens(usage, "output_tokens"),
        tokens(usage, "total_tokens"),
        reasoning_tokens=tokens(out, "reasoning_tokens"),
        cached_input_tokens=tokens(inp, "cached_tokens"),
        cache_write_tokens=tokens(inp, "cache_write_tokens"),
    )


def finish_reason(response: Any) -> str:
    """Why a response ended, read from the whole response (shared by chat and stream)."""
    if getattr(response, "status", None) == "incomplete":
        details = getattr(response, "incomplete_details", None)
        return INCOMPLETE_REASONS.get(getattr(details, "reason", None) or "", "length")
    output = response.output or []
    refused = any(
        getattr(part, "type", None) == "refusal"
        for item in output
        if getattr(item, "type", None) == "message"
        for part in item.content or []
    )
    if refused:
        return "content_filter"
    has_calls = any(getattr(item, "type", None) == "function_call" for item in output)
    return "tool_calls" if has_calls else "stop"


def parse_response(response: Any, provider: str = PROVIDER) -> ChatResult:
    """A `Response` -> `ChatResult` (text, tool calls, reasoning summary, citations, usage);
    a reply that is no `Response` or has no `output` list raises `LLMServerError`."""
    from openai.types.responses import Response

    response = expect(response, Response, provider)
    required_list(response, "output", provider)
    with reading(provider):
        return _parse_response(response)


def parse_body(body: Any, provider: str = PROVIDER) -> ChatResult:
    """A Responses API answer as decoded JSON (a batch's output line) -> `ChatResult`."""
    from openai.types.responses import Response

    return parse_response(validated(Response, body, provider), provider)


def _parse_response(response: Any) -> ChatResult:
    texts: list[str] = []
    length = 0
    citations: list[Citation] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for item in response.output:
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in item.content or []:
                text = part.text if part.type == "output_text" else None
                if part.type == "refusal":
                    text = part.refusal
                if not isinstance(text, str):
                    continue
                for annotation in getattr(part, "annotations", None) or []:
                    found = url_citation(annotation, length, length + len(text))
                    if found is not None:
                        citations.append(found)
                texts.append(text)
                length += len(text)
        elif kind == "function_call":
            calls.append(
                ToolCall(
                    item.call_id, item.name, parse_arguments(item.arguments, tool_name=item.name)
                )
            )
        elif kind == "reasoning":
            reasoning.extend(s.text for s in (item.summary or []))
    return ChatResult(
        "".join(texts),
        parse_usage(response.usage),
        tool_calls=tuple(calls),
        finish_reason=finish_reason(response),
        model=optional_str(response.model),
        reasoning=PARAGRAPH.join(reasoning) or None,
        citations=tuple(citations),
        raw=response,
    )


class StreamParser:
    """One stream's events -> ours. Keeps the answer's length so far and where each text
    part began, so an annotation's indexes land in the joined answer; and whether a
    reasoning summary paragraph came before (the next is set off by a blank line)."""

    def __init__(self) -> None:
        self.length = 0
        self.part_start: dict[tuple[int, int], int] = {}
        self.summary_parts = 0

    def feed(self, event: Any) -> Iterator[StreamEvent]:
        kind = event.type
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            key = (event.output_index, getattr(event, "content_index", 0))
            self.part_start.setdefault(key, self.length)
            if isinstance(event.delta, str):
                self.length += len(event.delta)
            yield TextDelta(event.delta)  # a refusal is the answer's text, as in the reply
        elif kind == "response.output_text.annotation.added":
            key = (event.output_index, getattr(event, "content_index", 0))
            base = self.part_start.get(key, self.length)
            found = url_citation(getattr(event, "annotation", None), base, self.length)
            if found is not None:
                yield CitationAdded(found)
        elif kind == "response.reasoning_summary_part.added":
            if self.summary_parts:
                yield ReasoningDelta(PARAGRAPH)
            self.summary_parts += 1
        else:
            yield from parse_event(event)


def parse_event(event: Any) -> Iterator[StreamEvent]:
    """One Responses stream event that needs nothing from earlier ones -> ours."""
    kind = event.type
    if kind in ("response.output_text.delta", "response.refusal.delta"):
        yield TextDelta(event.delta)
    elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        yield ReasoningDelta(event.delta)
    elif kind == "response.output_item.added" and event.item.type == "function_call":
        yield ToolCallChunk(event.output_index, id=event.item.call_id, name=event.item.name)
    elif kind == "response.function_call_arguments.delta":
        yield ToolCallChunk(event.output_index, arguments=event.delta)
    elif kind == "response.output_item.done" and event.item.type == "function_call":
        yield ToolCallEnd(event.output_index)
    elif kind in ("response.completed", "response.incomplete"):
        response = event.response
        yield StreamEnd(
            finish_reason(response),
            parse_usage(response.usage),
            optional_str(response.model),
            response,
        )
    elif kind == "response.failed":
        error = getattr(event.response, "error", None)
        raise LLMServerError(
            f"openai response failed: {getattr(error, 'message', None) or 'no details'}",
            provider="openai",
        )
    elif kind == "error":
        message = getattr(event, "message", None) or "stream error"
        code = str(getattr(event, "code", "") or "")
        status = STREAM_ERROR_STATUS.get(code, 400)
        raise error_for_status(status)(
            f"openai stream error {code or 'unknown'}: {message}",
            provider="openai",
            status_code=status,
        )
