"""OpenAI through the Responses API (official `openai` SDK), the request side and the adapter.

Pure functions build the request (`build_params`); `responses_reply` parses the reply and
each stream's events; the adapter's methods only send.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from typing_extensions import assert_never

from ...config.settings import Profile
from ...contract.builtin_tools import BuiltinTool
from ...contract.messages import AudioPart, DocumentPart, ImagePart, Message, TextPart
from ...contract.request import ChatRequest, EmbedRequest, ImageRequest, OutputSpec
from ...contract.results import (
    ChatResult,
    EmbeddingResult,
    ImageGenerationResult,
    ModelInfo,
    TokenCount,
)
from ...contract.tools import ToolChoice, ToolSpec
from ...errors import LLMUnsupportedFeatureError
from ...streams.events import (
    StreamEvent,
)
from ..base import RawAuth
from ..registry import Provider
from ..shared import catalog
from ..shared import sdk as common
from ..shared.sdk import map_sdk_error, stream_events
from . import batches
from . import sdk as openai_sdk
from .responses_reply import StreamParser, parse_body, parse_response

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


def builtin_param(tool: BuiltinTool) -> dict[str, Any]:
    """A provider-run tool. `max_uses` has no Responses equivalent: the model decides."""
    match tool.kind:
        case "web_search":
            param: dict[str, Any] = {"type": "web_search"}
            if tool.allowed_domains:
                param["filters"] = {"allowed_domains": list(tool.allowed_domains)}
            return param
        case _:
            assert_never(tool.kind)


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
    reasoning: dict[str, Any] = {}
    if request.reasoning_effort is not None:
        reasoning = {"effort": EFFORTS[request.reasoning_effort], "summary": "auto"}
    if request.reasoning_summary is not None:
        reasoning["summary"] = request.reasoning_summary
    if reasoning:
        params["reasoning"] = reasoning
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    tools = [tool_param(t, model) for t in request.tools]
    tools += [builtin_param(tool) for tool in request.builtin_tools]
    if tools:
        params["tools"] = tools
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
        wire = batches.BatchWire("/v1/responses", build_params, parse_body, PROVIDER)
        self.batches = batches.OpenAIBatches(self.client, wire)

    def chat(self, request: ChatRequest) -> ChatResult:
        return parse_response(self.client.responses.create(**build_params(request)))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        events = self.client.responses.create(**build_params(request), stream=True)
        yield from stream_events(events, StreamParser().feed, self.provider)

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
