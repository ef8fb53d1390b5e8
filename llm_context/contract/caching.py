"""Prompt-cache markers: `cache_control` on a part, a message or a tool, and where
`cache="auto"` puts them.

A marker means "cache the prompt up to and including this block". The prompt is read in the
order every provider caches it: tools, then system text, then the turns. Anthropic honours
four markers a request, OpenAI's explicit breakpoints four writes; OpenRouter forwards them to
Anthropic and Gemini models. Where a provider has no markers the plan refuses them (or strips
them with a logged warning when `fail_on_unsupported=False`): never silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..errors import LLMInputError

if TYPE_CHECKING:
    from .messages import Message
    from .tools import ToolSpec

__all__ = [
    "CACHE_MODES",
    "MAX_MARKERS",
    "CacheControl",
    "CacheMode",
    "Ttl",
    "count_markers",
    "parse_cache_control",
    "parse_cache_mode",
    "place_markers",
    "strip_markers",
]

CacheMode = Literal["off", "auto"]
CACHE_MODES: tuple[str, ...] = get_args(CacheMode)
# Anthropic's lifetimes and OpenAI's: each provider takes the nearest it has (adapters).
Ttl = Literal["5m", "30m", "1h", "12h"]
TTLS: tuple[str, ...] = get_args(Ttl)
MAX_MARKERS = 4  # Anthropic: "up to 4 cache breakpoints"; OpenAI: four written a request
_SHAPE = "{'type': 'ephemeral'} (optionally with 'ttl': '5m', '30m', '1h' or '12h')"


@dataclass(frozen=True)
class CacheControl:
    """A cache marker: the prompt up to here is cached, for at least `ttl` when given."""

    ttl: Ttl | None = None

    def anthropic(self) -> dict[str, str]:
        """Anthropic's (and OpenRouter's) `cache_control`: lifetimes of 5m or 1h."""
        out = {"type": "ephemeral"}
        if self.ttl is not None:
            out["ttl"] = "5m" if self.ttl == "5m" else "1h"  # 30m/12h: the longest it keeps
        return out

    def openai(self) -> dict[str, str]:
        """OpenAI's `prompt_cache_breakpoint`: lifetimes of 30m or 12h."""
        out = {"mode": "explicit"}
        if self.ttl is not None:
            out["ttl"] = "12h" if self.ttl in ("1h", "12h") else "30m"
        return out


AUTO = CacheControl()


def parse_cache_control(raw: Any, where: str) -> CacheControl | None:
    """A caller's `cache_control` dict -> `CacheControl` (None when absent)."""
    if raw is None:
        return None
    if isinstance(raw, CacheControl):
        return raw
    if not isinstance(raw, Mapping):
        raise LLMInputError(f"{where}.cache_control must be {_SHAPE}")
    unknown = sorted(str(k) for k in raw if k not in ("type", "ttl"))
    if unknown:
        raise LLMInputError(
            f"{where}.cache_control: unknown key(s) {', '.join(map(repr, unknown))}; it is {_SHAPE}"
        )
    if raw.get("type", "ephemeral") != "ephemeral":
        raise LLMInputError(
            f"{where}.cache_control.type must be 'ephemeral', got {raw.get('type')!r}"
        )
    ttl = raw.get("ttl")
    if ttl is not None and ttl not in TTLS:
        raise LLMInputError(
            f"{where}.cache_control.ttl must be one of {', '.join(TTLS)}, got {ttl!r}"
        )
    return CacheControl(ttl)


def parse_cache_mode(value: Any, where: str = "cache") -> CacheMode:
    if value not in CACHE_MODES:
        raise LLMInputError(f"{where} must be 'off' or 'auto', got {value!r}")
    mode: CacheMode = value
    return mode


def count_markers(messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]) -> int:
    """How many cache markers a request carries."""
    marked = sum(1 for tool in tools if tool.cache is not None)
    return marked + sum(1 for m in messages for p in m.parts if p.cache is not None)


def strip_markers(
    messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]
) -> tuple[tuple[Message, ...], tuple[ToolSpec, ...]]:
    """The request without its cache markers (for a provider that has none)."""
    tools = tuple(replace(t, cache=None) if t.cache is not None else t for t in tools)
    return tuple(_unmarked(m) for m in messages), tools


def _unmarked(message: Message) -> Message:
    if all(p.cache is None for p in message.parts):
        return message
    parts = tuple(replace(p, cache=None) if p.cache is not None else p for p in message.parts)
    return replace(message, parts=parts)


def _mark_last(message: Message) -> Message:
    *head, last = message.parts
    return replace(message, parts=(*head, replace(last, cache=AUTO)))


def _auto_places(messages: tuple[Message, ...]) -> list[int]:
    """Messages worth a marker on their last part, most worth first: the end of the system
    text (a long instruction shared by many calls), the end of the last turn (the next call
    reads it), and the message before the last reply (where the previous call ended: the
    cache it wrote is read now)."""
    places: list[int] = []
    system = [i for i, m in enumerate(messages) if m.role in ("system", "developer") and m.parts]
    if system:
        places.append(system[-1])
    if messages and messages[-1].parts:
        places.append(len(messages) - 1)
    replies = [i for i, m in enumerate(messages) if m.role == "assistant"]
    if replies and replies[-1] > 0 and messages[replies[-1] - 1].parts:
        places.append(replies[-1] - 1)
    return list(dict.fromkeys(places))


def place_markers(
    messages: tuple[Message, ...], tools: tuple[ToolSpec, ...], *, on_tools: bool = True
) -> tuple[tuple[Message, ...], tuple[ToolSpec, ...]]:
    """`cache="auto"`: markers where they pay off, within `MAX_MARKERS` counting the caller's
    own; the end of the tools gets one when any are left and `on_tools` (tools come first in
    the prefix, so a system-text marker caches them too)."""
    budget = MAX_MARKERS - count_markers(messages, tools)
    out = list(messages)
    for index in _auto_places(messages):
        if budget <= 0:
            break
        if out[index].parts[-1].cache is None:
            out[index] = _mark_last(out[index])
            budget -= 1
    if on_tools and budget > 0 and tools and tools[-1].cache is None:
        tools = (*tools[:-1], replace(tools[-1], cache=AUTO))
    return tuple(out), tools
