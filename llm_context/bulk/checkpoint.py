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
from .stored import FORMAT, to_json

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
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from exc
        try:
            self._prepare()
        except BaseException as exc:
            self._db.close()  # a refused file is left as it was, not held open
            if isinstance(exc, sqlite3.Error):
                raise _unusable(self.path, exc) from exc
            raise

    def _prepare(self) -> None:
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

    def done(self, keys: set[str]) -> dict[str, str]:
        """The stored results (JSON, `stored.from_json` reads it) of the successful items
        among `keys`."""
        try:
            with self._lock:
                rows = self._db.execute("SELECT key, result FROM items WHERE ok = 1").fetchall()
        except sqlite3.Error as exc:  # a file of the same format name but another shape
            raise _unusable(self.path, exc) from exc
        return {key: result for key, result in rows if key in keys}

    def record(self, key: str, outcome: ChatResult | LLMError) -> None:
        """Commit one finished item (a success overwrites an earlier failure)."""
        if isinstance(outcome, ChatResult):
            row: tuple[Any, ...] = (key, 1, to_json(outcome), time.time())
        else:
            row = (key, 0, f"{type(outcome).__name__}: {outcome}", time.time())
        try:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", row)
        except sqlite3.Error as exc:
            # Going on unrecorded would pay for answers a rerun sends again: stop the run.
            raise LLMInputError(
                f"checkpoint {self.path!r} cannot be written ({exc}): is another run using "
                "it, or the disk full?"
            ) from exc

    def counts(self) -> tuple[int, int]:
        """(succeeded, failed) rows in the file."""
        with self._lock:
            rows = self._db.execute("SELECT ok, COUNT(*) FROM items GROUP BY ok").fetchall()
        by = dict(rows)
        return int(by.get(1, 0)), int(by.get(0, 0))

    def close(self) -> None:
        """Close the file (again is harmless)."""
        with self._lock:
            self._db.close()


def _unusable(path: str, exc: sqlite3.Error) -> LLMInputError:
    return LLMInputError(
        f"checkpoint {path!r} cannot be used as a SQLite checkpoint ({exc}): give the path of "
        "a new file, or of one an earlier run wrote"
    )
