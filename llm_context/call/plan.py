"""Keyword options of `chat()` -> a validated `ChatRequest`, with the feature check.

Everything here runs before anything is sent: a bad option is an `LLMInputError` naming
the option, and a feature the provider lacks is an `LLMUnsupportedFeatureError` (or, with
`fail_on_unsupported=False`, a logged degradation).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, get_args

from ..contract.caching import (
    MAX_MARKERS,
    CacheMode,
    count_markers,
    parse_cache_mode,
    place_markers,
    strip_markers,
)
from ..contract.messages import (
    AudioPart,
    DocumentPart,
    FileLimit,
    ImagePart,
    Message,
    TextPart,
    normalize_messages,
)
from ..contract.request import ChatRequest, OutputSpec, ReasoningEffort, ReasoningSummary
from ..contract.structured import build_output_spec, json_instruction
from ..contract.text_check import check_text, check_tree
from ..contract.tools import normalize_tool_choice, normalize_tools
from ..errors import LLMInputError, LLMUnsupportedFeatureError
from ..providers.base import Feature
from ..providers.registry import SUBSTITUTES, ProviderSpec
from ..suggest import did_you_mean
from .retry import check_retry_override

log = logging.getLogger("llm_context")

_EFFORTS: tuple[str, ...] = get_args(ReasoningEffort)
_SUMMARIES: tuple[str, ...] = get_args(ReasoningSummary)
# Options passed through to the provider unchanged, as `extra` (documented per provider).
_PASSTHROUGH = ("extra_body",)
_KNOWN = {
    "model",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "stop",
    "timeout",
    "repair_attempts",
    "retry",
    "cache",
    "cache_key",
    "builtin_tools",
    "reasoning_summary",
    *_PASSTHROUGH,
}
# Named parameters of chat(): a typo of one lands in **kw.
_NAMED = (
    "reasoning_effort",
    "max_output_tokens",
    "output_format",
    "json_schema",
    "schema_name",
    "strict_schema",
    "validate_json",
    "fail_on_unsupported",
)
_JSON_HINT = (
    "use output_format='json_object' for any JSON object, or output_format='json_schema' "
    "with json_schema=<dict or Pydantic model>"
)
_SYSTEM_HINT = (
    "put {'role': 'system', 'content': ...} first in messages "
    "(or use complete_sync(prompt, system=...))"
)
# Other SDKs' names for our options.
_ALIASES = {
    "max_tokens": "use max_output_tokens=",
    "max_completion_tokens": "use max_output_tokens=",
    "max_new_tokens": "use max_output_tokens=",
    "system": _SYSTEM_HINT,
    "system_prompt": _SYSTEM_HINT,
    "system_instruction": _SYSTEM_HINT,
    "instructions": _SYSTEM_HINT,
    "response_format": _JSON_HINT,
    "response_schema": "use json_schema= (with output_format='json_schema')",
    "schema": "use json_schema= (with output_format='json_schema')",
    "functions": "use tools=",
    "function_call": "use tool_choice=",
    "stop_sequences": "use stop=",
    "effort": "use reasoning_effort=",
    "reasoning": "use reasoning_effort=",
    "stream": "use stream_sync(...) or chat_stream_sync(...) to stream",
    "cache_control": "put cache_control on a message, part or tool, or pass cache='auto'",
    "prompt_cache_key": "use cache_key=",
    "web_search": "use builtin_tools=['web_search']",
    "include_thoughts": "use reasoning_summary='auto'",
    "thinking": "use reasoning_effort= (and reasoning_summary='auto' for its text)",
    "messages": "pass the messages as the first argument",
}


@dataclass(frozen=True)
class ChatPlan:
    """A request ready to send, plus how the client checks the reply.

    `expect` is the JSON the reply must hold: the native `request.output`, or the same spec
    when JSON is emulated by instruction (then `request.output` is None).
    """

    request: ChatRequest
    expect: OutputSpec | None
    validate_json: bool
    model_cls: type[Any] | None
    repair_attempts: int
    retry: Mapping[str, Any] = field(default_factory=dict)  # per-call retry override, checked


def _number(name: str, value: Any, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise LLMInputError(f"{name} must be a number from {low} to {high}, got {value!r}")
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        if value:
            check_text(value, "stop")
            return (value,)
    elif isinstance(value, Sequence) and all(isinstance(s, str) and s for s in value):
        for i, text in enumerate(value):
            check_text(text, f"stop[{i}]")
        return tuple(value)
    raise LLMInputError("stop must be a string or a list of non-empty strings")


def _unsupported(
    spec: ProviderSpec, model: str, feature: Feature, fail: bool, fallback: str
) -> None:
    if fail:
        raise LLMUnsupportedFeatureError(
            spec.provider.value,
            model,
            feature.value,
            "Pass fail_on_unsupported=False to " + fallback + " instead.",
        )
    log.warning(
        "%s does not support %s (model %s): %s", spec.provider.value, feature.value, model, fallback
    )


def _unknown_options(unknown: list[str]) -> LLMInputError:
    """Each unknown option with a hint: its name here, or the closest known name."""
    valid = (*_NAMED, *sorted(_KNOWN))
    described = []
    for name in unknown:
        hint = did_you_mean(name, valid, _ALIASES)
        described.append(f"{name!r} ({hint})" if hint else repr(name))
    return LLMInputError(
        f"unknown chat option(s): {', '.join(described)}. Known: {', '.join(valid)}; "
        "provider-specific request fields go in extra_body={...}"
    )


def _without_citations(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """The messages with every document's citations switched off."""

    def plain(part: Any) -> Any:
        return replace(part, citations=False) if isinstance(part, DocumentPart) else part

    return tuple(replace(m, parts=tuple(plain(p) for p in m.parts)) for m in messages)


