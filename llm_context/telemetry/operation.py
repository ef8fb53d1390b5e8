"""One traced operation: its span (a child of whatever span is current when it starts),
a child span for each attempt, retry wait and rate-limit wait of its flow, an event when it
falls back to another profile, and its two metrics, recorded once when it ends.

`start` makes one when telemetry is set up; `Operation.steps` wraps its flow, and a stream's
relay is wrapped too (`Operation.relay`): its span runs from open to end and notes the time
to its first token. An attempt's span
is made current while its request runs, in whatever thread runs it, so spans an SDK makes
(anthropic does) nest under it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from ..call.steps import Acquire, Call, Sleep, Step, Steps
from ..contract.events import TextDelta
from ..contract.results import ChatResult
from .attributes import (
    OPERATION_NAMES,
    Attributes,
    base_attributes,
    chat_request_attributes,
    input_messages,
    output_messages,
    result_attributes,
)
from .otel import instruments

if TYPE_CHECKING:
    from ..config.settings import Profile, TelemetrySettings
    from ..contract.request import ChatRequest
    from .otel import Instruments

__all__ = ["Operation", "start"]

T = TypeVar("T")
E = TypeVar("E")


def start(
    settings: TelemetrySettings,
    operation: str,
    profile: Profile,
    model: str | Callable[[], str],
    request: ChatRequest | None = None,
) -> Operation | None:
    """The operation's telemetry, or None (nothing to do) when nothing is set up. `model`
    may be a function: it is asked only then."""
    found = instruments(settings.tracer_provider, settings.meter_provider)
    if found is None:
        return None
    own = profile.telemetry
    capture = own.capture_content if own is not None else settings.capture_content
    label = model if isinstance(model, str) else model()
    return Operation(found, operation, profile, label, request, capture)


class Operation:
    """One call's span and metrics (see the module doc)."""

    def __init__(
        self,
        found: Instruments,
        operation: str,
        profile: Profile,
        model: str,
        request: ChatRequest | None,
        capture: bool,
    ) -> None:
        self.instruments = found
        self.capture = capture
        self.metric_attributes = base_attributes(operation, profile, model)
        self.profile = profile.name
        self.started = time.perf_counter()
        self.ended = False
        self.span: Any = None
        self.context: Any = None
        if found.tracer is None:
            return
        from opentelemetry import trace

        attributes: Attributes = {**self.metric_attributes, "llm_context.profile": profile.name}
        if operation == "stream":
            attributes["llm_context.stream"] = True
        if request is not None:
            attributes.update(chat_request_attributes(request))
            if capture:
                turns, system = input_messages(request.messages)
                attributes["gen_ai.input.messages"] = turns
                if system is not None:
                    attributes["gen_ai.system_instructions"] = system
        name = f"{OPERATION_NAMES[operation]} {model}"
        self.span = found.tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
        self.context = trace.set_span_in_context(self.span)

    # -- the flow's steps ----------------------------------------------------------------------

    def steps(self, steps: Steps[T], *, ends: bool = True) -> Steps[T]:
        """`steps`, each attempt and wait a child span; the operation ends with them unless
        `ends` is False (a stream ends when its relay does)."""
        try:
            step = next(steps)
            while True:
                child, sent = self._child(step)
                try:
                    result = yield sent
                except GeneratorExit:
                    _end(child, None)
                    raise
                except BaseException as exc:
                    _end(child, exc)
                    step = steps.throw(exc)
                    continue
                _end(child, None)
                step = steps.send(result)
        except StopIteration as stop:
            value: T = stop.value
        except GeneratorExit:
            steps.close()
            self.finish(None, None, stopped=True)
            raise
        except BaseException as exc:
            self.finish(None, exc)
            raise
        if ends:
            self.finish(value, None)
        return value

    def _child(self, step: Step) -> tuple[Any, Step]:
        tracer = self.instruments.tracer
        if tracer is None:
            return None, step
        if isinstance(step, Call):
            profile, number = step.label or (self.profile, 0)
            if profile != self.profile:
                self.span.add_event(
                    "llm_context.fallback",
                    {"llm_context.from": self.profile, "llm_context.to": profile},
                )
                self.profile = profile
            attributes = {"llm_context.profile": profile, "llm_context.attempt": number}
            span = tracer.start_span("attempt", context=self.context, attributes=attributes)
            return span, replace(step, fn=_current(span, step.fn))
        if isinstance(step, Sleep):
            attributes = {"llm_context.wait_s": step.seconds}
            return tracer.start_span(
                "retry wait", context=self.context, attributes=attributes
            ), step
        if isinstance(step, Acquire):
            return tracer.start_span("rate limit wait", context=self.context), step
        return None, step

    # -- a stream's relay ------------------------------------------------------------------------

    def relay(self, events: Generator[E, None, ChatResult]) -> Generator[E, None, ChatResult]:
        """The stream's events, passed on; the operation ends with them."""
        waiting = True
        try:
            while True:
                event = next(events)
                if waiting and isinstance(event, TextDelta):
                    waiting = False
                    self._first_token()
                yield event
        except StopIteration as stop:
            self.finish(stop.value, None)
            result: ChatResult = stop.value
            return result
        except GeneratorExit:
            events.close()
            self.finish(None, None, stopped=True)
            raise
        except BaseException as exc:
            self.finish(None, exc)
            raise

    def _first_token(self) -> None:
        if self.span is not None:
            seconds = time.perf_counter() - self.started
            self.span.set_attribute("llm_context.time_to_first_token_s", seconds)
            self.span.add_event("gen_ai.first_token")

    # -- the end -----------------------------------------------------------------------------------

    def finish(self, result: Any, error: BaseException | None, *, stopped: bool = False) -> None:
        """End the span and record the metrics, once."""
        if self.ended:
            return
        self.ended = True
        seconds = time.perf_counter() - self.started
        answered = result_attributes(result) if result is not None else {}
        metric = {**self.metric_attributes}
        if "gen_ai.response.model" in answered:
            metric["gen_ai.response.model"] = answered["gen_ai.response.model"]
        if error is not None:
            metric["error.type"] = type(error).__name__
        self._record(metric, seconds, answered)
        span = self.span
        if span is None:
            return
        span.set_attributes(answered)
        if self.capture and isinstance(result, ChatResult):
            span.set_attribute("gen_ai.output.messages", output_messages(result))
        if stopped:
            span.set_attribute("llm_context.stopped", True)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def _record(self, attributes: Attributes, seconds: float, answered: Attributes) -> None:
        found = self.instruments
        if found.duration is None or found.token_usage is None:
            return
        found.duration.record(seconds, attributes)
        for kind in ("input", "output"):
            tokens = answered.get(f"gen_ai.usage.{kind}_tokens")
            if tokens is not None:
                found.token_usage.record(tokens, {**attributes, "gen_ai.token.type": kind})


def _current(span: Any, fn: Callable[[], T]) -> Callable[[], T]:
    """`fn`, run with `span` as the current span (in the thread that runs it)."""
    from opentelemetry import context, trace

    def run() -> T:
        token = context.attach(trace.set_span_in_context(span))
        try:
            return fn()
        finally:
            context.detach(token)

    return run


def _end(span: Any, error: BaseException | None) -> None:
    if span is None:
        return
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()
