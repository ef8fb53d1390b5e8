"""The `llm-context` command, in-process against the fake server (and once as a real process)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_context.cli import build_parser, main
from llm_context.cli.features import defaults_table, feature_table
from llm_context.testing import EmbeddingReply, FakeProviderServer, Fault, ImageReply, Reply
from llm_context.testing.defaults import TINY_PNG

from .conftest import FAST_RETRY, PROVIDERS_BY_NAME

SECRET = "sk-test-SECRET-0123456789abcdefWXYZ"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "born": {"type": "integer"}},
    "required": ["name", "born"],
}


@pytest.fixture
def profiles_file(
    fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A profiles.yaml for the fake; `default` (OpenAI) carries a recognisable secret key."""
    doc = fake.profiles(**{name: {"retry": FAST_RETRY} for name in PROVIDERS_BY_NAME})
    doc["profiles"]["default"] = {**doc["profiles"]["openai"], "api_key": SECRET}
    doc["default_profile"] = "default"
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_CONTEXT_PROFILES", raising=False)
    return path


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None
) -> tuple[int, str, str]:
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        status = main(list(argv))
    finally:
        sys.stdin = sys.__stdin__
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "Traceback" not in err
    return status, out, err


def one_line_error(err: str, kind: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"llm-context: error: {kind}"), err


# -- help -----------------------------------------------------------------------------------

COMMANDS = [
    ["chat"],
    ["embed"],
    ["image"],
    ["raw"],
    ["models"],
    ["tokens"],
    ["profiles"],
    ["profiles", "list"],
    ["profiles", "show"],
    ["profiles", "check"],
    ["providers"],
    ["map"],
    ["batch"],
    ["batch", "submit"],
    ["batch", "status"],
    ["batch", "results"],
    ["batch", "cancel"],
    ["logs"],
    ["keys"],
    ["demo"],
    ["fake-server"],
]


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: llm-context")
    assert len(out.splitlines()) > 3


def test_every_subcommand_is_covered_by_the_help_test() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {c[0] for c in COMMANDS} == set(commands)


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


# -- chat -----------------------------------------------------------------------------------


def test_chat_streams_the_reply(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Reply(deltas=("Fjords ", "are ", "deep.")))
    status, out, err = run(capsys, "chat", "What", "is", "a", "fjord?")
    assert (status, out, err) == (0, "Fjords are deep.\n", "")
    request = fake.last_request
    assert request.stream
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.json["input"][0]["content"] == "What is a fjord?"


def test_chat_options_reach_the_request(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Reply("Bonjour"))
    status, out, err = run(
        capsys,
        "chat",
        "--profiles",
        str(profiles_file),
        "-p",
        "anthropic",
        "--system",
        "Answer in French",
        "--model",
        "claude-haiku-4-5",
        "--max-output-tokens",
        "50",
        "--no-stream",
        "--usage",
        "Hello",
    )
    assert (status, out) == (0, "Bonjour\n")
    assert err.startswith("usage: input_tokens=10 output_tokens=1 total_tokens=11")
    sent = fake.last_request
    assert (sent.provider, sent.stream) == ("anthropic", False)
    assert sent.json["model"] == "claude-haiku-4-5"
    assert sent.json["max_tokens"] == 50
    assert "Answer in French" in json.dumps(sent.json["system"])


def test_chat_reads_the_prompt_from_stdin(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Reply("ok"))
    status, out, _ = run(capsys, "chat", "--no-stream", "Review:", "-", stdin="diff --git a b\n")
    assert (status, out) == (0, "ok\n")
    assert fake.last_request.json["input"][0]["content"] == "Review: diff --git a b"


def test_an_empty_prompt_is_a_usage_error(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "chat", "-", stdin="  \n")
    assert status == 2
    one_line_error(err, "the prompt is empty")
    assert fake.requests == []


