"""Token estimates before a call, for `tpm`: the limiter counts these, then corrects them
with what the reply really used."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..contract.messages import ImagePart, TextPart
from ..contract.request import ChatRequest

__all__ = ["estimate_chat_tokens", "estimate_text_tokens", "tokens_used"]

_IMAGE_TOKENS = 85  # a flat guess per input image: the real count arrives with the usage


def estimate_text_tokens(texts: Iterable[str]) -> int:
    """About four characters per token."""
    return sum(-(-len(text) // 4) for text in texts)


def estimate_chat_tokens(request: ChatRequest) -> int:
    """A request's token estimate: its text at ~4 chars a token, images at a flat rate,
    plus `max_output_tokens` (the reply's worst case) when it is set."""
    texts: list[str] = []
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, ImagePart):
                images += 1
        texts.extend(call.arguments_json for call in message.tool_calls)
    texts.extend(tool.description + str(tool.parameters) for tool in request.tools)
    estimate = estimate_text_tokens(texts) + images * _IMAGE_TOKENS
    return estimate + (request.max_output_tokens or 0)


def tokens_used(usage: Mapping[str, int] | None) -> int | None:
    """The tokens a reply really cost (None when the provider reported no usage)."""
    if not usage:
        return None
    total = usage.get("total_tokens")
    if total:
        return int(total)
    counted = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
    return counted or None
