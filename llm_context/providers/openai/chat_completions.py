"""The Chat Completions wire (`POST /chat/completions`), as pure functions.

Shared by openrouter, lmstudio, ollama and Azure's classic deployment path. What differs
between those servers is a `Dialect` (data, set per adapter class); everything else is the
same code: `build_params` makes the SDK call's keyword arguments, `parse_response` reads a
`ChatCompletion`, `parse_stream` turns the chunks of a stream into our events.

A stream is complete when a chunk with a `finish_reason` arrived: the usage chunk follows it
(with `stream_options.include_usage`), so the stream is read to `[DONE]` or its end before
`StreamEnd` is emitted. A stream that ends without any `finish_reason` was cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from typing_extensions import assert_never

from ...contract.builtin_tools import BuiltinTool
from ...contract.caching import CacheControl
from ...contract.events import CitationAdded
from ...contract.messages import AudioPart, DocumentPart, ImagePart, Message, Role, TextPart
from ...contract.request import ChatRequest, OutputSpec
from ...contract.results import ChatResult, Usage, make_usage
from ...contract.tools import ToolCall, ToolChoice, ToolSpec, parse_arguments
from ...errors import LLMServerError, LLMUnsupportedFeatureError
from ...streams.events import (
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
    ToolCallEnd,
)
from ..base import Feature
from ..shared import sdk as common
from ..shared.reply_checks import (
    expect,
    optional_str,
    reading,
    required_list,
    tokens,
    validated,
)
from .citations import annotation_citations
from .responses import EFFORTS as OPENAI_EFFORTS

__all__ = [
    "FINISH_REASONS",
    "OPENAI_EFFORTS",
    "OPENAI_ROLES",
    "Dialect",
    "build_params",
    "parse_body",
    "parse_response",
    "parse_stream",
    "rejects_stream_options",
    "without_stream_options",
]

# The wire's finish reasons -> ours; anything else (OpenRouter "error", Ollama "load") passes.
FINISH_REASONS: Mapping[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
}

# Our roles -> the wire's. Most local chat templates know no "developer": it becomes "system".
SYSTEM_ROLES: Mapping[Role, str] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
OPENAI_ROLES: Mapping[Role, str] = {**SYSTEM_ROLES, "developer": "developer"}

# Where servers put thinking text on a message or delta (OpenRouter/Ollama/LM Studio first).
REASONING_FIELDS = ("reasoning", "reasoning_content")


@dataclass(frozen=True)
class Dialect:
    """How one server's Chat Completions differs from the others: data, no behaviour.

    `effort_param` says where `reasoning_effort` goes: the top-level `reasoning_effort`
    field, OpenRouter's `reasoning: {"effort": ...}` object, or nowhere (unsupported);
    `efforts` maps our scale onto the values the server accepts. `stream_usage` asks for
    the usage chunk with `stream_options.include_usage`. `remote_images` is False where only
    data: URLs are accepted (the server does not fetch URLs). `media` says the server takes
    `file` and `input_audio` parts; `file_urls` that a `file_data` may be an https URL
    (OpenRouter), where OpenAI's Chat Completions take documents inline only. `cache_markers`
    says parts may carry Anthropic's `cache_control` (OpenRouter forwards it); `web_plugin`
    that built-in web search is OpenRouter's `web` plugin (elsewhere there is none).
    """

    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    effort_param: Literal["reasoning_effort", "reasoning"] | None = None
    efforts: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[Role, str] = field(default_factory=lambda: SYSTEM_ROLES)
    stream_usage: bool = True
    remote_images: bool = True
    media: bool = False
    file_urls: bool = False
    cache_markers: bool = False
    web_plugin: bool = False


# -- request ---------------------------------------------------------------------------------


def _image_part(part: ImagePart, dialect: Dialect, provider: str, model: str) -> dict[str, Any]:
    if not part.is_data_url and not dialect.remote_images:
        raise LLMUnsupportedFeatureError(
            provider, model, "image URLs", "Send the image as a data: URL (base64) instead."
        )
    image: dict[str, Any] = {"url": part.url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _file_part(part: DocumentPart, dialect: Dialect, provider: str, model: str) -> dict[str, Any]:
    if part.url is None:
        return {"type": "file", "file": {"file_data": part.data_url, "filename": part.name}}
    if not dialect.file_urls:
        raise LLMUnsupportedFeatureError(
            provider, model, "document URLs", "Send the file inline as file_data (base64)."
        )
    file = {"file_data": part.url, "filename": part.filename or part.url.rsplit("/", 1)[-1]}
    return {"type": "file", "file": file}


def _content(
    message: Message, dialect: Dialect, provider: str, model: str
) -> str | list[dict[str, Any]]:
    """User content: a plain string when it is only unmarked text, else a list of parts."""
    if all(isinstance(p, TextPart) and p.cache is None for p in message.parts):
        return message.text
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                parts.append({"type": "text", "text": text})
            case ImagePart():
                parts.append(_image_part(part, dialect, provider, model))
            case DocumentPart() | AudioPart() if not dialect.media:
                feature = "document input" if isinstance(part, DocumentPart) else "audio input"
                raise LLMUnsupportedFeatureError(provider, model, feature)
            case DocumentPart():
                parts.append(_file_part(part, dialect, provider, model))
            case AudioPart(data_b64=data, format=fmt):
                parts.append({"type": "input_audio", "input_audio": {"data": data, "format": fmt}})
            case _:
                assert_never(part)
        if part.cache is not None:
            parts[-1]["cache_control"] = _marker(part.cache, dialect, provider, model)
    return parts


def _marker(cache: CacheControl, dialect: Dialect, provider: str, model: str) -> dict[str, str]:
    if not dialect.cache_markers:  # the plan checks features first; a dated Azure API has none
        raise LLMUnsupportedFeatureError(provider, model, Feature.CACHE_MARKERS.value)
    return cache.anthropic()


def _text_only(
    message: Message, dialect: Dialect, provider: str, model: str
) -> str | list[dict[str, Any]]:
    """System, developer, assistant and tool content: text only (as text parts when one
    carries a cache marker)."""
    if any(not isinstance(p, TextPart) for p in message.parts):
        raise LLMUnsupportedFeatureError(
            provider, model, f"images in {message.role} messages", "Put images in a user message."
        )
    if all(p.cache is None for p in message.parts):
        return message.text
    return [
        {"type": "text", "text": p.text}
        | ({} if p.cache is None else {"cache_control": _marker(p.cache, dialect, provider, model)})
        for p in message.parts
        if isinstance(p, TextPart)
    ]


def _message(message: Message, dialect: Dialect, provider: str, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": dialect.roles[message.role]}
    match message.role:
        case "system" | "developer":
            out["content"] = _text_only(message, dialect, provider, model)
        case "user":
            out["content"] = _content(message, dialect, provider, model)
        case "assistant":
            out["content"] = (
                _text_only(message, dialect, provider, model) if message.parts else None
            )
            if message.tool_calls:
                out["tool_calls"] = [call.to_message_dict() for call in message.tool_calls]
        case "tool":
            out["tool_call_id"] = message.tool_call_id
            out["content"] = _text_only(message, dialect, provider, model)
        case _:
            assert_never(message.role)
    if message.name is not None and message.role != "tool":
        out["name"] = message.name
    return out


def messages_param(
    messages: Iterable[Message], dialect: Dialect, provider: str, model: str
) -> list[dict[str, Any]]:
    """Our messages -> Chat Completions messages (tool calls and results map 1:1)."""
    return [_message(m, dialect, provider, model) for m in messages]


def tool_param(tool: ToolSpec, provider: str, model: str) -> dict[str, Any]:
    """A function tool; `strict` is sent only when the caller chose it."""
    if tool.cache is not None:
        raise LLMUnsupportedFeatureError(
            provider,
            model,
            "a cache marker on a tool",
            "Mark the system message instead: the cached prefix includes the tools before it.",
        )
    function: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.strict_parameters or tool.parameters),
    }
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_param(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def response_format(output: OutputSpec) -> dict[str, Any]:
    if output.kind == "json_object":
        return {"type": "json_object"}
    schema = {"name": output.name, "schema": dict(output.schema or {}), "strict": output.strict}
    return {"type": "json_schema", "json_schema": schema}


def _effort(request: ChatRequest, dialect: Dialect, provider: str) -> str | None:
    """The server's value for `reasoning_effort` (None when not asked for)."""
    effort = request.reasoning_effort
    if effort is None:
        return None
    if dialect.effort_param is None or effort not in dialect.efforts:
        raise LLMUnsupportedFeatureError(provider, request.model, f"reasoning_effort={effort!r}")
    return dialect.efforts[effort]


