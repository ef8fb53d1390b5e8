"""A bulk run of 10,000 items, with a steady 2% of transient faults, killed with SIGKILL
twice and resumed from its SQLite checkpoint: no item is lost, and no item whose success
was committed before a kill is ever sent again."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from llm_context import ChatResult, LLMContext
from llm_context.testing import FakeProviderServer, Fault, RecordedRequest

from .batch_workers import run_map
from .conftest import FAST_RETRY

ITEMS = 10_000
ROW = re.compile(r"Row (\d+)")
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def committed(path: Path) -> set[int]:
    """The items whose success the checkpoint holds now (read while a run writes it)."""
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT result FROM items WHERE ok = 1").fetchall()
    except sqlite3.OperationalError as exc:  # the run has made the file, not yet its table
        if "no such table" in str(exc):
            return set()
        raise
    found = set()
    for (result,) in rows:
        match = ROW.search(json.loads(result)["text"])
        assert match is not None
        found.add(int(match.group(1)))
    return found


def rows_asked(requests: list[RecordedRequest]) -> set[int]:
    """The items these requests asked for. A request cut by the kill before its body
    arrived asked for nothing (the server read its headers only)."""
    asked = set()
    for request in requests:
        if request.json is None:
            assert request.body == b""
            continue
        match = ROW.search(str(request.json))
        assert match is not None
        asked.add(int(match.group(1)))
    return asked


def test_killed_twice_then_resumed_loses_nothing_and_repays_nothing(
    fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    fake.fail_every(50, Fault(500))  # 2% of requests fail once; the retry policy resends them
    profiles = fake.profiles(openai={"retry": {**FAST_RETRY, "max_attempts": 4}})
    spawn = multiprocessing.get_context("spawn")
    kills: list[tuple[set[int], int]] = []  # (committed at the kill, requests seen by then)
    for number in (1, 2):
        worker = spawn.Process(target=run_map, args=(profiles, str(path), ITEMS, 16))
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while len(committed(path)) < number * 3000 and time.monotonic() < deadline:
                assert worker.is_alive(), "the run ended before it could be killed"
                time.sleep(0.05)
        finally:  # however the wait ends, no worker outlives it to call the shared server
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGKILL)
            worker.join(10)
        assert worker.exitcode == -signal.SIGKILL
        time.sleep(0.2)  # requests the dead worker had in flight finish arriving
        kills.append((committed(path), len(fake.requests_for("chat"))))
    assert len(kills[0][0]) >= 3000 and len(kills[1][0]) >= 6000
    with LLMContext(profiles) as ctx:
        run = ctx.llm("openai").map_sync(
            range(ITEMS),
            lambda i: [{"role": "user", "content": f"Row {i}"}],
            checkpoint=path,
            concurrency=16,
            progress=False,
        )
    # Nothing lost: every item has its own answer.
    assert run.done == ITEMS and not run.errors
    for i, result in enumerate(run.results):
        assert isinstance(result, ChatResult) and result.text.endswith(f"You said: Row {i}")
    assert run.skipped == len(kills[1][0])
    # Nothing paid twice: after each kill, no request for an item committed by then.
    requests = fake.requests_for("chat")
    for done, seen in kills:
        again = rows_asked(requests[seen:]) & done
        assert again == set()
    assert len(committed(path)) == ITEMS
