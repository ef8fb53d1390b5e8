"""Embeddings: many short texts through `embed_sync` (batched to the provider's limit) against
a naive loop of single-text SDK calls."""

from __future__ import annotations

import time
from typing import Any

from .config import BenchConfig
from .server import ServerProcess
from .subjects import Subject

__all__ = ["measure_embeddings"]


def measure_embeddings(
    server: ServerProcess, subject: Subject, config: BenchConfig
) -> dict[str, Any]:
    """Seconds for `embed_texts` texts both ways, and the speed-up (naive ÷ ours)."""
    embed = subject.sdk.embed
    assert embed is not None, f"{subject.provider} has no embeddings baseline"
    texts = [f"short text number {i}" for i in range(config.embed_texts)]
    server.clear()
    subject.llm.embed_sync(texts[:2])  # warm: connection open, model resolved
    embed(texts[0])
    start = time.perf_counter()
    vectors = subject.llm.embed_sync(texts)
    ours_s = time.perf_counter() - start
    assert len(vectors) == len(texts)
    start = time.perf_counter()
    for text in texts:
        embed(text)
    naive_s = time.perf_counter() - start
    server.clear()
    return {
        "provider": subject.provider,
        "texts": config.embed_texts,
        "batch": subject.llm.profile.spec.max_embed_batch,
        "ours_s": round(ours_s, 4),
        "naive_s": round(naive_s, 4),
        "speedup": round(naive_s / ours_s, 1),
    }
