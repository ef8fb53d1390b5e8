"""The async API's thread pool says so, once, when calls queue behind it rather than at
the provider (and stays quiet when they do not)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from llm_context import LLMContext
from llm_context.testing import FakeProviderServer, Reply

HELLO = [{"role": "user", "content": "Hi"}]


def queued_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "queue here" in r.getMessage()]


@pytest.mark.parametrize(("workers", "warned"), [(2, 1), (8, 0)])
def test_calls_queued_behind_the_pool_are_named_once(
    fake: FakeProviderServer, caplog: pytest.LogCaptureFixture, workers: int, warned: int
) -> None:
    fake.script(*[Reply("ok", delay_s=0.2) for _ in range(12)])

    async def main(ctx: LLMContext) -> list[str]:
        llm = ctx.llm("openai")
        first = await asyncio.gather(*(llm.chat(HELLO) for _ in range(6)))
        again = await asyncio.gather(*(llm.chat(HELLO) for _ in range(6)))
        return [r.text for r in (*first, *again)]

    quiet = caplog.at_level(logging.WARNING, logger="llm_context")
    with quiet, LLMContext(fake.profiles(), max_workers=workers) as ctx:
        assert asyncio.run(main(ctx)) == ["ok"] * 12
    found = queued_warnings(caplog)
    assert len(found) == warned
    if found:
        assert f"waiting for one of the {workers} threads" in found[0]
        assert "max_workers" in found[0]
