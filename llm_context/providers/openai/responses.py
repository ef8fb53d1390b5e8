"""OpenAI through the Responses API (official `openai` SDK).

Pure functions build the request (`build_params`) and parse the reply (`parse_response`) and
each stream event (`parse_event`); the adapter's methods only send.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from typing_extensions import assert_never

from ...config.settings import Profile
from ...contract.messages import AudioPart, DocumentPart, ImagePart, Message, TextPart
from ...contract.request import ChatRequest, EmbedRequest, ImageRequest, OutputSpec
from ...contract.results import (
    ChatResult,
    EmbeddingResult,
    ImageGenerationResult,
    ModelInfo,
    TokenCount,
    Usage,
    make_usage,
)
from ...contract.tools import ToolCall, ToolChoice, ToolSpec, parse_arguments
from ...errors import LLMServerError, LLMUnsupportedFeatureError, error_for_status
from ...streams.events import (
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallChunk,
    ToolCallEnd,
)
from ..base import RawAuth
from ..registry import Provider
from ..shared import catalog
from ..shared import sdk as common
from ..shared.reply_checks import expect, optional_str, reading, required_list, tokens
from ..shared.sdk import map_sdk_error, stream_events
from . import sdk as openai_sdk

PROVIDER = Provider.OPENAI.value

# Our effort scale -> the Responses API's (it has no "max").
EFFORTS = {
    "none": "none",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "xhigh",
}

# An `error` event's code -> the HTTP status it stands for (unknown codes: the caller's).
STREAM_ERROR_STATUS = {"": 500, "server_error": 500, "rate_limit_exceeded": 429}

# Why a response stopped early -> our finish reason.
INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


# -- request ---------------------------------------------------------------------------------


def content_parts(message: Message, model: str) -> str | list[dict[str, Any]]:
    """A message's content as Responses input: a plain string when it is only text; a cache
    marker becomes the part's `prompt_cache_breakpoint`."""
    if all(isinstance(p, TextPart) and p.cache is None for p in message.parts):
        return message.text
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                parts.append({"type": "input_text", "text": text})
            case ImagePart(url=url, detail=detail):
                # The published spec makes `detail` required: always send it.
                parts.append({"type": "input_image", "image_url": url, "detail": detail or "auto"})
            case DocumentPart():
                parts.append(input_file(part))
            case AudioPart(data_b64=data, format=fmt):
                if part.cache is not None:
                    raise LLMUnsupportedFeatureError(
                        PROVIDER, model, "a cache marker on audio", "Mark the part before it."
                    )
                parts.append({"type": "input_audio", "input_audio": {"data": data, "format": fmt}})
            case _:
                assert_never(part)
        if part.cache is not None:
            parts[-1]["prompt_cache_breakpoint"] = part.cache.openai()
    return parts


def input_file(part: DocumentPart) -> dict[str, Any]:
    """A document as `input_file`: by URL, or inline as a data URL with its file name."""
    if part.url is not None:
        return {"type": "input_file", "file_url": part.url}
    return {"type": "input_file", "file_data": part.data_url, "filename": part.name}


def tool_output(message: Message) -> str | list[dict[str, Any]]:
    """A tool result's output: its text, or one input_text part carrying the cache marker."""
    mark = next((p.cache for p in message.parts if p.cache is not None), None)
    if mark is None:
        return message.text
    return [{"type": "input_text", "text": message.text, "prompt_cache_breakpoint": mark.openai()}]


