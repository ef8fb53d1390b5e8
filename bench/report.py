"""The results: `bench/results.json` (one shape, comparable run to run) and the printed table."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "machine", "render", "summarize", "write"]

TARGETS = {
    "import_ms": ("<", 60.0),
    "import_full_ms": ("<", 60.0),
    "overhead_ratio": ("<=", 1.10),
    "stream_ratio": ("<=", 1.15),
    "events_ratio": ("<=", 1.15),
    "shared_limit_added_ms": ("<", 0.3),
    "async_c50": (">=", 0.90),
    "async_pool_ratio": ("<=", 1.05),
}
"""The issue's targets: import under 60 ms (`import llm_context`; and, stricter, the whole
client stack an app loads with `from llm_context import context`), per-call ratio, stream
ratio, async at c50."""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine() -> str:
    """CPU, cores, OS, Python and SDK versions: what the figures are relative to."""
    sdks = ", ".join(f"{d} {_version(d)}" for d in ("openai", "anthropic", "google-genai"))
    return (
        f"{_cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {sdks}"
    )


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _check(value: float | None, rule: tuple[str, float]) -> bool | None:
    if value is None or value != value:  # missing or NaN
        return None
    op, limit = rule
    return {"<": value < limit, "<=": value <= limit, ">=": value >= limit}[op]


def summarize(details: dict[str, Any], started_load: list[float]) -> dict[str, Any]:
    """The headline figures (ratios are ours ÷ SDK) and pass/fail per target, then details."""
    imports = details.get("imports", {}).get("imports", {})
    light, full = imports.get("llm_context", {}), imports.get("llm_context_full", {})
    overhead = details.get("overhead", {})
    streams = details.get("streams", {})
    throughput = details.get("throughput", {})
    concurrency = [k for k in throughput if k.startswith("c") and k[1:].isdigit()]
    result: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_avg": {"start": started_load, "end": _load()},
        # In-process import time (fresh interpreter, bytecode cached): precise where the
        # difference of two process wall times is mostly noise; the wall figures are in details.
        "import_ms": light.get("stmt_ms"),
        "import_full_ms": full.get("stmt_ms"),
        "import_sdk_modules": sorted(set(light.get("modules", [])) | set(full.get("modules", []))),
        "overhead_ratio": {p: v["ratio"] for p, v in overhead.items()},
        "stream_ratio": {p: v["ratio"] for p, v in streams.items()},
        "first_delta_ratio": {p: v["first_delta_ratio"] for p, v in streams.items()},
        "events_ratio": {p: v["events_ratio"] for p, v in streams.items() if "events_ratio" in v},
        "async_throughput_ratio": {c: throughput[c]["ratio"] for c in concurrency},
        "async_pool_ratio": {c: throughput[c].get("pool_ratio") for c in concurrency},
        "embed_speedup": details.get("embeddings", {}).get("speedup"),
        "shared_limit_added_ms": details.get("shared_limits", {}).get("added_ms"),
    }
    worst_call = max(result["overhead_ratio"].values(), default=None)
    worst_stream = max(result["stream_ratio"].values(), default=None)
    result["targets_met"] = {
        "import_ms": _check(result["import_ms"], TARGETS["import_ms"]),
        "import_full_ms": _check(result["import_full_ms"], TARGETS["import_full_ms"]),
        "overhead_ratio": _check(worst_call, TARGETS["overhead_ratio"]),
        "stream_ratio": _check(worst_stream, TARGETS["stream_ratio"]),
        "events_ratio": _check(
            max(result["events_ratio"].values(), default=None), TARGETS["events_ratio"]
        ),
        "async_c50": _check(result["async_throughput_ratio"].get("c50"), TARGETS["async_c50"]),
        "async_pool_ratio": _check(
            max((v for v in result["async_pool_ratio"].values() if v), default=None),
            TARGETS["async_pool_ratio"],
        ),
        "shared_limit_added_ms": _check(
            result["shared_limit_added_ms"], TARGETS["shared_limit_added_ms"]
        ),
    }
    result["details"] = details
    return result


def write(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def _conn(v: dict[str, Any]) -> str:
    c = v.get("connects_per_call") or {}
    return f"  connects/call {c['ours']:g} vs {c['sdk']:g}" if c else ""


def _rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    d = result["details"]
    rows: list[tuple[str, str, str, str]] = []
    imp = d.get("imports")
    if imp:
        for name, v in imp["imports"].items():
            rows.append(
                (
                    f"import {name}",
                    f"{v['stmt_ms']:.1f} ms",
                    f"{v['added_rss_kb'] / 1024:+.1f} MB",
                    f"process {v['added_wall_ms']:+.1f} ms; "
                    + (",".join(v["modules"]) or "no SDK"),
                )
            )
    for p, v in d.get("first_calls", {}).items():
        rows.append(
            (
                f"import + first call {p}",
                f"{v['ours_ms']:.0f} ms",
                f"sdk {v['sdk_ms']:.0f} ms",
                "loads " + (",".join(v["modules"]) or "nothing"),
            )
        )
    for p, v in d.get("overhead", {}).items():
        rows.append(
            (
                f"chat_sync {p}",
                f"{v['ours_ms']:.3f} ms",
                f"sdk {v['sdk_ms']:.3f} ms",
                f"x{v['ratio']:.3f}  "
                f"(+{v['latency_ms']:.0f} ms latency: x{v['latency_ratio']:.3f}){_conn(v)}",
            )
        )
    for p, v in d.get("streams", {}).items():
        rows.append(
            (
                f"stream {v['deltas']} deltas {p}",
                f"{v['ours_ms']:.2f} ms",
                f"sdk {v['sdk_ms']:.2f} ms",
                f"x{v['ratio']:.3f}  first delta x{v['first_delta_ratio']:.3f}{_conn(v)}",
            )
        )
        if "events_ratio" in v:
            rows.append(
                (
                    f"events {v['deltas']} deltas {p}",
                    f"{v['events_ms']:.2f} ms",
                    f"sdk {v['sdk_ms']:.2f} ms",
                    f"x{v['events_ratio']:.3f}",
                )
            )
    shared = d.get("shared_limits", {})
    if "added_ms" in shared:
        rows.append(
            (
                "chat_sync through the Redis limiter",
                f"{shared['limited_ms']:.3f} ms",
                f"unlimited {shared['unlimited_ms']:.3f} ms",
                f"+{shared['added_ms']:.3f} ms a call",
            )
        )
    if "round_trip_ms" in shared:
        rows.append(
            (
                "  of which the floor: one bare Redis round trip",
                "",
                "",
                f"+{shared['round_trip_ms']:.3f} ms a call",
            )
        )
    t = d.get("throughput", {})
    for c in (k for k in t if k.startswith("c") and k[1:].isdigit()):
        rows.append(
            (
                f"async {t['provider']} {c}, {t['latency_ms']:.0f} ms latency",
                f"{t[c]['ours_rps']:.0f} req/s",
                f"sdk {t[c]['sdk_rps']:.0f} req/s",
                f"x{t[c]['ratio']:.3f}",
            )
        )
        if "pool_floor_rps" in t[c]:
            rows.append(
                (
                    "  the floor: bare sync SDK in a thread pool",
                    f"{t[c]['pool_floor_rps']:.0f} req/s",
                    "time/call ours ÷ floor's",
                    f"x{t[c]['pool_ratio']:.3f}",
                )
            )
    for size, by_c in t.get("pool_sweep_rps", {}).items():
        rows.append(
            (
                f"  max_workers={size}",
                " ".join(f"{c}:{rps:.0f}" for c, rps in by_c.items()),
                "req/s",
                "",
            )
        )
    slow = t.get("slow")
    if slow:
        c = slow["concurrency"]
        rows.append(
            (
                f"async {t['provider']} c{c}, {slow['latency_ms']:.0f} ms latency",
                f"{slow['ours_default_pool_rps']:.0f} req/s",
                f"sdk {slow['sdk_rps']:.0f} req/s",
                f"x{slow['ratio_default_pool']:.3f} with {slow['default_pool']} threads; "
                f"x{slow[f'ratio_{c}_workers']:.3f} with {c}",
            )
        )
    e = d.get("embeddings")
    if e:
        rows.append(
            (
                f"embed {e['texts']} texts {e['provider']}",
                f"{e['ours_s']:.2f} s",
                f"naive {e['naive_s']:.2f} s",
                f"x{e['speedup']:.1f} faster (batch {e['batch']})",
            )
        )
    return rows


def render(result: dict[str, Any]) -> str:
    """The table, then the targets."""
    rows = [("measure", "ours", "baseline", "ratio / notes"), *_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [result["machine"], f"load average {result['load_avg']}", ""]
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    lines.append("")
    for name, ok in result["targets_met"].items():
        op, limit = TARGETS[name]
        verdict = {True: "met", False: "MISSED", None: "not measured"}[ok]
        lines.append(f"target {name} {op} {limit}: {verdict}")
    for p, same in result["details"].get("same_request", {}).items():
        if same is not True:
            lines.append(f"note: {p} bodies differ between ours and the SDK baseline: {same}")
    return "\n".join(lines)
