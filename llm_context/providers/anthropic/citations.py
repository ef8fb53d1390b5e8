"""Anthropic citations and server-tool blocks, the reply side.

A cited answer comes as several text blocks, each with the citations that support it
(web search results, or passages of a document sent with citations on): the span of a
citation is its block's span in the joined answer. Document locations (characters, pages,
content blocks) point into the source document, not the answer: they stay in `location`.
A web search leaves `server_tool_use` and `web_search_tool_result` blocks, which the API
wants back unchanged with the assistant turn: they travel in provider_state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...contract.citations import Citation
from ..shared.reply_checks import field_of, optional_str

__all__ = ["SERVER_BLOCKS", "citation", "server_block", "server_input"]

# Blocks the provider's own tools leave in a reply (not tool calls: nothing to run).
SERVER_BLOCKS = ("server_tool_use", "web_search_tool_result")
# A document citation's location fields, per citation type.
_LOCATIONS = {
    "char_location": ("document_index", "start_char_index", "end_char_index"),
    "page_location": ("document_index", "start_page_number", "end_page_number"),
    "content_block_location": ("document_index", "start_block_index", "end_block_index"),
    "search_result_location": ("search_result_index", "start_block_index", "end_block_index"),
}


def citation(raw: Any, start: int, end: int) -> Citation | None:
    """One of a text block's citations, spanning `start:end` of the answer (None: a kind we
    do not know, left out rather than guessed)."""
    kind = field_of(raw, "type")
    cited = optional_str(field_of(raw, "cited_text"))
    if kind == "web_search_result_location":
        url = optional_str(field_of(raw, "url"))
        title = optional_str(field_of(raw, "title"))
        return Citation(url=url, title=title, cited_text=cited, start=start, end=end)
    fields = _LOCATIONS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return None
    location = {"type": kind} | {
        name: value for name in fields if type(value := field_of(raw, name)) is int
    }
    title = optional_str(field_of(raw, "document_title") or field_of(raw, "title"))
    url = optional_str(field_of(raw, "source")) if kind == "search_result_location" else None
    return Citation(url, title, cited, start, end, location)


def server_block(block: Any) -> dict[str, Any]:
    """A server-tool block as the plain dict the API takes back (its own fields, as sent)."""
    dump = getattr(block, "model_dump", None)
    raw = dump(mode="json", exclude_none=True) if callable(dump) else dict(block)
    return {k: v for k, v in raw.items() if k != "caller" or v is not None}


def server_input(pieces: Sequence[str]) -> dict[str, Any] | None:
    """A streamed server tool's input (its `input_json_delta`s joined), or None when it is no
    JSON object (the block then goes back with the input its start carried)."""
    try:
        value = json.loads("".join(pieces))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
