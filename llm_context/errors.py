"""The exception hierarchy, and the one table that maps an HTTP status to it.

    LLMError (RuntimeError)
    ├── LLMConfigError                 bad profile, unknown provider, missing key
    ├── LLMUnsupportedFeatureError     (also NotImplementedError) provider/model lacks a feature
    ├── LLMOutputError                 reply is not the JSON / schema asked for
    ├── LLMStreamError                 stream cut before its terminal event (.partial_text)
    ├── LLMRateLimitBackendError       the shared rate-limit backend (Redis) is unreachable
    └── LLMProviderError               anything the provider (or the way to it) answered
        ├── LLMBadRequestError         400 404 413 422 — the caller's fault, never retried
        │   ├── LLMInputError          (also ValueError) caught by us before anything was sent
        │   └── LLMContextLengthError  the prompt is longer than the model's context window
        ├── LLMAuthenticationError     401 403
        ├── LLMRateLimitError          429 (.retry_after)
        ├── LLMServerError             5xx, 529 overloaded, 408 / 409 transient
        ├── LLMTimeoutError            connect or read timeout
        ├── LLMConnectionError         refused, reset, DNS
        ├── LLMProviderUnavailableError  the profile's circuit breaker is open: nothing sent
        └── LLMBatchItemError          a batch item never answered: expired or cancelled

Every provider error carries `.provider`, `.status_code` and `.request_id` where known.
Messages never contain an API key: `redact()` scrubs every text that may echo one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "LLMAuthenticationError",
    "LLMBadRequestError",
    "LLMBatchItemError",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMContextLengthError",
    "LLMError",
    "LLMInputError",
    "LLMOutputError",
    "LLMProviderError",
    "LLMProviderUnavailableError",
    "LLMRateLimitBackendError",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMStreamError",
    "LLMTimeoutError",
    "LLMUnsupportedFeatureError",
    "error_for_status",
    "is_context_length",
    "redact",
    "retry_after_s",
]


class LLMError(RuntimeError):
    """Base class of every error this library raises.

    `fallback_errors` holds, in order, what each fallback profile raised when the primary's
    error is raised after every fallback failed too (empty otherwise).
    """

    fallback_errors: tuple[LLMError, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only fields `__init__` cannot get back from `args`:
        # rebuild without `__init__`, then restore the fields (process pools pickle errors).
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[LLMError], args: tuple[Any, ...], state: dict[str, Any]) -> LLMError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class LLMConfigError(LLMError):
    """A profile or the configuration behind it is unusable (names file, profile and field)."""


class LLMUnsupportedFeatureError(LLMError, NotImplementedError):
    """The provider or model does not offer the requested feature."""

    def __init__(self, provider: str, model: str | None, feature: str, hint: str = "") -> None:
        self.provider = provider
        self.model = model
        self.feature = feature
        where = f"provider {provider!r}" + (f" (model {model!r})" if model else "")
        msg = f"{feature} is not supported by {where}"
        super().__init__(f"{msg}. {hint}".strip() if hint else msg)


class LLMOutputError(LLMError):
    """The model's reply is not the JSON (or schema instance) that was asked for."""

    def __init__(self, message: str, *, text: str, errors: Iterable[str] = ()) -> None:
        self.text = text
        self.errors = list(errors)
        super().__init__(message)


class LLMStreamError(LLMError):
    """A stream ended before the provider's terminal event; `.partial_text` holds what arrived."""

    def __init__(
        self, message: str, *, partial_text: str = "", provider: str | None = None
    ) -> None:
        self.partial_text = partial_text
        self.provider = provider
        super().__init__(message)


class LLMRateLimitBackendError(LLMError):
    """The rate-limit backend shared by many processes (Redis) cannot be reached, and the
    profile's `rate_limit.on_backend_error` is `fail` (or `wait` ran out of time). Nothing
    was sent."""


class LLMProviderError(LLMError):
    """The provider, or the network on the way to it, answered with a failure."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(message)


class LLMBadRequestError(LLMProviderError):
    """The request was wrong (400, 404, 413, 422): fix the call, retrying will not help."""


class LLMInputError(LLMBadRequestError, ValueError):
    """Input rejected before anything was sent: the message says what and how to fix it."""

    def __init__(self, message: str, *, provider: str | None = None) -> None:
        super().__init__(message, provider=provider)


class LLMContextLengthError(LLMBadRequestError):
    """The prompt (with the room asked for the reply) does not fit the model's context
    window: shorten it, or use a model with a larger one (`fallback_on: [context_length]`)."""


class LLMAuthenticationError(LLMProviderError):
    """The key is missing, wrong or lacks permission (401, 403)."""


class LLMRateLimitError(LLMProviderError):
    """Too many requests (429); `.retry_after` is the provider's hint in seconds, if any."""


