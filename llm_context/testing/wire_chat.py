"""The Chat Completions wire: `POST .../chat/completions` (JSON and SSE), and Azure's URLs.

Serves openrouter, lmstudio and ollama (told apart by the server's mount prefix) and
OpenAI's own `/v1/chat/completions`; Azure's classic deployment paths
(`/openai/deployments/{deployment}/...`, `api-version` query required) and its v1 API
(`/openai/v1/...`). OpenAI-shaped endpoints other than chat reuse `wire_openai`'s handlers.

Shapes follow the `openai` SDK's types (`openai/types/chat/chat_completion.py`,
`chat_completion_chunk.py`). A stream sends a role chunk, reasoning / text / tool-call
chunks (each call's arguments in fragments under its own `index`), a chunk with the
`finish_reason`, the usage chunk (empty `choices`) when `stream_options.include_usage`,
then `data: [DONE]`. A scripted cut ends the body before the finish chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import wire_openai
from .defaults import DEFAULT_JSON_OBJECT, default_text
from .prompt_cache import chat_prefix
from .routing import Exchange, Route, json_stream_flag
from .schema_example import example_for_schema
from .script import EmbeddingReply, ImageReply, Reply, UsageReply
from .wire_media import request_error, with_attachments

__all__ = ["ROUTES", "chat_completions"]

_DEFAULT_MODEL = "gpt-4.1-mini"
# The field each server puts thinking text in (Azure / OpenAI chat completions expose none).
_REASONING_FIELD: dict[str, str] = {
    "openrouter": "reasoning",
    "ollama": "reasoning",
    "lmstudio": "reasoning",
}
# Servers that refuse `response_format: {"type": "json_object"}` (lmstudio-bug-tracker #189).
_NO_JSON_OBJECT = frozenset({"lmstudio"})

error_body = wire_openai.error_body


# ---- request reading -------------------------------------------------------------------


def last_user_text(body: dict[str, Any]) -> str:
    # Chat messages have the shape of Responses input messages: one reader serves both.
    return wire_openai.last_user_text({"input": body.get("messages")})


def _default_reply(exchange: Exchange) -> Reply:
    response_format = exchange.body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return Reply.json(example_for_schema(schema))
    if response_format.get("type") == "json_object":
        return Reply.json(DEFAULT_JSON_OBJECT)
    text = with_attachments(last_user_text(exchange.body), exchange.body)
    return Reply(default_text(exchange.provider, text))


def _include_usage(exchange: Exchange) -> bool:
    options = exchange.body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


# ---- reply pieces ----------------------------------------------------------------------


def _usage(reply: Reply) -> dict[str, Any]:
    usage = reply.resolved_usage
    output = usage.output_tokens or 0
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": output,
        "total_tokens": usage.input_tokens + output,
        "prompt_tokens_details": _prompt_details(usage),
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
    }


def _prompt_details(usage: UsageReply) -> dict[str, int]:
    """Cache reads, and cache writes where they are known (OpenRouter's field)."""
    details = {"cached_tokens": usage.cached_input_tokens or 0}
    if usage.cache_write_tokens is not None:
        details["cache_write_tokens"] = usage.cache_write_tokens
    return details


def _call_id(exchange: Exchange, reply: Reply, index: int) -> str:
    return reply.tool_calls[index].id or f"call_fake_{exchange.seq}_{index}"


def _tool_calls(exchange: Exchange, reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": _call_id(exchange, reply, i),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def _envelope(exchange: Exchange, reply: Reply, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{exchange.seq}",
        "object": kind,
        "created": int(time.time()),
        "model": reply.model or exchange.body.get("model") or _DEFAULT_MODEL,
        "system_fingerprint": "fp_fake",
    }


def _annotations(reply: Reply) -> list[dict[str, Any]]:
    """OpenRouter's web search citations: nested `url_citation`s, `content` the passage."""
    return [
        {
            "type": "url_citation",
            "url_citation": {
                "url": c.url,
                "title": c.title,
                "content": c.cited_text,
                "start_index": c.start,
                "end_index": c.end,
            },
        }
        for c in reply.citations
    ]


def _completion(exchange: Exchange, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.full_text or None,
        "refusal": None,
    }
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(exchange, reply)
    field = _REASONING_FIELD.get(exchange.provider)
    if field and reply.reasoning is not None:
        message[field] = reply.reasoning
    if reply.citations:
        message["annotations"] = _annotations(reply)
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": reply.resolved_finish_reason,
        "logprobs": None,
    }
    return {
        **_envelope(exchange, reply, "chat.completion"),
        "choices": [choice],
        "usage": _usage(reply),
    }


