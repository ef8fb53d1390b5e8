"""The fake server's batch jobs, provider-neutral: a job's lifecycle, driven by how often it
is read, and its items answered by the same handlers that answer a single call.

Each item takes the next script item when the job is created (so `fake.script(Reply("a"),
Fault(500), ...)` scripts a batch's items in order); its answer is rendered by the route
that serves the same request outside a batch, so a batch reply and a chat reply cannot
drift apart. `fake.batch_lifecycle` shapes the jobs created after it is set.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .routing import Exchange, RecordedRequest, Route
from .script import Fault, ScriptItem

__all__ = ["BatchLifecycle", "BatchStore", "FakeBatch", "ItemAnswer"]

Phase = Literal[
    "validating", "in_progress", "completed", "expired", "failed", "cancelling", "cancelled"
]


@dataclass(frozen=True)
class BatchLifecycle:
    """How the next jobs run. A job is `validating` when created, `in_progress` for its
    first `polls` reads, then ends as `end`. A job that expires, or is cancelled, has
    answered its first `finished` items (None: half of them); the rest never ran. `end`
    "failed" refuses the job as a whole (Anthropic has no such state: it refuses bad input
    when the batch is created)."""

    polls: int = 1
    end: Literal["completed", "expired", "failed"] = "completed"
    finished: int | None = None
    failure: str = "the fake server failed this batch (BatchLifecycle(end='failed'))"


@dataclass(frozen=True)
class ItemAnswer:
    """One item's answer as the single-call route gave it: HTTP status and JSON body."""

    custom_id: str
    status: int
    body: Any
    request_id: str


@dataclass
class FakeBatch:
    """One job; `phase` moves on as it is read."""

    id: str
    provider: str
    lifecycle: BatchLifecycle
    answers: list[ItemAnswer]
    created: float
    details: dict[str, Any] = field(default_factory=dict)  # endpoint, model, file ids...
    failure: str | None = None  # refused at validation: the job fails, no item runs
    reads: int = 0
    cancelled_at: int | None = None  # `reads` when cancel was asked

    @property
    def phase(self) -> Phase:
        if self.failure is not None:
            return "failed" if self.reads else "validating"
        if self.cancelled_at is not None:
            return "cancelling" if self.reads == self.cancelled_at else "cancelled"
        if self.reads == 0:
            return "validating"
        if self.reads <= self.lifecycle.polls:
            return "in_progress"
        return self.lifecycle.end

    @property
    def failure_reason(self) -> str | None:
        """Why a failed job failed (its input refused, or the lifecycle's end)."""
        if self.phase != "failed":
            return None
        return self.failure or self.lifecycle.failure

    @property
    def ended(self) -> bool:
        return self.phase in ("completed", "expired", "failed", "cancelled")

    def answered(self) -> list[ItemAnswer]:
        """The items that ran: all of a completed job's, the first `finished` otherwise."""
        phase = self.phase
        if phase == "completed":
            return list(self.answers)
        if phase in ("expired", "cancelled"):
            finished = self.lifecycle.finished
            count = len(self.answers) // 2 if finished is None else finished
            return self.answers[:count]
        return []

    def unanswered(self) -> list[str]:
        """The custom ids of the items that never ran (once the job has ended)."""
        done = {a.custom_id for a in self.answered()}
        return [a.custom_id for a in self.answers if a.custom_id not in done]


class BatchStore:
    """Every job of one fake server. `take(n)` gives the next n script items (None where
    the script has run out); `find_route(method, path)` is the server's router."""

    def __init__(
        self,
        take: Callable[[int], list[ScriptItem | None]],
        find_route: Callable[[str, str], tuple[Route | None, dict[str, str], str]],
    ) -> None:
        self._take = take
        self._find_route = find_route
        self._lock = threading.Lock()
        self._jobs: dict[str, FakeBatch] = {}
        self._files: dict[str, bytes] = {}
        self._numbers = itertools.count(1)
        self.lifecycle = BatchLifecycle()

    def number(self) -> int:
        return next(self._numbers)

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._files.clear()
            self._numbers = itertools.count(1)  # ids start over, as request ids do
            self.lifecycle = BatchLifecycle()

    # -- files (OpenAI's Files API) ----------------------------------------------------------

    def add_file(self, data: bytes) -> str:
        file_id = f"file-fake{self.number()}"
        with self._lock:
            self._files[file_id] = data
        return file_id

    def file(self, file_id: str) -> bytes | None:
        with self._lock:
            return self._files.get(file_id)

    # -- jobs --------------------------------------------------------------------------------

    def create(
        self,
        provider: str,
        prefix: str,
        requests: list[tuple[str, str, str, Any]],
        exchange: Exchange,
        *,
        failure: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> FakeBatch:
        """A new job over `requests` (custom_id, method, path, JSON body), each answered now
        by its single-call route; a `failure` refuses the whole job instead."""
        answers: list[ItemAnswer] = []
        if failure is None:
            items = self._take(len(requests))
            for number, ((custom_id, method, path, body), item) in enumerate(
                zip(requests, items, strict=True), 1
            ):
                status, answer = self._answer(exchange, method, path, body, item, number)
                answers.append(ItemAnswer(custom_id, status, answer, f"req_fake_batch_{number}"))
        job = FakeBatch(
            id=f"{prefix}{self.number()}",
            provider=provider,
            lifecycle=self.lifecycle,
            answers=answers,
            created=time.time(),
            details=dict(details or {}),
            failure=failure,
        )
        with self._lock:
            self._jobs[job.id] = job
        return job

    def read(self, job_id: str) -> FakeBatch | None:
        """The job, one read further on."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not job.ended:
                job.reads += 1
            return job

    def cancel(self, job_id: str) -> FakeBatch | None:
        """Ask to cancel: `cancelling` now, `cancelled` from the next read (an ended job
        stays as it is)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not job.ended and job.cancelled_at is None:
                job.cancelled_at = job.reads
            return job

    def _answer(
        self,
        exchange: Exchange,
        method: str,
        path: str,
        body: Any,
        item: ScriptItem | None,
        number: int,
    ) -> tuple[int, Any]:
        """What the single-call route at `path` answers `body` with, given the script item."""
        route, params, _ = self._find_route(method, path)
        if route is None:
            return 404, {"error": {"message": f"fake server: no route for {method} {path}"}}
        if isinstance(item, Fault):
            return item.status, route.error_body(item.status, item.error_message)
        if item is not None and not isinstance(item, route.accepts):
            return 500, route.error_body(500, f"a scripted {type(item).__name__} cannot answer")
        request = RecordedRequest(
            method=method,
            path=path,
            query={"api-version": "batch"},  # Azure's dated routes want one
            headers={**exchange.request.headers, "content-type": "application/json"},
            body=json.dumps(body).encode(),
            json=body,
            provider=exchange.provider,
            endpoint=route.endpoint,
            request_id=f"req_fake_batch_{number}",
        )
        written: list[bytes] = []
        inner = Exchange(
            request=request,
            route=route,
            params=params,
            item=item,
            seq=exchange.seq * 100_000 + number,  # ids unique across the job's items
            server_url=exchange.server_url,
            write=written.append,
            extra_headers={},
        )
        route.handler(inner)
        head, _, payload = b"".join(written).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(payload) if payload else None
