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
    assert _positive(written["embed_speedup"])
    assert _positive(written["import_ms"])
    assert set(written["targets_met"]) == {
        "import_ms",
        "import_full_ms",
        "overhead_ratio",
        "stream_ratio",
        "events_ratio",
        "async_c50",
        "async_pool_ratio",
        "shared_limit_added_ms",
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
