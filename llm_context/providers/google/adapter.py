"""Google Gemini through the official `google-genai` SDK (Gemini Developer API, v1beta).

The request is built in `google_request`, replies and stream chunks are parsed in
`google_reply`, http(s) image URLs are downloaded (once, cached, public addresses only unless
`extras.allow_private_image_urls` opts in) by `google_fetch`, embeddings and image generation
live in `google_media`; the adapter's methods only send.

Client facts (google-genai 3.x):
- `vertexai=False` and an explicit debug config: the SDK would otherwise switch to Vertex AI /
  ADC or to record-replay mode from environment variables (GOOGLE_GENAI_USE_VERTEXAI, ...).
- The key travels in the `x-goog-api-key` header (never `?key=` in a URL, where it would end
  up in exception texts and logs). The API version is pinned to v1beta (the SDK defaults to
  v1, which lacks thinking and JSON-schema fields), overriding GOOGLE_GENAI_API_VERSION.
- `HttpRetryOptions(attempts=1)`: the SDK makes one attempt; our retry policy does the rest.
- `HttpOptions.timeout` is in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator

from google import genai
from google.genai import types
from google.genai.client import DebugConfig

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
from ...streams.events import StreamEvent
from ..base import RawAuth
from ..registry import Provider
from ..shared import catalog, redirects
from ..shared.sdk import map_sdk_error, stream_events
from . import fetch as google_fetch
from . import media as google_media
from .batches import GoogleBatches
from .reply import StreamParser, parse_response
from .request import build_config, build_contents

API_VERSION = "v1beta"


def base_url(profile: Profile) -> str | None:
    """The profile's base URL without a trailing API version (the SDK appends it)."""
    url = (profile.base_url or "").rstrip("/")
    return url.removesuffix(f"/{API_VERSION}") or None


def make_client(profile: Profile) -> genai.Client:
    """A `genai.Client` on the Gemini Developer API for a resolved profile."""
    timeout = None if profile.timeout is None else max(1, round(profile.timeout * 1000))
    options = types.HttpOptions(
        base_url=base_url(profile),
        api_version=API_VERSION,
        timeout=timeout,
        headers=dict(profile.headers) or None,
        retry_options=types.HttpRetryOptions(attempts=1),
        # A redirect to another origin is refused: httpx would carry x-goog-api-key there.
        client_args={"event_hooks": redirects.httpx_hooks(profile.provider.value)},
    )
    client = genai.Client(
        vertexai=False,
        api_key=profile.api_key,
        http_options=options,
        debug_config=DebugConfig(client_mode=None, replays_directory=None, replay_id=None),
    )
    log_redaction.protect(client, log_redaction.profile_secrets(profile))
    return client


class GoogleAdapter:
    """Gemini: chat and streaming on generateContent, embeddings, Imagen and Gemini images."""

    provider = Provider.GOOGLE.value

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.api_key = profile.api_key
        self.client = make_client(profile)
        # Per adapter: its cache makes retries and later turns reuse downloaded images.
        self.fetcher = google_fetch.ImageFetcher(
            google_fetch.address_policy(profile.name, profile.extras)
        )
        self.batches = GoogleBatches(self.client, self._prepare)

    def _prepare(
        self, request: ChatRequest
    ) -> tuple[list[types.ContentDict], types.GenerateContentConfig]:
        contents, system = build_contents(request, self.fetcher.fetch_all(request.messages))
        return contents, build_config(request, system)

    def chat(self, request: ChatRequest) -> ChatResult:
        contents, config = self._prepare(request)
        reply = self.client.models.generate_content(
            model=request.model, contents=contents, config=config
        )
        return parse_response(reply)

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        contents, config = self._prepare(request)
        chunks = self.client.models.generate_content_stream(
            model=request.model, contents=contents, config=config
        )
        yield from stream_events(chunks, StreamParser().feed, self.provider)

    def embed(self, request: EmbedRequest) -> EmbeddingResult:
        return google_media.embed(self.client, request)

    def generate_image(self, request: ImageRequest) -> ImageGenerationResult:
        return google_media.generate_image(self.client, request)

    def count_tokens(self, request: ChatRequest) -> TokenCount:
        contents, system = build_contents(request, self.fetcher.fetch_all(request.messages))
        if system is not None:
            # The Developer API's countTokens takes no system_instruction: count it as a turn.
            contents = [types.ContentDict(role="user", parts=system.get("parts")), *contents]
        reply = self.client.models.count_tokens(model=request.model, contents=contents)
        count = catalog.exact_count(reply, "total_tokens", self.provider)
        # Nor does it take tools: with tools, their schema is left out of the count.
        return count if not request.tools else TokenCount(count.input_tokens, False)

    def list_models(self) -> list[ModelInfo]:
        # The SDK's pager fetches the next page as iteration reaches it; `bounded` caps it.
        pager = self.client.models.list(config={"page_size": 1000})
        return catalog.parse_models(pager, catalog.google_model, self.provider)

    def raw_auth(self) -> RawAuth:
        headers = dict(self.profile.headers)
        if self.api_key:
            headers["x-goog-api-key"] = self.api_key
        return RawAuth(f"{base_url(self.profile) or ''}/{API_VERSION}", headers, {})

    def map_error(self, exc: BaseException) -> BaseException:
        return map_sdk_error(exc, self.provider)

    def close(self) -> None:
        self.client.close()
        self.fetcher.close()
