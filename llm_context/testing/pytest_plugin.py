"""pytest fixture `fake_llm`: a started FakeProviderServer per test, stopped afterwards.

Enable it with `pytest_plugins = ["llm_context.testing.pytest_plugin"]` in a conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeProviderServer

__all__ = ["fake_llm"]


@pytest.fixture
def fake_llm() -> Iterator[FakeProviderServer]:
    """A running fake provider server; point profiles at it with `fake_llm.profiles()`."""
    with FakeProviderServer() as fake:
        yield fake
