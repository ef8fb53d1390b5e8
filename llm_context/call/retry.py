"""One retry policy for every provider and operation (chat, stream, embed, image, raw), on
`tenacity`.

Retried: rate limits, server errors and overloads (408 409 429 5xx 529), timeouts and
connection failures. Never retried: the caller's own errors (400 401 403 404 422), output
errors, and a stream that has already delivered text. The wait is exponential with jitter,
or the provider's `Retry-After` / `retry-after-ms` when it sent one, capped at
`max_backoff_s`; attempts are bounded by `max_attempts` and the summed waits by
`max_wait_s` (a wait that would pass it is not taken: the last error is raised instead).

The policy is a step flow (see `steps`): it yields its backoffs as `Sleep` steps, so the
async driver waits on the event loop and a fake clock can record every wait.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ..config.settings import RetrySettings
from ..errors import (
    LLMConnectionError,
    LLMInputError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
)
from .steps import Sleep, Steps

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "RetryPolicy",
    "apply_retry_override",
    "backoff_s",
    "check_retry_override",
    "is_retryable",
]

log = logging.getLogger("llm_context")

T = TypeVar("T")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_RETRYABLE = (LLMRateLimitError, LLMServerError, LLMTimeoutError, LLMConnectionError)


def is_retryable(exc: BaseException) -> bool:
    """True for transient provider failures (status 408 409 429 5xx 529, timeouts, network)."""
    return isinstance(exc, _RETRYABLE)


def backoff_s(
    attempt: int, exc: BaseException | None, settings: RetrySettings, rng: random.Random
) -> float:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, (int, float)) and not isinstance(hinted, bool) and hinted >= 0:
        return float(min(hinted, settings.max_backoff_s))
    base = settings.initial_backoff_s * (2 ** (attempt - 1))
    wait = min(base, settings.max_backoff_s)
    # Jitter keeps many clients that failed together from retrying together.
    return rng.uniform(wait / 2, wait) if settings.jitter else wait


# Per-call `retry={...}` keys and what each accepts: (type check, lowest value).
_OVERRIDE_FIELDS = {f.name for f in fields(RetrySettings)}


def check_retry_override(value: Any) -> Mapping[str, Any]:
    """The per-call `retry=` option, validated: a mapping of RetrySettings fields (or a
    RetrySettings). Raises `LLMInputError` naming the bad key."""
    if value is None:
        return {}
    if isinstance(value, RetrySettings):
        return {f: getattr(value, f) for f in _OVERRIDE_FIELDS}
    if not isinstance(value, Mapping):
        raise LLMInputError(
            "retry must be a dict such as {'max_attempts': 5, 'max_wait_s': 30}, "
            f"got {type(value).__name__}"
        )
    from ..config.fields import Problem, retry_block  # the same checks as a profile's `retry:`

    try:
        checked = retry_block(value, None)
    except Problem as exc:
        where = f"retry[{exc.path!r}]" if exc.path else "retry"
        raise LLMInputError(f"{where}: {exc.message}") from None
    return {key: getattr(checked, key) for key in value}


def apply_retry_override(settings: RetrySettings, override: Mapping[str, Any]) -> RetrySettings:
    """The profile's settings with a (checked) per-call override on top."""
    return replace(settings, **override) if override else settings


@dataclass(frozen=True)
class RetryPolicy:
    """A profile's retry settings applied to one flow of attempts."""

    settings: RetrySettings
    provider: str
    profile: str = ""
    rng: random.Random = field(default_factory=random.Random)
    # Errors not to retry though transient: the profile's fallbacks take them at once.
    give_up: Callable[[BaseException], bool] | None = None

    def _retries(self, exc: BaseException) -> bool:
        return is_retryable(exc) and not (self.give_up is not None and self.give_up(exc))

    def steps(self, attempt: Callable[[int], Steps[T]]) -> Steps[T]:
        """Run `attempt(n)` (a step flow) until it succeeds, fails for good or the budget is
        spent; the last error is raised as it was."""
        # The first attempt runs bare: most calls succeed, and tenacity's state machine costs
        # ~13 us and leaves reference cycles for the garbage collector on every call.
        try:
            return (yield from attempt(1))
        except Exception as exc:  # judged by the policy; cancellation passes through
            if not self._retries(exc):
                raise
            first: ExcInfo = (type(exc), exc, exc.__traceback__)
        return (yield from self._retried(attempt, first))

    def _retried(self, attempt: Callable[[int], Steps[T]], first: ExcInfo) -> Steps[T]:
        """Attempts 2 and on, under tenacity, after attempt 1 failed with `first` (exc_info)."""
        import tenacity  # ~8 ms to import: only once a call has failed

        settings = self.settings
        waits: dict[int, float] = {}

        def wait_after(state: tenacity.RetryCallState) -> float:
            # Computed once per attempt: the wait that is checked is the wait that is slept.
            number = state.attempt_number
            if number not in waits:
                exc = state.outcome.exception() if state.outcome else None
                waits[number] = backoff_s(number, exc, settings, self.rng)
            return waits[number]

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= settings.max_attempts:
                return True
            waited = sum(waits.get(n, 0.0) for n in range(1, state.attempt_number))
            return waited + wait_after(state) > settings.max_wait_s

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._retries),
            stop=stop,
            wait=wait_after,
            before_sleep=self._log_retry,
            reraise=True,
        )
        retrying.begin()
        state = tenacity.RetryCallState(retrying, fn=None, args=(), kwargs={})
        state.set_exception(first)  # attempt 1's outcome: tenacity judges it first
        while True:
            if "idle_for" not in retrying.statistics:
                retrying.begin()  # tenacity keeps its statistics per thread
            action = retrying.iter(state)
            if isinstance(action, tenacity.DoAttempt):
                try:
                    result = yield from attempt(state.attempt_number)
                except Exception as exc:  # judged by the policy; cancellation passes through
                    state.set_exception((type(exc), exc, exc.__traceback__))
                else:
                    state.set_result(result)
            elif isinstance(action, tenacity.DoSleep):
                state.prepare_for_next_attempt()
                yield Sleep(float(action))
            else:
                return action  # type: ignore[no-any-return]

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        # Provider, status and wait only: never the key, the prompt or the provider's text.
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        status = getattr(exc, "status_code", None)
        log.warning(
            "retrying %s call%s in %.2fs: attempt %d of %d failed with %s%s",
            self.provider,
            f" (profile {self.profile})" if self.profile else "",
            delay,
            state.attempt_number,
            self.settings.max_attempts,
            type(exc).__name__,
            f" (status {status})" if status else "",
        )
