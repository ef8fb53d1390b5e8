"""The fake server's prompt cache: a second request with the same cached prefix reads it.

Real providers cache a prompt's prefix up to a marker (Anthropic's `cache_control`, which
OpenRouter forwards) or, at OpenAI, every prompt, routed by `prompt_cache_key`. This fake
does the same for replies nobody scripted, and only for requests that ask for caching (a
marker, or a `prompt_cache_key`), so other tests' default usage stays as it was. Unlike the
real ones it has no minimum prompt length (Anthropic and OpenAI cache from ~1024 tokens)
and no expiry: `FakeProviderServer.clear()` forgets everything.

Counts are `rough_tokens` (words) of the canonical JSON of what is counted: the whole
prompt is the input; each marker ends a cache entry, the longest entry seen before is read
and what the rest adds is written. Gemini's
implicit cache has no request marker: it is never simulated (script `cached_input_tokens`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from .defaults import rough_tokens
from .script import UsageReply

__all__ = ["PromptCache", "Split", "anthropic_prefix", "chat_prefix", "responses_prefix"]

_MARKERS = ("cache_control", "prompt_cache_breakpoint")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def _blocks(value: Any) -> Iterator[Any]:
    """A list of blocks, a string as one block, anything else as nothing."""
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def _marked_prefixes(blocks: list[Any]) -> list[list[Any]]:
    """The blocks up to and including each block that carries a marker, shortest first."""
    marked = [i for i, b in enumerate(blocks) if isinstance(b, dict) and set(_MARKERS) & b.keys()]
    return [blocks[: i + 1] for i in marked]


Split = tuple[list[Any], list[list[Any]]]
"""A prompt as (the whole of it, the prefixes a cache entry may end at, shortest first)."""


def _message_prefix(body: dict[str, Any], *top: str) -> Split | None:
    """Tools, the `top` fields (Anthropic's `system`), then each message's blocks, in order,
    with a cache entry at each marker."""
    blocks: list[Any] = list(_blocks(body.get("tools")))
    for name in top:
        blocks += list(_blocks(body.get(name)))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            blocks += list(_blocks(message.get("content")))
    prefixes = _marked_prefixes(blocks)
    return (blocks, prefixes) if prefixes else None


def anthropic_prefix(body: dict[str, Any]) -> Split | None:
    """Anthropic's order: tools, system, each turn's blocks."""
    return _message_prefix(body, "system")


def chat_prefix(body: dict[str, Any]) -> Split | None:
    """Chat Completions (OpenRouter): tools, then each message's parts."""
    return _message_prefix(body)


def responses_prefix(body: dict[str, Any]) -> Split | None:
    """OpenAI Responses: with a `prompt_cache_key`, all but the last input item is the prefix
    (the next call repeats it); explicit breakpoints end it where they are."""
    items = list(_blocks(body.get("input")))
    head = [body.get("prompt_cache_key"), body.get("instructions"), body.get("tools")]
    parts: list[Any] = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        parts += list(_blocks(content)) if isinstance(content, list) else [item]
    marked = _marked_prefixes(parts)
    if marked:
        return head + parts, [head + prefix for prefix in marked]
    if body.get("prompt_cache_key") is None:
        return None
    return head + items, [head + items[:-1]]


class PromptCache:
    """Prefixes seen so far, by hash; thread-safe (the server answers on many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def usage(self, split: Split | None, *, reports_writes: bool = True) -> UsageReply | None:
        """Usage for a prompt (see `Split`); None when it asks for no caching. The longest
        prefix seen before is read; what the longest of them adds beyond it is written."""
        if split is None:
            return None
        whole, prefixes = split
        texts = [_canonical(prefix) for prefix in prefixes]
        keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
        counts = [rough_tokens(text) for text in texts]
        total = max(rough_tokens(_canonical(whole)), *counts)
        with self._lock:
            read = max(
                (n for n, key in zip(counts, keys, strict=True) if key in self._seen), default=0
            )
            self._seen.update(keys)
        written = max(counts) - read if reports_writes else None
        return UsageReply(input_tokens=total, cached_input_tokens=read, cache_write_tokens=written)
