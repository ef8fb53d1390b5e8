"""A fake provider server for offline tests and demos: the real SDKs talk to it over HTTP.

    from llm_context.testing import FakeProviderServer, Reply, Fault

    with FakeProviderServer() as fake:
        fake.script(Reply("Hi!"), Fault(429, retry_after="1"))
        llm = LLMContext(fake.profiles()).llm("openai")

pytest users get a `fake_llm` fixture from `llm_context.testing.pytest_plugin`.
"""

from __future__ import annotations

from .routing import Exchange, RecordedRequest, Route
from .schema_example import example_for_schema
from .script import EmbeddingReply, Fault, ImageReply, Reply, ToolCallReply, UsageReply
from .server import FakeProviderServer

__all__ = [
    "EmbeddingReply",
    "Exchange",
    "FakeProviderServer",
    "Fault",
    "ImageReply",
    "RecordedRequest",
    "Reply",
    "Route",
    "ToolCallReply",
    "UsageReply",
    "example_for_schema",
]
