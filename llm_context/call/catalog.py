"""Token counting and model listing as step flows, beside `flows` (which runs the rest).

Both are metered (operations "count_tokens" and "models", with no token usage: neither is
billed by tokens) and retried like any request. They take a rate-limit slot but no tokens:
`tpm` budgets what a model reads and writes, and a count or a list spends none of it.
A provider without a counting endpoint is answered by our estimate at once, nothing sent.
No fallbacks: a count belongs to one model, and a list to one provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..contract.request import ChatRequest
from ..contract.results import ModelInfo, TokenCount
from ..metering import metered
from ..providers.base import Feature
from ..providers.shared.catalog import estimate
from .flows import retried, tally
from .plan import ChatPlan
from .retry import check_retry_override
from .runtime import Runtime
from .steps import Call, Steps

__all__ = ["count_tokens_flow", "list_models_flow"]


def _nothing(_: Any) -> None:
    return None


def count_tokens_flow(rt: Runtime, plan: ChatPlan) -> Steps[TokenCount]:
    """The input tokens of a planned chat call: the provider's count, or our estimate."""
    request = plan.request
    if Feature.TOKEN_COUNT not in rt.spec.features_for(request.model):
        return _estimated(request)
    counts = tally(rt)
    call = Call(lambda: rt.connection.send(lambda adapter: adapter.count_tokens(request)))
    flow = retried(rt, call, 0, _nothing, plan.retry, counts)
    return metered(rt.meter, rt.clock, rt.profile, "count_tokens", request.model, counts, flow)


def _estimated(request: ChatRequest) -> Steps[TokenCount]:
    if False:  # pragma: no cover - makes this a generator: a flow with no steps
        yield
    return estimate(request)


def list_models_flow(rt: Runtime, retry: Mapping[str, Any] | None = None) -> Steps[list[ModelInfo]]:
    """The models the profile's provider lists."""
    override = check_retry_override(retry)
    rt.require(Feature.MODEL_LIST, None)
    counts = tally(rt)
    call = Call(lambda: rt.connection.send(lambda adapter: adapter.list_models()))
    flow = retried(rt, call, 0, _nothing, override, counts)
    return metered(rt.meter, rt.clock, rt.profile, "models", None, counts, flow)
