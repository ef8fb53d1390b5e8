"""Both sides of every comparison for one provider: our client and the raw SDK baseline,
pointed at the same fake server with the same request."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from llm_context import LLMClient, LLMContext, TextDelta
from llm_context.providers.registry import spec_for

from .config import PROMPT
from .sdk import MAX_TOKENS, PROVIDERS, DeltaSink, RawSDK, raw_sdk
from .server import ServerProcess

__all__ = ["MESSAGES", "Subject", "available_providers", "make_subjects"]

MESSAGES = [{"role": "user", "content": PROMPT}]


def available_providers(server: ServerProcess) -> list[str]:
    """Providers with an adapter module and a fake-server wire (others are being built)."""
    ready = []
    for provider in PROVIDERS:
        module = spec_for(provider).adapter.partition(":")[0]
        if provider in server.routed and importlib.util.find_spec(module) is not None:
            ready.append(provider)
    return ready


@dataclass
class Subject:
    """One provider: `llm` is ours, `sdk` the baseline."""

    provider: str
    llm: LLMClient
    sdk: RawSDK

    def call(self) -> str:
        return self.llm.chat_sync(MESSAGES, max_output_tokens=MAX_TOKENS).text

    def stream(self, on_delta: DeltaSink) -> None:
        self.llm.chat_stream_sync(MESSAGES, on_delta=on_delta, max_output_tokens=MAX_TOKENS)

    def events(self, on_delta: DeltaSink) -> None:
        """The typed event stream, its text handed on (what a chat UI does with it)."""
        for event in self.llm.events_sync(MESSAGES, max_output_tokens=MAX_TOKENS):
            if type(event) is TextDelta:
                on_delta(event.text)

    async def acall(self) -> str:
        return (await self.llm.chat(MESSAGES, max_output_tokens=MAX_TOKENS)).text

    def close(self) -> None:
        self.sdk.close()


def same_request(server: ServerProcess, subject: Subject) -> bool | str:
    """True when our call and the SDK call sent the same JSON body, else what differs."""
    server.clear()
    subject.sdk.call()
    subject.call()
    bodies = server.bodies()
    server.clear()
    if len(bodies) != 2:
        return f"expected 2 requests, the server saw {len(bodies)}"
    theirs, ours = bodies
    if theirs == ours:
        return True
    keys = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
    return "; ".join(f"{k}: sdk {theirs.get(k)!r}, ours {ours.get(k)!r}" for k in keys)


def make_subjects(
    server: ServerProcess, context: LLMContext, providers: list[str]
) -> tuple[list[Subject], dict[str, bool | str]]:
    """The subjects, plus for each provider whether both sides sent the same body."""
    subjects = [Subject(p, context.llm(p), raw_sdk(p, server.profile(p))) for p in providers]
    return subjects, {s.provider: same_request(server, s) for s in subjects}
