"""The bulk runner: one prompt over many items, `concurrency` at a time, under the profile's
rate limits, each finished item committed to a checkpoint so a killed run resumes without
paying twice for anything that finished.

An item is `build(item)`: a messages list, or a dict of `messages` and chat options. Its
key is its whole request (with the profile's provider and model); an item already in the
checkpoint, or equal to one earlier in the list, is never sent again. One item's error is
that item's result, never the run's; anything but an `LLMError` (a bug, Ctrl-C) stops the
run: no item starts after it, the calls in flight finish and are committed, and it is
raised.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..contract.results import ChatResult, Usage, add_usage
from ..errors import LLMError, LLMInputError
from ..metering import UsageRecord, cost_of
from .checkpoint import Checkpoint
from .items import build_error, concurrency_of, lost, request_of
from .progress import Progress, progress_for
from .stored import fingerprint, from_json, output_model

if TYPE_CHECKING:
    import os

    from ..client import LLMClient

__all__ = ["BulkRun", "map_async", "map_sync"]

Outcome = ChatResult | LLMError
Build = Callable[[Any], Any]

# The run a call belongs to, so the usage records of its calls (retries, fallbacks, repair
# turns) are counted to it and not to other calls the context makes meanwhile.
_RUN: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "llm_context_run", default=None
)


@dataclass(frozen=True)
class BulkRun:
    """What a run gave back. `results[i]` is item i's `ChatResult` or `LLMError`; `skipped`
    items came from the checkpoint (nothing sent); `usage`, `cost` and `retries` count the
    calls this run made (cost None without `pricing`)."""

    items: tuple[Any, ...] = field(repr=False)
    results: list[Outcome] = field(repr=False)
    skipped: int
    usage: Usage
    cost: float | None
    retries: int
    checkpoint: str | None = None

    @property
    def done(self) -> int:
        return sum(1 for r in self.results if isinstance(r, ChatResult))

    @property
    def errors(self) -> dict[int, LLMError]:
        """The failed items' errors by index."""
        return {i: r for i, r in enumerate(self.results) if isinstance(r, LLMError)}

    def failed(self) -> list[Any]:
        """The items that failed, in order: `map_sync(run.failed(), build, checkpoint=...)`
        sends just those again."""
        return [self.items[i] for i in self.errors]

    def __repr__(self) -> str:
        cost = "" if self.cost is None else f", ${self.cost:.4f}"
        return (
            f"BulkRun({len(self.results)} items: {self.done} done ({self.skipped} from the "
            f"checkpoint), {len(self.errors)} failed, "
            f"{self.usage.get('total_tokens', 0):,} tokens{cost})"
        )


@dataclass
class _Job:
    """One distinct request of the run, and every index that asked for it."""

    key: str
    messages: Any
    opts: dict[str, Any]
    indexes: list[int]