def test_chat_with_a_json_schema_file(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (profiles_file.parent / "person.json").write_text(json.dumps(PERSON), encoding="utf-8")
    fake.script(Reply.json({"name": "Ada", "born": 1815}), Reply.json({"name": "Ada"}))
    status, out, _ = run(capsys, "chat", "--json-schema", "person.json", "Ada, 1815")
    assert (status, json.loads(out)) == (0, {"name": "Ada", "born": 1815})
    assert fake.last_request.json["text"]["format"]["type"] == "json_schema"

    status, _, err = run(capsys, "chat", "--no-stream", "--json-schema", "person.json", "Ada")
    assert status == 4
    one_line_error(err, "LLMOutputError: the reply does not match the JSON schema")


def test_a_missing_schema_file_is_a_usage_error(
    profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "chat", "--json-schema", "nope.json", "hi")
    assert status == 2
    one_line_error(err, "--json-schema: cannot read nope.json")


def test_provider_errors_are_one_line(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Fault(401, message=f"Incorrect API key provided: {SECRET}"))
    status, out, err = run(capsys, "chat", "hi")
    assert (status, out) == (4, "")
    one_line_error(err, "LLMAuthenticationError")


def test_unsupported_features_fail_before_sending(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "chat", "-p", "lmstudio", "--reasoning-effort", "high", "hi")
    assert status == 2
    one_line_error(err, "LLMUnsupportedFeatureError: reasoning effort is not supported")
    assert fake.requests == []


def test_a_cut_stream_keeps_the_partial_text_and_fails(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Reply("one two three four", cut_after=2))
    status, out, err = run(capsys, "chat", "go")
    assert (status, out) == (4, "one two \n")
    one_line_error(err, "LLMStreamError")


def test_unknown_profile_and_missing_key(
    fake: FakeProviderServer,
    profiles_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, _, err = run(capsys, "chat", "-p", "nope", "hi")
    assert status == 3
    one_line_error(err, "LLMConfigError: no profile 'nope'")

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    keyless = tmp_path / "keyless.yaml"
    keyless.write_text("profiles:\n  claude: {provider: anthropic}\n", encoding="utf-8")
    status, _, err = run(capsys, "--profiles", str(keyless), "chat", "hi")
    assert status == 3
    one_line_error(err, "LLMConfigError")
    assert "set ANTHROPIC_API_KEY" in err
    assert fake.requests == []


# -- embed, image, raw ------------------------------------------------------------------------


def test_embed_prints_json_lines(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(EmbeddingReply(vectors=[[0.5, -0.25], [0.75, 0.125]]))
    status, out, _ = run(capsys, "embed", "fjord", "glacier")
    assert status == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"index": 0, "text": "fjord", "embedding": [0.5, -0.25]},
        {"index": 1, "text": "glacier", "embedding": [0.75, 0.125]},
    ]
    assert fake.last_request.json["input"] == ["fjord", "glacier"]


def test_embed_summary_and_stdin(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(EmbeddingReply(dimensions=4))
    status, out, err = run(capsys, "embed", "--summary", "--usage", "-", stdin="a\n\nb\n")
    assert status == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [(r[0], r[1], r[3]) for r in rows] == [("0", "4 dims", "a"), ("1", "4 dims", "b")]
    assert err.startswith("usage: ")


def test_embed_on_a_provider_without_embeddings(
    profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "embed", "-p", "anthropic", "--model", "x", "fjord")
    assert status == 2
    one_line_error(err, "LLMUnsupportedFeatureError: embeddings")


def test_image_saves_files(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "image", "a lighthouse", "-o", "out.png")
    assert (status, out) == (0, "saved out.png\n")
    assert (profiles_file.parent / "out.png").read_bytes() == TINY_PNG

    fake.script(ImageReply(url=fake.url + "/fake/image.png"))
    status, out, _ = run(capsys, "image", "a boat", "-o", "boat.png")
    assert (status, out) == (0, "saved boat.png\n")
    assert (profiles_file.parent / "boat.png").read_bytes() == TINY_PNG
    # The download went without the provider key.
    assert "authorization" not in fake.last_request.headers


def test_image_several_and_edits(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "image", "-n", "2", "logos", "-o", "logo.png")
    assert (status, out) == (0, "saved logo-1.png\nsaved logo-2.png\n")
    assert fake.last_request.json["n"] == 2

    (profiles_file.parent / "in.png").write_bytes(TINY_PNG)
    status, out, _ = run(capsys, "image", "add a boat", "--input", "in.png", "-o", "edit.png")
    assert (status, out) == (0, "saved edit.png\n")
    assert fake.last_request.endpoint == "image_edits"


def test_raw_get_and_post(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "raw", "get", "/models", "--param", "limit=5")
    assert status == 0
    assert json.loads(out)["object"] == "list"
    assert (fake.last_request.method, fake.last_request.path) == ("GET", "/v1/models")
    assert fake.last_request.query == {"limit": "5"}

    body = {"model": "text-embedding-3-small", "input": "hi"}
    status, out, _ = run(
        capsys, "raw", "POST", "/embeddings", "--json", json.dumps(body), "--header", "X-Test=1"
    )
    assert status == 0
    assert json.loads(out)["data"][0]["object"] == "embedding"
    assert fake.last_request.json == body
    assert fake.last_request.headers["x-test"] == "1"


def test_raw_bad_arguments(profiles_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "raw", "POST", "/x", "--json", "{nope")
    assert status == 2
    one_line_error(err, "--json is not valid JSON")
    status, _, err = run(capsys, "raw", "GET", "/x", "--param", "novalue")
    assert status == 2
    one_line_error(err, "--param must look like NAME=VALUE")


# -- profiles, providers, demo ----------------------------------------------------------------


def test_profiles_list_masks_keys(profiles_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "profiles", "list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"profiles from {profiles_file}"
    default = next(line for line in lines if line.startswith("*"))
    assert default.split()[1:5] == ["default", "openai", "gpt-4.1-mini", "set"]
    assert "(…WXYZ)" in default
    assert f"file:{profiles_file}" in default


def test_profiles_show_from_env_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    path = tmp_path / "p.yaml"
    path.write_text(
        "profiles:\n  claude:\n    provider: anthropic\n"
        "    headers: {Authorization: Bearer hidden-value}\n"
        "    extras: {api_token: hidden-too, region: eu}\n",
        encoding="utf-8",
    )
    status, out, _ = run(capsys, "profiles", "--profiles", str(path), "show", "claude")
    assert status == 0
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["profile"] == "claude (default)"
    assert fields["api_key"] == "set (…WXYZ) from $ANTHROPIC_API_KEY"
    assert fields["base_url"] == "https://api.anthropic.com"
    assert fields["headers"] == "Authorization"
    assert fields["extras"] == "api_token=***, region=eu"
    assert "hidden" not in out


def test_profiles_check(
    profiles_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    status, out, _ = run(capsys, "profiles", "check")
    assert status == 0
    assert out.splitlines()[-1] == "all 8 profiles look usable (nothing was sent)"

    for name in ("OPENROUTER_API_KEY", "AZURE_OPENAI_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "profiles:\n  ok: {provider: ollama, model: llama3.2}\n"
        "  router: {provider: openrouter}\n"
        "  az: {provider: azure, api_key: k, base_url: 'https://x.openai.azure.com'}\n",
        encoding="utf-8",
    )
    status, out, _ = run(capsys, "profiles", "check", str(bad))
    assert status == 1
    lines = out.splitlines()
    assert lines[1].startswith("ok    ok (ollama, llama3.2, key not needed)")
    assert any(line.startswith("FAIL  router:") and "OPENROUTER_API_KEY" in line for line in lines)
    assert any(line.startswith("FAIL  az:") and "azure_deployment" in line for line in lines)
    assert lines[-1] == "2 of 3 profiles have problems"


def test_profiles_check_reports_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("profiles:\n  a: {provider: openai\n", encoding="utf-8")
    status, _, err = run(capsys, "profiles", "check", str(broken))
    assert status == 3
    one_line_error(err, "LLMConfigError")
    assert "YAML syntax error" in err
    for document in ("profiles: [a]\n", "default_profile: b\nprofiles:\n  a: {provider: x}\n"):
        broken.write_text(document, encoding="utf-8")
        for command in ("check", "list"):
            status, _, err = run(capsys, "--profiles", str(broken), "profiles", command)
            assert status == 3
            one_line_error(err, "LLMConfigError")


@pytest.fixture
def quickstart(fake: FakeProviderServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The quickstart's profiles.yaml (pointed at the fake) with only OPENAI_API_KEY set."""
    fakes = fake.profiles()["profiles"]
    doc = {
        "default_profile": "default",
        "profiles": {
            "default": {**fakes["openai"], "api_key": "${OPENAI_API_KEY}"},
            "claude": {**fakes["anthropic"], "api_key": "${ANTHROPIC_API_KEY}"},
        },
    }
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_CONTEXT_PROFILES", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return path


UNSET_ANTHROPIC = "profile 'claude', field 'api_key': environment variable ANTHROPIC_API_KEY"


def test_quickstart_with_one_key_lists_and_checks_per_profile(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "profiles", "list")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    default = next(line for line in lines if line.startswith("*"))
    assert default.split()[1:3] == ["default", "openai"] and "set (…WXYZ)" in default
    claude = next(line for line in lines if line.startswith("!"))
    assert claude.split() == ["!", "claude", "-", "-", "-", "-"]
    assert lines[-1] == f"!  claude: {quickstart}: {UNSET_ANTHROPIC} is not set; " + (
        "set it, or write ${ANTHROPIC_API_KEY:-default} to give a default"
    )

    status, out, err = run(capsys, "profiles", "check")
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert lines[1].startswith("ok    default (openai, gpt-4.1-mini, key set (…WXYZ)")
    assert lines[2].startswith(f"FAIL  claude: {quickstart}: {UNSET_ANTHROPIC} is not set")
    assert lines[-1] == "1 of 2 profiles have problems"

    status, _, err = run(capsys, "profiles", "show", "claude")
    assert status == 3
    one_line_error(err, "LLMConfigError")
    assert UNSET_ANTHROPIC in err


def test_quickstart_with_one_key_chats_on_the_good_profile(
    fake: FakeProviderServer, quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Reply("Hello from OpenAI."))
    status, out, err = run(capsys, "chat", "hi")
    assert (status, out, err) == (0, "Hello from OpenAI.\n", "")
    assert fake.last_request.headers["authorization"] == f"Bearer {SECRET}"

    status, out, err = run(capsys, "chat", "-p", "claude", "hi")
    assert (status, out) == (3, "")
    one_line_error(err, "LLMConfigError")
    assert UNSET_ANTHROPIC in err
    assert len(fake.requests) == 1  # nothing was sent for the broken profile


def test_providers_tables(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "providers", "--markdown")
    assert status == 0
    assert out == feature_table().markdown() + "\n" + defaults_table().markdown()
    status, out, _ = run(capsys, "providers")
    header = out.splitlines()[0].split()
    assert header == ["feature", *PROVIDERS_BY_NAME]


def test_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "demo")
    assert status == 0
    assert "Same code," in out


# -- as a real process --------------------------------------------------------------------------


def _script() -> list[str]:
    installed = shutil.which("llm-context", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, "-m", "llm_context.cli"]


def test_the_installed_command_runs(tmp_path: Path) -> None:
    done = subprocess.run([*_script(), "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.split()[0]) == (0, "llm-context")


def test_a_failing_process_prints_one_line(fake: FakeProviderServer, profiles_file: Path) -> None:
    env: dict[str, Any] = {"PATH": "/usr/bin:/bin", "HOME": str(profiles_file.parent)}
    done = subprocess.run(
        [*_script(), "--profiles", str(profiles_file), "chat", "-p", "missing", "hi"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("llm-context: error: LLMConfigError: no profile 'missing'")


def test_image_to_a_missing_folder_fails_before_generating(
    fake: FakeProviderServer, profiles_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "image", "a cat", "-o", "no/such/dir/cat.png")
    assert status == 2  # a mistake in the command line, not a provider failure
    one_line_error(err, "cannot save to no/such/dir/cat.png: no such folder")
    assert fake.requests_for("images") == []  # nothing generated, nothing paid for
