"""The circuit breaker of a profile (`breaker: {failures, window_s, cooldown_s}`).

Closed: calls go through; each transient failure (what the retry policy would retry) is
counted. `failures` of them within `window_s` open it: for `cooldown_s` every call fails
fast with `LLMProviderUnavailableError`, without sending (and goes to the profile's
fallbacks, if it has any). After the cooldown it is half-open: one call is let through as a
probe; its success closes the breaker, its failure opens it for another cooldown. A probe
that never reports back (cancelled, or its caller gone) is given up after a cooldown, and
the next call probes instead.

The state lives in a `BreakerStore`: in-process (`LocalBreakerStore`, on the context's
clock), or shared through the rate-limit backend (`limits.shared_breaker`), so every worker
sees one breaker. A store has three operations, each atomic; a new store implements them
with the same rules (see `LocalBreakerStore`, the reference): `admit` before each attempt,
then, once the provider answered, `failed` (a transient failure) or `succeeded` (any other
answer); an attempt that never reached the provider reports neither.
"""

from __future__ import annotations

import collections
import threading
from typing import Literal, Protocol

from ..clock import Clock
from ..config.settings import BreakerSettings
from ..errors import LLMProviderUnavailableError

__all__ = ["Breaker", "BreakerStore", "LocalBreakerStore"]

Verdict = Literal["closed", "open", "probe"]


class BreakerStore(Protocol):
    """Where one breaker's state lives; every method is atomic."""

    def admit(self, settings: BreakerSettings) -> Verdict:
        """May a call go? `closed`: yes; `probe`: yes, as the one half-open probe; `open`: no."""
        ...

    def failed(self, settings: BreakerSettings) -> None:
        """A call failed transiently: count it (a failed probe re-opens at once)."""
        ...

    def succeeded(self) -> None:
        """A call succeeded: close, and forget the failures."""
        ...


class LocalBreakerStore:
    """A breaker's state in this process, on the context's clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: collections.deque[float] = collections.deque()
        self._open_until: float | None = None
        # While the half-open probe runs: when it is given up (a probe whose call never
        # reported back, cancelled or stuck, must not keep the breaker open for good).
        self._probe_until: float | None = None

    def admit(self, settings: BreakerSettings) -> Verdict:
        now = self._clock.monotonic()
        with self._lock:
            if self._open_until is None:
                return "closed"
            if now < self._open_until or (
                self._probe_until is not None and now < self._probe_until
            ):
                return "open"
            self._probe_until = now + settings.cooldown_s
            return "probe"

    def failed(self, settings: BreakerSettings) -> None:
        now = self._clock.monotonic()
        with self._lock:
            if self._probe_until is not None:
                self._probe_until = None
                self._open_until = now + settings.cooldown_s
                return
            self._failures.append(now)
            while self._failures and self._failures[0] <= now - settings.window_s:
                self._failures.popleft()
            if len(self._failures) >= settings.failures:
                self._open_until = now + settings.cooldown_s
                self._failures.clear()

    def succeeded(self) -> None:
        with self._lock:
            self._failures.clear()
            self._open_until = None
            self._probe_until = None


class Breaker:
    """One profile's breaker: its settings and where its state lives."""

    def __init__(self, profile: str, settings: BreakerSettings, store: BreakerStore) -> None:
        self.profile = profile
        self.settings = settings
        self.store = store

    def check(self, provider: str) -> None:
        """Raise `LLMProviderUnavailableError` while the breaker is open (nothing is sent)."""
        if self.store.admit(self.settings) == "open":
            raise LLMProviderUnavailableError(
                f"profile {self.profile!r} is paused: {self.settings.failures} failures within "
                f"{self.settings.window_s:g} s opened its circuit breaker for "
                f"{self.settings.cooldown_s:g} s",
                provider=provider,
            )

    def failed(self) -> None:
        self.store.failed(self.settings)

    def succeeded(self) -> None:
        self.store.succeeded()
