"""Token counting and model lists on every wire, as the SDKs' count and list methods call them.

Counts are deterministic (`rough_tokens`: whitespace-separated words of every text in the
request), so a test can predict them. Model lists are small and provider-shaped: OpenRouter
adds `context_length` and `top_provider`, Anthropic `created_at` and the newer
`max_input_tokens` / `max_tokens`, Gemini `inputTokenLimit` / `outputTokenLimit`. Anthropic
and Gemini lists page (`limit` + `after_id`, `pageSize` + `pageToken`) so that the clients'
page following is exercised. These routes come first in the server's table: they replace
the plain `/models` answers of the wire modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import wire_google, wire_openai
from .defaults import rough_tokens
from .routing import Exchange, Route

__all__ = ["MODELS", "ROUTES", "count_of"]

_CREATED = 1700000000

MODELS: dict[str, tuple[dict[str, Any], ...]] = {
    "openai": (
        {"id": "gpt-4.1-mini", "created": _CREATED, "owned_by": "system"},
        {"id": "gpt-4.1", "created": _CREATED, "owned_by": "system"},
        {"id": "text-embedding-3-small", "created": _CREATED, "owned_by": "system"},
        {"id": "gpt-image-1", "created": _CREATED, "owned_by": "system"},
    ),
    "azure": (
        {"id": "gpt-4.1-mini", "created": _CREATED, "owned_by": "system"},
        {"id": "text-embedding-3-small", "created": _CREATED, "owned_by": "system"},
    ),
    "openrouter": (
        {
            "id": "openai/gpt-4.1-mini",
            "created": _CREATED,
            "context_length": 1047576,
            "top_provider": {"context_length": 1047576, "max_completion_tokens": 32768},
        },
        {
            "id": "anthropic/claude-sonnet-4-6",
            "created": _CREATED,
            "context_length": 200000,
            "top_provider": {"context_length": 200000, "max_completion_tokens": 64000},
        },
    ),
    "lmstudio": (
        {"id": "qwen2.5-7b-instruct", "owned_by": "organization_owner"},
        {"id": "text-embedding-nomic-embed-text-v1.5", "owned_by": "organization_owner"},
    ),
    "ollama": (
        {"id": "llama3.2", "created": _CREATED, "owned_by": "library"},
        {"id": "nomic-embed-text", "created": _CREATED, "owned_by": "library"},
    ),
    "anthropic": (
        {"id": "claude-sonnet-4-6", "max_input_tokens": 200000, "max_tokens": 64000},
        {"id": "claude-opus-4-5", "max_input_tokens": 200000, "max_tokens": 32000},
        {"id": "claude-haiku-4-5"},  # older API versions report no limits
    ),
    "google": (
        {"name": "gemini-2.5-flash", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
        {"name": "gemini-2.5-pro", "inputTokenLimit": 1048576, "outputTokenLimit": 65536},
        {"name": "gemini-embedding-001", "inputTokenLimit": 2048, "outputTokenLimit": 1},
    ),
}
"""The default model lists, per provider (what `list_models` returns against the fake)."""


# ---- counting ----------------------------------------------------------------------------

_TEXT_KEYS = frozenset({"text", "content", "input", "instructions", "system", "output"})


def _texts(value: Any, key: str = "") -> Iterator[str]:
    """Every string under a text-bearing key, at any depth (messages, parts, system)."""
    if isinstance(value, str):
        if key in _TEXT_KEYS:
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item, key)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _texts(item, name)


def count_of(body: Any) -> int:
    """The fake's token count of a request body: the words of all its text."""
    return rough_tokens(" ".join(_texts(body)))


def responses_input_tokens(exchange: Exchange) -> None:
    """`POST /v1/responses/input_tokens`."""
    exchange.send_json({"object": "response.input_tokens", "input_tokens": count_of(exchange.body)})


def gemini_count_tokens(exchange: Exchange) -> None:
    """`POST /v1beta/models/{model}:countTokens`."""
    exchange.send_json({"totalTokens": count_of(exchange.body.get("contents"))})


# ---- model lists -------------------------------------------------------------------------


