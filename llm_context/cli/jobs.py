"""`llm-context map` (the bulk runner over a JSONL file) and `llm-context batch` (provider
batch jobs: submit, status, results, cancel). Rows in, one JSON line per row out, in order;
a summary on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..contract.results import ChatResult
from ..errors import LLMError
from .common import CLIError, client_for, read_json_arg, say, warn

__all__ = ["add_parsers"]

MAP_DESCRIPTION = """\
Run a prompt over every row of a JSONL file, several at a time under the profile's rate
limits. Each row is a JSON object; --prompt-template fills in its fields ({field}). With
--checkpoint, finished rows are kept in a SQLite file and a rerun sends only the rest.
Output: one JSON line per row, in order: {"index", "text", "usage"} or {"index", "error"}.

examples:
  llm-context map -p claude --input rows.jsonl --prompt-template 'Classify: {text}' \\
      --output out.jsonl --checkpoint run.sqlite
"""

BATCH_DESCRIPTION = """\
Provider batch jobs (OpenAI, Azure OpenAI, Anthropic, Gemini): about half the price,
answered within a day.

examples:
  llm-context batch submit -p openai --input rows.jsonl --prompt-template 'Sum up: {text}'
  llm-context batch status -p openai batch_abc123
  llm-context batch results -p openai batch_abc123 --wait --output out.jsonl
  llm-context batch cancel -p openai batch_abc123
"""


def add_parsers(commands: Any, targeted: argparse.ArgumentParser) -> None:
    """Register `map` and `batch` on the command parser."""
    rows = argparse.ArgumentParser(add_help=False, parents=[targeted])
    rows.add_argument("--input", "-i", required=True, metavar="FILE", help="the rows (JSONL)")
    rows.add_argument(
        "--prompt-template", "-t", metavar="TEXT", help="the prompt, with {field}s of each row"
    )
    rows.add_argument("--system", "-s", metavar="TEXT", help="a system instruction for every row")
    rows.add_argument("--model", "-m", help="the model (default: the profile's)")
    rows.add_argument(
        "--json-schema", metavar="SCHEMA", help="JSON output to this schema (inline or @file)"
    )
    mapper = commands.add_parser(
        "map",
        help="run a prompt over every row of a JSONL file",
        description=MAP_DESCRIPTION,
        parents=[rows],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mapper.add_argument("--output", "-o", default="-", metavar="FILE", help="default: stdout")
    mapper.add_argument("--checkpoint", metavar="FILE", help="a SQLite file: reruns resume")
    mapper.add_argument("--concurrency", "-c", type=int, help="requests in flight")
    mapper.add_argument("--no-progress", action="store_true", help="no progress bar")
    mapper.set_defaults(run=run_map)
    batch = commands.add_parser(
        "batch",
        help="provider batch jobs: submit, status, results, cancel",
        description=BATCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = batch.add_subparsers(dest="step", metavar="STEP", required=True)
    submit = steps.add_parser("submit", help="send the rows as one batch job", parents=[rows])
    submit.set_defaults(run=run_submit)
    for name, run, what in (
        ("status", run_status, "show a job's state"),
        ("results", run_results, "print a finished job's results as JSONL"),
        ("cancel", run_cancel, "ask the provider to stop a job"),
    ):
        step = steps.add_parser(name, help=what, parents=[targeted])
        step.add_argument("job_id", help="the id `batch submit` printed")
        step.set_defaults(run=run)
    results = steps.choices["results"]
    results.add_argument("--wait", action="store_true", help="wait for the job to end first")
    results.add_argument("--output", "-o", default="-", metavar="FILE", help="default: stdout")


# -- rows -> requests --------------------------------------------------------------------------


def _rows(path: str) -> list[dict[str, Any]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CLIError(f"--input: cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CLIError(f"--input: {path} is not UTF-8 text") from None
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise CLIError(f"--input line {number} is not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise CLIError(f"--input line {number} is not a JSON object")
        rows.append(row)
    if not rows:
        raise CLIError(f"--input: {path} has no rows")
    return rows


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.model:
        opts["model"] = args.model
    if args.json_schema:
        opts["output_format"] = "json_schema"
        opts["json_schema"] = read_json_arg(args.json_schema, "--json-schema")
    return opts


def _messages(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each row's messages: the template filled with its fields, or the row's own
    `messages`. Every row is checked before anything is sent."""
    out: list[list[dict[str, Any]]] = []
    for number, row in enumerate(rows, 1):
        if args.prompt_template is not None:
            try:
                prompt = args.prompt_template.format_map(row)
            except KeyError as exc:
                raise CLIError(
                    f"row {number} has no field {exc.args[0]!r} for --prompt-template "
                    f"(its fields: {', '.join(sorted(row)) or 'none'})"
                ) from None
            except (ValueError, IndexError) as exc:
                raise CLIError(f"--prompt-template is not a valid template: {exc}") from None
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(row.get("messages"), list):
            messages = list(row["messages"])
        else:
            raise CLIError(f"row {number} has no messages: give --prompt-template")
        if args.system:
            messages.insert(0, {"role": "system", "content": args.system})
        out.append(messages)
    return out


