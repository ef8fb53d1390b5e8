"""Raw HTTP to a provider through `requests`, with the provider's base URL and auth."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import log_redaction
from .errors import (
    LLMConnectionError,
    LLMInputError,
    LLMTimeoutError,
    error_for_status,
    redact,
    retry_after_s,
)
from .providers.base import RawAuth
from .providers.shared import redirects

if TYPE_CHECKING:
    import requests

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def build_url(auth: RawAuth, path: str | None, url: str | None) -> str:
    """`url` as given, or `path` under the provider's versioned API root.

    The root is the same level on every provider (`.../v1`, Gemini's `.../v1beta`, Azure's
    `.../openai` or `.../openai/v1`), so `path="/models"` lists models everywhere. A path
    that starts with the root's last segment (`/v1/messages` on `.../v1`) is not doubled.
    """
    if (path is None) == (url is None):
        raise LLMInputError("raw() takes exactly one of path='/models' or url='https://...'")
    if url is not None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise LLMInputError(f"raw() url must be http(s), got {str(url)[:40]!r}")
        return url
    if not isinstance(path, str) or not path.strip("/"):
        raise LLMInputError(
            f"raw() path must be a non-empty string such as '/models', got {str(path)[:40]!r}"
        )
    if "://" in path or path.startswith("//"):
        raise LLMInputError(
            "raw() path is relative to the provider's API root (path='/models'); "
            "pass a full address as url='https://...' instead"
        )
    root = auth.base_url.rstrip("/")
    relative = "/" + path.lstrip("/")  # 'models' and '/models' mean the same
    last = "/" + urlsplit(root).path.rstrip("/").rsplit("/", 1)[-1]
    if last != "/" and (relative == last or relative.startswith(last + "/")):
        relative = relative[len(last) :] or "/"
    return root + relative


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, parts.port or default_port


def same_origin(url: str, base_url: str) -> bool:
    """True when `url` is on the provider's own scheme, host and port."""
    return _origin(url) == _origin(base_url)


def send_raw(
    session: requests.Session,
    auth: RawAuth,
    provider: str,
    *,
    method: str,
    path: str | None,
    url: str | None,
    json: Any,
    params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    timeout: float | None,
    return_response: bool,
    secrets: tuple[str | None, ...],
) -> Any:
    """One raw request; errors map to our hierarchy with secrets scrubbed from the text."""
    import requests

    log_redaction.install()  # the requests / urllib3 loggers exist only once it is imported
    verb = method.upper()
    if verb not in _METHODS:
        raise LLMInputError(f"raw() method must be one of {', '.join(_METHODS)}, got {method!r}")
    target = build_url(auth, path, url)
    # The provider's key goes only to the provider: a `url=` elsewhere (say, a generated
    # image on blob storage) is sent without it, and an authenticated request follows a
    # redirect only within the provider's origin, since `requests` would carry custom key
    # headers to the next host. Another origin raises RedirectRefused; with
    # `return_response` the caller gets that redirect response to follow as they see fit.
    authed = same_origin(target, auth.base_url)
    merged_headers = {**(auth.headers if authed else {}), **(headers or {})}
    merged_params = {**(auth.params if authed else {}), **(params or {})}
    try:
        response = session.request(
            verb,
            target,
            json=json,
            params=merged_params or None,
            headers=merged_headers,
            timeout=timeout,
            hooks=redirects.requests_hooks(provider) if authed else None,
        )
    except redirects.RedirectRefused as exc:
        moved, exc.response = exc.response, None
        if return_response and moved is not None:
            return moved
        if moved is not None:
            moved.close()
        raise
    except requests.Timeout as exc:
        raise LLMTimeoutError(
            f"{provider} raw {verb} timed out after {timeout}s", provider=provider
        ) from exc
    except requests.ConnectionError as exc:
        raise LLMConnectionError(
            redact(f"{provider} raw {verb} could not connect: {exc}", secrets), provider=provider
        ) from exc
    if response.status_code >= 400:
        cls = error_for_status(response.status_code)
        body = redact(response.text[:500], secrets)
        raise cls(
            f"{provider} raw {verb} {urlsplit(target).path} failed with "
            f"HTTP {response.status_code}: {body}",
            provider=provider,
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id") or response.headers.get("request-id"),
            retry_after=retry_after_s(response.headers),
        )
    if return_response:
        return response
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, jsonlib.JSONDecodeError):
        return response.text
