"""The fake server's checks on document and audio parts: a malformed part is the API's 400,
a well-formed one is answered (and echoed by the default answer)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from llm_context.testing import FakeProviderServer
from llm_context.testing.wire_media import attachments, part_error

PDF_URL = "data:application/pdf;base64,JVBERi0xLjQK"
GOOD = [
    {"type": "input_file", "file_data": PDF_URL, "filename": "a.pdf"},
    {"type": "input_file", "file_url": "https://example.com/a.pdf"},
    {"type": "file", "file": {"file_data": PDF_URL, "filename": "a.pdf"}},
    {"type": "file", "file": {"file_data": "https://example.com/a.pdf"}},
    {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
    },
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}},
    {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
]
BAD = [
    {"type": "input_file", "file_data": PDF_URL},  # Responses wants a filename with file_data
    {"type": "input_file", "file_data": PDF_URL, "file_url": "https://x", "filename": "a"},
    {"type": "file", "file": {"filename": "a.pdf"}},
    {"type": "file", "file": {"file_data": "data:application/pdf;base64,%%%"}},
    {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": "aGk="}},
    {"type": "document", "source": {"type": "pdf"}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "flac"}},
]


@pytest.mark.parametrize("part", GOOD)
def test_well_formed_parts_pass(part: dict[str, Any]) -> None:
    assert part_error(part, "p") is None
    assert attachments({"content": [part]})


@pytest.mark.parametrize("part", BAD)
def test_malformed_parts_are_refused(part: dict[str, Any]) -> None:
    assert part_error(part, "p") is not None


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_fake_answers_400_for_a_malformed_part(fake: FakeProviderServer) -> None:
    bad = {"type": "input_file", "file_data": PDF_URL}
    body = {"model": "gpt-4.1-mini", "input": [{"role": "user", "content": [bad]}]}
    status, answer = post(fake.base_url("openai") + "/responses", body)
    assert status == 400
    assert "filename" in answer["error"]["message"]
    good = {**bad, "filename": "a.pdf"}
    body = {"model": "gpt-4.1-mini", "input": [{"role": "user", "content": [good]}]}
    status, answer = post(fake.base_url("openai") + "/responses", body)
    assert status == 200
    assert "[attached: a.pdf]" in json.dumps(answer)
