"""Anthropic extended thinking: a reasoning effort -> `max_tokens`, the `thinking` param and
`output_config.effort`, per model family (`THINKING_RULES`), and the plan for a turn that
cannot think (tool results answering an assistant turn without signed thinking)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from ...contract.request import ReasoningEffort
from ...errors import LLMInputError
from ..registry import Provider

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
