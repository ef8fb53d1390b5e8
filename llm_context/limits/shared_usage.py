"""Usage totals shared by every process through the rate-limit backend:
`context.usage(scope="shared")`.

Each call's record adds to Redis hashes (the total, and one per profile, provider and
model) in one pipelined round trip, from the meter's callback: a failure to reach Redis is
logged by the meter and never fails the call. Keys live under `llm_context:usage:`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..metering import UsageRecord, UsageReport, UsageTotals

__all__ = ["SharedUsage"]

_PREFIX = "llm_context:usage"
_FIELDS = tuple(f.name for f in fields(UsageTotals))
_FLOATS = frozenset({"latency_s", "cost"})
_KINDS = ("profile", "provider", "model")


class SharedUsage:
    """The shared totals in one Redis (`url` may hold a password: it is not kept in text)."""

    def __init__(self, url: str) -> None:
        import redis as redis_lib

        self._client = redis_lib.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, decode_responses=True
        )

    def record(self, record: UsageRecord) -> None:
        """Add one call's record (the meter's `on_usage` callback)."""
        delta = UsageTotals().add(record)
        names = {"profile": record.profile, "provider": record.provider}
        names["model"] = record.model or "unknown"
        with self._client.pipeline(transaction=True) as pipe:
            for key in [f"{_PREFIX}:total", *(f"{_PREFIX}:{k}:{v}" for k, v in names.items())]:
                for name in _FIELDS:
                    value = getattr(delta, name)
                    if value:
                        if name in _FLOATS:
                            pipe.hincrbyfloat(key, name, float(value))
                        else:
                            pipe.hincrby(key, name, int(value))
            for kind, name in names.items():
                pipe.sadd(f"{_PREFIX}:{kind}s", name)
            pipe.execute()

    def report(self) -> UsageReport:
        """The totals of every process that recorded here."""
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
        self._client.close()


def _totals(row: dict[str, Any]) -> UsageTotals:
    values: dict[str, Any] = {
        name: (float(row[name]) if name in _FLOATS else int(row[name]))
        for name in _FIELDS
        if name in row
    }
    return UsageTotals(**values)
