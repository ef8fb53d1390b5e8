"""The two phases of a stream, and the async stream that opens on the event loop.

Phase one (retryable, may fall back): open the provider stream and read up to the first
text delta (or the end). Nothing has reached the caller yet, so a failure here is retried
like any request. Phase two: relay the rest; any failure now is a cut stream and raises
`LLMStreamError` carrying the partial text (its `__cause__` is the underlying error, e.g.
`LLMTimeoutError` for a stream that went silent), so no delta is ever delivered twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import LLMConnectionError, LLMError, LLMStreamError
from .metering import Tally
from .options import ChatPlan
from .steps import Permit
from .stream import AsyncChatStream, ChatStream
from .streaming import StreamAccumulator, StreamEnd, StreamEvent, TextDelta

if TYPE_CHECKING:
    from .client import LLMClient

__all__ = [
    "OpenedStream",
    "OpeningAsyncStream",
    "close_events",
    "guarded_events",
    "open_to_first_text",
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

    client: LLMClient
    plan: ChatPlan
    events: Iterator[StreamEvent]
    head: list[StreamEvent]
    permit: Permit | None
    tally: Tally


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
        self._opened: OpenedStream | None = None
        self._open_error: BaseException | None = None
        super().__init__(self._make_relay, executor)

    def _make_relay(self) -> ChatStream:
        assert self._opened is not None
        return self._relay(self._opened)

    async def __anext__(self) -> str:
        if self._open_error is not None:
            raise self._open_error
        if self._opened is None:
            try:
                self._opened = await self._open_stream()
            except BaseException as exc:
                self._open_error = exc
                raise
        # No await between here and the relay taking ownership of the open stream.
        return await super().__anext__()