class _Run:
    """A run in progress: its plan, its tallies, and where finished items go."""

    def __init__(
        self,
        llm: LLMClient,
        items: Sequence[Any],
        build: Build,
        checkpoint: str | os.PathLike[str] | None,
        concurrency: int | None,
        show_progress: bool,
        opts: Mapping[str, Any],
    ) -> None:
        if not callable(build):
            raise LLMInputError("build must be a function of one item returning its messages")
        self.llm = llm
        self.items = tuple(items)
        self.concurrency = concurrency_of(llm, concurrency)
        self.results: list[Outcome | None] = [None] * len(self.items)
        self.jobs = self._plan(build, dict(opts))
        self.store = None if checkpoint is None else Checkpoint(checkpoint)
        try:
            self.skipped = self._restore()
        except BaseException:
            if self.store is not None:
                self.store.close()
            raise
        self.usage: Usage = {}
        self.retries = 0
        self.cost: float | None = None
        self.lock = threading.Lock()
        self.progress: Progress = progress_for(
            show_progress, len(self.items), len(self.items) - sum(len(j.indexes) for j in self.jobs)
        )

    def _plan(self, build: Build, common: dict[str, Any]) -> list[_Job]:
        profile = self.llm.profile
        jobs: dict[str, _Job] = {}
        for index, item in enumerate(self.items):
            try:
                messages, opts = request_of(build(item), common)
                model = self.llm.runtime.model("chat", opts.get("model"))
                key = fingerprint(profile.provider.value, model, {"messages": messages, **opts})
            except Exception as exc:  # the caller's build: its failure is this item's
                self.results[index] = build_error(index, exc)
                continue
            job = jobs.get(key)
            if job is None:
                jobs[key] = _Job(key, messages, opts, [index])
            else:
                job.indexes.append(index)
        return list(jobs.values())

    def _restore(self) -> int:
        """Fill in what the checkpoint already holds; the rest is left to send."""
        if self.store is None:
            return 0
        stored = self.store.done({job.key for job in self.jobs})
        skipped = 0
        left: list[_Job] = []
        for job in self.jobs:
            result = _read(stored.get(job.key), job)
            if result is None:
                left.append(job)
                continue
            for index in job.indexes:
                self.results[index] = result
            skipped += len(job.indexes)
        self.jobs = left
        return skipped

    def finish(self, job: _Job, outcome: Outcome) -> None:
        """One request answered: kept, committed, shown."""
        if self.store is not None:
            self.store.record(job.key, outcome)
        with self.lock:
            for index in job.indexes:
                self.results[index] = outcome
        usage = outcome.usage if isinstance(outcome, ChatResult) else {}
        self.progress.advance(
            usage.get("total_tokens", 0), cost_of(usage, self.llm.profile.pricing)
        )
        for _ in job.indexes[1:]:  # the same request asked again: answered by this one call
            self.progress.advance(0, None)

    def counted(self, record: UsageRecord) -> None:
        """A usage record of one of this run's calls (retries and fallbacks included)."""
        if _RUN.get() is not self:
            return
        with self.lock:
            self.usage = add_usage(self.usage, record.usage)
            self.retries += record.retries
            if record.cost is not None:
                self.cost = (self.cost or 0.0) + record.cost

    def close(self) -> None:
        """The bar ended and the file closed, whether the run finished or stopped."""
        self.progress.close()
        if self.store is not None:
            self.store.close()

    def result(self) -> BulkRun:
        results = [r if r is not None else lost(i) for i, r in enumerate(self.results)]
        path = None if self.store is None else self.store.path
        return BulkRun(self.items, results, self.skipped, self.usage, self.cost, self.retries, path)


def _read(stored: str | None, job: _Job) -> ChatResult | None:
    """A stored success, or None to send the item again (nothing stored, or a row this
    version cannot read back: paying again beats a wrong answer)."""
    if stored is None:
        return None
    try:
        return from_json(stored, output_model(job.opts))
    except Exception:
        return None


def map_sync(
    llm: LLMClient,
    items: Iterable[Any],
    build: Build,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    concurrency: int | None = None,
    progress: bool = True,
    **opts: Any,
) -> BulkRun:
    """Run every item through `llm.chat_sync` on `concurrency` worker threads."""
    run = _Run(llm, list(items), build, checkpoint, concurrency, progress, opts)
    pending = iter(run.jobs)
    take = threading.Lock()
    stop = threading.Event()  # set on Ctrl-C or a bug: no item starts after it
    unsubscribe = llm.runtime.meter.on_usage(run.counted)

    def worker() -> None:
        _RUN.set(run)
        try:
            while not stop.is_set():
                with take:
                    job = next(pending, None)
                if job is None:
                    return
                try:
                    outcome: Outcome = llm.chat_sync(job.messages, **job.opts)
                except LLMError as exc:
                    outcome = exc
                run.finish(job, outcome)
        except BaseException:
            stop.set()
            raise

    try:
        workers = min(run.concurrency, len(run.jobs)) or 1
        with ThreadPoolExecutor(workers, thread_name_prefix="llm_context-map") as pool:
            futures = [pool.submit(contextvars.copy_context().run, worker) for _ in range(workers)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                stop.set()  # the pool's exit waits for the calls in flight, which get committed
                raise
    finally:
        unsubscribe()
        run.close()
    return run.result()


async def map_async(
    llm: LLMClient,
    items: Iterable[Any],
    build: Build,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    concurrency: int | None = None,
    progress: bool = True,
    **opts: Any,
) -> BulkRun:
    """`map_sync` on the event loop: `concurrency` tasks awaiting `llm.chat`."""
    run = _Run(llm, list(items), build, checkpoint, concurrency, progress, opts)
    pending = iter(run.jobs)
    unsubscribe = llm.runtime.meter.on_usage(run.counted)

    async def worker() -> None:
        _RUN.set(run)  # each task runs in a copy of the context: this run's only
        for job in pending:  # one iterator shared by every task: each job taken once
            try:
                outcome: Outcome = await llm.chat(job.messages, **job.opts)
            except LLMError as exc:
                outcome = exc
            run.finish(job, outcome)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(run.concurrency, len(run.jobs)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:  # one failed for good (or we were cancelled): stop the others
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    finally:
        unsubscribe()
        run.close()
    return run.result()
