"""OpenTelemetry spans and metrics in the GenAI conventions, through the real SDKs against
the fake server, recorded by the real opentelemetry-sdk's in-memory exporter and reader:
the span tree of chat, streams, embeddings, a retried call, a fallback chain, a rate-limit
wait and a tool loop; the attributes on every provider; metrics once per operation; no
content unless asked; no key anywhere; nothing imported when nothing is set up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llm_context import LLMBadRequestError, LLMContext, LLMError, LLMServerError
from llm_context.clock import FakeClock
from llm_context.testing import EmbeddingReply, FakeProviderServer, Fault, Reply, UsageReply

from .conftest import FAST_RETRY, built_providers

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
PROVIDER_NAMES = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "google": "gcp.gemini",
    "openrouter": "openrouter",
    "lmstudio": "lmstudio",
    "ollama": "ollama",
}


class Telemetry:
    """A tracer provider and a meter provider of the real SDK, recording in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def settings(self, **more: Any) -> dict[str, Any]:
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            **more,
        }

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


def context(fake: FakeProviderServer, otel: Telemetry, **telemetry: Any) -> LLMContext:
    per: dict[str, Any] = {name: {"retry": FAST_RETRY} for name in built_providers()}
    return LLMContext(fake.profiles(**per), telemetry=otel.settings(**telemetry))


