"""The interface between the fake server and its wire modules: routes, requests, responses.

A wire module declares a tuple of `Route`s. The server matches method + path, records the
request, consumes the next script item, applies any `Fault` itself, and then calls the
route's handler with an `Exchange`: the parsed request, the scripted item (or None for
"answer with your default") and the writers (JSON, bytes, server-sent events).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .prompt_cache import PromptCache, Split
from .script import Reply, ScriptItem

if TYPE_CHECKING:
    from .batches import BatchStore

__all__ = [
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_QUERY",
    "Exchange",
    "RecordedRequest",
    "Route",
    "StreamCut",
    "dumps",
    "json_stream_flag",
]

T = TypeVar("T")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# Where clients put keys: never shown by the request log or `GET /_fake/requests`.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})
CREDENTIAL_QUERY = frozenset({"key"})
MASK = "***"


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (the one encoder every response uses)."""
    return _ENCODER.encode(obj).encode()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. Header names are lower-case; `json` is the decoded
    body (for multipart forms: a dict of fields, files as {filename, content_type, size})."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    provider: str
    endpoint: str
    stream: bool = False
    request_id: str = ""

    def masked(self) -> dict[str, Any]:
        """The request as JSON-ready data, credentials masked (what `GET /_fake/requests`
        lists): id, method, path, query, provider, endpoint, stream, headers and JSON body."""
        return {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "query": _masked(self.query, CREDENTIAL_QUERY),
            "provider": self.provider,
            "endpoint": self.endpoint,
            "stream": self.stream,
            "headers": _masked(self.headers, CREDENTIAL_HEADERS),
            "json": self.json if _is_json(self.json) else None,
        }

    def log_line(self) -> str:
        """One line for a request log, credentials masked: id, method, path with query,
        provider and endpoint, the model asked for, and which credentials came."""
        query = "&".join(f"{k}={v}" for k, v in _masked(self.query, CREDENTIAL_QUERY).items())
        parts = [self.request_id, self.method, self.path + (f"?{query}" if query else "")]
        parts += ["->", self.provider, self.endpoint + (" (stream)" if self.stream else "")]
        model = self.json.get("model") if isinstance(self.json, dict) else None
        if isinstance(model, str):
            parts.append(f"model={model}")
        creds = {k: v for k, v in self.headers.items() if k in CREDENTIAL_HEADERS}
        parts += [f"{k}={v}" for k, v in _masked(creds, CREDENTIAL_HEADERS).items()]
        return " ".join(parts)


def _masked(values: Mapping[str, str], secret_names: frozenset[str]) -> dict[str, str]:
    """`values` with the named ones masked; an auth scheme such as "Bearer" stays readable."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if name.lower() not in secret_names:
            out[name] = value
            continue
        scheme, sep, _ = value.partition(" ")
        out[name] = f"{scheme} {MASK}" if sep and scheme.isalpha() else MASK
    return out


def _is_json(value: Any) -> bool:
    """True when `value` serialises as JSON (a multipart form's dict does; bytes do not)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def json_stream_flag(request: RecordedRequest) -> bool:
    """True when the JSON body asks for `"stream": true` (OpenAI-style wires)."""
    return isinstance(request.json, dict) and request.json.get("stream") is True


def _never(request: RecordedRequest) -> bool:
    return False


@dataclass(frozen=True)
class Route:
    """One endpoint: `path` is a regex matched in full against the path without query;
    its named groups arrive as `Exchange.params`.

    `accepts` lists the script item types the endpoint can answer (a `Fault` always fits);
    `error_body(status, message)` builds the provider's error JSON; `streams(request)` says
    whether a request wants server-sent events; `malformed_sse_event` names the event a
    malformed stream reply pretends to be (wires that dispatch on the event name need it).
    """

    method: str
    path: str
    provider: str
    endpoint: str
    handler: Callable[[Exchange], None]
    error_body: Callable[[int, str], Any]
    accepts: tuple[type, ...] = (Reply,)
    streams: Callable[[RecordedRequest], bool] = _never
    malformed_sse_event: str | None = None
    # False for static assets: fetching one must not take the item a chat call was given.
    consumes: bool = True
    # (header, provider): a path two SDKs share (`/v1/models`) is told apart by a header.
    provider_headers: tuple[tuple[str, str], ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.path))

    def provider_for(self, headers: Mapping[str, str]) -> str:
        """The provider a request is from (lower-case header names)."""
        return next((p for h, p in self.provider_headers if h in headers), self.provider)


class StreamCut(Exception):
    """Raised inside a handler to end a stream cleanly without its terminal event."""


