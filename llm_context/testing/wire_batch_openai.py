"""Batch endpoints of the fake server for OpenAI and Azure OpenAI: the Files API
(`POST /files` multipart, `GET /files/{id}/content`) and `/batches` (create, retrieve,
cancel), on OpenAI's paths and on Azure's v1 and dated ones.

Input lines are checked as the real service checks them (valid JSON, `custom_id` unique,
`method` POST, `url` the batch's endpoint, a body the endpoint takes, one model): a bad
file fails the job with a line-numbered error. Each item is answered by the route that
serves the same request outside a batch.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from . import wire_openai
from .batches import FakeBatch, ItemAnswer
from .routing import Exchange, Route, dumps

__all__ = ["ROUTES", "batch_route", "found_job", "jobs_of", "jsonl"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_OPENAI_BODY_NEEDS = {"/v1/responses": "input", "/v1/chat/completions": "messages"}


def jobs_of(exchange: Exchange) -> Any:
    """The server's batch jobs."""
    if exchange.batches is None:
        raise RuntimeError("this fake server keeps no batch jobs")
    return exchange.batches


def jsonl(rows: Any) -> bytes:
    return b"".join(dumps(row) + b"\n" for row in rows)


def batch_route(
    provider: str, method: str, path: str, endpoint: str, handler: Any, error: Any
) -> Route:
    """A batch endpoint: it takes no script item itself (its items take theirs when the
    job is created)."""
    return Route(method, path, provider, endpoint, handler, error, accepts=(), consumes=False)


# ---- OpenAI and Azure: files ---------------------------------------------------------------


def _uploaded(exchange: Exchange) -> tuple[bytes | None, str | None]:
    """The multipart upload's file bytes and its `purpose` field."""
    match = _BOUNDARY.search(exchange.request.headers.get("content-type", ""))
    if match is None:
        return None, None
    data: bytes | None = None
    purpose: str | None = None
    for part in exchange.request.body.split(b"--" + match.group(1).encode())[1:]:
        head, _, value = part.partition(b"\r\n\r\n")
        value = value.removesuffix(b"\r\n")
        if b'name="file"' in head:
            data = value
        elif b'name="purpose"' in head:
            purpose = value.decode()
    return data, purpose


def upload_file(exchange: Exchange) -> None:
    """`POST /files`: a batch input file."""
    data, purpose = _uploaded(exchange)
    if data is None or purpose != "batch":
        exchange.send_error(400, "upload a `file` with purpose 'batch'")
        return
    file_id = jobs_of(exchange).add_file(data)
    exchange.send_json(_file(file_id, len(data), "batch"))


def _file(file_id: str, size: int, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": f"{file_id}.jsonl",
        "purpose": purpose,
        "status": "processed",
    }


def file_content(exchange: Exchange) -> None:
    """`GET /files/{id}/content`."""
    data = jobs_of(exchange).file(exchange.params["file_id"])
    if data is None:
        exchange.send_error(404, f"No such File object: {exchange.params['file_id']}")
        return
    exchange.send_bytes(data, "application/octet-stream")


# ---- OpenAI and Azure: batches ---------------------------------------------------------------