def _emulate_json(messages: tuple[Message, ...], output: OutputSpec) -> tuple[Message, ...]:
    """Prepend the JSON instruction as a system message (validation still checks the reply)."""
    return (Message("system", (TextPart(json_instruction(output)),)), *messages)


@dataclass(frozen=True)
class CacheDefaults:
    """What the profile says about prompt caching: the mode, and the key `auto` sends."""

    mode: CacheMode = "off"
    key: str | None = None


def _cache_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise LLMInputError(f"cache_key must be a string of 1 to 64 characters, got {value!r}")
    check_text(value, "cache_key")
    return value


def _caching(
    spec: ProviderSpec,
    model: str,
    features: frozenset[Feature],
    request: ChatRequest,
    kw: Mapping[str, Any],
    defaults: CacheDefaults,
    fail_on_unsupported: bool,
) -> ChatRequest:
    """The request's cache markers checked (or stripped), and `cache="auto"` applied."""
    mode = parse_cache_mode(kw.get("cache", defaults.mode))
    key = _cache_key(kw.get("cache_key"))
    msgs, tools = request.messages, request.tools
    marked = count_markers(msgs, tools)
    if marked and Feature.CACHE_MARKERS not in features:
        _unsupported(
            spec, model, Feature.CACHE_MARKERS, fail_on_unsupported, "send without cache markers"
        )
        msgs, tools = strip_markers(msgs, tools)
    elif marked > MAX_MARKERS:
        raise LLMInputError(
            f"{marked} cache_control markers; {spec.provider.value} takes at most {MAX_MARKERS} "
            "a request: keep the last ones of the prefixes you reuse",
            provider=spec.provider.value,
        )
    if mode == "auto":
        if spec.auto_cache in ("markers", "message_markers") and (
            Feature.CACHE_MARKERS in features
        ):
            msgs, tools = place_markers(msgs, tools, on_tools=spec.auto_cache == "markers")
        elif spec.auto_cache == "cache_key" and key is None:
            key = defaults.key
    if msgs is request.messages and tools is request.tools and key is None:
        return request
    return replace(request, messages=msgs, tools=tools, cache_key=key)


# A message part -> the feature a provider needs to take it.
_MEDIA_FEATURES = (
    (ImagePart, Feature.VISION),
    (DocumentPart, Feature.DOCUMENTS),
    (AudioPart, Feature.AUDIO),
)


