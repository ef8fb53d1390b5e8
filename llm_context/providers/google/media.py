"""Gemini beyond chat: embeddings and image generation (image URLs: `google_fetch`).

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
from collections.abc import Mapping
from typing import Any

from google import genai
from google.genai import types

from ...contract.request import EmbedRequest, ImageRequest
from ...contract.results import (
    EmbeddingResult,
    GeneratedImage,
    ImageGenerationResult,
    Usage,
    add_usage,
    make_usage,
)
from ...errors import LLMBadRequestError, LLMInputError, LLMServerError, LLMUnsupportedFeatureError
from ..shared.reply_checks import described, expect, reading, tokens, unreadable
from .reply import parse_usage
from .request import PROVIDER, http_options

__all__ = ["embed", "generate_image", "is_imagen"]

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


# -- embeddings --------------------------------------------------------------------------------


def embed(client: genai.Client, request: EmbedRequest) -> EmbeddingResult:
    """`:batchEmbedContents` for one batch (the SDK uses it for any list); order kept."""
    contents: list[types.ContentDict] = [{"parts": [{"text": text}]} for text in request.texts]
    config = types.EmbedContentConfig(
        output_dimensionality=request.dimensions, http_options=http_options(request.timeout)
    )
    reply = client.models.embed_content(model=request.model, contents=contents, config=config)
    reply = expect(reply, types.EmbedContentResponse, PROVIDER)
    with reading(PROVIDER):
        vectors = [list(e.values or []) for e in reply.embeddings or []]
    if len(vectors) != len(request.texts):
        raise unreadable(PROVIDER, f"{len(vectors)} embeddings for {len(request.texts)} texts")
    # google-genai 2.x has no `usage_metadata` on embedding replies: no usage then.
    meta = getattr(reply, "usage_metadata", None)
    usage = make_usage(tokens(meta, "prompt_token_count"), 0)
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
    parts: list[types.PartDict] = [{"text": request.prompt}]
    parts.extend(
        {"inline_data": {"mime_type": img.media_type, "data": img.data}}
        for img in request.input_images
    )
    # Plain dicts, validated once into the config (see google_request).
    config = types.GenerateContentConfig.model_validate(
        {
            "response_modalities": ["IMAGE"],
            "image_config": {"aspect_ratio": aspect, "image_size": size}
            if aspect or size
            else None,
            "automatic_function_calling": {"disable": True},
            "automatic_continuation": False,
            "http_options": http_options(request.timeout, request.extra),
        }
    )
    contents: list[types.ContentDict] = [{"role": "user", "parts": parts}]
    images: list[GeneratedImage] = []
    usage: Usage = {}
    replies: list[Any] = []
    # Gemini image models make one image per call: ask n times.
    for _ in range(request.n):
        reply = client.models.generate_content(
            model=request.model, contents=contents, config=config
        )
        reply = expect(reply, types.GenerateContentResponse, PROVIDER)
        replies.append(reply)
        with reading(PROVIDER):
            usage = add_usage(usage, parse_usage(reply.usage_metadata))
            images.extend(_images_of(reply))
    if not images:
        raise _no_images(replies[-1])
    return ImageGenerationResult(images, usage, request.model, replies)


def _images_of(reply: types.GenerateContentResponse) -> list[GeneratedImage]:
    content = reply.candidates[0].content if reply.candidates else None
    images: list[GeneratedImage] = []
    for part in (content.parts if content is not None else None) or []:
        blob = part.inline_data
        if blob is not None and (blob.mime_type or "").startswith("image/"):
            image = _image(blob.data, blob.mime_type)
            if image is not None:
                images.append(image)
    return images


def _no_images(reply: Any) -> LLMBadRequestError | LLMServerError:
    """Why no image came: a refusal (finish or block reason) is the caller's to change; a
    reply with neither candidates nor a block reason is unreadable."""
    blocked = getattr(reply.prompt_feedback, "block_reason", None)
    if not reply.candidates and blocked is None:
        return unreadable(PROVIDER, "the reply has no candidates (and no block reason)")
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
    # The SDK's HTTP client: same key header, base URL, API version, timeout and errors;
    # google-genai has no public call for Imagen's :predict, so we borrow its transport.
    reply = client.models._api_client.request(
        "post", f"{path}:predict", body, http_options(request.timeout)
    )
    with reading(PROVIDER):
        payload = json.loads(reply.body) if reply.body else {}
        if not isinstance(payload, Mapping):
            raise unreadable(PROVIDER, f"expected a JSON object, got {described(payload)}")
        predictions = payload.get("predictions") or []
        images = [
            image
            for p in predictions
            if (image := _image(p.get("bytesBase64Encoded"), p.get("mimeType"))) is not None
        ]
        reasons = [str(p["raiFilteredReason"]) for p in predictions if p.get("raiFilteredReason")]
    if not images:
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
