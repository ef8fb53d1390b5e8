"""Azure OpenAI through the official `openai` SDK.

Two APIs, chosen by the profile's `api_version`:
- a dated version (default "2024-10-21"): the classic deployment path,
  `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...` with
  `openai.AzureOpenAI`, speaking Chat Completions (the wire in `chat_completions`);
- `api_version: "v1"`: the newer v1 API, `{endpoint}/openai/v1/` with the plain
  `openai.OpenAI` client, speaking the Responses API (the wire in `providers/openai.py`).

The deployment is the profile's `azure_deployment` (or `AZURE_OPENAI_DEPLOYMENT`); a
per-call `model=` other than the profile's names another deployment. Embeddings and images
use their model name (`embed_model`, `image_model`) as the deployment. Auth is the `api-key`
header, or Microsoft Entra ID with `extras: {azure_ad_token: ...}` or a callable
`extras: {azure_ad_token_provider: fn}` (which then wins over a key).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...config.resolve import first_set
from ...config.settings import Profile
from ...contract.request import ChatRequest, EmbedRequest, ImageRequest
from ...contract.results import (
    ChatResult,
    EmbeddingResult,
    ImageGenerationResult,
    ModelInfo,
    TokenCount,
)
from ...errors import LLMConfigError, LLMUnsupportedFeatureError
from ...streams.events import StreamEvent
from ..base import Feature, RawAuth
from ..registry import Provider, spec_for
from ..shared import catalog
from ..shared.sdk import stream_events
from . import batches, chat_completions, responses_reply
from . import responses as responses_wire
from . import sdk as openai_sdk
from .chat_completions import OPENAI_EFFORTS, OPENAI_ROLES, Dialect
from .compatible import CompletionsChat

if TYPE_CHECKING:
    import openai

__all__ = ["AzureAdapter", "AzureTarget", "azure_target"]

PROVIDER = Provider.AZURE.value
DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version with stream usage
V1 = "v1"  # api_version value that selects the v1 API (Responses)

# Azure's Chat Completions: max_completion_tokens (all current models take it), the
# top-level reasoning_effort, and the developer role (o-series / gpt-5 deployments).
AZURE_DIALECT = Dialect(
    max_tokens_field="max_completion_tokens",
    effort_param="reasoning_effort",
    efforts=OPENAI_EFFORTS,
    roles=OPENAI_ROLES,
    media=True,
)

TokenProvider = Callable[[], str]


@dataclass(frozen=True)
class AzureTarget:
    """Where requests go: the resource endpoint, API versions and the chat deployment."""

    endpoint: str
    api_version: str
    image_api_version: str  # `extras.azure_api_version` overrides it for image calls
    deployment: str | None

    @property
    def v1(self) -> bool:
        return self.api_version.lower() == V1


def _endpoint(base_url: str) -> str:
    """The resource endpoint, also when the profile gives `.../openai` or `.../openai/v1`."""
    url = base_url.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def azure_target(profile: Profile, environ: Mapping[str, str] | None = None) -> AzureTarget:
    """The endpoint, versions and deployment of a profile whose base URL is resolved."""
    env = os.environ if environ is None else environ
    spec = spec_for(PROVIDER)
    override = profile.extras.get("azure_api_version")
    from_env = first_set(spec.api_version_env, env)
    version = profile.api_version or override or from_env or DEFAULT_API_VERSION
    return AzureTarget(
        endpoint=_endpoint(profile.base_url or ""),
        api_version=str(version),
        image_api_version=str(override or version),
        deployment=profile.azure_deployment or first_set(spec.deployment_env, env),
    )


def _credential(profile: Profile) -> tuple[str, str | TokenProvider]:
    """("key" | "token" | "token_provider", value); Entra ID wins when configured."""
    provider = profile.extras.get("azure_ad_token_provider")
    if provider is not None:
        if not callable(provider):
            raise LLMConfigError(
                f"profile {profile.name!r}: extras.azure_ad_token_provider must be a callable "
                "returning a token (pass it in a mapping or at runtime, not in YAML)"
            )
        return "token_provider", provider
    token = profile.extras.get("azure_ad_token")
    if token:
        return "token", str(token)
    if profile.api_key:
        return "key", profile.api_key
    raise LLMConfigError(
        f"profile {profile.name!r} (provider azure) has no credentials: set "
        "AZURE_OPENAI_API_KEY or the profile's api_key, or for Microsoft Entra ID "
        "extras.azure_ad_token / extras.azure_ad_token_provider"
    )


def _classic_client(profile: Profile, target: AzureTarget) -> openai.OpenAI:
    import openai

    kind, value = _credential(profile)
    auth = {
        "key": "api_key",
        "token": "azure_ad_token",
        "token_provider": "azure_ad_token_provider",
    }
    kwargs = {**openai_sdk.client_kwargs(profile), "api_key": None, auth[kind]: value}
    # No azure_deployment here: the SDK routes each call by its `model` (= deployment).
    client = openai.AzureOpenAI(
        azure_endpoint=target.endpoint, api_version=target.api_version, **kwargs
    )
    return openai_sdk.protected(client, profile)


def _v1_client(profile: Profile, target: AzureTarget) -> openai.OpenAI:
    import openai

    # The v1 API takes the key or an Entra ID token as a bearer token (the plain client).
    _, value = _credential(profile)
    kwargs = {**openai_sdk.client_kwargs(profile), "api_key": value}
    client = openai.OpenAI(base_url=f"{target.endpoint}/openai/v1", **kwargs)
    return openai_sdk.protected(client, profile)


class ResponsesChat:
    """Chat and streaming on the Responses API (Azure's v1 API)."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client

    @staticmethod
    def params(request: ChatRequest) -> dict[str, Any]:
        if request.stop:
            raise LLMUnsupportedFeatureError(
                PROVIDER,
                request.model,
                Feature.STOP.value,
                "The v1 (Responses) API has none; use a dated api_version for them.",
            )
        return responses_wire.build_params(request)

    def chat(self, request: ChatRequest) -> ChatResult:
        reply = self.client.responses.create(**self.params(request))
        return responses_reply.parse_response(reply, PROVIDER)

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        events = self.client.responses.create(**self.params(request), stream=True)
        yield from stream_events(events, responses_reply.StreamParser().feed, PROVIDER)


class AzureAdapter:
    """Azure OpenAI: chat, streaming, tools, JSON schema, embeddings and images."""

    provider = PROVIDER

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.api_key = profile.api_key
        self.target = azure_target(profile)
        self.credential = _credential(profile)
        self.client = (_v1_client if self.target.v1 else _classic_client)(profile, self.target)
        self.chats: CompletionsChat | ResponsesChat = (
            ResponsesChat(self.client)
            if self.target.v1
            else CompletionsChat(self.client, AZURE_DIALECT, PROVIDER)
        )
        self.batches = batches.OpenAIBatches(self.client, self._batch_wire())

    def _batch_wire(self) -> batches.BatchWire:
        """The v1 API batches Responses calls; a dated api_version, Chat Completions. Each
        line names the deployment, as the chat call would."""
        if self.target.v1:

            def responses_body(request: ChatRequest) -> dict[str, Any]:
                return ResponsesChat.params(self._deployed(request))

            return batches.BatchWire(
                "/v1/responses", responses_body, responses_reply.parse_body, PROVIDER
            )

        def completions_body(request: ChatRequest) -> dict[str, Any]:
            return chat_completions.build_params(self._deployed(request), AZURE_DIALECT, PROVIDER)

        def completions_reply(body: Mapping[str, Any]) -> ChatResult:
            return chat_completions.parse_body(body, PROVIDER)

        return batches.BatchWire("/chat/completions", completions_body, completions_reply, PROVIDER)

    def deployment_for(self, model: str) -> str:
        """The deployment for a chat model: the profile's, unless the call named another."""
        deployment = self.target.deployment
        if deployment and model in (self.profile.model, deployment):
            return deployment
        return model

    def _deployed(self, request: ChatRequest) -> ChatRequest:
        return replace(request, model=self.deployment_for(request.model))

    def chat(self, request: ChatRequest) -> ChatResult:
        return self.chats.chat(self._deployed(request))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        return self.chats.stream(self._deployed(request))

    def embed(self, request: EmbedRequest) -> EmbeddingResult:
        return openai_sdk.embed(self.client, request, PROVIDER)

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        if not self.target.v1:
            return catalog.estimate(request)  # the dated (classic) API has no counting endpoint
        return responses_wire.count_tokens(self.client, self._deployed(request), PROVIDER)

    def list_models(self) -> list[ModelInfo]:
        return openai_sdk.list_models(self.client, PROVIDER)

    def generate_image(self, request: ImageRequest) -> ImageGenerationResult:
        query = None if self.target.v1 else {"api-version": self.target.image_api_version}
        return openai_sdk.generate_image(self.client, request, query=query, provider=PROVIDER)

    def raw_auth(self) -> RawAuth:
        kind, value = self.credential
        headers = dict(self.profile.headers)
        if kind == "key":
            headers["api-key"] = str(value)
        else:
            token = value() if callable(value) else value
            headers["Authorization"] = f"Bearer {token}"
        if self.target.v1:
            return RawAuth(f"{self.target.endpoint}/openai/v1", headers, {})
        return RawAuth(
            f"{self.target.endpoint}/openai", headers, {"api-version": self.target.api_version}
        )

    def map_error(self, exc: BaseException) -> BaseException:
        return openai_sdk.map_error(exc, PROVIDER)

    def close(self) -> None:
        self.client.close()
