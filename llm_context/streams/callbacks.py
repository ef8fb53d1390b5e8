"""`chat_stream(..., on_delta=, on_reasoning_delta=, on_tool_call=)`: the callback style of
streaming (AetherGraph's), dispatched from the public events."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..contract.events import ChatEvent, ReasoningDelta, TextDelta, ToolCallDone
from ..contract.tools import ToolCall
from ..errors import LLMInputError

__all__ = ["StreamCallbacks"]

TextCallback = Callable[[str], Any]
ToolCallback = Callable[[ToolCall], Any]


@dataclass(frozen=True)
class StreamCallbacks:
    """Each optional: `on_delta(text)`, `on_reasoning_delta(text)`, `on_tool_call(call)`
    (a call once complete). Functions or, on the async API, coroutine functions."""

    on_delta: TextCallback | None = None
    on_reasoning_delta: TextCallback | None = None
    on_tool_call: ToolCallback | None = None

    @property
    def text_only(self) -> bool:
        """Only text is asked for: the text stream serves it."""
        return self.on_reasoning_delta is None and self.on_tool_call is None

    def check_sync(self) -> None:
        """The blocking API cannot await: a coroutine function is refused before sending."""
        for name in ("on_delta", "on_reasoning_delta", "on_tool_call"):
            given = getattr(self, name)
            if given is not None and inspect.iscoroutinefunction(given):
                raise LLMInputError(
                    f"{name} is a coroutine function: use `await llm.chat_stream(...)` for it"
                )

    def call(self, event: ChatEvent) -> Any:
        """Run the callback for `event`, if any; its outcome (an awaitable for a coroutine)."""
        if type(event) is TextDelta and self.on_delta is not None:
            return self.on_delta(event.text)
        if type(event) is ReasoningDelta and self.on_reasoning_delta is not None:
            return self.on_reasoning_delta(event.text)
        if type(event) is ToolCallDone and self.on_tool_call is not None:
            return self.on_tool_call(event.call)
        return None
