"""A rate limiter shared by every process that names the same group, through Redis.

Each acquire is one atomic script on the Redis server (`scripts.ACQUIRE`): no process can
read a stale count and send anyway. Within a process, callers queue in arrival order and
only the head asks Redis (so a crowd of threads costs one round trip per grant). A call's
concurrency slot is a lease with a TTL, renewed by a background thread while the call runs:
a worker killed mid-call frees its slots when the TTL runs out.

While Redis cannot be reached, `on_backend_error` decides: `wait` retries the backend (for
at most the profile's timeout, then `LLMRateLimitBackendError`), `local` serves the call
from an in-process limiter with the same limits (logged once), `fail` raises at once. A
request is sent only after its grant, once: nothing is lost or sent twice.

The `redis` package (the `[redis]` extra) is imported here only, when a backend is set.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..config.settings import RateLimitSettings
from ..errors import LLMRateLimitBackendError
from ..shown import shown_url
from .local import WINDOW_S, LimiterStats, RateLimiter
from .scripts import ACQUIRE, RELEASE, RENEW
from .wire import ScriptWire

if TYPE_CHECKING:
    import redis

__all__ = ["WINDOW_ENV", "SharedRateLimiter"]

log = logging.getLogger("llm_context")

# A shorter window than a minute, for tests that check a rate without waiting minutes:
# `rpm` then counts requests per this many seconds. Not for production use.
WINDOW_ENV = "LLM_CONTEXT_RATE_WINDOW_S"
_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)


def _window_s() -> float:
    value = os.environ.get(WINDOW_ENV)
    return float(value) if value else WINDOW_S


class _SharedGrant:
    """A permit from Redis: its id names its lease and its token entry."""

    __slots__ = ("granted_at", "id", "limiter", "released", "tokens")

    def __init__(
        self, limiter: SharedRateLimiter, grant_id: str, tokens: int, granted_at: float
    ) -> None:
        self.limiter, self.id, self.tokens, self.released = limiter, grant_id, tokens, False
        self.granted_at = granted_at  # on the context's clock, as metering reads it

    def release(self, used_tokens: int | None = None) -> None:
        self.limiter.release_grant(self, used_tokens)


class SharedRateLimiter:
    """rpm / tpm / max_concurrency for one group, across processes (see the module doc)."""

    def __init__(
        self,
        settings: RateLimitSettings,
        clock: Clock,
        name: str,
        *,
        url: str,
        timeout_s: float = 60.0,
    ) -> None:
        import redis as redis_lib

        self.name = name
        self._settings = settings
        self._clock = clock
        self._timeout_s = timeout_s
        self._window_ms = int(_window_s() * 1000)
        self._shown_url = shown_url(url)
        self._client: redis.Redis = redis_lib.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._errors: tuple[type[BaseException], ...] = (
            redis_lib.ConnectionError,
            redis_lib.TimeoutError,
            redis_lib.BusyLoadingError,
        )
        # Acquires and releases share one connection: a release costs no round trip.
        self._wire = ScriptWire(self._client, {"acquire": ACQUIRE, "release": RELEASE})
        self._renew = self._client.register_script(RENEW)
        prefix = f"llm_context:limit:{name}"
        self._keys = [f"{prefix}:{part}" for part in ("grants", "tokens", "sum", "leases")]
        self._lock = threading.Lock()
        self._queue: collections.deque[threading.Event] = collections.deque()
        self._held: set[str] = set()
        self._renewer: threading.Thread | None = None
        self._closed = threading.Event()
        self._local: RateLimiter | None = None  # `on_backend_error: local`, made when needed
        self._requests = self._waits = 0
        self._waited_s = 0.0

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"SharedRateLimiter({self.name!r}, rpm={s.rpm}, tpm={s.tpm}, "
            f"max_concurrency={s.max_concurrency}, backend={self._shown_url!r})"
        )

    @property
    def settings(self) -> RateLimitSettings:
        return self._settings

    def configure(self, settings: RateLimitSettings) -> None:
        self._settings = settings

    # -- acquiring ---------------------------------------------------------------------------

    def acquire(self, tokens: int = 0) -> Any:
        """Block until the group has capacity (FIFO within this process)."""
        turn = threading.Event()
        with self._lock:
            self._queue.append(turn)
            if len(self._queue) == 1:
                turn.set()
        try:
            turn.wait()
            return self._reserve(max(0, tokens))
        finally:
            with self._lock:
                self._queue.remove(turn)
                if self._queue:
                    self._queue[0].set()

    async def acquire_async(self, tokens: int = 0) -> Any:
        """`acquire` in a worker thread: the event loop never blocks on Redis."""
        import asyncio

        return await asyncio.to_thread(self.acquire, tokens)

    def _reserve(self, tokens: int) -> Any:
        s = self._settings
        grant_id = uuid.uuid4().hex
        ttl_ms = int(s.lease_ttl_s * 1000)
        args: list[str | int] = [grant_id, tokens, s.rpm or 0, s.tpm or 0]
        args += [s.max_concurrency or 0, self._window_ms, ttl_ms]
        started = time.monotonic()
        failures = 0
        waited = False
        while True:
            try:
                granted, wait_ms = self._wire.call("acquire", self._keys, args)
            except self._errors as exc:
                local = self._backend_down(exc, failures, started)
                if local is not None:
                    return local.acquire(tokens)
                failures += 1
                continue
            failures = 0
            if granted:
                break
            waited = True
            time.sleep(int(wait_ms) / 1000)  # Redis time, not the context clock: real waits
        with self._lock:
            self._requests += 1
            self._waits += waited
            self._waited_s += time.monotonic() - started if waited else 0.0
            if s.max_concurrency:
                self._held.add(grant_id)
                self._start_renewer()
        return _SharedGrant(self, grant_id, tokens, self._clock.monotonic())

    def _backend_down(self, exc: BaseException, failures: int, started: float) -> Any:
        """Redis did not answer: wait and try again (None), serve locally, or raise."""
        policy = self._settings.on_backend_error
        where = f"the rate-limit backend {self._shown_url} for {self.name!r}"
        if policy == "local":
            if self._local is None:
                log.warning("%s is unreachable (%s): limiting in this process only", where, exc)
                plain = RateLimitSettings(
                    rpm=self._settings.rpm,
                    tpm=self._settings.tpm,
                    max_concurrency=self._settings.max_concurrency,
                )
                self._local = RateLimiter(plain, self._clock, name=self.name, kind="group")
            return self._local
        waited = time.monotonic() - started
        if policy == "fail" or waited >= self._timeout_s:
            why = f"gave up after {waited:.0f} s" if policy == "wait" else "on_backend_error=fail"
            raise LLMRateLimitBackendError(
                f"{where} is unreachable ({type(exc).__name__}); {why}"
            ) from exc
        time.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
        return None

    # -- releasing and renewing --------------------------------------------------------------

    def release_grant(self, grant: _SharedGrant, used_tokens: int | None) -> None:
        if grant.released:
            return
        grant.released = True
        with self._lock:
            self._held.discard(grant.id)
        used = -1 if used_tokens is None else max(0, int(used_tokens))
        s = self._settings
        if not s.max_concurrency and (not s.tpm or used in (-1, grant.tokens)):
            return  # no lease to drop, no estimate to correct: no round trip
        try:
            self._wire.send("release", self._keys[1:], [grant.id, grant.tokens, used])
        except self._errors as exc:  # the lease runs out by itself; the estimate stays
            log.warning("could not release a rate-limit lease of %r: %s", self.name, exc)

    def _start_renewer(self) -> None:
        if self._renewer is None or not self._renewer.is_alive():
            self._renewer = threading.Thread(
                target=self._renew_leases, name=f"llm_context-leases-{self.name}", daemon=True
            )
            self._renewer.start()

    def _renew_leases(self) -> None:
        """Push the running calls' lease expiry on, every third of the TTL, while any run."""
        ttl_ms = int(self._settings.lease_ttl_s * 1000)
        while not self._closed.wait(self._settings.lease_ttl_s / 3):
            with self._lock:
                held = list(self._held)
            if not held:
                return
            try:
                self._renew(keys=self._keys[3:], args=[ttl_ms, *held])
            except self._errors as exc:
                log.warning("could not renew the rate-limit leases of %r: %s", self.name, exc)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(*self._errors):
            self._wire.flush()  # the releases' answers: they ran already, nothing is lost
        self._wire.close()
        self._client.close()

    def stats(self) -> LimiterStats:
        """This process's grants, and the group's window as Redis holds it now."""
        try:
            in_window = int(self._client.zcard(self._keys[0]))
            tokens = int(self._client.get(self._keys[2]) or 0)
            in_flight = int(self._client.zcard(self._keys[3]))
        except self._errors:
            in_window = tokens = in_flight = 0
        with self._lock:
            return LimiterStats(
                requests=self._requests,
                waits=self._waits,
                waited_s=self._waited_s,
                in_flight=in_flight,
                peak_in_flight=in_flight,
                window_requests=in_window,
                window_tokens=tokens,
            )
