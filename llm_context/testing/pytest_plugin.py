"""pytest fixtures for testing an app that uses llm_context, offline, through the real SDKs.

Installed with the package (a `pytest11` entry point named after this module), so the
fixtures are there in every test without a conftest.py line; listing this module in
`pytest_plugins` as well does no harm. `pytest -p no:llm_context.testing.pytest_plugin`
turns them off.

- `fake_llm`: a running `FakeProviderServer`; script replies with `fake_llm.script(...)`,
  read what was sent with `fake_llm.requests` / `fake_llm.last_request`.
- `fake_llm_profiles`: the keyword arguments of `fake_llm.profiles(...)` the two fixtures
  below use; `{}` here. Override it in your conftest.py to add your app's own profile
  names: `{"claude": {"provider": "anthropic"}, "default_profile": "claude"}`.
- `fake_llm_context`: an `LLMContext` whose profiles (one per provider, named after it,
  the default "openai"; plus those of `fake_llm_profiles`) point at `fake_llm`.
- `fake_llm_env`: for apps that use the module-level `context`: writes those profiles to a
  `profiles.yaml`, points `$LLM_CONTEXT_PROFILES` at it and reloads `llm_context.context`.

Every fixture profile retries at once (`FAST_RETRY`): a scripted fault costs no backoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The plugin loads in every pytest run of every project that has llm_context installed:
# the server, the client stack and yaml are imported when a fixture is first used.
if TYPE_CHECKING:
    from ..context import LLMContext
    from .server import FakeProviderServer

__all__ = ["fake_llm", "fake_llm_context", "fake_llm_env", "fake_llm_profiles"]


@pytest.fixture
def fake_llm() -> Iterator[FakeProviderServer]:
    """A running fake provider server; point profiles at it with `fake_llm.profiles()`."""
    from .server import FakeProviderServer

    with FakeProviderServer() as fake:
        yield fake


@pytest.fixture
def fake_llm_profiles() -> Mapping[str, Any]:
    """Keyword arguments for `fake_llm.profiles(...)`: override this fixture to add profiles
    by name (`{"claude": {"provider": "anthropic"}}`) or pick `default_profile`."""
    return {}


@pytest.fixture
def fake_llm_context(
    fake_llm: FakeProviderServer, fake_llm_profiles: Mapping[str, Any]
) -> Iterator[LLMContext]:
    """An `LLMContext` whose profiles ("openai", "anthropic", ... and those of
    `fake_llm_profiles`) all talk to `fake_llm`."""
    from ..context import LLMContext

    with LLMContext(fake_llm.profiles(**fake_llm_profiles)) as ctx:
        yield ctx


@pytest.fixture
def fake_llm_env(
    fake_llm: FakeProviderServer,
    fake_llm_profiles: Mapping[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """A profiles.yaml pointing at `fake_llm`, found through `$LLM_CONTEXT_PROFILES`; the
    module-level `llm_context.context` is reloaded to use it (and reloaded again after)."""
    import yaml

    from ..context import context

    path = tmp_path / "profiles.yaml"
    document = fake_llm.profiles(**fake_llm_profiles)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("LLM_CONTEXT_PROFILES", str(path))
    context.profiles.reload()
    yield path
    monkeypatch.undo()
    _reload_quietly(context)


def _reload_quietly(context: LLMContext) -> None:
    """Back to the real configuration; a broken one is the app's business, not this test's."""
    from ..errors import LLMConfigError

    with contextlib.suppress(LLMConfigError):
        context.profiles.reload()
