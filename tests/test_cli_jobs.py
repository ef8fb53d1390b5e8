"""`llm-context map` and `llm-context batch`, in-process against the fake server: rows from
JSONL, one JSON line per row in order, a resumable checkpoint, clear one-line errors
before anything is sent, and no key in any output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_context.testing import BatchLifecycle, FakeProviderServer, Fault, Reply

from .test_cli import SECRET, one_line_error, profiles_file, run  # noqa: F401 (a fixture)

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}},
    "required": ["label"],
    "additionalProperties": False,
}


def rows(tmp_path: Path, count: int = 5) -> Path:
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps({"text": f"item {i}", "id": i}) for i in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_map_writes_a_line_per_row_and_resumes(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, out, check = rows(tmp_path), tmp_path / "out.jsonl", tmp_path / "run.sqlite"
    fake.script(Reply("a"), Fault(400, message="bad row"), Reply("c"), Reply("d"), Reply("e"))
    argv = ["map", "--input", str(source), "-t", "Tag: {text}", "-o", str(out)]
    argv += ["--checkpoint", str(check), "-c", "1"]
    status, stdout, err = run(capsys, *argv)
    assert status == 1 and stdout == ""
    got = lines(out)
    assert [row["index"] for row in got] == [0, 1, 2, 3, 4]
    assert [row.get("text") for row in got] == ["a", None, "c", "d", "e"]
    assert got[1]["error"] == {
        "type": "LLMBadRequestError",
        "message": "openai returned HTTP 400: bad row",
    }
    assert "4 done (0 from the checkpoint), 1 failed" in err
    assert fake.requests_for("chat")[0].json["input"][0]["content"] == "Tag: item 0"
    fake.clear()
    status, _, err = run(capsys, *argv)
    assert status == 0 and len(fake.requests) == 1  # only the row that failed
    assert "5 done (4 from the checkpoint), 0 failed" in err


def test_map_parses_json_and_names_a_missing_field_before_sending(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = rows(tmp_path, 2)
    fake.script(Reply('{"label": "x"}'), Reply('{"label": "y"}'))
    status, stdout, _ = run(
        capsys,
        "map",
        "-i",
        str(source),
        "-t",
        "{text}",
        "--json-schema",
        json.dumps(SCHEMA),
        "-c",
        "1",
    )
    assert status == 0
    assert [json.loads(x)["parsed"] for x in stdout.splitlines()] == [
        {"label": "x"},
        {"label": "y"},
    ]
    fake.clear()
    status, _, err = run(capsys, "map", "-i", str(source), "-t", "{text} {colour}")
    assert status == 2
    one_line_error(err, "row 1 has no field 'colour'")
    for bad, message in (
        (["-i", str(tmp_path / "none.jsonl"), "-t", "x"], "--input: cannot read"),
        (["-i", str(source)], "row 1 has no messages"),
        (["-i", str(source), "-t", "{text"], "--prompt-template is not a valid template"),
    ):
        status, _, err = run(capsys, "map", *bad)
        assert status == 2
        one_line_error(err, message)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n[1, 2]\n', encoding="utf-8")
    status, _, err = run(capsys, "map", "-i", str(broken), "-t", "{text}")
    one_line_error(err, "--input line 2 is not a JSON object")
    assert fake.requests == []


@pytest.mark.parametrize("profile", ["openai", "anthropic", "google"])
def test_batch_submit_status_results_cancel(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    profile: str,
) -> None:
    source, out = rows(tmp_path, 3), tmp_path / "out.jsonl"
    fake.batch_lifecycle = BatchLifecycle(polls=3)
    fake.script(Reply("one"), Fault(400), Reply("three"))
    status, stdout, err = run(
        capsys, "batch", "submit", "-p", profile, "-i", str(source), "-t", "{text}"
    )
    assert status == 0
    job_id = stdout.strip()
    status, stdout, _ = run(capsys, "batch", "status", "-p", profile, job_id)
    assert stdout.startswith(f"{job_id} in_progress ") and "total=" in stdout
    status, stdout, err = run(capsys, "batch", "results", "-p", profile, job_id)
    assert status == 1 and stdout == ""
    assert err == f"llm-context: batch {job_id} is in_progress: add --wait, or ask later\n"
    status, _, err = run(
        capsys, "batch", "results", "-p", profile, job_id, "--wait", "-o", str(out)
    )
    got = {row["custom_id"]: row for row in lines(out)}
    assert got["row-0"]["text"] == "one" and got["row-2"]["text"] == "three"
    assert got["row-1"]["error"]["type"] == "LLMBadRequestError"  # type: ignore[index]
    assert status == 1 and "2 succeeded, 1 failed" in err
    fake.batch_lifecycle = BatchLifecycle(polls=5)
    status, stdout, _ = run(
        capsys, "batch", "submit", "-p", profile, "-i", str(source), "-t", "{text}"
    )
    other = stdout.strip()
    status, stdout, _ = run(capsys, "batch", "cancel", "-p", profile, other)
    assert status == 0 and stdout.startswith(other)


def test_batch_on_a_provider_without_one_is_one_line(
    profiles_file: Path,  # noqa: F811
    fake: FakeProviderServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(
        capsys, "batch", "submit", "-p", "ollama", "-i", str(rows(tmp_path)), "-t", "{text}"
    )
    assert status == 2
    one_line_error(err, "LLMUnsupportedFeatureError")
    assert fake.requests == []
