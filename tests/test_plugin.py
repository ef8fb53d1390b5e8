"""The testing kit's entry points: the pytest fixtures (with profiles of the app's own names)
and the fake server in its own process (`python -m llm_context.testing`)."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_context import LLMContext, context
from llm_context.cli import main as cli_main
from llm_context.testing import FakeProviderServer, Fault, Reply


class TestFixturesWithTheAppsProfileNames:
    """`fake_llm_profiles` overridden as a user's conftest.py would."""

    @pytest.fixture
    def fake_llm_profiles(self) -> Mapping[str, Any]:
        return {"claude": {"provider": "anthropic"}, "default_profile": "claude"}

    def test_context_has_the_extra_profile(
        self, fake_llm: FakeProviderServer, fake_llm_context: LLMContext
    ) -> None:
        fake_llm.script(Reply("Bonjour"))
        assert fake_llm_context.llm().complete_sync("Hello").text == "Bonjour"
        assert fake_llm.last_request.provider == "anthropic"
        assert fake_llm_context.llm("openai").profile.provider.value == "openai"

    def test_module_context_reaches_the_fake_and_retries_at_once(
        self, fake_llm: FakeProviderServer, fake_llm_env: Path
    ) -> None:
        fake_llm.script(Fault(500), Fault(503), Reply("Hallo"))
        assert context.llm("claude").complete_sync("Hello").text == "Hallo"
        assert len(fake_llm.requests_for("chat", "anthropic")) == 3
        written = yaml.safe_load(fake_llm_env.read_text(encoding="utf-8"))
        assert written["default_profile"] == "claude"
        assert written["profiles"]["claude"]["retry"]["max_backoff_s"] == 0.001


@pytest.mark.parametrize("fake_llm_profiles", [{"default_profile": "google"}])
def test_one_test_may_parametrize_the_profiles(
    fake_llm: FakeProviderServer, fake_llm_context: LLMContext
) -> None:
    fake_llm_context.llm().complete_sync("Hi")
    assert fake_llm.last_request.provider == "google"


def test_the_default_fixture_profiles(fake_llm_context: LLMContext) -> None:
    assert fake_llm_context.profiles.default_profile == "openai"


# -- the server in its own process -------------------------------------------------------------


def _read_until(process: subprocess.Popen[bytes], marker: str, timeout: float = 30) -> str:
    """Its stdout up to the line holding `marker`; fails (never hangs) past `timeout`."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    text = ""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while marker not in text:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in time; printed so far:\n{text}"
            if selector.select(left):
                chunk = os.read(process.stdout.fileno(), 4096)
                assert chunk, f"the server exited ({process.poll()}); it printed:\n{text}"
                text += chunk.decode()
    return text


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    path = tmp_path / "fake-profiles.yaml"
    command = [sys.executable, "-m", "llm_context.testing", "--write-profiles", str(path)]
    command += ["--profile", "claude=anthropic", "--default", "claude", "--reply", "Hi there"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        printed = _read_until(process, "serving until Ctrl-C")
        yield process, printed, path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_the_server_runs_as_a_process_for_the_cli(
    server_process: tuple[subprocess.Popen[bytes], str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    process, printed, path = server_process
    url = printed.splitlines()[0].removeprefix("fake provider server on ")
    assert url.startswith("http://127.0.0.1:")
    assert f"  claude      anthropic   {url}\n" in printed
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert written["default_profile"] == "claude"
    assert written["profiles"]["openai"]["base_url"] == url + "/v1"

    capsys.readouterr()
    assert cli_main(["--profiles", str(path), "chat", "Hello"]) == 0
    assert capsys.readouterr().out == "Hi there\n"  # the scripted reply, then the defaults
    assert cli_main(["--profiles", str(path), "chat", "--no-stream", "-p", "ollama", "Hi"]) == 0
    assert "fake ollama server" in capsys.readouterr().out

    process.terminate()  # SIGTERM stops it as Ctrl-C does
    assert process.wait(timeout=10) == 0


def test_the_server_stops_on_ctrl_c(
    server_process: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    import signal

    process = server_process[0]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_fake_server_mistakes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["fake-server", "--profile", "claude"]) == 2
    err = capsys.readouterr().err
    assert err == "llm-context: error: --profile takes NAME=PROVIDER, not 'claude'\n"
    assert cli_main(["fake-server", "--profile", "claude=anthropics"]) == 2
    assert "'anthropics' is not a provider" in capsys.readouterr().err
    with FakeProviderServer() as taken:
        assert cli_main(["fake-server", "--port", str(taken.port)]) == 2
    assert capsys.readouterr().err.startswith("llm-context: error: [Errno")