def build_chat_plan(
    spec: ProviderSpec,
    default_model: str,
    messages: Any,
    *,
    reasoning_effort: str | None,
    max_output_tokens: int | None,
    output_format: str,
    json_schema: Any,
    schema_name: str,
    strict_schema: bool,
    validate_json: bool,
    fail_on_unsupported: bool,
    profile_repair_attempts: int,
    kw: Mapping[str, Any],
    cache_defaults: CacheDefaults = CacheDefaults(),
) -> ChatPlan:
    """Validate every option and the messages; check features; nothing is sent here."""
    if not _KNOWN.issuperset(kw):
        raise _unknown_options(sorted(set(kw) - _KNOWN))
    limit = spec.max_file_bytes
    msgs = normalize_messages(
        messages, file_limit=FileLimit(spec.provider.value, limit) if limit else None
    )
    model = kw.get("model", default_model)
    if not isinstance(model, str) or not model:
        raise LLMInputError(f"model must be a non-empty string, got {model!r}")
    check_text(model, "model")
    if max_output_tokens is not None and (
        isinstance(max_output_tokens, bool)
        or not isinstance(max_output_tokens, int)
        or max_output_tokens < 1
    ):
        raise LLMInputError(f"max_output_tokens must be a positive int, got {max_output_tokens!r}")
    if reasoning_effort is not None and reasoning_effort not in _EFFORTS:
        raise LLMInputError(
            f"reasoning_effort must be one of {', '.join(_EFFORTS)}, got {reasoning_effort!r}"
        )
    tools = normalize_tools(kw.get("tools"))
    for i, tool in enumerate(tools):
        # One walk; the error's path reads tools[i].name / .description / .parameters....
        fields = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        check_tree(fields, f"tools[{i}]")
    tool_choice = normalize_tool_choice(kw.get("tool_choice"), tools)
    parallel = kw.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise LLMInputError("parallel_tool_calls must be True or False")
    output, model_cls = build_output_spec(output_format, json_schema, schema_name, strict_schema)
    timeout = _number("timeout", kw.get("timeout"), 0.001, 86400.0)
    extra = kw.get("extra_body") or {}
    if not isinstance(extra, Mapping):
        raise LLMInputError("extra_body must be a dict of provider-specific request fields")
    check_tree(extra, "extra_body")
    repair = kw.get("repair_attempts", profile_repair_attempts)
    if isinstance(repair, bool) or not isinstance(repair, int) or repair < 0:
        raise LLMInputError(f"repair_attempts must be an int >= 0, got {repair!r}")

    features = spec.features_for(model)
    effort: Any = reasoning_effort
    if tools and Feature.TOOLS not in features:
        # Tools cannot be emulated: the model would answer without calling them.
        raise LLMUnsupportedFeatureError(spec.provider.value, model, Feature.TOOLS.value)
    kinds = {type(p) for m in msgs for p in m.parts}  # one walk for every media check
    for kind, feature in _MEDIA_FEATURES:
        if kind in kinds and feature not in features:
            raise LLMUnsupportedFeatureError(spec.provider.value, model, feature.value)
    if effort is not None and Feature.REASONING not in features:
        _unsupported(spec, model, Feature.REASONING, fail_on_unsupported, "drop reasoning_effort")
        effort = None
    summary = kw.get("reasoning_summary")
    if summary is not None and summary not in _SUMMARIES:
        raise LLMInputError(
            f"reasoning_summary must be one of {', '.join(_SUMMARIES)}, got {summary!r}"
        )
    if summary is not None and Feature.REASONING not in features:
        _unsupported(spec, model, Feature.REASONING, fail_on_unsupported, "drop reasoning_summary")
        summary = None
    builtin: tuple[Any, ...] = ()
    if kw.get("builtin_tools") is not None:
        from ..contract.builtin_tools import normalize_builtin_tools  # only when asked for

        builtin = normalize_builtin_tools(kw["builtin_tools"])
    if builtin and Feature.WEB_SEARCH not in features:
        # A search cannot be emulated: the model would answer from memory, as if it had.
        raise LLMUnsupportedFeatureError(spec.provider.value, model, Feature.WEB_SEARCH.value)
    cited = DocumentPart in kinds and any(
        isinstance(p, DocumentPart) and p.citations for m in msgs for p in m.parts
    )
    if cited and Feature.DOCUMENT_CITATIONS not in features:
        fallback = "send the documents without asking for citations"
        _unsupported(spec, model, Feature.DOCUMENT_CITATIONS, fail_on_unsupported, fallback)
        msgs = _without_citations(msgs)
    temperature = _number("temperature", kw.get("temperature"), 0.0, 2.0)
    top_p = _number("top_p", kw.get("top_p"), 0.0, 1.0)
    if (temperature is not None or top_p is not None) and Feature.SAMPLING not in features:
        _unsupported(spec, model, Feature.SAMPLING, fail_on_unsupported, "drop them")
        temperature = top_p = None
    stop = _stop(kw.get("stop"))
    if stop and Feature.STOP not in features:
        _unsupported(spec, model, Feature.STOP, fail_on_unsupported, "drop them")
        stop = ()
    native = output
    if output is not None:
        need = Feature.JSON_OBJECT if output.kind == "json_object" else Feature.JSON_SCHEMA
        if need in features:
            pass
        elif SUBSTITUTES.get(need) in features:
            # The same guarantee, natively: an open object schema.
            native = replace(output, kind="json_schema", schema={"type": "object"}, strict=False)
        else:
            _unsupported(
                spec, model, need, fail_on_unsupported, "ask for JSON by instruction and validate"
            )
            msgs = _emulate_json(msgs, output)
            native = None
    request = ChatRequest(
        model=model,
        messages=msgs,
        max_output_tokens=max_output_tokens,
        reasoning_effort=effort,
        temperature=temperature,
        top_p=top_p,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        output=native,
        timeout=timeout,
        extra=dict(extra),
        builtin_tools=builtin,
        reasoning_summary=summary,
    )
    request = _caching(spec, model, features, request, kw, cache_defaults, fail_on_unsupported)
    retry = check_retry_override(kw.get("retry"))
    return ChatPlan(request, output, validate_json, model_cls, repair, retry)
