"""The baselines: the same chat request made directly with each official SDK, the way its own
documentation shows (sync, streaming and native async), with `max_retries=0` like ours."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .config import PROMPT

__all__ = ["MAX_TOKENS", "RawSDK", "raw_sdk"]

MAX_TOKENS = 256
"""Sent on every call (ours as `max_output_tokens`), so both sides send the same body."""

DeltaSink = Callable[[str], None]


@dataclass(frozen=True)
class RawSDK:
    """One provider's SDK calls: `call()` one chat, `stream(on_delta)` one streamed chat,
    `make_async()` an async chat function and its closer (built inside the event loop)."""

    call: Callable[[], str]
    stream: Callable[[DeltaSink], None]
    make_async: Callable[[], tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]]
    embed: Callable[[str], Any] | None
    close: Callable[[], None]


def _openai(profile: dict[str, Any]) -> RawSDK:
    import openai

    kwargs = {"base_url": profile["base_url"], "api_key": profile["api_key"], "max_retries": 0}
    client = openai.OpenAI(**kwargs)
    params = {
        "model": profile["model"],
        "input": [{"role": "user", "content": PROMPT}],
        "max_output_tokens": MAX_TOKENS,
    }

    def call() -> str:
        text: str = client.responses.create(**params).output_text
        return text

    def stream(on_delta: DeltaSink) -> None:
        with client.responses.create(**params, stream=True) as events:
            for event in events:
                if event.type == "response.output_text.delta":
                    on_delta(event.delta)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        aclient = openai.AsyncOpenAI(**kwargs)

        async def acall() -> str:
            text: str = (await aclient.responses.create(**params)).output_text
            return text

        return acall, aclient.close

    def embed(text: str) -> Any:
        return client.embeddings.create(model="text-embedding-3-small", input=[text])

    return RawSDK(call, stream, make_async, embed, client.close)


def _anthropic(profile: dict[str, Any]) -> RawSDK:
    import anthropic

    kwargs = {"base_url": profile["base_url"], "api_key": profile["api_key"], "max_retries": 0}
    client = anthropic.Anthropic(**kwargs)
    params = {
        "model": profile["model"],
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }

    def text_of(message: Any) -> str:
        return "".join(block.text for block in message.content if block.type == "text")

    def call() -> str:
        return text_of(client.messages.create(**params))

    def stream(on_delta: DeltaSink) -> None:
        with client.messages.create(**params, stream=True) as events:
            for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    on_delta(event.delta.text)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        aclient = anthropic.AsyncAnthropic(**kwargs)

        async def acall() -> str:
            return text_of(await aclient.messages.create(**params))

        return acall, aclient.close

    return RawSDK(call, stream, make_async, None, client.close)


def _google(profile: dict[str, Any]) -> RawSDK:
    from google import genai
    from google.genai import types

    # v1beta like our adapter (the SDK's default is v1), so both hit the same route.
    options = types.HttpOptions(base_url=profile["base_url"], api_version="v1beta")
    client = genai.Client(api_key=profile["api_key"], http_options=options)
    model = profile["model"]
    config = types.GenerateContentConfig(max_output_tokens=MAX_TOKENS)

    def call() -> str:
        return (
            client.models.generate_content(model=model, contents=PROMPT, config=config).text or ""
        )

    def stream(on_delta: DeltaSink) -> None:
        chunks = client.models.generate_content_stream(model=model, contents=PROMPT, config=config)
        for chunk in chunks:
            text = chunk.text
            if text:
                on_delta(text)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        aclient = genai.Client(api_key=profile["api_key"], http_options=options).aio

        async def acall() -> str:
            reply = await aclient.models.generate_content(
                model=model, contents=PROMPT, config=config
            )
            return reply.text or ""

        return acall, aclient.aclose

    def embed(text: str) -> Any:
        return client.models.embed_content(model="gemini-embedding-001", contents=[text])

    return RawSDK(call, stream, make_async, embed, client.close)


_BUILDERS: dict[str, Callable[[dict[str, Any]], RawSDK]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "google": _google,
}

PROVIDERS = tuple(_BUILDERS)
"""The providers measured against their SDK, in report order."""


def raw_sdk(provider: str, profile: dict[str, Any]) -> RawSDK:
    """The baseline SDK calls of `provider`, pointed at the fake profile's server."""
    return _BUILDERS[provider](profile)
