"""The Adapter protocol every provider implements, and the capability vocabulary.

An adapter is blocking and stateless apart from its SDK client: pure functions build the
SDK request and parse replies and stream events; `chat`, `stream`, `embed` and
`generate_image` are the only methods that send. Adapters never retry, sleep or meter:
the client does that once for all of them. SDK failures are turned into our errors by
`map_error` (one function per SDK family, built on `errors.error_for_status`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: `Feature` and the registry stay light to import
    from ..config.profiles import Profile
    from ..contract.batches import BatchInfo, BatchItem
    from ..contract.request import ChatRequest, EmbedRequest, ImageRequest
    from ..contract.results import (
        ChatResult,
        EmbeddingResult,
        ImageGenerationResult,
        ModelInfo,
        TokenCount,
    )
    from ..errors import LLMError
    from ..streams.events import StreamEvent

__all__ = ["Adapter", "BatchAPI", "Feature", "RawAuth"]


class Feature(str, enum.Enum):
    """What a provider can do; adapters declare theirs as a frozenset of these."""

    CHAT = "chat"
    STREAM = "streaming"
    TOOLS = "tool calling"
    JSON_OBJECT = "JSON object output"
    JSON_SCHEMA = "JSON schema output"
    VISION = "image input"
    DOCUMENTS = "document input"
    AUDIO = "audio input"
    REASONING = "reasoning effort"
    WEB_SEARCH = "built-in web search"
    DOCUMENT_CITATIONS = "document citations"
    SAMPLING = "temperature / top_p"
    STOP = "stop sequences"
    EMBED = "embeddings"
    IMAGE_GENERATION = "image generation"
    IMAGE_EDIT = "image editing"
    RAW = "raw HTTP"
    CACHE_MARKERS = "prompt cache markers"
    TOKEN_COUNT = "exact token counts"
    MODEL_LIST = "model list"
    BATCH = "batch API"


@dataclass(frozen=True)
class RawAuth:
    """What `raw()` needs to talk to the provider directly: base URL, headers, query."""

    base_url: str
    headers: Mapping[str, str]
    params: Mapping[str, str]


class BatchAPI(Protocol):
    """A provider's batch service, on the adapter's SDK client (`Adapter.batches`)."""

    def submit(self, items: Sequence[BatchItem]) -> BatchInfo:
        """Send every item and start the job."""
        ...

    def read(self, batch_id: str) -> BatchInfo:
        """The job's state now."""
        ...

    def cancel(self, batch_id: str) -> BatchInfo:
        """Ask the provider to stop the job; its state after asking."""
        ...

    def results(
        self, info: BatchInfo, order: Sequence[str] | None
    ) -> dict[str, ChatResult | LLMError]:
        """Each item's outcome, in `order` (the custom ids as sent) when it is known."""
        ...


class Adapter(Protocol):
    """One provider behind its official SDK. Built once per profile and reused."""

    provider: str
    # The provider's batch service; None where it has none (`Feature.BATCH` says the same).
    batches: BatchAPI | None

    def __init__(self, profile: Profile) -> None: ...

    def chat(self, request: ChatRequest) -> ChatResult:
        """Send one chat request and return the parsed result."""
        ...

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """Send one streaming chat request; yield parsed events, ending with `StreamEnd`.
        A generator: nothing is sent before the first `next`, so a stream closed unread
        sends nothing and holds no connection."""
        ...

    def embed(self, request: EmbedRequest) -> EmbeddingResult:
        """Embed one batch (at most `max_embed_batch` texts)."""
        ...

    def generate_image(self, request: ImageRequest) -> ImageGenerationResult:
        """Generate or edit images."""
        ...

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        """The input tokens of a chat request, counted by the provider where it can."""
        ...

    def list_models(self) -> list[ModelInfo]:
        """The models the provider lists (pages followed, bounded)."""
        ...

    def raw_auth(self) -> RawAuth:
        """Base URL and auth headers for raw HTTP."""
        ...

    def map_error(self, exc: BaseException) -> BaseException:
        """Our error for an SDK/transport exception (the same object if it is not one)."""
        ...

    def close(self) -> None:
        """Release the SDK client's connections."""
        ...
