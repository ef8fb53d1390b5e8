"""A key goes only where the profile points: one redirect guard for every way out.

Every SDK client's HTTP client (httpx2, or httpx under google-genai 2.x) gets a response
hook, and `raw()` a `requests` response hook, that look at each redirect before it is
followed. A redirect to the same origin (scheme, host and port) is followed; one to another
origin is refused with `RedirectRefused` (an `LLMConfigError`), so nothing is sent there:
not the `Authorization` header the HTTP libraries strip themselves, nor `x-api-key`,
`api-key`, `x-goog-api-key` or a profile's own headers, which they carry along.

Each hop is checked against the request it answers, so a chain is held to the origin of its
first request. Nothing here imports an HTTP library: the hooks only read `.status_code`,
`.headers` and the request URL, which httpx, httpx2 and requests responses all have.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from ...errors import LLMConfigError, redact

__all__ = ["RedirectRefused", "http_client", "httpx_hooks", "origin", "requests_hooks"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RedirectRefused(LLMConfigError):
    """The provider's server redirected a request carrying the key to another origin.

    `response` is the redirect itself while `raw(return_response=True)` may still hand it
    back; it is dropped before the error reaches a caller any other way.
    """

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


def _origin_key(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def origin(url: str) -> str:
    """`scheme://host:port` of a URL: no user info, path or query that could hold a secret."""
    try:
        scheme, host, port = _origin_key(url)
    except ValueError:  # a port that is not a number
        return "an unreadable address"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _same_origin(a: str, b: str) -> bool:
    try:
        return _origin_key(a) == _origin_key(b)
    except ValueError:
        return False  # an unreadable address is nobody's origin


def check(provider: str, status: int, source: str, location: str | None) -> None:
    """Raise `RedirectRefused` when a `status` answer to `source` redirects to another origin."""
    if status not in _REDIRECTS or location is None:
        return
    target = urljoin(source, location.strip())
    if _same_origin(source, target):
        return
    here, there = redact(origin(source)), redact(origin(target))
    raise RedirectRefused(
        f"{provider}: the server at {here} redirected the request to {there}; it was not "
        f"sent there, so the API key did not leave {here}. If {there} is the provider's "
        "real address and you trust it, set the profile's base_url to it"
    )


def httpx_hooks(provider: str) -> dict[str, list[Callable[[Any], None]]]:
    """`event_hooks` for an httpx / httpx2 `Client`: the redirect check on every response."""

    def on_response(response: Any) -> None:
        status = response.status_code
        if status in _REDIRECTS:  # the URL's text is built only for a redirect: it costs
            check(provider, status, str(response.request.url), response.headers.get("location"))

    return {"request": [], "response": [on_response]}


def requests_hooks(provider: str) -> dict[str, Callable[..., Any]]:
    """`hooks` for a `requests` call: the same check, the refused response kept on the error
    (a `raw(return_response=True)` caller gets the redirect itself)."""

    def on_response(response: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            check(provider, response.status_code, response.url, response.headers.get("location"))
        except RedirectRefused as exc:
            exc.response = response
            raise
        return response

    return {"response": on_response}


def http_client(default_cls: type[Any], provider: str) -> Any:
    """An SDK's own default HTTP client class (`openai.DefaultHttpxClient`, ...) with the
    redirect guard: the SDK's limits and timeouts, closed when collected like the SDK's own."""
    return _closing(default_cls)(event_hooks=httpx_hooks(provider))


_CLOSING: dict[type[Any], type[Any]] = {}


def _closing(cls: type[Any]) -> type[Any]:
    """`cls` that closes its pool when collected, as the client an SDK builds itself does
    (one passed in does not), made once per class."""
    made = _CLOSING.get(cls)
    if made is None:
        made = _CLOSING.setdefault(
            cls, type(cls.__name__, (cls,), {"__del__": _close_quietly, "__module__": __name__})
        )
    return made


def _close_quietly(client: Any) -> None:
    if not client.is_closed:
        with contextlib.suppress(Exception):  # at collection time: nothing to tell anyone
            client.close()
