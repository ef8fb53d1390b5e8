"""`close()` releases connections and leaves the client and the context usable: the next
call opens new connections, as a fresh client would (docs/reliability.md, "Closing")."""

from __future__ import annotations

import asyncio

import pytest

from llm_context import Feature, LLMContext
from llm_context.providers.registry import spec_for
from llm_context.testing import FakeProviderServer, Reply

from .conftest import built_providers, make_context

HELLO = [{"role": "user", "content": "Hello"}]
providers = pytest.mark.parametrize("provider", built_providers())


@providers
def test_a_client_kept_across_close_reopens(fake: FakeProviderServer, provider: str) -> None:
    context = make_context(fake)
    llm = context.llm(provider)
    fake.script(Reply("before"))
    assert llm.chat_sync(HELLO).text == "before"
    first = llm.adapter()
    for close in (llm.close, context.close):
        close()
        fake.script(Reply("sync"), Reply(deltas=("str", "eam")), Reply("async"))
        assert llm.chat_sync(HELLO).text == "sync"
        assert llm.chat_stream_sync(HELLO).text == "stream"
        assert asyncio.run(llm.chat(HELLO)).text == "async"
        if Feature.EMBED in spec_for(provider).features:
            assert len(llm.embed_sync(["a", "b"]).vectors) == 2
    assert llm.adapter() is not first  # a new SDK client, not the closed one
    assert llm.adapter() is llm.adapter()  # and reused from then on
    context.close()


@providers
def test_a_context_used_after_its_with_block(fake: FakeProviderServer, provider: str) -> None:
    with LLMContext(fake.profiles()) as context:
        fake.script(Reply("inside"))
        assert context.llm(provider).chat_sync(HELLO).text == "inside"
    fake.script(Reply("after"))
    assert context.llm(provider).chat_sync(HELLO).text == "after"
    assert [r.provider for r in fake.requests] == [provider, provider]
    context.close()
