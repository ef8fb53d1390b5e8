"""How one operation runs on one profile, as a step flow (see `steps`).

Each attempt waits for the profile's rate-limit capacity and is sent through the adapter;
the retry policy repeats attempts; the whole operation is metered. The client validates
the call, builds one of these flows per profile (fallbacks chain them) and hands it to a
driver. Streams have their own two-phase flow in `streams.flow`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

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
from ..limits.estimate import estimate_chat_tokens, estimate_text_tokens, tokens_used
from ..metering import Operation, Tally, metered
from ..providers.base import Feature
from ..raw import send_raw
from .plan import ChatPlan
from .retry import check_retry_override, is_retryable
from .runtime import Runtime
from .steps import Acquire, Call, Permit, Steps, is_cancellation

__all__ = [
    "attempt",
    "chat_flow",
    "check_timeout",
    "embed_flow",
    "image_flow",
    "raw_flow",
    "retried",
    "tally",
]

T = TypeVar("T")


# -- the building blocks -----------------------------------------------------------------------


def tally(rt: Runtime) -> Tally:
    """A fresh record of one operation on the runtime's profile, started now."""
    return Tally(started=rt.clock.monotonic())


def attempt(
    rt: Runtime, call: Call[T], tokens: int, counts: Tally, number: int = 1
) -> Steps[tuple[T, Permit | None]]:
    """Request `number` of a retry run: wait for capacity, send. The permit is released on
    failure and handed back on success (a stream holds it until it ends)."""
    permit: Permit | None = None
    breaker = rt.breaker
    if breaker is not None:
        breaker.check(rt.provider)  # open: fail fast, nothing sent (and no slot taken)
    abandoned = call.abandoned
    if rt.limiter is not None:
        permit = yield Acquire(rt.limiter, tokens)
        abandoned = permit.release
    call = Call(call.fn, call.discard, abandoned, (rt.profile.name, number))
    counts.attempts += 1
    if number > 1:  # only the policy's re-sends: a batch or a repair turn is not a retry
        counts.retries += 1
    counts.sent_at = permit.granted_at if permit is not None else rt.clock.monotonic()
    try:
        result = yield call
    except BaseException as exc:
        # Cancelled, the request still runs in the pool: `abandoned` frees its slot when it ends.
        if permit is not None and not is_cancellation(exc):
            permit.release()
        if breaker is not None and not is_cancellation(exc):
            # A transient failure counts; any other answer shows the provider is up.
            breaker.failed() if is_retryable(exc) else breaker.succeeded()
        raise
    if breaker is not None:
        breaker.succeeded()
    return result, permit


def retried(
    rt: Runtime,
    call: Call[T],
    tokens: int,
    used: Callable[[T], int | None],
    override: Mapping[str, Any],
    counts: Tally,
) -> Steps[T]:
    """`call` under the retry policy, each attempt rate-limited; capacity is released with
    the tokens really used."""

    def one(number: int) -> Steps[T]:
        result, permit = yield from attempt(rt, call, tokens, counts, number)
        if permit is not None:
            permit.release(used(result))
        return result

    return rt.retry_policy(override).steps(one)


def _metered(
    rt: Runtime, operation: Operation, model: str | None, counts: Tally, flow: Steps[T]
) -> Steps[T]:
    return metered(rt.meter, rt.clock, rt.profile, operation, model, counts, flow)


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


def _chat_call(rt: Runtime, request: ChatRequest) -> Call[ChatResult]:
    return Call(lambda: rt.connection.send(lambda adapter: adapter.chat(request)))


def chat_flow(rt: Runtime, plan: ChatPlan) -> Steps[ChatResult]:
    """Chat on the runtime's profile: rate limit, retries and JSON repair, metered."""
    counts = tally(rt)
    return _metered(rt, "chat", plan.request.model, counts, _repairs(rt, plan, counts))


def _repairs(rt: Runtime, plan: ChatPlan, counts: Tally) -> Steps[ChatResult]:
    """Ask again with the validation errors, up to `repair_attempts` times; usage sums."""
    current = plan
    for number in range(plan.repair_attempts + 1):
        request = current.request
        # The estimate only sizes a rate-limit request: not made when there is no limiter.
        tokens = estimate_chat_tokens(request) if rt.limiter is not None else 0
        call = _chat_call(rt, request)
        result = yield from retried(rt, call, tokens, _usage_tokens, plan.retry, counts)
        counts.usage = add_usage(counts.usage, result.usage)
        try:
            return rt.finish(plan, result, counts.usage)
        except LLMOutputError as exc:
            if number == plan.repair_attempts:
                raise
            counts.repairs += 1
            current = repair_plan(current, result.text, exc)
    raise AssertionError("unreachable")  # pragma: no cover


# -- embeddings --------------------------------------------------------------------------------


def _embed_call(rt: Runtime, request: EmbedRequest) -> Call[EmbeddingResult]:
    return Call(lambda: rt.connection.send(lambda adapter: adapter.embed(request)))


def embed_flow(
    rt: Runtime,
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
    rt.require(Feature.EMBED, None)  # before the model: a provider without it says so
    name = rt.model("embed", model)
    rt.require(Feature.EMBED, name)
    size = rt.spec.max_embed_batch
    batches = [
        EmbedRequest(name, tuple(items[start : start + size]), dimensions, seconds)
        for start in range(0, len(items), size)
    ]
    counts = tally(rt)

    def run() -> Steps[EmbeddingResult]:
        vectors: list[list[float]] = []
        result_model: str | None = name
        for request in batches:
            tokens = estimate_text_tokens(request.texts)
            call = _embed_call(rt, request)
            part = yield from retried(rt, call, tokens, _usage_tokens, override, counts)
            vectors.extend(part.vectors)
            counts.usage = add_usage(counts.usage, part.usage)
            result_model = part.model or result_model
        return EmbeddingResult(vectors, dict(counts.usage), result_model)

    return _metered(rt, "embed", name, counts, run())


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
    rt: Runtime,
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
    rt.require(feature, None)  # before the model: a provider without it says so
    name = rt.model("image", model)
    rt.require(feature, name)
    request = ImageRequest(name, prompt, n, size, quality, images, seconds, extra=extra)
    counts = tally(rt)

    def run() -> Steps[ImageGenerationResult]:
        call = Call(lambda: rt.connection.send(lambda adapter: adapter.generate_image(request)))
        tokens = estimate_text_tokens([prompt])
        result = yield from retried(rt, call, tokens, _usage_tokens, override, counts)
        counts.usage = add_usage(counts.usage, result.usage)
        return result

    return _metered(rt, "image", name, counts, run())


# -- raw ---------------------------------------------------------------------------------------


def raw_flow(
    rt: Runtime,
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
    rt.require(Feature.RAW, None)
    seconds = check_timeout(timeout)
    override = check_retry_override(retry)
    counts = tally(rt)

    def send() -> Any:
        auth = rt.connection.adapter().raw_auth()
        if url is not None and auth.headers:
            rt.connection.warn_plain_http(url)
        return send_raw(
            rt.connection.raw_session(),
            auth,
            rt.provider,
            method=method,
            path=path,
            url=url,
            json=json,
            params=params,
            headers=headers,
            timeout=seconds if seconds is not None else rt.profile.timeout,
            return_response=return_response,
            secrets=rt.connection.secrets(),
        )

    call = Call(lambda: rt.connection.guard(send))
    flow = retried(rt, call, 0, _nothing, override, counts)
    return _metered(rt, "raw", rt.profile.model, counts, flow)
