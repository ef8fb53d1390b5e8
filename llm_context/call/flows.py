"""How one operation runs on one profile, as a step flow (see `steps`).

Each attempt waits for the profile's rate-limit capacity and is sent through the adapter;
the retry policy repeats attempts; the whole operation is metered. The client validates
the call, builds one of these flows per profile (fallbacks chain them) and hands it to a
driver. Streams have their own two-phase flow in `stream_flow`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..contract.images import (
    decode_image_data_url,
    image_bytes_type,
    image_filename,
    is_url,
    read_image_file,
)
from ..contract.messages import Message, TextPart
from ..contract.request import ChatRequest, EmbedRequest, ImageRequest, InputImage
from ..contract.results import ChatResult, EmbeddingResult, ImageGenerationResult, add_usage
from ..contract.text_check import check_text
from ..errors import LLMInputError, LLMOutputError
from ..metering import Operation, Tally, metered
from ..providers.base import Feature
from ..ratelimit import estimate_chat_tokens, estimate_text_tokens, tokens_used
from ..raw import send_raw
from .plan import ChatPlan
from .retry import RetryPolicy, apply_retry_override, check_retry_override
from .steps import Acquire, Call, Permit, Steps, is_cancellation

if TYPE_CHECKING:
    from ..client import LLMClient

__all__ = [
    "attempt",
    "chat_flow",
    "check_timeout",
    "embed_flow",
    "image_flow",
    "policy",
    "raw_flow",
    "retried",
    "tally",
]

T = TypeVar("T")


# -- the building blocks -----------------------------------------------------------------------


def tally(client: LLMClient) -> Tally:
    """A fresh record of one operation on the client's profile, started now."""
    return Tally(started=client._host.clock.monotonic())


def policy(client: LLMClient, override: Mapping[str, Any]) -> RetryPolicy:
    """The profile's retry policy with a per-call override on top."""
    settings = apply_retry_override(client.profile.retry, override)
    return RetryPolicy(settings, client.provider, client.profile.name, client._rng)


def attempt(
    client: LLMClient, call: Call[T], tokens: int, counts: Tally, number: int = 1
) -> Steps[tuple[T, Permit | None]]:
    """Request `number` of a retry run: wait for capacity, send. The permit is released on
    failure and handed back on success (a stream holds it until it ends)."""
    permit: Permit | None = None
    if client._limiter is not None:
        permit = yield Acquire(client._limiter, tokens)
        call = replace(call, abandoned=permit.release)
    counts.attempts += 1
    if number > 1:  # only the policy's re-sends: a batch or a repair turn is not a retry
        counts.retries += 1
    counts.sent_at = permit.granted_at if permit is not None else client._host.clock.monotonic()
    try:
        result = yield call
    except BaseException as exc:
        # Cancelled, the request still runs in the pool: `abandoned` frees its slot when it ends.
        if permit is not None and not is_cancellation(exc):
            permit.release()
        raise
    return result, permit


def retried(
    client: LLMClient,
    call: Call[T],
    tokens: int,
    used: Callable[[T], int | None],
    override: Mapping[str, Any],
    counts: Tally,
) -> Steps[T]:
    """`call` under the retry policy, each attempt rate-limited; capacity is released with
    the tokens really used."""

    def one(number: int) -> Steps[T]:
        result, permit = yield from attempt(client, call, tokens, counts, number)
        if permit is not None:
            permit.release(used(result))
        return result

    return policy(client, override).steps(one)


def _metered(
    client: LLMClient, operation: Operation, model: str | None, counts: Tally, flow: Steps[T]
) -> Steps[T]:
    host = client._host
    return metered(host.meter, host.clock, client.profile, operation, model, counts, flow)


