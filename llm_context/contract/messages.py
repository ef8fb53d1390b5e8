"""Validation and normalisation of OpenAI-style message lists into frozen `Message`s."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from ..errors import LLMInputError
from .caching import CacheControl, parse_cache_control
from .files import (
    AudioPart,
    DocumentPart,
    FileLimit,
    check_known_keys,
    parse_audio_part,
    parse_file_part,
)
from .images import decode_image_data_url
from .text_check import check_text, check_tree
from .tools import ToolCall, parse_arguments

__all__ = [
    "AudioPart",
    "DocumentPart",
    "FileLimit",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "TextPart",
    "decode_image_data_url",
    "normalize_messages",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class TextPart:
    """Plain text."""

    text: str
    cache: CacheControl | None = None  # a prompt-cache marker: cache up to here


@dataclass(frozen=True)
class ImagePart:
    """An image by https URL or data URL; `detail` is OpenAI's low/high/auto hint."""

    url: str
    detail: str | None = None
    cache: CacheControl | None = None

    @property
    def is_data_url(self) -> bool:
        return self.url.startswith("data:")

    @property
    def media_type(self) -> str | None:
        """The data URL's media type (None for https URLs)."""
        if not self.is_data_url:
            return None
        return self.url[5:].split(";", 1)[0].split(",", 1)[0] or None

    @property
    def data_b64(self) -> str:
        """The base64 payload of a data URL."""
        return self.url.split(",", 1)[1]

    def data_bytes(self) -> bytes:
        return base64.b64decode(self.data_b64)


Part = TextPart | ImagePart | DocumentPart | AudioPart


@dataclass(frozen=True)
class Message:
    """One normalised turn. `parts` is empty only for an assistant turn with tool calls."""

    role: Role
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    # Opaque per-provider data from an earlier reply (e.g. signed thinking blocks), keyed by
    # provider name; each adapter reads only its own key.
    provider_state: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All text parts joined (images, documents and audio left out)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


def _where(i: int) -> str:
    return f"messages[{i}]"


def _image_part(i: int, j: int, raw: Mapping[str, Any]) -> ImagePart:
    image = raw.get("image_url")
    if isinstance(image, str):
        url, detail = image, None
    elif isinstance(image, Mapping) and isinstance(image.get("url"), str):
        url, detail = image["url"], image.get("detail")
    else:
        raise LLMInputError(
            f"{_where(i)}.content[{j}]: an image part is {{'type': 'image_url', "
            "'image_url': {'url': 'https://...' or 'data:image/png;base64,...'}}"
        )
    if url.startswith("data:"):
        # The bytes decide the type: a declared type they contradict is refused.
        media, _ = decode_image_data_url(url, where=f"{_where(i)}.content[{j}]")
        if not url.startswith(f"data:{media};"):  # an alias such as image/jpg: send the name
            url = f"data:{media};base64,{url.partition(',')[2]}"
    elif url.startswith(("https://", "http://")):
        check_text(url, f"{_where(i)}.content[{j}]")
    else:
        raise LLMInputError(
            f"{_where(i)}.content[{j}]: image URL must be https://, http:// or a data: URL, "
            f"got {url[:40]!r}"
        )
    if detail is not None and detail not in ("low", "high", "auto"):
        raise LLMInputError(f"{_where(i)}.content[{j}]: detail must be low, high or auto")
    return ImagePart(url, detail)


