"""Provider-neutral stream events, and the one accumulator that turns them into the public
events (`contract/events.py`) and the final ChatResult.

Adapters parse each SDK event into zero or more of these; the flow feeds each to
`StreamAccumulator.add`, which returns what the caller is shown. A stream is complete only
when a `StreamEnd` arrives: an iterator that stops before it is a cut stream.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # typing_extensions costs ~3 ms to import: only where typing lacks it
    from typing_extensions import assert_never

from ..contract.events import (
    ChatEvent,
    CitationAdded,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStarted,
)
from ..contract.results import ChatResult, Usage, make_usage
from ..contract.tools import ToolCall, parse_arguments
from ..errors import LLMStreamError

if TYPE_CHECKING:
    from ..contract.citations import Citation

__all__ = [
    "CitationAdded",
    "ProviderState",
    "ReasoningDelta",
    "StreamAccumulator",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallChunk",
    "ToolCallEnd",
    "UsageUpdate",
]


@dataclass(frozen=True)
class ToolCallChunk:
    """A fragment of tool call `index` as the wire sends it: id and name arrive once,
    arguments in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ToolCallEnd:
    """Tool call `index` is complete (where the wire says so; the end of the stream closes
    any call still open)."""

    index: int


@dataclass(frozen=True)
class UsageUpdate:
    """Usage seen mid-stream (Anthropic sends input usage first, output usage last)."""

    usage: Usage


@dataclass(frozen=True)
class ProviderState:
    """Opaque data the provider needs back next turn, keyed by provider (later keys win)."""

    state: Mapping[str, Any]


@dataclass(frozen=True)
class StreamEnd:
    """The provider's terminal event."""

    finish_reason: str | None
    usage: Usage | None = None
    model: str | None = None
    raw: Any = None


# What adapters yield. Text, reasoning and citations are already public events; the rest
# the accumulator turns into public ones (or keeps for the result).
StreamEvent = (
    TextDelta
    | ReasoningDelta
    | CitationAdded
    | ToolCallChunk
    | ToolCallEnd
    | UsageUpdate
    | ProviderState
    | StreamEnd
)
Shown = tuple[ChatEvent, ...]
_NONE: Shown = ()


@dataclass
class _PendingCall:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    started: bool = False
    done: bool = False

    def call(self, index: int) -> ToolCall:
        name = self.name or ""
        return ToolCall(
            self.call_id(index), name, parse_arguments("".join(self.arguments), tool_name=name)
        )

    def call_id(self, index: int) -> str:
        return self.id or f"call_{index}"


class StreamAccumulator:
    """Folds stream events into the final `ChatResult`, and says which public events each
    one shows the caller: a tool call starts once its name is known (arguments that came
    first follow at once), and ends at its `ToolCallEnd` or at the end of the stream."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.citations: list[Citation] = []
        self.calls: dict[int, _PendingCall] = {}
        self.usage: dict[str, int] = {}
        self.state: dict[str, Any] = {}
        self.end: StreamEnd | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def add(self, event: StreamEvent) -> Shown:
        """Take one event; return the public events it shows (in order)."""
        match event:
            case TextDelta(text=text):
                self.text_parts.append(text)
                return (event,) if text else _NONE
            case ReasoningDelta(text=text):
                self.reasoning_parts.append(text)
                return (event,) if text else _NONE
            case CitationAdded(citation=citation):
                self.citations.append(citation)
                return (event,)
            case ToolCallChunk():
                return self._chunk(event)
            case ToolCallEnd(index=index):
                call = self.calls.get(index)
                return self._done(index, call) if call is not None else _NONE
            case UsageUpdate(usage=usage):
                self.usage.update(usage)
                return _NONE
            case ProviderState(state=state):
                self.state.update(state)
                return _NONE
            case StreamEnd():
                self.end = event
                if event.usage:
                    self.usage.update(event.usage)
                shown: list[ChatEvent] = []
                for index, call in sorted(self.calls.items()):
                    shown.extend(self._done(index, call))
                return tuple(shown)
            case _:
                assert_never(event)

    def _chunk(self, chunk: ToolCallChunk) -> Shown:
        call = self.calls.setdefault(chunk.index, _PendingCall())
        if call.done:  # a fragment after the call ended: the result keeps it; nothing to show
            call.arguments.append(chunk.arguments)
            return _NONE
        call.id = call.id or chunk.id
        call.name = call.name or chunk.name
        if chunk.arguments:
            call.arguments.append(chunk.arguments)
        if call.started:
            if not chunk.arguments:
                return _NONE
            return (ToolCallDelta(call.call_id(chunk.index), chunk.arguments),)
        if not call.name:
            return _NONE  # shown once named: a call is started with its tool's name
        return self._start(chunk.index, call)

    def _start(self, index: int, call: _PendingCall) -> Shown:
        call.started = True
        call_id = call.call_id(index)
        call.id = call_id
        started: ChatEvent = ToolCallStarted(call_id, call.name or "")
        if not call.arguments:
            return (started,)
        return (started, ToolCallDelta(call_id, "".join(call.arguments)))

    def _done(self, index: int, call: _PendingCall) -> Shown:
        if call.done:
            return _NONE
        shown = _NONE if call.started else self._start(index, call)
        call.done = True
        return (*shown, ToolCallDone(call.call(index)))

    def result(self) -> ChatResult:
        """The final result; raises `LLMStreamError` if the terminal event never came."""
        if self.end is None:
            raise LLMStreamError(
                f"the {self.provider} stream ended before its terminal event "
                f"(received {len(self.text)} characters)",
                partial_text=self.text,
                provider=self.provider,
            )
        calls = tuple(call.call(i) for i, call in sorted(self.calls.items()))
        u = self.usage
        usage = make_usage(
            u.get("input_tokens"),
            u.get("output_tokens"),
            u.get("total_tokens"),
            reasoning_tokens=u.get("reasoning_tokens"),
            cached_input_tokens=u.get("cached_input_tokens"),
            cache_write_tokens=u.get("cache_write_tokens"),
        )
        return ChatResult(
            self.text,
            usage,
            tool_calls=calls,
            finish_reason=self.end.finish_reason,
            model=self.end.model,
            reasoning="".join(self.reasoning_parts) or None,
            citations=tuple(self.citations),
            raw=self.end.raw,
            provider_state=self.state or None,
        )
