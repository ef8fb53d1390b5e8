"""How big each measurement is: the full run (`make bench`) and the smoke run (tests)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROMPT", "BenchConfig"]

PROMPT = "Say hello."
"""The one user message every chat call sends, ours and the raw SDK's alike."""


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of every section; `full()` keeps `make bench` under ~8 minutes on 2 cores."""

    import_runs: int = 15  # fresh interpreters per import variant
    import_sdks: bool = True  # also time importing each provider SDK alone
    first_call_runs: int = 5  # fresh interpreters per provider for "import + first call"
    first_call_providers: tuple[str, ...] | None = None  # None: every available provider
    call_warmup: int = 50
    call_samples: int = 600  # per side, zero latency
    call_block: int = 25  # calls per side before switching sides (interleaving)
    latency_s: float = 0.01  # fixed-latency mode of the per-call test
    latency_samples: int = 100
    connection_calls: int = 10  # calls per side when counting TCP connects per call
    stream_deltas: int = 200
    stream_warmup: int = 5
    stream_samples: int = 40
    async_calls: int = 600
    async_latency_s: float = 0.02
    async_concurrency: tuple[int, ...] = (50, 200)
    async_repeats: int = 5  # on each of the three SDK families
    pool_sizes: tuple[int, ...] = (16, 32, 64, 256)  # thread-pool sweep at the top level
    # A provider-like latency: our throughput against the native async client's.
    provider_latency_s: float = 0.2
    provider_calls: int = 1000  # at least two rounds at each concurrency
    provider_concurrency: tuple[int, ...] = (50, 200, 1000)
    provider_repeats: int = 3
    # High concurrency at a slow provider's latency, where the pool size (not CPU) may bound
    # the calls in flight.
    slow_latency_s: float = 0.5
    slow_calls: int = 2000
    slow_concurrency: int = 1000
    embed_texts: int = 10_000
    bulk_items: int = 2000
    bulk_concurrency: int = 50
    bulk_repeats: int = 3

    @classmethod
    def full(cls) -> BenchConfig:
        return cls()

    @classmethod
    def smoke(cls) -> BenchConfig:
        """Tiny sizes: exercises every code path in a few seconds; timings mean nothing."""
        return cls(
            import_runs=1,
            import_sdks=False,
            first_call_runs=1,
            first_call_providers=("openai",),
            call_warmup=1,
            call_samples=4,
            call_block=2,
            latency_s=0.001,
            latency_samples=2,
            connection_calls=2,
            stream_deltas=5,
            stream_warmup=1,
            stream_samples=2,
            async_calls=8,
            async_latency_s=0.001,
            async_concurrency=(2, 4),
            async_repeats=1,
            pool_sizes=(2,),
            provider_latency_s=0.001,
            provider_calls=4,
            provider_concurrency=(2, 4),
            provider_repeats=1,
            slow_latency_s=0.001,
            slow_calls=4,
            slow_concurrency=4,
            embed_texts=5,
            bulk_items=6,
            bulk_concurrency=2,
            bulk_repeats=1,
        )
