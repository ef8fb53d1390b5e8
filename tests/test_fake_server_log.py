"""What the fake server received, shown with keys masked: `GET /_fake/requests` (JSON) and
`--log-requests` (a line per request on stderr), both over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from llm_context import LLMContext
from llm_context.testing import FakeProviderServer, Reply
from llm_context.testing.routing import RecordedRequest
from llm_context.testing.server import REQUESTS_PATH

from .conftest import make_context

SECRET = "sk-log-SECRET0123456789abcdef"
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def keyed(fake: FakeProviderServer) -> Iterator[LLMContext]:
    context = make_context(fake, api_key=SECRET)
    yield context
    context.close()


def _received(fake: FakeProviderServer) -> tuple[list[dict[str, Any]], str]:
    reply = httpx2.get(fake.url + REQUESTS_PATH, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    return reply.json(), reply.text


def test_requests_endpoint_lists_what_came_with_keys_masked(
    fake: FakeProviderServer, keyed: LLMContext
) -> None:
    fake.script(Reply("one"), Reply("two"))
    keyed.llm("openai").chat_sync(HELLO)
    "".join(keyed.llm("anthropic").stream_sync(HELLO))
    keyed.llm("google").embed_sync("x")
    keyed.llm("azure").chat_sync(HELLO)
    keyed.llm("openai").raw_sync(method="GET", path="/models", params={"key": SECRET})
    listed, text = _received(fake)

    assert SECRET not in text
    assert len(listed) == len(fake.requests) == 5  # the GET itself is not recorded
    first = listed[0]
    assert first["request_id"] == "req_fake_1"
    assert (first["method"], first["path"]) == ("POST", "/v1/responses")
    assert (first["provider"], first["endpoint"], first["stream"]) == ("openai", "chat", False)
    assert first["headers"]["authorization"] == "Bearer ***"
    assert first["json"]["model"] == "gpt-4.1-mini"
    assert first["json"]["input"][0]["content"] == "Hello"
    assert listed[1]["stream"] is True and listed[1]["headers"]["authorization"] == "Bearer ***"
    assert listed[2]["provider"] == "google" and listed[2]["headers"]["x-goog-api-key"] == "***"
    assert listed[3]["headers"]["api-key"] == "***"
    assert listed[3]["query"]["api-version"] == "2024-10-21"
    assert listed[4]["query"] == {"key": "***"} and listed[4]["json"] is None
    # Everything else is shown as it came.
    assert first["headers"]["content-type"] == "application/json"


def test_requests_endpoint_takes_no_script_item(
    fake: FakeProviderServer, keyed: LLMContext
) -> None:
    fake.script(Reply("for the chat"))
    assert _received(fake)[0] == []
    assert fake.pending == 1 and fake.requests == []
    assert keyed.llm("openai").chat_sync(HELLO).text == "for the chat"


def test_on_request_sees_each_request_and_log_lines_mask_keys() -> None:
    seen: list[RecordedRequest] = []
    with FakeProviderServer(on_request=seen.append) as fake:
        context = LLMContext(fake.profiles(openai={"api_key": SECRET}))
        context.llm("openai").chat_sync(HELLO)
        context.close()
    assert [r.request_id for r in seen] == ["req_fake_1"]
    line = seen[0].log_line()
    assert line.startswith("req_fake_1 POST /v1/responses -> openai chat")
    assert "model=gpt-4.1-mini" in line and "authorization=Bearer ***" in line
    assert SECRET not in line


def test_a_broken_on_request_hook_is_reported_not_fatal() -> None:
    def broken(request: RecordedRequest) -> None:
        raise RuntimeError("logger down")

    with FakeProviderServer(on_request=broken) as fake:
        context = LLMContext(fake.profiles())
        assert context.llm("openai").chat_sync(HELLO).text
        context.close()
        assert any("logger down" in error for error in fake.errors)


# -- `llm-context fake-server --log-requests`, as a process ---------------------------------------


class _Lines:
    """Reads a process's pipes line by line; fails (never hangs) past a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ, "out")
        self.selector.register(process.stderr, selectors.EVENT_READ, "err")
        self.text = {"out": "", "err": ""}

    def until(self, name: str, marker: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while marker not in self.text[name]:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in time; so far: {self.text}"
            for key, _ in self.selector.select(left):
                chunk = os.read(key.fileobj.fileno(), 4096)  # type: ignore[union-attr]
                assert chunk or key.data != name, f"the pipe closed; so far: {self.text}"
                self.text[key.data] += chunk.decode()
        return self.text[name]


def test_log_requests_prints_a_masked_line_per_request() -> None:
    command = [sys.executable, "-m", "llm_context.cli", "fake-server", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--log-requests"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        lines = _Lines(process)
        printed = lines.until("out", "serving until Ctrl-C")
        url = printed.splitlines()[0].removeprefix("fake provider server on ")
        assert url.startswith("http://127.0.0.1:")
        assert f"requests received: GET {url}{REQUESTS_PATH}" in printed
        headers = {"authorization": f"Bearer {SECRET}", "x-goog-api-key": SECRET}
        headers |= {"x-api-key": SECRET, "api-key": SECRET}
        body = {"model": "gpt-4.1-mini", "input": "Hello"}
        reply = httpx2.post(f"{url}/v1/responses", json=body, headers=headers, timeout=10)
        assert reply.status_code == 200
        httpx2.get(f"{url}/v1beta/models?key={SECRET}", timeout=10)
        logged = lines.until("err", "req_fake_2")
        first, second = logged.splitlines()[:2]
        assert first.startswith("fake-server: req_fake_1 POST /v1/responses -> openai chat")
        assert "authorization=Bearer ***" in first and "x-goog-api-key=***" in first
        assert "x-api-key=***" in first and " api-key=***" in first
        assert "model=gpt-4.1-mini" in first
        assert second.startswith("fake-server: req_fake_2 GET /v1beta/models?key=*** -> google")
        assert SECRET not in logged
        listed = httpx2.get(url + REQUESTS_PATH, timeout=10).json()
        assert [r["request_id"] for r in listed] == ["req_fake_1", "req_fake_2"]
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()


def test_the_module_entry_point_takes_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from llm_context.cli.fake_server import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    assert "--log-requests" in capsys.readouterr().out
