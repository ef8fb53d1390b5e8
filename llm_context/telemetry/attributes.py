"""The GenAI semantic conventions' attributes, from our profiles, requests and results
(pure functions). Content (`gen_ai.input.messages` and kin) only when asked for; nothing
from a profile but its name, its provider and the host it talks to, so no key can get in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import assert_never

from ..config.settings import Profile
from ..contract.messages import AudioPart, DocumentPart, ImagePart, Message, TextPart
from ..contract.request import ChatRequest
from ..contract.results import ChatResult
from ..providers.registry import Provider

__all__ = [
    "OPERATION_NAMES",
    "PROVIDER_NAMES",
    "base_attributes",
    "chat_request_attributes",
    "input_messages",
    "output_messages",
    "result_attributes",
]

Attributes = dict[str, Any]

# Our operations -> `gen_ai.operation.name` (the conventions' words where they have one).
OPERATION_NAMES: Mapping[str, str] = {
    "chat": "chat",
    "stream": "chat",
    "embed": "embeddings",
    "image": "generate_content",
}

# `gen_ai.provider.name`: the conventions' well-known values, our names elsewhere.
PROVIDER_NAMES: Mapping[Provider, str] = {
    Provider.OPENAI: "openai",
    Provider.AZURE: "azure.ai.openai",
    Provider.ANTHROPIC: "anthropic",
    Provider.GOOGLE: "gcp.gemini",
    Provider.OPENROUTER: "openrouter",
    Provider.LMSTUDIO: "lmstudio",
    Provider.OLLAMA: "ollama",
}

# Normalised usage key -> the conventions' attribute.
_USAGE: Mapping[str, str] = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "cached_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_creation.input_tokens",
}


def base_attributes(operation: str, profile: Profile, model: str) -> Attributes:
    """What every span and metric of an operation carries."""
    attributes: Attributes = {
        "gen_ai.operation.name": OPERATION_NAMES[operation],
        "gen_ai.provider.name": PROVIDER_NAMES[profile.provider],
        "gen_ai.request.model": model,
    }
    url = profile.base_url or profile.spec.default_base_url
    if url:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.hostname:  # the host only: never a user, password or query
            attributes["server.address"] = parts.hostname
            if parts.port:
                attributes["server.port"] = parts.port
    return attributes


def chat_request_attributes(request: ChatRequest) -> Attributes:
    attributes: Attributes = {}
    if request.max_output_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        attributes["gen_ai.request.temperature"] = request.temperature
    if request.top_p is not None:
        attributes["gen_ai.request.top_p"] = request.top_p
    if request.stop:
        attributes["gen_ai.request.stop_sequences"] = list(request.stop)
    if request.output is not None:
        attributes["gen_ai.output.type"] = "json"
    return attributes


def result_attributes(result: Any) -> Attributes:
    """The response attributes of a result (chat, embeddings, images)."""
    attributes: Attributes = {}
    model = getattr(result, "model", None)
    if model:
        attributes["gen_ai.response.model"] = model
    reason = getattr(result, "finish_reason", None)
    if reason:
        attributes["gen_ai.response.finish_reasons"] = [reason]
    usage = getattr(result, "usage", None) or {}
    for key, name in _USAGE.items():
        if key in usage:
            attributes[name] = int(usage[key])
    return attributes


def _part(part: Any) -> dict[str, Any]:
    """One message part in the conventions' shape (bytes never: their kind and size)."""
    match part:
        case TextPart():
            return {"type": "text", "content": part.text}
        case ImagePart() if part.is_data_url:
            return {"type": "blob", "modality": "image", "mime_type": part.media_type}
        case ImagePart():
            return {"type": "uri", "modality": "image", "uri": part.url}
        case DocumentPart() | AudioPart():
            kind = "document" if isinstance(part, DocumentPart) else "audio"
            return {"type": "blob", "modality": kind, "mime_type": part.media_type}
        case _:
            assert_never(part)


def input_messages(messages: tuple[Message, ...]) -> tuple[str, str | None]:
    """`gen_ai.input.messages` and `gen_ai.system_instructions`, as JSON text."""
    system = [_part(p) for m in messages if m.role == "system" for p in m.parts]
    turns = []
    for message in messages:
        if message.role == "system":
            continue
        parts = [_part(p) for p in message.parts]
        parts += [
            {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
            for c in message.tool_calls
        ]
        turns.append({"role": message.role, "parts": parts})
    return _json(turns), (_json(system) if system else None)


def output_messages(result: ChatResult) -> str:
    """`gen_ai.output.messages`, as JSON text."""
    parts: list[dict[str, Any]] = [{"type": "text", "content": result.text}] if result.text else []
    parts += [
        {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
        for c in result.tool_calls
    ]
    message = {"role": "assistant", "parts": parts, "finish_reason": result.finish_reason}
    return _json([message])


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)
