"""Connections opened per call: a deterministic figure next to the noisy timings. A client
that reuses its keep-alive connection opens ~0 per call; one that drops it opens 1."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

__all__ = ["connects_per_call"]


def connects_per_call(call: Callable[[], object], calls: int) -> float:
    """Mean TCP connects per call over `calls` calls (after one untimed call to warm up)."""
    call()
    original = socket.socket.connect
    count = 0

    def counting(self: socket.socket, address: Any) -> None:
        nonlocal count
        count += 1
        original(self, address)

    socket.socket.connect = counting  # type: ignore[method-assign,assignment]
    try:
        for _ in range(calls):
            call()
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
    return round(count / calls, 2)
