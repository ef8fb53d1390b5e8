"""The peers of `make bench-peers`, each used the way its own documentation shows, retries
off, on the OpenAI Chat Completions API (the one all three speak), plus that API through the
raw `openai` SDK as their common baseline. Imported only in `.venv-peers`, where they live.

Every builder returns the `RawSDK` shape of `bench.sdk`: a sync call, a stream and an async
call factory, all sending the same prompt with the same `max_tokens`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .config import PROMPT
from .sdk import MAX_TOKENS, DeltaSink, RawSDK

__all__ = ["PEERS", "peer", "raw_chat_completions"]

MESSAGES = [{"role": "user", "content": PROMPT}]
AsyncMaker = Callable[[], tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]]


async def _nothing() -> None:
    return None


def _text(reply: Any) -> str:
    return str(reply.choices[0].message.content or "")


def _delta(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None)
    if not choices:
        return None
    content = getattr(choices[0].delta, "content", None)
    return content if isinstance(content, str) and content else None


def raw_chat_completions(profile: dict[str, Any]) -> RawSDK:
    """`openai.OpenAI(...).chat.completions.create(...)`: what every peer wraps."""
    import openai

    kwargs = {"base_url": profile["base_url"], "api_key": profile["api_key"], "max_retries": 0}
    client = openai.OpenAI(**kwargs)
    params = {"model": profile["model"], "messages": MESSAGES, "max_tokens": MAX_TOKENS}

    def call() -> str:
        return _text(client.chat.completions.create(**params))

    def stream(on_delta: DeltaSink) -> None:
        with client.chat.completions.create(**params, stream=True) as chunks:
            for chunk in chunks:
                text = _delta(chunk)
                if text:
                    on_delta(text)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        aclient = openai.AsyncOpenAI(**kwargs)

        async def acall() -> str:
            return _text(await aclient.chat.completions.create(**params))

        return acall, aclient.close

    return RawSDK(call, stream, make_async, None, client.close)


def _litellm(profile: dict[str, Any]) -> RawSDK:
    """`litellm.completion(model="openai/...", api_base=..., ...)`, `acompletion` for async."""
    import litellm

    params = {
        "model": f"openai/{profile['model']}",
        "messages": MESSAGES,
        "max_tokens": MAX_TOKENS,
        "api_base": profile["base_url"],
        "api_key": profile["api_key"],
        "max_retries": 0,
        "num_retries": 0,
    }

    def call() -> str:
        return _text(litellm.completion(**params))

    def stream(on_delta: DeltaSink) -> None:
        for chunk in litellm.completion(**params, stream=True):
            text = _delta(chunk)
            if text:
                on_delta(text)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        async def acall() -> str:
            return _text(await litellm.acompletion(**params))

        return acall, _nothing

    return RawSDK(call, stream, make_async, None, lambda: None)


def _any_llm(profile: dict[str, Any]) -> RawSDK:
    """`AnyLLM.create("openai", api_key=..., api_base=...)`, reused: `.completion(...)`."""
    from any_llm import AnyLLM

    def make() -> Any:
        return AnyLLM.create(
            "openai", api_key=profile["api_key"], api_base=profile["base_url"], max_retries=0
        )

    llm = make()
    params = {"model": profile["model"], "messages": MESSAGES, "max_tokens": MAX_TOKENS}

    def call() -> str:
        return _text(llm.completion(**params))

    def stream(on_delta: DeltaSink) -> None:
        for chunk in llm.completion(**params, stream=True):
            text = _delta(chunk)
            if text:
                on_delta(text)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        allm = make()  # its async client belongs to this event loop

        async def acall() -> str:
            return _text(await allm.acompletion(**params))

        return acall, _nothing

    return RawSDK(call, stream, make_async, None, lambda: None)


def _aisuite(profile: dict[str, Any]) -> RawSDK:
    """`aisuite.Client({...}).chat.completions.create(model="openai:...")`, `acreate`."""
    import aisuite

    config = {
        "openai": {
            "api_key": profile["api_key"],
            "base_url": profile["base_url"],
            "max_retries": 0,
        }
    }
    client = aisuite.Client(config)
    params = {
        "model": f"openai:{profile['model']}",
        "messages": MESSAGES,
        "max_tokens": MAX_TOKENS,
    }

    def call() -> str:
        return _text(client.chat.completions.create(**params))

    def stream(on_delta: DeltaSink) -> None:
        for chunk in client.chat.completions.create(**params, stream=True):
            text = _delta(chunk)
            if text:
                on_delta(text)

    def make_async() -> tuple[Callable[[], Awaitable[str]], Callable[[], Awaitable[None]]]:
        aclient = aisuite.Client(config)

        async def acall() -> str:
            return _text(await aclient.chat.completions.acreate(**params))

        return acall, _nothing

    return RawSDK(call, stream, make_async, None, lambda: None)


_BUILDERS: dict[str, Callable[[dict[str, Any]], RawSDK]] = {
    "litellm": _litellm,
    "any-llm": _any_llm,
    "aisuite": _aisuite,
}

PEERS = tuple(_BUILDERS)
"""The peers measured, in report order (their distribution names)."""


def peer(name: str, profile: dict[str, Any]) -> RawSDK:
    """Peer `name` pointed at the fake server's OpenAI profile."""
    return _BUILDERS[name](profile)
