"""Anthropic Messages API, the request side: a `ChatRequest` -> `client.messages.create` kwargs.

System and developer texts go to the top-level `system`; the other turns become content
blocks in strictly alternating user / assistant turns (tool results travel in user turns, and
an assistant turn opens with the signed thinking blocks its reply left in `provider_state`);
reasoning effort becomes thinking (`thinking.py`); cache markers become `cache_control` on
the block, system text or tool they end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typing_extensions import assert_never

from ...contract.builtin_tools import BuiltinTool
from ...contract.caching import CacheControl
from ...contract.messages import AudioPart, DocumentPart, ImagePart, Message, TextPart
from ...contract.request import ChatRequest, OutputSpec
from ...contract.structured import json_instruction
from ...contract.tools import ToolChoice, ToolSpec
from ...errors import LLMInputError, LLMUnsupportedFeatureError
from ..base import Feature
from ..registry import Provider
from ..shared.sdk import per_call
from .citations import SERVER_BLOCKS
from .schema import api_schema
from .thinking import plan_thinking, thinking_off

PROVIDER = Provider.ANTHROPIC.value

# Our tool_choice modes -> Anthropic's `tool_choice.type`.
TOOL_CHOICES: dict[str, str] = {
    "auto": "auto",
    "none": "none",
    "required": "any",
    "function": "tool",
}


# -- messages --------------------------------------------------------------------------------


def image_block(part: ImagePart) -> dict[str, Any]:
    """A data URL as a base64 source, any other URL as a url source."""
    if part.is_data_url:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data_b64}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def document_block(part: DocumentPart) -> dict[str, Any]:
    """A PDF as a base64 source, plain text as a text source, a URL as a url source."""
    source: dict[str, Any]
    if part.url is not None:
        source = {"type": "url", "url": part.url}
    elif part.media_type == "text/plain":
        source = {"type": "text", "media_type": "text/plain", "data": part.data_bytes().decode()}
    else:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data_b64}
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    if part.citations:
        block["citations"] = {"enabled": True}
    return block


def cached(block: dict[str, Any], cache: CacheControl | None) -> dict[str, Any]:
    """`block`, carrying `cache_control` when its part is a cache marker."""
    if cache is not None:
        block["cache_control"] = cache.anthropic()
    return block


def content_blocks(message: Message, model: str) -> list[dict[str, Any]]:
    """A user or assistant message's parts as content blocks, then its tool calls."""
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if not text.strip():  # the API rejects empty and whitespace-only text blocks
                    if part.cache is not None and blocks:  # the prefix ends at the block before
                        cached(blocks[-1], part.cache)
                    continue
                blocks.append({"type": "text", "text": text})
            case ImagePart():
                blocks.append(image_block(part))
            case DocumentPart():
                blocks.append(document_block(part))
            case AudioPart():
                raise LLMUnsupportedFeatureError(PROVIDER, model, Feature.AUDIO.value)
            case _:
                assert_never(part)
        cached(blocks[-1], part.cache)
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    )
    return blocks


# Signed thinking block type -> its string fields, which the API wants back unchanged.
THINKING_FIELDS: dict[str, tuple[str, ...]] = {
    "thinking": ("thinking", "signature"),
    "redacted_thinking": ("data",),
}
THINKING_SHAPE = (
    "{'type': 'thinking', 'thinking': ..., 'signature': ...} or "
    "{'type': 'redacted_thinking', 'data': ...}"
)


