"""Anthropic Messages API, the request side: a `ChatRequest` -> `client.messages.create` kwargs.

System and developer texts go to the top-level `system`; the other turns become content
blocks in strictly alternating user / assistant turns (tool results travel in user turns, and
an assistant turn opens with the signed thinking blocks its reply left in `provider_state`);
reasoning effort becomes adaptive thinking + `output_config.effort` or a `budget_tokens`
thinking budget, per model family (`THINKING_RULES`), and is turned off for a request whose
tool results answer an assistant turn without signed thinking (which the API then refuses).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from typing_extensions import assert_never

from ...contract.messages import AudioPart, DocumentPart, ImagePart, Message, TextPart
from ...contract.request import ChatRequest, OutputSpec, ReasoningEffort
from ...contract.structured import json_instruction
from ...contract.tools import ToolChoice, ToolSpec
from ...errors import LLMInputError, LLMUnsupportedFeatureError
from ..base import Feature
from ..registry import Provider
from ..shared.sdk import per_call
from .schema import api_schema

log = logging.getLogger("llm_context")

PROVIDER = Provider.ANTHROPIC.value

# `max_tokens` is required. Thinking shares it with the answer, so thinking gets more room.
DEFAULT_MAX_TOKENS = 4096
DEFAULT_THINKING_MAX_TOKENS = 16384
MIN_BUDGET = 1024  # the API's floor for `budget_tokens`

# Budget-form thinking: `budget_tokens` per effort. With DEFAULT_MAX_TOKENS of room for the
# answer on top, "max" stays under the 32000 output cap of Opus 4 / 4.1.
BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 27648,
}

# Adaptive thinking: our effort -> `output_config.effort` (the API has no "minimal").
EFFORTS: dict[str, str] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}

# Our tool_choice modes -> Anthropic's `tool_choice.type`.
TOOL_CHOICES: dict[str, str] = {
    "auto": "auto",
    "none": "none",
    "required": "any",
    "function": "tool",
}

Off = Literal["disabled", "omit", "never"]


@dataclass(frozen=True)
class ThinkingRule:
    """How one Claude model family thinks.

    `adaptive`: `thinking: {"type": "adaptive"}` + `output_config.effort`, else the budget
    form `{"type": "enabled", "budget_tokens": N}`. `off`: how reasoning_effort="none" is
    said: `{"type": "disabled"}`, by leaving `thinking` out, or not at all (always thinks).
    """

    prefixes: tuple[str, ...]
    adaptive: bool
    off: Off
    thinks_by_default: bool = False
    xhigh: bool = True  # takes effort "xhigh" (else our "xhigh" becomes "max")

    def matches(self, model: str) -> bool:
        return model.lower().startswith(self.prefixes)


# Thinking per model family (Anthropic's thinking / effort docs), first match wins:
# - Mythos Preview, Mythos 5.x, Fable 5.x: adaptive only and always on ("disabled" is a 400);
#   Mythos Preview has no "xhigh".
# - Opus 4.7 / 4.8: adaptive only; off when `thinking` is left out ("disabled" is a 400).
# - Opus 4.6 / Sonnet 4.6: adaptive (the budget form is deprecated); off unless asked.
# - Claude 4.5 and older (Sonnet 4/4.5, Opus 4/4.1/4.5, Haiku 4.5, Claude 3.x): budget only.
# - Anything else (Opus / Sonnet / Haiku 5.x and later names): NEWEST, adaptive and on by
#   default, "disabled" accepted.
THINKING_RULES: tuple[ThinkingRule, ...] = (
    ThinkingRule(("claude-mythos-preview",), True, "never", thinks_by_default=True, xhigh=False),
    ThinkingRule(("claude-fable", "claude-mythos"), True, "never", thinks_by_default=True),
    ThinkingRule(("claude-opus-4-7", "claude-opus-4-8"), True, "omit"),
    ThinkingRule(("claude-opus-4-6", "claude-sonnet-4-6"), True, "disabled", xhigh=False),
    ThinkingRule(
        ("claude-3", "claude-sonnet-4", "claude-opus-4", "claude-haiku-4"), False, "disabled"
    ),
)
NEWEST = ThinkingRule((), True, "disabled", thinks_by_default=True)


def thinking_rule(model: str) -> ThinkingRule:
    return next((rule for rule in THINKING_RULES if rule.matches(model)), NEWEST)


@dataclass(frozen=True)
class Thinking:
    """What a request's effort turns into: `max_tokens`, the `thinking` param, the effort."""

    max_tokens: int
    thinking: dict[str, Any] | None = None
    effort: str | None = None
    implicit: bool = False  # the model thinks with no `thinking` param (its default)

    @property
    def on(self) -> bool:
        """We switched thinking on (forced tool use is then refused by the API)."""
        return self.thinking is not None and self.thinking["type"] != "disabled"

    @property
    def thinks(self) -> bool:
        """The model will think: switched on by us, or by default."""
        return self.on or self.implicit