def children(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    own = parent.context.span_id
    return [s for s in spans if s.parent is not None and s.parent.span_id == own]


@pytest.mark.parametrize("provider", built_providers())
def test_a_chat_span_and_its_metrics_on_every_provider(
    fake: FakeProviderServer, otel: Telemetry, provider: str
) -> None:
    fake.script(Reply("Hi!", usage=UsageReply(input_tokens=12, output_tokens=3)))
    with context(fake, otel) as ctx:
        llm = ctx.llm(provider)
        model = llm.profile.model
        result = llm.chat_sync(HELLO, max_output_tokens=50)
    (op,) = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert op.name == f"chat {model}" and op.parent is None
    attributes = dict(op.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == PROVIDER_NAMES[provider]
    assert attributes["gen_ai.request.model"] == model
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.response.model"] == result.model
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == fake.port
    assert attributes["llm_context.profile"] == provider
    assert "gen_ai.input.messages" not in attributes  # no content by default
    (attempt,) = children(op, otel.finished())
    assert attempt.name == "attempt" and attempt.attributes["llm_context.attempt"] == 1
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert (
        duration.count == 1
        and duration.attributes["gen_ai.provider.name"] == PROVIDER_NAMES[provider]
    )
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": 12, "output": 3}


def test_a_retried_call_has_two_attempts_a_wait_and_one_metric(
    fake: FakeProviderServer, otel: Telemetry
) -> None:
    fake.script(Fault(500), Reply("ok"))
    with context(fake, otel) as ctx:
        ctx.llm("anthropic").chat_sync(HELLO)
    spans = otel.finished()
    (op,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    kids = sorted(children(op, spans), key=lambda s: s.start_time or 0)
    assert [s.name for s in kids] == ["attempt", "retry wait", "attempt"]
    first, wait, second = kids
    assert first.status.status_code == StatusCode.ERROR
    assert first.attributes["error.type"] == "LLMServerError"
    assert (first.attributes["llm_context.attempt"], second.attributes["llm_context.attempt"]) == (
        1,
        2,
    )
    assert wait.attributes["llm_context.wait_s"] >= 0
    assert op.status.status_code == StatusCode.UNSET
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1  # once per operation, not per attempt


def test_a_failed_call_marks_the_span_and_the_metric(
    fake: FakeProviderServer, otel: Telemetry
) -> None:
    fake.script(Fault(400, message="nope"))
    with context(fake, otel) as ctx, pytest.raises(LLMBadRequestError):
        ctx.llm("openai").chat_sync(HELLO)
    (op,) = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert op.status.status_code == StatusCode.ERROR
    assert op.attributes["error.type"] == "LLMBadRequestError"
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "LLMBadRequestError"
    assert otel.points("gen_ai.client.token.usage") == []


def test_a_fallback_chain_is_one_operation_with_a_hop(
    fake: FakeProviderServer, otel: Telemetry
) -> None:
    profiles = fake.profiles(
        openai={"retry": {**FAST_RETRY, "max_attempts": 1}, "fallbacks": ["anthropic"]},
    )
    fake.script(Fault(503), Reply("from claude"))
    with LLMContext(profiles, telemetry=otel.settings()) as ctx:
        assert ctx.llm("openai").chat_sync(HELLO).text == "from claude"
    spans = otel.finished()
    (op,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    attempts = sorted(children(op, spans), key=lambda s: s.start_time or 0)
    assert [a.attributes["llm_context.profile"] for a in attempts] == ["openai", "anthropic"]
    (hop,) = [e for e in op.events if e.name == "llm_context.fallback"]
    assert dict(hop.attributes or {}) == {
        "llm_context.from": "openai",
        "llm_context.to": "anthropic",
    }
    assert op.attributes["gen_ai.response.model"] == "claude-sonnet-4-6"


def test_a_rate_limit_wait_is_a_span(fake: FakeProviderServer, otel: Telemetry) -> None:
    profiles = fake.profiles(openai={"rate_limit": {"rpm": 1}})
    with LLMContext(profiles, clock=FakeClock(), telemetry=otel.settings()) as ctx:
        llm = ctx.llm("openai")
        llm.chat_sync(HELLO)
        llm.chat_sync(HELLO)
    waits = otel.named("rate limit wait")
    assert len(waits) == 2  # each call asks; the second waited a minute of fake time
    assert all(w.parent is not None for w in waits)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_a_stream_is_one_span_from_open_to_end(
    fake: FakeProviderServer, otel: Telemetry, provider: str
) -> None:
    fake.script(Reply(deltas=("Once ", "upon ", "a ", "time.")), Reply(deltas=("a ", "b ", "c")))
    with context(fake, otel) as ctx:
        llm = ctx.llm(provider)
        stream = llm.stream_sync(HELLO)
        assert otel.named(f"chat {llm.profile.model}") == []  # open until the stream ends
        assert "".join(stream) == "Once upon a time."
        with llm.stream_sync(HELLO) as early:
            next(iter(early))
    first, stopped = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert first.attributes["llm_context.stream"] is True
    assert first.attributes["llm_context.time_to_first_token_s"] > 0
    assert [e.name for e in first.events] == ["gen_ai.first_token"]
    assert first.attributes["gen_ai.usage.output_tokens"] >= 0
    assert stopped.attributes["llm_context.stopped"] is True
    assert len(otel.points("gen_ai.client.operation.duration")[0:1]) == 1


def test_async_calls_and_streams_trace_the_same(fake: FakeProviderServer, otel: Telemetry) -> None:
    fake.script(Fault(500), Reply("one"), Reply(deltas=("a", "b")))

    async def main(ctx: LLMContext) -> None:
        llm = ctx.llm("openai")
        await llm.chat(HELLO)
        async for _ in llm.stream(HELLO):
            pass

    with context(fake, otel) as ctx:
        asyncio.run(main(ctx))
    chat, stream = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert [s.name for s in children(chat, otel.finished())].count("attempt") == 2
    assert stream.attributes["llm_context.stream"] is True


def test_embeddings_and_images(fake: FakeProviderServer, otel: Telemetry) -> None:
    fake.script(EmbeddingReply(vectors=[[0.1, 0.2], [0.3, 0.4]]))
    with context(fake, otel) as ctx:
        ctx.llm("openai").embed_sync(["a", "b"])
        ctx.llm("google").generate_image_sync("a lighthouse")
    embed, image = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert embed.name == "embeddings text-embedding-3-small"
    assert embed.attributes["gen_ai.operation.name"] == "embeddings"
    assert embed.attributes["gen_ai.usage.input_tokens"] >= 0
    assert image.name == "generate_content gemini-2.5-flash-image"
    assert image.attributes["gen_ai.provider.name"] == "gcp.gemini"


def test_a_tool_loop_is_a_tree(fake: FakeProviderServer, otel: Telemetry) -> None:
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "18°C"

    fake.script(Reply.tool_call("get_weather", {"city": "Oslo"}), Reply("18°C in Oslo."))
    with context(fake, otel, capture_content=True) as ctx:
        ctx.llm("anthropic").run_tools_sync(HELLO, tools=[get_weather])
    spans = otel.finished()
    (loop,) = otel.named("invoke_agent tool_loop")
    kids = sorted(children(loop, spans), key=lambda s: s.start_time or 0)
    assert [s.name for s in kids] == [
        "chat claude-sonnet-4-6",
        "execute_tool get_weather",
        "chat claude-sonnet-4-6",
    ]
    tool = kids[1]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Oslo"}
    assert tool.attributes["gen_ai.tool.call.result"] == "18°C"


def test_content_only_when_asked_by_context_or_profile(
    fake: FakeProviderServer, otel: Telemetry
) -> None:
    fake.script(Reply("Hi!"), Reply("Hi again"))
    with context(fake, otel, capture_content=True) as ctx:
        ctx.llm("openai").chat_sync(HELLO)
    (op,) = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    turns = json.loads(op.attributes["gen_ai.input.messages"])
    assert turns == [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]
    assert json.loads(op.attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}
    ]
    out = json.loads(op.attributes["gen_ai.output.messages"])
    assert out[0]["parts"] == [{"type": "text", "content": "Hi!"}] and out[0]["role"] == "assistant"
    otel.spans.clear()
    profiles = fake.profiles(openai={"telemetry": {"capture_content": True}})
    with LLMContext(profiles, telemetry=otel.settings()) as ctx:
        ctx.llm("openai").chat_sync(HELLO)
    (op,) = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert "gen_ai.input.messages" in (op.attributes or {})


def test_no_key_in_any_attribute(fake: FakeProviderServer, otel: Telemetry) -> None:
    key = "sk-proj-SECRETSECRETSECRET0123456789"
    base = fake.base_url("openai").replace("http://", "http://user:hunter2pass@")
    profiles = fake.profiles(openai={"api_key": key, "base_url": base, "fallbacks": ["anthropic"]})
    fake.script(Fault(401, message=f"bad key {key}"), Reply("ok"))
    settings = otel.settings(capture_content=True)
    with LLMContext(profiles, telemetry=settings) as ctx, contextlib.suppress(LLMError):
        ctx.llm("openai").chat_sync(HELLO)
    seen = []
    for span in otel.finished():
        seen.append(json.dumps(dict(span.attributes or {}), default=str))
        seen += [json.dumps(dict(e.attributes or {}), default=str) for e in span.events]
        seen.append(str(span.status.description))
    for metric in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        seen += [json.dumps(dict(p.attributes), default=str) for p in otel.points(metric)]
    text = "\n".join(seen)
    assert otel.finished() and key not in text and "hunter2pass" not in text


def test_nothing_is_imported_or_done_when_nothing_is_set_up(fake: FakeProviderServer) -> None:
    code = f"""
import sys
from llm_context import LLMContext
url = "{fake.base_url("openai")}"
ctx = LLMContext({{"profiles": {{"p": {{"provider": "openai", "base_url": url,
                  "api_key": "k", "model": "m"}}}}, "default_profile": "p"}})
ctx.llm().chat_sync([{{"role": "user", "content": "hi"}}])
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_sdks_own_spans_nest_under_the_attempt(fake: FakeProviderServer) -> None:
    """The global provider: anthropic's SDK traces its own calls; they sit under our attempt."""
    code = f"""
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
from llm_context import LLMContext
ctx = LLMContext({{"profiles": {{"c": {{"provider": "anthropic", "base_url": "{fake.url}",
                  "api_key": "k", "model": "claude-sonnet-4-6"}}}}, "default_profile": "c"}})
with trace.get_tracer("app").start_as_current_span("request"):
    ctx.llm().chat_sync([{{"role": "user", "content": "hi"}}])
spans = exporter.get_finished_spans()
print(json.dumps([[s.name, s.instrumentation_scope.name, s.context.span_id,
                   s.parent.span_id if s.parent else None] for s in spans]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    spans = json.loads(out.stdout)
    by_id = {span_id: (name, scope, parent) for name, scope, span_id, parent in spans}
    ours = [s for s in spans if s[1] == "llm_context"]
    (op,) = [s for s in ours if s[0].startswith("chat ")]
    (attempt,) = [s for s in ours if s[0] == "attempt"]
    assert by_id[op[3]][0] == "request"  # the app's span is the operation's parent
    assert attempt[3] == op[2]
    sdk = [s for s in spans if s[1] not in ("llm_context", "app")]
    assert sdk, "anthropic's SDK made no span"
    assert all(s[3] == attempt[2] for s in sdk)  # under our attempt, never beside it


def test_a_server_error_is_still_an_llm_error(fake: FakeProviderServer, otel: Telemetry) -> None:
    fake.script(*[Fault(500)] * 3)
    with context(fake, otel) as ctx, pytest.raises(LLMServerError):
        ctx.llm("google").chat_sync(HELLO)
    (op,) = [s for s in otel.finished() if s.kind == SpanKind.CLIENT]
    assert op.attributes["error.type"] == "LLMServerError"
    assert [s.name for s in children(op, otel.finished())].count("attempt") == 3


def test_telemetry_settings_are_checked(fake: FakeProviderServer) -> None:
    from llm_context import LLMConfigError

    with pytest.raises(LLMConfigError, match="capture_content"):
        LLMContext(fake.profiles(openai={"telemetry": {"capture_content": "yes"}})).llm("openai")
    with pytest.raises(LLMConfigError, match="unknown"):
        LLMContext(fake.profiles(openai={"telemetry": {"tracer": 1}})).llm("openai")
    with pytest.raises(TypeError, match="capture_content"):
        LLMContext(telemetry={"capture_content": "yes"})
    with pytest.raises(TypeError, match="unknown settings"):
        LLMContext(telemetry={"exporter": "otlp"})
