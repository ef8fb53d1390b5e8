"""Result types: ChatResult (a real `(text, usage)` 2-tuple), embeddings, images."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tools import ToolCall

if TYPE_CHECKING:
    from .citations import Citation

Usage = dict[str, int]
"""Normalised token counts: input_tokens, output_tokens, total_tokens, and when reported
reasoning_tokens, cached_input_tokens (prompt tokens read from the provider's cache) and
cache_write_tokens (prompt tokens written to it); both cache counts are part of input_tokens."""

USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
)


def make_usage(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
    *,
    reasoning_tokens: int | None = None,
    cached_input_tokens: int | None = None,
    cache_write_tokens: int | None = None,
) -> Usage:
    """A normalised usage dict; the three main keys are always present, the others when known."""
    inp = int(input_tokens or 0)
    out = int(output_tokens or 0)
    usage: Usage = {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": int(total_tokens) if total_tokens is not None else inp + out,
    }
    if reasoning_tokens is not None:
        usage["reasoning_tokens"] = int(reasoning_tokens)
    if cached_input_tokens is not None:
        usage["cached_input_tokens"] = int(cached_input_tokens)
    if cache_write_tokens is not None:
        usage["cache_write_tokens"] = int(cache_write_tokens)
    return usage


def add_usage(a: Mapping[str, int], b: Mapping[str, int]) -> Usage:
    """Key-wise sum of two usage dicts (repair attempts, fallbacks)."""
    if not a:  # the first (usually only) turn
        return dict(b)
    out: Usage = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


class ChatResult(tuple[str, Usage]):
    """The reply to a chat call: unpacks as `text, usage`, and carries the details.

    Attributes: `text`, `usage`, `tool_calls`, `finish_reason`, `model`, `parsed` (the
    decoded JSON for JSON output formats), `reasoning` (thinking text, when exposed),
    `citations` (the sources of the answer, with spans into `text` where the provider gives
    them), `profile` (the profile that answered), `raw` (the provider's reply object) and
    `provider_state` (opaque data the provider needs back on the next turn, such as signed
    thinking blocks: `to_message()` carries it, so append that to continue a conversation).
    """

    text: str
    usage: Usage
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    model: str | None
    parsed: Any
    reasoning: str | None
    citations: tuple[Citation, ...]
    profile: str | None
    raw: Any
    provider_state: Mapping[str, Any] | None

    def __new__(
        cls,
        text: str,
        usage: Usage,
        *,
        tool_calls: tuple[ToolCall, ...] = (),
        finish_reason: str | None = None,
        model: str | None = None,
        parsed: Any = None,
        reasoning: str | None = None,
        citations: tuple[Citation, ...] = (),
        profile: str | None = None,
        raw: Any = None,
        provider_state: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        self = super().__new__(cls, (text, usage))
        # One dict update, not eleven object.__setattr__ calls: a call builds 2-3 of these.
        self.__dict__.update(
            text=text,
            usage=usage,
            tool_calls=tuple(tool_calls),
            finish_reason=finish_reason,
            model=model,
            parsed=parsed,
            reasoning=reasoning,
            citations=tuple(citations),
            profile=profile,
            raw=raw,
            provider_state=provider_state or None,
        )
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ChatResult is immutable; use .replace(...)")

    def replace(self, **changes: Any) -> ChatResult:
        """A copy with some fields changed."""
        fields: dict[str, Any] = {
            "tool_calls": self.tool_calls,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "parsed": self.parsed,
            "reasoning": self.reasoning,
            "citations": self.citations,
            "profile": self.profile,
            "raw": self.raw,
            "provider_state": self.provider_state,
        }
        fields.update(changes)
        text = fields.pop("text", self.text)
        usage = fields.pop("usage", self.usage)
        return ChatResult(text, usage, **fields)

    def to_message(self) -> dict[str, Any]:
        """This reply as the assistant message to append for the next turn (tool calls and
        provider state included)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message_dict() for call in self.tool_calls]
        if self.provider_state:
            message["provider_state"] = dict(self.provider_state)
        return message

    def __getnewargs_ex__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs = {k: getattr(self, k) for k in ("tool_calls", "finish_reason", "model", "parsed")}
        return (self.text, self.usage), kwargs

    def __repr__(self) -> str:
        calls = f", tool_calls={list(self.tool_calls)!r}" if self.tool_calls else ""
        return (
            f"ChatResult(text={self.text!r}, usage={self.usage!r}{calls}, "
            f"finish_reason={self.finish_reason!r}, model={self.model!r})"
        )


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors in input order, plus usage. Iterable and indexable like the list of vectors."""

    vectors: list[list[float]]
    usage: Usage
    model: str | None = None

    def __len__(self) -> int:
        return len(self.vectors)

    def __iter__(self) -> Iterator[list[float]]:
        return iter(self.vectors)

    def __getitem__(self, index: int) -> list[float]:
        return self.vectors[index]


@dataclass(frozen=True)
class GeneratedImage:
    """One generated image: base64 data, or a URL where the provider returned one."""

    b64_json: str | None = None
    url: str | None = None
    media_type: str = "image/png"
    revised_prompt: str | None = None

    def to_bytes(self) -> bytes:
        """The image bytes (decoded from base64). URL-only images raise: fetch them yourself."""
        if self.b64_json is None:
            raise ValueError(
                "this image was returned as a URL, not data; download it from .url "
                "or ask for base64 output"
            )
        return base64.b64decode(self.b64_json)

    def save(self, path: str | Path) -> Path:
        """Write the image bytes to `path` and return it."""
        target = Path(path)
        target.write_bytes(self.to_bytes())
        return target


@dataclass(frozen=True)
class ImageGenerationResult:
    """The images from one `generate_image` call."""

    images: list[GeneratedImage]
    usage: Usage = field(default_factory=dict)
    model: str | None = None
    raw: Any = None

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[GeneratedImage]:
        return iter(self.images)

    def __getitem__(self, index: int) -> GeneratedImage:
        return self.images[index]

    @property
    def first(self) -> GeneratedImage:
        """The first image (most calls ask for one)."""
        if not self.images:
            raise IndexError("the provider returned no images")
        return self.images[0]


@dataclass(frozen=True)
class TokenCount:
    """The input tokens a chat call would send: `exact` when the provider counted them,
    False for our local estimate (about 4 characters a token)."""

    input_tokens: int
    exact: bool


@dataclass(frozen=True)
class ModelInfo:
    """One model a provider lists, with what it reports about it (None where it does not):
    `created` is a Unix timestamp in seconds."""

    id: str
    provider: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    created: int | None = None
