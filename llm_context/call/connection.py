"""One profile's way to its provider: the adapter (and its SDK client), built on first use
and reused; the raw-HTTP session; and the guard every send goes through, which turns any
failure into an `LLMError` whose text holds no secret.

A `Connection` is the only stateful part of a call's path below the client: the flows get
it inside their `Runtime` and call its public methods; nothing reaches into it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ..errors import (
    LLMBadRequestError,
    LLMContextLengthError,
    LLMError,
    LLMProviderError,
    is_context_length,
    redact,
)
from ..providers.registry import adapter_class

if TYPE_CHECKING:
    import requests

    from ..config.settings import Profile
    from ..providers.base import Adapter

T = TypeVar("T")

__all__ = ["Connection"]

log = logging.getLogger("llm_context")


def _plain_remote(url: str | None) -> str | None:
    """The host of an `http://` URL that is not this machine (keys sent there are readable)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme.lower() != "http" or host in ("localhost", "") or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name
    return host


def _context_length(exc: LLMError) -> LLMError:
    """`exc`, or an `LLMContextLengthError` when it is a plain bad request whose text says the
    prompt does not fit the context window. SDK errors are classed in `shared.sdk` (with the
    body's code and type); this catches the errors an adapter raises itself, such as a
    stream's error event, so every provider's errors go through the one table."""
    if type(exc) is not LLMBadRequestError:
        return exc
    status = exc.status_code if exc.status_code is not None else 400
    if not is_context_length(status, str(exc)):
        return exc
    return LLMContextLengthError(
        str(exc),
        provider=exc.provider,
        status_code=exc.status_code,
        request_id=exc.request_id,
        retry_after=exc.retry_after,
    )


class Connection:
    """The adapter of one profile, its raw-HTTP session and the guard around every send."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.provider = profile.provider.value
        self._adapter: Adapter | None = None
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._warned_http: set[str] = set()

    def adapter(self) -> Adapter:
        """The provider adapter (and its SDK client), built on first use and then reused."""
        if self._adapter is None:
            with self._lock:
                if self._adapter is None:
                    from ..config.profiles import resolve_api_key, resolve_base_url

                    resolved = self.profile.with_changes(
                        api_key=resolve_api_key(self.profile),
                        base_url=resolve_base_url(self.profile),
                    )
                    if resolved.api_key:
                        self.warn_plain_http(resolved.base_url)
                    self._adapter = adapter_class(self.profile.provider)(resolved)
        return self._adapter

    def raw_session(self) -> requests.Session:
        """The `requests` session of `raw()`, made on first use."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import requests

                    self._session = requests.Session()
        return self._session

    def warn_plain_http(self, url: str | None) -> None:
        """Once per connection and host: a key is about to travel unencrypted."""
        host = _plain_remote(url)
        if host is not None and host not in self._warned_http:
            self._warned_http.add(host)
            log.warning(
                "profile %s sends its API key over plain http:// to %s, where anyone on the "
                "way can read it; use https://",
                self.profile.name,
                host,
            )

    def secrets(self) -> tuple[str | None, ...]:
        """The key as configured and as resolved (an error text must show neither)."""
        adapter = self._adapter
        key = getattr(adapter, "api_key", None) if adapter is not None else None
        return (self.profile.api_key, key)

    def scrub(self, exc: BaseException) -> None:
        """Remove secrets from an error's text (a provider may echo the key back); also for
        errors handed back as values, such as a batch item's."""
        text = str(exc)
        clean = redact(text, self.secrets())
        if clean != text:
            exc.args = (clean,)

    def guard(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, with SDK errors mapped to ours and every error's text scrubbed of
        secrets. (Arguments, not a closure: a stream reads every event through here.)"""
        try:
            return fn(*args)
        except LLMError as exc:
            self.scrub(exc)
            classed = _context_length(exc)
            if classed is exc:
                raise
            raise classed from exc
        except StopIteration:
            raise  # a stream's end (its reader asks through here), not a failure
        except Exception as exc:
            mapped = self.adapter().map_error(exc)
            if not isinstance(mapped, LLMError):
                # Nothing foreseen: still ours (not retried), with the original as the cause.
                mapped = LLMProviderError(
                    f"{self.provider}: unexpected {type(exc).__name__} during the call: {exc}",
                    provider=self.provider,
                )
            mapped = _context_length(mapped)
            self.scrub(mapped)
            if redact(str(exc), self.secrets()) == str(exc):
                raise mapped from exc
            leaking = mapped
        # The SDK error's text shows a secret: raise outside the handler, so neither
        # __cause__ nor __context__ keeps it.
        raise leaking

    def send(self, fn: Callable[[Adapter], T]) -> T:
        """One blocking request through the adapter: the unit every attempt runs."""
        return self.guard(lambda: fn(self.adapter()))

    def close(self) -> None:
        """Release the SDK client and the raw session; the next call opens new ones."""
        with self._lock:
            adapter, self._adapter = self._adapter, None
            session, self._session = self._session, None
        if adapter is not None:
            adapter.close()
        if session is not None:
            session.close()
