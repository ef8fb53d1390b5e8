"""Gemini beyond chat: fetching http(s) images for inline input, embeddings, image generation.

- Image URLs: the Gemini API reads images by URI only from its own Files API, so any other
  http(s) image is downloaded here (capped at `MAX_IMAGE_BYTES`, `image/*` only, with a
  timeout) and sent inline. A failed download is an `LLMInputError` before any model call.
- Embeddings: one `Content` per text. The SDK merges a plain list of strings into ONE content
  for multimodal embedding models (one vector for all texts), so strings are never passed bare.
- Images: Gemini image models (`gemini-*-image*`) through `generate_content` with
  `response_modalities=["IMAGE"]`; input images go inline with the prompt (edits). Imagen
  (`imagen-*`) through `:predict` on the SDK's own HTTP client: google-genai 3.x sends
  `generate_images` only in Vertex mode, while the Gemini API still serves `:predict`. Imagen
  edits are Vertex-only: `LLMUnsupportedFeatureError` (the registry says so before sending).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2
from google import genai
from google.genai import types

from ..errors import LLMBadRequestError, LLMInputError, LLMServerError, LLMUnsupportedFeatureError
from ..messages import ImagePart, Message
from ..request import EmbedRequest, ImageRequest
from ..results import (
    EmbeddingResult,
    GeneratedImage,
    ImageGenerationResult,
    Usage,
    add_usage,
    make_usage,
)
from .google_reply import parse_usage
from .google_request import FILES_API_PREFIX, PROVIDER, FetchedImage, http_options

__all__ = ["MAX_IMAGE_BYTES", "ImageFetcher", "embed", "generate_image", "is_imagen"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the Gemini API's limit for a whole inline request
FETCH_TIMEOUT_S = 30.0

# Aspect ratios the Gemini image and Imagen models take; "WxH" sizes must reduce to one.
ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
IMAGE_SIZES = ("1K", "2K", "4K")
# `quality` -> image_size (Gemini has no quality knob; resolution is the nearest thing).
QUALITY_SIZES: dict[str, str | None] = {
    "auto": None,
    "low": "1K",
    "medium": "1K",
    "standard": "1K",
    "high": "2K",
    "hd": "2K",
}


# -- image input -------------------------------------------------------------------------------


def _shown(url: str) -> str:
    """A URL for messages: no query or fragment (signed URLs carry tokens there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:120]


class ImageFetcher:
    """Downloads image URLs for inline input; one HTTP client, reused."""

    def __init__(self, max_bytes: int = MAX_IMAGE_BYTES, timeout_s: float = FETCH_TIMEOUT_S):
        self.max_bytes = max_bytes
        self.client = httpx2.Client(follow_redirects=True, timeout=timeout_s)

    def fetch_all(self, messages: Iterable[Message]) -> dict[str, FetchedImage]:
        """Every http(s) image of the messages (Files API URIs excepted), by URL."""
        fetched: dict[str, FetchedImage] = {}
        for message in messages:
            for part in message.parts:
                if not isinstance(part, ImagePart) or part.is_data_url:
                    continue
                if part.url.startswith(FILES_API_PREFIX) or part.url in fetched:
                    continue
                fetched[part.url] = self.fetch(part.url)
        return fetched

    def fetch(self, url: str) -> FetchedImage:
        where = _shown(url)
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise LLMInputError(
                        f"could not fetch the image at {where}: HTTP {response.status_code}",
                        provider=PROVIDER,
                    )
                media = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if not media.startswith("image/"):
                    raise LLMInputError(
                        f"the URL {where} is not an image (content type {media or 'missing'!r})",
                        provider=PROVIDER,
                    )
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise self._too_large(where)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > self.max_bytes:
                        raise self._too_large(where)
        except httpx2.HTTPError as exc:
            raise LLMInputError(
                f"could not fetch the image at {where}: {type(exc).__name__}", provider=PROVIDER
            ) from None
        return FetchedImage(media, bytes(data))

    def _too_large(self, where: str) -> LLMInputError:
        limit = self.max_bytes // (1024 * 1024)
        return LLMInputError(
            f"the image at {where} is larger than {limit} MB; resize it or upload it through "
            "the Gemini Files API and pass that URI",
            provider=PROVIDER,
        )

    def close(self) -> None:
        self.client.close()


# -- embeddings --------------------------------------------------------------------------------


def embed(client: genai.Client, request: EmbedRequest) -> EmbeddingResult:
    """`:batchEmbedContents` for one batch (the SDK uses it for any list); order kept."""
    contents: Any = [types.Content(parts=[types.Part(text=text)]) for text in request.texts]
    config = types.EmbedContentConfig(
        output_dimensionality=request.dimensions, http_options=http_options(request.timeout)
    )
    reply = client.models.embed_content(model=request.model, contents=contents, config=config)
    vectors = [list(e.values or []) for e in reply.embeddings or []]
    if len(vectors) != len(request.texts):
        raise LLMServerError(
            f"google returned {len(vectors)} embeddings for {len(request.texts)} texts",
            provider=PROVIDER,
        )
    meta = reply.usage_metadata
    usage = make_usage(getattr(meta, "prompt_token_count", None), 0)
    return EmbeddingResult(vectors, usage, request.model)


# -- image generation --------------------------------------------------------------------------


