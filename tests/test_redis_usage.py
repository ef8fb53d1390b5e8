"""Shared usage totals in a real `redis-server`: a batch of records is summed before it is
sent, so the totals are exact and the round trip carries one increment per hash and field."""

from __future__ import annotations

import pytest

from llm_context.limits.shared_usage import SharedUsage
from llm_context.metering import UsageRecord, UsageTotals
from llm_context.testing.redis_server import RedisServer, redis_server_available

pytestmark = pytest.mark.skipif(
    not redis_server_available(), reason="redis-server is not installed (`make test` installs it)"
)


def _record(n: int) -> UsageRecord:
    model = "small" if n % 3 else "large"
    usage = {"input_tokens": 10 + n, "output_tokens": n % 7, "total_tokens": 10 + n + n % 7}
    error = "LLMServerError" if n % 11 == 0 else None
    return UsageRecord(
        "p", "openai", model, "chat", usage, 0.001 * n, 1, error=error, cost=0.0001, retries=n % 2
    )


def test_a_batch_is_summed_before_it_is_sent() -> None:
    import redis

    records = [_record(n) for n in range(120)]
    with RedisServer() as server:
        shared = SharedUsage(server.url)
        try:
            for record in records:
                shared.record(record)
            report = shared.report()  # sends what is queued first
        finally:
            shared.close()
        client = redis.Redis.from_url(server.url, decode_responses=True)
        stats = client.info("commandstats")
        client.close()
    expected = UsageTotals()
    for record in records:
        expected = expected.add(record)
    for got in (report.total, report.by_profile["p"], report.by_provider["openai"]):
        assert (got.calls, got.errors, got.retries) == (120, expected.errors, expected.retries)
        assert (got.input_tokens, got.output_tokens) == (
            expected.input_tokens,
            expected.output_tokens,
        )
        assert got.latency_s == pytest.approx(expected.latency_s)
        assert got.cost == pytest.approx(expected.cost)
    assert report.by_model["small"].calls == 80 and report.by_model["large"].calls == 40
    # One record at a time would take 120 x 5 hashes' worth of HINCRBY (~2400): summed, a
    # batch takes one per hash and field (5 hashes, a few batches at most).
    assert stats["cmdstat_hincrby"]["calls"] < 200
