"""The Chat Completions family on the official `openai` SDK: OpenRouter, LM Studio, Ollama.

One adapter class; each provider is a subclass that only sets data: its `Dialect` (wire
quirks: max-tokens field, how reasoning_effort is sent, roles, stream usage, image URLs)
and the profile extras that become headers (OpenRouter's attribution). The wire itself is
in `chat_completions` (pure functions); `CompletionsChat` only sends, and is reused by
Azure's classic deployment path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...config.settings import Profile
from ...contract.request import ChatRequest, EmbedRequest, ImageRequest
from ...contract.results import (
    ChatResult,
    EmbeddingResult,
    ImageGenerationResult,
    ModelInfo,
    TokenCount,
)
from ...errors import LLMUnsupportedFeatureError
from ...streams.events import StreamEvent
from ..base import Feature, RawAuth
from ..registry import Provider
from ..shared import catalog
from ..shared.sdk import closing_stream
from . import sdk as openai_sdk
from .chat_completions import (
    OPENAI_EFFORTS,
    Dialect,
    build_params,
    parse_response,
    parse_stream,
    rejects_stream_options,
    without_stream_options,
)

if TYPE_CHECKING:
    import openai

__all__ = [
    "ChatCompletionsAdapter",
    "CompletionsChat",
    "LMStudioAdapter",
    "OllamaAdapter",
    "OpenRouterAdapter",
]

# Ollama's /v1 takes low / medium / high, and "none" to switch thinking off.
OLLAMA_EFFORTS: Mapping[str, str] = {
    "none": "none",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}


class CompletionsChat:
    """Sends chat and streaming calls to `/chat/completions` on one SDK client."""

    def __init__(self, client: openai.OpenAI, dialect: Dialect, provider: str) -> None:
        self.client = client
        self.dialect = dialect
        self.provider = provider

    def chat(self, request: ChatRequest) -> ChatResult:
        params = build_params(request, self.dialect, self.provider)
        return parse_response(self.client.chat.completions.create(**params), self.provider)

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        chunks = self._open(build_params(request, self.dialect, self.provider, stream=True))
        yield from closing_stream(chunks, parse_stream(chunks), self.provider)

    def _open(self, params: dict[str, Any]) -> Any:
        try:
            return self.client.chat.completions.create(**params)
        except Exception as exc:
            if "stream_options" not in params or not rejects_stream_options(exc):
                raise
        # A protocol fallback, not a retry: this server rejects stream_options (no usage then).
        return self.client.chat.completions.create(**without_stream_options(params))


class ChatCompletionsAdapter:
    """An OpenAI-compatible server: chat, streaming, tools, JSON schema, embeddings."""

    provider: ClassVar[str]
    batches: None = None  # no batch API: the bulk runner serves these servers
    dialect: ClassVar[Dialect] = Dialect()
    # Profile extras sent as headers on every request: extras key -> header name.
    header_extras: ClassVar[Mapping[str, str]] = {}

    def __init__(self, profile: Profile) -> None:
        headers = {
            h: str(profile.extras[k])
            for k, h in self.header_extras.items()
            if profile.extras.get(k)
        }
        self.profile = profile.with_changes(headers={**headers, **profile.headers})
        self.api_key = profile.api_key
        self.local_url = profile.base_url if profile.spec.local else None
        self.client = openai_sdk.make_client(self.profile)
        self.completions = CompletionsChat(self.client, self.dialect, self.provider)

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.completions.chat(request)

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        return self.completions.stream(request)

    def embed(self, request: EmbedRequest) -> EmbeddingResult:
        return openai_sdk.embed(self.client, request, self.provider)

    def generate_image(self, request: ImageRequest) -> ImageGenerationResult:
        raise LLMUnsupportedFeatureError(
            self.provider, request.model, Feature.IMAGE_GENERATION.value
        )

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        # Chat Completions has no counting endpoint: our estimate, flagged inexact.
        return catalog.estimate(request)

    def list_models(self) -> list[ModelInfo]:
        return openai_sdk.list_models(self.client, self.provider)

    def raw_auth(self) -> RawAuth:
        return openai_sdk.bearer_auth(self.profile)

    def map_error(self, exc: BaseException) -> BaseException:
        return openai_sdk.map_error(exc, self.provider, local_url=self.local_url)

    def close(self) -> None:
        self.client.close()


class OpenRouterAdapter(ChatCompletionsAdapter):
    """OpenRouter: `reasoning: {"effort"}`; attribution headers from the profile's extras."""

    provider = Provider.OPENROUTER.value
    dialect = Dialect(
        effort_param="reasoning",
        efforts=OPENAI_EFFORTS,
        media=True,
        file_urls=True,
        cache_markers=True,
        web_plugin=True,
    )
    header_extras = {"http_referer": "HTTP-Referer", "x_title": "X-Title"}


class LMStudioAdapter(ChatCompletionsAdapter):
    """LM Studio: documents no reasoning_effort on /v1/chat/completions (only /v1/responses)."""

    provider = Provider.LMSTUDIO.value
    dialect = Dialect()


class OllamaAdapter(ChatCompletionsAdapter):
    """Ollama: `reasoning_effort` low/medium/high/none; images only as data: URLs."""

    provider = Provider.OLLAMA.value
    dialect = Dialect(effort_param="reasoning_effort", efforts=OLLAMA_EFFORTS, remote_images=False)
