"""A finished item as a checkpoint keeps it: a `ChatResult` as JSON and back, and the key
that says two items are the same request.

Only what the caller reads is kept (text, usage, model, finish reason, parsed JSON, tool
calls, reasoning, citations, the profile's name): never the raw SDK object, never anything
of the profile beyond its name, so no key can reach the file. A Pydantic model class in a
request is known by its JSON schema, and a parsed Pydantic object is kept as its data and
validated back into the model when read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..contract.citations import Citation
from ..contract.results import ChatResult
from ..contract.tools import ToolCall

__all__ = ["FORMAT", "fingerprint", "from_json", "output_model", "to_json"]

FORMAT = "llm_context.bulk/1"  # a checkpoint file's format; another one is refused


def _is_model_class(value: Any) -> bool:
    return isinstance(value, type) and callable(getattr(value, "model_json_schema", None))


def _plain(value: Any) -> Any:
    """JSON for what `json` cannot write. A model class by its schema, so a changed model is
    a new request (its repr names the class only); a model object by its data."""
    if _is_model_class(value):
        return {"model": value.__qualname__, "schema": value.model_json_schema()}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    return repr(value)


def output_model(opts: Mapping[str, Any]) -> type[Any] | None:
    """The Pydantic model a request's `json_schema` names, if it names one."""
    schema = opts.get("json_schema")
    return schema if _is_model_class(schema) else None


def fingerprint(provider: str, model: str, request: Mapping[str, Any]) -> str:
    """The key of one item: its provider, model and whole request. An item whose request
    (or the profile's provider or model) changed is a new item, never a stored one."""
    data = json.dumps(
        [provider, model, request], sort_keys=True, ensure_ascii=False, default=_plain
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
            "parsed_model": callable(getattr(result.parsed, "model_dump", None)),
            "tool_calls": [[c.id, c.name, c.arguments] for c in result.tool_calls],
            "reasoning": result.reasoning,
            "citations": [
                [c.url, c.title, c.cited_text, c.start, c.end, dict(c.location)]
                for c in result.citations
            ],
            "profile": result.profile,
        },
        ensure_ascii=False,
        default=_plain,
    )


def from_json(text: str, model_cls: type[Any] | None = None) -> ChatResult:
    """The stored result; `parsed` validated into `model_cls` if it was a model object."""
    data = json.loads(text)
    parsed = data["parsed"]
    if model_cls is not None and data.get("parsed_model") and parsed is not None:
        parsed = model_cls.model_validate(parsed)
    return ChatResult(
        data["text"],
        {k: int(v) for k, v in data["usage"].items()},
        tool_calls=tuple(ToolCall(i, n, a) for i, n, a in data["tool_calls"]),
        finish_reason=data["finish_reason"],
        model=data["model"],
        parsed=parsed,
        reasoning=data["reasoning"],
        citations=tuple(Citation(*c) for c in data["citations"]),
        profile=data["profile"],
    )
