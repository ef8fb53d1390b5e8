"""What every adapter shares: SDK/transport exception -> our error, the timeout object,
and small parsing helpers. The SDKs sit on `httpx2` (google-genai 2.x, the newest on Python
3.10, on `httpx`), and `openai` and `anthropic` share one exception shape (status_code,
response, request_id), so one mapper serves all."""

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ...errors import (
    LLMConnectionError,
    LLMContextLengthError,
    LLMError,
    LLMProviderError,
    LLMTimeoutError,
    error_for_status,
    is_context_length,
    redact,
    retry_after_s,
)
from ...streams.events import StreamEnd
from ...streams.stop import after, on_stream_stop
from .reply_checks import event_problem, raised_reading_reply, reading, unreadable

if TYPE_CHECKING:
    from ...streams.events import StreamEvent

__all__ = [
    "closing_stream",
    "error_from_body",
    "error_message",
    "map_sdk_error",
    "per_call",
    "sdk_timeout",
    "stream_events",
]

# Items of the SDK stream read after the terminal event before giving up on reusing the
# connection: a provider sends none, so more means something odd, and closing is the safe way
# out.
_DRAIN_LIMIT = 16
# How long the rest of the body may take after the terminal event: a server keeping the body
# open past it costs this (and its connection), not the read timeout.
_DRAIN_WAIT_S = 0.05


def sdk_timeout(seconds: float | None) -> Any:
    """An `httpx2.Timeout` applying `seconds` to connect, read, write and pool waits."""
    import httpx2

    return httpx2.Timeout(seconds)


# openai and anthropic (both Stainless SDKs) take the same per-request keywords.
def per_call(timeout: float | None, extra_body: Any = None) -> dict[str, Any]:
    """The SDK's per-request options: timeout override and verbatim extra body fields."""
    out: dict[str, Any] = {}
    if timeout is not None:
        out["timeout"] = sdk_timeout(timeout)
    if extra_body:
        out["extra_body"] = dict(extra_body)
    return out


def stream_events(
    sdk_stream: Any,
    parse: Callable[[Any], Iterable[StreamEvent]],
    provider: str = "the server",
) -> Iterator[StreamEvent]:
    """Each item of an SDK stream parsed into our events; the SDK stream is always closed."""
    return closing_stream(sdk_stream, sdk_stream, provider, parse)


def closing_stream(
    sdk_stream: Any,
    events: Iterable[Any],
    provider: str = "the server",
    parse: Callable[[Any], Iterable[StreamEvent]] | None = None,
) -> Iterator[StreamEvent]:
    """`events` (parsed from `sdk_stream`; with `parse`, the stream's items that it parses
    into events), closing the SDK stream however iteration ends:
    done, an error, or the caller stopping early (which frees the connection).

    A reply that is no event stream (a JSON or HTML body: no event, and a content type other
    than `text/event-stream`), or events the parser cannot read, raise `LLMServerError`.

    The client stops reading at the terminal event; the rest of the body (the end of the
    chunked response) is read here first, or the SDK would drop the keep-alive connection
    and the next call would pay a new TCP (and TLS) handshake. That read is bounded: a
    server keeping the body open gets its connection shut down instead. While the stream is
    open, an async stream's `aclose` can break a read blocked in another thread."""
    items = iter(events)
    breaker = _breaker(sdk_stream)
    release = _no_release if breaker is None else on_stream_stop(breaker)
    ended = seen = False
    try:
        # Parsed and checked here rather than by generators in between: a stream passes
        # every event through each layer. Only errors raised by the stream or the parser
        # reach `reading`: a generator sees nothing its consumer raises, and GeneratorExit
        # (on close) is no parse error.
        with reading(provider):
            for item in items:
                for event in (item,) if parse is None else parse(item):
                    problem = event_problem(event)
                    if problem:
                        raise unreadable(provider, f"a stream event with {problem}")
                    ended = ended or type(event) is StreamEnd
                    seen = True
                    yield event
        ended = False  # the body ended with the events: nothing left to read
        if not seen:
            _expect_event_stream(sdk_stream, provider)
    finally:
        if ended and breaker is None:
            # google-genai hides its response (and socket): the end of the body is read in a
            # daemon thread, which a silent server ties up until the read timeout, not us.
            threading.Thread(target=_drain_and_close, args=(items, sdk_stream), daemon=True).start()
        else:
            try:
                if ended and breaker is not None:
                    _drain(items, breaker)
            finally:
                release()  # before the close, which may hand the connection to another call
                sdk_stream.close()  # openai / anthropic `Stream.close()`; google's `.close()`


