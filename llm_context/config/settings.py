"""Frozen configuration records: a Profile and the retry / rate-limit / pricing settings in it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from ..contract.caching import CacheMode
from ..errors import redact
from ..providers.registry import Provider, ProviderSpec, spec_for
from ..shown import sensitive_name, shown_url

__all__ = [
    "BackendErrorPolicy",
    "BreakerSettings",
    "FallbackReason",
    "Pricing",
    "Profile",
    "RateLimitSettings",
    "RetrySettings",
    "mask_key",
]


@dataclass(frozen=True)
class RetrySettings:
    """One retry policy for every provider: attempts, backoff and the Retry-After cap."""

    max_attempts: int = 3
    max_wait_s: float = 60.0  # total time spent waiting between attempts
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 20.0  # cap for one wait, Retry-After included
    jitter: bool = True


BackendErrorPolicy = Literal["wait", "local", "fail"]


@dataclass(frozen=True)
class RateLimitSettings:
    """Client-side limits; profiles sharing a `group` share one quota. With a `backend`
    (`redis://...`, or $LLM_CONTEXT_REDIS_URL) the quota is shared by every process that
    names the same group; `lease_ttl_s` bounds how long a crashed worker's concurrency slot
    stays taken; `on_backend_error` says what a call does while the backend is down."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    group: str | None = None
    # The URL may hold a password: never in a repr (`shown_backend` masks it).
    backend: str | None = field(default=None, repr=False)
    lease_ttl_s: float = 60.0
    on_backend_error: BackendErrorPolicy = "wait"

    @property
    def shown_backend(self) -> str | None:
        return None if self.backend is None else shown_url(self.backend)

    @property
    def enabled(self) -> bool:
        return any(v is not None for v in (self.rpm, self.tpm, self.max_concurrency))


@dataclass(frozen=True)
class BreakerSettings:
    """A circuit breaker: `failures` transient failures within `window_s` open the profile
    for `cooldown_s` (calls fail fast, or go to its fallbacks), then one probe is let through."""

    failures: int = 5
    window_s: float = 30.0
    cooldown_s: float = 30.0


@dataclass(frozen=True)
class TelemetrySettings:
    """OpenTelemetry: record message content on spans (`capture_content`; off by default),
    and, for a context only, the tracer and meter providers to use (None: the global ones).
    A profile's `telemetry: {capture_content: ...}` overrides its context's."""

    capture_content: bool = False
    tracer_provider: Any = field(default=None, compare=False, repr=False)
    meter_provider: Any = field(default=None, compare=False, repr=False)


FallbackReason = Literal["rate_limit", "overloaded", "server", "timeout", "context_length"]


@dataclass(frozen=True)
class Pricing:
    """USD per million tokens, for cost in usage metering."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0
    cached_input_per_million: float | None = None  # cache reads; None: the input rate
    cache_write_per_million: float | None = None  # cache writes; None: the input rate
    batch_discount: float = 0.5  # the share taken off a batch item's price (0.5: half price)


def mask_key(key: str | None) -> str:
    """A display form of a key that reveals nothing usable: `set (…abcd)` or `not set`."""
    if not key:
        return "not set"
    return f"set (…{key[-4:]})" if len(key) >= 16 else "set"


@dataclass(frozen=True)
class Profile:
    """A named provider configuration. Every field but `provider` has a default.

    `api_key` never shows in `repr`, nor do credentials in `base_url` (`user:pass@`,
    `?key=`), credential-named `headers` / `extras` or key-shaped values; `source` says
    where the profile came from (`file:PATH`, `env`, `runtime`).
    """

    name: str
    provider: Provider
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = 60.0
    azure_deployment: str | None = None
    api_version: str | None = None
    embed_model: str | None = None
    image_model: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: RetrySettings = field(default_factory=RetrySettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    fallbacks: tuple[str, ...] = ()
    pricing: Pricing | None = None
    repair_attempts: int = 0
    cache: CacheMode = "off"  # the default of the chat option `cache`
    breaker: BreakerSettings | None = None  # None: no circuit breaker
    telemetry: TelemetrySettings | None = None  # None: the context's settings
    # Errors that move to the fallbacks at once, without the retry budget spent first.
    fallback_on: tuple[FallbackReason, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)
    source: str = "runtime"

    @functools.cached_property
    def spec(self) -> ProviderSpec:
        # Read several times a call: looked up once (a frozen dataclass still has a __dict__).
        return spec_for(self.provider)

    @property
    def masked_key(self) -> str:
        return mask_key(self.api_key)

    def effective_model(self) -> str | None:
        """The chat model: the profile's, else the provider's default."""
        return self.model or self.spec.default_model

    def effective_base_url(self) -> str | None:
        return self.base_url or self.spec.default_base_url

    def with_changes(self, **changes: Any) -> Profile:
        return replace(self, **changes)

    def __repr__(self) -> str:
        shown = [
            f"{f.name}={_repr_field(f.name, getattr(self, f.name))}" for f in fields(self) if f.repr
        ]
        # Last, over everything: a key pasted into any other field is still key-shaped.
        return redact(f"Profile({', '.join(shown)})", (self.api_key,))


def _repr_field(name: str, value: Any) -> str:
    if name == "base_url" and isinstance(value, str):
        return repr(shown_url(value))
    if isinstance(value, Mapping):
        return repr({k: "***" if sensitive_name(k) else v for k, v in value.items()})
    return repr(value)