def thinking_blocks(index: int, message: Message) -> list[dict[str, Any]]:
    """The signed thinking blocks an earlier reply left in this message's provider_state
    (other providers' keys ignored). A malformed state raises: it is never sent."""
    state = message.provider_state.get(PROVIDER)
    if state is None:
        return []
    where = f"messages[{index}].provider_state[{PROVIDER!r}]"
    blocks = state.get("thinking", ()) if isinstance(state, Mapping) else None
    if not isinstance(blocks, (list, tuple)):
        raise LLMInputError(
            f"{where} must be {{'thinking': [blocks]}}; append result.to_message() unchanged",
            provider=PROVIDER,
        )
    out: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, Mapping) else None
        fields = THINKING_FIELDS.get(kind) if isinstance(kind, str) else None
        if fields is None or not all(isinstance(block.get(name), str) for name in fields):
            raise LLMInputError(
                f"{where}['thinking'][{j}] must be {THINKING_SHAPE}; "
                "append result.to_message() unchanged",
                provider=PROVIDER,
            )
        out.append({"type": kind, **{name: block[name] for name in fields}})
    return out


def server_blocks(index: int, message: Message) -> list[dict[str, Any]]:
    """The server-tool blocks (a web search and its results) an earlier reply left in this
    message's provider_state, sent back unchanged; a malformed one raises, never sent."""
    state = message.provider_state.get(PROVIDER)
    blocks = state.get("server_blocks", ()) if isinstance(state, Mapping) else ()
    where = f"messages[{index}].provider_state[{PROVIDER!r}]['server_blocks']"
    if not isinstance(blocks, (list, tuple)) or not all(
        isinstance(b, Mapping) and b.get("type") in SERVER_BLOCKS for b in blocks
    ):
        raise LLMInputError(
            f"{where} must be the server-tool blocks of a reply; append result.to_message() "
            "unchanged",
            provider=PROVIDER,
        )
    return [dict(block) for block in blocks]


