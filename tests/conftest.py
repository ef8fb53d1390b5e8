"""Shared fixtures: one fake provider server for the session, cleared before every test."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from llm_context import LLMContext
from llm_context.clock import Clock, FakeClock
from llm_context.providers.registry import PROVIDERS, Provider
from llm_context.testing import FakeProviderServer

# Retries in tests wait microseconds, not seconds.
FAST_RETRY = {"initial_backoff_s": 0.001, "max_backoff_s": 0.001}

# google-genai 2.x (the newest on Python 3.10) splits a stream into lines with str.splitlines(),
# so these characters raw inside a JSON string cut a chunk in two; 3.x splits on bytes.
GOOGLE_SPLITS_STREAM_ON = (
    "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    if int(importlib.metadata.version("google-genai").split(".")[0]) < 3
    else ""
)


def built_providers() -> list[str]:
    """Providers whose adapter module exists (the registry knows all seven from the start)."""
    names = []
    for provider in Provider:
        module = PROVIDERS[provider].adapter.partition(":")[0]
        if importlib.util.find_spec(module) is not None:
            names.append(provider.value)
    return names


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The session's fake server, with no scripted items or recordings left from before."""
    fake_server.clear()
    yield fake_server
    errors = fake_server.errors
    fake_server.clear()
    assert not errors, f"the fake server's handlers crashed: {errors}"


def make_context(
    fake: FakeProviderServer, *, clock: Clock | None = None, **overrides: Any
) -> LLMContext:
    """A context whose seven profiles (named after their providers) point at `fake`; with a
    `clock` (a FakeClock), retries and rate limits wait on it instead of sleeping."""
    per_profile: dict[str, Any] = {
        name: {"retry": FAST_RETRY, **overrides} for name in PROVIDERS_BY_NAME
    }
    return LLMContext(fake.profiles(**per_profile), clock=clock)


PROVIDERS_BY_NAME = [p.value for p in Provider]


@pytest.fixture
def fake_clock() -> FakeClock:
    """Virtual time: every wait returns at once and is recorded in `fake_clock.sleeps`."""
    return FakeClock()


@pytest.fixture
def ctx(fake: FakeProviderServer) -> Iterator[LLMContext]:
    context = make_context(fake)
    yield context
    context.close()


@pytest.fixture(autouse=True)
def _own_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line's log of exchanges goes to a directory of the test's own, never to
    the user's data directory."""
    monkeypatch.setenv("LLM_CONTEXT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
