"""One call's control flow, written once as a generator of steps, run by two thin drivers.

The flow (wait for rate-limit capacity -> send under the retry policy -> fall back -> meter)
yields what it needs done instead of doing it: `Call` (blocking I/O), `Sleep` (a backoff)
or `Acquire` (rate-limit capacity). `run_sync` does every step in the calling thread;
`run_async` waits and sleeps on the event loop and sends only `Call`s to the thread pool,
so an async caller never blocks its loop and never holds a worker thread while it waits.
Both drivers run the same generator, so sync and async behave alike by construction.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Generator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..clock import Clock

__all__ = [
    "Acquire",
    "Call",
    "Limiter",
    "Permit",
    "Sleep",
    "Step",
    "Steps",
    "is_cancellation",
    "run_async",
    "run_sync",
]

T = TypeVar("T")


class Permit(Protocol):
    """Capacity granted by a limiter; released once, with the tokens really used if known."""

    granted_at: float

    def release(self, used_tokens: int | None = None) -> None: ...


class Limiter(Protocol):
    """What the drivers need from a rate limiter."""

    def acquire(self, tokens: int) -> Permit: ...

    async def acquire_async(self, tokens: int) -> Permit: ...


@dataclass(frozen=True)
class Call(Generic[T]):
    """Run blocking `fn()`. When an async caller is cancelled while `fn` runs in the pool,
    `fn` still finishes there: `discard` then cleans up its result (an opened stream must
    be closed) and `abandoned` runs once it is over (its rate-limit slot is free only then).
    """

    fn: Callable[[], T]
    discard: Callable[[T], None] | None = None
    abandoned: Callable[[], None] | None = None
    label: tuple[str, int] | None = None  # (profile, attempt number): what telemetry shows


@dataclass(frozen=True)
class Sleep:
    """Wait `seconds` (a retry backoff)."""

    seconds: float


@dataclass(frozen=True)
class Acquire:
    """Wait for `limiter` to grant capacity for a request of about `tokens` tokens."""

    limiter: Limiter
    tokens: int


Step = Call[Any] | Sleep | Acquire
Steps = Generator[Step, Any, T]
"""A flow: yields steps, is sent each step's result (or thrown its error), returns a T."""


def _advance(steps: Steps[T], value: Any, error: BaseException | None) -> tuple[Step | None, Any]:
    """Resume the flow with the last step's result (or error): its next step, or None and
    the flow's result when it is done."""
    try:
        return (steps.send(value) if error is None else steps.throw(error)), None
    except StopIteration as stop:
        return None, stop.value


def run_sync(steps: Steps[T], clock: Clock) -> T:
    """Drive `steps` to completion in the calling thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        step, result = _advance(steps, value, error)
        if step is None:
            return result  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = _do_sync(step, clock)
        except BaseException as exc:  # handed to the flow, which re-raises what it cannot use
            error = exc


def _do_sync(step: Step, clock: Clock) -> Any:
    if isinstance(step, Call):
        return step.fn()
    if isinstance(step, Sleep):
        clock.sleep(step.seconds)
        return None
    return step.limiter.acquire(step.tokens)


async def run_async(steps: Steps[T], clock: Clock, executor: Executor) -> T:
    """Drive `steps` on the running event loop; only `Call`s go to `executor`."""
    value: Any = None
    error: BaseException | None = None
    while True:
        step, result = _advance(steps, value, error)
        if step is None:
            return result  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = await _do_async(step, clock, executor)
        except BaseException as exc:  # cancellation included: the flow releases what it holds
            error = exc


async def _do_async(step: Step, clock: Clock, executor: Executor) -> Any:
    if isinstance(step, Sleep):
        await clock.sleep_async(step.seconds)
        return None
    if isinstance(step, Acquire):
        return await step.limiter.acquire_async(step.tokens)
    import asyncio  # asyncio (with ssl: ~30 ms) loads only when the async API is used

    work = executor.submit(contextvars.copy_context().run, step.fn)
    try:
        return await asyncio.wrap_future(work)
    except asyncio.CancelledError:
        work.add_done_callback(_after_abandon(step))
        raise


def is_cancellation(exc: BaseException) -> bool:
    """True for asyncio's `CancelledError`; asyncio is not imported for it (a flow run by
    `run_sync` never sees one, and then asyncio need not be loaded at all)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def _after_abandon(step: Call[Any]) -> Callable[[Future[Any]], None]:
    def done(work: Future[Any]) -> None:
        try:
            if step.discard is not None and not work.cancelled() and work.exception() is None:
                step.discard(work.result())
        finally:
            if step.abandoned is not None:
                step.abandoned()

    return done