def tool_result_block(message: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.text:
        block["content"] = message.text
    return cached(block, next((p.cache for p in message.parts if p.cache is not None), None))


LEADING_BLOCKS = ("tool_result", *THINKING_FIELDS)


def turns(messages: tuple[Message, ...], model: str) -> list[dict[str, Any]]:
    """Non-system messages as alternating turns: same-role neighbours merged into one."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        match message.role:
            case "system" | "developer":
                continue  # top-level `system`
            case "user":
                role, blocks = "user", content_blocks(message, model)
            case "assistant":
                role = "assistant"
                blocks = thinking_blocks(index, message) + server_blocks(index, message)
                blocks += content_blocks(message, model)
            case "tool":
                role, blocks = "user", [tool_result_block(message)]
            case _:
                assert_never(message.role)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for turn in out:
        # Tool results must open the user turn that answers the calls, and thinking blocks
        # the assistant turn (stable sort: merged turns keep their order otherwise).
        turn["content"].sort(key=lambda block: block["type"] not in LEADING_BLOCKS)
    return out


def unsigned_tool_turn(turns: list[dict[str, Any]]) -> bool:
    """The last user turn answers tool calls whose assistant turn opens with no signed
    thinking block (it came from another provider, or was built by hand)."""
    if len(turns) < 2 or all(block["type"] != "tool_result" for block in turns[-1]["content"]):
        return False
    return bool(turns[-2]["content"][0]["type"] not in THINKING_FIELDS)


def system_prompt(request: ChatRequest) -> str | list[dict[str, Any]] | None:
    """System and developer texts joined (and the JSON instruction for json_object); text
    blocks, one a message, when a cache marker is among them (it goes on its message's)."""
    texts: list[tuple[str, CacheControl | None]] = []
    for message in request.messages:
        if message.role not in ("system", "developer"):
            continue
        mark: CacheControl | None = None
        for part in message.parts:
            match part:
                case TextPart():
                    mark = part.cache or mark
                case ImagePart() | DocumentPart() | AudioPart():
                    raise LLMUnsupportedFeatureError(
                        PROVIDER,
                        request.model,
                        "image, document or audio input in a system message",
                        "Put it in a user message.",
                    )
                case _:
                    assert_never(part)
        if message.text:
            texts.append((message.text, mark))
    if request.output is not None and request.output.kind == "json_object":
        texts.append((json_instruction(request.output), None))
    if all(mark is None for _, mark in texts):
        return "\n\n".join(text for text, _ in texts) or None
    return [cached({"type": "text", "text": text}, mark) for text, mark in texts]


# -- tools and output ------------------------------------------------------------------------


def tool_param(tool: ToolSpec) -> dict[str, Any]:
    param: dict[str, Any] = {"name": tool.name, "input_schema": dict(tool.parameters)}
    if tool.description:
        param["description"] = tool.description
    if tool.strict:
        param["strict"] = True
        param["input_schema"] = api_schema(tool.parameters, f"tool {tool.name!r} parameters")
    return cached(param, tool.cache)


def builtin_param(tool: BuiltinTool) -> dict[str, Any]:
    """A server tool the API runs itself (no tool_result from us)."""
    match tool.kind:
        case "web_search":
            param: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search"}
            if tool.max_uses is not None:
                param["max_uses"] = tool.max_uses
            if tool.allowed_domains:
                param["allowed_domains"] = list(tool.allowed_domains)
            return param
        case _:
            assert_never(tool.kind)


def tool_choice_param(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    """`tool_choice`, carrying `disable_parallel_tool_use` when parallel calls are off."""
    if choice is None and parallel is not False:
        return None
    mode = choice.mode if choice is not None else "auto"
    param: dict[str, Any] = {"type": TOOL_CHOICES[mode]}
    if choice is not None and choice.mode == "function":
        param["name"] = choice.name
    if parallel is False and mode != "none":
        param["disable_parallel_tool_use"] = True
    return param


def output_format(output: OutputSpec) -> dict[str, Any] | None:
    """`output_config.format`. The API has no JSON mode and rejects open object schemas, so
    json_object is asked for in the system prompt instead (and validated by the client)."""
    match output.kind:
        case "json_schema":
            return {"type": "json_schema", "schema": api_schema(output.schema or {}, "json_schema")}
        case "json_object":
            return None
        case _:
            assert_never(output.kind)


def build_params(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments of `client.messages.create` for a request."""
    if request.temperature is not None or request.top_p is not None:
        # The registry declares no SAMPLING, so options.py raised or dropped them already.
        raise LLMUnsupportedFeatureError(
            PROVIDER,
            request.model,
            Feature.SAMPLING.value,
            "API version 2026-10-21 removed temperature and top_p.",
        )
    messages = turns(request.messages, request.model)
    if not messages:
        raise LLMInputError(
            "Anthropic needs at least one user or assistant message with content besides the "
            "system text",
            provider=PROVIDER,
        )
    plan = plan_thinking(request.model, request.reasoning_effort, request.max_output_tokens)
    if plan.thinks and unsigned_tool_turn(messages):
        plan = thinking_off(request.model, request.max_output_tokens)
    forced = request.tool_choice is not None and request.tool_choice.mode in (
        "required",
        "function",
    )
    if plan.on and forced and request.tools:
        raise LLMUnsupportedFeatureError(
            PROVIDER,
            request.model,
            "forced tool_choice with extended thinking",
            "Use tool_choice='auto', or reasoning_effort='none'.",
        )
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": plan.max_tokens,
        "messages": messages,
    }
    system = system_prompt(request)
    if system:
        params["system"] = system
    if plan.thinking is not None:
        params["thinking"] = plan.thinking
    config: dict[str, Any] = {}
    if plan.effort is not None:
        config["effort"] = plan.effort
    fmt = output_format(request.output) if request.output is not None else None
    if fmt is not None:
        config["format"] = fmt
    if config:
        params["output_config"] = config
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    tools = [tool_param(t) for t in request.tools]
    tools += [builtin_param(t) for t in request.builtin_tools]
    if tools:
        params["tools"] = tools
    if request.tools:
        choice = tool_choice_param(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            params["tool_choice"] = choice
    params.update(per_call(request.timeout, request.extra))
    return params
