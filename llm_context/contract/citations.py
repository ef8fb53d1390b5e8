"""Citations: where a reply's text came from, one shape for every provider.

`start` and `end` are character offsets into `ChatResult.text` (a Python `str` slice), where
the provider ties a source to a span of the answer; None where it does not. Providers count
differently (OpenAI per output part, Gemini in UTF-8 bytes per part, Anthropic by text
block): the adapters convert with the helpers here, and a span that does not fit is dropped
rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Citation", "char_offset", "checked_span"]


@dataclass(frozen=True)
class Citation:
    """One source of the answer: a web page (`url`, `title`) or a passage of a document the
    caller sent (`cited_text`, with the document's location in `location`)."""

    url: str | None = None
    title: str | None = None
    cited_text: str | None = None
    start: int | None = None
    end: int | None = None
    # Where in a source document (Anthropic's page / character / block locations), as sent.
    location: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def span(self, text: str) -> str | None:
        """The cited part of `text` (the answer), when the citation has a span."""
        if self.start is None or self.end is None:
            return None
        return text[self.start : self.end]


def char_offset(text: str, byte_offset: int) -> int:
    """The character offset in `text` of a UTF-8 byte offset (Gemini counts bytes)."""
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "ignore"))


def checked_span(start: Any, end: Any, length: int) -> tuple[int | None, int | None]:
    """`(start, end)` when both are ints with 0 <= start <= end <= length, else (None, None)."""
    if type(start) is int and type(end) is int and 0 <= start <= end <= length:
        return start, end
    return None, None
