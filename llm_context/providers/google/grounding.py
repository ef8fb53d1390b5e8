"""Gemini's grounding metadata (Google Search) -> citations.

A grounding support ties a segment of the answer to one or more grounding chunks (web pages).
Segment indexes are UTF-8 byte offsets within one part of the reply (`part_index`); they are
turned into character offsets in the joined answer, checked against the segment's own text
(and found by that text when they do not match), and dropped when neither works. In a stream
the metadata comes on the last chunks and indexes the whole answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ...contract.citations import Citation, char_offset
from ..shared.reply_checks import optional_str

__all__ = ["TextPart", "grounding_citations"]

TextPart = tuple[str, int]  # a part's text, and where it starts in the joined answer


def _span(segment: Any, answer: str, parts: Sequence[TextPart]) -> tuple[int, int] | None:
    start, end = getattr(segment, "start_index", None) or 0, getattr(segment, "end_index", None)
    index = getattr(segment, "part_index", None) or 0
    text = optional_str(getattr(segment, "text", None))
    if type(start) is int and type(end) is int and 0 <= start <= end:
        part, base = parts[index] if 0 <= index < len(parts) else (answer, 0)
        first, last = base + char_offset(part, start), base + char_offset(part, end)
        if text is None or answer[first:last] == text:
            return first, last
    if text:  # the indexes do not fit: the segment's own text says where it is
        found = answer.find(text)
        if found >= 0:
            return found, found + len(text)
    return None


def grounding_citations(
    metadata: Any, answer: str, parts: Sequence[TextPart]
) -> Iterator[Citation]:
    """One citation per (support, chunk) pair of `metadata`, spans into `answer`."""
    if metadata is None:
        return
    chunks = getattr(metadata, "grounding_chunks", None) or []
    for support in getattr(metadata, "grounding_supports", None) or []:
        span = _span(getattr(support, "segment", None), answer, parts)
        for i in getattr(support, "grounding_chunk_indices", None) or []:
            web = (
                getattr(chunks[i], "web", None) if type(i) is int and 0 <= i < len(chunks) else None
            )
            url = optional_str(getattr(web, "uri", None))
            if url is None:
                continue
            title = optional_str(getattr(web, "title", None))
            start, end = span if span is not None else (None, None)
            yield Citation(url=url, title=title, start=start, end=end)
