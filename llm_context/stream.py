"""Stream objects handed to callers: a blocking iterator, and its async twin fed from a worker
thread. Both yield text deltas in order and expose the final `ChatResult` as `.result`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from .errors import LLMError
from .results import ChatResult

if TYPE_CHECKING:
    import asyncio

DeltaCallback = Callable[[str], Any]
_DONE = object()


class ChatStream(Iterator[str]):
    """`for delta in llm.stream_sync(...)`: text deltas, then `.result` once exhausted."""

    def __init__(self, generator: Generator[str, None, ChatResult]) -> None:
        self._gen = generator
        self._result: ChatResult | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._gen)
        except StopIteration as stop:
            self._result = stop.value
            raise

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop early: closes the provider connection."""
        self._gen.close()

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


class AsyncChatStream(AsyncIterator[str]):
    """`async for delta in llm.stream(...)`: the blocking stream runs in the context's pool and
    hands each delta to this event loop in order; the worker never waits on the consumer."""

    def __init__(self, make: Callable[[], ChatStream], executor: Executor) -> None:
        self._make = make
        self._executor = executor
        self._queue: asyncio.Queue[object] | None = None
        self._cancel = threading.Event()
        self._future: asyncio.Future[ChatResult] | None = None
        self._result: ChatResult | None = None

    def _start(self) -> asyncio.Queue[object]:
        import asyncio  # asyncio (with ssl: ~30 ms) loads only when the async API is used

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def produce() -> ChatResult:
            stream = self._make()
            try:
                for delta in stream:
                    if self._cancel.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, delta)
                else:
                    return stream.result
            finally:
                stream.close()
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            raise asyncio.CancelledError

        self._future = asyncio.wrap_future(self._executor.submit(produce), loop=loop)
        self._queue = queue
        return queue

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> str:
        queue = self._queue or self._start()
        item = await queue.get()
        if item is _DONE:
            assert self._future is not None
            self._result = await self._future  # raises the worker's error, if any
            raise StopAsyncIteration
        assert isinstance(item, str)
        return item

    async def aclose(self) -> None:
        """Stop early: the worker stops at the next delta and closes the connection."""
        self._cancel.set()
        if self._future is not None:
            import asyncio

            with contextlib.suppress(asyncio.CancelledError, LLMError):
                await self._future

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def result(self) -> ChatResult:
        if self._result is None:
            raise LLMError("the stream has not finished yet: iterate it to the end first")
        return self._result

    async def until_done(self, on_delta: DeltaCallback | None = None) -> ChatResult:
        """Drain the stream, passing each delta to `on_delta` (a function or coroutine
        function, called on this event loop in order), and return the result."""
        async for delta in self:
            if on_delta is not None:
                outcome = on_delta(delta)
                if isinstance(outcome, Awaitable):
                    await outcome
        return self.result
