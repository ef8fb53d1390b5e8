"""A profile's circuit breaker shared by every process through the rate-limit backend: one
worker's failures count for all, and all see it open (`call.breaker` has the rules).

The state is two keys per profile, changed only inside scripts on the Redis server's clock:
the failure times of the window (a sorted set) and the breaker (a hash: `open_until`, and
`probe_until` while one half-open probe runs; a probe whose worker died expires after a
cooldown, so the breaker never stays stuck).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from ..config.settings import BreakerSettings

if TYPE_CHECKING:
    from ..call.breaker import Verdict

__all__ = ["SharedBreakerStore"]

log = logging.getLogger("llm_context")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS: failures, state. ARGV: cooldown ms. Returns 0 closed, 1 open, 2 probe.
_ADMIT = (
    _NOW
    + """
local open_until = tonumber(redis.call('HGET', KEYS[2], 'open_until') or '0')
if open_until == 0 then return 0 end
if now < open_until then return 1 end
local probe_until = tonumber(redis.call('HGET', KEYS[2], 'probe_until') or '0')
if now < probe_until then return 1 end
redis.call('HSET', KEYS[2], 'probe_until', now + tonumber(ARGV[1]))
return 2
"""
)
# KEYS: failures, state. ARGV: id, failures, window ms, cooldown ms.
_FAILED = (
    _NOW
    + """
local cooldown = tonumber(ARGV[4])
if tonumber(redis.call('HGET', KEYS[2], 'probe_until') or '0') > 0 then
  redis.call('HSET', KEYS[2], 'open_until', now + cooldown, 'probe_until', 0)
  redis.call('PEXPIRE', KEYS[2], cooldown * 4)
  return 1
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[2], 'open_until', now + cooldown, 'probe_until', 0)
  redis.call('PEXPIRE', KEYS[2], cooldown * 4)
  redis.call('DEL', KEYS[1])
end
return 1
"""
)
_SUCCEEDED = "redis.call('DEL', KEYS[1], KEYS[2]) return 1"
_VERDICTS: tuple[Verdict, ...] = ("closed", "open", "probe")


class SharedBreakerStore:
    """A `BreakerStore` in Redis. When Redis cannot be reached the breaker stays closed (it
    never blocks a call by itself: the rate limiter's `on_backend_error` rules the backend)."""

    def __init__(self, url: str, profile: str) -> None:
        import redis as redis_lib

        client = redis_lib.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._errors: tuple[type[BaseException], ...] = (
            redis_lib.ConnectionError,
            redis_lib.TimeoutError,
        )
        self._admit = client.register_script(_ADMIT)
        self._failed = client.register_script(_FAILED)
        self._succeeded = client.register_script(_SUCCEEDED)
        prefix = f"llm_context:breaker:{profile}"
        self._keys = [f"{prefix}:failures", f"{prefix}:state"]

    def _run(self, script: Any, args: list[Any], default: int) -> int:
        try:
            return int(script(keys=self._keys, args=args))
        except self._errors as exc:
            log.warning("circuit breaker backend unreachable (%s): treated as closed", exc)
            return default

    def admit(self, settings: BreakerSettings) -> Verdict:
        return _VERDICTS[self._run(self._admit, [int(settings.cooldown_s * 1000)], 0)]

    def failed(self, settings: BreakerSettings) -> None:
        window, cooldown = int(settings.window_s * 1000), int(settings.cooldown_s * 1000)
        self._run(self._failed, [uuid.uuid4().hex, settings.failures, window, cooldown], 0)

    def succeeded(self) -> None:
        self._run(self._succeeded, [], 0)
