"""The bulk runner (`map_sync` / `map`) through the real SDKs against the fake server, with
real SQLite checkpoint files: results in input order, one item's error never the run's,
a rerun sending only what did not finish, the rate limit setting the pace."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from llm_context import ChatResult, LLMContext, LLMInputError, UsageRecord
from llm_context.bulk.progress import progress_for
from llm_context.clock import FakeClock
from llm_context.testing import FakeProviderServer, Fault, Reply

from .conftest import FAST_RETRY

PRICING = {"input_per_million": 1.0, "output_per_million": 2.0}
ROW = re.compile(r"Row (\d+)")


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Row {i}"}]


def sent_rows(fake: FakeProviderServer) -> list[int]:
    """The item of every chat request the server saw (the row number in its prompt)."""
    rows = []
    for request in fake.requests_for("chat"):
        match = ROW.search(str(request.json))
        assert match is not None
        rows.append(int(match.group(1)))
    return rows


@pytest.fixture
def bctx(fake: FakeProviderServer) -> Any:
    profiles = fake.profiles(
        openai={"pricing": PRICING, "retry": {**FAST_RETRY, "max_attempts": 2}},
        anthropic={"pricing": PRICING},
    )
    with LLMContext(profiles) as ctx:
        yield ctx


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "ollama"])
def test_results_come_in_input_order_and_errors_stay_per_item(
    fake: FakeProviderServer, provider: str
) -> None:
    fake.fail_every(7, Fault(400, message="bad row"))
    with LLMContext(fake.profiles()) as ctx:
        run = ctx.llm(provider).map_sync(range(40), prompt, concurrency=4, progress=False)
    assert len(run.results) == 40 and run.skipped == 0
    for i, outcome in enumerate(run.results):
        if isinstance(outcome, ChatResult):
            assert outcome.text.endswith(f"You said: Row {i}")
    assert len(run.errors) == len(fake.requests) // 7
    assert run.failed() == sorted(run.errors)  # the items are the row numbers
    assert run.done == 40 - len(run.errors)


def test_totals_count_every_call_of_the_run(bctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Fault(500), *[Reply(f"r{i}") for i in range(10)])
    run = bctx.llm("openai").map_sync(range(10), prompt, concurrency=1, progress=False)
    assert [r.text for r in run.results if isinstance(r, ChatResult)] == [
        f"r{i}" for i in range(10)
    ]
    assert run.retries == 1  # the 500 was retried
    usage = bctx.usage().by_profile["openai"]
    assert run.usage["input_tokens"] == usage.input_tokens
    assert run.cost == pytest.approx(usage.cost) and run.cost > 0
    assert "10 items: 10 done (0 from the checkpoint), 0 failed" in repr(run)


def test_a_rerun_with_the_checkpoint_sends_only_what_did_not_finish(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    fake.fail_every(5, Fault(400))
    first = llm.map_sync(range(30), prompt, checkpoint=path, concurrency=3, progress=False)
    failed = first.failed()
    assert failed and first.done == 30 - len(failed)
    fake.clear()
    again = llm.map_sync(range(30), prompt, checkpoint=path, concurrency=3, progress=False)
    assert sorted(sent_rows(fake)) == sorted(failed)  # finished rows were never sent again
    assert again.skipped == 30 - len(failed) and again.done == 30
    for before, after in zip(first.results, again.results, strict=True):
        if isinstance(before, ChatResult):
            assert isinstance(after, ChatResult)
            assert (after.text, after.usage, after.model) == (
                before.text,
                before.usage,
                before.model,
            )
    fake.clear()
    third = llm.map_sync(range(30), prompt, checkpoint=path, progress=False)
    assert fake.requests == [] and third.skipped == 30


def test_failed_items_alone_are_run_again(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    fake.script(*[Fault(400) if i % 4 == 0 else Reply(f"ok {i}") for i in range(12)])
    first = llm.map_sync(range(12), prompt, checkpoint=path, concurrency=1, progress=False)
    assert first.failed() == [0, 4, 8]
    fake.clear()
    retry = llm.map_sync(first.failed(), prompt, checkpoint=path, progress=False)
    assert retry.done == 3 and sorted(sent_rows(fake)) == [0, 4, 8]
    fake.clear()
    whole = llm.map_sync(range(12), prompt, checkpoint=path, progress=False)
    assert fake.requests == [] and whole.done == 12


def test_the_same_request_twice_is_sent_once_and_a_changed_one_again(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    run = llm.map_sync([1, 2, 1, 1], prompt, checkpoint=path, progress=False)
    assert sorted(sent_rows(fake)) == [1, 2] and run.done == 4
    assert run.results[0] is run.results[2]
    fake.clear()
    llm.map_sync([1, 2], prompt, checkpoint=path, progress=False, max_output_tokens=50)
    assert sorted(sent_rows(fake)) == [1, 2]  # other options: another request
    fake.clear()
    llm.map_sync([1], prompt, checkpoint=path, progress=False, model="gpt-4.1")
    assert sent_rows(fake) == [1]  # another model: another request


def test_build_returns_options_and_json_is_parsed_and_kept(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }

    def build(i: int) -> dict[str, Any]:
        return {"messages": prompt(i), "output_format": "json_schema", "json_schema": schema}

    fake.script(Reply('{"n": 0}'), Reply('{"n": "x"}'), Reply('{"n": 2}'))
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    run = llm.map_sync(range(3), build, checkpoint=path, concurrency=1, progress=False)
    assert [getattr(r, "parsed", None) for r in run.results] == [{"n": 0}, None, {"n": 2}]
    assert type(run.results[1]).__name__ == "LLMOutputError"
    fake.clear()
    fake.script(Reply('{"n": 1}'))
    again = llm.map_sync(range(3), build, checkpoint=path, progress=False)
    assert [r.parsed for r in again.results if isinstance(r, ChatResult)] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]


def test_a_build_that_raises_fails_its_item_only(
    bctx: LLMContext, fake: FakeProviderServer
) -> None:
    def build(i: int) -> Any:
        if i == 2:
            raise KeyError("text")
        return "plain prompt " + str(i) if i == 3 else prompt(i)

    run = bctx.llm("openai").map_sync(range(5), build, progress=False)
    error = run.results[2]
    assert isinstance(error, LLMInputError) and "item 2: build raised KeyError" in str(error)
    assert isinstance(run.results[3], ChatResult) and run.results[3].text.endswith("prompt 3")
    assert run.done == 4 and len(fake.requests) == 4


def test_async_map_matches_map_sync(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("anthropic")
    fake.fail_every(6, Fault(400))
    run = asyncio.run(llm.map(range(24), prompt, checkpoint=path, concurrency=5, progress=False))
    assert len(run.results) == 24 and run.errors
    fake.clear()
    again = asyncio.run(llm.map(range(24), prompt, checkpoint=path, progress=False))
    assert sorted(sent_rows(fake)) == run.failed() and again.done == 24


def test_bad_checkpoints_are_named_before_anything_is_sent(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    llm = bctx.llm("openai")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', 'something-else/9')")
    foreign = tmp_path / "foreign.sqlite"  # our format's name, but another table's shape
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', 'llm_context.bulk/1')")
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, answer TEXT)")
    cases = [
        (tmp_path / "no" / "such" / "dir" / "run.sqlite", "cannot be used"),
        (tmp_path, "cannot be used"),
        (junk, "cannot be used"),
        (other, "something-else/9"),
        (foreign, "cannot be used"),
    ]
    for path, message in cases:
        with pytest.raises(LLMInputError, match=message):
            llm.map_sync(range(3), prompt, checkpoint=path, progress=False)
    for bad, message in (
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": "4"}, "concurrency"),
    ):
        with pytest.raises(LLMInputError, match=message):
            llm.map_sync(range(3), prompt, progress=False, **bad)
    with pytest.raises(LLMInputError, match="build must be a function"):
        llm.map_sync(range(3), "not a function", progress=False)  # type: ignore[arg-type]
    assert fake.requests == []


def test_a_reopened_checkpoint_gives_back_the_same_results(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    fake.script(
        Reply("plain", finish_reason="length"),
        Reply.json({"n": 1}),
        Reply.tool_call("lookup", {"q": "Row 2"}, id="call_2"),
    )

    def build(i: int) -> Any:
        if i == 1:
            return {"messages": prompt(i), "output_format": "json"}
        tools = [{"name": "lookup", "parameters": {"type": "object"}}]
        return {"messages": prompt(i), "tools": tools} if i == 2 else prompt(i)

    def seen(r: Any) -> tuple[Any, ...]:
        calls = [(c.id, c.name, c.arguments) for c in r.tool_calls]
        return (r.text, r.usage, r.model, r.finish_reason, r.parsed, calls, r.profile)

    first = llm.map_sync(range(3), build, checkpoint=path, concurrency=1, progress=False)
    fake.clear()
    with LLMContext(fake.profiles()) as other:  # another context: nothing shared but the file
        again = other.llm("openai").map_sync(range(3), build, checkpoint=path, progress=False)
    assert fake.requests == [] and again.skipped == 3
    assert [seen(r) for r in again.results] == [seen(r) for r in first.results]
    assert first.results[0].finish_reason == "length" and first.results[2].tool_calls


def test_a_pydantic_output_comes_back_as_its_model_and_a_changed_model_runs_again(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    class Label(pydantic.BaseModel):
        label: str

    def build(i: int) -> dict[str, Any]:
        return {"messages": prompt(i), "output_format": "json_schema", "json_schema": Label}

    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    fake.script(Reply('{"label": "a"}'), Reply('{"label": "b"}'))
    first = llm.map_sync(range(2), build, checkpoint=path, concurrency=1, progress=False)
    fake.clear()
    again = llm.map_sync(range(2), build, checkpoint=path, progress=False)
    assert fake.requests == [] and again.skipped == 2
    assert [r.parsed for r in again.results] == [Label(label="a"), Label(label="b")]
    assert [r.parsed for r in first.results] == [r.parsed for r in again.results]

    class Label(pydantic.BaseModel):  # type: ignore[no-redef]  # same name, one more field
        label: str
        score: int

    fake.script(Reply('{"label": "c", "score": 1}'), Reply('{"label": "d", "score": 2}'))
    changed = llm.map_sync(range(2), build, checkpoint=path, concurrency=1, progress=False)
    assert changed.skipped == 0 and sorted(sent_rows(fake)) == [0, 1]
    assert [r.parsed.score for r in changed.results] == [1, 2]


@pytest.mark.skipif(
    sys.platform == "win32" or signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="needs SIGINT to raise KeyboardInterrupt in the main thread",
)
def test_ctrl_c_stops_the_run_and_keeps_what_finished(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    """Ctrl-C after 5 calls: no item starts after it, the calls in flight finish and are
    committed, and a rerun sends exactly the items never sent."""
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    fake.script(*[Reply(f"r{i}", delay_s=0.01) for i in range(400)])
    calls: list[UsageRecord] = []

    def interrupt(record: UsageRecord) -> None:
        calls.append(record)
        if len(calls) == 5:  # a worker thread; the signal lands in the main one, in map_sync
            os.kill(os.getpid(), signal.SIGINT)

    unsubscribe = bctx.on_usage(interrupt)
    with pytest.raises(KeyboardInterrupt):
        llm.map_sync(range(400), prompt, checkpoint=path, concurrency=4, progress=False)
    unsubscribe()
    first = sent_rows(fake)
    assert 5 <= len(first) < 100  # stopped, not run to the end
    fake.clear()
    again = llm.map_sync(range(400), prompt, checkpoint=path, concurrency=4, progress=False)
    assert again.skipped == len(first) and again.done == 400  # every call in flight committed
    assert sorted(first + sent_rows(fake)) == list(range(400))  # none sent twice


def test_no_key_reaches_the_checkpoint(
    bctx: LLMContext, fake: FakeProviderServer, tmp_path: Path
) -> None:
    path = tmp_path / "run.sqlite"
    llm = bctx.llm("openai")
    fake.script(Fault(401, message=f"bad key {llm.profile.api_key}"))
    llm.map_sync(range(3), prompt, checkpoint=path, concurrency=1, progress=False)
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the WAL file too
    assert b"You said: Row 1" in data and b"bad key ***" in data  # results and the error...
    assert llm.profile.api_key.encode() not in data  # ...but never the key


def test_the_rate_limit_sets_the_pace(fake: FakeProviderServer) -> None:
    """On a FakeClock: 300 items at rpm 60 take the 4 minutes the limit allows (within 10%),
    and no minute sees more than 60 grants (each call's `sent_at`, on the context clock)."""
    clock = FakeClock()
    profiles = fake.profiles(openai={"rate_limit": {"rpm": 60}})
    with LLMContext(profiles, clock=clock) as ctx:
        granted: list[float] = []
        ctx.on_usage(lambda record: granted.append(record.sent_at or 0.0))
        run = ctx.llm("openai").map_sync(range(300), prompt, concurrency=8, progress=False)
    assert run.done == 300 and len(granted) == 300
    granted.sort()
    assert max(sum(1 for t in granted if s <= t < s + 60) for s in granted) <= 60
    steady = (len(granted) - 60) / (granted[-1] - granted[0]) * 60  # after the first minute
    assert 54 <= steady <= 66


def test_the_progress_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    bar = Terminal()
    shown = progress_for(True, 3, 1, bar)
    shown.advance(1200, 0.25)
    shown.advance(0, None)
    shown.close()
    assert "3/3" in bar.getvalue() and "1,200 tokens" in bar.getvalue()
    monkeypatch.setitem(sys.modules, "tqdm", None)  # without tqdm: one line rewritten in place
    line = Terminal()
    plain = progress_for(True, 2, 0, line)
    plain.advance(10, 0.5)
    plain.advance(5, None)
    plain.close()
    assert (
        "\r2/2" in line.getvalue()
        and "15 tokens" in line.getvalue()
        and "$0.5000" in line.getvalue()
    )
    quiet = io.StringIO()
    progress_for(True, 2, 0, quiet).close()  # not a terminal: nothing drawn
    progress_for(False, 2, 0, Terminal()).close()
    assert quiet.getvalue() == ""
