"""The shared limiter's Redis scripts: each acquire is one atomic check-and-reserve.

Algorithm: a sliding-window log, on the Redis server's clock (`TIME`), never a host's. Per
group, four keys: the grant times of the window (a sorted set), the token entries of the
window (a sorted set of `id:tokens`, scored by time) with their running sum, and the
concurrency leases (a sorted set scored by expiry). An acquire drops what left the window
and the expired leases, then either reserves all three at once or answers how long to wait
(until the oldest grant or token entry leaves the window, or a lease is freed). A release
drops the lease and replaces the token estimate by what was really used; a renewal pushes
a running call's lease expiry on, so only a dead worker's leases run out.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "RELEASE", "RENEW"]

# KEYS: grants, token entries, token sum, leases.
# ARGV: id, tokens, rpm, tpm, max_concurrency (0 = none), window ms, lease ttl ms.
# Returns {1, 0} when reserved, else {0, milliseconds to wait before asking again}.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, tokens = ARGV[1], tonumber(ARGV[2])
local rpm, tpm, maxc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local window, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local edge = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', edge)
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', edge)
if #old > 0 then
  local gone = 0
  for _, member in ipairs(old) do
    gone = gone + tonumber(string.match(member, ':(%d+)$'))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', edge)
  redis.call('DECRBY', KEYS[3], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local wait = 0
if rpm > 0 and redis.call('ZCARD', KEYS[1]) >= rpm then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(first[2]) + window - now + 1)
end
if tpm > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used > 0 and used + tokens > tpm then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    if first[2] then wait = math.max(wait, tonumber(first[2]) + window - now + 1) end
  end
end
if maxc > 0 and redis.call('ZCARD', KEYS[4]) >= maxc then
  local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  wait = math.max(wait, math.max(1, math.min(tonumber(first[2]) - now, 20)))
end
if wait > 0 then return {0, wait} end
redis.call('ZADD', KEYS[1], now, id)
if tpm > 0 then
  redis.call('ZADD', KEYS[2], now, id .. ':' .. tokens)
  redis.call('INCRBY', KEYS[3], tokens)
end
if maxc > 0 then redis.call('ZADD', KEYS[4], now + ttl, id) end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], window + ttl) end
return {1, 0}
"""

# KEYS: token entries, token sum, leases. ARGV: id, estimated tokens, used tokens (-1: none).
RELEASE = """
redis.call('ZREM', KEYS[3], ARGV[1])
local used = tonumber(ARGV[3])
if used >= 0 then
  local member = ARGV[1] .. ':' .. ARGV[2]
  local score = redis.call('ZSCORE', KEYS[1], member)
  if score then
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZADD', KEYS[1], score, ARGV[1] .. ':' .. used)
    redis.call('INCRBY', KEYS[2], used - tonumber(ARGV[2]))
  end
end
return 1
"""

# KEYS: leases. ARGV: lease ttl ms, then the ids still running. Only leases still held move.
RENEW = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i]) end
return 1
"""
