"""A bulk run's progress on stderr: done/total, rate, ETA, tokens and cost. `tqdm` draws it
when installed (imported here only, when a bar is shown); otherwise one line is rewritten
in place. Nothing is drawn when stderr is not a terminal or `progress=False`.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

__all__ = ["Progress", "progress_for"]


class Progress(Protocol):
    def advance(self, tokens: int, cost: float | None) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def advance(self, tokens: int, cost: float | None) -> None:
        return None

    def close(self) -> None:
        return None


class _Line:
    """A one-line progress display for terminals without tqdm."""

    def __init__(self, total: int, done: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, done, stream
        self.tokens, self.cost = 0, 0.0
        self.started = time.monotonic()
        self.first = done
        self.shown = 0.0
        self._draw()

    def advance(self, tokens: int, cost: float | None) -> None:
        self.done += 1
        self.tokens += tokens
        self.cost += cost or 0.0
        now = time.monotonic()
        if now - self.shown >= 0.1 or self.done == self.total:  # at most 10 redraws a second
            self._draw()

    def _draw(self) -> None:
        self.shown = time.monotonic()
        elapsed = max(self.shown - self.started, 1e-9)
        rate = (self.done - self.first) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f"{left:.0f}s" if left is not None else "?"
        self.stream.write(
            f"\r{self.done}/{self.total}  {rate:.1f}/s  eta {eta}  "
            f"{self.tokens:,} tokens  ${self.cost:.4f}"
        )
        self.stream.flush()

    def close(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()


class _Tqdm:
    def __init__(self, total: int, done: int, stream: TextIO) -> None:
        import importlib

        tqdm = importlib.import_module("tqdm").tqdm  # an optional extra: untyped, maybe absent
        self.bar: Any = tqdm(total=total, initial=done, file=stream, unit="item", smoothing=0.1)
        self.tokens, self.cost = 0, 0.0

    def advance(self, tokens: int, cost: float | None) -> None:
        self.tokens += tokens
        self.cost += cost or 0.0
        self.bar.set_postfix_str(f"{self.tokens:,} tokens ${self.cost:.4f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def progress_for(show: bool, total: int, done: int, stream: TextIO | None = None) -> Progress:
    """The display for a run of `total` items, `done` of them already finished."""
    out = sys.stderr if stream is None else stream
    if not show or not out.isatty():
        return _Silent()
    try:
        return _Tqdm(total, done, out)
    except ImportError:
        return _Line(total, done, out)
