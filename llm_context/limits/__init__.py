"""Rate limits: the in-process limiter (`local`), the token estimates it counts
(`estimate`), the pool of one context's limiters (`pool`), and the limiter shared by many
processes through Redis (`shared`, its Lua scripts in `scripts`, its connection in `wire`,
with the breaker's and usage's Redis stores beside it)."""
