"""Client-side rate limits: requests per minute, tokens per minute, requests in flight.

A `RateLimiter` makes a request wait for capacity instead of failing. Limits are exact over
a sliding 60-second window (no 60 s span ever holds more than `rpm` grants); `tpm` counts an
estimate before the call and is corrected with the real usage after it. Threads block;
async callers await on their event loop (no thread is held while waiting). Waiters are
woken when capacity returns, not served in strict FIFO order.

`RateLimiters` holds one context's limiters: one per profile, or one per `group` shared by
every profile that names it (the strictest of each limit among the members applies).
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .clock import Clock
from .messages import ImagePart, TextPart
from .request import ChatRequest
from .settings import RateLimitSettings

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "LimiterStats",
    "RateLimiter",
    "RateLimiters",
    "estimate_chat_tokens",
    "estimate_text_tokens",
    "tokens_used",
]

WINDOW_S = 60.0
_MIN_WAIT_S = 0.001  # rounding at the window's edge must not turn into a busy loop
_IMAGE_TOKENS = 85  # a flat guess per input image: the real count arrives with the usage


def estimate_text_tokens(texts: Iterable[str]) -> int:
    """About four characters per token."""
    return sum(-(-len(text) // 4) for text in texts)


def estimate_chat_tokens(request: ChatRequest) -> int:
    """A request's token estimate: its text at ~4 chars a token, images at a flat rate,
    plus `max_output_tokens` (the reply's worst case) when it is set."""
    texts: list[str] = []
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, ImagePart):
                images += 1
        texts.extend(call.arguments_json for call in message.tool_calls)
    texts.extend(tool.description + str(tool.parameters) for tool in request.tools)
    estimate = estimate_text_tokens(texts) + images * _IMAGE_TOKENS
    return estimate + (request.max_output_tokens or 0)


def tokens_used(usage: Mapping[str, int] | None) -> int | None:
    """The tokens a reply really cost (None when the provider reported no usage)."""
    if not usage:
        return None
    total = usage.get("total_tokens")
    if total:
        return int(total)
    counted = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
    return counted or None


@dataclass(frozen=True)
class LimiterStats:
    """What a limiter has done so far."""

    requests: int  # grants
    waits: int  # grants that had to wait
    waited_s: float  # total time spent waiting, on the limiter's clock
    in_flight: int
    peak_in_flight: int
    window_requests: int  # grants in the last 60 s
    window_tokens: int  # tokens counted in the last 60 s


class _Grant:
    """A permit: holds a concurrency slot and a token count in the window until released."""

    __slots__ = ("_limiter", "_released", "granted_at", "tokens")

    def __init__(self, limiter: RateLimiter, tokens: int, granted_at: float) -> None:
        self._limiter = limiter
        self._released = False
        self.tokens = tokens
        self.granted_at = granted_at

    def release(self, used_tokens: int | None = None) -> None:
        """Give the slot back; `used_tokens` replaces the estimate in the window."""
        self._limiter._release(self, used_tokens)


Outcome = _Grant | float | None  # granted, seconds to wait, or wait for a release


