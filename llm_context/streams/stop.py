"""How an async stream stops its worker thread at once, even while it is blocked on a read.

The stream opens a `StreamStop` scope (a context variable, so it reaches the pool threads
that open and read the provider stream); the code holding the connection registers how to
break its read (`on_stream_stop`), and `StreamStop.stop()` runs that from the event loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import time
from collections.abc import Callable

__all__ = ["StreamStop", "after", "on_stream_stop", "stop_requested"]

_CURRENT: contextvars.ContextVar[StreamStop | None] = contextvars.ContextVar(
    "llm_context_stream_stop", default=None
)


class StreamStop:
    """One async stream's stop: a flag, and the hooks that break its blocked reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.stopped = False

    def add(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register `hook` (run now if already stopped); returns its removal, which waits for a
        running `stop()`, so no hook runs once the connection has been handed back."""
        with self._lock:
            if self.stopped:
                _run(hook)
                return _nothing
            key = self._next
            self._next += 1
            self._hooks[key] = hook

        def remove() -> None:
            with self._lock:
                self._hooks.pop(key, None)

        return remove

    def stop(self) -> bool:
        """Set the flag and break every registered read; safe from any thread, repeatable.
        True when a read was broken (the worker then ends at once)."""
        with self._lock:
            self.stopped = True
            hooks, self._hooks = list(self._hooks.values()), {}
            for hook in hooks:
                _run(hook)
        return bool(hooks)

    def enter(self) -> contextvars.Token[StreamStop | None]:
        """Make this the current scope (undo with `exit`)."""
        return _CURRENT.set(self)

    @staticmethod
    def exit(token: contextvars.Token[StreamStop | None]) -> None:
        _CURRENT.reset(token)


def on_stream_stop(hook: Callable[[], None]) -> Callable[[], None]:
    """Register `hook` with the current stream's stop, if any; returns its removal."""
    scope = _CURRENT.get()
    return _nothing if scope is None else scope.add(hook)


def stop_requested() -> bool:
    """True inside a stream whose caller has stopped it (its errors are not failures)."""
    scope = _CURRENT.get()
    return scope is not None and scope.stopped


def after(seconds: float, hook: Callable[[], None]) -> Callable[[], None]:
    """Run `hook` in a shared watchdog thread after `seconds`, unless the returned cancel is
    called first; once cancel returns, the hook has run or never will."""
    return _WATCHDOG.arm(seconds, hook)


class _Watchdog:
    """One daemon thread for every deadline (a `threading.Timer` costs a thread per use)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, Callable[[], None]]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread wakes next on its own

    def arm(self, seconds: float, hook: Callable[[], None]) -> Callable[[], None]:
        with self._cond:
            key = self._next
            self._next += 1
            deadline = time.monotonic() + seconds
            self._due[key] = (deadline, hook)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="llm_context_watchdog", daemon=True
                )
                self._thread.start()
            if deadline < self._wake_at:
                # Woken only for a sooner deadline: back-to-back streams each arm one, and a
                # wake-up per stream would cost a thread switch (and the GIL) every time.
                self._cond.notify()

        def cancel() -> None:
            with self._cond:
                self._due.pop(key, None)

        return cancel

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for key, (deadline, hook) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[key]
                        _run(hook)  # under the lock: a cancel returning means "not after this"
                soonest = min((deadline for deadline, _ in self._due.values()), default=math.inf)
                self._wake_at = soonest
                self._cond.wait(None if soonest == math.inf else soonest - now)


_WATCHDOG = _Watchdog()


def _run(hook: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # breaking a read is best effort
        hook()


def _nothing() -> None:
    return None
