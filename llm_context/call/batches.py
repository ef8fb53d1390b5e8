"""Provider batch jobs as step flows, beside `flows`: every request is planned as a chat
call first (bad input raises before anything is uploaded), then the job is sent, read,
cancelled, and its results collected, each item checked as a chat reply is (JSON output
validated) and metered once at the profile's batch discount.

Submitting is one attempt: a retried upload could start a second job and bill it twice.
Reading, cancelling and fetching results are retried like any request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..contract.batches import CUSTOM_ID, BatchInfo, BatchItem
from ..contract.results import ChatResult
from ..errors import LLMError, LLMInputError, LLMOutputError
from ..metering import batch_item_record
from ..providers.base import Adapter, BatchAPI, Feature
from .flows import retried, tally
from .plan import ChatPlan
from .runtime import Runtime
from .steps import Call, Steps

__all__ = ["BatchPlan", "collect", "control_flow", "plan_batch", "submit_flow"]

T = TypeVar("T")

# Chat options that mean nothing inside a job the provider runs on its own schedule.
_NOT_IN_A_BATCH: Mapping[str, str] = {
    "timeout": "a batch runs for hours; wait(timeout=...) bounds the wait",
    "retry": "the provider runs each item once; resend the failed ones",
    "repair_attempts": "a batch cannot ask again; resend the items whose JSON was wrong",
}


@dataclass(frozen=True)
class BatchPlan:
    """A batch ready to send: its items in order, and each item's chat plan (what its
    reply is checked against)."""

    items: tuple[BatchItem, ...]
    plans: Mapping[str, ChatPlan]

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(item.custom_id for item in self.items)


def plan_batch(rt: Runtime, requests: Iterable[Mapping[str, Any]]) -> BatchPlan:
    """Validate every request as `chat_sync` would; nothing is sent here."""
    rt.require(Feature.BATCH, None)
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Iterable):
        raise LLMInputError(
            'requests must be a list of dicts such as {"custom_id": "q1", "messages": [...]}'
        )
    raw = list(requests)
    limit = rt.spec.max_batch_items
    if not raw:
        raise LLMInputError("a batch needs at least one request")
    if len(raw) > limit:
        raise LLMInputError(
            f"{rt.provider} takes at most {limit:,} requests a batch, got {len(raw):,}: "
            "split them into several batches",
            provider=rt.provider,
        )
    items: list[BatchItem] = []
    plans: dict[str, ChatPlan] = {}
    for index, request in enumerate(raw):
        item, plan = _plan_one(rt, index, request)
        if item.custom_id in plans:
            raise LLMInputError(
                f"requests[{index}]: custom_id {item.custom_id!r} is used twice; "
                "each request needs its own"
            )
        items.append(item)
        plans[item.custom_id] = plan
    models = sorted({item.request.model for item in items})
    if rt.spec.batch_one_model and len(models) > 1:
        raise LLMInputError(
            f"a {rt.provider} batch runs one model; these requests name {models}: "
            "send one batch per model",
            provider=rt.provider,
        )
    return BatchPlan(tuple(items), plans)


def _plan_one(rt: Runtime, index: int, request: Any) -> tuple[BatchItem, ChatPlan]:
    where = f"requests[{index}]"
    if not isinstance(request, Mapping):
        raise LLMInputError(
            f'{where} must be a dict such as {{"custom_id": "q1", "messages": [...]}}, '
            f"got {type(request).__name__}"
        )
    opts = dict(request)
    custom_id = opts.pop("custom_id", f"request-{index}")
    if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
        raise LLMInputError(
            f"{where}: custom_id must be 1 to 64 letters, digits, '_' or '-' "
            f"(what every batch API accepts), got {custom_id!r}"
        )
    if "messages" not in opts:
        raise LLMInputError(f"{where} ({custom_id}) has no messages")
    messages = opts.pop("messages")
    for name in sorted(set(opts) & set(_NOT_IN_A_BATCH)):
        raise LLMInputError(
            f"{where} ({custom_id}): {name} has no place in a batch: {_NOT_IN_A_BATCH[name]}"
        )
    try:
        plan = rt.plan(messages, **opts)
    except LLMInputError as exc:
        raise LLMInputError(f"{where} ({custom_id}): {exc}", provider=exc.provider) from exc
    rt.require(Feature.BATCH, plan.request.model)
    return BatchItem(custom_id, plan.request), plan


def _service(adapter: Adapter) -> BatchAPI:
    service = adapter.batches
    if service is None:  # the registry says BATCH for every adapter that has one
        raise AssertionError(f"{adapter.provider} declares batches but has no batch API")
    return service


def control_flow(rt: Runtime, fn: Callable[[BatchAPI], T]) -> Steps[T]:
    """One retried request to the batch service (read, cancel, results)."""
    counts = tally(rt)
    call = Call(lambda: rt.connection.send(lambda adapter: fn(_service(adapter))))
    return retried(rt, call, 0, _nothing, {}, counts)


def submit_flow(rt: Runtime, plan: BatchPlan) -> Steps[BatchInfo]:
    """Send the batch: one attempt (a retry could start, and bill, a second job)."""
    counts = tally(rt)
    items = plan.items
    call = Call(lambda: rt.connection.send(lambda adapter: _service(adapter).submit(items)))
    return retried(rt, call, 0, _nothing, {"max_attempts": 1}, counts)


def _nothing(_: Any) -> None:
    return None


def collect(
    rt: Runtime,
    outcomes: Mapping[str, ChatResult | LLMError],
    plans: Mapping[str, ChatPlan] | None,
) -> dict[str, ChatResult | LLMError]:
    """Each item checked as a chat reply (JSON output against its plan, when the plan is
    known: not for a job reattached by id) and metered once."""
    checked: dict[str, ChatResult | LLMError] = {}
    for custom_id, outcome in outcomes.items():
        plan = None if plans is None else plans.get(custom_id)
        model = plan.request.model if plan is not None else None
        if isinstance(outcome, ChatResult):
            usage = outcome.usage
            model = outcome.model or model
            try:
                outcome = _finish(rt, plan, outcome)
            except LLMOutputError as exc:
                outcome = exc
        else:
            rt.connection.scrub(outcome)  # a value, not raised: the guard never saw it
            usage = {}
        rt.meter.record(
            batch_item_record(
                rt.profile, model, usage, None if isinstance(outcome, ChatResult) else outcome
            )
        )
        checked[custom_id] = outcome
    return checked


def _finish(rt: Runtime, plan: ChatPlan | None, result: ChatResult) -> ChatResult:
    if plan is None:
        return result.replace(profile=rt.profile.name)
    return rt.finish(plan, result)
