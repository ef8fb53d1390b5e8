"""Provider batch APIs through the real SDKs against the fake server's batch endpoints:
OpenAI and Azure (Files API + /batches, on Azure's v1 and dated APIs), Anthropic (Message
Batches) and Gemini (batch mode). Results come back per item in input order, parsed by the
chat parsers, checked against a JSON schema and metered at the batch discount; bad input
raises before anything is uploaded; a job is reattached by id from a new process.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

from llm_context import (
    BatchStatus,
    ChatResult,
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMBatchItemError,
    LLMContext,
    LLMInputError,
    LLMOutputError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnsupportedFeatureError,
    UsageRecord,
)
from llm_context.clock import FakeClock
from llm_context.testing import BatchLifecycle, FakeProviderServer, Fault, Reply, UsageReply

from .batch_workers import reattach
from .conftest import FAST_RETRY

# (profile, provider, settings): Azure on both of its APIs.
BATCH_PROFILES = {
    "openai": {},
    "azure": {},
    "azure_v1": {"provider": "azure", "api_version": "v1"},
    "anthropic": {},
    "google": {},
}
PRICING = {"input_per_million": 2.0, "output_per_million": 8.0}


def ask(i: int) -> dict[str, Any]:
    return {"custom_id": f"row-{i}", "messages": [{"role": "user", "content": f"Row {i}"}]}


@pytest.fixture
def bctx(fake: FakeProviderServer) -> Iterator[LLMContext]:
    profiles = {name: {**given, "pricing": PRICING} for name, given in BATCH_PROFILES.items()}
    with LLMContext(fake.profiles(**profiles)) as ctx:
        yield ctx


def uploads(fake: FakeProviderServer) -> list[Any]:
    """The batch requests the server saw (uploads, creates, reads...)."""
    return fake.requests_for("batches") + fake.requests_for("files")


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
def test_a_thousand_requests_with_partial_failures(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    failing = {17: 400, 503: 500, 998: 429}
    fake.script(*[Fault(failing[i]) if i in failing else Reply(f"answer {i}") for i in range(1000)])
    job = bctx.llm(profile).batch_sync([ask(i) for i in range(1000)])
    assert job.status in (BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS)
    assert job.custom_ids == tuple(f"row-{i}" for i in range(1000))
    job.wait(poll_s=0.01, timeout=30)
    assert job.status is BatchStatus.COMPLETED and job.status.ended
    assert (job.counts.total, job.counts.succeeded, job.counts.failed) == (1000, 997, 3)
    results = job.results()
    assert list(results) == [f"row-{i}" for i in range(1000)]  # input order, whatever the file's
    errors = {17: LLMBadRequestError, 503: LLMServerError, 998: LLMRateLimitError}
    for i, outcome in enumerate(results.values()):
        if i in failing:
            assert isinstance(outcome, errors[i]) and outcome.status_code == failing[i]
        else:
            assert isinstance(outcome, ChatResult) and outcome.text == f"answer {i}"
            assert outcome.profile == profile
    # Nothing was sent through the single-call endpoints: the batch did all the work.
    assert fake.requests_for("chat") == []


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
def test_each_line_is_the_chat_calls_request(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    """A batch item's body is what `chat_sync` would send (minus what only a call has)."""
    options = {"max_output_tokens": 50, "tools": [LOOKUP]}
    llm = bctx.llm(profile)
    llm.chat_sync(ask(0)["messages"], **options)
    sent = dict(fake.requests_for("chat")[-1].json)
    job = llm.batch_sync([{**ask(0), **options}])
    body = batch_bodies(fake, job.id)[0]
    for key in ("stream", "stream_options"):
        sent.pop(key, None)
    assert body == sent


LOOKUP = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}