def openai_models(exchange: Exchange) -> None:
    """`GET /v1/models` (and each mount's): the Anthropic SDK calls the same path, and is
    told apart by its `anthropic-version` header."""
    if exchange.provider == "anthropic":
        anthropic_models(exchange)
        return
    provider = exchange.provider if exchange.provider in MODELS else "openai"
    data = [{"object": "model", **m} for m in MODELS[provider]]
    exchange.send_json({"object": "list", "data": data})


def azure_models(exchange: Exchange) -> None:
    """`GET /openai/models?api-version=...` (classic) and `/openai/v1/models`."""
    if exchange.request.path.startswith("/openai/models") and not exchange.request.query.get(
        "api-version"
    ):
        exchange.send_error(400, "Missing required query parameter: api-version")
        return
    data = [{"object": "model", **m} for m in MODELS["azure"]]
    exchange.send_json({"object": "list", "data": data})


def _page(items: list[dict[str, Any]], start: int, size: int) -> tuple[list[Any], bool]:
    return items[start : start + size], start + size < len(items)


def _size(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else default


def anthropic_models(exchange: Exchange) -> None:
    """`GET /v1/models?limit=&after_id=`: newest first, paged by `after_id`."""
    query = exchange.request.query
    models = [
        {"type": "model", "display_name": m["id"], "created_at": "2025-09-29T00:00:00Z", **m}
        for m in MODELS["anthropic"]
    ]
    ids = [m["id"] for m in models]
    after = query.get("after_id")
    start = ids.index(after) + 1 if after in ids else 0
    page, more = _page(models, start, _size(query.get("limit"), 20))
    exchange.send_json(
        {
            "data": page,
            "has_more": more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def gemini_models(exchange: Exchange) -> None:
    """`GET /v1beta/models?pageSize=&pageToken=`: the token is the next index."""
    query = exchange.request.query
    models = [
        {
            **m,
            "name": f"models/{m['name']}",
            "displayName": m["name"],
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for m in MODELS["google"]
    ]
    token = query.get("pageToken") or "0"
    start = int(token) if token.isdigit() else 0
    size = _size(query.get("pageSize"), 50)
    page, more = _page(models, start, size)
    body: dict[str, Any] = {"models": page}
    if more:
        body["nextPageToken"] = str(start + size)
    exchange.send_json(body)


# ---- routes ------------------------------------------------------------------------------


def _gemini_keyed(handler: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    """As every Gemini route: no key, no answer."""

    def answer(exchange: Exchange) -> None:
        headers, query = exchange.request.headers, exchange.request.query
        if not headers.get("x-goog-api-key") and "key" not in query:
            exchange.send_error(403, "Method doesn't allow unregistered callers.")
            return
        handler(exchange)

    answer.__name__ = handler.__name__
    return answer


def _openai(method: str, path: str, provider: str, endpoint: str, handler: Any) -> Route:
    return Route(method, path, provider, endpoint, handler, wire_openai.error_body, accepts=())


ROUTES: tuple[Route, ...] = (
    _openai(
        "POST", r"/v1/responses/input_tokens", "openai", "count_tokens", responses_input_tokens
    ),
    _openai(
        "POST",
        r"/openai/v1/responses/input_tokens",
        "azure",
        "count_tokens",
        responses_input_tokens,
    ),
    Route(
        "GET",
        r"/v1/models",
        "openai",
        "models",
        openai_models,
        wire_openai.error_body,
        accepts=(),
        provider_headers=(("anthropic-version", "anthropic"),),
    ),
    _openai("GET", r"/openai/models", "azure", "models", azure_models),
    _openai("GET", r"/openai/v1/models", "azure", "models", azure_models),
    Route(
        "POST",
        r"/v1beta/models/(?P<model>[^/:]+):countTokens",
        "google",
        "count_tokens",
        _gemini_keyed(gemini_count_tokens),
        wire_google.error_body,
        accepts=(),
    ),
    Route(
        "GET",
        r"/v1beta/models",
        "google",
        "models",
        _gemini_keyed(gemini_models),
        wire_google.error_body,
        accepts=(),
    ),
)
