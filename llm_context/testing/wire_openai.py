"""OpenAI's wire: the Responses API (JSON and SSE), embeddings, images and the model list.

Shapes follow the `openai` SDK's own types (`openai/types/responses/response.py`,
`response_stream_event.py`, `create_embedding_response.py`, `images_response.py`): the
tests parse every answer with the SDK's strict response validation switched on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from .defaults import (
    DEFAULT_EMBEDDING_DIMS,
    DEFAULT_JSON_OBJECT,
    IMAGE_ASSET_PATH,
    TINY_PNG_B64,
    default_text,
    float32_b64,
    hash_embedding,
    rough_tokens,
)
from .prompt_cache import responses_prefix
from .routing import Exchange, Route, json_stream_flag
from .schema_example import example_for_schema
from .script import CitationReply, EmbeddingReply, ImageReply, Reply, split_words
from .wire_media import request_error, with_attachments

__all__ = ["ROUTES", "error_body"]

_DEFAULT_MODEL = "gpt-4.1-mini"

_PARAGRAPH = "\n\n"  # between a reasoning summary's parts

# The Responses API's web search tool types (current and legacy spellings).
_SEARCH_TOOLS = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)

# status -> (error.type, error.code), as api.openai.com labels them.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}`."""
    kind, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# ---- Responses API ---------------------------------------------------------------------


def last_user_text(body: dict[str, Any]) -> str:
    items = body.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if isinstance(p, dict) and "text" in p]
            return " ".join(texts)
    return ""


def _default_reply(exchange: Exchange) -> Reply:
    text_format = (exchange.body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        return Reply.json(example_for_schema(text_format.get("schema") or {}))
    if text_format.get("type") == "json_object":
        return Reply.json(DEFAULT_JSON_OBJECT)
    text = with_attachments(last_user_text(exchange.body), exchange.body)
    return Reply(default_text(exchange.provider, text))


def _usage(reply: Reply) -> dict[str, Any]:
    usage = reply.resolved_usage
    output = usage.output_tokens or 0
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens or 0,
            "cache_write_tokens": usage.cache_write_tokens or 0,
        },
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": usage.input_tokens + output,
    }


def _incomplete_reason(reply: Reply) -> str | None:
    finish = reply.resolved_finish_reason
    return {"length": "max_output_tokens", "content_filter": "content_filter"}.get(finish)


