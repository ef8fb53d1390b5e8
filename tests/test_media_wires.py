"""Each wire's own shapes for documents and audio (the shared suite, test_features_media.py,
checks one PDF and one WAV everywhere): text documents, document URLs, and Gemini fetching a
document URL with the image guard."""

from __future__ import annotations

from typing import Any

import pytest

from llm_context import LLMContext, LLMInputError, LLMUnsupportedFeatureError, file_part
from llm_context.testing import FakeProviderServer
from llm_context.testing.wire_google import TINY_PDF

from .test_google import inline, last_chat, opted_in

URL = "https://example.com/report.pdf"
NOTES = "Notes: revenue grew."


def user_parts(body: dict[str, Any]) -> list[Any]:
    items = body.get("input") or body.get("messages") or []
    return list(items[-1]["content"])


def test_openai_sends_input_file_by_url_and_text(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("openai")
    llm.chat_sync([{"role": "user", "content": ["Read", file_part(URL)]}])
    assert user_parts(fake.last_request.json)[1] == {"type": "input_file", "file_url": URL}
    llm.chat_sync([{"role": "user", "content": ["Read", file_part(NOTES.encode())]}])
    part = user_parts(fake.last_request.json)[1]
    assert part["file_data"].startswith("data:text/plain;base64,")
    assert part["filename"] == "document.txt"


def test_anthropic_document_sources(ctx: LLMContext, fake: FakeProviderServer) -> None:
    llm = ctx.llm("anthropic")
    llm.chat_sync([{"role": "user", "content": ["Read", file_part(NOTES.encode())]}])
    block = fake.last_request.json["messages"][-1]["content"][1]
    assert block["source"] == {"type": "text", "media_type": "text/plain", "data": NOTES}
    llm.chat_sync([{"role": "user", "content": ["Read", file_part(URL)]}])
    block = fake.last_request.json["messages"][-1]["content"][1]
    assert block == {"type": "document", "source": {"type": "url", "url": URL}}
    llm.chat_sync([{"role": "user", "content": ["Read", file_part(TINY_PDF, filename="r.pdf")]}])
    block = fake.last_request.json["messages"][-1]["content"][1]
    assert block["source"]["media_type"] == "application/pdf"
    assert block["title"] == "r.pdf"


def test_openrouter_passes_a_url_in_file_data(ctx: LLMContext, fake: FakeProviderServer) -> None:
    ctx.llm("openrouter").chat_sync([{"role": "user", "content": ["Read", file_part(URL)]}])
    part = user_parts(fake.last_request.json)[1]
    assert part == {"type": "file", "file": {"file_data": URL, "filename": "report.pdf"}}


def test_azure_classic_takes_documents_inline_only(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    llm = ctx.llm("azure")
    with pytest.raises(LLMUnsupportedFeatureError, match="document URLs"):
        llm.chat_sync([{"role": "user", "content": ["Read", file_part(URL)]}])
    assert fake.requests == []
    llm.chat_sync([{"role": "user", "content": ["Read", file_part(TINY_PDF)]}])
    assert user_parts(fake.last_request.json)[1]["type"] == "file"


@pytest.mark.parametrize(
    ("name", "media", "data"),
    [
        ("report.pdf", "application/pdf", TINY_PDF),
        ("notes.txt", "text/plain", "Plain notes, naïvely typed.".encode()),
    ],
)
def test_gemini_fetches_a_document_url_once(
    fake: FakeProviderServer, name: str, media: str, data: bytes
) -> None:
    context = opted_in(fake)
    llm = context.llm("google")
    url = f"{fake.url}/fake-assets/{name}"
    for _ in range(2):
        llm.chat_sync([{"role": "user", "content": ["Read", file_part(url)]}])
        assert inline(last_chat(fake)["contents"][0]["parts"][1]) == (media, data)
    assert len(fake.requests_for("asset")) == 1  # the second turn reused the download
    context.close()


def test_gemini_refuses_a_private_document_url_and_a_non_document(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    url = f"{fake.url}/fake-assets/report.pdf"
    with pytest.raises(LLMInputError, match="non-public address"):
        ctx.llm("google").chat_sync([{"role": "user", "content": ["Read", file_part(url)]}])
    context = opted_in(fake)
    png = f"{fake.url}/fake-assets/cat.png"
    with pytest.raises(LLMInputError, match="not a document"):
        context.llm("google").chat_sync([{"role": "user", "content": ["Read", file_part(png)]}])
    context.close()
    assert not fake.requests_for("chat")
