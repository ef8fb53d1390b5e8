"""The command line's log of exchanges: every chat logged to SQLite (attachments by name,
size and hash; never a key), `-c` and `--cid` continue a conversation, `logs` reads them
back, `logs off` stops it, `--no-log` skips one."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from llm_context.testing import FakeProviderServer, Reply
from llm_context.testing.defaults import TINY_PNG

from .test_cli import SECRET, one_line_error, profiles_file, run  # noqa: F401 (a fixture)


def logged() -> list[tuple[str, ...]]:
    path = Path(os.environ["LLM_CONTEXT_DATA_DIR"]) / "logs.db"
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT conversation, prompt, reply, attachments FROM exchanges"
        ).fetchall()


def test_exchanges_are_logged_and_a_conversation_continues(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "photo.png").write_bytes(TINY_PNG)
    fake.script(Reply("Oslo."), Reply("About 700,000."), Reply("Bergen."), Reply("Elsewhere."))
    assert run(capsys, "-a", "photo.png", "Capital of Norway?")[:2] == (0, "Oslo.\n")
    assert run(capsys, "-c", "How many live there?")[:2] == (0, "About 700,000.\n")
    turns = fake.last_request.json["input"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert "Oslo." in json.dumps(turns[1])
    rows = logged()
    assert rows[0][0] == rows[1][0]  # one conversation
    files = json.loads(rows[0][3])
    assert files == [{"name": "photo.png", "size": len(TINY_PNG), "sha256": files[0]["sha256"]}]
    assert run(capsys, "Second city?")[:2] == (0, "Bergen.\n")  # a new conversation
    third = logged()[2][0]
    assert third != rows[0][0]
    run(capsys, "--cid", rows[0][0], "And the third?")
    assert len(fake.last_request.json["input"]) == 5
    data = b"".join(p.read_bytes() for p in Path(os.environ["LLM_CONTEXT_DATA_DIR"]).iterdir())
    assert SECRET.encode() not in data and TINY_PNG not in data


def test_logs_reads_back_and_switches(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.script(Reply("Deep water."), Reply("Ice."), Reply("Not logged."), Reply("Off."))
    run(capsys, "What is a fjord?")
    run(capsys, "What carved it?")
    status, out, _ = run(capsys, "logs", "-n", "1")
    assert status == 0 and "What carved it?" in out and "What is a fjord?" not in out
    status, out, _ = run(capsys, "logs", "-q", "FJORD", "--json")
    found = json.loads(out)
    assert [e["reply"] for e in found] == ["Deep water."] and found[0]["profile"] == "default"
    run(capsys, "--no-log", "Secret question")
    assert run(capsys, "logs", "off")[:2] == (0, "logging is off\n")
    run(capsys, "Also not logged")
    assert [r[1] for r in logged()] == ["What is a fjord?", "What carved it?"]
    run(capsys, "logs", "on")
    status, out, _ = run(capsys, "logs", "path")
    assert out.strip().endswith("logs.db")


def test_continuing_needs_a_conversation(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "-c", "Hello")
    assert status == 2
    one_line_error(err, "there is no logged conversation to continue yet")
    status, _, err = run(capsys, "--cid", "nope", "Hello")
    assert status == 2
    one_line_error(err, "no logged conversation 'nope'")
    assert fake.requests == []
