"""A stream's flow in two phases, and the async stream that opens on the event loop.

Phase one (retryable, may fall back): open the provider stream and read up to the first
text delta (or the end). Nothing has reached the caller yet, so a failure here is retried
like any request. Phase two: relay the rest; any failure now is a cut stream and raises
`LLMStreamError` carrying the partial text (its `__cause__` is the underlying error, e.g.
`LLMTimeoutError` for a stream that went silent), so no delta is ever delivered twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..call.flows import attempt, policy, tally
from ..call.plan import ChatPlan
from ..call.steps import Call, Permit, Steps
from ..contract.results import ChatResult, add_usage
from ..errors import LLMConnectionError, LLMError, LLMStreamError
from ..metering import Tally, make_record, metered, record_safely
from ..ratelimit import estimate_chat_tokens, tokens_used
from .events import StreamAccumulator, StreamEnd, StreamEvent, TextDelta
from .handles import AsyncChatStream, ChatStream
from .stop import stop_requested

if TYPE_CHECKING:
    from ..call.runtime import Runtime

__all__ = [
    "OpenedStream",
    "OpeningAsyncStream",
    "close_events",
    "guarded_events",
    "open_flow",
    "open_to_first_text",
    "relay",
]

T = TypeVar("T")


def close_events(events: Iterator[Any]) -> None:
    """Close a provider stream (its generator closes the SDK stream in `finally`)."""
    close = getattr(events, "close", None)
    if close is not None:
        close()


def open_to_first_text(
    open_stream: Callable[[], Iterator[StreamEvent]], provider: str
) -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
    """Phase one, blocking: the open stream and the events up to the first text delta or the
    terminal event. A stream that ends before either is cut: retryable, nothing was shown."""
    events = open_stream()
    head: list[StreamEvent] = []
    try:
        for event in events:
            head.append(event)
            if isinstance(event, (TextDelta, StreamEnd)):
                return events, head
    except BaseException:
        close_events(events)
        raise
    raise LLMConnectionError(f"the {provider} stream ended before any output", provider=provider)


def guarded_events(
    events: Iterator[StreamEvent],
    acc: StreamAccumulator,
    guard: Callable[[Callable[[], StreamEvent]], StreamEvent],
    provider: str,
) -> Iterator[StreamEvent]:
    """Phase two: the remaining events; a failure is a cut stream with the partial text."""
    while True:
        try:
            event = guard(lambda: next(events))
        except StopIteration:
            return
        except LLMStreamError:
            raise
        except LLMError as exc:
            raise LLMStreamError(
                f"the {provider} stream failed after {len(acc.text)} characters: {exc}",
                partial_text=acc.text,
                provider=provider,
            ) from exc
        yield event
        if isinstance(event, StreamEnd):
            return


@dataclass
class OpenedStream:
    """A stream past phase one, on the profile that answered; owns the events and permit."""

    runtime: Runtime
    plan: ChatPlan
    events: Iterator[StreamEvent]
    head: list[StreamEvent]
    permit: Permit | None
    tally: Tally


def open_flow(rt: Runtime, plan: ChatPlan) -> Steps[OpenedStream]:
    """Phase one on the runtime's profile: rate limit, open and read to the first text,
    retried. A failure is metered here; a stream that opened is metered when it ends."""
    counts = tally(rt)
    request = plan.request

    def open_once() -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
        return rt.connection.guard(
            lambda: open_to_first_text(lambda: rt.connection.adapter().stream(request), rt.provider)
        )

    def opened() -> Steps[OpenedStream]:
        call = Call(open_once, discard=lambda pair: close_events(pair[0]))
        tokens = estimate_chat_tokens(request)
        (events, head), permit = yield from policy(rt, plan.retry).steps(
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


def relay(opened: OpenedStream) -> Generator[str, None, ChatResult]:
    """Phase two: deltas to the caller. However it ends, the stream is closed, its permit
    released (with the tokens really used) and the call metered."""
    rt = opened.runtime
    acc = StreamAccumulator(rt.provider)
    error: BaseException | None = None
    try:
        for event in opened.head:
            acc.add(event)
            if isinstance(event, TextDelta) and event.text:
                yield event.text
        if acc.end is None:
            for event in guarded_events(opened.events, acc, rt.connection.guard, rt.provider):
                acc.add(event)
                if isinstance(event, TextDelta) and event.text:
                    yield event.text
        return rt.finish(opened.plan, acc.result())
    except GeneratorExit:
        raise  # the caller stopped early: not an error
    except BaseException as exc:
        error = None if stop_requested() else exc  # a read broken by the caller's stop is not
        raise
    finally:
        close_events(opened.events)
        _ended(opened, acc, error)


def _ended(opened: OpenedStream, acc: StreamAccumulator, error: BaseException | None) -> None:
    counts = opened.tally
    counts.usage = add_usage(counts.usage, acc.usage)
    if opened.permit is not None:
        opened.permit.release(tokens_used(acc.usage))
    rt = opened.runtime
    model = opened.plan.request.model
    now = rt.clock.monotonic()
    record_safely(rt.meter, lambda: make_record(rt.profile, "stream", model, counts, now, error))


class OpeningAsyncStream(AsyncChatStream):
    """`async for delta in llm.stream(...)`: phase one (rate-limit wait, retries, fallbacks)
    runs on the caller's event loop; only the relay of the open stream runs in the pool."""

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[OpenedStream]],
        relay: Callable[[OpenedStream], ChatStream],
        executor: Executor,
    ) -> None:
        self._open_stream = open_stream
        self._relay = relay
        self._opened = False
        self._open_error: BaseException | None = None
        super().__init__(_not_opened, executor)

    async def __anext__(self) -> str:
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


def _not_opened() -> ChatStream:
    raise AssertionError("the relay starts once the stream is open")