def input_items(messages: tuple[Message, ...], model: str) -> list[dict[str, Any]]:
    """Messages -> Responses input items (tool calls and results become their own items)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        match message.role:
            case "system" | "developer" | "user":
                items.append({"role": message.role, "content": content_parts(message, model)})
            case "assistant":
                if any(p.cache is not None for p in message.parts):
                    raise LLMUnsupportedFeatureError(
                        PROVIDER,
                        model,
                        "a cache marker on an assistant message",
                        "Mark the message before or after it.",
                    )
                if message.parts:
                    items.append({"role": "assistant", "content": message.text})
                items.extend(
                    {
                        "type": "function_call",
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": call.arguments_json,
                    }
                    for call in message.tool_calls
                )
            case "tool":
                items.append(
                    {
                        "type": "function_call_output",
                        "call_id": message.tool_call_id,
                        "output": tool_output(message),
                    }
                )
            case _:
                assert_never(message.role)
    return items


def tool_param(tool: ToolSpec, model: str) -> dict[str, Any]:
    """A function tool; `strict` and `parameters` are required by the published spec."""
    if tool.cache is not None:
        raise LLMUnsupportedFeatureError(
            PROVIDER,
            model,
            "a cache marker on a tool",
            "Mark the system message instead: the cached prefix includes the tools before it.",
        )
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": dict(tool.strict_parameters or tool.parameters),
        "strict": bool(tool.strict),
    }


def tool_choice_param(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "name": choice.name}
    return choice.mode


def text_format(output: OutputSpec) -> dict[str, Any]:
    if output.kind == "json_object":
        return {"format": {"type": "json_object"}}
    return {
        "format": {
            "type": "json_schema",
            "name": output.name,
            "schema": dict(output.schema or {}),
            "strict": output.strict,
        }
    }


def build_params(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments of `client.responses.create` for a request."""
    model = request.model
    params: dict[str, Any] = {"model": model, "input": input_items(request.messages, model)}
    if request.max_output_tokens is not None:
        params["max_output_tokens"] = request.max_output_tokens
    if request.reasoning_effort is not None:
        params["reasoning"] = {"effort": EFFORTS[request.reasoning_effort], "summary": "auto"}
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.tools:
        params["tools"] = [tool_param(t, model) for t in request.tools]
    if request.tool_choice is not None:
        params["tool_choice"] = tool_choice_param(request.tool_choice)
    if request.parallel_tool_calls is not None:
        params["parallel_tool_calls"] = request.parallel_tool_calls
    if request.output is not None:
        params["text"] = text_format(request.output)
    if request.cache_key is not None:
        params["prompt_cache_key"] = request.cache_key
    params.update(common.per_call(request.timeout, request.extra))
    return params


# -- reply -----------------------------------------------------------------------------------


def parse_usage(usage: Any) -> Usage:
    """The reply's usage; a count missing or of the wrong type is unknown."""
    if usage is None:
        return make_usage()
    inp = getattr(usage, "input_tokens_details", None)
    out = getattr(usage, "output_tokens_details", None)
    return make_usage(
        tokens(usage, "input_tokens"),
        tokens(usage, "output_tokens"),
        tokens(usage, "total_tokens"),
        reasoning_tokens=tokens(out, "reasoning_tokens"),
        cached_input_tokens=tokens(inp, "cached_tokens"),
        cache_write_tokens=tokens(inp, "cache_write_tokens"),
    )


def finish_reason(response: Any) -> str:
    """Why a response ended, read from the whole response (shared by chat and stream)."""
    if getattr(response, "status", None) == "incomplete":
        details = getattr(response, "incomplete_details", None)
        return INCOMPLETE_REASONS.get(getattr(details, "reason", None) or "", "length")
    output = response.output or []
    refused = any(
        getattr(part, "type", None) == "refusal"
        for item in output
        if getattr(item, "type", None) == "message"
        for part in item.content or []
    )
    if refused:
        return "content_filter"
    has_calls = any(getattr(item, "type", None) == "function_call" for item in output)
    return "tool_calls" if has_calls else "stop"


def parse_response(response: Any, provider: str = PROVIDER) -> ChatResult:
    """A `Response` -> `ChatResult` (text, tool calls, reasoning summary, usage); a reply that
    is no `Response` or has no `output` list raises `LLMServerError`."""
    from openai.types.responses import Response

    response = expect(response, Response, provider)
    required_list(response, "output", provider)
    with reading(provider):
        return _parse_response(response)


