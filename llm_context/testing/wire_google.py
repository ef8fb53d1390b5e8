"""Google's wire: the Gemini Developer API (v1beta) as google-genai 3.x calls it.

`:generateContent`, `:streamGenerateContent?alt=sse` (each SSE `data:` line one
GenerateContentResponse; the last carries finishReason and usageMetadata), `:embedContent`,
`:batchEmbedContents` (what the SDK uses for any list of texts), Imagen `:predict`, and the
model list for raw(). Also `GET /fake-assets/<name>`, images for adapters that download URLs.
Requests are checked like the real API checks them (`wire_google_request`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from .defaults import (
    DEFAULT_EMBEDDING_DIMS,
    DEFAULT_JSON_OBJECT,
    TINY_PNG,
    TINY_PNG_B64,
    default_text,
    hash_embedding,
    rough_tokens,
)
from .routing import Exchange, RecordedRequest, Route
from .schema_example import example_for_schema
from .script import EmbeddingReply, ImageReply, Reply, split_words
from .wire_google_request import (
    SIGNATURE_PREFIX,
    Invalid,
    check_request,
    get,
    last_user_text,
    parts,
)
from .wire_media import with_attachments

__all__ = ["ROUTES", "SIGNATURE_PREFIX", "error_body"]

_MODEL = r"/v1beta/(?P<model>(?:models|tunedModels)/[^/:]+)"

# HTTP status -> google.rpc status name, as the API labels its errors.
_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Our finish reasons -> Gemini's (function calls end with STOP too).
_FINISH: dict[str, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """`{"error": {"code", "message", "status"}}`."""
    name = _STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


def _model_id(exchange: Exchange) -> str:
    return exchange.params.get("model", "").split("/", 1)[-1]


# ---- answers ---------------------------------------------------------------------------


def _generation_config(exchange: Exchange) -> Mapping[str, Any]:
    return get(exchange.body, "generationConfig") or {}


def _wants_thoughts(exchange: Exchange) -> bool:
    thinking = get(_generation_config(exchange), "thinkingConfig") or {}
    return bool(get(thinking, "includeThoughts"))


def _wants_image(exchange: Exchange) -> bool:
    modalities = get(_generation_config(exchange), "responseModalities") or []
    return "IMAGE" in [str(m).upper() for m in modalities]


def _default_reply(exchange: Exchange) -> Reply:
    config = _generation_config(exchange)
    schema = get(config, "responseJsonSchema") or get(config, "responseSchema")
    if schema is not None:
        return Reply.json(example_for_schema(schema))
    if get(config, "responseMimeType") == "application/json":
        return Reply.json(DEFAULT_JSON_OBJECT)
    text = with_attachments(last_user_text(exchange.body), exchange.body)
    return Reply(default_text(exchange.provider, text))


def _usage(reply: Reply, *, final: bool = True) -> dict[str, Any]:
    usage = reply.resolved_usage
    if not final:
        return {"promptTokenCount": usage.input_tokens, "totalTokenCount": usage.input_tokens}
    output = usage.output_tokens or 0
    thoughts = usage.reasoning_tokens or 0
    meta: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": output - thoughts,
        "totalTokenCount": usage.input_tokens + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.input_tokens}],
    }
    if usage.reasoning_tokens is not None:
        meta["thoughtsTokenCount"] = thoughts
    if usage.cached_input_tokens is not None:
        meta["cachedContentTokenCount"] = usage.cached_input_tokens
    return meta


def _callparts(exchange: Exchange, reply: Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for i, call in enumerate(reply.tool_calls):
        fn: dict[str, Any] = {"name": call.name, "args": dict(call.arguments)}
        if call.id is not None:
            fn["id"] = call.id  # newer API versions carry ids; older models send none
        part: dict[str, Any] = {"functionCall": fn}
        if i == 0:  # Gemini signs the first call of a turn
            raw = SIGNATURE_PREFIX + str(exchange.seq).encode()
            part["thoughtSignature"] = base64.b64encode(raw).decode()
        parts.append(part)
    return parts


def _response(
    exchange: Exchange,
    parts: list[dict[str, Any]],
    reply: Reply,
    *,
    finish: str | None,
    usage: dict[str, Any],
    grounding: dict[str, Any] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    if finish is not None:
        candidate["finishReason"] = finish
    if grounding is not None:
        candidate["groundingMetadata"] = grounding
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": reply.model or _model_id(exchange),
        "responseId": f"fake-response-{exchange.seq}",
    }


def _grounding(reply: Reply, part_index: int) -> dict[str, Any] | None:
    """Google Search grounding for the scripted citations: one chunk per citation, a support
    per citation whose segment counts UTF-8 bytes within the answer's part."""
    if not reply.citations and not reply.searches:
        return None
    text = reply.full_text

    def at(chars: int) -> int:
        return len(text[:chars].encode("utf-8"))

    chunks = [{"web": {"uri": c.url, "title": c.title}} for c in reply.citations]
    supports = [
        {
            "segment": {
                "partIndex": part_index,
                "startIndex": at(c.start),
                "endIndex": at(c.end),
                "text": text[c.start : c.end],
            },
            "groundingChunkIndices": [i],
        }
        for i, c in enumerate(reply.citations)
    ]
    queries = [search.query for search in reply.searches]
    return {"groundingChunks": chunks, "groundingSupports": supports, "webSearchQueries": queries}