class Exchange:
    """One request being answered: what was asked, what was scripted, and the writers.

    Write exactly one response: `send_json` / `send_bytes` / `send_error`, or `start_sse`,
    any number of `send_sse`, then `end_sse`. Extra headers from the script item are added
    to whatever is sent. Iterate text through `paced_deltas(reply)` to get cut/stall for free.

    Stream events are buffered and go out together at `end_sse`, before a stall, or on
    `flush()`: one send per stream instead of one per event keeps loopback benchmarks fast.
    """

    def __init__(
        self,
        *,
        request: RecordedRequest,
        route: Route,
        params: Mapping[str, str],
        item: ScriptItem | None,
        seq: int,
        server_url: str,
        write: Callable[[bytes], object],
        extra_headers: Mapping[str, str],
        prompt_cache: PromptCache | None = None,
        batches: BatchStore | None = None,
    ) -> None:
        self.request = request
        self.prompt_cache = prompt_cache
        self.batches = batches  # the server's batch jobs (batch endpoints only use it)
        self.route = route
        self.params = dict(params)
        self.item = item
        self.seq = seq  # 1-based request number: makes generated ids stable
        self.server_url = server_url
        self._write = write
        self._extra_headers = dict(extra_headers)
        self.started = False  # a status line is written or buffered
        self.committed = False  # bytes are on the wire: the response can no longer be replaced
        self.sse_open = False
        self._buffer: list[bytes] = []

    @property
    def provider(self) -> str:
        return self.request.provider

    @property
    def endpoint(self) -> str:
        return self.request.endpoint

    @property
    def json(self) -> Any:
        return self.request.json

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body when it is an object, else an empty dict (handlers read fields)."""
        return self.request.json if isinstance(self.request.json, dict) else {}

    def cached(
        self,
        reply: Reply,
        split: Split | None,
        *,
        reports_writes: bool = True,
    ) -> Reply:
        """A default `reply` with the prompt cache's usage when the request asks for caching
        (`split`: the whole prompt and its cached prefix, see `prompt_cache`)."""
        usage = (
            self.prompt_cache.usage(split, reports_writes=reports_writes)
            if (self.prompt_cache is not None)
            else None
        )
        return reply if usage is None else dataclasses.replace(reply, usage=usage)

    def scripted(self, kind: type[T]) -> T | None:
        """The scripted item if it is a `kind`, else None (None means: answer the default)."""
        return self.item if isinstance(self.item, kind) else None

    # ---- plain responses -------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        self.committed = True
        self._write(data)

    def discard(self) -> bool:
        """Drop a buffered, unsent response so another can be sent; False if too late."""
        if self.committed:
            return False
        self._buffer, self.started, self.sse_open = [], False, False
        return True

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        if self.started:
            raise RuntimeError("fake server handler answered twice")
        self.started = True
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"x-request-id: {self.request.request_id}"]
        merged = {**headers, **self._extra_headers}
        lines.extend(f"{name}: {value}" for name, value in merged.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_bytes(
        self,
        body: bytes,
        content_type: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A complete response with a Content-Length (keeps the connection reusable)."""
        head = {"content-type": content_type, "content-length": str(len(body)), **(headers or {})}
        self._send(self._head(status, head) + body)

    def send_json(
        self, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        """A JSON response."""
        self.send_bytes(dumps(obj), "application/json", status, headers)

    def send_error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """An error in the provider's own shape (the route's `error_body`)."""
        self.send_json(self.route.error_body(status, message), status, headers)

    # ---- server-sent events ------------------------------------------------------------

    def start_sse(self, headers: Mapping[str, str] | None = None, status: int = 200) -> None:
        """Begin a chunked `text/event-stream` response."""
        head = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
            **(headers or {}),
        }
        self._buffer.append(self._head(status, head))
        self.sse_open = True

    def send_sse(self, data: Any, event: str | None = None) -> None:
        """One event: `event: <name>` (when given) and `data: <data>`; non-str data is JSON."""
        payload = data.encode() if isinstance(data, str) else dumps(data)
        chunk = (b"event: " + event.encode() + b"\n" if event else b"") + b"data: " + payload
        self.send_raw_sse(chunk + b"\n\n")

    def send_raw_sse(self, raw: bytes) -> None:
        """Bytes as one chunk of the event stream, verbatim (for odd framings)."""
        if not self.sse_open:
            raise RuntimeError("start_sse() first")
        self._buffer.append(b"%x\r\n%s\r\n" % (len(raw), raw))

    def flush(self) -> None:
        """Send the buffered stream bytes now."""
        if self._buffer:
            data, self._buffer = b"".join(self._buffer), []
            self._send(data)

    def end_sse(self) -> None:
        """End the chunked body cleanly (whether or not a terminal event was sent)."""
        if self.sse_open:
            self.sse_open = False
            self._buffer.append(b"0\r\n\r\n")
        self.flush()

    def sleep(self, seconds: float) -> None:
        """Pause the answer (what was sent so far goes out first)."""
        if seconds > 0:
            self.flush()
            time.sleep(seconds)

    def paced_deltas(self, reply: Reply) -> Iterator[str]:
        """The reply's text deltas with its stall applied; raises `StreamCut` at `cut_after`."""
        deltas = reply.text_deltas
        for index, delta in enumerate(deltas):
            if reply.cut_after is not None and index >= reply.cut_after:
                raise StreamCut
            if index == reply.stall_after:
                self.sleep(reply.stall_s)
            yield delta
        if reply.stall_after is not None and reply.stall_after >= len(deltas):
            self.sleep(reply.stall_s)  # stalled after the last delta: before the terminal event
        if reply.cut_after is not None:
            raise StreamCut  # a cut reply never completes, however short its text


def _reason(status: int) -> str:
    return _REASONS.get(status, "Status")


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}
