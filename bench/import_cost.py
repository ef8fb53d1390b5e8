"""Import cost, measured in fresh interpreters: `import llm_context` against a bare one and
against importing each provider SDK alone; then import plus the first call to each provider,
ours against the raw SDK's. Medians over interleaved runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import PROMPT, BenchConfig
from .sdk import MAX_TOKENS
from .stats import median

__all__ = ["SDK_MODULES", "measure_first_calls", "measure_imports"]

SDK_MODULES = ("openai", "anthropic", "google.genai", "httpx2", "pydantic")
"""Modules that must not be loaded by `import llm_context` (the SDKs and what they pull in)."""

# Only built-in modules before the timed statement, so the probe itself adds nothing to it.
# Peak memory is VmHWM (this process image since exec); ru_maxrss would include the parent's
# pages from before the exec.
_PROBE = """import sys, time
t0 = time.perf_counter()
{stmt}
t1 = time.perf_counter()
try:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
except OSError:
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
loaded = [m for m in {modules!r} if m in sys.modules]
print(t1 - t0, peak, ",".join(loaded))
"""

IMPORTS = {
    "bare": "pass",
    "llm_context": "import llm_context",
    "llm_context_full": "from llm_context import LLMContext, context",
    "llm_context_full:source": "from llm_context import LLMContext, context",
    "openai": "import openai",
    "anthropic": "import anthropic",
    "google": "from google import genai",
}
"""Statements timed in a fresh interpreter; `llm_context_full` loads the whole client stack
(`:source`: compiled from source on every import, as a checkout with PYTHONDONTWRITEBYTECODE
does; everything else reads bytecode, as an installed wheel does)."""

_MESSAGES = [{"role": "user", "content": PROMPT}]

# Import plus the first call, the way a script would do it, per side.
_OURS_FIRST = """from llm_context import LLMContext
llm = LLMContext({profiles!r}).llm({provider!r})
llm.chat_sync({messages!r}, max_output_tokens={max_tokens})
"""
# Each client stays referenced: a google-genai Client closes its connections when collected.
_SDK_FIRST = {
    "openai": """import openai
client = openai.OpenAI(base_url={base_url!r}, api_key={api_key!r}, max_retries=0)
client.responses.create(model={model!r}, input={messages!r}, max_output_tokens={max_tokens})
""",
    "anthropic": """import anthropic
client = anthropic.Anthropic(base_url={base_url!r}, api_key={api_key!r}, max_retries=0)
client.messages.create(model={model!r}, messages={messages!r}, max_tokens={max_tokens})
""",
    "google": """from google import genai
from google.genai import types
options = types.HttpOptions(base_url={base_url!r}, api_version="v1beta")
client = genai.Client(api_key={api_key!r}, http_options=options)
config = types.GenerateContentConfig(max_output_tokens={max_tokens})
client.models.generate_content(model={model!r}, contents={prompt!r}, config=config)
""",
}

_ROOT = str(Path(__file__).resolve().parent.parent)
_PYCACHE = os.path.join(tempfile.gettempdir(), "llm_context_bench_pycache")


def _env(bytecode: bool) -> dict[str, str]:
    """Interpreter settings: with a bytecode cache, as an installed wheel has (under a private
    prefix, so the checkout stays clean), or compiling every source file on import."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX",)}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _probe(stmt: str, bytecode: bool = True) -> dict[str, Any]:
    """Run `stmt` in a fresh interpreter: wall time of the whole process, in-process time of
    the statement, peak RSS and the SDK modules loaded afterwards."""
    code = _PROBE.format(stmt=stmt, modules=SDK_MODULES)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        env=_env(bytecode),
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"probe failed: {stmt!r}\n{done.stderr[-2000:]}")
    inner, rss, *loaded = done.stdout.split()
    return {
        "wall_s": wall,
        "stmt_s": float(inner),
        "rss_kb": int(rss),
        "modules": loaded[0].split(",") if loaded else [],
    }


