"""A stream's flow in two phases, and the async stream that opens on the event loop.

Phase one (retryable, may fall back): open the provider stream and read up to the first
event the caller would see (text for a text stream; text, reasoning, a tool call or a
citation for an event stream), or the end. Nothing has reached the caller yet, so a failure
here is retried like any request. Phase two: relay the rest as public events (`relay_events`;
a text stream is `texts` of them); any failure now is a cut stream and raises
`LLMStreamError` carrying the partial text (its `__cause__` is the underlying error, e.g.
`LLMTimeoutError` for a stream that went silent), so no delta is ever delivered twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..call.flows import attempt, tally
from ..call.plan import ChatPlan
from ..call.steps import Call, Permit, Steps
from ..contract.events import ChatEvent, Completed, PartialObject, UsageReported
from ..contract.results import ChatResult, add_usage
from ..errors import LLMConnectionError, LLMError, LLMStreamError
from ..limits.estimate import estimate_chat_tokens, tokens_used
from ..metering import Tally, make_record, metered, record_safely
from .events import (
    CitationAdded,
    ReasoningDelta,
    StreamAccumulator,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
)
from .handles import AsyncChatStream, ChatStream, StreamView
from .stop import stop_requested

if TYPE_CHECKING:
    from ..call.runtime import Runtime

__all__ = [
    "EVENTS_SHOWN",
    "TEXT_SHOWN",
    "OpenedStream",
    "OpeningAsyncStream",
    "Relay",
    "as_is",
    "close_events",
    "open_flow",
    "open_to_first",
    "relay_events",
    "texts",
]

# What ends phase one: the first event of these kinds, which the caller would be shown.
TEXT_SHOWN: tuple[type, ...] = (TextDelta, StreamEnd)
EVENTS_SHOWN: tuple[type, ...] = (TextDelta, ReasoningDelta, ToolCallChunk, CitationAdded)
EVENTS_SHOWN += (StreamEnd,)

T = TypeVar("T")

Relay = Callable[[Generator[ChatEvent, None, ChatResult]], Generator[ChatEvent, None, ChatResult]]
"""What a stream's public events pass through on their way out (telemetry, when it is on)."""


def as_is(events: Generator[ChatEvent, None, ChatResult]) -> Generator[ChatEvent, None, ChatResult]:
    """The relay that changes nothing."""
    return events


def close_events(events: Iterator[Any]) -> None:
    """Close a provider stream (its generator closes the SDK stream in `finally`)."""
    close = getattr(events, "close", None)
    if close is not None:
        close()


def open_to_first(
    open_stream: Callable[[], Iterator[StreamEvent]], provider: str, shown: tuple[type, ...]
) -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
    """Phase one, blocking: the open stream and the events up to the first of a `shown` kind
    (the terminal event among them). A stream that ends before is cut: retryable, nothing
    was shown."""
    events = open_stream()
    head: list[StreamEvent] = []
    try:
        for event in events:
            head.append(event)
            if isinstance(event, shown):
                return events, head
    except BaseException:
        close_events(events)
        raise
    raise LLMConnectionError(f"the {provider} stream ended before any output", provider=provider)


@dataclass
class OpenedStream:
    """A stream past phase one, on the profile that answered; owns the events and permit."""

    runtime: Runtime
    plan: ChatPlan
    events: Iterator[StreamEvent]
    head: list[StreamEvent]
    permit: Permit | None
    tally: Tally


def open_flow(
    rt: Runtime, plan: ChatPlan, shown: tuple[type, ...] = TEXT_SHOWN
) -> Steps[OpenedStream]:
    """Phase one on the runtime's profile: rate limit, open and read to the first event of a
    `shown` kind, retried. A failure is metered here; a stream that opened is metered when
    it ends."""
    counts = tally(rt)
    request = plan.request

    def read_head() -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
        return open_to_first(lambda: rt.connection.adapter().stream(request), rt.provider, shown)

    def open_once() -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
        return rt.connection.guard(read_head)

    def opened() -> Steps[OpenedStream]:
        call = Call(open_once, discard=lambda pair: close_events(pair[0]))
        tokens = estimate_chat_tokens(request) if rt.limiter is not None else 0
        (events, head), permit = yield from rt.retry_policy(plan.retry).steps(
            lambda number: attempt(rt, call, tokens, counts, number)
        )
        return OpenedStream(rt, plan, events, head, permit, counts)

    return metered(
        rt.meter,
        rt.clock,
        rt.profile,
        "stream",
        request.model,
        counts,
        opened(),
        on_success=False,
    )