def _stream(exchange: Exchange, reply: Reply) -> None:
    envelope = _envelope(exchange, reply, "chat.completion.chunk")
    include_usage = _include_usage(exchange)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        usage = {"usage": None} if include_usage else {}
        exchange.send_sse({**envelope, "choices": [choice], **usage})

    exchange.start_sse()
    chunk({"role": "assistant", "content": ""})
    field = _REASONING_FIELD.get(exchange.provider)
    if field and reply.reasoning is not None:
        for piece in wire_openai.fragments(reply.reasoning):
            chunk({field: piece})
    for delta in exchange.paced_deltas(reply):
        chunk({"content": delta})
    if reply.citations:  # OpenRouter sends them once the text they index has gone out
        chunk({"annotations": _annotations(reply)})
    for index, call in enumerate(_tool_calls(exchange, reply)):
        head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        chunk({"tool_calls": [{"index": index, **head}]})
        for piece in wire_openai.fragments(call["function"]["arguments"]):
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    chunk({}, reply.resolved_finish_reason)
    if include_usage:
        exchange.send_sse({**envelope, "choices": [], "usage": _usage(reply)})
    exchange.send_sse("[DONE]")
    exchange.end_sse()


# ---- handlers --------------------------------------------------------------------------


def chat_completions(exchange: Exchange) -> None:
    """`POST .../chat/completions`: a ChatCompletion, or its chunk stream."""
    response_format = exchange.body.get("response_format") or {}
    if response_format.get("type") == "json_object" and exchange.provider in _NO_JSON_OBJECT:
        exchange.send_error(400, "'response_format.type' must be 'json_schema' or 'text'")
        return
    refusal = request_error(exchange.body)
    if refusal is not None:
        exchange.send_error(400, refusal)
        return
    reply = exchange.scripted(Reply) or exchange.cached(
        _default_reply(exchange), chat_prefix(exchange.body)
    )
    if reply.searches and not _asks_for_search(exchange.body):
        exchange.send_error(400, "the scripted reply searches the web: send the web plugin")
        return
    if exchange.request.stream:
        _stream(exchange, reply)
    else:
        exchange.send_json(_completion(exchange, reply))


def _asks_for_search(body: dict[str, Any]) -> bool:
    """OpenRouter's web plugin (`plugins: [{"id": "web"}]`); no other server here searches."""
    plugins = body.get("plugins") or []
    return any(isinstance(p, dict) and p.get("id") == "web" for p in plugins)


def _versioned(handler: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    """Azure's classic paths: refuse a request without the `api-version` query parameter."""

    def versioned(exchange: Exchange) -> None:
        if not exchange.request.query.get("api-version"):
            exchange.send_error(400, "Missing required query parameter: api-version")
            return
        handler(exchange)

    versioned.__name__ = f"versioned_{handler.__name__}"
    return versioned


# ---- routes ----------------------------------------------------------------------------


def _route(
    provider: str,
    method: str,
    path: str,
    endpoint: str,
    handler: Any,
    accepts: tuple[type, ...],
    malformed_sse_event: str | None = None,
) -> Route:
    return Route(
        method,
        path,
        provider,
        endpoint,
        handler,
        error_body,
        accepts=accepts,
        streams=json_stream_flag,
        malformed_sse_event=malformed_sse_event,
    )


_DEPLOYMENT = r"/openai/deployments/(?P<deployment>[^/]+)"

ROUTES: tuple[Route, ...] = (
    _route("openai", "POST", r"/v1/chat/completions", "chat", chat_completions, (Reply,)),
    # Azure, classic: the deployment in the path, the api-version in the query.
    _route(
        "azure",
        "POST",
        _DEPLOYMENT + "/chat/completions",
        "chat",
        _versioned(chat_completions),
        (Reply,),
    ),
    _route(
        "azure",
        "POST",
        _DEPLOYMENT + "/embeddings",
        "embeddings",
        _versioned(wire_openai.embeddings),
        (EmbeddingReply,),
    ),
    _route(
        "azure",
        "POST",
        _DEPLOYMENT + "/images/generations",
        "images",
        _versioned(wire_openai.images_generate),
        (ImageReply,),
    ),
    _route(
        "azure",
        "POST",
        _DEPLOYMENT + "/images/edits",
        "image_edits",
        _versioned(wire_openai.images_edit),
        (ImageReply,),
    ),
    # Azure, v1 API: OpenAI's paths under /openai/v1.
    _route("azure", "POST", r"/openai/v1/chat/completions", "chat", chat_completions, (Reply,)),
    _route(
        "azure",
        "POST",
        r"/openai/v1/responses",
        "chat",
        wire_openai.responses,
        (Reply,),
        malformed_sse_event="response.created",
    ),
    _route(
        "azure",
        "POST",
        r"/openai/v1/embeddings",
        "embeddings",
        wire_openai.embeddings,
        (EmbeddingReply,),
    ),
    _route(
        "azure",
        "POST",
        r"/openai/v1/images/generations",
        "images",
        wire_openai.images_generate,
        (ImageReply,),
    ),
    _route("azure", "GET", r"/openai/v1/models", "models", wire_openai.list_models, ()),
)
