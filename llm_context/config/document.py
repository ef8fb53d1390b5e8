"""Reading a profiles document safely: YAML syntax, and bounds on nesting and size.

A profiles file is a few dozen values a few levels deep. A hostile or broken one (thousands
of nested levels, or a YAML alias bomb: a few hundred bytes whose aliases expand to 10^9
values) must fail at once with an `LLMConfigError` naming the file, never exhaust the stack
or memory while it is composed, interpolated or copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import LLMConfigError

__all__ = ["MAX_DEPTH", "MAX_VALUES", "check_bounds", "read_yaml"]

MAX_DEPTH = 32
"""Levels of nesting a profiles document may have (a real one has five or six)."""

MAX_VALUES = 20_000
"""Values a document may hold with every alias expanded (a real one has a few hundred)."""


def read_yaml(path: Path) -> object:
    """The YAML document in `path`, parsed with the safe loader, at most `MAX_DEPTH` deep."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LLMConfigError(f"{path}: cannot read profiles file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise LLMConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the profiles file as UTF-8"
        ) from None
    import yaml  # ~10 ms: profiles given as a mapping never need it

    try:
        return yaml.load(text, Loader=_loader_class())  # a SafeLoader subclass: safe
    except _TooDeep:
        raise LLMConfigError(_too_deep(str(path))) from None
    except yaml.YAMLError as exc:
        # Only the position and the parser's own words: the offending line may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise LLMConfigError(f"{where}: YAML syntax error: {problem}") from None


def check_bounds(doc: object, origin: str) -> None:
    """Refuse a document deeper than `MAX_DEPTH` or larger than `MAX_VALUES` once its shared
    (aliased) parts are counted every time they appear, as interpolation would copy them."""
    budget = MAX_VALUES
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise LLMConfigError(
                f"{origin}: the document holds more than {MAX_VALUES:,} values once its "
                "aliases are expanded (a YAML alias bomb?); a profiles file needs a few "
                "hundred: write the settings out, or alias only small parts"
            )
        if depth > MAX_DEPTH:
            raise LLMConfigError(_too_deep(origin))
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)


def _too_deep(origin: str) -> str:
    return (
        f"{origin}: nested more than {MAX_DEPTH} levels deep; a profiles file needs about "
        "five: check the indentation and the brackets"
    )


class _TooDeep(Exception):
    """Raised by the loader's composer past `MAX_DEPTH`: before Python's stack runs out."""


_LOADER: Any = None


def _loader_class() -> Any:
    """A `yaml.SafeLoader` whose composer counts its depth (the composer recurses per level;
    the scanner and parser do not)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class BoundedLoader(yaml.SafeLoader):
            depth = 0

            def compose_node(self, parent: Any, index: Any) -> Any:
                self.depth += 1
                try:
                    if self.depth > MAX_DEPTH:
                        raise _TooDeep
                    return super().compose_node(parent, index)
                finally:
                    self.depth -= 1

        _LOADER = BoundedLoader
    return _LOADER
