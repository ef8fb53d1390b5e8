"""The bulk runner: one prompt over many items, `concurrency` at a time, under the profile's
rate limits, each finished item committed to a checkpoint so a killed run resumes without
paying twice for anything that finished.

An item is `build(item)`: a messages list, or a dict of `messages` and chat options. Its
key is its whole request (with the profile's provider and model); an item already in the
checkpoint, or equal to one earlier in the list, is never sent again. One item's error is
that item's result, never the run's; anything but an `LLMError` (a bug, Ctrl-C) stops the
run, and what finished is already in the checkpoint.
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
from .progress import Progress, progress_for
from .stored import fingerprint

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
_DEFAULT_CONCURRENCY = 8


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
        self.concurrency = _concurrency(llm, concurrency)
        self.results: list[Outcome | None] = [None] * len(self.items)
        self.jobs = self._plan(build, dict(opts))
        self.store = None if checkpoint is None else Checkpoint(checkpoint)
        self.skipped = self._restore()
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
                messages, opts = _request(build(item), common)
                model = self.llm.runtime.model("chat", opts.get("model"))
            except Exception as exc:  # the caller's build: its failure is this item's
                self.results[index] = _build_error(index, exc)
                continue
            key = fingerprint(profile.provider.value, model, {"messages": messages, **opts})
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
        done = self.store.done({job.key for job in self.jobs})
        skipped = 0
        for job in self.jobs:
            if job.key in done:
                for index in job.indexes:
                    self.results[index] = done[job.key]
                skipped += len(job.indexes)
        self.jobs = [job for job in self.jobs if job.key not in done]
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

    def result(self) -> BulkRun:
        self.progress.close()
        if self.store is not None:
            self.store.close()
        results = [r if r is not None else _lost(i) for i, r in enumerate(self.results)]
        path = None if self.store is None else self.store.path
        return BulkRun(self.items, results, self.skipped, self.usage, self.cost, self.retries, path)


def _request(built: Any, common: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """`build(item)`'s answer as (messages, options); the item's options win."""
    if isinstance(built, Mapping):
        if "messages" not in built:
            raise LLMInputError('build returned a dict without "messages"')
        opts = {**common, **{k: v for k, v in built.items() if k != "messages"}}
        return built["messages"], opts
    if isinstance(built, str):
        return [{"role": "user", "content": built}], dict(common)
    if isinstance(built, Iterable):
        return list(built), dict(common)
    raise LLMInputError(
        f"build returned a {type(built).__name__}: return messages, a prompt string, or a dict "
        'with "messages" and chat options'
    )


def _build_error(index: int, exc: Exception) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    error = LLMInputError(f"item {index}: build raised {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _lost(index: int) -> LLMError:
    return LLMInputError(f"item {index} was not run (the run stopped before it)")


def _concurrency(llm: LLMClient, given: int | None) -> int:
    if given is None:
        return llm.profile.rate_limit.max_concurrency or _DEFAULT_CONCURRENCY
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise LLMInputError(f"concurrency must be a whole number >= 1, got {given!r}")
    return given


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
    unsubscribe = llm.runtime.meter.on_usage(run.counted)

    def worker() -> None:
        _RUN.set(run)
        while True:
            with take:
                job = next(pending, None)
            if job is None:
                return
            try:
                outcome: Outcome = llm.chat_sync(job.messages, **job.opts)
            except LLMError as exc:
                outcome = exc
            run.finish(job, outcome)

    try:
        workers = min(run.concurrency, len(run.jobs)) or 1
        with ThreadPoolExecutor(workers, thread_name_prefix="llm_context-map") as pool:
            futures = [pool.submit(contextvars.copy_context().run, worker) for _ in range(workers)]
            for future in futures:
                future.result()
    finally:
        unsubscribe()
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
    return run.result()
