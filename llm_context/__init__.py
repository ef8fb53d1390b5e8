"""llm_context: one sync-first API for language models across seven providers.

from llm_context import context
text, usage = context.llm().chat_sync([{"role": "user", "content": "Hello"}])

Public names load on first use (PEP 562), so `import llm_context` stays cheap: an app pays
for the client stack when it touches it, and never for a provider SDK it does not call.
"""

from __future__ import annotations

import sys
import types

from ._lazy import lazy_exports

TYPE_CHECKING = False  # what mypy reads as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .batch_job import BatchJob
    from .bulk.runner import BulkRun
    from .client import LLMClient
    from .clock import Clock, FakeClock
    from .config.settings import Profile, TelemetrySettings
    from .context import LLMContext, context
    from .contract.batches import BatchCounts, BatchStatus
    from .contract.citations import Citation
    from .contract.events import (
        ChatEvent,
        CitationAdded,
        Completed,
        PartialObject,
        ReasoningDelta,
        TextDelta,
        ToolCallDelta,
        ToolCallDone,
        ToolCallStarted,
        UsageReported,
    )
    from .contract.parts import audio_part, file_part, image_part
    from .contract.results import (
        ChatResult,
        EmbeddingResult,
        GeneratedImage,
        ImageGenerationResult,
        ModelInfo,
        TokenCount,
        Usage,
    )
    from .contract.tools import ToolCall
    from .errors import (
        LLMAuthenticationError,
        LLMBadRequestError,
        LLMBatchItemError,
        LLMConfigError,
        LLMConnectionError,
        LLMContextLengthError,
        LLMError,
        LLMInputError,
        LLMOutputError,
        LLMProviderError,
        LLMProviderUnavailableError,
        LLMRateLimitBackendError,
        LLMRateLimitError,
        LLMServerError,
        LLMStreamError,
        LLMTimeoutError,
        LLMUnsupportedFeatureError,
    )
    from .function_tools import function_tool
    from .metering import UsageRecord, UsageReport
    from .providers.base import Feature
    from .providers.registry import Provider
    from .streams.handles import AsyncChatStream, ChatStream
    from .tool_loop import ToolLoopLimitError, ToolLoopResult

from .version import __version__  # noqa: E402 (after the type-only imports above)

# Public name -> the submodule defining it (imported on first access).
_LAZY = {
    "ChatEvent": ".contract.events",
    "CitationAdded": ".contract.events",
    "Completed": ".contract.events",
    "PartialObject": ".contract.events",
    "ReasoningDelta": ".contract.events",
    "TextDelta": ".contract.events",
    "ToolCallDelta": ".contract.events",
    "ToolCallDone": ".contract.events",
    "ToolCallStarted": ".contract.events",
    "UsageReported": ".contract.events",
    "Citation": ".contract.citations",
    "BatchCounts": ".contract.batches",
    "BatchJob": ".batch_job",
    "BatchStatus": ".contract.batches",
    "BulkRun": ".bulk.runner",
    "AsyncChatStream": ".streams.handles",
    "ChatResult": ".contract.results",
    "ChatStream": ".streams.handles",
    "Clock": ".clock",
    "EmbeddingResult": ".contract.results",
    "FakeClock": ".clock",
    "Feature": ".providers.base",
    "GeneratedImage": ".contract.results",
    "ImageGenerationResult": ".contract.results",
    "ModelInfo": ".contract.results",
    "TokenCount": ".contract.results",
    "LLMAuthenticationError": ".errors",
    "LLMBadRequestError": ".errors",
    "LLMBatchItemError": ".errors",
    "LLMClient": ".client",
    "LLMConfigError": ".errors",
    "LLMConnectionError": ".errors",
    "LLMContextLengthError": ".errors",
    "LLMContext": ".context",
    "LLMError": ".errors",
    "LLMInputError": ".errors",
    "LLMOutputError": ".errors",
    "LLMProviderError": ".errors",
    "LLMProviderUnavailableError": ".errors",
    "LLMRateLimitBackendError": ".errors",
    "LLMRateLimitError": ".errors",
    "LLMServerError": ".errors",
    "LLMStreamError": ".errors",
    "LLMTimeoutError": ".errors",
    "LLMUnsupportedFeatureError": ".errors",
    "Profile": ".config.settings",
    "TelemetrySettings": ".config.settings",
    "Provider": ".providers.registry",
    "ToolCall": ".contract.tools",
    "ToolLoopLimitError": ".tool_loop",
    "ToolLoopResult": ".tool_loop",
    "Usage": ".contract.results",
    "UsageRecord": ".metering",
    "UsageReport": ".metering",
    "audio_part": ".contract.parts",
    "context": ".context",
    "file_part": ".contract.parts",
    "function_tool": ".function_tools",
    "image_part": ".contract.parts",
}

__all__ = [
    "AsyncChatStream",
    "BatchCounts",
    "BatchJob",
    "BatchStatus",
    "BulkRun",
    "ChatEvent",
    "ChatResult",
    "ChatStream",
    "Citation",
    "CitationAdded",
    "Clock",
    "Completed",
    "EmbeddingResult",
    "FakeClock",
    "Feature",
    "GeneratedImage",
    "ImageGenerationResult",
    "LLMAuthenticationError",
    "LLMBadRequestError",
    "LLMBatchItemError",
    "LLMClient",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMContext",
    "LLMContextLengthError",
    "LLMError",
    "LLMInputError",
    "LLMOutputError",
    "LLMProviderError",
    "LLMProviderUnavailableError",
    "LLMRateLimitBackendError",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMStreamError",
    "LLMTimeoutError",
    "LLMUnsupportedFeatureError",
    "ModelInfo",
    "PartialObject",
    "Profile",
    "Provider",
    "ReasoningDelta",
    "TelemetrySettings",
    "TextDelta",
    "TokenCount",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallDone",
    "ToolCallStarted",
    "ToolLoopLimitError",
    "ToolLoopResult",
    "Usage",
    "UsageRecord",
    "UsageReport",
    "UsageReported",
    "__version__",
    "audio_part",
    "context",
    "file_part",
    "function_tool",
    "image_part",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


class _Package(types.ModuleType):
    """Keeps `llm_context.context` the default `LLMContext`: importing the submodule of the
    same name makes the import system bind the module there, which this setter ignores."""

    @property
    def context(self) -> LLMContext:
        swapped: LLMContext | None = self.__dict__.get("_default_context")
        if swapped is not None:
            return swapped
        from .context import context

        return context

    @context.setter
    def context(self, value: Any) -> None:
        if not isinstance(value, types.ModuleType):
            self.__dict__["_default_context"] = value  # a test or an app swapping it


sys.modules[__name__].__class__ = _Package