def _parts(i: int, role: str, content: Any, limit: FileLimit | None) -> tuple[Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        if not content.isascii():  # O(1): the usual ASCII text builds no error location
            check_text(content, f"{_where(i)}.content")
        # An empty tool result is a real answer; an empty prompt is a mistake.
        return (TextPart(content),) if content or role == "tool" else ()
    if isinstance(content, (bytes, Mapping)) or not isinstance(content, Sequence):
        raise LLMInputError(
            f"{_where(i)}.content must be a string or a list of parts, got {type(content).__name__}"
        )
    parts: list[Part] = []
    for j, raw in enumerate(content):
        if isinstance(raw, str):
            if not raw.isascii():
                check_text(raw, f"{_where(i)}.content[{j}]")
            if raw or role == "tool":
                parts.append(TextPart(raw))
            continue
        if not isinstance(raw, Mapping):
            raise LLMInputError(f"{_where(i)}.content[{j}] must be a dict part or a string")
        part = _part(i, j, role, raw, limit)
        if part is not None:
            parts.append(part)
    return tuple(parts)


_TEXT_KEYS = frozenset({"type", "text", "cache_control"})
_IMAGE_KEYS = frozenset({"type", "image_url", "cache_control"})


def _part(
    i: int, j: int, role: str, raw: Mapping[str, Any], limit: FileLimit | None
) -> Part | None:
    """One dict part, checked; None for an empty text part (it carries nothing)."""
    where = f"{_where(i)}.content[{j}]"
    kind = raw.get("type")
    part: Part
    if kind in ("text", "input_text"):
        check_known_keys(raw, _TEXT_KEYS, where)
        text = raw.get("text")
        if not isinstance(text, str):
            raise LLMInputError(f"{where}: a text part needs a string 'text'")
        if not text.isascii():
            check_text(text, where)
        if not text and role != "tool":  # an empty text part carries nothing; APIs reject it
            return None
        part = TextPart(text)
    elif kind == "image_url":
        if role not in ("user", "system", "developer"):
            raise LLMInputError(f"{_where(i)}: images are only allowed in user messages")
        check_known_keys(raw, _IMAGE_KEYS, where)
        part = _image_part(i, j, raw)
    elif kind in ("file", "input_audio"):
        if role != "user":
            raise LLMInputError(f"{_where(i)}: files and audio are only allowed in user messages")
        if kind == "file":
            part = parse_file_part(raw, where, limit)
        else:
            part = parse_audio_part(raw, where, limit)
    else:
        raise LLMInputError(
            f"{where}: unknown part type {kind!r}; use 'text', 'image_url', 'file' or 'input_audio'"
        )
    cache = parse_cache_control(raw.get("cache_control"), where)
    return part if cache is None else replace(part, cache=cache)


def _mark_message(i: int, parts: tuple[Part, ...], raw: Any) -> tuple[Part, ...]:
    """A message's `cache_control` marks its last part: the cached prefix ends with it."""
    cache = parse_cache_control(raw, _where(i))
    if not parts:
        raise LLMInputError(
            f"{_where(i)}: cache_control on a message without content; mark a message with "
            "content (the cached prefix ends with its last part)"
        )
    return (*parts[:-1], replace(parts[-1], cache=cache))


def _check_call(i: int, j: int, call_id: str, name: str, arguments: Any) -> None:
    where = f"{_where(i)}.tool_calls[{j}]"
    check_text(call_id, f"{where}.id")
    check_text(name, f"{where}.function.name")
    # Decoded arguments: a JSON escape like "\ud800" becomes a lone surrogate here.
    check_tree(arguments, f"{where}.function.arguments")


def _tool_calls(i: int, raw: Any) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Sequence):
        raise LLMInputError(f"{_where(i)}.tool_calls must be a list")
    calls: list[ToolCall] = []
    for j, call in enumerate(raw):
        if isinstance(call, ToolCall):
            _check_call(i, j, call.id, call.name, call.arguments)
            calls.append(call)
            continue
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(fn, Mapping):
            raise LLMInputError(
                f"{_where(i)}.tool_calls[{j}] must be "
                "{'id': ..., 'type': 'function', 'function': {'name': ..., 'arguments': '...'}}"
            )
        call_id, name = call.get("id"), fn.get("name")
        if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
            raise LLMInputError(
                f"{_where(i)}.tool_calls[{j}] needs a string 'id' and function name"
            )
        arguments = parse_arguments(fn.get("arguments"), tool_name=name)
        _check_call(i, j, call_id, name, arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return tuple(calls)


def normalize_messages(
    messages: Any, *, file_limit: FileLimit | None = None
) -> tuple[Message, ...]:
    """Check an OpenAI-style message list and return normalised `Message`s; documents and
    audio larger than `file_limit` (the provider's) are refused.

    Raises `LLMInputError` naming the offending message and how to fix it.
    """
    # `type(...) is list/dict` first: the usual shapes skip the slower ABC checks.
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise LLMInputError(
            "messages must be a list of dicts like [{'role': 'user', 'content': 'Hello'}], "
            f"got {type(messages).__name__}"
        )
    if not messages:
        raise LLMInputError("messages is empty: pass at least one {'role': 'user', ...} message")
    out: list[Message] = []
    where: list[int] = []  # each kept message's index in the caller's list, for errors
    for i, raw in enumerate(messages):
        if type(raw) is dict:
            pass
        elif isinstance(raw, Message):
            out.append(raw)
            where.append(i)
            continue
        elif not isinstance(raw, Mapping):
            raise LLMInputError(f"{_where(i)} must be a dict, got {type(raw).__name__}")
        role = raw.get("role")
        if role not in ROLES:
            raise LLMInputError(
                f"{_where(i)}: unknown role {role!r}; use one of {', '.join(ROLES)}"
            )
        parts = _parts(i, role, raw.get("content"), file_limit)
        if raw.get("cache_control") is not None:
            parts = _mark_message(i, parts, raw["cache_control"])
        calls = _tool_calls(i, raw.get("tool_calls")) if role == "assistant" else ()
        if raw.get("tool_calls") and role != "assistant":
            raise LLMInputError(f"{_where(i)}: only assistant messages may carry tool_calls")
        tool_call_id = raw.get("tool_call_id")
        if role == "tool":
            if not isinstance(tool_call_id, str) or not tool_call_id:
                raise LLMInputError(
                    f"{_where(i)}: a tool message needs 'tool_call_id' "
                    "(the id of the call it answers)"
                )
            if not tool_call_id.isascii():
                check_text(tool_call_id, f"{_where(i)}.tool_call_id")
        elif tool_call_id is not None:
            raise LLMInputError(f"{_where(i)}: only tool messages carry tool_call_id")
        if not parts and not calls and role != "assistant":
            raise LLMInputError(f"{_where(i)}: content is missing or empty")
        name = raw.get("name")
        if name is not None:
            if not isinstance(name, str):
                raise LLMInputError(f"{_where(i)}: name must be a string")
            if not name.isascii():
                check_text(name, f"{_where(i)}.name")
        state = raw.get("provider_state") or {}
        if not isinstance(state, Mapping) or (state and role != "assistant"):
            raise LLMInputError(
                f"{_where(i)}: provider_state is a dict, and only on assistant messages "
                "(append result.to_message() to continue a conversation)"
            )
        if role == "assistant" and not parts and not calls and not state:
            # An empty assistant turn (say, an empty reply appended back) carries nothing, and
            # most APIs reject it: leave it out here, once, so every provider sees the same.
            continue
        out.append(Message(role, parts, calls, tool_call_id, name, dict(state)))
        where.append(i)
    known_ids = {c.id for m in out for c in m.tool_calls}
    for i, msg in zip(where, out, strict=True):
        if msg.role == "tool" and msg.tool_call_id not in known_ids:
            raise LLMInputError(
                f"{_where(i)}: tool_call_id {msg.tool_call_id!r} answers no earlier assistant "
                "tool call; include the assistant message with that call first"
            )
    if all(m.role in ("system", "developer") for m in out):
        raise LLMInputError(
            "messages has no user message: system and developer messages alone give the "
            "model nothing to answer; add {'role': 'user', 'content': ...}"
        )
    return tuple(out)