class LLMServerError(LLMProviderError):
    """The provider failed or is overloaded (5xx, 529, 408, 409); transient."""


class LLMTimeoutError(LLMProviderError):
    """No answer within the timeout (connect, read, or a stream gone silent)."""


class LLMConnectionError(LLMProviderError):
    """The server could not be reached (refused, reset, DNS)."""


class LLMProviderUnavailableError(LLMProviderError):
    """The profile's circuit breaker is open after repeated failures: the call failed fast,
    nothing was sent. It goes to the profile's fallbacks, if any; it is never retried."""


class LLMBatchItemError(LLMProviderError):
    """A batch item the provider never answered: the job expired or was cancelled before
    it ran (`.reason` is "expired", "cancelled" or "missing"). Send it again."""

    def __init__(self, message: str, *, provider: str | None = None, reason: str) -> None:
        super().__init__(message, provider=provider)
        self.reason = reason


# One table: HTTP status -> error class. Anything unlisted falls back by status class.
_STATUS_TO_ERROR: dict[int, type[LLMProviderError]] = {
    400: LLMBadRequestError,
    401: LLMAuthenticationError,
    403: LLMAuthenticationError,
    404: LLMBadRequestError,
    408: LLMServerError,
    409: LLMServerError,
    413: LLMBadRequestError,
    422: LLMBadRequestError,
    429: LLMRateLimitError,
    529: LLMServerError,
}


# How each provider says the prompt does not fit the model's context window: ONE table of
# (who says it, the error body's field, a lower-case fragment of that field). `code` is
# `error.code` (OpenAI's shape), `type` is `error.type` (OpenAI's, Anthropic's and
# llama.cpp's), `message` the human text. Checked only on 400, 413 and 422 answers.
CONTEXT_LENGTH_SIGNS: tuple[tuple[str, str, str], ...] = (
    ("OpenAI, Azure OpenAI", "code", "context_length_exceeded"),
    ("OpenAI stream error events (the code in the text)", "message", "context_length_exceeded"),
    ("llama.cpp server (LM Studio, Ollama runners)", "type", "exceed_context_size_error"),
    ("OpenAI, Azure, OpenRouter, vLLM, Ollama", "message", "maximum context length"),
    ("Anthropic", "message", "prompt is too long"),
    ("Anthropic (input + max_tokens)", "message", "exceed context limit"),
    ("Gemini", "message", "exceeds the maximum number of tokens"),
    ("Gemini", "message", "input token count"),
    ("Ollama, LM Studio", "message", "context length"),
    ("llama.cpp server", "message", "context size"),
    ("llama.cpp server", "message", "n_ctx"),
    ("Mistral and others", "message", "context window"),
    ("Bedrock-style gateways", "message", "input is too long"),
)


def is_context_length(
    status: int, message: str, *, code: object = None, kind: object = None
) -> bool:
    """An error answer (its status, message, `error.code` and `error.type`) says the prompt
    does not fit the model's context window (see `CONTEXT_LENGTH_SIGNS`)."""
    if status not in (400, 413, 422):
        return False
    fields = {
        "code": code.lower() if isinstance(code, str) else "",
        "type": kind.lower() if isinstance(kind, str) else "",
        "message": message.lower(),
    }
    return any(fragment in fields[field] for _, field, fragment in CONTEXT_LENGTH_SIGNS)


def error_for_status(status: int) -> type[LLMProviderError]:
    """The error class for an HTTP status code."""
    if status in _STATUS_TO_ERROR:
        return _STATUS_TO_ERROR[status]
    return LLMServerError if status >= 500 else LLMBadRequestError


# Key-shaped tokens that providers echo back in error bodies, plus `key=` URL parameters.
_KEY_PATTERNS = (
    re.compile(r"(?i)([?&](?:key|api[-_]?key|access_token)=)[^&\s\"']+"),
    re.compile(r"\b(sk-(?:ant-|proj-|or-v1-)?)[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    # Echoed auth headers: `Authorization: Bearer …`, `x-api-key: …`, `"api-key": "…"`.
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]+=*"),
    re.compile(r"(?i)\b((?:x-)?(?:goog-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]{4,}"),
    # Credentials inside a URL: scheme://user:password@host.
    re.compile(r"(://[^/\s:@]+:)[^/\s@]+(?=@)"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret and every key-shaped token replaced by `***`."""
    # Longest first: a key that contains another must not be left half-replaced.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def retry_after_s(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait: `retry-after-ms`, or `Retry-After` as seconds or
    an HTTP date. None when absent or unreadable."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    millis = lower.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare, and email.utils costs ~5 ms

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