def _parse_response(response: Any) -> ChatResult:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for item in response.output:
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in item.content or []:
                if part.type == "output_text":
                    texts.append(part.text)
                elif part.type == "refusal":
                    texts.append(part.refusal)
        elif kind == "function_call":
            calls.append(
                ToolCall(
                    item.call_id, item.name, parse_arguments(item.arguments, tool_name=item.name)
                )
            )
        elif kind == "reasoning":
            reasoning.extend(s.text for s in (item.summary or []))
    return ChatResult(
        "".join(texts),
        parse_usage(response.usage),
        tool_calls=tuple(calls),
        finish_reason=finish_reason(response),
        model=optional_str(response.model),
        reasoning="".join(reasoning) or None,
        raw=response,
    )


def parse_event(event: Any) -> Iterator[StreamEvent]:
    """One Responses stream event -> our events (most yield nothing)."""
    kind = event.type
    if kind in ("response.output_text.delta", "response.refusal.delta"):
        yield TextDelta(event.delta)  # a refusal is the answer's text, as in parse_response
    elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        yield ReasoningDelta(event.delta)
    elif kind == "response.output_item.added" and event.item.type == "function_call":
        yield ToolCallChunk(event.output_index, id=event.item.call_id, name=event.item.name)
    elif kind == "response.function_call_arguments.delta":
        yield ToolCallChunk(event.output_index, arguments=event.delta)
    elif kind == "response.output_item.done" and event.item.type == "function_call":
        yield ToolCallEnd(event.output_index)
    elif kind in ("response.completed", "response.incomplete"):
        response = event.response
        yield StreamEnd(
            finish_reason(response),
            parse_usage(response.usage),
            optional_str(response.model),
            response,
        )
    elif kind == "response.failed":
        error = getattr(event.response, "error", None)
        raise LLMServerError(
            f"openai response failed: {getattr(error, 'message', None) or 'no details'}",
            provider="openai",
        )
    elif kind == "error":
        message = getattr(event, "message", None) or "stream error"
        code = str(getattr(event, "code", "") or "")
        status = STREAM_ERROR_STATUS.get(code, 400)
        raise error_for_status(status)(
            f"openai stream error {code or 'unknown'}: {message}",
            provider="openai",
            status_code=status,
        )


def count_tokens(client: Any, request: ChatRequest, provider: str) -> TokenCount:
    """The request's input tokens, counted by `responses.input_tokens.count`."""
    params = catalog.openai_count_params(build_params(request))
    return catalog.exact_count(
        client.responses.input_tokens.count(**params), "input_tokens", provider
    )


# -- adapter ---------------------------------------------------------------------------------


class OpenAIAdapter:
    """OpenAI: chat and streaming on the Responses API; embeddings and images."""

    provider = Provider.OPENAI.value

    def __init__(self, profile: Profile) -> None:
        extras = profile.extras
        self.profile = profile
        self.api_key = profile.api_key
        self.client = openai_sdk.make_client(
            profile, organization=extras.get("organization"), project=extras.get("project")
        )

    def chat(self, request: ChatRequest) -> ChatResult:
        return parse_response(self.client.responses.create(**build_params(request)))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        events = self.client.responses.create(**build_params(request), stream=True)
        yield from stream_events(events, parse_event, self.provider)

    def embed(self, request: EmbedRequest) -> EmbeddingResult:
        return openai_sdk.embed(self.client, request, self.provider)

    def generate_image(self, request: ImageRequest) -> ImageGenerationResult:
        return openai_sdk.generate_image(self.client, request, provider=self.provider)

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        return count_tokens(self.client, request, self.provider)

    def list_models(self) -> list[ModelInfo]:
        return openai_sdk.list_models(self.client, self.provider)

    def raw_auth(self) -> RawAuth:
        return openai_sdk.bearer_auth(self.profile)

    def map_error(self, exc: BaseException) -> BaseException:
        return map_sdk_error(exc, self.provider)

    def close(self) -> None:
        self.client.close()
