"""LLMContext: profiles, one cached client per profile, the thread pool behind the async API,
and the state calls share: rate limiters, usage metering and the clock.

The module-level `context` is a default `LLMContext()` that loads its profiles lazily.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Literal

from .client import LLMClient
from .clock import Clock, SystemClock
from .config.settings import Profile, TelemetrySettings
from .errors import LLMConfigError, LLMInputError
from .limits.local import LimiterStats
from .limits.pool import REDIS_URL_ENV, Limiter, RateLimiters, backend_url
from .metering import Meter, UsageCallback, UsageReport
from .providers.registry import Provider

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from .batch_job import BatchJob
    from .call.breaker import Breaker, BreakerStore
    from .config.profiles import ProfileStore
    from .limits.shared_usage import SharedUsage

__all__ = ["DEFAULT_MAX_WORKERS", "LLMContext", "context"]

# The bound on async calls in flight. Calls are I/O-bound (a worker waits on the network), and
# threads start only as calls need them, so a large bound costs nothing at low concurrency.
DEFAULT_MAX_WORKERS = 256

_OVERRIDE_FIELDS = ("provider", "model", "base_url", "api_key", "azure_deployment", "timeout")


def _telemetry(value: TelemetrySettings | Mapping[str, Any] | None) -> TelemetrySettings:
    if value is None:
        return TelemetrySettings()
    if isinstance(value, TelemetrySettings):
        return value
    if not isinstance(value, Mapping):
        raise TypeError("telemetry takes a TelemetrySettings or a dict of its fields")
    unknown = set(value) - {"capture_content", "tracer_provider", "meter_provider"}
    if unknown:
        raise TypeError(f"telemetry: unknown settings {sorted(unknown)}")
    if not isinstance(value.get("capture_content", False), bool):
        raise TypeError("telemetry: capture_content must be True or False")
    return TelemetrySettings(**value)


class LLMContext:
    """Profiles plus the clients made from them.

    `profiles` is a path to a YAML file, a mapping of the same shape, or None to search
    (`$LLM_CONTEXT_PROFILES`, `./profiles.yaml`, the user config dir, then the environment).
    `clock` is what retries and rate limits wait on (a `FakeClock` in tests). `telemetry`
    is a `TelemetrySettings` or a dict of its fields (`capture_content`, `tracer_provider`,
    `meter_provider`): spans and metrics go to OpenTelemetry's global providers otherwise.
    """

    def __init__(
        self,
        profiles: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        max_workers: int | None = None,
        clock: Clock | None = None,
        telemetry: TelemetrySettings | Mapping[str, Any] | None = None,
    ) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError("max_workers must be a positive int")
        if clock is not None and not isinstance(clock, Clock):
            raise TypeError("clock must have monotonic(), sleep() and sleep_async()")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._telemetry = _telemetry(telemetry)
        self._meter = Meter()
        self._limiters = RateLimiters(self._clock)
        self._breakers: dict[str, Breaker] = {}
        self._usage_backend: SharedUsage | None = None
        self._source = profiles
        self._max_workers = max_workers or DEFAULT_MAX_WORKERS
        self._store: ProfileStore | None = None
        self._clients: dict[str, LLMClient] = {}
        # Clients replaced after a profile change: still closed by close() if alive then.
        self._retired: weakref.WeakSet[LLMClient] = weakref.WeakSet()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        loaded = "loaded" if self._store is not None else "not loaded"
        return f"LLMContext(profiles {loaded}, max_workers={self._max_workers})"

    @property
    def profiles(self) -> ProfileStore:
        """The profile store (loaded on first use)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from .config.profiles import ProfileStore

                    self._store = ProfileStore(self._source)
        return self._store

    @property
    def clock(self) -> Clock:
        """What retries and rate limits wait on."""
        return self._clock

    @property
    def meter(self) -> Meter:
        return self._meter

    @property
    def telemetry(self) -> TelemetrySettings:
        """OpenTelemetry settings: content capture and (optionally) the providers to use."""
        return self._telemetry

    def limiter_for(self, profile: Profile) -> Limiter | None:
        """The rate limiter a profile's calls wait on (shared by its `group`); None if none.
        A profile with a backend also sends this context's usage there (`usage("shared")`)."""
        limiter = self._limiters.for_profile(profile.name, profile.rate_limit, profile.timeout)
        if limiter is not None and self._usage_backend is None:
            url = backend_url(profile.rate_limit)
            if url is not None:
                self._shared_usage(url)
        return limiter

    def breaker_for(self, profile: Profile) -> Breaker | None:
        """The profile's circuit breaker (one per profile name and context; shared through
        the rate-limit backend when one is configured), or None without `breaker`."""
        settings = profile.breaker
        if settings is None:
            return None
        with self._lock:
            breaker = self._breakers.get(profile.name)
            if breaker is None or breaker.settings != settings:
                from .call.breaker import Breaker  # profiles with a breaker only

                breaker = Breaker(profile.name, settings, self._breaker_store(profile))
                self._breakers[profile.name] = breaker
            return breaker

    def _breaker_store(self, profile: Profile) -> BreakerStore:
        url = backend_url(profile.rate_limit)
        if url is None:
            from .call.breaker import LocalBreakerStore

            return LocalBreakerStore(self._clock)
        from .limits.shared_breaker import SharedBreakerStore  # imports `redis`

        return SharedBreakerStore(url, profile.name)

    def rate_limit_stats(self, profile: str | None = None) -> LimiterStats | None:
        """What the profile's rate limiter has done (None when the profile has no limits)."""
        limiter = self._limiters.get(self.llm(profile).profile.name)
        return limiter.stats() if limiter is not None else None

    def usage(self, scope: Literal["process", "shared"] = "process") -> UsageReport:
        """Usage so far: totals overall and per profile, provider and model. `scope="shared"`:
        the totals of every process recording to the rate-limit backend (Redis) this context
        uses ($LLM_CONTEXT_REDIS_URL, or the first profile's `rate_limit.backend`)."""
        if scope == "process":
            return self._meter.report()
        if scope != "shared":
            raise LLMInputError(f"scope must be 'process' or 'shared', got {scope!r}")
        shared = self._shared_usage()
        if shared is None:
            raise LLMConfigError(
                "usage(scope='shared') needs a rate-limit backend: set rate_limit.backend on a "
                f"profile, or ${REDIS_URL_ENV}"
            )
        return shared.report()

    def _shared_usage(self, url: str | None = None) -> SharedUsage | None:
        """The shared usage recorder (made once, from `url` or the environment)."""
        with self._lock:
            if self._usage_backend is None:
                url = url or os.environ.get(REDIS_URL_ENV)
                if url is None:
                    return None
                from .limits.shared_usage import SharedUsage  # imports `redis`

                self._usage_backend = SharedUsage(url)
                self._meter.on_usage(self._usage_backend.record)
            return self._usage_backend

    def on_usage(self, callback: UsageCallback) -> Callable[[], None]:
        """Call `callback(record)` after every call (a `UsageRecord`); returns a function that
        unsubscribes. A callback that raises is logged, never raised into the call."""
        return self._meter.on_usage(callback)

    def reset_usage(self) -> None:
        """Start the usage totals over."""
        self._meter.reset()

    def executor(self) -> Executor:
        """The thread pool that runs the async API's blocking calls."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    from .call.pool import GaugedPool  # for async callers only

                    self._executor = GaugedPool(self._max_workers)
        return self._executor

    def llm(
        self,
        profile: str | None = None,
        *,
        provider: Provider | str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        azure_deployment: str | None = None,
        timeout: float | None = None,
    ) -> LLMClient:
        """The client for `profile` (the default profile when None). Any override creates or
        updates that profile at runtime; the client is rebuilt when its profile changes."""
        store = self.profiles
        name = profile if profile is not None else store.default_profile
        given = {
            key: value
            for key, value in zip(
                _OVERRIDE_FIELDS,
                (provider, model, base_url, api_key, azure_deployment, timeout),
                strict=True,
            )
            if value is not None
        }
        with self._lock:
            current = store.update(name, **given) if given else store.get(name)
            if provider is not None and model is None and current.model is None:
                # A provider named without a model means that provider's default model.
                default = current.spec.default_model
                if default is not None:
                    current = store.update(name, model=default)
            client = self._clients.get(name)
            if client is None or client.profile is not current:
                if client is not None:
                    # It may still be serving calls on other threads: let them finish.
                    self._retired.add(client)
                client = LLMClient(current, self)
                self._clients[name] = client
            return client

    def batch(self, job_id: str, *, profile: str | None = None) -> BatchJob:
        """Reattach to a provider batch job by its id (after a restart, or from another
        process): `context.batch("batch_abc", profile="openai").wait().results()`."""
        return self.llm(profile).batch_job_sync(job_id)

    def llm_set_key(
        self, provider: Provider | str, model: str | None, api_key: str, profile: str = "default"
    ) -> LLMClient:
        """Create or update `profile` with a provider, model and key; returns its client."""
        _check_key_order(provider, api_key)
        with self._lock:
            self.profiles.set_key(provider, model, api_key, profile=profile)
            return self.llm(profile)

    def close(self) -> None:
        """Close every client's connections and stop the thread pool."""
        with self._lock:
            for client in [*self._clients.values(), *self._retired]:
                client.close()
            self._clients.clear()
            self._retired.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
        self._limiters.close()
        if self._usage_backend is not None:
            self._usage_backend.close()

    def __enter__(self) -> LLMContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_key_order(provider: object, api_key: object) -> None:
    """`llm_set_key(key, model, "openai")`: name the swap, showing neither value."""
    from .errors import LLMConfigError

    if _is_provider(provider) or not _is_provider(api_key):
        return  # in order, or wrong another way: the profile update says what is wrong
    raise LLMConfigError(
        "llm_set_key takes (provider, model, api_key), but api_key names a provider and "
        "provider does not: the arguments look swapped (provider is not shown: it may be "
        "the key)"
    )


def _is_provider(value: object) -> bool:
    from .errors import LLMConfigError
    from .providers.registry import parse_provider

    try:
        parse_provider(value, show_value=False)
    except LLMConfigError:
        return False
    return True


context = LLMContext()
"""The default context: profiles found as `LLMContext()` finds them, loaded on first use."""