def is_imagen(model: str) -> bool:
    return model.rsplit("/", 1)[-1].lower().startswith("imagen")


def image_options(size: str | None, quality: str | None) -> tuple[str | None, str | None]:
    """(aspect_ratio, image_size) from `size` ("16:9", "1024x1024" or "2K") and `quality`."""
    aspect: str | None = None
    image_size: str | None = None
    if quality is not None:
        if quality.lower() not in QUALITY_SIZES:
            raise LLMInputError(
                f"quality must be one of {', '.join(QUALITY_SIZES)} for google, got {quality!r}"
            )
        image_size = QUALITY_SIZES[quality.lower()]
    if size is None:
        return aspect, image_size
    text = size.strip()
    if text.upper() in IMAGE_SIZES:
        return aspect, text.upper()
    if "x" in text.lower():
        width, _, height = text.lower().partition("x")
        if width.isdigit() and height.isdigit() and int(width) and int(height):
            w, h = int(width), int(height)
            text = f"{w // math.gcd(w, h)}:{h // math.gcd(w, h)}"
    if text not in ASPECT_RATIOS:
        raise LLMInputError(
            f"size {size!r} is not an aspect ratio google takes; use one of "
            f"{', '.join(sorted(ASPECT_RATIOS))}, a WxH that reduces to one, or 1K / 2K / 4K"
        )
    return text, image_size


def _image(data: bytes | str | None, media: str | None) -> GeneratedImage | None:
    if not data:
        return None
    b64 = data if isinstance(data, str) else base64.b64encode(data).decode()
    return GeneratedImage(b64_json=b64, media_type=media or "image/png")


def _gemini_image(client: genai.Client, request: ImageRequest) -> ImageGenerationResult:
    aspect, size = image_options(request.size, request.quality)
    parts = [types.Part(text=request.prompt)]
    parts.extend(
        types.Part(inline_data=types.Blob(mime_type=img.media_type, data=img.data))
        for img in request.input_images
    )
    config = types.GenerateContentConfig(
        response_modalities=["IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=aspect, image_size=size)
        if aspect or size
        else None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        automatic_continuation=False,
        http_options=http_options(request.timeout, request.extra),
    )
    images: list[GeneratedImage] = []
    usage: Usage = {}
    replies: list[Any] = []
    # Gemini image models make one image per call: ask n times.
    for _ in range(request.n):
        reply = client.models.generate_content(
            model=request.model, contents=[types.Content(role="user", parts=parts)], config=config
        )
        replies.append(reply)
        usage = add_usage(usage, parse_usage(reply.usage_metadata))
        content = reply.candidates[0].content if reply.candidates else None
        for part in (content.parts if content is not None else None) or []:
            blob = part.inline_data
            if blob is not None and (blob.mime_type or "").startswith("image/"):
                image = _image(blob.data, blob.mime_type)
                if image is not None:
                    images.append(image)
    if not images:
        raise _no_images(replies[-1])
    return ImageGenerationResult(images, usage, request.model, replies)


def _no_images(reply: Any) -> LLMBadRequestError:
    candidates = reply.candidates or []
    reason = candidates[0].finish_reason if candidates else None
    blocked = getattr(reply.prompt_feedback, "block_reason", None)
    why = getattr(reason or blocked, "value", reason or blocked) or "no reason given"
    return LLMBadRequestError(
        f"google answered without an image (finish reason: {why})", provider=PROVIDER
    )


def _imagen(client: genai.Client, request: ImageRequest) -> ImageGenerationResult:
    if request.input_images:
        raise LLMUnsupportedFeatureError(
            PROVIDER,
            request.model,
            "image editing",
            "Imagen edits exist only on Vertex AI; use a Gemini image model such as "
            "gemini-2.5-flash-image for edits.",
        )
    aspect, size = image_options(request.size, request.quality)
    parameters: dict[str, Any] = {"sampleCount": request.n}
    if aspect:
        parameters["aspectRatio"] = aspect
    if size:
        parameters["sampleImageSize"] = size
    parameters.update(request.extra)
    body: dict[str, object] = {"instances": [{"prompt": request.prompt}], "parameters": parameters}
    path = request.model if "/" in request.model else f"models/{request.model}"
    # The SDK's HTTP client: same key header, base URL, API version, timeout and errors.
    reply = client.models._api_client.request(
        "post", f"{path}:predict", body, http_options(request.timeout)
    )
    payload: Mapping[str, Any] = json.loads(reply.body) if reply.body else {}
    predictions = payload.get("predictions") or []
    images = [
        image
        for p in predictions
        if (image := _image(p.get("bytesBase64Encoded"), p.get("mimeType"))) is not None
    ]
    if not images:
        reasons = [p["raiFilteredReason"] for p in predictions if p.get("raiFilteredReason")]
        raise LLMBadRequestError(
            "google returned no image: " + ("; ".join(reasons) or "empty prediction list"),
            provider=PROVIDER,
        )
    return ImageGenerationResult(images, {}, request.model, payload)


def generate_image(client: genai.Client, request: ImageRequest) -> ImageGenerationResult:
    """Imagen models through `:predict`, every other model through `generate_content`."""
    if is_imagen(request.model):
        return _imagen(client, request)
    return _gemini_image(client, request)
