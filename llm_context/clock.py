"""Time, injectable: the retry policy, the rate limiter and metering read and wait on a `Clock`.

`SystemClock` is the real one. `FakeClock` never sleeps: a wait moves its virtual time
forward and is recorded, so tests can assert every wait without spending it.

    clock = FakeClock()
    ctx = LLMContext(profiles, clock=clock)
    ...
    assert clock.sleeps == [0.5, 1.0]
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic time and the two ways to wait on it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds`."""
        ...

    async def sleep_async(self, seconds: float) -> None:
        """Wait `seconds` without blocking the event loop (or holding a thread)."""
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.sleep`, `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        import asyncio  # asyncio (with ssl: ~30 ms) loads only when the async API is used

        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """Virtual time for tests: a wait returns at once, moves the time forward by its length
    and is recorded. Thread-safe; concurrent waits add up (time only ever runs ahead)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._sleeps.append(float(seconds))
            self._now += max(0.0, seconds)

    async def sleep_async(self, seconds: float) -> None:
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep would be

    def advance(self, seconds: float) -> None:
        """Move the time forward without recording a sleep."""
        with self._lock:
            self._now += max(0.0, seconds)

    @property
    def sleeps(self) -> list[float]:
        """Every wait requested so far, in order (a copy)."""
        with self._lock:
            return list(self._sleeps)

    @property
    def slept(self) -> float:
        """The sum of all waits."""
        with self._lock:
            return sum(self._sleeps)

    def clear(self) -> None:
        """Forget the recorded waits (the time stays where it is)."""
        with self._lock:
            self._sleeps.clear()

    def __repr__(self) -> str:
        return f"FakeClock(now={self.monotonic():.3f}, sleeps={len(self.sleeps)})"
