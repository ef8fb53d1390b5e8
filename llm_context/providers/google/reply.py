"""Gemini replies -> our results: `parse_response` for one `GenerateContentResponse`, and
`StreamParser` for the chunks of `generate_content_stream`.

Decisions documented here:
- Usage: `output_tokens` = candidates + thoughts, like OpenAI's (which includes reasoning), so
  totals compare across providers; the thoughts alone are `reasoning_tokens`. `input_tokens`
  includes tool-use prompt tokens, so input + output = Gemini's `total_token_count`.
- A prompt blocked before any candidate (`prompt_feedback.block_reason`) is not an exception:
  the result has empty text and finish_reason "content_filter", like a filtered answer, and
  `.raw` holds the feedback. A reply with neither candidates nor a block reason (`{}`, or a
  body that is no object, which the SDK reads as an empty reply) is unreadable:
  `LLMServerError`, retried like any.
- Thought parts (`thought: true`) are reasoning, never answer text.
- A stream is complete only when a chunk carries a finish reason; one that ends without it is
  cut (the client raises `LLMStreamError`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from google.genai import types

from ...contract.events import CitationAdded
from ...contract.results import ChatResult, Usage, make_usage
from ...contract.tools import ToolCall
from ...streams.events import (
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
    ToolCallEnd,
)
from ..shared.reply_checks import expect, optional_str, reading, tokens, unreadable
from .grounding import TextPart, grounding_citations
from .ids import mint_call_id
from .request import PROVIDER

__all__ = ["FINISH_REASONS", "StreamParser", "finish_reason", "parse_response", "parse_usage"]

# Gemini finish reason -> ours. STOP with function calls becomes "tool_calls" (see finish_reason).
FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "LANGUAGE": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
    "CONTINUATION": "length",  # automatic continuation is off: the answer is unfinished
}


def _name(value: Any) -> str:
    """An enum member's value, or the string itself (unknown enum values arrive as str)."""
    return str(getattr(value, "value", value) or "")


def parse_usage(meta: Any) -> Usage:
    """`usage_metadata` -> our usage dict (see the module doc for what counts where)."""
    if meta is None:
        return make_usage()
    thoughts = tokens(meta, "thoughts_token_count")
    prompt = (tokens(meta, "prompt_token_count") or 0) + (
        tokens(meta, "tool_use_prompt_token_count") or 0
    )
    output = (tokens(meta, "candidates_token_count") or 0) + (thoughts or 0)
    return make_usage(
        prompt,
        output,
        tokens(meta, "total_token_count"),
        reasoning_tokens=thoughts,
        cached_input_tokens=tokens(meta, "cached_content_token_count"),
    )


def finish_reason(reason: Any, has_calls: bool) -> str:
    """One Gemini finish reason -> ours."""
    mapped = FINISH_REASONS.get(_name(reason), "stop" if reason is None else "error")
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def _parts_of(response: Any) -> list[Any]:
    """The first candidate's parts (Gemini is asked for one candidate), or none."""
    candidates = response.candidates
    content = candidates[0].content if candidates else None
    return (content.parts if content is not None else None) or []


def _call_id(response: Any, part: Any, index: int) -> str:
    fn = part.function_call
    # The seed is only needed (and the arguments only serialised) when the API sent no id.
    seed = "" if fn.id else response.response_id or f"{fn.name}:{_sorted_args(fn.args)}"
    return mint_call_id(seed, index, fn.id, part.thought_signature)


def _sorted_args(args: Any) -> str:
    return json.dumps(args or {}, sort_keys=True)


