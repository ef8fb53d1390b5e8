"""The command line's log of exchanges: a SQLite file in the user's data directory
(`$LLM_CONTEXT_DATA_DIR`, else `$XDG_DATA_HOME/llm_context`, `~/.local/share/llm_context`;
`~/Library/Application Support/llm_context` on macOS, `%APPDATA%\\llm_context` on Windows).

Each exchange is a row: its conversation, profile, provider, model, the prompt, the system
text, the reply, usage and time. Attachments are kept by name, size and SHA-256, never
their bytes; nothing of a profile but its name, so never a key. `llm-context logs off`
leaves a marker file; while it is there nothing is written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Exchange", "Logbook", "data_dir"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL,
    at REAL NOT NULL,
    profile TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    system TEXT,
    prompt TEXT NOT NULL,
    attachments TEXT NOT NULL,
    reply TEXT NOT NULL,
    usage TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS by_conversation ON exchanges (conversation, id);
"""


def data_dir() -> Path:
    """Where the log (and the `logs off` marker) live."""
    given = os.environ.get("LLM_CONTEXT_DATA_DIR")
    if given:
        return Path(given)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "llm_context"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA") or home) / "llm_context"
    base = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(base) / "llm_context"


@dataclass(frozen=True)
class Exchange:
    """One logged prompt and its reply."""

    id: int
    conversation: str
    at: float
    profile: str
    provider: str
    model: str | None
    system: str | None
    prompt: str
    attachments: list[dict[str, Any]]
    reply: str
    usage: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__}


class Logbook:
    """The log file, opened on first use."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or data_dir()
        self.path = self.directory / "logs.db"
        self._db: sqlite3.Connection | None = None

    @property
    def off_marker(self) -> Path:
        return self.directory / "logs-off"

    @property
    def enabled(self) -> bool:
        return not self.off_marker.exists()

    def switch(self, on: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if on:
            self.off_marker.unlink(missing_ok=True)
        else:
            self.off_marker.write_text("llm-context logs off\n", encoding="utf-8")

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.executescript(_SCHEMA)
        return self._db

    def record(
        self,
        conversation: str | None,
        *,
        profile: str,
        provider: str,
        model: str | None,
        system: str | None,
        prompt: str,
        attachments: Sequence[Mapping[str, Any]],
        reply: str,
        usage: Mapping[str, int],
    ) -> str:
        """Add an exchange (to a new conversation when `conversation` is None); its id."""
        conversation = conversation or uuid.uuid4().hex[:12]
        files, used = json.dumps(list(attachments)), json.dumps(dict(usage))
        row: tuple[Any, ...] = (conversation, time.time(), profile, provider, model, system)
        row += (prompt, files, reply, used)
        db = self._open()
        with db:
            db.execute(
                "INSERT INTO exchanges (conversation, at, profile, provider, model, system, "
                "prompt, attachments, reply, usage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return conversation

    def last_conversation(self) -> str | None:
        if not self.path.exists():
            return None
        found = (
            self._open()
            .execute("SELECT conversation FROM exchanges ORDER BY id DESC LIMIT 1")
            .fetchone()
        )
        return None if found is None else str(found[0])

    def conversation(self, conversation: str) -> list[Exchange]:
        """A conversation's exchanges, oldest first."""
        if not self.path.exists():
            return []
        rows = self._open().execute(
            "SELECT * FROM exchanges WHERE conversation = ? ORDER BY id", (conversation,)
        )
        return [_exchange(row) for row in rows]

    def latest(self, count: int, query: str | None = None) -> list[Exchange]:
        """The newest `count` exchanges (those whose prompt or reply holds `query`), oldest
        first."""
        if not self.path.exists():
            return []
        sql, args = "SELECT * FROM exchanges", []
        if query:
            sql += " WHERE instr(lower(prompt), lower(?)) OR instr(lower(reply), lower(?))"
            args = [query, query]
        rows = self._open().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, count))
        return [_exchange(row) for row in reversed(list(rows))]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _exchange(row: Sequence[Any]) -> Exchange:
    (id_, conversation, at, profile, provider, model, system, prompt, files, reply, usage) = row
    return Exchange(
        id_,
        conversation,
        at,
        profile,
        provider,
        model,
        system,
        prompt,
        json.loads(files),
        reply,
        json.loads(usage),
    )