def _finish(reply: Reply) -> str:
    return _FINISH[reply.resolved_finish_reason]


def _image_response(exchange: Exchange, scripted: ImageReply) -> None:
    parts: list[dict[str, Any]] = []
    if scripted.revised_prompt:
        parts.append({"text": scripted.revised_prompt})
    for image in scripted.b64_images or [TINY_PNG_B64]:
        parts.append({"inlineData": {"mimeType": "image/png", "data": image}})
    reply = Reply()
    exchange.send_json(
        _response(
            exchange,
            parts,
            reply,
            finish="STOP",
            usage=_usage(reply) | {"candidatesTokenCount": 1290},
        )
    )


def _answer(exchange: Exchange) -> Reply | None:
    """Validate; answer images directly; else the reply to render (None when answered)."""
    try:
        check_request(exchange.body, _model_id(exchange))
    except Invalid as exc:
        exchange.send_error(400, str(exc))
        return None
    image = exchange.scripted(ImageReply)
    if image is not None or (_wants_image(exchange) and exchange.item is None):
        _image_response(exchange, image or ImageReply())
        return None
    return exchange.scripted(Reply) or _default_reply(exchange)


def generate_content(exchange: Exchange) -> None:
    """`POST /v1beta/models/{model}:generateContent`."""
    reply = _answer(exchange)
    if reply is None:
        return
    parts: list[dict[str, Any]] = []
    if reply.reasoning is not None and _wants_thoughts(exchange):
        parts.append({"text": reply.reasoning, "thought": True})
    if reply.full_text:
        parts.append({"text": reply.full_text})
    grounding = _grounding(reply, len(parts) - 1)
    parts.extend(_callparts(exchange, reply))
    exchange.send_json(
        _response(
            exchange, parts, reply, finish=_finish(reply), usage=_usage(reply), grounding=grounding
        )
    )


def stream_generate_content(exchange: Exchange) -> None:
    """`POST /v1beta/models/{model}:streamGenerateContent?alt=sse`: thoughts, text deltas,
    function calls (whole, in one chunk), then the finishReason and usage."""
    reply = _answer(exchange)
    if reply is None:
        return
    partial = _usage(reply, final=False)

    def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> None:
        usage = _usage(reply) if finish else partial
        # The grounding comes with the last chunk, indexing the whole answer.
        grounding = _grounding(reply, 0) if finish else None
        exchange.send_sse(
            _response(exchange, parts, reply, finish=finish, usage=usage, grounding=grounding)
        )

    exchange.start_sse()
    if reply.reasoning is not None and _wants_thoughts(exchange):
        for piece in split_words(reply.reasoning):
            chunk([{"text": piece, "thought": True}])
    for delta in exchange.paced_deltas(reply):
        chunk([{"text": delta}])
    calls = _callparts(exchange, reply)
    if calls:
        chunk(calls, _finish(reply))
    else:
        chunk([{"text": ""}], _finish(reply))
    exchange.end_sse()


