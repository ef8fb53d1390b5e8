"""Reading a provider's reply without trusting it, shared by every adapter.

A hostile or broken server (an HTML page from a proxy, JSON that is not an object, `{}`, a
reply without choices, token counts of the wrong type) must end in `LLMServerError`, which
is retried like any unreadable reply, never in an AttributeError from deep in a parser:

- `expect(reply, Kind, provider)`: the SDK returned the object it parses replies into (the
  Stainless SDKs hand back a `str`, `list`, `int` or None for other bodies).
- `required_list(obj, name, provider)`: a field the rest of the parser needs is a list.
- `reading(provider)`: AttributeError / TypeError / KeyError / IndexError / ValueError raised
  while our code parses a reply (or a stream's events) become `LLMServerError ... from exc`.
- `raised_reading_reply(exc)`: the same for errors raised inside an SDK's own reply parsing
  (google-genai converts a reply inside `generate_content`); `map_sdk_error` uses it.
- `token_count` / `tokens`: a usage field that is not a non-negative int is unknown (None);
  `optional_str`: likewise for a reported text such as the model name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

from ...errors import LLMError, LLMServerError, redact
from ...streams.events import (
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
    ToolCallEnd,
)

__all__ = [
    "PARSE_ERRORS",
    "described",
    "event_problem",
    "expect",
    "optional_str",
    "raised_reading_reply",
    "reading",
    "required_list",
    "token_count",
    "tokens",
    "unreadable",
    "validated",
]

T = TypeVar("T")

# What a parser raises when the reply is not the shape it reads (pydantic's ValidationError
# and json's JSONDecodeError are ValueErrors).
PARSE_ERRORS: tuple[type[Exception], ...] = (
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    ValueError,
)

# Where the SDKs turn reply JSON into objects, by function name: google-genai's generated
# `*_from_mldev` / `*_from_vertex` converters and pydantic validation in `_from_response`, and
# the Stainless SDKs' (openai, anthropic) `_process_response`. These run only once a reply has
# arrived, so an error raised under one of them is about the reply, not about our request.
_SDK_READER_SUFFIXES = ("_from_mldev", "_from_vertex")
_SDK_READERS = frozenset({"_from_response", "_process_response"})
_MAX_FRAMES = 256  # a traceback is finite; this only bounds the walk
_SHOWN_CHARS = 60
_DETAIL_CHARS = 200


def described(value: Any) -> str:
    """`value` for an error message: its JSON kind and a short start, scrubbed of keys."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + "…"
    return f"{type(value).__name__} {redact(text)}"


def unreadable(provider: str, detail: str) -> LLMServerError:
    """The error for a reply that could not be read (transient: the policy retries it)."""
    if len(detail) > _DETAIL_CHARS:
        detail = detail[:_DETAIL_CHARS] + "…"
    return LLMServerError(
        f"{provider} sent a reply that could not be read: {redact(detail)}", provider=provider
    )


def expect(reply: Any, kind: type[T], provider: str) -> T:
    """`reply` when the SDK parsed it into a `kind`; otherwise `LLMServerError`."""
    if isinstance(reply, kind):
        return reply
    name = kind.__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    raise unreadable(provider, f"expected {article} {name} object, got {described(reply)}")


def validated(kind: Any, body: Any, provider: str) -> Any:
    """`body` (decoded JSON, as a batch's output file carries it) as the SDK's `kind` model;
    a body that is no such object raises `LLMServerError`."""
    try:
        return kind.model_validate(body)
    except ValueError as exc:  # pydantic's ValidationError
        raise unreadable(provider, f"an answer that is no {kind.__name__}: {exc}") from exc


def required_list(obj: Any, name: str, provider: str, *, empty_ok: bool = True) -> list[Any]:
    """`obj.<name>` when it is a list (a non-empty one unless `empty_ok`); the SDKs leave a
    missing field as None and a field of the wrong type as it came."""
    value = getattr(obj, name, None)
    if isinstance(value, list) and (empty_ok or value):
        return value
    if value is None or value == []:
        raise unreadable(provider, f"the reply has no {name}")
    raise unreadable(provider, f"{name} should be a list, got {described(value)}")


class reading:
    """Parse a reply inside this: a parser tripping over its shape raises `LLMServerError`.

    Our own errors (an `error` event mapped to its class, say) pass through unchanged. A
    class, not `contextlib.contextmanager`: every reply is read through it, and a generator
    context costs several times as much."""

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, LLMError) or not isinstance(exc, PARSE_ERRORS):
            return  # nothing went wrong, or not a misreading: it goes on as it was
        raise unreadable(self.provider, f"{type(exc).__name__}: {exc}") from exc


def event_problem(event: StreamEvent) -> str:
    """What is wrong with a parsed event's fields ("" when nothing): a parser passes a
    field on as the SDK left it, which for a hostile reply may be any JSON value."""
    if isinstance(event, (TextDelta, ReasoningDelta)):
        return "" if isinstance(event.text, str) else f"text {described(event.text)}"
    if isinstance(event, ToolCallChunk):
        if type(event.index) is not int:
            return f"a tool call index {described(event.index)}"
        fields = {"id": event.id, "name": event.name, "arguments": event.arguments}
        for name, value in fields.items():
            if value is not None and not isinstance(value, str):
                return f"a tool call {name} {described(value)}"
    if isinstance(event, ToolCallEnd) and type(event.index) is not int:
        return f"a tool call index {described(event.index)}"
    if isinstance(event, StreamEnd) and not isinstance(event.finish_reason, (str, type(None))):
        return f"a finish reason {described(event.finish_reason)}"
    return ""


def raised_reading_reply(exc: BaseException) -> bool:
    """True when `exc` was raised while an SDK turned a reply into objects (see above)."""
    if not isinstance(exc, PARSE_ERRORS):
        return False
    tb = exc.__traceback__
    for _ in range(_MAX_FRAMES):
        if tb is None:
            return False
        name = tb.tb_frame.f_code.co_name
        if name in _SDK_READERS or name.endswith(_SDK_READER_SUFFIXES):
            return True
        tb = tb.tb_next
    return False


def field_of(obj: Any, name: str) -> Any:
    """`obj[name]` or `obj.name` (None when absent): SDK objects keep fields they do not
    declare, as attributes or as dicts, depending on the SDK and the field."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def optional_str(value: Any) -> str | None:
    """A text field that is only reported (a model name, say): a string, else unknown."""
    return value if isinstance(value, str) else None


def token_count(value: Any) -> int | None:
    """A token count as a reply gave it: a non-negative int; anything else (a string, null,
    a bool, a float, a negative number) is unknown."""
    return value if type(value) is int and value >= 0 else None


def tokens(obj: Any, name: str) -> int | None:
    """`obj.<name>` as a token count (None when absent or not a count)."""
    return token_count(getattr(obj, name, None))
