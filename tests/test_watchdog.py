"""The shared watchdog thread behind `streams.stop.after`: each deadline's hook runs once,
unless cancelled first, whatever order deadlines are armed and cancelled in."""

from __future__ import annotations

import threading

from llm_context.streams.stop import after

WAIT_S = 10.0  # a bound on a hook that should run, never a measure of speed


def test_a_later_deadline_after_a_cancelled_one_still_fires() -> None:
    # The thread sleeps until the cancelled deadline, then must find the later one.
    fired = threading.Event()
    cancel = after(0.05, lambda: None)
    cancel()
    after(0.1, fired.set)
    assert fired.wait(WAIT_S)


def test_a_sooner_deadline_wakes_a_thread_waiting_on_a_far_one() -> None:
    fired = threading.Event()
    cancel_far = after(3600.0, lambda: None)
    try:
        after(0.05, fired.set)
        assert fired.wait(WAIT_S)
    finally:
        cancel_far()


def test_back_to_back_deadlines_each_fire_once_and_cancelled_ones_never() -> None:
    runs: list[int] = []
    done = threading.Event()
    cancelled = [after(0.02 + i * 0.001, lambda i=i: runs.append(-i)) for i in range(5)]
    for cancel in cancelled:
        cancel()
    for i in range(5):
        after(0.02 + i * 0.01, lambda i=i: runs.append(i))
    after(0.1, done.set)
    assert done.wait(WAIT_S)
    assert sorted(runs) == [0, 1, 2, 3, 4]
