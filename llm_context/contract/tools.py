"""Tool specs in, tool calls out: normalised once, so adapters only translate."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import LLMInputError
from .caching import CacheControl, parse_cache_control
from .strict_schema import strict_schema

__all__ = ["ToolCall", "ToolChoice", "ToolSpec", "normalize_tool_choice", "normalize_tools"]


@dataclass(frozen=True)
class ToolSpec:
    """One function tool: name, description and a JSON-schema object for its parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    strict: bool | None = None
    cache: CacheControl | None = None  # a prompt-cache marker: cache the tools up to here
    # `parameters` in OpenAI strict form when `strict`: derived once here, not on every request.
    strict_parameters: Mapping[str, Any] | None = field(
        init=False, default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.strict:
            object.__setattr__(self, "strict_parameters", strict_schema(self.parameters))


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for; `arguments` is always a decoded dict."""

    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        """The arguments as compact JSON (what OpenAI-shaped wires carry)."""
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)

    def to_message_dict(self) -> dict[str, Any]:
        """The OpenAI-style dict for an assistant message's `tool_calls` list."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


@dataclass(frozen=True)
class ToolChoice:
    """auto / none / required, or one named function."""

    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None


def _fail(index: int, problem: str) -> LLMInputError:
    return LLMInputError(
        f"tools[{index}]: {problem}. A tool is {{'type': 'function', 'function': "
        "{'name': ..., 'description': ..., 'parameters': {JSON schema}}} "
        "or the flat {'name', 'description', 'parameters'}."
    )


def normalize_tools(tools: Sequence[Mapping[str, Any] | ToolSpec] | None) -> tuple[ToolSpec, ...]:
    """Validate OpenAI-shaped or flat tool dicts and return `ToolSpec`s."""
    if tools is None:
        return ()
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise LLMInputError("tools must be a list of tool dicts")
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        spec: ToolSpec
        if isinstance(tool, ToolSpec):
            spec = tool
        else:
            if not isinstance(tool, Mapping):
                raise _fail(i, f"expected a dict, got {type(tool).__name__}")
            body: Mapping[str, Any] = tool
            if tool.get("type", "function") != "function":
                raise _fail(i, f"only function tools are supported, got {tool.get('type')!r}")
            if "function" in tool:
                body = tool["function"]
                if not isinstance(body, Mapping):
                    raise _fail(i, "'function' must be a dict")
            name = body.get("name")
            if not isinstance(name, str) or not name:
                raise _fail(i, "missing 'name'")
            params = body.get("parameters") or {"type": "object", "properties": {}}
            if not isinstance(params, Mapping) or params.get("type", "object") != "object":
                raise _fail(i, f"'parameters' of {name!r} must be a JSON schema of type object")
            description = body.get("description") or ""
            if not isinstance(description, str):
                raise _fail(i, f"'description' of {name!r} must be a string")
            strict = body.get("strict")
            spec = ToolSpec(
                name,
                description,
                dict(params),
                strict if strict is None else bool(strict),
                parse_cache_control(tool.get("cache_control"), f"tools[{i}]"),
            )
        if spec.name in seen:
            raise _fail(i, f"duplicate tool name {spec.name!r}")
        seen.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def normalize_tool_choice(choice: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice | None:
    """'auto' | 'none' | 'required' | a tool name | {'type':'function','function':{'name':..}}."""
    if choice is None:
        return None
    if isinstance(choice, ToolChoice):
        result = choice
    elif choice in ("auto", "none", "required"):
        result = ToolChoice(choice)
    elif choice == "any":
        result = ToolChoice("required")
    elif isinstance(choice, str):
        result = ToolChoice("function", choice)
    elif isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
        if not isinstance(name, str):
            raise LLMInputError(
                "tool_choice dict must name a function: {'type': 'function', "
                "'function': {'name': ...}}"
            )
        result = ToolChoice("function", name)
    else:
        raise LLMInputError(
            f"tool_choice must be 'auto', 'none', 'required' or a tool name, got {choice!r}"
        )
    if result.mode != "none" and not tools:
        raise LLMInputError("tool_choice was given but no tools were passed")
    if result.mode == "function" and result.name not in {t.name for t in tools}:
        raise LLMInputError(
            f"tool_choice names {result.name!r}, which is not among the tools "
            f"({', '.join(t.name for t in tools)})"
        )
    return result


def parse_arguments(raw: str | Mapping[str, Any] | None, *, tool_name: str) -> dict[str, Any]:
    """Decode a tool call's arguments; malformed JSON keeps the text under `_raw`."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        # Models occasionally emit broken JSON; keep it visible rather than dropping the call.
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_value": value}