# ---- embeddings ------------------------------------------------------------------------


def _embed_text(content: Any) -> str:
    texts = [p.get("text", "") for p in parts(content if isinstance(content, dict) else {})]
    return " ".join(t for t in texts if isinstance(t, str))


def _vectors(exchange: Exchange, requests: list[Mapping[str, Any]]) -> list[list[float]] | None:
    scripted = exchange.scripted(EmbeddingReply) or EmbeddingReply()
    if scripted.vectors is not None:
        return [[float(x) for x in v] for v in scripted.vectors]
    vectors = []
    for request in requests:
        text = _embed_text(request.get("content"))
        if not text:
            exchange.send_error(400, "* content: the text to embed is empty")
            return None
        dims = scripted.dimensions or get(request, "outputDimensionality") or DEFAULT_EMBEDDING_DIMS
        vectors.append(hash_embedding(text, int(dims)))
    return vectors


def _embed_usage(requests: list[Mapping[str, Any]]) -> dict[str, int]:
    tokens = sum(rough_tokens(_embed_text(r.get("content"))) for r in requests)
    return {"promptTokenCount": tokens, "totalTokenCount": tokens}


def batch_embed_contents(exchange: Exchange) -> None:
    """`POST /v1beta/models/{model}:batchEmbedContents` (at most 100 requests)."""
    requests = exchange.body.get("requests")
    if not isinstance(requests, list) or not requests:
        exchange.send_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
        return
    if len(requests) > 100:
        exchange.send_error(
            400, "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch"
        )
        return
    wanted = exchange.params["model"]
    if any(r.get("model") not in (None, wanted) for r in requests):
        exchange.send_error(400, f"Model in each request must be {wanted}")
        return
    vectors = _vectors(exchange, requests)
    if vectors is not None:
        exchange.send_json(
            {
                "embeddings": [{"values": v} for v in vectors],
                "usageMetadata": _embed_usage(requests),
            }
        )


def embed_content(exchange: Exchange) -> None:
    """`POST /v1beta/models/{model}:embedContent` (one content)."""
    vectors = _vectors(exchange, [exchange.body])
    if vectors is not None:
        exchange.send_json({"embedding": {"values": vectors[0]}})


# ---- Imagen ----------------------------------------------------------------------------


def predict(exchange: Exchange) -> None:
    """`POST /v1beta/models/{imagen}:predict` -> `{"predictions": [{bytesBase64Encoded, ...}]}`."""
    instances = exchange.body.get("instances")
    if not isinstance(instances, list) or not instances or not get(instances[0], "prompt"):
        exchange.send_error(400, "* instances[0].prompt: required")
        return
    parameters = exchange.body.get("parameters") or {}
    count = int(get(parameters, "sampleCount") or 1)
    scripted = exchange.scripted(ImageReply) or ImageReply()
    images = list(scripted.b64_images or [TINY_PNG_B64] * count)
    exchange.send_json(
        {"predictions": [{"bytesBase64Encoded": b64, "mimeType": "image/png"} for b64 in images]}
    )


# ---- models and assets -----------------------------------------------------------------

_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001", "imagen-4.0-generate-001")


