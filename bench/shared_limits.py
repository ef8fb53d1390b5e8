"""The shared rate limiter's cost: `chat_sync` through a profile limited in Redis (a real
redis-server on loopback) against the same profile with no limits, on the zero-latency fake.
The difference is what a worker pays per call for sharing its quota (the issue's target:
under 0.3 ms). Beside it, the floor: the same unlimited call followed by one bare script
round trip to the same Redis (`return 1`), since an atomic acquire is one round trip."""

from __future__ import annotations

from typing import Any

import redis as redis_lib

from llm_context import LLMContext
from llm_context.testing.redis_server import RedisServer, redis_server_available

from .config import BenchConfig
from .server import ServerProcess
from .stats import paired

__all__ = ["measure_shared_limits"]

HELLO = [{"role": "user", "content": "Say hello."}]


def measure_shared_limits(server: ServerProcess, config: BenchConfig) -> dict[str, Any]:
    """Median ms per call with and without the Redis limiter, and the added ms."""
    if not redis_server_available():
        return {"skipped": "redis-server is not installed"}
    with RedisServer() as redis:
        limits = {"rpm": 10_000_000, "tpm": 10_000_000_000, "max_concurrency": 1000}
        shared = dict(server.profiles["profiles"]["openai"])
        shared["rate_limit"] = {**limits, "group": "bench", "backend": redis.url}
        plain = dict(server.profiles["profiles"]["openai"])
        profiles = {"profiles": {"shared": shared, "plain": plain}, "default_profile": "plain"}
        with LLMContext(profiles) as ctx:
            limited, free = ctx.llm("shared"), ctx.llm("plain")
            result = paired(
                lambda: limited.chat_sync(HELLO) and None,
                lambda: free.chat_sync(HELLO) and None,
                samples=config.call_samples,
                block=config.call_block,
                warmup=config.call_warmup,
            )
            client = redis_lib.Redis.from_url(redis.url)
            bare = client.register_script("return 1")
            floor = paired(
                lambda: free.chat_sync(HELLO) and bare() and None,
                lambda: free.chat_sync(HELLO) and None,
                samples=config.call_samples,
                block=config.call_block,
                warmup=config.call_warmup,
            )
            client.close()
    return {
        "limited_ms": result.ours_ms,
        "unlimited_ms": result.theirs_ms,
        "added_ms": round(result.ours_ms - result.theirs_ms, 4),
        "round_trip_ms": round(floor.ours_ms - floor.theirs_ms, 4),
    }