def _expect_event_stream(sdk_stream: Any, provider: str) -> None:
    """For a stream that carried no event: a body of another content type was no event stream
    (the SDKs read JSON or HTML as a stream of no events). Judged only then, so a real stream
    a server mislabels still works. google-genai hides its response: it reads JSON itself."""
    headers = getattr(getattr(sdk_stream, "response", None), "headers", None)
    content_type = str(headers.get("content-type") or "") if isinstance(headers, Mapping) else ""
    if content_type and "event-stream" not in content_type.lower():
        raise unreadable(provider, f"expected an event stream, got {content_type}")


def _drain(events: Iterator[Any], hook: Callable[[], None]) -> None:
    """Read the end of the body, but never wait for it long: a server that keeps the body
    open gets its connection shut down after `_DRAIN_WAIT_S` (and a new one next time)."""
    cancel = after(_DRAIN_WAIT_S, hook)
    try:
        with contextlib.suppress(Exception):  # the answer is complete: nothing to report
            for _ in itertools.islice(events, _DRAIN_LIMIT):
                pass
    finally:
        cancel()


def _drain_and_close(events: Iterator[Any], sdk_stream: Any) -> None:
    with contextlib.suppress(Exception):
        for _ in itertools.islice(events, _DRAIN_LIMIT):
            pass
    with contextlib.suppress(Exception):
        sdk_stream.close()


def _breaker(sdk_stream: Any) -> Callable[[], None] | None:
    """How to break a read of an openai / anthropic `Stream` from another thread: shut down
    the socket its httpx response reads (`close` from another thread does not wake a read,
    on Linux). None where the SDK hides its response, as google-genai does."""
    response = getattr(sdk_stream, "response", None)
    extensions = getattr(response, "extensions", None)
    network = extensions.get("network_stream") if isinstance(extensions, Mapping) else None
    info = getattr(network, "get_extra_info", None)
    sock = info("socket") if callable(info) else None
    if not isinstance(sock, socket.socket):
        return None
    return functools.partial(_shut_down, response, sock)


def _shut_down(response: Any, sock: socket.socket) -> None:
    # A closed response has handed its connection back to the pool: not ours to break.
    # The plain socket method: an `SSLSocket`'s own drops its SSL object under the reader.
    if not response.is_closed:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _no_release() -> None:
    return None