def _output_items(exchange: Exchange, reply: Reply) -> list[dict[str, Any]]:
    """The finished `output` list: reasoning, message, then one item per tool call."""
    seq = exchange.seq
    items: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        # Paragraphs are summary parts, as the API sends a long summary.
        paragraphs = reply.reasoning.split(_PARAGRAPH)
        summary = [{"type": "summary_text", "text": text} for text in paragraphs]
        items.append({"id": f"rs_fake_{seq}", "type": "reasoning", "summary": summary})
    for i, search in enumerate(reply.searches):
        sources = [{"type": "url", "url": url} for url, _ in search.results]
        action = {"type": "search", "query": search.query, "sources": sources}
        items.append(
            {"id": f"ws_fake_{seq}_{i}", "type": "web_search_call", "status": "completed"}
            | {"action": action}
        )
    text = reply.full_text
    if text or not reply.tool_calls:
        status = "incomplete" if _incomplete_reason(reply) else "completed"
        annotations = [_annotation(c) for c in reply.citations]
        part = {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        items.append(
            {
                "id": f"msg_fake_{seq}",
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [part],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "id": f"fc_fake_{seq}_{i}",
                "type": "function_call",
                "status": "completed",
                "call_id": call.id or f"call_fake_{seq}_{i}",
                "name": call.name,
                "arguments": call.arguments_json,
            }
        )
    return items


def _annotation(citation: CitationReply) -> dict[str, Any]:
    return {
        "type": "url_citation",
        "url": citation.url,
        "title": citation.title,
        "start_index": citation.start,
        "end_index": citation.end,
    }


def _response(
    exchange: Exchange, reply: Reply, output: list[dict[str, Any]], *, done: bool
) -> dict[str, Any]:
    body = exchange.body
    reason = _incomplete_reason(reply) if done else None
    status = ("incomplete" if reason else "completed") if done else "in_progress"
    created = int(time.time())
    reasoning = body.get("reasoning") or {}
    text_config = body.get("text") or {}
    return {
        "id": f"resp_fake_{exchange.seq}",
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "completed_at": created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": reply.model or body.get("model") or _DEFAULT_MODEL,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {
            "format": text_config.get("format") or {"type": "text"},
            "verbosity": text_config.get("verbosity", "medium"),
        },
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": _usage(reply) if done else None,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def responses(exchange: Exchange) -> None:
    """`POST /v1/responses`: a Response object, or its event stream."""
    refusal = request_error(exchange.body)
    if refusal is not None:
        exchange.send_error(400, refusal)
        return
    reply = exchange.scripted(Reply) or exchange.cached(
        _default_reply(exchange), responses_prefix(exchange.body), reports_writes=False
    )
    if reply.searches and not _asks_for_search(exchange.body):
        exchange.send_error(400, "the scripted reply searches the web: send a web_search tool")
        return
    if exchange.request.stream:
        _stream_response(exchange, reply)
    else:
        output = _output_items(exchange, reply)
        exchange.send_json(_response(exchange, reply, output, done=True))


def _asks_for_search(body: dict[str, Any]) -> bool:
    tools = body.get("tools") or []
    return any(isinstance(t, dict) and t.get("type") in _SEARCH_TOOLS for t in tools)


def fragments(arguments: str) -> list[str]:
    """Tool arguments in at least two pieces, as the real stream delivers them."""
    size = max(1, len(arguments) // 3)
    pieces = [arguments[i : i + size] for i in range(0, len(arguments), size)]
    return pieces if len(pieces) >= 2 else [arguments, ""]


def _stream_response(exchange: Exchange, reply: Reply) -> None:
    numbers = itertools.count()

    def emit(kind: str, **fields: Any) -> None:
        exchange.send_sse({"type": kind, **fields, "sequence_number": next(numbers)}, event=kind)

    exchange.start_sse()
    started = _response(exchange, reply, [], done=False)
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    items = _output_items(exchange, reply)
    sent_text = False
    for index, item in enumerate(items):
        kind = item["type"]
        where = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for number, summary in enumerate(item["summary"]):
                _stream_summary(emit, where, number, summary["text"])
        elif kind == "message":
            sent_text = True
            started_item = {**item, "status": "in_progress", "content": []}
            emit("response.output_item.added", output_index=index, item=started_item)
            part = {**item["content"][0], "text": ""}
            emit("response.content_part.added", **where, content_index=0, part=part)
            # Each annotation right after the delta that completes its span (any left over,
            # with a span past the text, after the last delta).
            waiting = list(enumerate(item["content"][0]["annotations"]))
            length = 0
            for delta in exchange.paced_deltas(reply):
                emit(
                    "response.output_text.delta", **where, content_index=0, delta=delta, logprobs=[]
                )
                length += len(delta)
                ready = [(n, a) for n, a in waiting if _span_end(a) <= length]
                waiting = [(n, a) for n, a in waiting if _span_end(a) > length]
                _emit_annotations(emit, where, ready)
            _emit_annotations(emit, where, waiting)
            text = item["content"][0]["text"]
            emit("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", **where, content_index=0, part=item["content"][0])
        elif kind == "web_search_call":
            emit("response.output_item.added", output_index=index, item=item)
            for phase in ("in_progress", "searching", "completed"):
                emit(f"response.web_search_call.{phase}", **where)
        else:
            if not sent_text:
                sent_text = True
                for _ in exchange.paced_deltas(reply):
                    pass  # no text, but a scripted cut or stall still applies here
            added = {**item, "status": "in_progress", "arguments": ""}
            emit("response.output_item.added", output_index=index, item=added)
            for piece in fragments(item["arguments"]):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit(
                "response.function_call_arguments.done",
                **where,
                name=item["name"],
                arguments=item["arguments"],
            )
        emit("response.output_item.done", output_index=index, item=item)
    final = _response(exchange, reply, items, done=True)
    emit(f"response.{final['status']}", response=final)
    exchange.end_sse()


def _stream_summary(
    emit: Callable[..., None], where: dict[str, Any], number: int, text: str
) -> None:
    """One reasoning summary part (its `summary_index` is `number`), streamed word by word."""
    at = {**where, "summary_index": number}
    emit("response.reasoning_summary_part.added", **at, part={"type": "summary_text", "text": ""})
    for delta in split_words(text):
        emit("response.reasoning_summary_text.delta", **at, delta=delta)
    emit("response.reasoning_summary_text.done", **at, text=text)
    emit("response.reasoning_summary_part.done", **at, part={"type": "summary_text", "text": text})


def _span_end(annotation: dict[str, Any]) -> int:
    end = annotation.get("end_index")
    return end if isinstance(end, int) else 0


def _emit_annotations(
    emit: Callable[..., None], where: dict[str, Any], annotations: list[tuple[int, dict[str, Any]]]
) -> None:
    for number, annotation in annotations:
        emit(
            "response.output_text.annotation.added",
            **where,
            content_index=0,
            annotation_index=number,
            annotation=annotation,
        )


# ---- embeddings ------------------------------------------------------------------------


def _embedding_texts(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) for v in value):
            return [repr(value)]  # one input given as token ids
        return [v if isinstance(v, str) else repr(v) for v in value]
    return None


def embeddings(exchange: Exchange) -> None:
    """`POST /v1/embeddings`: float lists, or base64 float32 when asked (the SDK's default)."""
    body = exchange.body
    texts = _embedding_texts(body.get("input"))
    if texts is None:
        exchange.send_error(400, "'input' must be a non-empty string or array")
        return
    scripted = exchange.scripted(EmbeddingReply) or EmbeddingReply()
    if scripted.vectors is not None:
        vectors = [[float(x) for x in vector] for vector in scripted.vectors]
    else:
        dims = scripted.dimensions or body.get("dimensions") or DEFAULT_EMBEDDING_DIMS
        vectors = [hash_embedding(text, int(dims)) for text in texts]
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": float32_b64(v) if as_base64 else v}
        for i, v in enumerate(vectors)
    ]
    tokens = scripted.input_tokens or sum(rough_tokens(t) for t in texts)
    exchange.send_json(
        {
            "object": "list",
            "data": data,
            "model": scripted.model or body.get("model") or "text-embedding-3-small",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


# ---- images ----------------------------------------------------------------------------


def _images_response(exchange: Exchange, fields: dict[str, Any]) -> None:
    try:
        n = int(fields.get("n") or 1)
    except (TypeError, ValueError):
        exchange.send_error(400, "'n' must be an integer")
        return
    scripted = exchange.scripted(ImageReply) or ImageReply()
    extra = {"revised_prompt": scripted.revised_prompt} if scripted.revised_prompt else {}
    data: list[dict[str, Any]]
    if scripted.url or (fields.get("response_format") == "url" and not scripted.b64_images):
        url = scripted.url or exchange.server_url + IMAGE_ASSET_PATH
        data = [{"url": url, **extra} for _ in range(n)]
    else:
        images = list(scripted.b64_images or [TINY_PNG_B64] * n)
        data = [{"b64_json": image, **extra} for image in images]
    prompt_tokens = rough_tokens(str(fields.get("prompt", "")))
    exchange.send_json(
        {
            "created": int(time.time()),
            "data": data,
            "background": "opaque",
            "output_format": "png",
            "size": fields.get("size") or "1024x1024",
            "usage": {
                "input_tokens": prompt_tokens,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": prompt_tokens},
                "output_tokens": 16 * len(data),
                "total_tokens": prompt_tokens + 16 * len(data),
            },
        }
    )


def images_generate(exchange: Exchange) -> None:
    """`POST /v1/images/generations` (JSON)."""
    if not exchange.body.get("prompt"):
        exchange.send_error(400, "'prompt' is required")
        return
    _images_response(exchange, exchange.body)


def images_edit(exchange: Exchange) -> None:
    """`POST /v1/images/edits` (multipart/form-data; the form is recorded as `json`)."""
    form = exchange.body
    if not any(key.startswith("image") for key in form):
        exchange.send_error(400, "an 'image' file is required")
        return
    _images_response(exchange, form)


# ---- models ----------------------------------------------------------------------------

_MODELS = ("gpt-4.1-mini", "gpt-4.1", "text-embedding-3-small", "gpt-image-1")


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "fake"}


def list_models(exchange: Exchange) -> None:
    """`GET /v1/models`."""
    exchange.send_json({"object": "list", "data": [_model(m) for m in _MODELS]})


def get_model(exchange: Exchange) -> None:
    """`GET /v1/models/{model}`: any name exists."""
    exchange.send_json(_model(exchange.params["model"]))


# ---- routes ----------------------------------------------------------------------------


def _route(method: str, path: str, endpoint: str, handler: Any, accepts: tuple[type, ...]) -> Route:
    return Route(
        method,
        path,
        "openai",
        endpoint,
        handler,
        error_body,
        accepts=accepts,
        streams=json_stream_flag,
        malformed_sse_event="response.created",
    )


ROUTES: tuple[Route, ...] = (
    _route("POST", r"/v1/responses", "chat", responses, (Reply,)),
    _route("POST", r"/v1/embeddings", "embeddings", embeddings, (EmbeddingReply,)),
    _route("POST", r"/v1/images/generations", "images", images_generate, (ImageReply,)),
    _route("POST", r"/v1/images/edits", "image_edits", images_edit, (ImageReply,)),
    _route("GET", r"/v1/models", "models", list_models, ()),
    _route("GET", r"/v1/models/(?P<model>[^/]+)", "models", get_model, ()),
)