def batch_bodies(fake: FakeProviderServer, job_id: str) -> list[dict[str, Any]]:
    """The request bodies of a batch as the server received them."""
    create = next(r for r in fake.requests_for("batches") if r.method == "POST")
    if create.provider == "anthropic":
        return [row["params"] for row in create.json["requests"]]
    if create.provider == "google":
        rows = create.json["batch"]["inputConfig"]["requests"]["requests"]
        return [{k: v for k, v in row["request"].items() if k != "model"} for row in rows]
    upload = fake.requests_for("files")[0]
    data = upload.body.split(b"\r\n\r\n", 2)[-1]
    lines = [json.loads(x) for x in data.split(b"\n") if x.startswith(b"{")]
    return [line["body"] for line in lines]


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
def test_a_job_reattached_by_id_from_a_new_process(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    fake.batch_lifecycle = BatchLifecycle(polls=2)
    fake.script(Reply("first"), Fault(400), Reply("third"))
    job = bctx.llm(profile).batch_sync([ask(i) for i in range(3)])
    profiles = fake.profiles(**BATCH_PROFILES)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        seen = pool.apply(reattach, (profiles, profile, job.id))
    by_id = dict(seen)
    assert by_id == {"row-0": "first", "row-1": "LLMBadRequestError", "row-2": "third"}
    if profile != "anthropic":  # Anthropic's results come in no order; OpenAI's file keeps it
        assert [cid for cid, _ in seen] == ["row-0", "row-1", "row-2"]


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
@pytest.mark.parametrize("end", ["cancelled", "expired"])
def test_a_cancelled_or_expired_job_keeps_what_ran(
    bctx: LLMContext, fake: FakeProviderServer, profile: str, end: str
) -> None:
    ending = "completed" if end == "cancelled" else "expired"
    fake.batch_lifecycle = BatchLifecycle(polls=5, end=ending, finished=2)  # type: ignore[arg-type]
    job = bctx.llm(profile).batch_sync([ask(i) for i in range(5)])
    if end == "cancelled":
        job.refresh()
        job.cancel()
        assert job.status in (
            BatchStatus.CANCELLING,
            BatchStatus.CANCELLED,
            BatchStatus.IN_PROGRESS,
        )
    job.wait(poll_s=0.01, timeout=30)
    assert job.status is BatchStatus(end)
    results = job.results()
    assert list(results) == [f"row-{i}" for i in range(5)]
    assert all(isinstance(results[f"row-{i}"], ChatResult) for i in range(2))
    for i in range(2, 5):
        error = results[f"row-{i}"]
        assert isinstance(error, LLMBatchItemError) and error.reason == end
        assert "send it again" in str(error)


# Anthropic has no failed jobs: it refuses a bad request when the batch is created.
@pytest.mark.parametrize("profile", [p for p in BATCH_PROFILES if p != "anthropic"])
def test_a_failed_job_has_no_results(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    fake.batch_lifecycle = BatchLifecycle(end="failed")
    job = bctx.llm(profile).batch_sync([ask(0)]).wait(poll_s=0.01, timeout=30)
    assert job.status is BatchStatus.FAILED
    with pytest.raises(LLMBadRequestError, match="as a whole"):
        job.results()


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
def test_json_schema_is_checked_per_item_and_usage_metered_at_half_price(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    usage = UsageReply(input_tokens=1000, output_tokens=500)
    fake.script(Reply('{"n": 1}', usage=usage), Reply('{"n": "one"}', usage=usage))
    records: list[UsageRecord] = []
    bctx.on_usage(records.append)
    requests = [{**ask(i), "output_format": "json_schema", "json_schema": schema} for i in range(2)]
    job = bctx.llm(profile).batch_sync(requests).wait(poll_s=0.01, timeout=30)
    results = job.results()
    good, bad = results["row-0"], results["row-1"]
    assert isinstance(good, ChatResult) and good.parsed == {"n": 1}
    assert isinstance(bad, LLMOutputError)
    items = [r for r in records if r.batch]
    assert len(items) == 2 and all(r.operation == "chat" for r in items)
    full = (1000 * 2.0 + 500 * 8.0) / 1_000_000
    assert [r.cost for r in items] == [pytest.approx(full / 2)] * 2
    assert items[1].error == "LLMOutputError"
    job.results()  # read again: served from the job, metered once
    assert len([r for r in records if r.batch]) == 2
    assert bctx.usage().by_profile[profile].cost == pytest.approx(full)


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
def test_bad_input_raises_before_anything_is_uploaded(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    llm = bctx.llm(profile)
    cases: list[tuple[Any, str]] = [
        ([], "at least one request"),
        ({"messages": []}, "list of dicts"),
        ([ask(0), ask(0)], "used twice"),
        ([{**ask(0), "custom_id": "has space"}], "custom_id must be"),
        ([{"custom_id": "a"}], "has no messages"),
        ([{**ask(0), "timeout": 5}], "timeout has no place in a batch"),
        ([{**ask(0), "retry": {"max_attempts": 2}}], "retry has no place"),
        ([ask(0), {**ask(1), "max_output_tokens": -1}], r"requests\[1\] \(row-1\)"),
        ([{**ask(0), "bogus_option": 1}], "bogus_option"),
        ("just text", "list of dicts"),
    ]
    for requests, message in cases:
        with pytest.raises(LLMInputError, match=message):
            llm.batch_sync(requests)
    if profile != "anthropic":  # one model a job everywhere but Anthropic
        with pytest.raises(LLMInputError, match="one model"):
            llm.batch_sync([ask(0), {**ask(1), "model": "another-model"}])
    with pytest.raises(LLMInputError, match="job_id"):
        llm.batch_job_sync("not an id")
    assert fake.requests == []


def test_an_unsupported_feature_in_an_item_raises_before_uploading(
    bctx: LLMContext, fake: FakeProviderServer
) -> None:
    with pytest.raises(LLMUnsupportedFeatureError, match="temperature"):
        bctx.llm("anthropic").batch_sync([ask(0), {**ask(1), "temperature": 0.3}])
    assert fake.requests == []


def test_too_many_requests_for_the_provider(bctx: LLMContext, fake: FakeProviderServer) -> None:
    requests = [ask(i) for i in range(10_001)]
    with pytest.raises(LLMInputError, match="at most 10,000 requests"):
        bctx.llm("google").batch_sync(requests)
    assert fake.requests == []


@pytest.mark.parametrize("provider", ["openrouter", "lmstudio", "ollama"])
def test_providers_without_a_batch_api_raise_before_sending(
    fake: FakeProviderServer, provider: str
) -> None:
    with LLMContext(fake.profiles()) as ctx:
        llm = ctx.llm(provider)
        for attempt in (
            lambda: llm.batch_sync([ask(0)]),
            lambda: llm.batch_job_sync("batch_1"),
            lambda: ctx.batch("batch_1", profile=provider),
            lambda: asyncio.run(llm.batch([ask(0)])),
        ):
            with pytest.raises(LLMUnsupportedFeatureError, match="batch API") as info:
                attempt()
            assert info.value.provider == provider
    assert fake.requests == []


@pytest.mark.parametrize("profile", ["openai", "anthropic", "google"])
def test_async_twins(bctx: LLMContext, fake: FakeProviderServer, profile: str) -> None:
    fake.batch_lifecycle = BatchLifecycle(polls=2)
    fake.script(Reply("a"), Reply("b"))

    async def main() -> dict[str, Any]:
        llm = bctx.llm(profile)
        job = await llm.batch([ask(0), ask(1)])
        await job.wait_async(poll_s=0.01, timeout=30)
        again = await llm.batch_job(job.id)
        assert again.status is BatchStatus.COMPLETED
        other = await llm.batch([ask(2)])
        await other.cancel_async()
        await other.refresh_async()
        assert other.status is BatchStatus.CANCELLED
        return await job.results_async()

    results = asyncio.run(main())
    assert [r.text for r in results.values() if isinstance(r, ChatResult)] == ["a", "b"]


def test_results_before_the_end_and_a_bounded_wait(fake: FakeProviderServer) -> None:
    clock = FakeClock()
    fake.batch_lifecycle = BatchLifecycle(polls=1000)
    with LLMContext(fake.profiles(openai={"retry": FAST_RETRY}), clock=clock) as ctx:
        job = ctx.llm("openai").batch_sync([ask(0)])
        with pytest.raises(LLMInputError, match="wait"):
            job.results()
        with pytest.raises(LLMTimeoutError, match="still in_progress after 90 s"):
            job.wait(poll_s=30, timeout=90)
        assert clock.sleeps == [30.0, 30.0, 30.0]
        with pytest.raises(LLMInputError, match="poll_s"):
            job.wait(poll_s=0)
    assert "test-key" not in repr(job)


def test_the_fake_refuses_a_bad_input_file(fake: FakeProviderServer) -> None:
    """Prism-style: each JSONL line must be a valid request for the batch's endpoint."""
    import openai

    client = openai.OpenAI(api_key="k", base_url=fake.base_url("openai"), max_retries=0)
    good = {"model": "gpt-4.1-mini", "input": "hi"}
    files = {
        "not valid JSON": b"{oops\n",
        "custom_id missing or used before": (
            json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": good})
            + "\n"
        ).encode()
        * 2,
        "url /v1/responses": json.dumps(
            {"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": good}
        ).encode(),
        "needs 'input'": json.dumps(
            {"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {"model": "m"}}
        ).encode(),
    }
    for reason, data in files.items():
        upload = client.files.create(file=("in.jsonl", data), purpose="batch")
        batch = client.batches.create(
            input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
        )
        batch = client.batches.retrieve(batch.id)
        assert batch.status == "failed"
        assert batch.errors is not None and reason in (batch.errors.data or [])[0].message
    client.close()


def test_batch_discount_is_a_share(fake: FakeProviderServer) -> None:
    from llm_context import LLMConfigError

    bad = fake.profiles(openai={"pricing": {"input_per_million": 1, "batch_discount": 1.5}})
    with pytest.raises(LLMConfigError, match="batch_discount"):
        LLMContext(bad).llm("openai")


@pytest.mark.parametrize("profile", list(BATCH_PROFILES))
def test_an_item_error_that_echoes_the_key_does_not_show_it(
    bctx: LLMContext, fake: FakeProviderServer, profile: str
) -> None:
    llm = bctx.llm(profile)
    key = llm.profile.api_key
    assert key
    fake.script(Fault(401, message=f"Incorrect API key provided: {key}"))
    results = llm.batch_sync([ask(0)]).wait(poll_s=0.01, timeout=30).results()
    error = results["row-0"]
    assert isinstance(error, LLMAuthenticationError)
    assert key not in str(error) and "***" in str(error)
