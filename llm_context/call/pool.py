"""The async API's thread pool, with a gauge: when more blocking calls are waiting than it
has threads, the async calls are queuing behind the pool, not the provider, and a warning
says so once (with the setting that changes it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["GaugedPool"]

log = logging.getLogger("llm_context")
T = TypeVar("T")


class GaugedPool(ThreadPoolExecutor):
    """A `ThreadPoolExecutor` that counts its calls in flight and warns once on a queue."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="llm_context")
        self.size = max_workers
        self.in_flight = 0
        self.warned = False
        self._count = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._count:
            self.in_flight += 1
            queued = self.in_flight > self.size and not self.warned
            if queued:
                self.warned = True
        if queued:
            log.warning(
                "%d async calls are waiting for one of the %d threads that send them: they "
                "queue here, not at the provider; raise LLMContext(max_workers=...) for more "
                "calls in flight (warned once)",
                self.in_flight,
                self.size,
            )
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._count:
            self.in_flight -= 1
