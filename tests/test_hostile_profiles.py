"""Hostile profiles documents and the command line's one-line promise.

A deeply nested document or a YAML alias bomb fails at once with an `LLMConfigError` naming
the file, in the library and on the command line (one line, never a traceback).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_context import LLMConfigError, LLMContext
from llm_context.cli import main
from llm_context.config.document import MAX_DEPTH, MAX_VALUES
from llm_context.testing import FakeProviderServer, Reply

from .conftest import FAST_RETRY, PROVIDERS_BY_NAME

SECRET = "sk-hostile-SECRET-0123456789abcdefXYZ"


def alias_bomb(levels: int = 9) -> str:
    """A few hundred bytes whose aliases expand to 9**levels values (10**8 and more)."""
    lines = ["profiles:", "  x:", "    provider: openai", "    extra_body:"]
    lines.append('      l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    for i in range(1, levels):
        refs = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"      l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias-bomb": (alias_bomb(), "aliases are expanded"),
    "deep-flow": ("profiles: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
    "deep-block": (
        "profiles:\n" + "".join(" " * (i + 1) + "a:\n" for i in range(200)),
        "nested more than",
    ),
    "deep-in-a-profile": (
        "profiles:\n  x:\n    provider: openai\n    extra_body: "
        + "{a: " * (MAX_DEPTH + 1)
        + "1"
        + "}" * (MAX_DEPTH + 1)
        + "\n",
        "nested more than",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_fail_with_a_config_error_naming_the_file(tmp_path: Path, name: str) -> None:
    text, words = HOSTILE[name]
    assert len(text.encode()) < 40_000  # small files: the danger is in what they expand to
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LLMConfigError) as info:
        LLMContext(path).llm("x")
    assert str(path) in str(info.value) and words in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_a_mapping_with_shared_parts_is_bounded_too() -> None:
    # The same bomb built in Python: one list referenced nine times, nine levels deep.
    part: list[Any] = ["lol"] * 9
    for _ in range(8):
        part = [part] * 9
    doc = {"profiles": {"x": {"provider": "openai", "extra_body": {"bomb": part}}}}
    with pytest.raises(LLMConfigError, match=f"more than {MAX_VALUES:,} values"):
        LLMContext(doc).llm("x")


def test_aliases_of_a_normal_size_still_work(fake: FakeProviderServer, tmp_path: Path) -> None:
    # Anchors for shared settings are ordinary YAML: a file using them loads and works.
    base = fake.profiles()["profiles"]["openai"]
    fields = "".join(f"    {key}: {json.dumps(value)}\n" for key, value in base.items())
    text = f"profiles:\n  a: &shared\n{fields}  b:\n    <<: *shared\n    model: other-model\n"
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    fake.script(Reply("hi"))
    assert LLMContext(path).llm("b").chat_sync([{"role": "user", "content": "x"}]).text == "hi"
    assert fake.last_request.json["model"] == "other-model"


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("profiles:\n  x: {provider: openai, model: caf\u00e9}\n".encode("latin-1"))
    with pytest.raises(LLMConfigError, match="not UTF-8"):
        LLMContext(path).llm("x")


# -- the command line -------------------------------------------------------------------------


def _script() -> list[str]:
    import shutil

    installed = shutil.which("llm-context", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, "-m", "llm_context.cli"]


@pytest.mark.parametrize("name", ["alias-bomb", "deep-flow"])
def test_the_cli_prints_one_line_for_a_hostile_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(HOSTILE[name][0], encoding="utf-8")
    for command in (["profiles", "list"], ["chat", "hi"]):
        done = subprocess.run(
            [*_script(), "--profiles", str(path), *command],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 3, done.stderr  # configuration
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("llm-context: error: LLMConfigError: " + str(path))


@pytest.fixture
def profiles_file(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    doc = fake.profiles(**{name: {"retry": FAST_RETRY} for name in PROVIDERS_BY_NAME})
    doc["profiles"]["openai"]["api_key"] = SECRET
    doc["profiles"]["openai"]["pricing"] = {"input_per_million": 2.0, "output_per_million": 8.0}
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_CONTEXT_PROFILES", raising=False)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return status, out, err


def test_stdin_that_is_not_utf8_is_one_line_and_sends_nothing(
    fake: FakeProviderServer, profiles_file: Path
) -> None:
    done = subprocess.run(
        [*_script(), "chat", "summarise:", "-"],
        input=b"caf\xe9 \xff\xfe",
        capture_output=True,
        timeout=60,
        cwd=profiles_file.parent,
        env={"PATH": "/usr/bin:/bin", "HOME": str(profiles_file.parent), "LC_ALL": "C.UTF-8"},
    )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.count("\n") == 1 and "standard input is not UTF-8 text" in err
    assert fake.requests == []


def test_argv_that_is_not_utf8_is_one_line_and_sends_nothing(
    fake: FakeProviderServer, profiles_file: Path
) -> None:
    # POSIX hands bytes to the program; Python turns the undecodable ones into surrogates.
    for argv in ([b"chat", b"caf\xe9"], [b"chat", b"--system", b"\xff", b"hi"]):
        done = subprocess.run(
            [*_script(), *argv],
            capture_output=True,
            timeout=60,
            cwd=profiles_file.parent,
            env={"PATH": "/usr/bin:/bin", "HOME": str(profiles_file.parent), "LC_ALL": "C.UTF-8"},
        )
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert err.count("\n") == 1 and "is not UTF-8 text" in err
    assert fake.requests == []


def test_drop_unsupported_on_the_command_line(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "chat", "-p", "lmstudio", "--reasoning-effort", "high", "hi")
    assert status == 2 and "--drop-unsupported" in err and err.count("\n") == 1
    assert fake.requests == []

    fake.script(Reply("fine"))
    argv = ["chat", "-p", "lmstudio", "--reasoning-effort", "high", "--drop-unsupported", "hi"]
    status, out, _ = run(capsys, *argv)
    assert (status, out) == (0, "fine\n")
    assert "reasoning_effort" not in fake.last_request.json


def test_usage_shows_cost_when_pricing_is_set(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Reply("four words right here"))
    status, _, err = run(capsys, "chat", "-p", "openai", "--no-stream", "--usage", "hi")
    assert status == 0
    usage = dict(part.split("=") for part in err.split()[1:])
    expected = (int(usage["input_tokens"]) * 2.0 + int(usage["output_tokens"]) * 8.0) / 1e6
    assert usage["cost"] == f"${expected:.6f}"

    fake.script(Reply("no pricing here"))
    status, _, err = run(capsys, "chat", "-p", "anthropic", "--no-stream", "--usage", "hi")
    assert status == 0 and "cost=" not in err


def test_an_unexpected_failure_is_one_line_and_verbose_shows_it(
    profiles_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command that fails with something nobody foresaw (here: a bug planted in the
    # command itself, with a key in its text) still prints one scrubbed line.
    from llm_context.cli import chat

    def broken(args: Any) -> int:
        raise KeyError(f"boom {SECRET}")

    monkeypatch.setattr(chat, "run", broken)
    status, out, err = run(capsys, "chat", "hi")
    lines = err.strip().splitlines()
    assert (status, out) == (1, "")
    assert lines[0].startswith("llm-context: error: unexpected KeyError: ")
    assert "--verbose" in lines[1] and len(lines) == 2 and "Traceback" not in err

    status, _, err = run(capsys, "-v", "chat", "hi")
    assert status == 1 and "Traceback" in err and "KeyError" in err


def test_stdin_text_reader_is_left_alone(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plain UTF-8 pipe still works (the decoding check is only on failure).
    fake.script(Reply("ok"))
    sys.stdin = io.StringIO("caf\u00e9 notes")
    try:
        status, out, _ = run(capsys, "chat", "--no-stream", "-")
    finally:
        sys.stdin = sys.__stdin__
    assert (status, out) == (0, "ok\n")
    assert fake.last_request.json["input"][0]["content"] == "caf\u00e9 notes"
