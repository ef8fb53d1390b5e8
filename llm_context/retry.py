"""One retry policy for every provider and operation, on `tenacity`.

Retried: rate limits, server errors and overloads (408 409 429 5xx 529), timeouts and
connection failures. Never retried: the caller's own errors (400 401 403 404 422), output
errors, and a stream that has already delivered text. The wait is exponential with jitter,
or the provider's `Retry-After` when it sent one, capped by `max_backoff_s`; the total
time spent waiting is bounded by `max_wait_s`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from .errors import (
    LLMConnectionError,
    LLMProviderError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
)
from .settings import RetrySettings

log = logging.getLogger("llm_context")

T = TypeVar("T")

_RETRYABLE = (LLMRateLimitError, LLMServerError, LLMTimeoutError, LLMConnectionError)


def is_retryable(exc: BaseException) -> bool:
    """True for transient provider failures."""
    return isinstance(exc, _RETRYABLE)


def backoff_s(
    attempt: int, exc: BaseException | None, settings: RetrySettings, rng: random.Random
) -> float:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, (int, float)) and hinted >= 0:
        return float(min(hinted, settings.max_backoff_s))
    base = settings.initial_backoff_s * (2 ** (attempt - 1))
    wait = min(base, settings.max_backoff_s)
    # Full jitter keeps many clients that failed together from retrying together.
    return rng.uniform(wait / 2, wait) if settings.jitter else wait


@dataclass(frozen=True)
class RetryPolicy:
    """Runs a blocking call under the profile's retry settings."""

    settings: RetrySettings
    provider: str
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def call(
        self, fn: Callable[[], T], on_retry: Callable[[BaseException, float], None] | None = None
    ) -> T:
        """`fn()` with retries; the last error is raised as it was."""
        settings = self.settings
        waited = [0.0]

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return backoff_s(state.attempt_number, exc, settings, self.rng)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= settings.max_attempts:
                return True
            exc = state.outcome.exception() if state.outcome else None
            upcoming = backoff_s(state.attempt_number, exc, settings, self.rng)
            return waited[0] + upcoming > settings.max_wait_s

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            waited[0] += delay
            status = getattr(exc, "status_code", None)
            log.warning(
                "retrying %s call in %.2fs after attempt %d failed (%s%s)",
                self.provider,
                delay,
                state.attempt_number,
                type(exc).__name__,
                f", status {status}" if status else "",
            )
            if on_retry is not None and exc is not None:
                on_retry(exc, delay)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable),
            stop=stop,
            wait=wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)


def status_retryable(exc: LLMProviderError) -> bool:
    """For fallbacks: an outage or a transient failure that outlasted the retries."""
    return is_retryable(exc)
