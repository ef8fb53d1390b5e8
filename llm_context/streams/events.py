"""Provider-neutral stream events, and the one accumulator that turns them into a ChatResult.

Adapters parse each SDK event into zero or more of these; the client hands text deltas to
the caller and feeds everything to `StreamAccumulator`. A stream is complete only when a
`StreamEnd` arrives: an iterator that stops before it is a cut stream.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # typing_extensions costs ~3 ms to import: only where typing lacks it
    from typing_extensions import assert_never

from ..contract.results import ChatResult, Usage, make_usage
from ..contract.tools import ToolCall, parse_arguments
from ..errors import LLMStreamError


@dataclass(frozen=True)
class TextDelta:
    """Visible answer text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Thinking / reasoning-summary text: kept apart from the answer."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of tool call `index`: id and name arrive once, arguments in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


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


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | UsageUpdate | ProviderState | StreamEnd


@dataclass
class _PendingCall:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


class StreamAccumulator:
    """Folds stream events into the final `ChatResult`."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.calls: dict[int, _PendingCall] = {}
        self.usage: dict[str, int] = {}
        self.state: dict[str, Any] = {}
        self.end: StreamEnd | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def add(self, event: StreamEvent) -> None:
        match event:
            case TextDelta(text=text):
                self.text_parts.append(text)
            case ReasoningDelta(text=text):
                self.reasoning_parts.append(text)
            case ToolCallDelta(index=index, id=call_id, name=name, arguments=args):
                call = self.calls.setdefault(index, _PendingCall())
                call.id = call.id or call_id
                call.name = call.name or name
                if args:
                    call.arguments.append(args)
            case UsageUpdate(usage=usage):
                self.usage.update(usage)
            case ProviderState(state=state):
                self.state.update(state)
            case StreamEnd():
                self.end = event
                if event.usage:
                    self.usage.update(event.usage)
            case _:
                assert_never(event)

    def result(self) -> ChatResult:
        """The final result; raises `LLMStreamError` if the terminal event never came."""
        if self.end is None:
            raise LLMStreamError(
                f"the {self.provider} stream ended before its terminal event "
                f"(received {len(self.text)} characters)",
                partial_text=self.text,
                provider=self.provider,
            )
        calls = tuple(
            ToolCall(
                c.id or f"call_{i}",
                c.name or "",
                parse_arguments("".join(c.arguments), tool_name=c.name or ""),
            )
            for i, c in sorted(self.calls.items())
        )
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
            raw=self.end.raw,
            provider_state=self.state or None,
        )
