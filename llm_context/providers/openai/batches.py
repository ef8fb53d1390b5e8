"""The Batch API of OpenAI and Azure OpenAI: a JSONL file of requests uploaded through the
Files API, a `/batches` job over it, and its output and error files read back.

Each line is `{"custom_id", "method": "POST", "url", "body"}`, the body built by the same
function as a chat call's; each answer is parsed by the same reply parser as chat.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...contract.batches import BatchCounts, BatchInfo, BatchItem, BatchStatus
from ...contract.request import ChatRequest
from ...contract.results import ChatResult
from ...errors import LLMError
from ..shared.batches import in_order, not_run, wire_body
from ..shared.reply_checks import field_of, unreadable
from ..shared.sdk import error_from_body, error_message

__all__ = [
    "STATUSES",
    "BatchWire",
    "OpenAIBatches",
    "cancel",
    "info_of",
    "input_order",
    "read",
    "results",
    "submit",
]

# The Batch API's states, in our words.
STATUSES: Mapping[str, BatchStatus] = {
    "validating": BatchStatus.VALIDATING,
    "in_progress": BatchStatus.IN_PROGRESS,
    "finalizing": BatchStatus.FINALIZING,
    "completed": BatchStatus.COMPLETED,
    "failed": BatchStatus.FAILED,
    "expired": BatchStatus.EXPIRED,
    "cancelling": BatchStatus.CANCELLING,
    "cancelled": BatchStatus.CANCELLED,
}


# Error codes of lines the job never ran, and why (`LLMBatchItemError.reason`).
_NOT_RUN_CODES: Mapping[str, str] = {"batch_expired": "expired", "batch_cancelled": "cancelled"}


@dataclass(frozen=True)
class BatchWire:
    """Which endpoint a batch's lines go to, how a request becomes a line's body, and how
    an answer's body becomes a `ChatResult` (the chat call's own functions)."""

    endpoint: str  # the batch's `endpoint` and each line's `url`
    body: Callable[[ChatRequest], dict[str, Any]]  # the chat call's keyword arguments
    parse: Callable[[Mapping[str, Any]], ChatResult]
    provider: str


def lines(items: Sequence[BatchItem], wire: BatchWire) -> bytes:
    """The JSONL input file."""
    rows = (
        {
            "custom_id": item.custom_id,
            "method": "POST",
            "url": wire.endpoint,
            "body": wire_body(wire.body(item.request)),
        }
        for item in items
    )
    return b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows)


def submit(client: Any, items: Sequence[BatchItem], wire: BatchWire) -> BatchInfo:
    """Upload the lines and start the job."""
    upload = client.files.create(
        file=("llm-context-batch.jsonl", lines(items, wire), "application/jsonl"), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=upload.id, endpoint=wire.endpoint, completion_window="24h"
    )
    return info_of(batch, wire.provider)


def read(client: Any, batch_id: str, provider: str) -> BatchInfo:
    return info_of(client.batches.retrieve(batch_id), provider)


def cancel(client: Any, batch_id: str, provider: str) -> BatchInfo:
    return info_of(client.batches.cancel(batch_id), provider)


def info_of(batch: Any, provider: str) -> BatchInfo:
    """A `Batch` in our words."""
    raw = field_of(batch, "status")
    status = STATUSES.get(raw) if isinstance(raw, str) else None
    batch_id = field_of(batch, "id")
    if status is None or not isinstance(batch_id, str):
        raise unreadable(provider, f"a batch with id {batch_id!r} and status {raw!r}")
    counts = field_of(batch, "request_counts")
    total = _count(counts, "total")
    done, failed = _count(counts, "completed") or 0, _count(counts, "failed") or 0
    errors = field_of(field_of(batch, "errors"), "data") or []
    reasons = [str(field_of(e, "message")) for e in errors if field_of(e, "message")]
    return BatchInfo(
        id=batch_id,
        status=status,
        raw_status=raw,
        counts=BatchCounts(
            total=total,
            succeeded=done,
            failed=failed,
            pending=None if total is None else max(0, total - done - failed),
        ),
        model=field_of(batch, "model"),
        created_at=field_of(batch, "created_at"),
        error="; ".join(reasons) or None,
        output={
            "output_file_id": field_of(batch, "output_file_id"),
            "error_file_id": field_of(batch, "error_file_id"),
            "input_file_id": field_of(batch, "input_file_id"),
        },
    )


def _count(counts: Any, name: str) -> int | None:
    value = field_of(counts, name)
    return value if isinstance(value, int) else None


def input_order(client: Any, info: BatchInfo) -> list[str]:
    """The custom ids in the order they were uploaded (for a job reattached by id)."""
    file_id = info.output.get("input_file_id")
    if not file_id:
        return []
    return [row["custom_id"] for row in _rows(client, file_id, info) if "custom_id" in row]


def results(client: Any, info: BatchInfo, wire: BatchWire) -> dict[str, ChatResult | LLMError]:
    """Every answered item's outcome, read from the output and error files."""
    outcomes: dict[str, ChatResult | LLMError] = {}
    for key in ("output_file_id", "error_file_id"):
        file_id = info.output.get(key)
        if file_id:
            for row in _rows(client, file_id, info):
                custom_id = row.get("custom_id")
                if isinstance(custom_id, str):
                    outcomes[custom_id] = _outcome(row, wire)
    return outcomes


def _rows(client: Any, file_id: str, info: BatchInfo) -> list[dict[str, Any]]:
    text = client.files.content(file_id).text
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise unreadable("batch " + info.id, f"line {number} of file {file_id} is no object")
        rows.append(row)
    return rows


def _outcome(row: Mapping[str, Any], wire: BatchWire) -> ChatResult | LLMError:
    """One output line: the parsed reply, or the error it carries."""
    found = row.get("response")
    response: Mapping[str, Any] = found if isinstance(found, dict) else {}
    status = response.get("status_code")
    body = response.get("body")
    request_id = response.get("request_id")
    error = row.get("error")
    if isinstance(status, int) and status == 200 and isinstance(body, dict) and not error:
        try:
            return wire.parse(body)
        except LLMError as exc:
            return exc
    code = field_of(error, "code")
    if isinstance(code, str) and code in _NOT_RUN_CODES:
        return not_run(wire.provider, str(row.get("custom_id")), _NOT_RUN_CODES[code])
    if not isinstance(status, int) or status < 400:
        status = 500  # an error line without an HTTP status: the provider failed the item
    detail = body if isinstance(body, dict) else {"error": error}
    message = error_message(detail, f"the batch item {row.get('custom_id')!r} failed")
    return error_from_body(wire.provider, status, detail, message, request_id)


class OpenAIBatches:
    """The Batch API on one SDK client (OpenAI's, or Azure's)."""

    def __init__(self, client: Any, wire: BatchWire) -> None:
        self.client = client
        self.wire = wire

    def submit(self, items: Sequence[BatchItem]) -> BatchInfo:
        return submit(self.client, items, self.wire)

    def read(self, batch_id: str) -> BatchInfo:
        return read(self.client, batch_id, self.wire.provider)

    def cancel(self, batch_id: str) -> BatchInfo:
        return cancel(self.client, batch_id, self.wire.provider)

    def results(
        self, info: BatchInfo, order: Sequence[str] | None
    ) -> dict[str, ChatResult | LLMError]:
        # A job reattached by id: its input file still knows the order.
        known = order if order is not None else input_order(self.client, info)
        outcomes = results(self.client, info, self.wire)
        return in_order(outcomes, known, self.wire.provider, info.status)
