"""Client-side rate limits: requests per minute, tokens per minute, requests in flight.

A `RateLimiter` makes a request wait for capacity instead of failing. Limits are exact over
a sliding 60-second window (no 60 s span ever holds more than `rpm` grants); `tpm` counts an
estimate before the call and is corrected with the real usage after it. Threads block;
async callers await on their event loop (no thread is held while waiting).

Waiters queue in arrival order (FIFO). Whoever frees capacity hands it to the head of the
queue, one grant per slot that fits, and only the head watches the clock for rpm/tpm, so a
crowd of waiters costs a constant amount of work per request (a running token total keeps
each check O(1)). A call that could only be served by a slot its own thread (or task)
holds raises `LLMInputError` instead of blocking forever.

One context's limiters (per profile, or per `group`) are held by `pool`; a group shared
across processes is `shared`; the token estimates they count are in `estimate`.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..clock import Clock
from ..config.settings import RateLimitSettings
from ..errors import LLMInputError

if TYPE_CHECKING:
    import asyncio

__all__ = ["WINDOW_S", "LimiterStats", "RateLimiter"]

WINDOW_S = 60.0
_MIN_WAIT_S = 0.001  # rounding at the window's edge must not turn into a busy loop


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


# Who holds a grant: the thread, and the asyncio task for async callers (None for threads).
_Holder = tuple[int, object | None]


class _Grant:
    """A permit: holds a concurrency slot and a token count in the window until released."""

    __slots__ = ("_limiter", "granted_at", "holder", "in_window", "released", "tokens")

    def __init__(self, limiter: RateLimiter, tokens: int, granted_at: float, holder: _Holder):
        self._limiter = limiter
        self.holder = holder
        self.released = False
        self.in_window = True  # counted in the limiter's running token total
        self.tokens = tokens
        self.granted_at = granted_at

    def release(self, used_tokens: int | None = None) -> None:
        """Give the slot back; `used_tokens` replaces the estimate in the window."""
        self._limiter.release_grant(self, used_tokens)


class _Waiter:
    """A caller in the queue. Every field but `notify` is guarded by the limiter's lock."""

    __slots__ = ("gone", "grant", "holder", "notify", "since", "sleeping", "tokens", "wait_s")

    def __init__(self, tokens: int, since: float, holder: _Holder, notify: Callable[[], bool]):
        self.tokens, self.since, self.holder = tokens, since, holder
        self.notify = notify  # wakes the caller; False when it can never wake (loop closed)
        self.grant: _Grant | None = None  # handed over by whoever freed the capacity
        self.wait_s: float | None = None  # the head's timer: sleep this long, then look again
        self.sleeping = False  # the head is on its timer and serves itself when it ends
        self.gone = False  # cancelled: dropped when it reaches the head


