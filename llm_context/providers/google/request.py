"""Gemini request building: messages -> `contents` + `system_instruction`, options ->
`GenerateContentConfig`. Pure functions; images behind http(s) URLs arrive already fetched.

The request is built as the SDK's plain dicts (`ContentDict`, `PartDict`, ...), not its pydantic
types: the SDK validates whatever it is given into its types anyway, so typed input was
validated twice (about 0.2 ms a call). The config alone is wrapped in `GenerateContentConfig`
once, from those dicts: given a dict, the SDK would validate it twice itself.

Facts the mapping relies on:
- system/developer text goes to `system_instruction` (never a fake user turn); `assistant` is
  role `model`; consecutive turns of one role are merged (Gemini wants them alternating, and
  several tool results for one model turn must share one user turn).
- A `tool` message becomes a `functionResponse` part named after the call it answers (looked up
  by tool_call_id in the earlier assistant tool_calls): Gemini matches results by name.
- Tool call ids minted by `google_reply` may carry the call's thought signature; it is put back
  on the `functionCall` part, since Gemini 3 rejects a function-call turn without one.
- Tools use `parameters_json_schema` and output `response_json_schema`: both take standard JSON
  Schema ($defs, $ref, additionalProperties), which the older `Schema` fields reject.
"""

from __future__ import annotations

import json
import math
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.genai import types
from typing_extensions import assert_never

from ...contract.messages import AudioPart, DocumentPart, ImagePart, Message, TextPart
from ...contract.request import ChatRequest, OutputSpec
from ...contract.tools import ToolCall, ToolChoice, ToolSpec
from ...errors import LLMInputError, LLMUnsupportedFeatureError
from .ids import SKIP_SIGNATURE, is_minted, split_call_id

__all__ = [
    "FILES_API_PREFIX",
    "FetchedImage",
    "build_config",
    "build_contents",
    "http_options",
    "thinking_config",
]

PROVIDER = "google"

# Images the Gemini API reads by URI itself (uploaded files); every other URL is fetched.
FILES_API_PREFIX = "https://generativelanguage.googleapis.com/"

# Our roles -> Gemini roles (system and developer leave the turn list for system_instruction).
ROLES: dict[str, str] = {"user": "user", "assistant": "model", "tool": "user"}

# tool_choice mode -> function_calling_config mode (a named function is ANY + allowed names).
TOOL_MODES: dict[str, str] = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}

# reasoning_effort -> thinking_level, Gemini 3 Flash-class models (minimal..high). They cannot
# switch thinking off: "none" is the least there is.
LEVELS_GEMINI_3 = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
# Gemini 3 Pro-class models take only LOW and HIGH.
LEVELS_GEMINI_3_PRO = {
    "none": "LOW",
    "minimal": "LOW",
    "low": "LOW",
    "medium": "HIGH",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
# reasoning_effort -> thinking_budget (tokens), Gemini 2.5 Flash / Flash-Lite (0 = off).
BUDGETS_25_FLASH = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 24576,
}
# Gemini 2.5 Pro: 128..32768, and thinking cannot be switched off.
BUDGETS_25_PRO = {
    "none": 128,
    "minimal": 128,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}


@dataclass(frozen=True)
class FetchedImage:
    """An image downloaded from an http(s) URL, ready to go inline."""

    media_type: str
    data: bytes


# -- thinking ----------------------------------------------------------------------------------


def _model_id(model: str) -> str:
    return model.rsplit("/", 1)[-1].lower()


def uses_thinking_level(model: str) -> bool:
    """Gemini 3 and later take `thinking_level`; 2.5 takes `thinking_budget`."""
    name = _model_id(model)
    return name.startswith("gemini-") and not name.startswith(("gemini-1", "gemini-2"))