def _medians(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall_ms": round(median([r["wall_s"] for r in runs]) * 1000, 2),
        "stmt_ms": round(median([r["stmt_s"] for r in runs]) * 1000, 2),
        "rss_kb": int(median([r["rss_kb"] for r in runs])),
        "modules": runs[-1]["modules"],
    }


def _interleaved(statements: dict[str, str], runs: int) -> dict[str, dict[str, Any]]:
    """Names ending in `:source` run without a bytecode cache."""
    for name, stmt in statements.items():
        if runs > 1:  # untimed: bytecode and page cache warm (a smoke run skips it)
            _probe(stmt, not name.endswith(":source"))
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in statements}
    for _ in range(runs):
        for name, stmt in statements.items():
            samples[name].append(_probe(stmt, not name.endswith(":source")))
    return {name: _medians(found) for name, found in samples.items()}


def _breakdown(statement: str, limit: int = 12) -> list[tuple[str, float]]:
    """`-X importtime`: the modules this statement adds to a bare interpreter, heaviest
    first by cumulative ms."""

    def table(stmt: str) -> list[tuple[str, int]]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", stmt],
            capture_output=True,
            text=True,
            cwd=_ROOT,
            env=_env(True),
            check=True,
        )
        rows = []
        for line in done.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "cumulative" not in line:
                _, cumulative, name = line.split("|")
                rows.append((name.rstrip(), int(cumulative)))
        return rows

    bare = {name.strip() for name, _ in table("pass")}
    added = [(name, us) for name, us in table(statement) if name.strip() not in bare]
    added.sort(key=lambda row: -row[1])
    return [(name, round(us / 1000, 2)) for name, us in added[:limit]]


def measure_imports(config: BenchConfig) -> dict[str, Any]:
    """Import times (ms), the time added over a bare interpreter, memory, and the breakdown."""
    sdks = ("openai", "anthropic", "google")
    chosen = {k: v for k, v in IMPORTS.items() if config.import_sdks or k not in sdks}
    found = _interleaved(chosen, config.import_runs)
    bare = found["bare"]
    added = {
        name: {
            "added_wall_ms": round(found[name]["wall_ms"] - bare["wall_ms"], 2),
            "stmt_ms": found[name]["stmt_ms"],
            "added_rss_kb": found[name]["rss_kb"] - bare["rss_kb"],
            "modules": found[name]["modules"],
        }
        for name in chosen
        if name != "bare"
    }
    return {
        "runs": config.import_runs,
        "bare_wall_ms": bare["wall_ms"],
        "imports": added,
        "breakdown": _breakdown(IMPORTS["llm_context_full"]),
    }


def measure_first_calls(
    profiles: dict[str, Any], providers: Sequence[str], config: BenchConfig
) -> dict[str, Any]:
    """Per provider, fresh interpreters: import + client + first chat call, ours vs the SDK's,
    and which SDKs ours loaded on the way (only that provider's should be)."""
    if config.first_call_providers is not None:
        providers = [p for p in providers if p in config.first_call_providers]
    statements: dict[str, str] = {}
    for provider in providers:
        profile = profiles["profiles"][provider]
        fields = {
            "profiles": profiles,
            "provider": provider,
            "messages": _MESSAGES,
            "max_tokens": MAX_TOKENS,
            "prompt": PROMPT,
            **profile,
        }
        statements[f"ours:{provider}"] = _OURS_FIRST.format(**fields)
        statements[f"sdk:{provider}"] = _SDK_FIRST[provider].format(**fields)
    found = _interleaved(statements, config.first_call_runs)
    return {
        provider: {
            "ours_ms": found[f"ours:{provider}"]["stmt_ms"],
            "sdk_ms": found[f"sdk:{provider}"]["stmt_ms"],
            "ours_rss_kb": found[f"ours:{provider}"]["rss_kb"],
            "sdk_rss_kb": found[f"sdk:{provider}"]["rss_kb"],
            "modules": found[f"ours:{provider}"]["modules"],
        }
        for provider in providers
    }
