"""Provider batch jobs: what goes in (`BatchItem`), the job's state as one vocabulary for
every provider (`BatchInfo`, `BatchStatus`, `BatchCounts`), and what comes back per item.

Each adapter maps its provider's states onto `BatchStatus` in one table of its own; the
client only ever reads these.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .request import ChatRequest

if TYPE_CHECKING:
    pass

__all__ = [
    "CUSTOM_ID",
    "BatchCounts",
    "BatchInfo",
    "BatchItem",
    "BatchOutcome",
    "BatchStatus",
]

# What every batch API accepts as a request's id (Anthropic's rule is the strictest).
CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BatchStatus(str, enum.Enum):
    """A batch job's state, the same words for every provider."""

    VALIDATING = "validating"  # accepted, not started (OpenAI validating, Gemini pending)
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"  # every item answered, the results being written
    COMPLETED = "completed"  # ended: results for every item (some may be errors)
    FAILED = "failed"  # ended without results (the input was refused)
    EXPIRED = "expired"  # ended by the provider's deadline: unfinished items are errors
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"  # ended by cancel(): unfinished items are errors

    @property
    def ended(self) -> bool:
        return self in _ENDED


_ENDED = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}
)


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch: the caller's id for it and the planned chat request."""

    custom_id: str
    request: ChatRequest


@dataclass(frozen=True)
class BatchCounts:
    """How many items are where. `total` is None when the provider does not say (Gemini,
    before the job ends, for a job reattached by id)."""

    total: int | None = None
    succeeded: int = 0
    failed: int = 0  # errors, expired and cancelled items included
    pending: int | None = None


@dataclass(frozen=True)
class BatchInfo:
    """A batch job as the provider last described it. `raw_status` is the provider's own
    word; `output` holds what the adapter needs to fetch results (file ids, a results URL);
    `error` the provider's reason when the whole job failed."""

    id: str
    status: BatchStatus
    raw_status: str
    counts: BatchCounts
    model: str | None = None
    created_at: float | None = None
    error: str | None = None
    output: Mapping[str, Any] = field(default_factory=dict, hash=False)


BatchOutcome = "ChatResult | LLMError"
"""One item's result: the parsed reply, or the error the provider gave for it."""
