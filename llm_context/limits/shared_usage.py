"""Usage totals shared by every process through the rate-limit backend:
`context.usage(scope="shared")`.

Each call's record is queued by the meter's callback and added to Redis hashes (the total,
and one per profile, provider and model) by a background thread, many records a pipelined
round trip: a call never waits for Redis, and a failure to reach it is logged, never raised
into a call. A batch is summed here first, so a round trip carries one HINCRBY per hash and
field however many calls it holds (the sender's time per call falls as calls come faster).
`report()` first sends what is queued. Keys live under `llm_context:usage:`.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import fields
from typing import Any

from ..metering import UsageRecord, UsageReport, UsageTotals

__all__ = ["SharedUsage"]

log = logging.getLogger("llm_context")

_PREFIX = "llm_context:usage"
_FIELDS = tuple(f.name for f in fields(UsageTotals))
_FLOATS = frozenset({"latency_s", "cost"})
_KINDS = ("profile", "provider", "model")
_GATHER_S = 0.05


class SharedUsage:
    """The shared totals in one Redis (`url` may hold a password: it is not kept in text)."""

    def __init__(self, url: str) -> None:
        import redis as redis_lib

        self._client = redis_lib.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, decode_responses=True
        )
        self._errors: tuple[type[BaseException], ...] = (
            redis_lib.ConnectionError,
            redis_lib.TimeoutError,
        )
        self._queue: queue.SimpleQueue[UsageRecord | None] = queue.SimpleQueue()
        self._pending = 0  # queued and not yet sent (or given up on)
        self._idle = threading.Condition()
        self._sender: threading.Thread | None = None
        self._closing = threading.Event()

    def record(self, record: UsageRecord) -> None:
        """Queue one call's record (the meter's `on_usage` callback): sent in the background."""
        with self._idle:
            self._pending += 1
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._send, name="llm_context-usage", daemon=True
                )
                self._sender.start()
        self._queue.put(record)

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (at most `timeout_s`) until every queued record has been sent."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    def _send(self) -> None:
        """The sender thread: many records a pipelined round trip, until closed."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            # Let records gather: one wake-up and one round trip for many calls, so the
            # sender does not take the interpreter from the callers after every call.
            self._closing.wait(_GATHER_S)
            batch = [first]
            while len(batch) < 256:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                with self._client.pipeline(transaction=True) as pipe:
                    _add(pipe, batch)
                    pipe.execute()
            except self._errors as exc:
                log.warning("could not add %d usage records to the backend: %s", len(batch), exc)
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def report(self) -> UsageReport:
        """The totals of every process that recorded here (this one's queue sent first)."""
        self.flush()
        with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{_PREFIX}:total")
            for kind in _KINDS:
                pipe.smembers(f"{_PREFIX}:{kind}s")
            total, *members = pipe.execute()
        names = {kind: sorted(found) for kind, found in zip(_KINDS, members, strict=True)}
        with self._client.pipeline(transaction=False) as pipe:
            for kind in _KINDS:
                for name in names[kind]:
                    pipe.hgetall(f"{_PREFIX}:{kind}:{name}")
            rows = iter(pipe.execute())
        by = {kind: {name: _totals(next(rows)) for name in names[kind]} for kind in _KINDS}
        return UsageReport(_totals(total), by["profile"], by["provider"], by["model"])

    def close(self) -> None:
        sender = self._sender
        self._closing.set()
        if sender is not None and sender.is_alive():
            self._queue.put(None)
            sender.join(timeout=5)  # bounded: what cannot be sent by then is lost, logged
        self._client.close()


def _add(pipe: Any, batch: list[UsageRecord]) -> None:
    """Queue a batch's increments on a pipeline: summed per hash first, one HINCRBY (or
    HINCRBYFLOAT) per hash and field, one SADD per kind of name."""
    sums: dict[str, UsageTotals] = {}
    names: dict[str, set[str]] = {kind: set() for kind in _KINDS}
    for record in batch:
        mine = {"profile": record.profile, "provider": record.provider}
        mine["model"] = record.model or "unknown"
        for kind, name in mine.items():
            names[kind].add(name)
        for key in [f"{_PREFIX}:total", *(f"{_PREFIX}:{k}:{v}" for k, v in mine.items())]:
            sums[key] = sums.get(key, UsageTotals()).add(record)
    for key, totals in sums.items():
        for name in _FIELDS:
            value = getattr(totals, name)
            if value and name in _FLOATS:
                pipe.hincrbyfloat(key, name, float(value))
            elif value:
                pipe.hincrby(key, name, int(value))
    for kind, found in names.items():
        pipe.sadd(f"{_PREFIX}:{kind}s", *sorted(found))


def _totals(row: dict[str, Any]) -> UsageTotals:
    values: dict[str, Any] = {
        name: (float(row[name]) if name in _FLOATS else int(row[name]))
        for name in _FIELDS
        if name in row
    }
    return UsageTotals(**values)
