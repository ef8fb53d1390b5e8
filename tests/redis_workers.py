"""Worker processes for the shared rate-limit tests (importable, for multiprocessing spawn)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HELLO = [{"role": "user", "content": "Hi"}]


def run_calls(profiles: dict[str, Any], calls: int, threads: int, env: dict[str, str]) -> int:
    """Make `calls` chat calls on profile `openai`, `threads` at a time; the number that
    succeeded."""
    os.environ.update(env)
    from llm_context import LLMContext

    with LLMContext(profiles) as ctx:
        llm = ctx.llm("openai")
        # The SDK loads on first use, after the first grant: load it first, so the fake sees
        # each request when its grant was given, not half a second later.
        llm.runtime.connection.adapter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda _: llm.chat_sync(HELLO).text, range(calls)))
    return sum(1 for text in results if text)