def error_message(body: Any, fallback: str) -> str:
    """The human part of a provider error body (`{"error": {"message": ...}}` and kin)."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            msg = err.get("message") or err.get("msg")
            if isinstance(msg, str) and msg:
                return msg
        elif isinstance(err, str) and err:
            return err
    if isinstance(body, str) and body:
        return body[:500]
    return fallback


def _status_error(exc: Any, provider: str, status: int) -> LLMProviderError:
    response = getattr(exc, "response", None)
    headers = dict(getattr(response, "headers", None) or {})
    # openai / anthropic keep the decoded error body in `.body`, google-genai in `.details`.
    body = getattr(exc, "body", None)
    if body is None:
        body = getattr(exc, "details", None)
    if body is None and response is not None:
        try:
            body = json.loads(response.text)
        except (ValueError, AttributeError, TypeError):
            body = None
    message = error_message(body, str(getattr(exc, "message", "") or exc))
    request_id = getattr(exc, "request_id", None) or headers.get("x-request-id")
    retry_after = retry_after_s(headers)
    return error_from_body(provider, status, body, message, request_id, retry_after)


def error_from_body(
    provider: str,
    status: int,
    body: Any,
    message: str,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> LLMProviderError:
    """Our error for a provider's error answer: its status, decoded body and message (also
    what a batch item that failed carries)."""
    if retry_after is None:
        retry_after = _retry_delay_s(body)
    cls = error_for_status(status)
    code, kind = _error_code_and_type(body)
    if is_context_length(status, message, code=code, kind=kind):
        cls = LLMContextLengthError
    return cls(
        f"{provider} returned HTTP {status}: {redact(message)}",
        provider=provider,
        status_code=status,
        request_id=request_id,
        retry_after=retry_after,
    )


def _error_code_and_type(body: Any) -> tuple[object, object]:
    """`error.code` and `error.type` (OpenAI's, Anthropic's and llama.cpp's shapes), or a
    top-level `code` and `type`, when the body has them."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    where = error if isinstance(error, Mapping) else body
    return where.get("code"), where.get("type")


def _retry_delay_s(body: Any) -> float | None:
    """Google's hint in the body: `error.details[] {"@type": ...RetryInfo, "retryDelay": "37s"}`."""
    error = body.get("error") if isinstance(body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, Mapping) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


@functools.cache
def _http_errors() -> dict[str, tuple[type[BaseException], ...]]:
    """The exception classes of whichever HTTP libraries are installed, by httpx name:
    `httpx2` for the current SDKs, `httpx` for google-genai 2.x; neither is required."""
    names = (
        "RequestError",
        "TransportError",
        "TimeoutException",
        "DecodingError",
        "TooManyRedirects",
    )
    found: dict[str, list[type[BaseException]]] = {name: [] for name in names}
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in found:
            cls = getattr(module, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found[name].append(cls)
    return {name: tuple(classes) for name, classes in found.items()}


def _request_error(exc: BaseException) -> BaseException | None:
    """The HTTP library's `RequestError` behind `exc`: itself (google-genai lets them through)
    or the cause of a Stainless `APIConnectionError` (which wraps every one alike)."""
    requests = _http_errors()["RequestError"]
    if isinstance(exc, requests):
        return exc
    cause = exc.__cause__
    if type(exc).__name__ == "APIConnectionError" and isinstance(cause, requests):
        return cause
    return None


def _request_failure(
    cause: BaseException, provider: str, local_url: str | None
) -> LLMProviderError | None:
    """Our error for the `RequestError`s that are no network failure: a body that does not
    decode (a bad content-encoding) is an unreadable reply, a redirect loop says so. The
    rest of the class (connect, read, protocol errors) is left to the transport mapping."""
    errors = _http_errors()
    name = type(cause).__name__
    if isinstance(cause, errors["DecodingError"]) or name == "SSEError":
        return unreadable(provider, f"the body did not decode ({name}: {cause})")
    if isinstance(cause, errors["TooManyRedirects"]):
        where = f" at {local_url}" if local_url else ""
        return LLMConnectionError(
            f"could not reach {provider}{where}: the server redirected too many times (a "
            "redirect loop); check the profile's base_url",
            provider=provider,
        )
    if not isinstance(cause, errors["TransportError"]):
        # A RequestError this library version does not know yet: still the way there.
        return LLMConnectionError(f"could not reach {provider}: {name}: {cause}", provider=provider)
    return None


def map_sdk_error(
    exc: BaseException, provider: str, *, local_url: str | None = None
) -> BaseException:
    """Our error for an SDK or transport exception; anything else comes back unchanged.

    `local_url` is set for servers on the user's machine, so a refused connection says the
    server is not running there.
    """
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc.__cause__, LLMError) and type(exc).__name__ == "APIConnectionError":
        return exc.__cause__  # ours, raised in an HTTP client hook and wrapped by the SDK
    cause = _request_error(exc)
    failure = None if cause is None else _request_failure(cause, provider, local_url)
    if failure is not None:
        return failure
    errors = _http_errors()
    timeouts, transports = errors["TimeoutException"], errors["TransportError"]
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if status is None:
        status = (
            getattr(exc, "code", None)
            if name in ("APIError", "ClientError", "ServerError")
            else None
        )
    if isinstance(status, int) and status >= 400:
        return _status_error(exc, provider, status)
    if isinstance(exc, timeouts) or isinstance(cause, timeouts) or name == "APITimeoutError":
        return LLMTimeoutError(f"{provider} did not answer in time ({name})", provider=provider)
    if isinstance(exc, transports) or name == "APIConnectionError":
        if local_url is not None:
            return LLMConnectionError(
                f"could not connect to the local {provider} server at {local_url}: is it "
                "running? Start it, or set the profile's base_url to where it listens",
                provider=provider,
            )
        return LLMConnectionError(f"could not reach {provider}: {exc}", provider=provider)
    unreadable_names = ("APIResponseValidationError", "UnknownApiResponseError")
    if name in unreadable_names or isinstance(exc, json.JSONDecodeError):
        return unreadable(provider, str(exc))
    if raised_reading_reply(exc):
        # An SDK tripped over the reply while turning it into objects (google-genai does that
        # inside `generate_content`): as unreadable as a body that is not JSON.
        return unreadable(provider, f"{name}: {exc}")
    return exc
