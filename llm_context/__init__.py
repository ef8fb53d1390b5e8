"""llm_context: one sync-first API for language models across seven providers.

from llm_context import context
text, usage = context.llm().chat_sync([{"role": "user", "content": "Hello"}])
"""

from .client import LLMClient
from .context import LLMContext, context
from .errors import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMInputError,
    LLMOutputError,
    LLMProviderError,
    LLMRateLimitError,
    LLMServerError,
    LLMStreamError,
    LLMTimeoutError,
    LLMUnsupportedFeatureError,
)
from .providers.base import Feature
from .providers.registry import Provider
from .results import ChatResult, EmbeddingResult, GeneratedImage, ImageGenerationResult, Usage
from .settings import Profile
from .stream import AsyncChatStream, ChatStream
from .tools import ToolCall

__version__ = "0.1.0"

__all__ = [
    "AsyncChatStream",
    "ChatResult",
    "ChatStream",
    "EmbeddingResult",
    "Feature",
    "GeneratedImage",
    "ImageGenerationResult",
    "LLMAuthenticationError",
    "LLMBadRequestError",
    "LLMClient",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMContext",
    "LLMError",
    "LLMInputError",
    "LLMOutputError",
    "LLMProviderError",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMStreamError",
    "LLMTimeoutError",
    "LLMUnsupportedFeatureError",
    "Profile",
    "Provider",
    "ToolCall",
    "Usage",
    "__version__",
    "context",
]