def check_timeout(value: Any) -> float | None:
    """A per-call `timeout=`: seconds > 0, or None for the profile's."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise LLMInputError(f"timeout must be a number of seconds > 0, got {value!r}")
    return float(value)


def _usage_tokens(result: ChatResult | EmbeddingResult | ImageGenerationResult) -> int | None:
    return tokens_used(result.usage)


def _nothing(_: Any) -> None:
    return None


# -- chat --------------------------------------------------------------------------------------


def repair_plan(plan: ChatPlan, reply: str, error: LLMOutputError) -> ChatPlan:
    """The conversation plus the bad reply and what was wrong with it."""
    feedback = (
        "Your reply was not valid JSON for the requested format: "
        + "; ".join(error.errors[:10])
        + ". Reply again with only the corrected JSON."
    )
    messages = (
        *plan.request.messages,
        Message("assistant", (TextPart(reply),)),
        Message("user", (TextPart(feedback),)),
    )
    return replace(plan, request=replace(plan.request, messages=messages))


def _chat_call(client: LLMClient, request: ChatRequest) -> Call[ChatResult]:
    return Call(lambda: client._send(lambda adapter: adapter.chat(request)))


def chat_flow(client: LLMClient, plan: ChatPlan) -> Steps[ChatResult]:
    """Chat on the client's profile: rate limit, retries and JSON repair, metered."""
    counts = tally(client)
    return _metered(client, "chat", plan.request.model, counts, _repairs(client, plan, counts))


def _repairs(client: LLMClient, plan: ChatPlan, counts: Tally) -> Steps[ChatResult]:
    """Ask again with the validation errors, up to `repair_attempts` times; usage sums."""
    current = plan
    for number in range(plan.repair_attempts + 1):
        request = current.request
        tokens = estimate_chat_tokens(request)
        call = _chat_call(client, request)
        result = yield from retried(client, call, tokens, _usage_tokens, plan.retry, counts)
        counts.usage = add_usage(counts.usage, result.usage)
        try:
            return client._finish(plan, result).replace(usage=dict(counts.usage))
        except LLMOutputError as exc:
            if number == plan.repair_attempts:
                raise
            counts.repairs += 1
            current = repair_plan(current, result.text, exc)
    raise AssertionError("unreachable")  # pragma: no cover


# -- embeddings --------------------------------------------------------------------------------


def _embed_call(client: LLMClient, request: EmbedRequest) -> Call[EmbeddingResult]:
    return Call(lambda: client._send(lambda adapter: adapter.embed(request)))


def embed_flow(
    client: LLMClient,
    texts: str | Sequence[str],
    model: str | None,
    dimensions: int | None,
    timeout: float | None,
    retry: Any,
) -> Steps[EmbeddingResult]:
    """Validate, then embed in batches of the provider's limit (order kept), metered."""
    items = [texts] if isinstance(texts, str) else texts
    if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence) or not items:
        raise LLMInputError("texts must be a non-empty string or list of strings")
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text:
            raise LLMInputError(f"texts[{i}] must be a non-empty string")
        if not text.isascii():
            check_text(text, f"texts[{i}]")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise LLMInputError("dimensions must be a positive int")
    seconds = check_timeout(timeout)
    override = check_retry_override(retry)
    client._require(Feature.EMBED, None)  # before the model: a provider without it says so
    name = client._model("embed", model)
    client._require(Feature.EMBED, name)
    size = client._spec.max_embed_batch
    batches = [
        EmbedRequest(name, tuple(items[start : start + size]), dimensions, seconds)
        for start in range(0, len(items), size)
    ]
    counts = tally(client)

    def run() -> Steps[EmbeddingResult]:
        vectors: list[list[float]] = []
        result_model: str | None = name
        for request in batches:
            tokens = estimate_text_tokens(request.texts)
            call = _embed_call(client, request)
            part = yield from retried(client, call, tokens, _usage_tokens, override, counts)
            vectors.extend(part.vectors)
            counts.usage = add_usage(counts.usage, part.usage)
            result_model = part.model or result_model
        return EmbeddingResult(vectors, dict(counts.usage), result_model)

    return _metered(client, "embed", name, counts, run())


