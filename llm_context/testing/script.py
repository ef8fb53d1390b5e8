"""What the fake server should answer: provider-neutral, frozen script items.

`fake.script(Reply("hi"), Fault(429, retry_after="1"))` queues items; each request of any
endpoint consumes the next one. Wire modules turn an item into their provider's format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CitationReply",
    "EmbeddingReply",
    "Fault",
    "FinishReason",
    "ImageReply",
    "Reply",
    "ScriptItem",
    "SearchReply",
    "ToolCallReply",
    "UsageReply",
    "split_words",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]

# Word-ish chunks that keep their trailing whitespace, so "".join(chunks) == text.
_CHUNK = re.compile(r"\s*\S+\s*|\s+")


def split_words(text: str) -> tuple[str, ...]:
    """`text` cut into word-ish stream chunks that join back to exactly `text`."""
    return tuple(_CHUNK.findall(text))


def _header_value(value: str | float | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class ToolCallReply:
    """One tool call the fake model makes; `id=None` lets the wire module invent a stable one."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments as compact JSON, the way OpenAI-shaped wires carry them."""
        return json.dumps(dict(self.arguments), separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class CitationReply:
    """A source the fake model cites for `text[start:end]` of its answer (character offsets
    into `Reply.text`); each wire renders it the way its provider does (OpenAI and OpenRouter
    URL annotations, Anthropic cited text blocks, Gemini grounding supports in UTF-8 bytes).
    `cited_text` is the quoted source passage, where the provider sends one."""

    url: str
    title: str = ""
    start: int = 0
    end: int = 0
    cited_text: str = ""


@dataclass(frozen=True)
class SearchReply:
    """A web search the fake model ran before answering: its query and result pages."""

    query: str
    results: tuple[tuple[str, str], ...] = ()  # (url, title)


@dataclass(frozen=True)
class UsageReply:
    """Token counts to report; `output_tokens=None` derives a count from the reply's content.
    `input_tokens` is the whole prompt: cached and written tokens are parts of it (each wire
    splits them the way its provider reports them)."""

    input_tokens: int = 10
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None  # prompt tokens written to the cache


@dataclass(frozen=True)
class Reply:
    """A chat answer: text and/or tool calls, optional reasoning, usage and stream behaviour.

    Streaming: `deltas` are the text chunks (default: `text` split into words); `cut_after=N`
    sends N text deltas and then ends the body cleanly without the terminal event;
    `stall_after=N` pauses `stall_s` seconds after N deltas. `delay_s` waits before answering.
    When `text` is empty and `deltas` are given, the text is their concatenation.
    """

    text: str = ""
    tool_calls: tuple[ToolCallReply, ...] = ()
    reasoning: str | None = None
    usage: UsageReply = field(default_factory=UsageReply)
    citations: tuple[CitationReply, ...] = ()
    searches: tuple[SearchReply, ...] = ()
    finish_reason: FinishReason | None = None
    model: str | None = None
    deltas: tuple[str, ...] | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    stall_s: float = 0.0
    delay_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, **options: Any) -> Reply:
        """A reply whose text is `obj` as JSON (what a structured-output call gets back)."""
        return cls(text=json.dumps(obj), **options)

    @classmethod
    def tool_call(
        cls,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        id: str | None = None,
        **options: Any,
    ) -> Reply:
        """A reply that is a single tool call."""
        return cls(tool_calls=(ToolCallReply(name, dict(arguments or {}), id),), **options)

    @property
    def full_text(self) -> str:
        """The complete answer text (from `deltas` when `text` is empty)."""
        if not self.text and self.deltas is not None:
            return "".join(self.deltas)
        return self.text

    @property
    def text_deltas(self) -> tuple[str, ...]:
        """The text chunks a stream sends."""
        return self.deltas if self.deltas is not None else split_words(self.text)

    @property
    def resolved_finish_reason(self) -> FinishReason:
        """`finish_reason`, or `tool_calls` / `stop` derived from the content."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    @property
    def resolved_usage(self) -> UsageReply:
        """`usage` with `output_tokens` filled in (roughly one token per word or 4 JSON chars)."""
        if self.usage.output_tokens is not None:
            return self.usage
        derived = len(split_words(self.full_text))
        derived += sum(max(1, len(call.arguments_json) // 4) for call in self.tool_calls)
        derived += self.usage.reasoning_tokens or 0
        return UsageReply(
            input_tokens=self.usage.input_tokens,
            output_tokens=max(1, derived),
            reasoning_tokens=self.usage.reasoning_tokens,
            cached_input_tokens=self.usage.cached_input_tokens,
            cache_write_tokens=self.usage.cache_write_tokens,
        )


@dataclass(frozen=True)
class Fault:
    """A failure instead of an answer, applied by the server before any wire module runs.

    `body=None` sends the provider-shaped error body with `message`; any other `body` is sent
    as JSON. `raw_body` (bytes, or str sent as UTF-8) is sent verbatim instead of either: an
    HTML page, JSON `null` (`raw_body=b"null"`), a stream request answered without an event
    stream. `content_type` is the body's Content-Type (default `application/json`), e.g.
    `Fault(200, raw_body="<html>...</html>", content_type="text/html")`. `reset=True` aborts
    the TCP connection without a response; `malformed=True` answers 200 with a body that is
    not valid JSON (an SSE event with broken data for stream requests). `headers` are added
    to the response: a redirect that keeps the method is `Fault(307, headers={"location":
    "/v1/responses"})`, a body that does not match its encoding `Fault(200, raw_body=b"{}",
    headers={"content-encoding": "gzip"})`.
    """

    status: int = 500
    body: Any | None = None
    message: str | None = None
    retry_after: str | float | None = None
    retry_after_ms: str | float | None = None
    reset: bool = False
    malformed: bool = False
    delay_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes | str | None = None
    content_type: str | None = None

    @property
    def all_headers(self) -> dict[str, str]:
        """`headers` plus Retry-After / retry-after-ms when set."""
        out = dict(self.headers)
        retry_after = _header_value(self.retry_after)
        retry_after_ms = _header_value(self.retry_after_ms)
        if retry_after is not None:
            out["retry-after"] = retry_after
        if retry_after_ms is not None:
            out["retry-after-ms"] = retry_after_ms
        return out

    @property
    def error_message(self) -> str:
        """The message for the default error body."""
        return self.message or f"Fake provider error (HTTP {self.status})"


@dataclass(frozen=True)
class EmbeddingReply:
    """Explicit embeddings: `vectors` verbatim, or hashed vectors of `dimensions` length."""

    vectors: tuple[tuple[float, ...], ...] | list[list[float]] | None = None
    dimensions: int | None = None
    input_tokens: int | None = None
    model: str | None = None
    delay_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageReply:
    """Explicit images: base64 data (one image each), or a URL the client must fetch."""

    b64_images: tuple[str, ...] | list[str] | None = None
    url: str | None = None
    revised_prompt: str | None = None
    delay_s: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


ScriptItem = Reply | Fault | EmbeddingReply | ImageReply
"""Anything `fake.script(...)` accepts."""
