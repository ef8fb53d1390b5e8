"""The command line as a daily tool: `llm-context "prompt"` without a subcommand, piped
input joined with the prompt, `-o KEY VALUE` for any chat option, `-a` attachments, an
inline JSON schema, and the documented exit statuses; in-process and through the
installed entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from llm_context.cli import EXIT_STATUS
from llm_context.testing import FakeProviderServer, Fault, Reply
from llm_context.testing.defaults import TINY_PNG

from .test_cli import _script, one_line_error, profiles_file, run  # noqa: F401 (a fixture)


def sent_text(fake: FakeProviderServer) -> str:
    return json.dumps(fake.last_request.json)


def test_a_prompt_alone_is_a_chat(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.script(Reply("Hi!"), Reply("Hej!"), Reply("Hallo!"))
    assert run(capsys, "Hello", "there")[:2] == (0, "Hi!\n")
    assert "Hello there" in sent_text(fake)
    assert run(capsys, "--profiles", str(profiles_file), "-p", "anthropic", "Hej")[:2] == (
        0,
        "Hej!\n",
    )
    assert fake.last_request.provider == "anthropic"
    assert run(capsys, "-v", "--no-stream", "Hallo")[:2] == (0, "Hallo!\n")


def test_piped_input_goes_before_the_prompt(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.script(Reply("A summary."), Reply("Just the notes."))
    status, out, _ = run(capsys, "Summarise this", stdin="Notes: fjords are deep.\n")
    assert (status, out) == (0, "A summary.\n")
    assert "Notes: fjords are deep.\\n\\nSummarise this" in sent_text(fake)
    status, out, _ = run(capsys, "chat", stdin="Only the notes")
    assert (status, out) == (0, "Just the notes.\n")
    status, _, err = run(capsys, "chat", stdin="")
    assert status == 2
    one_line_error(err, "the prompt is empty")


def test_any_chat_option_with_o(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.script(Reply("ok"))
    status, _, _ = run(
        capsys,
        "-p",
        "openai",
        "-o",
        "temperature",
        "0.2",
        "-o",
        "parallel_tool_calls",
        "false",
        "-o",
        "max-output-tokens",
        "30",
        "Hi",
    )
    body = fake.last_request.json
    assert status == 0 and body["temperature"] == 0.2 and body["max_output_tokens"] == 30
    sent = len(fake.requests)
    status, _, err = run(capsys, "-o", "temprature", "0.2", "Hi")
    assert status == 2
    one_line_error(err, "LLMInputError: unknown chat option(s): 'temprature'")
    assert "temperature" in err and len(fake.requests) == sent


def test_attachments(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "photo.png").write_bytes(TINY_PNG)
    (tmp_path / "notes.txt").write_text("Fjords are deep.", encoding="utf-8")
    (tmp_path / "clip.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)
    fake.script(Reply("A picture and a note."))
    status, out, _ = run(capsys, "-p", "openai", "-a", "photo.png", "-a", "notes.txt", "What?")
    assert (status, out) == (0, "A picture and a note.\n")
    parts = fake.last_request.json["input"][0]["content"]
    assert [p["type"] for p in parts] == ["input_text", "input_image", "input_file"]
    sent = len(fake.requests)
    status, _, err = run(capsys, "-p", "anthropic", "-a", "clip.wav", "Transcribe")
    assert status == 2
    one_line_error(err, "LLMUnsupportedFeatureError")
    status, _, err = run(capsys, "-a", "missing.png", "What?")
    assert status == 2
    one_line_error(err, "LLMInputError: image_part: no such file")
    assert len(fake.requests) == sent


def test_an_inline_json_schema(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fake.script(Reply('{"n": 3}'))
    status, out, _ = run(capsys, "--json-schema", json.dumps(schema), "Three")
    assert (status, json.loads(out)) == (0, {"n": 3})


def test_exit_statuses(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert [status for _, status in EXIT_STATUS] == [3, 2, 2, 4]
    fake.script(Fault(401))
    assert run(capsys, "Hi")[0] == 4  # the provider refused
    assert run(capsys, "-p", "nope", "Hi")[0] == 3  # configuration
    assert run(capsys, "-p", "lmstudio", "--reasoning-effort", "high", "Hi")[0] == 2
    with pytest.raises(SystemExit) as usage:
        run(capsys, "chat", "--temperature", "warm", "Hi")
    assert usage.value.code == 2


def test_the_installed_command_reads_a_pipe(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
) -> None:
    fake.script(Reply("Piped."))
    done = subprocess.run(
        [*_script(), "--profiles", str(profiles_file), "--no-stream", "Summarise"],
        input="line one\nline two\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "Piped.\n", "")
    assert "line one\\nline two\\n\\nSummarise" in sent_text(fake)