# -- images ------------------------------------------------------------------------------------


def input_image(i: int, image: Any) -> InputImage:
    """An image to edit: bytes, a file path or a data URL, checked to be a real image (the
    media type comes from the bytes, never from the file name)."""
    where = f"input_images[{i}]"
    if isinstance(image, InputImage):
        image_bytes_type(image.data, where=where, declared=image.media_type)
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        media = image_bytes_type(data, where=where)
        return InputImage(data, media, image_filename(f"image{i}", media))
    if is_url(image):
        raise LLMInputError(
            f"{where}: image URLs are not accepted for edits (the provider needs the bytes); "
            "download the image and pass its bytes or a file path"
        )
    if isinstance(image, str) and image.startswith("data:"):
        media, data = decode_image_data_url(image, where=where)
        return InputImage(data, media, image_filename(f"image{i}", media))
    if isinstance(image, (str, Path)):
        if isinstance(image, str) and not image.isascii():
            check_text(image, where)
        media, data = read_image_file(image, where=where)
        return InputImage(data, media, image_filename(Path(image).stem or f"image{i}", media))
    raise LLMInputError(
        f"{where} must be bytes, a file path or a data URL, got {type(image).__name__}"
    )


def image_flow(
    client: LLMClient,
    prompt: str,
    model: str | None = None,
    n: int = 1,
    size: str | None = None,
    quality: str | None = None,
    input_images: Sequence[Any] | None = None,
    timeout: float | None = None,
    retry: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Steps[ImageGenerationResult]:
    """Validate, then generate (or edit) images, metered."""
    if not isinstance(prompt, str) or not prompt:
        raise LLMInputError("prompt must be a non-empty string")
    check_text(prompt, "prompt")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10:
        raise LLMInputError("n must be an int from 1 to 10")
    seconds = check_timeout(timeout)
    override = check_retry_override(retry)
    images = tuple(input_image(i, img) for i, img in enumerate(input_images or ()))
    feature = Feature.IMAGE_EDIT if images else Feature.IMAGE_GENERATION
    client._require(feature, None)  # before the model: a provider without it says so
    name = client._model("image", model)
    client._require(feature, name)
    request = ImageRequest(name, prompt, n, size, quality, images, seconds, extra=extra)
    counts = tally(client)

    def run() -> Steps[ImageGenerationResult]:
        call = Call(lambda: client._send(lambda adapter: adapter.generate_image(request)))
        tokens = estimate_text_tokens([prompt])
        result = yield from retried(client, call, tokens, _usage_tokens, override, counts)
        counts.usage = add_usage(counts.usage, result.usage)
        return result

    return _metered(client, "image", name, counts, run())


# -- raw ---------------------------------------------------------------------------------------


def raw_flow(
    client: LLMClient,
    *,
    method: str = "GET",
    path: str | None = None,
    url: str | None = None,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    return_response: bool = False,
    timeout: float | None = None,
    retry: Mapping[str, Any] | None = None,
) -> Steps[Any]:
    """One raw HTTP request with the provider's base URL and auth, retried and metered."""
    client._require(Feature.RAW, None)
    seconds = check_timeout(timeout)
    override = check_retry_override(retry)
    counts = tally(client)

    def send() -> Any:
        auth = client.adapter().raw_auth()
        if url is not None and auth.headers:
            client._warn_plain_http(url)
        return send_raw(
            client._raw_session(),
            auth,
            client.provider,
            method=method,
            path=path,
            url=url,
            json=json,
            params=params,
            headers=headers,
            timeout=seconds if seconds is not None else client.profile.timeout,
            return_response=return_response,
            secrets=client._secrets(),
        )

    call = Call(lambda: client._guard(send))
    flow = retried(client, call, 0, _nothing, override, counts)
    return _metered(client, "raw", client.profile.model, counts, flow)
