"""Usage metering: one frozen record per call and profile, totals, and callbacks.

Every operation (chat, stream, embed, image, raw) ends in one `UsageRecord` per profile it
ran on (a call that fell back yields one for each profile tried). `Meter` keeps running
totals per profile, provider and model and hands each record to the `on_usage` callbacks.
Metering never raises into the caller: a callback that raises is logged and skipped.
"""

from __future__ import annotations

import logging
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from .call.steps import Steps
from .clock import Clock
from .config.settings import Pricing, Profile

__all__ = [
    "Meter",
    "Operation",
    "Tally",
    "UsageCallback",
    "UsageRecord",
    "UsageReport",
    "UsageTotals",
    "batch_item_record",
    "cost_of",
    "metered",
]

log = logging.getLogger("llm_context")

T = TypeVar("T")

Operation = Literal["chat", "stream", "embed", "image", "raw", "count_tokens", "models"]

_TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
)


def cost_of(usage: Mapping[str, int], pricing: Pricing | None) -> float | None:
    """USD for `usage` at `pricing` (None without pricing). Cache reads and cache writes,
    which the normalised usage counts inside `input_tokens`, are billed at their own rates
    when set (else at the input rate): never twice."""
    if pricing is None:
        return None
    inp = usage.get("input_tokens", 0)
    cached = min(usage.get("cached_input_tokens", 0), inp)
    written = min(usage.get("cache_write_tokens", 0), inp - cached)
    read_rate = pricing.cached_input_per_million
    write_rate = pricing.cache_write_per_million
    out = usage.get("output_tokens", 0)
    millions = (
        (inp - cached - written) * pricing.input_per_million
        + cached * (pricing.input_per_million if read_rate is None else read_rate)
        + written * (pricing.input_per_million if write_rate is None else write_rate)
        + out * pricing.output_per_million
    )
    return millions / 1_000_000


@dataclass(frozen=True)
class UsageRecord:
    """One operation on one profile, as `on_usage` callbacks receive it.

    `latency_s` covers the whole call on this profile (rate-limit waits and retries
    included); `sent_at` is the context clock's time when its last attempt was sent (None if
    nothing was sent); `attempts` counts requests sent (embedding batches, retries and JSON
    repair turns included); `retries` the requests re-sent by the retry policy after a
    transient failure; `repairs` the JSON repair turns; `error` is the exception class name
    when the call failed; `cost` is USD when the profile has `pricing`; `batch` marks an
    item of a provider batch job (its cost at the profile's `pricing.batch_discount`).
    """

    profile: str
    provider: str
    model: str | None
    operation: Operation
    usage: Mapping[str, int] = field(hash=False)
    latency_s: float
    attempts: int
    error: str | None = None
    cost: float | None = None
    sent_at: float | None = None
    retries: int = 0
    repairs: int = 0
    batch: bool = False


@dataclass(frozen=True)
class UsageTotals:
    """Sums over many records."""

    calls: int = 0
    errors: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def mean_latency_s(self) -> float:
        return self.latency_s / self.calls if self.calls else 0.0

    def add(self, record: UsageRecord) -> UsageTotals:
        """These totals with one more record."""
        tokens = {key: getattr(self, key) + record.usage.get(key, 0) for key in _TOKEN_KEYS}
        return UsageTotals(
            calls=self.calls + 1,
            errors=self.errors + (record.error is not None),
            retries=self.retries + record.retries,
            latency_s=self.latency_s + record.latency_s,
            cost=self.cost + (record.cost or 0.0),
            **tokens,
        )


# A running total as a mutable row of numbers in `UsageTotals` field order: adding a record
# updates it in place, and it is frozen into a `UsageTotals` only when a report is asked for.
_Row = list[Any]
_ZERO: tuple[float, ...] = tuple(getattr(UsageTotals(), f.name) for f in fields(UsageTotals))


def _delta(record: UsageRecord) -> tuple[float, ...]:
    """What one record adds to a row (the same sums as `UsageTotals.add`)."""
    usage = record.usage
    return (
        1,
        record.error is not None,
        record.retries,
        *[usage.get(key, 0) for key in _TOKEN_KEYS],
        record.latency_s,
        record.cost or 0.0,
    )


def _added(row: _Row, delta: Sequence[float]) -> None:
    # The sums are computed before the row changes: a bad value leaves it as it was.
    row[:] = map(operator.add, row, delta)


def _totals(row: _Row) -> UsageTotals:
    return UsageTotals(*row)


def _frozen(rows: Mapping[str, _Row]) -> Mapping[str, UsageTotals]:
    return MappingProxyType({key: _totals(row) for key, row in rows.items()})


