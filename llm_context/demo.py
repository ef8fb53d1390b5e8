"""The offline end-to-end demo (`make demo`, `llm-context demo`): the same code against every
provider, through the real SDKs, talking to the bundled fake server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any, TextIO

from .context import LLMContext
from .contract.parts import file_part
from .errors import LLMError
from .providers.registry import PROVIDERS, Provider
from .testing import FakeProviderServer, Reply, ToolCallReply

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
}
# Long instructions shared by many calls: what a prompt cache is for.
GUIDE = "You are a travel guide for Norway. Answer in one short sentence, with one fact. " * 8
# A one-page PDF, small enough to inline here (the fake only reads the part's shape).
REPORT_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _available() -> list[str]:
    return [
        p.value
        for p in Provider
        if importlib.util.find_spec(PROVIDERS[p].adapter.partition(":")[0]) is not None
    ]


def _run_one(ctx: LLMContext, fake: FakeProviderServer, name: str, out: TextIO) -> None:
    llm = ctx.llm(name)
    say = out.write

    fake.script(Reply("Hello! I am a fake model, but the SDK on the way here was real."))
    text, usage = llm.chat_sync([{"role": "user", "content": "Say hello"}])
    say(f"  chat     {text!r}  (tokens in/out: {usage['input_tokens']}/{usage['output_tokens']})\n")

    fake.script(Reply(deltas=("Streaming ", "one ", "delta ", "at ", "a ", "time.")))
    say("  stream   ")
    result = llm.chat_stream_sync(
        [{"role": "user", "content": "Stream something"}], on_delta=lambda d: say(f"[{d}]")
    )
    say(f"  -> finish_reason={result.finish_reason}\n")

    fake.script(Reply.json({"city": "Oslo", "country": "Norway"}))
    parsed = llm.chat_sync(
        [{"role": "user", "content": "Where is the Holmenkollen ski jump?"}],
        output_format="json_schema",
        json_schema=CITY_SCHEMA,
    ).parsed
    say(f"  json     {parsed}\n")

    question = ["What is this report about?", file_part(REPORT_PDF, filename="report.pdf")]
    try:  # unscripted: the fake's default answer echoes what arrived on its wire
        answer = llm.chat_sync([{"role": "user", "content": question}]).text
        say(f"  pdf      {answer!r}\n")
    except LLMError as exc:  # a provider without document input says so before sending
        say(f"  pdf      {type(exc).__name__}: {exc}\n")

    # The same long instructions twice with cache="auto": the second call reads them from the
    # provider's prompt cache (the fake caches as Anthropic, OpenAI and OpenRouter do).
    for topic in ("Which fjord is longest?", "Which glacier is largest?"):
        asked = [{"role": "system", "content": GUIDE}, {"role": "user", "content": topic}]
        second = llm.chat_sync(asked, cache="auto").usage
    cached = second.get("cached_input_tokens", 0)
    how = "read from the prompt cache" if cached else "(no cache marker or key here)"
    say(f"  cache    2nd call: {cached} of {second['input_tokens']} input tokens {how}\n")

    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Oslo?"}]
    fake.script(
        Reply(tool_calls=(ToolCallReply("get_weather", {"city": "Oslo"}),)),
        Reply("It is 18C and sunny in Oslo."),
    )
    first = llm.chat_sync(messages, tools=[WEATHER_TOOL])
    call = first.tool_calls[0]
    say(f"  tool     model called {call.name}({call.arguments})")
    messages.append(first.to_message())  # keeps what the provider needs next turn
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"})
    final = llm.chat_sync(messages, tools=[WEATHER_TOOL])
    say(f" -> {final.text!r}\n")

    try:
        vectors = llm.embed_sync(["fjord", "glacier"])
        say(f"  embed    {len(vectors)} vectors of {len(vectors[0])} dimensions\n")
    except LLMError as exc:  # a provider without embeddings says so clearly
        say(f"  embed    {type(exc).__name__}: {exc}\n")


def main(out: TextIO = sys.stdout) -> int:
    """Run the demo for every built provider; returns a process exit code."""
    providers = _available()
    with FakeProviderServer() as fake:
        out.write(f"Fake provider server on {fake.url} (no network, no keys)\n")
        with LLMContext(fake.profiles()) as ctx:
            for name in providers:
                out.write(f"\n== {name} ==\n")
                _run_one(ctx, fake, name, out)
        if fake.errors:
            out.write("fake server errors:\n" + "\n".join(fake.errors))
            return 1
    out.write(f"\nSame code, {len(providers)} providers. See README.md for more.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