def relay_events(
    opened: OpenedStream, view: StreamView | None = None
) -> Generator[ChatEvent, None, ChatResult]:
    """Phase two: the public events, ending with `UsageReported` and `Completed`. However it
    ends, the stream is closed, its permit released (with the tokens really used) and the
    call metered. With JSON output, `PartialObject`s follow the text that changed them (and
    `view.partial` keeps the latest)."""
    rt = opened.runtime
    acc = StreamAccumulator(rt.provider)
    partial = None
    if opened.plan.expect is not None:
        from ..contract.partial_json import PartialJson  # JSON output only

        partial = PartialJson()
    last: object = None
    error: BaseException | None = None
    head, events, guard, provider = opened.head, opened.events, rt.connection.guard, rt.provider
    read = 0  # of the head
    try:
        # One loop over the head, then the rest (not chained generators: every event of a
        # stream passes through here).
        while True:
            event: StreamEvent | None
            if read < len(head):
                event = head[read]
                read += 1
            elif acc.end is not None:
                break  # the terminal event came
            else:
                event = _next_event(events, acc, guard, provider)
            if event is None:
                break  # the provider's stream stopped short: `acc.result()` says so
            for shown in acc.add(event):
                yield shown
                if partial is not None and type(shown) is TextDelta:
                    value = partial.feed(shown.text)
                    if isinstance(value, (dict, list)) and value != last:
                        last = value
                        if view is not None:
                            view.partial = value
                        yield PartialObject(value)
        result = rt.finish(opened.plan, acc.result())
        yield UsageReported(result.usage)
        yield Completed(result)
        return result
    except GeneratorExit:
        raise  # the caller stopped early: not an error
    except BaseException as exc:
        error = None if stop_requested() else exc  # a read broken by the caller's stop is not
        raise
    finally:
        close_events(opened.events)
        _ended(opened, acc, error)


def _next_event(
    events: Iterator[StreamEvent],
    acc: StreamAccumulator,
    guard: Callable[..., StreamEvent],
    provider: str,
) -> StreamEvent | None:
    """Phase two's next event (None at the stream's end); a failure is a cut stream with
    the partial text."""
    try:
        return guard(next, events)
    except StopIteration:
        return None
    except LLMStreamError:
        raise
    except LLMError as exc:
        raise LLMStreamError(
            f"the {provider} stream failed after {len(acc.text)} characters: {exc}",
            partial_text=acc.text,
            provider=provider,
        ) from exc


def texts(events: Generator[ChatEvent, None, ChatResult]) -> Generator[str, None, ChatResult]:
    """A text stream: the text of `events`, and their result. Closing it closes them."""
    result: ChatResult | None = None
    try:
        for event in events:
            if type(event) is TextDelta:
                yield event.text
            elif type(event) is Completed:
                result = event.result
    finally:
        events.close()
    assert result is not None  # the events end with Completed, or raise
    return result


def _ended(opened: OpenedStream, acc: StreamAccumulator, error: BaseException | None) -> None:
    counts = opened.tally
    counts.usage = add_usage(counts.usage, acc.usage)
    if opened.permit is not None:
        opened.permit.release(tokens_used(acc.usage))
    rt = opened.runtime
    model = opened.plan.request.model
    now = rt.clock.monotonic()
    record_safely(rt.meter, lambda: make_record(rt.profile, "stream", model, counts, now, error))


class OpeningAsyncStream(AsyncChatStream[T]):
    """`async for delta in llm.stream(...)`: phase one (rate-limit wait, retries, fallbacks)
    runs on the caller's event loop; only the relay of the open stream runs in the pool."""

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[OpenedStream]],
        relay: Callable[[OpenedStream], ChatStream[T]],
        executor: Executor,
        view: StreamView,
    ) -> None:
        self._open_stream = open_stream
        self._relay = relay
        self._opened = False
        self._open_error: BaseException | None = None
        super().__init__(_not_opened, executor, view)

    async def __anext__(self) -> T:
        if self._open_error is not None:
            raise self._open_error
        if not self._opened and not self._finished:
            # The scope reaches the pool threads opening the stream, so `aclose` can break them.
            token = self._stop.enter()
            try:
                opened = await self._open_stream()
            except BaseException as exc:
                self._open_error = exc
                raise
            finally:
                self._stop.exit(token)
            self._opened = True
            # No await between here and the relay taking ownership of the open stream.
            self._start(functools.partial(self._relay, opened))
        return await super().__anext__()


def _not_opened() -> ChatStream[Any]:
    raise AssertionError("the relay starts once the stream is open")
