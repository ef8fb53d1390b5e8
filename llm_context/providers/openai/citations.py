"""Citations on the OpenAI wires: `url_citation` annotations, flat on a Responses
`output_text` part (indexes within the part) and nested in a Chat Completions message or
delta (OpenRouter's web search; indexes within the whole answer). A malformed annotation is
left out, never raised: the answer stands without it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...contract.citations import Citation, checked_span
from ..shared.reply_checks import field_of, optional_str

__all__ = ["annotation_citations", "url_citation"]


def url_citation(annotation: Any, base: int, end_of_part: int) -> Citation | None:
    """A Responses `url_citation` of a part that starts at `base` of the answer (None for
    other annotation kinds, or one without a URL)."""
    if field_of(annotation, "type") != "url_citation":
        return None
    url = optional_str(field_of(annotation, "url"))
    if url is None:
        return None
    start, end = field_of(annotation, "start_index"), field_of(annotation, "end_index")
    if type(start) is int and type(end) is int:
        start, end = start + base, end + base
    start, end = checked_span(start, end, end_of_part)
    return Citation(
        url=url, title=optional_str(field_of(annotation, "title")), start=start, end=end
    )


def annotation_citations(holder: Any, length: int) -> Iterator[Citation]:
    """The Chat Completions `annotations` of a message or delta, for an answer of `length`."""
    for annotation in field_of(holder, "annotations") or []:
        cited = field_of(annotation, "url_citation")
        if field_of(annotation, "type") != "url_citation" or cited is None:
            continue
        url = optional_str(field_of(cited, "url"))
        if url is None:
            continue
        start, end = checked_span(
            field_of(cited, "start_index"), field_of(cited, "end_index"), length
        )
        yield Citation(
            url=url,
            title=optional_str(field_of(cited, "title")),
            cited_text=optional_str(field_of(cited, "content")) or None,
            start=start,
            end=end,
        )