def _model(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "displayName": name,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def list_models(exchange: Exchange) -> None:
    """`GET /v1beta/models`."""
    exchange.send_json({"models": [_model(m) for m in _MODELS]})


def get_model(exchange: Exchange) -> None:
    """`GET /v1beta/models/{model}`: any name exists."""
    exchange.send_json(_model(exchange.params["model"]))


def serve_asset(exchange: Exchange) -> None:
    """`GET /fake-assets/<name>`: `*.png` a PNG (a scripted ImageReply's first image, if any);
    `size-<N>.png` N bytes with a Content-Length; `stream-<N>.png` N bytes chunked, no length;
    `redirect?to=<url>` a 302 to that URL (without `to`: to itself, a loop); `*.pdf` a tiny
    PDF, `*.txt` UTF-8 text; anything else an HTML page (not an image)."""
    name = exchange.params["name"]
    stem = name.rsplit(".", 1)[0]
    kind, _, count = stem.partition("-")
    if name == "redirect":
        target = exchange.request.query.get("to", exchange.request.path)
        exchange.send_bytes(b"", "text/plain", 302, {"location": target})
    elif name.endswith(".pdf"):
        exchange.send_bytes(TINY_PDF, "application/pdf")
    elif name.endswith(".txt"):
        exchange.send_bytes("Plain notes, naïvely typed.".encode(), "text/plain; charset=utf-8")
    elif not name.endswith(".png"):
        exchange.send_bytes(b"<html><body>not an image</body></html>", "text/html; charset=utf-8")
    elif kind == "size" and count.isdigit():
        exchange.send_bytes(TINY_PNG + b"\0" * max(0, int(count) - len(TINY_PNG)), "image/png")
    elif kind == "stream" and count.isdigit():
        exchange.start_sse({"content-type": "image/png"})
        left = int(count)
        while left > 0:
            size = min(left, 1 << 20)
            exchange.send_raw_sse(b"\0" * size)
            left -= size
        exchange.end_sse()
    else:
        scripted = exchange.scripted(ImageReply)
        data = (
            base64.b64decode(scripted.b64_images[0])
            if scripted and scripted.b64_images
            else TINY_PNG
        )
        exchange.send_bytes(data, "image/png")


TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
"""A PDF's signature and trailer: enough for the checks, no pages."""


# ---- routes ----------------------------------------------------------------------------


def _always(request: RecordedRequest) -> bool:
    return True


def _keyed(handler: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    """The API refuses callers without a key (header, or the `key` query it also takes)."""

    def answer(exchange: Exchange) -> None:
        if (
            not exchange.request.headers.get("x-goog-api-key")
            and "key" not in exchange.request.query
        ):
            exchange.send_error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity.",
            )
            return
        handler(exchange)

    answer.__name__ = handler.__name__
    return answer


def _route(
    method: str, path: str, endpoint: str, handler: Any, accepts: tuple[type, ...], **kw: Any
) -> Route:
    return Route(
        method, path, "google", endpoint, _keyed(handler), error_body, accepts=accepts, **kw
    )


ROUTES: tuple[Route, ...] = (
    _route("POST", _MODEL + r":generateContent", "chat", generate_content, (Reply, ImageReply)),
    _route(
        "POST",
        _MODEL + r":streamGenerateContent",
        "chat",
        stream_generate_content,
        (Reply,),
        streams=_always,
    ),
    _route(
        "POST",
        _MODEL + r":batchEmbedContents",
        "embeddings",
        batch_embed_contents,
        (EmbeddingReply,),
    ),
    _route("POST", _MODEL + r":embedContent", "embeddings", embed_content, (EmbeddingReply,)),
    _route("POST", _MODEL + r":predict", "images", predict, (ImageReply,)),
    _route("GET", r"/v1beta/models", "models", list_models, ()),
    _route("GET", r"/v1beta/models/(?P<model>[^/:]+)", "models", get_model, ()),
    Route(
        "GET",
        r"/fake-assets/(?P<name>[^/]+)",
        "fake",
        "asset",
        serve_asset,
        error_body,
        accepts=(ImageReply,),
    ),
)
