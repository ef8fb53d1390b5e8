"""The public stream events: what `llm.events_sync(...)` yields, in order.

A stream gives text (`TextDelta`), thinking (`ReasoningDelta`), tool calls as they are
written (`ToolCallStarted`, `ToolCallDelta`s, `ToolCallDone`), sources (`CitationAdded`),
the best parse of JSON output so far (`PartialObject`), the final usage (`UsageReported`)
and last `Completed` with the same `ChatResult` a `chat_sync` call returns. Every event is
frozen; match on them with `match event: case TextDelta(text=t): ...`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the events load with every client, these need not
    from .citations import Citation
    from .results import ChatResult, Usage
    from .tools import ToolCall

__all__ = [
    "ChatEvent",
    "CitationAdded",
    "Completed",
    "PartialObject",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallDone",
    "ToolCallStarted",
    "UsageReported",
]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's thinking or reasoning summary: kept apart from the answer."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model began a tool call: its id and the tool's name."""

    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a started call's arguments (JSON text; joined, they are the arguments)."""

    id: str
    arguments_delta: str


@dataclass(frozen=True)
class ToolCallDone:
    """A call complete, with its decoded arguments (as in `ChatResult.tool_calls`)."""

    call: ToolCall


@dataclass(frozen=True)
class CitationAdded:
    """A source for the answer (its span, where given, indexes the final text)."""

    citation: Citation


@dataclass(frozen=True)
class PartialObject:
    """JSON output so far, parsed as far as it goes (`output_format="json_schema"` or
    `"json_object"`): each one holds at least what the one before held."""

    value: Mapping[str, Any] | list[Any]


@dataclass(frozen=True)
class UsageReported:
    """The call's token usage (normalised, as `ChatResult.usage`)."""

    usage: Usage


@dataclass(frozen=True)
class Completed:
    """The last event: the same result `chat_sync` returns."""

    result: ChatResult


ChatEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallDelta
    | ToolCallDone
    | CitationAdded
    | PartialObject
    | UsageReported
    | Completed
)
