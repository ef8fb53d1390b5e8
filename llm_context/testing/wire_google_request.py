"""Reading and checking Gemini request bodies for the fake wire (`wire_google`).

Bodies mix camelCase and snake_case (the SDK converts the outer names only, e.g. `inlineData`
holds `mime_type`, `functionDeclarations` hold `parameters_json_schema`); the real API takes
both, so every lookup here does too. The checks mirror the API's own 400s: turn order around
function calls, matching function names, thought signatures on Gemini 3, and thinkingLevel
together with thinkingBudget.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

__all__ = ["SIGNATURE_PREFIX", "Invalid", "check_request", "get", "last_user_text", "parts"]

SIGNATURE_PREFIX = b"fake-thought-signature:"
"""Thought signatures this fake issues start with these bytes (Gemini 3 must get them back)."""
_SKIP_SIGNATURE = b"skip_thought_signature_validator"


class Invalid(Exception):
    """A request the real API would refuse with 400 INVALID_ARGUMENT."""


# ---- reading requests ------------------------------------------------------------------


def get(obj: Any, camel: str, default: Any = None) -> Any:
    """`obj[camel]`, or its snake_case spelling (the SDK sends both styles)."""
    if not isinstance(obj, Mapping):
        return default
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake, default)


def _b64decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise Invalid("bytes fields must be base64 strings")
    try:
        padded = value + "=" * (-len(value) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("invalid base64 data") from None


def _contents(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    return [c if isinstance(c, dict) else {} for c in contents]


def parts(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts = content.get("parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _calls(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in parts(content) if get(p, "functionCall") is not None]


def _responses(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [get(p, "functionResponse") for p in parts(content) if get(p, "functionResponse")]


def last_user_text(body: Mapping[str, Any]) -> str:
    for content in reversed(body.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = [p["text"] for p in parts(content) if isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
    return ""


def _check_part(part: Mapping[str, Any]) -> None:
    blob = get(part, "inlineData")
    if blob is not None:
        if not get(blob, "mimeType"):
            raise Invalid("* inline_data.mime_type: required")
        _b64decode(get(blob, "data"))
    signature = get(part, "thoughtSignature")
    if signature is not None:
        _b64decode(signature)


def _check_function_turns(contents: list[dict[str, Any]]) -> None:
    for i, content in enumerate(contents):
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise Invalid(f"Please use a valid role: user, model (got {role!r}).")
        if not parts(content):
            raise Invalid(f"* contents[{i}].parts: contents.parts must not be empty.")
        for part in parts(content):
            _check_part(part)
        answers = _responses(content)
        if not answers:
            continue
        previous = contents[i - 1] if i else {}
        asked = [get(p, "functionCall") for p in _calls(previous)]
        if previous.get("role") != "model" or not asked:
            raise Invalid(
                "Please ensure that function response turn comes immediately after a "
                "function call turn."
            )
        if len(answers) != len(asked):
            raise Invalid(
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn."
            )
        if sorted(str(a.get("name")) for a in answers) != sorted(str(c.get("name")) for c in asked):
            raise Invalid("function response names must match the function calls they answer")


def _check_signatures(model: str, contents: list[dict[str, Any]]) -> None:
    """Gemini 3: in the current turn (since the last user text), the first function call of
    every model turn must carry the thought signature it came with."""
    if not model.startswith("gemini-3"):
        return
    start = 0
    for i, content in enumerate(contents):
        if content.get("role", "user") == "user" and not _responses(content):
            start = i
    for i, content in enumerate(contents[start:], start):
        calls = _calls(content)
        if content.get("role") != "model" or not calls:
            continue
        signature = get(calls[0], "thoughtSignature")
        raw = _b64decode(signature) if signature is not None else b""
        if not (raw.startswith(SIGNATURE_PREFIX) or raw == _SKIP_SIGNATURE):
            raise Invalid(
                f"Function call is missing a thought_signature in functionCall parts. "
                f"This is required for tools to work correctly (contents[{i}].parts[0])."
            )


def _check_config(body: Mapping[str, Any]) -> None:
    config = get(body, "generationConfig") or {}
    thinking = get(config, "thinkingConfig") or {}
    if get(thinking, "thinkingLevel") is not None and get(thinking, "thinkingBudget") is not None:
        raise Invalid("You can only set either thinking budget or thinking level, not both.")
    names: set[str] = set()
    for tool in body.get("tools") or []:
        for decl in get(tool, "functionDeclarations") or []:
            if not decl.get("name"):
                raise Invalid("* tools[].function_declarations[].name: required")
            if decl.get("parameters") is not None and get(decl, "parametersJsonSchema"):
                raise Invalid("parameters and parameters_json_schema are mutually exclusive")
            names.add(decl["name"])
    calling = get(get(body, "toolConfig") or {}, "functionCallingConfig") or {}
    allowed = get(calling, "allowedFunctionNames") or []
    if allowed and calling.get("mode") != "ANY":
        raise Invalid("allowed_function_names may be set only when the mode is ANY")
    if set(allowed) - names:
        raise Invalid(
            f"allowed_function_names names unknown functions: {sorted(set(allowed) - names)}"
        )


def check_request(body: Mapping[str, Any], model: str) -> None:
    """Raise `Invalid` where the real API answers 400 INVALID_ARGUMENT."""
    contents = _contents(body)
    _check_function_turns(contents)
    _check_signatures(model, contents)
    _check_config(body)
