"""`BatchJob`: the handle of a provider batch job (`llm.batch_sync(requests)`, or
`context.batch(job_id, profile=...)` after a restart). It holds the job's last known state
and sends nothing until asked: `refresh`, `wait`, `results`, `cancel`, each with an async
twin. Results are fetched once, checked and metered once, then kept.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .call.batches import BatchPlan, collect, control_flow, plan_batch, submit_flow
from .call.runtime import Runtime
from .call.steps import Steps
from .contract.batches import BatchCounts, BatchInfo, BatchStatus
from .contract.results import ChatResult
from .errors import LLMBadRequestError, LLMError, LLMInputError, LLMTimeoutError
from .providers.base import Feature

__all__ = ["BatchJob", "reattach", "submit"]

T = TypeVar("T")
RunSync = Callable[[Steps[Any]], Any]
RunAsync = Callable[[Steps[Any]], Coroutine[Any, Any, Any]]

Outcomes = dict[str, ChatResult | LLMError]


def submit(rt: Runtime, requests: Any, run_sync: RunSync, run_async: RunAsync) -> Steps[BatchJob]:
    """Plan every request (bad input raises here, before anything is sent), send the job,
    and hand back its handle."""
    plan = plan_batch(rt, requests)
    info = yield from submit_flow(rt, plan)
    return BatchJob(rt, run_sync, run_async, info, plan)


def reattach(rt: Runtime, job_id: Any, run_sync: RunSync, run_async: RunAsync) -> Steps[BatchJob]:
    """The handle of a job sent earlier, its state read now (its plans are not known: results
    come in the provider's order, unchecked against a schema)."""
    if not isinstance(job_id, str) or not job_id.strip() or any(c.isspace() for c in job_id):
        raise LLMInputError(f"job_id must be the id a batch job was given, got {job_id!r}")
    rt.require(Feature.BATCH, None)
    info = yield from control_flow(rt, lambda api: api.read(job_id))
    return BatchJob(rt, run_sync, run_async, info)


class BatchJob:
    """A batch job on one profile. `id`, `status` (a `BatchStatus`), `counts` and `info`
    are as last read; `refresh()` reads again."""

    def __init__(
        self,
        runtime: Runtime,
        run_sync: RunSync,
        run_async: RunAsync,
        info: BatchInfo,
        plan: BatchPlan | None = None,
    ) -> None:
        self._rt = runtime
        self._run_sync = run_sync
        self._run_async = run_async
        self._plan = plan  # None for a job reattached by id: order and schemas unknown
        self.info = info
        self._results: Outcomes | None = None

    def __repr__(self) -> str:
        counts = self.counts
        done = f"{counts.succeeded + counts.failed}/{counts.total}" if counts.total else "?"
        return (
            f"BatchJob({self.id!r}, profile={self._rt.profile.name!r}, "
            f"status={self.status.value!r}, done={done})"
        )

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def status(self) -> BatchStatus:
        return self.info.status

    @property
    def counts(self) -> BatchCounts:
        return self.info.counts

    @property
    def profile(self) -> str:
        return self._rt.profile.name

    @property
    def custom_ids(self) -> tuple[str, ...] | None:
        """The ids in the order they were sent (None for a job reattached by id)."""
        return None if self._plan is None else self._plan.order

    # -- reading the state -------------------------------------------------------------------

    def refresh(self) -> BatchJob:
        """Read the job's state again."""
        job_id = self.id
        self.info = self._run_sync(control_flow(self._rt, lambda api: api.read(job_id)))
        return self

    async def refresh_async(self) -> BatchJob:
        job_id = self.id
        self.info = await self._run_async(control_flow(self._rt, lambda api: api.read(job_id)))
        return self

    def wait(self, *, poll_s: float = 30.0, timeout: float | None = None) -> BatchJob:
        """Poll every `poll_s` seconds until the job ends; `LLMTimeoutError` after `timeout`
        seconds (None: as long as it takes; providers end a job within a day)."""
        _check_wait(poll_s, timeout)
        clock = self._rt.clock
        started = clock.monotonic()
        while not self.refresh().status.ended:
            self._check_deadline(started, timeout)
            clock.sleep(_next_poll(poll_s, started, timeout, clock.monotonic()))
        return self

    async def wait_async(self, *, poll_s: float = 30.0, timeout: float | None = None) -> BatchJob:
        _check_wait(poll_s, timeout)
        clock = self._rt.clock
        started = clock.monotonic()
        while not (await self.refresh_async()).status.ended:
            self._check_deadline(started, timeout)
            await clock.sleep_async(_next_poll(poll_s, started, timeout, clock.monotonic()))
        return self

    def _check_deadline(self, started: float, timeout: float | None) -> None:
        if timeout is not None and self._rt.clock.monotonic() - started >= timeout:
            raise LLMTimeoutError(
                f"batch {self.id} is still {self.status.value} after {timeout:g} s; "
                "wait() again later, or reattach with context.batch(job_id, profile=...)",
                provider=self._rt.provider,
            )

    # -- results and cancelling ----------------------------------------------------------------

    def results(self) -> Outcomes:
        """`{custom_id: ChatResult | LLMError}` for every item, in the order sent (for a job
        reattached by id: the provider's order). Raises `LLMInputError` before the job ends,
        `LLMBadRequestError` when the provider failed the whole job."""
        if self._results is None:
            info = self._ended_info()
            order = self.custom_ids
            flow = control_flow(self._rt, lambda api: api.results(info, order))
            self._results = self._collect(self._run_sync(flow))
        return dict(self._results)

    async def results_async(self) -> Outcomes:
        if self._results is None:
            info = self._ended_info()
            order = self.custom_ids
            flow = control_flow(self._rt, lambda api: api.results(info, order))
            self._results = self._collect(await self._run_async(flow))
        return dict(self._results)

    def _ended_info(self) -> BatchInfo:
        info = self.info
        if info.status is BatchStatus.FAILED:
            raise LLMBadRequestError(
                f"{self._rt.provider} failed batch {info.id} as a whole, no item ran: "
                f"{info.error or 'no reason given'}",
                provider=self._rt.provider,
            )
        if not info.status.ended:
            raise LLMInputError(
                f"batch {info.id} is {info.status.value}: its results come when it ends; "
                "call wait() (or refresh() until status.ended) first"
            )
        return info

    def _collect(self, outcomes: Outcomes) -> Outcomes:
        plans = None if self._plan is None else self._plan.plans
        return collect(self._rt, outcomes, plans)

    def cancel(self) -> BatchJob:
        """Ask the provider to stop the job; items already answered keep their results."""
        job_id = self.id
        self.info = self._run_sync(control_flow(self._rt, lambda api: api.cancel(job_id)))
        return self

    async def cancel_async(self) -> BatchJob:
        job_id = self.id
        self.info = await self._run_async(control_flow(self._rt, lambda api: api.cancel(job_id)))
        return self


def _check_wait(poll_s: Any, timeout: Any) -> None:
    if isinstance(poll_s, bool) or not isinstance(poll_s, (int, float)) or not poll_s > 0:
        raise LLMInputError(f"poll_s must be a number of seconds > 0, got {poll_s!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise LLMInputError(f"timeout must be a number of seconds > 0 or None, got {timeout!r}")


def _next_poll(poll_s: float, started: float, timeout: float | None, now: float) -> float:
    """The next pause: `poll_s`, or less when the deadline comes first."""
    if timeout is None:
        return poll_s
    return max(0.0, min(poll_s, started + timeout - now))
