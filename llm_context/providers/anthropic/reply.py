"""Anthropic Messages API, the reply side: a `Message` -> `ChatResult`, stream events -> ours,
and the `error` event of a stream -> our error."""

from __future__ import annotations

from typing import Any

from ...contract.citations import Citation
from ...contract.events import CitationAdded
from ...contract.results import ChatResult, Usage, make_usage
from ...contract.tools import ToolCall, parse_arguments
from ...errors import LLMProviderError, error_for_status
from ...streams.events import (
    ProviderState,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
    ToolCallEnd,
    UsageUpdate,
)
from ..registry import Provider
from ..shared.reply_checks import expect, optional_str, reading, required_list, tokens
from ..shared.sdk import error_message
from .citations import SERVER_BLOCKS, citation, server_block, server_input

PROVIDER = Provider.ANTHROPIC.value

# stop_reason -> our finish reason. pause_turn (a long server-side turn paused, to be resumed
# by sending it back) and a full context window both leave the answer incomplete.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "pause_turn": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# error.type of a stream's `error` event -> the HTTP status the same error has as a response.
ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def finish_reason(stop_reason: str | None) -> str | None:
    """Our finish reason; an unknown stop reason passes through as it is."""
    if not isinstance(stop_reason, str):
        return None  # none yet, or not a reason at all
    return FINISH_REASONS.get(stop_reason, stop_reason)


