"""The large-job half of `LLMClient`: provider batch jobs (`batch_sync`, `batch_job_sync`)
and the bulk runner (`map_sync`), each with its awaitable twin. Kept apart from the
single-call methods; `LLMClient` inherits them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from .batch_job import BatchJob
    from .bulk.runner import BulkRun
    from .call.runtime import Runtime
    from .call.steps import Steps
    from .client import LLMClient

__all__ = ["LargeJobs"]

T = TypeVar("T")


class LargeJobs:
    """Batch jobs and bulk runs on the client's profile."""

    runtime: Runtime

    if TYPE_CHECKING:

        def _run_sync(self, steps: Steps[T]) -> T: ...

        def _run_async(self, steps: Steps[T]) -> Coroutine[Any, Any, T]: ...

    # -- provider batch jobs --------------------------------------------------------------------

    def batch_sync(self, requests: Sequence[Mapping[str, Any]]) -> BatchJob:
        """Send `requests` as one provider batch job (about half the price, answered within a
        day) and return its handle. Each request is `{"custom_id": ..., "messages": [...],
        **chat options}`, validated as `chat_sync` would: bad input raises before anything
        is uploaded. OpenAI, Azure OpenAI, Anthropic and Gemini; elsewhere use `map_sync`."""
        from .batch_job import submit

        return self._run_sync(submit(self.runtime, requests, self._run_sync, self._run_async))

    async def batch(self, requests: Sequence[Mapping[str, Any]]) -> BatchJob:
        """`batch_sync`, awaitable."""
        from .batch_job import submit

        flow = submit(self.runtime, requests, self._run_sync, self._run_async)
        return await self._run_async(flow)

    def batch_job_sync(self, job_id: str) -> BatchJob:
        """The handle of a batch job sent earlier (by this process or another), read now."""
        from .batch_job import reattach

        return self._run_sync(reattach(self.runtime, job_id, self._run_sync, self._run_async))

    async def batch_job(self, job_id: str) -> BatchJob:
        """`batch_job_sync`, awaitable."""
        from .batch_job import reattach

        flow = reattach(self.runtime, job_id, self._run_sync, self._run_async)
        return await self._run_async(flow)

    # -- the bulk runner -------------------------------------------------------------------------

    def map_sync(self, items: Iterable[Any], build: Callable[[Any], Any], **opts: Any) -> BulkRun:
        """Chat once per item (`build(item)` gives its messages, or a dict of messages and
        options); `checkpoint=`, `concurrency=`, `progress=` (docs/large-jobs.md)."""
        from .bulk.runner import map_sync

        return map_sync(cast("LLMClient", self), items, build, **opts)

    async def map(self, items: Iterable[Any], build: Callable[[Any], Any], **opts: Any) -> BulkRun:
        """`map_sync`, awaitable: tasks on the event loop instead of threads."""
        from .bulk.runner import map_async

        return await map_async(cast("LLMClient", self), items, build, **opts)