class RateLimiter:
    """rpm / tpm / max_concurrency for one profile or group."""

    def __init__(
        self, settings: RateLimitSettings, clock: Clock, name: str = "", kind: str = "profile"
    ) -> None:
        self.name = name
        self._kind = kind  # "profile" or "group", for error messages
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._times: collections.deque[float] = collections.deque()  # grant times in window
        self._window: collections.deque[_Grant] = collections.deque()  # tokens in window
        self._window_tokens = 0  # the sum of `_window`'s tokens, kept as grants come and go
        self._queue: collections.deque[_Waiter] = collections.deque()  # FIFO; head not gone
        # Slots held per thread (its tasks' included) and per asyncio task.
        self._held: collections.Counter[object] = collections.Counter()
        self._in_flight = 0
        self._peak = 0
        self._requests = 0
        self._waits = 0
        self._waited_s = 0.0
        self._checks = 0  # capacity checks, and wake-ups sent: both grow linearly with use
        self._wakeups = 0

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
        """New limits (a profile changed); the queue is served again at once."""
        with self._lock:
            self._settings = settings
            woken = self._serve()
        self._notify(woken)

    # -- acquiring ---------------------------------------------------------------------------

    def acquire(self, tokens: int = 0) -> _Grant:
        """Block until there is capacity for a request of about `tokens` tokens."""
        signal = threading.Event()

        def notify() -> bool:
            signal.set()
            return True

        waiter = self._enter(tokens, (threading.get_ident(), None), notify)
        if isinstance(waiter, _Grant):
            return waiter
        try:
            wait = None
            while True:
                grant, wait = self._next(waiter, slept=wait is not None)
                if grant is not None:
                    return grant
                if wait is not None:
                    self._clock.sleep(wait)
                else:
                    signal.wait()
                    signal.clear()  # the state is read again after this: no wake-up is lost
        except BaseException:
            self._abandon(waiter)
            raise

    async def acquire_async(self, tokens: int = 0) -> _Grant:
        """`acquire`, awaited on the running loop: no thread waits."""
        import asyncio  # asyncio (with ssl: ~30 ms) loads only when the async API is used

        signal = _LoopSignal(asyncio.get_running_loop())
        holder = (threading.get_ident(), asyncio.current_task())
        waiter = self._enter(tokens, holder, signal.set)
        if isinstance(waiter, _Grant):
            return waiter
        try:
            wait = None
            while True:
                grant, wait = self._next(waiter, slept=wait is not None)
                if grant is not None:
                    return grant
                if wait is not None:
                    await self._clock.sleep_async(wait)
                else:
                    await signal.wait()
        except BaseException:  # cancelled: leave the queue, or give back a grant handed over
            self._abandon(waiter)
            raise

    def _enter(self, tokens: int, holder: _Holder, notify: Callable[[], bool]) -> _Grant | _Waiter:
        """A grant at once when nobody queues and it fits; else the caller joins the queue."""
        tokens = max(0, tokens)
        with self._lock:
            self._refuse_self_deadlock(holder)
            now = self._clock.monotonic()
            if not self._queue:
                self._prune(now)
                if self._check(tokens, now) == 0.0:
                    return self._grant(tokens, now, holder, None)
            waiter = _Waiter(tokens, now, holder, notify)
            self._queue.append(waiter)
            woken = self._serve()
        self._notify(woken, skip=waiter)
        return waiter

    def _next(self, waiter: _Waiter, slept: bool) -> tuple[_Grant | None, float | None]:
        """The waiter's grant, if handed over, or how long to sleep when it holds the timer.
        After the head's timer ran out (`slept`), it serves the queue itself first."""
        woken: list[_Waiter] = []
        with self._lock:
            if slept:
                waiter.sleeping = False
                woken = self._serve()
            wait, waiter.wait_s = waiter.wait_s, None
            grant = waiter.grant
        self._notify(woken, skip=waiter)
        return grant, wait

    def _abandon(self, waiter: _Waiter) -> None:
        """The caller stops waiting (cancelled, interrupted, or its loop is closed)."""
        with self._lock:
            waiter.gone = True
            grant, waiter.grant = waiter.grant, None
            head = bool(self._queue) and self._queue[0] is waiter
            woken = self._serve() if head else []
        self._notify(woken)
        if grant is not None:  # handed over but never collected
            grant.release()

    def _refuse_self_deadlock(self, holder: _Holder) -> None:
        """A caller whose own thread (or task) holds every slot would wait forever: only it
        could free one. Typically a call made inside the loop over its own open stream."""
        cap = self._settings.max_concurrency
        if cap is None:
            return
        thread, task = holder
        if self._held[thread if task is None else task] >= cap:
            who = "thread" if task is None else "asyncio task"
            where = f"{self._kind} {self.name!r}" if self.name else "this limiter"
            raise LLMInputError(
                f"rate limit of {where}: this {who} already holds all max_concurrency={cap} "
                f"slots, so waiting for one more would block forever (a call made while its "
                f"own stream on this limiter is still open?). Close that stream first, or "
                f"raise max_concurrency."
            )

    # -- capacity ----------------------------------------------------------------------------

    def _serve(self) -> list[_Waiter]:
        """Hand capacity to the queue's head, in order, while it fits; arm the head's timer
        when it waits on rpm/tpm. Returns the waiters to wake. Called with the lock held."""
        now = self._clock.monotonic()
        self._prune(now)
        woken: list[_Waiter] = []
        queue = self._queue
        while queue:
            head = queue[0]
            if head.gone:
                queue.popleft()
                continue
            if head.sleeping:
                break  # it serves itself when its timer ends
            wait = self._check(head.tokens, now)
            if wait is None:
                break  # a release serves it
            if wait > 0:
                head.wait_s, head.sleeping = wait, True
            else:
                queue.popleft()
                head.grant = self._grant(head.tokens, now, head.holder, head.since)
            woken.append(head)
            if wait > 0:
                break
        self._wakeups += len(woken)
        return woken

    def _notify(self, woken: list[_Waiter], skip: _Waiter | None = None) -> None:
        for waiter in woken:
            if waiter is not skip and not waiter.notify():
                self._abandon(waiter)

    def _check(self, tokens: int, now: float) -> float | None:
        """0.0 when a request fits now, else seconds until it may (rpm/tpm), or None while
        every slot is taken. The window is pruned. Called with the lock held."""
        self._checks += 1
        s = self._settings
        if s.max_concurrency is not None and self._in_flight >= s.max_concurrency:
            return None
        wait = 0.0
        if s.rpm is not None and len(self._times) >= s.rpm:
            # The grant that must leave the window before one more fits.
            wait = self._times[len(self._times) - s.rpm] + WINDOW_S - now
        if s.tpm is not None and self._window and self._window_tokens + tokens > s.tpm:
            # (A request larger than tpm fits only an empty window, and then goes alone.)
            wait = max(wait, self._tokens_wait(tokens, s.tpm, now))
        return max(wait, _MIN_WAIT_S) if wait > 0 else 0.0

    def _tokens_wait(self, tokens: int, tpm: int, now: float) -> float:
        """When enough of the window has left for `tokens` more (only computed to arm the
        head's timer, so the walk is paid once per wait, not per check)."""
        used = self._window_tokens
        excess = used if tokens > tpm else used + tokens - tpm  # too big: the window drains
        freed = 0
        for grant in self._window:
            freed += grant.tokens
            if freed >= excess:
                return grant.granted_at + WINDOW_S - now
        return self._window[-1].granted_at + WINDOW_S - now

    def _grant(self, tokens: int, now: float, holder: _Holder, since: float | None) -> _Grant:
        grant = _Grant(self, tokens, now, holder)
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        self._requests += 1
        self._times.append(now)
        self._window.append(grant)
        self._window_tokens += tokens
        for key in holder:
            if key is not None:
                self._held[key] += 1
        if since is not None:
            self._waits += 1
            self._waited_s += now - since
        return grant

    def _prune(self, now: float) -> None:
        edge = now - WINDOW_S
        while self._times and self._times[0] <= edge:
            self._times.popleft()
        while self._window and self._window[0].granted_at <= edge:
            grant = self._window.popleft()
            grant.in_window = False
            self._window_tokens -= grant.tokens

    def release_grant(self, grant: _Grant, used_tokens: int | None) -> None:
        with self._lock:
            if grant.released:
                return
            grant.released = True
            self._in_flight -= 1
            for key in grant.holder:
                if key is not None:
                    self._held[key] -= 1
                    if not self._held[key]:
                        del self._held[key]
            if used_tokens is not None:
                used = max(0, int(used_tokens))
                if grant.in_window:
                    self._window_tokens += used - grant.tokens
                grant.tokens = used
            woken = self._serve()
        self._notify(woken)

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
                window_tokens=self._window_tokens,
            )


class _LoopSignal:
    """Wakes one coroutine on its event loop, from any thread."""

    __slots__ = ("_future", "_loop", "_set")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = False  # touched on the loop only
        self._future: asyncio.Future[None] | None = None

    def set(self) -> bool:
        import asyncio  # _get_running_loop: exported for this; get_running_loop() would raise

        if asyncio._get_running_loop() is self._loop:
            self._on_loop()
            return True
        try:
            self._loop.call_soon_threadsafe(self._on_loop)
        except RuntimeError:  # that loop is closed: nobody waits any more
            return False
        return True

    def _on_loop(self) -> None:
        self._set = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        if not self._set:
            self._future = self._loop.create_future()
            try:
                await self._future
            finally:
                self._future = None
        self._set = False
