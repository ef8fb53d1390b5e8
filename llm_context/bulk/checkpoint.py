"""A bulk run's checkpoint: a SQLite file (stdlib `sqlite3`, WAL) with one row per finished
item, keyed by the item's fingerprint and committed as soon as the item lands.

A successful item is final: a rerun finds it and sends nothing. A failed one is kept for
the record and sent again on a rerun. WAL with `synchronous=NORMAL` survives the process
being killed at any moment (a power cut may lose the last commits, never corrupt).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from ..contract.results import ChatResult
from ..errors import LLMError, LLMInputError
from .stored import FORMAT, from_json, to_json

__all__ = ["Checkpoint"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    ok INTEGER NOT NULL,
    result TEXT NOT NULL,
    finished_at REAL NOT NULL
);
"""


class Checkpoint:
    """One checkpoint file, shared by a run's worker threads (writes are serialised)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            elif found[0] != FORMAT:
                raise LLMInputError(
                    f"checkpoint {self.path!r} was written as {found[0]!r}, not {FORMAT!r}: "
                    "give a new file"
                )
        except sqlite3.Error as exc:
            raise LLMInputError(
                f"checkpoint {self.path!r} cannot be used as a SQLite checkpoint ({exc}): give "
                "the path of a new file, or of one an earlier run wrote"
            ) from exc

    def done(self, keys: set[str]) -> dict[str, ChatResult]:
        """The successful items among `keys`."""
        found: dict[str, ChatResult] = {}
        with self._lock:
            rows = self._db.execute("SELECT key, result FROM items WHERE ok = 1").fetchall()
        for key, result in rows:
            if key in keys:
                found[key] = from_json(result)
        return found

    def record(self, key: str, outcome: ChatResult | LLMError) -> None:
        """Commit one finished item (a success overwrites an earlier failure)."""
        if isinstance(outcome, ChatResult):
            row: tuple[Any, ...] = (key, 1, to_json(outcome), time.time())
        else:
            row = (key, 0, f"{type(outcome).__name__}: {outcome}", time.time())
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", row)

    def counts(self) -> tuple[int, int]:
        """(succeeded, failed) rows in the file."""
        with self._lock:
            rows = self._db.execute("SELECT ok, COUNT(*) FROM items GROUP BY ok").fetchall()
        by = dict(rows)
        return int(by.get(1, 0)), int(by.get(0, 0))

    def close(self) -> None:
        with self._lock:
            self._db.close()
