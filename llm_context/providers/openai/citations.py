"""Citations on the OpenAI wires: `url_citation` annotations, flat on a Responses
`output_text` part (indexes within the part) and nested in a Chat Completions message or
delta (OpenRouter's web search; indexes within the whole answer). A malformed annotation is
left out, never raised: the answer stands without it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ...contract.citations import Citation, checked_span
from ..shared.reply_checks import optional_str

__all__ = ["annotation_citations", "url_citation"]


def _field(obj: Any, name: str) -> Any:
    """`obj[name]` or `obj.name`: the SDK keeps fields it does not declare either way."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def url_citation(annotation: Any, base: int, end_of_part: int) -> Citation | None:
    """A Responses `url_citation` of a part that starts at `base` of the answer (None for
    other annotation kinds, or one without a URL)."""
    if _field(annotation, "type") != "url_citation":
        return None
    url = optional_str(_field(annotation, "url"))
    if url is None:
        return None
    start, end = _field(annotation, "start_index"), _field(annotation, "end_index")
    if type(start) is int and type(end) is int:
        start, end = start + base, end + base
    start, end = checked_span(start, end, end_of_part)
    return Citation(url=url, title=optional_str(_field(annotation, "title")), start=start, end=end)


def annotation_citations(holder: Any, length: int) -> Iterator[Citation]:
    """The Chat Completions `annotations` of a message or delta, for an answer of `length`."""
    for annotation in _field(holder, "annotations") or []:
        cited = _field(annotation, "url_citation")
        if _field(annotation, "type") != "url_citation" or cited is None:
            continue
        url = optional_str(_field(cited, "url"))
        if url is None:
            continue
        start, end = checked_span(_field(cited, "start_index"), _field(cited, "end_index"), length)
        yield Citation(
            url=url,
            title=optional_str(_field(cited, "title")),
            cited_text=optional_str(_field(cited, "content")) or None,
            start=start,
            end=end,
        )
