"""Batch endpoints of the fake server for Anthropic (`/v1/messages/batches`: create,
retrieve, cancel, and `results` as JSONL) and Gemini (`models/{model}:batchGenerateContent`,
`batches/{id}`, `batches/{id}:cancel`), over the server's one job store
(`batches.BatchStore`); OpenAI's and Azure's are in `wire_batch_openai`. `ROUTES` holds
all of them.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from . import wire_anthropic, wire_batch_openai, wire_google
from .batches import FakeBatch, ItemAnswer
from .routing import Exchange, Route
from .wire_batch_openai import batch_route, found_job, jobs_of, jsonl

__all__ = ["ROUTES"]

_ANTHROPIC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


# ---- Anthropic ---------------------------------------------------------------------------------


def create_anthropic_batch(exchange: Exchange) -> None:
    """`POST /v1/messages/batches`: requests are checked when they arrive."""
    rows = exchange.body.get("requests")
    if not isinstance(rows, list) or not rows:
        exchange.send_error(400, "requests: a non-empty list is required")
        return
    requests: list[tuple[str, str, str, Any]] = []
    for index, row in enumerate(rows):
        custom_id = row.get("custom_id") if isinstance(row, dict) else None
        params = row.get("params") if isinstance(row, dict) else None
        if not isinstance(custom_id, str) or not _ANTHROPIC_ID.fullmatch(custom_id):
            exchange.send_error(
                400, f"requests.{index}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$"
            )
            return
        if any(custom_id == seen for seen, _, _, _ in requests):
            exchange.send_error(400, f"requests.{index}.custom_id: {custom_id!r} is a duplicate")
            return
        needed = ("model", "max_tokens", "messages")
        if (
            not isinstance(params, dict)
            or any(k not in params for k in needed)
            or params.get("stream")
        ):
            exchange.send_error(400, f"requests.{index}.params: model, max_tokens and messages")
            return
        requests.append((custom_id, "POST", "/v1/messages", params))
    job = jobs_of(exchange).create("anthropic", "msgbatch_fake", requests, exchange)
    exchange.send_json(_anthropic_batch(job, exchange))


def _anthropic_batch(job: FakeBatch, exchange: Exchange) -> dict[str, Any]:
    phase = job.phase
    ended = job.ended
    answered = job.answered()
    succeeded = sum(1 for a in answered if a.status == 200)
    not_run = len(job.answers) - len(answered) if ended else 0
    counts = {
        "processing": 0 if ended else len(job.answers),
        "succeeded": succeeded if ended else 0,
        "errored": len(answered) - succeeded if ended else 0,
        "canceled": not_run if phase == "cancelled" else 0,
        "expired": not_run if phase == "expired" else 0,
    }
    status = "ended" if ended else ("canceling" if phase == "cancelling" else "in_progress")
    results = f"{exchange.server_url}/v1/messages/batches/{job.id}/results" if ended else None
    return {
        "id": job.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "created_at": _iso(job.created),
        "expires_at": _iso(job.created + 86400),
        "ended_at": _iso(time.time()) if ended else None,
        "cancel_initiated_at": _iso(time.time()) if job.cancelled_at is not None else None,
        "archived_at": None,
        "results_url": results,
    }


def _anthropic_job(exchange: Exchange, read: bool) -> FakeBatch | None:
    job_id = exchange.params["batch_id"]
    return found_job(exchange, job_id, read=read, missing=f"batch {job_id} not found")


def retrieve_anthropic_batch(exchange: Exchange) -> None:
    job = _anthropic_job(exchange, read=True)
    if job is not None:
        exchange.send_json(_anthropic_batch(job, exchange))


def cancel_anthropic_batch(exchange: Exchange) -> None:
    job = _anthropic_job(exchange, read=False)
    if job is not None:
        exchange.send_json(_anthropic_batch(job, exchange))


def anthropic_results(exchange: Exchange) -> None:
    """`GET .../results`: JSONL, not in the order sent (the API promises no order)."""
    store = jobs_of(exchange)
    job = store.read(exchange.params["batch_id"])
    if job is None or not job.ended:
        exchange.send_error(404, "the batch has no results yet")
        return
    rows = [_anthropic_row(a) for a in reversed(job.answered())]
    kind = "canceled" if job.phase == "cancelled" else "expired"
    rows += [{"custom_id": cid, "result": {"type": kind}} for cid in job.unanswered()]
    exchange.send_bytes(jsonl(rows), "application/binary")


def _anthropic_row(answer: ItemAnswer) -> dict[str, Any]:
    if answer.status == 200:
        return {
            "custom_id": answer.custom_id,
            "result": {"type": "succeeded", "message": answer.body},
        }
    return {"custom_id": answer.custom_id, "result": {"type": "errored", "error": answer.body}}


# ---- Gemini ------------------------------------------------------------------------------------

_GOOGLE_STATES = {
    "validating": "BATCH_STATE_PENDING",
    "in_progress": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelling": "BATCH_STATE_RUNNING",
    "cancelled": "BATCH_STATE_CANCELLED",
}


def create_google_batch(exchange: Exchange) -> None:
    """`POST models/{model}:batchGenerateContent` with inline requests."""
    batch = exchange.body.get("batch")
    source = batch.get("inputConfig") if isinstance(batch, dict) else None
    rows = (source or {}).get("requests", {}).get("requests") if isinstance(source, dict) else None
    if not isinstance(rows, list) or not rows:
        exchange.send_error(
            400, "batch.inputConfig.requests.requests: a non-empty list is required"
        )
        return
    model = exchange.params["model"]
    requests: list[tuple[str, str, str, Any]] = []
    for index, row in enumerate(rows):
        request = row.get("request") if isinstance(row, dict) else None
        if not isinstance(request, dict) or "contents" not in request:
            exchange.send_error(400, f"requests[{index}].request: contents are required")
            return
        body = {k: v for k, v in request.items() if k != "model"}
        metadata = row.get("metadata") or {}
        requests.append(
            (json.dumps(metadata), "POST", f"/v1beta/models/{model}:generateContent", body)
        )
    job = jobs_of(exchange).create(
        "google", "batches/fake", requests, exchange, details={"model": f"models/{model}"}
    )
    exchange.send_json(_google_batch(job))


def _google_batch(job: FakeBatch) -> dict[str, Any]:
    phase = job.phase
    metadata: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": job.details.get("model"),
        "displayName": "llm-context batch",
        "state": _GOOGLE_STATES[phase],
        "createTime": _iso(job.created),
        "updateTime": _iso(time.time()),
    }
    if job.ended and phase != "failed":
        responses = [_google_row(a) for a in job.answered()]
        metadata["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        metadata["endTime"] = _iso(time.time())
    return {"name": job.id, "metadata": metadata, "done": job.ended}


def _google_row(answer: ItemAnswer) -> dict[str, Any]:
    metadata = json.loads(answer.custom_id)  # the request's metadata, kept as its id
    if answer.status == 200:
        return {"response": answer.body, "metadata": metadata}
    error = answer.body.get("error", {}) if isinstance(answer.body, dict) else {}
    return {
        "error": {"code": error.get("code", answer.status), "message": error.get("message")},
        "metadata": metadata,
    }


def _google_job(exchange: Exchange, read: bool) -> FakeBatch | None:
    job_id = "batches/" + exchange.params["batch_id"]
    return found_job(exchange, job_id, read=read, missing=f"Batch {job_id} not found")


def get_google_batch(exchange: Exchange) -> None:
    job = _google_job(exchange, read=True)
    if job is not None:
        exchange.send_json(_google_batch(job))


def cancel_google_batch(exchange: Exchange) -> None:
    job = _google_job(exchange, read=False)
    if job is not None:
        exchange.send_json({})


# ---- routes ------------------------------------------------------------------------------------


def _route(provider: str, method: str, path: str, endpoint: str, handler: Any, error: Any) -> Route:
    # A batch call takes no script item itself: its items take theirs when it is created.
    return Route(method, path, provider, endpoint, handler, error, accepts=(), consumes=False)


_ANTHROPIC_BATCH = r"/v1/messages/batches/(?P<batch_id>[^/]+)"
_GOOGLE_BATCH = r"/v1beta/batches/(?P<batch_id>[^/:]+)"

ROUTES: tuple[Route, ...] = (
    *wire_batch_openai.ROUTES,
    batch_route(
        "anthropic",
        "POST",
        r"/v1/messages/batches",
        "batches",
        create_anthropic_batch,
        wire_anthropic.error_body,
    ),
    batch_route(
        "anthropic",
        "GET",
        _ANTHROPIC_BATCH,
        "batches",
        retrieve_anthropic_batch,
        wire_anthropic.error_body,
    ),
    batch_route(
        "anthropic",
        "POST",
        _ANTHROPIC_BATCH + "/cancel",
        "batches",
        cancel_anthropic_batch,
        wire_anthropic.error_body,
    ),
    batch_route(
        "anthropic",
        "GET",
        _ANTHROPIC_BATCH + "/results",
        "batches",
        anthropic_results,
        wire_anthropic.error_body,
    ),
    batch_route(
        "google",
        "POST",
        r"/v1beta/models/(?P<model>[^/:]+):batchGenerateContent",
        "batches",
        create_google_batch,
        wire_google.error_body,
    ),
    batch_route(
        "google", "GET", _GOOGLE_BATCH, "batches", get_google_batch, wire_google.error_body
    ),
    batch_route(
        "google",
        "POST",
        _GOOGLE_BATCH + ":cancel",
        "batches",
        cancel_google_batch,
        wire_google.error_body,
    ),
)
