"""Rate limits beyond the in-process limiter (`llm_context.ratelimit`): the pool of one
context's limiters (`pool`), and the limiter shared by many processes through Redis
(`shared`, with its Lua scripts in `scripts`)."""
