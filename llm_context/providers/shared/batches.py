"""What every provider's batch support shares: an SDK call's keyword arguments as the JSON
body a batch line carries, the outcome of an item the provider never answered, and the
outcomes put back in the order the items were sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...contract.batches import BatchStatus
from ...contract.results import ChatResult
from ...errors import LLMBatchItemError, LLMError

__all__ = ["NOT_RUN", "in_order", "not_run", "wire_body"]

# Why an item has no answer, by how the job ended.
NOT_RUN: Mapping[BatchStatus, str] = {
    BatchStatus.EXPIRED: "expired",
    BatchStatus.CANCELLED: "cancelled",
}


def wire_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """An SDK call's keyword arguments as the request body: `extra_body` merged in (as the
    SDK would send it), per-request options such as `timeout` left out."""
    body = {k: v for k, v in params.items() if k not in ("extra_body", "timeout", "extra_headers")}
    body.update(params.get("extra_body") or {})
    return body


def not_run(provider: str, custom_id: str, reason: str) -> LLMBatchItemError:
    """The outcome of an item the job ended without answering."""
    return LLMBatchItemError(
        f"{provider} batch item {custom_id!r} got no answer: the job {reason} before it ran; "
        "send it again",
        provider=provider,
        reason=reason,
    )


def in_order(
    outcomes: Mapping[str, ChatResult | LLMError],
    order: Iterable[str] | None,
    provider: str,
    status: BatchStatus,
) -> dict[str, ChatResult | LLMError]:
    """`outcomes` in the order the items were sent (when known); an item with none gets
    an `LLMBatchItemError` (why: the job's end)."""
    if order is None:
        return dict(outcomes)
    reason = NOT_RUN.get(status, "missing")
    out: dict[str, ChatResult | LLMError] = {}
    for cid in order:
        found = outcomes.get(cid)
        out[cid] = not_run(provider, cid, reason) if found is None else found
    return out
