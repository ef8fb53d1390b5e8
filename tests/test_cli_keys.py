"""`llm-context keys`: a key stored from stdin in a file only the user can read, listed by
name only, used when neither profile nor environment gives one, and gone from the
environment once the command is done."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from llm_context.testing import FakeProviderServer, Reply

from .test_cli import one_line_error, run

STORED = "sk-ant-stored-0123456789abcdefghij"


def test_a_stored_key_is_used_and_never_shown(
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("LLM_CONTEXT_PROFILES", raising=False)
    status, out, err = run(capsys, "keys", "set", "anthropic", stdin=STORED + "\n")
    assert status == 0 and STORED not in out + err
    path = Path(os.environ["LLM_CONTEXT_DATA_DIR"]) / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run(capsys, "keys", "list")[1] == "anthropic\n"
    assert run(capsys, "keys", "path")[1].strip() == str(path)
    profile = {"provider": "anthropic", "base_url": fake.base_url("anthropic")}
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(yaml.safe_dump({"profiles": {"claude": profile}}), encoding="utf-8")
    fake.script(Reply("Hi from the stored key."))
    status, out, _ = run(capsys, "--profiles", str(profiles), "-p", "claude", "Hello")
    assert (status, out) == (0, "Hi from the stored key.\n")
    assert fake.last_request.headers["authorization"] == f"Bearer {STORED}"
    assert "ANTHROPIC_API_KEY" not in os.environ  # only while the command ran
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment-000000")
    fake.script(Reply("env"))
    run(capsys, "--profiles", str(profiles), "-p", "claude", "Hello")
    assert fake.last_request.headers["authorization"].endswith("from-the-environment-000000")


def test_keys_set_needs_a_provider_and_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "keys", "set", "nope", stdin="k\n")
    assert status == 2
    one_line_error(err, "unknown provider")
    status, _, err = run(capsys, "keys", "set", "openai", stdin="\n")
    assert status == 2
    one_line_error(err, "no key given")
    status, _, err = run(capsys, "keys", "set", stdin="k\n")
    assert status == 2