def thinking_config(
    model: str, effort: str, max_output_tokens: int | None
) -> types.ThinkingConfigDict:
    """The thinking config for an effort on this model family; thoughts are included so the
    reasoning can be shown apart from the answer."""
    name = _model_id(model)
    if uses_thinking_level(model):
        table = LEVELS_GEMINI_3_PRO if "-pro" in name else LEVELS_GEMINI_3
        return {"thinking_level": types.ThinkingLevel(table[effort]), "include_thoughts": True}
    table_b = BUDGETS_25_PRO if "-pro" in name else BUDGETS_25_FLASH
    budget = table_b[effort]
    if budget and max_output_tokens is not None:
        # Thoughts count against max_output_tokens: leave half of it for the answer, but stay
        # at or above the family's smallest valid budget (Flash-Lite: 512, Pro: 128).
        budget = max(table_b["minimal"], min(budget, max_output_tokens // 2))
    return {"thinking_budget": budget, "include_thoughts": budget != 0}


# -- contents ----------------------------------------------------------------------------------


def _image(part: ImagePart, fetched: Mapping[str, FetchedImage]) -> types.PartDict:
    if part.is_data_url:
        media = part.media_type or "image/png"
        return {"inline_data": {"mime_type": media, "data": part.data_bytes()}}
    if part.url.startswith(FILES_API_PREFIX):
        guessed = mimetypes.guess_type(part.url.split("?", 1)[0])[0]
        return {"file_data": {"file_uri": part.url, "mime_type": guessed}}
    image = fetched.get(part.url)
    if image is None:
        raise LLMInputError(f"the image at {part.url[:80]!r} was not fetched", provider=PROVIDER)
    return {"inline_data": {"mime_type": image.media_type, "data": image.data}}


def _document(part: DocumentPart, fetched: Mapping[str, FetchedImage]) -> types.PartDict:
    if part.url is None:
        return {"inline_data": {"mime_type": part.media_type, "data": part.data_bytes()}}
    if part.url.startswith(FILES_API_PREFIX):  # an uploaded file: the API reads it by URI
        guessed = mimetypes.guess_type(part.url.split("?", 1)[0])[0] or "application/pdf"
        return {"file_data": {"file_uri": part.url, "mime_type": guessed}}
    document = fetched.get(part.url)
    if document is None:
        raise LLMInputError(f"the document at {part.url[:80]!r} was not fetched", provider=PROVIDER)
    return {"inline_data": {"mime_type": document.media_type, "data": document.data}}


def _parts(message: Message, fetched: Mapping[str, FetchedImage]) -> list[types.PartDict]:
    parts: list[types.PartDict] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if text:
                    parts.append({"text": text})
            case ImagePart():
                parts.append(_image(part, fetched))
            case DocumentPart():
                parts.append(_document(part, fetched))
            case AudioPart():
                parts.append(
                    {"inline_data": {"mime_type": part.media_type, "data": part.data_bytes()}}
                )
            case _:
                assert_never(part)
    return parts


def _call_part(call: ToolCall, first: bool, model: str) -> types.PartDict:
    base, signature = split_call_id(call.id)
    if signature is None and first and uses_thinking_level(model):
        # Gemini 3 rejects a function-call turn without a signature; history from elsewhere
        # has none, and this documented value tells it to skip the check.
        signature = SKIP_SIGNATURE
    fn: types.FunctionCallDict = {
        "name": call.name,
        "args": dict(call.arguments),
        "id": None if is_minted(base) else base,
    }
    return {"function_call": fn, "thought_signature": signature}


def _tool_result(message: Message, calls: Mapping[str, ToolCall]) -> types.PartDict:
    call_id = message.tool_call_id or ""
    call = calls.get(call_id)
    if call is None:
        raise LLMInputError(
            f"tool result {call_id!r} answers no earlier assistant tool call", provider=PROVIDER
        )
    text = message.text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    # Gemini wants an object: a JSON object result goes as is, anything else under "result".
    response = value if isinstance(value, dict) else {"result": text}
    base, _ = split_call_id(call.id)
    fn: types.FunctionResponseDict = {
        "name": call.name,
        "response": response,
        "id": None if is_minted(base) else base,
    }
    return {"function_response": fn}


def _turn(
    message: Message,
    model: str,
    fetched: Mapping[str, FetchedImage],
    calls: Mapping[str, ToolCall],
) -> list[types.PartDict]:
    match message.role:
        case "user":
            return _parts(message, fetched)
        case "assistant":
            parts = _parts(message, fetched)
            parts.extend(_call_part(c, i == 0, model) for i, c in enumerate(message.tool_calls))
            return parts
        case "tool":
            return [_tool_result(message, calls)]
        case "system" | "developer":
            return []  # collected into system_instruction
        case _:
            assert_never(message.role)


def build_contents(
    request: ChatRequest, fetched: Mapping[str, FetchedImage]
) -> tuple[list[types.ContentDict], types.ContentDict | None]:
    """(contents, system_instruction) for a request; same-role turns merged, empty ones dropped."""
    calls = {c.id: c for m in request.messages for c in m.tool_calls}
    turns: list[tuple[str, list[types.PartDict]]] = []
    system: list[types.PartDict] = []
    for message in request.messages:
        if message.role in ("system", "developer"):
            system.extend(_parts(message, fetched))
            continue
        parts = _turn(message, request.model, fetched, calls)
        if not parts:
            continue
        role = ROLES[message.role]
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(parts)
        else:
            turns.append((role, parts))
    if not turns:
        raise LLMInputError(
            "Gemini needs at least one user or assistant message besides the system text",
            provider=PROVIDER,
        )
    instruction: types.ContentDict | None = {"role": "user", "parts": system} if system else None
    return [{"role": role, "parts": parts} for role, parts in turns], instruction


# -- config ------------------------------------------------------------------------------------


def _tool(spec: ToolSpec) -> types.FunctionDeclarationDict:
    return {
        "name": spec.name,
        "description": spec.description or None,
        "parameters_json_schema": dict(spec.parameters),
    }


def _tool_config(choice: ToolChoice) -> types.ToolConfigDict:
    names = [choice.name] if choice.mode == "function" and choice.name else None
    mode = types.FunctionCallingConfigMode(TOOL_MODES[choice.mode])
    return {"function_calling_config": {"mode": mode, "allowed_function_names": names}}


def _output(fields: types.GenerateContentConfigDict, output: OutputSpec) -> None:
    fields["response_mime_type"] = "application/json"
    if output.kind == "json_schema":
        fields["response_json_schema"] = dict(output.schema or {})


def http_options(timeout: float | None, extra_body: Mapping[str, Any] | None = None) -> Any:
    """Per-call HTTP options: a timeout override (the SDK counts milliseconds) and verbatim
    extra body fields (camelCase, merged into the JSON the SDK sends)."""
    if timeout is None and not extra_body:
        return None
    return types.HttpOptions(
        timeout=None if timeout is None else max(1, round(timeout * 1000)),
        # Set here, not left to the SDK: google-genai 2.x writes the first call's value into
        # the client's own headers, and it would then win over every per-call timeout.
        headers=None if timeout is None else {"X-Server-Timeout": str(math.ceil(timeout))},
        extra_body=dict(extra_body) if extra_body else None,
    )


def _builtin_tools(request: ChatRequest) -> list[types.ToolDict]:
    """Google Search grounding. With function tools too, only Gemini 3 takes both."""
    if request.tools and not _model_id(request.model).startswith("gemini-3"):
        raise LLMUnsupportedFeatureError(
            PROVIDER,
            request.model,
            "web search with function tools",
            "Gemini 3 models take both; on this model, send them in separate calls.",
        )
    tools: list[types.ToolDict] = []
    for tool in request.builtin_tools:
        match tool.kind:
            case "web_search":
                # Gemini's search takes no domain list or cap: the model decides.
                tools.append({"google_search": {}})
            case _:
                assert_never(tool.kind)
    return tools


def build_config(
    request: ChatRequest, system: types.ContentDict | None
) -> types.GenerateContentConfig:
    """The `GenerateContentConfig` for a request (everything but the contents)."""
    if request.parallel_tool_calls is False:
        raise LLMUnsupportedFeatureError(
            PROVIDER,
            request.model,
            "parallel_tool_calls=False",
            "Gemini has no switch for it; leave parallel_tool_calls unset.",
        )
    fields: types.GenerateContentConfigDict = {
        "system_instruction": system,
        "max_output_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop_sequences": list(request.stop) or None,
        # One request per call: our retry policy owns retries, the caller owns tool calls.
        "automatic_function_calling": {"disable": True},
        "automatic_continuation": False,
        "http_options": http_options(request.timeout, request.extra),
    }
    if request.reasoning_effort is not None:
        fields["thinking_config"] = thinking_config(
            request.model, request.reasoning_effort, request.max_output_tokens
        )
    elif request.reasoning_summary is not None:
        fields["thinking_config"] = {"include_thoughts": True}  # the model's own effort
    tools: list[types.ToolDict] = []
    if request.tools:
        tools.append({"function_declarations": [_tool(t) for t in request.tools]})
    if request.builtin_tools:
        tools += _builtin_tools(request)
    if tools:
        fields["tools"] = list[Any](tools)
    if request.tool_choice is not None:
        fields["tool_config"] = _tool_config(request.tool_choice)
    if request.output is not None:
        _output(fields, request.output)
    return types.GenerateContentConfig.model_validate(fields)
