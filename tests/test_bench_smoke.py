"""A smoke run of the benchmark suite (`make bench`) with tiny sizes, so its code cannot rot.

Timings at these sizes are noise: nothing here looks at them. What is checked is that every
section runs end to end against the real SDKs and the fake server, that results.json keeps
its shape, and the import hygiene the benchmark reports: no provider SDK on `import
llm_context`, and only the called provider's SDK after a first call.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import BenchConfig, run
from bench.report import render

HEADLINE = {
    "machine",
    "import_ms",
    "import_sdk_modules",
    "overhead_ratio",
    "stream_ratio",
    "first_delta_ratio",
    "events_ratio",
    "async_throughput_ratio",
    "async_pool_ratio",
    "async_pool_ratio_by_provider",
    "async_latency_throughput_ratio",
    "async_latency_floor_ratio",
    "bulk_ratio",
    "embed_speedup",
}


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and value > 0 and math.isfinite(value)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One tiny run of every section (about ten seconds, mostly fresh interpreters)."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    return run(BenchConfig.smoke(), out=out, log=lambda text: None), out


def test_every_section_runs_and_writes_the_results_shape(
    smoke_run: tuple[dict[str, Any], Path],
) -> None:
    result, out = smoke_run
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert set(written) >= HEADLINE
    providers = written["details"]["providers"]
    assert "openai" in providers
    for key in ("overhead_ratio", "stream_ratio", "first_delta_ratio", "events_ratio"):
        assert set(written[key]) == set(providers), key
        assert all(_positive(v) for v in written[key].values()), key
    assert set(written["async_throughput_ratio"]) == {"c2", "c4"}
    assert all(_positive(v) for v in written["async_throughput_ratio"].values())
    assert set(written["async_pool_ratio"]) == {"c2", "c4"}  # against the thread-pool floor
    assert all(_positive(v) for v in written["async_pool_ratio"].values())
    by_provider = written["async_pool_ratio_by_provider"]
    assert set(by_provider) == set(providers)  # the floor on every SDK family
    assert all(_positive(v) for ratios in by_provider.values() for v in ratios.values())
    assert set(written["async_latency_throughput_ratio"]) == {"c2", "c4"}
    assert set(written["async_latency_floor_ratio"]) == {"c2", "c4"}
    assert all(_positive(v) for v in written["async_latency_throughput_ratio"].values())
    assert _positive(written["bulk_ratio"])
    bulk = written["details"]["bulk"]  # the runner, with and without a checkpoint, finished
    assert _positive(bulk["runner_items_s"]) and _positive(bulk["runner_checkpoint_items_s"])
    assert _positive(written["embed_speedup"])
    assert _positive(written["import_ms"])
    assert set(written["targets_met"]) == {
        "import_ms",
        "import_full_ms",
        "overhead_ratio",
        "stream_ratio",
        "first_delta_ratio",
        "events_ratio",
        "shared_limit_added_ms",
        "async_pool_ratio",
        "async_latency_throughput_ratio",
    }
    shared = written["details"]["shared_limits"]  # a real redis-server: make test installs it
    assert _positive(shared["limited_ms"]) and _positive(shared["unlimited_ms"])

    # Keep-alive: after a warm-up call neither a chat nor a stream opens a new connection
    # (a stream that drops its connection pays a TCP and TLS handshake on every call).
    for section in ("overhead", "streams"):
        for provider, figures in written["details"][section].items():
            assert figures["connects_per_call"]["ours"] == 0, (section, provider)

    table = render(result)
    for provider in providers:
        assert f"chat_sync {provider}" in table


def test_import_hygiene_as_the_benchmark_sees_it(smoke_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = smoke_run
    assert result["import_sdk_modules"] == []
    first = result["details"]["first_calls"]["openai"]
    assert "openai" in first["modules"]
    assert not {"anthropic", "google.genai"} & set(first["modules"])


def test_the_peers_run_measures_us_and_names_each_missing_peer() -> None:
    """`make bench-peers` runs in .venv-peers; here, in the project's venv, the peers are not
    installed (they must never be), so the run measures llm_context and says, per peer, that
    it is missing and how to get it."""
    from bench.peers import PeersConfig, measure_peers, render_peers

    result = measure_peers(PeersConfig.smoke())
    ours = result["libraries"]["llm_context"]
    assert ours["same_body"] is True  # the same body as the raw responses.create call
    for key in ("call_ratio", "stream_ratio", "first_delta_ratio", "async_ratio"):
        assert _positive(ours[key]), key
    assert set(result["missing"]) == {"litellm", "any-llm", "aisuite"}
    table = render_peers(result)
    assert "| llm_context" in table
    assert table.count("make bench-peers") == 3
