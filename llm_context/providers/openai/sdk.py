"""What every adapter on the official `openai` SDK shares: building the client, embeddings,
image generation and editing. Used by openai, azure, openrouter, lmstudio and ollama."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ... import log_redaction
from ...config.settings import Profile
from ...contract.request import EmbedRequest, ImageRequest
from ...contract.results import (
    EmbeddingResult,
    GeneratedImage,
    ImageGenerationResult,
    ModelInfo,
    make_usage,
)
from ...errors import LLMServerError, error_for_status
from ..base import RawAuth
from ..shared import catalog, redirects
from ..shared import sdk as common
from ..shared.reply_checks import expect, optional_str, reading, required_list, tokens, unreadable
from ..shared.sdk import map_sdk_error, sdk_timeout

if TYPE_CHECKING:
    import openai


def client_kwargs(profile: Profile) -> dict[str, Any]:
    """Constructor arguments shared by `OpenAI` and `AzureOpenAI` clients."""
    import openai

    return {
        "api_key": profile.api_key,
        "timeout": sdk_timeout(profile.timeout),
        "max_retries": 0,  # one retry policy, ours
        "default_headers": dict(profile.headers) or None,
        # The SDK's own HTTP client, refusing redirects to another origin (the key stays home).
        "http_client": redirects.http_client(openai.DefaultHttpxClient, profile.provider.value),
    }


def protected(client: openai.OpenAI, profile: Profile) -> openai.OpenAI:
    """`client`, with the profile's secrets kept out of log records while it lives."""
    log_redaction.protect(client, log_redaction.profile_secrets(profile))
    return client


def make_client(profile: Profile, **extra: Any) -> openai.OpenAI:
    """An `openai.OpenAI` for a profile whose key and base URL are already resolved."""
    import openai

    kwargs = client_kwargs(profile)
    # Local servers need no key, but the SDK insists on one.
    kwargs["api_key"] = kwargs["api_key"] or "not-needed"
    return protected(openai.OpenAI(base_url=profile.base_url, **kwargs, **extra), profile)


def list_models(client: openai.OpenAI, provider: str) -> list[ModelInfo]:
    """`GET /models` (the SDK follows any pages; we stop at `catalog.MAX_MODELS`)."""
    return catalog.parse_models(client.models.list(), catalog.openai_model, provider)


def embed(
    client: openai.OpenAI, request: EmbedRequest, provider: str = "openai"
) -> EmbeddingResult:
    """`POST /embeddings` for one batch; vectors in input order."""
    kwargs: dict[str, Any] = {"model": request.model, "input": list(request.texts)}
    if request.dimensions is not None:
        kwargs["dimensions"] = request.dimensions
    reply = client.embeddings.create(**kwargs, **common.per_call(request.timeout))
    return parse_embeddings(reply, len(request.texts), provider)


def parse_embeddings(reply: Any, count: int, provider: str) -> EmbeddingResult:
    """A `CreateEmbeddingResponse` -> `EmbeddingResult`: one vector per text, in input order;
    anything else (no `data`, a count that does not match) raises `LLMServerError`."""
    from openai.types import CreateEmbeddingResponse

    reply = expect(reply, CreateEmbeddingResponse, provider)
    data = required_list(reply, "data", provider)
    with reading(provider):
        # By `index` when every item has one (the API's promise), else as they came.
        indexed = all(type(getattr(item, "index", None)) is int for item in data)
        items = sorted(data, key=lambda item: item.index) if indexed else data
        vectors = [list(item.embedding) for item in items]
    if len(vectors) != count:
        raise unreadable(provider, f"{len(vectors)} embeddings for {count} texts")
    usage = make_usage(tokens(getattr(reply, "usage", None), "prompt_tokens"), 0)
    return EmbeddingResult(vectors, usage, optional_str(reply.model))


def generate_image(
    client: openai.OpenAI,
    request: ImageRequest,
    *,
    query: Mapping[str, str] | None = None,
    provider: str = "openai",
) -> ImageGenerationResult:
    """`POST /images/generations`, or `/images/edits` when input images are given.

    `query` adds URL parameters to this call only (Azure: an image-specific api-version).
    """
    kwargs: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": request.n}
    if request.size is not None:
        kwargs["size"] = request.size
    if request.quality is not None:
        kwargs["quality"] = request.quality
    if request.model.startswith("dall-e"):
        kwargs["response_format"] = "b64_json"  # gpt-image models always return base64
    kwargs.update(request.extra)
    options = common.per_call(request.timeout)
    if query:
        options["extra_query"] = dict(query)
    if request.input_images:
        files = [(img.filename, img.data, img.media_type) for img in request.input_images]
        reply = client.images.edit(image=files, **kwargs, **options)
    else:
        reply = client.images.generate(**kwargs, **options)
    return parse_images(reply, request.model, provider)


def parse_images(reply: Any, model: str, provider: str) -> ImageGenerationResult:
    """An `ImagesResponse` -> `ImageGenerationResult`; a reply without images (or an image
    with neither data nor a URL) raises `LLMServerError`: refusals come as HTTP 400."""
    from openai.types import ImagesResponse

    reply = expect(reply, ImagesResponse, provider)
    data = required_list(reply, "data", provider, empty_ok=False)
    media_type = f"image/{optional_str(getattr(reply, 'output_format', None)) or 'png'}"
    images: list[GeneratedImage] = []
    for item in data:
        b64 = optional_str(getattr(item, "b64_json", None))
        url = optional_str(getattr(item, "url", None))
        if b64 is None and url is None:
            raise unreadable(provider, "an image with neither b64_json nor url")
        revised = optional_str(getattr(item, "revised_prompt", None))
        images.append(GeneratedImage(b64, url, media_type, revised))
    u = getattr(reply, "usage", None)
    usage = make_usage(tokens(u, "input_tokens"), tokens(u, "output_tokens")) if u else {}
    return ImageGenerationResult(images, usage, model, reply)


def bearer_auth(profile: Profile) -> RawAuth:
    """Raw HTTP for bearer-key providers."""
    headers = dict(profile.headers)
    if profile.api_key:
        headers["Authorization"] = f"Bearer {profile.api_key}"
    return RawAuth(profile.base_url or "", headers, {})


def map_error(exc: BaseException, provider: str, *, local_url: str | None = None) -> BaseException:
    """`map_sdk_error`, plus the error event a stream carries mid-way.

    The SDK raises a bare `APIError` (no status) for a `{"error": ...}` chunk; OpenRouter
    puts the upstream HTTP status in its `code`.
    """
    import openai

    if type(exc) is openai.APIError:
        body = exc.body if isinstance(exc.body, Mapping) else {}
        code = body.get("code")
        status = code if isinstance(code, int) and code >= 400 else None
        cls = error_for_status(status) if status is not None else LLMServerError
        return cls(
            f"{provider} reported an error mid-stream: {exc.message}",
            provider=provider,
            status_code=status,
        )
    return map_sdk_error(exc, provider, local_url=local_url)