class RateLimiter:
    """rpm / tpm / max_concurrency for one profile or group."""

    def __init__(self, settings: RateLimitSettings, clock: Clock, name: str = "") -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._times: collections.deque[float] = collections.deque()  # grant times in window
        self._window: collections.deque[_Grant] = collections.deque()  # tokens in window
        self._waiters: list[Callable[[], None]] = []
        self._in_flight = 0
        self._peak = 0
        self._requests = 0
        self._waits = 0
        self._waited_s = 0.0

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"RateLimiter({self.name!r}, rpm={s.rpm}, tpm={s.tpm}, "
            f"max_concurrency={s.max_concurrency})"
        )

    @property
    def settings(self) -> RateLimitSettings:
        return self._settings

    def configure(self, settings: RateLimitSettings) -> None:
        """New limits (a profile changed); waiters re-check at once."""
        with self._lock:
            self._settings = settings
            waiters, self._waiters = self._waiters, []
        _wake(waiters)

    # -- acquiring ---------------------------------------------------------------------------

    def acquire(self, tokens: int = 0) -> _Grant:
        """Block until there is capacity for a request of about `tokens` tokens."""
        started: float | None = None
        while True:
            event = threading.Event()
            outcome, started = self._poll(tokens, started, event.set)
            if isinstance(outcome, _Grant):
                return outcome
            if outcome is None:
                event.wait()
            else:
                self._clock.sleep(outcome)

    async def acquire_async(self, tokens: int = 0) -> _Grant:
        """`acquire`, awaited on the running loop: no thread waits."""
        import asyncio  # asyncio (with ssl: ~30 ms) loads only when the async API is used

        loop = asyncio.get_running_loop()
        started: float | None = None
        while True:
            future: asyncio.Future[None] = loop.create_future()
            waker = _future_waker(loop, future)
            outcome, started = self._poll(tokens, started, waker)
            if isinstance(outcome, _Grant):
                return outcome
            if outcome is None:
                try:
                    await future
                except asyncio.CancelledError:
                    with self._lock:
                        if waker in self._waiters:
                            self._waiters.remove(waker)
                    raise
            else:
                await self._clock.sleep_async(outcome)

    def _poll(
        self, tokens: int, started: float | None, waker: Callable[[], None]
    ) -> tuple[Outcome, float | None]:
        """Grant now, or say how to wait; `waker` is registered when only a release can help.
        Returns the outcome and when the waiting started."""
        with self._lock:
            outcome = self._try(tokens, started)
            if isinstance(outcome, _Grant):
                return outcome, started
            if outcome is None:
                self._waiters.append(waker)
            return outcome, self._clock.monotonic() if started is None else started

    def _try(self, tokens: int, started: float | None) -> Outcome:
        """Grant now, or say how to wait. Called with the lock held."""
        now = self._clock.monotonic()
        self._prune(now)
        s = self._settings
        if s.max_concurrency is not None and self._in_flight >= s.max_concurrency:
            return None
        wait = 0.0
        if s.rpm is not None and len(self._times) >= s.rpm:
            # The grant that must leave the window before one more fits.
            wait = self._times[len(self._times) - s.rpm] + WINDOW_S - now
        if s.tpm is not None:
            wait = max(wait, self._tokens_wait(tokens, s.tpm, now))
        if wait > 0:
            return max(wait, _MIN_WAIT_S)
        grant = _Grant(self, max(0, tokens), now)
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        self._requests += 1
        self._times.append(now)
        self._window.append(grant)
        if started is not None:
            self._waits += 1
            self._waited_s += now - started
        return grant

    def _tokens_wait(self, tokens: int, tpm: int, now: float) -> float:
        used = sum(g.tokens for g in self._window)
        excess = used + tokens - tpm
        if excess <= 0 or not self._window:
            return 0.0  # fits; or too big for any window, so it goes alone into an empty one
        if tokens > tpm:
            excess = used  # the whole window must drain first
        freed = 0
        for grant in self._window:
            freed += grant.tokens
            if freed >= excess:
                return grant.granted_at + WINDOW_S - now
        return self._window[-1].granted_at + WINDOW_S - now

    def _prune(self, now: float) -> None:
        edge = now - WINDOW_S
        while self._times and self._times[0] <= edge:
            self._times.popleft()
        while self._window and self._window[0].granted_at <= edge:
            self._window.popleft()

    def _release(self, grant: _Grant, used_tokens: int | None) -> None:
        with self._lock:
            if grant._released:
                return
            grant._released = True
            self._in_flight -= 1
            if used_tokens is not None:
                grant.tokens = max(0, int(used_tokens))
            waiters, self._waiters = self._waiters, []
        _wake(waiters)

    def stats(self) -> LimiterStats:
        with self._lock:
            self._prune(self._clock.monotonic())
            return LimiterStats(
                requests=self._requests,
                waits=self._waits,
                waited_s=self._waited_s,
                in_flight=self._in_flight,
                peak_in_flight=self._peak,
                window_requests=len(self._times),
                window_tokens=sum(g.tokens for g in self._window),
            )


def _wake(waiters: list[Callable[[], None]]) -> None:
    for wake in waiters:
        wake()


def _future_waker(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]
) -> Callable[[], None]:
    def resolve() -> None:
        if not future.done():
            future.set_result(None)

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(resolve)

    return wake


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
    )


class RateLimiters:
    """One context's limiters: per profile, or per group shared across profiles."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._members: dict[tuple[str, str], dict[str, RateLimitSettings]] = {}
        self._key_of: dict[str, tuple[str, str]] = {}

    def for_profile(self, profile: str, settings: RateLimitSettings) -> RateLimiter | None:
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
                limiter = RateLimiter(effective, self._clock, name=key[1])
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

    def get(self, profile: str) -> RateLimiter | None:
        """The limiter a profile currently uses, if any (for stats)."""
        with self._lock:
            key = self._key_of.get(profile)
            return self._limiters.get(key) if key is not None else None
