"""Benchmarks: llm_context against the raw provider SDKs, on the same machine in the same run,
over the fake provider server on loopback. Run with `make bench` or `python -m bench`.

Sections: import cost, per-call overhead, streaming, async throughput, the bulk runner,
embeddings, and the shared (Redis) rate limiter's cost per call. Results go to
`bench/results.json`; time ratios are ours ÷ raw SDK, throughput ratios ours ÷ native async.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import BenchConfig

__all__ = ["RESULTS_PATH", "SECTIONS", "BenchConfig", "run"]

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
SECTIONS = (
    "imports",
    "overhead",
    "streams",
    "throughput",
    "bulk",
    "embeddings",
    "shared_limits",
)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(
    config: BenchConfig,
    *,
    sections: Sequence[str] = SECTIONS,
    out: Path | None = RESULTS_PATH,
    log: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Run the chosen sections; write `out` (unless None) and return the results."""
    from llm_context import LLMContext

    from .bulk import measure_bulk
    from .embeddings import measure_embeddings
    from .import_cost import measure_first_calls, measure_imports
    from .overhead import measure_overhead
    from .report import summarize, write
    from .server import ServerProcess
    from .shared_limits import measure_shared_limits
    from .streams import measure_streams
    from .subjects import available_providers, make_subjects
    from .throughput import measure_throughput

    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    load = [round(x, 2) for x in os.getloadavg()]
    details: dict[str, Any] = {}
    started = time.perf_counter()
    if "imports" in sections:
        log("import cost: fresh interpreters ...")
        details["imports"] = measure_imports(config)
    with ServerProcess() as server, LLMContext(server.profiles) as context:
        providers = available_providers(server)
        details["providers"] = providers
        subjects, details["same_request"] = make_subjects(server, context, providers)
        try:
            if "imports" in sections:
                log(f"import + first call: {', '.join(providers)} ...")
                details["first_calls"] = measure_first_calls(server.profiles, providers, config)
            if "overhead" in sections:
                log("per-call overhead ...")
                details["overhead"] = measure_overhead(server, subjects, config)
            if "streams" in sections:
                log("streaming ...")
                details["streams"] = measure_streams(server, subjects, config)
            first = subjects[0]
            if "throughput" in sections:
                log("async throughput ...")
                details["throughput"] = measure_throughput(server, subjects, config)
            if "bulk" in sections:
                log(f"bulk runner ({first.provider}) ...")
                details["bulk"] = measure_bulk(server, first, config)
            if "embeddings" in sections:
                log(f"embeddings ({first.provider}) ...")
                details["embeddings"] = measure_embeddings(server, first, config)
            if "shared_limits" in sections:
                log("shared rate limiter (redis) ...")
                details["shared_limits"] = measure_shared_limits(server, config)
            errors = server.state()["errors"]
            if errors:
                raise RuntimeError(f"the fake server's handlers crashed: {errors[0]}")
        finally:
            for subject in subjects:
                subject.close()
    details["seconds"] = round(time.perf_counter() - started, 1)
    result = summarize(details, load)
    if out is not None:
        write(result, out)
    return result
