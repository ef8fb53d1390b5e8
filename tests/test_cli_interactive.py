"""`llm-context chat` at a terminal: the installed command in a pseudo-terminal (the
standard `pty` module) against the fake server. Two turns, Ctrl-C during a streamed reply
(the session goes on), `!exit`, then `-c` continues the logged conversation."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from llm_context.testing import FakeProviderServer, Reply

from .test_cli import _script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


class Terminal:
    """A child process on a pseudo-terminal: what it wrote, and keys typed to it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the terminal is its controlling one
            os.execve(argv[0], argv, env)
        self.seen = b""

    def expect(self, text: str, timeout: float = 20) -> str:
        """Read until `text` has appeared (bounded); everything read so far."""
        deadline = time.monotonic() + timeout
        wanted = text.encode()
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen.decode(errors='replace')!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"the session ended before {text!r}: {self.seen!r}"
                self.seen += chunk
        return self.seen.decode(errors="replace")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the session did not end")


def test_an_interactive_session(fake: FakeProviderServer, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yaml"
    doc = fake.profiles(default_profile="openai")
    profiles.write_text(yaml.safe_dump(doc), encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LLM_CONTEXT_DATA_DIR": str(tmp_path / "data"),
        "TERM": "dumb",
    }
    script = _script()
    argv = [*script, "--profiles", str(profiles), "chat"]
    if len(script) > 1:  # `python -m llm_context.cli`: execve needs the interpreter's path
        argv = [sys.executable, *argv[1:]]
    fake.script(
        Reply("Oslo is the capital."),
        Reply(deltas=("Once ", "upon ", "a ", "time ", "there ", "was"), stall_after=2, stall_s=8),
        Reply("About 700,000 people."),
    )
    session = Terminal(argv, env)
    session.expect("Chatting with gpt-4.1-mini")
    session.expect("> ")
    session.type("Capital of Norway?\n")
    session.expect("Oslo is the capital.")
    session.type("Tell me a long story\n")
    session.expect("Once upon ")
    session.type("\x03")  # Ctrl-C: the terminal sends SIGINT to the session
    session.expect("[stopped]")
    session.type("How many live there?\n")
    session.expect("About 700,000 people.")
    session.type("!exit\n")
    assert session.wait() == 0
    third = fake.requests_for("chat")[-1].json["input"]
    # The stopped turn is not part of the conversation: two turns, then the third question.
    assert [t["role"] for t in third] == ["user", "assistant", "user"]
    assert "How many live there?" in json.dumps(third[-1])

    fake.script(Reply("Bergen."))
    done = subprocess.run(
        [*script, "--profiles", str(profiles), "-c", "And the second city?"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert (done.returncode, done.stdout) == (0, "Bergen.\n"), done.stderr
    roles = [t["role"] for t in fake.last_request.json["input"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