@dataclass(frozen=True)
class UsageReport:
    """`context.usage()`: totals overall and per profile, provider and model."""

    total: UsageTotals = field(default_factory=UsageTotals)
    by_profile: Mapping[str, UsageTotals] = field(default_factory=dict)
    by_provider: Mapping[str, UsageTotals] = field(default_factory=dict)
    by_model: Mapping[str, UsageTotals] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Plain nested dicts (for JSON or logging)."""

        def plain(t: UsageTotals) -> dict[str, object]:
            return {f.name: getattr(t, f.name) for f in fields(t)}

        return {
            "total": plain(self.total),
            "by_profile": {k: plain(v) for k, v in self.by_profile.items()},
            "by_provider": {k: plain(v) for k, v in self.by_provider.items()},
            "by_model": {k: plain(v) for k, v in self.by_model.items()},
        }


UsageCallback = Callable[[UsageRecord], object]


class Meter:
    """Running totals and callbacks for one context. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[UsageCallback] = []
        # One row per (profile, provider, model): a call adds to one row, and the totals by
        # each are summed from these rows only when a report is asked for.
        self._rows: dict[tuple[str, str, str], _Row] = {}

    def on_usage(self, callback: UsageCallback) -> Callable[[], None]:
        """Call `callback(record)` after every call; returns a function that unsubscribes."""
        if not callable(callback):
            raise TypeError("on_usage takes a function of one UsageRecord")
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def record(self, record: UsageRecord) -> None:
        """Add a record to the totals and run the callbacks; never raises."""
        try:
            delta = _delta(record)
            key = (record.profile, record.provider, record.model or "(unknown)")
            with self._lock:
                row = self._rows.get(key) or list(_ZERO)
                _added(row, delta)  # before the row is kept: a malformed record adds none
                self._rows[key] = row
                callbacks = list(self._callbacks)
        except Exception:  # a malformed usage dict must not fail the call that produced it
            log.exception("usage metering failed for profile %s", record.profile)
            return
        for callback in callbacks:
            try:
                callback(record)
            except Exception:
                log.exception(
                    "on_usage callback %s raised (ignored)",
                    getattr(callback, "__qualname__", repr(callback)),
                )

    def report(self) -> UsageReport:
        with self._lock:
            rows = [(key, tuple(row)) for key, row in self._rows.items()]
        total: _Row = list(_ZERO)
        by: tuple[dict[str, _Row], ...] = ({}, {}, {})  # profile, provider, model
        for key, row in rows:
            _added(total, row)
            for table, name in zip(by, key, strict=True):
                _added(table.setdefault(name, list(_ZERO)), row)
        return UsageReport(
            total=_totals(total),
            by_profile=_frozen(by[0]),
            by_provider=_frozen(by[1]),
            by_model=_frozen(by[2]),
        )

    def reset(self) -> None:
        """Forget the totals (callbacks stay)."""
        with self._lock:
            self._rows.clear()


@dataclass
class Tally:
    """What one operation on one profile has done so far, for its record."""

    started: float
    attempts: int = 0
    retries: int = 0
    repairs: int = 0
    sent_at: float | None = None
    usage: dict[str, int] = field(default_factory=dict)


def make_record(
    profile: Profile,
    operation: Operation,
    model: str | None,
    tally: Tally,
    now: float,
    error: BaseException | None,
) -> UsageRecord:
    """The record of a finished operation."""
    usage = dict(tally.usage)
    return UsageRecord(
        profile=profile.name,
        provider=profile.provider.value,
        model=model,
        operation=operation,
        usage=MappingProxyType(usage),
        latency_s=max(0.0, now - tally.started),
        attempts=tally.attempts,
        error=None if error is None else type(error).__name__,
        cost=cost_of(usage, profile.pricing),
        sent_at=tally.sent_at,
        retries=tally.retries,
        repairs=tally.repairs,
    )


def batch_item_record(
    profile: Profile, model: str | None, usage: Mapping[str, int], error: BaseException | None
) -> UsageRecord:
    """The record of one batch item: no latency of its own (the job's is hours), one
    attempt, its cost with the batch discount taken off."""
    cost = cost_of(usage, profile.pricing)
    if cost is not None and profile.pricing is not None:
        cost *= 1.0 - profile.pricing.batch_discount
    return UsageRecord(
        profile=profile.name,
        provider=profile.provider.value,
        model=model,
        operation="chat",
        usage=MappingProxyType(dict(usage)),
        latency_s=0.0,
        attempts=1,
        error=None if error is None else type(error).__name__,
        cost=cost,
        batch=True,
    )


def metered(
    meter: Meter,
    clock: Clock,
    profile: Profile,
    operation: Operation,
    model: str | None,
    tally: Tally,
    flow: Steps[T],
    *,
    on_success: bool = True,
) -> Steps[T]:
    """`flow`, recorded when it ends: always on failure, on success unless `on_success` is
    False (a stream records when its relay ends instead)."""
    try:
        result = yield from flow
    except GeneratorExit:
        raise
    except BaseException as exc:
        _record_end(meter, clock, profile, operation, model, tally, exc)
        raise
    if on_success:
        _record_end(meter, clock, profile, operation, model, tally, None)
    return result


def _record_end(
    meter: Meter,
    clock: Clock,
    profile: Profile,
    operation: Operation,
    model: str | None,
    tally: Tally,
    error: BaseException | None,
) -> None:
    now = clock.monotonic()
    record_safely(meter, lambda: make_record(profile, operation, model, tally, now, error))


def record_safely(meter: Meter, build: Callable[[], UsageRecord]) -> None:
    """Build and record a usage record; metering never raises into the caller."""
    try:
        record = build()
    except Exception:
        log.exception("usage metering failed to build a record")
        return
    meter.record(record)
