"""A bulk run's items before they are sent: what `build(item)` gave as messages and chat
options, a failed build as that item's error, and the run's concurrency checked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import LLMError, LLMInputError

if TYPE_CHECKING:
    from ..client import LLMClient

__all__ = ["build_error", "concurrency_of", "lost", "request_of"]

DEFAULT_CONCURRENCY = 8


def request_of(built: Any, common: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """`build(item)`'s answer as (messages, options); the item's options win."""
    if isinstance(built, Mapping):
        if "messages" not in built:
            raise LLMInputError('build returned a dict without "messages"')
        opts = {**common, **{k: v for k, v in built.items() if k != "messages"}}
        return built["messages"], opts
    if isinstance(built, str):
        return [{"role": "user", "content": built}], dict(common)
    if isinstance(built, Iterable):
        return list(built), dict(common)
    raise LLMInputError(
        f"build returned a {type(built).__name__}: return messages, a prompt string, or a dict "
        'with "messages" and chat options'
    )


def build_error(index: int, exc: Exception) -> LLMError:
    """A failed `build(item)` as that item's error."""
    if isinstance(exc, LLMError):
        return exc
    error = LLMInputError(f"item {index}: build raised {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def lost(index: int) -> LLMError:
    """The result of an item the run never reached."""
    return LLMInputError(f"item {index} was not run (the run stopped before it)")


def concurrency_of(llm: LLMClient, given: int | None) -> int:
    """The calls in flight at once: as given, else the profile's, else 8."""
    if given is None:
        return llm.profile.rate_limit.max_concurrency or DEFAULT_CONCURRENCY
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise LLMInputError(f"concurrency must be a whole number >= 1, got {given!r}")
    return given
