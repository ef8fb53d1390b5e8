"""No key in a log record: a `logging.Filter` on the loggers of the HTTP stack and the SDKs.

At DEBUG, httpcore logs response headers (a server may echo the key in one), the SDKs log
request options and errors. `protect(owner, secrets)` is called whenever an adapter builds
its SDK client: it remembers the profile's secrets for as long as `owner` (that SDK client)
lives, and puts `RedactingFilter` on the loggers named in `LOGGERS` and on every child
logger that exists by then (a parent's filter does not run for its children's records).

The filter rewrites each record's formatted message with `errors.redact` (the remembered
secrets plus key-shaped tokens), as well as the exception and stack text. It costs nothing
when those loggers are not enabled: logging calls a logger's filters only for records it
emits. Nothing here imports an HTTP library or an SDK.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .errors import redact
from .shown import sensitive_name

if TYPE_CHECKING:
    from .config.settings import Profile

__all__ = ["LOGGERS", "RedactingFilter", "install", "known_secrets", "profile_secrets", "protect"]

# The HTTP stacks (httpx / httpcore and their httpx2 / httpcore2 forks, requests / urllib3
# under raw()), the three SDKs and this library.
LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "urllib3",
    "requests",
    "openai",
    "anthropic",
    "google_genai",
    "google.genai",
    "llm_context",
)

_SHORTEST = 4  # `redact` ignores shorter secrets: they would mangle ordinary words

_lock = threading.Lock()
_owned: dict[int, tuple[str, ...]] = {}
_dead: list[int] = []  # tokens of SDK clients gone since the last protect()
_ids = itertools.count()
_secrets: tuple[str, ...] = ()
_seen_loggers = -1  # size of the logger registry at the last walk (loggers are never removed)


class RedactingFilter(logging.Filter):
    """Rewrites a record so no known secret or key-shaped token is left in what it prints."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: scrub what logging will print for it
            text = f"{record.msg} {record.args}"
        clean = redact(text, secrets)
        if clean != text or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text, secrets)
            if record.exc_text != exc_text:
                record.exc_info = None  # the exception itself shows a secret: keep only text
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


_FILTER = RedactingFilter()


def profile_secrets(profile: Profile) -> tuple[str, ...]:
    """A profile's credentials: its key and the values of credential-named headers and extras."""
    values: list[object] = [profile.api_key]
    for mapping in (profile.headers, profile.extras):
        values += [v for k, v in _items(mapping) if sensitive_name(k)]
    return tuple(v for v in values if isinstance(v, str) and len(v) >= _SHORTEST)


def _items(mapping: Mapping[str, object]) -> list[tuple[str, object]]:
    return list(mapping.items()) if isinstance(mapping, Mapping) else []


def protect(owner: object, secrets: Iterable[str | None]) -> None:
    """Keep `secrets` out of log records while `owner` lives, and (re)install the filter."""
    kept = tuple(s for s in secrets if isinstance(s, str) and len(s) >= _SHORTEST)
    if kept:
        token = next(_ids)
        with _lock:
            _owned[token] = kept
            while _dead:
                _owned.pop(_dead.pop(), None)
            _refresh()
        weakref.finalize(owner, _forget, token)
    install()


def _forget(token: int) -> None:
    # A finalizer runs inside any allocation of any thread, this one's too, even while it
    # holds `_lock`: so it only queues (a list append is atomic) and the next `protect`
    # drops the dead client's secrets. Until then they are scrubbed a little longer.
    _dead.append(token)


def _refresh() -> None:
    global _secrets
    # One tuple, swapped whole: the filter reads it without taking the lock.
    _secrets = tuple(sorted({s for kept in _owned.values() for s in kept}, key=len, reverse=True))


def known_secrets() -> tuple[str, ...]:
    """The secrets the filter scrubs now (those of every live SDK client)."""
    return _secrets


def install() -> None:
    """Put the filter on every logger in `LOGGERS` and each of their existing children.
    Idempotent, and a no-op when no logger was created since the last call."""
    global _seen_loggers
    registry = logging.Logger.manager.loggerDict
    if len(registry) == _seen_loggers:
        return
    with _lock:
        names = [name for name in list(registry) if _watched(name)]
        for name in {*LOGGERS, *names}:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        _seen_loggers = len(registry)


def _watched(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in LOGGERS)
