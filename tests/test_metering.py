"""Usage metering: records per call and profile, totals, callbacks, cost; never raising."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading

import pytest

from llm_context import LLMContext, LLMOutputError, LLMServerError, LLMStreamError
from llm_context.clock import FakeClock
from llm_context.config.settings import Pricing
from llm_context.metering import Meter, UsageRecord, UsageTotals, cost_of
from llm_context.providers.registry import spec_for
from llm_context.testing import EmbeddingReply, FakeProviderServer, Fault, Reply, UsageReply

from .conftest import built_providers, make_context

HELLO = [{"role": "user", "content": "Hello"}]
STEADY = {"max_attempts": 3, "initial_backoff_s": 0.5, "jitter": False}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}


def recorder(ctx: LLMContext) -> list[UsageRecord]:
    records: list[UsageRecord] = []
    ctx.on_usage(records.append)
    return records


def test_a_chat_is_recorded(fake: FakeProviderServer, fake_clock: FakeClock) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY)
    records = recorder(ctx)
    fake.script(
        Fault(503),
        Reply("hi", usage=UsageReply(input_tokens=12, output_tokens=5, cached_input_tokens=2)),
    )
    ctx.llm("openai").chat_sync(HELLO)
    [record] = records
    assert (record.profile, record.provider, record.model) == ("openai", "openai", "gpt-4.1-mini")
    assert record.operation == "chat" and record.error is None
    assert record.attempts == 2 and record.retries == 1
    assert record.usage["input_tokens"] == 12 and record.usage["output_tokens"] == 5
    assert record.latency_s == 0.5  # the backoff, on the fake clock
    assert record.sent_at == 0.5 and record.cost is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.profile = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.usage["input_tokens"] = 0  # type: ignore[index]
    total = ctx.usage().total
    assert (total.calls, total.errors, total.retries) == (1, 0, 1)
    assert (total.input_tokens, total.output_tokens, total.cached_input_tokens) == (12, 5, 2)


@pytest.mark.parametrize("provider", built_providers())
def test_every_provider_is_metered(fake: FakeProviderServer, provider: str) -> None:
    ctx = make_context(fake)
    fake.script(Reply("hi", usage=UsageReply(input_tokens=7, output_tokens=3)))
    ctx.llm(provider).chat_sync(HELLO)
    fake.script(Reply(deltas=("a", "b"), usage=UsageReply(input_tokens=4, output_tokens=2)))
    ctx.llm(provider).chat_stream_sync(HELLO)
    report = ctx.usage()
    totals = report.by_provider[provider]
    assert totals.calls == 2 and totals.input_tokens == 11 and totals.output_tokens == 5
    assert report.by_profile[provider] == totals


def test_errors_are_recorded_with_their_type(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY)
    records = recorder(ctx)
    fake.script(Fault(503), Fault(503), Fault(503))
    with pytest.raises(LLMServerError):
        ctx.llm("openai").chat_sync(HELLO)
    [record] = records
    assert record.error == "LLMServerError" and record.attempts == 3
    assert record.latency_s == 1.5
    total = ctx.usage().total
    assert (total.calls, total.errors, total.retries) == (1, 1, 2)


def test_pricing_adds_cost(fake: FakeProviderServer) -> None:
    pricing = {"input_per_million": 2.0, "output_per_million": 8.0, "cached_input_per_million": 0.5}
    ctx = make_context(fake, pricing=pricing)
    records = recorder(ctx)
    fake.script(
        Reply(
            "x",
            usage=UsageReply(
                input_tokens=1_000_000, output_tokens=500_000, cached_input_tokens=200_000
            ),
        )
    )
    ctx.llm("openai").chat_sync(HELLO)
    # 800k fresh input at $2, 200k cached at $0.50, 500k output at $8.
    assert records[0].cost == pytest.approx(1.6 + 0.1 + 4.0)
    assert ctx.usage().total.cost == pytest.approx(5.7)


def test_cost_of() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 100, "cached_input_tokens": 400}
    assert cost_of(usage, None) is None
    no_cache_rate = Pricing(input_per_million=1.0, output_per_million=2.0)
    assert cost_of(usage, no_cache_rate) == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6)
    assert cost_of({}, no_cache_rate) == 0.0


def test_breakdown_by_profile_provider_and_model(fake: FakeProviderServer) -> None:
    ctx = make_context(fake)
    ctx.llm("openai").chat_sync(HELLO)
    ctx.llm("openai").chat_sync(HELLO, model="gpt-4.1")
    ctx.llm("azure").chat_sync(HELLO)
    ctx.llm("openai").embed_sync(["a", "b"])
    report = ctx.usage()
    assert report.total.calls == 4
    assert report.by_profile["openai"].calls == 3 and report.by_profile["azure"].calls == 1
    assert report.by_model["gpt-4.1"].calls == 1
    assert report.by_provider["azure"].calls == 1
    assert set(report.as_dict()) == {"total", "by_profile", "by_provider", "by_model"}
    ctx.reset_usage()
    assert ctx.usage().total.calls == 0


def test_a_raising_callback_is_logged_not_raised(
    fake: FakeProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_context(fake)
    seen: list[UsageRecord] = []

    def broken(record: UsageRecord) -> None:
        raise RuntimeError("callback bug")

    ctx.on_usage(broken)
    ctx.on_usage(seen.append)
    with caplog.at_level(logging.ERROR, logger="llm_context"):
        assert ctx.llm("openai").chat_sync(HELLO).text
    assert len(seen) == 1  # later callbacks still run
    assert any("on_usage callback" in r.getMessage() for r in caplog.records)


def test_unsubscribe(fake: FakeProviderServer) -> None:
    ctx = make_context(fake)
    seen: list[UsageRecord] = []
    stop = ctx.on_usage(seen.append)
    ctx.llm("openai").chat_sync(HELLO)
    stop()
    stop()
    ctx.llm("openai").chat_sync(HELLO)
    assert len(seen) == 1 and ctx.usage().total.calls == 2


def test_repair_attempts_sum_usage_on_every_provider(fake: FakeProviderServer) -> None:
    for provider in built_providers():
        ctx = make_context(fake)
        records = recorder(ctx)
        fake.clear()
        fake.script(
            Reply("not json", usage=UsageReply(input_tokens=10, output_tokens=4)),
            Reply('{"nom": 1}', usage=UsageReply(input_tokens=20, output_tokens=4)),
            Reply('{"name": "Ada"}', usage=UsageReply(input_tokens=30, output_tokens=4)),
        )
        result = ctx.llm(provider).chat_sync(
            HELLO, output_format="json_schema", json_schema=PERSON, repair_attempts=2
        )
        assert result.parsed == {"name": "Ada"}, provider
        assert result.usage["input_tokens"] == 60 and result.usage["output_tokens"] == 12
        assert len(fake.requests) == 3
        # The second request carries the bad reply and what was wrong with it.
        assert "not json" in fake.requests[1].body.decode()
        [record] = records
        assert record.attempts == 3 and record.usage["input_tokens"] == 60
        assert (record.retries, record.repairs) == (0, 2)


def test_repair_that_runs_out_records_the_output_error(fake: FakeProviderServer) -> None:
    ctx = make_context(fake)
    records = recorder(ctx)
    fake.script(Reply("nope", usage=UsageReply(input_tokens=5, output_tokens=1)), Reply("still no"))
    with pytest.raises(LLMOutputError):
        ctx.llm("openai").chat_sync(
            HELLO, output_format="json_schema", json_schema=PERSON, repair_attempts=1
        )
    assert records[0].error == "LLMOutputError" and records[0].usage["input_tokens"] >= 5


def test_streams_are_recorded_when_they_end(fake: FakeProviderServer) -> None:
    ctx = make_context(fake)
    records = recorder(ctx)
    fake.script(Reply(deltas=("a", "b", "c"), usage=UsageReply(input_tokens=9, output_tokens=3)))
    stream = ctx.llm("openai").stream_sync(HELLO)
    assert next(stream) == "a" and records == []
    assert list(stream) == ["b", "c"]
    [record] = records
    assert record.operation == "stream" and record.usage["input_tokens"] == 9
    # Closed early by the caller: recorded, not an error.
    fake.script(Reply(deltas=("x", "y")))
    with ctx.llm("openai").stream_sync(HELLO) as early:
        next(early)
    assert records[1].error is None
    # Cut by the provider: an error.
    fake.script(Reply(deltas=("x", "y"), cut_after=1))
    with pytest.raises(LLMStreamError):
        list(ctx.llm("openai").stream_sync(HELLO))
    assert records[2].error == "LLMStreamError"


def test_fallback_records_each_profile(fake: FakeProviderServer) -> None:
    ctx = make_context(fake, retry={"max_attempts": 1})
    ctx.profiles.update("openai", fallbacks=["anthropic"])
    records = recorder(ctx)
    fake.script(Fault(503), Reply("backup"))
    ctx.llm("openai").chat_sync(HELLO)
    assert [(r.profile, r.error) for r in records] == [
        ("openai", "LLMServerError"),
        ("anthropic", None),
    ]


def test_embed_image_and_raw_are_recorded(fake: FakeProviderServer) -> None:
    ctx = make_context(fake)
    records = recorder(ctx)
    llm = ctx.llm("openai")
    llm.embed_sync(["a", "b"])
    llm.generate_image_sync("a cat")
    llm.raw_sync(path="/models")
    assert [r.operation for r in records] == ["embed", "image", "raw"]
    assert all(r.error is None and r.attempts == 1 for r in records)


def test_only_the_retry_policys_resends_are_retries(
    fake: FakeProviderServer, fake_clock: FakeClock
) -> None:
    ctx = make_context(fake, clock=fake_clock, retry=STEADY)
    records = recorder(ctx)
    llm = ctx.llm("openai")
    size = spec_for("openai").max_embed_batch
    # Batches are requests, not retries; a 503 on the second batch is one retry.
    fake.script(EmbeddingReply(), Fault(503))
    llm.embed_sync(["t"] * (2 * size + 1))
    assert len(fake.requests) == 4
    assert (records[-1].attempts, records[-1].retries, records[-1].repairs) == (4, 1, 0)
    # A stream re-opened after a 503 is a retry too.
    fake.script(Fault(503), Reply(deltas=("a", "b")))
    assert list(llm.stream_sync(HELLO)) == ["a", "b"]
    assert (records[-1].attempts, records[-1].retries) == (2, 1)
    assert ctx.usage().total.retries == 2 and fake_clock.sleeps == [0.5, 0.5]


def test_async_calls_are_recorded(fake: FakeProviderServer) -> None:
    ctx = make_context(fake)
    records = recorder(ctx)

    async def main() -> None:
        await asyncio.gather(*(ctx.llm("openai").chat(HELLO) for _ in range(5)))
        async for _ in ctx.llm("openai").stream(HELLO):
            pass

    asyncio.run(main())
    assert [r.operation for r in records].count("chat") == 5
    assert [r.operation for r in records].count("stream") == 1


def test_meter_is_thread_safe() -> None:
    meter = Meter()
    counted: list[int] = []
    meter.on_usage(lambda r: counted.append(1))
    record = UsageRecord("p", "openai", "m", "chat", {"input_tokens": 1}, 0.1, 2, retries=1)

    def work() -> None:
        for _ in range(500):
            meter.record(record)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = meter.report().total
    assert total.calls == 4000 and total.input_tokens == 4000 and total.retries == 4000
    assert len(counted) == 4000


def test_a_broken_usage_dict_never_fails_the_call(caplog: pytest.LogCaptureFixture) -> None:
    meter = Meter()
    bad = UsageRecord("p", "openai", "m", "chat", {"input_tokens": "lots"}, 0.0, 1)  # type: ignore[dict-item]
    with caplog.at_level(logging.ERROR, logger="llm_context"):
        meter.record(bad)
    assert meter.report().total.calls == 0
    assert any("metering failed" in r.getMessage() for r in caplog.records)


def test_a_report_is_a_snapshot_with_the_same_sums_as_usage_totals() -> None:
    meter = Meter()
    usage = {"input_tokens": 3, "output_tokens": 2, "cached_input_tokens": 1}
    record = UsageRecord(
        "p", "openai", "m", "chat", usage, 0.5, 2, "LLMServerError", 0.25, retries=1
    )
    meter.record(record)
    before = meter.report()
    meter.record(record)
    after = meter.report()
    assert before.total.calls == 1 and before.by_model["m"].input_tokens == 3
    assert after.total == UsageTotals().add(record).add(record)
    assert after.total == UsageTotals(2, 2, 2, 6, 4, 0, 2, 0, 1.0, 0.5)
    assert after.by_profile["p"] == after.by_provider["openai"] == after.by_model["m"]
    assert after.by_model["m"] == after.total


def test_a_broken_record_leaves_no_trace() -> None:
    meter = Meter()
    meter.record(UsageRecord("p", "openai", "m", "chat", {"input_tokens": 1}, 0.0, 1))
    bad = UsageRecord("q", "anthropic", None, "chat", {"output_tokens": "x"}, 0.0, 1)  # type: ignore[dict-item]
    meter.record(bad)
    report = meter.report()
    assert report.total.calls == 1 and report.total.output_tokens == 0
    assert list(report.by_profile) == ["p"] and list(report.by_model) == ["m"]
