"""Text that cannot go on the wire: a lone surrogate ('\\ud800', say from bytes decoded with
errors='surrogateescape') has no UTF-8 encoding, so every SDK would fail mid-send (or send
garbage). Checked while the input is normalised, so the error names the place and nothing
is sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import LLMInputError

__all__ = ["check_text", "check_tree"]


def _unencodable(where: str, exc: UnicodeEncodeError) -> LLMInputError:
    char = exc.object[exc.start : exc.start + 1]
    return LLMInputError(
        f"{where}: the text holds {char!r} at position {exc.start}, a lone surrogate that "
        "cannot be encoded as UTF-8 (often from decoding bytes with "
        "errors='surrogateescape'); remove it, or decode the source with errors='replace'"
    )


def check_text(text: str, where: str) -> None:
    """`LLMInputError` naming `where` when `text` has no UTF-8 encoding."""
    # isascii() is O(1) in CPython (a flag on the string): most text costs nothing more.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _unencodable(where, exc) from None


def check_tree(value: Any, where: str) -> None:
    """`check_text` on every string (keys too) in a JSON-like value; the error names the
    path inside it (`where.properties.city.description`)."""
    found = _first_bad(value)
    if found is not None:
        path, exc = found
        raise _unencodable(where + "".join(reversed(path)), exc)


def _first_bad(value: Any) -> tuple[list[str], UnicodeEncodeError] | None:
    """The first unencodable string's path (innermost step first) and its error."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return [], exc
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _first_bad(key) if isinstance(key, str) else None
            if found is not None:
                return [" (a key)"], found[1]
            found = _first_bad(item)
            if found is not None:
                found[0].append(f".{key}")
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_bad(item)
            if found is not None:
                found[0].append(f"[{index}]")
                return found
    return None
