"""Every error class survives pickle with its fields: process pools and multiprocessing hand
errors back to the parent by pickling them."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from llm_context import LLMContext, errors
from llm_context.errors import (
    LLMError,
    LLMOutputError,
    LLMProviderError,
    LLMRateLimitError,
    LLMStreamError,
    LLMUnsupportedFeatureError,
)
from llm_context.testing import FakeProviderServer, Fault

from .conftest import built_providers

ERROR_CLASSES = sorted(
    (obj for obj in vars(errors).values() if inspect.isclass(obj) and issubclass(obj, LLMError)),
    key=lambda cls: cls.__name__,
)


def sample(cls: type[LLMError]) -> LLMError:
    """An instance of `cls` with every field it has set to something recognisable."""
    if issubclass(cls, LLMUnsupportedFeatureError):
        return cls("anthropic", "claude-x", "embeddings", "use another profile")
    if issubclass(cls, LLMOutputError):
        return cls("not JSON", text="{oops", errors=["line 1: expected value"])
    if issubclass(cls, LLMStreamError):
        return cls("cut", partial_text="Once upon", provider="google")
    if cls is errors.LLMInputError:
        return cls("messages[0]: bad", provider="openai")
    if cls is errors.LLMBatchItemError:
        return cls("row-3 got no answer", provider="anthropic", reason="expired")
    if issubclass(cls, LLMProviderError):
        return cls(
            "slow down", provider="openai", status_code=429, request_id="req_1", retry_after=7.5
        )
    return cls("bad profile")


def fields(error: BaseException) -> dict[str, Any]:
    return {"type": type(error), "str": str(error), "args": error.args, **vars(error)}


def test_every_error_class_is_covered() -> None:
    assert len(ERROR_CLASSES) >= 13, [c.__name__ for c in ERROR_CLASSES]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_round_trip_keeps_fields(cls: type[LLMError]) -> None:
    error = sample(cls)
    error.fallback_errors = (errors.LLMServerError("down", provider="azure", status_code=503),)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert fields(copy) == {**fields(error), "fallback_errors": copy.fallback_errors}
        assert [fields(e) for e in copy.fallback_errors] == [
            fields(e) for e in error.fallback_errors
        ]
        assert isinstance(copy, cls)


def _call_in_child(profiles: dict[str, Any], provider: str) -> str:
    context = LLMContext(profiles)
    try:
        return context.llm(provider).chat_sync([{"role": "user", "content": "hi"}]).text
    finally:
        context.close()


@pytest.mark.parametrize("provider", built_providers())
def test_provider_error_crosses_a_process_pool(fake: FakeProviderServer, provider: str) -> None:
    # A real call in a child process fails on a real 429; the parent gets our error back.
    fake.script(Fault(429, retry_after="9", message="quota"))
    profiles = fake.profiles(**{provider: {"retry": {"max_attempts": 1}}})
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        future = pool.submit(_call_in_child, profiles, provider)
        with pytest.raises(LLMRateLimitError) as info:
            future.result(timeout=120)
    error = info.value
    assert (error.provider, error.status_code, error.retry_after) == (provider, 429, 9.0)
    assert "quota" in str(error)
