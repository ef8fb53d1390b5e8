"""Gemini's batch mode (`batches.create` with inline requests): each request's contents and
config built as a chat call's, the item's id in its `metadata`, and the inlined responses
read back from the finished job, each parsed by the chat call's parser."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...contract.batches import BatchCounts, BatchInfo, BatchItem, BatchStatus
from ...contract.request import ChatRequest
from ...contract.results import ChatResult
from ...errors import LLMError
from ..registry import Provider
from ..shared.batches import NOT_RUN, in_order, not_run
from ..shared.reply_checks import field_of, unreadable
from ..shared.sdk import error_from_body
from .reply import parse_response

__all__ = ["STATUSES", "GoogleBatches", "cancel", "info_of", "read", "results", "submit"]

PROVIDER = Provider.GOOGLE.value
_ID_KEY = "llm_context_id"  # the metadata key that carries an item's custom id

# `JobState` in our words (the SDK turns the API's BATCH_STATE_* into these).
STATUSES: Mapping[str, BatchStatus] = {
    "JOB_STATE_QUEUED": BatchStatus.VALIDATING,
    "JOB_STATE_PENDING": BatchStatus.VALIDATING,
    "JOB_STATE_RUNNING": BatchStatus.IN_PROGRESS,
    "JOB_STATE_UPDATING": BatchStatus.IN_PROGRESS,
    "JOB_STATE_PAUSED": BatchStatus.IN_PROGRESS,
    "JOB_STATE_SUCCEEDED": BatchStatus.COMPLETED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": BatchStatus.COMPLETED,
    "JOB_STATE_FAILED": BatchStatus.FAILED,
    "JOB_STATE_CANCELLING": BatchStatus.CANCELLING,
    "JOB_STATE_CANCELLED": BatchStatus.CANCELLED,
    "JOB_STATE_EXPIRED": BatchStatus.EXPIRED,
}

Prepare = Callable[[ChatRequest], tuple[list[Any], Any]]


def submit(client: Any, model: str, items: Sequence[BatchItem], prepare: Prepare) -> BatchInfo:
    """Start a job of inline requests, each prepared as a chat call (`prepare`)."""
    requests: list[dict[str, Any]] = []
    for item in items:
        contents, config = prepare(item.request)
        # Per-request HTTP options have no place inside a batch: the job is one request.
        config = config.model_copy(update={"http_options": None})
        requests.append(
            {"contents": contents, "config": config, "metadata": {_ID_KEY: item.custom_id}}
        )
    job = client.batches.create(
        model=model, src=requests, config={"display_name": "llm-context batch"}
    )
    return info_of(job, len(items))


def read(client: Any, batch_id: str) -> BatchInfo:
    return info_of(client.batches.get(name=batch_id))


def cancel(client: Any, batch_id: str) -> BatchInfo:
    client.batches.cancel(name=batch_id)  # answers nothing: read the job after it
    return read(client, batch_id)


def info_of(job: Any, total: int | None = None) -> BatchInfo:
    """A `BatchJob` in our words; counts come from the responses once there are any."""
    state = field_of(job, "state")
    raw = str(getattr(state, "value", state))
    status = STATUSES.get(raw)
    name = field_of(job, "name")
    if status is None or not isinstance(name, str):
        raise unreadable(PROVIDER, f"a batch job named {name!r} in state {raw!r}")
    responses = _responses(job)
    counts = BatchCounts(total=total, pending=total)
    if responses:
        failed = sum(1 for r in responses if field_of(r, "response") is None)
        counts = BatchCounts(len(responses), len(responses) - failed, failed, 0)
    created = field_of(job, "create_time")
    error = field_of(job, "error")
    return BatchInfo(
        id=name,
        status=status,
        raw_status=raw,
        counts=counts,
        model=field_of(job, "model"),
        created_at=created.timestamp() if hasattr(created, "timestamp") else None,
        error=field_of(error, "message"),
    )


def _responses(job: Any) -> list[Any]:
    found = field_of(field_of(job, "dest"), "inlined_responses")
    return found if isinstance(found, list) else []


def results(
    client: Any, batch_id: str, order: Sequence[str] | None
) -> dict[str, ChatResult | LLMError]:
    """Every answered item's outcome. Responses name their item in `metadata`; one that
    does not is matched by position when the order is known."""
    job = client.batches.get(name=batch_id)
    status = info_of(job).status
    outcomes: dict[str, ChatResult | LLMError] = {}
    for position, row in enumerate(_responses(job)):
        metadata = field_of(row, "metadata") or {}
        custom_id = metadata.get(_ID_KEY) if isinstance(metadata, Mapping) else None
        if not isinstance(custom_id, str):
            if order is None or position >= len(order):
                continue
            custom_id = order[position]
        outcomes[custom_id] = _outcome(custom_id, row, status)
    return outcomes


def _outcome(custom_id: str, row: Any, status: BatchStatus) -> ChatResult | LLMError:
    response = field_of(row, "response")
    if response is not None:
        try:
            return parse_response(response)
        except LLMError as exc:
            return exc
    error = field_of(row, "error")
    if error is None and status in NOT_RUN:
        return not_run(PROVIDER, custom_id, NOT_RUN[status])
    code = field_of(error, "code")
    message = field_of(error, "message") or f"the batch item {custom_id!r} failed"
    http = code if isinstance(code, int) and code >= 400 else 500
    return error_from_body(PROVIDER, http, {"error": {"code": code, "message": message}}, message)


class GoogleBatches:
    """Batch mode on one SDK client; requests prepared as the adapter prepares a chat's."""

    def __init__(self, client: Any, prepare: Prepare) -> None:
        self.client = client
        self.prepare = prepare

    def submit(self, items: Sequence[BatchItem]) -> BatchInfo:
        # One model a job (the batch flow checked it): the job is made on that model.
        return submit(self.client, items[0].request.model, items, self.prepare)

    def read(self, batch_id: str) -> BatchInfo:
        return read(self.client, batch_id)

    def cancel(self, batch_id: str) -> BatchInfo:
        return cancel(self.client, batch_id)

    def results(
        self, info: BatchInfo, order: Sequence[str] | None
    ) -> dict[str, ChatResult | LLMError]:
        return in_order(results(self.client, info.id, order), order, PROVIDER, info.status)
