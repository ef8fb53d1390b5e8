"""Token counts and model lists as pure functions: the parameters each counting endpoint
takes (derived from the chat request), and each SDK's model list and count read into
`ModelInfo` / `TokenCount`. The adapters only send.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from itertools import islice
from typing import Any

from ...contract.request import ChatRequest
from ...contract.results import ModelInfo, TokenCount
from ...limits.estimate import estimate_chat_tokens
from .reply_checks import optional_str, reading, token_count, unreadable

__all__ = [
    "MAX_MODELS",
    "anthropic_count_params",
    "anthropic_model",
    "bounded",
    "estimate",
    "exact_count",
    "google_model",
    "openai_count_params",
    "openai_model",
    "parse_models",
]

MAX_MODELS = 5000
"""Pages are followed until this many models: a server that pages forever cannot hang us."""

# Sending options the counting endpoints refuse (they count the input only).
_OPENAI_UNCOUNTED = ("max_output_tokens", "temperature", "top_p", "stream", "prompt_cache_key")
_ANTHROPIC_UNCOUNTED = ("max_tokens", "stop_sequences", "stream")


def estimate(request: ChatRequest) -> TokenCount:
    """Our local estimate of the input (the reply's `max_output_tokens` left out)."""
    return TokenCount(estimate_chat_tokens(replace(request, max_output_tokens=None)), False)


def bounded(items: Iterable[Any], limit: int = MAX_MODELS) -> Iterator[Any]:
    """At most `limit` items of an auto-paginating SDK iterator."""
    return islice(items, limit)


def openai_count_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`responses.create` keyword arguments -> `responses.input_tokens.count`'s."""
    return {k: v for k, v in params.items() if k not in _OPENAI_UNCOUNTED}


def anthropic_count_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`messages.create` keyword arguments -> `messages.count_tokens`'s."""
    return {k: v for k, v in params.items() if k not in _ANTHROPIC_UNCOUNTED}


def exact_count(reply: Any, field: str, provider: str) -> TokenCount:
    """A counting endpoint's reply (`input_tokens` or Gemini's `total_tokens`)."""
    value = token_count(getattr(reply, field, None))
    if value is None:
        raise unreadable(provider, f"the token count reply has no {field}")
    return TokenCount(value, True)


def _int(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def _extra(item: Any, name: str) -> Any:
    """A field the SDK's model type does not declare (OpenRouter's, LM Studio's)."""
    extra = getattr(item, "model_extra", None) or {}
    return extra.get(name, getattr(item, name, None))


def openai_model(item: Any, provider: str) -> ModelInfo | None:
    """One `/models` entry; OpenRouter adds `context_length` and `top_provider`."""
    model_id = optional_str(getattr(item, "id", None))
    if not model_id:
        return None
    top = _extra(item, "top_provider")
    max_out = top.get("max_completion_tokens") if isinstance(top, dict) else None
    context = _extra(item, "context_length") or _extra(item, "max_context_length")
    return ModelInfo(
        model_id, provider, _int(context), _int(max_out), _int(getattr(item, "created", None))
    )


def anthropic_model(item: Any, provider: str) -> ModelInfo | None:
    """One `/v1/models` entry; newer API versions report `max_input_tokens`/`max_tokens`."""
    model_id = optional_str(getattr(item, "id", None))
    if not model_id:
        return None
    created = getattr(item, "created_at", None)
    stamp = int(created.timestamp()) if isinstance(created, datetime.datetime) else None
    return ModelInfo(
        model_id,
        provider,
        _int(getattr(item, "max_input_tokens", None)),
        _int(getattr(item, "max_tokens", None)),
        stamp,
    )


def google_model(item: Any, provider: str) -> ModelInfo | None:
    """One `models.list` entry: `models/<id>` with its token limits."""
    name = optional_str(getattr(item, "name", None))
    if not name:
        return None
    return ModelInfo(
        name.removeprefix("models/"),
        provider,
        _int(getattr(item, "input_token_limit", None)),
        _int(getattr(item, "output_token_limit", None)),
    )


def parse_models(items: Iterable[Any], read: Any, provider: str) -> list[ModelInfo]:
    """Every readable entry of a (bounded) model list, in the provider's order."""
    models: list[ModelInfo] = []
    with reading(provider):
        for item in bounded(items):
            info = read(item, provider)
            if info is not None:
                models.append(info)
    return models
