"""Whether to trace, and with what: a tracer named `llm_context` and the two GenAI client
histograms, from the providers the context was given or the global ones.

Nothing here imports OpenTelemetry unless the program did first: an app that traces has
imported `opentelemetry.trace` to set its provider, and one that does not pays one
`sys.modules` lookup per call. The default (proxy or no-op) providers mean "not set up".
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Instruments", "instruments"]

SCOPE = "llm_context"
# The conventions' advised bucket boundaries (gen-ai-metrics.md).
TOKEN_BUCKETS = [4.0**k for k in range(14)]
DURATION_BUCKETS = [0.01 * 2**k for k in range(14)]
_UNSET = ("ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider")


@dataclass(frozen=True)
class Instruments:
    """A tracer (None: no tracing) and the two histograms (None: no metrics)."""

    tracer: Any
    token_usage: Any
    duration: Any


_cache: dict[tuple[int, int], Instruments] = {}
_lock = threading.Lock()


def instruments(tracer_provider: Any = None, meter_provider: Any = None) -> Instruments | None:
    """The instruments for these providers (the global ones where None), or None when
    neither traces nor metrics are set up."""
    given = tracer_provider is not None or meter_provider is not None
    loaded = "opentelemetry.trace" in sys.modules or "opentelemetry.metrics" in sys.modules
    if not (given or loaded):
        return None
    tracing = _provider(tracer_provider, "opentelemetry.trace", "get_tracer_provider")
    metering = _provider(meter_provider, "opentelemetry.metrics", "get_meter_provider")
    if tracing is None and metering is None:
        return None
    key = (id(tracing), id(metering))
    found = _cache.get(key)
    if found is None:
        with _lock:
            found = _cache[key] = _make(tracing, metering)
    return found


def _provider(given: Any, module: str, getter: str) -> Any:
    if given is not None:
        return given
    loaded = sys.modules.get(module)
    if loaded is None:
        return None
    provider = getattr(loaded, getter)()
    return None if type(provider).__name__ in _UNSET else provider


def _make(tracer_provider: Any, meter_provider: Any) -> Instruments:
    from ..version import __version__

    tracer = None if tracer_provider is None else tracer_provider.get_tracer(SCOPE, __version__)
    if meter_provider is None:
        return Instruments(tracer, None, None)
    meter = meter_provider.get_meter(SCOPE, __version__)
    tokens = meter.create_histogram(
        "gen_ai.client.token.usage",
        unit="{token}",
        description="Number of input and output tokens used",
        explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
    )
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration",
        unit="s",
        description="GenAI operation duration",
        explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
    )
    return Instruments(tracer, tokens, duration)