def _plugin(tool: BuiltinTool, dialect: Dialect, provider: str, model: str) -> dict[str, Any]:
    """OpenRouter's `web` plugin for built-in web search (`max_uses` caps its results)."""
    if not dialect.web_plugin:
        raise LLMUnsupportedFeatureError(provider, model, Feature.WEB_SEARCH.value)
    match tool.kind:
        case "web_search":
            plugin: dict[str, Any] = {"id": "web"}
            if tool.max_uses is not None:
                plugin["max_results"] = tool.max_uses
            return plugin
        case _:
            assert_never(tool.kind)


def build_params(
    request: ChatRequest, dialect: Dialect, provider: str, *, stream: bool = False
) -> dict[str, Any]:
    """The keyword arguments of `client.chat.completions.create` for a request."""
    model = request.model
    params: dict[str, Any] = {
        "model": model,
        "messages": messages_param(request.messages, dialect, provider, model),
    }
    if request.max_output_tokens is not None:
        params[dialect.max_tokens_field] = request.max_output_tokens
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.stop:
        params["stop"] = list(request.stop)
    if request.tools:
        params["tools"] = [tool_param(t, provider, model) for t in request.tools]
    if request.tool_choice is not None:
        params["tool_choice"] = tool_choice_param(request.tool_choice)
    if request.parallel_tool_calls is not None:
        params["parallel_tool_calls"] = request.parallel_tool_calls
    if request.output is not None:
        params["response_format"] = response_format(request.output)
    if stream:
        params["stream"] = True
        if dialect.stream_usage:
            params["stream_options"] = {"include_usage": True}
    # Fields the SDK has no keyword for travel in extra_body; the caller's extra_body wins.
    extra: dict[str, Any] = {}
    if request.builtin_tools:
        extra["plugins"] = [
            _plugin(tool, dialect, provider, model) for tool in request.builtin_tools
        ]
    effort = _effort(request, dialect, provider)
    if effort is not None and dialect.effort_param == "reasoning":
        extra["reasoning"] = {"effort": effort}
    elif effort is not None:
        params["reasoning_effort"] = effort
    params.update(common.per_call(request.timeout, {**extra, **request.extra}))
    return params


