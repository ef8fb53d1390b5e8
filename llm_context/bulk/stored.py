"""A finished item as a checkpoint keeps it: a `ChatResult` as JSON and back, and the key
that says two items are the same request.

Only what the caller reads is kept (text, usage, model, finish reason, parsed JSON, tool
calls, reasoning, citations, the profile's name): never the raw SDK object, never anything
of the profile beyond its name, so no key can reach the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..contract.citations import Citation
from ..contract.results import ChatResult
from ..contract.tools import ToolCall

__all__ = ["FORMAT", "fingerprint", "from_json", "to_json"]

FORMAT = "llm_context.bulk/1"  # a checkpoint file's format; another one is refused


def fingerprint(provider: str, model: str, request: Mapping[str, Any]) -> str:
    """The key of one item: its provider, model and whole request. An item whose request
    (or the profile's provider or model) changed is a new item, never a stored one."""
    data = json.dumps(
        [provider, model, request], sort_keys=True, ensure_ascii=False, default=repr
    ).encode()
    return hashlib.sha256(data).hexdigest()


def to_json(result: ChatResult) -> str:
    return json.dumps(
        {
            "text": result.text,
            "usage": dict(result.usage),
            "model": result.model,
            "finish_reason": result.finish_reason,
            "parsed": result.parsed,
            "tool_calls": [[c.id, c.name, c.arguments] for c in result.tool_calls],
            "reasoning": result.reasoning,
            "citations": [
                [c.url, c.title, c.cited_text, c.start, c.end, dict(c.location)]
                for c in result.citations
            ],
            "profile": result.profile,
        },
        ensure_ascii=False,
        default=repr,  # a parsed pydantic model or the like: kept as its repr
    )


def from_json(text: str) -> ChatResult:
    data = json.loads(text)
    return ChatResult(
        data["text"],
        {k: int(v) for k, v in data["usage"].items()},
        tool_calls=tuple(ToolCall(i, n, a) for i, n, a in data["tool_calls"]),
        finish_reason=data["finish_reason"],
        model=data["model"],
        parsed=data["parsed"],
        reasoning=data["reasoning"],
        citations=tuple(Citation(*c) for c in data["citations"]),
        profile=data["profile"],
    )
