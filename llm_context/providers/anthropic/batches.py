"""Anthropic's Message Batches: the requests sent inline (`{"custom_id", "params"}`, the
params built as a chat call's), the results read back as JSONL from the batch's
`results_url`, each message parsed by the chat call's parser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...contract.batches import BatchCounts, BatchInfo, BatchItem, BatchStatus
from ...contract.results import ChatResult
from ...errors import LLMError
from ..registry import Provider
from ..shared.batches import in_order, not_run, wire_body
from ..shared.reply_checks import field_of, unreadable
from ..shared.sdk import error_from_body, error_message
from .reply import ERROR_TYPE_STATUS, parse_response
from .request import build_params

__all__ = ["AnthropicBatches", "cancel", "info_of", "read", "results", "submit"]

PROVIDER = Provider.ANTHROPIC.value

# `processing_status` in our words; "ended" is told apart by how the job ended (`_ended`).
_STATUSES: Mapping[str, BatchStatus] = {
    "in_progress": BatchStatus.IN_PROGRESS,
    "canceling": BatchStatus.CANCELLING,
}

# An item's result type when it never ran, and why (`LLMBatchItemError.reason`).
_NOT_RUN: Mapping[str, str] = {"canceled": "cancelled", "expired": "expired"}


def submit(client: Any, items: Sequence[BatchItem]) -> BatchInfo:
    requests = [
        {"custom_id": item.custom_id, "params": wire_body(build_params(item.request))}
        for item in items
    ]
    return info_of(client.messages.batches.create(requests=requests))


def read(client: Any, batch_id: str) -> BatchInfo:
    return info_of(client.messages.batches.retrieve(batch_id))


def cancel(client: Any, batch_id: str) -> BatchInfo:
    return info_of(client.messages.batches.cancel(batch_id))


def info_of(batch: Any) -> BatchInfo:
    """A `MessageBatch` in our words."""
    raw = field_of(batch, "processing_status")
    batch_id = field_of(batch, "id")
    counts = field_of(batch, "request_counts")
    numbers = {
        name: _count(counts, name)
        for name in ("processing", "succeeded", "errored", "canceled", "expired")
    }
    if raw == "ended":
        status = _ended(batch, numbers)
    else:
        found = _STATUSES.get(raw) if isinstance(raw, str) else None
        if found is None:
            raise unreadable(PROVIDER, f"a batch with processing_status {raw!r}")
        status = found
    if not isinstance(batch_id, str):
        raise unreadable(PROVIDER, f"a batch with id {batch_id!r}")
    created = field_of(batch, "created_at")
    return BatchInfo(
        id=batch_id,
        status=status,
        raw_status=str(raw),
        counts=BatchCounts(
            total=sum(numbers.values()),
            succeeded=numbers["succeeded"],
            failed=numbers["errored"] + numbers["canceled"] + numbers["expired"],
            pending=numbers["processing"],
        ),
        created_at=created.timestamp() if hasattr(created, "timestamp") else None,
        output={"results_url": field_of(batch, "results_url")},
    )


def _count(counts: Any, name: str) -> int:
    value = field_of(counts, name)
    return value if isinstance(value, int) else 0


def _ended(batch: Any, numbers: Mapping[str, int]) -> BatchStatus:
    """An ended batch: cancelled when cancel was asked, expired when items expired."""
    if field_of(batch, "cancel_initiated_at") is not None:
        return BatchStatus.CANCELLED
    return BatchStatus.EXPIRED if numbers["expired"] else BatchStatus.COMPLETED


def results(client: Any, batch_id: str) -> dict[str, ChatResult | LLMError]:
    """Every item's outcome, in the order the results file gives them."""
    outcomes: dict[str, ChatResult | LLMError] = {}
    for row in client.messages.batches.results(batch_id):
        custom_id = field_of(row, "custom_id")
        if isinstance(custom_id, str):
            outcomes[custom_id] = _outcome(custom_id, field_of(row, "result"))
    return outcomes


def _outcome(custom_id: str, result: Any) -> ChatResult | LLMError:
    kind = field_of(result, "type")
    if kind == "succeeded":
        try:
            return parse_response(field_of(result, "message"))
        except LLMError as exc:
            return exc
    if isinstance(kind, str) and kind in _NOT_RUN:
        return not_run(PROVIDER, custom_id, _NOT_RUN[kind])
    error = field_of(field_of(result, "error"), "error")  # ErrorResponse.error
    error_type = field_of(error, "type")
    status = ERROR_TYPE_STATUS.get(error_type, 500) if isinstance(error_type, str) else 500
    body = {"error": {"type": error_type, "message": field_of(error, "message")}}
    message = error_message(body, f"the batch item {custom_id!r} failed ({kind})")
    return error_from_body(PROVIDER, status, body, message)


class AnthropicBatches:
    """Message Batches on one SDK client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(self, items: Sequence[BatchItem]) -> BatchInfo:
        return submit(self.client, items)

    def read(self, batch_id: str) -> BatchInfo:
        return read(self.client, batch_id)

    def cancel(self, batch_id: str) -> BatchInfo:
        return cancel(self.client, batch_id)

    def results(
        self, info: BatchInfo, order: Sequence[str] | None
    ) -> dict[str, ChatResult | LLMError]:
        # Results come in no set order: the ids sent put them back in it.
        return in_order(results(self.client, info.id), order, PROVIDER, info.status)
