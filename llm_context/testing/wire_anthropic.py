"""Anthropic's wire: the Messages API (JSON and SSE) and token counting.

Shapes follow the `anthropic` SDK's own types (`types/message.py`, `raw_message_stream_event.py`,
`usage.py`): the tests parse every answer with the SDK's strict response validation on.
Usage is split the way Anthropic reports it: a scripted `UsageReply.input_tokens` is the whole
prompt, sent as `input_tokens` (uncached) plus `cache_read_input_tokens` (cached). Like the
API, a thinking request that answers tool calls whose turn lost its thinking block is a 400, and
so are `messages: []` and a text block without text.
"""

from __future__ import annotations

import json
from typing import Any

from . import wire_openai
from .defaults import DEFAULT_JSON_OBJECT, default_text, rough_tokens
from .prompt_cache import anthropic_prefix
from .routing import Exchange, Route, json_stream_flag
from .schema_example import example_for_schema
from .script import CitationReply, Reply, SearchReply, split_words
from .wire_media import request_error, with_attachments

__all__ = ["ROUTES", "error_body"]

_DEFAULT_MODEL = "claude-sonnet-4-6"

# status -> error.type, as api.anthropic.com labels them.
_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# Our finish reasons -> stop_reason.
_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}`."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


# ---- requests --------------------------------------------------------------------------


def _texts(content: Any) -> str:
    """The text of a `content` (string, or blocks of which text blocks count)."""
    if isinstance(content, str):
        return content
    blocks = content if isinstance(content, list) else []
    return " ".join(
        b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)
    )


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            text = _texts(message.get("content"))
            if text:
                return text
    return ""


def _default_reply(exchange: Exchange) -> Reply:
    body = exchange.body
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return Reply.json(example_for_schema(fmt.get("schema") or {}))
    if "JSON object" in _texts(body.get("system")):
        # No JSON mode at Anthropic: a model asked for a JSON object in its system prompt.
        return Reply.json(DEFAULT_JSON_OBJECT)
    return Reply(default_text(exchange.provider, with_attachments(last_user_text(body), body)))


# ---- the Message -----------------------------------------------------------------------


def _usage(reply: Reply, *, final: bool = True) -> dict[str, Any]:
    usage = reply.resolved_usage
    cached = min(usage.cached_input_tokens or 0, usage.input_tokens)
    written = min(usage.cache_write_tokens or 0, usage.input_tokens - cached)
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens - cached - written,
        "output_tokens": (usage.output_tokens or 0) if final else 1,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }
    if final and usage.reasoning_tokens is not None:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def _search_blocks(block_id: str, search: SearchReply) -> list[dict[str, Any]]:
    """A web search as the API reports it: the server's tool use, then its results."""
    results = [
        {"type": "web_search_result", "url": url, "title": title, "encrypted_content": "enc"}
        for url, title in search.results
    ]
    use = {"type": "server_tool_use", "id": block_id, "name": "web_search"}
    return [
        {**use, "input": {"query": search.query}},
        {"type": "web_search_tool_result", "tool_use_id": block_id, "content": results},
    ]


def _cited_documents(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's document blocks that ask for citations, in order."""
    found: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            document = isinstance(block, dict) and block.get("type") == "document"
            if document and (block.get("citations") or {}).get("enabled"):
                found.append(block)
    return found


def _location(c: CitationReply, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a citation points: a passage of the first cited document when the request sent
    one (a char_location: characters of the source), else a web search result."""
    if documents:
        return {
            "type": "char_location",
            "cited_text": c.cited_text,
            "document_index": 0,
            "document_title": documents[0].get("title") or c.title,
            "start_char_index": 0,
            "end_char_index": len(c.cited_text),
            "file_id": None,
        }
    return {
        "type": "web_search_result_location",
        "url": c.url,
        "title": c.title,
        "cited_text": c.cited_text,
        "encrypted_index": "enc",
    }


def _cited_text_blocks(
    text: str, citations: tuple[CitationReply, ...], documents: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The answer cut into text blocks at the cited spans, as the API sends a cited answer:
    each cited block carries its citations (web results, or passages of a document)."""
    blocks: list[dict[str, Any]] = []
    at = 0
    for c in sorted(citations, key=lambda c: c.start):
        if c.start > at:
            blocks.append({"type": "text", "text": text[at : c.start], "citations": None})
        cited = _location(c, documents)
        blocks.append({"type": "text", "text": text[c.start : c.end], "citations": [cited]})
        at = c.end
    if at < len(text):
        blocks.append({"type": "text", "text": text[at:], "citations": None})
    return blocks


def reply_blocks(exchange: Exchange, reply: Reply) -> list[dict[str, Any]]:
    """The finished content: thinking, text, then one tool_use block per call."""
    seq = exchange.seq
    blocks: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        blocks.append(
            {"type": "thinking", "thinking": reply.reasoning, "signature": f"sig_fake_{seq}"}
        )
    for i, search in enumerate(reply.searches):
        blocks += _search_blocks(f"srvtoolu_fake_{seq}_{i}", search)
    text = reply.full_text
    if reply.citations:
        blocks += _cited_text_blocks(text, reply.citations, _cited_documents(exchange.body))
    elif text or not reply.tool_calls:
        blocks.append({"type": "text", "text": text, "citations": None})
    for i, call in enumerate(reply.tool_calls):
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id or f"toolu_fake_{seq}_{i}",
                "name": call.name,
                "input": dict(call.arguments),
            }
        )
    return blocks


def _message(
    exchange: Exchange, reply: Reply, content: list[dict[str, Any]], *, done: bool
) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{exchange.seq}",
        "type": "message",
        "role": "assistant",
        "model": reply.model or exchange.body.get("model") or _DEFAULT_MODEL,
        "content": content,
        "stop_reason": _STOP_REASONS[reply.resolved_finish_reason] if done else None,
        "stop_sequence": None,
        "usage": _usage(reply, final=done),
    }


# ---- the API's own checks -----------------------------------------------------------------

_THINKING_BLOCKS = ("thinking", "redacted_thinking")
_THINKING_ON = ("enabled", "adaptive")


def _block_types(message: Any) -> list[str]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return ["text"]
    blocks = content if isinstance(content, list) else []
    return [str(b.get("type")) for b in blocks if isinstance(b, dict)]


def _missing_thinking(body: dict[str, Any]) -> str | None:
    """The API's 400 when thinking is on and the assistant turn whose tool calls the last user
    turn answers does not open with its (signed) thinking block, else None."""
    if (body.get("thinking") or {}).get("type") not in _THINKING_ON:
        return None
    turns = body.get("messages") or []
    if len(turns) < 2 or "tool_result" not in _block_types(turns[-1]):
        return None
    index = len(turns) - 2
    found = (_block_types(turns[index]) or ["nothing"])[0]
    if found in _THINKING_BLOCKS:
        return None
    return (
        f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        f"`{found}`. When `thinking` is enabled, a final `assistant` message must start with a "
        "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
        "We recommend you include thinking blocks from previous turns. To avoid this "
        "requirement, disable `thinking`. Please consult our documentation at "
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    )


def _empty_content(body: dict[str, Any]) -> str | None:
    """The API's 400 for no messages at all, or a text block with no text, else None."""
    turns = body.get("messages")
    if isinstance(turns, list) and not turns:
        return "messages: at least one message is required"
    for i, turn in enumerate(turns if isinstance(turns, list) else []):
        content = turn.get("content") if isinstance(turn, dict) else None
        for j, block in enumerate(content if isinstance(content, list) else []):
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str) and block.get("type") == "text" and not text.strip():
                where = f"messages.{i}.content.{j}"
                return f"{where}: text content blocks must contain non-whitespace text"
    return None


def messages(exchange: Exchange) -> None:
    """`POST /v1/messages`: a Message, or its event stream (or the API's 400)."""
    body = exchange.body
    refusal = _empty_content(body) or _missing_thinking(body) or request_error(body)
    if refusal is not None:
        exchange.send_error(400, refusal)
        return
    reply = exchange.scripted(Reply) or exchange.cached(
        _default_reply(exchange), anthropic_prefix(exchange.body)
    )
    respond(exchange, reply, reply_blocks(exchange, reply))


def respond(exchange: Exchange, reply: Reply, content: list[dict[str, Any]]) -> None:
    """Answer with these content blocks, as a Message or its event stream (a test's own route
    uses it for blocks a `Reply` cannot script, such as redacted_thinking)."""
    if exchange.request.stream:
        _stream_message(exchange, reply, content)
    else:
        exchange.send_json(_message(exchange, reply, content, done=True))


# ---- the event stream ------------------------------------------------------------------


def _stream_message(exchange: Exchange, reply: Reply, content: list[dict[str, Any]]) -> None:
    start: dict[str, Any]

    def emit(kind: str, **fields: Any) -> None:
        exchange.send_sse({"type": kind, **fields}, event=kind)

    exchange.start_sse()
    emit("message_start", message=_message(exchange, reply, [], done=False))
    emit("ping")
    sent_text = False
    for index, block in enumerate(content):
        kind = block["type"]
        if kind == "redacted_thinking":
            emit("content_block_start", index=index, content_block=block)  # opaque: arrives whole
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            emit("content_block_start", index=index, content_block=start)
            for piece in split_words(block["thinking"]):
                delta = {"type": "thinking_delta", "thinking": piece}
                emit("content_block_delta", index=index, delta=delta)
            delta = {"type": "signature_delta", "signature": block["signature"]}
            emit("content_block_delta", index=index, delta=delta)
        elif kind == "web_search_tool_result":
            emit("content_block_start", index=index, content_block=block)  # arrives whole
        elif kind == "text":
            start = {"type": "text", "text": "", "citations": [] if block["citations"] else None}
            emit("content_block_start", index=index, content_block=start)
            # One text block streams the scripted deltas; a cited answer's blocks their own.
            pieces = split_words(block["text"]) if reply.citations else exchange.paced_deltas(reply)
            sent_text = True
            for piece in pieces:
                emit(
                    "content_block_delta", index=index, delta={"type": "text_delta", "text": piece}
                )
            for cited in block["citations"] or []:
                delta = {"type": "citations_delta", "citation": cited}
                emit("content_block_delta", index=index, delta=delta)
        else:
            if not sent_text:
                sent_text = True
                for _ in exchange.paced_deltas(reply):
                    pass  # no text, but a scripted cut or stall still applies here
            start = {**block, "input": {}}
            emit("content_block_start", index=index, content_block=start)
            # Tool input JSON in at least two pieces, as the real stream delivers it.
            arguments = json.dumps(block["input"], separators=(",", ":"))
            for piece in wire_openai.fragments(arguments):
                delta = {"type": "input_json_delta", "partial_json": piece}
                emit("content_block_delta", index=index, delta=delta)
        emit("content_block_stop", index=index)
    stop = {"stop_reason": _STOP_REASONS[reply.resolved_finish_reason], "stop_sequence": None}
    # Cumulative usage, as the API sends it now: the prompt counts again, and the thinking
    # tokens (`output_tokens_details`) only here.
    emit("message_delta", delta=stop, usage=_usage(reply))
    emit("message_stop")
    exchange.end_sse()


# ---- token counting ----------------------------------------------------------------------


def count_tokens(exchange: Exchange) -> None:
    """`POST /v1/messages/count_tokens`: a rough count of system and message text."""
    body = exchange.body
    texts = [_texts(body.get("system"))]
    texts += [_texts(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
    exchange.send_json({"input_tokens": rough_tokens(" ".join(texts))})


# ---- routes ----------------------------------------------------------------------------


def _route(path: str, endpoint: str, handler: Any, accepts: tuple[type, ...]) -> Route:
    return Route(
        "POST",
        path,
        "anthropic",
        endpoint,
        handler,
        error_body,
        accepts=accepts,
        streams=json_stream_flag,
        malformed_sse_event="message_start",
    )


ROUTES: tuple[Route, ...] = (
    _route(r"/v1/messages", "chat", messages, (Reply,)),
    _route(r"/v1/messages/count_tokens", "count_tokens", count_tokens, ()),
)