def plan_thinking(
    model: str, effort: ReasoningEffort | None, max_output_tokens: int | None
) -> Thinking:
    """`max_tokens`, `thinking` and `output_config.effort` for a model and reasoning effort."""
    rule = thinking_rule(model)
    if effort is None:
        default = DEFAULT_THINKING_MAX_TOKENS if rule.thinks_by_default else DEFAULT_MAX_TOKENS
        return Thinking(max_output_tokens or default, implicit=rule.thinks_by_default)
    if effort == "none":
        if rule.off == "never":
            log.warning(
                "anthropic model %s always thinks: reasoning_effort='none' is sent as the "
                "lowest effort",
                model,
            )
            effort = "minimal"
        else:
            off = {"type": "disabled"} if rule.off == "disabled" else None
            return Thinking(max_output_tokens or DEFAULT_MAX_TOKENS, off)
    if rule.adaptive:
        level = EFFORTS[effort]
        if level == "xhigh" and not rule.xhigh:
            level = "max"
        # Newer models default to "omitted" thinking text; ask for the summary we stream.
        adaptive = {"type": "adaptive", "display": "summarized"}
        return Thinking(max_output_tokens or DEFAULT_THINKING_MAX_TOKENS, adaptive, level)
    budget = BUDGETS[effort]
    if max_output_tokens is None:
        max_tokens = budget + DEFAULT_MAX_TOKENS
    elif max_output_tokens <= MIN_BUDGET:
        raise LLMInputError(
            f"max_output_tokens={max_output_tokens} leaves no room for extended thinking on "
            f"{model} (its budget is at least {MIN_BUDGET} tokens and must stay below "
            "max_output_tokens): raise it, or pass reasoning_effort='none'",
            provider=PROVIDER,
        )
    else:
        # Never a budget at or above max_tokens: half of it at most is left to thinking.
        max_tokens = max_output_tokens
        budget = max(MIN_BUDGET, min(budget, max_output_tokens // 2))
    return Thinking(max_tokens, {"type": "enabled", "budget_tokens": budget})


def thinking_off(model: str, max_output_tokens: int | None) -> Thinking:
    """The plan for a turn thinking cannot take: with thinking on, the API refuses tool results
    answering an assistant turn without its signed thinking, and allows it with thinking off."""
    if thinking_rule(model).off == "never":
        raise LLMInputError(
            f"{model} always thinks, and the API then refuses tool results that answer an "
            "assistant turn without Anthropic's signed thinking blocks (a conversation from "
            "another provider, or a turn built by hand): append the Anthropic reply's "
            "result.to_message() unchanged, or use a model that can think less",
            provider=PROVIDER,
        )
    log.warning(
        "anthropic: sending this request to %s without thinking: its last tool results answer "
        "an assistant turn with no Anthropic thinking blocks (from another provider, or built "
        "by hand), which the API refuses while thinking is on",
        model,
    )
    return plan_thinking(model, "none", max_output_tokens)


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
    return block


def content_blocks(message: Message, model: str) -> list[dict[str, Any]]:
    """A user or assistant message's parts as content blocks, then its tool calls."""
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        match part:
            case TextPart(text=text):
                if text.strip():  # the API rejects empty and whitespace-only text blocks
                    blocks.append({"type": "text", "text": text})
            case ImagePart():
                blocks.append(image_block(part))
            case DocumentPart():
                blocks.append(document_block(part))
            case AudioPart():
                raise LLMUnsupportedFeatureError(PROVIDER, model, Feature.AUDIO.value)
            case _:
                assert_never(part)
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


def tool_result_block(message: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.text:
        block["content"] = message.text
    return block


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
                blocks = thinking_blocks(index, message) + content_blocks(message, model)
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


def system_prompt(request: ChatRequest) -> str | None:
    """System and developer texts joined (and the JSON instruction for json_object)."""
    texts: list[str] = []
    for message in request.messages:
        if message.role not in ("system", "developer"):
            continue
        for part in message.parts:
            match part:
                case TextPart():
                    pass
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
            texts.append(message.text)
    if request.output is not None and request.output.kind == "json_object":
        texts.append(json_instruction(request.output))
    return "\n\n".join(texts) or None


# -- tools and output ------------------------------------------------------------------------


def tool_param(tool: ToolSpec) -> dict[str, Any]:
    param: dict[str, Any] = {"name": tool.name, "input_schema": dict(tool.parameters)}
    if tool.description:
        param["description"] = tool.description
    if tool.strict:
        param["strict"] = True
        param["input_schema"] = api_schema(tool.parameters, f"tool {tool.name!r} parameters")
    return param


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
    if request.tools:
        params["tools"] = [tool_param(t) for t in request.tools]
        choice = tool_choice_param(request.tool_choice, request.parallel_tool_calls)
        if choice is not None:
            params["tool_choice"] = choice
    params.update(per_call(request.timeout, request.extra))
    return params
