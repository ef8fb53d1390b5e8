"""Anthropic through the Messages API (official `anthropic` SDK, API version 2026-10-21).

`anthropic_request.build_params` builds the request, `anthropic_reply` parses the reply and
each stream event; the adapter's methods only send. Anthropic has no embeddings and no image
generation: the registry omits both, and the methods raise if called directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import anthropic

from ... import log_redaction
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
from ..shared import catalog, redirects
from ..shared.sdk import map_sdk_error, sdk_timeout, stream_events
from .batches import AnthropicBatches
from .reply import StreamParser, parse_response, stream_error
from .request import build_params


class AnthropicAdapter:
    """Anthropic: chat and native streaming on the Messages API."""

    provider = Provider.ANTHROPIC.value

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.api_key = profile.api_key
        self.client = anthropic.Anthropic(
            api_key=profile.api_key,
            base_url=profile.base_url,
            timeout=sdk_timeout(profile.timeout),
            max_retries=0,  # one retry policy, ours
            default_headers=dict(profile.headers) or None,
            # The SDK's own HTTP client, refusing redirects to another origin.
            http_client=redirects.http_client(anthropic.DefaultHttpxClient, self.provider),
        )
        log_redaction.protect(self.client, log_redaction.profile_secrets(profile))
        self.batches = AnthropicBatches(self.client)

    def chat(self, request: ChatRequest) -> ChatResult:
        return parse_response(self.client.messages.create(**build_params(request)))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        events = self.client.messages.create(**build_params(request), stream=True)
        yield from stream_events(events, StreamParser().feed, self.provider)

    def embed(self, request: EmbedRequest) -> EmbeddingResult:
        raise LLMUnsupportedFeatureError(self.provider, request.model, Feature.EMBED.value)

    def generate_image(self, request: ImageRequest) -> ImageGenerationResult:
        feature = Feature.IMAGE_EDIT if request.input_images else Feature.IMAGE_GENERATION
        raise LLMUnsupportedFeatureError(self.provider, request.model, feature.value)

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        params = catalog.anthropic_count_params(build_params(request))
        reply = self.client.messages.count_tokens(**params)
        return catalog.exact_count(reply, "input_tokens", self.provider)

    def list_models(self) -> list[ModelInfo]:
        # The SDK's page iterator follows `has_more` / `last_id`; `bounded` caps it.
        pages = self.client.models.list(limit=1000)
        return catalog.parse_models(pages, catalog.anthropic_model, self.provider)

    def raw_auth(self) -> RawAuth:
        """`x-api-key` (which the API prefers over the SDK's bearer header) and the API
        version the SDK speaks, so raw calls see the same API as chat."""
        version = cast("str", self.client.default_headers["anthropic-version"])
        headers = {**self.profile.headers, "anthropic-version": version}
        if self.profile.api_key:
            headers["x-api-key"] = self.profile.api_key
        # The SDK's base URL has no version (it calls /v1/messages): raw paths start at /v1.
        return RawAuth(str(self.client.base_url).rstrip("/") + "/v1", headers, {})

    def map_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, anthropic.APIStatusError) and exc.status_code < 400:
            return stream_error(exc)  # an `error` event inside a 200 stream
        return map_sdk_error(exc, self.provider)

    def close(self) -> None:
        self.client.close()
