"""Spans for the tool loop: one for the whole loop (its chat calls and tool runs nest under
it) and an `execute_tool` span for each function the model asked for, in the GenAI
conventions. Nothing happens when OpenTelemetry is not set up."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .otel import instruments

if TYPE_CHECKING:
    from ..config.settings import TelemetrySettings
    from ..contract.tools import ToolCall

__all__ = ["loop_span", "tool_span"]


@contextlib.contextmanager
def loop_span(settings: TelemetrySettings | None) -> Iterator[None]:
    """The loop's span, current while it runs (so its calls and tools are its children)."""
    found = None if settings is None else instruments(settings.tracer_provider)
    if found is None or found.tracer is None:
        yield
        return
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "tool_loop"}
    with found.tracer.start_as_current_span("invoke_agent tool_loop", attributes=attributes):
        yield


@contextlib.contextmanager
def tool_span(
    settings: TelemetrySettings | None, call: ToolCall
) -> Iterator[Callable[[str, bool], None]]:
    """A span around one tool run; call what it yields with the run's output and whether
    it failed."""
    found = None if settings is None else instruments(settings.tracer_provider)
    if found is None or found.tracer is None:
        yield _ignore
        return
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
        "gen_ai.tool.type": "function",
    }
    if settings is not None and settings.capture_content:
        attributes["gen_ai.tool.call.arguments"] = json.dumps(call.arguments, default=repr)
    with found.tracer.start_as_current_span(
        f"execute_tool {call.name}", attributes=attributes
    ) as span:

        def done(output: str, failed: bool) -> None:
            if settings is not None and settings.capture_content:
                span.set_attribute("gen_ai.tool.call.result", output)
            if failed:
                from opentelemetry.trace import Status, StatusCode

                span.set_attribute("error.type", "tool_error")
                span.set_status(Status(StatusCode.ERROR, "the tool raised"))

        yield done


def _ignore(output: str, failed: bool) -> None:
    return None