def parse_usage(usage: Any, earlier: Any = None) -> Usage:
    """Normalised usage; a field `usage` lacks comes from `earlier` (a stream's first usage).

    Anthropic's `input_tokens` leaves out cache reads and cache writes. Ours is the whole
    prompt (as at OpenAI), with `cached_input_tokens` (cache reads) and `cache_write_tokens`
    (cache writes) parts of it, so input + output is the total and nothing is counted twice.
    """

    def field(name: str) -> int | None:
        value = tokens(usage, name)  # a count of the wrong type is unknown, like a missing one
        return tokens(earlier, name) if value is None else value

    cache_read = field("cache_read_input_tokens")
    prompt = (field("input_tokens") or 0) + (cache_read or 0)
    cache_write = field("cache_creation_input_tokens")
    prompt += cache_write or 0
    details = getattr(usage, "output_tokens_details", None)
    thinking = tokens(details, "thinking_tokens")
    if thinking is None:
        thinking = tokens(getattr(earlier, "output_tokens_details", None), "thinking_tokens")
    return make_usage(
        prompt,
        field("output_tokens"),
        reasoning_tokens=thinking,
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def thinking_state(
    blocks: list[dict[str, str]], server: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The provider state that carries signed thinking blocks (and a web search's server-tool
    blocks) into the next turn (None if none): the API wants them back, unchanged."""
    state: dict[str, Any] = {}
    if blocks:
        state["thinking"] = blocks
    if server:
        state["server_blocks"] = server
    return {PROVIDER: state} if state else None


def thinking_block(block: Any) -> dict[str, str]:
    """A thinking / redacted_thinking block as the plain dict the API takes back."""
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}


def parse_response(message: Any) -> ChatResult:
    """A `Message` -> `ChatResult`: text, thinking (as reasoning, and signed in
    provider_state), tool calls, usage. A reply that is no `Message` or has no `content`
    list raises `LLMServerError` (an empty list is a real, empty answer)."""
    from anthropic.types import Message

    message = expect(message, Message, PROVIDER)
    content = required_list(message, "content", PROVIDER)
    with reading(PROVIDER):
        return _parse_message(message, content)


def _parse_message(message: Any, content: list[Any]) -> ChatResult:
    texts: list[str] = []
    length = 0
    citations: list[Citation] = []
    reasoning: list[str] = []
    thinking: list[dict[str, str]] = []
    server: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in content:
        kind = block.type
        if kind == "text":
            text = block.text if isinstance(block.text, str) else ""
            for raw in getattr(block, "citations", None) or []:
                found = citation(raw, length, length + len(text))
                if found is not None:
                    citations.append(found)
            texts.append(text)
            length += len(text)
        elif kind in SERVER_BLOCKS:
            server.append(server_block(block))
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(thinking_block(block))
            if kind == "thinking":
                reasoning.append(block.thinking)
        elif kind == "tool_use":
            calls.append(
                ToolCall(block.id, block.name, parse_arguments(block.input, tool_name=block.name))
            )
    return ChatResult(
        "".join(texts),
        parse_usage(message.usage),
        tool_calls=tuple(calls),
        finish_reason=finish_reason(message.stop_reason),
        model=optional_str(message.model),
        reasoning="".join(reasoning) or None,
        citations=tuple(citations),
        raw=message,
        provider_state=thinking_state(thinking, server),
    )


class StreamParser:
    """Stream events -> ours. Keeps what the terminal event needs from earlier ones: the
    input usage of `message_start`, the stop reason and output usage of `message_delta`, and
    the thinking blocks (text and signature arrive in deltas), sent as one `ProviderState`.
    Tool calls are keyed by content-block index, so parallel calls stay apart."""

    def __init__(self) -> None:
        self.thinking: dict[int, dict[str, str]] = {}  # by content-block index
        self.tool_blocks: set[int] = set()  # the indexes of tool_use blocks
        self.server: dict[int, dict[str, Any]] = {}  # server-tool blocks, by index
        self.server_input: dict[int, list[str]] = {}  # a server tool's streamed input JSON
        self.length = 0  # the answer's characters so far
        self.text_start: dict[int, int] = {}  # where each text block began in the answer
        self.cited: dict[int, list[Any]] = {}  # citations_delta of each text block
        self.model: str | None = None
        self.first_usage: Any = None
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.last_delta: Any = None

    def feed(self, event: Any) -> tuple[StreamEvent, ...]:
        """The events one SDK event shows (a tuple, not a generator: a stream feeds every
        event through here, and a text delta, the common case, is tested first)."""
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                if isinstance(delta.text, str):
                    self.length += len(delta.text)
                return (TextDelta(delta.text),)
            return self._delta(event.index, delta)
        if kind == "message_start":
            self.model = optional_str(event.message.model)
            self.first_usage = event.message.usage
            self.usage = parse_usage(self.first_usage)
            return (UsageUpdate(self.usage),)
        if kind == "content_block_start":
            return self._block_start(event.index, event.content_block)
        if kind == "content_block_stop":
            return self._block_stop(event.index)
        if kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            self.usage = parse_usage(event.usage, self.first_usage)
            self.last_delta = event
        elif kind == "message_stop":
            state = thinking_state(
                [self.thinking[i] for i in sorted(self.thinking)],
                [self.server[i] for i in sorted(self.server)],
            )
            end = StreamEnd(
                finish_reason(self.stop_reason), self.usage, self.model, self.last_delta
            )
            return (end,) if state is None else (ProviderState(state), end)
        return ()

    def _block_start(self, index: int, block: Any) -> tuple[StreamEvent, ...]:
        if block.type == "tool_use":
            self.tool_blocks.add(index)
            return (ToolCallChunk(index, id=block.id, name=block.name),)
        if block.type == "text":
            self.text_start[index] = self.length
            if block.text:
                self.length += len(block.text)
                return (TextDelta(block.text),)
        elif block.type in SERVER_BLOCKS:
            self.server[index] = server_block(block)
        elif block.type in ("thinking", "redacted_thinking"):
            self.thinking[index] = thinking_block(block)
            if block.type == "thinking" and block.thinking:
                return (ReasoningDelta(block.thinking),)
        return ()

    def _delta(self, index: int, delta: Any) -> tuple[StreamEvent, ...]:
        """Every content-block delta but text's."""
        if delta.type == "citations_delta":
            self.cited.setdefault(index, []).append(delta.citation)
        elif delta.type == "thinking_delta":
            self._thinking(index)["thinking"] += delta.thinking
            return (ReasoningDelta(delta.thinking),)
        elif delta.type == "signature_delta":
            self._thinking(index)["signature"] += delta.signature
        elif delta.type == "input_json_delta" and index in self.tool_blocks:
            return (ToolCallChunk(index, arguments=delta.partial_json),)
        elif delta.type == "input_json_delta" and index in self.server:
            # A server tool (web search) streams its input too: no call, kept to send back.
            self.server_input.setdefault(index, []).append(delta.partial_json)
        return ()

    def _block_stop(self, index: int) -> tuple[StreamEvent, ...]:
        if index in self.tool_blocks:
            return (ToolCallEnd(index),)
        if index in self.server_input:
            query = server_input(self.server_input.pop(index))
            if query is not None:
                self.server[index]["input"] = query
        elif index in self.cited:
            # A citation spans its whole text block: shown once the block's end is known.
            start = self.text_start.get(index, 0)
            found = (citation(raw, start, self.length) for raw in self.cited.pop(index))
            return tuple(CitationAdded(c) for c in found if c is not None)
        return ()

    def _thinking(self, index: int) -> dict[str, str]:
        """The thinking block being streamed at `index` (a delta without its start opens one)."""
        return self.thinking.setdefault(
            index, {"type": "thinking", "thinking": "", "signature": ""}
        )


def stream_error(exc: Any) -> LLMProviderError:
    """Our error for an `error` event inside a 200 stream (the SDK raises it as a status error
    carrying the 200): classed by the error's type, e.g. overloaded_error -> LLMServerError."""
    kind = str(getattr(exc, "type", None) or "api_error")
    message = error_message(getattr(exc, "body", None), "stream error")
    cls = error_for_status(ERROR_TYPE_STATUS.get(kind, 500))
    return cls(
        f"{PROVIDER} stream failed ({kind}): {message}",
        provider=PROVIDER,
        request_id=getattr(exc, "request_id", None),
    )
