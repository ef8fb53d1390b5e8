"""Test apps that use llm_context offline: a fake provider server the real SDKs talk to.

A public module. `FakeProviderServer` is a real HTTP server on 127.0.0.1 that speaks every
provider's wire format (JSON and server-sent events), answers from a script of `Reply`,
`Fault`, `EmbeddingReply` and `ImageReply` items (or with sensible defaults), and records
every request for your assertions:

    from llm_context import LLMContext
    from llm_context.testing import Fault, FakeProviderServer, Reply

    with FakeProviderServer() as fake:
        fake.script(Fault(429, retry_after="0"), Reply("Hi!"))
        llm = LLMContext(fake.profiles()).llm("anthropic")
        assert llm.complete_sync("Hello").text == "Hi!"      # retried once, then answered
        assert fake.last_request.json["messages"][0]["content"][0]["text"] == "Hello"

pytest gets the fixtures `fake_llm`, `fake_llm_context`, `fake_llm_env` and
`fake_llm_profiles` from the plugin `llm_context.testing.pytest_plugin`, registered by the
package's `pytest11` entry point (no conftest line needed). `python -m llm_context.testing`
runs the server in its own process (for the `llm-context` command or another program).
See docs/testing.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .batches import BatchLifecycle
    from .routing import Exchange, RecordedRequest, Route
    from .schema_example import example_for_schema
    from .script import (
        CitationReply,
        EmbeddingReply,
        Fault,
        ImageReply,
        Reply,
        SearchReply,
        ToolCallReply,
        UsageReply,
    )
    from .server import FAST_RETRY, FakeProviderServer

# Names load on first use: the pytest plugin (in this package) loads in every pytest run of
# every project with llm_context installed, and should not pay for the server there.
_LAZY = {
    "BatchLifecycle": ".batches",
    "Exchange": ".routing",
    "RecordedRequest": ".routing",
    "Route": ".routing",
    "example_for_schema": ".schema_example",
    "CitationReply": ".script",
    "EmbeddingReply": ".script",
    "SearchReply": ".script",
    "Fault": ".script",
    "ImageReply": ".script",
    "Reply": ".script",
    "ToolCallReply": ".script",
    "UsageReply": ".script",
    "FAST_RETRY": ".server",
    "FakeProviderServer": ".server",
}

__all__ = [
    "FAST_RETRY",
    "BatchLifecycle",
    "CitationReply",
    "EmbeddingReply",
    "Exchange",
    "FakeProviderServer",
    "Fault",
    "ImageReply",
    "RecordedRequest",
    "Reply",
    "Route",
    "SearchReply",
    "ToolCallReply",
    "UsageReply",
    "example_for_schema",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