def _openai_lines(data: bytes, endpoint: str) -> tuple[list[tuple[str, str, str, Any]], str | None]:
    """The input file's requests (custom_id, method, path, body), or why it is refused."""
    requests: list[tuple[str, str, str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            return [], f"line {number}: not valid JSON"
        if not isinstance(row, dict):
            return [], f"line {number}: not a JSON object"
        custom_id, body = row.get("custom_id"), row.get("body")
        if not isinstance(custom_id, str) or not custom_id or custom_id in seen:
            return [], f"line {number}: custom_id missing or used before"
        if row.get("method") != "POST" or row.get("url") != endpoint:
            return [], f"line {number}: method must be POST and url {endpoint}"
        needed = _OPENAI_BODY_NEEDS.get(endpoint.removeprefix("/openai"), "messages")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return [], f"line {number}: body must be an object with a model"
        if needed not in body or "stream" in body:
            return [], f"line {number}: body is no {endpoint} request (needs {needed!r})"
        seen.add(custom_id)
        models.add(body["model"])
        requests.append((custom_id, "POST", endpoint, body))
    if len(models) > 1:
        return [], f"the file names {len(models)} models: a batch runs one"
    if not requests:
        return [], "the file holds no requests"
    return requests, None


def _single_call_path(exchange: Exchange, endpoint: str, body: dict[str, Any]) -> str:
    """Where one of the batch's requests is served outside a batch."""
    path = exchange.request.path
    if path.startswith("/openai/v1/"):
        return "/openai" + endpoint
    if path.startswith("/openai/"):  # Azure's dated API: the deployment is the line's model
        return f"/openai/deployments/{body.get('model')}{endpoint}"
    return endpoint


def create_openai_batch(exchange: Exchange) -> None:
    """`POST /batches`."""
    body = exchange.body
    store = jobs_of(exchange)
    endpoint, file_id = body.get("endpoint"), body.get("input_file_id")
    data = store.file(file_id) if isinstance(file_id, str) else None
    if data is None or not isinstance(endpoint, str) or body.get("completion_window") != "24h":
        exchange.send_error(400, "input_file_id, endpoint and completion_window '24h' are needed")
        return
    requests, failure = _openai_lines(data, endpoint)
    routed = [(cid, m, _single_call_path(exchange, endpoint, b), b) for cid, m, _, b in requests]
    model = requests[0][3]["model"] if requests else None
    details = {"endpoint": endpoint, "input_file_id": file_id, "model": model}
    job = store.create(
        exchange.provider, "batch_fake", routed, exchange, failure=failure, details=details
    )
    exchange.send_json(_openai_batch(job, store))


def _openai_batch(job: FakeBatch, store: Any) -> dict[str, Any]:
    phase = job.phase
    answered = job.answered()
    good = [a for a in answered if a.status == 200]
    output = error_file = None
    if job.ended and phase != "failed":
        output = store.add_file(jsonl(_openai_row(a) for a in good)) if good else None
        bad = [_openai_row(a) for a in answered if a.status != 200]
        code = f"batch_{phase}" if phase in ("expired", "cancelled") else None
        bad += [_openai_not_run(cid, code) for cid in job.unanswered() if code]
        error_file = store.add_file(jsonl(bad)) if bad else None
    total = len(job.answers)
    errors = None
    reason = job.failure_reason
    if reason is not None:
        errors = {"object": "list", "data": [{"code": "invalid_request", "message": reason}]}
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": job.details.get("endpoint"),
        "errors": errors,
        "input_file_id": job.details.get("input_file_id"),
        "completion_window": "24h",
        "status": phase,
        "output_file_id": output,
        "error_file_id": error_file,
        "created_at": int(job.created),
        "request_counts": {
            "total": total,
            "completed": len(good) if job.ended else 0,
            "failed": (total - len(good)) if job.ended and phase != "failed" else 0,
        },
        "metadata": None,
        "model": job.details.get("model"),
    }


def _openai_row(answer: ItemAnswer) -> dict[str, Any]:
    response = {"status_code": answer.status, "request_id": answer.request_id, "body": answer.body}
    return {
        "id": f"batch_req_{answer.request_id}",
        "custom_id": answer.custom_id,
        "response": response,
        "error": None,
    }


def _openai_not_run(custom_id: str, code: str) -> dict[str, Any]:
    message = "This request could not be executed before the job ended."
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def found_job(exchange: Exchange, job_id: str, *, read: bool, missing: str) -> FakeBatch | None:
    """The job, one read further on (or with cancel asked); a 404 saying `missing` when
    there is none."""
    store = jobs_of(exchange)
    job: FakeBatch | None = store.read(job_id) if read else store.cancel(job_id)
    if job is None:
        exchange.send_error(404, missing)
    return job


def _openai_job(exchange: Exchange, read: bool) -> None:
    job_id = exchange.params["batch_id"]
    job = found_job(exchange, job_id, read=read, missing=f"No batch found with id '{job_id}'")
    if job is not None:
        exchange.send_json(_openai_batch(job, jobs_of(exchange)))


def retrieve_openai_batch(exchange: Exchange) -> None:
    _openai_job(exchange, read=True)


def cancel_openai_batch(exchange: Exchange) -> None:
    _openai_job(exchange, read=False)


def _openai_routes(provider: str, prefix: str) -> tuple[Route, ...]:
    error = wire_openai.error_body
    return (
        batch_route(provider, "POST", prefix + r"/files", "files", upload_file, error),
        batch_route(
            provider,
            "GET",
            prefix + r"/files/(?P<file_id>[^/]+)/content",
            "files",
            file_content,
            error,
        ),
        batch_route(provider, "POST", prefix + r"/batches", "batches", create_openai_batch, error),
        batch_route(
            provider,
            "GET",
            prefix + r"/batches/(?P<batch_id>[^/]+)",
            "batches",
            retrieve_openai_batch,
            error,
        ),
        batch_route(
            provider,
            "POST",
            prefix + r"/batches/(?P<batch_id>[^/]+)/cancel",
            "batches",
            cancel_openai_batch,
            error,
        ),
    )


ROUTES: tuple[Route, ...] = (
    *_openai_routes("openai", "/v1"),
    *_openai_routes("azure", "/openai/v1"),
    *_openai_routes("azure", "/openai"),
)