class _Parts:
    """Splits stream chunk parts into text, reasoning and tool calls; counts calls across
    chunks."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []  # the answer so far (grounding indexes into it)

    def events(self, response: Any) -> Iterator[StreamEvent]:
        for part in _parts_of(response):
            fn = part.function_call
            if fn is not None:
                call_id = _call_id(response, part, self.calls)
                arguments = json.dumps(fn.args or {}, ensure_ascii=False)
                yield ToolCallChunk(self.calls, id=call_id, name=fn.name or "", arguments=arguments)
                yield ToolCallEnd(self.calls)  # Gemini sends each call whole
                self.calls += 1
            elif part.text and part.thought:
                yield ReasoningDelta(part.text)
            elif part.text:
                if isinstance(part.text, str):
                    self.texts.append(part.text)
                yield TextDelta(part.text)


def _blocked(response: Any) -> bool:
    """The prompt was blocked before any candidate (a filtered answer, not a broken reply)."""
    return getattr(getattr(response, "prompt_feedback", None), "block_reason", None) is not None


def parse_response(response: Any) -> ChatResult:
    """A `GenerateContentResponse` -> `ChatResult` (text, reasoning, tool calls, usage); a
    reply with neither candidates nor a block reason raises `LLMServerError`."""
    response = expect(response, types.GenerateContentResponse, PROVIDER)
    if not response.candidates and not _blocked(response):
        raise unreadable(PROVIDER, "the reply has no candidates (and no block reason)")
    with reading(PROVIDER):
        return _parse_response(response)


def _parse_response(response: Any) -> ChatResult:
    texts: list[str] = []
    length = 0
    where: list[TextPart] = []  # each part's text and start in the answer, by part index
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for part in _parts_of(response):
        fn = part.function_call
        where.append(("", length))
        if fn is not None:
            # A JSON round trip, like a streamed call's arguments: a copy the caller owns.
            arguments = json.loads(json.dumps(fn.args or {}))
            calls.append(ToolCall(_call_id(response, part, len(calls)), fn.name or "", arguments))
        elif part.text and part.thought:
            reasoning.append(part.text)
        elif part.text:
            where[-1] = (part.text, length)
            texts.append(part.text)
            length += len(part.text)
    candidates = response.candidates
    if candidates:
        reason = finish_reason(candidates[0].finish_reason, bool(calls))
    else:
        reason = "content_filter"  # blocked: parse_response let nothing else through
    answer = "".join(texts)
    grounding = getattr(candidates[0], "grounding_metadata", None) if candidates else None
    return ChatResult(
        answer,
        parse_usage(response.usage_metadata),
        tool_calls=tuple(calls),
        finish_reason=reason,
        model=optional_str(response.model_version),
        reasoning="".join(reasoning) or None,
        citations=tuple(grounding_citations(grounding, answer, where)),
        raw=response,
    )


class StreamParser:
    """Turns stream chunks into events; the chunk with a finish reason ends with `StreamEnd`."""

    def __init__(self) -> None:
        self._parts = _Parts()
        self._usage: Any = None
        self._grounding: Any = None  # the latest: later chunks carry the whole of it

    def feed(self, chunk: Any) -> Iterator[StreamEvent]:
        chunk = expect(chunk, types.GenerateContentResponse, PROVIDER)
        candidates = chunk.candidates
        if not candidates and chunk.usage_metadata is None and chunk.prompt_feedback is None:
            # `{}` (or a body that is no object, read by the SDK as one): nothing a chunk carries.
            raise unreadable(PROVIDER, "a stream chunk has no candidates, usage or feedback")
        yield from self._parts.events(chunk)
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        if candidates and getattr(candidates[0], "grounding_metadata", None) is not None:
            self._grounding = candidates[0].grounding_metadata
        reason = candidates[0].finish_reason if candidates else None
        if reason is not None:
            final = finish_reason(reason, self._parts.calls > 0)
        elif not candidates and _blocked(chunk):
            final = "content_filter"
        else:
            return
        answer = "".join(self._parts.texts)
        for citation in grounding_citations(self._grounding, answer, [(answer, 0)]):
            yield CitationAdded(citation)
        model = optional_str(chunk.model_version)
        yield StreamEnd(final, parse_usage(self._usage), model, chunk)
