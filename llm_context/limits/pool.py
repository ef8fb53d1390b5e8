"""One context's rate limiters: one per profile, or one per `group` shared by every profile
that names it (the strictest of each limit among the members applies). A group with a
backend (`rate_limit.backend`, or $LLM_CONTEXT_REDIS_URL) is limited across processes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from ..clock import Clock
from ..config.settings import RateLimitSettings
from .local import LimiterStats, RateLimiter

__all__ = ["Limiter", "RateLimiters", "backend_url", "strictest"]

REDIS_URL_ENV = "LLM_CONTEXT_REDIS_URL"


class Limiter(Protocol):
    """What a context's limiter offers (in-process or shared)."""

    name: str

    @property
    def settings(self) -> RateLimitSettings: ...

    def configure(self, settings: RateLimitSettings) -> None: ...

    def acquire(self, tokens: int = 0) -> Any: ...

    async def acquire_async(self, tokens: int = 0) -> Any: ...

    def stats(self) -> LimiterStats: ...


def backend_url(settings: RateLimitSettings) -> str | None:
    """The profile's backend, else $LLM_CONTEXT_REDIS_URL (for a profile with limits)."""
    if settings.backend:
        return settings.backend
    return os.environ.get(REDIS_URL_ENV) or None


def strictest(settings: Iterable[RateLimitSettings]) -> RateLimitSettings:
    """The smallest of each limit (None = no limit) among `settings`."""

    def low(values: Iterable[int | None]) -> int | None:
        given = [v for v in values if v is not None]
        return min(given) if given else None

    items = list(settings)
    return RateLimitSettings(
        rpm=low(s.rpm for s in items),
        tpm=low(s.tpm for s in items),
        max_concurrency=low(s.max_concurrency for s in items),
        group=items[0].group if items else None,
        backend=next((s.backend for s in items if s.backend), None),
        lease_ttl_s=min((s.lease_ttl_s for s in items), default=60.0),
        on_backend_error=items[0].on_backend_error if items else "wait",
    )


class RateLimiters:
    """One context's limiters: per profile, or per group shared across profiles."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], Limiter] = {}
        self._members: dict[tuple[str, str], dict[str, RateLimitSettings]] = {}
        self._key_of: dict[str, tuple[str, str]] = {}

    def for_profile(
        self, profile: str, settings: RateLimitSettings, timeout_s: float | None = None
    ) -> Limiter | None:
        """The limiter `profile` waits on (None when it has no limits). Limiter state survives
        profile changes such as a new key: the quota is the provider's, not the key's."""
        key = ("group", settings.group) if settings.group else ("profile", profile)
        with self._lock:
            old = self._key_of.get(profile)
            if old is not None and old != key:
                self._leave(old, profile)
            self._key_of[profile] = key
            members = self._members.setdefault(key, {})
            members[profile] = settings
            effective = strictest(members.values())
            limiter = self._limiters.get(key)
            if limiter is None:
                if not effective.enabled:
                    return None
                limiter = self._make(effective, key, timeout_s)
                self._limiters[key] = limiter
                return limiter
        if limiter.settings != effective:
            limiter.configure(effective)
        return limiter

    def _leave(self, key: tuple[str, str], profile: str) -> None:
        members = self._members.get(key, {})
        members.pop(profile, None)
        limiter = self._limiters.get(key)
        if limiter is not None:
            limiter.configure(strictest(members.values()))

    def _make(
        self, settings: RateLimitSettings, key: tuple[str, str], timeout_s: float | None
    ) -> Limiter:
        """In-process, or through the shared backend when one is configured."""
        url = backend_url(settings)
        if url is None:
            return RateLimiter(settings, self._clock, name=key[1], kind=key[0])
        from .shared import SharedRateLimiter  # imports `redis`: only with a backend

        timeout = timeout_s or 60.0
        return SharedRateLimiter(settings, self._clock, key[1], url=url, timeout_s=timeout)

    def close(self) -> None:
        """Stop the shared limiters' lease renewal and connections."""
        with self._lock:
            limiters = list(self._limiters.values())
        for limiter in limiters:
            close = getattr(limiter, "close", None)
            if close is not None:
                close()

    def get(self, profile: str) -> Limiter | None:
        """The limiter a profile currently uses, if any (for stats)."""
        with self._lock:
            key = self._key_of.get(profile)
            return self._limiters.get(key) if key is not None else None
