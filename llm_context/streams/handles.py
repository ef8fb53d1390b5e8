"""Stream objects handed to callers: a blocking iterator, and its async twin fed from a worker
thread. Both yield items in order (text deltas, or public events) and expose the final
`ChatResult` as `.result`, and JSON output parsed so far as `.partial`."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..contract.results import ChatResult
from ..errors import LLMError
from .stop import StreamStop

if TYPE_CHECKING:
    import asyncio

DeltaCallback = Callable[[str], Any]
T = TypeVar("T")
_DONE = object()
# How long a stop waits for a worker whose read it broke (it ends within milliseconds; the
# bound only guards a stuck machine). A read that cannot be broken is not waited for.
_SETTLE_S = 2.0


class StreamView:
    """What a stream has parsed so far that its caller may read mid-stream."""

    __slots__ = ("partial",)

    def __init__(self) -> None:
        self.partial: Any = None


class ChatStream(Iterator[T], Generic[T]):
    """`for delta in llm.stream_sync(...)` (or `for event in llm.events_sync(...)`): the
    items, then `.result` once exhausted.

    Given a generator, or a function making one at the first `next` (a sync stream opens
    only when it is read; a function rather than a generator wrapping it, which every item
    would pass through)."""

    def __init__(
        self,
        generator: Generator[T, None, ChatResult] | Callable[[], Generator[T, None, ChatResult]],
        view: StreamView | None = None,
    ) -> None:
        if callable(generator):
            self._gen: Generator[T, None, ChatResult] | None = None
            self._open: Callable[[], Generator[T, None, ChatResult]] | None = generator
        else:
            self._gen, self._open = generator, None
        self._view = view or StreamView()
        self._result: ChatResult | None = None

    def __iter__(self) -> ChatStream[T]:
        return self

    @property
    def partial(self) -> Any:
        """With JSON output: the JSON so far, parsed as far as it goes (None before any)."""
        return self._view.partial

    def __next__(self) -> T:
        if self._result is not None:
            raise StopIteration  # finished: iterating again keeps the result
        gen = self._gen
        if gen is None:
            gen = self._gen = self._opened()
        try:
            return next(gen)
        except StopIteration as stop:
            self._result = stop.value
            raise

    def __enter__(self) -> ChatStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop early: closes the provider connection."""
        if self._gen is not None:
            self._gen.close()
        else:
            self._open = None  # never opened: nothing to close, and nothing will open

    def _opened(self) -> Generator[T, None, ChatResult]:
        if self._open is None:
            raise StopIteration  # closed before it was read
        opener, self._open = self._open, None  # opened once, even if opening fails
        return opener()

    @property
    def result(self) -> ChatResult:
        """The final result; available once iteration has finished."""
        if self._result is None:
            raise LLMError("the stream has not finished yet: iterate it to the end first")
        return self._result

    def until_done(self) -> ChatResult:
        """Drain the stream and return the result."""
        for _ in self:
            pass
        return self.result


class AsyncChatStream(AsyncIterator[T], Generic[T]):
    """`async for delta in llm.stream(...)` (or `async for event in llm.events(...)`): the
    blocking stream runs in the context's pool and hands each item to this event loop in
    order; the worker never waits on the consumer. Closing the stream (or dropping it
    unfinished) stops the worker even mid-read."""

    def __init__(
        self, make: Callable[[], ChatStream[T]], executor: Executor, view: StreamView
    ) -> None:
        self._make = make
        self._view = view
        self._executor = executor
        self._queue: asyncio.Queue[object] | None = None
        self._stop = StreamStop()
        self._future: asyncio.Future[ChatResult] | None = None
        self._result: ChatResult | None = None
        self._finished = False

    def _start(self, make: Callable[[], ChatStream[T]]) -> asyncio.Queue[object]:
        import asyncio  # asyncio (with ssl: ~30 ms) loads only when the async API is used

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        # The worker holds no reference to this object, so a stream dropped unfinished is
        # collected and its finalizer stops the worker (and frees its connection and slot).
        work = functools.partial(_produce, make, self._stop, loop, queue)
        context = contextvars.copy_context()
        context.run(self._stop.enter)
        worker = self._executor.submit(context.run, work)
        future = asyncio.wrap_future(worker, loop=loop)
        future.add_done_callback(_retrieve)
        weakref.finalize(self, _abandoned, self._stop, worker).atexit = False
        self._future = future
        self._queue = queue
        return queue

    def __aiter__(self) -> AsyncChatStream[T]:
        return self

    @property
    def partial(self) -> Any:
        """With JSON output: the JSON so far, parsed as far as it goes (None before any)."""
        return self._view.partial

    async def __anext__(self) -> T:
        if self._finished:
            raise StopAsyncIteration  # finished or closed: iterating again keeps the result
        queue = self._queue or self._start(self._make)
        item = await queue.get()
        if item is _DONE:
            self._finished = True
            assert self._future is not None
            self._result = await self._future  # raises the worker's error, if any
            raise StopAsyncIteration
        return cast("T", item)

    async def aclose(self) -> None:
        """Stop early: breaks the worker's read (closing the connection) and returns promptly;
        nothing the stopped read raises reaches the caller."""
        import asyncio

        self._finished = True
        broke = self._stop.stop()
        future = self._future
        if broke and future is not None and not future.done():
            # Its slot and metering settle before we return. Not awaited directly: a cancelled
            # caller must not cancel the worker's future.
            await asyncio.wait({future}, timeout=_SETTLE_S)

    async def __aenter__(self) -> AsyncChatStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def result(self) -> ChatResult:
        if self._result is None:
            raise LLMError("the stream has not finished yet: iterate it to the end first")
        return self._result

    async def until_done(self, on_delta: Callable[[T], Any] | None = None) -> ChatResult:
        """Drain the stream, passing each item to `on_delta` (a function or coroutine
        function, called on this event loop in order), and return the result."""
        async for delta in self:
            if on_delta is not None:
                outcome = on_delta(delta)
                if isinstance(outcome, Awaitable):
                    await outcome
        return self.result


def _produce(
    make: Callable[[], ChatStream[Any]],
    stop: StreamStop,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[object],
) -> ChatResult:
    """The worker: relay deltas to `queue` on `loop` until the end or a stop."""
    import asyncio

    stream = make()
    try:
        for delta in stream:
            if stop.stopped:
                break
            loop.call_soon_threadsafe(queue.put_nowait, delta)
        else:
            return stream.result
    finally:
        stream.close()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)
    raise asyncio.CancelledError


def _abandoned(stop: StreamStop, worker: Future[ChatResult]) -> None:
    """A stream dropped unfinished: stop its worker. When its read was broken it ends within
    moments; waiting for that (bounded) frees its rate-limit slot before the dropping task
    asks for one again, which the limiter would refuse as a deadlock of that task."""
    if stop.stop():
        with contextlib.suppress(Exception):  # still running, or the broken read's error
            worker.exception(timeout=_SETTLE_S)


def _retrieve(future: asyncio.Future[ChatResult]) -> None:
    """Mark a stopped worker's error as seen: nobody is waiting for it."""
    if not future.cancelled():
        future.exception()