def without_stream_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The same call without `stream_options` (for servers that reject it)."""
    return {k: v for k, v in params.items() if k != "stream_options"}


def rejects_stream_options(exc: BaseException) -> bool:
    """True for a 400/422 reply that complains about `stream_options` (LiteLLM #23847)."""
    if getattr(exc, "status_code", None) not in (400, 422):
        return False
    return "stream_options" in f"{exc} {getattr(exc, 'body', '')}"


# -- reply -----------------------------------------------------------------------------------


def parse_usage(usage: Any) -> Usage | None:
    """`CompletionUsage` -> our usage (None when the server sent none); a count missing or
    of the wrong type is unknown."""
    if usage is None:
        return None
    prompt = getattr(usage, "prompt_tokens_details", None)
    completion = getattr(usage, "completion_tokens_details", None)
    return make_usage(
        tokens(usage, "prompt_tokens"),
        tokens(usage, "completion_tokens"),
        tokens(usage, "total_tokens"),
        reasoning_tokens=tokens(completion, "reasoning_tokens"),
        cached_input_tokens=tokens(prompt, "cached_tokens"),
        cache_write_tokens=tokens(prompt, "cache_write_tokens"),
    )


def finish_reason(raw: str | None, has_calls: bool) -> str | None:
    """Our finish reason; a "stop" that carries tool calls is a tool-call stop."""
    if not isinstance(raw, str):
        return None  # none yet, or not a reason at all
    reason = FINISH_REASONS.get(raw, raw)
    return "tool_calls" if has_calls and reason == "stop" else reason


def reasoning_text(obj: Any) -> str | None:
    """Thinking text from a message or delta, under whichever field the server uses."""
    for name in REASONING_FIELDS:
        value = getattr(obj, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _tool_calls(message: Any, provider: str) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for i, call in enumerate(message.tool_calls or []):
        function = getattr(call, "function", None)
        if call.type != "function" or function is None:
            raise LLMServerError(
                f"{provider} sent a tool call of unknown type {call.type!r}", provider=provider
            )
        name = function.name
        calls.append(
            ToolCall(
                call.id or f"call_{i}", name, parse_arguments(function.arguments, tool_name=name)
            )
        )
    legacy = getattr(message, "function_call", None)
    if not calls and legacy is not None:
        args = parse_arguments(legacy.arguments, tool_name=legacy.name)
        calls.append(ToolCall("call_0", legacy.name, args))
    return calls


def parse_response(completion: Any, provider: str) -> ChatResult:
    """A `ChatCompletion` -> `ChatResult` (first choice: text, tool calls, reasoning, usage);
    a reply that is no `ChatCompletion` or has no choices raises `LLMServerError`."""
    from openai.types.chat import ChatCompletion

    completion = expect(completion, ChatCompletion, provider)
    choices = required_list(completion, "choices", provider, empty_ok=False)
    with reading(provider):
        return _parse_choice(completion, choices[0], provider)


def parse_body(body: Any, provider: str) -> ChatResult:
    """A Chat Completions answer as decoded JSON (a batch's output line) -> `ChatResult`."""
    from openai.types.chat import ChatCompletion

    return parse_response(validated(ChatCompletion, body, provider), provider)


def _parse_choice(completion: Any, choice: Any, provider: str) -> ChatResult:
    message = choice.message
    calls = _tool_calls(message, provider)
    text = message.content or ""
    reason = finish_reason(choice.finish_reason, bool(calls))
    if getattr(message, "refusal", None):
        text, reason = text or message.refusal, "content_filter"
    return ChatResult(
        text,
        parse_usage(completion.usage) or make_usage(),
        tool_calls=tuple(calls),
        finish_reason=reason,
        model=optional_str(completion.model),
        reasoning=reasoning_text(message),
        citations=tuple(annotation_citations(message, len(text))),
        raw=completion,
    )


def _delta_events(delta: Any) -> Iterator[StreamEvent]:
    reasoning = reasoning_text(delta)
    if reasoning:
        yield ReasoningDelta(reasoning)
    if delta.content:
        yield TextDelta(delta.content)
    if getattr(delta, "refusal", None):
        yield TextDelta(delta.refusal)
    for call in delta.tool_calls or []:
        function = call.function
        yield ToolCallChunk(
            call.index,
            id=call.id,
            name=getattr(function, "name", None),
            arguments=getattr(function, "arguments", None) or "",
        )
    legacy = getattr(delta, "function_call", None)
    if legacy is not None:
        yield ToolCallChunk(0, name=legacy.name, arguments=legacy.arguments or "")


def parse_stream(chunks: Iterable[Any]) -> Iterator[StreamEvent]:
    """`ChatCompletionChunk`s -> our events; `StreamEnd` only if a finish_reason arrived.

    Tool-call fragments keep their wire `index`, so parallel calls stay apart; the wire
    sends calls one after another, so a fragment of the next call ends the one before.
    """
    open_call: int | None = None
    length = 0  # the answer so far: annotations index into it
    raw_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    has_calls = refused = False
    last: Any = None
    for chunk in chunks:
        last = chunk
        model = optional_str(getattr(chunk, "model", None)) or model
        usage = parse_usage(getattr(chunk, "usage", None)) or usage
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue  # n > 1 is never requested
            delta = choice.delta
            has_calls = has_calls or bool(delta.tool_calls) or delta.function_call is not None
            refused = refused or bool(getattr(delta, "refusal", None))
            for event in _delta_events(delta):
                if type(event) is ToolCallChunk and event.index != open_call:
                    if open_call is not None:
                        yield ToolCallEnd(open_call)
                    open_call = event.index
                elif type(event) is TextDelta and isinstance(event.text, str):
                    length += len(event.text)
                yield event
            for citation in annotation_citations(delta, length):
                yield CitationAdded(citation)
            raw_reason = choice.finish_reason or raw_reason
    if raw_reason is not None:
        reason = "content_filter" if refused else finish_reason(raw_reason, has_calls)
        yield StreamEnd(reason, usage, model, last)