@contextmanager
def _output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdout
        return
    try:
        with open(path, "w", encoding="utf-8") as out:
            yield out
    except OSError as exc:
        raise CLIError(f"--output: cannot write {path} ({exc.strerror})") from None


def _line(outcome: ChatResult | LLMError, **key: Any) -> str:
    if isinstance(outcome, ChatResult):
        row: dict[str, Any] = {**key, "text": outcome.text, "usage": dict(outcome.usage)}
        if outcome.parsed is not None:
            row["parsed"] = outcome.parsed
    else:
        row = {**key, "error": {"type": type(outcome).__name__, "message": str(outcome)}}
    return json.dumps(row, ensure_ascii=False, default=repr)


# -- commands ----------------------------------------------------------------------------------


def run_map(args: argparse.Namespace) -> int:
    rows = _rows(args.input)
    prompts = _messages(args, rows)
    llm = client_for(args)
    run = llm.map_sync(
        prompts,
        lambda messages: messages,
        checkpoint=args.checkpoint,
        concurrency=args.concurrency,
        progress=not args.no_progress,
        **_options(args),
    )
    with _output(args.output) as out:
        for index, outcome in enumerate(run.results):
            out.write(_line(outcome, index=index) + "\n")
    cost = "" if run.cost is None else f", ${run.cost:.4f}"
    warn(
        f"{run.done} done ({run.skipped} from the checkpoint), {len(run.errors)} failed, "
        f"{run.usage.get('total_tokens', 0):,} tokens{cost}"
    )
    return 1 if run.errors else 0


def run_submit(args: argparse.Namespace) -> int:
    rows = _rows(args.input)
    prompts = _messages(args, rows)
    opts = _options(args)
    requests = [
        {"custom_id": str(row.get("custom_id", f"row-{i}")), "messages": messages, **opts}
        for i, (row, messages) in enumerate(zip(rows, prompts, strict=True))
    ]
    job = client_for(args).batch_sync(requests)
    say(job.id)
    warn(f"{job.status.value}: {len(requests)} requests; `llm-context batch status {job.id}`")
    return 0


def _counts(counts: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={'?' if v is None else v}" for k, v in counts.items())


def run_status(args: argparse.Namespace) -> int:
    job = client_for(args).batch_job_sync(args.job_id)
    counts = job.counts
    say(
        f"{job.id} {job.status.value} "
        + _counts(
            {
                "total": counts.total,
                "succeeded": counts.succeeded,
                "failed": counts.failed,
                "pending": counts.pending,
            }
        )
    )
    return 0


def run_results(args: argparse.Namespace) -> int:
    job = client_for(args).batch_job_sync(args.job_id)
    if args.wait:
        job.wait(poll_s=30)
    elif not job.status.ended:
        warn(f"llm-context: batch {job.id} is {job.status.value}: add --wait, or ask later")
        return 1
    results = job.results()
    with _output(args.output) as out:
        for custom_id, outcome in results.items():
            out.write(_line(outcome, custom_id=custom_id) + "\n")
    failed = sum(1 for r in results.values() if isinstance(r, LLMError))
    warn(f"{job.status.value}: {len(results) - failed} succeeded, {failed} failed")
    return 1 if failed else 0


def run_cancel(args: argparse.Namespace) -> int:
    job = client_for(args).batch_job_sync(args.job_id).cancel()
    say(f"{job.id} {job.status.value}")
    return 0
