"""'Did you mean ...?' for a mistyped name: one helper for chat options (and anything else
that rejects unknown names)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["did_you_mean"]


def did_you_mean(name: str, valid: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """A hint for `name`: its entry in `aliases` (a known other name for the same thing,
    with how to say it here), else the closest valid name; '' when nothing is close."""
    if aliases and name in aliases:
        return aliases[name]
    import difflib  # only on a mistake: not on every call

    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""
