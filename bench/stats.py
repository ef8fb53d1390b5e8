"""Timing helpers: interleaved A/B sampling and medians, so drift and neighbours' load hit
both sides alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Paired", "median", "paired", "ratio"]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(ours: float, theirs: float) -> float:
    """ours ÷ theirs, rounded for the report (NaN when there is no baseline)."""
    return round(ours / theirs, 3) if theirs > 0 else float("nan")


@dataclass(frozen=True)
class Paired:
    """Per-call seconds of both sides, plus the median of per-round ratios (one round = one
    block of each side back to back: robust against load that changes during the run)."""

    ours: list[float]
    theirs: list[float]
    round_ratios: list[float]
    ours_first: list[float]
    theirs_first: list[float]

    @property
    def ratio(self) -> float:
        return round(median(self.round_ratios), 3)

    @property
    def first_ratio(self) -> float:
        """Time to the first stream delta, ours ÷ theirs (medians)."""
        return ratio(median(self.ours_first), median(self.theirs_first))

    @property
    def ours_ms(self) -> float:
        return round(median(self.ours) * 1000, 4)

    @property
    def theirs_ms(self) -> float:
        return round(median(self.theirs) * 1000, 4)


def _timed(
    fn: Callable[[], float | None], count: int, before: Callable[[int], None]
) -> tuple[list[float], list[float]]:
    """Seconds per call; and, for calls that return a `perf_counter()` mark (the moment the
    first stream delta arrived), seconds from the start to that mark."""
    before(count)
    clock = time.perf_counter
    totals: list[float] = []
    firsts: list[float] = []
    for _ in range(count):
        start = clock()
        mark = fn()
        totals.append(clock() - start)
        if mark is not None:
            firsts.append(mark - start)
    return totals, firsts


def paired(
    ours: Callable[[], float | None],
    theirs: Callable[[], float | None],
    *,
    samples: int,
    block: int,
    warmup: int,
    before: Callable[[int], None] = lambda n: None,
) -> Paired:
    """Time `samples` calls of each side in alternating blocks (ABBA order), after `warmup`
    untimed calls of each. A function returns None, or a stream's first-delta mark.
    `before(n)` runs ahead of every block of n calls (to script the server), untimed."""
    _timed(theirs, warmup, before)
    _timed(ours, warmup, before)
    out = Paired([], [], [], [], [])
    block = max(1, min(block, samples))
    for i in range(max(1, samples // block)):
        if i % 2:
            mine, mine_first = _timed(ours, block, before)
            base, base_first = _timed(theirs, block, before)
        else:
            base, base_first = _timed(theirs, block, before)
            mine, mine_first = _timed(ours, block, before)
        out.ours.extend(mine)
        out.theirs.extend(base)
        out.ours_first.extend(mine_first)
        out.theirs_first.extend(base_first)
        out.round_ratios.append(median(mine) / median(base))
    return out
