"""Fallbacks: when a profile is down, the same call goes to the next profile in its list.

A profile's `fallbacks: [name, ...]` are tried in order after a failure that outlasted the
retries or an outage (rate limit, 5xx, timeout, connection refused or reset); with
`fallback_on: [...]` the errors it names go to the fallbacks at once (the retry policy
gives up on them), and `context_length` adds a prompt too long for the model's window. A caller's
fault (400 401 403 404 422, bad input, bad output, an unsupported feature) never falls back:
another provider would not fix it. Each fallback validates the call for its own provider
first; one that cannot serve it (a feature it lacks, no key) is skipped with a warning.
Once the primary has failed, any error from a fallback (even a 401) only means that fallback
failed: the next one is tried. When all failed, the primary's error is raised, with the
fallbacks' errors in its `fallback_errors` (and as notes on Python 3.11+).
Only the primary's list is followed (a fallback's own fallbacks are not).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..errors import (
    LLMConfigError,
    LLMContextLengthError,
    LLMError,
    LLMInputError,
    LLMProviderUnavailableError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnsupportedFeatureError,
)
from .retry import is_retryable
from .steps import Steps

__all__ = ["FALLBACK_ON", "falls_back", "falls_back_now", "with_fallbacks"]

log = logging.getLogger("llm_context")

T = TypeVar("T")

Candidate = tuple[str, Callable[[], Steps[T]]]
"""A profile name and a function that validates the call for it and returns its flow."""

# A fallback that cannot even take the call is skipped; on the primary these are raised.
_CANNOT_SERVE = (LLMUnsupportedFeatureError, LLMInputError, LLMConfigError)


def _overloaded(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    return isinstance(exc, LLMServerError) and (
        status in (503, 529) or "overload" in str(exc).lower()
    )


# `fallback_on` reasons -> the errors each names: on one of these the fallbacks are tried at
# once, without the primary's retries first.
FALLBACK_ON: dict[str, Callable[[BaseException], bool]] = {
    "rate_limit": lambda exc: isinstance(exc, LLMRateLimitError),
    "overloaded": _overloaded,
    "server": lambda exc: isinstance(exc, LLMServerError),
    "timeout": lambda exc: isinstance(exc, LLMTimeoutError),
    "context_length": lambda exc: isinstance(exc, LLMContextLengthError),
}


def falls_back_now(exc: BaseException, reasons: Iterable[str]) -> bool:
    """`exc` is one of the profile's `fallback_on` reasons."""
    return any(FALLBACK_ON[reason](exc) for reason in reasons)


def falls_back(exc: BaseException, reasons: Iterable[str] = ()) -> bool:
    """True when the next profile should get the call: an outage or a transient failure that
    the retries did not cure, or one of the profile's `fallback_on` reasons."""
    if isinstance(exc, LLMProviderUnavailableError):
        return True  # its breaker is open: the fallbacks are there for this
    return is_retryable(exc) or falls_back_now(exc, reasons)


def with_fallbacks(
    primary: Candidate[T], fallbacks: Iterable[Candidate[T]], reasons: Iterable[str] = ()
) -> Steps[T]:
    """Run the primary's flow; on a failure that `falls_back` (with the primary's
    `fallback_on` reasons), each fallback's in turn. When every profile failed, the primary's
    error is raised with `.fallback_errors` attached."""
    name, make = primary
    try:
        return (yield from make())
    except LLMError as exc:
        if not falls_back(exc, reasons):
            raise
        first = last = exc
        failed = name
    errors: list[tuple[str, LLMError]] = []
    for name, make in fallbacks:
        log.warning("profile %s failed (%s); falling back to %s", failed, type(last).__name__, name)
        try:
            return (yield from make())
        except _CANNOT_SERVE as exc:
            log.warning("fallback profile %s cannot take this call (%s)", name, type(exc).__name__)
            errors.append((name, exc))
        except LLMError as exc:
            # The primary's outage is the story; a fallback's own fault is only logged.
            failed, last = name, exc
            errors.append((name, exc))
    _attach(first, errors)
    raise first


def _attach(primary: LLMError, errors: list[tuple[str, LLMError]]) -> None:
    """Hang the fallbacks' errors on the primary's: `.fallback_errors`, and notes on 3.11+."""
    # LLMError declares no such field; the instance dict keeps mypy and ruff (B010) content.
    primary.fallback_errors = tuple(exc for _, exc in errors)
    if sys.version_info >= (3, 11):
        for name, exc in errors:
            primary.add_note(f"fallback profile {name} failed: {type(exc).__name__}: {exc}")
